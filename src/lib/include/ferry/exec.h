/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_EXEC_H
#define FERRY_EXEC_H

/*
 * Run a helper program (ip, tc, criu, runc) with a deadline.  No shell: argv
 * is passed as is.  Output is captured up to a cap; the child runs in its own
 * process group and the whole group is killed (SIGKILL) when the deadline
 * passes, so a hung helper never hangs Ferry (see CRIU lazy-pages hangs).
 */

#include <stdbool.h>
#include <stddef.h>

#include "ferry/buf.h"
#include "ferry/err.h"

#define FERRY_EXEC_OUTPUT_MAX (1024 * 1024)

struct ferry_exec_opts {
	int timeout_ms;    /* > 0; the child is killed after this */
	const char *netns; /* run inside this named netns (/run/netns/NAME) or at this absolute path, or NULL */
	bool merge_stderr; /* capture stderr into the stdout buffer */
	const char *input; /* written to the child's stdin (< 64 KiB), or NULL for /dev/null */
	/*
	 * Give the child this fd as stdout and stderr instead of capturing them
	 * (a container's log pipe, which outlives the helper).
	 */
	bool use_stdio_fd;
	int stdio_fd;
};

struct ferry_exec_result {
	int status; /* exit code, or 128+signal */
	bool timed_out;
	struct ferry_buf out;    /* captured stdout (and stderr if merged) */
	struct ferry_buf errout; /* captured stderr */
};

/*
 * Run argv[0] (looked up in PATH) and wait for it.  Returns 0 when the child
 * ran (whatever its exit status; see ret->status), < 0 when it could not be
 * started or timed out.  ret must be freed with ferry_exec_result_free.
 */
int ferry_exec(const char *const argv[], const struct ferry_exec_opts *opts, struct ferry_exec_result *ret,
               struct ferry_err *err);

/* Run and require exit 0; on failure err names the command and its stderr's last line. */
int ferry_exec_ok(const char *const argv[], const struct ferry_exec_opts *opts, struct ferry_err *err);

void ferry_exec_result_free(struct ferry_exec_result *r);

/*
 * Run fn(arg) in a child that joined the network namespace at ns_path and
 * return its exit status (0: success; 128: it died, also by the alarm of
 * timeout_s).  A child, because setns would move the caller's whole thread.
 */
int ferry_in_netns(const char *ns_path, int (*fn)(void *arg), void *arg, unsigned timeout_s);

/* Enter the named network namespace (/run/netns/NAME, or an absolute path) in this thread. */
int ferry_netns_enter(const char *name, struct ferry_err *err);

#endif
