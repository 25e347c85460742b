/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ferry/fs.h"
#include "ferry/hex.h"
#include "ferry/identity.h"
#include "ferry/manifest.h"

int ferry_random(void *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

EVP_PKEY *ferry_key_generate(struct ferry_err *err)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	if (!key)
		ferry_err_set(err, -EIO, "cannot generate an Ed25519 key");
	return key;
}

/* Write PEM through a memory BIO, then atomically with mode. */
static int save_bio(const char *path, BIO *bio, mode_t mode, struct ferry_err *err)
{
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);

	if (n <= 0)
		return ferry_err_set(err, -EIO, "cannot encode %s", path);
	return ferry_write_file_atomic(path, data, (size_t)n, mode, err);
}

int ferry_key_save(const char *path, EVP_PKEY *key, struct ferry_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int r;

	if (!bio || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
		r = ferry_err_set(err, -EIO, "cannot encode the private key for %s", path);
	else
		r = save_bio(path, bio, 0600, err);
	BIO_free(bio);
	return r;
}

int ferry_pubkey_save(const char *path, EVP_PKEY *key, struct ferry_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int r;

	if (!bio || PEM_write_bio_PUBKEY(bio, key) != 1)
		r = ferry_err_set(err, -EIO, "cannot encode the public key for %s", path);
	else
		r = save_bio(path, bio, 0644, err);
	BIO_free(bio);
	return r;
}

static BIO *open_bio(const char *path, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(FERRY_DER_MAX * 2);
	BIO *bio;

	if (ferry_read_file(path, FERRY_DER_MAX * 2, &b, err) < 0) {
		ferry_buf_free(&b);
		return NULL;
	}
	bio = BIO_new(BIO_s_mem());
	if (bio && BIO_write(bio, b.data ? b.data : "", (int)b.len) != (int)b.len) {
		BIO_free(bio);
		bio = NULL;
	}
	OPENSSL_cleanse(b.data, b.len); /* may be a private key */
	ferry_buf_free(&b);
	if (!bio)
		ferry_err_set(err, -ENOMEM, "out of memory reading %s", path);
	return bio;
}

static bool is_ed25519(EVP_PKEY *k)
{
	return k && EVP_PKEY_get_id(k) == EVP_PKEY_ED25519;
}

EVP_PKEY *ferry_key_load(const char *path, struct ferry_err *err)
{
	BIO *bio = open_bio(path, err);
	EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	if (bio && !is_ed25519(key)) {
		EVP_PKEY_free(key);
		key = NULL;
		ferry_err_set(err, -EINVAL, "%s does not hold an Ed25519 private key", path);
	}
	return key;
}

EVP_PKEY *ferry_pubkey_load(const char *path, struct ferry_err *err)
{
	BIO *bio = open_bio(path, err);
	EVP_PKEY *key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	if (bio && !is_ed25519(key)) {
		EVP_PKEY_free(key);
		key = NULL;
		ferry_err_set(err, -EINVAL, "%s does not hold an Ed25519 public key", path);
	}
	return key;
}

int ferry_key_id(EVP_PKEY *key, uint8_t out[FERRY_ID_LEN])
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(key, &der);

	if (n <= 0)
		return -EINVAL;
	ferry_sha256(der, (size_t)n, out);
	OPENSSL_free(der);
	return 0;
}

int ferry_cert_id(X509 *cert, uint8_t out[FERRY_ID_LEN])
{
	EVP_PKEY *k = X509_get0_pubkey(cert);

	return k ? ferry_key_id(k, out) : -EINVAL;
}

void ferry_id_hex(const uint8_t id[FERRY_ID_LEN], char out[FERRY_ID_HEX_LEN])
{
	ferry_hex_encode(id, FERRY_ID_LEN, out);
}

int ferry_id_from_hex(const char *hex, uint8_t out[FERRY_ID_LEN])
{
	return ferry_hex_decode(hex, out, FERRY_ID_LEN);
}

static int set_random_serial(X509 *cert)
{
	uint8_t raw[16];
	BIGNUM *bn;
	int ok;

	if (ferry_random(raw, sizeof(raw)) < 0)
		return -EIO;
	raw[0] &= 0x7f; /* positive */
	bn = BN_bin2bn(raw, sizeof(raw), NULL);
	ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
	BN_free(bn);
	return ok ? 0 : -EIO;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = ext && X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok ? 0 : -EIO;
}

static X509 *new_cert(EVP_PKEY *pub, const char *cn, long not_before_offset, int days)
{
	X509 *cert = X509_new();
	X509_NAME *name;

	if (!cert)
		return NULL;
	name = X509_get_subject_name(cert);
	if (X509_set_version(cert, 2) != 1 || set_random_serial(cert) < 0 ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), not_before_offset) ||
	    !X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, NULL) ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_pubkey(cert, pub) != 1) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

X509 *ferry_cert_make_ca(EVP_PKEY *key, const char *cn, int days, struct ferry_err *err)
{
	X509 *cert = new_cert(key, cn, -60, days);

	if (!cert || X509_set_issuer_name(cert, X509_get_subject_name(cert)) != 1 ||
	    add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
	    add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(cert, cert, NID_subject_key_identifier, "hash") < 0 || X509_sign(cert, key, NULL) <= 0) {
		X509_free(cert);
		ferry_err_set(err, -EIO, "cannot create the CA certificate");
		return NULL;
	}
	return cert;
}

X509_REQ *ferry_csr_make(EVP_PKEY *key, const char *cn, struct ferry_err *err)
{
	X509_REQ *req = X509_REQ_new();

	if (!req || X509_REQ_set_version(req, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_ASC, (const unsigned char *)cn,
	                               -1, -1, 0) != 1 ||
	    X509_REQ_set_pubkey(req, key) != 1 || X509_REQ_sign(req, key, NULL) <= 0) {
		X509_REQ_free(req);
		ferry_err_set(err, -EIO, "cannot create a certificate request");
		return NULL;
	}
	return req;
}

X509 *ferry_cert_issue(X509_REQ *csr, const char *cn, X509 *ca, EVP_PKEY *ca_key, int days, struct ferry_err *err)
{
	EVP_PKEY *pub = X509_REQ_get0_pubkey(csr);
	X509 *cert;

	if (!is_ed25519(pub) || X509_REQ_verify(csr, pub) != 1) {
		ferry_err_set(err, -EPERM, "certificate request is not a valid self-signed Ed25519 request");
		return NULL;
	}
	cert = new_cert(pub, cn, -60, days);
	if (!cert || X509_set_issuer_name(cert, X509_get_subject_name(ca)) != 1 ||
	    add_ext(cert, ca, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(cert, ca, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(cert, ca, NID_ext_key_usage, "serverAuth,clientAuth") < 0 ||
	    add_ext(cert, ca, NID_authority_key_identifier, "keyid:always") < 0 || X509_sign(cert, ca_key, NULL) <= 0) {
		X509_free(cert);
		ferry_err_set(err, -EIO, "cannot issue a certificate for '%s'", cn);
		return NULL;
	}
	return cert;
}

int ferry_cert_save(const char *path, X509 *cert, struct ferry_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int r;

	if (!bio || PEM_write_bio_X509(bio, cert) != 1)
		r = ferry_err_set(err, -EIO, "cannot encode the certificate for %s", path);
	else
		r = save_bio(path, bio, 0644, err);
	BIO_free(bio);
	return r;
}

X509 *ferry_cert_load(const char *path, struct ferry_err *err)
{
	BIO *bio = open_bio(path, err);
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

	if (bio && !cert)
		ferry_err_set(err, -EINVAL, "%s does not hold a PEM certificate", path);
	BIO_free(bio);
	return cert;
}

int ferry_cert_cn(X509 *cert, char *out, size_t len)
{
	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out, (int)len);

	return n > 0 ? 0 : -ENOENT;
}

int ferry_cert_to_der(X509 *cert, uint8_t **ret, size_t *ret_len)
{
	unsigned char *der = NULL;
	int n = i2d_X509(cert, &der);

	if (n <= 0 || n > FERRY_DER_MAX) {
		OPENSSL_free(der);
		return -EINVAL;
	}
	*ret = der;
	*ret_len = (size_t)n;
	return 0;
}

X509 *ferry_cert_from_der(const uint8_t *p, size_t len, struct ferry_err *err)
{
	const unsigned char *q = p;
	X509 *cert = len <= FERRY_DER_MAX ? d2i_X509(NULL, &q, (long)len) : NULL;

	if (!cert || q != p + len) {
		X509_free(cert);
		ferry_err_set(err, -EPROTO, "not a DER certificate");
		return NULL;
	}
	return cert;
}

int ferry_csr_to_der(X509_REQ *req, uint8_t **ret, size_t *ret_len)
{
	unsigned char *der = NULL;
	int n = i2d_X509_REQ(req, &der);

	if (n <= 0 || n > FERRY_DER_MAX) {
		OPENSSL_free(der);
		return -EINVAL;
	}
	*ret = der;
	*ret_len = (size_t)n;
	return 0;
}

X509_REQ *ferry_csr_from_der(const uint8_t *p, size_t len, struct ferry_err *err)
{
	const unsigned char *q = p;
	X509_REQ *req = len <= FERRY_DER_MAX ? d2i_X509_REQ(NULL, &q, (long)len) : NULL;

	if (!req || q != p + len) {
		X509_REQ_free(req);
		ferry_err_set(err, -EPROTO, "not a DER certificate request");
		return NULL;
	}
	return req;
}
