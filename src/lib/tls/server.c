/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "server"
#include "ferry/clock.h"
#include "ferry/fs.h"
#include "ferry/log.h"
#include "ferry/parse.h"
#include "ferry/server.h"
#include "ferry/token.h"

static const struct {
	const char *key;
	size_t offset;
	uint64_t min, max;
} limit_keys[] = {
#define L(name, lo, hi)                                                                                                \
	{                                                                                                              \
#name, offsetof(struct ferry_server_limits, name), lo, hi                                              \
	}
	L(max_handshakes, 1, 100000),
	L(max_handshakes_per_source, 1, 100000),
	L(handshake_timeout_ms, 100, 600000),
	L(handshakes_per_sec, 1, 1000000),
	L(handshakes_per_sec_per_source, 1, 1000000),
	L(penalty_failures, 1, 1000000),
	L(penalty_ms, 0, 86400000),
	L(max_connections, 1, 100000),
	L(idle_timeout_ms, 100, 86400000),
	L(max_streams, 1, FERRY_MAX_STREAMS),
	L(max_streams_per_peer, 1, FERRY_MAX_STREAMS),
#undef L
};

void ferry_server_limits_default(struct ferry_server_limits *l)
{
	l->max_handshakes = 64;
	l->max_handshakes_per_source = 8;
	l->handshake_timeout_ms = 10000;
	l->handshakes_per_sec = 200;
	l->handshakes_per_sec_per_source = 20;
	l->penalty_failures = 5;
	l->penalty_ms = 30000;
	l->max_connections = 256;
	l->idle_timeout_ms = 30000;
	l->max_streams = 4;
	l->max_streams_per_peer = 2;
	l->allow_postcopy = false;
}

int ferry_server_limits_set(struct ferry_server_limits *l, const char *key, const char *value, struct ferry_err *err)
{
	for (size_t i = 0; i < sizeof(limit_keys) / sizeof(limit_keys[0]); i++) {
		uint64_t v;
		int r;

		if (strcmp(key, limit_keys[i].key) != 0)
			continue;
		r = ferry_parse_u64(value, limit_keys[i].min, limit_keys[i].max, key, &v, err);
		if (r < 0)
			return r;
		*(unsigned *)((char *)l + limit_keys[i].offset) = (unsigned)v;
		return 0;
	}
	return ferry_err_set(
	    err, -EINVAL,
	    "unknown limit '%.64s'; expected max_handshakes, max_handshakes_per_source, "
	    "handshake_timeout_ms, handshakes_per_sec, handshakes_per_sec_per_source, penalty_failures, "
	    "penalty_ms, max_connections, idle_timeout_ms, max_streams or max_streams_per_peer",
	    key);
}

#define UNKNOWN_KEY_LIST                                                                                               \
	"a limit (max_handshakes, max_handshakes_per_source, handshake_timeout_ms, handshakes_per_sec, "               \
	"handshakes_per_sec_per_source, penalty_failures, penalty_ms, max_connections, idle_timeout_ms, max_streams, " \
	"max_streams_per_peer), allow_postcopy, or a fabric key (fabric, fabric_bridge, fabric_address, vxlan_id, "    \
	"vxlan_port, vxlan_peer, fabric_subnet, fabric_pool)"

static int set_key(struct ferry_server_limits *l, struct ferry_fabric *f, const struct ferry_config_keys *more,
                   const char *key, const char *value, struct ferry_err *err)
{
	int r;

	if (more && more->is_key(key))
		return more->set(more->arg, key, value, err);
	if (f && ferry_fabric_is_key(key))
		return ferry_fabric_set(f, key, value, err);
	if (strcmp(key, "allow_postcopy") == 0) {
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
			return ferry_err_set(err, -EINVAL, "allow_postcopy '%.32s' is not yes or no", value);
		l->allow_postcopy = strcmp(value, "yes") == 0;
		return 0;
	}
	r = ferry_server_limits_set(l, key, value, err);
	if (r < 0 && f && strncmp(err->msg, "unknown limit", 13) == 0)
		r = ferry_err_set(err, -EINVAL, "unknown key '%.64s'; expected " UNKNOWN_KEY_LIST "%s%s", key,
		                  more ? ", or " : "", more ? more->names : "");
	return r;
}

#define CONFIG_LINE_MAX  1024
#define CONFIG_VALUE_MAX 511

static int load(const char *path, struct ferry_server_limits *l, struct ferry_fabric *f,
                const struct ferry_config_keys *more, bool may_include, struct ferry_err *err);

static int parse(const char *text, struct ferry_server_limits *l, struct ferry_fabric *f,
                 const struct ferry_config_keys *more, bool may_include, struct ferry_err *err)
{
	unsigned line_no = 0;

	for (const char *line = text; line && *line;) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char buf[CONFIG_LINE_MAX], key[64], value[CONFIG_VALUE_MAX + 1], extra[2];
		int n, r;

		line_no++;
		if (len >= sizeof(buf))
			return ferry_err_set(err, -EINVAL, "line %u is too long (at most %d bytes)", line_no,
			                     CONFIG_LINE_MAX - 1);
		memcpy(buf, line, len);
		buf[len] = '\0';
		line = eol ? eol + 1 : NULL;
		if (strchr(buf, '#'))
			*strchr(buf, '#') = '\0';
		n = sscanf(buf, " %63[a-z_] = %511s %1s", key, value, extra);
		if (n == EOF || (n <= 0 && strspn(buf, " \t\r") == strlen(buf)))
			continue;
		if (n != 2)
			return ferry_err_set(err, -EINVAL, "line %u: expected 'key = value'", line_no);
		if (strcmp(key, "include") == 0) {
			if (!may_include)
				return ferry_err_set(
				    err, -EINVAL, "line %u: include: only the file given may include another", line_no);
			r = load(value, l, f, more, false, err);
		} else {
			r = set_key(l, f, more, key, value, err);
		}
		if (r < 0)
			return ferry_err_wrap(err, "line %u", line_no);
	}
	return 0;
}

int ferry_config_parse_with(const char *text, struct ferry_server_limits *l, struct ferry_fabric *f,
                            const struct ferry_config_keys *more, struct ferry_err *err)
{
	int r = parse(text, l, f, more, false, err);

	return r < 0 ? r : f ? ferry_fabric_check(f, err) : 0;
}

int ferry_config_parse(const char *text, struct ferry_server_limits *l, struct ferry_fabric *f, struct ferry_err *err)
{
	return ferry_config_parse_with(text, l, f, NULL, err);
}

int ferry_server_limits_parse(struct ferry_server_limits *l, const char *text, struct ferry_err *err)
{
	return ferry_config_parse(text, l, NULL, err);
}

static int load(const char *path, struct ferry_server_limits *l, struct ferry_fabric *f,
                const struct ferry_config_keys *more, bool may_include, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(64 * 1024);
	int r;

	r = ferry_read_file(path, 64 * 1024, &b, err);
	if (r == 0)
		r = parse(b.data ? b.data : "", l, f, more, may_include, err);
	if (r < 0)
		ferry_err_wrap(err, "%s", path);
	ferry_buf_free(&b);
	return r;
}

int ferry_config_load_with(const char *path, struct ferry_server_limits *l, struct ferry_fabric *f,
                           const struct ferry_config_keys *more, struct ferry_err *err)
{
	int r;

	if (!path)
		return 0;
	if ((r = load(path, l, f, more, true, err)) < 0)
		return r;
	/* The fabric's keys hang together across the files: checked once, at the end. */
	if (f && (r = ferry_fabric_check(f, err)) < 0)
		return ferry_err_wrap(err, "%s", path);
	return 0;
}

int ferry_config_load(const char *path, struct ferry_server_limits *l, struct ferry_fabric *f, struct ferry_err *err)
{
	return ferry_config_load_with(path, l, f, NULL, err);
}

int ferry_server_init(struct ferry_server *srv, const char *hostport, SSL_CTX *ctx,
                      const struct ferry_server_limits *limits, ferry_server_handler_fn handler, void *arg,
                      struct ferry_err *err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint32_t addr;
	uint16_t port;
	int one = 1, r;

	memset(srv, 0, sizeof(*srv));
	srv->listen_fd = srv->stop_fd = -1;
	if ((r = ferry_parse_hostport(hostport, &addr, &port, err)) < 0)
		return r;
	sa.sin_addr.s_addr = htonl(addr);
	sa.sin_port = htons(port);
	srv->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (srv->listen_fd < 0)
		return ferry_err_sys(err, -errno, "socket");
	setsockopt(srv->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(srv->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(srv->listen_fd, 128) < 0) {
		r = ferry_err_sys(err, -errno, "cannot listen on %s", hostport);
		close(srv->listen_fd);
		srv->listen_fd = -1;
		return r;
	}
	srv->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	srv->ctx = ctx;
	srv->limits = *limits;
	srv->handler = handler;
	srv->arg = arg;
	srv->tokens = limits->handshakes_per_sec;
	srv->refilled_ms = ferry_now_ms();
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->idle, NULL);
	return 0;
}

/* The source's entry, reusing the stalest idle one when the table is full. Lock held. */
static struct ferry_source *source_get(struct ferry_server *srv, uint32_t addr, long long now)
{
	struct ferry_source *victim = NULL;

	for (unsigned i = 0; i < srv->n_sources; i++) {
		struct ferry_source *s = &srv->sources[i];

		if (s->addr == addr)
			return s;
		if (s->handshakes == 0 && s->penalty_until_ms < now &&
		    (!victim || s->last_seen_ms < victim->last_seen_ms))
			victim = s;
	}
	if (srv->n_sources < FERRY_SOURCES_MAX)
		victim = &srv->sources[srv->n_sources++];
	if (!victim)
		return NULL; /* every entry is busy or penalized: refuse rather than forget */
	memset(victim, 0, sizeof(*victim));
	victim->addr = addr;
	victim->tokens = srv->limits.handshakes_per_sec_per_source;
	victim->refilled_ms = now;
	return victim;
}

static bool take_token(double *tokens, long long *refilled, unsigned rate, long long now)
{
	/* Burst of one second's worth. */
	*tokens += (double)(now - *refilled) * rate / 1000.0;
	if (*tokens > rate)
		*tokens = rate;
	*refilled = now;
	if (*tokens < 1.0)
		return false;
	*tokens -= 1.0;
	return true;
}

/* Admission of a new connection before any TLS byte; lock held. */
static const char *admit(struct ferry_server *srv, struct ferry_source *s, long long now)
{
	if (!s)
		return "source table full";
	s->last_seen_ms = now;
	if (s->penalty_until_ms > now) {
		srv->refused_penalty++;
		return "penalty box";
	}
	if (srv->handshakes >= srv->limits.max_handshakes || s->handshakes >= srv->limits.max_handshakes_per_source) {
		srv->refused_cap++;
		return "handshake cap";
	}
	if (!take_token(&s->tokens, &s->refilled_ms, srv->limits.handshakes_per_sec_per_source, now) ||
	    !take_token(&srv->tokens, &srv->refilled_ms, srv->limits.handshakes_per_sec, now)) {
		srv->refused_rate++;
		return "handshake rate";
	}
	s->handshakes++;
	srv->handshakes++;
	srv->threads++;
	return NULL;
}

struct conn_job {
	struct ferry_server *srv;
	int fd;
	uint32_t addr;
};

static void *conn_thread(void *p)
{
	struct conn_job *job = p;
	struct ferry_server *srv = job->srv;
	struct ferry_err err = { 0 };
	struct ferry_conn *conn = NULL;
	struct ferry_source *s;
	char addr[INET_ADDRSTRLEN];
	struct in_addr ia = { .s_addr = htonl(job->addr) };
	bool over_cap = false;
	int r;

	inet_ntop(AF_INET, &ia, addr, sizeof(addr));
	r = ferry_conn_accept(srv->ctx, job->fd, addr, (int)srv->limits.handshake_timeout_ms, &conn, &err);
	pthread_mutex_lock(&srv->lock);
	s = source_get(srv, job->addr, ferry_now_ms());
	if (s && s->handshakes)
		s->handshakes--;
	srv->handshakes--;
	if (r < 0) {
		srv->failed_handshakes++;
		if (s && ++s->failures >= srv->limits.penalty_failures) {
			s->penalty_until_ms = ferry_now_ms() + srv->limits.penalty_ms;
			s->failures = 0;
		}
	} else if (srv->connections >= srv->limits.max_connections) {
		over_cap = true;
	} else {
		srv->connections++;
	}
	pthread_mutex_unlock(&srv->lock);
	if (r < 0) {
		log_info("handshake from %s failed: %s", addr, err.msg);
	} else if (over_cap) {
		log_warn("refusing %s: %u connections already", addr, srv->limits.max_connections);
		ferry_conn_send_error(conn, EBUSY, "server busy", NULL);
		ferry_conn_close(conn);
	} else {
		conn->io_timeout_ms = (int)srv->limits.idle_timeout_ms;
		srv->handler(srv, conn, srv->arg);
		ferry_conn_close(conn);
		pthread_mutex_lock(&srv->lock);
		srv->connections--;
		pthread_mutex_unlock(&srv->lock);
	}
	pthread_mutex_lock(&srv->lock);
	srv->threads--;
	pthread_cond_broadcast(&srv->idle);
	pthread_mutex_unlock(&srv->lock);
	free(job);
	return NULL;
}

static void accept_one(struct ferry_server *srv)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	struct conn_job *job;
	const char *refused;
	pthread_attr_t attr;
	pthread_t th;
	uint32_t addr;
	int fd = accept4(srv->listen_fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	addr = ntohl(sa.sin_addr.s_addr);
	pthread_mutex_lock(&srv->lock);
	refused = admit(srv, source_get(srv, addr, ferry_now_ms()), ferry_now_ms());
	pthread_mutex_unlock(&srv->lock);
	if (refused) {
		/* Closed before any TLS byte: costs the server almost nothing. */
		struct in_addr ia = { .s_addr = htonl(addr) };
		char text[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &ia, text, sizeof(text));
		log_debug("refused %s before the handshake: %s", text, refused);
		close(fd);
		return;
	}
	job = malloc(sizeof(*job));
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	if (job) {
		job->srv = srv;
		job->fd = fd;
		job->addr = addr;
	}
	int pc = job ? pthread_create(&th, &attr, conn_thread, job) : ENOMEM;
	if (pc != 0) {
		log_error("cannot start a connection thread: %s", strerror(pc));
		free(job);
		close(fd);
		pthread_mutex_lock(&srv->lock);
		struct ferry_source *s = source_get(srv, addr, ferry_now_ms());
		if (s && s->handshakes)
			s->handshakes--;
		srv->handshakes--;
		srv->threads--;
		pthread_mutex_unlock(&srv->lock);
	}
	pthread_attr_destroy(&attr);
}

int ferry_server_run(struct ferry_server *srv)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = srv->listen_fd, .events = POLLIN },
			               { .fd = srv->stop_fd, .events = POLLIN } };

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[1].revents)
			break;
		if (p[0].revents)
			accept_one(srv);
	}
	close(srv->listen_fd);
	srv->listen_fd = -1;
	/* Connection threads see their deadlines; wait for them (bounded by the longest deadline). */
	pthread_mutex_lock(&srv->lock);
	while (srv->threads > 0)
		pthread_cond_wait(&srv->idle, &srv->lock);
	pthread_mutex_unlock(&srv->lock);
	return 0;
}

bool ferry_server_stopping(const struct ferry_server *srv)
{
	return __atomic_load_n(&srv->stopping, __ATOMIC_SEQ_CST) != 0;
}

void ferry_server_stop(struct ferry_server *srv)
{
	uint64_t one = 1;

	__atomic_store_n(&srv->stopping, 1, __ATOMIC_SEQ_CST);
	if (srv->stop_fd >= 0 && write(srv->stop_fd, &one, sizeof(one)) < 0)
		return;
}

void ferry_server_destroy(struct ferry_server *srv)
{
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->stop_fd >= 0)
		close(srv->stop_fd);
	pthread_mutex_destroy(&srv->lock);
	pthread_cond_destroy(&srv->idle);
}

static void *accept_thread(void *arg)
{
	ferry_server_run(arg);
	return NULL;
}

int ferry_server_start(struct ferry_server *srv, const char *hostport, SSL_CTX *ctx,
                       const struct ferry_server_limits *limits, ferry_server_handler_fn handler, void *arg,
                       struct ferry_err *err)
{
	int r = ferry_server_init(srv, hostport, ctx, limits, handler, arg, err);

	if (r < 0)
		return r;
	if (pthread_create(&srv->thread, NULL, accept_thread, srv) != 0) {
		ferry_server_destroy(srv);
		return ferry_err_set(err, -EAGAIN, "cannot start the server thread");
	}
	srv->started = true;
	return 0;
}

void ferry_server_shutdown(struct ferry_server *srv)
{
	if (!srv->started)
		return;
	ferry_server_stop(srv);
	pthread_join(srv->thread, NULL);
	ferry_server_destroy(srv);
	srv->started = false;
}
