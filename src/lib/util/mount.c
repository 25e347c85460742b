/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "ferry/buf.h"
#include "ferry/fs.h"
#include "ferry/mount.h"

#define MOUNTINFO_MAX (4 * 1024 * 1024)

void ferry_mountinfo_unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

static int by_depth_desc(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t lx = strlen(x), ly = strlen(y);

	return lx < ly ? 1 : lx > ly ? -1 : strcmp(x, y);
}

int ferry_mounts_under(const char *mountinfo, const char *prefix, char **ret, size_t max)
{
	size_t plen = strlen(prefix), n = 0;
	const char *line = mountinfo;

	while (plen > 1 && prefix[plen - 1] == '/')
		plen--;
	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char buf[4096], mp[PATH_MAX];

		if (len < sizeof(buf)) {
			memcpy(buf, line, len);
			buf[len] = '\0';
			if (sscanf(buf, "%*s %*s %*s %*s %4095s", mp) == 1) {
				ferry_mountinfo_unescape(mp);
				if (strncmp(mp, prefix, plen) == 0 && (mp[plen] == '\0' || mp[plen] == '/')) {
					if (n == max) {
						ferry_mounts_free(ret, n);
						return -E2BIG;
					}
					ret[n] = strdup(mp);
					if (!ret[n]) {
						ferry_mounts_free(ret, n);
						return -ENOMEM;
					}
					n++;
				}
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	qsort(ret, n, sizeof(ret[0]), by_depth_desc);
	return (int)n;
}

void ferry_mounts_free(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(paths[i]);
		paths[i] = NULL;
	}
}

int ferry_umount_tree(const char *prefix, struct ferry_err *err)
{
	/* Stacked mounts on one point need one umount each: a few passes. */
	for (int pass = 0; pass < 8; pass++) {
		struct ferry_buf b = FERRY_BUF_INIT(MOUNTINFO_MAX);
		char *paths[FERRY_MOUNTS_MAX];
		int n, r;

		r = ferry_read_file("/proc/self/mountinfo", MOUNTINFO_MAX, &b, err);
		if (r < 0) {
			ferry_buf_free(&b);
			return r;
		}
		n = ferry_mounts_under(b.data ? b.data : "", prefix, paths, FERRY_MOUNTS_MAX);
		ferry_buf_free(&b);
		if (n < 0)
			return ferry_err_set(err, n, "cannot list mounts under %s", prefix);
		if (n == 0)
			return 0;
		for (int i = 0; i < n; i++) {
			if (umount2(paths[i], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) {
				r = ferry_err_sys(err, -errno, "cannot unmount %s", paths[i]);
				ferry_mounts_free(paths, (size_t)n);
				return r;
			}
		}
		ferry_mounts_free(paths, (size_t)n);
	}
	return ferry_err_set(err, -EBUSY, "mounts under %s remain after repeated unmounting", prefix);
}

int ferry_mount_private_tmpfs(const char *path, unsigned size_mb, struct ferry_err *err)
{
	char opts[64];

	snprintf(opts, sizeof(opts), "mode=0700,size=%um", size_mb);
	if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0)
		return ferry_err_sys(err, -errno, "cannot mount tmpfs on %s", path);
	return 0;
}
