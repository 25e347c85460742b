/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_CLUSTER_H
#define FERRY_CLUSTER_H

/*
 * The local cluster: Ferry's embedded multi-host test bed.  Every node of a
 * topology becomes a network namespace on a bridge "switch", with its own
 * address, state directory (a private tmpfs for images at rest), cgroup and
 * daemon.  Everything is named after the cluster so that `down` finds and
 * removes all of it even after a crash or a half-finished `up`:
 *
 *   netns        ferry-<cluster>-<node>
 *   bridge       fy<cluster>-s<i>       (switch i)
 *   node veth    fy<cluster>-n<i>       (root side; "eth0" inside the node)
 *   switch link  fy<cluster>-l<i>a / -l<i>b
 *   state        <root>/<cluster>/      (topology, nodes/<node>/...)
 *   cgroup       <cgroup2>/ferry/<cluster>/<node>
 *
 * Interface names are limited to 15 bytes, hence short cluster names.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ferry/err.h"
#include "ferry/topology.h"

#define FERRY_CLUSTER_NAME_MAX       6
#define FERRY_CLUSTER_DEFAULT_NAME   "lab"
#define FERRY_CLUSTER_ROOT_DEFAULT   "/run/ferry/clusters"
#define FERRY_CLUSTER_TMPFS_MB       6144
#define FERRY_CLUSTER_CMD_TIMEOUT_MS 15000
/* The vxlan fabric's overlay: it exists only inside the hosts' namespaces. */
#define FERRY_CLUSTER_OVERLAY "10.250.0.0/16"

struct ferry_cluster {
	char name[FERRY_CLUSTER_NAME_MAX + 1];
	char root[256]; /* state root holding every cluster */
	char dir[512];  /* root/name */
};

struct ferry_cluster_daemons {
	const char *ferryd;     /* binary started on each host, or NULL */
	const char *controller; /* binary started on the controller node, or NULL */
};

struct ferry_cluster_node_state {
	bool netns;        /* namespace present */
	bool link_up;      /* its veth exists on the switch */
	pid_t pid;         /* daemon pid from the pid file, 0 if none */
	bool running;      /* that pid is alive and is ours */
	uint64_t rate_bps; /* egress shaping on the node's link, 0 if none */
};

/* Validate a cluster name: 1..6 of [a-z0-9], starting with a letter. */
int ferry_cluster_check_name(const char *name, struct ferry_err *err);

/* Fill c for name under root (NULL: $FERRY_CLUSTER_ROOT or the default). */
int ferry_cluster_init(struct ferry_cluster *c, const char *name, const char *root, struct ferry_err *err);

/*
 * Build the cluster.  Refuses when anything named after it already exists.
 * On failure everything created so far is removed again.
 */
int ferry_cluster_up(const struct ferry_cluster *c, const struct ferry_topology *t,
                     const struct ferry_cluster_daemons *daemons, struct ferry_err *err);

/*
 * Remove everything named after the cluster: processes (by pid file and
 * cgroup), namespaces, interfaces, mounts, cgroups and files.  Idempotent: a
 * cluster that does not exist is success.  Keeps going past failures and
 * reports the first.
 */
int ferry_cluster_down(const struct ferry_cluster *c, struct ferry_err *err);

/*
 * Restart node's daemon (SIGTERM, then start again in its namespace and
 * cgroup with the same arguments); waits until it is ready.
 */
int ferry_cluster_restart(const struct ferry_cluster *c, const struct ferry_topology *t, const char *node,
                          const struct ferry_cluster_daemons *daemons, struct ferry_err *err);

/* Whether anything named after the cluster exists (dir, netns or interface). */
bool ferry_cluster_exists(const struct ferry_cluster *c);

/* Read the cluster's topology as `up` recorded it; -ENOENT when it is not up. */
int ferry_cluster_load(const struct ferry_cluster *c, struct ferry_topology *ret, struct ferry_err *err);

/* Observe node i of t now. */
void ferry_cluster_node_state(const struct ferry_cluster *c, const struct ferry_topology *t, unsigned i,
                              struct ferry_cluster_node_state *ret);

/*
 * Shape a link with tc tbf in both directions: target is a node name (its
 * link to its switch) or "SWITCH:SWITCH" (a switch link).  rate 0 removes
 * the shaping.
 */
int ferry_cluster_shape(const struct ferry_cluster *c, const struct ferry_topology *t, const char *target,
                        uint64_t rate_bps, struct ferry_err *err);

/* Current tbf rate of the switch link i (0 if unshaped). */
uint64_t ferry_cluster_link_rate(const struct ferry_cluster *c, unsigned i);

/* Names for the pieces (see the table above); buffers of at least 64 bytes. */
void ferry_cluster_netns_name(const struct ferry_cluster *c, const char *node, char *buf, size_t len);
void ferry_cluster_node_dir(const struct ferry_cluster *c, const char *node, char *buf, size_t len);

/* List cluster names under root into names (each FERRY_CLUSTER_NAME_MAX+1); returns count. */
int ferry_cluster_list(const char *root, char names[][FERRY_CLUSTER_NAME_MAX + 1], int max);

#endif
