/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Page hashes, the page set, the refs format, and reading a live process's pages. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ferry/memscan.h"
#include "ferry/pagemap.h"
#include "ferry/pages.h"
#include "ferry/wire.h"

#define PAGES 300

static void fill(uint8_t *page, unsigned seed)
{
	for (unsigned i = 0; i < FERRY_PAGE_SIZE; i++)
		page[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
	memcpy(page, &seed, sizeof(seed)); /* distinct for every seed */
}

static void test_set(void **state)
{
	struct ferry_page_set s;
	struct ferry_err err = { 0 };
	uint8_t page[FERRY_PAGE_SIZE], h[FERRY_HASH_LEN];
	uint64_t v;

	(void)state;
	assert_int_equal(ferry_page_set_init(&s, 5000, &err), 0);
	/* Grows past its first table, keeps every value. */
	for (unsigned i = 0; i < 5000; i++) {
		fill(page, i);
		ferry_page_hash(page, h);
		assert_int_equal(ferry_page_set_add(&s, h, i), 1);
	}
	assert_int_equal(s.n, 5000);
	for (unsigned i = 0; i < 5000; i += 7) {
		fill(page, i);
		ferry_page_hash(page, h);
		assert_true(ferry_page_set_find(&s, h, &v));
		assert_int_equal(v, i);
		assert_int_equal(ferry_page_set_add(&s, h, 99), 0); /* already there, value kept */
	}
	fill(page, 5001);
	ferry_page_hash(page, h);
	assert_false(ferry_page_set_find(&s, h, NULL));
	assert_int_equal(ferry_page_set_add(&s, h, 1), -ENOSPC); /* its bound */
	ferry_page_set_free(&s);
	assert_int_equal(ferry_page_set_init(&s, (size_t)1 << 29, &err), -E2BIG);
}

/* A store: the pages with even seeds; store index i holds seed 2i. */
static int copy_even(void *arg, uint64_t first, uint32_t count, int out_fd)
{
	uint8_t page[FERRY_PAGE_SIZE];

	(void)arg;
	for (uint32_t k = 0; k < count; k++) {
		fill(page, (unsigned)(2 * (first + k)));
		if (write(out_fd, page, sizeof(page)) != sizeof(page))
			return -EIO;
	}
	return 0;
}

static int tmpfile_fd(void)
{
	char path[] = "/tmp/ferry-test-pages.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

static uint8_t *read_all(int fd, size_t *len)
{
	off_t n = lseek(fd, 0, SEEK_END);
	uint8_t *p = malloc((size_t)n + 1);

	assert_non_null(p);
	assert_int_equal(pread(fd, p, (size_t)n, 0), n);
	*len = (size_t)n;
	return p;
}

/* Write an image of the given seeds, turn it into refs and back; returns the refs. */
static uint8_t *round_trip(const struct ferry_page_set *held, const unsigned *seeds, unsigned n,
                           struct ferry_refs_stats *rs, size_t *refs_len)
{
	struct ferry_page_store store = { copy_even, PAGES, NULL };
	struct ferry_err err = { 0 };
	uint8_t page[FERRY_PAGE_SIZE], *refs, *img, *back;
	int in = tmpfile_fd(), out = tmpfile_fd(), again = tmpfile_fd();
	size_t img_len, back_len;

	for (unsigned i = 0; i < n; i++) {
		fill(page, seeds[i]);
		assert_int_equal(write(in, page, sizeof(page)), sizeof(page));
	}
	assert_int_equal(ferry_refs_write(in, out, held, rs, &err), 0);
	refs = read_all(out, refs_len);
	assert_int_equal(ferry_refs_expand(refs, *refs_len, again, n, &store, rs, &err), 0);
	img = read_all(in, &img_len);
	back = read_all(again, &back_len);
	assert_int_equal(img_len, back_len);
	assert_memory_equal(img, back, img_len);
	free(img);
	free(back);
	close(in);
	close(out);
	close(again);
	return refs;
}

static void test_refs_round_trip(void **state)
{
	struct ferry_page_set held;
	struct ferry_refs_stats rs;
	struct ferry_page_store store = { copy_even, PAGES, NULL };
	struct ferry_err err = { 0 };
	unsigned seeds[PAGES];
	uint8_t page[FERRY_PAGE_SIZE], h[FERRY_HASH_LEN], *refs;
	size_t refs_len;
	int in;

	(void)state;
	assert_int_equal(ferry_page_set_init(&held, PAGES, &err), 0);
	for (unsigned i = 0; i < PAGES; i++) {
		fill(page, 2 * i);
		ferry_page_hash(page, h);
		ferry_page_set_add(&held, h, i);
	}
	/* Store pages in store order: one run. */
	for (unsigned i = 0; i < PAGES; i++)
		seeds[i] = 2 * i;
	refs = round_trip(&held, seeds, PAGES, &rs, &refs_len);
	assert_int_equal(rs.runs, 1);
	assert_int_equal(rs.held, PAGES);
	assert_int_equal(refs_len, FERRY_REFS_HDR + 13);
	free(refs);
	/* Held and changed pages alternating: a run of one, a raw page, and so on. */
	for (unsigned i = 0; i < PAGES; i++)
		seeds[i] = i;
	refs = round_trip(&held, seeds, PAGES, &rs, &refs_len);
	assert_int_equal(rs.pages, PAGES);
	assert_int_equal(rs.held, PAGES / 2);
	assert_int_equal(rs.raw, PAGES / 2);
	assert_int_equal(rs.runs, PAGES / 2);
	assert_int_equal(refs_len, FERRY_REFS_HDR + PAGES / 2 * 13 + PAGES / 2 * (1 + FERRY_PAGE_SIZE));
	/* More pages than allowed, a damaged record, a trailing byte, a short header, a run outside the store. */
	assert_int_equal(ferry_refs_expand(refs, refs_len, -1, PAGES - 1, &store, &rs, &err), -E2BIG);
	refs[FERRY_REFS_HDR] = 'X';
	assert_int_equal(ferry_refs_expand(refs, refs_len, -1, PAGES, &store, &rs, &err), -EBADMSG);
	refs[FERRY_REFS_HDR] = FERRY_REF_RUN;
	assert_int_equal(ferry_refs_expand(refs, refs_len - 1, -1, PAGES, &store, &rs, &err), -EBADMSG);
	assert_int_equal(ferry_refs_expand(refs, 10, -1, PAGES, &store, &rs, &err), -EBADMSG);
	store.stored = 10;
	assert_int_equal(ferry_refs_expand(refs, refs_len, -1, PAGES, &store, &rs, &err), -ENOENT);
	store.stored = PAGES;
	ferry_put_u32(refs + FERRY_REFS_HDR + 9, 0); /* a run of no pages */
	assert_int_equal(ferry_refs_expand(refs, refs_len, -1, PAGES, &store, &rs, &err), -ENOENT);
	free(refs);
	/* Not whole pages: not an image the format stands for. */
	in = tmpfile_fd();
	assert_int_equal(write(in, "x", 1), 1);
	assert_int_equal(ferry_refs_write(in, in, &held, &rs, &err), -EINVAL);
	close(in);
	ferry_page_set_free(&held);
}

static void test_maps_line(void **state)
{
	struct ferry_mapping m;

	(void)state;
	assert_int_equal(ferry_maps_parse_line("55d0c9a00000-55d0c9a21000 rw-p 00000000 00:00 0          [heap]", &m),
	                 0);
	assert_true(m.read && m.write && !m.shared && !m.file && !m.skip);
	assert_int_equal(m.start, 0x55d0c9a00000ULL);
	assert_int_equal(m.end, 0x55d0c9a21000ULL);
	assert_int_equal(
	    ferry_maps_parse_line("7f1c2a000000-7f1c2a022000 r--p 00000000 fe:01 1835239   /usr/lib/libc.so.6", &m), 0);
	assert_true(m.file && !m.write);
	assert_int_equal(ferry_maps_parse_line("7ffd1f9f4000-7ffd1f9f8000 r--p 00000000 00:00 0  [vvar]", &m), 0);
	assert_true(m.skip);
	assert_int_equal(
	    ferry_maps_parse_line("7f00000000-7f00001000 rw-s 00000000 00:01 1024 /dev/zero (deleted)", &m), 0);
	assert_true(m.anon_shared && !m.file);
	assert_int_equal(ferry_maps_parse_line("7f00000000-7f00001000 rw-s 00000000 fe:01 77 /data/file", &m), 0);
	assert_true(m.shared && m.file && !m.anon_shared);
	/* Not lines of maps. */
	assert_int_equal(ferry_maps_parse_line("", &m), -EINVAL);
	assert_int_equal(ferry_maps_parse_line("1000-0800 rw-p 0 00:00 0", &m), -EINVAL);
	assert_int_equal(ferry_maps_parse_line("1001-2000 rw-p 0 00:00 0", &m), -EINVAL);
	assert_int_equal(ferry_maps_parse_line("1000-2000 rwzp 0 00:00 0", &m), -EINVAL);
	assert_int_equal(ferry_maps_parse_line("11111111111111111000-2000 rw-p 0 00:00 0", &m), -EINVAL);
	assert_int_equal(ferry_maps_parse_line("1000-2000 rw-p 0 00:00", &m), -EINVAL);
}

struct found {
	unsigned marked; /* pages carrying the child's marker */
	uint64_t pages;
};

static int count_marked(void *arg, uint64_t addr, const uint8_t *page)
{
	struct found *f = arg;

	(void)addr;
	f->pages++;
	if (memcmp(page, "ferry-marker", 12) == 0)
		f->marked++;
	return 0;
}

/* A child with 64 touched anonymous pages and 64 untouched ones: the scan finds exactly the touched. */
static void test_memscan_live(void **state)
{
	struct ferry_memscan_stats ms = { 0 };
	struct ferry_err err = { 0 };
	struct found f = { 0 };
	int ready[2];
	pid_t pid;
	char c;

	(void)state;
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint8_t *mem =
		    mmap(NULL, 128 * FERRY_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (mem == MAP_FAILED)
			_exit(1);
		for (int i = 0; i < 64; i++)
			memcpy(mem + i * FERRY_PAGE_SIZE, "ferry-marker", 12);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(ferry_memscan(pid, count_marked, &f, &ms, &err), 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(ready[0]);
	close(ready[1]);
	assert_int_equal(f.marked, 64);
	assert_true(ms.pages == f.pages && ms.mappings > 3);
	/* A process that is gone: an error, not a crash. */
	assert_true(ferry_memscan(pid, count_marked, &f, &ms, &err) < 0);
}

/* A pagemap as CRIU's lazy dump writes it: round trip, lazy entries made present, refusals. */
static void test_pagemap(void **state)
{
	/* magic, magic, head {1: 7}, entry {1: 0x1000, 2: 0, 4: LAZY, 5: 3}, entry {1: 0x9000, 2: 0, 4: PRESENT, 5: 1}
	 */
	static const uint8_t img[] = { 0x19, 0x43, 0x56, 0x54, 0x25, 0x40, 0x08, 0x56, 2,    0,    0,    0,    0x08, 7,
		                       9,    0,    0,    0,    0x08, 0x80, 0x20, 0x10, 0,    0x20, 2,    0x28, 3,    9,
		                       0,    0,    0,    0x08, 0x80, 0x20, 0x10, 0,    0x20, 4,    0x28, 1 };
	struct ferry_buf b = FERRY_BUF_INIT(4096);
	struct ferry_pagemap pm, again;
	struct ferry_err err = { 0 };
	uint8_t bad[sizeof(img)];

	(void)state;
	assert_int_equal(ferry_pagemap_parse(img, sizeof(img), &pm, &err), 0);
	assert_int_equal(pm.pages_id, 7);
	assert_int_equal(pm.n, 2);
	assert_int_equal(pm.entries[0].vaddr, 0x1000);
	assert_int_equal(ferry_pagemap_entry_pages(&pm.entries[0]), 3);
	assert_int_equal(pm.entries[0].flags, FERRY_PE_LAZY);
	assert_int_equal(ferry_pagemap_encode(&pm, &b), 0);
	assert_int_equal(b.len, sizeof(img));
	assert_memory_equal(b.data, img, sizeof(img));
	pm.entries[0].flags |= FERRY_PE_PRESENT;
	ferry_buf_reset(&b);
	assert_int_equal(ferry_pagemap_encode(&pm, &b), 0);
	assert_int_equal(ferry_pagemap_parse((const uint8_t *)b.data, b.len, &again, &err), 0);
	assert_int_equal(again.entries[0].flags, FERRY_PE_LAZY | FERRY_PE_PRESENT);
	ferry_pagemap_free(&again);
	ferry_pagemap_free(&pm);
	/* Cut short, bad magic, an unaligned address, a length field (wire type 2). */
	assert_int_equal(ferry_pagemap_parse(img, sizeof(img) - 1, &pm, &err), -EBADMSG);
	memcpy(bad, img, sizeof(img));
	bad[0] ^= 1;
	assert_int_equal(ferry_pagemap_parse(bad, sizeof(bad), &pm, &err), -EBADMSG);
	memcpy(bad, img, sizeof(img));
	bad[19] = 0x81; /* vaddr 0x1001 */
	assert_int_equal(ferry_pagemap_parse(bad, sizeof(bad), &pm, &err), -EBADMSG);
	memcpy(bad, img, sizeof(img));
	bad[18] = 0x0a; /* field 1 as bytes */
	assert_int_equal(ferry_pagemap_parse(bad, sizeof(bad), &pm, &err), -EBADMSG);
	ferry_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set),       cmocka_unit_test(test_refs_round_trip),
		cmocka_unit_test(test_maps_line), cmocka_unit_test(test_memscan_live),
		cmocka_unit_test(test_pagemap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
