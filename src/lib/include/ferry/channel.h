/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_CHANNEL_H
#define FERRY_CHANNEL_H

/*
 * The Ferry channel: TLS 1.3 only (OpenSSL 3), Ed25519 certificates, mutual
 * authentication, no session tickets, no 0-RTT, exactly one ALPN per role so
 * a connection made for one purpose cannot be used for another.  All I/O is
 * non-blocking with poll() deadlines; frames are read header first and their
 * payload is only allocated within the type's cap.
 *
 * Authentication (a certificate chaining to the cluster CA) happens in the
 * handshake; authorization (is this SPKI id allowed for this role?) is the
 * caller's, from conn->peer_id.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "ferry/buf.h"
#include "ferry/err.h"
#include "ferry/frame.h"
#include "ferry/identity.h"

#define FERRY_PORT_NODE       7440 /* ferryd: ctl and mig */
#define FERRY_PORT_CONTROLLER 7441 /* ferry-controller: api and enroll */

#define FERRY_ALPN_CTL    "ferry-ctl/1"    /* controller -> node commands */
#define FERRY_ALPN_MIG    "ferry-mig/1"    /* node -> node migration data */
#define FERRY_ALPN_API    "ferry-api/1"    /* admin CLI -> controller */
#define FERRY_ALPN_ENROLL "ferry-enroll/1" /* joining node -> controller (no client cert yet) */
#define FERRY_ALPN_MTD    "ferry-mtd/1"    /* node -> node share requests (moving-target defense) */

struct ferry_conn;
/* Called while waiting for I/O at least once a second: < 0 aborts (e.g. the peer was revoked). */
typedef int (*ferry_conn_check_fn)(struct ferry_conn *conn, void *arg);

struct ferry_conn {
	int fd;
	SSL *ssl;
	char alpn[32];
	bool has_peer_cert;
	uint8_t peer_id[FERRY_ID_LEN];
	char peer_cn[64];
	char peer_addr[48]; /* "a.b.c.d" */
	ferry_conn_check_fn check;
	void *check_arg;
	int io_timeout_ms; /* deadline for one frame send or receive */
};

struct ferry_tls_config {
	X509 *cert;               /* our certificate (NULL: none, for enrolling clients) */
	EVP_PKEY *key;            /* its key */
	X509 *ca;                 /* cluster CA to verify peers against (NULL: pin mode, clients only) */
	const char *const *alpns; /* server: protocols accepted; client: first is offered */
	bool require_peer_cert;   /* server: fail the handshake without a client certificate */
};

/* Build an SSL_CTX for a server or a client with Ferry's fixed TLS policy. */
SSL_CTX *ferry_tls_ctx(const struct ferry_tls_config *cfg, bool server, struct ferry_err *err);

/*
 * Connect to "a.b.c.d:port", handshake with one ALPN within timeout_ms.  When
 * ctx has no CA (pin mode), ca_pin must be the SHA-256 of the CA's SPKI: the
 * server's chain must hold that CA and the leaf must be signed by it.
 */
int ferry_conn_connect(SSL_CTX *ctx, const char *hostport, const char *alpn, const uint8_t *ca_pin, int timeout_ms,
                       struct ferry_conn **ret, struct ferry_err *err);

/* Server side: handshake on an accepted non-blocking socket within timeout_ms (fd is taken). */
int ferry_conn_accept(SSL_CTX *ctx, int fd, const char *peer_addr, int timeout_ms, struct ferry_conn **ret,
                      struct ferry_err *err);

/* The type of the next frame, left unread (the first byte of its header); within io_timeout_ms. */
int ferry_conn_peek_type(struct ferry_conn *c, uint8_t *ret_type, struct ferry_err *err);

int ferry_conn_send_frame(struct ferry_conn *c, uint8_t type, const void *payload, size_t len, struct ferry_err *err);

/*
 * Receive one frame: header checked against the type caps, payload into out
 * (reset first, its cap raised to the type's cap).  -ECONNRESET when the peer
 * closed (cleanly or not) before a whole frame arrived.
 */
int ferry_conn_recv_frame(struct ferry_conn *c, struct ferry_frame_header *hdr, struct ferry_buf *out,
                          struct ferry_err *err);

/* Send a REQUEST/RESPONSE built as TLV; or an ERROR with status and message. */
int ferry_conn_send_error(struct ferry_conn *c, int code, const char *msg, struct ferry_err *err);

/* Whether the peer has sent something (a sender checks this between frames for an early ERROR). */
bool ferry_conn_readable(struct ferry_conn *c);
/*
 * After refusing a stream: read and drop what the peer still sends, for up
 * to ms, so that closing does not reset the connection before the peer has
 * read the ERROR that says why.
 */
void ferry_conn_linger(struct ferry_conn *c, int ms);

/* Close the TLS session (close_notify) and the socket; accepts NULL. */
void ferry_conn_close(struct ferry_conn *c);

/* Human text of the last OpenSSL error, for messages. */
const char *ferry_tls_error(char *buf, size_t len);

#endif
