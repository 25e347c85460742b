/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The CLI verbs that talk to the controller's API: token, node, ticket.
 * Each takes --admin-dir DIR (or $FERRY_ADMIN_DIR, or the local cluster's,
 * chosen with --name CLUSTER).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cli.h"
#include "ferry/bundle.h"
#include "ferry/cluster.h"
#include "ferry/fs.h"
#include "ferry/json.h"
#include "ferry/parse.h"
#include "ferry/ticket.h"
#include "ferry/token.h"

struct api_opts {
	const char *admin_dir;
	const char *cluster;
};

/* One request, one response; the response's fields into l (views into resp). */
static int request(const struct api_opts *o, const struct ferry_buf *req, struct ferry_buf *resp,
                   struct ferry_tlv_list *l, struct ferry_err *err)
{
	struct api_session s;
	char dir[PATH_MAX];
	int r;

	if ((r = api_admin_dir(o->admin_dir, o->cluster, dir, sizeof(dir), err)) < 0 ||
	    (r = api_open(&s, dir, err)) < 0)
		return r;
	r = api_call(&s, req, resp, err);
	api_close(&s);
	if (r == 0)
		r = ferry_tlv_parse((const uint8_t *)resp->data, resp->len, l, err);
	return r;
}

#define API_OPTIONS                                                                                                    \
	{ "admin-dir", required_argument, NULL, 'A' }, { "name", required_argument, NULL, 'C' },                       \
	    { "cluster", required_argument, NULL, 'C' },                                                               \
	{                                                                                                              \
		"help", no_argument, NULL, 'h'                                                                         \
	}

#define API_OPTION_CASES(o)                                                                                            \
	case 'A':                                                                                                      \
		(o).admin_dir = optarg;                                                                                \
		break;                                                                                                 \
	case 'C':                                                                                                      \
		(o).cluster = optarg;                                                                                  \
		break;

#define API_OPTION_HELP                                                                                                \
	"  --admin-dir DIR   admin credentials (default $FERRY_ADMIN_DIR, else the local cluster's)\n"                 \
	"  --name CLUSTER, --cluster CLUSTER\n"                                                                        \
	"                    local cluster whose credentials to use (default " FERRY_CLUSTER_DEFAULT_NAME ")\n"

/* ---- ferry token create ---- */

int cmd_token(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "node", required_argument, NULL, 'n' }, { "ttl", required_argument, NULL, 't' }, API_OPTIONS, { 0 }
	};
	struct api_opts o = { .cluster = FERRY_CLUSTER_DEFAULT_NAME };
	struct ferry_buf req = FERRY_BUF_INIT(1024), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	struct ferry_err err = { 0 };
	const char *node = NULL;
	char token[FERRY_TOKEN_MAX_LEN + 1];
	uint64_t ttl = 600;
	int c, r = CLI_EXIT_FAILURE;

	optind = 1;
	if (argc < 2 || strcmp(argv[1], "create") != 0) {
		free(l);
		return cli_usage_error("token", "expected 'ferry token create --node NAME [--ttl 10m]'");
	}
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			node = optarg;
			break;
		case 't':
			if (ferry_parse_duration(optarg, 10, 7 * 24 * 3600, "--ttl", &ttl, &err) < 0) {
				free(l);
				return cli_usage_error("token", "%s", err.msg);
			}
			break;
			API_OPTION_CASES(o)
		case 'h':
			printf("Usage: ferry token create --node NAME [--ttl 10m]\n\n"
			       "Print a single-use join token for node NAME, valid for --ttl (10s to 7d,\n"
			       "default 10m).  It carries the controller's address, its CA's SPKI-SHA256 pin\n"
			       "and a 256-bit secret; give it to 'ferryd join' on that node.\n\n" API_OPTION_HELP);
			free(l);
			return 0;
		default:
			free(l);
			return cli_usage_error("token", "bad option");
		}
	}
	if (!node || optind != argc) {
		free(l);
		return cli_usage_error("token", "expected --node NAME");
	}
	if (ferry_check_name(node, FERRY_NODE_NAME_MAX, "node", &err) < 0) {
		free(l);
		return cli_usage_error("token", "%s", err.msg);
	}
	if (!l || ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_TOKEN_CREATE) < 0 ||
	    ferry_tlv_add_str(&req, FERRY_TAG_NODE, node) < 0 || ferry_tlv_add_u64(&req, FERRY_TAG_TTL, ttl) < 0)
		goto out;
	if (request(&o, &req, &resp, l, &err) < 0 ||
	    ferry_tlv_get_str(l, FERRY_TAG_TOKEN, token, sizeof(token), &err) < 0) {
		cli_fail(&err);
		goto out;
	}
	printf("%s\n", token);
	r = 0;
out:
	free(l);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

/* ---- ferry node list|remove ---- */

static int node_list(const struct api_opts *o, bool json)
{
	struct ferry_buf req = FERRY_BUF_INIT(64), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX),
	                 out = FERRY_BUF_INIT(1 << 20);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	struct ferry_err err = { 0 };
	struct ferry_json j;
	uint64_t version = 0;
	unsigned peer = 0, addr = 0;
	const struct ferry_tlv *addrs[FERRY_TLV_MAX];
	int r = CLI_EXIT_FAILURE;

	if (!l || ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_NODE_LIST) < 0)
		goto out;
	if (request(o, &req, &resp, l, &err) < 0 || ferry_tlv_get_u64(l, FERRY_TAG_VERSION, &version, &err) < 0) {
		cli_fail(&err);
		goto out;
	}
	for (unsigned i = 0; i < l->n; i++)
		if (l->items[i].tag == FERRY_TAG_ADDRESS)
			addrs[addr++] = &l->items[i];
	ferry_json_init(&j, &out, true);
	ferry_json_object_begin(&j);
	ferry_json_key(&j, "allowlist_version");
	ferry_json_uint(&j, version);
	ferry_json_key(&j, "nodes");
	ferry_json_array_begin(&j);
	if (!json)
		printf("%-20s %-22s %s\n", "NODE", "ADDRESS", "ID (SPKI-SHA256)");
	for (unsigned i = 0; i < l->n; i++) {
		const struct ferry_tlv *t = &l->items[i];
		char name[FERRY_NODE_NAME_MAX + 1] = "", hex[FERRY_ID_HEX_LEN], a[40] = "";

		if (t->tag != FERRY_TAG_PEER || t->len <= FERRY_ID_LEN || t->len > FERRY_ID_LEN + FERRY_NODE_NAME_MAX)
			continue;
		memcpy(name, t->value + FERRY_ID_LEN, t->len - FERRY_ID_LEN);
		if (ferry_check_name(name, FERRY_NODE_NAME_MAX, "node", NULL) < 0)
			continue;
		ferry_id_hex(t->value, hex);
		if (peer < addr && addrs[peer]->len < sizeof(a))
			memcpy(a, addrs[peer]->value, addrs[peer]->len);
		peer++;
		ferry_json_object_begin(&j);
		ferry_json_key(&j, "name");
		ferry_json_string(&j, name);
		ferry_json_key(&j, "id");
		ferry_json_string(&j, hex);
		ferry_json_key(&j, "address");
		ferry_json_string(&j, a);
		ferry_json_object_end(&j);
		if (!json)
			printf("%-20s %-22s %s\n", name, a, hex);
	}
	ferry_json_array_end(&j);
	ferry_json_object_end(&j);
	if (json && ferry_json_finish(&j) == 0)
		fwrite(out.data, 1, out.len, stdout);
	r = 0;
out:
	free(l);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	ferry_buf_free(&out);
	return r;
}

#define NODE_HELP                                                                                                      \
	"Usage: ferry node list [--json]\n"                                                                            \
	"       ferry node remove NAME\n"                                                                              \
	"       ferry node quarantine [--json]\n"                                                                      \
	"       ferry node release NAME\n\n"                                                                           \
	"list: the enrolled nodes.  remove: revoke one: its identity leaves every allowlist, new\n"                    \
	"connections from it fail and live ones close within seconds.  quarantine: the nodes an\n"                     \
	"intrusion alert emptied; nothing is placed there.  release: end a node's quarantine.\n"

int cmd_node(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, API_OPTIONS, { 0 } };
	struct api_opts o = { .cluster = FERRY_CLUSTER_DEFAULT_NAME };
	struct ferry_buf req = FERRY_BUF_INIT(256), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l;
	struct ferry_err err = { 0 };
	const char *verb;
	bool json = false;
	int c, r;

	if (argc >= 2 && strcmp(argv[1], "quarantine") == 0)
		return cmd_quarantine_list(argc - 1, argv + 1);
	if (argc < 2 ||
	    (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "remove") != 0 && strcmp(argv[1], "release") != 0)) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			printf("%s\n" API_OPTION_HELP, NODE_HELP);
			return 0;
		}
		return cli_usage_error("node", "expected 'list', 'remove NAME', 'quarantine' or 'release NAME'");
	}
	verb = argv[1];
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
			API_OPTION_CASES(o)
		case 'h':
			printf("%s\n" API_OPTION_HELP, NODE_HELP);
			return 0;
		default:
			return cli_usage_error("node", "bad option");
		}
	}
	if (strcmp(verb, "list") == 0) {
		if (optind != argc)
			return cli_usage_error("node", "'node list' takes no arguments");
		return node_list(&o, json);
	}
	if (optind + 1 != argc)
		return cli_usage_error("node", "expected 'node %s NAME'", verb);
	if (ferry_check_name(argv[optind], FERRY_NODE_NAME_MAX, "node", &err) < 0)
		return cli_usage_error("node", "%s", err.msg);
	l = malloc(sizeof(*l));
	r = CLI_EXIT_FAILURE;
	if (l &&
	    ferry_tlv_add_u16(&req, FERRY_TAG_OP,
	                      strcmp(verb, "release") == 0 ? FERRY_OP_NODE_RELEASE : FERRY_OP_NODE_REMOVE) == 0 &&
	    ferry_tlv_add_str(&req, FERRY_TAG_NODE, argv[optind]) == 0) {
		if (request(&o, &req, &resp, l, &err) < 0) {
			cli_fail(&err);
		} else {
			printf("node %s %s\n", argv[optind],
			       strcmp(verb, "release") == 0 ? "released from quarantine" : "removed");
			r = 0;
		}
	}
	free(l);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	return r;
}

/* ---- ferry ticket issue ---- */

int cmd_ticket(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "container", required_argument, NULL, 'c' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "mode", required_argument, NULL, 'm' },
		{ "generation", required_argument, NULL, 'g' },
		{ "memory", required_argument, NULL, 'M' },
		{ "manifest-dir", required_argument, NULL, 'd' },
		{ "ttl", required_argument, NULL, 'T' },
		{ "out", required_argument, NULL, 'o' },
		API_OPTIONS,
		{ 0 },
	};
	struct api_opts o = { .cluster = FERRY_CLUSTER_DEFAULT_NAME };
	const char *container = NULL, *from = NULL, *to = NULL, *dir = NULL, *out_path = NULL;
	struct ferry_buf req = FERRY_BUF_INIT(4096), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX),
	                 enc = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = NULL;
	struct ferry_manifest m = { 0 };
	struct ferry_err err = { 0 };
	const struct ferry_tlv *t;
	uint64_t generation = 1, memory = 0, ttl = 60;
	uint8_t mode = FERRY_MODE_STOP_COPY, hash[32];
	int c, r = CLI_EXIT_FAILURE;

	if (argc < 2 || strcmp(argv[1], "issue") != 0)
		return cli_usage_error("ticket", "expected 'ferry ticket issue ...'");
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			container = optarg;
			break;
		case 'f':
			from = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'm':
			if (ferry_mode_parse(optarg, &mode, &err) < 0)
				return cli_usage_error("ticket", "%s", err.msg);
			break;
		case 'g':
			if (ferry_parse_u64(optarg, 1, UINT64_MAX, "--generation", &generation, &err) < 0)
				return cli_usage_error("ticket", "%s", err.msg);
			break;
		case 'M':
			if (ferry_parse_u64(optarg, 0, UINT64_MAX, "--memory", &memory, &err) < 0)
				return cli_usage_error("ticket", "%s", err.msg);
			break;
		case 'd':
			dir = optarg;
			break;
		case 'T':
			if (ferry_parse_duration(optarg, 1, FERRY_TICKET_MAX_TTL, "--ttl", &ttl, &err) < 0)
				return cli_usage_error("ticket", "%s", err.msg);
			break;
		case 'o':
			out_path = optarg;
			break;
			API_OPTION_CASES(o)
		case 'h':
			printf("Usage: ferry ticket issue --container NAME --from NODE --to NODE --manifest-dir DIR\n"
			       "                          --out FILE [--mode stop-copy] [--generation N] [--memory "
			       "BYTES]\n"
			       "                          [--ttl 60s]\n\n"
			       "Have the controller sign a migration ticket for moving the files of DIR (their\n"
			       "manifest hash is bound into the ticket) from one node to another.  The ticket\n"
			       "expires after --ttl (at most 120s), names a fencing --generation (refused by the\n"
			       "destination unless above any it has seen for the container) and reserves\n"
			       "--memory bytes and the files' size on the destination.\n\n" API_OPTION_HELP);
			return 0;
		default:
			return cli_usage_error("ticket", "bad option");
		}
	}
	if (optind != argc || !container || !from || !to || !dir || !out_path)
		return cli_usage_error("ticket", "expected --container, --from, --to, --manifest-dir and --out");
	if (ferry_manifest_from_dir(dir, &m, &err) < 0 || ferry_manifest_encode(&m, &enc) < 0) {
		cli_fail(&err);
		goto out;
	}
	ferry_sha256(enc.data, enc.len, hash);
	l = malloc(sizeof(*l));
	if (!l || ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_TICKET_ISSUE) < 0 ||
	    ferry_tlv_add_str(&req, FERRY_TAG_CONTAINER, container) < 0 ||
	    ferry_tlv_add_str(&req, FERRY_TAG_SOURCE, from) < 0 || ferry_tlv_add_str(&req, FERRY_TAG_DEST, to) < 0 ||
	    ferry_tlv_add_u64(&req, FERRY_TAG_MODE, mode) < 0 ||
	    ferry_tlv_add_u64(&req, FERRY_TAG_GENERATION, generation) < 0 ||
	    ferry_tlv_add_u64(&req, FERRY_TAG_MEMORY, memory) < 0 ||
	    ferry_tlv_add_u64(&req, FERRY_TAG_DISK, m.total) < 0 || ferry_tlv_add(&req, FERRY_TAG_HASH, hash, 32) < 0 ||
	    ferry_tlv_add_u64(&req, FERRY_TAG_TTL, ttl) < 0)
		goto out;
	if (request(&o, &req, &resp, l, &err) < 0 || !(t = ferry_tlv_find(l, FERRY_TAG_TICKET)) ||
	    ferry_write_file_atomic(out_path, t->value, t->len, 0600, &err) < 0) {
		if (!err.msg[0])
			ferry_err_set(&err, -EPROTO, "controller sent no ticket");
		cli_fail(&err);
		goto out;
	}
	printf("ticket for %s: %s -> %s (%s, generation %llu, %u objects, %llu bytes) written to %s\n", container, from,
	       to, ferry_mode_name(mode), (unsigned long long)generation, m.n, (unsigned long long)m.total, out_path);
	r = 0;
out:
	free(l);
	ferry_manifest_free(&m);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	ferry_buf_free(&enc);
	return r;
}
