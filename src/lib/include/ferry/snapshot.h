/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_SNAPSHOT_H
#define FERRY_SNAPSHOT_H

/*
 * Forensic snapshots (docs/ARCHITECTURE.md, "Forensic snapshots"): a
 * running container's checkpoint as one file only the operator can read
 * and anyone with the cluster's CA can check.  The sound version of the
 * segmented, encrypted transfer of 004_…:
 *
 *   "FSNP1" | u16 cert len | signer's certificate (DER, the node's)
 *           | u16 meta len | meta (container, node, image, time, generation)
 *           | recipient's X25519 key (32) | ephemeral X25519 key (32)
 *           | nonce (12) | file key sealed to the recipient (32 + tag 16)
 *           | segments: u32 length (top bit: the last) | ciphertext | tag (16)
 *           | u16 signature len | Ed25519 signature of SHA-256 of all before
 *
 * The file key is random; the header key is HKDF-SHA256 of the X25519
 * secret, salted with both public keys.  Segment i has its own key,
 * HKDF-SHA256(file key, "ferry snapshot segment" || i), and is
 * ChaCha20-Poly1305 with nonce i and "last" in its associated data:
 * reordered, dropped or cut segments fail.  The signature covers the certificate, the metadata and
 * every byte of ciphertext: a reader without the key still knows who made
 * it and that nothing changed.
 */

#include <stdbool.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/ticket.h"

#define FERRY_SNAPSHOT_KEY_LEN      32
#define FERRY_SNAPSHOT_SEGMENT      (1u << 20) /* plaintext bytes per segment */
#define FERRY_SNAPSHOT_CERT_MAX     8192
#define FERRY_SNAPSHOT_META_MAX     1024
#define FERRY_SNAPSHOT_SEGMENTS_MAX (1u << 20) /* 1 TiB */

struct evp_pkey_st;
struct x509_st;

struct ferry_snapshot_meta {
	char container[FERRY_CONTAINER_NAME_MAX + 1];
	char node[FERRY_NODE_NAME_MAX + 1];
	char image[FERRY_CONTAINER_NAME_MAX + 1];
	uint64_t created_at; /* unix seconds */
	uint64_t generation;
};

struct ferry_snapshot_info {
	struct ferry_snapshot_meta meta;
	char signer[64];                            /* the certificate's common name */
	uint8_t recipient[FERRY_SNAPSHOT_KEY_LEN];  /* whose key opens it */
	uint64_t segments, file_bytes, plain_bytes; /* plain_bytes: when opened */
	bool chain_ok;                              /* the signer's certificate is the CA's (when a CA was given) */
	bool opened;                                /* decrypted with the recipient's key */
};

/* A new operator key pair (X25519): private PEM at key_path (0600), public PEM at pub_path. */
int ferry_snapshot_keygen(const char *key_path, const char *pub_path, struct ferry_err *err);
/* The raw public key of an operator's public key file (a private key file is refused). */
int ferry_snapshot_pubkey_load(const char *path, uint8_t out[FERRY_SNAPSHOT_KEY_LEN], struct ferry_err *err);

/* Encrypt plain_path to recipient, sign with signer (Ed25519, cert its certificate), write out_path. */
int ferry_snapshot_write(const char *plain_path, const uint8_t recipient[FERRY_SNAPSHOT_KEY_LEN],
                         const struct ferry_snapshot_meta *meta, struct evp_pkey_st *signer, struct x509_st *cert,
                         const char *out_path, struct ferry_err *err);
/*
 * Check path: its structure, its signature (always) and the signer's
 * certificate against ca (if not NULL); with key_path (the operator's
 * private key) also decrypt into plain_out.  A plain_out of a snapshot
 * that fails any check is removed.  -EBADMSG for anything tampered with.
 */
int ferry_snapshot_read(const char *path, struct x509_st *ca, const char *key_path, const char *plain_out,
                        struct ferry_snapshot_info *info, struct ferry_err *err);

#endif
