/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Page hashes, the set that remembers them, and the refs format that lets a
 * CRIU page image travel as "you have this one already" (ferry/pages.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "ferry/fs.h"
#include "ferry/pages.h"
#include "ferry/wire.h"

#define REFS_BATCH FERRY_REFS_BATCH

/* A table of cap slots (a power of two); entries move over from the old one. */
static int resize(struct ferry_page_set *s, size_t cap)
{
	struct ferry_page_set t = { .cap = cap, .n = 0, .max = s->max };

	t.keys = malloc(cap * FERRY_HASH_LEN);
	t.values = malloc(cap * sizeof(*t.values));
	t.used = calloc(cap, 1);
	if (!t.keys || !t.values || !t.used) {
		ferry_page_set_free(&t);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->cap; i++)
		if (s->used[i])
			ferry_page_set_add(&t, s->keys + i * FERRY_HASH_LEN, s->values[i]);
	ferry_page_set_free(s);
	*s = t;
	return 0;
}

int ferry_page_set_init(struct ferry_page_set *s, size_t max, struct ferry_err *err)
{
	memset(s, 0, sizeof(*s));
	if (max > ((size_t)1 << 28))
		return ferry_err_set(err, -E2BIG, "a page set of %zu entries is larger than Ferry allows", max);
	/* Small at first: the table grows with what is stored, not with what could be. */
	s->max = max;
	if (resize(s, 1024) < 0)
		return ferry_err_set(err, -ENOMEM, "out of memory for a set of page hashes");
	return 0;
}

void ferry_page_set_free(struct ferry_page_set *s)
{
	free(s->keys);
	free(s->values);
	free(s->used);
	memset(s, 0, sizeof(*s));
}

/* The slot holding hash, or the free slot where it would go. */
static size_t probe(const struct ferry_page_set *s, const uint8_t hash[FERRY_HASH_LEN])
{
	uint64_t h;
	size_t i;

	/* SHA-256 output is uniform: its first bytes are a good enough table hash. */
	memcpy(&h, hash, sizeof(h));
	for (i = (size_t)h & (s->cap - 1); s->used[i]; i = (i + 1) & (s->cap - 1))
		if (memcmp(s->keys + i * FERRY_HASH_LEN, hash, FERRY_HASH_LEN) == 0)
			break;
	return i;
}

int ferry_page_set_add(struct ferry_page_set *s, const uint8_t hash[FERRY_HASH_LEN], uint64_t value)
{
	size_t i;

	if (!s->cap)
		return -ENOSPC;
	i = probe(s, hash);
	if (s->used[i])
		return 0;
	if (s->n >= s->max)
		return -ENOSPC;
	/* At most half full, so probes stay short. */
	if (2 * (s->n + 1) > s->cap) {
		if (resize(s, s->cap * 2) < 0)
			return -ENOMEM;
		i = probe(s, hash);
	}
	memcpy(s->keys + i * FERRY_HASH_LEN, hash, FERRY_HASH_LEN);
	s->values[i] = value;
	s->used[i] = 1;
	s->n++;
	return 1;
}

bool ferry_page_set_find(const struct ferry_page_set *s, const uint8_t hash[FERRY_HASH_LEN], uint64_t *ret_value)
{
	size_t i;

	if (!s->cap)
		return false;
	i = probe(s, hash);
	if (!s->used[i])
		return false;
	if (ret_value)
		*ret_value = s->values[i];
	return true;
}

void ferry_page_hash(const void *page, uint8_t out[FERRY_HASH_LEN])
{
	SHA256(page, FERRY_PAGE_SIZE, out);
}

void ferry_page_chain(uint8_t chain[FERRY_HASH_LEN], const uint8_t hash[FERRY_HASH_LEN])
{
	uint8_t both[2 * FERRY_HASH_LEN];

	memcpy(both, chain, FERRY_HASH_LEN);
	memcpy(both + FERRY_HASH_LEN, hash, FERRY_HASH_LEN);
	SHA256(both, sizeof(both), chain);
}

static int write_all(int fd, const void *p, size_t n, struct ferry_err *err)
{
	int r = ferry_write_full(fd, p, n);

	return r < 0 ? ferry_err_sys(err, r, "cannot write the page image") : 0;
}

struct hash_job {
	const uint8_t *pages;
	uint8_t (*hashes)[FERRY_HASH_LEN];
	size_t n;
};

static void *hash_pages(void *arg)
{
	struct hash_job *j = arg;

	for (size_t i = 0; i < j->n; i++)
		ferry_page_hash(j->pages + i * FERRY_PAGE_SIZE, j->hashes[i]);
	return NULL;
}

/*
 * The freeze waits for this pass over all memory: two threads hash it (the
 * second half of each batch on a helper thread), the rest is sequential.
 */
static void hash_batch(const uint8_t *pages, uint8_t (*hashes)[FERRY_HASH_LEN], size_t n)
{
	struct hash_job first = { pages, hashes, n / 2 },
	                second = { pages + n / 2 * FERRY_PAGE_SIZE, hashes + n / 2, n - n / 2 };
	pthread_t t;

	if (n < 8 || pthread_create(&t, NULL, hash_pages, &second) != 0) {
		hash_pages(&(struct hash_job){ pages, hashes, n });
		return;
	}
	hash_pages(&first);
	pthread_join(t, NULL);
}

/* Refs being written: raw pages and runs, flushed to fd when the buffer fills. */
struct refs_out {
	int fd;
	uint8_t *buf;
	size_t len;
	uint64_t run_first, run_len;
	struct ferry_refs_stats *st;
	struct ferry_err *err;
};

#define REFS_OUT_MAX (REFS_BATCH * (1 + FERRY_PAGE_SIZE))

static int out_flush(struct refs_out *o)
{
	int r = write_all(o->fd, o->buf, o->len, o->err);

	o->len = 0;
	return r;
}

static int out_run(struct refs_out *o)
{
	if (!o->run_len)
		return 0;
	if (o->len + 13 > REFS_OUT_MAX && out_flush(o) < 0)
		return -EIO;
	o->buf[o->len] = FERRY_REF_RUN;
	ferry_put_u64(o->buf + o->len + 1, o->run_first);
	ferry_put_u32(o->buf + o->len + 9, (uint32_t)o->run_len);
	o->len += 13;
	o->st->runs++;
	o->run_len = 0;
	return 0;
}

static int out_held(struct refs_out *o, uint64_t index)
{
	o->st->held++;
	if (o->run_len && index == o->run_first + o->run_len && o->run_len < FERRY_REF_RUN_MAX) {
		o->run_len++;
		return 0;
	}
	if (out_run(o) < 0)
		return -EIO;
	o->run_first = index;
	o->run_len = 1;
	return 0;
}

static int out_raw(struct refs_out *o, const uint8_t *page)
{
	o->st->raw++;
	if (out_run(o) < 0 || (o->len + 1 + FERRY_PAGE_SIZE > REFS_OUT_MAX && out_flush(o) < 0))
		return -EIO;
	o->buf[o->len++] = FERRY_REF_RAW;
	memcpy(o->buf + o->len, page, FERRY_PAGE_SIZE);
	o->len += FERRY_PAGE_SIZE;
	return 0;
}

int ferry_refs_begin(struct ferry_refs_writer *w, int refs_fd, uint64_t pages, const struct ferry_page_set *held,
                     struct ferry_err *err)
{
	uint8_t hdr[FERRY_REFS_HDR];

	memset(w, 0, sizeof(*w));
	w->held = held;
	w->declared = pages;
	w->err = err;
	w->out = malloc(sizeof(struct refs_out));
	w->hashes = malloc(FERRY_REFS_BATCH * FERRY_HASH_LEN);
	if (!w->out || !w->hashes || !(((struct refs_out *)w->out)->buf = malloc(REFS_OUT_MAX))) {
		ferry_refs_writer_free(w);
		return ferry_err_set(err, -ENOMEM, "out of memory");
	}
	*(struct refs_out *)w->out =
	    (struct refs_out){ .fd = refs_fd, .buf = ((struct refs_out *)w->out)->buf, .st = &w->st, .err = err };
	memcpy(hdr, FERRY_REFS_MAGIC, 4);
	ferry_put_u32(hdr + 4, FERRY_PAGE_SIZE);
	ferry_put_u64(hdr + 8, pages);
	return write_all(refs_fd, hdr, sizeof(hdr), err);
}

int ferry_refs_add(struct ferry_refs_writer *w, const uint8_t *pages, size_t n)
{
	struct refs_out *o = w->out;
	uint8_t(*hashes)[FERRY_HASH_LEN] = w->hashes;

	if (n > FERRY_REFS_BATCH || w->st.pages + n > w->declared)
		return ferry_err_set(w->err, -EINVAL, "more pages than the refs file declares");
	hash_batch(pages, hashes, n);
	for (size_t i = 0; i < n; i++) {
		uint64_t index;
		int r = ferry_page_set_find(w->held, hashes[i], &index) ? out_held(o, index)
		                                                        : out_raw(o, pages + i * FERRY_PAGE_SIZE);

		if (r < 0)
			return r;
		w->st.pages++;
	}
	return 0;
}

int ferry_refs_end(struct ferry_refs_writer *w, struct ferry_refs_stats *st)
{
	int r;

	if (w->st.pages != w->declared)
		return ferry_err_set(w->err, -EIO, "%llu pages for a refs file of %llu",
		                     (unsigned long long)w->st.pages, (unsigned long long)w->declared);
	if ((r = out_run(w->out)) < 0 || (r = out_flush(w->out)) < 0)
		return r;
	*st = w->st;
	return 0;
}

void ferry_refs_writer_free(struct ferry_refs_writer *w)
{
	if (w->out)
		free(((struct refs_out *)w->out)->buf);
	free(w->out);
	free(w->hashes);
	w->out = NULL;
	w->hashes = NULL;
}

int ferry_refs_write(int img_fd, int refs_fd, const struct ferry_page_set *held, struct ferry_refs_stats *st,
                     struct ferry_err *err)
{
	uint8_t *batch = malloc(FERRY_REFS_BATCH * FERRY_PAGE_SIZE);
	struct ferry_refs_writer w = { 0 };
	off_t size = lseek(img_fd, 0, SEEK_END);
	int r = 0;

	memset(st, 0, sizeof(*st));
	if (!batch) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (size < 0 || size % FERRY_PAGE_SIZE != 0 || lseek(img_fd, 0, SEEK_SET) != 0) {
		r = ferry_err_set(err, -EINVAL, "the image is not a whole number of pages");
		goto out;
	}
	if ((r = ferry_refs_begin(&w, refs_fd, (uint64_t)size / FERRY_PAGE_SIZE, held, err)) < 0)
		goto out;
	for (;;) {
		ssize_t got = ferry_read_full(img_fd, batch, FERRY_REFS_BATCH * FERRY_PAGE_SIZE);

		if (got < 0) {
			r = ferry_err_sys(err, (int)got, "cannot read the page image");
			goto out;
		}
		if (got == 0)
			break;
		if (got % FERRY_PAGE_SIZE != 0) {
			r = ferry_err_set(err, -EIO, "the page image changed while it was read");
			goto out;
		}
		if ((r = ferry_refs_add(&w, batch, (size_t)got / FERRY_PAGE_SIZE)) < 0)
			goto out;
	}
	r = ferry_refs_end(&w, st);
out:
	ferry_refs_writer_free(&w);
	free(batch);
	return r;
}

int ferry_refs_expand(const uint8_t *refs, size_t len, int out_fd, uint64_t max_pages,
                      const struct ferry_page_store *store, struct ferry_refs_stats *st, struct ferry_err *err)
{
	uint8_t *batch = malloc(REFS_BATCH * FERRY_PAGE_SIZE);
	struct ferry_reader rd;
	uint64_t pages;
	size_t n = 0;
	int r = 0;

	memset(st, 0, sizeof(*st));
	if (!batch)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	ferry_reader_init(&rd, refs, len);
	{
		const uint8_t *magic = ferry_get_view(&rd, 4);
		uint32_t page_size = ferry_get_u32(&rd);

		pages = ferry_get_u64(&rd);
		if (!rd.ok || memcmp(magic, FERRY_REFS_MAGIC, 4) != 0 || page_size != FERRY_PAGE_SIZE) {
			r = ferry_err_set(err, -EBADMSG, "not a page refs file (bad header)");
			goto out;
		}
	}
	if (pages > max_pages) {
		r = ferry_err_set(err, -E2BIG, "the refs file stands for %llu pages, more than the %llu allowed",
		                  (unsigned long long)pages, (unsigned long long)max_pages);
		goto out;
	}
	while (st->pages < pages) {
		uint8_t kind = ferry_get_u8(&rd);
		const uint8_t *v;

		if (kind == FERRY_REF_RAW && (v = ferry_get_view(&rd, FERRY_PAGE_SIZE))) {
			memcpy(batch + n * FERRY_PAGE_SIZE, v, FERRY_PAGE_SIZE);
			st->raw++;
			st->pages++;
			if (++n == REFS_BATCH) {
				if (out_fd >= 0 && (r = write_all(out_fd, batch, n * FERRY_PAGE_SIZE, err)) < 0)
					goto out;
				n = 0;
			}
			continue;
		}
		if (kind == FERRY_REF_RUN) {
			uint64_t first = ferry_get_u64(&rd);
			uint32_t count = ferry_get_u32(&rd);

			if (!rd.ok || count == 0 || count > FERRY_REF_RUN_MAX || count > pages - st->pages ||
			    first >= store->stored || count > store->stored - first) {
				r = ferry_err_set(err, rd.ok ? -ENOENT : -EBADMSG,
				                  "a run of the refs file at page %llu is damaged or outside the store",
				                  (unsigned long long)st->pages);
				goto out;
			}
			/* Raw pages before it land first: the image keeps its order. */
			if (out_fd >= 0 && ((n && (r = write_all(out_fd, batch, n * FERRY_PAGE_SIZE, err)) < 0) ||
			                    (r = store->copy(store->arg, first, count, out_fd)) < 0)) {
				if (!err->msg[0])
					ferry_err_sys(err, r, "cannot copy pages from the store");
				goto out;
			}
			n = 0;
			st->held += count;
			st->pages += count;
			st->runs++;
			continue;
		}
		r = ferry_err_set(err, -EBADMSG, "page record %llu of the refs file is damaged",
		                  (unsigned long long)st->pages);
		goto out;
	}
	if (rd.left) {
		r = ferry_err_set(err, -EBADMSG, "the refs file has %zu bytes after its last page", rd.left);
		goto out;
	}
	if (n && out_fd >= 0)
		r = write_all(out_fd, batch, n * FERRY_PAGE_SIZE, err);
out:
	free(batch);
	return r;
}
