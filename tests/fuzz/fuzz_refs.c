/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A pre-copy refs file as the destination reads it: header, records, a bound, nothing trailing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/pages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The store holds the all-zero page only. */
static int lookup(void *arg, const uint8_t hash[FERRY_HASH_LEN], uint8_t *page)
{
	const uint8_t *zero_hash = arg;

	if (memcmp(hash, zero_hash, FERRY_HASH_LEN) != 0)
		return -1;
	memset(page, 0, FERRY_PAGE_SIZE);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t zero[FERRY_PAGE_SIZE], zero_hash[FERRY_HASH_LEN];
	struct ferry_refs_stats st;
	struct ferry_err err = { 0 };

	ferry_page_hash(zero, zero_hash);
	if (ferry_refs_expand(data, size, -1, 64, lookup, zero_hash, &st, &err) == 0) {
		/* Accepted: every byte accounted for, within the bound. */
		if (st.pages > 64 || st.held + st.raw != st.pages ||
		    size != FERRY_REFS_HDR + st.held * (1 + FERRY_HASH_LEN) + st.raw * (1 + FERRY_PAGE_SIZE))
			abort();
	}
	return 0;
}
