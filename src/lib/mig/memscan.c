/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pages of a running process (ferry/memscan.h).  pagemap says which pages
 * are present (or swapped) and which of them belong to a file; only those
 * are read, in runs of up to RUN_PAGES, with process_vm_readv.  A page that
 * vanishes between the two (munmap in the running process) is skipped: the
 * freeze sends whatever the final dump holds anyway.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ferry/buf.h"
#include "ferry/fs.h"
#include "ferry/memscan.h"
#include "ferry/pages.h"

#define PM_BATCH       512 /* pagemap entries read at once: 2 MiB of address space */
#define RUN_PAGES      64
#define PM_PRESENT     (1ULL << 63)
#define PM_SWAPPED     (1ULL << 62)
#define PM_FILE_SHARED (1ULL << 61)

static bool hex_u64(const char **p, uint64_t *ret)
{
	uint64_t v = 0;
	int digits = 0;

	for (; **p; (*p)++, digits++) {
		char c = **p;
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			break;
		if (digits >= 16)
			return false;
		v = v << 4 | d;
	}
	*ret = v;
	return digits > 0;
}

int ferry_maps_parse_line(const char *line, struct ferry_mapping *ret)
{
	const char *p = line, *path;
	uint64_t offset, inode = 0;
	int fields = 0;

	memset(ret, 0, sizeof(*ret));
	if (!hex_u64(&p, &ret->start) || *p++ != '-' || !hex_u64(&p, &ret->end) || *p++ != ' ')
		return -EINVAL;
	if (ret->end <= ret->start || ret->start % FERRY_PAGE_SIZE || ret->end % FERRY_PAGE_SIZE)
		return -EINVAL;
	if (strlen(p) < 5 || (p[0] != 'r' && p[0] != '-') || (p[1] != 'w' && p[1] != '-') ||
	    (p[2] != 'x' && p[2] != '-') || (p[3] != 'p' && p[3] != 's') || p[4] != ' ')
		return -EINVAL;
	ret->read = p[0] == 'r';
	ret->write = p[1] == 'w';
	ret->shared = p[3] == 's';
	p += 5;
	/* offset, dev (maj:min), inode */
	if (!hex_u64(&p, &offset) || *p++ != ' ')
		return -EINVAL;
	for (; *p && *p != ' '; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == ':'))
			return -EINVAL;
	if (*p++ != ' ')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++, fields++) {
		if (fields >= 20)
			return -EINVAL;
		inode = inode * 10 + (uint64_t)(*p - '0');
	}
	if (!fields)
		return -EINVAL;
	while (*p == ' ')
		p++;
	path = p;
	ret->skip =
	    strncmp(path, "[vdso]", 6) == 0 || strncmp(path, "[vvar", 5) == 0 || strncmp(path, "[vsyscall]", 10) == 0;
	ret->anon_shared = ret->shared && (strncmp(path, "/dev/zero", 9) == 0 || strncmp(path, "/SYSV", 5) == 0 ||
	                                   strncmp(path, "/memfd:", 7) == 0 || (inode == 0 && !*path));
	ret->file = inode != 0 && !ret->anon_shared;
	return 0;
}

/* Whether CRIU would dump this page of this mapping. */
static bool wanted(const struct ferry_mapping *m, uint64_t pm)
{
	if (!(pm & (PM_PRESENT | PM_SWAPPED)))
		return false;
	if (m->anon_shared)
		return true;
	if (m->shared)
		return false; /* a shared file's pages are the file's */
	/* Private: anonymous pages, and a file mapping's copied-on-write ones. */
	return !(pm & PM_FILE_SHARED);
}

struct scan {
	pid_t pid;
	int pagemap;
	uint8_t *buf;
	ferry_memscan_fn fn;
	void *arg;
	struct ferry_memscan_stats *st;
};

/* Read a run of wanted pages and hand each to the callback. */
static int read_run(struct scan *s, uint64_t addr, size_t pages)
{
	struct iovec local = { s->buf, pages * FERRY_PAGE_SIZE }, remote = { (void *)(uintptr_t)addr, local.iov_len };
	ssize_t got = process_vm_readv(s->pid, &local, 1, &remote, 1, 0);
	int r;

	if (got < 0)
		return errno == EFAULT || errno == ENOMEM ? 0 : -errno;
	for (size_t i = 0; i + FERRY_PAGE_SIZE <= (size_t)got; i += FERRY_PAGE_SIZE) {
		s->st->pages++;
		if ((r = s->fn(s->arg, addr + i, s->buf + i)) < 0)
			return r;
	}
	return 0;
}

static int scan_mapping(struct scan *s, const struct ferry_mapping *m)
{
	uint64_t pm[PM_BATCH];
	uint64_t run_start = 0;
	size_t run = 0;
	int r;

	for (uint64_t a = m->start; a < m->end;) {
		size_t want = (size_t)((m->end - a) / FERRY_PAGE_SIZE), n;
		ssize_t got;

		if (want > PM_BATCH)
			want = PM_BATCH;
		got = pread(s->pagemap, pm, want * sizeof(uint64_t), (off_t)(a / FERRY_PAGE_SIZE * sizeof(uint64_t)));
		if (got <= 0)
			return got < 0 && errno != ESRCH ? -errno : 0;
		n = (size_t)got / sizeof(uint64_t);
		for (size_t i = 0; i < n; i++, a += FERRY_PAGE_SIZE) {
			if (wanted(m, pm[i])) {
				if (!run)
					run_start = a;
				if (++run < RUN_PAGES)
					continue;
			} else if (!run) {
				continue;
			}
			/* A run ends: at a page not wanted, or full. */
			if ((r = read_run(s, run_start, run)) < 0)
				return r;
			run = 0;
		}
	}
	return run ? read_run(s, run_start, run) : 0;
}

int ferry_memscan(pid_t pid, ferry_memscan_fn fn, void *arg, struct ferry_memscan_stats *st, struct ferry_err *err)
{
	struct ferry_buf maps = FERRY_BUF_INIT(FERRY_MAPS_MAX);
	struct scan s = { .pid = pid, .pagemap = -1, .fn = fn, .arg = arg, .st = st };
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if ((r = ferry_read_file(path, FERRY_MAPS_MAX, &maps, err)) < 0)
		goto out;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	s.pagemap = open(path, O_RDONLY | O_CLOEXEC);
	s.buf = malloc(RUN_PAGES * FERRY_PAGE_SIZE);
	if (s.pagemap < 0) {
		r = ferry_err_sys(err, -errno, "cannot open %s", path);
		goto out;
	}
	if (!s.buf) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (char *line = maps.data, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		struct ferry_mapping m;

		if ((nl = strchr(line, '\n')))
			*nl = '\0';
		if (ferry_maps_parse_line(line, &m) < 0) {
			r = ferry_err_set(err, -EBADMSG, "cannot parse a line of /proc/%d/maps", (int)pid);
			goto out;
		}
		if (m.skip || !m.read)
			continue;
		st->mappings++;
		st->bytes_mapped += m.end - m.start;
		if ((r = scan_mapping(&s, &m)) < 0) {
			if (!err->msg[0])
				ferry_err_sys(err, r, "cannot read the memory of pid %d", (int)pid);
			goto out;
		}
	}
	r = 0;
out:
	if (s.pagemap >= 0)
		close(s.pagemap);
	free(s.buf);
	ferry_buf_free(&maps);
	return r;
}
