/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_FABRIC_H
#define FERRY_FABRIC_H

/*
 * The cluster fabric: the layer-2 network that containers' addresses live
 * on, so that an address can move with its container from host to host
 * (docs/ARCHITECTURE.md, "Network continuity").
 *
 *   bridge  the hosts share an L2 segment; each host has a bridge with its
 *           uplink enslaved (the operator's network configuration), and
 *           containers' veths join that bridge.
 *   vxlan   ferryd builds the segment itself: a bridge plus a VXLAN device
 *           (kernel VXLAN, unicast head-end replication to the listed
 *           peers) over the hosts' own network.
 *
 * The controller hands out addresses from `fabric_pool` inside
 * `fabric_subnet` (the on-link prefix every container gets); each address
 * has a fixed locally administered MAC, so the MAC moves with it.
 *
 * Config keys (the daemons' --config file, beside the limits):
 *   ferryd:      fabric = none|bridge|vxlan, fabric_bridge, fabric_address,
 *                vxlan_id, vxlan_port, vxlan_peer (repeatable)
 *   controller:  fabric_subnet, fabric_pool
 * Parsing is pure and fuzzed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"

#define FERRY_FABRIC_PEERS_MAX      128
#define FERRY_FABRIC_BRIDGE_DEFAULT "ferry0"
#define FERRY_FABRIC_VNI_DEFAULT    4242
#define FERRY_FABRIC_PORT_DEFAULT   4789

enum ferry_fabric_kind {
	FERRY_FABRIC_NONE = 0, /* containers get a loopback-only network namespace */
	FERRY_FABRIC_BRIDGE,
	FERRY_FABRIC_VXLAN,
};

struct ferry_fabric {
	enum ferry_fabric_kind kind;
	char bridge[16]; /* host bridge the containers' veths join */
	uint32_t vni;
	uint16_t port;
	bool has_address; /* this host's own address on the fabric (vxlan: assigned to the bridge) */
	uint32_t address;
	unsigned address_len;
	uint32_t peers[FERRY_FABRIC_PEERS_MAX]; /* other hosts' underlay addresses (vxlan) */
	unsigned n_peers;
	/* controller: address management */
	bool has_pool;
	uint32_t subnet, pool;
	unsigned subnet_len, pool_len;
};

/* A container's place on the fabric: what its spec carries. */
struct ferry_netaddr {
	uint32_t addr; /* host byte order; 0 = no fabric address */
	unsigned prefix_len;
	uint8_t mac[6];
};

void ferry_fabric_default(struct ferry_fabric *f);
const char *ferry_fabric_kind_name(enum ferry_fabric_kind k);
/* Whether key is one of the fabric keys. */
bool ferry_fabric_is_key(const char *key);
/* Set one key; -EINVAL names the bad value and what is accepted. */
int ferry_fabric_set(struct ferry_fabric *f, const char *key, const char *value, struct ferry_err *err);
/* Cross-key checks once a file is read (vxlan needs fabric_address, the pool lies in the subnet...). */
int ferry_fabric_check(const struct ferry_fabric *f, struct ferry_err *err);

/* The fixed MAC of a fabric address: 02:fe followed by the address (locally administered, unicast). */
void ferry_fabric_mac(uint32_t addr, uint8_t mac[6]);
/*
 * The lowest pool address not in used[] (and not the subnet's network or
 * broadcast address); -ENOSPC when the pool is full.
 */
int ferry_fabric_pick(const struct ferry_fabric *f, const uint32_t *used, size_t n_used, struct ferry_netaddr *ret,
                      struct ferry_err *err);
/* "aa:bb:cc:dd:ee:ff" into buf (>= 18 bytes); returns buf. */
const char *ferry_format_mac(const uint8_t mac[6], char *buf);

#endif
