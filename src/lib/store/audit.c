/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The audit log (see ferry/audit.h).  Hash of entry n:
 *
 *   SHA-256("ferry-audit-1" || hash(n-1) || be64 seq || be64 at ||
 *           for actor, action, subject, detail: be32 length || bytes)
 *
 * with hash(0) = 32 zero bytes.  Lengths make the encoding unambiguous: no
 * two different entries hash the same bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/audit.h"
#include "ferry/fs.h"
#include "ferry/hex.h"
#include "ferry/parse.h"

#define DOMAIN "ferry-audit-1"

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void hash_text(EVP_MD_CTX *md, const char *s)
{
	uint8_t len[4];
	size_t n = strlen(s);

	put_be(len, n, 4);
	EVP_DigestUpdate(md, len, sizeof(len));
	EVP_DigestUpdate(md, s, n);
}

void ferry_audit_hash(const uint8_t prev[32], const struct ferry_audit_rec *rec, uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t nums[16];
	unsigned len = 32;

	put_be(nums, rec->seq, 8);
	put_be(nums + 8, rec->at, 8);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, DOMAIN, sizeof(DOMAIN) - 1);
	EVP_DigestUpdate(md, prev, 32);
	EVP_DigestUpdate(md, nums, sizeof(nums));
	hash_text(md, rec->actor);
	hash_text(md, rec->action);
	hash_text(md, rec->subject);
	hash_text(md, rec->detail);
	EVP_DigestFinal_ex(md, out, &len);
	EVP_MD_CTX_free(md);
}

static void read_row(const struct ferry_row *row, struct ferry_audit_rec *rec, char prev[65])
{
	memset(rec, 0, sizeof(*rec));
	rec->seq = ferry_row_u64(row, 0);
	rec->at = ferry_row_u64(row, 1);
	ferry_row_text(row, 2, rec->actor, sizeof(rec->actor));
	ferry_row_text(row, 3, rec->action, sizeof(rec->action));
	ferry_row_text(row, 4, rec->subject, sizeof(rec->subject));
	ferry_row_text(row, 5, rec->detail, sizeof(rec->detail));
	ferry_row_text(row, 6, prev, 65);
	ferry_row_text(row, 7, rec->hash, sizeof(rec->hash));
}

#define COLUMNS "seq, at, actor, action, subject, detail, prev, hash"

/* The head file: "SEQ HASH\n". */
static int write_head(const char *path, uint64_t seq, const char *hash, struct ferry_err *err)
{
	char line[96];
	int n = snprintf(line, sizeof(line), "%" PRIu64 " %s\n", seq, hash);

	return ferry_write_file_atomic(path, line, (size_t)n, 0600, err);
}

static int read_head(const char *path, uint64_t *seq, char hash[65])
{
	struct ferry_buf b = FERRY_BUF_INIT(128);
	char num[24];
	int r = ferry_read_file(path, 128, &b, NULL);

	if (r == 0 && (sscanf(b.data, "%20s %64s", num, hash) != 2 ||
	               ferry_parse_u64(num, 0, UINT64_MAX, "audit head", seq, NULL) < 0 || strlen(hash) != 64))
		r = -EINVAL;
	ferry_buf_free(&b);
	return r;
}

struct last_entry {
	uint64_t seq;
	char hash[65];
};

static void last_row(const struct ferry_row *row, void *out, unsigned i)
{
	struct last_entry *e = out;

	e->seq = ferry_row_u64(row, 0);
	ferry_row_text(row, 1, e->hash, sizeof(e->hash));
}

int ferry_audit_append(struct ferry_registry *reg, const char *head_path, const char *actor, const char *action,
                       const char *subject, const char *detail, struct ferry_err *err)
{
	struct ferry_audit_rec rec = { 0 };
	struct last_entry last = { 0 };
	uint8_t prev[32] = { 0 }, hash[32];
	char prev_hex[65] = { 0 };
	int r;

	snprintf(rec.actor, sizeof(rec.actor), "%s", actor);
	snprintf(rec.action, sizeof(rec.action), "%s", action);
	snprintf(rec.subject, sizeof(rec.subject), "%s", subject);
	snprintf(rec.detail, sizeof(rec.detail), "%s", detail ? detail : "");
	rec.at = (uint64_t)time(NULL);
	pthread_mutex_lock(&reg->lock);
	/* One writer at a time (the lock): the chain's end cannot move between reading it and adding to it. */
	r = ferry_registry_select(reg, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", "", NULL, last_row,
	                          &last, 1, err);
	if (r < 0)
		goto out;
	rec.seq = 1;
	if (r == 1) {
		rec.seq = last.seq + 1;
		snprintf(prev_hex, sizeof(prev_hex), "%s", last.hash);
		if (ferry_hex_decode(prev_hex, prev, 32) < 0) {
			r = ferry_err_set(err, -EBADMSG, "the audit log's last entry has no valid hash");
			goto out;
		}
	}
	if (!prev_hex[0])
		memset(prev_hex, '0', 64);
	ferry_audit_hash(prev, &rec, hash);
	ferry_hex_encode(hash, 32, rec.hash);
	{
		int64_t seq = (int64_t)rec.seq, at = (int64_t)rec.at;
		const void *vals[] = { &seq, &at, rec.actor, rec.action, rec.subject, rec.detail, prev_hex, rec.hash };

		r = ferry_registry_exec(reg, "INSERT INTO audit (" COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		                        "iissssss", vals, err);
	}
	if (r >= 0)
		r = write_head(head_path, rec.seq, rec.hash, err);
out:
	pthread_mutex_unlock(&reg->lock);
	return r < 0 ? r : 0;
}

static void list_row(const struct ferry_row *row, void *out, unsigned i)
{
	char prev[65];

	read_row(row, (struct ferry_audit_rec *)out + i, prev);
}

int ferry_audit_list(struct ferry_registry *reg, struct ferry_audit_rec *out, unsigned max, struct ferry_err *err)
{
	int64_t limit = max;
	const void *vals[] = { &limit };

	return ferry_registry_query(reg,
	                            "SELECT * FROM (SELECT " COLUMNS " FROM audit ORDER BY seq DESC LIMIT ?) AS newest "
	                            "ORDER BY seq",
	                            "i", vals, list_row, out, max, err);
}

static void bad(struct ferry_audit_verdict *v, uint64_t seq, const char *why)
{
	v->intact = false;
	v->bad_seq = seq;
	snprintf(v->why, sizeof(v->why), "%s", why);
}

struct walk {
	struct ferry_audit_verdict *v;
	const struct ferry_audit_anchor *anchor;
	uint8_t prev[32];
	int head;
	uint64_t head_seq;
	char head_hash[65];
	bool stop; /* the first wrong entry is named; the rest of the rows pass by */
};

/* One entry of the chain, in order. */
static void walk_row(const struct ferry_row *row, void *out, unsigned i)
{
	struct walk *w = out;
	struct ferry_audit_verdict *v = w->v;
	char prev_hex[65], want_hex[65];
	struct ferry_audit_rec rec;
	uint8_t want[32];

	if (w->stop)
		return;
	read_row(row, &rec, prev_hex);
	ferry_hex_encode(w->prev, 32, want_hex);
	if (rec.seq != v->entries + 1) {
		char why[96];

		snprintf(why, sizeof(why), "entry %" PRIu64 " follows entry %" PRIu64 ": entries are missing", rec.seq,
		         v->entries);
		bad(v, v->entries + 1, why);
		w->stop = true;
		return;
	}
	if (strcmp(prev_hex, want_hex) != 0) {
		bad(v, rec.seq, "it does not name the hash of the entry before it");
		w->stop = true;
		return;
	}
	ferry_audit_hash(w->prev, &rec, want);
	ferry_hex_encode(want, 32, want_hex);
	if (strcmp(rec.hash, want_hex) != 0) {
		bad(v, rec.seq, "its fields do not match its hash: it was changed");
		w->stop = true;
		return;
	}
	memcpy(w->prev, want, 32);
	v->entries = rec.seq;
	snprintf(v->head, sizeof(v->head), "%s", rec.hash);
	if (w->anchor && rec.seq == w->anchor->seq && memcmp(want, w->anchor->hash, 32) != 0) {
		bad(v, rec.seq, "its hash differs from the one kept outside: the log was rewritten up to here");
		w->stop = true;
	} else if (w->head == 0 && rec.seq == w->head_seq && strcmp(rec.hash, w->head_hash) != 0) {
		bad(v, rec.seq, "its hash differs from the one the head file kept: it was rewritten");
		w->stop = true;
	}
}

int ferry_audit_verify(struct ferry_registry *reg, const char *head_path, const struct ferry_audit_anchor *anchor,
                       struct ferry_audit_verdict *v, struct ferry_err *err)
{
	struct walk w = { .v = v, .anchor = anchor };
	uint64_t head_seq;
	int r, head;

	memset(v, 0, sizeof(*v));
	v->intact = true;
	pthread_mutex_lock(&reg->lock);
	head = w.head = read_head(head_path, &w.head_seq, w.head_hash);
	head_seq = w.head_seq;
	r = ferry_registry_select(reg, "SELECT " COLUMNS " FROM audit ORDER BY seq", "", NULL, walk_row, &w, UINT_MAX,
	                          err);
	if (r < 0)
		goto out;
	r = 0;
	if (v->intact && anchor && anchor->seq > v->entries) {
		char why[128];

		snprintf(why, sizeof(why), "the log ends at entry %" PRIu64 ", before entry %" PRIu64 " kept outside",
		         v->entries, anchor->seq);
		bad(v, v->entries + 1, why);
	}
	/* The newest entries gone (the chain itself still adds up): only the head file can tell. */
	if (v->intact && head == 0 && head_seq > v->entries) {
		char why[128];

		snprintf(why, sizeof(why), "the head file names entry %" PRIu64 " but the log ends at entry %" PRIu64,
		         head_seq, v->entries);
		bad(v, v->entries + 1, why);
	} else if (v->intact && head < 0 && head != -ENOENT) {
		bad(v, 0, "the head file is unreadable");
	} else if (v->intact && head == -ENOENT && v->entries > 0) {
		bad(v, 0, "the head file is missing");
	}
out:
	pthread_mutex_unlock(&reg->lock);
	return r;
}
