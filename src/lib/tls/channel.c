/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ferry/clock.h"
#include "ferry/channel.h"
#include "ferry/token.h"
#include "ferry/wire.h"

/* Fixed policy: AEAD suites only, X25519, Ed25519 signatures. */
#define CIPHERSUITES "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
#define GROUPS       "X25519"
#define SIGALGS      "ed25519"

const char *ferry_tls_error(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (!e) {
		snprintf(buf, len, "no TLS detail");
		return buf;
	}
	ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
	const char *const *accepted = arg;

	(void)ssl;
	/* The client must offer exactly one protocol, and it must be one we serve. */
	if (inlen < 1 || (unsigned)in[0] + 1 != inlen)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	for (size_t i = 0; accepted && accepted[i]; i++) {
		size_t n = strlen(accepted[i]);

		if (n == in[0] && memcmp(in + 1, accepted[i], n) == 0) {
			*out = in + 1;
			*outlen = in[0];
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

SSL_CTX *ferry_tls_ctx(const struct ferry_tls_config *cfg, bool server, struct ferry_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	char tls[256];

	if (!ctx)
		goto fail;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, CIPHERSUITES) != 1 || SSL_CTX_set1_groups_list(ctx, GROUPS) != 1 ||
	    SSL_CTX_set1_sigalgs_list(ctx, SIGALGS) != 1)
		goto fail;
	/* No resumption at all: no tickets, no cache, hence no 0-RTT replay surface. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* Bulk streams: read whole socket buffers at once instead of a record header and body per syscall. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, 256 * 1024);
	if (server && (SSL_CTX_set_num_tickets(ctx, 0) != 1 || SSL_CTX_set_max_early_data(ctx, 0) != 1))
		goto fail;
	if (cfg->cert && (SSL_CTX_use_certificate(ctx, cfg->cert) != 1 || SSL_CTX_use_PrivateKey(ctx, cfg->key) != 1 ||
	                  SSL_CTX_check_private_key(ctx) != 1))
		goto fail;
	/* Send the CA along so enrolling clients can check it against their pin. */
	if (cfg->cert && cfg->ca && SSL_CTX_add1_chain_cert(ctx, cfg->ca) != 1)
		goto fail;
	if (cfg->ca) {
		X509_STORE *store = SSL_CTX_get_cert_store(ctx);

		if (X509_STORE_add_cert(store, cfg->ca) != 1)
			goto fail;
		SSL_CTX_set_verify(
		    ctx, SSL_VERIFY_PEER | (server && cfg->require_peer_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
		    NULL);
		SSL_CTX_set_verify_depth(ctx, 1);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* pin mode: checked after the handshake */
	}
	if (server)
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)cfg->alpns);
	return ctx;
fail:
	ferry_err_set(err, -EIO, "cannot set up TLS: %s", ferry_tls_error(tls, sizeof(tls)));
	SSL_CTX_free(ctx);
	return NULL;
}

/* Drive an SSL operation until done, the deadline passes or it fails. */
static int wait_ssl(struct ferry_conn *c, int rc, long long deadline, struct ferry_err *err, const char *what)
{
	int e = SSL_get_error(c->ssl, rc);
	struct pollfd p = { .fd = c->fd };
	long long left;
	char tls[256];

	if (e == SSL_ERROR_WANT_READ)
		p.events = POLLIN;
	else if (e == SSL_ERROR_WANT_WRITE)
		p.events = POLLOUT;
	else if (e == SSL_ERROR_ZERO_RETURN)
		return ferry_err_set(err, -ECONNRESET, "%s: peer closed the connection", what);
	else if ((e == SSL_ERROR_SYSCALL && (errno == 0 || errno == ECONNRESET || errno == EPIPE)) ||
	         (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
		ERR_clear_error();
		return ferry_err_set(err, -ECONNRESET, "%s: connection closed by peer", what);
	} else
		return ferry_err_set(err, -EPROTO, "%s: %s", what, ferry_tls_error(tls, sizeof(tls)));
	for (;;) {
		left = deadline - ferry_now_ms();
		if (left <= 0)
			return ferry_err_set(err, -ETIMEDOUT, "%s: timed out", what);
		/* Wake at least once a second so a revoked peer is noticed promptly. */
		int n = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
		if (n > 0)
			return 1; /* retry the SSL call */
		if (n < 0 && errno != EINTR)
			return ferry_err_sys(err, -errno, "%s: poll", what);
		if (c->check && c->check(c, c->check_arg) < 0)
			return ferry_err_set(err, -EACCES, "%s: peer is no longer authorized", what);
	}
}

static void read_peer(struct ferry_conn *c)
{
	X509 *peer = SSL_get0_peer_certificate(c->ssl);
	const unsigned char *alpn = NULL;
	unsigned alpn_len = 0;

	SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
	if (alpn_len < sizeof(c->alpn)) {
		memcpy(c->alpn, alpn, alpn_len);
		c->alpn[alpn_len] = '\0';
	}
	if (peer && ferry_cert_id(peer, c->peer_id) == 0) {
		c->has_peer_cert = true;
		if (ferry_cert_cn(peer, c->peer_cn, sizeof(c->peer_cn)) < 0)
			c->peer_cn[0] = '\0';
	}
}

static int handshake(struct ferry_conn *c, bool server, int timeout_ms, struct ferry_err *err)
{
	long long deadline = ferry_now_ms() + timeout_ms;

	for (;;) {
		int rc = server ? SSL_accept(c->ssl) : SSL_connect(c->ssl);

		if (rc == 1)
			break;
		rc = wait_ssl(c, rc, deadline, err, "TLS handshake");
		if (rc < 0)
			return rc;
	}
	read_peer(c);
	return 0;
}

/* Pin mode: the server's chain holds the pinned CA, self-signed, and the leaf is signed by it. */
static int check_pin(struct ferry_conn *c, const uint8_t pin[FERRY_ID_LEN], struct ferry_err *err)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(c->ssl);
	X509 *leaf = SSL_get0_peer_certificate(c->ssl);
	uint8_t id[FERRY_ID_LEN];

	for (int i = 0; chain && leaf && i < sk_X509_num(chain); i++) {
		X509 *ca = sk_X509_value(chain, i);
		EVP_PKEY *pub = X509_get0_pubkey(ca);

		if (!pub || ferry_key_id(pub, id) < 0 || CRYPTO_memcmp(id, pin, FERRY_ID_LEN) != 0)
			continue;
		if (X509_verify(ca, pub) == 1 && X509_verify(leaf, pub) == 1 &&
		    X509_cmp_current_time(X509_get0_notAfter(leaf)) > 0 &&
		    X509_cmp_current_time(X509_get0_notBefore(leaf)) < 0)
			return 0;
	}
	return ferry_err_set(err, -EPERM, "server is not certified by the pinned cluster CA");
}

/* Deep socket buffers let sender and receiver overlap: neither waits on the other's disk or hashing. */
static void tune_socket(int fd)
{
	int one = 1, buf = 4 * 1024 * 1024;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}

static struct ferry_conn *conn_new(SSL_CTX *ctx, int fd, struct ferry_err *err)
{
	struct ferry_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		ferry_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	c->fd = fd;
	c->io_timeout_ms = 30000;
	c->ssl = SSL_new(ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
		SSL_free(c->ssl);
		free(c);
		ferry_err_set(err, -ENOMEM, "cannot create a TLS session");
		return NULL;
	}
	return c;
}

int ferry_conn_connect(SSL_CTX *ctx, const char *hostport, const char *alpn, const uint8_t *ca_pin, int timeout_ms,
                       struct ferry_conn **ret, struct ferry_err *err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	long long deadline = ferry_now_ms() + timeout_ms;
	unsigned char proto[64];
	struct ferry_conn *c;
	uint32_t addr;
	uint16_t port;
	int fd, r;
	size_t n = strlen(alpn);

	if ((r = ferry_parse_hostport(hostport, &addr, &port, err)) < 0)
		return r;
	if (n == 0 || n >= sizeof(proto))
		return ferry_err_set(err, -EINVAL, "bad ALPN");
	sa.sin_addr.s_addr = htonl(addr);
	sa.sin_port = htons(port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return ferry_err_sys(err, -errno, "socket");
	tune_socket(fd);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		r = ferry_err_sys(err, -errno, "cannot connect to %s", hostport);
		close(fd);
		return r;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		long long left = deadline - ferry_now_ms();
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		if (left <= 0) {
			close(fd);
			return ferry_err_set(err, -ETIMEDOUT, "connecting to %s timed out", hostport);
		}
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr) {
			close(fd);
			return ferry_err_sys(err, -soerr, "cannot connect to %s", hostport);
		}
		break;
	}
	c = conn_new(ctx, fd, err);
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	snprintf(c->peer_addr, sizeof(c->peer_addr), "%s", hostport);
	proto[0] = (unsigned char)n;
	memcpy(proto + 1, alpn, n);
	if (SSL_set_alpn_protos(c->ssl, proto, (unsigned)n + 1) != 0) {
		ferry_conn_close(c);
		return ferry_err_set(err, -EIO, "cannot set ALPN");
	}
	r = handshake(c, false, (int)(deadline - ferry_now_ms() > 0 ? deadline - ferry_now_ms() : 1), err);
	if (r == 0 && strcmp(c->alpn, alpn) != 0)
		r = ferry_err_set(err, -EPROTO, "server did not accept protocol %s", alpn);
	if (r == 0 && ca_pin)
		r = check_pin(c, ca_pin, err);
	if (r == 0 && !ca_pin && !c->has_peer_cert)
		r = ferry_err_set(err, -EPERM, "server presented no certificate");
	if (r < 0) {
		ferry_err_wrap(err, "%s", hostport);
		ferry_conn_close(c);
		return r;
	}
	*ret = c;
	return 0;
}

int ferry_conn_accept(SSL_CTX *ctx, int fd, const char *peer_addr, int timeout_ms, struct ferry_conn **ret,
                      struct ferry_err *err)
{
	struct ferry_conn *c = conn_new(ctx, fd, err);
	int r;

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	tune_socket(fd);
	snprintf(c->peer_addr, sizeof(c->peer_addr), "%s", peer_addr);
	r = handshake(c, true, timeout_ms, err);
	if (r < 0) {
		/* No close_notify: the peer never got a session. */
		SSL_free(c->ssl);
		close(c->fd);
		free(c);
		return r;
	}
	*ret = c;
	return 0;
}

static int write_all(struct ferry_conn *c, const uint8_t *p, size_t len, long long deadline, struct ferry_err *err)
{
	while (len > 0) {
		size_t done = 0;
		int rc = SSL_write_ex(c->ssl, p, len, &done);

		if (rc == 1) {
			p += done;
			len -= done;
			continue;
		}
		rc = wait_ssl(c, rc, deadline, err, "send");
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int read_all(struct ferry_conn *c, uint8_t *p, size_t len, long long deadline, struct ferry_err *err)
{
	while (len > 0) {
		size_t done = 0;
		int rc = SSL_read_ex(c->ssl, p, len, &done);

		if (rc == 1) {
			p += done;
			len -= done;
			continue;
		}
		rc = wait_ssl(c, rc, deadline, err, "receive");
		if (rc < 0)
			return rc;
	}
	return 0;
}

int ferry_conn_peek_type(struct ferry_conn *c, uint8_t *ret_type, struct ferry_err *err)
{
	long long deadline = ferry_now_ms() + c->io_timeout_ms;

	for (;;) {
		size_t done = 0;
		int rc = SSL_peek_ex(c->ssl, ret_type, 1, &done);

		if (rc == 1 && done == 1)
			return 0;
		rc = wait_ssl(c, rc, deadline, err, "receive");
		if (rc < 0)
			return rc;
	}
}

int ferry_conn_send_frame(struct ferry_conn *c, uint8_t type, const void *payload, size_t len, struct ferry_err *err)
{
	long long deadline = ferry_now_ms() + c->io_timeout_ms;
	uint8_t hdr[FERRY_FRAME_HEADER_LEN];
	int r;

	if (len > ferry_frame_max_len(type))
		return ferry_err_set(err, -EMSGSIZE, "refusing to send a %s frame of %zu bytes",
		                     ferry_frame_type_name(type), len);
	ferry_frame_encode_header(hdr, type, (uint32_t)len);
	/* Header and payload in one record when small: fewer TLS records, one syscall. */
	if (len <= 16 * 1024) {
		uint8_t one[FERRY_FRAME_HEADER_LEN + 16 * 1024];

		memcpy(one, hdr, sizeof(hdr));
		if (len)
			memcpy(one + sizeof(hdr), payload, len);
		return write_all(c, one, sizeof(hdr) + len, deadline, err);
	}
	r = write_all(c, hdr, sizeof(hdr), deadline, err);
	return r < 0 ? r : write_all(c, payload, len, deadline, err);
}

int ferry_conn_recv_frame(struct ferry_conn *c, struct ferry_frame_header *hdr, struct ferry_buf *out,
                          struct ferry_err *err)
{
	long long deadline = ferry_now_ms() + c->io_timeout_ms;
	uint8_t raw[FERRY_FRAME_HEADER_LEN];
	int r;

	r = read_all(c, raw, sizeof(raw), deadline, err);
	if (r < 0)
		return r;
	r = ferry_frame_parse_header(raw, hdr, err);
	if (r < 0)
		return r;
	ferry_buf_reset(out);
	out->max = ferry_frame_max_len(hdr->type);
	/* The payload size is within the type's cap: only now is memory committed. */
	r = ferry_buf_append(out, NULL, 0);
	if (r == 0 && hdr->len) {
		if (out->cap < (size_t)hdr->len + 1) {
			char *p = realloc(out->data, (size_t)hdr->len + 1);

			if (!p)
				return ferry_err_set(err, -ENOMEM, "out of memory for a %u-byte frame", hdr->len);
			out->data = p;
			out->cap = (size_t)hdr->len + 1;
		}
		r = read_all(c, (uint8_t *)out->data, hdr->len, deadline, err);
		if (r < 0)
			return r;
		out->len = hdr->len;
		out->data[out->len] = '\0';
	}
	return r;
}

int ferry_conn_send_error(struct ferry_conn *c, int code, const char *msg, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	int r;

	if (code < 0)
		code = -code;
	r = ferry_tlv_add_u32(&b, FERRY_TAG_STATUS, (uint32_t)(code ? code : EIO));
	if (r == 0)
		r = ferry_tlv_add(&b, FERRY_TAG_MESSAGE, msg, strnlen(msg, 1024));
	if (r == 0)
		r = ferry_conn_send_frame(c, FERRY_FRAME_ERROR, b.data, b.len, err);
	ferry_buf_free(&b);
	return r;
}

void ferry_conn_close(struct ferry_conn *c)
{
	if (!c)
		return;
	if (c->ssl) {
		SSL_shutdown(c->ssl); /* best effort close_notify; never waits (non-blocking) */
		SSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

bool ferry_conn_readable(struct ferry_conn *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

	return SSL_pending(c->ssl) > 0 || poll(&pfd, 1, 0) > 0;
}

void ferry_conn_linger(struct ferry_conn *c, int ms)
{
	struct ferry_buf sink = FERRY_BUF_INIT(FERRY_FRAME_ZSTD_MAX);
	struct ferry_frame_header h;
	long long until = ferry_now_ms() + ms;
	int saved = c->io_timeout_ms;

	c->io_timeout_ms = ms;
	while (ferry_now_ms() < until && ferry_conn_recv_frame(c, &h, &sink, NULL) == 0)
		;
	c->io_timeout_ms = saved;
	ferry_buf_free(&sink);
}
