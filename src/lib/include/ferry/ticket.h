/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_TICKET_H
#define FERRY_TICKET_H

/*
 * Migration tickets (docs/PROTOCOL.md §5): the controller's signed order for
 * one migration.  One canonical binary encoding; the Ed25519 signature covers
 * every byte before it.  Parsing is pure; signing and verification use
 * OpenSSL with the controller's ticket key (not the CA key).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/buf.h"
#include "ferry/err.h"

#define FERRY_TICKET_MAGIC       "FTK1"
#define FERRY_TICKET_ID_LEN      16
#define FERRY_TICKET_SIG_LEN     64
#define FERRY_TICKET_MAX_TTL     120 /* seconds */
#define FERRY_TICKET_CLOCK_SKEW  5   /* seconds a ticket may look issued in the future */
#define FERRY_CONTAINER_NAME_MAX 63
#define FERRY_NODE_NAME_MAX      31
#define FERRY_TICKET_MAX_LEN     512

enum ferry_mig_mode {
	FERRY_MODE_STOP_COPY = 1,
	FERRY_MODE_PRECOPY = 2,
	FERRY_MODE_POSTCOPY = 3,
	FERRY_MODE_HYBRID = 4,
	FERRY_MODE_STATELESS = 5,
	/* A request only, never in a ticket: ferryd picks pre-copy or hybrid after the first rounds. */
	FERRY_MODE_AUTO = 6,
};

struct ferry_ticket {
	uint8_t id[FERRY_TICKET_ID_LEN];
	uint64_t issued_at;  /* unix seconds */
	uint64_t expires_at; /* issued_at < expires_at <= issued_at + 120 */
	uint64_t generation; /* fencing generation of the container */
	uint8_t mode;        /* enum ferry_mig_mode */
	char container[FERRY_CONTAINER_NAME_MAX + 1];
	char source[FERRY_NODE_NAME_MAX + 1];
	char dest[FERRY_NODE_NAME_MAX + 1];
	uint64_t reserve_memory; /* bytes the destination must have free */
	uint64_t reserve_disk;   /* bytes of images the destination will hold */
	uint8_t manifest_hash[32];
	uint8_t signature[FERRY_TICKET_SIG_LEN];
};

const char *ferry_mode_name(uint8_t mode);
int ferry_mode_parse(const char *s, uint8_t *ret, struct ferry_err *err);

/* The signed part (everything but the signature), or the whole ticket. */
int ferry_ticket_encode_body(const struct ferry_ticket *t, struct ferry_buf *out);
int ferry_ticket_encode(const struct ferry_ticket *t, struct ferry_buf *out);

/* Pure structural parse: exact length, magic, names, mode, validity window. No signature check. */
int ferry_ticket_parse(const uint8_t *p, size_t len, struct ferry_ticket *ret, struct ferry_err *err);

struct evp_pkey_st;
/* Sign with the ticket key (fills t->signature). */
int ferry_ticket_sign(struct ferry_ticket *t, struct evp_pkey_st *key, struct ferry_err *err);
/* Verify t->signature with the controller's ticket public key. */
int ferry_ticket_verify_signature(const struct ferry_ticket *t, struct evp_pkey_st *pub, struct ferry_err *err);

/*
 * Check a verified ticket's claims at `now`: not expired, not from the
 * future; dest == self when self_is_dest, source == self otherwise; and, when
 * peer is given, the TLS peer is the ticket's source.
 */
int ferry_ticket_check_claims(const struct ferry_ticket *t, const char *self, bool self_is_dest, const char *peer,
                              uint64_t now, struct ferry_err *err);

#endif
