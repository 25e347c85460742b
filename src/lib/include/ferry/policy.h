/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_POLICY_H
#define FERRY_POLICY_H

/*
 * Where a container should go: the placement policies of the policy-based
 * migration manager (docs/ARCHITECTURE.md, "Placement policies") as
 * plug-ins behind one ops struct, over a model of the network (switches,
 * hosts, links with capacity, measured use and latency) and of the hosts
 * (load, free memory, whether they may receive).  Pure: no I/O and no
 * logging, so the controller feeds it what it measured and bench/decide
 * feeds it generated topologies.  Not thread-safe per struct ferry_net.
 */

#include <stdbool.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/ticket.h"

#define FERRY_NET_VERTICES_MAX 65536
#define FERRY_NET_LINKS_MAX    262144

enum ferry_vertex_kind { FERRY_VERTEX_SWITCH, FERRY_VERTEX_HOST };

struct ferry_net_vertex {
	char name[FERRY_NODE_NAME_MAX + 1];
	enum ferry_vertex_kind kind;
	double load;       /* hosts: CPU load, 0 (idle) to 1 (busy) */
	uint64_t mem_free; /* hosts: bytes a container may take */
	bool eligible;     /* hosts: may receive containers (enrolled, not quarantined) */
};

struct ferry_net_link {
	unsigned a, b;         /* vertex indices */
	uint64_t capacity;     /* bits per second */
	uint64_t used;         /* measured bits per second from a to b */
	uint64_t used_rev;     /* ... and from b to a */
	uint32_t latency_us;   /* one way */
	bool latency_measured; /* from probes; else the topology file's figure */
};

struct ferry_net {
	struct ferry_net_vertex *v;
	struct ferry_net_link *e;
	unsigned n_v, max_v, n_e, max_e;
	unsigned *adj_start,
	    *adj; /* built by ferry_net_finish: edges of vertex i at adj[adj_start[i]..adj_start[i+1]) */
};

int ferry_net_init(struct ferry_net *net, unsigned max_vertices, unsigned max_links, struct ferry_err *err);
void ferry_net_free(struct ferry_net *net);
/* Add a vertex; returns its index or < 0 (full, bad or duplicate name). */
int ferry_net_add_switch(struct ferry_net *net, const char *name, struct ferry_err *err);
int ferry_net_add_host(struct ferry_net *net, const char *name, double load, uint64_t mem_free, bool eligible,
                       struct ferry_err *err);
/* A link used alike both ways. */
int ferry_net_add_link(struct ferry_net *net, unsigned a, unsigned b, uint64_t capacity, uint64_t used,
                       uint32_t latency_us, bool latency_measured, struct ferry_err *err);
/*
 * A full-duplex link measured per direction: a path's bandwidth counts the
 * direction it travels (a migration leaves its source), so a host flooded
 * with incoming traffic can still send at its link's speed.
 */
int ferry_net_add_link_directed(struct ferry_net *net, unsigned a, unsigned b, uint64_t capacity, uint64_t used_ab,
                                uint64_t used_ba, uint32_t latency_us, bool latency_measured, struct ferry_err *err);
/* Index the links by vertex; call once after the last add, before any path query. */
int ferry_net_finish(struct ferry_net *net, struct ferry_err *err);
int ferry_net_find(const struct ferry_net *net, const char *name);

/* A path from the source host to one vertex.  Hosts never carry other hosts' traffic. */
struct ferry_path {
	bool reachable;
	uint64_t
	    bottleneck; /* the smallest available bandwidth (capacity - used, away from the source) along it, bits/s */
	uint64_t latency_us;   /* the sum of its links' latencies */
	bool latency_measured; /* every link's latency was measured */
	unsigned hops;
};

/* Widest paths from src to every vertex (ties: the lower latency); out has n_v entries. */
int ferry_net_widest_paths(const struct ferry_net *net, unsigned src, struct ferry_path *out, struct ferry_err *err);
/* Lowest-latency paths from src to every vertex (ties: the wider); out has n_v entries. */
int ferry_net_shortest_paths(const struct ferry_net *net, unsigned src, struct ferry_path *out, struct ferry_err *err);

struct ferry_candidate {
	unsigned host;
	double score; /* higher is better */
	struct ferry_path path;
};

struct ferry_policy_ops {
	const char *name;
	const char *summary;
	/* Score each candidate (paths are filled in); < 0 on error. */
	int (*score)(const struct ferry_net *net, unsigned source, struct ferry_candidate *c, unsigned n,
	             struct ferry_err *err);
};

extern const struct ferry_policy_ops ferry_policy_random, ferry_policy_bandwidth, ferry_policy_shortest_path,
    ferry_policy_least_loaded;

/* The policy of that name, or NULL with an error that lists the available ones. */
const struct ferry_policy_ops *ferry_policy_find(const char *name, struct ferry_err *err);

/*
 * One decision: every host that is eligible, is not the source, has
 * need_memory free and can be reached becomes a candidate, scored by the
 * policy; the best max of them go to out, best first.  Returns how
 * many, 0 when there is nowhere to go.
 */
int ferry_policy_rank(const struct ferry_policy_ops *p, const struct ferry_net *net, unsigned source,
                      uint64_t need_memory, struct ferry_candidate *out, unsigned max, struct ferry_err *err);

#endif
