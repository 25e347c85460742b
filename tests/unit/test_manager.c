/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The migration manager's pure parts on the policy-based thesis' topology
 * (Figure 7.1): its configuration keys, the traffic view from host
 * counters, the heavy-host detector, and the network model the policies
 * decide on.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/manager.h"

#define MBIT 1000000.0
#define GB   (1ULL << 30)

/* The rates of the links S2-S1, S1-S3, S1-S4, S2-S5 (scenario 2 makes S2-S1 the bottleneck). */
static struct ferry_topology *topology(const char *s21, const char *s13, const char *s14, const char *s25)
{
	struct ferry_topology *t = calloc(1, sizeof(*t));
	struct ferry_err err = { 0 };
	char text[1024];

	snprintf(text, sizeof(text),
	         "switch s1\nswitch s2\nswitch s3\nswitch s4\nswitch s5\n"
	         "link s2 s1 rate %s latency 1ms\nlink s1 s3 rate %s latency 1ms\n"
	         "link s1 s4 rate %s latency 1ms\nlink s2 s5 rate %s latency 1ms\n"
	         "controller switch s1\n"
	         "host h1 switch s1 rate 1gbit latency 100us\nhost h2 switch s2 rate 1gbit latency 100us\n"
	         "host h3 switch s3 rate 1gbit latency 100us\nhost h4 switch s4 rate 1gbit latency 100us\n"
	         "host h5 switch s5 rate 1gbit latency 100us\n",
	         s21, s13, s14, s25);
	if (ferry_topology_parse(text, strlen(text), t, &err) < 0)
		fail_msg("%s", err.msg);
	return t;
}

static struct ferry_topology *thesis(const char *s21)
{
	return topology(s21, "100mbit", "50mbit", "10mbit");
}

static int node(const struct ferry_topology *t, const char *name)
{
	int k = ferry_topology_find_node(t, name);

	assert_true(k >= 0);
	return k;
}

/* H1 sends bps to H2, which runs the container; everything is measured. */
static void load(const struct ferry_topology *t, struct ferry_traffic *tr, double bps)
{
	memset(tr, 0, sizeof(*tr));
	for (unsigned k = 0; k < t->n_nodes; k++)
		tr->seen[k] = t->nodes[k].role == FERRY_NODE_HOST;
	tr->host_tx[node(t, "h1")] = bps;
	tr->host_rx[node(t, "h2")] = bps;
	tr->host_tx[node(t, "h2")] = bps / 50; /* acknowledgements */
	tr->host_rx[node(t, "h1")] = bps / 50;
	tr->movable[node(t, "h2")] = true;
	ferry_traffic_compute(t, tr);
}

static void test_config(void **state)
{
	struct ferry_manager_config m;
	struct ferry_err err = { 0 };

	ferry_manager_config_default(&m);
	assert_int_equal(ferry_manager_check(&m, &err), 0);
	assert_string_equal(m.policy, "");
	assert_true(ferry_manager_is_key("policy"));
	assert_true(ferry_manager_is_key("aggregate_difference_threshold"));
	assert_false(ferry_manager_is_key("allow_postcopy"));
	assert_int_equal(ferry_manager_set(&m, "policy", "shortest-path", &err), 0);
	assert_string_equal(m.policy, "shortest-path");
	assert_int_equal(ferry_manager_set(&m, "policy", "fastest", &err), -ENOENT);
	assert_non_null(strstr(err.msg, "'fastest'"));
	assert_non_null(strstr(err.msg, "random, bandwidth, shortest-path, least-loaded"));
	assert_int_equal(ferry_manager_set(&m, "aggregate_threshold", "80mbit", &err), 0);
	assert_true(m.aggregate_threshold == 80000000ULL);
	assert_int_equal(ferry_manager_set(&m, "port_threshold", "lots", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "port_threshold"));
	assert_int_equal(ferry_manager_set(&m, "check_interval_ms", "10", &err), -ERANGE);
	assert_non_null(strstr(err.msg, "check_interval_ms"));
	assert_int_equal(ferry_manager_set(&m, "hysteresis_percent", "95", &err), -ERANGE);
	assert_int_equal(ferry_manager_set(&m, "dry_run", "maybe", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "yes or no"));
	assert_int_equal(ferry_manager_set(&m, "dry_run", "yes", &err), 0);
	assert_true(m.dry_run);
	assert_int_equal(ferry_manager_set(&m, "topology", "relative/path", &err), -EINVAL);
	assert_int_equal(ferry_manager_set(&m, "topology", "/etc/ferry/topology", &err), 0);
	/* The customized frequency must be the faster one. */
	assert_int_equal(ferry_manager_set(&m, "fast_sample_interval_ms", "2000", &err), 0);
	assert_int_equal(ferry_manager_check(&m, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "fast_sample_interval_ms 2000"));
}

/* The S1-S2 link carries H1's flood one way; the switches see it enter once each. */
static void test_traffic_view(void **state)
{
	struct ferry_topology *t = thesis("100mbit");
	struct ferry_traffic tr;

	load(t, &tr, 90 * MBIT);
	/* Link 0 is s2-s1: a = s2, b = s1. */
	assert_true(tr.link_ba[0] == 90 * MBIT);
	assert_true(tr.link_ab[0] == 90 * MBIT / 50);
	assert_true(tr.link_ab[1] == 0 && tr.link_ab[2] == 0 && tr.link_ab[3] == 0);
	assert_true(tr.aggregate[0] == 90 * MBIT + 90 * MBIT / 50); /* s1: H1's port, and the acks from s2 */
	assert_true(tr.aggregate[1] == 90 * MBIT + 90 * MBIT / 50); /* s2: the flood from s1, and H2's acks */
	assert_true(tr.aggregate[4] == 0);
	/* H1 unmeasured (a client): S1's side gives no bound, what S2's side received does. */
	load(t, &tr, 90 * MBIT);
	tr.seen[node(t, "h1")] = false;
	ferry_traffic_compute(t, &tr);
	assert_true(tr.link_ba[0] == 90 * MBIT);
	assert_true(tr.link_ab[0] == 90 * MBIT / 50); /* what S2's side sent bounds it alone */
	assert_true(tr.aggregate[1] == 90 * MBIT + 90 * MBIT / 50);
	free(t);
}

static void test_detector(void **state)
{
	struct ferry_topology *t = thesis("100mbit");
	struct ferry_manager_config m;
	struct ferry_detector d;
	struct ferry_traffic tr;

	ferry_manager_config_default(&m);
	ferry_detector_init(&d);
	/* Quiet: nothing. */
	load(t, &tr, 1 * MBIT);
	assert_int_equal(ferry_detector_check(&d, &m, t, &tr), -1);
	assert_false(d.hot[0] || d.hot[1]);
	/* Loaded: S1 and S2 are hot, S1 is as heavy but has nothing to move: H2, on the second check. */
	load(t, &tr, 90 * MBIT);
	assert_int_equal(ferry_detector_check(&d, &m, t, &tr), -1);
	assert_true(d.hot[0] && d.hot[1]);
	assert_int_equal(d.heaviest_switch, 1);
	assert_int_equal(d.busiest_host, node(t, "h2"));
	assert_int_equal(ferry_detector_check(&d, &m, t, &tr), node(t, "h2"));
	/* Hysteresis: at 45 Mbit/s (under 50, over 40) the switches stay hot... */
	load(t, &tr, 45 * MBIT);
	assert_int_equal(ferry_detector_check(&d, &m, t, &tr), -1);
	assert_true(d.hot[1]);
	assert_int_equal(ferry_detector_check(&d, &m, t, &tr), node(t, "h2"));
	/* ...and cool below 40. */
	load(t, &tr, 30 * MBIT);
	assert_int_equal(ferry_detector_check(&d, &m, t, &tr), -1);
	assert_false(d.hot[1]);
	/* A sudden rise under the threshold heats the switch too. */
	m.aggregate_threshold = 500 * 1000000ULL;
	load(t, &tr, 1 * MBIT);
	ferry_detector_check(&d, &m, t, &tr);
	load(t, &tr, 40 * MBIT);
	ferry_detector_check(&d, &m, t, &tr);
	assert_true(d.hot[1]);
	/* A port under port_threshold is never singled out. */
	m.port_threshold = 100 * 1000000ULL;
	assert_int_equal(ferry_detector_check(&d, &m, t, &tr), -1);
	assert_int_equal(d.busiest_host, -1);
	free(t);
}

static const char *decide(const struct ferry_topology *t, const struct ferry_traffic *tr, const char *policy)
{
	struct ferry_host_view hosts[FERRY_TOPO_MAX_NODES] = { 0 };
	struct ferry_candidate c[8];
	int vertex_of[FERRY_TOPO_MAX_NODES];
	static char name[32];
	struct ferry_net net;
	struct ferry_err err = { 0 };
	int n;

	for (unsigned k = 0; k < t->n_nodes; k++)
		hosts[k] = (struct ferry_host_view){
			.known = true, .eligible = k != (unsigned)node(t, "h1"), .load = 0.1, .mem_free = 4 * GB
		};
	assert_int_equal(ferry_manager_net(t, tr, hosts, &net, vertex_of, &err), 0);
	assert_int_equal(vertex_of[0], -1); /* the controller is not a host */
	n = ferry_policy_rank(ferry_policy_find(policy, NULL), &net, (unsigned)vertex_of[node(t, "h2")], GB, c, 8,
	                      &err);
	assert_true(n > 0);
	snprintf(name, sizeof(name), "%s", net.v[c[0].host].name);
	ferry_net_free(&net);
	return name;
}

/*
 * The thesis' decisions from measured traffic: H1's flood into H2 fills the
 * S1->S2 direction, which a migration out of H2 does not take.
 */
static void test_thesis_decisions(void **state)
{
	struct ferry_topology *t = thesis("100mbit");
	struct ferry_traffic tr;

	load(t, &tr, 95 * MBIT);
	assert_string_equal(decide(t, &tr, "bandwidth"), "h3");
	assert_string_equal(decide(t, &tr, "shortest-path"), "h5");
	free(t);
	t = thesis("5mbit");
	load(t, &tr, 4.5 * MBIT);
	assert_string_equal(decide(t, &tr, "bandwidth"), "h5");
	free(t);
	/* Homogeneous links: every path is as wide, and the shorter one wins the tie. */
	t = topology("100mbit", "100mbit", "100mbit", "100mbit");
	load(t, &tr, 95 * MBIT);
	assert_string_equal(decide(t, &tr, "bandwidth"), "h5");
	assert_string_equal(decide(t, &tr, "shortest-path"), "h5");
	free(t);
}

/* Where the file declares no latency, half the round trip measured from the source stands in, marked measured. */
static void test_measured_latency(void **state)
{
	static const char text[] = "switch s1\nhost a switch s1\nhost b switch s1\nhost c switch s1 latency 2ms\n";
	struct ferry_topology *t = calloc(1, sizeof(*t));
	struct ferry_host_view hv[FERRY_TOPO_MAX_NODES] = { 0 };
	struct ferry_traffic tr = { 0 };
	struct ferry_candidate c[4];
	int vertex_of[FERRY_TOPO_MAX_NODES], n;
	struct ferry_net net;

	assert_int_equal(ferry_topology_parse(text, strlen(text), t, NULL), 0);
	for (unsigned k = 0; k < 3; k++)
		hv[k] = (struct ferry_host_view){ .known = true, .eligible = true, .mem_free = 4 * GB };
	hv[0].is_source = true;
	hv[1].rtt_us = 600; /* a <-> b measured */
	hv[2].rtt_us = 100; /* c's link declares 2 ms: the file wins */
	assert_int_equal(ferry_manager_net(t, &tr, hv, &net, vertex_of, NULL), 0);
	n = ferry_policy_rank(ferry_policy_find("shortest-path", NULL), &net, (unsigned)vertex_of[0], GB, c, 4, NULL);
	assert_int_equal(n, 2);
	assert_string_equal(net.v[c[0].host].name, "b");
	assert_int_equal(c[0].path.latency_us, 300);
	assert_true(c[0].path.latency_measured);
	assert_string_equal(net.v[c[1].host].name, "c");
	assert_int_equal(c[1].path.latency_us, 2000);
	assert_false(c[1].path.latency_measured);
	ferry_net_free(&net);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),           cmocka_unit_test(test_traffic_view),
		cmocka_unit_test(test_detector),         cmocka_unit_test(test_thesis_decisions),
		cmocka_unit_test(test_measured_latency),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
