/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/fs.h"

int ferry_read_file(const char *path, size_t max, struct ferry_buf *out, struct ferry_err *err)
{
	char chunk[8192];
	int fd, r = 0;

	ferry_buf_reset(out);
	out->max = max;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ferry_err_sys(err, -errno, "cannot open %s", path);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = ferry_err_sys(err, -errno, "cannot read %s", path);
			break;
		}
		if (n == 0)
			break;
		if (ferry_buf_append(out, chunk, (size_t)n) < 0) {
			r = ferry_err_set(err, -EFBIG, "%s is larger than %zu bytes", path, max);
			break;
		}
	}
	close(fd);
	return r;
}

int ferry_write_full(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t k = write(fd, b, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -ENOSPC;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

ssize_t ferry_read_full(int fd, void *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = read(fd, (uint8_t *)p + got, n - got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

int ferry_read_exact(int fd, void *p, size_t n, int timeout_ms)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t k;
		int r = poll(&pfd, 1, timeout_ms);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ETIMEDOUT;
		k = read(fd, (uint8_t *)p + got, n - got);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -ECONNRESET;
		got += (size_t)k;
	}
	return 0;
}

int ferry_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct ferry_err *err)
{
	char tmp[PATH_MAX];
	int fd, r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return ferry_err_set(err, -ENAMETOOLONG, "path too long: %s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return ferry_err_sys(err, -errno, "cannot create %s", tmp);
	if ((r = ferry_write_full(fd, data, len)) < 0)
		r = ferry_err_sys(err, r, "cannot write %s", tmp);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = ferry_err_sys(err, -errno, "cannot chmod %s", tmp);
	if (r == 0 && fsync(fd) < 0)
		r = ferry_err_sys(err, -errno, "cannot sync %s", tmp);
	if (close(fd) < 0 && r == 0)
		r = ferry_err_sys(err, -errno, "cannot close %s", tmp);
	if (r == 0 && rename(tmp, path) < 0)
		r = ferry_err_sys(err, -errno, "cannot rename %s to %s", tmp, path);
	if (r < 0)
		unlink(tmp);
	return r;
}

int ferry_mkdir_p(const char *path, mode_t mode, struct ferry_err *err)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return ferry_err_set(err, -ENAMETOOLONG, "bad directory path '%s'", path);
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;

			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return ferry_err_sys(err, -errno, "cannot create directory %s", buf);
			*p = saved;
			if (saved == '\0')
				break;
		}
	}
	return 0;
}

/* Remove the contents of the directory dfd (on device dev), then nothing else. */
static int rm_contents(int dfd, dev_t dev, const char *path, struct ferry_err *err)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int r = 0;

	if (!d) {
		close(dfd);
		return ferry_err_sys(err, -errno, "cannot list %s", path);
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			r = ferry_err_sys(err, -errno, "cannot stat %s/%s", path, de->d_name);
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			char sub[PATH_MAX];
			int cfd;

			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			if (st.st_dev != dev) {
				r = ferry_err_set(err, -EBUSY, "%s is a mount point; refusing to remove across it",
				                  sub);
				break;
			}
			cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0) {
				r = ferry_err_sys(err, -errno, "cannot open %s", sub);
				break;
			}
			r = rm_contents(cfd, dev, sub, err);
			if (r < 0)
				break;
			if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
				r = ferry_err_sys(err, -errno, "cannot remove %s", sub);
				break;
			}
		} else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
			r = ferry_err_sys(err, -errno, "cannot remove %s/%s", path, de->d_name);
			break;
		}
	}
	closedir(d);
	return r;
}

int ferry_rm_tree(const char *path, struct ferry_err *err)
{
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno == ENOTDIR || errno == ELOOP)
			return unlink(path) < 0 && errno != ENOENT
			           ? ferry_err_sys(err, -errno, "cannot remove %s", path)
			           : 0;
		return ferry_err_sys(err, -errno, "cannot open %s", path);
	}
	if (fstat(fd, &st) < 0) {
		r = ferry_err_sys(err, -errno, "cannot stat %s", path);
		close(fd);
		return r;
	}
	r = rm_contents(fd, st.st_dev, path, err);
	if (r < 0)
		return r;
	if (rmdir(path) < 0 && errno != ENOENT)
		return ferry_err_sys(err, -errno, "cannot remove %s", path);
	return 0;
}

uint64_t ferry_mem_available(void)
{
	struct ferry_buf b = FERRY_BUF_INIT(64 * 1024);
	unsigned long long kb = 0;
	const char *p;

	if (ferry_read_file("/proc/meminfo", 64 * 1024, &b, NULL) == 0 && b.data &&
	    (p = strstr(b.data, "MemAvailable:")))
		sscanf(p + 13, "%llu", &kb);
	ferry_buf_free(&b);
	return (uint64_t)kb * 1024;
}
