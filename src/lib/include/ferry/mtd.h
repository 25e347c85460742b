/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_MTD_H
#define FERRY_MTD_H

/*
 * Moving-target defense's draws (docs/ARCHITECTURE.md, "Moving-target
 * defense"), after the policy-based thesis' §6.2 with its holes closed:
 *  - the draw token: the controller's signed order that one host may
 *    collect shares for one draw of one epoch (the thesis' share requests
 *    were unauthenticated: any host could ask);
 *  - which hosts to ask: k distinct ones uniformly (shamir), or k requests
 *    with replacement, each to host j with probability 1/latency(j) over
 *    the sum (the thesis' equation 6.1: fountain);
 *  - where a random number points in a lookup table.
 * Pure: parsing is fuzzed (fuzz_ticket); signing uses the ticket key.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/buf.h"
#include "ferry/err.h"
#include "ferry/ticket.h"

#define FERRY_MTD_DRAW_ID_LEN  16
#define FERRY_MTD_NONCE_LEN    16
#define FERRY_MTD_R_LEN        32
#define FERRY_MTD_DRAW_SIG_LEN 64
#define FERRY_MTD_DRAW_MAX_LEN (5 + 8 + FERRY_MTD_DRAW_ID_LEN + 3 + FERRY_NODE_NAME_MAX + 8 + FERRY_MTD_DRAW_SIG_LEN)
#define FERRY_MTD_DRAW_TTL_S   30
#define FERRY_MTD_K_MAX        16

enum ferry_mtd_mode {
	FERRY_MTD_SHAMIR = 1,   /* k shares from k distinct hosts, drawn uniformly */
	FERRY_MTD_FOUNTAIN = 2, /* k shares from k requests, hosts drawn by 1/latency, repeats allowed */
	FERRY_MTD_DECOY = 3,    /* not a draw: leave to send one decoy stream (epoch 0) */
};

#define FERRY_MTD_DECOY_MAX_BYTES (1ULL << 30)

struct ferry_mtd_draw {
	uint64_t epoch;
	uint8_t id[FERRY_MTD_DRAW_ID_LEN];
	uint8_t mode; /* enum ferry_mtd_mode */
	uint8_t k;
	char requester[FERRY_NODE_NAME_MAX + 1]; /* the only host that may use it */
	uint64_t expires_at;                     /* unix seconds */
	uint8_t signature[FERRY_MTD_DRAW_SIG_LEN];
};

/* The whole token (signature last) into out. */
int ferry_mtd_draw_encode(const struct ferry_mtd_draw *d, struct ferry_buf *out);
/* Pure structural parse: exact length, magic, mode, k, name.  No signature check, no clock. */
int ferry_mtd_draw_parse(const void *data, size_t len, struct ferry_mtd_draw *ret, struct ferry_err *err);
int ferry_mtd_draw_sign(struct ferry_mtd_draw *d, struct evp_pkey_st *key, struct ferry_err *err);
int ferry_mtd_draw_verify(const struct ferry_mtd_draw *d, struct evp_pkey_st *pub, struct ferry_err *err);

/* The lookup-table index (below n) the random number r points at in epoch. */
unsigned ferry_mtd_index(const uint8_t r[FERRY_MTD_R_LEN], uint64_t epoch, unsigned n);
/* k distinct indices below n, uniformly (shamir); k <= n. */
int ferry_mtd_pick_disjoint(unsigned n, unsigned k, unsigned *out, struct ferry_err *err);
/*
 * k indices below n with replacement, index j with probability
 * (1 / latency_us[j]) / sum (fountain); a latency of 0 (unknown) counts
 * as the largest known one, so that an unmeasured host is not favoured.
 */
int ferry_mtd_pick_by_latency(const uint32_t *latency_us, unsigned n, unsigned k, unsigned *out, struct ferry_err *err);
const char *ferry_mtd_mode_name(uint8_t mode);

#endif
