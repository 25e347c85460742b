/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_AUDIT_H
#define FERRY_AUDIT_H

/*
 * The controller's audit log: who did what to which container or node,
 * append-only and hash-chained in the registry.  Entry n's hash covers
 * entry n-1's hash and every field of entry n, so changing, removing or
 * reordering an entry breaks every hash after it.  The registry refuses
 * UPDATE and DELETE on the table; someone who bypasses that (another
 * program on the database file) is caught by ferry_audit_verify().  The
 * last sequence number and hash are also written to a head file beside
 * the registry, so that dropping the newest entries is caught too.
 */

#include <stdbool.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/registry.h"

#define FERRY_AUDIT_ACTOR_MAX   64
#define FERRY_AUDIT_ACTION_MAX  32
#define FERRY_AUDIT_SUBJECT_MAX 128
#define FERRY_AUDIT_DETAIL_MAX  512

struct ferry_audit_rec {
	uint64_t seq, at; /* at: unix seconds */
	char actor[FERRY_AUDIT_ACTOR_MAX + 1];
	char action[FERRY_AUDIT_ACTION_MAX + 1];
	char subject[FERRY_AUDIT_SUBJECT_MAX + 1];
	char detail[FERRY_AUDIT_DETAIL_MAX + 1];
	char hash[65];
};

/* Append one entry (fields longer than their maximum are cut) and move the head file on. */
int ferry_audit_append(struct ferry_registry *reg, const char *head_path, const char *actor, const char *action,
                       const char *subject, const char *detail, struct ferry_err *err);

/* The newest entries, oldest first, at most max; returns how many. */
int ferry_audit_list(struct ferry_registry *reg, struct ferry_audit_rec *out, unsigned max, struct ferry_err *err);

struct ferry_audit_verdict {
	bool intact;
	uint64_t entries;
	uint64_t bad_seq; /* intact == false: the first entry found wrong (0: the head file) */
	char head[65];    /* hash of the last entry ("" when empty) */
	char why[256];    /* intact == false: what is wrong */
};

/*
 * An entry's number and hash kept outside the controller (an operator's
 * note of an earlier verify): a rewrite of the log up to and past that
 * entry, database and head file alike, no longer adds up to it.
 */
struct ferry_audit_anchor {
	uint64_t seq;
	uint8_t hash[32];
};

/* Walk the whole chain (and check anchor, if not NULL); < 0 only when it cannot be read at all. */
int ferry_audit_verify(struct ferry_registry *reg, const char *head_path, const struct ferry_audit_anchor *anchor,
                       struct ferry_audit_verdict *v, struct ferry_err *err);

/* The hash of one entry after prev (32 bytes): pure, for tests. */
void ferry_audit_hash(const uint8_t prev[32], const struct ferry_audit_rec *rec, uint8_t out[32]);

#endif
