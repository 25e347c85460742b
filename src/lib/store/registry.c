/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ferry/registry.h"

static const char schema[] = "PRAGMA journal_mode=WAL;"
                             "PRAGMA synchronous=FULL;"
                             "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
                             "INSERT OR IGNORE INTO meta VALUES ('allowlist_version', 0);"
                             "CREATE TABLE IF NOT EXISTS identities ("
                             "  name TEXT NOT NULL, id TEXT NOT NULL UNIQUE, role TEXT NOT NULL CHECK (role IN "
                             "('node','admin')),"
                             "  address TEXT NOT NULL DEFAULT '', status TEXT NOT NULL CHECK (status IN "
                             "('active','removed')),"
                             "  enrolled_at INTEGER NOT NULL, removed_at INTEGER);"
                             "CREATE UNIQUE INDEX IF NOT EXISTS active_name ON identities(name, role) WHERE status = "
                             "'active';"
                             "CREATE TABLE IF NOT EXISTS tokens (secret_hash TEXT PRIMARY KEY, node TEXT NOT NULL,"
                             "  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER);"
                             "CREATE TABLE IF NOT EXISTS images (name TEXT PRIMARY KEY, digest TEXT NOT NULL,"
                             "  size INTEGER NOT NULL, created_at INTEGER NOT NULL);"
                             "CREATE TABLE IF NOT EXISTS containers (name TEXT PRIMARY KEY, node TEXT NOT NULL,"
                             "  image TEXT NOT NULL, generation INTEGER NOT NULL, state TEXT NOT NULL,"
                             "  spec BLOB NOT NULL, created_at INTEGER NOT NULL);"
                             "CREATE TABLE IF NOT EXISTS migrations (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                             "  container TEXT NOT NULL, mode TEXT NOT NULL, source TEXT NOT NULL, dest TEXT NOT NULL,"
                             "  started_at INTEGER NOT NULL, finished_at INTEGER, result TEXT, message TEXT,"
                             "  total_ms INTEGER, downtime_ms INTEGER, checkpoint_ms INTEGER, transfer_ms INTEGER,"
                             "  restore_ms INTEGER, bytes_image INTEGER, bytes_wire INTEGER, rounds INTEGER,"
                             "  round_bytes TEXT, note TEXT);"
                             "CREATE TABLE IF NOT EXISTS retired_generations (name TEXT PRIMARY KEY,"
                             "  generation INTEGER NOT NULL);"
                             /* Append-only (ferry/audit.h): the database refuses changes and deletions. */
                             "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL,"
                             "  actor TEXT NOT NULL, action TEXT NOT NULL, subject TEXT NOT NULL,"
                             "  detail TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);"
                             "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit"
                             "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
                             "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit"
                             "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
                             /* The migration manager's measurement and decisions (ferry/decision.h). */
                             "CREATE TABLE IF NOT EXISTS host_samples (at_ms INTEGER NOT NULL, node TEXT NOT NULL,"
                             "  rx_bps INTEGER NOT NULL, tx_bps INTEGER NOT NULL, cpu_permille INTEGER NOT NULL,"
                             "  mem_free INTEGER NOT NULL, containers INTEGER NOT NULL);"
                             "CREATE INDEX IF NOT EXISTS host_samples_by_node ON host_samples(node, at_ms);"
                             "CREATE TABLE IF NOT EXISTS switch_samples (at_ms INTEGER NOT NULL,"
                             "  switch TEXT NOT NULL, aggregate_bps INTEGER NOT NULL,"
                             "  difference_bps INTEGER NOT NULL, hot INTEGER NOT NULL);"
                             "CREATE TABLE IF NOT EXISTS link_samples (at_ms INTEGER NOT NULL, a TEXT NOT NULL,"
                             "  b TEXT NOT NULL, ab_bps INTEGER NOT NULL, ba_bps INTEGER NOT NULL);"
                             "CREATE TABLE IF NOT EXISTS rtt_samples (at_ms INTEGER NOT NULL, a TEXT NOT NULL,"
                             "  b TEXT NOT NULL, rtt_us INTEGER NOT NULL);"
                             "CREATE TABLE IF NOT EXISTS decisions (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                             "  at INTEGER NOT NULL, policy TEXT NOT NULL, container TEXT NOT NULL,"
                             "  source TEXT NOT NULL, dest TEXT NOT NULL, action TEXT NOT NULL,"
                             "  detail TEXT NOT NULL, migration INTEGER NOT NULL, inputs TEXT NOT NULL);";
/* Columns added since the first release: an older registry gains them (the error of a second add is ignored). */
static const char *const upgrades[] = {
	"ALTER TABLE migrations ADD COLUMN round_bytes TEXT",
	"ALTER TABLE migrations ADD COLUMN note TEXT",
};

static int db_error(struct ferry_registry *reg, struct ferry_err *err, const char *what)
{
	return ferry_err_set(err, -EIO, "registry: %s: %s", what, sqlite3_errmsg(reg->db));
}

int ferry_registry_open(struct ferry_registry *reg, const char *path, struct ferry_err *err)
{
	char *msg = NULL;
	int fd;

	memset(reg, 0, sizeof(*reg));
	pthread_mutex_init(&reg->lock, NULL);
	/* Create it 0600 ourselves: SQLite would honour the umask. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return ferry_err_sys(err, -errno, "cannot open registry %s", path);
	fchmod(fd, 0600);
	close(fd);
	if (sqlite3_open_v2(path, &reg->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		int r = ferry_err_set(err, -EIO, "cannot open registry %s", path);
		sqlite3_close(reg->db);
		reg->db = NULL;
		return r;
	}
	sqlite3_busy_timeout(reg->db, 5000);
	if (sqlite3_exec(reg->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		int r = ferry_err_set(err, -EIO, "registry schema: %s", msg ? msg : "?");
		sqlite3_free(msg);
		return r;
	}
	for (size_t i = 0; i < sizeof(upgrades) / sizeof(upgrades[0]); i++)
		sqlite3_exec(reg->db, upgrades[i], NULL, NULL, NULL);
	return 0;
}

void ferry_registry_close(struct ferry_registry *reg)
{
	if (reg->db)
		sqlite3_close(reg->db);
	reg->db = NULL;
	pthread_mutex_destroy(&reg->lock);
}

static void hex32(const uint8_t in[32], char out[65])
{
	ferry_id_hex(in, out);
}

struct ferry_row {
	sqlite3_stmt *st;
};

static int prepare(struct ferry_registry *reg, const char *sql, const char *types, const void *const *vals,
                   sqlite3_stmt **ret, struct ferry_err *err)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(reg->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_error(reg, err, "prepare");
	for (int i = 0; types[i]; i++) {
		if (types[i] == 's') {
			sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_TRANSIENT);
		} else if (types[i] == 'b') {
			const struct ferry_blob *b = vals[i];
			sqlite3_bind_blob(st, i + 1, b->data, (int)b->len, SQLITE_TRANSIENT);
		} else {
			sqlite3_bind_int64(st, i + 1, *(const int64_t *)vals[i]);
		}
	}
	*ret = st;
	return 0;
}

int ferry_registry_exec(struct ferry_registry *reg, const char *sql, const char *types, const void *const *vals,
                        struct ferry_err *err)
{
	sqlite3_stmt *st;
	int r = prepare(reg, sql, types, vals, &st, err);

	if (r < 0)
		return r;
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	if (r != SQLITE_DONE && r != SQLITE_ROW)
		return db_error(reg, err, "write");
	return sqlite3_changes(reg->db);
}

static void id_row(const struct ferry_row *row, void *out, unsigned i)
{
	*(uint64_t *)out = ferry_row_u64(row, 0);
}

int ferry_registry_insert(struct ferry_registry *reg, const char *sql, const char *types, const void *const *vals,
                          uint64_t *ret_id, struct ferry_err *err)
{
	int r = ferry_registry_select(reg, sql, types, vals, id_row, ret_id, 1, err);

	if (r == 0)
		return ferry_err_set(err, -EIO, "registry: the insert returned no key");
	return r < 0 ? r : 0;
}

int ferry_registry_select(struct ferry_registry *reg, const char *sql, const char *types, const void *const *vals,
                          ferry_row_fn row, void *out, unsigned max, struct ferry_err *err)
{
	struct ferry_row rw;
	unsigned n = 0;
	int r = prepare(reg, sql, types, vals, &rw.st, err);

	if (r < 0)
		return r;
	while (n < max && (r = sqlite3_step(rw.st)) == SQLITE_ROW)
		row(&rw, out, n++);
	/* An INSERT ... RETURNING is done only when stepped to its end. */
	if (n == max && r == SQLITE_ROW)
		while ((r = sqlite3_step(rw.st)) == SQLITE_ROW)
			;
	r = (r == SQLITE_DONE || (n == max && max == 0)) ? (int)n : db_error(reg, err, "read");
	sqlite3_finalize(rw.st);
	return r;
}

int ferry_registry_begin(struct ferry_registry *reg, struct ferry_err *err)
{
	/* IMMEDIATE: the write lock now, not at the first write (no deadlock between two upgrading readers). */
	int r = ferry_registry_exec(reg, "BEGIN IMMEDIATE", "", NULL, err);

	return r < 0 ? r : 0;
}

int ferry_registry_commit(struct ferry_registry *reg, struct ferry_err *err)
{
	int r = ferry_registry_exec(reg, "COMMIT", "", NULL, err);

	return r < 0 ? r : 0;
}

void ferry_registry_rollback(struct ferry_registry *reg)
{
	ferry_registry_exec(reg, "ROLLBACK", "", NULL, NULL);
}

int ferry_registry_write(struct ferry_registry *reg, const char *sql, const char *types, const void *const *vals,
                         struct ferry_err *err)
{
	int r;

	pthread_mutex_lock(&reg->lock);
	r = ferry_registry_exec(reg, sql, types, vals, err);
	pthread_mutex_unlock(&reg->lock);
	return r;
}

int ferry_registry_query(struct ferry_registry *reg, const char *sql, const char *types, const void *const *vals,
                         ferry_row_fn row, void *out, unsigned max, struct ferry_err *err)
{
	int r;

	pthread_mutex_lock(&reg->lock);
	r = ferry_registry_select(reg, sql, types, vals, row, out, max, err);
	pthread_mutex_unlock(&reg->lock);
	return r;
}

void ferry_row_text(const struct ferry_row *row, int col, char *out, size_t len)
{
	const unsigned char *t = sqlite3_column_text(row->st, col);

	snprintf(out, len, "%s", t ? (const char *)t : "");
}

uint64_t ferry_row_u64(const struct ferry_row *row, int col)
{
	int64_t v = sqlite3_column_int64(row->st, col);

	return v < 0 ? 0 : (uint64_t)v;
}

size_t ferry_row_blob(const struct ferry_row *row, int col, void *out, size_t max)
{
	const void *p = sqlite3_column_blob(row->st, col);
	int len = sqlite3_column_bytes(row->st, col);

	if (!p || len <= 0 || (size_t)len > max)
		return 0;
	memcpy(out, p, (size_t)len);
	return (size_t)len;
}

bool ferry_row_has(const struct ferry_row *row, int col)
{
	return col < sqlite3_column_count(row->st);
}

static int bump_version(struct ferry_registry *reg, struct ferry_err *err)
{
	return ferry_registry_exec(reg, "UPDATE meta SET value = value + 1 WHERE key = 'allowlist_version'", "", NULL,
	                           err);
}

int ferry_registry_token_add(struct ferry_registry *reg, const char *node, const uint8_t secret_hash[32],
                             uint64_t expires_at, uint64_t now, struct ferry_err *err)
{
	char hex[65];
	int64_t exp = (int64_t)expires_at, created = (int64_t)now;
	const void *vals[] = { hex, node, &created, &exp };
	int r;

	hex32(secret_hash, hex);
	pthread_mutex_lock(&reg->lock);
	r = ferry_registry_exec(reg,
	                        "INSERT INTO tokens (secret_hash, node, created_at, expires_at) VALUES (?, ?, ?, ?)",
	                        "ssii", vals, err);
	pthread_mutex_unlock(&reg->lock);
	return r < 0 ? r : 0;
}

struct token_row {
	char owner[64];
	uint64_t expires, used;
};

static void token_row(const struct ferry_row *row, void *out, unsigned i)
{
	struct token_row *t = out;

	ferry_row_text(row, 0, t->owner, sizeof(t->owner));
	t->expires = ferry_row_u64(row, 1);
	t->used = ferry_row_u64(row, 2);
}

int ferry_registry_token_consume(struct ferry_registry *reg, const char *node, const uint8_t secret_hash[32],
                                 uint64_t now, struct ferry_err *err)
{
	struct token_row t = { 0 };
	char hex[65];
	int64_t ts = (int64_t)now;
	const void *key[] = { hex };
	int r;

	hex32(secret_hash, hex);
	pthread_mutex_lock(&reg->lock);
	r = ferry_registry_select(reg,
	                          "SELECT node, expires_at, COALESCE(used_at, 0) FROM tokens WHERE secret_hash = ?",
	                          "s", key, token_row, &t, 1, err);
	if (r < 0)
		goto out;
	if (r == 0)
		r = ferry_err_set(err, -EPERM, "token is unknown (forged or never issued)");
	else if (t.used)
		r = ferry_err_set(err, -EPERM, "token was already used");
	else if (now >= t.expires)
		r = ferry_err_set(err, -EPERM, "token expired");
	else if (strcmp(t.owner, node) != 0)
		r = ferry_err_set(err, -EPERM, "token was issued for node '%s', not '%s'", t.owner, node);
	else {
		const void *vals[] = { &ts, hex };
		/* "used_at IS NULL" makes consumption atomic even if two enrollments race. */
		r = ferry_registry_exec(reg, "UPDATE tokens SET used_at = ? WHERE secret_hash = ? AND used_at IS NULL",
		                        "is", vals, err);
		if (r == 0)
			r = ferry_err_set(err, -EPERM, "token was already used");
		else if (r > 0)
			r = 0;
	}
out:
	pthread_mutex_unlock(&reg->lock);
	return r;
}

static int add_identity(struct ferry_registry *reg, const char *name, const uint8_t id[32], const char *role,
                        const char *address, uint64_t now, struct ferry_err *err)
{
	char hex[65];
	int64_t ts = (int64_t)now;
	const void *retire[] = { &ts, name, role };
	const void *drop_same[] = { hex };
	const void *add[] = { name, hex, role, address, &ts };
	int r;

	hex32(id, hex);
	pthread_mutex_lock(&reg->lock);
	if ((r = ferry_registry_begin(reg, err)) < 0)
		goto out;
	/* A re-enrolled name replaces its earlier identity, which is revoked. */
	if ((r = ferry_registry_exec(
	         reg,
	         "UPDATE identities SET status = 'removed', removed_at = ? WHERE name = ? AND role = ? AND "
	         "status = 'active'",
	         "iss", retire, err)) < 0 ||
	    (r = ferry_registry_exec(reg, "DELETE FROM identities WHERE id = ?", "s", drop_same, err)) < 0 ||
	    (r = ferry_registry_exec(
	         reg,
	         "INSERT INTO identities (name, id, role, address, status, enrolled_at) VALUES (?, ?, ?, ?, "
	         "'active', ?)",
	         "ssssi", add, err)) < 0 ||
	    (r = bump_version(reg, err)) < 0) {
		ferry_registry_rollback(reg);
		goto out;
	}
	r = ferry_registry_commit(reg, err);
out:
	pthread_mutex_unlock(&reg->lock);
	return r < 0 ? r : 0;
}

int ferry_registry_node_enroll(struct ferry_registry *reg, const char *name, const uint8_t id[FERRY_ID_LEN],
                               const char *address, uint64_t now, struct ferry_err *err)
{
	return add_identity(reg, name, id, "node", address, now, err);
}

int ferry_registry_admin_add(struct ferry_registry *reg, const char *name, const uint8_t id[FERRY_ID_LEN], uint64_t now,
                             struct ferry_err *err)
{
	return add_identity(reg, name, id, "admin", "", now, err);
}

int ferry_registry_node_remove(struct ferry_registry *reg, const char *name, uint64_t now, struct ferry_err *err)
{
	int64_t ts = (int64_t)now;
	const void *vals[] = { &ts, name };
	int r;

	pthread_mutex_lock(&reg->lock);
	r = ferry_registry_exec(
	    reg,
	    "UPDATE identities SET status = 'removed', removed_at = ? WHERE name = ? AND role = 'node' AND "
	    "status = 'active'",
	    "is", vals, err);
	if (r == 0)
		r = ferry_err_set(err, -ENOENT, "no active node named '%s'", name);
	else if (r > 0)
		r = bump_version(reg, err);
	pthread_mutex_unlock(&reg->lock);
	return r < 0 ? r : 0;
}

static void version_row(const struct ferry_row *row, void *out, unsigned i)
{
	*(uint64_t *)out = ferry_row_u64(row, 0);
}

struct nodes_out {
	struct ferry_registry_node *nodes;
	unsigned n;
};

static void node_row(const struct ferry_row *row, void *out, unsigned i)
{
	struct nodes_out *o = out;
	struct ferry_registry_node *node = &o->nodes[o->n];
	char hex[80];

	ferry_row_text(row, 0, node->name, sizeof(node->name));
	ferry_row_text(row, 1, hex, sizeof(hex));
	ferry_row_text(row, 2, node->address, sizeof(node->address));
	if (ferry_id_from_hex(hex, node->id) == 0)
		o->n++;
}

int ferry_registry_nodes(struct ferry_registry *reg, struct ferry_registry_node *out, unsigned max,
                         uint64_t *ret_version, struct ferry_err *err)
{
	struct nodes_out o = { .nodes = out };
	int r;

	pthread_mutex_lock(&reg->lock);
	r = ferry_registry_select(reg, "SELECT value FROM meta WHERE key = 'allowlist_version'", "", NULL, version_row,
	                          ret_version, 1, err);
	if (r == 0)
		r = ferry_err_set(err, -EIO, "registry: no allowlist version");
	if (r > 0)
		r = ferry_registry_select(reg,
		                          "SELECT name, id, address FROM identities WHERE role = 'node' AND status = "
		                          "'active' ORDER BY name",
		                          "", NULL, node_row, &o, max, err);
	pthread_mutex_unlock(&reg->lock);
	return r < 0 ? r : (int)o.n;
}

static void one_row(const struct ferry_row *row, void *out, unsigned i)
{
}

bool ferry_registry_is_admin(struct ferry_registry *reg, const uint8_t id[FERRY_ID_LEN])
{
	char hex[65];
	const void *key[] = { hex };

	hex32(id, hex);
	return ferry_registry_query(reg,
	                            "SELECT 1 FROM identities WHERE id = ? AND role = 'admin' AND status = 'active'",
	                            "s", key, one_row, NULL, 1, NULL) == 1;
}
