/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_PAGEMAP_H
#define FERRY_PAGEMAP_H

/*
 * CRIU's pagemap images (pagemap-ID.img): which pages of a process's
 * address space a dump holds, in the order its pages-N.img holds them.
 * Layout (CRIU's image format): u32 IMG_COMMON_MAGIC, u32 PAGEMAP_MAGIC, then
 * entries, each a u32 length and a protobuf message: first pagemap_head
 * {1: pages_id}, then pagemap_entry {1: vaddr, 2: compat_nr_pages,
 * 3: in_parent, 4: flags, 5: nr_pages}.  Only varint fields are accepted.
 *
 * Ferry reads them to dump memory itself after a metadata-only CRIU dump
 * (lazy entries: pages left in the frozen process) and writes them back
 * with those entries made present (docs/ARCHITECTURE.md, "Pre-copy").
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/buf.h"
#include "ferry/err.h"

#define FERRY_IMG_COMMON_MAGIC  0x54564319u
#define FERRY_PAGEMAP_MAGIC     0x56084025u
#define FERRY_PE_PARENT         (1u << 0)
#define FERRY_PE_LAZY           (1u << 1)
#define FERRY_PE_PRESENT        (1u << 2)
#define FERRY_PAGEMAP_MAX_ENTRY (1u << 20) /* entries in one image */
#define FERRY_PAGEMAP_MAX_BYTES (64u << 20)

struct ferry_pagemap_entry {
	uint64_t vaddr, nr_pages;
	uint32_t flags;
	uint32_t compat_nr_pages;
	bool has_in_parent, in_parent, has_flags, has_nr_pages;
};

struct ferry_pagemap {
	uint32_t pages_id;
	size_t n;
	struct ferry_pagemap_entry *entries; /* malloc'ed */
};

/* Parse a whole image (untrusted bytes); free with ferry_pagemap_free. */
int ferry_pagemap_parse(const uint8_t *p, size_t len, struct ferry_pagemap *ret, struct ferry_err *err);
/* Encode it back (same fields as parsed, flags as they are now). */
int ferry_pagemap_encode(const struct ferry_pagemap *pm, struct ferry_buf *out);
void ferry_pagemap_free(struct ferry_pagemap *pm);
/* The pages of an entry (nr_pages, or the compat field of older images). */
uint64_t ferry_pagemap_entry_pages(const struct ferry_pagemap_entry *e);

#endif
