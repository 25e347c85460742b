/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/cgroup.h"
#include "ferry/mount.h"

static const char mountinfo[] = "21 1 254:0 / / rw - ext4 /dev/vda rw\n"
                                "40 21 0:50 / /run/ferry/clusters/lab/nodes/n1/tmp rw - tmpfs tmpfs rw\n"
                                "41 21 0:4 net:[4026532] /run/netns/ferry-lab-n1 rw - nsfs nsfs rw\n"
                                "42 40 0:51 / /run/ferry/clusters/lab/nodes/n1/tmp/deep rw - tmpfs tmpfs rw\n"
                                "43 21 0:52 / /run/ferry/clusters/lab2/x rw - tmpfs tmpfs rw\n"
                                "44 21 0:53 / /run/ferry/clusters/lab/with\\040space rw - tmpfs tmpfs rw\n"
                                "45 21 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";

static void test_mounts_under(void **state)
{
	char *paths[8];
	int n = ferry_mounts_under(mountinfo, "/run/ferry/clusters/lab", paths, 8);

	assert_int_equal(n, 3);
	/* Deepest first, so children are unmounted before their parents; lab2 is another cluster. */
	assert_string_equal(paths[0], "/run/ferry/clusters/lab/nodes/n1/tmp/deep");
	assert_string_equal(paths[1], "/run/ferry/clusters/lab/nodes/n1/tmp");
	assert_string_equal(paths[2], "/run/ferry/clusters/lab/with space");
	ferry_mounts_free(paths, (size_t)n);
	assert_int_equal(ferry_mounts_under(mountinfo, "/run/ferry/clusters/lab", paths, 2), -E2BIG);
	assert_int_equal(ferry_mounts_under(mountinfo, "/nowhere", paths, 8), 0);
}

static void test_cgroup2_mount(void **state)
{
	char path[PATH_MAX];

	assert_int_equal(ferry_cgroup2_mount_from_mountinfo(mountinfo, path, sizeof(path)), 0);
	assert_string_equal(path, "/sys/fs/cgroup/unified");
	assert_int_equal(
	    ferry_cgroup2_mount_from_mountinfo("21 1 254:0 / / rw - ext4 /dev/vda rw\n", path, sizeof(path)), -ENOENT);
	/* A pure v2 host wins over any other cgroup2 mount. */
	assert_int_equal(ferry_cgroup2_mount_from_mountinfo("1 0 0:1 / /x rw - cgroup2 c rw\n"
	                                                    "2 0 0:2 / /sys/fs/cgroup rw - cgroup2 c rw\n",
	                                                    path, sizeof(path)),
	                 0);
	assert_string_equal(path, "/sys/fs/cgroup");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mounts_under),
		cmocka_unit_test(test_cgroup2_mount),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
