/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The freezer state a migration trusts after its dump, read from a real
 * group: as root, in the v1 freezer hierarchy where the host has one (the
 * runtime's choice on hybrid hosts), else in cgroup2.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ferry/cgroup.h"

static int write_str(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	int r;

	if (!f)
		return -1;
	r = fputs(s, f) < 0 ? -1 : 0;
	return fclose(f) == 0 ? r : -1;
}

static void test_frozen(void **state)
{
	char rel[64], dir[PATH_MAX], file[PATH_MAX], root[PATH_MAX];
	const char *freeze = NULL, *thaw = NULL;
	struct stat st;

	if (geteuid() != 0)
		skip();
	snprintf(rel, sizeof(rel), "ferry-unit-%d", (int)getpid());
	if (stat("/sys/fs/cgroup/freezer/freezer.state", &st) == 0 || stat("/sys/fs/cgroup/freezer/tasks", &st) == 0) {
		snprintf(dir, sizeof(dir), "/sys/fs/cgroup/freezer/%s", rel);
		snprintf(file, sizeof(file), "%s/freezer.state", dir);
		freeze = "FROZEN";
		thaw = "THAWED";
	} else if (ferry_cgroup2_root(root, sizeof(root)) == 0) {
		snprintf(dir, sizeof(dir), "%s/%s", root, rel);
		snprintf(file, sizeof(file), "%s/cgroup.freeze", dir);
		freeze = "1";
		thaw = "0";
	} else {
		skip();
	}
	assert_int_equal(ferry_cgroup_frozen(rel), -ENOENT);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(write_str(file, freeze), 0);
	assert_int_equal(ferry_cgroup_frozen(rel), 1);
	assert_int_equal(write_str(file, thaw), 0);
	assert_int_equal(ferry_cgroup_frozen(rel), 0);
	/* Frozen the way a migration freezes a container, and seen frozen. */
	assert_int_equal(ferry_cgroup_freeze(rel, 5000, NULL), 0);
	assert_int_equal(ferry_cgroup_frozen(rel), 1);
	assert_int_equal(write_str(file, thaw), 0);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(ferry_cgroup_frozen(rel), -ENOENT);
	assert_int_equal(ferry_cgroup_freeze(rel, 5000, NULL), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frozen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
