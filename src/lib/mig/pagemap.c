/* SPDX-License-Identifier: GPL-2.0-or-later */
/* CRIU pagemap images: a strict parser and an encoder of the fields Ferry knows (ferry/pagemap.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/pagemap.h"
#include "ferry/wire.h"

static uint32_t get_le32(struct ferry_reader *r)
{
	uint8_t b[4] = { 0 };

	ferry_get_bytes(r, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static bool varint(struct ferry_reader *r, uint64_t *ret)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t c = ferry_get_u8(r);

		if (!r->ok)
			return false;
		/* The tenth byte may carry one bit only. */
		if (shift == 63 && c > 1)
			return false;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*ret = v;
			return true;
		}
	}
	return false;
}

/* One message of varint fields; fields[i] for tags 1..5, present[i] set when seen. */
static int message(const uint8_t *p, size_t len, uint64_t fields[6], bool present[6], struct ferry_err *err)
{
	struct ferry_reader r;

	memset(fields, 0, 6 * sizeof(*fields));
	memset(present, 0, 6 * sizeof(*present));
	ferry_reader_init(&r, p, len);
	while (r.left) {
		uint64_t key, v;

		if (!varint(&r, &key) || (key & 7) != 0 || (key >> 3) < 1 || (key >> 3) > 5 || !varint(&r, &v))
			return ferry_err_set(err, -EBADMSG, "a pagemap entry has a field Ferry does not know");
		if (present[key >> 3])
			return ferry_err_set(err, -EBADMSG, "a pagemap entry repeats field %u", (unsigned)(key >> 3));
		present[key >> 3] = true;
		fields[key >> 3] = v;
	}
	return 0;
}

int ferry_pagemap_parse(const uint8_t *p, size_t len, struct ferry_pagemap *ret, struct ferry_err *err)
{
	struct ferry_reader r;
	size_t cap = 0;
	int rc = 0;

	memset(ret, 0, sizeof(*ret));
	if (len > FERRY_PAGEMAP_MAX_BYTES)
		return ferry_err_set(err, -E2BIG, "a pagemap image of %zu bytes is larger than Ferry reads", len);
	ferry_reader_init(&r, p, len);
	if (get_le32(&r) != FERRY_IMG_COMMON_MAGIC || get_le32(&r) != FERRY_PAGEMAP_MAGIC || !r.ok)
		return ferry_err_set(err, -EBADMSG, "not a CRIU pagemap image (bad magic)");
	for (bool head = true; r.left; head = false) {
		uint32_t n = get_le32(&r);
		const uint8_t *m = ferry_get_view(&r, n);
		uint64_t f[6];
		bool has[6];

		if (!r.ok || !m) {
			rc = ferry_err_set(err, -EBADMSG, "a pagemap entry is cut short");
			goto fail;
		}
		if ((rc = message(m, n, f, has, err)) < 0)
			goto fail;
		if (head) {
			if (!has[1] || has[2] || has[3] || has[4] || has[5] || f[1] > UINT32_MAX) {
				rc = ferry_err_set(err, -EBADMSG, "the pagemap head is not {pages_id}");
				goto fail;
			}
			ret->pages_id = (uint32_t)f[1];
			continue;
		}
		if (!has[1] || !has[2] || f[2] > UINT32_MAX || f[4] > UINT32_MAX || f[3] > 1 || (f[1] & 4095) != 0) {
			rc = ferry_err_set(err, -EBADMSG, "pagemap entry %zu is malformed", ret->n);
			goto fail;
		}
		if (ret->n == FERRY_PAGEMAP_MAX_ENTRY) {
			rc = ferry_err_set(err, -E2BIG, "a pagemap image with more than %u entries",
			                   FERRY_PAGEMAP_MAX_ENTRY);
			goto fail;
		}
		if (ret->n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct ferry_pagemap_entry *e = realloc(ret->entries, ncap * sizeof(*e));

			if (!e) {
				rc = ferry_err_set(err, -ENOMEM, "out of memory");
				goto fail;
			}
			ret->entries = e;
			cap = ncap;
		}
		ret->entries[ret->n++] = (struct ferry_pagemap_entry){
			.vaddr = f[1],
			.compat_nr_pages = (uint32_t)f[2],
			.has_in_parent = has[3],
			.in_parent = f[3] != 0,
			.has_flags = has[4],
			.flags = (uint32_t)f[4],
			.has_nr_pages = has[5],
			.nr_pages = f[5],
		};
		if (ferry_pagemap_entry_pages(&ret->entries[ret->n - 1]) > ((uint64_t)1 << 36)) {
			rc = ferry_err_set(err, -EBADMSG, "pagemap entry %zu is larger than an address space",
			                   ret->n - 1);
			goto fail;
		}
	}
	return 0;
fail:
	ferry_pagemap_free(ret);
	return rc;
}

uint64_t ferry_pagemap_entry_pages(const struct ferry_pagemap_entry *e)
{
	return e->has_nr_pages ? e->nr_pages : e->compat_nr_pages;
}

static void put_varint(uint8_t *b, size_t *n, uint64_t v)
{
	do {
		b[(*n)++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
		v >>= 7;
	} while (v);
}

static int put_le32(struct ferry_buf *out, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	return ferry_buf_append(out, b, 4);
}

static int put_message(struct ferry_buf *out, const uint8_t *m, size_t n)
{
	int r = put_le32(out, (uint32_t)n);

	return r < 0 ? r : ferry_buf_append(out, m, n);
}

int ferry_pagemap_encode(const struct ferry_pagemap *pm, struct ferry_buf *out)
{
	uint8_t m[64];
	size_t n = 0;
	int r;

	if ((r = put_le32(out, FERRY_IMG_COMMON_MAGIC)) < 0 || (r = put_le32(out, FERRY_PAGEMAP_MAGIC)) < 0)
		return r;
	put_varint(m, &n, 1 << 3);
	put_varint(m, &n, pm->pages_id);
	if ((r = put_message(out, m, n)) < 0)
		return r;
	for (size_t i = 0; i < pm->n; i++) {
		const struct ferry_pagemap_entry *e = &pm->entries[i];

		n = 0;
		put_varint(m, &n, 1 << 3);
		put_varint(m, &n, e->vaddr);
		put_varint(m, &n, 2 << 3);
		put_varint(m, &n, e->compat_nr_pages);
		if (e->has_in_parent) {
			put_varint(m, &n, 3 << 3);
			put_varint(m, &n, e->in_parent);
		}
		if (e->has_flags) {
			put_varint(m, &n, 4 << 3);
			put_varint(m, &n, e->flags);
		}
		if (e->has_nr_pages) {
			put_varint(m, &n, 5 << 3);
			put_varint(m, &n, e->nr_pages);
		}
		if ((r = put_message(out, m, n)) < 0)
			return r;
	}
	return 0;
}

void ferry_pagemap_free(struct ferry_pagemap *pm)
{
	free(pm->entries);
	memset(pm, 0, sizeof(*pm));
}
