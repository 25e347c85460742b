/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Placement policies on the policy-based thesis' own topology (its Figure
 * 7.1: hosts H1-H5 on switches S1-S5; H2 -> H3 via S2-S1-S3, H2 -> H4 via
 * S2-S1-S4, H2 -> H5 via S2-S5) and the decisions its analysis expects.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/policy.h"

#define MBIT 1000000ULL
#define GB   (1ULL << 30)

/* s21: the S2-S1 link's capacity (scenario 2 makes it the bottleneck); used13: traffic on S1-S3. */
static void thesis(struct ferry_net *net, uint64_t s21, uint64_t used13)
{
	int s[6], h[6];
	char name[8];

	assert_int_equal(ferry_net_init(net, 16, 16, NULL), 0);
	for (int i = 1; i <= 5; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		s[i] = ferry_net_add_switch(net, name, NULL);
		snprintf(name, sizeof(name), "h%d", i);
		/* H1 drives the load and receives nothing; H4 is the busiest of the others. */
		h[i] = ferry_net_add_host(net, name, i == 4 ? 0.9 : 0.1 * i, 4 * GB, i != 1, NULL);
		assert_true(s[i] >= 0 && h[i] >= 0);
		assert_int_equal(ferry_net_add_link(net, h[i], s[i], 1000 * MBIT, 0, 100, true, NULL), 0);
	}
	assert_int_equal(ferry_net_add_link(net, s[2], s[1], s21, 0, 1000, false, NULL), 0);
	assert_int_equal(ferry_net_add_link(net, s[1], s[3], 100 * MBIT, used13, 1000, false, NULL), 0);
	assert_int_equal(ferry_net_add_link(net, s[1], s[4], 50 * MBIT, 0, 1000, false, NULL), 0);
	assert_int_equal(ferry_net_add_link(net, s[2], s[5], 10 * MBIT, 0, 1000, false, NULL), 0);
	assert_int_equal(ferry_net_finish(net, NULL), 0);
}

static const char *decide(const struct ferry_net *net, const char *policy, struct ferry_candidate *c)
{
	const struct ferry_policy_ops *p = ferry_policy_find(policy, NULL);
	int n;

	assert_non_null(p);
	n = ferry_policy_rank(p, net, (unsigned)ferry_net_find(net, "h2"), GB, c, 8, NULL);
	assert_true(n > 0);
	return net->v[c[0].host].name;
}

static void test_thesis_scenarios(void **state)
{
	struct ferry_candidate c[8];
	struct ferry_net net;

	/* Scenario 1, heterogeneous links: the widest path leads to H3, the shortest to H5. */
	thesis(&net, 100 * MBIT, 0);
	assert_string_equal(decide(&net, "bandwidth", c), "h3");
	assert_int_equal(c[0].path.bottleneck, 100 * MBIT);
	assert_string_equal(net.v[c[1].host].name, "h4");
	assert_string_equal(net.v[c[2].host].name, "h5");
	assert_string_equal(decide(&net, "shortest-path", c), "h5");
	assert_int_equal(c[0].path.hops, 3);
	assert_int_equal(c[0].path.latency_us, 1200);
	assert_false(c[0].path.latency_measured); /* the S2-S5 figure came from the file */
	assert_string_equal(decide(&net, "least-loaded", c), "h3");
	ferry_net_free(&net);
	/* Measured traffic on S1-S3 leaves 5 Mbit/s there: H4 is wider now. */
	thesis(&net, 100 * MBIT, 95 * MBIT);
	assert_string_equal(decide(&net, "bandwidth", c), "h4");
	ferry_net_free(&net);
	/* Scenario 2, the S2-S1 link is the bottleneck: H5. */
	thesis(&net, 5 * MBIT, 0);
	assert_string_equal(decide(&net, "bandwidth", c), "h5");
	ferry_net_free(&net);
}

static void test_candidates_and_errors(void **state)
{
	struct ferry_candidate c[8];
	struct ferry_err err = { 0 };
	struct ferry_net net;
	int n;

	thesis(&net, 100 * MBIT, 0);
	/* Never the source, never an ineligible host, never one without the memory. */
	n = ferry_policy_rank(&ferry_policy_bandwidth, &net, (unsigned)ferry_net_find(&net, "h2"), GB, c, 8, NULL);
	assert_int_equal(n, 3);
	for (int i = 0; i < n; i++)
		assert_true(strcmp(net.v[c[i].host].name, "h2") != 0 && strcmp(net.v[c[i].host].name, "h1") != 0);
	/* Asked for one, the best one: every candidate is scored, max only bounds the answer. */
	assert_int_equal(
	    ferry_policy_rank(&ferry_policy_shortest_path, &net, (unsigned)ferry_net_find(&net, "h2"), GB, c, 1, NULL),
	    1);
	assert_string_equal(net.v[c[0].host].name, "h5"); /* the last host of the network */
	assert_int_equal(
	    ferry_policy_rank(&ferry_policy_bandwidth, &net, (unsigned)ferry_net_find(&net, "h2"), 8 * GB, c, 8, NULL),
	    0);
	assert_null(ferry_policy_find("greedy", &err));
	assert_string_equal(err.msg,
	                    "unknown policy 'greedy'; expected one of random, bandwidth, shortest-path, least-loaded");
	assert_true(ferry_net_add_host(&net, "h9", 0, 0, true, &err) < 0); /* finished */
	assert_true(ferry_net_shortest_paths(&net, (unsigned)ferry_net_find(&net, "s1"), NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "starts at a host"));
	ferry_net_free(&net);
	assert_int_equal(ferry_net_init(&net, 4, 4, NULL), 0);
	assert_true(ferry_net_add_host(&net, "a", 1.5, 0, true, &err) < 0);
	assert_non_null(strstr(err.msg, "expected 0 to 1"));
	assert_int_equal(ferry_net_add_host(&net, "a", 0, 0, true, NULL), 0);
	assert_int_equal(ferry_net_add_host(&net, "a", 0, 0, true, &err), -EEXIST);
	assert_true(ferry_net_add_switch(&net, "bad name!", &err) < 0);
	assert_true(ferry_net_add_link(&net, 0, 0, 1, 0, 0, false, &err) < 0);
	assert_int_equal(ferry_net_add_host(&net, "b", 0, 0, true, NULL), 1);
	assert_int_equal(ferry_net_add_link(&net, 0, 1, 10, 0, 0, false, NULL), 0); /* host to host: no switch */
	assert_int_equal(ferry_net_add_host(&net, "c", 0, GB, true, NULL), 2);      /* isolated: unreachable */
	assert_int_equal(ferry_net_finish(&net, NULL), 0);
	assert_int_equal(ferry_policy_rank(&ferry_policy_random, &net, 0, 0, c, 8, NULL), 1);
	assert_int_equal(c[0].host, 1);
	ferry_net_free(&net);
}

/* Four eligible hosts, 4000 draws: the counts pass a chi-square test (3 degrees of freedom, p = 0.001). */
static void test_random_is_uniform(void **state)
{
	struct ferry_candidate c[8];
	struct ferry_net net;
	unsigned count[16] = { 0 };
	double chi = 0;

	thesis(&net, 100 * MBIT, 0);
	for (int i = 0; i < 4000; i++) {
		assert_int_equal(
		    ferry_policy_rank(&ferry_policy_random, &net, (unsigned)ferry_net_find(&net, "h1"), GB, c, 8, NULL),
		    4);
		count[c[0].host]++;
	}
	for (unsigned i = 0; i < net.n_v; i++)
		if (net.v[i].kind == FERRY_VERTEX_HOST && strcmp(net.v[i].name, "h1") != 0)
			chi += ((double)count[i] - 1000.0) * ((double)count[i] - 1000.0) / 1000.0;
	assert_true(chi < 16.27);
	ferry_net_free(&net);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thesis_scenarios),
		cmocka_unit_test(test_candidates_and_errors),
		cmocka_unit_test(test_random_is_uniform),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
