/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ferry/daemon.h"
#include "ferry/fs.h"

static void test_files(void **state)
{
	char dir[] = "/tmp/ferry-test-fs.XXXXXX", path[PATH_MAX], outside[PATH_MAX], link[PATH_MAX];
	struct ferry_buf b = FERRY_BUF_INIT(16);
	struct ferry_err err = { 0 };
	struct stat st;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	assert_int_equal(ferry_mkdir_p(path, 0700, &err), 0);
	snprintf(path, sizeof(path), "%s/a/file", dir);
	assert_int_equal(ferry_write_file_atomic(path, "hello", 5, 0600, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(ferry_read_file(path, 16, &b, &err), 0);
	assert_string_equal(b.data, "hello");
	assert_int_equal(ferry_read_file(path, 4, &b, &err), -EFBIG);
	/* A symlink inside the tree to a file outside: removed, its target kept. */
	snprintf(outside, sizeof(outside), "%s-outside", dir);
	assert_int_equal(ferry_write_file_atomic(outside, "keep", 4, 0600, &err), 0);
	snprintf(link, sizeof(link), "%s/a/b/link", dir);
	assert_int_equal(symlink(outside, link), 0);
	assert_int_equal(ferry_rm_tree(dir, &err), 0);
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(access(outside, F_OK), 0);
	unlink(outside);
	assert_int_equal(ferry_rm_tree(dir, &err), 0); /* missing is fine */
	ferry_buf_free(&b);
}

static void test_pidfile(void **state)
{
	char dir[] = "/tmp/ferry-test-pid.XXXXXX", path[PATH_MAX];
	struct ferry_err err = { 0 };
	pid_t pid = 0;
	int fd, fd2;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/d.pid", dir);
	fd = ferry_pidfile_acquire(path, &err);
	assert_true(fd >= 0);
	/* Locked but empty until the daemon is ready: readers see no pid yet. */
	assert_int_equal(ferry_pidfile_read(path, &pid, &err), -EINVAL);
	assert_int_equal(ferry_pidfile_publish(fd, path, &err), 0);
	assert_int_equal(ferry_pidfile_read(path, &pid, &err), 0);
	assert_int_equal(pid, getpid());
	/* flock is per open file description: a second open in this process conflicts too. */
	fd2 = ferry_pidfile_acquire(path, &err);
	assert_int_equal(fd2, -EBUSY);
	assert_non_null(strstr(err.msg, "another daemon"));
	close(fd);
	assert_int_equal(ferry_write_file_atomic(path, "notapid\n", 8, 0600, &err), 0);
	assert_int_equal(ferry_pidfile_read(path, &pid, &err), -EINVAL);
	assert_int_equal(ferry_rm_tree(dir, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_pidfile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
