/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/doctor.h"

static void test_versions(void **state)
{
	char v[32];

	assert_int_equal(ferry_doctor_parse_criu_version("Version: 4.2.1\nGitID: v4.2.1\n", v, sizeof(v)), 0);
	assert_string_equal(v, "4.2.1");
	assert_int_equal(ferry_doctor_parse_criu_version("Version: 3.17\n", v, sizeof(v)), 0);
	assert_string_equal(v, "3.17");
	assert_int_not_equal(ferry_doctor_parse_criu_version("criu: command not found", v, sizeof(v)), 0);
	assert_int_equal(ferry_version_cmp("4.2.1", "4.2"), 1);
	assert_int_equal(ferry_version_cmp("4.1", "4.2"), -1);
	assert_int_equal(ferry_version_cmp("4.2", "4.2.0"), 0);
	assert_int_equal(ferry_version_cmp("6.18.44-fc-v595", "6.16"), 1);
	assert_int_equal(ferry_version_cmp("6.9", "6.16"), -1);
}

static void test_cpu_flags(void **state)
{
	char *f = ferry_doctor_parse_cpu_flags("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu vme sse2 avx2\n"
	                                       "processor\t: 1\nflags\t\t: other\n");

	assert_non_null(f);
	assert_string_equal(f, "fpu vme sse2 avx2");
	free(f);
	f = ferry_doctor_parse_cpu_flags("processor\t: 0\nFeatures\t: fp asimd aes\n");
	assert_string_equal(f, "fp asimd aes");
	free(f);
	assert_null(ferry_doctor_parse_cpu_flags("nothing here\n"));
}

#define MI_V1      "30 29 0:26 / /sys/fs/cgroup/memory rw,relatime shared:10 - cgroup cgroup rw,memory\n"
#define MI_UNIFIED "31 29 0:27 / /sys/fs/cgroup/unified rw,relatime shared:11 - cgroup2 cgroup2 rw\n"
#define MI_V2      "31 24 0:27 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n"
#define MI_ROOT    "21 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"

static void test_cgroup_layout(void **state)
{
	char ctl[256];

	assert_int_equal(ferry_doctor_cgroup_layout(MI_ROOT MI_V1 MI_UNIFIED), FERRY_CGROUP_HYBRID);
	assert_int_equal(ferry_doctor_cgroup_layout(MI_ROOT MI_V2), FERRY_CGROUP_V2);
	assert_int_equal(ferry_doctor_cgroup_layout(MI_ROOT MI_V1), FERRY_CGROUP_V1);
	assert_int_equal(ferry_doctor_cgroup_layout(MI_ROOT), FERRY_CGROUP_NONE);
	assert_string_equal(ferry_cgroup_layout_name(FERRY_CGROUP_HYBRID), "hybrid");
	ferry_doctor_v1_controllers("#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t1\t1\n"
	                            "cpu\t4\t1\t1\nrdma\t0\t1\t0\nmemory\t5\t1\t1\n",
	                            ctl, sizeof(ctl));
	assert_string_equal(ctl, "cpuset cpu memory");
}

static void set_feature(struct ferry_doctor_report *r, const char *name, bool ok)
{
	snprintf(r->features[r->n_features].name, sizeof(r->features[0].name), "%s", name);
	r->features[r->n_features++].ok = ok;
}

static const struct ferry_doctor_mode *mode(const struct ferry_doctor_report *r, const char *name)
{
	for (unsigned i = 0; i < r->n_modes; i++)
		if (strcmp(r->modes[i].name, name) == 0)
			return &r->modes[i];
	fail_msg("mode %s missing", name);
	return NULL;
}

/* This machine's shape: CRIU works, no soft-dirty, uffd present. */
static void test_modes_without_soft_dirty(void **state)
{
	struct ferry_doctor_report r = { .criu_found = true, .criu_check_ok = true, .runtime = 0, .n_runtimes = 1 };

	snprintf(r.criu_version, sizeof(r.criu_version), "4.2.1");
	snprintf(r.runtimes[0].name, sizeof(r.runtimes[0].name), "runc");
	r.runtimes[0].criu_support = true;
	set_feature(&r, "mem_dirty_track", false);
	set_feature(&r, "uffd", true);
	set_feature(&r, "uffd_noncoop", true);
	ferry_doctor_derive_modes(&r);
	assert_true(mode(&r, "stop-copy")->available);
	assert_true(mode(&r, "precopy")->available);
	assert_string_equal(mode(&r, "precopy")->method, "page-hash");
	assert_true(mode(&r, "postcopy")->available);
	assert_true(mode(&r, "hybrid")->available);
	assert_true(mode(&r, "stateless")->available);
}

static void test_modes_soft_dirty_no_uffd(void **state)
{
	struct ferry_doctor_report r = { .criu_found = true, .criu_check_ok = true, .runtime = 0, .n_runtimes = 1 };

	snprintf(r.runtimes[0].name, sizeof(r.runtimes[0].name), "crun");
	r.runtimes[0].criu_support = true;
	set_feature(&r, "mem_dirty_track", true);
	set_feature(&r, "uffd", false);
	ferry_doctor_derive_modes(&r);
	/* Soft-dirty or not, pre-copy is Ferry's page hashes. */
	assert_string_equal(mode(&r, "precopy")->method, "page-hash");
	assert_false(mode(&r, "postcopy")->available);
	assert_non_null(strstr(mode(&r, "postcopy")->why, "uffd"));
	assert_false(mode(&r, "hybrid")->available);
}

static void test_modes_without_criu(void **state)
{
	struct ferry_doctor_report r = { .runtime = 0, .n_runtimes = 1 };

	snprintf(r.runtimes[0].name, sizeof(r.runtimes[0].name), "runc");
	ferry_doctor_derive_modes(&r);
	assert_false(mode(&r, "stop-copy")->available);
	assert_non_null(strstr(mode(&r, "stop-copy")->why, "CRIU is not installed"));
	assert_false(mode(&r, "precopy")->available);
	assert_false(mode(&r, "postcopy")->available);
	assert_true(mode(&r, "stateless")->available);

	r.runtime = -1;
	r.n_runtimes = 0;
	ferry_doctor_derive_modes(&r);
	assert_false(mode(&r, "stateless")->available);
}

static void test_json(void **state)
{
	struct ferry_doctor_report r = { .criu_found = true, .criu_check_ok = true, .runtime = -1 };
	struct ferry_buf b = FERRY_BUF_INIT(1024 * 1024);

	snprintf(r.criu_version, sizeof(r.criu_version), "4.2.1");
	set_feature(&r, "mem_dirty_track", false);
	set_feature(&r, "uffd_noncoop", true);
	r.cpu_flags = strdup("fpu sse2");
	ferry_doctor_derive_modes(&r);
	assert_int_equal(ferry_doctor_to_json(&r, "h1", &b), 0);
	assert_non_null(strstr(b.data, "\"criu_version\": \"4.2.1\""));
	assert_non_null(strstr(b.data, "\"mem_dirty_track\": false"));
	assert_non_null(strstr(b.data, "\"uffd_noncoop\": true"));
	assert_non_null(strstr(b.data, "\"runtime\": null"));
	assert_non_null(strstr(b.data, "\"modes\": []"));
	assert_non_null(strstr(b.data, "\"sse2\""));
	ferry_buf_free(&b);
	ferry_doctor_report_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_cpu_flags),
		cmocka_unit_test(test_cgroup_layout),
		cmocka_unit_test(test_modes_without_soft_dirty),
		cmocka_unit_test(test_modes_soft_dirty_no_uffd),
		cmocka_unit_test(test_modes_without_criu),
		cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
