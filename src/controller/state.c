/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The controller's keys and registry: init, admin-cert, token create. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "controller.h"
#include "ferry/fs.h"
#include "ferry/manifest.h"
#include "ferry/parse.h"
#include "ferry/token.h"

static int path_in(char *buf, size_t len, const char *dir, const char *file)
{
	return snprintf(buf, len, "%s/%s", dir, file) >= (int)len ? -ENAMETOOLONG : 0;
}

/*
 * Where the registry lives: the store file's postgresql:// URL ("store =
 * URL", written by init --store), else registry.db in dir.
 */
static int registry_location(const char *dir, char *out, size_t len, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(FERRY_REGISTRY_URL_MAX + 64);
	char path[PATH_MAX], url[FERRY_REGISTRY_URL_MAX + 1];
	int r;

	path_in(path, sizeof(path), dir, CTL_STORE);
	if (access(path, F_OK) < 0) {
		path_in(out, len, dir, CTL_REGISTRY);
		return 0;
	}
	if ((r = ferry_read_file(path, FERRY_REGISTRY_URL_MAX + 64, &b, err)) < 0)
		return r;
	r = sscanf(b.data ? b.data : "", " store = %1024s", url) == 1
	        ? ferry_registry_check_url(url, err)
	        : ferry_err_set(err, -EINVAL, "expected 'store = URL'");
	ferry_buf_free(&b);
	if (r < 0)
		return ferry_err_wrap(err, "%s", path);
	snprintf(out, len, "%s", url);
	return 0;
}

int controller_state_load(const char *dir, struct controller_state *st, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(64);
	char path[PATH_MAX];
	uint32_t a;
	uint16_t p;
	int r;

	memset(st, 0, sizeof(*st));
	path_in(path, sizeof(path), dir, CTL_CA_KEY);
	if (access(path, F_OK) < 0)
		return ferry_err_set(err, -ENOENT, "%s is not an initialized controller; run 'ferry-controller init'",
		                     dir);
#define LOAD(field, fn, file)                                                                                          \
	do {                                                                                                           \
		path_in(path, sizeof(path), dir, file);                                                                \
		if (!(st->field = fn(path, err)))                                                                      \
			goto fail;                                                                                     \
	} while (0)
	LOAD(ca, ferry_cert_load, CTL_CA_CERT);
	LOAD(cert, ferry_cert_load, CTL_CERT);
	LOAD(ca_key, ferry_key_load, CTL_CA_KEY);
	LOAD(key, ferry_key_load, CTL_KEY);
	LOAD(ticket_key, ferry_key_load, CTL_TICKET_KEY);
#undef LOAD
	path_in(path, sizeof(path), dir, CTL_LISTEN);
	if ((r = ferry_read_file(path, 64, &b, err)) < 0)
		goto fail;
	snprintf(st->listen, sizeof(st->listen), "%.*s", (int)strcspn(b.data ? b.data : "", "\n"),
	         b.data ? b.data : "");
	ferry_buf_free(&b);
	if (ferry_parse_hostport(st->listen, &a, &p, err) < 0)
		goto fail;
	ferry_cert_id(st->ca, st->ca_id);
	ferry_cert_id(st->cert, st->id);
	{
		char store[FERRY_REGISTRY_URL_MAX + 1];

		if (registry_location(dir, store, sizeof(store), err) < 0 ||
		    ferry_registry_open(&st->reg, store, err) < 0)
			goto fail;
	}
	path_in(st->audit_head, sizeof(st->audit_head), dir, CTL_AUDIT_HEAD);
	return 0;
fail:
	ferry_buf_free(&b);
	controller_state_free(st);
	return err && err->code ? err->code : -EIO;
}

void controller_state_free(struct controller_state *st)
{
	X509_free(st->ca);
	X509_free(st->cert);
	EVP_PKEY_free(st->ca_key);
	EVP_PKEY_free(st->key);
	EVP_PKEY_free(st->ticket_key);
	if (st->reg.db || st->reg.pg)
		ferry_registry_close(&st->reg);
	memset(st, 0, sizeof(*st));
}

int controller_token_create(struct controller_state *st, const char *node, uint64_t ttl, char *out, size_t len,
                            struct ferry_err *err)
{
	struct ferry_token t = { 0 };
	uint8_t hash[32];
	uint64_t now = (uint64_t)time(NULL);
	int r;

	if ((r = ferry_check_name(node, FERRY_NODE_NAME_MAX, "node", err)) < 0)
		return r;
	snprintf(t.node, sizeof(t.node), "%s", node);
	snprintf(t.controller, sizeof(t.controller), "%s", st->listen);
	memcpy(t.ca_pin, st->ca_id, FERRY_ID_LEN);
	if (ferry_random(t.secret, sizeof(t.secret)) < 0)
		return ferry_err_set(err, -EIO, "no randomness");
	t.expires_at = now + ttl;
	ferry_sha256(t.secret, sizeof(t.secret), hash);
	r = ferry_registry_token_add(&st->reg, node, hash, t.expires_at, now, err);
	if (r == 0)
		r = ferry_token_encode(&t, out, len, err);
	OPENSSL_cleanse(&t, sizeof(t));
	return r;
}

/* ---- ferry-controller init ---- */

static int issue_own(EVP_PKEY *ca_key, X509 *ca, const char *cn, EVP_PKEY **ret_key, X509 **ret_cert,
                     struct ferry_err *err)
{
	EVP_PKEY *key = ferry_key_generate(err);
	X509_REQ *csr = key ? ferry_csr_make(key, cn, err) : NULL;
	X509 *cert = csr ? ferry_cert_issue(csr, cn, ca, ca_key, CTL_CERT_DAYS, err) : NULL;

	X509_REQ_free(csr);
	if (!cert) {
		EVP_PKEY_free(key);
		return -EIO;
	}
	*ret_key = key;
	*ret_cert = cert;
	return 0;
}

int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir = NULL, *listen = NULL, *store = NULL;
	char store_url[FERRY_REGISTRY_URL_MAX + 1];
	EVP_PKEY *ca_key = NULL, *ticket_key = NULL, *key = NULL;
	X509 *ca = NULL, *cert = NULL;
	struct ferry_registry reg = { 0 };
	struct ferry_err err = { 0 };
	char path[PATH_MAX], text[40];
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
			printf("Usage: ferry-controller init --state-dir DIR --listen A.B.C.D:PORT\n\n"
			       "Create the cluster CA (Ed25519), a separate ticket-signing key, the controller's\n"
			       "own certificate and the registry in DIR (private keys 0600).  --listen is the\n"
			       "address nodes and the CLI reach the controller at; join tokens carry it.\n\n"
			       "The registry (nodes, containers, migrations, measurements, decisions, the audit\n"
			       "log) is DIR/registry.db, or PostgreSQL when DIR/store exists before init with the\n"
			       "line 'store = postgresql://USER:PASSWORD@HOST:PORT/DB?sslmode=verify-full&\n"
			       "sslrootcert=CA_FILE' (0600: it holds the password; TLS with a verified server is\n"
			       "required).  init connects first and changes nothing if it cannot.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind != argc || !dir || !listen) {
		fprintf(stderr, "ferry-controller init: expected --state-dir DIR and --listen A.B.C.D:PORT\n");
		return 2;
	}
	if (ferry_parse_hostport(listen, &a, &port, &err) < 0) {
		fprintf(stderr, "ferry-controller init: %s\n", err.msg);
		return 2;
	}
	path_in(path, sizeof(path), dir, CTL_CA_KEY);
	if (access(path, F_OK) == 0) {
		fprintf(stderr, "ferry-controller init: %s is already initialized (its CA would be lost)\n", dir);
		return 1;
	}
	/* The database first: a server that cannot be reached leaves nothing behind. */
	path_in(path, sizeof(path), dir, CTL_STORE);
	if (access(path, F_OK) == 0) {
		if (registry_location(dir, store_url, sizeof(store_url), &err) < 0 ||
		    ferry_registry_open(&reg, store_url, &err) < 0)
			goto out;
		ferry_registry_close(&reg);
		store = store_url;
	}
	if (ferry_mkdir_p(dir, 0700, &err) < 0 || chmod(dir, 0700) < 0)
		goto out;
	if (!(ca_key = ferry_key_generate(&err)) ||
	    !(ca = ferry_cert_make_ca(ca_key, "ferry cluster CA", CTL_CA_DAYS, &err)) ||
	    !(ticket_key = ferry_key_generate(&err)) || issue_own(ca_key, ca, "controller", &key, &cert, &err) < 0)
		goto out;
#define SAVE(fn, obj, file)                                                                                            \
	do {                                                                                                           \
		path_in(path, sizeof(path), dir, file);                                                                \
		if (fn(path, obj, &err) < 0)                                                                           \
			goto out;                                                                                      \
	} while (0)
	SAVE(ferry_key_save, ca_key, CTL_CA_KEY);
	SAVE(ferry_cert_save, ca, CTL_CA_CERT);
	SAVE(ferry_key_save, ticket_key, CTL_TICKET_KEY);
	SAVE(ferry_pubkey_save, ticket_key, CTL_TICKET_PUB);
	SAVE(ferry_key_save, key, CTL_KEY);
	SAVE(ferry_cert_save, cert, CTL_CERT);
#undef SAVE
	path_in(path, sizeof(path), dir, CTL_LISTEN);
	snprintf(text, sizeof(text), "%s\n", listen);
	if (ferry_write_file_atomic(path, text, strlen(text), 0644, &err) < 0)
		goto out;
	if (!store) {
		path_in(path, sizeof(path), dir, CTL_REGISTRY);
		if (ferry_registry_open(&reg, path, &err) < 0)
			goto out;
		ferry_registry_close(&reg);
	}
	printf("controller initialized in %s (listening address %s, registry in %s)\n", dir, listen,
	       store ? "PostgreSQL" : CTL_REGISTRY);
	r = 0;
out:
	if (r)
		fprintf(stderr, "ferry-controller init: %s\n", err.msg);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(ticket_key);
	EVP_PKEY_free(key);
	X509_free(ca);
	X509_free(cert);
	return r;
}

/* ---- ferry-controller admin-cert ---- */

int cmd_admin_cert(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ "name", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir = NULL, *out = NULL, *name = "admin";
	struct controller_state st;
	struct ferry_err err = { 0 };
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	char path[PATH_MAX], hex[FERRY_ID_HEX_LEN], text[160];
	uint8_t id[FERRY_ID_LEN];
	int c, r = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			dir = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'h':
			printf("Usage: ferry-controller admin-cert --state-dir DIR --out ADMIN_DIR [--name NAME]\n\n"
			       "Issue an admin client certificate for the 'ferry' CLI and register it: only its\n"
			       "holders can drive the controller's API.  ADMIN_DIR receives admin.key (0600),\n"
			       "admin.crt, ca.crt and 'api' (the controller's address and id); point the CLI at\n"
			       "it with --admin-dir or FERRY_ADMIN_DIR.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind != argc || !dir || !out) {
		fprintf(stderr, "ferry-controller admin-cert: expected --state-dir DIR and --out ADMIN_DIR\n");
		return 2;
	}
	if (ferry_check_name(name, FERRY_NODE_NAME_MAX, "admin", &err) < 0) {
		fprintf(stderr, "ferry-controller admin-cert: %s\n", err.msg);
		return 2;
	}
	if (controller_state_load(dir, &st, &err) < 0) {
		fprintf(stderr, "ferry-controller admin-cert: %s\n", err.msg);
		return 1;
	}
	if (issue_own(st.ca_key, st.ca, name, &key, &cert, &err) < 0 || ferry_mkdir_p(out, 0700, &err) < 0)
		goto out;
	ferry_cert_id(cert, id);
	path_in(path, sizeof(path), out, "admin.key");
	if (ferry_key_save(path, key, &err) < 0)
		goto out;
	path_in(path, sizeof(path), out, "admin.crt");
	if (ferry_cert_save(path, cert, &err) < 0)
		goto out;
	path_in(path, sizeof(path), out, "ca.crt");
	if (ferry_cert_save(path, st.ca, &err) < 0)
		goto out;
	ferry_id_hex(st.id, hex);
	snprintf(text, sizeof(text), "address %s\nid %s\n", st.listen, hex);
	path_in(path, sizeof(path), out, "api");
	if (ferry_write_file_atomic(path, text, strlen(text), 0644, &err) < 0 ||
	    ferry_registry_admin_add(&st.reg, name, id, (uint64_t)time(NULL), &err) < 0)
		goto out;
	printf("admin certificate '%s' written to %s\n", name, out);
	r = 0;
out:
	if (r)
		fprintf(stderr, "ferry-controller admin-cert: %s\n", err.msg);
	EVP_PKEY_free(key);
	X509_free(cert);
	controller_state_free(&st);
	return r;
}

/* ---- ferry-controller token create ---- */

int cmd_token(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "node", required_argument, NULL, 'n' },
		{ "ttl", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir = NULL, *node = NULL;
	struct controller_state st;
	struct ferry_err err = { 0 };
	uint64_t ttl = TOKEN_TTL_DEFAULT;
	char token[FERRY_TOKEN_MAX_LEN + 1];
	int c;

	optind = 1;
	if (argc < 2 || strcmp(argv[1], "create") != 0) {
		fprintf(stderr, "Usage: ferry-controller token create --state-dir DIR --node NAME [--ttl 10m]\n");
		return 2;
	}
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			dir = optarg;
			break;
		case 'n':
			node = optarg;
			break;
		case 't':
			if (ferry_parse_duration(optarg, 10, TOKEN_TTL_MAX, "--ttl", &ttl, &err) < 0) {
				fprintf(stderr, "ferry-controller token: %s\n", err.msg);
				return 2;
			}
			break;
		case 'h':
			printf("Usage: ferry-controller token create --state-dir DIR --node NAME [--ttl 10m]\n\n"
			       "Print a single-use join token for NAME, valid for --ttl (10s to 7d, default 10m),\n"
			       "working on the controller's state directly (the CLI's 'ferry token create' goes\n"
			       "through the API).\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind != argc || !dir || !node) {
		fprintf(stderr, "ferry-controller token create: expected --state-dir DIR and --node NAME\n");
		return 2;
	}
	if (controller_state_load(dir, &st, &err) < 0 ||
	    controller_token_create(&st, node, ttl, token, sizeof(token), &err) < 0) {
		fprintf(stderr, "ferry-controller token create: %s\n", err.msg);
		controller_state_free(&st);
		return 1;
	}
	printf("%s\n", token);
	controller_state_free(&st);
	return 0;
}
