/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The measurement's time series and the manager's decisions, in the registry's database. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ferry/decision.h"

/* REAL columns go through as integers of bits/s and per-mille: the store has one number type to bind. */
static int64_t whole(double v)
{
	return v > 0 && v < 9.2e18 ? (int64_t)(v + 0.5) : 0;
}

int ferry_store_host_sample_add(struct ferry_registry *reg, const struct ferry_host_sample *s, struct ferry_err *err)
{
	int64_t v[] = { (int64_t)s->at_ms,    whole(s->rx_bps),     whole(s->tx_bps),
		        whole(s->cpu * 1000), (int64_t)s->mem_free, (int64_t)s->containers };
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
	int64_t v[] = { (int64_t)s->at_ms, whole(s->aggregate_bps),
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
	int64_t v[] = { (int64_t)s->at_ms, whole(s->ab_bps), whole(s->ba_bps) };
	const void *vals[] = { &v[0], s->a, s->b, &v[1], &v[2] };
	int r = ferry_registry_write(
	    reg, "INSERT INTO link_samples (at_ms, a, b, ab_bps, ba_bps) VALUES (?, ?, ?, ?, ?)", "issii", vals, err);

	return r < 0 ? r : 0;
}

int ferry_store_rtt_sample_add(struct ferry_registry *reg, uint64_t at_ms, const char *a, const char *b,
                               uint32_t rtt_us, struct ferry_err *err)
{
	int64_t v[] = { (int64_t)at_ms, (int64_t)rtt_us };
	const void *vals[] = { &v[0], a, b, &v[1] };
	int r = ferry_registry_write(reg, "INSERT INTO rtt_samples (at_ms, a, b, rtt_us) VALUES (?, ?, ?, ?)", "issi",
	                             vals, err);

	return r < 0 ? r : 0;
}

static void host_sample_row(const struct ferry_row *row, void *out, unsigned i)
{
	struct ferry_host_sample *s = (struct ferry_host_sample *)out + i;

	memset(s, 0, sizeof(*s));
	s->at_ms = ferry_row_u64(row, 0);
	ferry_row_text(row, 1, s->node, sizeof(s->node));
	s->rx_bps = (double)ferry_row_u64(row, 2);
	s->tx_bps = (double)ferry_row_u64(row, 3);
	s->cpu = (double)ferry_row_u64(row, 4) / 1000.0;
	s->mem_free = ferry_row_u64(row, 5);
	s->containers = ferry_row_u64(row, 6);
}

int ferry_store_host_samples(struct ferry_registry *reg, const char *node, struct ferry_host_sample *out, unsigned max,
                             struct ferry_err *err)
{
	char sql[384];

	snprintf(sql, sizeof(sql),
	         "SELECT * FROM (SELECT at_ms, node, rx_bps, tx_bps, cpu_permille, mem_free, containers FROM "
	         "host_samples WHERE node = ? ORDER BY at_ms DESC LIMIT %u) AS newest ORDER BY at_ms",
	         max);
	const void *key[] = { node };

	return ferry_registry_query(reg, sql, "s", key, host_sample_row, out, max, err);
}

int ferry_store_prune(struct ferry_registry *reg, uint64_t before_ms, struct ferry_err *err)
{
	static const char *const tables[] = { "host_samples", "switch_samples", "link_samples", "rtt_samples",
		                              "alerts" };
	int64_t ms = (int64_t)before_ms, s = (int64_t)(before_ms / 1000);
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
	int64_t at = (int64_t)d->at, mig = (int64_t)d->migration;
	const void *vals[] = {
		&at, d->policy, d->container, d->source, d->dest, d->action, d->detail, &mig, d->inputs
	};
	int r;

	pthread_mutex_lock(&reg->lock);
	r = ferry_registry_insert(
	    reg,
	    "INSERT INTO decisions (at, policy, container, source, dest, action, detail, migration, "
	    "inputs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
	    "issssssis", vals, &d->id, err);
	pthread_mutex_unlock(&reg->lock);
	return r < 0 ? r : 0;
}

int ferry_store_decision_end(struct ferry_registry *reg, uint64_t id, const char *action, const char *detail,
                             uint64_t migration, struct ferry_err *err)
{
	int64_t mig = (int64_t)migration, key = (int64_t)id;
	const void *vals[] = { action, detail, &mig, &key };
	int r = ferry_registry_write(reg, "UPDATE decisions SET action = ?, detail = ?, migration = ? WHERE id = ?",
	                             "ssii", vals, err);

	return r < 0 ? r : 0;
}

#define DECISION_COLUMNS "id, at, policy, container, source, dest, action, detail, migration"

static void decision_row(const struct ferry_row *row, void *out, unsigned i)
{
	struct ferry_decision_rec *d = (struct ferry_decision_rec *)out + i;

	d->id = ferry_row_u64(row, 0);
	d->at = ferry_row_u64(row, 1);
	ferry_row_text(row, 2, d->policy, sizeof(d->policy));
	ferry_row_text(row, 3, d->container, sizeof(d->container));
	ferry_row_text(row, 4, d->source, sizeof(d->source));
	ferry_row_text(row, 5, d->dest, sizeof(d->dest));
	ferry_row_text(row, 6, d->action, sizeof(d->action));
	ferry_row_text(row, 7, d->detail, sizeof(d->detail));
	d->migration = ferry_row_u64(row, 8);
	if (ferry_row_has(row, 9))
		ferry_row_text(row, 9, d->inputs, sizeof(d->inputs));
	else
		d->inputs[0] = '\0';
}

int ferry_store_decisions(struct ferry_registry *reg, struct ferry_decision_rec *out, unsigned max, bool with_inputs,
                          struct ferry_err *err)
{
	char sql[384];

	snprintf(sql, sizeof(sql),
	         "SELECT * FROM (SELECT " DECISION_COLUMNS "%s FROM decisions ORDER BY id DESC "
	         "LIMIT %u) AS newest ORDER BY id",
	         with_inputs ? ", inputs" : "", max);
	return ferry_registry_query(reg, sql, "", NULL, decision_row, out, max, err);
}

int ferry_store_decision_get(struct ferry_registry *reg, uint64_t id, struct ferry_decision_rec *ret,
                             struct ferry_err *err)
{
	int64_t key = id > INT64_MAX ? -1 : (int64_t)id;
	const void *vals[] = { &key };
	int r = ferry_registry_query(reg, "SELECT " DECISION_COLUMNS ", inputs FROM decisions WHERE id = ?", "i", vals,
	                             decision_row, ret, 1, err);

	if (r == 0)
		return ferry_err_set(err, -ENOENT, "no decision %llu (kept for the retention only)",
		                     (unsigned long long)id);
	return r < 0 ? r : 0;
}
