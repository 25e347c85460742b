/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_SERVER_H
#define FERRY_SERVER_H

/*
 * A TLS server with Ferry's availability limits.  Before authentication:
 * caps on concurrent handshakes (global and per source address), token
 * buckets for new handshakes (global and per source), a handshake deadline,
 * and a penalty box that turns away a source after repeated failures.  After
 * authentication: a cap on live connections.  A thread per connection runs
 * the handler; the accept loop never blocks on a peer.
 */

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ferry/channel.h"
#include "ferry/fabric.h"

#define FERRY_MAX_STREAMS 64

struct ferry_server_limits {
	unsigned max_handshakes; /* concurrent pre-auth connections, all sources */
	unsigned max_handshakes_per_source;
	unsigned handshake_timeout_ms;
	unsigned handshakes_per_sec; /* global token bucket refill */
	unsigned handshakes_per_sec_per_source;
	unsigned penalty_failures;     /* failed handshakes from a source before ... */
	unsigned penalty_ms;           /* ... it is turned away for this long */
	unsigned max_connections;      /* authenticated connections */
	unsigned idle_timeout_ms;      /* one frame's deadline on an authenticated connection */
	unsigned max_streams;          /* concurrent incoming migration streams (ferryd) */
	unsigned max_streams_per_peer; /* the same, per source node */
	/* controller policy: may migrations use post-copy (a source lost mid-way loses the container)? */
	bool allow_postcopy;
};

void ferry_server_limits_default(struct ferry_server_limits *l);
/* Set one limit by its name (the config key); -EINVAL names the known keys. */
int ferry_server_limits_set(struct ferry_server_limits *l, const char *key, const char *value, struct ferry_err *err);

/* Read "key = value" lines ('#' comments) into l (pure; for files and fuzzing). */
int ferry_server_limits_parse(struct ferry_server_limits *l, const char *text, struct ferry_err *err);
/*
 * A daemon's --config file: limits, and with f the fabric keys too
 * (ferry/fabric.h); checked as a whole.  Pure parse for files and fuzzing;
 * load reads path (NULL: defaults).  Errors name the line and the key.
 */
int ferry_config_parse(const char *text, struct ferry_server_limits *l, struct ferry_fabric *f, struct ferry_err *err);
int ferry_config_load(const char *path, struct ferry_server_limits *l, struct ferry_fabric *f, struct ferry_err *err);

/* A daemon's own keys beyond the limits and the fabric (the controller's manager keys). */
struct ferry_config_keys {
	bool (*is_key)(const char *key);
	int (*set)(void *arg, const char *key, const char *value, struct ferry_err *err);
	void *arg;
	const char *names; /* for the unknown-key error: "a manager key (policy, ...)" */
};

/*
 * ferry_config_load with more keys (NULL: none), and "include = PATH" in the
 * file given (not in an included one): the included file's lines are read
 * there, and its errors name it and its line.
 */
int ferry_config_load_with(const char *path, struct ferry_server_limits *l, struct ferry_fabric *f,
                           const struct ferry_config_keys *more, struct ferry_err *err);
/* The pure parse of one file's text with more keys (no include: that reads files); for fuzzing. */
int ferry_config_parse_with(const char *text, struct ferry_server_limits *l, struct ferry_fabric *f,
                            const struct ferry_config_keys *more, struct ferry_err *err);

struct ferry_server;
/* Runs in the connection's thread after a successful handshake; the server closes conn afterwards. */
typedef void (*ferry_server_handler_fn)(struct ferry_server *srv, struct ferry_conn *conn, void *arg);

#define FERRY_SOURCES_MAX 512

struct ferry_source {
	uint32_t addr;
	unsigned handshakes; /* in flight */
	unsigned failures;
	long long penalty_until_ms;
	double tokens;
	long long refilled_ms;
	long long last_seen_ms;
};

struct ferry_server {
	int listen_fd;
	int stop_fd; /* eventfd */
	SSL_CTX *ctx;
	struct ferry_server_limits limits;
	ferry_server_handler_fn handler;
	void *arg;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	unsigned handshakes, connections, threads;
	double tokens;
	long long refilled_ms;
	struct ferry_source sources[FERRY_SOURCES_MAX];
	unsigned n_sources;
	volatile int stopping;
	pthread_t thread; /* of ferry_server_start */
	bool started;
	/* Counters for logs and tests. */
	uint64_t refused_cap, refused_rate, refused_penalty, failed_handshakes;
};

/* Listen on "a.b.c.d:port". */
int ferry_server_init(struct ferry_server *srv, const char *hostport, SSL_CTX *ctx,
                      const struct ferry_server_limits *limits, ferry_server_handler_fn handler, void *arg,
                      struct ferry_err *err);
/* Init, then run the accept loop in a thread of its own (the daemons' way). */
int ferry_server_start(struct ferry_server *srv, const char *hostport, SSL_CTX *ctx,
                       const struct ferry_server_limits *limits, ferry_server_handler_fn handler, void *arg,
                       struct ferry_err *err);
/* Undo ferry_server_start: stop accepting, wait for every connection thread, free. Accepts a never-started server. */
void ferry_server_shutdown(struct ferry_server *srv);

/* Accept until ferry_server_stop(); then wait for connection threads to end. */
int ferry_server_run(struct ferry_server *srv);
void ferry_server_stop(struct ferry_server *srv);
/* True once ferry_server_stop() was called: handlers' check callbacks end their loops. */
bool ferry_server_stopping(const struct ferry_server *srv);
void ferry_server_destroy(struct ferry_server *srv);

#endif
