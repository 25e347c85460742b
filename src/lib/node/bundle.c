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
	if (ticket && ((r = ferry_conn_send_frame(conn, FERRY_FRAME_TICKET, ticket, ticket_len, err)) < 0 ||
	               (r = ferry_expect_response(conn, &resp, err)) < 0))
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
