/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Post-copy: the container runs on the destination before its memory is
 * there.  CRIU's lazy-pages daemon on the destination asks a page server for
 * each page it lacks; that page server is this daemon, on 127.0.0.1, which
 * forwards every request through the migration's mutual-TLS channel to the
 * source's ferryd, which reads the pages from the frozen container itself
 * (CRIU's own lazy page server fails on this kernel, and would be plaintext).
 *
 * CRIU's page-server messages (struct page_server_iov on x86-64, 32 bytes):
 * u32 cmd, 4 bytes of padding, u64 nr_pages, u64 vaddr, u64 dst_id; a GET is
 * answered by the same header with cmd ADD_F|PRESENT and nr_pages pages (as
 * few as one: the daemon asks again for the rest); CLOSE by a u32 status.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_PREFIX "ferryd"
#include "ferry/bundle.h"
#include "ferry/clock.h"
#include "ferry/fs.h"
#include "ferry/log.h"
#include "ferry/pages.h"
#include "ferry/wire.h"
#include "postcopy.h"

#define PS_IOV_ADD_F       6
#define PS_IOV_GET         7
#define PS_IOV_CLOSE       0x1023
#define PS_IOV_FORCE_CLOSE 0x1024
#define PS_CMD_MASK        0xffffu
#define PE_PRESENT         (1u << 2)
#define PSI_LEN            32
#define PAGE_REQ_LEN       20
#define PAGE_DATA_MAX      (PAGE_REQ_LEN + FERRY_PAGES_PER_FRAME * (1 + FERRY_PAGE_SIZE))
#define SERVE_IDLE_MS      30000 /* the lazy daemon asks without pause until it has everything */
#define RELAY_BATCH        16    /* requests in flight */
#define RELAY_MAX_PAGES    1024  /* CRIU's daemon asks for 4 MiB at most */

/* ---- source ---- */

/*
 * PAGE_DATA: per page 'R' and the page, or (hybrid) 'S' and its index in
 * the destination's pre-copy store when the page did not change since.
 */
static int answer_get(struct postcopy_source *ps, struct ferry_conn *conn, const struct ferry_buf *req,
                      struct ferry_err *err)
{
	uint8_t *out = ps->out, *pages = ps->out + PAGE_DATA_MAX;
	struct ferry_reader rd;
	uint64_t vpid, addr;
	size_t len = PAGE_REQ_LEN;
	uint32_t n;
	pid_t pid;
	int r;

	ferry_reader_init(&rd, req->data, req->len);
	vpid = ferry_get_u64(&rd);
	addr = ferry_get_u64(&rd);
	n = ferry_get_u32(&rd);
	if (!rd.ok || rd.left || n == 0 || n > FERRY_PAGES_PER_FRAME || addr % FERRY_PAGE_SIZE)
		return ferry_err_set(err, -EPROTO, "a malformed PAGE_GET");
	/* Only the migrating container's memory, only whole pages it has. */
	if (!(pid = host_pid(ps->map, (long)vpid)))
		return ferry_err_set(err, -EPERM, "PAGE_GET for pid %llu, not one of the container's",
		                     (unsigned long long)vpid);
	if ((r = read_frozen(pid, addr, pages, n, err)) < 0)
		return r;
	ferry_put_u64(out, vpid);
	ferry_put_u64(out + 8, addr);
	ferry_put_u32(out + 16, n);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *page = pages + (size_t)i * FERRY_PAGE_SIZE;
		uint8_t hash[FERRY_HASH_LEN];
		uint64_t index;

		if (ps->sent) {
			ferry_page_hash(page, hash);
			if (ferry_page_set_find(ps->sent, hash, &index)) {
				out[len] = FERRY_REF_RUN;
				ferry_put_u64(out + len + 1, index);
				len += 9;
				ps->held++;
				continue;
			}
		}
		out[len] = FERRY_REF_RAW;
		memcpy(out + len + 1, page, FERRY_PAGE_SIZE);
		len += 1 + FERRY_PAGE_SIZE;
	}
	ps->pages += n;
	return ferry_conn_send_frame(conn, FERRY_FRAME_PAGE_DATA, out, len, err);
}

int postcopy_source_init(struct postcopy_source *ps, struct node *node, const char *name,
                         const struct ferry_page_set *sent, struct ferry_err *err)
{
	memset(ps, 0, sizeof(*ps));
	ps->sent = sent;
	ps->map = malloc(sizeof(*ps->map));
	ps->out = malloc(PAGE_DATA_MAX + FERRY_PAGES_PER_FRAME * FERRY_PAGE_SIZE);
	if (!ps->map || !ps->out) {
		postcopy_source_free(ps);
		return ferry_err_set(err, -ENOMEM, "out of memory");
	}
	return vpids(node, name, ps->map, err);
}

void postcopy_source_free(struct postcopy_source *ps)
{
	free(ps->map);
	free(ps->out);
	ps->map = NULL;
	ps->out = NULL;
}

/* Answer page requests until a frame of another type arrives; it is left in b (its type in *type). */
static int serve_until(struct postcopy_source *ps, struct ferry_conn *ctl, struct ferry_conn *conn, uint8_t *type,
                       struct ferry_buf *b, struct ferry_err *err)
{
	struct ferry_frame_header h;
	long long last = ferry_now_ms();
	int r;

	for (;;) {
		if ((r = ferry_conn_recv_frame(conn, &h, b, err)) < 0)
			return r;
		if (h.type != FERRY_FRAME_PAGE_GET) {
			*type = h.type;
			return 0;
		}
		if ((r = answer_get(ps, conn, b, err)) < 0)
			return r;
		if (ctl && ferry_now_ms() - last >= 500) {
			last = ferry_now_ms();
			ferry_send_progress(ctl, "pages", ps->pages * FERRY_PAGE_SIZE, 0);
		}
	}
}

/* Every page landed: confirm, so the destination knows this side heard it. */
static int confirm_landed(struct postcopy_source *ps, struct ferry_conn *conn, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(64);
	int r = ferry_tlv_add_u32(&b, FERRY_TAG_STATUS, 0);

	r = r ? r : ferry_conn_send_frame(conn, FERRY_FRAME_RESPONSE, b.data, b.len, err);
	ferry_buf_free(&b);
	ps->landed = r == 0;
	return r;
}

int postcopy_expect_response(struct postcopy_source *ps, struct ferry_conn *conn, struct ferry_buf *resp,
                             struct ferry_err *err)
{
	uint8_t type;
	int r;

	/* A small container may have every page before the destination even reports it restored. */
	while ((r = serve_until(ps, NULL, conn, &type, resp, err)) == 0 && type == FERRY_FRAME_PAGES_END && !ps->landed)
		if ((r = confirm_landed(ps, conn, err)) < 0)
			return r;
	if (r < 0)
		return r;
	if (type == FERRY_FRAME_RESPONSE)
		return 0;
	if (type == FERRY_FRAME_ERROR) {
		struct ferry_tlv_list *l = malloc(sizeof(*l));
		char msg[256] = "no reason given";

		if (l && ferry_tlv_parse((const uint8_t *)resp->data, resp->len, l, NULL) == 0)
			ferry_tlv_get_str(l, FERRY_TAG_MESSAGE, msg, sizeof(msg), NULL);
		free(l);
		return ferry_err_set(err, -EIO, "peer refused: %s", msg);
	}
	return ferry_err_set(err, -EPROTO, "unexpected %s frame", ferry_frame_type_name(type));
}

int postcopy_serve(struct postcopy_source *ps, struct ferry_conn *ctl, struct ferry_conn *conn, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	int saved = conn->io_timeout_ms, r = 0;
	uint8_t type;

	conn->io_timeout_ms = SERVE_IDLE_MS;
	if (ps->landed)
		goto out;
	if ((r = serve_until(ps, ctl, conn, &type, &b, err)) < 0)
		goto out;
	if (type != FERRY_FRAME_PAGES_END) {
		r = ferry_err_set(err, type == FERRY_FRAME_ERROR ? -ECONNABORTED : -EPROTO,
		                  type == FERRY_FRAME_ERROR ? "the destination gave up fetching pages"
		                                            : "unexpected frame while serving pages");
		goto out;
	}
	r = confirm_landed(ps, conn, err);
out:
	conn->io_timeout_ms = saved;
	if (r < 0)
		ferry_conn_send_error(conn, r, err->msg, NULL);
	ferry_buf_free(&b);
	return r;
}

/* ---- destination ---- */

int postcopy_listen(struct postcopy_relay *pr, struct ferry_err *err)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	pr->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (pr->listen_fd < 0 || bind(pr->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(pr->listen_fd, (struct sockaddr *)&a, &len) < 0 || listen(pr->listen_fd, 1) < 0) {
		int r = ferry_err_sys(err, -errno, "cannot listen on 127.0.0.1 for the lazy-pages daemon");

		postcopy_relay_close(pr);
		return r;
	}
	pr->port = ntohs(a.sin_port);
	return 0;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Whether a read would not block (the daemon has queued more). */
static bool read_ready(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * A GET is answered whole (up to RELAY_MAX_PAGES): CRIU's daemon takes a
 * shorter answer, but then forgets the rest of the range for its background
 * transfer and fetches it page by page as the container faults on it.
 */
static uint32_t get_pages(const uint8_t psi[PSI_LEN])
{
	uint64_t want = le64(psi + 8);

	return want > RELAY_MAX_PAGES ? RELAY_MAX_PAGES : (uint32_t)want;
}

/* Ask the source for the pages of one GET, FERRY_PAGES_PER_FRAME per PAGE_GET. */
static int send_get(struct postcopy_relay *pr, const uint8_t psi[PSI_LEN], struct ferry_err *err)
{
	uint64_t addr = le64(psi + 16), vpid = le64(psi + 24);
	uint32_t left = get_pages(psi);
	uint8_t req[PAGE_REQ_LEN];
	int r;

	if (left == 0 || addr % FERRY_PAGE_SIZE)
		return ferry_err_set(err, -EPROTO, "the lazy-pages daemon asked for no page or an unaligned one");
	while (left) {
		uint32_t n = left > FERRY_PAGES_PER_FRAME ? FERRY_PAGES_PER_FRAME : left;

		ferry_put_u64(req, vpid);
		ferry_put_u64(req + 8, addr);
		ferry_put_u32(req + 16, n);
		if ((r = ferry_conn_send_frame(pr->conn, FERRY_FRAME_PAGE_GET, req, sizeof(req), err)) < 0)
			return r;
		left -= n;
		addr += (uint64_t)n * FERRY_PAGE_SIZE;
	}
	return 0;
}

/* One PAGE_DATA of that GET into pages (n of them, at addr). */
static int recv_chunk(struct postcopy_relay *pr, uint64_t vpid, uint64_t addr, uint32_t n, struct ferry_buf *b,
                      uint8_t *pages, struct ferry_err *err)
{
	struct ferry_frame_header h;
	struct ferry_reader rd;
	int r;

	if ((r = ferry_conn_recv_frame(pr->conn, &h, b, err)) < 0)
		return r;
	if (h.type == FERRY_FRAME_ERROR)
		return ferry_err_set(err, -EIO, "the source stopped serving pages");
	ferry_reader_init(&rd, b->data, b->len);
	if (h.type != FERRY_FRAME_PAGE_DATA || ferry_get_u64(&rd) != vpid || ferry_get_u64(&rd) != addr ||
	    ferry_get_u32(&rd) != n || !rd.ok)
		return ferry_err_set(err, -EPROTO, "the source answered other pages than asked for");
	for (uint32_t i = 0; i < n; i++) {
		uint8_t kind = ferry_get_u8(&rd), *page = pages + (size_t)i * FERRY_PAGE_SIZE;
		const uint8_t *v;

		if (kind == FERRY_REF_RAW && (v = ferry_get_view(&rd, FERRY_PAGE_SIZE))) {
			memcpy(page, v, FERRY_PAGE_SIZE);
		} else if (kind == FERRY_REF_RUN && pr->store) {
			/* Hybrid: a page the pre-copy rounds brought already. */
			uint64_t index = ferry_get_u64(&rd);

			if (!rd.ok || index >= pr->store->set.n ||
			    pread(pr->store->fd, page, FERRY_PAGE_SIZE, (off_t)(index * FERRY_PAGE_SIZE)) !=
			        FERRY_PAGE_SIZE)
				return ferry_err_set(err, -EPROTO, "the source named a page the store does not hold");
		} else {
			return ferry_err_set(err, -EPROTO, "a damaged page record from the source");
		}
	}
	if (rd.left)
		return ferry_err_set(err, -EPROTO, "the source answered more than the pages asked for");
	return 0;
}

/* The source's answers to that GET, handed to the daemon as CRIU's page server would: one header, the pages. */
static int recv_data(struct postcopy_relay *pr, const uint8_t psi[PSI_LEN], struct ferry_buf *b, uint8_t *pages,
                     struct ferry_err *err)
{
	uint64_t addr = le64(psi + 16), vpid = le64(psi + 24);
	uint32_t total = get_pages(psi);
	uint8_t hdr[PSI_LEN] = { 0 };
	int r;

	for (uint32_t done = 0; done < total;) {
		uint32_t n = total - done > FERRY_PAGES_PER_FRAME ? FERRY_PAGES_PER_FRAME : total - done;

		if ((r = recv_chunk(pr, vpid, addr + (uint64_t)done * FERRY_PAGE_SIZE, n, b,
		                    pages + (size_t)done * FERRY_PAGE_SIZE, err)) < 0)
			return r;
		done += n;
	}
	/* CRIU's answer: the request's header with ADD_F|PRESENT and the count it gets. */
	hdr[0] = PS_IOV_ADD_F;
	hdr[2] = (uint8_t)PE_PRESENT;
	put_le64(hdr + 8, total);
	put_le64(hdr + 16, addr);
	put_le64(hdr + 24, vpid);
	if ((r = ferry_write_full(pr->daemon_fd, hdr, sizeof(hdr))) < 0 ||
	    (r = ferry_write_full(pr->daemon_fd, pages, (size_t)total * FERRY_PAGE_SIZE)) < 0)
		return ferry_err_sys(err, r, "cannot hand pages to the lazy-pages daemon");
	pr->pages += total;
	return 0;
}

static void *relay_main(void *arg)
{
	struct postcopy_relay *pr = arg;
	struct ferry_buf b = FERRY_BUF_INIT(PAGE_DATA_MAX);
	struct pollfd pfd = { .fd = pr->listen_fd, .events = POLLIN };
	struct ferry_err *err = &pr->err;
	uint8_t *pages = malloc((size_t)RELAY_MAX_PAGES * FERRY_PAGE_SIZE), held[PSI_LEN];
	bool pending = false;
	int r;

	if (!pages) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* The daemon connects when the restore hands it the process; only that one connection. */
	if (poll(&pfd, 1, SERVE_IDLE_MS) <= 0 || pr->stop ||
	    (pr->daemon_fd = accept4(pr->listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		r = ferry_err_set(err, -ETIMEDOUT, "the lazy-pages daemon never connected");
		goto out;
	}
	/* An answer's last bytes must not wait for the daemon's delayed ACK (Nagle): 40 ms a request. */
	setsockopt(pr->daemon_fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	for (;;) {
		uint8_t psi[PSI_LEN];
		uint32_t cmd;

		if (pending) {
			memcpy(psi, held, PSI_LEN);
			pending = false;
		} else if ((r = ferry_read_exact(pr->daemon_fd, psi, sizeof(psi), SERVE_IDLE_MS)) < 0 || pr->stop) {
			ferry_err_sys(err, r < 0 ? r : -ECANCELED, "the lazy-pages daemon went silent or away");
			r = r < 0 ? r : -ECANCELED;
			goto out;
		}
		if (pr->stop) {
			r = ferry_err_set(err, -ECANCELED, "the page relay was stopped");
			goto out;
		}
		cmd = le32(psi);
		if ((cmd & PS_CMD_MASK) == PS_IOV_GET) {
			uint8_t batch[RELAY_BATCH][PSI_LEN];
			unsigned n = 1;

			/*
			 * The daemon asks ahead: take what it has queued and keep that
			 * many requests in flight (one round trip for all, a busy link).
			 */
			memcpy(batch[0], psi, PSI_LEN);
			while (n < RELAY_BATCH && !pending && read_ready(pr->daemon_fd)) {
				if ((r = ferry_read_exact(pr->daemon_fd, batch[n], PSI_LEN, SERVE_IDLE_MS)) < 0) {
					ferry_err_sys(err, r, "the lazy-pages daemon went away");
					goto out;
				}
				if ((le32(batch[n]) & PS_CMD_MASK) != PS_IOV_GET) {
					memcpy(held, batch[n], PSI_LEN);
					pending = true;
					break;
				}
				n++;
			}
			/* The restore's own conversation shares the channel: whole batches under its lock. */
			pthread_mutex_lock(pr->lock);
			r = 0;
			for (unsigned i = 0; i < n && r == 0; i++)
				r = send_get(pr, batch[i], err);
			for (unsigned i = 0; i < n && r == 0; i++)
				r = recv_data(pr, batch[i], &b, pages, err);
			pthread_mutex_unlock(pr->lock);
			if (r < 0)
				goto out;
			continue;
		}
		if (cmd == PS_IOV_CLOSE || cmd == PS_IOV_FORCE_CLOSE) {
			static const uint8_t ok[4];

			ferry_write_full(pr->daemon_fd, ok, sizeof(ok));
			/* Every page is in: the source may let go of its frozen copy. */
			pthread_mutex_lock(pr->lock);
			r = ferry_conn_send_frame(pr->conn, FERRY_FRAME_PAGES_END, NULL, 0, err);
			r = r ? r : ferry_expect_response(pr->conn, &b, err);
			pthread_mutex_unlock(pr->lock);
			goto out;
		}
		r = ferry_err_set(err, -EPROTO, "the lazy-pages daemon sent command %u", cmd);
		goto out;
	}
out:
	pr->result = r;
	free(pages);
	ferry_buf_free(&b);
	return NULL;
}

int postcopy_relay_start(struct postcopy_relay *pr, struct ferry_conn *conn, pthread_mutex_t *lock,
                         const struct precopy_store *store, struct ferry_err *err)
{
	pr->conn = conn;
	pr->store = store;
	pr->lock = lock;
	pr->daemon_fd = -1;
	pr->stop = false;
	if (pthread_create(&pr->thread, NULL, relay_main, pr) != 0)
		return ferry_err_set(err, -EAGAIN, "cannot start the page relay");
	pr->running = true;
	return 0;
}

int postcopy_relay_join(struct postcopy_relay *pr, uint64_t *ret_pages, struct ferry_err *err)
{
	if (!pr->running)
		return ferry_err_set(err, -ESRCH, "no page relay");
	pthread_join(pr->thread, NULL);
	pr->running = false;
	*ret_pages = pr->pages;
	if (pr->result < 0)
		*err = pr->err;
	return pr->result;
}

void postcopy_relay_stop(struct postcopy_relay *pr)
{
	if (!pr->running)
		return;
	pr->stop = true;
	if (pr->daemon_fd >= 0)
		shutdown(pr->daemon_fd, SHUT_RDWR);
	if (pr->listen_fd >= 0)
		shutdown(pr->listen_fd, SHUT_RDWR);
	pthread_join(pr->thread, NULL);
	pr->running = false;
}

void postcopy_relay_close(struct postcopy_relay *pr)
{
	postcopy_relay_stop(pr);
	if (pr->daemon_fd >= 0)
		close(pr->daemon_fd);
	if (pr->listen_fd >= 0)
		close(pr->listen_fd);
	pr->daemon_fd = pr->listen_fd = -1;
}
