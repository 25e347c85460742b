/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/parse.h"
#include "ferry/topology.h"

static struct ferry_topology *parse_ok(const char *text)
{
	struct ferry_topology *t = calloc(1, sizeof(*t));
	struct ferry_err err = { 0 };
	int r = ferry_topology_parse(text, strlen(text), t, &err);

	if (r < 0)
		fail_msg("parse failed: %s", err.msg);
	return t;
}

/* Parse must fail with code, and the message must contain needle. */
static void parse_fails(const char *text, int code, const char *needle)
{
	struct ferry_topology t;
	struct ferry_err err = { 0 };

	assert_int_equal(ferry_topology_parse(text, strlen(text), &t, &err), code);
	if (!strstr(err.msg, needle))
		fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void test_default(void **state)
{
	struct ferry_topology t;
	struct ferry_err err = { 0 };
	char a[16];

	assert_int_equal(ferry_topology_default(3, NULL, &t, &err), 0);
	assert_int_equal(t.n_switches, 1);
	assert_int_equal(t.n_nodes, 4);
	assert_string_equal(t.nodes[0].name, "controller");
	assert_int_equal(t.nodes[0].role, FERRY_NODE_CONTROLLER);
	assert_string_equal(ferry_format_ipv4(t.gateway, a), "10.77.0.1");
	assert_string_equal(ferry_format_ipv4(t.nodes[0].addr, a), "10.77.0.2");
	assert_string_equal(t.nodes[1].name, "n1");
	assert_string_equal(ferry_format_ipv4(t.nodes[1].addr, a), "10.77.0.11");
	assert_string_equal(ferry_format_ipv4(t.nodes[3].addr, a), "10.77.0.13");
	assert_int_equal(ferry_topology_default(0, NULL, &t, &err), -EINVAL);
	assert_int_equal(ferry_topology_default(64, NULL, &t, &err), -EINVAL);
	/* A /29 holds 6 addresses: gateway, controller and 4 hosts. */
	assert_int_equal(ferry_topology_default(4, "10.80.0.0/29", &t, &err), 0);
	assert_int_equal(ferry_topology_default(5, "10.80.0.0/29", &t, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "no free address for 'n5'"));
}

static void test_multi_switch(void **state)
{
	struct ferry_topology *t = parse_ok("# two racks\n"
	                                    "subnet 10.90.0.0/24\n"
	                                    "switch core\nswitch rack1\nswitch rack2   # trailing comment\n"
	                                    "link core rack1 rate 1gbit\nlink core rack2\n"
	                                    "controller ctl switch core\n"
	                                    "host a switch rack1 rate 100mbit\n"
	                                    "host b switch rack2 address 10.90.0.200\n"
	                                    "host c switch rack2\r\n");
	char a[16];

	assert_int_equal(t->n_switches, 3);
	assert_int_equal(t->n_links, 2);
	assert_true(t->links[0].rate_bps == 1000000000ULL);
	assert_string_equal(t->nodes[0].name, "ctl");
	assert_int_equal(t->nodes[1].sw, 1);
	assert_true(t->nodes[1].rate_bps == 100000000ULL);
	assert_string_equal(ferry_format_ipv4(t->nodes[2].addr, a), "10.90.0.200");
	assert_string_equal(ferry_format_ipv4(t->nodes[3].addr, a), "10.90.0.12");
	assert_int_equal(ferry_topology_find_node(t, "c"), 3);
	assert_int_equal(ferry_topology_find_switch(t, "rack2"), 2);
	assert_int_equal(ferry_topology_find_node(t, "zz"), -1);
	free(t);
}

static void test_round_trip(void **state)
{
	struct ferry_topology *t = parse_ok("subnet 10.91.0.0/24\nswitch s1\nswitch s2\nlink s1 s2 rate 10mbit\n"
	                                    "controller switch s1\nhost x switch s2 rate 1500kbit\nhost y switch s1\n");
	struct ferry_buf text = FERRY_BUF_INIT(FERRY_TOPO_FILE_MAX);
	struct ferry_topology *again;

	assert_int_equal(ferry_topology_format(t, &text), 0);
	again = parse_ok(text.data);
	assert_memory_equal(t, again, sizeof(*t));
	ferry_buf_free(&text);
	free(t);
	free(again);
}

static void test_errors(void **state)
{
	parse_fails("", -EINVAL, "no switch");
	parse_fails("switch s1\n", -EINVAL, "no host");
	parse_fails("switch s1\ncontroller switch s1\n", -EINVAL, "no host");
	parse_fails("switch s1\nhost a switch s2\n", -EINVAL, "line 2: switch 's2' is not declared");
	parse_fails("switch s1\nswitch s1\n", -EEXIST, "declared twice");
	parse_fails("switch s1\nhost a switch s1\nhost a switch s1\n", -EEXIST, "node 'a' is declared twice");
	parse_fails("switch s1\nhost A switch s1\n", -EINVAL, "host name 'A'");
	parse_fails("switch s1\nhost a\n", -EINVAL, "needs 'switch NAME'");
	parse_fails("switch s1\nhost a switch\n", -EINVAL, "lacks a value");
	parse_fails("switch s1\nhost a switch s1 colour red\n", -EINVAL, "unexpected or repeated 'colour'");
	parse_fails("switch s1\nhost a switch s1 switch s1\n", -EINVAL, "repeated 'switch'");
	parse_fails("switch s1\nhost a switch s1 rate fast\n", -EINVAL, "line 2: rate 'fast'");
	parse_fails("bogus\n", -EINVAL, "unknown keyword 'bogus'");
	parse_fails("switch s1\nswitch s2\nhost a switch s1\n", -EINVAL, "not linked");
	parse_fails("switch s1\nswitch s2\nswitch s3\nlink s1 s2\nlink s2 s3\nlink s3 s1\nhost a switch s1\n", -EINVAL,
	            "closes a loop");
	parse_fails("switch s1\nlink s1 s1\n", -EINVAL, "to itself");
	parse_fails("switch s1\nswitch s2\nlink s1 s2\nlink s2 s1\n", -EEXIST, "declared twice");
	parse_fails("subnet 10.77.0.0/24\nsubnet 10.78.0.0/24\n", -EINVAL, "twice");
	parse_fails("switch s1\nhost a switch s1\nsubnet 10.77.0.0/24\n", -EINVAL, "before the first host");
	parse_fails("subnet 10.77.0.0/8\n", -ERANGE, "prefix length");
	parse_fails("subnet 10.77.0.0/24\nswitch s1\nhost a switch s1 address 10.78.0.5\n", -EINVAL,
	            "not a host address in subnet");
	parse_fails("subnet 10.77.0.0/24\nswitch s1\nhost a switch s1 address 10.77.0.255\n", -EINVAL,
	            "not a host address");
	parse_fails("subnet 10.77.0.0/24\nswitch s1\nhost a switch s1 address 10.77.0.1\n", -EINVAL, "gateway");
	parse_fails("switch s1\nhost a switch s1 address 10.77.0.5\nhost b switch s1 address 10.77.0.5\n", -EEXIST,
	            "share address");
	parse_fails("switch s1\ncontroller switch s1\ncontroller c2 switch s1\nhost a switch s1\n", -EEXIST,
	            "only one controller");
	{
		static const char nul[] = "switch s1\nhost a switch s1\nswitch s\0x\n";
		struct ferry_topology t;
		struct ferry_err err = { 0 };

		assert_int_equal(ferry_topology_parse(nul, sizeof(nul) - 1, &t, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "line 3: line contains a NUL byte"));
	}
}

static void test_limits(void **state)
{
	struct ferry_buf text = FERRY_BUF_INIT(FERRY_TOPO_FILE_MAX * 2);
	struct ferry_topology t;
	struct ferry_err err = { 0 };
	char line[700];

	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	assert_int_equal(ferry_topology_parse(line, strlen(line), &t, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "longer than 512"));

	ferry_buf_printf(&text, "switch s1\n");
	for (int i = 0; i < FERRY_TOPO_MAX_NODES + 1; i++)
		ferry_buf_printf(&text, "host h%d switch s1\n", i);
	assert_int_equal(ferry_topology_parse(text.data, text.len, &t, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "too many nodes"));
	ferry_buf_reset(&text);
	for (int i = 0; i < 5000; i++)
		ferry_buf_printf(&text, "# comment line %d\n", i);
	assert_int_equal(ferry_topology_parse(text.data, text.len, &t, &err), -EFBIG);
	ferry_buf_free(&text);
}

/* Latency is declared per link and per host link, and survives the canonical form. */
static void test_latency(void **state)
{
	struct ferry_topology *t =
	    parse_ok("switch s1\nswitch s2\nlink s1 s2 latency 5ms rate 1gbit\n"
	             "host h1 switch s1 latency 0.5ms\nhost h2 switch s2 rate 100mbit latency 2ms\n");
	struct ferry_topology *back;
	struct ferry_buf text = FERRY_BUF_INIT(FERRY_TOPO_FILE_MAX);

	assert_int_equal(t->links[0].latency_us, 5000);
	assert_true(t->links[0].rate_bps == 1000000000ULL);
	assert_int_equal(t->nodes[0].latency_us, 500);
	assert_int_equal(t->nodes[1].latency_us, 2000);
	assert_int_equal(ferry_topology_format(t, &text), 0);
	assert_non_null(strstr(text.data, "link s1 s2 rate 1gbit latency 5ms\n"));
	assert_non_null(strstr(text.data, "latency 500us\n"));
	back = parse_ok(text.data);
	assert_int_equal(back->links[0].latency_us, 5000);
	assert_int_equal(back->nodes[1].latency_us, 2000);
	parse_fails("switch s1\nswitch s2\nlink s1 s2 latency 5\n", -EINVAL, "line 3");
	parse_fails("switch s1\nswitch s2\nlink s1 s2 latency 1ms latency 2ms\n", -EINVAL, "repeated 'latency'");
	parse_fails("switch s1\nswitch s2\nlink s1 s2 delay 1ms\n", -EINVAL, "expected rate or latency");
	parse_fails("switch s1\nswitch s2\nlink s1 s2 rate\n", -EINVAL, "expected 'link SWITCH SWITCH");
	parse_fails("switch s1\nhost h1 switch s1 latency 11s\n", -ERANGE, "out of range");
	/* A client is on the fabric with an address, runs nothing, and does not count as a host. */
	free(back);
	back = parse_ok("switch s1\nclient load switch s1 rate 1gbit\nhost h1 switch s1\n");
	assert_int_equal(back->nodes[0].role, FERRY_NODE_CLIENT);
	assert_string_equal(ferry_topology_role_name(back->nodes[0].role), "client");
	ferry_buf_reset(&text);
	assert_int_equal(ferry_topology_format(back, &text), 0);
	assert_non_null(strstr(text.data, "client load switch s1 address 10.77.0.11 rate 1gbit\n"));
	parse_fails("switch s1\nclient load switch s1\n", -EINVAL, "declares no host");
	ferry_buf_free(&text);
	free(back);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default), cmocka_unit_test(test_multi_switch), cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_errors),  cmocka_unit_test(test_limits),       cmocka_unit_test(test_latency),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
