/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_BUNDLE_H
#define FERRY_BUNDLE_H

/*
 * A bulk transfer on a migration channel (docs/PROTOCOL.md §4):
 *   source: TICKET            destination: RESPONSE (admitted) or ERROR
 *   source: MANIFEST, DATA..., END
 *                             destination: RESPONSE (committed) or ERROR
 * The destination writes into a private staging directory, checks every
 * object's size and SHA-256 and the manifest against the ticket, and only
 * after the END frame renames staging into place.  Anything else — a cut
 * stream, a flipped byte, a missing END — removes staging entirely.
 */

#include <stdint.h>

#include "ferry/channel.h"
#include "ferry/manifest.h"
#include "ferry/ticket.h"

/* Manifest of every regular file below dir (no symlinks followed), names relative to dir. */
int ferry_manifest_from_dir(const char *dir, struct ferry_manifest *ret, struct ferry_err *err);

/* Admission and ticket checks, the destination's policy (called with the parsed, unverified ticket). */
typedef int (*ferry_bundle_admit_fn)(struct ferry_conn *conn, const uint8_t *raw, size_t len, struct ferry_ticket *ret,
                                     void *arg, struct ferry_err *err);

struct ferry_bundle_result {
	struct ferry_ticket ticket;
	uint64_t bytes;
	uint32_t objects;
	char path[512]; /* where the committed objects are */
};

/* Destination: receive one bundle into incoming_dir/<ticket id>, committing into done_dir/<ticket id>. */
int ferry_bundle_receive(struct ferry_conn *conn, const char *incoming_dir, const char *done_dir,
                         ferry_bundle_admit_fn admit, void *arg, struct ferry_bundle_result *ret,
                         struct ferry_err *err);

/*
 * Unticketed: no TICKET phase, the manifest bounded by max_total.  Only on
 * channels whose peer is authorized for the whole content (the controller
 * pushing a layer, an admin importing an image).
 */
int ferry_bundle_receive_plain(struct ferry_conn *conn, const char *incoming_dir, const char *done_dir,
                               uint64_t max_total, struct ferry_bundle_result *ret, struct ferry_err *err);

/* Compress chunks with zstd (level 1) where that makes them smaller. */
#define FERRY_BUNDLE_ZSTD 0x1u

/* Called from the sending thread about every 200 ms with the object bytes sent so far. */
struct ferry_bundle_progress {
	void (*fn)(void *arg, uint64_t sent, uint64_t total);
	void *arg;
};

/*
 * Source: send ticket (raw bytes; NULL for an unticketed stream) then the
 * objects of m read from dir; *ret_bytes gets the object bytes sent.
 * progress may be NULL.
 */
int ferry_bundle_send(struct ferry_conn *conn, const uint8_t *ticket, size_t ticket_len, const struct ferry_manifest *m,
                      const char *dir, unsigned flags, const struct ferry_bundle_progress *progress,
                      uint64_t *ret_bytes, struct ferry_err *err);

/* Read a RESPONSE or turn an ERROR frame into err (-EPERM etc. with the peer's message). */
int ferry_expect_response(struct ferry_conn *conn, struct ferry_buf *payload, struct ferry_err *err);

/* An intermediate RESPONSE of a long operation: PHASE, SIZE (done), DISK (total); best effort. */
void ferry_send_progress(struct ferry_conn *conn, const char *phase, uint64_t done, uint64_t total);

#endif
