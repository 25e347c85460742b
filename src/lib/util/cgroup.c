/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/buf.h"
#include "ferry/cgroup.h"
#include "ferry/fs.h"
#include "ferry/mount.h"
#include "ferry/parse.h"

#define MOUNTINFO_MAX (4 * 1024 * 1024)

int ferry_cgroup2_mount_from_mountinfo(const char *mountinfo, char *ret_path, size_t len)
{
	char best[PATH_MAX] = "";
	const char *line = mountinfo;

	while (line && *line) {
		const char *eol = strchr(line, '\n'), *sep;
		char buf[4096], mp[PATH_MAX], fstype[64];
		size_t n = eol ? (size_t)(eol - line) : strlen(line);

		if (n < sizeof(buf)) {
			memcpy(buf, line, n);
			buf[n] = '\0';
			sep = strstr(buf, " - ");
			/* Fields: id parent major:minor root mountpoint ... - fstype source opts */
			if (sep && sscanf(buf, "%*s %*s %*s %*s %4095s", mp) == 1 &&
			    sscanf(sep + 3, "%63s", fstype) == 1 && strcmp(fstype, "cgroup2") == 0) {
				ferry_mountinfo_unescape(mp);
				/* A pure v2 host mounts it at /sys/fs/cgroup: prefer that one. */
				if (!best[0] || strcmp(mp, "/sys/fs/cgroup") == 0)
					snprintf(best, sizeof(best), "%s", mp);
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	if (!best[0] || strlen(best) >= len)
		return -ENOENT;
	memcpy(ret_path, best, strlen(best) + 1);
	return 0;
}

int ferry_cgroup2_root(char *ret_path, size_t len)
{
	struct ferry_buf b = FERRY_BUF_INIT(MOUNTINFO_MAX);
	int r = ferry_read_file("/proc/self/mountinfo", MOUNTINFO_MAX, &b, NULL);

	if (r == 0)
		r = ferry_cgroup2_mount_from_mountinfo(b.data ? b.data : "", ret_path, len);
	ferry_buf_free(&b);
	return r;
}

int ferry_cgroup_create(const char *rel, char *ret_path, size_t len, struct ferry_err *err)
{
	char root[PATH_MAX], path[PATH_MAX];
	int r;

	if (ferry_cgroup2_root(root, sizeof(root)) < 0)
		return ferry_err_set(err, -ENOENT, "this host has no cgroup2 hierarchy mounted");
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, rel) >= sizeof(path) || strlen(path) >= len)
		return ferry_err_set(err, -ENAMETOOLONG, "cgroup path too long: %s", rel);
	r = ferry_mkdir_p(path, 0755, err);
	if (r < 0)
		return r;
	memcpy(ret_path, path, strlen(path) + 1);
	return 0;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		r = -errno;
	close(fd);
	return r;
}

int ferry_cgroup_enter(const char *path, pid_t pid, struct ferry_err *err)
{
	char file[PATH_MAX], text[16];
	int r;

	snprintf(file, sizeof(file), "%s/cgroup.procs", path);
	snprintf(text, sizeof(text), "%d", (int)pid);
	r = write_str(file, text);
	if (r < 0)
		return ferry_err_sys(err, r, "cannot move pid %d into cgroup %s", (int)pid, path);
	return 0;
}

bool ferry_cgroup_contains(const char *rel, pid_t pid)
{
	struct ferry_buf b = FERRY_BUF_INIT(64 * 1024);
	char path[64], want[PATH_MAX];
	bool found = false;
	const char *p;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	snprintf(want, sizeof(want), "0::/%s", rel);
	n = strlen(want);
	if (ferry_read_file(path, 64 * 1024, &b, NULL) == 0 && b.data) {
		for (p = b.data; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
			if (strncmp(p, want, n) == 0 && (p[n] == '\n' || p[n] == '/' || p[n] == '\0')) {
				found = true;
				break;
			}
		}
	}
	ferry_buf_free(&b);
	return found;
}

/* Read cgroup.procs; returns the number of pids (killing each when kill_them). */
static int scan_procs(const char *path, bool kill_them)
{
	struct ferry_buf b = FERRY_BUF_INIT(1024 * 1024);
	char file[PATH_MAX];
	char *save = NULL;
	int count = 0;

	snprintf(file, sizeof(file), "%s/cgroup.procs", path);
	if (ferry_read_file(file, 1024 * 1024, &b, NULL) < 0) {
		ferry_buf_free(&b);
		return 0;
	}
	/* strtok_r: ferryd calls this from several threads. */
	for (char *tok = b.data ? strtok_r(b.data, "\n", &save) : NULL; tok; tok = strtok_r(NULL, "\n", &save)) {
		uint64_t pid;

		if (ferry_parse_u64(tok, 1, 4194304, "pid", &pid, NULL) < 0)
			continue;
		count++;
		if (kill_them)
			kill((pid_t)pid, SIGKILL);
	}
	ferry_buf_free(&b);
	return count;
}

int ferry_cgroup_pids(const char *rel, pid_t *pids, int max)
{
	struct ferry_buf b = FERRY_BUF_INIT(1024 * 1024);
	char root[PATH_MAX], file[PATH_MAX * 2];
	char *save = NULL;
	int n = 0;

	if (ferry_cgroup2_root(root, sizeof(root)) < 0)
		return 0;
	snprintf(file, sizeof(file), "%s/%s/cgroup.procs", root, rel);
	if (ferry_read_file(file, 1024 * 1024, &b, NULL) == 0 && b.data)
		for (char *tok = strtok_r(b.data, "\n", &save); tok && n < max; tok = strtok_r(NULL, "\n", &save)) {
			uint64_t pid;

			if (ferry_parse_u64(tok, 1, 4194304, "pid", &pid, NULL) == 0)
				pids[n++] = (pid_t)pid;
		}
	ferry_buf_free(&b);
	return n;
}

/*
 * A frozen process (a container paused mid-migration) dies of SIGKILL only
 * once thawed: thaw path and everything below it, by whichever freezer the
 * hierarchy has (v1 freezer.state, v2 cgroup.freeze).
 */
static void thaw_tree(const char *path)
{
	char file[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(file, sizeof(file), "%s/freezer.state", path);
	write_str(file, "THAWED");
	snprintf(file, sizeof(file), "%s/cgroup.freeze", path);
	write_str(file, "0");
	if (!(d = opendir(path)))
		return;
	while ((de = readdir(d))) {
		char sub[PATH_MAX];

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		thaw_tree(sub);
	}
	closedir(d);
}

int ferry_cgroup_destroy(const char *path, int timeout_ms, struct ferry_err *err)
{
	char file[PATH_MAX];
	long long deadline = ferry_now_ms() + timeout_ms;
	struct dirent *de;
	DIR *d;
	int r;

	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : ferry_err_sys(err, -errno, "cannot open cgroup %s", path);
	/* Children first: a cgroup with child cgroups cannot be removed. */
	while ((de = readdir(d))) {
		char sub[PATH_MAX];

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		r = ferry_cgroup_destroy(sub, timeout_ms, err);
		if (r < 0) {
			closedir(d);
			return r;
		}
	}
	closedir(d);
	thaw_tree(path);
	snprintf(file, sizeof(file), "%s/cgroup.kill", path);
	if (write_str(file, "1") < 0)
		scan_procs(path, true); /* kernels before 5.14 lack cgroup.kill */
	for (;;) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return ferry_err_sys(err, -errno, "cannot remove cgroup %s", path);
		if (ferry_now_ms() > deadline)
			return ferry_err_set(err, -EBUSY, "cgroup %s still has %d processes after %d ms", path,
			                     scan_procs(path, false), timeout_ms);
		scan_procs(path, true); /* a fork racing the kill */
		usleep(20 * 1000);
	}
}

int ferry_cgroup_destroy_everywhere(const char *rel, int timeout_ms, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(MOUNTINFO_MAX);
	int r = ferry_read_file("/proc/self/mountinfo", MOUNTINFO_MAX, &b, err);

	/* Two passes: a process frozen in one hierarchy outlives a kill through another. */
	for (int pass = 0; pass < 2; pass++) {
		for (char *line = b.data; r == 0 && line && *line;) {
			char *eol = strchr(line, '\n'), *sep, mp[PATH_MAX], fstype[64], path[PATH_MAX];

			sep = strstr(line, " - ");
			if (sep && (!eol || sep < eol) && sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 &&
			    sscanf(sep + 3, "%63s", fstype) == 1 &&
			    (strcmp(fstype, "cgroup") == 0 || strcmp(fstype, "cgroup2") == 0)) {
				ferry_mountinfo_unescape(mp);
				snprintf(path, sizeof(path), "%s/%s", mp, rel);
				if (pass == 0)
					thaw_tree(path);
				else
					r = ferry_cgroup_destroy(path, timeout_ms, err);
			}
			line = eol ? eol + 1 : NULL;
		}
	}
	ferry_buf_free(&b);
	return r;
}

/* Whether the comma-separated list has the option. */
static bool has_option(const char *list, const char *opt)
{
	size_t n = strlen(opt);

	for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, opt, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

/* 1: "yes" is in file; 0: "no" is; -ENOENT: neither, or no such file. */
static int file_says(const char *file, const char *yes, const char *no)
{
	struct ferry_buf b = FERRY_BUF_INIT(4096);
	int r = ferry_read_file(file, 4096, &b, NULL);

	if (r == 0)
		r = strstr(b.data, yes) ? 1 : strstr(b.data, no) ? 0 : -ENOENT;
	ferry_buf_free(&b);
	return r < 0 ? -ENOENT : r;
}

/*
 * The directory of rel in the hierarchy whose freezer a runtime uses: the
 * v1 freezer hierarchy where the host has one (hybrid hosts), else
 * cgroup2.  1: v1, 2: cgroup2, -ENOENT: no such group.
 */
static int freezer_dir(const char *rel, char *dir, size_t len)
{
	struct ferry_buf b = FERRY_BUF_INIT(MOUNTINFO_MAX);
	char file[PATH_MAX + 32];
	struct stat st;
	int r = ferry_read_file("/proc/self/mountinfo", MOUNTINFO_MAX, &b, NULL), kind = -ENOENT;

	for (char *line = b.data; r == 0 && kind < 0 && line && *line;) {
		char *eol = strchr(line, '\n'), *sep = strstr(line, " - "), mp[PATH_MAX], fstype[64], opts[512];

		if (sep && (!eol || sep < eol) && sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 &&
		    sscanf(sep + 3, "%63s %*s %511s", fstype, opts) == 2 && strcmp(fstype, "cgroup") == 0 &&
		    has_option(opts, "freezer")) {
			ferry_mountinfo_unescape(mp);
			snprintf(dir, len, "%s/%s", mp, rel);
			snprintf(file, sizeof(file), "%s/freezer.state", dir);
			kind = stat(file, &st) == 0 ? 1 : -ENOENT;
		}
		line = eol ? eol + 1 : NULL;
	}
	ferry_buf_free(&b);
	if (kind < 0 && ferry_cgroup2_root(dir, len) == 0) {
		size_t n = strlen(dir);

		snprintf(dir + n, len - n, "/%s", rel);
		snprintf(file, sizeof(file), "%s/cgroup.freeze", dir);
		kind = stat(file, &st) == 0 ? 2 : -ENOENT;
	}
	return kind;
}

int ferry_cgroup_frozen(const char *rel)
{
	char dir[PATH_MAX], file[PATH_MAX + 32];
	int kind = freezer_dir(rel, dir, sizeof(dir)), r;

	if (kind == 1) {
		/* FREEZING is not frozen either. */
		snprintf(file, sizeof(file), "%s/freezer.state", dir);
		r = file_says(file, "FROZEN", "THAWED");
		return r < 0 && file_says(file, "FROZEN", "FREEZING") == 0 ? 0 : r;
	}
	if (kind == 2) {
		snprintf(file, sizeof(file), "%s/cgroup.events", dir);
		return file_says(file, "frozen 1", "frozen 0");
	}
	return -ENOENT;
}

int ferry_cgroup_freeze(const char *rel, int timeout_ms, struct ferry_err *err)
{
	char dir[PATH_MAX], file[PATH_MAX + 32];
	long long deadline = ferry_now_ms() + timeout_ms;
	int kind = freezer_dir(rel, dir, sizeof(dir));

	if (kind < 0)
		return -ENOENT;
	snprintf(file, sizeof(file), "%s/%s", dir, kind == 1 ? "freezer.state" : "cgroup.freeze");
	/* v1 may stay FREEZING while a task is busy in the kernel: ask again until it is FROZEN. */
	do {
		int w = write_str(file, kind == 1 ? "FROZEN" : "1");

		if (w < 0)
			return ferry_err_sys(err, w, "cannot freeze %s", dir);
		if (ferry_cgroup_frozen(rel) == 1)
			return 0;
		usleep(1000);
	} while (ferry_now_ms() < deadline);
	write_str(file, kind == 1 ? "THAWED" : "0");
	return ferry_err_set(err, -ETIMEDOUT, "%s did not freeze within %d ms", dir, timeout_ms);
}
