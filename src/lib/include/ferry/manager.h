/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_MANAGER_H
#define FERRY_MANAGER_H

/*
 * The migration manager's pure parts (docs/ARCHITECTURE.md, "Measurement"
 * and "Decision loop"): its configuration keys, the traffic view the
 * controller derives from the hosts' counters, and the detector that
 * singles out a heavy host the way the policy-based thesis does (the
 * heaviest switch over a threshold, then the busiest host port on it).
 * No I/O: the controller feeds measurements in, the unit tests feed made-up
 * ones.
 */

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/policy.h"
#include "ferry/topology.h"

/* Links the topology leaves unshaped get this nominal capacity (a veth is not slower). */
#define FERRY_MANAGER_UNSHAPED_BPS 10000000000ULL

struct ferry_manager_config {
	char policy[32];                         /* "" = measure only, decide nothing */
	char topology[PATH_MAX];                 /* topology file; "" = every node on one switch */
	unsigned sample_ms;                      /* default sampling period of every host */
	unsigned fast_sample_ms;                 /* customized period of the hosts on a hot switch */
	unsigned check_ms;                       /* the decision loop's period (the thesis' checkingFrequency) */
	uint64_t aggregate_threshold;            /* bits/s through a switch that makes it hot */
	uint64_t aggregate_difference_threshold; /* bits/s of growth between two checks that makes it hot */
	uint64_t port_threshold;                 /* bits/s a host's port must carry to be singled out */
	unsigned hysteresis_percent;             /* a hot switch cools below threshold * (100 - this) / 100 */
	unsigned confirm_checks;                 /* checks in a row the same host must be singled out */
	unsigned cooldown_s;                     /* after a container moved, it and its old host rest */
	unsigned retention_s;                    /* how long samples and decisions are kept */
	unsigned probe_ms;                       /* how often each node measures round trips to the others; 0 = never */
	bool dry_run;                            /* decide and record, move nothing */
	uint8_t mode;                            /* how the loop's migrations move (ferry/ticket.h) */
};

void ferry_manager_config_default(struct ferry_manager_config *m);
bool ferry_manager_is_key(const char *key);
/* One key; the error names the key, the bad value and what is accepted. */
int ferry_manager_set(struct ferry_manager_config *m, const char *key, const char *value, struct ferry_err *err);
/* After the whole file: the keys' relations (fast sampling no slower than default, ...). */
int ferry_manager_check(const struct ferry_manager_config *m, struct ferry_err *err);

/* ---- the traffic view ---- */

/*
 * One check's measurements over a topology.  Hosts' ports are measured (the
 * uplink counters of each host, rx = into the host).  Links between switches
 * are estimated: the switches form a tree, so traffic from side A of a link
 * to side B crosses it, and can be no more than what A's hosts sent nor
 * more than what B's hosts received.  The estimate is the smaller of the
 * two: exact when one flow dominates (the thesis' experiments), an upper
 * bound otherwise.  A side with a node that is not measured (a client, a
 * host that did not answer) gives no bound; the controller's own node is
 * ignored (its traffic is control only).  With no bound at all the link
 * counts as idle.
 */
struct ferry_traffic {
	bool seen[FERRY_TOPO_MAX_NODES];      /* host measured in this check */
	double host_rx[FERRY_TOPO_MAX_NODES]; /* bits/s into the host */
	double host_tx[FERRY_TOPO_MAX_NODES]; /* bits/s out of the host */
	bool movable[FERRY_TOPO_MAX_NODES];   /* runs a container that may move now */
	/* computed */
	double link_ab[FERRY_TOPO_MAX_SWITCHES], link_ba[FERRY_TOPO_MAX_SWITCHES]; /* switch link a->b, b->a */
	double aggregate[FERRY_TOPO_MAX_SWITCHES]; /* bits/s entering the switch through all its ports */
};

/* Fill in link estimates and switch aggregates from the hosts' ports. */
void ferry_traffic_compute(const struct ferry_topology *t, struct ferry_traffic *tr);

struct ferry_detector {
	bool hot[FERRY_TOPO_MAX_SWITCHES];
	double last_aggregate[FERRY_TOPO_MAX_SWITCHES];
	bool primed;   /* last_aggregate holds a previous check */
	int candidate; /* node index singled out at the last check, or -1 */
	unsigned streak;
	/* what the last check saw, for explanations */
	int heaviest_switch, busiest_host;
	double busiest_bps;
};

void ferry_detector_init(struct ferry_detector *d);
/*
 * One check.  A switch is hot over aggregate_threshold or after a rise of
 * aggregate_difference_threshold, and cools below the threshold less
 * hysteresis_percent.  Of the hot switches, the heaviest one with a movable
 * host whose port carries port_threshold singles out its busiest such host:
 * a load generator with nothing to move does not hide the server it loads.
 * Returns the node index of a host singled out for confirm_checks checks in
 * a row (then the streak starts again), or -1.  Afterwards d->hot says which
 * switches' hosts to sample at the customized frequency.
 */
int ferry_detector_check(struct ferry_detector *d, const struct ferry_manager_config *m, const struct ferry_topology *t,
                         const struct ferry_traffic *tr);

/* What the controller knows of one host, for the network model. */
struct ferry_host_view {
	bool known;        /* enrolled and answering */
	bool eligible;     /* may receive (active, not quarantined) */
	double load;       /* CPU, 0..1 */
	uint64_t mem_free; /* bytes */
	uint32_t rtt_us;   /* measured round trip from the decision's source host, 0 = none */
	bool is_source;    /* the decision's source host */
};

/*
 * The policies' network model of topology t with this check's traffic:
 * switches, then the hosts (controller and clients excluded) in topology
 * order; links carry their use per direction.  A link's latency is the
 * topology file's when it declares one; a host link that declares none
 * takes half the round trip measured from the source instead (so a path's
 * latency from the source is its measured one-way delay), and says so.  hosts has t->n_nodes entries;
 * vertex_of maps node index to vertex index (-1 for the controller).
 */
int ferry_manager_net(const struct ferry_topology *t, const struct ferry_traffic *tr,
                      const struct ferry_host_view *hosts, struct ferry_net *net, int *vertex_of,
                      struct ferry_err *err);

#endif
