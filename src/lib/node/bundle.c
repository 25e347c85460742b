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
#include <pthread.h>
#include <zstd.h>

#include "ferry/bundle.h"
#include "ferry/clock.h"
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

/*
 * The source overlaps its work: a producer thread reads (and, with
 * FERRY_BUNDLE_ZSTD, compresses) chunks into a ring of SEND_SLOTS frames
 * while this thread encrypts and sends them.  A chunk that does not shrink
 * travels as plain DATA.
 */
#define SEND_SLOTS 4

struct out_frame {
	uint8_t type;
	size_t len;
	size_t raw_len; /* bytes of the object it carries */
	uint8_t *buf;   /* FERRY_FRAME_ZSTD_MAX bytes */
};

struct producer {
	const struct ferry_manifest *m;
	int dfd;
	unsigned flags;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct out_frame ring[SEND_SLOTS];
	unsigned head, count; /* frames ready, from head */
	bool done, stop;      /* done: no more frames; stop: the sender gave up */
	int error;
	struct ferry_err err;
	uint64_t raw_bytes;
};

static void produce_one(struct out_frame *f, uint32_t index, const uint8_t *raw, size_t n, ZSTD_CCtx *zc)
{
	f->raw_len = n;
	if (zc) {
		size_t z = ZSTD_compressCCtx(zc, f->buf + 8, FERRY_FRAME_ZSTD_MAX - 8, raw, n, 1);

		if (!ZSTD_isError(z) && z + 4 < n) {
			f->type = FERRY_FRAME_DATA_ZSTD;
			ferry_put_u32(f->buf, index);
			ferry_put_u32(f->buf + 4, (uint32_t)n);
			f->len = z + 8;
			return;
		}
	}
	f->type = FERRY_FRAME_DATA;
	ferry_put_u32(f->buf, index);
	memcpy(f->buf + 4, raw, n);
	f->len = n + 4;
}

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	ZSTD_CCtx *zc = (p->flags & FERRY_BUNDLE_ZSTD) ? ZSTD_createCCtx() : NULL;
	uint8_t *raw = malloc(FERRY_DATA_CHUNK);
	int r = raw ? 0 : ferry_err_set(&p->err, -ENOMEM, "out of memory");

	for (uint32_t i = 0; r == 0 && i < p->m->n; i++) {
		int fd = openat(p->dfd, p->m->objects[i].name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		uint64_t left = p->m->objects[i].size;

		if (fd < 0) {
			r = ferry_err_sys(&p->err, -errno, "cannot open %s", p->m->objects[i].name);
			break;
		}
		while (r == 0 && left > 0) {
			size_t want = left < FERRY_DATA_CHUNK ? (size_t)left : FERRY_DATA_CHUNK;
			ssize_t got = read(fd, raw, want);
			unsigned slot;

			if (got <= 0) {
				r = ferry_err_set(&p->err, -EIO, "%s changed while being sent", p->m->objects[i].name);
				break;
			}
			pthread_mutex_lock(&p->lock);
			while (p->count == SEND_SLOTS && !p->stop)
				pthread_cond_wait(&p->changed, &p->lock);
			slot = (p->head + p->count) % SEND_SLOTS;
			pthread_mutex_unlock(&p->lock);
			if (p->stop)
				break;
			produce_one(&p->ring[slot], i, raw, (size_t)got, zc);
			pthread_mutex_lock(&p->lock);
			p->count++;
			p->raw_bytes += (uint64_t)got;
			pthread_cond_broadcast(&p->changed);
			pthread_mutex_unlock(&p->lock);
			left -= (uint64_t)got;
		}
		close(fd);
		if (p->stop)
			break;
	}
	pthread_mutex_lock(&p->lock);
	p->done = true;
	p->error = r;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
	ZSTD_freeCCtx(zc);
	free(raw);
	return NULL;
}

#define PROGRESS_MS 200

/* Send every frame the producer makes; stops it on a send error. */
static int send_frames(struct ferry_conn *conn, struct producer *p, const struct ferry_bundle_progress *progress,
                       struct ferry_err *err)
{
	long long next_report = ferry_now_ms() + PROGRESS_MS;
	uint64_t sent = 0;
	int r = 0;

	for (;;) {
		struct out_frame *f;

		pthread_mutex_lock(&p->lock);
		while (!p->count && !p->done)
			pthread_cond_wait(&p->changed, &p->lock);
		if (!p->count) {
			r = p->error;
			if (r < 0)
				*err = p->err;
			pthread_mutex_unlock(&p->lock);
			return r;
		}
		f = &p->ring[p->head];
		pthread_mutex_unlock(&p->lock);
		/* The receiver only speaks mid-stream to refuse: stop and report its reason. */
		if (ferry_conn_readable(conn)) {
			struct ferry_buf resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);

			r = ferry_expect_response(conn, &resp, err);
			if (r == 0)
				r = ferry_err_set(err, -EPROTO, "the receiver answered before the end of the stream");
			ferry_buf_free(&resp);
		} else {
			r = ferry_conn_send_frame(conn, f->type, f->buf, f->len, err);
			sent += f->raw_len;
			if (progress && progress->fn && ferry_now_ms() >= next_report) {
				progress->fn(progress->arg, sent, p->m->total);
				next_report = ferry_now_ms() + PROGRESS_MS;
			}
		}
		pthread_mutex_lock(&p->lock);
		p->head = (p->head + 1) % SEND_SLOTS;
		p->count--;
		if (r < 0)
			p->stop = true;
		pthread_cond_broadcast(&p->changed);
		pthread_mutex_unlock(&p->lock);
		if (r < 0)
			return r;
	}
}

int ferry_bundle_send(struct ferry_conn *conn, const uint8_t *ticket, size_t ticket_len, const struct ferry_manifest *m,
                      const char *dir, unsigned flags, const struct ferry_bundle_progress *progress,
                      uint64_t *ret_bytes, struct ferry_err *err)
{
	struct ferry_buf enc = FERRY_BUF_INIT(MANIFEST_ENC_MAX), resp = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX);
	struct producer p = { .m = m, .flags = flags, .dfd = -1 };
	uint8_t end[36], hash[32];
	bool started = false;
	int r;

	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.changed, NULL);
	for (unsigned i = 0; i < SEND_SLOTS; i++)
		if (!(p.ring[i].buf = malloc(FERRY_FRAME_ZSTD_MAX))) {
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
	p.dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p.dfd < 0) {
		r = ferry_err_sys(err, -errno, "cannot open %s", dir);
		goto out;
	}
	if (pthread_create(&p.thread, NULL, producer_main, &p) != 0) {
		r = ferry_err_set(err, -EAGAIN, "cannot start the sender's reader");
		goto out;
	}
	started = true;
	r = send_frames(conn, &p, progress, err);
	pthread_join(p.thread, NULL);
	started = false;
	if (r < 0)
		goto out;
	ferry_sha256(enc.data, enc.len, hash);
	ferry_put_u32(end, m->n);
	memcpy(end + 4, hash, 32);
	if ((r = ferry_conn_send_frame(conn, FERRY_FRAME_END, end, sizeof(end), err)) < 0 ||
	    (r = ferry_expect_response(conn, &resp, err)) < 0)
		goto out;
	if (ret_bytes)
		*ret_bytes = p.raw_bytes;
out:
	if (started)
		pthread_join(p.thread, NULL);
	if (p.dfd >= 0)
		close(p.dfd);
	for (unsigned i = 0; i < SEND_SLOTS; i++)
		free(p.ring[i].buf);
	pthread_mutex_destroy(&p.lock);
	pthread_cond_destroy(&p.changed);
	ferry_buf_free(&enc);
	ferry_buf_free(&resp);
	return r;
}

void ferry_send_progress(struct ferry_conn *conn, const char *phase, uint64_t done, uint64_t total)
{
	struct ferry_buf b = FERRY_BUF_INIT(256);
	int r = ferry_tlv_add_u32(&b, FERRY_TAG_STATUS, 0);

	r = r ? r : ferry_tlv_add_str(&b, FERRY_TAG_PHASE, phase);
	r = r ? r : ferry_tlv_add_u64(&b, FERRY_TAG_SIZE, done);
	r = r ? r : ferry_tlv_add_u64(&b, FERRY_TAG_DISK, total);
	if (r == 0)
		ferry_conn_send_frame(conn, FERRY_FRAME_RESPONSE, b.data, b.len, NULL);
	ferry_buf_free(&b);
}
