/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The audit log on a real SQLite registry: the chain holds, the database
 * refuses changes, and every way around that (a changed, removed or
 * rewritten entry, a dropped tail) is found by verify.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ferry/audit.h"
#include "ferry/fs.h"
#include "ferry/hex.h"
#include "ferry/registry.h"

struct fixture {
	char dir[64], db[PATH_MAX], head[PATH_MAX];
	struct ferry_registry reg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/ferry-test-audit.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/registry.db", f->dir);
	snprintf(f->head, sizeof(f->head), "%s/audit.head", f->dir);
	if (ferry_registry_open(&f->reg, f->db, NULL) < 0)
		return -1;
	for (int i = 1; i <= 3; i++) {
		char detail[32];

		snprintf(detail, sizeof(detail), "step %d", i);
		if (ferry_audit_append(&f->reg, f->head, "admin:alice", "run", "kv", detail, NULL) < 0)
			return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ferry_registry_close(&f->reg);
	ferry_rm_tree(f->dir, NULL);
	free(f);
	return 0;
}

/* What someone with the database file, not the controller, can do. */
static int sql(struct fixture *f, const char *stmt)
{
	return sqlite3_exec(f->reg.db, stmt, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static struct ferry_audit_verdict verify(struct fixture *f)
{
	struct ferry_audit_verdict v;

	assert_int_equal(ferry_audit_verify(&f->reg, f->head, NULL, &v, NULL), 0);
	return v;
}

static void test_chain_holds(void **state)
{
	struct fixture *f = *state;
	struct ferry_audit_rec recs[8];
	struct ferry_audit_verdict v = verify(f);

	assert_true(v.intact);
	assert_int_equal(v.entries, 3);
	assert_int_equal(ferry_audit_list(&f->reg, recs, 8, NULL), 3);
	assert_int_equal(recs[0].seq, 1);
	assert_string_equal(recs[2].detail, "step 3");
	assert_string_equal(v.head, recs[2].hash);
	/* The newest two, oldest first. */
	assert_int_equal(ferry_audit_list(&f->reg, recs, 2, NULL), 2);
	assert_int_equal(recs[0].seq, 2);
	/* The database itself refuses a change or a deletion. */
	assert_int_equal(sql(f, "UPDATE audit SET detail = 'nothing' WHERE seq = 2"), -1);
	assert_int_equal(sql(f, "DELETE FROM audit WHERE seq = 3"), -1);
	assert_true(verify(f).intact);
}

static void test_changed_entry(void **state)
{
	struct fixture *f = *state;
	struct ferry_audit_verdict v;

	assert_int_equal(sql(f, "DROP TRIGGER audit_no_update; UPDATE audit SET detail = 'nothing' WHERE seq = 2"), 0);
	v = verify(f);
	assert_false(v.intact);
	assert_int_equal(v.bad_seq, 2);
	assert_non_null(strstr(v.why, "changed"));
}

static void test_removed_entries(void **state)
{
	struct fixture *f = *state;
	struct ferry_audit_verdict v;

	assert_int_equal(sql(f, "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 3"), 0);
	v = verify(f); /* the chain still adds up: the head file tells */
	assert_false(v.intact);
	assert_int_equal(v.bad_seq, 3);
	assert_non_null(strstr(v.why, "head file names entry 3"));
	assert_int_equal(ferry_audit_append(&f->reg, f->head, "controller", "rm", "kv", "", NULL), 0);
	assert_int_equal(sql(f, "DELETE FROM audit WHERE seq = 2"), 0);
	v = verify(f);
	assert_false(v.intact);
	assert_int_equal(v.bad_seq, 2);
	assert_non_null(strstr(v.why, "missing"));
}

static void test_rewritten_tail(void **state)
{
	struct fixture *f = *state;
	struct ferry_audit_rec recs[3];
	struct ferry_audit_anchor anchor;
	uint8_t prev[32], hash[32];
	char stmt[256];
	struct ferry_audit_verdict v;

	/* A consistent forgery of the last entry: right fields, right chain, its own hash. */
	assert_int_equal(ferry_audit_list(&f->reg, recs, 3, NULL), 3);
	anchor.seq = 3; /* what an operator kept from an earlier verify */
	assert_int_equal(ferry_hex_decode(recs[2].hash, anchor.hash, 32), 0);
	assert_int_equal(ferry_hex_decode(recs[1].hash, prev, 32), 0);
	snprintf(recs[2].detail, sizeof(recs[2].detail), "forged");
	ferry_audit_hash(prev, &recs[2], hash);
	ferry_hex_encode(hash, 32, recs[2].hash);
	snprintf(stmt, sizeof(stmt),
	         "DROP TRIGGER audit_no_update; UPDATE audit SET detail = 'forged', hash = '%s' "
	         "WHERE seq = 3",
	         recs[2].hash);
	assert_int_equal(sql(f, stmt), 0);
	v = verify(f);
	assert_false(v.intact);
	assert_int_equal(v.bad_seq, 3);
	assert_non_null(strstr(v.why, "head file"));
	/* Without the head file there is nothing to compare to: said so. */
	assert_int_equal(unlink(f->head), 0);
	v = verify(f);
	assert_false(v.intact);
	assert_non_null(strstr(v.why, "missing"));
	/* The head file forged too: the log adds up again, except to an entry kept outside. */
	snprintf(stmt, sizeof(stmt), "3 %s\n", recs[2].hash);
	assert_int_equal(ferry_write_file_atomic(f->head, stmt, strlen(stmt), 0600, NULL), 0);
	assert_true(verify(f).intact);
	assert_int_equal(ferry_audit_verify(&f->reg, f->head, &anchor, &v, NULL), 0);
	assert_false(v.intact);
	assert_int_equal(v.bad_seq, 3);
	assert_non_null(strstr(v.why, "kept outside"));
	anchor.seq = 10;
	assert_int_equal(ferry_audit_verify(&f->reg, f->head, &anchor, &v, NULL), 0);
	assert_false(v.intact);
	assert_non_null(strstr(v.why, "before entry 10 kept outside"));
}

static void test_hash_is_unambiguous(void **state)
{
	struct ferry_audit_rec a = { .seq = 1, .at = 7 }, b = a;
	uint8_t zero[32] = { 0 }, ha[32], hb[32];

	snprintf(a.actor, sizeof(a.actor), "ab");
	snprintf(a.action, sizeof(a.action), "c");
	snprintf(b.actor, sizeof(b.actor), "a");
	snprintf(b.action, sizeof(b.action), "bc");
	ferry_audit_hash(zero, &a, ha);
	ferry_audit_hash(zero, &b, hb);
	assert_memory_not_equal(ha, hb, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chain_holds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewritten_tail, setup, teardown),
		cmocka_unit_test(test_hash_is_unambiguous),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
