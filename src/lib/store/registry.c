/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/registry.h"

static void hex32(const uint8_t in[32], char out[65])
{
	ferry_id_hex(in, out);
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
