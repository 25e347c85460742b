/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_CONTROLLER_MANAGER_H
#define FERRY_CONTROLLER_MANAGER_H

/*
 * The migration manager inside the controller (docs/ARCHITECTURE.md,
 * "Measurement" and "Decision loop"): measure.c samples every node
 * (NODE_STATS) at the default or, on a hot switch, the customized
 * frequency and keeps the time series; decide.c checks every
 * check_interval_ms, singles out a heavy host, picks a container and its
 * destination by the configured policy, stores the decision with its inputs
 * and starts the migration.
 */

#include <net/if.h>
#include <pthread.h>

#include "ferry/decision.h"
#include "ferry/manager.h"
#include "ferry/registry.h"

struct controller;

#define MGR_HOSTS      64 /* nodes measured (ferry/topology.h allows 64) */
#define MGR_CTS        32 /* containers measured per node */
#define MGR_COOLDOWNS  64
#define MGR_STALE_RUNS 3 /* a host's sample older than this many periods is not used */

struct ct_meas {
	char name[FERRY_CONTAINER_NAME_MAX + 1];
	uint64_t rx, tx;
	double rx_bps, tx_bps;
};

struct peer_rtt {
	char name[FERRY_NODE_NAME_MAX + 1];
	uint32_t rtt_us;
	long long at_ms;
};

struct host_meas {
	char name[FERRY_NODE_NAME_MAX + 1];
	bool have_prev, have_rate;
	long long sampled_ms, next_ms; /* the controller's monotonic clock */
	uint64_t node_ms, rx, tx, busy, total;
	double rx_bps, tx_bps, cpu;
	uint64_t mem_free, running;
	char iface[IFNAMSIZ];
	struct ct_meas cts[MGR_CTS];
	unsigned n_cts;
	struct peer_rtt rtt[MGR_HOSTS]; /* round trips to other nodes, as this node measured them */
	unsigned n_rtt;
	long long probed_ms; /* when this node was last asked to probe */
	bool failing;        /* its last sample failed (said once in the log, and once when it answers again) */
};

struct cooldown {
	char container[FERRY_CONTAINER_NAME_MAX + 1];
	long long until_ms;
};

struct manager {
	struct ferry_manager_config cfg;
	const struct ferry_policy_ops *policy; /* NULL: measure on demand only */
	struct ferry_topology *file_topo;      /* NULL: every enrolled node on one switch */
	pthread_t thread;
	bool running, stop;
	pthread_mutex_t lock; /* guards everything below, and stop */
	pthread_cond_t wake;
	struct host_meas hosts[MGR_HOSTS];
	unsigned n_hosts;
	struct ferry_detector det;
	struct ferry_topology *topo; /* the layout of the last check */
	struct cooldown cool[MGR_COOLDOWNS];
	long long last_prune_ms;
	bool moving;     /* a migration the loop started is under way (one at a time) */
	pthread_t mover; /* its thread, joined before the next and at stop */
	bool have_mover;
};

/* Load the topology file and the policy the configuration names; nothing runs yet. */
int manager_init(struct controller *c, const struct ferry_manager_config *cfg, struct ferry_err *err);
/* Start the loop when a policy is configured. */
int manager_start(struct controller *c, struct ferry_err *err);
void manager_stop(struct controller *c);
void manager_free(struct controller *c);

/* ---- measure.c ---- */

/* The layout to decide on: the topology file's, or every enrolled node on one switch "default". */
int manager_layout(struct controller *c, struct ferry_topology *t, struct ferry_err *err);
/*
 * Sample one node now (the lock is taken inside, not held across the call);
 * with peers, it also measures its round trips to them (the others of the n).
 */
int manager_sample(struct controller *c, const char *node, const struct ferry_registry_node *peers, int n,
                   struct ferry_err *err);
/* The node's measurement (copied under the lock); false if never sampled. */
bool manager_host(struct controller *c, const char *node, struct host_meas *ret);
/* Whether this sample is recent enough to decide on. */
bool manager_fresh(const struct manager *m, const struct host_meas *h, long long now);
/* The round trip between two nodes either of them measured lately (µs), or 0. */
uint32_t manager_rtt(struct controller *c, const char *a, const char *b);
void *manager_loop(void *arg);

/* ---- decide.c ---- */

/* One check of the decision loop (the measurement thread calls it every check_interval_ms). */
void manager_check(struct controller *c);
/*
 * One-way latency from source to each of the n named hosts, µs: measured
 * (half the round trip) where probes ran, else the topology's declared
 * path; 0 where neither says.
 */
int manager_latencies(struct controller *c, const char *source, const char (*names)[FERRY_NODE_NAME_MAX + 1],
                      unsigned n, uint32_t *lat_us);
/* FERRY_OP_POLICY_EXPLAIN, FERRY_OP_DECISIONS. */
int api_policy(struct controller *c, unsigned op, const struct ferry_tlv_list *l, struct ferry_buf *out,
               struct ferry_err *err);

#endif
