/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The workload verbs, all through the controller's API: image, run, ps,
 * logs, stop, rm, exec, nodes, migrate, evacuate, history.  Listings print
 * a table, or JSON with --json.  The cluster's admin credentials are found
 * as for the other API verbs (--admin-dir, $FERRY_ADMIN_DIR, or the local
 * cluster named by --cluster).
 */
#include <errno.h>
#include <libgen.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "cli.h"
#include "ferry/bundle.h"
#include "ferry/clock.h"
#include "ferry/cluster.h"
#include "ferry/exec.h"
#include "ferry/fs.h"
#include "ferry/hex.h"
#include "ferry/defense.h"
#include "ferry/snapshot.h"
#include "ferry/json.h"
#include "ferry/layer.h"
#include "ferry/parse.h"
#include "ferry/policy.h"
#include "ferry/spec.h"

#define LONG_CALL_MS 600000

struct wopts {
	const char *admin_dir, *cluster, *node, *image, *name, *probe, *to[16], *mode, *policy;
	/* alert send */
	const char *message, *src, *dst, *sid;
	/* snapshot */
	const char *out, *recipient, *key, *ca, *into;
	/* mtd move */
	uint64_t decoys;
	bool has_decoys;
	uint64_t severity;
	unsigned n_to;
	uint64_t memory, parallel;
	bool json, stateless, progress;
	/* migrate --mode precopy */
	uint64_t max_downtime_ms, bandwidth_bits, max_rounds;
	bool auto_converge;
	/* audit verify --expect SEQ:HASH */
	bool has_expect;
	uint64_t expect_seq;
	uint8_t expect_hash[32];
};

enum {
	O_ADMIN = 'A',
	O_CLUSTER = 'C',
	O_JSON = 'j',
	O_NODE = 'n',
	O_IMAGE = 'i',
	O_MEMORY = 'm',
	O_STATELESS = 's',
	O_READY = 'r',
	O_TO = 't',
	O_MODE = 'M',
	O_PARALLEL = 'P',
	O_NAME = 'N',
	O_MAX_DOWNTIME = 'D',
	O_BANDWIDTH = 'B',
	O_MAX_ROUNDS = 'R',
	O_AUTO_CONVERGE = 'a',
	O_EXPECT = 'E',
	O_POLICY = 'p',
	O_SEVERITY = 'S',
	O_MESSAGE = 'g',
	O_SRC = 'x',
	O_DST = 'y',
	O_SID = 'I',
	O_OUT = 'o',
	O_RECIPIENT = 'e',
	O_KEY = 'k',
	O_CA = 'c',
	O_INTO = 'd',
	O_DECOYS = 'q',
	O_HELP = 'h'
};

static const struct option all_opts[] = {
	{ "admin-dir", required_argument, NULL, O_ADMIN },
	{ "cluster", required_argument, NULL, O_CLUSTER },
	{ "json", no_argument, NULL, O_JSON },
	{ "node", required_argument, NULL, O_NODE },
	{ "image", required_argument, NULL, O_IMAGE },
	{ "memory", required_argument, NULL, O_MEMORY },
	{ "stateless", no_argument, NULL, O_STATELESS },
	{ "ready", required_argument, NULL, O_READY },
	{ "to", required_argument, NULL, O_TO },
	{ "mode", required_argument, NULL, O_MODE },
	{ "parallel", required_argument, NULL, O_PARALLEL },
	{ "name", required_argument, NULL, O_NAME },
	{ "max-downtime", required_argument, NULL, O_MAX_DOWNTIME },
	{ "bandwidth", required_argument, NULL, O_BANDWIDTH },
	{ "max-rounds", required_argument, NULL, O_MAX_ROUNDS },
	{ "auto-converge", no_argument, NULL, O_AUTO_CONVERGE },
	{ "expect", required_argument, NULL, O_EXPECT },
	{ "policy", required_argument, NULL, O_POLICY },
	{ "severity", required_argument, NULL, O_SEVERITY },
	{ "message", required_argument, NULL, O_MESSAGE },
	{ "src", required_argument, NULL, O_SRC },
	{ "dst", required_argument, NULL, O_DST },
	{ "sid", required_argument, NULL, O_SID },
	{ "out", required_argument, NULL, O_OUT },
	{ "recipient", required_argument, NULL, O_RECIPIENT },
	{ "key", required_argument, NULL, O_KEY },
	{ "ca", required_argument, NULL, O_CA },
	{ "into", required_argument, NULL, O_INTO },
	{ "decoys", required_argument, NULL, O_DECOYS },
	{ "help", no_argument, NULL, O_HELP },
	{ 0 },
};

#define COMMON_HELP                                                                                                    \
	"  --admin-dir DIR   admin credentials (default $FERRY_ADMIN_DIR, else the local cluster's)\n"                 \
	"  --cluster NAME    local cluster whose credentials to use (default " FERRY_CLUSTER_DEFAULT_NAME ")\n"

/* Memory size: bytes, or with k/m/g (KiB, MiB, GiB). */
static int parse_size(const char *s, uint64_t *ret, struct ferry_err *err)
{
	char num[32];
	size_t n = strlen(s);
	uint64_t v, mul = 1;
	int r;

	if (n == 0 || n >= sizeof(num))
		return ferry_err_set(err, -EINVAL, "memory '%s' is not a size; expected e.g. 256m or 1g", s);
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 'k':
	case 'K':
		mul = 1ULL << 10;
		num[n - 1] = '\0';
		break;
	case 'm':
	case 'M':
		mul = 1ULL << 20;
		num[n - 1] = '\0';
		break;
	case 'g':
	case 'G':
		mul = 1ULL << 30;
		num[n - 1] = '\0';
		break;
	}
	if ((r = ferry_parse_u64(num, 1, FERRY_SPEC_MEMORY_MAX, "--memory", &v, err)) < 0)
		return r;
	v *= mul;
	if (v < FERRY_SPEC_MEMORY_MIN || v > FERRY_SPEC_MEMORY_MAX)
		return ferry_err_set(err, -ERANGE, "memory '%s' is out of range; expected 4m to 1024g", s);
	*ret = v;
	return 0;
}

/* --expect SEQ:HASH: an audit entry's number and its 64 hex digits, as 'ferry audit verify' printed them. */
static int parse_expect(const char *s, struct wopts *o, struct ferry_err *err)
{
	const char *colon = strchr(s, ':');
	char num[24];

	if (!colon || (size_t)(colon - s) >= sizeof(num) || strlen(colon + 1) != 64)
		return ferry_err_set(err, -EINVAL, "--expect '%.80s' is not SEQ:HASH; expected e.g. 12:<64 hex digits>",
		                     s);
	memcpy(num, s, (size_t)(colon - s));
	num[colon - s] = '\0';
	if (ferry_parse_u64(num, 1, UINT64_MAX, "--expect's entry number", &o->expect_seq, err) < 0)
		return -EINVAL;
	if (ferry_hex_decode(colon + 1, o->expect_hash, 32) < 0)
		return ferry_err_set(err, -EINVAL, "--expect's hash is not 64 hex digits");
	o->has_expect = true;
	return 0;
}

/* Parse the options `allowed` (letters of the enum) names; prints help on --help (returns 1). */
static int parse(const char *cmd, int argc, char **argv, const char *allowed, const char *help, struct wopts *o)
{
	struct ferry_err err = { 0 };
	int c;

	memset(o, 0, sizeof(*o));
	o->cluster = FERRY_CLUSTER_DEFAULT_NAME;
	o->memory = FERRY_SPEC_MEMORY_DEFAULT;
	o->parallel = 2;
	optind = 1;
	opterr = 0;
	/* exec stops at the container name: what follows is the command's own. */
	int idx = -1;

	while ((c = getopt_long(argc, argv, strcmp(cmd, "exec") == 0 ? "+h" : "h", all_opts, &idx)) != -1) {
		if (c == O_HELP) {
			printf("%s" COMMON_HELP, help);
			return 1;
		}
		if (c == '?' || c == ':')
			return cli_usage_error(cmd, "option %s is unknown or lacks its value", argv[optind - 1]), -1;
		if (!strchr(allowed, c))
			return cli_usage_error(cmd, "'ferry %s' takes no --%s", cmd,
			                       idx >= 0 ? all_opts[idx].name : "?"),
			       -1;
		idx = -1;
		switch (c) {
		case O_ADMIN:
			o->admin_dir = optarg;
			break;
		case O_CLUSTER:
			o->cluster = optarg;
			break;
		case O_JSON:
			o->json = true;
			break;
		case O_NODE:
			o->node = optarg;
			break;
		case O_IMAGE:
			o->image = optarg;
			break;
		case O_STATELESS:
			o->stateless = true;
			break;
		case O_READY:
			o->probe = optarg;
			break;
		case O_MODE:
			o->mode = optarg;
			break;
		case O_NAME:
			o->name = optarg;
			break;
		case O_TO:
			if (o->n_to == 16)
				return cli_usage_error(cmd, "at most 16 --to nodes"), -1;
			o->to[o->n_to++] = optarg;
			break;
		case O_MEMORY:
			if (parse_size(optarg, &o->memory, &err) < 0)
				return cli_usage_error(cmd, "%s", err.msg), -1;
			break;
		case O_PARALLEL:
			if (ferry_parse_u64(optarg, 1, 8, "--parallel", &o->parallel, &err) < 0)
				return cli_usage_error(cmd, "%s", err.msg), -1;
			break;
		case O_MAX_DOWNTIME:
			if (ferry_parse_u64(optarg, 1, 60000, "--max-downtime (ms)", &o->max_downtime_ms, &err) < 0)
				return cli_usage_error(cmd, "%s", err.msg), -1;
			break;
		case O_BANDWIDTH:
			if (ferry_parse_rate(optarg, &o->bandwidth_bits, &err) < 0)
				return cli_usage_error(cmd, "--bandwidth: %s", err.msg), -1;
			break;
		case O_MAX_ROUNDS:
			if (ferry_parse_u64(optarg, 1, 29, "--max-rounds", &o->max_rounds, &err) < 0)
				return cli_usage_error(cmd, "%s", err.msg), -1;
			break;
		case O_AUTO_CONVERGE:
			o->auto_converge = true;
			break;
		case O_SEVERITY:
			if (ferry_parse_u64(optarg, 1, 255, "--severity", &o->severity, &err) < 0)
				return cli_usage_error(cmd, "%s (1 is the most severe)", err.msg), -1;
			break;
		case O_MESSAGE:
			if (strlen(optarg) > 255)
				return cli_usage_error(cmd, "--message is %zu bytes; at most 255", strlen(optarg)), -1;
			o->message = optarg;
			break;
		case O_SRC:
		case O_DST: {
			uint32_t a;

			if (ferry_parse_ipv4(optarg, &a, &err) < 0)
				return cli_usage_error(cmd, "--%s: %s", c == O_SRC ? "src" : "dst", err.msg), -1;
			*(c == O_SRC ? &o->src : &o->dst) = optarg;
			break;
		}
		case O_OUT:
			o->out = optarg;
			break;
		case O_RECIPIENT:
			o->recipient = optarg;
			break;
		case O_KEY:
			o->key = optarg;
			break;
		case O_CA:
			o->ca = optarg;
			break;
		case O_INTO:
			o->into = optarg;
			break;
		case O_DECOYS:
			if (ferry_parse_u64(optarg, 0, 8, "--decoys", &o->decoys, &err) < 0)
				return cli_usage_error(cmd, "%s", err.msg), -1;
			o->has_decoys = true;
			break;
		case O_SID:
			if (strlen(optarg) > 39)
				return cli_usage_error(cmd, "--sid is %zu bytes; at most 39", strlen(optarg)), -1;
			o->sid = optarg;
			break;
		case O_EXPECT:
			if (parse_expect(optarg, o, &err) < 0)
				return cli_usage_error(cmd, "%s", err.msg), -1;
			break;
		case O_POLICY:
			if (strncmp(cmd, "mtd", 3) == 0) {
				struct ferry_defense_config d;

				/* Moving-target defense's modes, not placement policies. */
				if (ferry_defense_set(&d, "security_mode", optarg, &err) < 0 ||
				    d.security_mode == FERRY_SECURITY_NONE)
					return cli_usage_error(cmd, "--policy '%s' is not random, shamir or fountain",
					                       optarg),
					       -1;
			} else if (!ferry_policy_find(optarg, &err))
				return cli_usage_error(cmd, "--policy: %s", err.msg), -1;
			o->policy = optarg;
			break;
		}
	}
	return 0;
}

static int open_session(const struct wopts *o, struct api_session *s, struct ferry_err *err)
{
	char dir[PATH_MAX];
	int r = api_admin_dir(o->admin_dir, o->cluster, dir, sizeof(dir), err);

	return r < 0 ? r : api_open(s, dir, err);
}

/* One request; the answer's fields into l. */
static int call(const struct wopts *o, const struct ferry_buf *req, struct ferry_buf *resp, struct ferry_tlv_list *l,
                int timeout_ms, struct ferry_err *err)
{
	struct api_session s;
	int r;

	if ((r = open_session(o, &s, err)) < 0)
		return r;
	s.conn->io_timeout_ms = timeout_ms;
	r = api_call(&s, req, resp, err);
	api_close(&s);
	if (r < 0 && strncmp(err->msg, "peer refused: ", 14) == 0)
		memmove(err->msg, err->msg + 14, strlen(err->msg + 14) + 1); /* the controller's reason, as is */
	if (r == 0)
		r = ferry_tlv_parse((const uint8_t *)resp->data, resp->len, l, err);
	return r;
}

static int check_name_arg(const char *cmd, const char *what, const char *v, size_t max)
{
	struct ferry_err err = { 0 };

	if (!v)
		return cli_usage_error(cmd, "expected a %s name", what);
	if (ferry_check_name(v, max, what, &err) < 0)
		return cli_usage_error(cmd, "%s", err.msg);
	return 0;
}

/* ---- printing records ---- */

struct field {
	uint16_t tag;
	const char *key, *head;
	enum { F_STR, F_U64, F_HEX } kind;
	int width;
};

static void field_text(const struct ferry_tlv_list *rl, const struct field *f, char *buf, size_t len)
{
	const struct ferry_tlv *t = ferry_tlv_find(rl, f->tag);
	uint64_t v = 0;

	buf[0] = '\0';
	if (!t)
		return;
	if (f->kind == F_STR)
		ferry_tlv_item_str(t, buf, len, NULL);
	else if (f->kind == F_HEX && t->len == 32 && len > 65) {
		ferry_hex_encode(t->value, 32, buf);
		buf[12] = '\0';
	} else if (ferry_tlv_get_u64(rl, f->tag, &v, NULL) == 0)
		snprintf(buf, len, "%llu", (unsigned long long)v);
}

/* One record as a JSON object: numbers as numbers, the rest as strings. */
static void json_record(struct ferry_json *j, const struct ferry_tlv_list *rl, const struct field *fields)
{
	char v[1100];

	ferry_json_object_begin(j);
	for (const struct field *f = fields; f->key; f++) {
		uint64_t n;

		ferry_json_key(j, f->key);
		if (f->kind == F_U64 && ferry_tlv_get_u64(rl, f->tag, &n, NULL) == 0) {
			ferry_json_uint(j, n);
		} else {
			field_text(rl, f, v, sizeof(v));
			ferry_json_string(j, v);
		}
	}
	ferry_json_object_end(j);
}

static int print_records(const struct ferry_tlv_list *l, const struct field *fields, bool json, const char *key)
{
	struct ferry_tlv_list *rl = malloc(sizeof(*rl));
	struct ferry_buf out = FERRY_BUF_INIT(8 * 1024 * 1024);
	struct ferry_json j;
	char v[1100];

	if (!rl)
		return CLI_EXIT_FAILURE;
	ferry_json_init(&j, &out, true);
	if (json) {
		ferry_json_object_begin(&j);
		ferry_json_key(&j, key);
		ferry_json_array_begin(&j);
	} else {
		for (const struct field *f = fields; f->key; f++)
			if (f->head) /* JSON-only fields have none */
				printf("%-*s", f->width, f->head);
		printf("\n");
	}
	for (unsigned i = 0; i < l->n; i++) {
		if (l->items[i].tag != FERRY_TAG_RECORD ||
		    ferry_tlv_parse(l->items[i].value, l->items[i].len, rl, NULL) < 0)
			continue;
		if (json) {
			json_record(&j, rl, fields);
			continue;
		}
		for (const struct field *f = fields; f->key; f++) {
			if (!f->head)
				continue;
			field_text(rl, f, v, sizeof(v));
			printf("%-*s", f->width, v[0] ? v : "-");
		}
		printf("\n");
	}
	if (json) {
		ferry_json_array_end(&j);
		ferry_json_object_end(&j);
		if (ferry_json_finish(&j) == 0)
			printf("%.*s\n", (int)out.len, out.data);
	}
	ferry_buf_free(&out);
	free(rl);
	return 0;
}

/* A listing verb: one op, no arguments. */
static int listing(const char *cmd, int argc, char **argv, uint16_t op, const struct field *fields, const char *key,
                   const char *help)
{
	struct ferry_buf req = FERRY_BUF_INIT(64), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	struct ferry_err err = { 0 };
	struct wopts o;
	int r = parse(cmd, argc, argv, "ACj", help, &o);

	if (r != 0 || !l) {
		free(l);
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	}
	if (optind != argc) {
		free(l);
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	}
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, op);
	if (r < 0 || call(&o, &req, &resp, l, 60000, &err) < 0)
		r = cli_fail(&err);
	else
		r = print_records(l, fields, o.json, key);
	free(l);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

static const struct field ps_fields[] = {
	{ FERRY_TAG_CONTAINER, "name", "NAME", F_STR, 16 },
	{ FERRY_TAG_NODE, "node", "NODE", F_STR, 10 },
	{ FERRY_TAG_IMAGE, "image", "IMAGE", F_STR, 12 },
	{ FERRY_TAG_STATE, "state", "STATE", F_STR, 12 },
	{ FERRY_TAG_PID, "pid", "PID", F_U64, 9 },
	{ FERRY_TAG_GENERATION, "generation", "GEN", F_U64, 5 },
	{ FERRY_TAG_ADDRESS, "address", "ADDRESS", F_STR, 1 },
	{ 0 },
};

static const struct field node_fields[] = {
	{ FERRY_TAG_NODE, "name", "NAME", F_STR, 12 },
	{ FERRY_TAG_ADDRESS, "address", "ADDRESS", F_STR, 18 },
	{ FERRY_TAG_STATE, "state", "STATE", F_STR, 13 },
	{ FERRY_TAG_PARALLEL, "containers", "CONTAINERS", F_U64, 12 },
	{ FERRY_TAG_MEMORY, "memory_available", "MEM_AVAILABLE", F_U64, 15 },
	{ FERRY_TAG_SIZE, "memory_reserved", "MEM_RESERVED", F_U64, 14 },
	{ 0 },
};

static const struct field image_fields[] = {
	{ FERRY_TAG_IMAGE, "name", "NAME", F_STR, 16 },
	{ FERRY_TAG_LAYER, "layer", "LAYER", F_HEX, 15 },
	{ FERRY_TAG_SIZE, "size", "SIZE", F_U64, 12 },
	{ FERRY_TAG_TIME, "created", "CREATED", F_U64, 12 },
	{ 0 },
};

static const struct field mig_fields[] = {
	{ FERRY_TAG_MIGRATION, "id", "ID", F_U64, 5 },
	{ FERRY_TAG_CONTAINER, "container", "CONTAINER", F_STR, 14 },
	{ FERRY_TAG_PHASE, "mode", "MODE", F_STR, 11 },
	{ FERRY_TAG_SOURCE, "source", "SOURCE", F_STR, 9 },
	{ FERRY_TAG_DEST, "destination", "DEST", F_STR, 9 },
	{ FERRY_TAG_RESULT, "result", "RESULT", F_STR, 8 },
	{ FERRY_TAG_TOTAL_MS, "total_ms", "TOTAL_MS", F_U64, 10 },
	{ FERRY_TAG_DOWNTIME_MS, "downtime_ms", "DOWN_MS", F_U64, 9 },
	{ FERRY_TAG_CHECKPOINT_MS, "checkpoint_ms", "CKPT_MS", F_U64, 9 },
	{ FERRY_TAG_TRANSFER_MS, "transfer_ms", "XFER_MS", F_U64, 9 },
	{ FERRY_TAG_RESTORE_MS, "restore_ms", "REST_MS", F_U64, 9 },
	{ FERRY_TAG_BYTES_IMAGE, "bytes_image", "IMAGE_B", F_U64, 11 },
	{ FERRY_TAG_BYTES_WIRE, "bytes_wire", "WIRE_B", F_U64, 11 },
	{ FERRY_TAG_ROUNDS, "rounds", "ROUNDS", F_U64, 7 },
	{ FERRY_TAG_ROUND_BYTES_TEXT, "round_bytes", NULL, F_STR, 0 },
	{ FERRY_TAG_NOTE, "note", NULL, F_STR, 0 },
	{ FERRY_TAG_MESSAGE, "message", "MESSAGE", F_STR, 1 },
	{ 0 },
};

int cmd_ps(int argc, char **argv)
{
	return listing("ps", argc, argv, FERRY_OP_PS, ps_fields, "containers",
	               "Usage: ferry ps [--json]\n\nList every container: where it runs, its live state (asked from "
	               "its node),\nits fencing generation and its address on the cluster fabric (it moves with "
	               "it).\n\n  --json            one JSON object\n");
}

int cmd_nodes(int argc, char **argv)
{
	return listing("nodes", argc, argv, FERRY_OP_NODES, node_fields, "nodes",
	               "Usage: ferry nodes [--json]\n\nList the active nodes with their state, containers and memory "
	               "(bytes).\n\n  --json            one JSON object\n");
}

int cmd_history(int argc, char **argv)
{
	return listing("history", argc, argv, FERRY_OP_HISTORY, mig_fields, "migrations",
	               "Usage: ferry history [--json]\n\nList past migrations (the newest 200) with their metrics.\n\n"
	               "  --json            one JSON object\n");
}

static const struct field audit_fields[] = {
	{ FERRY_TAG_SEQ, "seq", "SEQ", F_U64, 6 },
	{ FERRY_TAG_TIME, "time", "TIME", F_U64, 12 },
	{ FERRY_TAG_ACTOR, "actor", "ACTOR", F_STR, 16 },
	{ FERRY_TAG_ACTION, "action", "ACTION", F_STR, 14 },
	{ FERRY_TAG_SUBJECT, "subject", "SUBJECT", F_STR, 14 },
	{ FERRY_TAG_HASH, "hash", NULL, F_HEX, 0 },
	{ FERRY_TAG_DETAIL, "detail", "DETAIL", F_STR, 1 },
	{ 0 },
};

#define AUDIT_HELP                                                                                                     \
	"Usage: ferry audit [--json]\n       ferry audit verify [--expect SEQ:HASH] [--json]\n\n"                      \
	"List the newest entries of the controller's audit log (who asked for what, on what, and\n"                    \
	"how it ended), or walk its whole hash chain: 'verify' exits 1 when an entry was changed,\n"                   \
	"removed or reordered, or the newest entries were dropped, and names the first one.\n\n"                       \
	"  --expect SEQ:HASH entry SEQ must still have this hash (keep the line 'verify' prints:\n"                    \
	"                    a rewrite of the database and its head file together is caught then)\n"                   \
	"  --json            one JSON object\n"

static int audit_verify(int argc, char **argv)
{
	struct ferry_buf req = FERRY_BUF_INIT(64), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX),
	                 out = FERRY_BUF_INIT(4096);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	struct ferry_err err = { 0 };
	char result[16] = "", why[300] = "", head[65] = "";
	uint64_t entries = 0, bad = 0;
	const struct ferry_tlv *h;
	struct ferry_json j;
	struct wopts o;
	int r = parse("audit verify", argc, argv, "ACjE", AUDIT_HELP, &o);

	if (r != 0 || !l) {
		free(l);
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	}
	if (optind != argc) {
		free(l);
		return cli_usage_error("audit verify", "unexpected argument '%s'", argv[optind]);
	}
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_AUDIT_VERIFY);
	if (r == 0 && o.has_expect && (r = ferry_tlv_add_u64(&req, FERRY_TAG_SEQ, o.expect_seq)) == 0)
		r = ferry_tlv_add(&req, FERRY_TAG_HASH, o.expect_hash, 32);
	if (r < 0 || call(&o, &req, &resp, l, 60000, &err) < 0 ||
	    ferry_tlv_get_str(l, FERRY_TAG_RESULT, result, sizeof(result), &err) < 0 ||
	    ferry_tlv_get_u64(l, FERRY_TAG_SEQ, &entries, &err) < 0) {
		r = cli_fail(&err);
		goto out;
	}
	if ((h = ferry_tlv_find(l, FERRY_TAG_HASH)) && h->len == 32)
		ferry_hex_encode(h->value, 32, head);
	ferry_tlv_get_u64(l, FERRY_TAG_BAD_SEQ, &bad, NULL);
	if (ferry_tlv_find(l, FERRY_TAG_MESSAGE))
		ferry_tlv_get_str(l, FERRY_TAG_MESSAGE, why, sizeof(why), NULL);
	r = strcmp(result, "intact") == 0 ? 0 : CLI_EXIT_FAILURE;
	if (o.json) {
		ferry_json_init(&j, &out, true);
		ferry_json_object_begin(&j);
		ferry_json_key(&j, "result");
		ferry_json_string(&j, result);
		ferry_json_key(&j, "entries");
		ferry_json_uint(&j, entries);
		ferry_json_key(&j, "head");
		ferry_json_string(&j, head);
		if (r != 0) {
			ferry_json_key(&j, "bad_entry");
			ferry_json_uint(&j, bad);
			ferry_json_key(&j, "why");
			ferry_json_string(&j, why);
		}
		ferry_json_object_end(&j);
		if (ferry_json_finish(&j) == 0)
			printf("%.*s\n", (int)out.len, out.data);
	} else if (r == 0) {
		printf("audit log intact: %llu entries%s%s\n", (unsigned long long)entries,
		       head[0] ? ", last hash " : "", head);
		/* Kept elsewhere, this line catches a later rewrite of the database and its head file together. */
		if (head[0])
			printf("to check later that none of them was rewritten: ferry audit verify --expect %llu:%s\n",
			       (unsigned long long)entries, head);
	} else if (bad) {
		printf("audit log TAMPERED at entry %llu: %s\n", (unsigned long long)bad, why);
	} else {
		printf("audit log TAMPERED: %s\n", why);
	}
out:
	free(l);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	ferry_buf_free(&out);
	return r;
}

int cmd_audit(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "verify") == 0)
		return audit_verify(argc - 1, argv + 1);
	return listing("audit", argc, argv, FERRY_OP_AUDIT, audit_fields, "entries", AUDIT_HELP);
}

/* ---- policy ---- */

static const struct field explain_fields[] = {
	{ FERRY_TAG_SEQ, "rank", "RANK", F_U64, 6 },
	{ FERRY_TAG_NODE, "node", "NODE", F_STR, 12 },
	{ FERRY_TAG_SCORE, "score", "SCORE", F_STR, 16 },
	{ FERRY_TAG_BOTTLENECK_BPS, "bottleneck_bps", "BOTTLENECK", F_U64, 13 },
	{ FERRY_TAG_LATENCY_US, "latency_us", "LATENCY_US", F_U64, 12 },
	{ FERRY_TAG_LATENCY_FROM, "latency_from", "FROM", F_STR, 10 },
	{ FERRY_TAG_HOPS, "hops", "HOPS", F_U64, 6 },
	{ FERRY_TAG_LOAD_PERMILLE, "load_permille", "LOAD", F_U64, 6 },
	{ FERRY_TAG_MEMORY, "mem_free", "MEM_FREE", F_U64, 13 },
	{ FERRY_TAG_RESULT, "result", "RESULT", F_STR, 10 },
	{ FERRY_TAG_MESSAGE, "why", "WHY", F_STR, 1 },
	{ 0 },
};

static const struct field decision_fields[] = {
	{ FERRY_TAG_SEQ, "id", "ID", F_U64, 6 },
	{ FERRY_TAG_TIME, "time", "TIME", F_U64, 12 },
	{ FERRY_TAG_POLICY, "policy", "POLICY", F_STR, 15 },
	{ FERRY_TAG_CONTAINER, "container", "CONTAINER", F_STR, 14 },
	{ FERRY_TAG_SOURCE, "source", "SOURCE", F_STR, 9 },
	{ FERRY_TAG_DEST, "destination", "DEST", F_STR, 9 },
	{ FERRY_TAG_ACTION, "action", "ACTION", F_STR, 11 },
	{ FERRY_TAG_MIGRATION, "migration", "MIG", F_U64, 5 },
	{ FERRY_TAG_DETAIL, "detail", "DETAIL", F_STR, 1 },
	{ FERRY_TAG_DATA, "inputs", NULL, F_STR, 0 },
	{ 0 },
};

#define POLICY_HELP                                                                                                    \
	"Usage: ferry policy explain CONTAINER [--policy NAME] [--json]\n"                                             \
	"       ferry policy decisions [--json]\n"                                                                     \
	"       ferry policy show ID [--json]\n\n"                                                                     \
	"explain: where the controller's migration manager would move CONTAINER now, and why: every\n"                 \
	"candidate host, best first, with its score and the data behind it (the path's available\n"                    \
	"bandwidth in bits/s, its latency and whether that was measured or taken from the topology\n"                  \
	"file, hops, CPU load in per mille, free memory), and every other host with why it is not one.\n"              \
	"Nothing moves.  Without a policy in the controller's configuration, name one.\n"                              \
	"decisions: the manager's newest decisions (100) and how they ended.\n"                                        \
	"show: one decision with the inputs it was taken on (JSON, under \"inputs\").\n\n"                             \
	"  --policy NAME     random, bandwidth, shortest-path or least-loaded (explain only)\n"                        \
	"  --json            one JSON object\n"

static int policy_explain(int argc, char **argv)
{
	struct ferry_buf req = FERRY_BUF_INIT(256), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	char policy[32] = "", source[FERRY_NODE_NAME_MAX + 1] = "", note[160] = "";
	struct ferry_err err = { 0 };
	uint64_t need = 0;
	struct wopts o;
	int r = parse("policy explain", argc, argv, "ACjp", POLICY_HELP, &o);

	if (r != 0 || !l) {
		free(l);
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	}
	if (optind + 1 != argc ||
	    check_name_arg("policy explain", "container", argv[optind], FERRY_CONTAINER_NAME_MAX) != 0) {
		free(l);
		return optind + 1 == argc ? CLI_EXIT_USAGE
		                          : cli_usage_error("policy explain", "expected one container name");
	}
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_POLICY_EXPLAIN);
	r = r ? r : ferry_tlv_add_str(&req, FERRY_TAG_CONTAINER, argv[optind]);
	if (r == 0 && o.policy)
		r = ferry_tlv_add_str(&req, FERRY_TAG_POLICY, o.policy);
	if (r < 0 || call(&o, &req, &resp, l, 60000, &err) < 0) {
		r = cli_fail(&err);
		goto out;
	}
	ferry_tlv_get_str(l, FERRY_TAG_POLICY, policy, sizeof(policy), NULL);
	ferry_tlv_get_str(l, FERRY_TAG_SOURCE, source, sizeof(source), NULL);
	ferry_tlv_get_str(l, FERRY_TAG_NOTE, note, sizeof(note), NULL);
	ferry_tlv_get_u64(l, FERRY_TAG_MEMORY, &need, NULL);
	if (!o.json)
		printf("policy %s: container %s on %s needs %llu MiB; %s\n\n", policy, argv[optind], source,
		       (unsigned long long)(need >> 20), note);
	r = print_records(l, explain_fields, o.json, "candidates");
out:
	free(l);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

static int policy_show(int argc, char **argv)
{
	struct ferry_buf req = FERRY_BUF_INIT(64), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	struct ferry_err err = { 0 };
	uint64_t id;
	struct wopts o;
	int r = parse("policy show", argc, argv, "ACj", POLICY_HELP, &o);

	if (r != 0 || !l) {
		free(l);
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	}
	if (optind + 1 != argc || ferry_parse_u64(argv[optind], 1, INT64_MAX, "decision ID", &id, &err) < 0) {
		free(l);
		return optind + 1 != argc ? cli_usage_error("policy show", "expected one decision ID")
		                          : cli_usage_error("policy show", "%s", err.msg);
	}
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_DECISIONS);
	r = r ? r : ferry_tlv_add_u64(&req, FERRY_TAG_SEQ, id);
	if (r < 0 || call(&o, &req, &resp, l, 60000, &err) < 0)
		r = cli_fail(&err);
	else if (o.json)
		r = print_records(l, decision_fields, true, "decisions");
	else {
		r = print_records(l, decision_fields, false, "decisions");
		for (unsigned i = 0; i < l->n; i++) {
			struct ferry_tlv_list rl;
			const struct ferry_tlv *in;

			if (l->items[i].tag == FERRY_TAG_RECORD &&
			    ferry_tlv_parse(l->items[i].value, l->items[i].len, &rl, NULL) == 0 &&
			    (in = ferry_tlv_find(&rl, FERRY_TAG_DATA)))
				printf("\ninputs: %.*s\n", (int)in->len, (const char *)in->value);
		}
	}
	free(l);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

int cmd_policy(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "explain") == 0)
		return policy_explain(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "decisions") == 0)
		return listing("policy decisions", argc - 1, argv + 1, FERRY_OP_DECISIONS, decision_fields, "decisions",
		               POLICY_HELP);
	if (argc > 1 && strcmp(argv[1], "show") == 0)
		return policy_show(argc - 1, argv + 1);
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("%s" COMMON_HELP, POLICY_HELP);
		return 0;
	}
	return cli_usage_error("policy", "expected explain, decisions or show%s%s", argc > 1 ? ", not " : "",
	                       argc > 1 ? argv[1] : "");
}

/* ---- alerts and quarantine ---- */

static const struct field alert_fields[] = {
	{ FERRY_TAG_SEQ, "id", "ID", F_U64, 5 },
	{ FERRY_TAG_TIME_MS, "at_ms", "AT_MS", F_U64, 14 },
	{ FERRY_TAG_REPORTER, "reporter", "REPORTER", F_STR, 12 },
	{ FERRY_TAG_NODE, "host", "HOST", F_STR, 9 },
	{ FERRY_TAG_SEVERITY, "severity", "SEV", F_U64, 4 },
	{ FERRY_TAG_SRC_ADDR, "src", "SRC", F_STR, 15 },
	{ FERRY_TAG_DST_ADDR, "dst", "DST", F_STR, 15 },
	{ FERRY_TAG_VERDICT, "verdict", "VERDICT", F_STR, 11 },
	{ FERRY_TAG_SID, "sid", NULL, F_STR, 0 },
	{ FERRY_TAG_SIGNATURE, "signature", "SIGNATURE", F_STR, 1 },
	{ 0 },
};

static const struct field quarantine_fields[] = {
	{ FERRY_TAG_NODE, "node", "NODE", F_STR, 10 },
	{ FERRY_TAG_TIME, "since", "SINCE", F_U64, 12 },
	{ FERRY_TAG_DETAIL, "reason", "REASON", F_STR, 1 },
	{ 0 },
};

#define ALERT_HELP                                                                                                     \
	"Usage: ferry alert send --severity N --message TEXT [--dst IP] [--src IP] [--sid ID] [--node NODE]\n"         \
	"       ferry alert list [--json]\n\n"                                                                         \
	"send: report an intrusion alert to the controller, as an IDS would.  The controller's rules\n"                \
	"(ids_* keys in its configuration) decide what it does: with ids_action = evacuate, an alert\n"                \
	"severe enough (ids_min_severity; 1 is the most severe), ids_alerts times within ids_window_s,\n"              \
	"moves every container off the host it implicates and puts that host in quarantine.  The host\n"               \
	"is --node if given, else the one --dst belongs to (a node's or a container's address).\n"                     \
	"list: the newest alerts (200) and what the controller made of each.\n\n"                                      \
	"  --severity N      1 (the most severe) to 255, as Snort's priority and Suricata's severity\n"                \
	"  --message TEXT    the alert's signature (at most 255 bytes)\n"                                              \
	"  --dst IP, --src IP  the attacked and the attacking IPv4 address\n"                                          \
	"  --sid ID          the IDS rule, e.g. 1:2001219:20 (at most 39 bytes)\n"                                     \
	"  --node NODE       the implicated host, named\n"                                                             \
	"  --json            one JSON object\n"

static int alert_send(int argc, char **argv)
{
	struct ferry_buf req = FERRY_BUF_INIT(1024), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	char verdict[32] = "", host[FERRY_NODE_NAME_MAX + 1] = "";
	struct ferry_err err = { 0 };
	uint64_t id = 0;
	struct wopts o;
	int r = parse("alert send", argc, argv, "ACjSgxyIn", ALERT_HELP, &o);

	if (r != 0 || !l) {
		free(l);
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	}
	if (optind != argc || !o.severity || !o.message) {
		free(l);
		return cli_usage_error("alert send",
		                       optind != argc ? "unexpected argument '%s'"
		                                      : "--severity and --message are required%s",
		                       optind != argc ? argv[optind] : "");
	}
	if (o.node && (r = check_name_arg("alert send", "node", o.node, FERRY_NODE_NAME_MAX))) {
		free(l);
		return r;
	}
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_ALERT);
	r = r ? r : ferry_tlv_add_u64(&req, FERRY_TAG_SEVERITY, o.severity);
	r = r ? r : ferry_tlv_add_str(&req, FERRY_TAG_SIGNATURE, o.message);
	if (r == 0 && o.src)
		r = ferry_tlv_add_str(&req, FERRY_TAG_SRC_ADDR, o.src);
	if (r == 0 && o.dst)
		r = ferry_tlv_add_str(&req, FERRY_TAG_DST_ADDR, o.dst);
	if (r == 0 && o.sid)
		r = ferry_tlv_add_str(&req, FERRY_TAG_SID, o.sid);
	if (r == 0 && o.node)
		r = ferry_tlv_add_str(&req, FERRY_TAG_NODE, o.node);
	if (r < 0 || call(&o, &req, &resp, l, 60000, &err) < 0) {
		r = cli_fail(&err);
		goto out;
	}
	ferry_tlv_get_u64(l, FERRY_TAG_SEQ, &id, NULL);
	ferry_tlv_get_str(l, FERRY_TAG_VERDICT, verdict, sizeof(verdict), NULL);
	ferry_tlv_get_str(l, FERRY_TAG_NODE, host, sizeof(host), NULL);
	if (o.json)
		printf("{\"id\": %llu, \"verdict\": \"%s\", \"host\": \"%s\"}\n", (unsigned long long)id, verdict,
		       host);
	else
		printf("alert %llu: %s%s%s\n", (unsigned long long)id, verdict, host[0] ? ", host " : " (no host)",
		       host);
out:
	free(l);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

int cmd_alert(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "send") == 0)
		return alert_send(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "list") == 0)
		return listing("alert list", argc - 1, argv + 1, FERRY_OP_ALERTS, alert_fields, "alerts", ALERT_HELP);
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("%s" COMMON_HELP, ALERT_HELP);
		return 0;
	}
	return cli_usage_error("alert", "expected send or list%s%s", argc > 1 ? ", not " : "", argc > 1 ? argv[1] : "");
}

int cmd_quarantine_list(int argc, char **argv)
{
	return listing("node quarantine", argc, argv, FERRY_OP_QUARANTINE, quarantine_fields, "quarantine",
	               "Usage: ferry node quarantine [--json]\n\n"
	               "The nodes in quarantine after an intrusion alert: no container is placed there\n"
	               "(run, migrate, evacuate, the migration manager) until 'ferry node release NODE'.\n\n"
	               "  --json            one JSON object\n");
}

/* ---- moving-target defense ---- */

#define MTD_HELP                                                                                                       \
	"Usage: ferry mtd move CONTAINER [--policy random|shamir|fountain] [--json]\n"                                 \
	"       ferry mtd status [--json]\n\n"                                                                         \
	"move: move CONTAINER to a host the security mode draws (default: the controller's\n"                          \
	"security_mode; none counts as random).  random: the controller draws by CSPRNG.  shamir and\n"                \
	"fountain: the container's host collects key_number shares from its peers (distinct hosts\n"                   \
	"drawn alike, or hosts drawn by 1/latency with repeats) to open its sealed lookup table and\n"                 \
	"names the destination; the controller checks it and signs the migration.  Prints the\n"                       \
	"destination, the draw's and the share collection's time and the migration's metrics.\n"                       \
	"status: the current epoch, its mode, k and hosts.\n\n"                                                        \
	"  --policy MODE     random, shamir or fountain for this move\n"                                               \
	"  --json            one JSON object\n"

static int mtd_move_cmd(int argc, char **argv)
{
	struct ferry_buf req = FERRY_BUF_INIT(256), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	char mode[16] = "", dest[FERRY_NODE_NAME_MAX + 1] = "";
	struct ferry_err err = { 0 };
	uint64_t epoch = 0, share_ms = 0, draw_ms = 0, decoy_bytes = 0, decoy_ms = 0;
	struct wopts o;
	int r = parse("mtd move", argc, argv, "ACjpq", MTD_HELP, &o);

	if (r != 0 || !l) {
		free(l);
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	}
	if (optind + 1 != argc ||
	    (r = check_name_arg("mtd move", "container", argv[optind], FERRY_CONTAINER_NAME_MAX))) {
		free(l);
		return r ? r : cli_usage_error("mtd move", "expected one container name");
	}
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_MTD_MOVE);
	r = r ? r : ferry_tlv_add_str(&req, FERRY_TAG_CONTAINER, argv[optind]);
	if (r == 0 && o.policy)
		r = ferry_tlv_add_str(&req, FERRY_TAG_POLICY, o.policy);
	if (r == 0 && o.has_decoys)
		r = ferry_tlv_add_u64(&req, FERRY_TAG_COUNT, o.decoys);
	if (r < 0 || call(&o, &req, &resp, l, 300000, &err) < 0) {
		r = cli_fail(&err);
		goto out;
	}
	ferry_tlv_get_str(l, FERRY_TAG_POLICY, mode, sizeof(mode), NULL);
	ferry_tlv_get_str(l, FERRY_TAG_DEST, dest, sizeof(dest), NULL);
	ferry_tlv_get_u64(l, FERRY_TAG_EPOCH, &epoch, NULL);
	ferry_tlv_get_u64(l, FERRY_TAG_TIME_MS, &share_ms, NULL);
	ferry_tlv_get_u64(l, FERRY_TAG_TOTAL_MS, &draw_ms, NULL);
	ferry_tlv_get_u64(l, FERRY_TAG_SIZE, &decoy_bytes, NULL);
	ferry_tlv_get_u64(l, FERRY_TAG_DURATION_MS, &decoy_ms, NULL);
	if (o.json) {
		struct ferry_buf b = FERRY_BUF_INIT(64 * 1024);
		struct ferry_tlv_list *rl = malloc(sizeof(*rl));
		const struct ferry_tlv *rec = ferry_tlv_find(l, FERRY_TAG_RECORD);
		struct ferry_json j;

		ferry_json_init(&j, &b, true);
		ferry_json_object_begin(&j);
		ferry_json_key(&j, "policy");
		ferry_json_string(&j, mode);
		ferry_json_key(&j, "destination");
		ferry_json_string(&j, dest);
		ferry_json_key(&j, "epoch");
		ferry_json_uint(&j, epoch);
		ferry_json_key(&j, "draw_ms");
		ferry_json_uint(&j, draw_ms);
		ferry_json_key(&j, "share_ms");
		ferry_json_uint(&j, share_ms);
		ferry_json_key(&j, "asked");
		ferry_json_array_begin(&j);
		for (unsigned i = 0; i < l->n; i++) {
			char peer[FERRY_NODE_NAME_MAX + 1];

			if (l->items[i].tag == FERRY_TAG_PEER &&
			    ferry_tlv_item_str(&l->items[i], peer, sizeof(peer), NULL) == 0)
				ferry_json_string(&j, peer);
		}
		ferry_json_array_end(&j);
		ferry_json_key(&j, "decoys");
		ferry_json_array_begin(&j);
		for (unsigned i = 0; i < l->n; i++) {
			char peer[FERRY_NODE_NAME_MAX + 1];

			if (l->items[i].tag == FERRY_TAG_DEST_DECOY &&
			    ferry_tlv_item_str(&l->items[i], peer, sizeof(peer), NULL) == 0)
				ferry_json_string(&j, peer);
		}
		ferry_json_array_end(&j);
		ferry_json_key(&j, "decoy_bytes");
		ferry_json_uint(&j, decoy_bytes);
		ferry_json_key(&j, "decoy_ms");
		ferry_json_uint(&j, decoy_ms);
		if (rl && rec && ferry_tlv_parse(rec->value, rec->len, rl, NULL) == 0) {
			ferry_json_key(&j, "migration");
			json_record(&j, rl, mig_fields);
		}
		ferry_json_object_end(&j);
		r = ferry_json_finish(&j) == 0 ? 0 : CLI_EXIT_FAILURE;
		if (r == 0)
			printf("%.*s%s", (int)b.len, b.data, b.len && b.data[b.len - 1] == '\n' ? "" : "\n");
		ferry_buf_free(&b);
		free(rl);
	} else {
		printf("%s: %s -> %s (draw %llu ms, shares %llu ms", mode, argv[optind], dest,
		       (unsigned long long)draw_ms, (unsigned long long)share_ms);
		if (decoy_bytes)
			printf("; decoys: %llu bytes in %llu ms", (unsigned long long)decoy_bytes,
			       (unsigned long long)decoy_ms);
		printf(")\n");
		r = print_records(l, mig_fields, false, "migrations");
	}
out:
	free(l);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

static int mtd_status(int argc, char **argv)
{
	struct ferry_buf req = FERRY_BUF_INIT(64), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	char mode[16] = "", epoch_mode[16] = "";
	struct ferry_err err = { 0 };
	uint64_t epoch = 0, k = 0;
	struct wopts o;
	int r = parse("mtd status", argc, argv, "ACj", MTD_HELP, &o);

	if (r != 0 || !l) {
		free(l);
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	}
	if (optind != argc) {
		free(l);
		return cli_usage_error("mtd status", "unexpected argument '%s'", argv[optind]);
	}
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_MTD_STATUS);
	if (r < 0 || call(&o, &req, &resp, l, 60000, &err) < 0) {
		r = cli_fail(&err);
		goto out;
	}
	ferry_tlv_get_str(l, FERRY_TAG_POLICY, mode, sizeof(mode), NULL);
	ferry_tlv_get_str(l, FERRY_TAG_NOTE, epoch_mode, sizeof(epoch_mode), NULL);
	ferry_tlv_get_u64(l, FERRY_TAG_EPOCH, &epoch, NULL);
	ferry_tlv_get_u64(l, FERRY_TAG_COUNT, &k, NULL);
	printf(o.json ? "{\"security_mode\": \"%s\", \"epoch\": %llu, \"epoch_mode\": \"%s\", \"k\": %llu, \"hosts\": ["
	              : "security_mode %s; epoch %llu (%s), k = %llu; hosts:",
	       mode, (unsigned long long)epoch, epoch_mode, (unsigned long long)k);
	for (unsigned i = 0, n = 0; i < l->n; i++)
		if (l->items[i].tag == FERRY_TAG_PEER)
			printf(o.json ? "%s\"%.*s\"" : "%s %.*s", o.json && n++ ? ", " : "", (int)l->items[i].len,
			       (const char *)l->items[i].value);
	printf(o.json ? "]}\n" : "\n");
	r = 0;
out:
	free(l);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

int cmd_mtd(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "move") == 0)
		return mtd_move_cmd(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "status") == 0)
		return mtd_status(argc - 1, argv + 1);
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("%s" COMMON_HELP, MTD_HELP);
		return 0;
	}
	return cli_usage_error("mtd", "expected move or status%s%s", argc > 1 ? ", not " : "", argc > 1 ? argv[1] : "");
}

/* ---- forensic snapshots ---- */

#define SNAPSHOT_HELP                                                                                                  \
	"Usage: ferry snapshot CONTAINER --out FILE [--recipient PUB]\n"                                               \
	"       ferry snapshot inspect FILE [--ca CA] [--key KEY] [--json]\n"                                          \
	"       ferry snapshot extract FILE --key KEY --into DIR [--ca CA]\n"                                          \
	"       ferry snapshot keygen --out DIR\n\n"                                                                   \
	"A forensic snapshot: CONTAINER's checkpoint (memory, files, spec, log), taken while it runs on\n"             \
	"(frozen for the dump only, its network left as it is), encrypted on its node to the operator's\n"             \
	"X25519 key in 1 MiB segments and signed with the node's key.  Neither the controller nor the\n"               \
	"node can read it afterwards.  FILE is written only once it checked out; it is never replaced.\n"              \
	"inspect: check the signature and the signer's certificate (against CA, by default the\n"                      \
	"admin's ca.crt) and show what it is; with KEY also decrypt every segment.  extract: check,\n"                 \
	"decrypt and unpack into DIR (which must not exist).  keygen: DIR/operator.key (0600) and\n"                   \
	"DIR/operator.pub.\n\n"                                                                                        \
	"  --out FILE|DIR    the snapshot file (snapshot) or the key directory (keygen)\n"                             \
	"  --recipient PUB   the operator's public key (default: operator.pub in the admin directory)\n"               \
	"  --key KEY         the operator's private key\n"                                                             \
	"  --ca CA           the cluster's CA certificate\n"                                                           \
	"  --into DIR        where extract unpacks\n"                                                                  \
	"  --json            one JSON object (inspect)\n"

/* The admin directory's file name (for defaults), or "". */
static void admin_file(const struct wopts *o, const char *name, char *out, size_t len)
{
	char dir[PATH_MAX];

	out[0] = '\0';
	if (api_admin_dir(o->admin_dir, o->cluster, dir, sizeof(dir), NULL) == 0)
		snprintf(out, len, "%s/%s", dir, name);
}

/*
 * The CA snapshots are checked against: --ca, which must load; else the
 * admin directory's ca.crt when there is one; else none (*ret NULL).
 */
static int snapshot_ca(const struct wopts *o, X509 **ret, struct ferry_err *err)
{
	char path[PATH_MAX];

	*ret = NULL;
	if (o->ca)
		snprintf(path, sizeof(path), "%s", o->ca);
	else
		admin_file(o, "ca.crt", path, sizeof(path));
	if (!path[0] || (!o->ca && access(path, R_OK) < 0))
		return 0;
	return (*ret = ferry_cert_load(path, err)) ? 0 : -EINVAL;
}

static int snapshot_take(int argc, char **argv)
{
	struct ferry_buf req = FERRY_BUF_INIT(256), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	struct ferry_bundle_result res = { 0 };
	struct ferry_snapshot_info info;
	struct ferry_err err = { 0 };
	struct api_session s = { 0 };
	uint8_t recipient[FERRY_SNAPSHOT_KEY_LEN];
	char pub[PATH_MAX], tmp[PATH_MAX], in_dir[PATH_MAX + 8], done_dir[PATH_MAX + 8], file[PATH_MAX + 600],
	    node[FERRY_NODE_NAME_MAX + 1] = "";
	uint64_t size = 0, frozen = 0;
	bool open_ = false, made = false;
	X509 *ca = NULL;
	struct wopts o;
	int r = parse("snapshot", argc, argv, "ACoe", SNAPSHOT_HELP, &o);

	if (r != 0 || !l) {
		free(l);
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	}
	if (optind + 1 != argc || !o.out ||
	    (r = check_name_arg("snapshot", "container", argv[optind], FERRY_CONTAINER_NAME_MAX))) {
		free(l);
		return r ? r : cli_usage_error("snapshot", "expected CONTAINER and --out FILE");
	}
	r = CLI_EXIT_FAILURE;
	if (access(o.out, F_OK) == 0) {
		ferry_err_set(&err, -EEXIST, "%s exists; a snapshot never replaces a file", o.out);
		goto fail;
	}
	if (o.recipient)
		snprintf(pub, sizeof(pub), "%s", o.recipient);
	else
		admin_file(&o, "operator.pub", pub, sizeof(pub));
	if (!pub[0] || ferry_snapshot_pubkey_load(pub, recipient, &err) < 0) {
		if (!o.recipient)
			ferry_err_wrap(&err, "no --recipient, and the admin directory's operator.pub");
		goto fail;
	}
	/* Staging beside FILE: the checked file is renamed into place, never copied. */
	snprintf(tmp, sizeof(tmp), "%s", o.out);
	snprintf(tmp, sizeof(tmp), "%s/.ferry-snapshot-XXXXXX", dirname(tmp));
	if (!mkdtemp(tmp)) {
		ferry_err_sys(&err, -errno, "cannot make a staging directory beside %s", o.out);
		goto fail;
	}
	made = true;
	snprintf(in_dir, sizeof(in_dir), "%s/in", tmp);
	snprintf(done_dir, sizeof(done_dir), "%s/done", tmp);
	if (ferry_mkdir_p(in_dir, 0700, &err) < 0 || ferry_mkdir_p(done_dir, 0700, &err) < 0 ||
	    open_session(&o, &s, &err) < 0)
		goto fail;
	open_ = true;
	s.conn->io_timeout_ms = LONG_CALL_MS;
	if (ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_SNAPSHOT) < 0 ||
	    ferry_tlv_add_str(&req, FERRY_TAG_CONTAINER, argv[optind]) < 0 ||
	    ferry_tlv_add(&req, FERRY_TAG_DATA, recipient, sizeof(recipient)) < 0 ||
	    api_call(&s, &req, &resp, &err) < 0 || ferry_tlv_parse((const uint8_t *)resp.data, resp.len, l, &err) < 0)
		goto fail;
	ferry_tlv_get_str(l, FERRY_TAG_NODE, node, sizeof(node), NULL);
	ferry_tlv_get_u64(l, FERRY_TAG_SIZE, &size, NULL);
	ferry_tlv_get_u64(l, FERRY_TAG_DOWNTIME_MS, &frozen, NULL);
	if (ferry_bundle_receive_plain(s.conn, in_dir, done_dir, size + 1, &res, &err) < 0 ||
	    ferry_expect_response(s.conn, &resp, &err) < 0)
		goto fail;
	/* Checked before it is kept: the node's signature, certified by the cluster's CA. */
	snprintf(file, sizeof(file), "%s/snapshot.fsnp", res.path);
	if (snapshot_ca(&o, &ca, &err) < 0)
		goto fail;
	if (ferry_snapshot_read(file, ca, NULL, NULL, &info, &err) < 0)
		goto fail;
	if (link(file, o.out) < 0) {
		ferry_err_sys(&err, -errno, "cannot write %s", o.out);
		goto fail;
	}
	printf("snapshot of %s on %s: %s, %llu bytes, frozen %llu ms, signed by %s%s, for %s\n", argv[optind], node,
	       o.out, (unsigned long long)size, (unsigned long long)frozen, info.signer,
	       info.chain_ok ? " (certified by the cluster's CA)" : "", pub);
	r = 0;
	goto out;
fail:
	if (strncmp(err.msg, "peer refused: ", 14) == 0)
		memmove(err.msg, err.msg + 14, strlen(err.msg + 14) + 1);
	cli_fail(&err);
out:
	if (open_)
		api_close(&s);
	if (made)
		ferry_rm_tree(tmp, NULL);
	X509_free(ca);
	free(l);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

static int snapshot_inspect(int argc, char **argv, bool extract)
{
	const char *cmd = extract ? "snapshot extract" : "snapshot inspect";
	struct ferry_snapshot_info info;
	struct ferry_err err = { 0 };
	char plain[PATH_MAX + 16] = "", hex[2 * FERRY_SNAPSHOT_KEY_LEN + 1];
	X509 *ca = NULL;
	struct wopts o;
	int r = parse(cmd, argc, argv, extract ? "ACkcd" : "ACkcj", SNAPSHOT_HELP, &o);

	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	if (optind + 1 != argc || (extract && (!o.key || !o.into)))
		return cli_usage_error(cmd, extract ? "expected FILE, --key KEY and --into DIR" : "expected FILE");
	if (extract && access(o.into, F_OK) == 0)
		return cli_usage_error(cmd, "--into %s exists; extract makes a new directory", o.into);
	r = CLI_EXIT_FAILURE;
	if (snapshot_ca(&o, &ca, &err) < 0)
		goto fail;
	/* The decrypted archive waits beside DIR, and goes once unpacked (or once anything failed). */
	if (extract)
		snprintf(plain, sizeof(plain), "%s.tar-part", o.into);
	if (ferry_snapshot_read(argv[optind], ca, o.key, extract ? plain : NULL, &info, &err) < 0)
		goto fail;
	if (extract) {
		r = ferry_layer_unpack(plain, o.into, &err);
		unlink(plain);
		if (r < 0) {
			ferry_rm_tree(o.into, NULL);
			r = CLI_EXIT_FAILURE;
			goto fail;
		}
		printf("%s: %s from %s, checked and unpacked into %s\n", argv[optind], info.meta.container,
		       info.meta.node, o.into);
		r = 0;
		goto out;
	}
	ferry_hex_encode(info.recipient, sizeof(info.recipient), hex);
	if (o.json)
		printf("{\"container\": \"%s\", \"node\": \"%s\", \"image\": \"%s\", \"created_at\": %llu, "
		       "\"generation\": %llu, \"signer\": \"%s\", \"signature\": \"ok\", \"chain\": \"%s\", "
		       "\"recipient\": \"%s\", \"segments\": %llu, \"bytes\": %llu, \"opened\": %s, "
		       "\"plain_bytes\": %llu}\n",
		       info.meta.container, info.meta.node, info.meta.image, (unsigned long long)info.meta.created_at,
		       (unsigned long long)info.meta.generation, info.signer, info.chain_ok ? "ok" : "not checked", hex,
		       (unsigned long long)info.segments, (unsigned long long)info.file_bytes,
		       info.opened ? "true" : "false", (unsigned long long)info.plain_bytes);
	else
		printf("container %s on %s (image %s, generation %llu), taken at %llu\n"
		       "signed by %s: signature ok, certificate %s\n"
		       "encrypted to %.16s...: %llu segments, %llu bytes%s\n",
		       info.meta.container, info.meta.node, info.meta.image, (unsigned long long)info.meta.generation,
		       (unsigned long long)info.meta.created_at, info.signer,
		       info.chain_ok ? "certified by the cluster's CA" : "not checked (no CA)", hex,
		       (unsigned long long)info.segments, (unsigned long long)info.file_bytes,
		       info.opened ? "; every segment decrypts and checks out" : "");
	r = 0;
	goto out;
fail:
	cli_fail(&err);
out:
	X509_free(ca);
	return r;
}

static int snapshot_restore(int argc, char **argv)
{
	struct ferry_buf req = FERRY_BUF_INIT(256), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	struct ferry_snapshot_info info;
	struct ferry_manifest m = { 0 };
	struct ferry_err err = { 0 };
	struct api_session s = { 0 };
	char tmp[] = "/tmp/ferry-restore-XXXXXX", plain[64], dir[64];
	uint64_t pid = 0;
	bool made = false, open_ = false;
	X509 *ca = NULL;
	struct wopts o;
	int r = parse("snapshot restore", argc, argv, "ACkcnN", SNAPSHOT_HELP, &o);

	if (r != 0 || !l) {
		free(l);
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	}
	if (optind + 1 != argc || !o.key || !o.node || !o.name ||
	    (r = check_name_arg("snapshot restore", "container", o.name, FERRY_CONTAINER_NAME_MAX)) ||
	    (r = check_name_arg("snapshot restore", "node", o.node, FERRY_NODE_NAME_MAX))) {
		free(l);
		return r ? r
		         : cli_usage_error("snapshot restore", "expected FILE, --key KEY, --node NODE and --name NAME");
	}
	r = CLI_EXIT_FAILURE;
	if (snapshot_ca(&o, &ca, &err) < 0)
		goto fail;
	if (!mkdtemp(tmp)) {
		ferry_err_sys(&err, -errno, "cannot make a temporary directory");
		goto fail;
	}
	made = true;
	snprintf(plain, sizeof(plain), "%s/snapshot.tar", tmp);
	snprintf(dir, sizeof(dir), "%s/contents", tmp);
	/* Opened and checked here, with the operator's key: the cluster never holds it. */
	if (ferry_snapshot_read(argv[optind], ca, o.key, plain, &info, &err) < 0 ||
	    ferry_layer_unpack(plain, dir, &err) < 0)
		goto fail;
	unlink(plain);
	if (ferry_manifest_from_dir(dir, &m, &err) < 0 || open_session(&o, &s, &err) < 0)
		goto fail;
	open_ = true;
	s.conn->io_timeout_ms = LONG_CALL_MS;
	if (ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_SNAPSHOT_RESTORE) < 0 ||
	    ferry_tlv_add_str(&req, FERRY_TAG_CONTAINER, o.name) < 0 ||
	    ferry_tlv_add_str(&req, FERRY_TAG_NODE, o.node) < 0 || api_call(&s, &req, &resp, &err) < 0 ||
	    ferry_bundle_send(s.conn, NULL, 0, &m, dir, FERRY_BUNDLE_ZSTD, NULL, NULL, &err) < 0 ||
	    ferry_expect_response(s.conn, &resp, &err) < 0 ||
	    ferry_tlv_parse((const uint8_t *)resp.data, resp.len, l, &err) < 0)
		goto fail;
	ferry_tlv_get_u64(l, FERRY_TAG_PID, &pid, NULL);
	printf("%s (snapshot of %s on %s) restored as %s on %s, pid %llu, isolated: its network stays down\n",
	       argv[optind], info.meta.container, info.meta.node, o.name, o.node, (unsigned long long)pid);
	r = 0;
	goto out;
fail:
	if (strncmp(err.msg, "peer refused: ", 14) == 0)
		memmove(err.msg, err.msg + 14, strlen(err.msg + 14) + 1);
	cli_fail(&err);
out:
	if (open_)
		api_close(&s);
	if (made)
		ferry_rm_tree(tmp, NULL);
	ferry_manifest_free(&m);
	X509_free(ca);
	free(l);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

static int snapshot_keygen(int argc, char **argv)
{
	struct ferry_err err = { 0 };
	char key[PATH_MAX + 16], pub[PATH_MAX + 16];
	struct wopts o;
	int r = parse("snapshot keygen", argc, argv, "o", SNAPSHOT_HELP, &o);

	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	if (optind != argc || !o.out)
		return cli_usage_error("snapshot keygen", "expected --out DIR");
	snprintf(key, sizeof(key), "%s/operator.key", o.out);
	snprintf(pub, sizeof(pub), "%s/operator.pub", o.out);
	if (ferry_mkdir_p(o.out, 0700, &err) < 0 || ferry_snapshot_keygen(key, pub, &err) < 0)
		return cli_fail(&err);
	printf("operator key: %s (keep it off the cluster); public key: %s\n", key, pub);
	return 0;
}

int cmd_snapshot(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "inspect") == 0)
		return snapshot_inspect(argc - 1, argv + 1, false);
	if (argc > 1 && strcmp(argv[1], "extract") == 0)
		return snapshot_inspect(argc - 1, argv + 1, true);
	if (argc > 1 && strcmp(argv[1], "keygen") == 0)
		return snapshot_keygen(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "restore") == 0)
		return snapshot_restore(argc - 1, argv + 1);
	return snapshot_take(argc, argv);
}

/* ---- image ---- */

static int image_import(int argc, char **argv)
{
	static const char help[] = "Usage: ferry image import PATH|TAR --name NAME\n\n"
	                           "Import a root file system (a directory, or a tar archive of one) as image NAME.\n"
	                           "It becomes one content-addressed layer (SHA-256 of its archive) held by the\n"
	                           "controller and shipped to nodes when a container needs it.\n\n"
	                           "  --name NAME       image name (a-z, 0-9, '-', starting with a letter)\n";
	struct ferry_buf req = FERRY_BUF_INIT(256), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	struct ferry_manifest m = { 0 };
	struct ferry_err err = { 0 };
	struct api_session s = { 0 };
	char tmpdir[] = "/tmp/ferry-import-XXXXXX", tar[PATH_MAX];
	struct stat st;
	struct wopts o;
	bool made = false, open_ = false;
	int r = parse("image import", argc, argv, "ACN", help, &o);

	if (r != 0 || !l) {
		free(l);
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	}
	if (optind + 1 != argc || (r = check_name_arg("image import", "image", o.name, FERRY_CONTAINER_NAME_MAX))) {
		free(l);
		return r ? r : cli_usage_error("image import", "expected PATH|TAR and --name NAME");
	}
	r = CLI_EXIT_FAILURE;
	if (stat(argv[optind], &st) < 0) {
		ferry_err_sys(&err, -errno, "cannot use %s", argv[optind]);
		goto fail;
	}
	if (!mkdtemp(tmpdir)) {
		ferry_err_sys(&err, -errno, "cannot make a temporary directory");
		goto fail;
	}
	made = true;
	snprintf(tar, sizeof(tar), "%s/layer.tar", tmpdir);
	if (S_ISDIR(st.st_mode)) {
		if (ferry_layer_pack(argv[optind], tar, &err) < 0)
			goto fail;
	} else {
		const char *cp[] = { "cp", "--", argv[optind], tar, NULL };
		struct ferry_exec_opts eo = { .timeout_ms = 300000 };

		if (ferry_layer_check(argv[optind], &err) < 0 || ferry_exec_ok(cp, &eo, &err) < 0)
			goto fail;
	}
	if (ferry_manifest_from_dir(tmpdir, &m, &err) < 0 || open_session(&o, &s, &err) < 0)
		goto fail;
	open_ = true;
	s.conn->io_timeout_ms = LONG_CALL_MS;
	if (ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_IMAGE_IMPORT) < 0 ||
	    ferry_tlv_add_str(&req, FERRY_TAG_IMAGE, o.name) < 0 || api_call(&s, &req, &resp, &err) < 0 ||
	    ferry_bundle_send(s.conn, NULL, 0, &m, tmpdir, FERRY_BUNDLE_ZSTD, NULL, NULL, &err) < 0 ||
	    ferry_expect_response(s.conn, &resp, &err) < 0 ||
	    ferry_tlv_parse((const uint8_t *)resp.data, resp.len, l, &err) < 0)
		goto fail;
	{
		uint8_t digest[32];
		char hex[65];

		if (ferry_tlv_get_fixed(l, FERRY_TAG_LAYER, digest, 32, &err) < 0)
			goto fail;
		ferry_hex_encode(digest, 32, hex);
		printf("image %s: layer sha256:%s (%llu bytes)\n", o.name, hex, (unsigned long long)m.total);
	}
	r = 0;
	goto out;
fail:
	if (strncmp(err.msg, "peer refused: ", 14) == 0)
		memmove(err.msg, err.msg + 14, strlen(err.msg + 14) + 1);
	cli_fail(&err);
out:
	if (open_)
		api_close(&s);
	if (made)
		ferry_rm_tree(tmpdir, NULL);
	ferry_manifest_free(&m);
	free(l);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

int cmd_image(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "import") == 0)
		return image_import(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "ls") == 0 || strcmp(argv[1], "list") == 0))
		return listing("image ls", argc - 1, argv + 1, FERRY_OP_IMAGE_LIST, image_fields, "images",
		               "Usage: ferry image ls [--json]\n\nList the images the controller holds.\n\n"
		               "  --json            one JSON object\n");
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("Usage: ferry image import PATH|TAR --name NAME\n       ferry image ls [--json]\n");
		return 0;
	}
	return cli_usage_error("image", "expected 'import' or 'ls'");
}

/* ---- run ---- */

int cmd_run(int argc, char **argv)
{
	static const char help[] =
	    "Usage: ferry run --name NAME --image IMAGE [--node NODE] [--memory SIZE] [--stateless]\n"
	    "                 [--ready tcp:PORT|'exec:/CMD ARGS'] -- /COMMAND [ARGS...]\n\n"
	    "Start a container on NODE (default: the node with the fewest containers) and\n"
	    "wait until it runs (and passes its readiness probe, if given).\n\n"
	    "  --name NAME       container name (a-z, 0-9, '-', starting with a letter)\n"
	    "  --image IMAGE     an imported image (ferry image ls)\n"
	    "  --node NODE       where to run it\n"
	    "  --memory SIZE     memory limit, e.g. 256m or 1g (default 256m; 4m to 1024g)\n"
	    "  --stateless       mark it stateless: it may be moved by restarting it elsewhere\n"
	    "  --ready PROBE     readiness: tcp:PORT inside the container, or exec:/CMD ARGS (exit 0)\n";
	struct ferry_buf req = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	struct ferry_err err = { 0 };
	enum ferry_probe_kind kind;
	char node[FERRY_NODE_NAME_MAX + 1] = "";
	uint16_t port;
	uint64_t pid = 0;
	struct wopts o;
	int r = parse("run", argc, argv, "ACniNmsr", help, &o);

	if (r != 0 || !l) {
		free(l);
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	}
	free(l);
	l = NULL;
	if ((r = check_name_arg("run", "container", o.name, FERRY_CONTAINER_NAME_MAX)) ||
	    (r = check_name_arg("run", "image", o.image, FERRY_CONTAINER_NAME_MAX)) ||
	    (o.node && (r = check_name_arg("run", "node", o.node, FERRY_NODE_NAME_MAX))))
		return r;
	if (o.probe && ferry_probe_parse(o.probe, &kind, &port, &err) < 0)
		return cli_usage_error("run", "%s", err.msg);
	if (optind >= argc)
		return cli_usage_error("run", "expected the command after '--'");
	if (argv[optind][0] != '/')
		return cli_usage_error("run", "command '%s' must be an absolute path inside the image", argv[optind]);
	if (argc - optind > FERRY_SPEC_ARGS_MAX)
		return cli_usage_error("run", "at most %d command arguments", FERRY_SPEC_ARGS_MAX);
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_RUN);
	r = r ? r : ferry_tlv_add_str(&req, FERRY_TAG_CONTAINER, o.name);
	r = r ? r : ferry_tlv_add_str(&req, FERRY_TAG_IMAGE, o.image);
	for (int i = optind; r == 0 && i < argc; i++) {
		if (strlen(argv[i]) > FERRY_SPEC_ARG_MAX)
			return cli_usage_error("run", "argument %d is longer than %d bytes", i - optind + 1,
			                       FERRY_SPEC_ARG_MAX);
		r = ferry_tlv_add_str(&req, FERRY_TAG_ARG, argv[i]);
	}
	r = r ? r : ferry_tlv_add_u64(&req, FERRY_TAG_MEMORY, o.memory);
	r = r ? r : ferry_tlv_add_u64(&req, FERRY_TAG_FLAGS, o.stateless ? FERRY_SPEC_STATELESS : 0);
	if (r == 0 && o.probe)
		r = ferry_tlv_add_str(&req, FERRY_TAG_PROBE, o.probe);
	if (r == 0 && o.node)
		r = ferry_tlv_add_str(&req, FERRY_TAG_NODE, o.node);
	l = malloc(sizeof(*l));
	if (r < 0 || !l || call(&o, &req, &resp, l, LONG_CALL_MS, &err) < 0) {
		r = cli_fail(&err);
	} else {
		char address[32] = "";

		ferry_tlv_get_str(l, FERRY_TAG_NODE, node, sizeof(node), NULL);
		ferry_tlv_get_u64(l, FERRY_TAG_PID, &pid, NULL);
		if (ferry_tlv_find(l, FERRY_TAG_ADDRESS))
			ferry_tlv_get_str(l, FERRY_TAG_ADDRESS, address, sizeof(address), NULL);
		printf("%s runs on %s (pid %llu)%s%s\n", o.name, node, (unsigned long long)pid,
		       address[0] ? ", address " : "", address);
		r = 0;
	}
	free(l);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

/* ---- logs, stop, rm, exec ---- */

static int one_container(const char *cmd, int argc, char **argv, uint16_t op, const char *help)
{
	struct ferry_buf req = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = NULL;
	struct ferry_err err = { 0 };
	const struct ferry_tlv *data;
	uint64_t status = 0;
	struct wopts o;
	int r = parse(cmd, argc, argv, "AC", help, &o);

	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	if (optind >= argc || (r = check_name_arg(cmd, "container", argv[optind], FERRY_CONTAINER_NAME_MAX)))
		return r ? r : cli_usage_error(cmd, "expected a container name");
	if (op != FERRY_OP_EXEC && optind + 1 != argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
	if (op == FERRY_OP_EXEC && optind + 1 >= argc)
		return cli_usage_error(cmd, "expected a command after the container name");
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, op);
	r = r ? r : ferry_tlv_add_str(&req, FERRY_TAG_CONTAINER, argv[optind]);
	for (int i = optind + 1; r == 0 && i < argc && i - optind <= FERRY_SPEC_ARGS_MAX; i++)
		r = strlen(argv[i]) > FERRY_SPEC_ARG_MAX ? -E2BIG : ferry_tlv_add_str(&req, FERRY_TAG_ARG, argv[i]);
	if (r < 0)
		return cli_usage_error(cmd, "arguments too long");
	l = malloc(sizeof(*l));
	if (!l || call(&o, &req, &resp, l, 120000, &err) < 0) {
		r = cli_fail(&err);
		goto out;
	}
	data = ferry_tlv_find(l, FERRY_TAG_DATA);
	if (data && data->len)
		fwrite(data->value, 1, data->len, stdout);
	if (op == FERRY_OP_EXEC) {
		ferry_tlv_get_u64(l, FERRY_TAG_EXIT, &status, NULL);
		r = status > 255 ? 255 : (int)status; /* the command's own status */
	} else {
		r = 0;
	}
out:
	free(l);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

int cmd_logs(int argc, char **argv)
{
	return one_container("logs", argc, argv, FERRY_OP_LOGS,
	                     "Usage: ferry logs NAME\n\nPrint the last 60 KiB of the container's output (it moves "
	                     "with the container).\n\n");
}

int cmd_stop(int argc, char **argv)
{
	return one_container("stop", argc, argv, FERRY_OP_STOP,
	                     "Usage: ferry stop NAME\n\nStop the container (SIGTERM, SIGKILL after 5 s); its logs "
	                     "stay until 'ferry rm'.\n\n");
}

int cmd_rm(int argc, char **argv)
{
	return one_container("rm", argc, argv, FERRY_OP_RM,
	                     "Usage: ferry rm NAME\n\nStop the container if it runs and remove it and everything "
	                     "of it.\n\n");
}

int cmd_exec(int argc, char **argv)
{
	return one_container("exec", argc, argv, FERRY_OP_EXEC,
	                     "Usage: ferry exec NAME /COMMAND [ARGS...]\n\nRun a command inside the container and "
	                     "print its output (at most the last\n60 KiB); exits with the command's status.\n\n");
}

/* ---- migrate, evacuate ---- */

static void print_report(const struct ferry_tlv_list *rl)
{
	char name[80] = "", src[40] = "", dst[40] = "", mode[20] = "", result[20] = "", msg[1100] = "";
	uint64_t v[8] = { 0 };
	static const uint16_t tags[] = { FERRY_TAG_TOTAL_MS,    FERRY_TAG_DOWNTIME_MS, FERRY_TAG_CHECKPOINT_MS,
		                         FERRY_TAG_TRANSFER_MS, FERRY_TAG_RESTORE_MS,  FERRY_TAG_BYTES_IMAGE,
		                         FERRY_TAG_BYTES_WIRE,  FERRY_TAG_ROUNDS };

	ferry_tlv_get_str(rl, FERRY_TAG_CONTAINER, name, sizeof(name), NULL);
	ferry_tlv_get_str(rl, FERRY_TAG_SOURCE, src, sizeof(src), NULL);
	ferry_tlv_get_str(rl, FERRY_TAG_DEST, dst, sizeof(dst), NULL);
	ferry_tlv_get_str(rl, FERRY_TAG_PHASE, mode, sizeof(mode), NULL);
	ferry_tlv_get_str(rl, FERRY_TAG_RESULT, result, sizeof(result), NULL);
	ferry_tlv_get_str(rl, FERRY_TAG_MESSAGE, msg, sizeof(msg), NULL);
	for (int i = 0; i < 8; i++)
		ferry_tlv_get_u64(rl, tags[i], &v[i], NULL);
	printf("%s: %s -> %s (%s): %s%s%s\n", name, src, dst, mode, result, msg[0] ? ": " : "", msg);
	if (strcmp(result, "ok") == 0)
		printf("  total %llu ms, downtime %llu ms (checkpoint %llu, transfer %llu, restore %llu); "
		       "image %llu bytes, wire %llu bytes\n",
		       (unsigned long long)v[0], (unsigned long long)v[1], (unsigned long long)v[2],
		       (unsigned long long)v[3], (unsigned long long)v[4], (unsigned long long)v[5],
		       (unsigned long long)v[6]);
	if (strcmp(result, "ok") == 0) {
		char rounds[400] = "", note[320] = "";

		ferry_tlv_get_str(rl, FERRY_TAG_ROUND_BYTES_TEXT, rounds, sizeof(rounds), NULL);
		ferry_tlv_get_str(rl, FERRY_TAG_NOTE, note, sizeof(note), NULL);
		if (v[7] > 1)
			printf("  %llu rounds, bytes per round %s (the last one while paused)%s%s\n",
			       (unsigned long long)v[7], rounds, note[0] ? "; " : "", note);
		else if (note[0])
			printf("  %s\n", note);
	}
}

/* On a terminal: one line redrawn in place, phase, bytes, rate and ETA. */
static void draw_progress(const struct ferry_tlv_list *l, long long t0)
{
	char phase[32] = "";
	uint64_t done = 0, total = 0;
	double secs = (double)(ferry_now_ms() - t0) / 1000.0, rate;

	ferry_tlv_get_str(l, FERRY_TAG_PHASE, phase, sizeof(phase), NULL);
	ferry_tlv_get_u64(l, FERRY_TAG_SIZE, &done, NULL);
	ferry_tlv_get_u64(l, FERRY_TAG_DISK, &total, NULL);
	rate = secs > 0 ? (double)done / secs : 0;
	if (strcmp(phase, "precopy") == 0)
		/* SIZE: the round, DISK: its bytes */
		fprintf(stderr, "\r%-10s round %llu sent %.1f MB %20s", phase, (unsigned long long)done,
		        (double)total / 1e6, "");
	else if (total && strcmp(phase, "transfer") == 0)
		fprintf(stderr, "\r%-10s %7.1f / %.1f MB  %6.1f MB/s  ETA %3.0f s   ", phase, (double)done / 1e6,
		        (double)total / 1e6, rate / 1e6, rate > 0 ? (double)(total - done) / rate : 0.0);
	else
		fprintf(stderr, "\r%-10s %40s", phase, "");
	fflush(stderr);
}

/* MIGRATE with FLAGS 1: intermediate answers carry the phase, the last one the record. */
static int call_with_progress(const struct wopts *o, const struct ferry_buf *req, struct ferry_buf *resp,
                              struct ferry_tlv_list *l, struct ferry_err *err)
{
	long long t0 = ferry_now_ms();
	struct api_session s;
	int r;

	if ((r = open_session(o, &s, err)) < 0)
		return r;
	s.conn->io_timeout_ms = LONG_CALL_MS;
	r = ferry_conn_send_frame(s.conn, FERRY_FRAME_REQUEST, req->data, req->len, err);
	while (r == 0) {
		if ((r = ferry_expect_response(s.conn, resp, err)) < 0 ||
		    (r = ferry_tlv_parse((const uint8_t *)resp->data, resp->len, l, err)) < 0)
			break;
		if (ferry_tlv_find(l, FERRY_TAG_RECORD))
			break;
		draw_progress(l, t0);
	}
	fprintf(stderr, "\r%60s\r", "");
	api_close(&s);
	if (r < 0 && strncmp(err->msg, "peer refused: ", 14) == 0)
		memmove(err->msg, err->msg + 14, strlen(err->msg + 14) + 1);
	return r;
}

static int migration_call(const char *cmd, const struct wopts *o, struct ferry_buf *req)
{
	struct ferry_buf resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l)), *rl = malloc(sizeof(*rl));
	struct ferry_err err = { 0 };
	int r = 0, failed = 0;

	if (!l || !rl ||
	    (o->progress ? call_with_progress(o, req, &resp, l, &err) : call(o, req, &resp, l, LONG_CALL_MS, &err)) <
	        0) {
		r = cli_fail(&err);
		goto out;
	}
	if (o->json && strcmp(cmd, "migrate") == 0) {
		/* One object: the single migration's record. */
		const struct ferry_tlv *rec = ferry_tlv_find(l, FERRY_TAG_RECORD);

		if (rec && ferry_tlv_parse(rec->value, rec->len, rl, NULL) == 0) {
			struct ferry_buf out = FERRY_BUF_INIT(64 * 1024);
			struct ferry_json j;

			ferry_json_init(&j, &out, true);
			json_record(&j, rl, mig_fields);
			if (ferry_json_finish(&j) == 0)
				printf("%.*s\n", (int)out.len, out.data);
			ferry_buf_free(&out);
		}
		goto out;
	}
	if (o->json) {
		print_records(l, mig_fields, true, "migrations");
	}
	for (unsigned i = 0; i < l->n; i++) {
		char result[20] = "";

		if (l->items[i].tag != FERRY_TAG_RECORD ||
		    ferry_tlv_parse(l->items[i].value, l->items[i].len, rl, NULL) < 0)
			continue;
		ferry_tlv_get_str(rl, FERRY_TAG_RESULT, result, sizeof(result), NULL);
		failed += strcmp(result, "ok") != 0;
		if (!o->json)
			print_report(rl);
	}
	if (!o->json && !ferry_tlv_find(l, FERRY_TAG_RECORD))
		printf("nothing to move: no running container there\n");
	r = failed ? CLI_EXIT_FAILURE : 0;
out:
	free(l);
	free(rl);
	ferry_buf_free(&resp);
	return r;
}

int cmd_migrate(int argc, char **argv)
{
	static const char help[] =
	    "Usage: ferry migrate NAME --to NODE [--mode stop-copy|precopy|postcopy|hybrid|stateless|auto]\n"
	    "                     [--max-downtime MS] [--bandwidth RATE] [--max-rounds N]\n"
	    "                     [--auto-converge] [--json]\n\n"
	    "Move a running container to NODE.  stop-copy (default) pauses it, checkpoints\n"
	    "it with CRIU, streams the images through the encrypted channel and restores it;\n"
	    "the source stays paused until the destination runs it, and resumes on any\n"
	    "failure.  precopy first sends its memory while it keeps running, in rounds\n"
	    "(pages compared by content hash, no kernel dirty tracking needed), so the\n"
	    "pause carries only what changed since the last round.  postcopy moves all but\n"
	    "the memory, runs it on NODE at once and fetches each page it touches (then the\n"
	    "rest) from the frozen source through the channel; the controller allows it (and\n"
	    "hybrid) only with allow_postcopy = yes, as a source lost before the last page\n"
	    "loses the container.  hybrid runs pre-copy rounds, then post-copy for what is\n"
	    "left (pages the rounds brought are not sent again).  stateless starts a fresh\n"
	    "copy on NODE, waits until it is ready, then removes the old one.  auto runs\n"
	    "pre-copy rounds and then picks: pre-copy if they converged, else hybrid where\n"
	    "the controller allows post-copy, else pre-copy; the report says why.  Prints the\n"
	    "migration's metrics (rounds and their bytes; when the last page landed).\n\n"
	    "  --to NODE         destination node\n"
	    "  --mode MODE       stop-copy, precopy, postcopy, hybrid, stateless or auto\n"
	    "  --max-downtime MS precopy/hybrid/auto: stop the rounds once what is left would\n"
	    "                    cross the link within MS milliseconds (default 300)\n"
	    "  --bandwidth RATE  precopy/hybrid: cap the rounds' traffic, e.g. 100mbit, 1gbit\n"
	    "  --max-rounds N    precopy/hybrid: at most N rounds before the pause (default 8,\n"
	    "                    1-29)\n"
	    "  --auto-converge   precopy/hybrid: when a round does not shrink, halve the\n"
	    "                    container's CPU quota (down to 5%) until it does; lifted at\n"
	    "                    the pause\n"
	    "  --json            the report as one JSON object\n";
	struct ferry_buf req = FERRY_BUF_INIT(1024);
	struct ferry_err err = { 0 };
	uint8_t mode = FERRY_MODE_STOP_COPY;
	struct wopts o;
	int r = parse("migrate", argc, argv, "ACjtMDBRa", help, &o);

	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	if (optind + 1 != argc || (r = check_name_arg("migrate", "container", argv[optind], FERRY_CONTAINER_NAME_MAX)))
		return r ? r : cli_usage_error("migrate", "expected one container name");
	if (o.n_to != 1 || (r = check_name_arg("migrate", "node", o.to[0], FERRY_NODE_NAME_MAX)))
		return r ? r : cli_usage_error("migrate", "expected --to NODE once");
	if (o.mode &&
	    (ferry_mode_parse(o.mode, &mode, &err) < 0 || mode < FERRY_MODE_STOP_COPY || mode > FERRY_MODE_AUTO))
		return cli_usage_error(
		    "migrate",
		    "mode '%s' is not available; expected stop-copy, precopy, postcopy, hybrid, stateless or auto",
		    o.mode);
	if (mode != FERRY_MODE_PRECOPY && mode != FERRY_MODE_HYBRID && mode != FERRY_MODE_AUTO &&
	    (o.max_downtime_ms || o.bandwidth_bits || o.max_rounds || o.auto_converge))
		return cli_usage_error("migrate", "--max-downtime, --bandwidth, --max-rounds and --auto-converge need "
		                                  "--mode precopy, hybrid or auto");
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_MIGRATE);
	r = r ? r : ferry_tlv_add_str(&req, FERRY_TAG_CONTAINER, argv[optind]);
	r = r ? r : ferry_tlv_add_str(&req, FERRY_TAG_DEST, o.to[0]);
	r = r ? r : ferry_tlv_add_u64(&req, FERRY_TAG_MODE, mode);
	/* A live progress bar only for a person watching a terminal. */
	o.progress = !o.json && isatty(STDERR_FILENO);
	if (r == 0 && o.max_downtime_ms)
		r = ferry_tlv_add_u64(&req, FERRY_TAG_MAX_DOWNTIME_MS, o.max_downtime_ms);
	if (r == 0 && o.bandwidth_bits)
		r = ferry_tlv_add_u64(&req, FERRY_TAG_BANDWIDTH, o.bandwidth_bits / 8);
	if (r == 0 && o.max_rounds)
		r = ferry_tlv_add_u64(&req, FERRY_TAG_MAX_ROUNDS, o.max_rounds);
	if (r == 0 && (o.progress || o.auto_converge))
		r = ferry_tlv_add_u64(&req, FERRY_TAG_FLAGS,
		                      (o.progress ? FERRY_MIG_PROGRESS : 0) |
		                          (o.auto_converge ? FERRY_MIG_AUTO_CONVERGE : 0));
	r = r ? CLI_EXIT_FAILURE : migration_call("migrate", &o, &req);
	ferry_buf_free(&req);
	return r;
}

int cmd_evacuate(int argc, char **argv)
{
	static const char help[] = "Usage: ferry evacuate NODE [--to NODE]... [--parallel N] [--json]\n\n"
	                           "Move every running container off NODE (stop-copy), each to the least loaded\n"
	                           "destination, N at a time (default 2, at most 8).  Exits 1 if any failed.\n\n"
	                           "  --to NODE         a destination (repeatable; default: every other node)\n"
	                           "  --parallel N      migrations at once\n"
	                           "  --json            the reports as one JSON object\n";
	struct ferry_buf req = FERRY_BUF_INIT(4096);
	struct wopts o;
	int r = parse("evacuate", argc, argv, "ACjtP", help, &o);

	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	if (optind + 1 != argc || (r = check_name_arg("evacuate", "node", argv[optind], FERRY_NODE_NAME_MAX)))
		return r ? r : cli_usage_error("evacuate", "expected one node name");
	for (unsigned i = 0; i < o.n_to; i++)
		if ((r = check_name_arg("evacuate", "node", o.to[i], FERRY_NODE_NAME_MAX)))
			return r;
	r = ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_EVACUATE);
	r = r ? r : ferry_tlv_add_str(&req, FERRY_TAG_NODE, argv[optind]);
	r = r ? r : ferry_tlv_add_u64(&req, FERRY_TAG_PARALLEL, o.parallel);
	for (unsigned i = 0; r == 0 && i < o.n_to; i++)
		r = ferry_tlv_add_str(&req, FERRY_TAG_DEST, o.to[i]);
	r = r ? CLI_EXIT_FAILURE : migration_call("evacuate", &o, &req);
	ferry_buf_free(&req);
	return r;
}
