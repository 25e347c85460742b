/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The audit trail of the admin API: every request that acts (changes
 * state, hands out a secret, runs a command in a container) goes into the
 * hash-chained audit log (ferry/audit.h) with who asked, what, on what and
 * how it ended, refusals included.  Listings are not audited.  Secrets
 * never are: a token request records the node it is for, an exec the
 * container, not the command.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "ferry/audit.h"
#include "ferry/frame.h"
#include "ferry/hex.h"
#include "ferry/log.h"

#define AUDIT_LIST_MAX 200

static const struct {
	unsigned op;
	const char *action;
} audited[] = {
	{ FERRY_OP_ENROLL, "enroll" },
	{ FERRY_OP_TOKEN_CREATE, "token-create" },
	{ FERRY_OP_NODE_REMOVE, "node-remove" },
	{ FERRY_OP_TICKET_ISSUE, "ticket-issue" },
	{ FERRY_OP_IMAGE_IMPORT, "image-import" },
	{ FERRY_OP_RUN, "run" },
	{ FERRY_OP_STOP, "stop" },
	{ FERRY_OP_RM, "rm" },
	{ FERRY_OP_EXEC, "exec" },
	{ FERRY_OP_MIGRATE, "migrate" },
	{ FERRY_OP_EVACUATE, "evacuate" },
	{ FERRY_OP_ALERT, "alert" },
	{ FERRY_OP_NODE_RELEASE, "node-release" },
	{ FERRY_OP_MTD_MOVE, "mtd-move" },
	{ FERRY_OP_SNAPSHOT, "snapshot" },
	{ FERRY_OP_SNAPSHOT_RESTORE, "snapshot-restore" },
};

/* The first of these the request names: what it acts on. */
static void subject_of(const struct ferry_tlv_list *l, char *out, size_t len)
{
	static const uint16_t tags[] = { FERRY_TAG_CONTAINER, FERRY_TAG_NODE, FERRY_TAG_IMAGE };

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]) && !out[0]; i++)
		if (ferry_tlv_find(l, tags[i]) && ferry_tlv_get_str(l, tags[i], out, len, NULL) < 0)
			out[0] = '\0';
}

void audit_request(struct controller *c, const struct ferry_conn *conn, unsigned op, const struct ferry_tlv_list *l,
                   int result, const char *message)
{
	char actor[FERRY_AUDIT_ACTOR_MAX + 1], subject[FERRY_AUDIT_SUBJECT_MAX + 1], detail[FERRY_AUDIT_DETAIL_MAX + 1],
	    dest[FERRY_NODE_NAME_MAX + 1] = "";
	const char *action = NULL;
	struct ferry_err err = { 0 };
	size_t n = 0;

	for (size_t i = 0; i < sizeof(audited) / sizeof(audited[0]) && !action; i++)
		if (audited[i].op == op)
			action = audited[i].action;
	if (!action)
		return;
	subject_of(l, subject, sizeof(subject));
	/* An enrolling node has no certificate yet: it is who it asks to become. */
	if (op == FERRY_OP_ENROLL || !conn->has_peer_cert)
		snprintf(actor, sizeof(actor), "node:%s", subject);
	else
		snprintf(actor, sizeof(actor), "admin:%s", conn->peer_cn);
	if (op == FERRY_OP_MIGRATE && ferry_tlv_find(l, FERRY_TAG_DEST) &&
	    ferry_tlv_get_str(l, FERRY_TAG_DEST, dest, sizeof(dest), NULL) == 0)
		n = (size_t)snprintf(detail, sizeof(detail), "to %s; ", dest);
	if (result < 0)
		snprintf(detail + n, sizeof(detail) - n, "refused or failed: %s", message && *message ? message : "");
	else
		snprintf(detail + n, sizeof(detail) - n, "ok");
	if (ferry_audit_append(&c->st.reg, c->st.audit_head, actor, action, subject, detail, &err) < 0)
		log_error("cannot append to the audit log (%s %s %s): %s", actor, action, subject, err.msg);
}

/* What add_entry() takes at most: the texts plus the TLV headers, the numbers and the hash. */
static size_t entry_size(const struct ferry_audit_rec *e)
{
	return 128 + strlen(e->actor) + strlen(e->action) + strlen(e->subject) + strlen(e->detail);
}

static int add_entry(struct ferry_buf *out, const struct ferry_audit_rec *e)
{
	struct ferry_buf rec = FERRY_BUF_INIT(2048);
	uint8_t hash[32];
	int r = ferry_tlv_add_u64(&rec, FERRY_TAG_SEQ, e->seq);

	r = r ? r : ferry_tlv_add_u64(&rec, FERRY_TAG_TIME, e->at);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_ACTOR, e->actor);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_ACTION, e->action);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_SUBJECT, e->subject);
	r = r ? r : ferry_tlv_add_str(&rec, FERRY_TAG_DETAIL, e->detail);
	if (r == 0 && ferry_hex_decode(e->hash, hash, 32) == 0)
		r = ferry_tlv_add(&rec, FERRY_TAG_HASH, hash, 32);
	r = r ? r : ferry_tlv_add(out, FERRY_TAG_RECORD, rec.data, rec.len);
	ferry_buf_free(&rec);
	return r;
}

int api_audit(struct controller *c, unsigned op, const struct ferry_tlv_list *l, struct ferry_buf *out,
              struct ferry_err *err)
{
	if (op == FERRY_OP_AUDIT_VERIFY) {
		struct ferry_audit_anchor anchor;
		struct ferry_audit_verdict v;
		bool anchored = ferry_tlv_find(l, FERRY_TAG_SEQ) != NULL;
		uint8_t head[32];
		int r = 0;

		/* An entry the operator kept: SEQ and HASH. */
		if (anchored && ((r = ferry_tlv_get_u64(l, FERRY_TAG_SEQ, &anchor.seq, err)) < 0 ||
		                 (r = ferry_tlv_get_fixed(l, FERRY_TAG_HASH, anchor.hash, 32, err)) < 0))
			return r;
		if (anchored && anchor.seq == 0)
			return ferry_err_set(err, -EINVAL, "audit entries are numbered from 1");
		if ((r = ferry_audit_verify(&c->st.reg, c->st.audit_head, anchored ? &anchor : NULL, &v, err)) < 0)
			return r;
		if (!v.intact)
			log_warn("audit log verification failed at entry %llu: %s", (unsigned long long)v.bad_seq,
			         v.why);
		r = ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0);
		r = r ? r : ferry_tlv_add_str(out, FERRY_TAG_RESULT, v.intact ? "intact" : "tampered");
		r = r ? r : ferry_tlv_add_u64(out, FERRY_TAG_SEQ, v.entries);
		if (r == 0 && v.head[0] && ferry_hex_decode(v.head, head, 32) == 0)
			r = ferry_tlv_add(out, FERRY_TAG_HASH, head, 32);
		if (r == 0 && !v.intact) {
			r = ferry_tlv_add_u64(out, FERRY_TAG_BAD_SEQ, v.bad_seq);
			r = r ? r : ferry_tlv_add_str(out, FERRY_TAG_MESSAGE, v.why);
		}
		return r;
	}
	{
		struct ferry_audit_rec *e = calloc(AUDIT_LIST_MAX, sizeof(*e));
		int n = e ? ferry_audit_list(&c->st.reg, e, AUDIT_LIST_MAX, err)
		          : ferry_err_set(err, -ENOMEM, "out of memory");
		int r = n < 0 ? n : ferry_tlv_add_u32(out, FERRY_TAG_STATUS, 0), first = n < 0 ? 0 : n;
		size_t used = 0;

		/* The newest entries that fit one answer, oldest first. */
		while (first > 0 && used + entry_size(&e[first - 1]) < FERRY_FRAME_CONTROL_MAX - 1024)
			used += entry_size(&e[--first]);
		for (int i = first; r == 0 && i < n; i++)
			r = add_entry(out, &e[i]);
		free(e);
		return r;
	}
}
