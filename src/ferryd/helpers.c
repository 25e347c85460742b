/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small processes the node daemon starts and that must outlive it:
 *   log-pump  reads a container's output from stdin and appends it to its
 *             log file, rotating to log.1 past CT_LOG_MAX.  A pipe, not a
 *             file, is what CRIU can checkpoint (and runc re-plumbs).
 *   guard     holds a restored container hostage until the daemon reports
 *             it: a "c" on stdin releases it; end of file (the daemon died
 *             mid-restore) kills and removes it, so a source that thawed
 *             after losing its destination is never doubled.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "containers.h"
#include "ferry/cgroup.h"
#include "ferry/fs.h"
#include "ferry/mount.h"
#include "node.h"

int cmd_log_pump(int argc, char **argv)
{
	char buf[64 * 1024], old[PATH_MAX];
	struct stat st;
	ssize_t n;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "Usage: ferryd log-pump FILE (started by ferryd; stdin is a container's output)\n");
		return 2;
	}
	snprintf(old, sizeof(old), "%s.1", argv[1]);
	fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return 1;
	while ((n = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (write(fd, buf, (size_t)n) < 0 || fstat(fd, &st) < 0)
			break;
		/* The container's directory is gone (removed): stop writing into nothing. */
		if (st.st_nlink == 0)
			break;
		if (st.st_size > CT_LOG_MAX) {
			close(fd);
			rename(argv[1], old);
			fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
			if (fd < 0)
				return 1;
		}
	}
	close(fd);
	return 0;
}

int cmd_guard(int argc, char **argv)
{
	struct ferry_runtime rt = { 0 };
	struct ferry_err err = { 0 };
	char c = 0;
	ssize_t n;

	if (argc != 6) {
		fprintf(stderr, "Usage: ferryd guard RUNTIME ROOT ID CONTAINER_DIR CGROUP (started by ferryd)\n");
		return 2;
	}
	while ((n = read(STDIN_FILENO, &c, 1)) < 0 && errno == EINTR)
		;
	if (n == 1 && c == 'c')
		return 0;
	snprintf(rt.binary, sizeof(rt.binary), "%s", argv[1]);
	snprintf(rt.root, sizeof(rt.root), "%s", argv[2]);
	snprintf(rt.log, sizeof(rt.log), "/dev/null");
	fprintf(stderr, "ferryd guard: the daemon stopped before container '%s' was reported restored; removing it\n",
	        argv[3]);
	if (ferry_runtime_delete(&rt, argv[3], &err) < 0)
		fprintf(stderr, "ferryd guard: %s\n", err.msg);
	ferry_cgroup_destroy_everywhere(argv[5], 3000, NULL);
	ferry_umount_tree(argv[4], NULL);
	ferry_rm_tree(argv[4], NULL);
	return 0;
}
