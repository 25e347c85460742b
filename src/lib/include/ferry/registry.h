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
struct pg_conn;

struct ferry_registry {
	struct sqlite3 *db; /* the SQLite file, or */
	struct pg_conn *pg; /* a PostgreSQL connection (store = postgresql://...) */
	pthread_mutex_t lock;
};

#define FERRY_REGISTRY_URL_MAX 1024

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
 * For the store modules, the only way to the database (so that its engine
 * is this file's business): statements with "?" parameters of the kinds
 * types names, one letter each: "s" text, "i" int64_t, "b" struct
 * ferry_blob.  The SQL is the common dialect of SQLite and PostgreSQL
 * (ON CONFLICT, RETURNING, CAST).
 *
 * exec, select, insert, begin, commit and rollback expect the caller to
 * hold reg->lock (a transaction is several of them under one lock); write
 * and query take it themselves.
 */
struct ferry_row; /* one row of an answer, valid during row() only */
typedef void (*ferry_row_fn)(const struct ferry_row *row, void *out, unsigned i);

/* One statement; returns how many rows it changed, or < 0. */
int ferry_registry_exec(struct ferry_registry *reg, const char *sql, const char *types, const void *const *vals,
                        struct ferry_err *err);
/* An INSERT ... RETURNING of one integer key (into ret_id). */
int ferry_registry_insert(struct ferry_registry *reg, const char *sql, const char *types, const void *const *vals,
                          uint64_t *ret_id, struct ferry_err *err);
/* A query: row() per row, up to max; returns the rows or < 0. */
int ferry_registry_select(struct ferry_registry *reg, const char *sql, const char *types, const void *const *vals,
                          ferry_row_fn row, void *out, unsigned max, struct ferry_err *err);
int ferry_registry_begin(struct ferry_registry *reg, struct ferry_err *err);
int ferry_registry_commit(struct ferry_registry *reg, struct ferry_err *err);
void ferry_registry_rollback(struct ferry_registry *reg);
/* exec and select under the registry's lock. */
int ferry_registry_write(struct ferry_registry *reg, const char *sql, const char *types, const void *const *vals,
                         struct ferry_err *err);
int ferry_registry_query(struct ferry_registry *reg, const char *sql, const char *types, const void *const *vals,
                         ferry_row_fn row, void *out, unsigned max, struct ferry_err *err);
/* Column readers for row(): text cut to len ("" for NULL), integers below 0 or NULL as 0, blobs copied up to max. */
void ferry_row_text(const struct ferry_row *row, int col, char *out, size_t len);
uint64_t ferry_row_u64(const struct ferry_row *row, int col);
size_t ferry_row_blob(const struct ferry_row *row, int col, void *out, size_t max);
/* Whether the row has column col (a query with optional columns). */
bool ferry_row_has(const struct ferry_row *row, int col);

/*
 * Open the registry: store is the path of an SQLite file (created 0600), or a
 * postgresql:// URL, which must ask for sslmode=verify-full.  Creates the
 * schema where missing, the same tables in both.
 */
int ferry_registry_open(struct ferry_registry *reg, const char *store, struct ferry_err *err);
/* Whether store names a PostgreSQL server. */
bool ferry_registry_is_url(const char *store);
/* A postgresql:// URL Ferry accepts: bounded, printable, TLS with a verified server. */
int ferry_registry_check_url(const char *url, struct ferry_err *err);
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
