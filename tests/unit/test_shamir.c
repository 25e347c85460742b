/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shamir shares (libgfshare, CSPRNG) and the hosts' sealed lookup tables: what k-1 shares cannot do. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/shamir.h"

/*
 * Runs first, before any split in this process: libgfshare scrubs a
 * context with its fill function when it frees it, so combining in a
 * process that never split (a node) must not find that function unset.
 */
static void test_combine_in_a_fresh_process(void **state)
{
	struct ferry_share s[2] = { { .x = 1 }, { .x = 2 } };
	uint8_t got[FERRY_MTD_SECRET_LEN];

	memset(s[0].y, 0x11, sizeof(s[0].y));
	memset(s[1].y, 0x22, sizeof(s[1].y));
	assert_int_equal(ferry_shamir_combine(s, 2, got, NULL), 0);
}

static void test_k_shares_and_no_fewer(void **state)
{
	uint8_t secret[FERRY_MTD_SECRET_LEN], got[FERRY_MTD_SECRET_LEN];
	struct ferry_share s[5], pick[3], twice[2];
	struct ferry_err err = { 0 };

	assert_int_equal(ferry_mtd_secret(secret, &err), 0);
	assert_int_equal(ferry_shamir_split(secret, 3, 5, s, &err), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(s[i].x, i + 1);
	/* Any 3 of the 5, in any order. */
	pick[0] = s[4];
	pick[1] = s[0];
	pick[2] = s[2];
	assert_int_equal(ferry_shamir_combine(pick, 3, got, &err), 0);
	assert_memory_equal(got, secret, sizeof(got));
	assert_int_equal(ferry_shamir_combine(s, 5, got, &err), 0);
	assert_memory_equal(got, secret, sizeof(got));
	/* Two are not enough: another value. */
	assert_int_equal(ferry_shamir_combine(pick, 2, got, &err), 0);
	assert_memory_not_equal(got, secret, sizeof(got));
	/* Shares are not the secret, and differ from each other. */
	assert_memory_not_equal(s[0].y, secret, sizeof(secret));
	assert_memory_not_equal(s[0].y, s[1].y, sizeof(secret));
	/* Bad requests. */
	assert_int_equal(ferry_shamir_split(secret, 1, 5, s, &err), -EINVAL);
	assert_int_equal(ferry_shamir_split(secret, 6, 5, s, &err), -EINVAL);
	twice[0] = s[0];
	twice[1] = s[0];
	assert_int_equal(ferry_shamir_combine(twice, 2, got, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "given twice"));
	/* A fresh split of the same secret gives other shares (random coefficients). */
	struct ferry_share again[5];

	assert_int_equal(ferry_shamir_split(secret, 3, 5, again, &err), 0);
	assert_memory_not_equal(again[0].y, s[0].y, sizeof(secret));
}

static struct ferry_mtd_table table(const char *host, uint64_t epoch)
{
	static const char *const hosts[] = { "h2", "h3", "h4", "h5" };
	struct ferry_mtd_table t = { .epoch = epoch, .n = 4 };

	snprintf(t.host, sizeof(t.host), "%s", host);
	for (unsigned i = 0; i < 4; i++)
		snprintf(t.entries[i], sizeof(t.entries[i]), "%s", hosts[(i + host[1]) % 4]);
	return t;
}

static void test_tables(void **state)
{
	uint8_t secret[FERRY_MTD_SECRET_LEN], wrong[FERRY_MTD_SECRET_LEN];
	struct ferry_buf a = FERRY_BUF_INIT(8192), b = FERRY_BUF_INIT(8192);
	struct ferry_mtd_table ta = table("h2", 7), tb = table("h3", 7), got;
	struct ferry_share s[4];
	struct ferry_err err = { 0 };

	ferry_mtd_secret(secret, &err);
	assert_int_equal(ferry_mtd_table_seal(secret, &ta, &a, &err), 0);
	assert_int_equal(ferry_mtd_table_seal(secret, &tb, &b, &err), 0);
	assert_int_equal(ferry_mtd_table_open(secret, 7, "h2", a.data, a.len, &got, &err), 0);
	assert_int_equal(got.n, 4);
	assert_string_equal(got.entries[0], ta.entries[0]);
	assert_string_equal(got.entries[3], ta.entries[3]);
	/* One host's table says nothing about another's: its own key, so h3 cannot open h2's ... */
	assert_int_equal(ferry_mtd_table_open(secret, 7, "h3", a.data, a.len, &got, &err), -EBADMSG);
	/* ... nor an old epoch's, nor with a secret rebuilt from too few shares. */
	assert_int_equal(ferry_mtd_table_open(secret, 6, "h2", a.data, a.len, &got, &err), -EBADMSG);
	assert_int_equal(ferry_shamir_split(secret, 3, 4, s, &err), 0);
	assert_int_equal(ferry_shamir_combine(s, 2, wrong, &err), 0);
	assert_int_equal(ferry_mtd_table_open(wrong, 7, "h2", a.data, a.len, &got, &err), -EBADMSG);
	assert_int_equal(ferry_shamir_combine(s + 1, 3, wrong, &err), 0);
	assert_int_equal(ferry_mtd_table_open(wrong, 7, "h2", a.data, a.len, &got, &err), 0);
	/* A changed byte anywhere is caught. */
	for (size_t i = 0; i < a.len; i += 7) {
		a.data[i] ^= 1;
		assert_int_equal(ferry_mtd_table_open(secret, 7, "h2", a.data, a.len, &got, &err), -EBADMSG);
		a.data[i] ^= 1;
	}
	assert_int_equal(ferry_mtd_table_open(secret, 7, "h2", a.data, a.len - 1, &got, &err), -EBADMSG);
	/* Two seals of one table differ (a fresh nonce each time). */
	ferry_buf_reset(&b);
	assert_int_equal(ferry_mtd_table_seal(secret, &ta, &b, &err), 0);
	assert_true(a.len == b.len && memcmp(a.data, b.data, a.len) != 0);
	/* Bad tables are refused. */
	ta.n = 0;
	assert_int_equal(ferry_mtd_table_seal(secret, &ta, &b, &err), -EINVAL);
	ta.n = 1;
	snprintf(ta.entries[0], sizeof(ta.entries[0]), "Bad Name");
	assert_int_equal(ferry_mtd_table_seal(secret, &ta, &b, &err), -EINVAL);
	ferry_buf_free(&a);
	ferry_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_combine_in_a_fresh_process),
		cmocka_unit_test(test_k_shares_and_no_fewer),
		cmocka_unit_test(test_tables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
