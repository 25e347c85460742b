/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_DAEMON_MAIN_H
#define FERRY_DAEMON_MAIN_H

/*
 * What ferryd and ferry-controller share today: argument checking, the state
 * directory, the locked pid file and a signalfd-driven main loop.  The
 * daemons' real work (the trust layer, the migration engine, the controller's
 * API) plugs into this loop in later layers; see docs/ARCHITECTURE.md.
 */

#include <stdbool.h>

#include "ferry/err.h"

struct ferry_daemon_config {
	const char *prog;       /* "ferryd" or "ferry-controller" */
	const char *name;       /* node name */
	const char *state_dir;  /* absolute; created 0700 */
	const char *address;    /* this node's fabric address */
	const char *controller; /* controller address (ferryd only), or NULL */
	const char *pid_file;   /* default: <state_dir>/daemon.pid */
	bool wants_controller;  /* accept --controller */
	bool wants_dry_run;     /* accept --dry-run (the controller's manager) */
	bool dry_run;
	const char *config; /* --config FILE of limits, or NULL */
	const char *listen; /* --listen a.b.c.d:port, or NULL for the default */
};

/*
 * What a daemon runs: start() after the pid file is locked (bind, spawn
 * threads; fail = exit 1), stop() when a stop signal arrives.  The pid is
 * published only after start() succeeded.
 */
struct ferry_daemon_service {
	int (*start)(const struct ferry_daemon_config *cfg, void *arg, struct ferry_err *err);
	void (*stop)(void *arg);
	void *arg;
};

/* Parse argv into cfg (prints usage/errors); returns 0, or the exit code to use. */
int ferry_daemon_parse_args(int argc, char **argv, struct ferry_daemon_config *cfg, const char *summary);

/* Run until SIGTERM or SIGINT; returns the process exit code. svc may be NULL. */
int ferry_daemon_run(const struct ferry_daemon_config *cfg, const struct ferry_daemon_service *svc);

#endif
