/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The fabric's configuration keys and address management. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/fabric.h"
#include "ferry/parse.h"
#include "ferry/server.h"

static int parse(const char *text, struct ferry_fabric *f, struct ferry_err *err)
{
	struct ferry_server_limits l;

	ferry_server_limits_default(&l);
	ferry_fabric_default(f);
	memset(err, 0, sizeof(*err));
	return ferry_config_parse(text, &l, f, err);
}

static void test_keys(void **state)
{
	struct ferry_fabric f;
	struct ferry_err err;

	(void)state;
	assert_int_equal(parse("fabric = vxlan\nfabric_address = 10.250.0.11/16\nvxlan_id = 77\nvxlan_port = 4790\n"
	                       "vxlan_peer = 10.0.0.2\nvxlan_peer = 10.0.0.3\nmax_streams = 3\n",
	                       &f, &err),
	                 0);
	assert_int_equal(f.kind, FERRY_FABRIC_VXLAN);
	assert_int_equal(f.vni, 77);
	assert_int_equal(f.port, 4790);
	assert_int_equal(f.n_peers, 2);
	assert_int_equal(f.address, 0x0afa000b);
	assert_int_equal(f.address_len, 16);
	assert_string_equal(f.bridge, "ferry0");
	assert_int_equal(parse("fabric = bridge\nfabric_bridge = br-fabric\n", &f, &err), 0);
	assert_string_equal(f.bridge, "br-fabric");
}

static void test_errors_name_the_line_and_what_is_accepted(void **state)
{
	static const struct {
		const char *text, *message;
	} bad[] = {
		{ "fabric = ovs\n", "line 1: fabric 'ovs' is unknown; expected none, bridge or vxlan" },
		{ "\nfabric_bridge = br;rm\n", "line 2: fabric_bridge 'br;rm' is not an interface name" },
		{ "fabric_bridge = abcdefghijklmnop\n", "is not an interface name" },
		{ "vxlan_id = 0\n", "vxlan_id" },
		{ "vxlan_peer = 10.0.0.2\nvxlan_peer = 10.0.0.2\n", "line 2: vxlan_peer 10.0.0.2 is listed twice" },
		{ "fabric_address = 10.0.0.1\n", "expected like 10.250.0.2/16" },
		{ "fabric = vxlan\n", "fabric = vxlan needs fabric_address" },
		{ "fabric_pool = 10.0.0.0/24\n", "fabric_pool needs fabric_subnet" },
		{ "fabric_subnet = 10.0.0.0/16\nfabric_pool = 10.1.0.0/24\n", "is not inside fabric_subnet" },
		{ "fabric_subnet = 10.0.0.1/16\n", "host bits set" },
		{ "fabrik = bridge\n", "unknown key 'fabrik'; expected a limit" },
	};
	struct ferry_fabric f;
	struct ferry_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(parse(bad[i].text, &f, &err) < 0);
		if (!strstr(err.msg, bad[i].message))
			fail_msg("%s: got '%s', expected '%s'", bad[i].text, err.msg, bad[i].message);
	}
}

static void test_pick_skips_used_network_and_broadcast(void **state)
{
	struct ferry_fabric f;
	struct ferry_netaddr a;
	struct ferry_err err;
	uint32_t used[2];

	(void)state;
	/* A pool that is the whole subnet: the network address is never handed out. */
	assert_int_equal(parse("fabric_subnet = 10.9.0.0/29\nfabric_pool = 10.9.0.0/29\n", &f, &err), 0);
	assert_int_equal(ferry_fabric_pick(&f, NULL, 0, &a, &err), 0);
	assert_int_equal(a.addr, 0x0a090001);
	assert_int_equal(a.prefix_len, 29);
	assert_memory_equal(a.mac, ((uint8_t[]){ 0x02, 0xfe, 10, 9, 0, 1 }), 6);
	used[0] = 0x0a090001;
	used[1] = 0x0a090002;
	assert_int_equal(ferry_fabric_pick(&f, used, 2, &a, &err), 0);
	assert_int_equal(a.addr, 0x0a090003);
	/* .1 to .6 taken: .7 is the broadcast address, so the pool is full. */
	uint32_t all[6] = { 0x0a090001, 0x0a090002, 0x0a090003, 0x0a090004, 0x0a090005, 0x0a090006 };
	assert_int_equal(ferry_fabric_pick(&f, all, 6, &a, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "every address of fabric_pool 10.9.0.0/29 is in use"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_errors_name_the_line_and_what_is_accepted),
		cmocka_unit_test(test_pick_skips_used_network_and_broadcast),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
