/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Intrusion alerts and quarantined hosts, in the registry's database. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ferry/decision.h"

int ferry_store_alert_add(struct ferry_registry *reg, struct ferry_alert_rec *a, struct ferry_err *err)
{
	int64_t at = (int64_t)a->at_ms, sev = a->severity;
	const void *vals[] = { &at, a->reporter, a->host, &sev, a->src, a->dst, a->sid, a->signature, a->verdict };
	int r;

	pthread_mutex_lock(&reg->lock);
	r = ferry_registry_insert(reg,
	                          "INSERT INTO alerts (at_ms, reporter, host, severity, src, dst, sid, signature, "
	                          "verdict) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
	                          "ississsss", vals, &a->id, err);
	pthread_mutex_unlock(&reg->lock);
	return r < 0 ? r : 0;
}

static void alert_row(const struct ferry_row *row, void *out, unsigned i)
{
	struct ferry_alert_rec *a = (struct ferry_alert_rec *)out + i;

	memset(a, 0, sizeof(*a));
	a->id = ferry_row_u64(row, 0);
	a->at_ms = ferry_row_u64(row, 1);
	ferry_row_text(row, 2, a->reporter, sizeof(a->reporter));
	ferry_row_text(row, 3, a->host, sizeof(a->host));
	a->severity = (unsigned)ferry_row_u64(row, 4);
	ferry_row_text(row, 5, a->src, sizeof(a->src));
	ferry_row_text(row, 6, a->dst, sizeof(a->dst));
	ferry_row_text(row, 7, a->sid, sizeof(a->sid));
	ferry_row_text(row, 8, a->signature, sizeof(a->signature));
	ferry_row_text(row, 9, a->verdict, sizeof(a->verdict));
}

int ferry_store_alerts(struct ferry_registry *reg, struct ferry_alert_rec *out, unsigned max, struct ferry_err *err)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "SELECT * FROM (SELECT id, at_ms, reporter, host, severity, src, dst, sid, signature, verdict "
	         "FROM alerts ORDER BY id DESC LIMIT %u) AS newest ORDER BY id",
	         max);
	return ferry_registry_query(reg, sql, "", NULL, alert_row, out, max, err);
}

int ferry_store_quarantine_add(struct ferry_registry *reg, const char *node, uint64_t since, const char *reason,
                               struct ferry_err *err)
{
	int64_t at = (int64_t)since;
	const void *vals[] = { node, &at, reason };
	int r = ferry_registry_write(
	    reg, "INSERT INTO quarantine (node, since, reason) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", "sis", vals,
	    err);

	return r < 0 ? r : 0;
}

int ferry_store_quarantine_release(struct ferry_registry *reg, const char *node, struct ferry_err *err)
{
	const void *vals[] = { node };
	int r = ferry_registry_write(reg, "DELETE FROM quarantine WHERE node = ?", "s", vals, err);

	if (r == 0)
		return ferry_err_set(err, -ENOENT, "node '%s' is not in quarantine", node);
	return r < 0 ? r : 0;
}

static void quarantine_row(const struct ferry_row *row, void *out, unsigned i)
{
	struct ferry_quarantine_rec *q = (struct ferry_quarantine_rec *)out + i;

	ferry_row_text(row, 0, q->node, sizeof(q->node));
	q->since = ferry_row_u64(row, 1);
	ferry_row_text(row, 2, q->reason, sizeof(q->reason));
}

int ferry_store_quarantined(struct ferry_registry *reg, struct ferry_quarantine_rec *out, unsigned max,
                            struct ferry_err *err)
{
	return ferry_registry_query(reg, "SELECT node, since, reason FROM quarantine ORDER BY node", "", NULL,
	                            quarantine_row, out, max, err);
}

bool ferry_store_is_quarantined(struct ferry_registry *reg, const char *node, struct ferry_err *err)
{
	struct ferry_quarantine_rec q;
	const void *vals[] = { node };

	return ferry_registry_query(reg, "SELECT node, since, reason FROM quarantine WHERE node = ?", "s", vals,
	                            quarantine_row, &q, 1, err) == 1;
}
