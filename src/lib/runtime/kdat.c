/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CRIU probes the kernel at the start of every run (about 40 ms here:
 * sockets, userfaultfd, iptables, ...) and keeps what it found in
 * /run/criu.kdat, but only when /run is a tmpfs, so that the cache cannot
 * outlive a reboot into another kernel.  Where /run is not a tmpfs, every
 * dump, restore and lazy-pages daemon probes again: four times on the
 * freeze path of one post-copy migration.
 *
 * This makes the cache CRIU would have made itself: `criu check` runs in a
 * private mount namespace with a tmpfs on /run, its cache is copied into a
 * directory that is on a tmpfs too, and /run/criu.kdat becomes a link to
 * that copy.  A reboot empties the tmpfs; CRIU then finds a dangling link,
 * probes as it did before and never reads a stale cache.  A real
 * /run/criu.kdat (a regular file) is never touched.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/runtime.h"

#define KDAT_LINK    "/run/criu.kdat"
#define KDAT_NAME    "criu.kdat"
#define KDAT_MAX     (64 * 1024) /* CRIU's cache is under 1 KiB */
#define KDAT_WAIT_MS 20000

/* Nothing to do, and why: the reason goes where an error's message would. */
static int not_needed(struct ferry_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int not_needed(struct ferry_err *err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = 0;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return 1;
}

static bool on_tmpfs(const char *path)
{
	struct statfs s;

	return statfs(path, &s) == 0 && s.f_type == TMPFS_MAGIC;
}

/* In the child: run `criu check` with a tmpfs on /run, copy its cache into dirfd. */
static int probe_in_private_run(int dirfd)
{
	char buf[KDAT_MAX];
	ssize_t n;
	pid_t pid;
	int fd, out, status;

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=1m,mode=0755") < 0)
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		close_range(3, ~0U, 0);
		execlp("criu", "criu", "check", (char *)NULL);
		_exit(127);
	}
	/* Its verdict on features does not matter: the cache is written before the checks. */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	fd = open(KDAT_LINK, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 2;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0 || n == (ssize_t)sizeof(buf))
		return 2;
	out = openat(dirfd, KDAT_NAME ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0)
		return 3;
	if (write(out, buf, (size_t)n) != n) {
		close(out);
		unlinkat(dirfd, KDAT_NAME ".tmp", 0);
		return 3;
	}
	close(out);
	return renameat(dirfd, KDAT_NAME ".tmp", dirfd, KDAT_NAME) < 0 ? 3 : 0;
}

int ferry_criu_kdat_link(const char *dir, char *target, size_t target_len, struct ferry_err *err)
{
	static const char *const why[] = { NULL, "no private mount namespace with a tmpfs on /run",
		                           "criu check wrote no cache", "the cache could not be written" };
	long long deadline = ferry_now_ms() + KDAT_WAIT_MS;
	struct stat st;
	int dirfd, status = 0;
	pid_t pid, w;

	snprintf(target, target_len, "%s/%s", dir, KDAT_NAME);
	if (on_tmpfs("/run"))
		return not_needed(err, "%s is a tmpfs: CRIU keeps its own cache", "/run");
	if (lstat(KDAT_LINK, &st) == 0) {
		if (!S_ISLNK(st.st_mode))
			return not_needed(err, "%s exists already", KDAT_LINK);
		if (stat(KDAT_LINK, &st) == 0)
			return not_needed(err, "%s links to a cache already", KDAT_LINK);
		unlink(KDAT_LINK); /* dangling: a cache gone with its tmpfs */
	}
	if (!on_tmpfs(dir))
		return not_needed(err, "%s is not a tmpfs, and a cache there could outlive a reboot", dir);
	dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return ferry_err_sys(err, -errno, "cannot open %s", dir);
	pid = fork();
	if (pid < 0) {
		close(dirfd);
		return ferry_err_sys(err, -errno, "cannot fork to probe CRIU");
	}
	if (pid == 0) {
		setpgid(0, 0); /* so a deadline stops criu with it */
		_exit(probe_in_private_run(dirfd));
	}
	close(dirfd);
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 && ferry_now_ms() < deadline)
		usleep(10 * 1000);
	if (w != pid) {
		kill(-pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		return ferry_err_set(err, -ETIMEDOUT, "criu check did not finish within %d s", KDAT_WAIT_MS / 1000);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return ferry_err_set(err, -EIO, "cannot make CRIU's cache: %s",
		                     WIFEXITED(status) && WEXITSTATUS(status) < 4 ? why[WEXITSTATUS(status)]
		                                                                  : "the probe crashed");
	if (symlink(target, KDAT_LINK) < 0)
		return errno == EEXIST ? not_needed(err, "%s was linked by another daemon meanwhile", KDAT_LINK)
		                       : ferry_err_sys(err, -errno, "cannot link %s", KDAT_LINK);
	return 0;
}

void ferry_criu_kdat_unlink(const char *target)
{
	char now[PATH_MAX];
	ssize_t n = readlink(KDAT_LINK, now, sizeof(now) - 1);
	size_t len = strlen(target);

	if (n <= 0)
		return;
	now[n] = '\0';
	/* TARGET ending in '/' is a directory: any cache below it. */
	if (len && (target[len - 1] == '/' ? strncmp(now, target, len) == 0 : strcmp(now, target) == 0))
		unlink(KDAT_LINK);
}
