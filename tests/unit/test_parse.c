/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/hex.h"
#include "ferry/parse.h"

static void test_u64(void **state)
{
	struct ferry_err err = { 0 };
	uint64_t v = 77;

	assert_int_equal(ferry_parse_u64("42", 1, 100, "n", &v, &err), 0);
	assert_int_equal(v, 42);
	v = 77;
	assert_int_equal(ferry_parse_u64("0", 1, 100, "--nodes", &v, &err), -ERANGE);
	assert_int_equal(v, 77); /* untouched on error */
	assert_non_null(strstr(err.msg, "--nodes '0'"));
	assert_non_null(strstr(err.msg, "1 to 100"));
	assert_int_equal(ferry_parse_u64("12a", 0, 100, "n", &v, &err), -EINVAL);
	assert_int_equal(ferry_parse_u64("", 0, 100, "n", &v, &err), -EINVAL);
	assert_int_equal(ferry_parse_u64("-1", 0, 100, "n", &v, &err), -EINVAL);
	assert_int_equal(ferry_parse_u64("+1", 0, 100, "n", &v, &err), -EINVAL);
	assert_int_equal(ferry_parse_u64("99999999999999999999999", 0, UINT64_MAX, "n", &v, &err), -ERANGE);
	assert_int_equal(ferry_parse_u64("18446744073709551615", 0, UINT64_MAX, "n", &v, &err), 0);
	assert_true(v == UINT64_MAX);
}

static void test_rate(void **state)
{
	struct ferry_err err = { 0 };
	char buf[32];
	uint64_t bps = 0;

	assert_int_equal(ferry_parse_rate("100mbit", &bps, &err), 0);
	assert_true(bps == 100000000ULL);
	assert_int_equal(ferry_parse_rate("1Gbit", &bps, &err), 0);
	assert_true(bps == 1000000000ULL);
	assert_int_equal(ferry_parse_rate("1.5mbit", &bps, &err), 0);
	assert_true(bps == 1500000ULL);
	assert_int_equal(ferry_parse_rate("10mbps", &bps, &err), 0); /* bytes per second */
	assert_true(bps == 80000000ULL);
	assert_int_equal(ferry_parse_rate("125000Kbit", &bps, &err), 0); /* as tc prints it */
	assert_true(bps == 125000000ULL);
	assert_int_equal(ferry_parse_rate("100", &bps, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'100'"));
	assert_non_null(strstr(err.msg, "mbit"));
	assert_int_equal(ferry_parse_rate("fast", &bps, &err), -EINVAL);
	assert_int_equal(ferry_parse_rate("1bit", &bps, &err), -ERANGE);
	assert_int_equal(ferry_parse_rate("500gbit", &bps, &err), -ERANGE);
	assert_int_equal(ferry_parse_rate("99999999999999999999tbit", &bps, &err), -ERANGE);
	assert_int_equal(ferry_parse_rate("1.0000000001gbit", &bps, &err), -EINVAL);
	assert_string_equal(ferry_format_rate(100000000ULL, buf, sizeof(buf)), "100mbit");
	assert_string_equal(ferry_format_rate(2000000000ULL, buf, sizeof(buf)), "2gbit");
	assert_string_equal(ferry_format_rate(1500ULL * 1000, buf, sizeof(buf)), "1500kbit");
	assert_string_equal(ferry_format_rate(8001ULL, buf, sizeof(buf)), "8001bit");
}

static void test_latency(void **state)
{
	struct ferry_err err = { 0 };
	char buf[24];
	uint32_t us = 7;

	assert_int_equal(ferry_parse_latency("2ms", &us, &err), 0);
	assert_int_equal(us, 2000);
	assert_int_equal(ferry_parse_latency("0.5ms", &us, &err), 0);
	assert_int_equal(us, 500);
	assert_int_equal(ferry_parse_latency("250us", &us, &err), 0);
	assert_int_equal(us, 250);
	assert_int_equal(ferry_parse_latency("1.25S", &us, &err), 0);
	assert_int_equal(us, 1250000);
	assert_int_equal(ferry_parse_latency("0ms", &us, &err), 0);
	assert_int_equal(us, 0);
	assert_int_equal(ferry_parse_latency("10s", &us, &err), 0);
	assert_int_equal(us, 10000000);
	assert_int_equal(ferry_parse_latency("10.001s", &us, &err), -ERANGE);
	assert_int_equal(ferry_parse_latency("99999999999999999999s", &us, &err), -ERANGE);
	assert_int_equal(ferry_parse_latency("5", &us, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'5'"));
	assert_non_null(strstr(err.msg, "us, ms or s"));
	assert_int_equal(ferry_parse_latency("ms", &us, &err), -EINVAL);
	assert_int_equal(ferry_parse_latency("1.0001ms", &us, &err), -EINVAL);
	assert_int_equal(ferry_parse_latency("-1ms", &us, &err), -EINVAL);
	assert_int_equal(ferry_parse_latency("", &us, &err), -EINVAL);
	assert_int_equal(us, 10000000); /* failures leave it alone */
	assert_string_equal(ferry_format_latency(2000, buf, sizeof(buf)), "2ms");
	assert_string_equal(ferry_format_latency(1500, buf, sizeof(buf)), "1500us");
	assert_string_equal(ferry_format_latency(3000000, buf, sizeof(buf)), "3s");
	assert_string_equal(ferry_format_latency(0, buf, sizeof(buf)), "0ms");
}

static void test_names(void **state)
{
	struct ferry_err err = { 0 };

	assert_int_equal(ferry_check_name("n1", 31, "host", &err), 0);
	assert_int_equal(ferry_check_name("web-a", 31, "host", &err), 0);
	assert_int_equal(ferry_check_name("1n", 31, "host", &err), -EINVAL);
	assert_int_equal(ferry_check_name("N1", 31, "host", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "host name 'N1'"));
	assert_int_equal(ferry_check_name("a-", 31, "host", &err), -EINVAL);
	assert_int_equal(ferry_check_name("a/b", 31, "host", &err), -EINVAL);
	assert_int_equal(ferry_check_name("", 31, "host", &err), -EINVAL);
	assert_int_equal(ferry_check_name("abcdefg", 6, "cluster", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "longer than 6"));
	/* Control bytes are never echoed raw into messages. */
	assert_int_equal(ferry_check_name("a\x1b[31m", 31, "host", &err), -EINVAL);
	assert_null(strchr(err.msg, '\x1b'));
}

static void test_ipv4(void **state)
{
	struct ferry_err err = { 0 };
	uint32_t a = 0, net = 0;
	unsigned len = 0;
	char buf[16];

	assert_int_equal(ferry_parse_ipv4("10.77.0.11", &a, &err), 0);
	assert_true(a == 0x0a4d000bU);
	assert_string_equal(ferry_format_ipv4(a, buf), "10.77.0.11");
	assert_int_equal(ferry_parse_ipv4("10.77.0", &a, &err), -EINVAL);
	assert_int_equal(ferry_parse_ipv4("10.77.0.256", &a, &err), -EINVAL);
	assert_int_equal(ferry_parse_ipv4("10.077.0.1", &a, &err), -EINVAL);
	assert_int_equal(ferry_parse_ipv4("10.77.0.1 ", &a, &err), -EINVAL);
	assert_int_equal(ferry_parse_ipv4_prefix("10.77.0.0/24", 16, 29, &net, &len, &err), 0);
	assert_int_equal(len, 24);
	assert_int_equal(ferry_parse_ipv4_prefix("10.77.0.1/24", 16, 29, &net, &len, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "host bits"));
	assert_int_equal(ferry_parse_ipv4_prefix("10.0.0.0/8", 16, 29, &net, &len, &err), -ERANGE);
	assert_int_equal(ferry_parse_ipv4_prefix("10.77.0.0", 16, 29, &net, &len, &err), -EINVAL);
}

static void test_hex(void **state)
{
	const uint8_t in[3] = { 0x00, 0xab, 0xff };
	uint8_t out[3] = { 9, 9, 9 };
	char text[7];

	ferry_hex_encode(in, 3, text);
	assert_string_equal(text, "00abff");
	assert_int_equal(ferry_hex_decode("00abff", out, 3), 0);
	assert_memory_equal(in, out, 3);
	assert_int_equal(ferry_hex_decode("00ABff", out, 3), -EINVAL); /* one spelling per value */
	assert_int_equal(ferry_hex_decode("00abf", out, 3), -EINVAL);
	assert_int_equal(ferry_hex_decode("00abffee", out, 3), -EINVAL);
	assert_int_equal(ferry_hex_decode("0xabff", out, 3), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u64),   cmocka_unit_test(test_rate), cmocka_unit_test(test_latency),
		cmocka_unit_test(test_names), cmocka_unit_test(test_ipv4), cmocka_unit_test(test_hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
