/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Following the host's IDS (docs/ARCHITECTURE.md, "IDS alerts"): every
 * alert_source file is polled every ALERT_POLL_MS by the follower of
 * ferry/alert.h (partial, huge, malformed lines, rotation, truncation),
 * and each alert goes to the controller at once, over TLS with this node's
 * certificate (FERRY_OP_ALERT on ferry-api; the controller takes a node's
 * alert as about its own host only).  A controller that does not answer
 * does not lose alerts: up to ALERT_QUEUE_MAX wait, oldest dropped first
 * and counted, and go when it answers again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "alerts"
#include "ferry/bundle.h"
#include "ferry/clock.h"
#include "ferry/log.h"
#include "ferry/parse.h"
#include "node.h"

#define ALERT_POLL_MS    100
#define ALERT_RETRY_MS   1000
#define ALERT_CONNECT_MS 3000

int alerts_source_add(struct alert_watch *w, const char *value, struct ferry_err *err)
{
	char fmt[32];
	const char *colon = strchr(value, ':');
	struct alert_source *s;
	int r;

	if (w->n == ALERT_SOURCES_MAX)
		return ferry_err_set(err, -E2BIG, "alert_source: at most %d sources", ALERT_SOURCES_MAX);
	if (!colon || (size_t)(colon - value) >= sizeof(fmt))
		return ferry_err_set(err, -EINVAL,
		                     "alert_source '%.64s' is not FORMAT:PATH (FORMAT snort-fast, suricata-eve or "
		                     "generic; PATH absolute, %%n for the node's name)",
		                     value);
	s = &w->sources[w->n];
	snprintf(fmt, sizeof(fmt), "%.*s", (int)(colon - value), value);
	if ((r = ferry_alert_format_parse(fmt, &s->format, err)) < 0)
		return ferry_err_wrap(err, "alert_source");
	colon++;
	if (colon[0] != '/' || strlen(colon) >= sizeof(s->path) - FERRY_NODE_NAME_MAX)
		return ferry_err_set(err, -EINVAL,
		                     "alert_source path '%.64s' is not an absolute path shorter than %zu bytes", colon,
		                     sizeof(s->path) - FERRY_NODE_NAME_MAX);
	snprintf(s->path, sizeof(s->path), "%s", colon);
	w->n++;
	return 0;
}

/* path with every %n replaced by the node's name (%% is a %). */
static void expand(const char *path, const char *name, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = path; *p && o + 1 < len; p++) {
		if (p[0] == '%' && (p[1] == 'n' || p[1] == '%')) {
			o += (size_t)snprintf(out + o, len - o, "%s", p[1] == 'n' ? name : "%");
			p++;
		} else {
			out[o++] = *p;
		}
		if (o >= len)
			o = len - 1;
	}
	out[o] = '\0';
}

static void queue_push(struct alert_watch *w, const struct ferry_alert *a)
{
	if (w->queued == ALERT_QUEUE_MAX) {
		/* Full: the oldest goes; the newest say most about now. */
		memmove(&w->queue[0], &w->queue[1], sizeof(w->queue[0]) * (ALERT_QUEUE_MAX - 1));
		w->queued--;
		w->dropped++;
	}
	w->queue[w->queued++] = *a;
}

static void on_alert(const struct ferry_alert *a, void *arg)
{
	queue_push(arg, a);
}

static int connect_controller(struct node *node, struct ferry_err *err)
{
	struct alert_watch *w = &node->alerts;
	int r;

	if (w->conn)
		return 0;
	r = ferry_conn_connect(w->ctx, node->id.controller_addr, FERRY_ALPN_API, NULL, ALERT_CONNECT_MS, &w->conn, err);
	if (r == 0 && CRYPTO_memcmp(w->conn->peer_id, node->id.controller_id, FERRY_ID_LEN) != 0) {
		ferry_conn_close(w->conn);
		w->conn = NULL;
		r = ferry_err_set(err, -EPERM, "%s answers with another key than the controller's",
		                  node->id.controller_addr);
	}
	return r;
}

static int report_one(struct node *node, const struct ferry_alert *a, struct ferry_err *err)
{
	struct alert_watch *w = &node->alerts;
	struct ferry_buf req = FERRY_BUF_INIT(1024), resp = FERRY_BUF_INIT(1024);
	char ip[16];
	int r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_ALERT);

	r = r ? r : ferry_tlv_add_u64(&req, FERRY_TAG_SEVERITY, a->severity);
	r = r ? r : ferry_tlv_add_str(&req, FERRY_TAG_SIGNATURE, a->signature);
	if (r == 0 && a->sid[0])
		r = ferry_tlv_add_str(&req, FERRY_TAG_SID, a->sid);
	if (r == 0 && a->src)
		r = ferry_tlv_add_str(&req, FERRY_TAG_SRC_ADDR, ferry_format_ipv4(a->src, ip));
	if (r == 0 && a->dst)
		r = ferry_tlv_add_str(&req, FERRY_TAG_DST_ADDR, ferry_format_ipv4(a->dst, ip));
	if (r < 0)
		r = ferry_err_set(err, r, "alert does not fit a request");
	/* A connection the controller closed as idle is opened again once. */
	for (int attempt = 0; r == 0 && attempt < 2; attempt++) {
		if ((r = connect_controller(node, err)) < 0)
			break;
		if ((r = ferry_conn_send_frame(w->conn, FERRY_FRAME_REQUEST, req.data, req.len, err)) == 0 &&
		    (r = ferry_expect_response(w->conn, &resp, err)) == 0)
			break;
		ferry_conn_close(w->conn);
		w->conn = NULL;
		if (r != -EPIPE && r != -ECONNRESET && r != -EIO && r != -ETIMEDOUT)
			break;
		r = attempt == 0 ? 0 : r;
	}
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

/* Send what waits, in order; stop at the first failure (it is tried again later). */
static void flush(struct node *node)
{
	struct alert_watch *w = &node->alerts;
	struct ferry_err err = { 0 };
	unsigned sent = 0;

	while (sent < w->queued) {
		if (report_one(node, &w->queue[sent], &err) < 0) {
			if (!w->failing)
				log_warn("cannot report alerts to the controller (%u waiting, will retry): %s",
				         w->queued - sent, err.msg);
			w->failing = true;
			w->retry_at = ferry_now_ms() + ALERT_RETRY_MS;
			break;
		}
		sent++;
		w->reported++;
	}
	if (sent) {
		memmove(&w->queue[0], &w->queue[sent], sizeof(w->queue[0]) * (w->queued - sent));
		w->queued -= sent;
	}
	if (w->queued == 0 && w->failing) {
		log_info("reporting alerts to the controller again (%llu dropped while it did not answer)",
		         (unsigned long long)w->dropped);
		w->failing = false;
	}
}

static void *watch_loop(void *arg)
{
	struct node *node = arg;
	struct alert_watch *w = &node->alerts;
	struct ferry_alert_counts last[ALERT_SOURCES_MAX] = { 0 };

	for (;;) {
		pthread_mutex_lock(&w->lock);
		if (w->stop) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		pthread_mutex_unlock(&w->lock);
		for (unsigned i = 0; i < w->n; i++) {
			struct ferry_alert_follower *f = &w->sources[i].follower;
			struct ferry_err err = { 0 };

			if (ferry_alert_follow_poll(f, on_alert, w, &err) < 0)
				log_debug("%s: %s", f->path, err.msg);
			/* Bad lines are counted, said once per poll that saw some, and skipped. */
			if (f->counts.malformed != last[i].malformed || f->counts.oversize != last[i].oversize)
				log_warn("%s: skipped %llu malformed and %llu oversize lines (%llu and %llu in all)",
				         f->path, (unsigned long long)(f->counts.malformed - last[i].malformed),
				         (unsigned long long)(f->counts.oversize - last[i].oversize),
				         (unsigned long long)f->counts.malformed,
				         (unsigned long long)f->counts.oversize);
			if (f->counts.rotations != last[i].rotations || f->counts.truncations != last[i].truncations)
				log_info("%s: %s; reading it from its start", f->path,
				         f->counts.rotations != last[i].rotations ? "rotated" : "truncated");
			last[i] = f->counts;
		}
		if (w->queued && (!w->failing || ferry_now_ms() >= w->retry_at))
			flush(node);
		usleep(ALERT_POLL_MS * 1000);
	}
	return NULL;
}

int alerts_start(struct node *node, struct ferry_err *err)
{
	static const char *const alpns[] = { FERRY_ALPN_API, NULL };
	struct alert_watch *w = &node->alerts;
	int r;

	if (w->n == 0)
		return 0;
	if (!(w->queue = calloc(ALERT_QUEUE_MAX, sizeof(*w->queue))))
		return ferry_err_set(err, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < w->n; i++) {
		char path[sizeof(w->sources[i].path)];

		expand(w->sources[i].path, node->id.name, path, sizeof(path));
		/* From the end: alerts from before the daemon started were the last daemon's to report. */
		if ((r = ferry_alert_follow_open(&w->sources[i].follower, path, w->sources[i].format, true, err)) < 0)
			return ferry_err_wrap(err, "alert_source %s", path);
		w->sources[i].open = true;
		log_info("following %s alerts in %s", ferry_alert_format_name(w->sources[i].format), path);
	}
	w->ctx = ferry_tls_ctx(
	    &(struct ferry_tls_config){ .cert = node->id.cert, .key = node->id.key, .ca = node->id.ca, .alpns = alpns },
	    false, err);
	if (!w->ctx)
		return -EIO;
	pthread_mutex_init(&w->lock, NULL);
	if (pthread_create(&w->thread, NULL, watch_loop, node) != 0)
		return ferry_err_set(err, -EAGAIN, "cannot start the alert follower");
	w->running = true;
	return 0;
}

void alerts_stop(struct node *node)
{
	struct alert_watch *w = &node->alerts;

	if (w->running) {
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
		w->running = false;
	}
	for (unsigned i = 0; i < w->n; i++)
		if (w->sources[i].open)
			ferry_alert_follow_close(&w->sources[i].follower);
	ferry_conn_close(w->conn);
	w->conn = NULL;
	SSL_CTX_free(w->ctx);
	w->ctx = NULL;
	free(w->queue);
	w->queue = NULL;
}
