/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The defensive rules: their keys, the alert tracker (one evacuation per
 * host however many alerts arrive), and the uniformity of the random
 * destinations (a chi-square test over 1 000 draws, of the evacuation's
 * draw and of the random policy).
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

#include "ferry/defense.h"
#include "ferry/policy.h"

#define GB (1ULL << 30)

static void test_keys(void **state)
{
	struct ferry_defense_config d;
	struct ferry_err err = { 0 };

	ferry_defense_config_default(&d);
	assert_int_equal(d.action, FERRY_IDS_LOG); /* nothing moves unless the operator says so */
	assert_int_equal(d.min_severity, 2);
	assert_true(d.quarantine);
	assert_true(ferry_defense_is_key("ids_window_s"));
	assert_false(ferry_defense_is_key("policy"));
	assert_int_equal(ferry_defense_set(&d, "security_mode", "random", &err), 0);
	assert_int_equal(d.security_mode, FERRY_SECURITY_RANDOM);
	assert_int_equal(ferry_defense_set(&d, "ids_action", "evacuate", &err), 0);
	assert_int_equal(ferry_defense_set(&d, "ids_implicate", "reporter", &err), 0);
	assert_int_equal(d.implicate, FERRY_IMPLICATE_REPORTER);
	assert_int_equal(ferry_defense_set(&d, "ids_alerts", "5", &err), 0);
	assert_int_equal(d.alerts, 5);
	assert_int_equal(ferry_defense_set(&d, "ids_quarantine", "no", &err), 0);
	assert_false(d.quarantine);
	/* Errors name the key, the value and what is accepted. */
	assert_int_equal(ferry_defense_set(&d, "ids_action", "nuke", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "ids_action 'nuke' is not known; expected log or evacuate"));
	assert_int_equal(ferry_defense_set(&d, "ids_min_severity", "0", &err), -ERANGE);
	assert_non_null(strstr(err.msg, "ids_min_severity"));
	assert_int_equal(ferry_defense_set(&d, "ids_alerts", "1001", &err), -ERANGE);
	assert_int_equal(ferry_defense_set(&d, "ids_quarantine", "maybe", &err), -EINVAL);
	assert_int_equal(ferry_defense_set(&d, "security_mode", "fountain", &err), 0);
	assert_int_equal(d.security_mode, FERRY_SECURITY_FOUNTAIN);
	assert_int_equal(ferry_defense_set(&d, "security_mode", "chaos", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "expected none, random, shamir or fountain"));
	assert_int_equal(d.key_number, 3);
	assert_int_equal(ferry_defense_set(&d, "key_number", "1", &err), -ERANGE);
	assert_int_equal(ferry_defense_set(&d, "key_number", "17", &err), -ERANGE);
	assert_int_equal(ferry_defense_set(&d, "mtd_containers", "web,db", &err), 0);
	assert_int_equal(d.n_mtd_containers, 2);
	assert_string_equal(d.mtd_containers[1], "db");
	assert_int_equal(ferry_defense_set(&d, "mtd_containers", "web,,db", &err), -EINVAL);
	assert_int_equal(ferry_defense_set(&d, "mtd_containers", "Web", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "mtd_containers"));
}

static void test_rate_and_window(void **state)
{
	struct ferry_ids_tracker *t = malloc(sizeof(*t));
	struct ferry_defense_config d;

	ferry_defense_config_default(&d);
	d.alerts = 3;
	d.window_s = 10;
	ferry_ids_tracker_init(t);
	/* Too mild: not counted at all. */
	for (int i = 0; i < 10; i++)
		assert_int_equal(ferry_ids_observe(t, &d, "h1", 3, 1000 + i), FERRY_IDS_IGNORED);
	/* Three within ten seconds trigger; spread wider, they do not. */
	assert_int_equal(ferry_ids_observe(t, &d, "h1", 1, 0), FERRY_IDS_COUNTED);
	assert_int_equal(ferry_ids_observe(t, &d, "h1", 2, 6000), FERRY_IDS_COUNTED);
	assert_int_equal(ferry_ids_observe(t, &d, "h1", 1, 12000), FERRY_IDS_COUNTED); /* the first is out */
	assert_int_equal(ferry_ids_observe(t, &d, "h1", 1, 13000), FERRY_IDS_TRIGGER); /* 6, 12 and 13 s */
	/* Another host counts on its own. */
	assert_int_equal(ferry_ids_observe(t, &d, "h2", 1, 13000), FERRY_IDS_COUNTED);
	free(t);
}

static void test_flood_is_one_evacuation(void **state)
{
	struct ferry_ids_tracker *t = malloc(sizeof(*t));
	struct ferry_defense_config d;
	unsigned triggers = 0, suppressed = 0;

	ferry_defense_config_default(&d);
	ferry_ids_tracker_init(t);
	for (int i = 0; i < 100000; i++) {
		enum ferry_ids_verdict v = ferry_ids_observe(t, &d, "victim", 1, i);

		triggers += v == FERRY_IDS_TRIGGER;
		suppressed += v == FERRY_IDS_SUPPRESSED;
	}
	assert_int_equal(triggers, 1);
	assert_int_equal(suppressed, 99999);
	assert_int_equal(t->hosts[0].suppressed, 99999);
	/* Done (or released): the next alert starts the next one. */
	ferry_ids_done(t, "victim");
	assert_int_equal(ferry_ids_observe(t, &d, "victim", 1, 200000), FERRY_IDS_TRIGGER);
	free(t);
}

static void test_many_hosts(void **state)
{
	struct ferry_ids_tracker *t = malloc(sizeof(*t));
	struct ferry_defense_config d;
	char name[16];

	ferry_defense_config_default(&d);
	d.alerts = 2;
	ferry_ids_tracker_init(t);
	for (int i = 0; i < FERRY_IDS_HOSTS; i++) {
		snprintf(name, sizeof(name), "h%d", i);
		assert_int_equal(ferry_ids_observe(t, &d, name, 1, 0), FERRY_IDS_COUNTED);
		assert_int_equal(ferry_ids_observe(t, &d, name, 1, 1), FERRY_IDS_TRIGGER);
	}
	/* Every slot is evacuating: a 65th host waits (counted, never a lost slot of another). */
	assert_int_equal(ferry_ids_observe(t, &d, "late", 1, 2), FERRY_IDS_COUNTED);
	ferry_ids_done(t, "h7");
	ferry_ids_observe(t, &d, "late", 1, 3);
	assert_int_equal(ferry_ids_observe(t, &d, "late", 1, 4), FERRY_IDS_TRIGGER);
	free(t);
}

/* Pearson's statistic of counts against a uniform expectation. */
static double chi_square(const unsigned *count, unsigned k, unsigned n)
{
	double expected = (double)n / k, x = 0;

	for (unsigned i = 0; i < k; i++)
		x += (count[i] - expected) * (count[i] - expected) / expected;
	return x;
}

/* 99.99th percentile of chi-square with 4 degrees of freedom: a fair draw fails once in 10 000 runs. */
#define CHI2_4_P9999 23.513

static void test_draw_is_uniform(void **state)
{
	unsigned count[5] = { 0 }, v;
	/* One host 280 times in 1000 where 200 is fair. */
	static const unsigned skewed[5] = { 280, 180, 180, 180, 180 };

	for (int i = 0; i < 1000; i++) {
		assert_int_equal(ferry_defense_draw(5, &v), 0);
		assert_true(v < 5);
		count[v]++;
	}
	assert_true(chi_square(count, 5, 1000) < CHI2_4_P9999);
	/* The test can fail: a draw that favours one host that much is caught. */
	assert_true(chi_square(skewed, 5, 1000) > CHI2_4_P9999);
	assert_int_equal(ferry_defense_draw(0, &v), -EINVAL);
	assert_int_equal(ferry_defense_draw(1, &v), 0);
	assert_int_equal(v, 0);
}

static void test_random_policy_is_uniform(void **state)
{
	const struct ferry_policy_ops *p = ferry_policy_find("random", NULL);
	unsigned count[6] = { 0 };
	struct ferry_candidate c[8];
	struct ferry_net net;
	int sw, h[6];

	assert_int_equal(ferry_net_init(&net, 8, 8, NULL), 0);
	sw = ferry_net_add_switch(&net, "s", NULL);
	for (int i = 0; i < 6; i++) {
		char name[8];

		snprintf(name, sizeof(name), "h%d", i);
		/* h0 is the source; the other five must come out alike, bandwidth and latency aside. */
		h[i] = ferry_net_add_host(&net, name, 0.1, 4 * GB, true, NULL);
		assert_int_equal(ferry_net_add_link(&net, (unsigned)h[i], (unsigned)sw, (i + 1) * 100000000ULL, 0,
		                                    100 * (i + 1), false, NULL),
		                 0);
	}
	assert_int_equal(ferry_net_finish(&net, NULL), 0);
	for (int i = 0; i < 1000; i++) {
		assert_true(ferry_policy_rank(p, &net, (unsigned)h[0], GB, c, 8, NULL) == 5);
		for (int k = 1; k < 6; k++)
			if (c[0].host == (unsigned)h[k])
				count[k - 1]++;
	}
	assert_true(chi_square(count, 5, 1000) < CHI2_4_P9999);
	ferry_net_free(&net);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_rate_and_window),
		cmocka_unit_test(test_flood_is_one_evacuation),
		cmocka_unit_test(test_many_hosts),
		cmocka_unit_test(test_draw_is_uniform),
		cmocka_unit_test(test_random_policy_is_uniform),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
