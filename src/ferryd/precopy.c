/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pre-copy without soft-dirty: the source reads the running container's
 * memory each round and sends the pages whose content the destination has
 * not seen (by SHA-256); the destination keeps them in a store.  At the
 * freeze the normal dump runs, and its page images travel as references into
 * that store plus the pages that changed since (precopy.h).
 *
 * Why content hashes and not addresses: without the kernel's dirty bits the
 * only way to know a page changed is to look at it, and a content name lets
 * the final image be rebuilt byte-exact whatever CRIU's pagemap says, with
 * identical pages (zero pages, duplicates) stored once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "ferryd"
#include "ferry/bundle.h"
#include "ferry/cgroup.h"
#include "ferry/clock.h"
#include "ferry/fs.h"
#include "ferry/log.h"
#include "ferry/memscan.h"
#include "ferry/pagemap.h"
#include "ferry/wire.h"
#include "precopy.h"

#define PIDS_MAX        VPIDS_MAX
#define ESTIMATE_MIN    (4ULL << 20) /* a round this large measures the link */
#define STORE_PAGES_MAX (64ULL << 30) / FERRY_PAGE_SIZE
#define CPU_FLOOR       5 /* auto-converge never caps the container below this % of a CPU */

/* ---- source ---- */

int precopy_open(struct ferry_conn *dest, const struct ferry_buf *ticket, struct ferry_err *err)
{
	struct ferry_buf resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	int r = ferry_conn_send_frame(dest, FERRY_FRAME_PAGES_OPEN, ticket->data, ticket->len, err);

	if (r == 0 && (r = ferry_expect_response(dest, &resp, err)) < 0)
		ferry_err_wrap(err, "the destination refused the page session");
	ferry_buf_free(&resp);
	return r;
}

struct round {
	struct ferry_conn *dest;
	struct ferry_page_set *sent;
	uint8_t *frame;
	size_t n;           /* pages in frame */
	uint64_t pages;     /* sent this round */
	uint64_t bandwidth; /* bytes per second, 0 = unpaced */
	long long t0;       /* start of the round, for pacing */
	bool full;          /* the destination's store has no room left */
	uint8_t *chain;     /* of every page sent, in order (ferry_page_chain) */
	struct ferry_err *err;
};

static int flush(struct round *s)
{
	int r;

	if (!s->n)
		return 0;
	r = ferry_conn_send_frame(s->dest, FERRY_FRAME_PAGES, s->frame, s->n * FERRY_PAGE_SIZE, s->err);
	s->n = 0;
	if (r < 0 || !s->bandwidth)
		return r;
	/* --bandwidth: never ahead of the budget since the round started. */
	long long due = s->t0 + (long long)(s->pages * FERRY_PAGE_SIZE * 1000 / s->bandwidth), now = ferry_now_ms();
	if (due > now) {
		struct timespec ts = { (due - now) / 1000, (due - now) % 1000 * 1000000L };

		nanosleep(&ts, NULL);
	}
	return 0;
}

static int on_page(void *arg, uint64_t addr, const uint8_t *page)
{
	struct round *s = arg;
	uint8_t hash[FERRY_HASH_LEN];
	int r;

	(void)addr;
	ferry_page_hash(page, hash);
	/* Its value: its index in the destination's store, which appends in the same order. */
	r = ferry_page_set_add(s->sent, hash, s->sent->n);
	if (r == 0)
		return 0; /* the destination has this content already */
	if (r == -ENOSPC) {
		s->full = true;
		return r;
	}
	if (r < 0)
		return ferry_err_set(s->err, r, "out of memory for the page hashes");
	ferry_page_chain(s->chain, hash);
	memcpy(s->frame + s->n * FERRY_PAGE_SIZE, page, FERRY_PAGE_SIZE);
	s->n++;
	s->pages++;
	return s->n == FERRY_PAGES_PER_FRAME ? flush(s) : 0;
}

/* The container's processes: its cgroup's, or the init process alone where the runtime made none in cgroup2. */
static int container_pids(struct node *node, const char *name, pid_t *pids, struct ferry_err *err)
{
	char rel[PATH_MAX];
	struct ferry_runtime rt;
	enum ferry_ct_status st;
	int n;

	ct_cgroup_rel(&node->cts, name, rel, sizeof(rel));
	if ((n = ferry_cgroup_pids(rel, pids, PIDS_MAX)) > 0)
		return n;
	ct_runtime(&node->cts, name, &rt);
	if ((n = ferry_runtime_state(&rt, name, &st, &pids[0], err)) < 0)
		return n;
	if (st != FERRY_CT_RUNNING)
		return ferry_err_set(err, -ESRCH, "container '%s' is %s, not running", name, ferry_ct_status_name(st));
	return 1;
}

static int end_round(struct ferry_conn *dest, unsigned round, uint64_t pages, uint64_t held,
                     const uint8_t chain[FERRY_HASH_LEN], struct ferry_err *err)
{
	uint8_t theirs[FERRY_HASH_LEN];
	struct ferry_buf b = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	uint8_t end[12];
	uint64_t store = 0;
	int r;

	if (!l)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	ferry_put_u32(end, round);
	ferry_put_u64(end + 4, pages);
	if ((r = ferry_conn_send_frame(dest, FERRY_FRAME_PAGES_END, end, sizeof(end), err)) < 0 ||
	    (r = ferry_expect_response(dest, &b, err)) < 0 ||
	    (r = ferry_tlv_parse((const uint8_t *)b.data, b.len, l, err)) < 0 ||
	    (r = ferry_tlv_get_u64(l, FERRY_TAG_SIZE, &store, err)) < 0 ||
	    (r = ferry_tlv_get_fixed(l, FERRY_TAG_HASH, theirs, FERRY_HASH_LEN, err)) < 0)
		goto out;
	/*
	 * Both sides hold the same distinct pages in the same order, or a
	 * reference by store index would name other bytes.
	 */
	if (store != held || CRYPTO_memcmp(theirs, chain, FERRY_HASH_LEN) != 0)
		r = ferry_err_set(err, -EPROTO,
		                  "the destination's page store (%llu pages) differs from what the source sent (%llu)",
		                  (unsigned long long)store, (unsigned long long)held);
out:
	free(l);
	ferry_buf_free(&b);
	return r;
}

/* Auto-converge: halve the container's CPU (from 50 % of one CPU); false once at the floor. */
static bool throttle(struct node *node, const char *name, struct precopy_report *rep)
{
	struct ferry_runtime rt;
	struct ferry_err e = { 0 };
	unsigned next = rep->cpu_percent >= 100 ? 50 : rep->cpu_percent / 2;

	if (rep->cpu_percent <= CPU_FLOOR)
		return false;
	if (next < CPU_FLOOR)
		next = CPU_FLOOR;
	ct_runtime(&node->cts, name, &rt);
	if (ferry_runtime_limit_cpu(&rt, name, next, &e) < 0) {
		log_warn("auto-converge: cannot cap the CPU of %s: %s", name, e.msg);
		return false;
	}
	log_info("auto-converge: %s capped at %u%% of a CPU", name, next);
	rep->cpu_percent = next;
	return true;
}

void precopy_uncap(struct node *node, const char *name, struct precopy_report *rep)
{
	struct ferry_runtime rt;
	struct ferry_err e = { 0 };

	/* 0: no rounds ran (stop-copy), 100: never capped; either way nothing to lift (no runtime call). */
	if (rep->cpu_percent == 0 || rep->cpu_percent >= 100)
		return;
	ct_runtime(&node->cts, name, &rt);
	if (ferry_runtime_limit_cpu(&rt, name, 100, &e) < 0)
		log_error("cannot lift the CPU cap of %s: %s", name, e.msg);
	else
		rep->cpu_percent = 100;
}

int precopy_rounds(struct node *node, struct ferry_conn *ctl, struct ferry_conn *dest, const char *name,
                   const struct precopy_opts *o, struct ferry_page_set *sent, struct precopy_report *rep,
                   struct ferry_err *err)
{
	uint8_t chain[FERRY_HASH_LEN] = { 0 };
	struct round s = { .dest = dest, .sent = sent, .bandwidth = o->bandwidth, .chain = chain, .err = err };
	pid_t *pids = calloc(PIDS_MAX, sizeof(*pids));
	uint64_t link = 0, prev = 0;
	int r = 0;

	memset(rep, 0, sizeof(*rep));
	rep->cpu_percent = 100;
	s.frame = malloc(FERRY_PAGES_PER_FRAME * FERRY_PAGE_SIZE);
	if (!pids || !s.frame) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned round = 1;; round++) {
		struct ferry_memscan_stats ms = { 0 };
		long long t0 = ferry_now_ms(), ms_round;
		uint64_t bytes, left_ms;
		int n = container_pids(node, name, pids, err);

		if (n < 0) {
			r = n;
			goto out;
		}
		s.pages = 0;
		s.t0 = t0;
		for (int i = 0; i < n && !s.full; i++) {
			r = ferry_memscan(pids[i], on_page, &s, &ms, err);
			if (r < 0 && !s.full)
				goto out;
		}
		if ((r = flush(&s)) < 0 || (r = end_round(dest, round, s.pages, sent->n, chain, err)) < 0)
			goto out;
		ms_round = ferry_now_ms() - t0;
		bytes = s.pages * FERRY_PAGE_SIZE;
		rep->rounds = round;
		rep->round_bytes[round - 1] = bytes;
		/* The link's speed, from a round large enough to measure it (reading memory included: conservative). */
		if (bytes >= ESTIMATE_MIN && ms_round > 0 && bytes * 1000 / (uint64_t)ms_round > link)
			link = bytes * 1000 / (uint64_t)ms_round;
		if (o->bandwidth && (!link || o->bandwidth < link))
			link = o->bandwidth;
		left_ms = link ? bytes * 1000 / link : 0;
		log_info("pre-copy of %s: round %u sent %llu pages (%llu MB of %llu MB mapped in %d processes) in %lld "
		         "ms",
		         name, round, (unsigned long long)s.pages, (unsigned long long)(bytes >> 20),
		         (unsigned long long)(ms.bytes_mapped >> 20), n, ms_round);
		ferry_send_progress(ctl, "precopy", round, bytes);
		if (s.full) {
			snprintf(rep->stop, sizeof(rep->stop), "the destination's page store is full");
			break;
		}
		/*
		 * The freeze reads all memory again to find what changed (no dirty
		 * tracking), as a round does: it fits the budget when the last
		 * round did, and what that round sent crosses within it too.
		 */
		if (round >= 2 && left_ms <= o->max_downtime_ms && (uint64_t)ms_round <= o->max_downtime_ms) {
			snprintf(rep->stop, sizeof(rep->stop),
			         "converged: %llu KiB changed in the last round, which took %lld ms",
			         (unsigned long long)(bytes >> 10), ms_round);
			break;
		}
		if (round >= o->max_rounds) {
			snprintf(rep->stop, sizeof(rep->stop), "round limit (%u) reached", round);
			break;
		}
		/* Not shrinking by a tenth: the container writes as fast as the link carries. */
		if (round >= 2 && bytes * 10 > prev * 9 && !(o->auto_converge && throttle(node, name, rep))) {
			snprintf(rep->stop, sizeof(rep->stop), "not converging (%llu then %llu KiB per round)",
			         (unsigned long long)(prev >> 10), (unsigned long long)(bytes >> 10));
			break;
		}
		prev = bytes;
	}
	log_info("pre-copy of %s: %u rounds; %s", name, rep->rounds, rep->stop);
out:
	free(pids);
	free(s.frame);
	return r;
}

static bool is_page_image(const char *name)
{
	size_t n = strlen(name);

	return strncmp(name, "pages-", 6) == 0 && n > 10 && strcmp(name + n - 4, ".img") == 0;
}

int precopy_refs(const char *images, const struct ferry_page_set *sent, struct ferry_refs_stats *total,
                 struct ferry_err *err)
{
	DIR *d = opendir(images);
	struct dirent *de;
	int r = 0;

	memset(total, 0, sizeof(*total));
	if (!d)
		return ferry_err_sys(err, -errno, "cannot open %s", images);
	while ((de = readdir(d))) {
		struct ferry_refs_stats st;
		char img[PATH_MAX], refs[PATH_MAX + 8];
		int in, out;

		if (!is_page_image(de->d_name))
			continue;
		snprintf(img, sizeof(img), "%s/%s", images, de->d_name);
		snprintf(refs, sizeof(refs), "%s%s", img, FERRY_REFS_SUFFIX);
		if ((in = open(img, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
			r = ferry_err_sys(err, -errno, "cannot open %s", img);
			break;
		}
		if ((out = open(refs, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
			r = ferry_err_sys(err, -errno, "cannot create %s", refs);
			close(in);
			break;
		}
		r = ferry_refs_write(in, out, sent, &st, err);
		close(in);
		close(out);
		if (r == -EINVAL) {
			/* Not whole pages: not a page image after all; it travels as it is. */
			unlink(refs);
			r = 0;
			continue;
		}
		if (r < 0 || (unlink(img) < 0 && (r = ferry_err_sys(err, -errno, "cannot remove %s", img)) < 0))
			break;
		total->pages += st.pages;
		total->held += st.held;
		total->raw += st.raw;
	}
	closedir(d);
	return r;
}

/* ---- source, frozen: pages read from the paused container itself ---- */

int vpids(struct node *node, const char *name, struct vpid_map *m, struct ferry_err *err)
{
	pid_t *pids = calloc(PIDS_MAX, sizeof(*pids));
	int n = pids ? container_pids(node, name, pids, err) : ferry_err_set(err, -ENOMEM, "out of memory");

	m->n = 0;
	for (int i = 0; i < n; i++) {
		struct ferry_buf b = FERRY_BUF_INIT(16 * 1024);
		char path[64], *line;

		snprintf(path, sizeof(path), "/proc/%d/status", (int)pids[i]);
		if (ferry_read_file(path, 16 * 1024, &b, NULL) == 0 && b.data && (line = strstr(b.data, "\nNSpid:"))) {
			char *end = strchr(line + 1, '\n'), *last = NULL, *save = NULL;

			if (end)
				*end = '\0';
			for (char *tok = strtok_r(line + 7, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
				last = tok;
			if (last && atoi(last) > 0) {
				m->vpid[m->n] = atoi(last);
				m->pid[m->n++] = pids[i];
			}
		}
		ferry_buf_free(&b);
	}
	free(pids);
	return n < 0 ? n : 0;
}

pid_t host_pid(const struct vpid_map *m, long vpid)
{
	for (int i = 0; i < m->n; i++)
		if (m->vpid[i] == vpid)
			return m->pid[i];
	return 0;
}

int read_frozen(pid_t pid, uint64_t addr, uint8_t *buf, size_t n, struct ferry_err *err)
{
	struct iovec local = { buf, n * FERRY_PAGE_SIZE }, remote = { (void *)(uintptr_t)addr, n * FERRY_PAGE_SIZE };
	ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	if (got != (ssize_t)(n * FERRY_PAGE_SIZE))
		return ferry_err_sys(err, got < 0 ? -errno : -EIO, "cannot read %zu pages at 0x%llx of pid %d", n,
		                     (unsigned long long)addr, (int)pid);
	return 0;
}

/* One process's pagemap: its pages (lazy ones from its memory) into refs, its lazy entries made present. */
static int freeze_one(const char *images, const char *pagemap_name, pid_t pid, const struct ferry_page_set *sent,
                      struct ferry_refs_stats *total, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(FERRY_PAGEMAP_MAX_BYTES);
	struct ferry_refs_writer w = { 0 };
	struct ferry_pagemap pm = { 0 };
	struct ferry_refs_stats st;
	uint8_t *batch = malloc(FERRY_REFS_BATCH * FERRY_PAGE_SIZE);
	char path[PATH_MAX], pages[PATH_MAX], refs[PATH_MAX + 8];
	uint64_t count = 0;
	int in = -1, out = -1, r;

	snprintf(path, sizeof(path), "%s/%s", images, pagemap_name);
	if (!batch) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((r = ferry_read_file(path, FERRY_PAGEMAP_MAX_BYTES, &b, err)) < 0 ||
	    (r = ferry_pagemap_parse((const uint8_t *)b.data, b.len, &pm, err)) < 0)
		goto out;
	for (size_t i = 0; i < pm.n; i++) {
		const struct ferry_pagemap_entry *e = &pm.entries[i];

		if ((e->flags & FERRY_PE_PARENT) || !(e->flags & (FERRY_PE_LAZY | FERRY_PE_PRESENT)) ||
		    ((e->flags & FERRY_PE_LAZY) && !pid)) {
			r = ferry_err_set(err, -EOPNOTSUPP, "%s entry %zu (flags %u) is not one Ferry can dump",
			                  pagemap_name, i, e->flags);
			goto out;
		}
		count += ferry_pagemap_entry_pages(e);
	}
	snprintf(pages, sizeof(pages), "%s/pages-%u.img", images, pm.pages_id);
	snprintf(refs, sizeof(refs), "%s%s", pages, FERRY_REFS_SUFFIX);
	in = open(pages, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	out = open(refs, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (in < 0 || out < 0) {
		r = ferry_err_sys(err, -errno, "cannot open %s or create its refs", pages);
		goto out;
	}
	if ((r = ferry_refs_begin(&w, out, count, sent, err)) < 0)
		goto out;
	for (size_t i = 0; i < pm.n; i++) {
		struct ferry_pagemap_entry *e = &pm.entries[i];
		uint64_t left = ferry_pagemap_entry_pages(e), addr = e->vaddr;

		while (left) {
			size_t n = left < FERRY_REFS_BATCH ? (size_t)left : FERRY_REFS_BATCH;

			if (e->flags & FERRY_PE_LAZY)
				r = read_frozen(pid, addr, batch, n, err);
			else if (read(in, batch, n * FERRY_PAGE_SIZE) != (ssize_t)(n * FERRY_PAGE_SIZE))
				r = ferry_err_set(err, -EIO, "%s is shorter than its pagemap says", pages);
			if (r < 0 || (r = ferry_refs_add(&w, batch, n)) < 0)
				goto out;
			left -= n;
			addr += n * FERRY_PAGE_SIZE;
		}
		/* In the image now, and still lazily restorable (as a full dump marks them). */
		e->flags |= FERRY_PE_PRESENT;
	}
	if (read(in, batch, 1) != 0) {
		r = ferry_err_set(err, -EIO, "%s is longer than its pagemap says", pages);
		goto out;
	}
	if ((r = ferry_refs_end(&w, &st)) < 0)
		goto out;
	/* The pagemap now says every page is in the (rebuilt) image, as after a full dump. */
	ferry_buf_reset(&b);
	if ((r = ferry_pagemap_encode(&pm, &b)) < 0 ||
	    (r = ferry_write_file_atomic(path, b.data, b.len, 0600, err)) < 0)
		goto out;
	if (unlink(pages) < 0) {
		r = ferry_err_sys(err, -errno, "cannot remove %s", pages);
		goto out;
	}
	total->pages += st.pages;
	total->held += st.held;
	total->raw += st.raw;
	total->runs += st.runs;
out:
	ferry_refs_writer_free(&w);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	ferry_pagemap_free(&pm);
	ferry_buf_free(&b);
	free(batch);
	return r;
}

int precopy_freeze_refs(struct node *node, const char *name, const char *images, const struct ferry_page_set *sent,
                        struct ferry_refs_stats *total, struct ferry_err *err)
{
	struct vpid_map *m = malloc(sizeof(*m));
	DIR *d = NULL;
	struct dirent *de;
	int r;

	memset(total, 0, sizeof(*total));
	if (!m)
		return ferry_err_set(err, -ENOMEM, "out of memory");
	if ((r = vpids(node, name, m, err)) < 0)
		goto out;
	if (!(d = opendir(images))) {
		r = ferry_err_sys(err, -errno, "cannot open %s", images);
		goto out;
	}
	while ((de = readdir(d))) {
		char *end;
		long vpid;

		/* pagemap-<pid>.img; pagemap-shmem-*.img and the like stay CRIU's (never lazy). */
		if (strncmp(de->d_name, "pagemap-", 8) != 0)
			continue;
		vpid = strtol(de->d_name + 8, &end, 10);
		if (end == de->d_name + 8 || strcmp(end, ".img") != 0 || vpid <= 0)
			continue;
		if ((r = freeze_one(images, de->d_name, host_pid(m, vpid), sent, total, err)) < 0)
			goto out;
	}
	r = 0;
out:
	if (d)
		closedir(d);
	free(m);
	return r;
}

/* ---- destination ---- */

static int open_session(struct node *node, struct ferry_conn *conn, struct precopy_store *st, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_frame_header h;
	static const uint8_t zero[32];
	uint64_t pages;
	int r;

	if ((r = ferry_conn_recv_frame(conn, &h, &b, err)) < 0)
		goto out;
	if (h.type != FERRY_FRAME_PAGES_OPEN) {
		r = ferry_err_set(err, -EPROTO, "expected PAGES_OPEN, got %s", ferry_frame_type_name(h.type));
		goto out;
	}
	if ((r = node_admit_ticket(conn, (const uint8_t *)b.data, b.len, &st->ticket, node, err)) < 0)
		goto out;
	/* A session ticket: pre-copy, and no manifest yet (the bundle's ticket binds that). */
	if (st->ticket.mode != FERRY_MODE_PRECOPY || CRYPTO_memcmp(st->ticket.manifest_hash, zero, 32) != 0) {
		r = ferry_err_set(err, -EPERM, "not a page-session ticket");
		goto out;
	}
	/* The store may hold reserve_disk bytes: the controller's bound, already checked against free disk. */
	pages = st->ticket.reserve_disk / FERRY_PAGE_SIZE;
	if (pages > STORE_PAGES_MAX)
		pages = STORE_PAGES_MAX;
	if ((r = ferry_page_set_init(&st->set, (size_t)pages, err)) < 0)
		goto out;
	/* Unlinked from the start: whatever ends this session, the pages go with the descriptor. */
	st->fd = open(node->incoming, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (st->fd < 0) {
		r = ferry_err_sys(err, -errno, "cannot make a page store in %s", node->incoming);
		ferry_page_set_free(&st->set);
		goto out;
	}
	st->open = true;
	ferry_buf_reset(&b);
	r = ferry_tlv_add_u32(&b, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_conn_send_frame(conn, FERRY_FRAME_RESPONSE, b.data, b.len, err);
out:
	ferry_buf_free(&b);
	return r;
}

static int store_pages(struct precopy_store *st, const uint8_t *p, size_t len, struct ferry_err *err)
{
	if (len == 0 || len % FERRY_PAGE_SIZE != 0)
		return ferry_err_set(err, -EPROTO, "a PAGES frame of %zu bytes is not whole pages", len);
	for (size_t off = 0; off < len; off += FERRY_PAGE_SIZE) {
		uint8_t hash[FERRY_HASH_LEN];
		uint64_t at = st->set.n;
		int r;

		/* The destination names each page itself: the source's word is not needed. */
		ferry_page_hash(p + off, hash);
		r = ferry_page_set_add(&st->set, hash, at);
		if (r == 0)
			continue;
		if (r == -ENOSPC)
			return ferry_err_set(err, -ENOSPC, "the page store is full (%zu pages, the ticket's bound)",
			                     st->set.max);
		if (r < 0)
			return ferry_err_set(err, r, "out of memory for the page store's index");
		if (pwrite(st->fd, p + off, FERRY_PAGE_SIZE, (off_t)(at * FERRY_PAGE_SIZE)) != FERRY_PAGE_SIZE)
			return ferry_err_sys(err, -errno ? -errno : -ENOSPC, "cannot write the page store");
		ferry_page_chain(st->chain, hash);
	}
	return 0;
}

static int answer_round(struct precopy_store *st, struct ferry_conn *conn, const struct ferry_buf *b,
                        struct ferry_err *err)
{
	struct ferry_buf resp = FERRY_BUF_INIT(64);
	struct ferry_reader rd;
	int r;

	ferry_reader_init(&rd, b->data, b->len);
	ferry_get_u32(&rd);
	ferry_get_u64(&rd);
	if (!rd.ok || rd.left)
		return ferry_err_set(err, -EPROTO, "a PAGES_END frame of %zu bytes, expected 12", b->len);
	r = ferry_tlv_add_u32(&resp, FERRY_TAG_STATUS, 0);
	r = r ? r : ferry_tlv_add_u64(&resp, FERRY_TAG_SIZE, st->set.n);
	r = r ? r : ferry_tlv_add(&resp, FERRY_TAG_HASH, st->chain, FERRY_HASH_LEN);
	r = r ? r : ferry_conn_send_frame(conn, FERRY_FRAME_RESPONSE, resp.data, resp.len, err);
	ferry_buf_free(&resp);
	return r;
}

int precopy_receive(struct node *node, struct ferry_conn *conn, struct precopy_store *st, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(FERRY_PAGES_PER_FRAME * FERRY_PAGE_SIZE);
	struct ferry_frame_header h = { 0 };
	int r;

	memset(st, 0, sizeof(*st));
	st->fd = -1;
	if ((r = open_session(node, conn, st, err)) < 0)
		goto out;
	log_info("page session for %s (generation %llu) from %s: up to %zu pages", st->ticket.container,
	         (unsigned long long)st->ticket.generation, st->ticket.source, st->set.max);
	for (;;) {
		uint8_t next;

		if ((r = ferry_conn_peek_type(conn, &next, err)) < 0)
			goto out;
		if (next == FERRY_FRAME_TICKET)
			break; /* the bundle follows: ferry_bundle_receive reads it */
		if ((r = ferry_conn_recv_frame(conn, &h, &b, err)) < 0)
			goto out;
		if (h.type == FERRY_FRAME_PAGES)
			r = store_pages(st, (const uint8_t *)b.data, b.len, err);
		else if (h.type == FERRY_FRAME_PAGES_END)
			r = answer_round(st, conn, &b, err);
		else if (h.type == FERRY_FRAME_ERROR)
			r = ferry_err_set(err, -ECONNABORTED, "the source gave up the page session");
		else
			r = ferry_err_set(err, -EPROTO, "unexpected %s frame in a page session",
			                  ferry_frame_type_name(h.type));
		if (r < 0)
			goto out;
	}
out:
	if (r < 0 && h.type != FERRY_FRAME_ERROR)
		ferry_conn_send_error(conn, r, err->msg, NULL);
	ferry_buf_free(&b);
	return r;
}

/* count store pages from first on, appended to out_fd: in the kernel where it can, else through a buffer. */
static int copy_pages(void *arg, uint64_t first, uint32_t count, int out_fd)
{
	struct precopy_store *st = arg;
	loff_t off = (loff_t)(first * FERRY_PAGE_SIZE);
	size_t left = (size_t)count * FERRY_PAGE_SIZE;
	uint8_t buf[16 * FERRY_PAGE_SIZE];

	while (left > 0) {
		ssize_t k = copy_file_range(st->fd, &off, out_fd, NULL, left, 0);

		if (k > 0) {
			left -= (size_t)k;
			continue;
		}
		if (k == 0)
			return -EIO;
		if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
			return -errno;
		k = pread(st->fd, buf, left < sizeof(buf) ? left : sizeof(buf), off);
		if (k <= 0 || write(out_fd, buf, (size_t)k) != k)
			return -EIO;
		off += k;
		left -= (size_t)k;
	}
	return 0;
}

static int expand_one(struct precopy_store *st, const char *refs, const char *img, uint64_t max_pages,
                      struct ferry_err *err)
{
	struct ferry_refs_stats rs;
	struct stat sb;
	void *map = NULL;
	int in = open(refs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), out = -1, r;

	if (in < 0 || fstat(in, &sb) < 0) {
		r = ferry_err_sys(err, -errno, "cannot open %s", refs);
		goto out;
	}
	if (sb.st_size > 0 && (map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, in, 0)) == MAP_FAILED) {
		map = NULL;
		r = ferry_err_sys(err, -errno, "cannot map %s", refs);
		goto out;
	}
	if ((out = open(img, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		r = ferry_err_sys(err, -errno, "cannot create %s", img);
		goto out;
	}
	r = ferry_refs_expand(map, (size_t)sb.st_size, out, max_pages,
	                      &(struct ferry_page_store){ copy_pages, st->set.n, st }, &rs, err);
	if (r == 0)
		r = unlink(refs) < 0 ? ferry_err_sys(err, -errno, "cannot remove %s", refs) : 0;
out:
	if (map)
		munmap(map, (size_t)sb.st_size);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return r;
}

int precopy_expand(struct precopy_store *st, const char *images, uint64_t max_pages, struct ferry_err *err)
{
	DIR *d = opendir(images);
	struct dirent *de;
	int r = 0;

	if (!d)
		return ferry_err_sys(err, -errno, "cannot open %s", images);
	while ((de = readdir(d)) && r == 0) {
		size_t n = strlen(de->d_name), k = strlen(FERRY_REFS_SUFFIX);
		char refs[PATH_MAX], img[PATH_MAX];

		if (n <= k || strcmp(de->d_name + n - k, FERRY_REFS_SUFFIX) != 0)
			continue;
		if (!st || !st->open) {
			r = ferry_err_set(err, -EPROTO, "%s refers to a page store, but no page session came first",
			                  de->d_name);
			break;
		}
		snprintf(refs, sizeof(refs), "%s/%s", images, de->d_name);
		snprintf(img, sizeof(img), "%s/%.*s", images, (int)(n - k), de->d_name);
		r = expand_one(st, refs, img, max_pages, err);
	}
	closedir(d);
	return r;
}

void precopy_store_close(struct precopy_store *st)
{
	if (!st->open)
		return;
	close(st->fd);
	ferry_page_set_free(&st->set);
	st->open = false;
}

/* ---- destination: lazy fill of a restored container's memory ---- */

int lazy_fill_start(struct lazy_fill *lf, const char *images, const char *work, int page_server_port,
                    struct ferry_err *err)
{
	char port[16];
	const char *argv[] = {
		"criu",           "lazy-pages",    "--images-dir", images,      "--work-dir", work, "-o",
		"lazy-pages.log", "--page-server", "--address",    "127.0.0.1", "--port",     port, NULL
	};

	snprintf(port, sizeof(port), "%d", page_server_port);
	if (!page_server_port)
		argv[8] = NULL; /* pages from the images here */

	memset(lf, 0, sizeof(*lf));
	snprintf(lf->work, sizeof(lf->work), "%s", work);
	if (ferry_mkdir_p(work, 0700, err) < 0)
		return -EIO;
	lf->t_start = ferry_now_ms();
	lf->pid = fork();
	if (lf->pid < 0) {
		lf->pid = 0;
		return ferry_err_sys(err, -errno, "cannot start criu lazy-pages: fork");
	}
	if (lf->pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		close_range(3, ~0U, 0);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return 0;
}

int lazy_fill_ready(struct lazy_fill *lf, struct ferry_err *err)
{
	long long deadline = ferry_now_ms() + 5000;
	char sock[PATH_MAX + 32];
	int status;

	/* Ready when its socket exists: the restore connects to it. */
	snprintf(sock, sizeof(sock), "%s/lazy-pages.socket", lf->work);
	while (ferry_now_ms() < deadline) {
		if (access(sock, F_OK) == 0)
			return 0;
		if (waitpid(lf->pid, &status, WNOHANG) == lf->pid) {
			lf->pid = 0;
			return ferry_err_set(
			    err, -EIO, "criu lazy-pages exited before it was ready (see %s/lazy-pages.log)", lf->work);
		}
		usleep(1000); /* it takes some 10 ms; this wait is part of the downtime */
	}
	lazy_fill_abort(lf);
	return ferry_err_set(err, -ETIMEDOUT, "criu lazy-pages was not ready within 5 s");
}

int lazy_fill_wait(struct lazy_fill *lf, int timeout_ms, long long *ret_ms, struct ferry_err *err)
{
	long long deadline = ferry_now_ms() + timeout_ms;
	int status;

	while (lf->pid) {
		pid_t w = waitpid(lf->pid, &status, WNOHANG);

		if (w == lf->pid) {
			lf->pid = 0;
			*ret_ms = ferry_now_ms() - lf->t_start;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				return ferry_err_set(err, -EIO,
				                     "criu lazy-pages failed (status %d; see %s/lazy-pages.log)",
				                     status, lf->work);
			return 0;
		}
		if (w < 0 && errno != EINTR)
			return ferry_err_sys(err, -errno, "cannot wait for criu lazy-pages");
		if (ferry_now_ms() > deadline) {
			lazy_fill_abort(lf);
			return ferry_err_set(err, -ETIMEDOUT, "the memory was not filled in within %d s",
			                     timeout_ms / 1000);
		}
		usleep(5 * 1000);
	}
	return 0;
}

void lazy_fill_abort(struct lazy_fill *lf)
{
	if (!lf->pid)
		return;
	kill(lf->pid, SIGKILL);
	while (waitpid(lf->pid, NULL, 0) < 0 && errno == EINTR)
		;
	lf->pid = 0;
}
