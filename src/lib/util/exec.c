/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/exec.h"

int ferry_netns_enter(const char *name, struct ferry_err *err)
{
	char path[256];
	int fd, r;

	/* A name under /run/netns, or an absolute path to a bind-mounted namespace. */
	if (name[0] == '/'
	        ? snprintf(path, sizeof(path), "%s", name) >= (int)sizeof(path)
	        : strchr(name, '/') || snprintf(path, sizeof(path), "/run/netns/%s", name) >= (int)sizeof(path))
		return ferry_err_set(err, -EINVAL, "network namespace name '%s' is not valid", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ferry_err_sys(err, -errno, "cannot open network namespace %s", path);
	r = setns(fd, CLONE_NEWNET);
	r = r < 0 ? -errno : 0;
	close(fd);
	if (r < 0)
		return ferry_err_sys(err, r, "cannot enter network namespace %s", name);
	return 0;
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* In the child: never returns. */
static void child_exec(const char *const argv[], const struct ferry_exec_opts *opts, int out_w, int err_w, int in_r)
{
	int devnull = in_r >= 0 ? in_r : open("/dev/null", O_RDONLY | O_CLOEXEC);

	setpgid(0, 0);
	if (devnull >= 0)
		dup2(devnull, STDIN_FILENO);
	if (opts->use_stdio_fd) {
		dup2(opts->stdio_fd, STDOUT_FILENO);
		dup2(opts->stdio_fd, STDERR_FILENO);
	} else {
		dup2(out_w, STDOUT_FILENO);
		dup2(opts->merge_stderr ? out_w : err_w, STDERR_FILENO);
	}
	if (opts->netns && ferry_netns_enter(opts->netns, NULL) < 0) {
		dprintf(STDERR_FILENO, "cannot enter network namespace %s\n", opts->netns);
		_exit(127);
	}
	/* Helpers must not inherit our blocked signals (signalfd users block them). */
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	execvp(argv[0], (char *const *)argv);
	dprintf(STDERR_FILENO, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static int drain(int fd, struct ferry_buf *b)
{
	char chunk[4096];
	ssize_t n = read(fd, chunk, sizeof(chunk));

	if (n > 0) {
		/* Past the cap, keep reading (so the child never blocks) but drop. */
		(void)ferry_buf_append(b, chunk, (size_t)n);
		return 1;
	}
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	return 0; /* EOF or error: stop polling this fd */
}

int ferry_exec(const char *const argv[], const struct ferry_exec_opts *opts, struct ferry_exec_result *ret,
               struct ferry_err *err)
{
	int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 }, in_pipe[2] = { -1, -1 }, pidfd = -1, r = 0, wstatus = 0;
	long long deadline;
	pid_t pid;

	memset(ret, 0, sizeof(*ret));
	ret->out.max = FERRY_EXEC_OUTPUT_MAX;
	ret->errout.max = FERRY_EXEC_OUTPUT_MAX;
	if (opts->timeout_ms <= 0)
		return ferry_err_set(err, -EINVAL, "running %s: a positive timeout is required", argv[0]);
	/* Only our read ends are non-blocking: the child's stdout must block as usual. */
	if ((pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0 ||
	     fcntl(out_pipe[0], F_SETFL, O_NONBLOCK) < 0 || fcntl(err_pipe[0], F_SETFL, O_NONBLOCK) < 0)) {
		r = ferry_err_sys(err, -errno, "running %s: pipe", argv[0]);
		goto out;
	}
	/* Input (a secret, say) goes through a pipe, never argv: argv is visible to every local user. */
	if (opts->input) {
		size_t n = strlen(opts->input);

		if (n > 65536 || pipe2(in_pipe, O_CLOEXEC) < 0 || write(in_pipe[1], opts->input, n) != (ssize_t)n) {
			r = ferry_err_set(err, -EIO, "running %s: cannot pass its input", argv[0]);
			goto out;
		}
		close(in_pipe[1]);
		in_pipe[1] = -1;
	}
	pid = fork();
	if (pid < 0) {
		r = ferry_err_sys(err, -errno, "running %s: fork", argv[0]);
		goto out;
	}
	if (pid == 0)
		child_exec(argv, opts, out_pipe[1], err_pipe[1], in_pipe[0]);
	setpgid(pid, pid); /* also in the parent: no race with the kill below */
	close(out_pipe[1]);
	close(err_pipe[1]);
	out_pipe[1] = err_pipe[1] = -1;
	pidfd = pidfd_open_(pid);
	if (pidfd < 0) {
		r = ferry_err_sys(err, -errno, "running %s: pidfd_open", argv[0]);
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto out;
	}
	deadline = ferry_now_ms() + opts->timeout_ms;
	for (;;) {
		struct pollfd pfd[3] = {
			{ .fd = pidfd, .events = POLLIN },
			{ .fd = out_pipe[0], .events = POLLIN },
			{ .fd = err_pipe[0], .events = POLLIN },
		};
		long long left = deadline - ferry_now_ms();
		int n;

		if (left <= 0) {
			kill(-pid, SIGKILL);
			waitpid(pid, NULL, 0);
			ret->timed_out = true;
			r = ferry_err_set(err, -ETIMEDOUT, "%s did not finish within %d ms and was killed", argv[0],
			                  opts->timeout_ms);
			goto out;
		}
		n = poll(pfd, 3, (int)(left > 1000 ? 1000 : left));
		if (n < 0 && errno != EINTR) {
			r = ferry_err_sys(err, -errno, "running %s: poll", argv[0]);
			kill(-pid, SIGKILL);
			waitpid(pid, NULL, 0);
			goto out;
		}
		if (pfd[1].revents && !drain(out_pipe[0], &ret->out)) {
			close(out_pipe[0]);
			out_pipe[0] = -1;
		}
		if (pfd[2].revents && !drain(err_pipe[0], &ret->errout)) {
			close(err_pipe[0]);
			err_pipe[0] = -1;
		}
		/* Exit counts once both pipes are at EOF (output may lag the exit). */
		if (pfd[0].revents && out_pipe[0] < 0 && err_pipe[0] < 0)
			break;
		if (pfd[0].revents) {
			/* Exited but pipes still open (a grandchild holds them): stop waiting for them. */
			int more = 0;
			if (out_pipe[0] >= 0)
				more |= drain(out_pipe[0], &ret->out);
			if (err_pipe[0] >= 0)
				more |= drain(err_pipe[0], &ret->errout);
			if (!more)
				break;
		}
	}
	if (waitpid(pid, &wstatus, 0) < 0) {
		r = ferry_err_sys(err, -errno, "running %s: waitpid", argv[0]);
		goto out;
	}
	ret->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
out:
	for (int i = 0; i < 2; i++) {
		if (out_pipe[i] >= 0)
			close(out_pipe[i]);
		if (err_pipe[i] >= 0)
			close(err_pipe[i]);
		if (in_pipe[i] >= 0)
			close(in_pipe[i]);
	}
	if (pidfd >= 0)
		close(pidfd);
	return r;
}

/* Last non-empty line of s, trimmed, into buf. */
static const char *last_line(const struct ferry_buf *b, char *buf, size_t len)
{
	const char *s = b->data ? b->data : "";
	const char *end = s + strlen(s), *start;

	while (end > s && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	start = end;
	while (start > s && start[-1] != '\n')
		start--;
	snprintf(buf, len, "%.*s", (int)(end - start), start);
	return buf;
}

int ferry_exec_ok(const char *const argv[], const struct ferry_exec_opts *opts, struct ferry_err *err)
{
	struct ferry_exec_result res;
	char cmd[256] = "", line[256];
	size_t used = 0;
	int r;

	for (size_t i = 0; argv[i] && used < sizeof(cmd) - 1; i++) {
		int n = snprintf(cmd + used, sizeof(cmd) - used, "%s%s", i ? " " : "", argv[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	r = ferry_exec(argv, opts, &res, err);
	if (r < 0) {
		ferry_exec_result_free(&res);
		return r;
	}
	if (res.status != 0) {
		last_line(res.errout.len ? &res.errout : &res.out, line, sizeof(line));
		r = ferry_err_set(err, -EIO, "'%s' failed (exit %d)%s%s", cmd, res.status, line[0] ? ": " : "", line);
	}
	ferry_exec_result_free(&res);
	return r;
}

void ferry_exec_result_free(struct ferry_exec_result *r)
{
	ferry_buf_free(&r->out);
	ferry_buf_free(&r->errout);
}

int ferry_in_netns(const char *ns_path, int (*fn)(void *arg), void *arg, unsigned timeout_s)
{
	int status = 0, fd = open(ns_path, O_RDONLY | O_CLOEXEC);
	pid_t child;

	if (fd < 0)
		return -errno;
	child = fork();
	if (child == 0) {
		alarm(timeout_s); /* nothing here may hang the caller */
		_exit(setns(fd, CLONE_NEWNET) < 0 ? 2 : fn(arg));
	}
	close(fd);
	if (child < 0)
		return -errno;
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}
