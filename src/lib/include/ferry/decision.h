/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_DECISION_H
#define FERRY_DECISION_H

/*
 * The migration manager's records in the controller's store: the time
 * series of its measurement (hosts' ports and load, switches' aggregates,
 * the estimated links between switches, round trips between nodes) and
 * every decision with the inputs it was taken on.  Samples and decisions older than the retention go.
 */

#include <stdbool.h>
#include <stdint.h>

#include "ferry/registry.h"
#include "ferry/ticket.h"
#include "ferry/topology.h"

struct ferry_host_sample {
	uint64_t at_ms; /* wall clock, ms since the epoch */
	char node[FERRY_NODE_NAME_MAX + 1];
	double rx_bps, tx_bps, cpu;
	uint64_t mem_free, containers;
};

struct ferry_switch_sample {
	uint64_t at_ms;
	char name[FERRY_TOPO_NAME_MAX + 1];
	double aggregate_bps, difference_bps;
	bool hot;
};

struct ferry_link_sample {
	uint64_t at_ms;
	char a[FERRY_TOPO_NAME_MAX + 1], b[FERRY_TOPO_NAME_MAX + 1];
	double ab_bps, ba_bps; /* estimated (ferry/manager.h) */
};

#define FERRY_DECISION_INPUTS_MAX 8192

struct ferry_decision_rec {
	uint64_t id, at; /* at: unix seconds */
	char policy[32];
	char container[FERRY_CONTAINER_NAME_MAX + 1];
	char source[FERRY_NODE_NAME_MAX + 1], dest[FERRY_NODE_NAME_MAX + 1]; /* dest "" when nowhere */
	char action[16];                        /* "migrated", "failed", "dry-run", "stayed" */
	char detail[256];                       /* why, or how the migration ended */
	uint64_t migration;                     /* its record in the migrations table, 0 if none */
	char inputs[FERRY_DECISION_INPUTS_MAX]; /* JSON: trigger, thresholds, candidates with their data */
};

int ferry_store_host_sample_add(struct ferry_registry *reg, const struct ferry_host_sample *s, struct ferry_err *err);
int ferry_store_switch_sample_add(struct ferry_registry *reg, const struct ferry_switch_sample *s,
                                  struct ferry_err *err);
int ferry_store_link_sample_add(struct ferry_registry *reg, const struct ferry_link_sample *s, struct ferry_err *err);
/* A round trip node a measured to node b (ICMP echo), µs. */
int ferry_store_rtt_sample_add(struct ferry_registry *reg, uint64_t at_ms, const char *a, const char *b,
                               uint32_t rtt_us, struct ferry_err *err);
/* The newest samples of one node, oldest first (at most max). */
int ferry_store_host_samples(struct ferry_registry *reg, const char *node, struct ferry_host_sample *out, unsigned max,
                             struct ferry_err *err);
/* Drop samples taken before before_ms and decisions made before before_ms / 1000. */
int ferry_store_prune(struct ferry_registry *reg, uint64_t before_ms, struct ferry_err *err);

/* Store a decision (id set). */
int ferry_store_decision_add(struct ferry_registry *reg, struct ferry_decision_rec *d, struct ferry_err *err);
/* Its outcome, once the migration it started ended. */
int ferry_store_decision_end(struct ferry_registry *reg, uint64_t id, const char *action, const char *detail,
                             uint64_t migration, struct ferry_err *err);
/* The newest decisions, oldest first (at most max); with_inputs = false leaves inputs empty. */
int ferry_store_decisions(struct ferry_registry *reg, struct ferry_decision_rec *out, unsigned max, bool with_inputs,
                          struct ferry_err *err);
int ferry_store_decision_get(struct ferry_registry *reg, uint64_t id, struct ferry_decision_rec *ret,
                             struct ferry_err *err);

/* ---- intrusion alerts and quarantine (the controller's ids.c) ---- */

struct ferry_alert_rec {
	uint64_t id, at_ms;                     /* at_ms: when the controller took it, unix ms */
	char reporter[FERRY_NODE_NAME_MAX + 6]; /* the node whose IDS saw it, or "admin:NAME" */
	char host[FERRY_NODE_NAME_MAX + 1];     /* the host it implicates, "" when none */
	unsigned severity;
	char src[16], dst[16]; /* dotted IPv4, "" when absent */
	char sid[40];
	char signature[256];
	char verdict[16]; /* ferry_ids_verdict_name, or "unplaced" when it named no host */
};

int ferry_store_alert_add(struct ferry_registry *reg, struct ferry_alert_rec *a, struct ferry_err *err);
/* The newest alerts, oldest first (at most max). */
int ferry_store_alerts(struct ferry_registry *reg, struct ferry_alert_rec *out, unsigned max, struct ferry_err *err);

struct ferry_quarantine_rec {
	char node[FERRY_NODE_NAME_MAX + 1];
	uint64_t since; /* unix seconds */
	char reason[256];
};

/* Put node in quarantine (kept if it is already: the first reason stays). */
int ferry_store_quarantine_add(struct ferry_registry *reg, const char *node, uint64_t since, const char *reason,
                               struct ferry_err *err);
/* Release it; -ENOENT when it is not in quarantine. */
int ferry_store_quarantine_release(struct ferry_registry *reg, const char *node, struct ferry_err *err);
int ferry_store_quarantined(struct ferry_registry *reg, struct ferry_quarantine_rec *out, unsigned max,
                            struct ferry_err *err);
/* Whether node is in quarantine (false as well when the store cannot tell, with err set). */
bool ferry_store_is_quarantined(struct ferry_registry *reg, const char *node, struct ferry_err *err);

#endif
