/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Forensic snapshot files: what the operator's key opens, what anyone with
 * the CA can check, and that no changed, moved, cut or extended byte goes
 * unnoticed (and leaves no plaintext behind).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ferry/fs.h"
#include "ferry/identity.h"
#include "ferry/snapshot.h"

struct fixture {
	char dir[64], plain[128], snap[128], out[128], key[128], pub[128], other_key[128], other_pub[128];
	EVP_PKEY *ca_key, *node_key, *other_ca_key;
	X509 *ca, *node_cert, *other_ca;
	uint8_t recipient[FERRY_SNAPSHOT_KEY_LEN];
};

static X509 *issue(EVP_PKEY *key, const char *cn, X509 *ca, EVP_PKEY *ca_key)
{
	X509_REQ *csr = ferry_csr_make(key, cn, NULL);
	X509 *cert = ferry_cert_issue(csr, cn, ca, ca_key, 30, NULL);

	X509_REQ_free(csr);
	return cert;
}

static void write_random(const char *path, size_t n)
{
	FILE *f = fopen(path, "wb");
	uint8_t buf[4096];

	assert_non_null(f);
	while (n) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);

		assert_int_equal(ferry_random(buf, k), 0);
		assert_int_equal(fwrite(buf, 1, k, f), k);
		n -= k;
	}
	fclose(f);
}

static bool same_files(const char *a, const char *b)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cmp -s %s %s", a, b);
	return system(cmd) == 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/ferry-test-snapshot-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->plain, sizeof(f->plain), "%s/plain", f->dir);
	snprintf(f->snap, sizeof(f->snap), "%s/snap", f->dir);
	snprintf(f->out, sizeof(f->out), "%s/out", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/operator.key", f->dir);
	snprintf(f->pub, sizeof(f->pub), "%s/operator.pub", f->dir);
	snprintf(f->other_key, sizeof(f->other_key), "%s/other.key", f->dir);
	snprintf(f->other_pub, sizeof(f->other_pub), "%s/other.pub", f->dir);
	f->ca_key = ferry_key_generate(NULL);
	f->node_key = ferry_key_generate(NULL);
	f->other_ca_key = ferry_key_generate(NULL);
	f->ca = ferry_cert_make_ca(f->ca_key, "ferry-ca", 30, NULL);
	f->other_ca = ferry_cert_make_ca(f->other_ca_key, "ferry-ca", 30, NULL);
	f->node_cert = issue(f->node_key, "n1", f->ca, f->ca_key);
	assert_non_null(f->node_cert);
	assert_int_equal(ferry_snapshot_keygen(f->key, f->pub, NULL), 0);
	assert_int_equal(ferry_snapshot_keygen(f->other_key, f->other_pub, NULL), 0);
	assert_int_equal(ferry_snapshot_pubkey_load(f->pub, f->recipient, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ferry_rm_tree(f->dir, NULL);
	EVP_PKEY_free(f->ca_key);
	EVP_PKEY_free(f->node_key);
	EVP_PKEY_free(f->other_ca_key);
	X509_free(f->ca);
	X509_free(f->other_ca);
	X509_free(f->node_cert);
	free(f);
	return 0;
}

static const struct ferry_snapshot_meta META = {
	.container = "web", .node = "n1", .image = "busybox", .created_at = 1795547000, .generation = 4
};

static void make(struct fixture *f, size_t plain_bytes)
{
	unlink(f->snap);
	unlink(f->out);
	write_random(f->plain, plain_bytes);
	assert_int_equal(ferry_snapshot_write(f->plain, f->recipient, &META, f->node_key, f->node_cert, f->snap, NULL),
	                 0);
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct ferry_snapshot_info info;
	struct ferry_err err = { 0 };
	size_t sizes[] = { 0, 1, FERRY_SNAPSHOT_SEGMENT, 2 * FERRY_SNAPSHOT_SEGMENT + 12345 };
	struct stat st;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		make(f, sizes[i]);
		/* Without the key: who made it, what it is, whether the CA vouches for the signer. */
		assert_int_equal(ferry_snapshot_read(f->snap, f->ca, NULL, NULL, &info, &err), 0);
		assert_string_equal(info.meta.container, "web");
		assert_string_equal(info.signer, "n1");
		assert_true(info.chain_ok);
		assert_false(info.opened);
		assert_int_equal(info.segments,
		                 sizes[i] ? (sizes[i] + FERRY_SNAPSHOT_SEGMENT - 1) / FERRY_SNAPSHOT_SEGMENT : 1);
		/* With it: the very bytes. */
		assert_int_equal(ferry_snapshot_read(f->snap, f->ca, f->key, f->out, &info, &err), 0);
		assert_true(info.opened);
		assert_int_equal(info.plain_bytes, sizes[i]);
		assert_true(same_files(f->plain, f->out));
	}
	/* Not readable by anyone else; never in the clear on disk. */
	assert_int_equal(stat(f->key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_wrong_keys_and_ca(void **state)
{
	struct fixture *f = *state;
	struct ferry_snapshot_info info;
	struct ferry_err err = { 0 };

	make(f, 5000);
	assert_int_equal(ferry_snapshot_read(f->snap, f->ca, f->other_key, f->out, &info, &err), -EACCES);
	assert_int_equal(access(f->out, F_OK), -1);
	assert_int_equal(ferry_snapshot_read(f->snap, f->other_ca, NULL, NULL, &info, &err), -EPERM);
	assert_non_null(strstr(err.msg, "not certified by this cluster's CA"));
	/* The public key is not a private one. */
	assert_int_equal(ferry_snapshot_read(f->snap, f->ca, f->pub, f->out, &info, &err), -EINVAL);
}

static void test_every_change_is_caught(void **state)
{
	struct fixture *f = *state;
	struct ferry_snapshot_info info;
	struct stat st;
	FILE *fp;
	long size;

	make(f, FERRY_SNAPSHOT_SEGMENT + 100);
	assert_int_equal(stat(f->snap, &st), 0);
	size = (long)st.st_size;
	/* One flipped bit anywhere: the header, the certificate, a segment, a tag, the signature. */
	for (long pos = 0; pos < size; pos += pos < 1024 ? 7 : 65521) {
		uint8_t b;

		fp = fopen(f->snap, "r+b");
		fseek(fp, pos, SEEK_SET);
		b = (uint8_t)fgetc(fp);
		fseek(fp, pos, SEEK_SET);
		fputc(b ^ 0x10, fp);
		fclose(fp);
		unlink(f->out);
		assert_true(ferry_snapshot_read(f->snap, f->ca, f->key, f->out, &info, NULL) < 0);
		assert_int_equal(access(f->out, F_OK), -1); /* nothing of it kept */
		assert_true(ferry_snapshot_read(f->snap, f->ca, NULL, NULL, &info, NULL) < 0);
		fp = fopen(f->snap, "r+b");
		fseek(fp, pos, SEEK_SET);
		fputc(b, fp);
		fclose(fp);
	}
	assert_int_equal(ferry_snapshot_read(f->snap, f->ca, f->key, f->out, &info, NULL), 0);
	/* Cut short, or with bytes after the signature. */
	assert_int_equal(truncate(f->snap, size - 1), 0);
	assert_true(ferry_snapshot_read(f->snap, f->ca, NULL, NULL, &info, NULL) < 0);
	assert_int_equal(truncate(f->snap, size - 80 - FERRY_SNAPSHOT_SEGMENT / 2), 0);
	assert_true(ferry_snapshot_read(f->snap, f->ca, NULL, NULL, &info, NULL) < 0);
	make(f, 10);
	fp = fopen(f->snap, "ab");
	fputc(0, fp);
	fclose(fp);
	assert_true(ferry_snapshot_read(f->snap, f->ca, NULL, NULL, &info, NULL) < 0);
	/* Not a snapshot at all. */
	write_random(f->snap, 100);
	assert_true(ferry_snapshot_read(f->snap, f->ca, NULL, NULL, &info, NULL) < 0);
}

static void test_signer_must_be_the_node_it_names(void **state)
{
	struct fixture *f = *state;
	struct ferry_snapshot_meta meta = META;
	struct ferry_snapshot_info info;
	struct ferry_err err = { 0 };

	snprintf(meta.node, sizeof(meta.node), "n2");
	unlink(f->snap);
	write_random(f->plain, 10);
	assert_int_equal(ferry_snapshot_write(f->plain, f->recipient, &meta, f->node_key, f->node_cert, f->snap, NULL),
	                 0);
	assert_int_equal(ferry_snapshot_read(f->snap, f->ca, NULL, NULL, &info, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "signed by 'n1' but says it was taken on 'n2'"));
	/* An existing file is never overwritten. */
	assert_int_equal(ferry_snapshot_write(f->plain, f->recipient, &META, f->node_key, f->node_cert, f->snap, &err),
	                 -EEXIST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_wrong_keys_and_ca),
		cmocka_unit_test(test_every_change_is_caught),
		cmocka_unit_test(test_signer_must_be_the_node_it_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
