/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/hex.h"
#include "ferry/workload.h"

/* ---- images ---- */

static void image_row(const struct ferry_row *row, void *out, unsigned i)
{
	struct ferry_image_rec *img = (struct ferry_image_rec *)out + i;
	char hex[65];

	memset(img, 0, sizeof(*img));
	ferry_row_text(row, 0, img->name, sizeof(img->name));
	ferry_row_text(row, 1, hex, sizeof(hex));
	ferry_hex_decode(hex, img->digest, 32);
	img->size = ferry_row_u64(row, 2);
	img->created_at = ferry_row_u64(row, 3);
}

int ferry_store_image_put(struct ferry_registry *reg, const struct ferry_image_rec *img, struct ferry_err *err)
{
	char hex[65];
	int64_t size = (int64_t)img->size, at = (int64_t)img->created_at;
	const void *vals[] = { img->name, hex, &size, &at };
	int r;

	ferry_hex_encode(img->digest, 32, hex);
	r = ferry_registry_write(
	    reg,
	    "INSERT INTO images (name, digest, size, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) "
	    "DO UPDATE SET digest = excluded.digest, size = excluded.size, created_at = excluded.created_at",
	    "ssii", vals, err);
	return r < 0 ? r : 0;
}

int ferry_store_image_get(struct ferry_registry *reg, const char *name, struct ferry_image_rec *ret,
                          struct ferry_err *err)
{
	const void *key[] = { name };
	int n = ferry_registry_query(reg, "SELECT name, digest, size, created_at FROM images WHERE name = ?", "s", key,
	                             image_row, ret, 1, err);

	if (n == 0)
		return ferry_err_set(err, -ENOENT, "no image named '%s' (ferry image ls lists them)", name);
	return n < 0 ? n : 0;
}

int ferry_store_images(struct ferry_registry *reg, struct ferry_image_rec *out, unsigned max, struct ferry_err *err)
{
	return ferry_registry_query(reg, "SELECT name, digest, size, created_at FROM images ORDER BY name", "", NULL,
	                            image_row, out, max, err);
}

/* ---- containers ---- */

#define CT_COLUMNS "name, node, image, generation, state, spec, created_at"

static void container_row(const struct ferry_row *row, void *out, unsigned i)
{
	struct ferry_container_rec *c = (struct ferry_container_rec *)out + i;

	memset(c, 0, sizeof(*c) - sizeof(c->spec));
	ferry_row_text(row, 0, c->name, sizeof(c->name));
	ferry_row_text(row, 1, c->node, sizeof(c->node));
	ferry_row_text(row, 2, c->image, sizeof(c->image));
	c->generation = ferry_row_u64(row, 3);
	ferry_row_text(row, 4, c->state, sizeof(c->state));
	c->spec_len = ferry_row_blob(row, 5, c->spec, sizeof(c->spec));
	c->created_at = ferry_row_u64(row, 6);
}

int ferry_store_container_add(struct ferry_registry *reg, const struct ferry_container_rec *c, struct ferry_err *err)
{
	int64_t gen = (int64_t)c->generation, at = (int64_t)c->created_at;
	struct ferry_blob spec = { c->spec, c->spec_len };
	const void *vals[] = { c->name, c->node, c->image, &gen, c->state, &spec, &at };
	int r = ferry_registry_write(reg,
	                             "INSERT INTO containers (" CT_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?) "
	                             "ON CONFLICT DO NOTHING",
	                             "sssisbi", vals, err);

	if (r == 0)
		return ferry_err_set(err, -EEXIST, "a container named '%s' already exists", c->name);
	return r < 0 ? r : 0;
}

int ferry_store_container_get(struct ferry_registry *reg, const char *name, struct ferry_container_rec *ret,
                              struct ferry_err *err)
{
	const void *key[] = { name };
	int n = ferry_registry_query(reg, "SELECT " CT_COLUMNS " FROM containers WHERE name = ?", "s", key,
	                             container_row, ret, 1, err);

	if (n == 0)
		return ferry_err_set(err, -ENOENT, "no container named '%s'", name);
	return n < 0 ? n : 0;
}

int ferry_store_containers(struct ferry_registry *reg, struct ferry_container_rec *out, unsigned max,
                           struct ferry_err *err)
{
	return ferry_registry_query(reg, "SELECT " CT_COLUMNS " FROM containers ORDER BY name", "", NULL, container_row,
	                            out, max, err);
}

int ferry_store_container_del(struct ferry_registry *reg, const char *name, struct ferry_err *err)
{
	const void *vals[] = { name };
	/*
	 * Its last generation outlives it: nodes remember the generations they
	 * saw of a name, and a new container of that name must go on above.
	 */
	int r = ferry_registry_write(reg,
	                             "INSERT INTO retired_generations (name, generation) SELECT name, generation FROM "
	                             "containers WHERE name = ?1 ON CONFLICT (name) DO UPDATE SET generation = "
	                             "max(generation, excluded.generation)",
	                             "s", vals, err);

	if (r >= 0)
		r = ferry_registry_write(reg, "DELETE FROM containers WHERE name = ?", "s", vals, err);
	return r < 0 ? r : 0;
}

static void generation_row(const struct ferry_row *row, void *out, unsigned i)
{
	*(uint64_t *)out = ferry_row_u64(row, 0);
}

int ferry_store_first_generation(struct ferry_registry *reg, const char *name, uint64_t *ret, struct ferry_err *err)
{
	uint64_t last = 0;
	const void *key[] = { name };
	int n = ferry_registry_query(reg, "SELECT generation FROM retired_generations WHERE name = ?", "s", key,
	                             generation_row, &last, 1, err);

	if (n < 0)
		return n;
	*ret = last + 1;
	return 0;
}

int ferry_store_container_transition(struct ferry_registry *reg, const char *name, const char *from, const char *to,
                                     struct ferry_err *err)
{
	const void *vals[] = { to, name, from };
	struct ferry_container_rec *c;
	int r =
	    ferry_registry_write(reg, "UPDATE containers SET state = ? WHERE name = ? AND state = ?", "sss", vals, err);

	if (r != 0)
		return r < 0 ? r : 0;
	c = malloc(sizeof(*c));
	if (!c)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	r = ferry_store_container_get(reg, name, c, err);
	if (r == 0)
		r = ferry_err_set(err, -EBUSY, "container '%s' is %s, not %s", name, c->state, from);
	free(c);
	return r;
}

int ferry_store_container_update(struct ferry_registry *reg, const struct ferry_container_rec *c, struct ferry_err *err)
{
	int64_t gen = (int64_t)c->generation;
	struct ferry_blob spec = { c->spec, c->spec_len };
	const void *vals[] = { c->node, &gen, c->state, &spec, c->name };
	int r = ferry_registry_write(
	    reg, "UPDATE containers SET node = ?, generation = ?, state = ?, spec = ? WHERE name = ?", "sisbs", vals,
	    err);

	return r < 0 ? r : 0;
}

/* ---- migrations ---- */

#define MIG_COLUMNS                                                                                                    \
	"id, container, mode, source, dest, started_at, finished_at, result, message, total_ms, downtime_ms, "         \
	"checkpoint_ms, transfer_ms, restore_ms, bytes_image, bytes_wire, rounds, round_bytes, note"

static void migration_row(const struct ferry_row *row, void *out, unsigned i)
{
	struct ferry_migration_rec *m = (struct ferry_migration_rec *)out + i;

	memset(m, 0, sizeof(*m));
	m->id = ferry_row_u64(row, 0);
	ferry_row_text(row, 1, m->container, sizeof(m->container));
	ferry_row_text(row, 2, m->mode, sizeof(m->mode));
	ferry_row_text(row, 3, m->source, sizeof(m->source));
	ferry_row_text(row, 4, m->dest, sizeof(m->dest));
	m->started_at = ferry_row_u64(row, 5);
	m->finished_at = ferry_row_u64(row, 6);
	ferry_row_text(row, 7, m->result, sizeof(m->result));
	ferry_row_text(row, 8, m->message, sizeof(m->message));
	m->total_ms = ferry_row_u64(row, 9);
	m->downtime_ms = ferry_row_u64(row, 10);
	m->checkpoint_ms = ferry_row_u64(row, 11);
	m->transfer_ms = ferry_row_u64(row, 12);
	m->restore_ms = ferry_row_u64(row, 13);
	m->bytes_image = ferry_row_u64(row, 14);
	m->bytes_wire = ferry_row_u64(row, 15);
	m->rounds = ferry_row_u64(row, 16);
	ferry_row_text(row, 17, m->round_bytes, sizeof(m->round_bytes));
	ferry_row_text(row, 18, m->note, sizeof(m->note));
}

int ferry_store_migration_begin(struct ferry_registry *reg, struct ferry_migration_rec *m, struct ferry_err *err)
{
	int64_t at = (int64_t)m->started_at;
	const void *vals[] = { m->container, m->mode, m->source, m->dest, &at };
	int r;

	pthread_mutex_lock(&reg->lock);
	r = ferry_registry_insert(reg,
	                          "INSERT INTO migrations (container, mode, source, dest, started_at) "
	                          "VALUES (?, ?, ?, ?, ?) RETURNING id",
	                          "ssssi", vals, &m->id, err);
	pthread_mutex_unlock(&reg->lock);
	return r < 0 ? r : 0;
}

int ferry_store_migration_end(struct ferry_registry *reg, const struct ferry_migration_rec *m, struct ferry_err *err)
{
	int64_t v[] = { (int64_t)m->finished_at, (int64_t)m->total_ms,
		        (int64_t)m->downtime_ms, (int64_t)m->checkpoint_ms,
		        (int64_t)m->transfer_ms, (int64_t)m->restore_ms,
		        (int64_t)m->bytes_image, (int64_t)m->bytes_wire,
		        (int64_t)m->rounds,      (int64_t)m->id };
	const void *vals[] = { &v[0], m->result, m->message, &v[1], &v[2],          &v[3],   &v[4],
		               &v[5], &v[6],     &v[7],      &v[8], m->round_bytes, m->note, &v[9] };
	int r = ferry_registry_write(
	    reg,
	    "UPDATE migrations SET finished_at = ?, result = ?, message = ?, total_ms = ?, downtime_ms = ?, "
	    "checkpoint_ms = ?, transfer_ms = ?, restore_ms = ?, bytes_image = ?, bytes_wire = ?, rounds = ?, "
	    "round_bytes = ?, note = ? WHERE id = ?",
	    "issiiiiiiiissi", vals, err);

	return r < 0 ? r : 0;
}

int ferry_store_migrations(struct ferry_registry *reg, struct ferry_migration_rec *out, unsigned max,
                           struct ferry_err *err)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
	         "SELECT * FROM (SELECT " MIG_COLUMNS " FROM migrations ORDER BY id DESC LIMIT %u) AS newest "
	         "ORDER BY id",
	         max);
	return ferry_registry_query(reg, sql, "", NULL, migration_row, out, max, err);
}

int ferry_store_migrations_interrupt(struct ferry_registry *reg, uint64_t now, struct ferry_err *err)
{
	int64_t at = (int64_t)now;
	const void *vals[] = { &at };
	int r = ferry_registry_write(
	    reg,
	    "UPDATE migrations SET finished_at = ?, result = 'interrupted', message = 'the controller stopped "
	    "during the migration' WHERE result IS NULL",
	    "i", vals, err);

	if (r >= 0) {
		int r2 = ferry_registry_write(reg, "UPDATE containers SET state = 'running' WHERE state = 'migrating'",
		                              "", NULL, err);
		if (r2 < 0)
			return r2;
	}
	return r;
}
