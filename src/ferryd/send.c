/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ferryd send: the source side of a transfer.  The ticket is verified before
 * anything is read or sent (the source's check), and the destination must be
 * the allowlisted node the ticket names.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/bundle.h"
#include "ferry/fs.h"
#include "node.h"

#define SEND_CONNECT_MS 10000

static void usage(FILE *out)
{
	fprintf(out, "Usage: ferryd send --state-dir DIR --to A.B.C.D:PORT --ticket FILE [--zstd] SOURCE_DIR\n\n"
	             "Send every regular file below SOURCE_DIR to the destination node over the\n"
	             "migration channel, under a controller-signed ticket naming this node as the\n"
	             "source.  The directory must match the manifest the ticket was issued for.\n"
	             "--zstd compresses chunks that shrink.  Prints a JSON line with bytes, seconds\n"
	             "and MB/s.\n");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int cmd_send(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "to", required_argument, NULL, 't' },
		{ "ticket", required_argument, NULL, 'k' },
		{ "zstd", no_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char *const alpns[] = { FERRY_ALPN_MIG, NULL };
	const char *dir = NULL, *to = NULL, *ticket_path = NULL;
	struct ferry_buf raw = FERRY_BUF_INIT(FERRY_TICKET_MAX_LEN), enc = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_manifest m = { 0 };
	struct ferry_err err = { 0 };
	struct ferry_conn *conn = NULL;
	struct ferry_allowlist al;
	struct node_identity id = { 0 };
	struct ferry_ticket t;
	uint8_t dest_id[FERRY_ID_LEN], hash[32];
	char path[PATH_MAX];
	SSL_CTX *ctx = NULL;
	uint64_t bytes = 0;
	unsigned flags = 0;
	double t0, t1;
	int c, r = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			dir = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'k':
			ticket_path = optarg;
			break;
		case 'z':
			flags |= FERRY_BUNDLE_ZSTD;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc || !dir || !to || !ticket_path) {
		fprintf(stderr, "ferryd send: expected --state-dir, --to, --ticket and SOURCE_DIR\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, NODE_ALLOWLIST);
	if (node_identity_load(dir, &id, &err) < 0 || ferry_allowlist_open(&al, path, &err) < 0 ||
	    ferry_read_file(ticket_path, FERRY_TICKET_MAX_LEN, &raw, &err) < 0 ||
	    ferry_ticket_parse((const uint8_t *)raw.data, raw.len, &t, &err) < 0 ||
	    ferry_ticket_verify_signature(&t, id.ticket_pub, &err) < 0 ||
	    ferry_ticket_check_claims(&t, id.name, false, NULL, (uint64_t)time(NULL), &err) < 0)
		goto out;
	if (!ferry_allowlist_find_name(&al, t.dest, dest_id)) {
		ferry_err_set(&err, -ENOENT, "destination '%s' is not in this node's allowlist", t.dest);
		goto out;
	}
	if (ferry_manifest_from_dir(argv[optind], &m, &err) < 0)
		goto out;
	if (ferry_manifest_encode(&m, &enc) < 0) {
		ferry_err_set(&err, -E2BIG, "manifest of %s does not fit in one frame", argv[optind]);
		goto out;
	}
	ferry_sha256(enc.data, enc.len, hash);
	if (CRYPTO_memcmp(hash, t.manifest_hash, 32) != 0) {
		ferry_err_set(&err, -EBADMSG, "%s does not match the manifest the ticket was issued for", argv[optind]);
		goto out;
	}
	ctx = ferry_tls_ctx(&(struct ferry_tls_config){ .cert = id.cert, .key = id.key, .ca = id.ca, .alpns = alpns },
	                    false, &err);
	if (!ctx || ferry_conn_connect(ctx, to, FERRY_ALPN_MIG, NULL, SEND_CONNECT_MS, &conn, &err) < 0)
		goto out;
	if (CRYPTO_memcmp(conn->peer_id, dest_id, FERRY_ID_LEN) != 0) {
		ferry_err_set(&err, -EPERM, "%s is not node '%s' (its key differs from the allowlist's)", to, t.dest);
		goto out;
	}
	t0 = now_s();
	if (ferry_bundle_send(conn, (const uint8_t *)raw.data, raw.len, &m, argv[optind], flags, NULL, &bytes, &err) <
	    0)
		goto out;
	t1 = now_s();
	printf("{\"bytes\": %llu, \"objects\": %u, \"seconds\": %.3f, \"MBps\": %.1f}\n", (unsigned long long)bytes,
	       m.n, t1 - t0, t1 > t0 ? (double)bytes / 1e6 / (t1 - t0) : 0.0);
	r = 0;
out:
	if (r)
		fprintf(stderr, "ferryd send: %s\n", err.msg[0] ? err.msg : "failed");
	ferry_conn_close(conn);
	SSL_CTX_free(ctx);
	ferry_manifest_free(&m);
	ferry_buf_free(&raw);
	ferry_buf_free(&enc);
	node_identity_free(&id);
	return r;
}
