/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_LINK_H
#define FERRY_LINK_H

/*
 * Network interfaces of the calling thread's network namespace, by ioctl
 * and if_nametoindex: no helper process, and never /sys/class/net (sysfs
 * shows the namespace of whoever mounted it, not the caller's).
 */

#include <stdbool.h>

#include "ferry/err.h"

bool ferry_link_exists(const char *dev);
/* Set or clear IFF_UP. */
int ferry_link_set_up(const char *dev, bool up, struct ferry_err *err);
/* The interface's MTU, or 1500 if it cannot be read. */
unsigned ferry_link_mtu(const char *dev);
/*
 * Set the MAC the interface has now as its own: a bridge then keeps it
 * instead of following the lowest of its ports' MACs.
 */
int ferry_link_pin_mac(const char *dev, struct ferry_err *err);

#endif
