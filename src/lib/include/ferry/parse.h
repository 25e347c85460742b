/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_PARSE_H
#define FERRY_PARSE_H

/*
 * Checked parsers for values that come from users, files and peers.  They are
 * pure (no I/O), reject anything not wholly consumed, and on error fill err
 * with the bad value and what is accepted.  Output parameters are written only
 * on success.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"

/* Decimal unsigned integer in [min, max]; `what` names the value in errors. */
int ferry_parse_u64(const char *s, uint64_t min, uint64_t max, const char *what, uint64_t *ret_value,
                    struct ferry_err *err);

/*
 * Link rate as tc writes it: a number (decimals allowed) and a unit among
 * bit kbit mbit gbit tbit (bits/s) or bps kbps mbps gbps (bytes/s), case
 * insensitive, SI multiples (1000).  Result in bits per second, between
 * FERRY_RATE_MIN and FERRY_RATE_MAX.
 */
#define FERRY_RATE_MIN 8000ULL         /* 8 kbit/s: tbf below this is meaningless */
#define FERRY_RATE_MAX 400000000000ULL /* 400 Gbit/s */
int ferry_parse_rate(const char *s, uint64_t *ret_bits_per_sec, struct ferry_err *err);
/* Format bits/s the way ferry_parse_rate reads it back ("100mbit"); returns buf. */
const char *ferry_format_rate(uint64_t bits_per_sec, char *buf, size_t len);

/*
 * One-way link latency: a number (up to three decimals) and a unit among us,
 * ms, s, e.g. "2ms" or "0.5ms".  Result in microseconds, 0 to
 * FERRY_LATENCY_MAX_US.
 */
#define FERRY_LATENCY_MAX_US 10000000ULL /* 10 s */
int ferry_parse_latency(const char *s, uint32_t *ret_us, struct ferry_err *err);
/* Format microseconds the way ferry_parse_latency reads it back ("2ms", "1500us"); returns buf. */
const char *ferry_format_latency(uint32_t us, char *buf, size_t len);

/*
 * Object names (clusters, hosts, switches): 1..max_len characters of
 * [a-z0-9-], starting with a letter, not ending with '-'.  `what` names the
 * kind in the error message.
 */
int ferry_check_name(const char *s, size_t max_len, const char *what, struct ferry_err *err);

/* Duration "90", "90s", "10m", "2h" in seconds, within [min, max] seconds. */
int ferry_parse_duration(const char *s, uint64_t min, uint64_t max, const char *what, uint64_t *ret_seconds,
                         struct ferry_err *err);

/* Dotted-quad IPv4 address, host byte order. */
int ferry_parse_ipv4(const char *s, uint32_t *ret_addr, struct ferry_err *err);
/* IPv4 prefix "a.b.c.d/len", len in [min_len, max_len]; host bits must be zero. */
int ferry_parse_ipv4_prefix(const char *s, unsigned min_len, unsigned max_len, uint32_t *ret_net, unsigned *ret_len,
                            struct ferry_err *err);
/* Write dotted quad of a host-order address into buf (>= 16 bytes); returns buf. */
const char *ferry_format_ipv4(uint32_t addr, char *buf);

#endif
