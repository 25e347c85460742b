/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_TOPOLOGY_H
#define FERRY_TOPOLOGY_H

/*
 * The local cluster's layout: switches (Linux bridges), links between
 * switches (veth pairs), and nodes (hosts and the controller, each a network
 * namespace attached to one switch).  The text format is described in
 * docs/TOPOLOGY.md; the parser is pure and fuzzed (tests/fuzz).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/buf.h"
#include "ferry/err.h"
#include "ferry/fabric.h"

#define FERRY_TOPO_NAME_MAX     31
#define FERRY_TOPO_MAX_SWITCHES 16
#define FERRY_TOPO_MAX_NODES    64
#define FERRY_TOPO_FILE_MAX     (64 * 1024)
#define FERRY_TOPO_LINE_MAX     512

enum ferry_node_role {
	FERRY_NODE_HOST,
	FERRY_NODE_CONTROLLER,
	FERRY_NODE_CLIENT, /* a namespace on the fabric with no daemon: users, load generators */
};

/* "host", "controller" or "client". */
const char *ferry_topology_role_name(enum ferry_node_role role);

struct ferry_topo_switch {
	char name[FERRY_TOPO_NAME_MAX + 1];
};

struct ferry_topo_link {
	unsigned a, b;       /* switch indexes */
	uint64_t rate_bps;   /* 0 = unshaped */
	uint32_t latency_us; /* one way, as declared (the lab cannot emulate it); 0 = not given */
};

struct ferry_topo_node {
	char name[FERRY_TOPO_NAME_MAX + 1];
	enum ferry_node_role role;
	unsigned sw;         /* switch index */
	uint32_t addr;       /* host byte order */
	uint64_t rate_bps;   /* 0 = unshaped */
	uint32_t latency_us; /* of its link to the switch, as declared; 0 = not given */
};

struct ferry_topology {
	uint32_t subnet; /* network address, host byte order */
	unsigned prefix_len;
	uint32_t gateway;              /* the operator's address on the first switch */
	enum ferry_fabric_kind fabric; /* containers' network across hosts (default bridge) */
	bool allow_postcopy;           /* the controller may migrate by post-copy (ferry cluster up --allow-postcopy) */
	char controller_config[256];   /* absolute path the controller's config includes (--controller-config), or "" */
	char node_config[256];         /* absolute path every host's ferryd config includes (--node-config), or "" */
	char store_file[256]; /* "store = URL" for the controller's registry in PostgreSQL (--store-file), or "" */
	unsigned n_switches, n_links, n_nodes;
	struct ferry_topo_switch switches[FERRY_TOPO_MAX_SWITCHES];
	struct ferry_topo_link links[FERRY_TOPO_MAX_SWITCHES];
	struct ferry_topo_node nodes[FERRY_TOPO_MAX_NODES];
};

#define FERRY_TOPO_DEFAULT_SUBNET "10.77.0.0/24"

/*
 * Parse topology text (len bytes, need not be NUL-terminated) into ret.
 * Validates everything: names, unique names and addresses, switches form one
 * tree, addresses inside the subnet.  Missing addresses are assigned.  On
 * error, err names the line and what is accepted.
 */
int ferry_topology_parse(const char *text, size_t len, struct ferry_topology *ret, struct ferry_err *err);

/* The layout `ferry cluster up --nodes N` builds: one switch, N hosts n1..nN, one controller. */
int ferry_topology_default(unsigned n_hosts, const char *subnet, struct ferry_topology *ret, struct ferry_err *err);

/* Canonical text (every address explicit); parsing it yields the same topology. */
int ferry_topology_format(const struct ferry_topology *t, struct ferry_buf *out);

/* Index of the node with this name, or -1. */
int ferry_topology_find_node(const struct ferry_topology *t, const char *name);
/* Index of the switch with this name, or -1. */
int ferry_topology_find_switch(const struct ferry_topology *t, const char *name);

#endif
