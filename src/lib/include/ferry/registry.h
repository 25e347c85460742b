/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_REGISTRY_H
#define FERRY_REGISTRY_H

/*
 * The controller's registry (SQLite): enrolled nodes, admin identities,
 * join tokens (only SHA-256 of their secrets) and the allowlist version.
 * Thread-safe (one connection, serialized).
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/identity.h"
#include "ferry/trust.h"

struct sqlite3;
struct sqlite3_stmt;

struct ferry_registry {
	struct sqlite3 *db;
	pthread_mutex_t lock;
};

struct ferry_registry_node {
	char name[FERRY_NODE_NAME_MAX + 1];
	uint8_t id[FERRY_ID_LEN];
	char address[32];
};

struct ferry_blob {
	const void *data;
	size_t len;
};

/*
 * For the other store modules: one statement with "s" text, "i" int64 or "b"
 * (struct ferry_blob) parameters; returns sqlite3_changes or < 0.
 */
int ferry_registry_exec(struct ferry_registry *reg, const char *sql, const char *types, const void *const *vals,
                        struct ferry_err *err);
int ferry_registry_db_error(struct ferry_registry *reg, struct ferry_err *err, const char *what);
/* ferry_registry_exec under the registry's lock. */
int ferry_registry_write(struct ferry_registry *reg, const char *sql, const char *types, const void *const *vals,
                         struct ferry_err *err);
/* A query with one optional text parameter; row() per row, up to max; returns the rows or < 0. */
int ferry_registry_query(struct ferry_registry *reg, const char *sql, const char *param,
                         void (*row)(struct sqlite3_stmt *st, void *out, unsigned i), void *out, unsigned max,
                         struct ferry_err *err);
/* Column readers for row(): text cut to len, integers below 0 as 0. */
void ferry_registry_col_text(struct sqlite3_stmt *st, int col, char *out, size_t len);
uint64_t ferry_registry_col_u64(struct sqlite3_stmt *st, int col);

int ferry_registry_open(struct ferry_registry *reg, const char *path, struct ferry_err *err);
void ferry_registry_close(struct ferry_registry *reg);

int ferry_registry_token_add(struct ferry_registry *reg, const char *node, const uint8_t secret_hash[32],
                             uint64_t expires_at, uint64_t now, struct ferry_err *err);
/*
 * Use a token once: -EPERM with the reason (unknown/forged, already used,
 * expired, issued for another node).  On success it can never be used again.
 */
int ferry_registry_token_consume(struct ferry_registry *reg, const char *node, const uint8_t secret_hash[32],
                                 uint64_t now, struct ferry_err *err);

/* Record an enrolled node (replacing an earlier identity of that name) and bump the version. */
int ferry_registry_node_enroll(struct ferry_registry *reg, const char *name, const uint8_t id[FERRY_ID_LEN],
                               const char *address, uint64_t now, struct ferry_err *err);
/* Revoke: the node leaves the allowlist (version bumped). -ENOENT if not active. */
int ferry_registry_node_remove(struct ferry_registry *reg, const char *name, uint64_t now, struct ferry_err *err);
/* Active nodes and the allowlist version; returns the count. */
int ferry_registry_nodes(struct ferry_registry *reg, struct ferry_registry_node *out, unsigned max,
                         uint64_t *ret_version, struct ferry_err *err);

int ferry_registry_admin_add(struct ferry_registry *reg, const char *name, const uint8_t id[FERRY_ID_LEN], uint64_t now,
                             struct ferry_err *err);
bool ferry_registry_is_admin(struct ferry_registry *reg, const uint8_t id[FERRY_ID_LEN]);

#endif
