/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_ALERT_H
#define FERRY_ALERT_H

/*
 * Intrusion alerts as the IDS on a host writes them (docs/ARCHITECTURE.md,
 * "IDS alerts"): Snort's "fast" lines, Suricata's EVE JSON (event_type
 * alert) and Ferry's own generic line; and a follower of an alert file that
 * survives rotation and truncation.  Every line is bounded and checked; a
 * malformed one is counted and skipped, never fatal.  The parsers are pure
 * and fuzzed (fuzz_alert).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ferry/err.h"

#define FERRY_ALERT_LINE_MAX 16384 /* a longer line is skipped whole */

enum ferry_alert_format {
	FERRY_ALERT_SNORT_FAST,
	FERRY_ALERT_SURICATA_EVE,
	FERRY_ALERT_GENERIC,
};

struct ferry_alert {
	uint64_t time_s;   /* when the IDS saw it, unix seconds; 0 when the line does not say */
	unsigned severity; /* 1 (the most severe) to 255, as Snort's priority and Suricata's severity */
	uint32_t src, dst; /* IPv4, host byte order; 0 when absent or IPv6 */
	uint16_t sport, dport;
	char proto[8];
	char sid[40];        /* "gid:sid:rev" where the IDS gives it */
	char signature[256]; /* printable ASCII; anything else became '?' */
};

/* "snort-fast", "suricata-eve" or "generic" into ret; the error lists them. */
int ferry_alert_format_parse(const char *name, enum ferry_alert_format *ret, struct ferry_err *err);
const char *ferry_alert_format_name(enum ferry_alert_format f);

/*
 * One line (without its newline): 1 and ret filled when it is an alert, 0
 * when it is a line of another kind (an EVE record of another event_type,
 * a blank line), < 0 when malformed (err says why).
 */
int ferry_alert_parse(enum ferry_alert_format f, const char *line, size_t len, struct ferry_alert *ret,
                      struct ferry_err *err);

/* ---- following a file ---- */

struct ferry_alert_counts {
	uint64_t lines, alerts, other, malformed, oversize, rotations, truncations;
};

typedef void (*ferry_alert_fn)(const struct ferry_alert *a, void *arg);

struct ferry_alert_follower {
	char path[4096];
	enum ferry_alert_format format;
	int fd;
	dev_t dev;
	ino_t ino;
	off_t offset;
	char *line; /* the partial line so far (FERRY_ALERT_LINE_MAX + 1) */
	size_t len;
	bool skipping; /* inside a line that was too long: drop up to its newline */
	struct ferry_alert_counts counts;
};

/*
 * Follow path from its current end (start_at_end) or its beginning.  A
 * missing file is not an error: it is opened when it appears.
 */
int ferry_alert_follow_open(struct ferry_alert_follower *f, const char *path, enum ferry_alert_format format,
                            bool start_at_end, struct ferry_err *err);
/*
 * Read what was added since, calling fn for each alert; a rotated file (a
 * new inode at path) is finished first and the new one read from its
 * start; a truncated one is read again from its start.  Returns the alerts
 * seen, or < 0 on an I/O error.
 */
int ferry_alert_follow_poll(struct ferry_alert_follower *f, ferry_alert_fn fn, void *arg, struct ferry_err *err);
void ferry_alert_follow_close(struct ferry_alert_follower *f);

#endif
