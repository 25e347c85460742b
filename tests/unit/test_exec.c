/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ferry/exec.h"

static void test_output_and_status(void **state)
{
	struct ferry_exec_opts o = { .timeout_ms = 5000 };
	struct ferry_exec_result res;

	assert_int_equal(
	    ferry_exec((const char *const[]){ "sh", "-c", "echo out; echo err >&2; exit 3", NULL }, &o, &res, NULL), 0);
	assert_int_equal(res.status, 3);
	assert_string_equal(res.out.data, "out\n");
	assert_string_equal(res.errout.data, "err\n");
	ferry_exec_result_free(&res);
}

static void test_timeout_kills_group(void **state)
{
	struct ferry_exec_opts o = { .timeout_ms = 300 };
	struct ferry_exec_result res;
	struct ferry_err err = { 0 };
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	/* The grandchild sleep holds the pipes: the whole group must die. */
	assert_int_equal(ferry_exec((const char *const[]){ "sh", "-c", "sleep 30 & sleep 30", NULL }, &o, &res, &err),
	                 -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_true(res.timed_out);
	assert_non_null(strstr(err.msg, "300 ms"));
	/* Generous bound: this checks the kill happened, not a speed. */
	assert_true(b.tv_sec - a.tv_sec < 10);
	ferry_exec_result_free(&res);
}

static void test_output_cap(void **state)
{
	struct ferry_exec_opts o = { .timeout_ms = 20000 };
	struct ferry_exec_result res;

	/* 4 MiB of output: captured up to the cap, the child is never blocked. */
	assert_int_equal(
	    ferry_exec((const char *const[]){ "head", "-c", "4194304", "/dev/zero", NULL }, &o, &res, NULL), 0);
	assert_int_equal(res.status, 0);
	assert_true(res.out.len <= FERRY_EXEC_OUTPUT_MAX);
	assert_true(res.out.len > 0);
	ferry_exec_result_free(&res);
}

static void test_exec_ok_message(void **state)
{
	struct ferry_exec_opts o = { .timeout_ms = 5000 };
	struct ferry_err err = { 0 };

	assert_int_equal(
	    ferry_exec_ok((const char *const[]){ "sh", "-c", "echo 'bad thing' >&2; exit 2", NULL }, &o, &err), -EIO);
	assert_non_null(strstr(err.msg, "exit 2"));
	assert_non_null(strstr(err.msg, "bad thing"));
	assert_int_equal(ferry_exec_ok((const char *const[]){ "true", NULL }, &o, &err), 0);
	assert_int_not_equal(ferry_exec_ok((const char *const[]){ "/nonexistent/tool", NULL }, &o, &err), 0);
	assert_non_null(strstr(err.msg, "exit 127"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output_and_status),
		cmocka_unit_test(test_timeout_kills_group),
		cmocka_unit_test(test_output_cap),
		cmocka_unit_test(test_exec_ok_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
