/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/json.h"

static void test_document(void **state)
{
	struct ferry_buf b = FERRY_BUF_INIT(4096);
	struct ferry_json j;

	ferry_json_init(&j, &b, false);
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "a");
	ferry_json_int(&j, -3);
	ferry_json_key(&j, "list");
	ferry_json_array_begin(&j);
	ferry_json_bool(&j, true);
	ferry_json_null(&j);
	ferry_json_string(&j, "x");
	ferry_json_array_end(&j);
	ferry_json_key(&j, "empty");
	ferry_json_object_begin(&j);
	ferry_json_object_end(&j);
	ferry_json_key(&j, "big");
	ferry_json_uint(&j, UINT64_MAX);
	ferry_json_object_end(&j);
	assert_int_equal(ferry_json_finish(&j), 0);
	assert_string_equal(b.data, "{\"a\":-3,\"list\":[true,null,\"x\"],\"empty\":{},\"big\":18446744073709551615}");
	ferry_buf_free(&b);
}

static void test_escaping(void **state)
{
	struct ferry_buf b = FERRY_BUF_INIT(4096);
	struct ferry_json j;

	ferry_json_init(&j, &b, false);
	ferry_json_string(&j, "q\"b\\n\n\x01 é \xff\xc3");
	assert_int_equal(ferry_json_finish(&j), 0);
	/* Control bytes escaped, valid UTF-8 kept, invalid bytes replaced by U+FFFD. */
	assert_string_equal(b.data, "\"q\\\"b\\\\n\\u000a\\u0001 é \xef\xbf\xbd\xef\xbf\xbd\"");
	ferry_buf_free(&b);
}

static void test_errors(void **state)
{
	struct ferry_buf b = FERRY_BUF_INIT(8);
	struct ferry_json j;

	ferry_json_init(&j, &b, false);
	ferry_json_string(&j, "this is longer than eight bytes");
	assert_int_equal(ferry_json_finish(&j), -E2BIG);
	ferry_buf_free(&b);

	b.max = 4096;
	ferry_json_init(&j, &b, false);
	ferry_json_object_begin(&j);
	assert_int_equal(ferry_json_finish(&j), -EINVAL); /* unclosed */
	ferry_buf_free(&b);

	ferry_json_init(&j, &b, false);
	ferry_json_array_end(&j);
	assert_int_equal(ferry_json_finish(&j), -EINVAL); /* close without open */
	ferry_buf_free(&b);

	ferry_json_init(&j, &b, false);
	for (int i = 0; i < FERRY_JSON_MAX_DEPTH + 1; i++)
		ferry_json_array_begin(&j);
	assert_int_equal(ferry_json_finish(&j), -E2BIG);
	ferry_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_document),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
