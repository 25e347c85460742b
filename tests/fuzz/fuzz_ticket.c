/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tickets and moving-target defense's draw tokens: one canonical encoding
 * each, so whatever parses must encode back to the very same bytes.  The
 * first byte picks the parser.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/mtd.h"
#include "ferry/ticket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_buf out = FERRY_BUF_INIT(FERRY_TICKET_MAX_LEN);
	struct ferry_mtd_draw d;
	struct ferry_ticket t;

	if (size >= 4 && memcmp(data, "FMTD", 4) == 0) {
		/* "FMTD1...": a draw token. */
		if (ferry_mtd_draw_parse(data, size, &d, NULL) == 0) {
			if (ferry_mtd_draw_encode(&d, &out) < 0 || out.len != size || memcmp(out.data, data, size) != 0)
				abort();
			if (d.k < 2 || d.k > FERRY_MTD_K_MAX || !d.requester[0])
				abort();
		}
		ferry_buf_free(&out);
		return 0;
	}
	if (ferry_ticket_parse(data, size, &t, NULL) == 0) {
		if (ferry_ticket_encode(&t, &out) < 0 || out.len != size || memcmp(out.data, data, size) != 0)
			abort();
		if (t.expires_at <= t.issued_at || t.expires_at - t.issued_at > FERRY_TICKET_MAX_TTL)
			abort();
	}
	ferry_buf_free(&out);
	return 0;
}
