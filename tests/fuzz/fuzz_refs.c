/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A pre-copy refs file as the destination reads it: header, records, runs inside the store, a bound, nothing trailing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/pages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int copy_none(void *arg, uint64_t first, uint32_t count, int out_fd)
{
	(void)arg;
	(void)first;
	(void)count;
	(void)out_fd;
	abort(); /* checking only: never asked to write */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_page_store store = { copy_none, 1000, NULL };
	struct ferry_refs_stats st;
	struct ferry_err err = { 0 };

	if (ferry_refs_expand(data, size, -1, 64, &store, &st, &err) == 0) {
		/* Accepted: every byte accounted for, within the bound. */
		if (st.pages > 64 || st.held + st.raw != st.pages ||
		    size != FERRY_REFS_HDR + st.runs * 13 + st.raw * (1 + FERRY_PAGE_SIZE))
			abort();
	}
	return 0;
}
