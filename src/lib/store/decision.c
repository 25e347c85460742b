/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The measurement's time series and the manager's decisions, in the registry's database. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "ferry/decision.h"

/* REAL columns go through as integers of bits/s and per-mille: the store has one number type to bind. */
static sqlite3_int64 whole(double v)
{
	return v > 0 && v < 9.2e18 ? (sqlite3_int64)(v + 0.5) : 0;
}

int ferry_store_host_sample_add(struct ferry_registry *reg, const struct ferry_host_sample *s, struct ferry_err *err)
{
	sqlite3_int64 v[] = { (sqlite3_int64)s->at_ms, whole(s->rx_bps),           whole(s->tx_bps),
		              whole(s->cpu * 1000),    (sqlite3_int64)s->mem_free, (sqlite3_int64)s->containers };
	const void *vals[] = { &v[0], s->node, &v[1], &v[2], &v[3], &v[4], &v[5] };
	int r = ferry_registry_write(reg,
	                             "INSERT INTO host_samples (at_ms, node, rx_bps, tx_bps, cpu_permille, mem_free, "
	                             "containers) VALUES (?, ?, ?, ?, ?, ?, ?)",
	                             "isiiiii", vals, err);

	return r < 0 ? r : 0;
}

int ferry_store_switch_sample_add(struct ferry_registry *reg, const struct ferry_switch_sample *s,
                                  struct ferry_err *err)
{
	sqlite3_int64 v[] = { (sqlite3_int64)s->at_ms, whole(s->aggregate_bps),
		              s->difference_bps < 0 ? -whole(-s->difference_bps) : whole(s->difference_bps), s->hot };
	const void *vals[] = { &v[0], s->name, &v[1], &v[2], &v[3] };
	int r = ferry_registry_write(reg,
	                             "INSERT INTO switch_samples (at_ms, switch, aggregate_bps, difference_bps, hot) "
	                             "VALUES (?, ?, ?, ?, ?)",
	                             "isiii", vals, err);

	return r < 0 ? r : 0;
}

int ferry_store_link_sample_add(struct ferry_registry *reg, const struct ferry_link_sample *s, struct ferry_err *err)
{
	sqlite3_int64 v[] = { (sqlite3_int64)s->at_ms, whole(s->ab_bps), whole(s->ba_bps) };
	const void *vals[] = { &v[0], s->a, s->b, &v[1], &v[2] };
	int r = ferry_registry_write(
	    reg, "INSERT INTO link_samples (at_ms, a, b, ab_bps, ba_bps) VALUES (?, ?, ?, ?, ?)", "issii", vals, err);

	return r < 0 ? r : 0;
}

int ferry_store_rtt_sample_add(struct ferry_registry *reg, uint64_t at_ms, const char *a, const char *b,
                               uint32_t rtt_us, struct ferry_err *err)
{
	sqlite3_int64 v[] = { (sqlite3_int64)at_ms, (sqlite3_int64)rtt_us };
	const void *vals[] = { &v[0], a, b, &v[1] };
	int r = ferry_registry_write(reg, "INSERT INTO rtt_samples (at_ms, a, b, rtt_us) VALUES (?, ?, ?, ?)", "issi",
	                             vals, err);

	return r < 0 ? r : 0;
}

static void host_sample_row(sqlite3_stmt *st, void *out, unsigned i)
{
	struct ferry_host_sample *s = (struct ferry_host_sample *)out + i;

	memset(s, 0, sizeof(*s));
	s->at_ms = ferry_registry_col_u64(st, 0);
	ferry_registry_col_text(st, 1, s->node, sizeof(s->node));
	s->rx_bps = (double)ferry_registry_col_u64(st, 2);
	s->tx_bps = (double)ferry_registry_col_u64(st, 3);
	s->cpu = (double)ferry_registry_col_u64(st, 4) / 1000.0;
	s->mem_free = ferry_registry_col_u64(st, 5);
	s->containers = ferry_registry_col_u64(st, 6);
}

int ferry_store_host_samples(struct ferry_registry *reg, const char *node, struct ferry_host_sample *out, unsigned max,
                             struct ferry_err *err)
{
	char sql[384];

	snprintf(sql, sizeof(sql),
	         "SELECT * FROM (SELECT at_ms, node, rx_bps, tx_bps, cpu_permille, mem_free, containers FROM "
	         "host_samples WHERE node = ? ORDER BY at_ms DESC LIMIT %u) ORDER BY at_ms",
	         max);
	return ferry_registry_query(reg, sql, node, host_sample_row, out, max, err);
}

int ferry_store_prune(struct ferry_registry *reg, uint64_t before_ms, struct ferry_err *err)
{
	static const char *const tables[] = { "host_samples", "switch_samples", "link_samples", "rtt_samples" };
	sqlite3_int64 ms = (sqlite3_int64)before_ms, s = (sqlite3_int64)(before_ms / 1000);
	const void *by_ms[] = { &ms }, *by_s[] = { &s };
	char sql[96];
	int r = 0;

	for (size_t i = 0; r >= 0 && i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE at_ms < ?", tables[i]);
		r = ferry_registry_write(reg, sql, "i", by_ms, err);
	}
	if (r >= 0)
		r = ferry_registry_write(reg, "DELETE FROM decisions WHERE at < ?", "i", by_s, err);
	return r < 0 ? r : 0;
}

int ferry_store_decision_add(struct ferry_registry *reg, struct ferry_decision_rec *d, struct ferry_err *err)
{
	sqlite3_int64 at = (sqlite3_int64)d->at, mig = (sqlite3_int64)d->migration;
	const void *vals[] = {
		&at, d->policy, d->container, d->source, d->dest, d->action, d->detail, &mig, d->inputs
	};
	int r;

	pthread_mutex_lock(&reg->lock);
	r = ferry_registry_exec(
	    reg,
	    "INSERT INTO decisions (at, policy, container, source, dest, action, detail, migration, "
	    "inputs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
	    "issssssis", vals, err);
	if (r >= 0)
		d->id = (uint64_t)sqlite3_last_insert_rowid(reg->db);
	pthread_mutex_unlock(&reg->lock);
	return r < 0 ? r : 0;
}

int ferry_store_decision_end(struct ferry_registry *reg, uint64_t id, const char *action, const char *detail,
                             uint64_t migration, struct ferry_err *err)
{
	sqlite3_int64 mig = (sqlite3_int64)migration, key = (sqlite3_int64)id;
	const void *vals[] = { action, detail, &mig, &key };
	int r = ferry_registry_write(reg, "UPDATE decisions SET action = ?, detail = ?, migration = ? WHERE id = ?",
	                             "ssii", vals, err);

	return r < 0 ? r : 0;
}

#define DECISION_COLUMNS "id, at, policy, container, source, dest, action, detail, migration"

static void decision_row(sqlite3_stmt *st, void *out, unsigned i)
{
	struct ferry_decision_rec *d = (struct ferry_decision_rec *)out + i;

	d->id = ferry_registry_col_u64(st, 0);
	d->at = ferry_registry_col_u64(st, 1);
	ferry_registry_col_text(st, 2, d->policy, sizeof(d->policy));
	ferry_registry_col_text(st, 3, d->container, sizeof(d->container));
	ferry_registry_col_text(st, 4, d->source, sizeof(d->source));
	ferry_registry_col_text(st, 5, d->dest, sizeof(d->dest));
	ferry_registry_col_text(st, 6, d->action, sizeof(d->action));
	ferry_registry_col_text(st, 7, d->detail, sizeof(d->detail));
	d->migration = ferry_registry_col_u64(st, 8);
	if (sqlite3_column_count(st) > 9)
		ferry_registry_col_text(st, 9, d->inputs, sizeof(d->inputs));
	else
		d->inputs[0] = '\0';
}

int ferry_store_decisions(struct ferry_registry *reg, struct ferry_decision_rec *out, unsigned max, bool with_inputs,
                          struct ferry_err *err)
{
	char sql[384];

	snprintf(sql, sizeof(sql),
	         "SELECT * FROM (SELECT " DECISION_COLUMNS "%s FROM decisions ORDER BY id DESC "
	         "LIMIT %u) ORDER BY id",
	         with_inputs ? ", inputs" : "", max);
	return ferry_registry_query(reg, sql, NULL, decision_row, out, max, err);
}

int ferry_store_decision_get(struct ferry_registry *reg, uint64_t id, struct ferry_decision_rec *ret,
                             struct ferry_err *err)
{
	char key[24];
	int r;

	snprintf(key, sizeof(key), "%llu", (unsigned long long)id);
	r = ferry_registry_query(reg,
	                         "SELECT " DECISION_COLUMNS ", inputs FROM decisions WHERE id = CAST(? AS INTEGER)",
	                         key, decision_row, ret, 1, err);
	if (r == 0)
		return ferry_err_set(err, -ENOENT, "no decision %llu (kept for the retention only)",
		                     (unsigned long long)id);
	return r < 0 ? r : 0;
}
