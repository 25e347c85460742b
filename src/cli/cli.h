/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "ferry/err.h"

/* A verb (or sub-verb): { "doctor", cmd_doctor, "report what this host can do" }. */
struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

/* Exit codes: 0 ok, 1 failure, 2 bad usage (as wg, crun and most Unix tools). */
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE   2

int cmd_doctor(int argc, char **argv);
int cmd_cluster(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_node(int argc, char **argv);
int cmd_ticket(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_nodes(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_evacuate(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_alert(int argc, char **argv);
int cmd_mtd(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_quarantine_list(int argc, char **argv);

/* Find name in a table ending with a zeroed entry; NULL if absent. */
const struct cli_command *cli_find(const struct cli_command *table, const char *name);
/* Print "ferry: msg" to stderr; returns CLI_EXIT_FAILURE. */
int cli_fail(const struct ferry_err *err);
/* Print "ferry: <formatted>" plus a pointer to --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Path of a sibling program (ferryd, ferry-controller): env override, next to us, or in the build tree. */
int cli_find_program(const char *name, const char *env, char *ret, size_t len);

#endif
