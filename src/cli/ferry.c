/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ferry: the operator's command line.  One verb per file, dispatched from this table. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct cli_command commands[] = {
	{ "doctor", cmd_doctor, "report what this host (or a cluster node) can do for migration, and why" },
	{ "cluster", cmd_cluster, "build, inspect, shape and remove a local multi-host cluster" },
	{ "token", cmd_token, "create a single-use join token for a node (through the controller's API)" },
	{ "node", cmd_node, "list the enrolled nodes, remove (revoke) one, or release one from quarantine" },
	{ "ticket", cmd_ticket, "have the controller sign a migration ticket" },
	{ "image", cmd_image, "import a root file system as an image, or list images" },
	{ "run", cmd_run, "start a container on a node" },
	{ "ps", cmd_ps, "list containers and their live state" },
	{ "logs", cmd_logs, "print a container's output" },
	{ "exec", cmd_exec, "run a command inside a container" },
	{ "stop", cmd_stop, "stop a container" },
	{ "rm", cmd_rm, "remove a container" },
	{ "nodes", cmd_nodes, "list nodes with their state, containers and memory" },
	{ "migrate", cmd_migrate, "move a container to another node (stop-copy or stateless)" },
	{ "evacuate", cmd_evacuate, "move every container off a node" },
	{ "history", cmd_history, "list past migrations and their metrics" },
	{ "audit", cmd_audit, "the controller's audit log; 'audit verify' checks its hash chain" },
	{ "policy", cmd_policy, "where the migration manager would move a container and why; its decisions" },
	{ "mtd", cmd_mtd, "move a container where moving-target defense draws (random, shamir, fountain)" },
	{ "snapshot", cmd_snapshot,
	  "a forensic snapshot of a running container, encrypted to the operator; inspect one" },
	{ "alert", cmd_alert, "report an intrusion alert to the controller, or list the alerts it took" },
	{ "version", cmd_version, "print the version" },
	{ "help", cmd_help, "show this help" },
	{ 0 },
};

const struct cli_command *cli_find(const struct cli_command *table, const char *name)
{
	for (; table->name; table++)
		if (strcmp(table->name, name) == 0)
			return table;
	return NULL;
}

int cli_fail(const struct ferry_err *err)
{
	fprintf(stderr, "ferry: %s\n", err->msg[0] ? err->msg : "failed");
	return CLI_EXIT_FAILURE;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("ferry: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nSee 'ferry %s --help'.\n", cmd);
	return CLI_EXIT_USAGE;
}

int cli_find_program(const char *name, const char *env, char *ret, size_t len)
{
	char self[PATH_MAX], cand[PATH_MAX + 64];
	const char *override = getenv(env);
	ssize_t n;
	char *slash;

	if (override && *override) {
		if (access(override, X_OK) < 0)
			return -errno;
		snprintf(ret, len, "%s", override);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -ENOENT;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	/* Installed (bin/ and sbin/), or the build tree (build/src/cli/ferry, build/src/ferryd/ferryd). */
	static const char *const dirs[] = { "", "/../sbin", "/../ferryd", "/../controller" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(cand, sizeof(cand), "%s%s/%s", self, dirs[i], name);
		if (access(cand, X_OK) == 0 && realpath(cand, self)) {
			snprintf(ret, len, "%s", self);
			return 0;
		}
	}
	return -ENOENT;
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: ferry COMMAND [ARGS...]\n\n"
	             "Ferry live-migrates running Linux containers between hosts, securely.\n\nCommands:\n");
	for (const struct cli_command *c = commands; c->name; c++)
		fprintf(out, "  %-10s %s\n", c->name, c->summary);
	fprintf(out, "\nRun 'ferry COMMAND --help' for a command's options.\n");
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("ferry %s\n", FERRY_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	usage(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const struct cli_command *c;

	/* A peer closing mid-write is an error to report, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(argc - 1, argv + 1);
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	c = cli_find(commands, argv[1]);
	if (!c) {
		fprintf(stderr, "ferry: unknown command '%.64s'; expected one of:", argv[1]);
		for (c = commands; c->name; c++)
			fprintf(stderr, " %s", c->name);
		fprintf(stderr, "\n");
		return CLI_EXIT_USAGE;
	}
	return c->run(argc - 1, argv + 1);
}
