/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Moving-target defense's draws: the draw token (signed, one encoding,
 * every byte covered), where a random number points, and the choice of the
 * hosts asked for shares: distinct and uniform (shamir), by 1/latency with
 * repeats (fountain, the thesis' equation 6.1), each checked by chi-square.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "ferry/identity.h"
#include "ferry/mtd.h"

static struct ferry_mtd_draw sample(void)
{
	struct ferry_mtd_draw d = { .epoch = 1795547062226ULL, .mode = FERRY_MTD_FOUNTAIN, .k = 3, .expires_at = 99 };

	memset(d.id, 0xab, sizeof(d.id));
	snprintf(d.requester, sizeof(d.requester), "n1");
	return d;
}

static void test_token_round_trip_and_tamper(void **state)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	struct ferry_buf b = FERRY_BUF_INIT(256);
	struct ferry_mtd_draw d = sample(), got;
	struct ferry_err err = { 0 };

	assert_non_null(key);
	assert_int_equal(ferry_mtd_draw_sign(&d, key, &err), 0);
	assert_int_equal(ferry_mtd_draw_encode(&d, &b), 0);
	assert_int_equal(ferry_mtd_draw_parse(b.data, b.len, &got, &err), 0);
	assert_int_equal(got.epoch, d.epoch);
	assert_string_equal(got.requester, "n1");
	assert_int_equal(ferry_mtd_draw_verify(&got, key, &err), 0);
	/* Another key did not sign it. */
	assert_int_equal(ferry_mtd_draw_verify(&got, other, &err), -EPERM);
	/* Every byte counts: a change either does not parse or does not verify. */
	for (size_t i = 0; i < b.len; i++) {
		uint8_t *p = (uint8_t *)b.data;

		p[i] ^= 0x01;
		assert_true(ferry_mtd_draw_parse(b.data, b.len, &got, NULL) < 0 ||
		            ferry_mtd_draw_verify(&got, key, NULL) < 0);
		p[i] ^= 0x01;
	}
	/* Short, long, bad mode, bad k. */
	assert_int_equal(ferry_mtd_draw_parse(b.data, b.len - 1, &got, &err), -EPROTO);
	assert_int_equal(ferry_mtd_draw_parse(b.data, FERRY_MTD_DRAW_MAX_LEN + 1, &got, &err), -EPROTO);
	d.mode = 4;
	ferry_buf_reset(&b);
	ferry_mtd_draw_encode(&d, &b);
	assert_int_equal(ferry_mtd_draw_parse(b.data, b.len, &got, &err), -EPROTO);
	d.mode = FERRY_MTD_SHAMIR;
	d.k = 1;
	ferry_buf_reset(&b);
	ferry_mtd_draw_encode(&d, &b);
	assert_int_equal(ferry_mtd_draw_parse(b.data, b.len, &got, &err), -EPROTO);
	ferry_buf_free(&b);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

/* Pearson's statistic of counts against expected counts. */
static double chi_square(const unsigned *count, const double *expected, unsigned k)
{
	double x = 0;

	for (unsigned i = 0; i < k; i++)
		x += (count[i] - expected[i]) * (count[i] - expected[i]) / expected[i];
	return x;
}

/* 99.99th percentiles of chi-square: a fair draw fails once in 10 000 runs. */
#define CHI2_3_P9999 21.108
#define CHI2_4_P9999 23.513

static void test_index_is_uniform_and_fixed(void **state)
{
	uint8_t r[FERRY_MTD_R_LEN];
	unsigned count[5] = { 0 };
	double expected[5] = { 200, 200, 200, 200, 200 };

	for (int i = 0; i < 1000; i++) {
		unsigned idx;

		assert_int_equal(ferry_random(r, sizeof(r)), 0);
		idx = ferry_mtd_index(r, 42, 5);
		assert_true(idx < 5);
		/* The same number in the same epoch points at the same entry: the controller checks the host's answer.
		 */
		assert_int_equal(ferry_mtd_index(r, 42, 5), idx);
		count[idx]++;
	}
	assert_true(chi_square(count, expected, 5) < CHI2_4_P9999);
	assert_int_equal(ferry_mtd_index(r, 42, 0), 0);
}

static void test_shamir_asks_distinct_hosts_alike(void **state)
{
	unsigned count[5] = { 0 }, pick[5];
	double expected[5] = { 600, 600, 600, 600, 600 };
	struct ferry_err err = { 0 };

	for (int i = 0; i < 1000; i++) {
		assert_int_equal(ferry_mtd_pick_disjoint(5, 3, pick, &err), 0);
		assert_true(pick[0] != pick[1] && pick[0] != pick[2] && pick[1] != pick[2]);
		for (int j = 0; j < 3; j++) {
			assert_true(pick[j] < 5);
			count[pick[j]]++;
		}
	}
	assert_true(chi_square(count, expected, 5) < CHI2_4_P9999);
	assert_int_equal(ferry_mtd_pick_disjoint(2, 3, pick, &err), -EINVAL);
}

static void test_fountain_favours_near_hosts(void **state)
{
	/* 1/latency: 100 us twice as likely as 200, four times as 400; unknown counts as the farthest. */
	const uint32_t latency[4] = { 100, 200, 400, 0 };
	unsigned count[4] = { 0 }, pick[4];
	double expected[4] = { 2000, 1000, 500, 500 };
	struct ferry_err err = { 0 };
	bool repeated = false;

	for (int i = 0; i < 1000; i++) {
		assert_int_equal(ferry_mtd_pick_by_latency(latency, 4, 4, pick, &err), 0);
		for (int j = 0; j < 4; j++) {
			assert_true(pick[j] < 4);
			count[pick[j]]++;
			for (int k = 0; k < j; k++)
				repeated |= pick[k] == pick[j];
		}
	}
	assert_true(repeated); /* not disjoint: the near host answers more than once */
	assert_true(chi_square(count, expected, 4) < CHI2_3_P9999);
	/* The test can fail: drawn alike, the counts are far from 1/latency. */
	{
		unsigned flat[4] = { 1000, 1000, 1000, 1000 };

		assert_true(chi_square(flat, expected, 4) > CHI2_3_P9999);
	}
	assert_int_equal(ferry_mtd_pick_by_latency(latency, 0, 1, pick, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_round_trip_and_tamper),
		cmocka_unit_test(test_index_is_uniform_and_fixed),
		cmocka_unit_test(test_shamir_asks_distinct_hosts_alike),
		cmocka_unit_test(test_fountain_favours_near_hosts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
