/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_PROBE_H
#define FERRY_PROBE_H

/*
 * Active round-trip probes between hosts (docs/ARCHITECTURE.md,
 * "Measurement"): ICMP echo from a raw socket (the daemons run as root), so
 * the peer's kernel answers and no daemon of its is involved or loaded.
 * The reply parser is pure and fuzzed (fuzz_procfs).
 */

#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"

#define FERRY_PROBE_COUNT_MAX   8
#define FERRY_PROBE_TIMEOUT_MAX 1000 /* ms per echo */

/*
 * Whether buf (an IPv4 packet as a raw ICMP socket reads it) is the echo
 * reply from addr (host byte order) to our request id/seq: 1 yes, 0 no
 * (someone else's, or not a reply), < 0 malformed.
 */
int ferry_icmp_is_reply(const void *buf, size_t len, uint32_t addr, uint16_t id, uint16_t seq);

#define FERRY_PROBE_TARGETS_MAX 64

/*
 * Round trips to n addresses at once: count rounds, each sending one echo to
 * every address and waiting at most timeout_ms for the replies.  ret_us[i]
 * is the smallest round trip to addr[i] in microseconds, 0 when none came
 * back.  Returns how many answered.
 */
int ferry_icmp_rtt_many(const uint32_t *addr, unsigned n, unsigned count, int timeout_ms, uint32_t *ret_us,
                        struct ferry_err *err);
/* The same for one address; -ETIMEDOUT when no reply came back. */
int ferry_icmp_rtt(uint32_t addr, unsigned count, int timeout_ms, uint32_t *ret_us, struct ferry_err *err);

#endif
