/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRYD_CTNET_H
#define FERRYD_CTNET_H

/*
 * A container's network on this node (docs/ARCHITECTURE.md, "Network
 * continuity"): its own network namespace, kept by a bind mount at
 * <state>/netns/<name> and handed to the runtime by path, so that it is
 * ours to build before the container exists (a migration's destination)
 * and to keep or drop after it; eth0 with the container's fabric address
 * and MAC; the other end of the veth ("fv" + 8 hex digits of the name's
 * SHA-256) on the host's fabric bridge.
 *
 * The host end's link is the container's switch: down, nothing reaches the
 * namespace (the source's network lock during a migration, and a
 * destination's copy before it is committed); up, it is on the fabric.
 */

#include <net/if.h>
#include <stdbool.h>

#include "containers.h"

/* At daemon start: check (bridge) or build (vxlan) the fabric; underlay is this node's own address. */
int ctnet_fabric_init(struct ct_store *s, const char *underlay, struct ferry_err *err);

void ctnet_netns_path(const struct ct_store *s, const char *name, char *buf, size_t len);
/* The host end of a container's veth: the prefix and a hash of its name, so it fits IFNAMSIZ. */
#define CTNET_VETH_PREFIX "fv"
void ctnet_veth_name(const char *name, char buf[IFNAMSIZ]);
/* Namespace, veth, address and MAC; the host end joins the bridge and is up only if up. */
int ctnet_create(struct ct_store *s, const struct ferry_spec *spec, bool up, struct ferry_err *err);
/* Bring the host end up or down (a few microseconds: an ioctl, no helper). */
int ctnet_set_link(const struct ct_store *s, const char *name, bool up, struct ferry_err *err);
/* Gratuitous ARP from inside the namespace: the fabric's switches learn where the MAC is now. */
int ctnet_announce(const struct ct_store *s, const struct ferry_spec *spec, struct ferry_err *err);
/* Remove the veth and the namespace, and stop any hold (idempotent). */
int ctnet_destroy(struct ct_store *s, const char *name, struct ferry_err *err);
/* Namespaces left without a container directory (a crash mid-way): removed. */
void ctnet_sweep(struct ct_store *s);

/*
 * Packets for an arriving container wait in its namespace (ferryd net-hold)
 * from the claim until the restored copy is committed.  hold returns once
 * the helper holds; release delivers what waited; unhold drops it and the
 * helper takes eth0 down.
 */
int ctnet_hold(struct ct_store *s, const char *name, uint64_t generation, struct ferry_err *err);
bool ctnet_held(struct ct_store *s, const char *name, uint64_t generation);
int ctnet_release(struct ct_store *s, const char *name, struct ferry_err *err);
void ctnet_unhold(struct ct_store *s, const char *name);

#endif
