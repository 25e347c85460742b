/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ferry/bundle.h"
#include "ferry/fs.h"
#include "ferry/wire.h"

#define MANIFEST_ENC_MAX FERRY_FRAME_CONTROL_MAX

/* ---- manifest of a directory ---- */

static int hash_file(int fd, uint64_t *size, uint8_t out[32], struct ferry_err *err, const char *name)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *chunk = malloc(256 * 1024);
	unsigned int n = 32;
	ssize_t got;
	int r = 0;

	*size = 0;
	if (!ctx || !chunk || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		free(chunk);
		return ferry_err_set(err, -ENOMEM, "cannot hash %s", name);
	}
	while ((got = read(fd, chunk, 256 * 1024)) > 0) {
		EVP_DigestUpdate(ctx, chunk, (size_t)got);
		*size += (uint64_t)got;
	}
	if (got < 0)
		r = ferry_err_sys(err, -errno, "cannot read %s", name);
	else
		EVP_DigestFinal_ex(ctx, out, &n);
	EVP_MD_CTX_free(ctx);
	free(chunk);
	return r;
}

static int walk(int dfd, const char *prefix, struct ferry_manifest *m, unsigned *cap, struct ferry_err *err)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int r = 0;

	if (!d) {
		close(dfd);
		return ferry_err_sys(err, -errno, "cannot list %s", prefix[0] ? prefix : ".");
	}
	while (r == 0 && (de = readdir(d))) {
		char name[FERRY_OBJECT_NAME_MAX + 2];
		struct stat st;
		int fd;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(name, sizeof(name), "%s%s%s", prefix, prefix[0] ? "/" : "", de->d_name) >
		    FERRY_OBJECT_NAME_MAX) {
			r = ferry_err_set(err, -ENAMETOOLONG, "object path %.64s... is too long", name);
			break;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = ferry_err_sys(err, -errno, "cannot stat %s", name);
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			r = fd < 0 ? ferry_err_sys(err, -errno, "cannot open %s", name) : walk(fd, name, m, cap, err);
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue; /* only regular files travel */
		if ((r = ferry_object_name_check(name, err)) < 0)
			break;
		if (m->n == FERRY_MANIFEST_MAX_OBJECTS) {
			r = ferry_err_set(err, -E2BIG, "more than %d objects", FERRY_MANIFEST_MAX_OBJECTS);
			break;
		}
		if (m->n == *cap) {
			unsigned ncap = *cap ? *cap * 2 : 16;
			void *p = realloc(m->objects, ncap * sizeof(*m->objects));

			if (!p) {
				r = ferry_err_set(err, -ENOMEM, "out of memory");
				break;
			}
			m->objects = p;
			*cap = ncap;
		}
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			r = ferry_err_sys(err, -errno, "cannot open %s", name);
			break;
		}
		struct ferry_manifest_object *o = &m->objects[m->n];
		memset(o, 0, sizeof(*o));
		snprintf(o->name, sizeof(o->name), "%s", name);
		r = hash_file(fd, &o->size, o->sha256, err, name);
		close(fd);
		if (r == 0) {
			m->total += o->size;
			m->n++;
		}
	}
	closedir(d);
	return r;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct ferry_manifest_object *)a)->name, ((const struct ferry_manifest_object *)b)->name);
}

int ferry_manifest_from_dir(const char *dir, struct ferry_manifest *ret, struct ferry_err *err)
{
	struct ferry_manifest m = { 0 };
	unsigned cap = 0;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (fd < 0)
		return ferry_err_sys(err, -errno, "cannot open %s", dir);
	r = walk(fd, "", &m, &cap, err);
	if (r < 0) {
		free(m.objects);
		return r;
	}
	if (m.n > 1)
		qsort(m.objects, m.n, sizeof(*m.objects), by_name); /* one order: one manifest hash */
	*ret = m;
	return 0;
}

/* ---- frames helpers ---- */

int ferry_expect_response(struct ferry_conn *conn, struct ferry_buf *payload, struct ferry_err *err)
{
	struct ferry_frame_header h;
	struct ferry_tlv_list *l;
	char msg[512] = "";
	uint8_t st[4] = { 0 };
	int r = ferry_conn_recv_frame(conn, &h, payload, err);

	if (r < 0)
		return r;
	if (h.type == FERRY_FRAME_RESPONSE)
		return 0;
	if (h.type != FERRY_FRAME_ERROR)
		return ferry_err_set(err, -EPROTO, "expected a response, got a %s frame",
		                     ferry_frame_type_name(h.type));
	l = malloc(sizeof(*l));
	if (l && ferry_tlv_parse((const uint8_t *)payload->data, payload->len, l, NULL) == 0) {
		ferry_tlv_get_str(l, FERRY_TAG_MESSAGE, msg, sizeof(msg), NULL);
		ferry_tlv_get_fixed(l, FERRY_TAG_STATUS, st, 4, NULL);
	}
	free(l);
	r = (int)((uint32_t)st[0] << 24 | (uint32_t)st[1] << 16 | (uint32_t)st[2] << 8 | st[3]);
	if (r <= 0 || r > 4095)
		r = EPROTO;
	return ferry_err_set(err, -r, "peer refused: %s", msg[0] ? msg : "no reason given");
}

static int send_ok(struct ferry_conn *conn, uint64_t bytes, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(64);
	int r = ferry_tlv_add_u32(&b, FERRY_TAG_STATUS, 0);

	if (r == 0 && bytes)
		r = ferry_tlv_add_u64(&b, FERRY_TAG_DISK, bytes);
	if (r == 0)
		r = ferry_conn_send_frame(conn, FERRY_FRAME_RESPONSE, b.data, b.len, err);
	ferry_buf_free(&b);
	return r;
}

/* ---- destination ---- */

struct receiving {
	struct ferry_manifest m;
	char staging[512];
	int staging_fd;
	uint32_t current; /* object being written */
	uint64_t written; /* bytes of it so far */
	int fd;           /* its file */
	EVP_MD_CTX *md;
	uint64_t bytes;
};

static int open_object(struct receiving *rx, struct ferry_err *err)
{
	const struct ferry_manifest_object *o = &rx->m.objects[rx->current];
	char dir[FERRY_OBJECT_NAME_MAX + 1], *slash;

	/* Parent directories inside staging; names were checked against traversal by the parser. */
	snprintf(dir, sizeof(dir), "%s", o->name);
	for (char *p = dir; (slash = strchr(p, '/')); p = slash + 1) {
		*slash = '\0';
		if (mkdirat(rx->staging_fd, dir, 0700) < 0 && errno != EEXIST)
			return ferry_err_sys(err, -errno, "cannot create %s in staging", dir);
		*slash = '/';
	}
	rx->fd = openat(rx->staging_fd, o->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (rx->fd < 0)
		return ferry_err_sys(err, -errno, "cannot create %s in staging", o->name);
	rx->written = 0;
	if (EVP_DigestInit_ex(rx->md, EVP_sha256(), NULL) != 1)
		return ferry_err_set(err, -ENOMEM, "cannot hash");
	return 0;
}

static int finish_object(struct receiving *rx, struct ferry_err *err)
{
	const struct ferry_manifest_object *o = &rx->m.objects[rx->current];
	uint8_t digest[32];
	unsigned int n = 32;

	EVP_DigestFinal_ex(rx->md, digest, &n);
	close(rx->fd);
	rx->fd = -1;
	if (CRYPTO_memcmp(digest, o->sha256, 32) != 0)
		return ferry_err_set(err, -EBADMSG, "object '%s' does not match its SHA-256 in the manifest", o->name);
	rx->current++;
	return 0;
}

/* Move past empty objects (their hash is checked like any other). */
static int skip_empty(struct receiving *rx, struct ferry_err *err)
{
	int r;

	while (rx->current < rx->m.n && rx->m.objects[rx->current].size == 0) {
		if ((r = open_object(rx, err)) < 0 || (r = finish_object(rx, err)) < 0)
			return r;
	}
	if (rx->current < rx->m.n)
		return open_object(rx, err);
	return 0;
}

static int on_data(struct receiving *rx, const uint8_t *p, size_t len, struct ferry_err *err)
{
	struct ferry_reader r;
	uint32_t index;
	const struct ferry_manifest_object *o;
	size_t n;

	ferry_reader_init(&r, p, len);
	index = ferry_get_u32(&r);
	if (!r.ok || r.left == 0)
		return ferry_err_set(err, -EPROTO, "DATA frame without payload");
	if (rx->current >= rx->m.n || index != rx->current)
		return ferry_err_set(err, -EPROTO, "DATA for object %u, expected %u", index, rx->current);
	o = &rx->m.objects[rx->current];
	n = r.left;
	if (n > o->size - rx->written)
		return ferry_err_set(err, -EPROTO, "object '%s' is longer than its %llu bytes", o->name,
		                     (unsigned long long)o->size);
	EVP_DigestUpdate(rx->md, r.p, n);
	for (size_t off = 0; off < n;) {
		ssize_t w = write(rx->fd, r.p + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return ferry_err_sys(err, w < 0 ? -errno : -ENOSPC, "cannot write %s", o->name);
		off += (size_t)w;
	}
	rx->written += n;
	rx->bytes += n;
	if (rx->written == o->size) {
		int rc = finish_object(rx, err);

		return rc < 0 ? rc : skip_empty(rx, err);
	}
	return 0;
}

static void id_hex16(const uint8_t id[16], char out[33])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[id[i] >> 4];
		out[2 * i + 1] = hex[id[i] & 0xf];
	}
	out[32] = '\0';
}

int ferry_bundle_receive(struct ferry_conn *conn, const char *incoming_dir, const char *done_dir,
                         ferry_bundle_admit_fn admit, void *arg, struct ferry_bundle_result *ret, struct ferry_err *err)
{
	struct receiving rx = { .staging_fd = -1, .fd = -1 };
	struct ferry_buf payload = FERRY_BUF_INIT(FERRY_FRAME_DATA_MAX);
	struct ferry_frame_header h;
	struct ferry_ticket t;
	char idhex[33], done[512];
	uint8_t hash[32];
	int r;

	memset(ret, 0, sizeof(*ret));
	rx.md = EVP_MD_CTX_new();
	if (!rx.md) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	/* 1. The ticket, checked by the node's policy before anything else is read. */
	if ((r = ferry_conn_recv_frame(conn, &h, &payload, err)) < 0)
		goto fail;
	if (h.type != FERRY_FRAME_TICKET) {
		r = ferry_err_set(err, -EPROTO, "first frame must be a TICKET, got %s", ferry_frame_type_name(h.type));
		goto refuse;
	}
	if ((r = admit(conn, (const uint8_t *)payload.data, payload.len, &t, arg, err)) < 0)
		goto refuse;
	if ((r = send_ok(conn, 0, err)) < 0)
		goto fail;
	/* 2. The manifest: exactly what the controller signed. */
	if ((r = ferry_conn_recv_frame(conn, &h, &payload, err)) < 0)
		goto fail;
	if (h.type != FERRY_FRAME_MANIFEST) {
		r = ferry_err_set(err, -EPROTO, "expected MANIFEST, got %s", ferry_frame_type_name(h.type));
		goto refuse;
	}
	ferry_sha256(payload.data, payload.len, hash);
	if (CRYPTO_memcmp(hash, t.manifest_hash, 32) != 0) {
		r = ferry_err_set(err, -EBADMSG, "manifest does not match the ticket's manifest hash");
		goto refuse;
	}
	if ((r = ferry_manifest_parse((const uint8_t *)payload.data, payload.len, &rx.m, err)) < 0)
		goto refuse;
	if (rx.m.total > t.reserve_disk) {
		r = ferry_err_set(err, -EFBIG, "manifest holds %llu bytes, the ticket reserves %llu",
		                  (unsigned long long)rx.m.total, (unsigned long long)t.reserve_disk);
		goto refuse;
	}
	/* 3. Staging, private to this ticket. */
	id_hex16(t.id, idhex);
	snprintf(rx.staging, sizeof(rx.staging), "%s/%s", incoming_dir, idhex);
	if ((r = ferry_mkdir_p(incoming_dir, 0700, err)) < 0)
		goto fail;
	if (mkdir(rx.staging, 0700) < 0) {
		r = ferry_err_sys(err, -errno, "cannot create staging %s", rx.staging);
		rx.staging[0] = '\0'; /* not ours to remove */
		goto refuse;
	}
	rx.staging_fd = open(rx.staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rx.staging_fd < 0) {
		r = ferry_err_sys(err, -errno, "cannot open %s", rx.staging);
		goto fail;
	}
	if ((r = skip_empty(&rx, err)) < 0)
		goto refuse;
	/* 4. DATA until END. */
	for (;;) {
		if ((r = ferry_conn_recv_frame(conn, &h, &payload, err)) < 0)
			goto fail; /* EOF or reset without END is a failure */
		if (h.type == FERRY_FRAME_END)
			break;
		if (h.type != FERRY_FRAME_DATA) {
			r = ferry_err_set(err, -EPROTO, "unexpected %s frame in a stream",
			                  ferry_frame_type_name(h.type));
			goto refuse;
		}
		if ((r = on_data(&rx, (const uint8_t *)payload.data, payload.len, err)) < 0)
			goto refuse;
	}
	/* 5. END: all objects complete, and it names the same manifest. */
	{
		struct ferry_reader rd;
		uint32_t count;
		uint8_t end_hash[32];

		ferry_reader_init(&rd, payload.data, payload.len);
		count = ferry_get_u32(&rd);
		ferry_get_bytes(&rd, end_hash, 32);
		if (!rd.ok || rd.left != 0 || count != rx.m.n || CRYPTO_memcmp(end_hash, hash, 32) != 0) {
			r = ferry_err_set(err, -EBADMSG, "END frame does not close this manifest");
			goto refuse;
		}
		if (rx.current != rx.m.n) {
			r = ferry_err_set(err, -EBADMSG, "stream ended with object %u of %u incomplete", rx.current,
			                  rx.m.n);
			goto refuse;
		}
	}
	/* 6. Verified: now, and only now, it becomes visible. */
	if ((r = ferry_mkdir_p(done_dir, 0700, err)) < 0)
		goto fail;
	snprintf(done, sizeof(done), "%s/%s", done_dir, idhex);
	if (fsync(rx.staging_fd) < 0 || rename(rx.staging, done) < 0) {
		r = ferry_err_sys(err, -errno, "cannot commit %s", done);
		goto fail;
	}
	rx.staging[0] = '\0';
	ret->ticket = t;
	ret->bytes = rx.bytes;
	ret->objects = rx.m.n;
	snprintf(ret->path, sizeof(ret->path), "%s", done);
	r = send_ok(conn, rx.bytes, err);
	goto out;
refuse:
	/* Tell the peer why (best effort) before dropping everything. */
	ferry_conn_send_error(conn, r, err ? err->msg : "refused", NULL);
fail:
out:
	if (rx.fd >= 0)
		close(rx.fd);
	if (rx.staging_fd >= 0)
		close(rx.staging_fd);
	if (rx.staging[0])
		ferry_rm_tree(rx.staging, NULL);
	EVP_MD_CTX_free(rx.md);
	ferry_manifest_free(&rx.m);
	ferry_buf_free(&payload);
	return r;
}

/* ---- source ---- */

int ferry_bundle_send(struct ferry_conn *conn, const uint8_t *ticket, size_t ticket_len, const struct ferry_manifest *m,
                      const char *dir, uint64_t *ret_bytes, struct ferry_err *err)
{
	struct ferry_buf enc = FERRY_BUF_INIT(MANIFEST_ENC_MAX), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	uint8_t *frame = malloc(FERRY_FRAME_DATA_MAX), end[36], hash[32];
	uint64_t bytes = 0;
	int dfd = -1, r;

	if (!frame) {
		r = ferry_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((r = ferry_conn_send_frame(conn, FERRY_FRAME_TICKET, ticket, ticket_len, err)) < 0 ||
	    (r = ferry_expect_response(conn, &resp, err)) < 0)
		goto out;
	if (ferry_manifest_encode(m, &enc) < 0) {
		r = ferry_err_set(err, -E2BIG, "manifest does not fit in one frame");
		goto out;
	}
	if ((r = ferry_conn_send_frame(conn, FERRY_FRAME_MANIFEST, enc.data, enc.len, err)) < 0)
		goto out;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = ferry_err_sys(err, -errno, "cannot open %s", dir);
		goto out;
	}
	for (uint32_t i = 0; i < m->n; i++) {
		int fd = openat(dfd, m->objects[i].name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		uint64_t left = m->objects[i].size;

		if (fd < 0) {
			r = ferry_err_sys(err, -errno, "cannot open %s", m->objects[i].name);
			goto out;
		}
		ferry_put_u32(frame, i);
		while (left > 0) {
			size_t want = left < FERRY_DATA_CHUNK ? (size_t)left : FERRY_DATA_CHUNK;
			ssize_t got = read(fd, frame + 4, want);

			if (got <= 0) {
				r = ferry_err_set(err, -EIO, "%s changed while being sent", m->objects[i].name);
				close(fd);
				goto out;
			}
			if ((r = ferry_conn_send_frame(conn, FERRY_FRAME_DATA, frame, (size_t)got + 4, err)) < 0) {
				close(fd);
				goto out;
			}
			left -= (uint64_t)got;
			bytes += (uint64_t)got;
		}
		close(fd);
	}
	ferry_sha256(enc.data, enc.len, hash);
	ferry_put_u32(end, m->n);
	memcpy(end + 4, hash, 32);
	if ((r = ferry_conn_send_frame(conn, FERRY_FRAME_END, end, sizeof(end), err)) < 0 ||
	    (r = ferry_expect_response(conn, &resp, err)) < 0)
		goto out;
	if (ret_bytes)
		*ret_bytes = bytes;
out:
	if (dfd >= 0)
		close(dfd);
	free(frame);
	ferry_buf_free(&enc);
	ferry_buf_free(&resp);
	return r;
}
