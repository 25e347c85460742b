/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Forensic snapshot files: encrypted to the operator in segments, signed by the node (ferry/snapshot.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ferry/buf.h"
#include "ferry/aead.h"
#include "ferry/identity.h"
#include "ferry/parse.h"
#include "ferry/snapshot.h"
#include "ferry/wire.h"

#define MAGIC      "FSNP1"
#define MAGIC_LEN  5
#define NONCE_LEN  12
#define TAG_LEN    16
#define LAST_BIT   0x80000000u
#define SIG_MAX    128
#define HEADER_LAB "ferry snapshot header v1"

/* ---- keys ---- */

static EVP_PKEY *load_x25519(const char *path, bool private_key, struct ferry_err *err)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = NULL;

	if (!f) {
		ferry_err_sys(err, -errno, "cannot open %s", path);
		return NULL;
	}
	k = private_key ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
	if (!k && !private_key) {
		/* A private key where the public one belongs: it should not be on this host at all. */
		rewind(f);
		k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		if (k) {
			EVP_PKEY_free(k);
			fclose(f);
			ferry_err_set(err, -EINVAL,
			              "%s is a private key; give the public one (operator.pub): the private key "
			              "belongs off the cluster",
			              path);
			return NULL;
		}
	}
	fclose(f);
	if (!k || EVP_PKEY_get_id(k) != EVP_PKEY_X25519) {
		EVP_PKEY_free(k);
		ferry_err_set(err, -EINVAL, "%s does not hold an X25519 %s key (ferry snapshot keygen makes one)", path,
		              private_key ? "private" : "public");
		return NULL;
	}
	return k;
}

int ferry_snapshot_keygen(const char *key_path, const char *pub_path, struct ferry_err *err)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	FILE *f = NULL;
	int fd, r = 0;

	if (!k)
		return ferry_err_set(err, -EIO, "cannot make an X25519 key");
	fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w")) || PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1) {
		r = ferry_err_sys(err, fd < 0 ? -errno : -EIO, "cannot write %s", key_path);
		if (fd >= 0 && !f)
			close(fd);
		if (fd >= 0)
			unlink(key_path);
		goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		r = ferry_err_sys(err, -errno, "cannot write %s", key_path);
		unlink(key_path);
		goto out;
	}
	f = NULL;
	if (!(f = fopen(pub_path, "wx")) || PEM_write_PUBKEY(f, k) != 1 || fclose(f) != 0) {
		r = ferry_err_sys(err, -EIO, "cannot write %s", pub_path);
		unlink(key_path);
		unlink(pub_path);
	}
	f = NULL;
out:
	if (f)
		fclose(f);
	EVP_PKEY_free(k);
	return r;
}

int ferry_snapshot_pubkey_load(const char *path, uint8_t out[FERRY_SNAPSHOT_KEY_LEN], struct ferry_err *err)
{
	EVP_PKEY *k = load_x25519(path, false, err);
	size_t len = FERRY_SNAPSHOT_KEY_LEN;
	int r = 0;

	if (!k)
		return -EINVAL;
	if (EVP_PKEY_get_raw_public_key(k, out, &len) != 1 || len != FERRY_SNAPSHOT_KEY_LEN)
		r = ferry_err_set(err, -EINVAL, "%s: cannot read its public key", path);
	EVP_PKEY_free(k);
	return r;
}

/* X25519(mine, theirs) through HKDF-SHA256, salted with both public keys: the header's key. */
static int header_key(EVP_PKEY *mine, const uint8_t theirs[32], const uint8_t eph_pub[32], const uint8_t rcpt_pub[32],
                      uint8_t key[32])
{
	EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, theirs, 32);
	EVP_PKEY_CTX *dc = peer ? EVP_PKEY_CTX_new(mine, NULL) : NULL;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kc = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	uint8_t shared[32], salt[64];
	size_t slen = sizeof(shared);
	OSSL_PARAM params[5];
	int r = -EIO;

	memcpy(salt, eph_pub, 32);
	memcpy(salt + 32, rcpt_pub, 32);
	if (dc && kc && EVP_PKEY_derive_init(dc) == 1 && EVP_PKEY_derive_set_peer(dc, peer) == 1 &&
	    EVP_PKEY_derive(dc, shared, &slen) == 1 && slen == sizeof(shared)) {
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
		params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, shared, sizeof(shared));
		params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt));
		params[3] =
		    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)HEADER_LAB, strlen(HEADER_LAB));
		params[4] = OSSL_PARAM_construct_end();
		r = EVP_KDF_derive(kc, key, 32, params) == 1 ? 0 : -EIO;
	}
	OPENSSL_cleanse(shared, sizeof(shared));
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
	EVP_PKEY_CTX_free(dc);
	EVP_PKEY_free(peer);
	return r;
}

/* Segment i's own key: HKDF-SHA256 of the file key with the index, so that no two segments share one. */
static int segment_key(const uint8_t file_key[32], uint64_t i, uint8_t key[32])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kc = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	uint8_t info[22 + 8];
	OSSL_PARAM params[4];
	int r = -EIO;

	memcpy(info, "ferry snapshot segment", 22);
	ferry_put_u64(info + 22, i);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)file_key, 32);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof(info));
	params[3] = OSSL_PARAM_construct_end();
	if (kc && EVP_KDF_derive(kc, key, 32, params) == 1)
		r = 0;
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
	return r;
}

/* Segment i's nonce and associated data ("last" is part of what is authenticated). */
static void segment_params(uint64_t i, bool last, uint8_t nonce[NONCE_LEN], uint8_t ad[17])
{
	memset(nonce, 0, NONCE_LEN);
	ferry_put_u64(nonce + 4, i);
	memcpy(ad, "FSNPseg\0", 8);
	ferry_put_u64(ad + 8, i);
	ad[16] = last;
}

/* ---- metadata ---- */

static int meta_encode(const struct ferry_snapshot_meta *m, struct ferry_buf *out)
{
	const char *s[3] = { m->container, m->node, m->image };
	int r = 0;

	for (int i = 0; r == 0 && i < 3; i++) {
		r = ferry_buf_u8(out, (uint8_t)strlen(s[i]));
		r = r ? r : ferry_buf_append(out, s[i], strlen(s[i]));
	}
	r = r ? r : ferry_buf_u64(out, m->created_at);
	return r ? r : ferry_buf_u64(out, m->generation);
}

static int meta_parse(const uint8_t *p, size_t len, struct ferry_snapshot_meta *m)
{
	struct ferry_reader rd;
	char *s[3] = { m->container, m->node, m->image };
	size_t cap[3] = { sizeof(m->container), sizeof(m->node), sizeof(m->image) };

	memset(m, 0, sizeof(*m));
	ferry_reader_init(&rd, p, len);
	for (int i = 0; i < 3; i++) {
		uint8_t n = ferry_get_u8(&rd);
		const uint8_t *v = ferry_get_view(&rd, n);

		if (!rd.ok || n >= cap[i])
			return -EBADMSG;
		memcpy(s[i], v, n);
		s[i][n] = '\0';
		if (strlen(s[i]) != n || (n && ferry_check_name(s[i], (unsigned)cap[i] - 1, "name", NULL) < 0))
			return -EBADMSG;
	}
	m->created_at = ferry_get_u64(&rd);
	m->generation = ferry_get_u64(&rd);
	return rd.ok && rd.left == 0 && m->container[0] && m->node[0] ? 0 : -EBADMSG;
}

/* ---- writing ---- */

/* out gets p (and the running hash) or the error. */
static int put(FILE *out, EVP_MD_CTX *h, const void *p, size_t n)
{
	EVP_DigestUpdate(h, p, n);
	return fwrite(p, 1, n, out) == n ? 0 : -EIO;
}

static int put_u16(FILE *out, EVP_MD_CTX *h, size_t v)
{
	uint8_t b[2];

	ferry_put_u16(b, (uint16_t)v);
	return put(out, h, b, 2);
}

int ferry_snapshot_write(const char *plain_path, const uint8_t recipient[FERRY_SNAPSHOT_KEY_LEN],
                         const struct ferry_snapshot_meta *meta, EVP_PKEY *signer, X509 *cert, const char *out_path,
                         struct ferry_err *err)
{
	struct ferry_buf mb = FERRY_BUF_INIT(256);
	EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	uint8_t eph_pub[32], file_key[32], seg_key[32], hkey[32], nonce[NONCE_LEN], sealed[32], tag[TAG_LEN], ad[17],
	    digest[32];
	uint8_t sig[SIG_MAX], *der = NULL, *buf = malloc(FERRY_SNAPSHOT_SEGMENT), *ct = malloc(FERRY_SNAPSHOT_SEGMENT);
	size_t eph_len = sizeof(eph_pub), siglen = sizeof(sig), n;
	FILE *in = fopen(plain_path, "rb"), *out = NULL;
	EVP_MD_CTX *sctx = EVP_MD_CTX_new();
	uint64_t index = 0;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	int der_len, r = 0;

	if (!h || EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (!in) {
		r = ferry_err_sys(err, -errno, "cannot open %s", plain_path);
		goto out;
	}
	if (!eph || !buf || !ct || !sctx || EVP_PKEY_get_raw_public_key(eph, eph_pub, &eph_len) != 1 ||
	    (der_len = i2d_X509(cert, &der)) <= 0 || der_len > FERRY_SNAPSHOT_CERT_MAX || meta_encode(meta, &mb) < 0 ||
	    mb.len > FERRY_SNAPSHOT_META_MAX) {
		r = ferry_err_set(err, -ENOMEM, "cannot set up the snapshot's encryption");
		goto out;
	}
	if (!(out = fopen(out_path, "wbx"))) {
		r = ferry_err_sys(err, -errno, "cannot create %s", out_path);
		goto out;
	}
	/* The header: who signs, what it is, to whom, and the file key sealed to them. */
	if (ferry_random(file_key, sizeof(file_key)) < 0 || ferry_random(nonce, sizeof(nonce)) < 0 ||
	    header_key(eph, recipient, eph_pub, recipient, hkey) < 0) {
		r = ferry_err_set(err, -EIO, "cannot derive the snapshot's keys");
		goto fail;
	}
	{
		uint8_t hdr_ad[MAGIC_LEN + 64];

		memcpy(hdr_ad, MAGIC, MAGIC_LEN);
		memcpy(hdr_ad + MAGIC_LEN, recipient, 32);
		memcpy(hdr_ad + MAGIC_LEN + 32, eph_pub, 32);
		if (ferry_aead(true, hkey, nonce, hdr_ad, sizeof(hdr_ad), file_key, sizeof(file_key), sealed, tag) <
		    0) {
			r = ferry_err_set(err, -EIO, "cannot seal the snapshot's key");
			goto fail;
		}
	}
	r = put(out, h, MAGIC, MAGIC_LEN);
	r = r ? r : put_u16(out, h, (size_t)der_len);
	r = r ? r : put(out, h, der, (size_t)der_len);
	r = r ? r : put_u16(out, h, mb.len);
	r = r ? r : put(out, h, mb.data, mb.len);
	r = r ? r : put(out, h, recipient, 32);
	r = r ? r : put(out, h, eph_pub, 32);
	r = r ? r : put(out, h, nonce, sizeof(nonce));
	r = r ? r : put(out, h, sealed, sizeof(sealed));
	r = r ? r : put(out, h, tag, sizeof(tag));
	/* The segments; one more read tells whether this one is the last. */
	n = r ? 0 : fread(buf, 1, FERRY_SNAPSHOT_SEGMENT, in);
	while (r == 0) {
		uint8_t next_byte;
		bool last = n < FERRY_SNAPSHOT_SEGMENT || fread(&next_byte, 1, 1, in) == 0;
		uint8_t len_be[4];

		if (ferror(in)) {
			r = ferry_err_sys(err, -EIO, "cannot read %s", plain_path);
			goto fail;
		}
		segment_params(index, last, nonce, ad);
		if (segment_key(file_key, index, seg_key) < 0 ||
		    ferry_aead(true, seg_key, nonce, ad, sizeof(ad), buf, n, ct, tag) < 0) {
			r = ferry_err_set(err, -EIO, "cannot encrypt segment %llu", (unsigned long long)index);
			goto fail;
		}
		ferry_put_u32(len_be, (uint32_t)n | (last ? LAST_BIT : 0));
		r = put(out, h, len_be, 4);
		r = r ? r : put(out, h, ct, n);
		r = r ? r : put(out, h, tag, sizeof(tag));
		if (last || ++index == FERRY_SNAPSHOT_SEGMENTS_MAX)
			break;
		buf[0] = next_byte;
		n = 1 + fread(buf + 1, 1, FERRY_SNAPSHOT_SEGMENT - 1, in);
	}
	if (r == 0 && index == FERRY_SNAPSHOT_SEGMENTS_MAX)
		r = ferry_err_set(err, -EFBIG, "%s is too large for a snapshot", plain_path);
	if (r < 0)
		goto fail;
	/* The signature: over the digest of every byte so far. */
	EVP_DigestFinal_ex(h, digest, NULL);
	if (EVP_DigestSignInit(sctx, NULL, NULL, NULL, signer) != 1 ||
	    EVP_DigestSign(sctx, sig, &siglen, digest, sizeof(digest)) != 1) {
		r = ferry_err_set(err, -EIO, "cannot sign the snapshot (is the node's key Ed25519?)");
		goto fail;
	}
	{
		uint8_t l2[2];

		ferry_put_u16(l2, (uint16_t)siglen);
		if (fwrite(l2, 1, 2, out) != 2 || fwrite(sig, 1, siglen, out) != siglen) {
			r = ferry_err_sys(err, -EIO, "cannot write %s", out_path);
			goto fail;
		}
	}
	if (fflush(out) != 0 || fsync(fileno(out)) < 0) {
		r = ferry_err_sys(err, -errno, "cannot write %s", out_path);
		goto fail;
	}
	goto out;
fail:
	if (r == -EIO && !err->msg[0])
		ferry_err_sys(err, -EIO, "cannot write %s", out_path);
	if (out) {
		fclose(out);
		out = NULL;
	}
	unlink(out_path);
out:
	if (out && fclose(out) != 0 && r == 0) {
		r = ferry_err_sys(err, -errno, "cannot write %s", out_path);
		unlink(out_path);
	}
	if (in)
		fclose(in);
	OPENSSL_cleanse(file_key, sizeof(file_key));
	OPENSSL_cleanse(seg_key, sizeof(seg_key));
	OPENSSL_cleanse(hkey, sizeof(hkey));
	if (buf)
		OPENSSL_cleanse(buf, FERRY_SNAPSHOT_SEGMENT);
	free(buf);
	free(ct);
	OPENSSL_free(der);
	EVP_MD_CTX_free(sctx);
	EVP_PKEY_free(eph);
	EVP_MD_CTX_free(h);
	ferry_buf_free(&mb);
	return r;
}

/* ---- reading ---- */

static int get(FILE *in, EVP_MD_CTX *h, void *p, size_t n)
{
	if (fread(p, 1, n, in) != n)
		return -EBADMSG;
	if (h)
		EVP_DigestUpdate(h, p, n);
	return 0;
}

static int chain_check(X509 *cert, X509 *ca)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok = store && ctx && X509_STORE_add_cert(store, ca) == 1 &&
	         X509_STORE_CTX_init(ctx, store, cert, NULL) == 1 && X509_verify_cert(ctx) == 1;

	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok ? 0 : -EPERM;
}

int ferry_snapshot_read(const char *path, X509 *ca, const char *key_path, const char *plain_out,
                        struct ferry_snapshot_info *info, struct ferry_err *err)
{
	uint8_t magic[MAGIC_LEN], l2[2], eph_pub[32], nonce[NONCE_LEN], sealed[32], tag[TAG_LEN], file_key[32],
	    seg_key[32], hkey[32];
	uint8_t *der = malloc(FERRY_SNAPSHOT_CERT_MAX), meta[FERRY_SNAPSHOT_META_MAX], digest[32], sig[SIG_MAX];
	uint8_t *ct = malloc(FERRY_SNAPSHOT_SEGMENT), *pt = malloc(FERRY_SNAPSHOT_SEGMENT);
	FILE *in = fopen(path, "rb"), *out = NULL;
	EVP_PKEY *key = NULL, *pub = NULL;
	EVP_MD_CTX *vctx = EVP_MD_CTX_new();
	const unsigned char *dp;
	X509 *cert = NULL;
	size_t der_len, meta_len, sig_len;
	bool have_key = false;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	int r = 0;

	memset(info, 0, sizeof(*info));
	if (!h || EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (!in) {
		r = ferry_err_sys(err, -errno, "cannot open %s", path);
		goto out;
	}
	if (!der || !ct || !pt || !vctx) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (key_path && !(key = load_x25519(key_path, true, err))) {
		r = -EINVAL;
		goto out;
	}
	if (get(in, h, magic, MAGIC_LEN) < 0 || memcmp(magic, MAGIC, MAGIC_LEN) != 0) {
		r = ferry_err_set(err, -EBADMSG, "%s is not a Ferry snapshot", path);
		goto out;
	}
	if (get(in, h, l2, 2) < 0 || (der_len = ferry_get_u16(&(struct ferry_reader){ l2, 2, true })) == 0 ||
	    der_len > FERRY_SNAPSHOT_CERT_MAX || get(in, h, der, der_len) < 0 || !(dp = der) ||
	    !(cert = d2i_X509(NULL, &dp, (long)der_len)) || dp != der + der_len || get(in, h, l2, 2) < 0 ||
	    (meta_len = ferry_get_u16(&(struct ferry_reader){ l2, 2, true })) > FERRY_SNAPSHOT_META_MAX ||
	    get(in, h, meta, meta_len) < 0 || meta_parse(meta, meta_len, &info->meta) < 0 ||
	    get(in, h, info->recipient, 32) < 0 || get(in, h, eph_pub, 32) < 0 || get(in, h, nonce, NONCE_LEN) < 0 ||
	    get(in, h, sealed, sizeof(sealed)) < 0 || get(in, h, tag, TAG_LEN) < 0) {
		r = ferry_err_set(err, -EBADMSG, "%s: a malformed or cut snapshot header", path);
		goto out;
	}
	ferry_cert_cn(cert, info->signer, sizeof(info->signer));
	if (key) {
		uint8_t mine[32], hdr_ad[MAGIC_LEN + 64];
		size_t ml = sizeof(mine);

		if (EVP_PKEY_get_raw_public_key(key, mine, &ml) != 1 || CRYPTO_memcmp(mine, info->recipient, 32) != 0) {
			r = ferry_err_set(err, -EACCES, "%s is encrypted to another key than %s", path, key_path);
			goto out;
		}
		memcpy(hdr_ad, MAGIC, MAGIC_LEN);
		memcpy(hdr_ad + MAGIC_LEN, info->recipient, 32);
		memcpy(hdr_ad + MAGIC_LEN + 32, eph_pub, 32);
		if (header_key(key, eph_pub, eph_pub, info->recipient, hkey) < 0 ||
		    ferry_aead(false, hkey, nonce, hdr_ad, sizeof(hdr_ad), sealed, sizeof(sealed), file_key, tag) < 0) {
			r = ferry_err_set(err, -EBADMSG, "%s: its key does not open with %s", path, key_path);
			goto out;
		}
		have_key = true;
		if (plain_out && !(out = fopen(plain_out, "wbx"))) {
			r = ferry_err_sys(err, -errno, "cannot create %s", plain_out);
			goto out;
		}
	}
	for (;;) {
		uint8_t lb[4], seg_ad[17], seg_nonce[NONCE_LEN];
		uint32_t v;
		size_t n;
		bool last;

		if (get(in, h, lb, 4) < 0) {
			r = ferry_err_set(err, -EBADMSG, "%s is cut short (no last segment)", path);
			goto out;
		}
		v = ferry_get_u32(&(struct ferry_reader){ lb, 4, true });
		last = v & LAST_BIT;
		n = v & ~LAST_BIT;
		if (n > FERRY_SNAPSHOT_SEGMENT || (!last && n != FERRY_SNAPSHOT_SEGMENT) ||
		    info->segments == FERRY_SNAPSHOT_SEGMENTS_MAX || get(in, h, ct, n) < 0 ||
		    get(in, h, tag, TAG_LEN) < 0) {
			r = ferry_err_set(err, -EBADMSG, "%s: segment %llu is malformed or cut", path,
			                  (unsigned long long)info->segments);
			goto out;
		}
		if (have_key) {
			segment_params(info->segments, last, seg_nonce, seg_ad);
			if (segment_key(file_key, info->segments, seg_key) < 0 ||
			    ferry_aead(false, seg_key, seg_nonce, seg_ad, sizeof(seg_ad), ct, n, pt, tag) < 0) {
				r = ferry_err_set(err, -EBADMSG, "%s: segment %llu fails its check (changed or moved)",
				                  path, (unsigned long long)info->segments);
				goto out;
			}
			if (out && fwrite(pt, 1, n, out) != n) {
				r = ferry_err_sys(err, -EIO, "cannot write %s", plain_out);
				goto out;
			}
			info->plain_bytes += n;
		}
		info->segments++;
		if (last)
			break;
	}
	/* The signature, over all of it: the last bytes of the file. */
	EVP_DigestFinal_ex(h, digest, NULL);
	if (get(in, NULL, l2, 2) < 0 || (sig_len = ferry_get_u16(&(struct ferry_reader){ l2, 2, true })) > SIG_MAX ||
	    get(in, NULL, sig, sig_len) < 0 || fgetc(in) != EOF) {
		r = ferry_err_set(err, -EBADMSG, "%s: its signature is missing, malformed or followed by more", path);
		goto out;
	}
	if (!(pub = X509_get_pubkey(cert)) || EVP_DigestVerifyInit(vctx, NULL, NULL, NULL, pub) != 1 ||
	    EVP_DigestVerify(vctx, sig, sig_len, digest, sizeof(digest)) != 1) {
		r = ferry_err_set(err, -EBADMSG, "%s: the signature does not match (changed after it was made)", path);
		goto out;
	}
	if (strcmp(info->signer, info->meta.node) != 0) {
		r = ferry_err_set(err, -EBADMSG, "%s: signed by '%s' but says it was taken on '%s'", path, info->signer,
		                  info->meta.node);
		goto out;
	}
	if (ca) {
		if (chain_check(cert, ca) < 0) {
			r = ferry_err_set(err, -EPERM, "%s: its signer '%s' is not certified by this cluster's CA",
			                  path, info->signer);
			goto out;
		}
		info->chain_ok = true;
	}
	info->opened = have_key;
	{
		struct stat st;

		info->file_bytes = fstat(fileno(in), &st) == 0 ? (uint64_t)st.st_size : 0;
	}
out:
	if (out) {
		if (fclose(out) != 0 && r == 0)
			r = ferry_err_sys(err, -errno, "cannot write %s", plain_out);
		if (r < 0)
			unlink(plain_out); /* nothing of a snapshot that failed a check is kept */
	}
	if (in)
		fclose(in);
	OPENSSL_cleanse(file_key, sizeof(file_key));
	OPENSSL_cleanse(seg_key, sizeof(seg_key));
	OPENSSL_cleanse(hkey, sizeof(hkey));
	if (pt)
		OPENSSL_cleanse(pt, FERRY_SNAPSHOT_SEGMENT);
	free(der);
	free(ct);
	free(pt);
	X509_free(cert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(pub);
	EVP_MD_CTX_free(vctx);
	EVP_MD_CTX_free(h);
	return r;
}
