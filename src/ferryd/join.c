/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ferryd join TOKEN: make this node's key, get it certified by the controller the token pins. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "ferry/bundle.h"
#include "ferry/fs.h"
#include "ferry/parse.h"
#include "ferry/token.h"
#include "node.h"

#define JOIN_TIMEOUT_MS 15000

static void usage(FILE *out)
{
	fprintf(out, "Usage: ferryd join TOKEN|- --state-dir DIR --listen A.B.C.D:PORT\n\n"
	             "(TOKEN '-' reads the token from standard input, keeping it out of process lists.)\n"
	             "Join the cluster a token from 'ferry token create' names: make this node's Ed25519\n"
	             "key here (it never leaves), send a certificate request over TLS to the controller\n"
	             "whose CA the token pins, and store the certificate, the CA, the controller's\n"
	             "ticket key and the first allowlist in DIR.  --listen is where this node's ferryd\n"
	             "will serve (the controller pushes allowlists there).\n");
}

static int save_response(const char *dir, const struct ferry_token *tok, EVP_PKEY *key, const struct ferry_tlv_list *l,
                         struct ferry_err *err)
{
	const struct ferry_tlv *cert_t = ferry_tlv_find(l, FERRY_TAG_CERT),
	                       *ca_t = ferry_tlv_find(l, FERRY_TAG_CA_CERT),
	                       *tk_t = ferry_tlv_find(l, FERRY_TAG_TICKET);
	uint8_t ca_id[FERRY_ID_LEN], controller_id[FERRY_ID_LEN];
	struct ferry_peer *peers = NULL;
	struct ferry_allowlist al;
	X509 *cert = NULL, *ca = NULL;
	EVP_PKEY *ticket_pub = NULL;
	const unsigned char *q;
	char path[PATH_MAX];
	uint64_t version;
	unsigned n = 0;
	int r = -EPROTO;

	if (!cert_t || !ca_t || !tk_t || ferry_tlv_get_fixed(l, FERRY_TAG_CONTROLLER_ID, controller_id, 32, err) < 0 ||
	    ferry_tlv_get_u64(l, FERRY_TAG_VERSION, &version, err) < 0) {
		r = ferry_err_set(err, -EPROTO, "controller's answer lacks a field");
		goto out;
	}
	cert = ferry_cert_from_der(cert_t->value, cert_t->len, err);
	ca = ferry_cert_from_der(ca_t->value, ca_t->len, err);
	q = tk_t->value;
	ticket_pub = d2i_PUBKEY(NULL, &q, tk_t->len);
	if (!cert || !ca || !ticket_pub || EVP_PKEY_get_id(ticket_pub) != EVP_PKEY_ED25519) {
		r = ferry_err_set(err, -EPROTO, "controller sent a bad certificate or ticket key");
		goto out;
	}
	/* Trust nothing the answer says unless it chains to the pinned CA. */
	if (ferry_cert_id(ca, ca_id) < 0 || CRYPTO_memcmp(ca_id, tok->ca_pin, FERRY_ID_LEN) != 0 ||
	    X509_verify(cert, X509_get0_pubkey(ca)) != 1 || EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1) {
		r = ferry_err_set(err, -EPERM,
		                  "controller's certificate answer does not match the pinned CA or our key");
		goto out;
	}
	peers = calloc(FERRY_ALLOWLIST_MAX, sizeof(*peers));
	if (!peers) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < l->n && n < FERRY_ALLOWLIST_MAX; i++) {
		const struct ferry_tlv *t = &l->items[i];

		if (t->tag != FERRY_TAG_PEER || t->len <= FERRY_ID_LEN || t->len > FERRY_ID_LEN + FERRY_NODE_NAME_MAX)
			continue;
		memcpy(peers[n].id, t->value, FERRY_ID_LEN);
		memset(peers[n].name, 0, sizeof(peers[n].name));
		memcpy(peers[n].name, t->value + FERRY_ID_LEN, t->len - FERRY_ID_LEN);
		if (strlen(peers[n].name) == (size_t)(t->len - FERRY_ID_LEN) &&
		    ferry_check_name(peers[n].name, FERRY_NODE_NAME_MAX, "node", NULL) == 0)
			n++;
	}
	if ((r = ferry_mkdir_p(dir, 0700, err)) < 0)
		goto out;
#define SAVE(fn, obj, file)                                                                                            \
	do {                                                                                                           \
		snprintf(path, sizeof(path), "%s/%s", dir, file);                                                      \
		if ((r = fn(path, obj, err)) < 0)                                                                      \
			goto out;                                                                                      \
	} while (0)
	SAVE(ferry_key_save, key, NODE_KEY);
	SAVE(ferry_cert_save, cert, NODE_CERT);
	SAVE(ferry_cert_save, ca, NODE_CA);
	SAVE(ferry_pubkey_save, ticket_pub, NODE_TICKET_PUB);
#undef SAVE
	/* A fresh allowlist file: a re-join starts from the controller's current view. */
	snprintf(path, sizeof(path), "%s/%s", dir, NODE_ALLOWLIST);
	unlink(path);
	if ((r = ferry_allowlist_open(&al, path, err)) < 0 ||
	    (r = ferry_allowlist_replace(&al, version ? version : 1, peers, n, err)) < 0)
		goto out;
	r = node_controller_write(dir, controller_id, tok->controller, tok->node, err);
out:
	free(peers);
	X509_free(cert);
	X509_free(ca);
	EVP_PKEY_free(ticket_pub);
	return r < 0 ? r : 0;
}

int cmd_join(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir = NULL, *listen = NULL;
	char token_text[FERRY_TOKEN_MAX_LEN + 2];
	struct ferry_buf req = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	struct ferry_err err = { 0 };
	struct ferry_conn *conn = NULL;
	struct ferry_token tok;
	EVP_PKEY *key = NULL;
	X509_REQ *csr = NULL;
	SSL_CTX *ctx = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	uint32_t a;
	uint16_t port;
	int c, r = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			dir = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'h':
			usage(stdout);
			free(l);
			return 0;
		default:
			free(l);
			return 2;
		}
	}
	if (optind + 1 != argc || !dir || !listen) {
		fprintf(stderr, "ferryd join: expected TOKEN, --state-dir DIR and --listen A.B.C.D:PORT\n");
		free(l);
		return 2;
	}
	if (strcmp(argv[optind], "-") == 0) {
		/* From stdin, so the secret never shows in a process list. */
		if (!fgets(token_text, sizeof(token_text), stdin)) {
			fprintf(stderr, "ferryd join: no token on standard input\n");
			free(l);
			return 2;
		}
		token_text[strcspn(token_text, "\r\n")] = '\0';
	} else {
		snprintf(token_text, sizeof(token_text), "%s", argv[optind]);
	}
	if (ferry_token_parse(token_text, &tok, &err) < 0 || ferry_parse_hostport(listen, &a, &port, &err) < 0) {
		fprintf(stderr, "ferryd join: %s\n", err.msg);
		free(l);
		return 2;
	}
	if (!l || !(key = ferry_key_generate(&err)) || !(csr = ferry_csr_make(key, tok.node, &err)) ||
	    ferry_csr_to_der(csr, &der, &der_len) < 0)
		goto out;
	ctx = ferry_tls_ctx(&(struct ferry_tls_config){ 0 }, false, &err);
	if (!ctx ||
	    ferry_conn_connect(ctx, tok.controller, FERRY_ALPN_ENROLL, tok.ca_pin, JOIN_TIMEOUT_MS, &conn, &err) < 0)
		goto out;
	if (ferry_tlv_add_u16(&req, FERRY_TAG_OP, FERRY_OP_ENROLL) < 0 ||
	    ferry_tlv_add_str(&req, FERRY_TAG_NODE, tok.node) < 0 ||
	    ferry_tlv_add(&req, FERRY_TAG_SECRET, tok.secret, sizeof(tok.secret)) < 0 ||
	    ferry_tlv_add(&req, FERRY_TAG_CSR, der, der_len) < 0 ||
	    ferry_tlv_add_str(&req, FERRY_TAG_ADDRESS, listen) < 0) {
		ferry_err_set(&err, -E2BIG, "enrollment request too large");
		goto out;
	}
	if (ferry_conn_send_frame(conn, FERRY_FRAME_REQUEST, req.data, req.len, &err) < 0 ||
	    ferry_expect_response(conn, &resp, &err) < 0 ||
	    ferry_tlv_parse((const uint8_t *)resp.data, resp.len, l, &err) < 0 ||
	    save_response(dir, &tok, key, l, &err) < 0)
		goto out;
	printf("joined as node '%s' (controller %s); state in %s\n", tok.node, tok.controller, dir);
	r = 0;
out:
	if (r)
		fprintf(stderr, "ferryd join: %s\n", err.msg[0] ? err.msg : "failed");
	OPENSSL_cleanse(&tok, sizeof(tok));
	OPENSSL_cleanse(token_text, sizeof(token_text));
	ferry_conn_close(conn);
	SSL_CTX_free(ctx);
	OPENSSL_free(der);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
	ferry_buf_free(&req);
	ferry_buf_free(&resp);
	free(l);
	return r;
}
