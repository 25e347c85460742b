/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The registry's database engines: SQLite in a file beside the controller's
 * keys (the default), or a PostgreSQL server over TLS (store =
 * postgresql://...).  One schema for both, written once with the few words
 * that differ as tokens; the statements the store modules send are in the
 * dialect the two share, with "?" parameters (numbered for PostgreSQL
 * here).  Everything else in libferry reaches the database through
 * ferry/registry.h only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "ferry/buf.h"
#include "ferry/hex.h"
#include "ferry/registry.h"

/*
 * The tables, in both engines' words: @INT is an integer column (64 bits),
 * @KEY an integer key the database numbers, @BLOB bytes.
 */
static const char tables[] =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value @INT NOT NULL);"
    "INSERT INTO meta VALUES ('allowlist_version', 0) ON CONFLICT DO NOTHING;"
    "CREATE TABLE IF NOT EXISTS identities ("
    "  name TEXT NOT NULL, id TEXT NOT NULL UNIQUE, role TEXT NOT NULL CHECK (role IN ('node','admin')),"
    "  address TEXT NOT NULL DEFAULT '', status TEXT NOT NULL CHECK (status IN ('active','removed')),"
    "  enrolled_at @INT NOT NULL, removed_at @INT);"
    "CREATE UNIQUE INDEX IF NOT EXISTS active_name ON identities(name, role) WHERE status = 'active';"
    "CREATE TABLE IF NOT EXISTS tokens (secret_hash TEXT PRIMARY KEY, node TEXT NOT NULL,"
    "  created_at @INT NOT NULL, expires_at @INT NOT NULL, used_at @INT);"
    "CREATE TABLE IF NOT EXISTS images (name TEXT PRIMARY KEY, digest TEXT NOT NULL,"
    "  size @INT NOT NULL, created_at @INT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS containers (name TEXT PRIMARY KEY, node TEXT NOT NULL,"
    "  image TEXT NOT NULL, generation @INT NOT NULL, state TEXT NOT NULL,"
    "  spec @BLOB NOT NULL, created_at @INT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS migrations (id @KEY,"
    "  container TEXT NOT NULL, mode TEXT NOT NULL, source TEXT NOT NULL, dest TEXT NOT NULL,"
    "  started_at @INT NOT NULL, finished_at @INT, result TEXT, message TEXT,"
    "  total_ms @INT, downtime_ms @INT, checkpoint_ms @INT, transfer_ms @INT,"
    "  restore_ms @INT, bytes_image @INT, bytes_wire @INT, rounds @INT,"
    "  round_bytes TEXT, note TEXT);"
    "CREATE TABLE IF NOT EXISTS retired_generations (name TEXT PRIMARY KEY, generation @INT NOT NULL);"
    /* Append-only (ferry/audit.h): each engine's triggers below refuse changes and deletions. */
    "CREATE TABLE IF NOT EXISTS audit (seq @INT PRIMARY KEY, at @INT NOT NULL,"
    "  actor TEXT NOT NULL, action TEXT NOT NULL, subject TEXT NOT NULL,"
    "  detail TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);"
    /* The migration manager's measurement and decisions (ferry/decision.h). */
    "CREATE TABLE IF NOT EXISTS host_samples (at_ms @INT NOT NULL, node TEXT NOT NULL,"
    "  rx_bps @INT NOT NULL, tx_bps @INT NOT NULL, cpu_permille @INT NOT NULL,"
    "  mem_free @INT NOT NULL, containers @INT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS host_samples_by_node ON host_samples(node, at_ms);"
    "CREATE TABLE IF NOT EXISTS switch_samples (at_ms @INT NOT NULL,"
    "  switch TEXT NOT NULL, aggregate_bps @INT NOT NULL, difference_bps @INT NOT NULL, hot @INT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS link_samples (at_ms @INT NOT NULL, a TEXT NOT NULL,"
    "  b TEXT NOT NULL, ab_bps @INT NOT NULL, ba_bps @INT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS rtt_samples (at_ms @INT NOT NULL, a TEXT NOT NULL,"
    "  b TEXT NOT NULL, rtt_us @INT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS decisions (id @KEY,"
    "  at @INT NOT NULL, policy TEXT NOT NULL, container TEXT NOT NULL,"
    "  source TEXT NOT NULL, dest TEXT NOT NULL, action TEXT NOT NULL,"
    "  detail TEXT NOT NULL, migration @INT NOT NULL, inputs TEXT NOT NULL);"
    /* Intrusion alerts that reached the controller, and the hosts they put in quarantine (ferry/decision.h). */
    "CREATE TABLE IF NOT EXISTS alerts (id @KEY, at_ms @INT NOT NULL,"
    "  reporter TEXT NOT NULL, host TEXT NOT NULL, severity @INT NOT NULL, src TEXT NOT NULL,"
    "  dst TEXT NOT NULL, sid TEXT NOT NULL, signature TEXT NOT NULL, verdict TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS quarantine (node TEXT PRIMARY KEY, since @INT NOT NULL,"
    "  reason TEXT NOT NULL);";

/* Bumped with every change to the tables: a PostgreSQL database that says this version is not touched. */
#define SCHEMA_VERSION "2"

static const struct engine_words {
	const char *head, *integer, *key, *blob, *tail;
} sqlite_words = {
	.head = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
	.integer = "INTEGER",
	.key = "INTEGER PRIMARY KEY AUTOINCREMENT",
	.blob = "BLOB",
	.tail = "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit"
	        "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	        "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit"
	        "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
}, pg_words = {
	.head = "SET client_min_messages = warning;",
	.integer = "BIGINT",
	.key = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
	.blob = "BYTEA",
	.tail = "CREATE OR REPLACE FUNCTION ferry_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
	        "  BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;"
	        "CREATE OR REPLACE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	        "  FOR EACH ROW EXECUTE FUNCTION ferry_audit_append_only();"
	        "CREATE OR REPLACE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	        "  FOR EACH ROW EXECUTE FUNCTION ferry_audit_append_only();"
	        /* TRUNCATE fires no row trigger: it needs its own. */
	        "CREATE OR REPLACE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit"
	        "  FOR EACH STATEMENT EXECUTE FUNCTION ferry_audit_append_only();"
	        "INSERT INTO meta VALUES ('schema', " SCHEMA_VERSION ") ON CONFLICT (key) DO UPDATE SET value = "
	        "excluded.value;",
};

/* Columns added since the first release (SQLite files only): an older registry gains them. */
static const char *const sqlite_upgrades[] = {
	"ALTER TABLE migrations ADD COLUMN round_bytes TEXT",
	"ALTER TABLE migrations ADD COLUMN note TEXT",
};

/* The whole schema in one engine's words. */
static int schema_text(const struct engine_words *w, struct ferry_buf *out)
{
	int r = ferry_buf_printf(out, "%s", w->head);

	for (const char *p = tables; r == 0 && *p;) {
		static const struct {
			const char *token;
			size_t offset;
		} tokens[] = {
			{ "@INT", offsetof(struct engine_words, integer) },
			{ "@KEY", offsetof(struct engine_words, key) },
			{ "@BLOB", offsetof(struct engine_words, blob) },
		};
		const char *at = strchr(p, '@');
		size_t i;

		if (!at) {
			r = ferry_buf_printf(out, "%s", p);
			break;
		}
		r = ferry_buf_append(out, p, (size_t)(at - p));
		for (i = 0; r == 0 && i < sizeof(tokens) / sizeof(tokens[0]); i++)
			if (strncmp(at, tokens[i].token, strlen(tokens[i].token)) == 0) {
				r = ferry_buf_printf(out, "%s",
				                     *(const char *const *)((const char *)w + tokens[i].offset));
				p = at + strlen(tokens[i].token);
				break;
			}
		if (i == sizeof(tokens) / sizeof(tokens[0]))
			return -EINVAL; /* a token this file does not know: a mistake here, not in the input */
	}
	return r ? r : ferry_buf_printf(out, "%s", w->tail);
}

/* ---- the engines ---- */

struct ferry_row {
	sqlite3_stmt *st; /* SQLite */
	PGresult *res;    /* PostgreSQL: the answer, and which row */
	int row;
};

static int db_error(struct ferry_registry *reg, struct ferry_err *err, const char *what)
{
	if (reg->pg) {
		const char *m = PQerrorMessage(reg->pg);

		return ferry_err_set(err, -EIO, "registry: %s: %.*s", what, (int)strcspn(m, "\n"), m);
	}
	return ferry_err_set(err, -EIO, "registry: %s: %s", what, sqlite3_errmsg(reg->db));
}

static int pg_result_error(PGresult *res, struct ferry_err *err, const char *what)
{
	const char *m = PQresultErrorMessage(res);

	return ferry_err_set(err, -EIO, "registry: %s: %.*s", what, (int)strcspn(m, "\n"), m);
}

static int sqlite_open(struct ferry_registry *reg, const char *path, struct ferry_err *err)
{
	struct ferry_buf schema = FERRY_BUF_INIT(16 * 1024);
	char *msg = NULL;
	int fd, r = 0;

	/* Create it 0600 ourselves: SQLite would honour the umask. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return ferry_err_sys(err, -errno, "cannot open registry %s", path);
	fchmod(fd, 0600);
	close(fd);
	if (sqlite3_open_v2(path, &reg->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		r = ferry_err_set(err, -EIO, "cannot open registry %s", path);
		goto fail;
	}
	sqlite3_busy_timeout(reg->db, 5000);
	if (schema_text(&sqlite_words, &schema) < 0) {
		r = ferry_err_set(err, -EIO, "registry schema: cannot be written out");
		goto fail;
	}
	if (sqlite3_exec(reg->db, schema.data, NULL, NULL, &msg) != SQLITE_OK) {
		r = ferry_err_set(err, -EIO, "registry schema: %s", msg ? msg : "?");
		sqlite3_free(msg);
		goto fail;
	}
	for (size_t i = 0; i < sizeof(sqlite_upgrades) / sizeof(sqlite_upgrades[0]); i++)
		sqlite3_exec(reg->db, sqlite_upgrades[i], NULL, NULL, NULL);
	ferry_buf_free(&schema);
	return 0;
fail:
	ferry_buf_free(&schema);
	sqlite3_close(reg->db);
	reg->db = NULL;
	return r;
}

bool ferry_registry_is_url(const char *store)
{
	return strncmp(store, "postgresql://", 13) == 0 || strncmp(store, "postgres://", 11) == 0;
}

int ferry_registry_check_url(const char *url, struct ferry_err *err)
{
	const char *q = strchr(url, '?');
	bool verified = false;

	if (!ferry_registry_is_url(url))
		return ferry_err_set(err, -EINVAL, "store is not a postgresql:// URL");
	if (strlen(url) > FERRY_REGISTRY_URL_MAX)
		return ferry_err_set(err, -EINVAL, "store URL is longer than %d bytes", FERRY_REGISTRY_URL_MAX);
	for (const char *p = url; *p; p++)
		if (*p <= ' ' || *p > '~')
			return ferry_err_set(err, -EINVAL, "store URL has a space or a control character");
	/* The registry holds the audit log and hashes of join secrets: the server is verified, the link encrypted. */
	for (const char *p = q; p && *p; p = strchr(p + 1, '&'))
		if (strncmp(p + 1, "sslmode=verify-full", 19) == 0 && (p[20] == '\0' || p[20] == '&'))
			verified = true;
	if (!verified)
		return ferry_err_set(err, -EINVAL,
		                     "store URL lacks sslmode=verify-full: the controller talks to PostgreSQL over TLS "
		                     "with a verified server only (add sslrootcert=CA_FILE too)");
	return 0;
}

static int pg_open(struct ferry_registry *reg, const char *url, struct ferry_err *err)
{
	struct ferry_buf schema = FERRY_BUF_INIT(16 * 1024);
	PGresult *res = NULL;
	int r;

	if ((r = ferry_registry_check_url(url, err)) < 0)
		return r;
	reg->pg = PQconnectdb(url);
	if (!reg->pg || PQstatus(reg->pg) != CONNECTION_OK) {
		/* libpq's message names host and port, never the password. */
		r = reg->pg ? db_error(reg, err, "cannot connect to PostgreSQL")
		            : ferry_err_set(err, -ENOMEM, "registry: out of memory");
		goto fail;
	}
	if (!PQsslInUse(reg->pg)) {
		r = ferry_err_set(err, -EPROTO, "registry: the PostgreSQL connection is not encrypted");
		goto fail;
	}
	if (schema_text(&pg_words, &schema) < 0) {
		r = ferry_err_set(err, -EIO, "registry schema: cannot be written out");
		goto fail;
	}
	/*
	 * A database that has this schema already is left alone: the schema's
	 * DDL takes table locks, and the one-shot verbs (token create,
	 * admin-cert) open the registry while the daemon works in it.
	 */
	res = PQexec(reg->pg, "SELECT value FROM meta WHERE key = 'schema'");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 0), SCHEMA_VERSION) == 0) {
		PQclear(res);
		ferry_buf_free(&schema);
		return 0;
	}
	PQclear(res);
	/* Two controllers starting at once on one database: one creates the schema, the other waits. */
	res = PQexec(reg->pg, "BEGIN; SELECT pg_advisory_xact_lock(4242);");
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
		r = pg_result_error(res, err, "schema");
		goto fail;
	}
	PQclear(res);
	res = PQexec(reg->pg, schema.data);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		r = pg_result_error(res, err, "schema");
		PQclear(PQexec(reg->pg, "ROLLBACK"));
		goto fail;
	}
	PQclear(res);
	res = PQexec(reg->pg, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		r = pg_result_error(res, err, "schema");
		goto fail;
	}
	PQclear(res);
	ferry_buf_free(&schema);
	return 0;
fail:
	PQclear(res);
	ferry_buf_free(&schema);
	PQfinish(reg->pg);
	reg->pg = NULL;
	return r;
}

int ferry_registry_open(struct ferry_registry *reg, const char *store, struct ferry_err *err)
{
	int r;

	memset(reg, 0, sizeof(*reg));
	pthread_mutex_init(&reg->lock, NULL);
	r = ferry_registry_is_url(store) ? pg_open(reg, store, err) : sqlite_open(reg, store, err);
	if (r < 0)
		pthread_mutex_destroy(&reg->lock);
	return r;
}

void ferry_registry_close(struct ferry_registry *reg)
{
	if (reg->db)
		sqlite3_close(reg->db);
	if (reg->pg)
		PQfinish(reg->pg);
	reg->db = NULL;
	reg->pg = NULL;
	pthread_mutex_destroy(&reg->lock);
}

/* ---- statements ---- */

static int sqlite_prepare(struct ferry_registry *reg, const char *sql, const char *types, const void *const *vals,
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

#define PG_PARAMS_MAX 16

/*
 * One statement on PostgreSQL: "?" become $1, $2 ... (never inside a quoted
 * literal), text and integers go as text, blobs as binary.  A lost
 * connection is reset once, outside a transaction.
 */
static int pg_run(struct ferry_registry *reg, const char *sql, const char *types, const void *const *vals,
                  PGresult **ret, struct ferry_err *err)
{
	struct ferry_buf text = FERRY_BUF_INIT(64 * 1024);
	char nums[PG_PARAMS_MAX][24];
	const char *values[PG_PARAMS_MAX];
	int lengths[PG_PARAMS_MAX], formats[PG_PARAMS_MAX], n = (int)strlen(types), k = 0, r = 0;
	bool quoted = false;
	PGresult *res;

	if (n > PG_PARAMS_MAX)
		return ferry_err_set(err, -E2BIG, "registry: more than %d parameters", PG_PARAMS_MAX);
	for (const char *p = sql; r == 0 && *p; p++) {
		if (*p == '\'')
			quoted = !quoted;
		if (*p == '?' && !quoted)
			r = ferry_buf_printf(&text, "$%d", ++k);
		else
			r = ferry_buf_append(&text, p, 1);
	}
	if (r < 0 || k != n) {
		ferry_buf_free(&text);
		return ferry_err_set(err, -EINVAL, "registry: a statement's parameters do not match its types");
	}
	for (int i = 0; i < n; i++) {
		formats[i] = 0;
		lengths[i] = 0;
		if (types[i] == 's') {
			values[i] = vals[i];
		} else if (types[i] == 'b') {
			const struct ferry_blob *b = vals[i];

			values[i] = b->data ? b->data : "";
			lengths[i] = (int)b->len;
			formats[i] = 1;
		} else {
			snprintf(nums[i], sizeof(nums[i]), "%" PRId64, *(const int64_t *)vals[i]);
			values[i] = nums[i];
		}
	}
	if (PQstatus(reg->pg) != CONNECTION_OK && PQtransactionStatus(reg->pg) != PQTRANS_INTRANS)
		PQreset(reg->pg);
	res = PQexecParams(reg->pg, text.data, n, NULL, values, lengths, formats, 0);
	ferry_buf_free(&text);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		r = res ? pg_result_error(res, err, "statement") : db_error(reg, err, "statement");
		PQclear(res);
		return r;
	}
	*ret = res;
	return 0;
}

int ferry_registry_exec(struct ferry_registry *reg, const char *sql, const char *types, const void *const *vals,
                        struct ferry_err *err)
{
	sqlite3_stmt *st;
	int r;

	if (reg->pg) {
		PGresult *res;

		if ((r = pg_run(reg, sql, types, vals, &res, err)) < 0)
			return r;
		r = atoi(PQcmdTuples(res));
		PQclear(res);
		return r;
	}
	if ((r = sqlite_prepare(reg, sql, types, vals, &st, err)) < 0)
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
	struct ferry_row rw = { 0 };
	unsigned n = 0;
	int r;

	if (reg->pg) {
		if ((r = pg_run(reg, sql, types, vals, &rw.res, err)) < 0)
			return r;
		for (rw.row = 0; rw.row < PQntuples(rw.res) && n < max; rw.row++)
			row(&rw, out, n++);
		PQclear(rw.res);
		return (int)n;
	}
	if ((r = sqlite_prepare(reg, sql, types, vals, &rw.st, err)) < 0)
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
	/*
	 * SQLite: IMMEDIATE takes the write lock now, not at the first write (no
	 * deadlock between two upgrading readers).  PostgreSQL: one controller
	 * writes, and the registry's lock orders its threads.
	 */
	int r = ferry_registry_exec(reg, reg->pg ? "BEGIN" : "BEGIN IMMEDIATE", "", NULL, err);

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

/* ---- rows ---- */

void ferry_row_text(const struct ferry_row *row, int col, char *out, size_t len)
{
	const char *t;

	if (row->res)
		t = PQgetisnull(row->res, row->row, col) ? "" : PQgetvalue(row->res, row->row, col);
	else
		t = (const char *)sqlite3_column_text(row->st, col);
	snprintf(out, len, "%s", t ? t : "");
}

uint64_t ferry_row_u64(const struct ferry_row *row, int col)
{
	long long v;

	if (row->res)
		v = PQgetisnull(row->res, row->row, col) ? 0 : strtoll(PQgetvalue(row->res, row->row, col), NULL, 10);
	else
		v = sqlite3_column_int64(row->st, col);
	return v < 0 ? 0 : (uint64_t)v;
}

size_t ferry_row_blob(const struct ferry_row *row, int col, void *out, size_t max)
{
	if (row->res) {
		/* bytea in text form: "\x" and two hex digits a byte. */
		const char *t = PQgetvalue(row->res, row->row, col);
		size_t n = t ? strlen(t) : 0;

		if (PQgetisnull(row->res, row->row, col) || n < 2 || t[0] != '\\' || t[1] != 'x' || (n - 2) % 2 ||
		    (n - 2) / 2 > max || ferry_hex_decode(t + 2, out, (n - 2) / 2) < 0)
			return 0;
		return (n - 2) / 2;
	}
	const void *p = sqlite3_column_blob(row->st, col);
	int len = sqlite3_column_bytes(row->st, col);

	if (!p || len <= 0 || (size_t)len > max)
		return 0;
	memcpy(out, p, (size_t)len);
	return (size_t)len;
}

bool ferry_row_has(const struct ferry_row *row, int col)
{
	return col < (row->res ? PQnfields(row->res) : sqlite3_column_count(row->st));
}
