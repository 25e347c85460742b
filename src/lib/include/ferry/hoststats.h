/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_HOSTSTATS_H
#define FERRY_HOSTSTATS_H

/*
 * What a node measures of itself for the controller's measurement
 * (docs/ARCHITECTURE.md, "Measurement"): the byte and packet counters of
 * its interfaces, read by one rtnetlink dump in the calling thread's
 * network namespace (never /sys/class/net, which shows the namespace of
 * whoever mounted it), and the host's CPU time from /proc/stat.  The
 * parsers are pure and fuzzed (fuzz_procfs).
 */

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"

#define FERRY_LINKS_MAX 256

struct ferry_link_stats {
	char name[IFNAMSIZ];
	unsigned index, master; /* master: the bridge it is a port of, 0 if none */
	bool is_bridge;
	uint64_t rx_bytes, tx_bytes, rx_packets, tx_packets;
};

/*
 * Parse one buffer of an RTM_GETLINK dump, appending to out (at most max,
 * *n so far); *done is set at NLMSG_DONE.  Malformed messages are errors.
 */
int ferry_link_stats_parse(const void *buf, size_t len, struct ferry_link_stats *out, unsigned max, unsigned *n,
                           bool *done, struct ferry_err *err);
/* Every interface of this network namespace (at most max); returns how many. */
int ferry_link_stats_read(struct ferry_link_stats *out, unsigned max, struct ferry_err *err);
/*
 * The node's uplink among l: the interface that holds addr (host byte
 * order), or when that is a bridge, its one port not named with the prefix
 * of containers' veths (skip_prefix).  Returns its index in l, or -ENOENT.
 */
int ferry_link_uplink(const struct ferry_link_stats *l, unsigned n, uint32_t addr, const char *skip_prefix,
                      struct ferry_err *err);

/* The aggregate "cpu" line of /proc/stat: busy and total time in USER_HZ ticks. */
int ferry_cpu_times_parse(const char *stat, uint64_t *ret_busy, uint64_t *ret_total);
int ferry_cpu_times_read(uint64_t *ret_busy, uint64_t *ret_total, struct ferry_err *err);

#endif
