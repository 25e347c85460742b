/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_CLI_API_H
#define FERRY_CLI_API_H

#include "ferry/buf.h"
#include "ferry/channel.h"

/*
 * The CLI's session with the controller's API: mutual TLS with an admin
 * certificate, ALPN ferry-api, and the server must be the controller whose
 * id the admin directory names.  The admin directory is --admin-dir, else
 * $FERRY_ADMIN_DIR, else the local cluster's (<cluster state>/admin).
 */
struct api_session {
	SSL_CTX *ctx;
	struct ferry_conn *conn;
	X509 *cert, *ca;
	EVP_PKEY *key;
};

/* Resolve the admin directory from an explicit path or the cluster name. */
int api_admin_dir(const char *explicit_dir, const char *cluster, char *out, size_t len, struct ferry_err *err);
int api_open(struct api_session *s, const char *admin_dir, struct ferry_err *err);
/* Send one request (TLV built by the caller, op first) and read the response payload into resp. */
int api_call(struct api_session *s, const struct ferry_buf *req, struct ferry_buf *resp, struct ferry_err *err);
void api_close(struct api_session *s);

#endif
