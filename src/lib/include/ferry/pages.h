/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_PAGES_H
#define FERRY_PAGES_H

/*
 * Pages by content, for pre-copy without kernel dirty tracking
 * (docs/ARCHITECTURE.md, "Live modes"; PROTOCOL.md §10).
 *
 * A page is named by the SHA-256 of its 4 KiB.  The source sends the pages
 * of the running container in rounds; the destination keeps them in a store,
 * each distinct page once, in the order they came (so both sides number
 * them alike; a chain of their hashes proves it after every round).  At the
 * freeze, each CRIU pages-N.img becomes a refs file: runs of store pages
 * ("pages first..first+count-1 of the store") and raw pages.  The
 * destination expands it back into the byte-exact image.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"

#define FERRY_PAGE_SIZE  4096
#define FERRY_HASH_LEN   32
#define FERRY_REFS_MAGIC "FPR2"
#define FERRY_REFS_HDR   16  /* magic, u32 page size, u64 page count */
#define FERRY_REF_RUN    'S' /* then u64 first store index, u32 count (1 to FERRY_REF_RUN_MAX) */
#define FERRY_REF_RAW    'R' /* then 4096 bytes: the page */
/* Suffix of a refs object that replaces an image of raw pages in a bundle. */
#define FERRY_REF_RUN_MAX (1u << 20)
#define FERRY_REFS_SUFFIX ".refs"

/* An open-addressed set of page hashes, each with a 64-bit value (an index in a store). */
struct ferry_page_set {
	uint8_t *keys;    /* cap * 32 */
	uint64_t *values; /* cap */
	uint8_t *used;    /* cap */
	size_t cap, n, max;
};

/* Room for at most max entries (the table is sized twice that, a power of two). */
int ferry_page_set_init(struct ferry_page_set *s, size_t max, struct ferry_err *err);
void ferry_page_set_free(struct ferry_page_set *s);
/* 1 when added, 0 when already there (value left alone), -ENOSPC when max entries are held. */
int ferry_page_set_add(struct ferry_page_set *s, const uint8_t hash[FERRY_HASH_LEN], uint64_t value);
bool ferry_page_set_find(const struct ferry_page_set *s, const uint8_t hash[FERRY_HASH_LEN], uint64_t *ret_value);

void ferry_page_hash(const void *page, uint8_t out[FERRY_HASH_LEN]);
/* The store's chain after one more page: chain = SHA-256(chain || page hash). */
void ferry_page_chain(uint8_t chain[FERRY_HASH_LEN], const uint8_t hash[FERRY_HASH_LEN]);

struct ferry_refs_stats {
	uint64_t pages, held, raw, runs;
};

/*
 * Source: turn the raw page image at img_fd into a refs file at refs_fd:
 * pages whose hash is in held (its value: the page's store index) become
 * runs of store pages.  -EINVAL when the image is not a whole number of
 * pages (the caller then sends it as it is).
 */
int ferry_refs_write(int img_fd, int refs_fd, const struct ferry_page_set *held, struct ferry_refs_stats *st,
                     struct ferry_err *err);

/* The same, page by page: begin with the count, add batches of at most FERRY_REFS_BATCH, end. */
#define FERRY_REFS_BATCH 256
struct ferry_refs_writer {
	const struct ferry_page_set *held;
	uint64_t declared;
	struct ferry_refs_stats st;
	void *out, *hashes;
	struct ferry_err *err;
};
int ferry_refs_begin(struct ferry_refs_writer *w, int refs_fd, uint64_t pages, const struct ferry_page_set *held,
                     struct ferry_err *err);
int ferry_refs_add(struct ferry_refs_writer *w, const uint8_t *pages, size_t n);
/* Checks the count and writes what is buffered. */
int ferry_refs_end(struct ferry_refs_writer *w, struct ferry_refs_stats *st);
void ferry_refs_writer_free(struct ferry_refs_writer *w);

/*
 * The store's side of an expansion: write count pages from index first on
 * to out_fd at its offset; < 0 when it cannot.  Indices below stored exist.
 */
struct ferry_page_store {
	int (*copy)(void *arg, uint64_t first, uint32_t count, int out_fd);
	uint64_t stored;
	void *arg;
};

/*
 * Destination: check a refs file (untrusted bytes: header, every record,
 * runs inside the store, nothing trailing, at most max_pages) and write the
 * image it stands for to out_fd.  out_fd may be -1 to only check it.
 */
int ferry_refs_expand(const uint8_t *refs, size_t len, int out_fd, uint64_t max_pages,
                      const struct ferry_page_store *store, struct ferry_refs_stats *st, struct ferry_err *err);

#endif
