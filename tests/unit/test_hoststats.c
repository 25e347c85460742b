/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A node's own measurements: rtnetlink counters of real interfaces, /proc/stat. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ferry/hoststats.h"
#include "ferry/probe.h"

static const struct ferry_link_stats *find(const struct ferry_link_stats *l, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(l[i].name, name) == 0)
			return &l[i];
	return NULL;
}

/* lo's counters are real: 100 datagrams of 1000 bytes to ourselves move them by at least that. */
static void test_loopback_counters_move(void **state)
{
	static struct ferry_link_stats before[FERRY_LINKS_MAX], after[FERRY_LINKS_MAX];
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t tolen = sizeof(to);
	struct ferry_err err = { 0 };
	char payload[1000] = { 0 };
	int n1, n2, fd;
	const struct ferry_link_stats *a, *b;

	n1 = ferry_link_stats_read(before, FERRY_LINKS_MAX, &err);
	assert_true(n1 > 0);
	a = find(before, n1, "lo");
	assert_non_null(a);
	assert_int_equal(a->index, 1);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&to, sizeof(to)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&to, &tolen), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(sendto(fd, payload, sizeof(payload), 0, (struct sockaddr *)&to, sizeof(to)),
		                 (ssize_t)sizeof(payload));
	close(fd);
	n2 = ferry_link_stats_read(after, FERRY_LINKS_MAX, &err);
	b = find(after, n2, "lo");
	assert_non_null(b);
	assert_true(b->tx_bytes - a->tx_bytes >= 100 * 1000);
	assert_true(b->rx_packets - a->rx_packets >= 100);
	assert_false(b->is_bridge);
	/* The uplink of the loopback address is lo itself. */
	assert_int_equal(ferry_link_uplink(after, (unsigned)n2, INADDR_LOOPBACK, "fv", &err), (int)(b - after));
	assert_int_equal(ferry_link_uplink(after, (unsigned)n2, 0xc0000201U, "fv", &err), -ENOENT);
	/* A table too small is an error, not a silent cut. */
	assert_int_equal(ferry_link_stats_read(after, 0, &err), -E2BIG);
}

static void test_malformed_dumps(void **state)
{
	struct ferry_link_stats l[2];
	struct ferry_err err = { 0 };
	struct {
		struct nlmsghdr h;
		struct ifinfomsg ifi;
		struct rtattr name;
		char text[4];
	} m = { .h = { .nlmsg_len = sizeof(m), .nlmsg_type = RTM_NEWLINK },
		.ifi = { .ifi_index = 7 },
		.name = { .rta_len = RTA_LENGTH(4), .rta_type = IFLA_IFNAME },
		.text = "ab\0" };
	unsigned n = 0;
	bool done = false;

	assert_int_equal(ferry_link_stats_parse(&m, sizeof(m), l, 2, &n, &done, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(l[0].name, "ab");
	assert_int_equal(l[0].index, 7);
	/* An unterminated name. */
	memcpy(m.text, "abcd", 4);
	n = 0;
	assert_int_equal(ferry_link_stats_parse(&m, sizeof(m), l, 2, &n, &done, &err), -EPROTO);
	/* Cut short. */
	memcpy(m.text, "ab\0", 4);
	assert_int_equal(ferry_link_stats_parse(&m, sizeof(m) - 8, l, 2, &n, &done, &err), -EPROTO);
	/* No index. */
	m.ifi.ifi_index = 0;
	assert_int_equal(ferry_link_stats_parse(&m, sizeof(m), l, 2, &n, &done, &err), -EPROTO);
	assert_false(done);
}

static void test_cpu_times(void **state)
{
	uint64_t busy = 0, total = 0;
	struct ferry_err err = { 0 };

	assert_int_equal(ferry_cpu_times_parse("cpu  10 2 8 70 5 1 3 1 0 0\ncpu0 1 1 1 1\n", &busy, &total), 0);
	assert_true(total == 100);
	assert_true(busy == 25);
	assert_int_equal(ferry_cpu_times_parse("cpu0 1 2 3 4\n", &busy, &total), -EINVAL);
	assert_int_equal(ferry_cpu_times_parse("cpu  1 2\n", &busy, &total), -EINVAL);
	assert_int_equal(ferry_cpu_times_parse("cpu  18446744073709551615 1 1 1\n", &busy, &total), -ERANGE);
	assert_int_equal(ferry_cpu_times_read(&busy, &total, &err), 0);
	assert_true(total > 0 && busy <= total);
}

/* A real echo to ourselves, and replies that are not ours. */
static void test_icmp_probe(void **state)
{
	struct ferry_err err = { 0 };
	uint8_t pkt[28] = { 0x45, 0,   0,    28,   0, 0,   0, 0, 64, IPPROTO_ICMP,       0,
		            0,    127, 0,    0,    1, 127, 0, 0, 1,  0 /* echo reply */, 0,
		            0,    0,   0x12, 0x34, 0, 5 };
	uint32_t us = 0;

	assert_int_equal(ferry_icmp_rtt(INADDR_LOOPBACK, 3, 500, &us, &err), 0);
	assert_true(us > 0 && us < 500000);
	assert_int_equal(ferry_icmp_rtt(INADDR_LOOPBACK, 0, 500, &us, &err), -EINVAL);
	assert_int_equal(ferry_icmp_rtt(INADDR_LOOPBACK, 1, 5000, &us, &err), -EINVAL);
	assert_int_equal(ferry_icmp_is_reply(pkt, sizeof(pkt), INADDR_LOOPBACK, 0x1234, 5), 1);
	assert_int_equal(ferry_icmp_is_reply(pkt, sizeof(pkt), INADDR_LOOPBACK, 0x1234, 6), 0); /* another seq */
	assert_int_equal(ferry_icmp_is_reply(pkt, sizeof(pkt), 0x0a000001U, 0x1234, 5), 0);     /* another host */
	pkt[20] = 8; /* an echo request, not a reply */
	assert_int_equal(ferry_icmp_is_reply(pkt, sizeof(pkt), INADDR_LOOPBACK, 0x1234, 5), 0);
	pkt[0] = 0x4f; /* header longer than the packet */
	assert_true(ferry_icmp_is_reply(pkt, sizeof(pkt), INADDR_LOOPBACK, 0x1234, 5) < 0);
	assert_true(ferry_icmp_is_reply(pkt, 10, INADDR_LOOPBACK, 0x1234, 5) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loopback_counters_move),
		cmocka_unit_test(test_malformed_dumps),
		cmocka_unit_test(test_cpu_times),
		cmocka_unit_test(test_icmp_probe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
