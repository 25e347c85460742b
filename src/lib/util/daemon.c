/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ferry/buf.h"
#include "ferry/daemon.h"
#include "ferry/fs.h"
#include "ferry/parse.h"

int ferry_pidfile_read(const char *path, pid_t *ret_pid, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(32);
	uint64_t v;
	int r;

	r = ferry_read_file(path, 32, &b, err);
	if (r < 0) {
		ferry_buf_free(&b);
		return r;
	}
	while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' '))
		b.data[--b.len] = '\0';
	r = ferry_parse_u64(b.data ? b.data : "", 1, 4194304, "pid", &v, err);
	ferry_buf_free(&b);
	if (r < 0)
		return ferry_err_wrap(err, "pid file %s", path);
	*ret_pid = (pid_t)v;
	return 0;
}

int ferry_pidfile_acquire(const char *path, struct ferry_err *err)
{
	pid_t other;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return ferry_err_sys(err, -errno, "cannot open pid file %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK && ferry_pidfile_read(path, &other, NULL) == 0)
			return ferry_err_set(err, -EBUSY, "another daemon (pid %d) holds %s", (int)other, path);
		if (e == EWOULDBLOCK)
			return ferry_err_set(err, -EBUSY, "another daemon holds %s", path);
		return ferry_err_sys(err, -e, "cannot lock pid file %s", path);
	}
	if (ftruncate(fd, 0) < 0) {
		int e = errno;

		close(fd);
		return ferry_err_sys(err, -e, "cannot truncate pid file %s", path);
	}
	return fd;
}

int ferry_pidfile_publish(int fd, const char *path, struct ferry_err *err)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%d\n", (int)getpid());

	if (pwrite(fd, text, (size_t)n, 0) != n || fsync(fd) < 0)
		return ferry_err_sys(err, -errno, "cannot write pid file %s", path);
	return 0;
}

int ferry_daemon_signalfd(struct ferry_err *err)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return ferry_err_sys(err, -errno, "cannot block signals");
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return ferry_err_sys(err, -errno, "cannot create signalfd");
	return fd;
}

int ferry_daemon_read_signal(int sfd)
{
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return -errno ? -errno : -EIO;
	return (int)si.ssi_signo;
}
