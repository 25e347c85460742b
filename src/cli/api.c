/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "ferry/bundle.h"
#include "ferry/cluster.h"
#include "ferry/fs.h"

#define API_TIMEOUT_MS 10000

int api_admin_dir(const char *explicit_dir, const char *cluster, char *out, size_t len, struct ferry_err *err)
{
	const char *env = getenv("FERRY_ADMIN_DIR");
	struct ferry_cluster cl;
	int r;

	if (explicit_dir || (env && *env)) {
		snprintf(out, len, "%s", explicit_dir ? explicit_dir : env);
		return 0;
	}
	if ((r = ferry_cluster_init(&cl, cluster, NULL, err)) < 0)
		return r;
	snprintf(out, len, "%s/admin", cl.dir);
	if (access(out, F_OK) < 0)
		return ferry_err_set(err, -ENOENT,
		                     "no admin credentials: give --admin-dir (from 'ferry-controller admin-cert') or "
		                     "bring up local cluster '%s'",
		                     cluster);
	return 0;
}

int api_open(struct api_session *s, const char *dir, struct ferry_err *err)
{
	static const char *const alpns[] = { FERRY_ALPN_API, NULL };
	struct ferry_buf b = FERRY_BUF_INIT(1024);
	char path[PATH_MAX], addr[40] = "", hex[80] = "";
	uint8_t want[FERRY_ID_LEN];
	int r;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "%s/api", dir);
	if ((r = ferry_read_file(path, 1024, &b, err)) < 0)
		return r;
	if (sscanf(b.data ? b.data : "", "address %39s id %79s", addr, hex) != 2 || ferry_id_from_hex(hex, want) < 0) {
		ferry_buf_free(&b);
		return ferry_err_set(err, -EINVAL, "%s is damaged", path);
	}
	ferry_buf_free(&b);
	snprintf(path, sizeof(path), "%s/admin.crt", dir);
	if (!(s->cert = ferry_cert_load(path, err)))
		goto fail;
	snprintf(path, sizeof(path), "%s/admin.key", dir);
	if (!(s->key = ferry_key_load(path, err)))
		goto fail;
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	if (!(s->ca = ferry_cert_load(path, err)))
		goto fail;
	s->ctx = ferry_tls_ctx(
	    &(struct ferry_tls_config){ .cert = s->cert, .key = s->key, .ca = s->ca, .alpns = alpns }, false, err);
	if (!s->ctx || ferry_conn_connect(s->ctx, addr, FERRY_ALPN_API, NULL, API_TIMEOUT_MS, &s->conn, err) < 0)
		goto fail;
	if (CRYPTO_memcmp(s->conn->peer_id, want, FERRY_ID_LEN) != 0) {
		ferry_err_set(err, -EPERM, "%s is not the controller named in %s/api", addr, dir);
		goto fail;
	}
	return 0;
fail:
	api_close(s);
	return err && err->code ? err->code : -EIO;
}

int api_call(struct api_session *s, const struct ferry_buf *req, struct ferry_buf *resp, struct ferry_err *err)
{
	int r = ferry_conn_send_frame(s->conn, FERRY_FRAME_REQUEST, req->data, req->len, err);

	return r < 0 ? r : ferry_expect_response(s->conn, resp, err);
}

void api_close(struct api_session *s)
{
	ferry_conn_close(s->conn);
	SSL_CTX_free(s->ctx);
	X509_free(s->cert);
	X509_free(s->ca);
	EVP_PKEY_free(s->key);
	memset(s, 0, sizeof(*s));
}
