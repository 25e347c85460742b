/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_ROUTE_H
#define FERRY_ROUTE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Find a route in /proc/net/route text that overlaps net/len (host byte
 * order).  The default route is ignored (it overlaps everything by design).
 * Pure, for tests.  Returns 1 and fills the route's interface and prefix when
 * one overlaps, 0 when none does.
 */
int ferry_route_find_overlap(const char *proc_net_route, uint32_t net, unsigned len, char *ret_iface, size_t iface_len,
                             uint32_t *ret_dest, unsigned *ret_len);

#endif
