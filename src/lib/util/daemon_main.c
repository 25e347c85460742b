/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "daemon"
#include "ferry/daemon.h"
#include "ferry/daemon_main.h"
#include "ferry/fs.h"
#include "ferry/log.h"
#include "ferry/parse.h"
#include "ferry/topology.h"

static void usage(FILE *out, const struct ferry_daemon_config *cfg, const char *summary)
{
	fprintf(out,
	        "Usage: %s --name NAME --state-dir DIR [--address ADDR]%s [--listen A.B.C.D:PORT]\n"
	        "       [--config FILE] [--pid-file FILE] [--log-level LEVEL]%s\n\n"
	        "%s\n\n"
	        "  --name NAME        this node's name (a-z, 0-9, '-'; up to %d)\n"
	        "  --state-dir DIR    absolute path of the node's state directory (created 0700)\n"
	        "  --address ADDR     this node's IPv4 address on the cluster fabric\n"
	        "%s"
	        "  --listen ADDR:PORT where to serve (default: --address, or what the state directory says)\n"
	        "  --config FILE      one 'key = value' per line: limits and fabric keys (docs/PROTOCOL.md\n"
	        "                     section 8)%s\n"
	        "%s"
	        "  --pid-file FILE    pid file, locked while running (default DIR/daemon.pid)\n"
	        "  --log-level LEVEL  error, warn, info (default) or debug\n"
	        "  --version          print the version\n",
	        cfg->prog, cfg->wants_controller ? " [--controller ADDR]" : "",
	        cfg->wants_dry_run ? " [--dry-run]" : "", summary, FERRY_TOPO_NAME_MAX,
	        cfg->wants_controller ? "  --controller ADDR  the controller's IPv4 address\n" : "",
	        cfg->wants_dry_run
	            ? "\n                     and the migration manager's (docs/ARCHITECTURE.md, \"Decision loop\")"
	            : "",
	        cfg->wants_dry_run
	            ? "  --dry-run          the migration manager decides and records, and moves nothing\n"
	            : "");
}

int ferry_daemon_parse_args(int argc, char **argv, struct ferry_daemon_config *cfg, const char *summary)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },     { "state-dir", required_argument, NULL, 's' },
		{ "address", required_argument, NULL, 'a' },  { "controller", required_argument, NULL, 'c' },
		{ "pid-file", required_argument, NULL, 'p' }, { "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },           { "version", no_argument, NULL, 'V' },
		{ "config", required_argument, NULL, 'f' },   { "listen", required_argument, NULL, 'L' },
		{ "dry-run", no_argument, NULL, 'D' },        { 0 },
	};
	struct ferry_err err = { 0 };
	enum ferry_log_level level;
	uint32_t addr;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			cfg->name = optarg;
			break;
		case 's':
			cfg->state_dir = optarg;
			break;
		case 'a':
			cfg->address = optarg;
			break;
		case 'c':
			if (!cfg->wants_controller) {
				fprintf(stderr, "%s: --controller is not an option of %s\n", cfg->prog, cfg->prog);
				return 2;
			}
			cfg->controller = optarg;
			break;
		case 'p':
			cfg->pid_file = optarg;
			break;
		case 'D':
			if (!cfg->wants_dry_run) {
				fprintf(stderr, "%s: --dry-run is not an option of %s\n", cfg->prog, cfg->prog);
				return 2;
			}
			cfg->dry_run = true;
			break;
		case 'f':
			cfg->config = optarg;
			break;
		case 'L':
			cfg->listen = optarg;
			break;
		case 'l':
			if (ferry_log_parse_level(optarg, &level) < 0) {
				fprintf(stderr, "%s: log level '%.32s' is not one of error, warn, info, debug\n",
				        cfg->prog, optarg);
				return 2;
			}
			ferry_log_set_level(level);
			break;
		case 'h':
			usage(stdout, cfg, summary);
			return -1;
		case 'V':
			printf("%s %s\n", cfg->prog, FERRY_VERSION);
			return -1;
		default:
			fprintf(stderr, "See '%s --help'.\n", cfg->prog);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%.64s'\n", cfg->prog, argv[optind]);
		return 2;
	}
	if (!cfg->name || !cfg->state_dir) {
		fprintf(stderr, "%s: --name and --state-dir are required; see '%s --help'\n", cfg->prog, cfg->prog);
		return 2;
	}
	if (ferry_check_name(cfg->name, FERRY_TOPO_NAME_MAX, "node", &err) < 0 ||
	    (cfg->address && ferry_parse_ipv4(cfg->address, &addr, &err) < 0) ||
	    (cfg->controller && ferry_parse_ipv4(cfg->controller, &addr, &err) < 0)) {
		fprintf(stderr, "%s: %s\n", cfg->prog, err.msg);
		return 2;
	}
	if (cfg->state_dir[0] != '/' || strlen(cfg->state_dir) >= PATH_MAX - 64) {
		fprintf(stderr, "%s: --state-dir '%.64s' must be an absolute path\n", cfg->prog, cfg->state_dir);
		return 2;
	}
	return 0;
}

int ferry_daemon_run(const struct ferry_daemon_config *cfg, const struct ferry_daemon_service *svc)
{
	char pid_path[PATH_MAX];
	struct ferry_err err = { 0 };
	int pid_fd, sfd, code = 0;

	if (ferry_mkdir_p(cfg->state_dir, 0700, &err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	snprintf(pid_path, sizeof(pid_path), "%s", cfg->pid_file ? cfg->pid_file : "");
	if (!cfg->pid_file)
		snprintf(pid_path, sizeof(pid_path), "%s/daemon.pid", cfg->state_dir);
	/* Block signals before the pid file announces us: a stop request is never lost. */
	sfd = ferry_daemon_signalfd(&err);
	if (sfd < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	pid_fd = ferry_pidfile_acquire(pid_path, &err);
	if (pid_fd < 0) {
		log_error("%s", err.msg);
		close(sfd);
		return 1;
	}
	if (svc && svc->start(cfg, svc->arg, &err) < 0) {
		log_error("%s", err.msg);
		unlink(pid_path);
		close(pid_fd);
		close(sfd);
		return 1;
	}
	if (ferry_pidfile_publish(pid_fd, pid_path, &err) < 0) {
		log_error("%s", err.msg);
		code = 1;
		goto stop;
	}
	log_info("%s started: name=%s state_dir=%s address=%s controller=%s pid=%d", cfg->prog, cfg->name,
	         cfg->state_dir, cfg->address ? cfg->address : "-", cfg->controller ? cfg->controller : "-",
	         (int)getpid());
	for (;;) {
		struct pollfd p = { .fd = sfd, .events = POLLIN };
		int sig;

		if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll failed: %s", strerror(errno));
			code = 1;
			break;
		}
		sig = ferry_daemon_read_signal(sfd);
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("%s stopping on signal %d", cfg->prog, sig);
			break;
		}
		if (sig == SIGHUP)
			log_info("%s: SIGHUP (nothing to reload yet)", cfg->prog);
	}
stop:
	if (svc && svc->stop)
		svc->stop(svc->arg);
	unlink(pid_path);
	close(pid_fd);
	close(sfd);
	return code;
}
