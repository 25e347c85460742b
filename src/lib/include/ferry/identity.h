/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_IDENTITY_H
#define FERRY_IDENTITY_H

/*
 * Identities: Ed25519 keys and X.509 certificates (OpenSSL 3).  A peer's
 * node id is the SHA-256 of its SubjectPublicKeyInfo (DER): what the
 * allowlists hold, and what a token's CA pin is.  Private keys are written
 * 0600, atomically.  Returned OpenSSL objects belong to the caller.
 */

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ferry/err.h"

#define FERRY_ID_LEN     32
#define FERRY_ID_HEX_LEN 65
#define FERRY_DER_MAX    (16 * 1024)

EVP_PKEY *ferry_key_generate(struct ferry_err *err);
int ferry_key_save(const char *path, EVP_PKEY *key, struct ferry_err *err);
EVP_PKEY *ferry_key_load(const char *path, struct ferry_err *err);
int ferry_pubkey_save(const char *path, EVP_PKEY *key, struct ferry_err *err);
EVP_PKEY *ferry_pubkey_load(const char *path, struct ferry_err *err);

/* SHA-256 of the DER SubjectPublicKeyInfo. */
int ferry_key_id(EVP_PKEY *key, uint8_t out[FERRY_ID_LEN]);
int ferry_cert_id(X509 *cert, uint8_t out[FERRY_ID_LEN]);
void ferry_id_hex(const uint8_t id[FERRY_ID_LEN], char out[FERRY_ID_HEX_LEN]);
int ferry_id_from_hex(const char *hex, uint8_t out[FERRY_ID_LEN]);

/* Self-signed CA certificate (CA:TRUE, keyCertSign) valid for days. */
X509 *ferry_cert_make_ca(EVP_PKEY *key, const char *cn, int days, struct ferry_err *err);
/* CSR for key with subject CN=cn. */
X509_REQ *ferry_csr_make(EVP_PKEY *key, const char *cn, struct ferry_err *err);
/*
 * Issue a leaf certificate for the CSR's key (its self-signature is checked)
 * with subject CN=cn (the CSR's own subject is ignored), serverAuth and
 * clientAuth, valid from now-60s for days.
 */
X509 *ferry_cert_issue(X509_REQ *csr, const char *cn, X509 *ca, EVP_PKEY *ca_key, int days, struct ferry_err *err);

int ferry_cert_save(const char *path, X509 *cert, struct ferry_err *err);
X509 *ferry_cert_load(const char *path, struct ferry_err *err);
/* The certificate's subject CN into out. */
int ferry_cert_cn(X509 *cert, char *out, size_t len);

/* DER in memory (bounded by FERRY_DER_MAX); *ret is OPENSSL_malloc'ed. */
int ferry_cert_to_der(X509 *cert, uint8_t **ret, size_t *ret_len);
X509 *ferry_cert_from_der(const uint8_t *p, size_t len, struct ferry_err *err);
int ferry_csr_to_der(X509_REQ *req, uint8_t **ret, size_t *ret_len);
X509_REQ *ferry_csr_from_der(const uint8_t *p, size_t len, struct ferry_err *err);

/* Fill buf with cryptographically secure random bytes. */
int ferry_random(void *buf, size_t len);

#endif
