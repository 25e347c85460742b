/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_SHAMIR_H
#define FERRY_SHAMIR_H

/*
 * Moving-target defense's secrets (docs/ARCHITECTURE.md, "Moving-target
 * defense"): a master secret split into (k, n) Shamir shares, one per host,
 * by libgfshare's GF(2^8) arithmetic with the CSPRNG (never its random()
 * default); and each host's lookup table (index -> host), sealed with
 * ChaCha20-Poly1305 under a key derived (HKDF-SHA256) from the master
 * secret, the epoch and the host's name.  Fewer than k shares give a wrong
 * secret, and a wrong secret opens no table: the AEAD tag says so.
 */

#include <stddef.h>
#include <stdint.h>

#include "ferry/buf.h"
#include "ferry/err.h"
#include "ferry/ticket.h"

#define FERRY_MTD_SECRET_LEN 32
#define FERRY_MTD_SHARES_MAX 255
#define FERRY_MTD_TABLE_MAX  64 /* entries of a lookup table */

struct ferry_share {
	uint8_t x; /* 1 to 255: which share (a host's number) */
	uint8_t y[FERRY_MTD_SECRET_LEN];
};

/* A fresh random secret. */
int ferry_mtd_secret(uint8_t secret[FERRY_MTD_SECRET_LEN], struct ferry_err *err);
/* Split it into n shares (x = 1..n), any k of which rebuild it; 2 <= k <= n <= 255. */
int ferry_shamir_split(const uint8_t secret[FERRY_MTD_SECRET_LEN], unsigned k, unsigned n, struct ferry_share *out,
                       struct ferry_err *err);
/* Rebuild from count shares with distinct, non-zero x (k of them give the secret; fewer, another value). */
int ferry_shamir_combine(const struct ferry_share *shares, unsigned count, uint8_t secret[FERRY_MTD_SECRET_LEN],
                         struct ferry_err *err);

struct ferry_mtd_table {
	uint64_t epoch;
	char host[FERRY_NODE_NAME_MAX + 1]; /* whose table */
	unsigned n;
	char entries[FERRY_MTD_TABLE_MAX][FERRY_NODE_NAME_MAX + 1]; /* index -> destination host */
};

/* Seal t (its epoch and host bind the key and are authenticated) into out: nonce, ciphertext, tag. */
int ferry_mtd_table_seal(const uint8_t secret[FERRY_MTD_SECRET_LEN], const struct ferry_mtd_table *t,
                         struct ferry_buf *out, struct ferry_err *err);
/*
 * Open host's sealed table of epoch: -EBADMSG when the secret, the epoch or
 * the host is not the one it was sealed with, or it was changed.
 */
int ferry_mtd_table_open(const uint8_t secret[FERRY_MTD_SECRET_LEN], uint64_t epoch, const char *host,
                         const void *sealed, size_t len, struct ferry_mtd_table *ret, struct ferry_err *err);

#endif
