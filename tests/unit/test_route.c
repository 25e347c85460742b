/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/route.h"

/* Recorded from a host with a default route, 10.0.2.0/24 on eth0 and 172.17.0.0/16 on docker0. */
static const char routes[] = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                             "eth0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
                             "eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
                             "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";

static void test_overlap(void **state)
{
	char iface[32];
	uint32_t dest;
	unsigned len;

	/* 10.77.0.0/24: only the default route covers it, and that one is ignored. */
	assert_int_equal(ferry_route_find_overlap(routes, 0x0a4d0000U, 24, iface, sizeof(iface), &dest, &len), 0);
	/* 10.0.2.128/25 lies inside eth0's 10.0.2.0/24. */
	assert_int_equal(ferry_route_find_overlap(routes, 0x0a000280U, 25, iface, sizeof(iface), &dest, &len), 1);
	assert_string_equal(iface, "eth0");
	assert_int_equal(len, 24);
	assert_true(dest == 0x0a000200U);
	/* 172.16.0.0/12 contains docker0's 172.17.0.0/16. */
	assert_int_equal(ferry_route_find_overlap(routes, 0xac100000U, 12, iface, sizeof(iface), &dest, &len), 1);
	assert_string_equal(iface, "docker0");
	assert_int_equal(ferry_route_find_overlap("", 0x0a4d0000U, 24, iface, sizeof(iface), &dest, &len), 0);
	assert_int_equal(ferry_route_find_overlap("garbage\n\n\t", 0x0a4d0000U, 24, iface, sizeof(iface), &dest, &len),
	                 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overlap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
