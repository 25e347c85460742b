/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The destination side of a bundle.  Two threads overlap the work: this one
 * decrypts frames and checks their framing (object index, sizes); a writer
 * thread hashes and writes them into staging.  They share a fixed pool of
 * WRITE_SLOTS frame buffers, so memory stays bounded and a slow disk (or
 * page allocation) never stops the socket from draining.  Nothing becomes
 * visible before the END frame and every hash check passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "ferry/bundle.h"
#include "ferry/fs.h"
#include "ferry/hex.h"
#include "ferry/wire.h"

#define WRITE_SLOTS 8
#define LINGER_MS   2000

struct slot {
	struct ferry_buf buf;
	size_t len; /* bytes of the object this frame carries (after decompression) */
	bool zstd;  /* DATA_ZSTD: buf holds index, raw length, then a zstd frame */
};

struct writer {
	const struct ferry_manifest *m;
	int staging_fd;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct slot slots[WRITE_SLOTS];
	unsigned queue[WRITE_SLOTS], head, queued; /* slots waiting to be written, in order */
	unsigned free_list[WRITE_SLOTS], n_free;
	bool closing; /* no more data: finish and exit */
	int error;
	struct ferry_err err;
	/* Writer-side state: the object being written. */
	uint32_t current;
	uint64_t written;
	int fd;
	EVP_MD_CTX *md;
	ZSTD_DCtx *zd;
	uint8_t *raw; /* FERRY_DATA_CHUNK bytes: a decompressed chunk */
};

static int open_object(struct writer *w)
{
	const struct ferry_manifest_object *o = &w->m->objects[w->current];
	char dir[FERRY_OBJECT_NAME_MAX + 1], *slash;

	/* Parent directories inside staging; names were checked against traversal by the parser. */
	snprintf(dir, sizeof(dir), "%s", o->name);
	for (char *p = dir; (slash = strchr(p, '/')); p = slash + 1) {
		*slash = '\0';
		if (mkdirat(w->staging_fd, dir, 0700) < 0 && errno != EEXIST)
			return ferry_err_sys(&w->err, -errno, "cannot create %s in staging", dir);
		*slash = '/';
	}
	w->fd = openat(w->staging_fd, o->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (w->fd < 0)
		return ferry_err_sys(&w->err, -errno, "cannot create %s in staging", o->name);
	w->written = 0;
	if (EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1)
		return ferry_err_set(&w->err, -ENOMEM, "cannot hash");
	return 0;
}

static int finish_object(struct writer *w)
{
	const struct ferry_manifest_object *o = &w->m->objects[w->current];
	uint8_t digest[32];
	unsigned int n = 32;

	EVP_DigestFinal_ex(w->md, digest, &n);
	close(w->fd);
	w->fd = -1;
	if (CRYPTO_memcmp(digest, o->sha256, 32) != 0)
		return ferry_err_set(&w->err, -EBADMSG, "object '%s' does not match its SHA-256 in the manifest",
		                     o->name);
	w->current++;
	return 0;
}

/* Open the next object with data, finishing empty ones on the way (their hash is checked too). */
static int next_object(struct writer *w)
{
	int r;

	while (w->current < w->m->n && w->m->objects[w->current].size == 0)
		if ((r = open_object(w)) < 0 || (r = finish_object(w)) < 0)
			return r;
	return w->current < w->m->n ? open_object(w) : 0;
}

static int write_chunk(struct writer *w, const uint8_t *p, size_t n)
{
	const struct ferry_manifest_object *o = &w->m->objects[w->current];

	int k;

	EVP_DigestUpdate(w->md, p, n);
	if ((k = ferry_write_full(w->fd, p, n)) < 0)
		return ferry_err_sys(&w->err, k, "cannot write %s", o->name);
	w->written += n;
	if (w->written == o->size) {
		int r = finish_object(w);

		return r < 0 ? r : next_object(w);
	}
	return 0;
}

/*
 * Decompress into a fixed chunk-sized buffer: zstd refuses to write past
 * it, so a "bomb" cannot grow memory, and the result must be exactly the
 * length the frame declared (which the receiving thread already counted).
 */
static int write_compressed(struct writer *w, const struct slot *s)
{
	const uint8_t *p = (const uint8_t *)s->buf.data + 8;
	size_t n = s->buf.len - 8, got;

	got = ZSTD_decompressDCtx(w->zd, w->raw, FERRY_DATA_CHUNK, p, n);
	if (ZSTD_isError(got) || got != s->len)
		return ferry_err_set(&w->err, -EBADMSG, "a compressed chunk of '%s' is damaged",
		                     w->m->objects[w->current].name);
	return write_chunk(w, w->raw, got);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	int r = next_object(w);

	pthread_mutex_lock(&w->lock);
	if (r < 0)
		w->error = r;
	for (;;) {
		unsigned s;

		while (!w->queued && !w->closing && !w->error)
			pthread_cond_wait(&w->changed, &w->lock);
		if (w->error || (!w->queued && w->closing))
			break;
		s = w->queue[w->head];
		pthread_mutex_unlock(&w->lock);
		/* The receiving thread checked index and bounds; here only the bytes matter. */
		if (w->slots[s].zstd)
			r = write_compressed(w, &w->slots[s]);
		else
			r = write_chunk(w, (const uint8_t *)w->slots[s].buf.data + 4, w->slots[s].len);
		pthread_mutex_lock(&w->lock);
		w->head = (w->head + 1) % WRITE_SLOTS;
		w->queued--;
		w->free_list[w->n_free++] = s;
		if (r < 0)
			w->error = r;
		pthread_cond_broadcast(&w->changed);
	}
	pthread_cond_broadcast(&w->changed);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* A free buffer for the next frame; -1 when the writer failed. */
static int writer_slot(struct writer *w)
{
	int s = -1;

	pthread_mutex_lock(&w->lock);
	while (!w->n_free && !w->error)
		pthread_cond_wait(&w->changed, &w->lock);
	if (!w->error)
		s = (int)w->free_list[--w->n_free];
	pthread_mutex_unlock(&w->lock);
	return s;
}

static void writer_give_back(struct writer *w, int s)
{
	pthread_mutex_lock(&w->lock);
	w->free_list[w->n_free++] = (unsigned)s;
	pthread_mutex_unlock(&w->lock);
}

static void writer_push(struct writer *w, int s, size_t len)
{
	pthread_mutex_lock(&w->lock);
	w->slots[s].len = len;
	w->queue[(w->head + w->queued) % WRITE_SLOTS] = (unsigned)s;
	w->queued++;
	pthread_cond_broadcast(&w->changed);
	pthread_mutex_unlock(&w->lock);
}

/* Close the queue and wait for the writer; returns its result (err filled on failure). */
static int writer_finish(struct writer *w, struct ferry_err *err)
{
	int r;

	pthread_mutex_lock(&w->lock);
	w->closing = true;
	pthread_cond_broadcast(&w->changed);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	r = w->error;
	if (r < 0 && err)
		*err = w->err;
	return r;
}

static int writer_start(struct writer *w, const struct ferry_manifest *m, int staging_fd, struct ferry_err *err)
{
	memset(w, 0, sizeof(*w));
	w->m = m;
	w->staging_fd = staging_fd;
	w->fd = -1;
	w->md = EVP_MD_CTX_new();
	w->zd = ZSTD_createDCtx();
	w->raw = malloc(FERRY_DATA_CHUNK);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->changed, NULL);
	for (unsigned i = 0; i < WRITE_SLOTS; i++) {
		w->slots[i].buf.max = FERRY_FRAME_ZSTD_MAX;
		w->free_list[w->n_free++] = i;
	}
	if (!w->md || !w->zd || !w->raw || pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		EVP_MD_CTX_free(w->md);
		w->md = NULL;
		ZSTD_freeDCtx(w->zd);
		w->zd = NULL;
		free(w->raw);
		w->raw = NULL;
		return ferry_err_set(err, -ENOMEM, "cannot start the writer");
	}
	return 0;
}

static void writer_free(struct writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	for (unsigned i = 0; i < WRITE_SLOTS; i++)
		ferry_buf_free(&w->slots[i].buf);
	EVP_MD_CTX_free(w->md);
	ZSTD_freeDCtx(w->zd);
	free(w->raw);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->changed);
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

/*
 * Framing of one DATA or DATA_ZSTD frame against the manifest; advances the
 * receiver's own counters and returns the object bytes it carries in *ret_n.
 */
static int check_data(const struct ferry_manifest *m, uint32_t *current, uint64_t *written, const uint8_t *p,
                      size_t len, bool zstd, size_t *ret_n, struct ferry_err *err)
{
	struct ferry_reader r;
	uint32_t index;
	size_t n;

	while (*current < m->n && m->objects[*current].size == 0)
		(*current)++;
	ferry_reader_init(&r, p, len);
	index = ferry_get_u32(&r);
	n = zstd ? ferry_get_u32(&r) : r.left;
	if (!r.ok || r.left == 0 || n == 0 || n > FERRY_DATA_CHUNK)
		return ferry_err_set(err, -EPROTO, "DATA frame without payload or with a bad length");
	if (*current >= m->n || index != *current)
		return ferry_err_set(err, -EPROTO, "DATA for object %u, expected %u", index, *current);
	if (n > m->objects[*current].size - *written)
		return ferry_err_set(err, -EPROTO, "object '%s' is longer than its %llu bytes",
		                     m->objects[*current].name, (unsigned long long)m->objects[*current].size);
	*ret_n = n;
	*written += n;
	if (*written == m->objects[*current].size) {
		(*current)++;
		*written = 0;
		while (*current < m->n && m->objects[*current].size == 0)
			(*current)++;
	}
	return 0;
}

/*
 * admit == NULL: an unticketed stream (layers from the controller, images
 * from an admin) on a channel whose peer is already authorized for it; the
 * manifest is then bounded by max_total instead of a ticket.
 */
static int receive(struct ferry_conn *conn, const char *incoming_dir, const char *done_dir, ferry_bundle_admit_fn admit,
                   void *arg, uint64_t max_total, struct ferry_bundle_result *ret, struct ferry_err *err)
{
	struct ferry_buf payload = FERRY_BUF_INIT(FERRY_FRAME_DATA_MAX);
	struct ferry_manifest m = { 0 };
	struct ferry_frame_header h;
	struct ferry_ticket t;
	struct writer w;
	bool writing = false, writer_made = false;
	char idhex[33], staging[512] = "", done[512];
	uint8_t hash[32];
	uint32_t current = 0;
	uint64_t written = 0, bytes = 0;
	size_t n = 0;
	int staging_fd = -1, r;

	memset(ret, 0, sizeof(*ret));
	memset(&t, 0, sizeof(t));
	if (!admit) {
		if (ferry_random(t.id, sizeof(t.id)) < 0) {
			r = ferry_err_set(err, -EIO, "no randomness for a staging name");
			goto fail;
		}
		t.reserve_disk = max_total;
		goto manifest;
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
manifest:
	/* 2. The manifest: exactly what the controller signed. */
	if ((r = ferry_conn_recv_frame(conn, &h, &payload, err)) < 0)
		goto fail;
	if (h.type != FERRY_FRAME_MANIFEST) {
		r = ferry_err_set(err, -EPROTO, "expected MANIFEST, got %s", ferry_frame_type_name(h.type));
		goto refuse;
	}
	ferry_sha256(payload.data, payload.len, hash);
	if (admit && CRYPTO_memcmp(hash, t.manifest_hash, 32) != 0) {
		r = ferry_err_set(err, -EBADMSG, "manifest does not match the ticket's manifest hash");
		goto refuse;
	}
	if ((r = ferry_manifest_parse((const uint8_t *)payload.data, payload.len, &m, err)) < 0)
		goto refuse;
	if (m.total > t.reserve_disk) {
		r = ferry_err_set(err, -EFBIG, "manifest holds %llu bytes, at most %llu are allowed",
		                  (unsigned long long)m.total, (unsigned long long)t.reserve_disk);
		goto refuse;
	}
	/* 3. Staging, private to this ticket. */
	ferry_hex_encode(t.id, FERRY_TICKET_ID_LEN, idhex);
	if ((r = ferry_mkdir_p(incoming_dir, 0700, err)) < 0)
		goto fail;
	snprintf(staging, sizeof(staging), "%s/%s", incoming_dir, idhex);
	if (mkdir(staging, 0700) < 0) {
		r = ferry_err_sys(err, -errno, "cannot create staging %s", staging);
		staging[0] = '\0'; /* not ours to remove */
		goto refuse;
	}
	staging_fd = open(staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (staging_fd < 0) {
		r = ferry_err_sys(err, -errno, "cannot open %s", staging);
		goto fail;
	}
	if ((r = writer_start(&w, &m, staging_fd, err)) < 0)
		goto fail;
	writing = writer_made = true;
	/* 4. DATA until END; frames land in the writer's buffers. */
	for (;;) {
		int s = writer_slot(&w);

		if (s < 0) {
			r = writer_finish(&w, err);
			writing = false;
			goto refuse;
		}
		if ((r = ferry_conn_recv_frame(conn, &h, &w.slots[s].buf, err)) < 0) {
			writer_give_back(&w, s);
			goto fail; /* EOF or reset without END is a failure */
		}
		if (h.type == FERRY_FRAME_END) {
			ferry_buf_reset(&payload);
			ferry_buf_append(&payload, w.slots[s].buf.data, w.slots[s].buf.len);
			writer_give_back(&w, s);
			break;
		}
		if (h.type != FERRY_FRAME_DATA && h.type != FERRY_FRAME_DATA_ZSTD) {
			writer_give_back(&w, s);
			r = ferry_err_set(err, -EPROTO, "unexpected %s frame in a stream",
			                  ferry_frame_type_name(h.type));
			goto refuse;
		}
		w.slots[s].zstd = h.type == FERRY_FRAME_DATA_ZSTD;
		if ((r = check_data(&m, &current, &written, (const uint8_t *)w.slots[s].buf.data, w.slots[s].buf.len,
		                    w.slots[s].zstd, &n, err)) < 0) {
			writer_give_back(&w, s);
			goto refuse;
		}
		bytes += n;
		writer_push(&w, s, n);
	}
	/* 5. END: all objects complete, and it names the same manifest. */
	{
		struct ferry_reader rd;
		uint32_t count;
		uint8_t end_hash[32];

		ferry_reader_init(&rd, payload.data, payload.len);
		count = ferry_get_u32(&rd);
		ferry_get_bytes(&rd, end_hash, 32);
		while (current < m.n && m.objects[current].size == 0)
			current++;
		if (!rd.ok || rd.left != 0 || count != m.n || CRYPTO_memcmp(end_hash, hash, 32) != 0) {
			r = ferry_err_set(err, -EBADMSG, "END frame does not close this manifest");
			goto refuse;
		}
		if (current != m.n) {
			r = ferry_err_set(err, -EBADMSG, "stream ended with object %u of %u incomplete", current, m.n);
			goto refuse;
		}
	}
	writing = false;
	if ((r = writer_finish(&w, err)) < 0)
		goto refuse;
	/* 6. Verified: now, and only now, it becomes visible. */
	if ((r = ferry_mkdir_p(done_dir, 0700, err)) < 0)
		goto fail;
	snprintf(done, sizeof(done), "%s/%s", done_dir, idhex);
	if (fsync(staging_fd) < 0 || rename(staging, done) < 0) {
		r = ferry_err_sys(err, -errno, "cannot commit %s", done);
		goto fail;
	}
	staging[0] = '\0';
	ret->ticket = t;
	ret->bytes = bytes;
	ret->objects = m.n;
	snprintf(ret->path, sizeof(ret->path), "%s", done);
	r = send_ok(conn, bytes, err);
	goto out;
refuse:
	/* Tell the peer why (best effort) before dropping everything. */
	if (ferry_conn_send_error(conn, r, err ? err->msg : "refused", NULL) == 0)
		ferry_conn_linger(conn, LINGER_MS);
fail:
out:
	if (writing)
		writer_finish(&w, NULL);
	if (writer_made)
		writer_free(&w);
	if (staging_fd >= 0)
		close(staging_fd);
	if (staging[0])
		ferry_rm_tree(staging, NULL);
	ferry_manifest_free(&m);
	ferry_buf_free(&payload);
	return r;
}

int ferry_bundle_receive(struct ferry_conn *conn, const char *incoming_dir, const char *done_dir,
                         ferry_bundle_admit_fn admit, void *arg, struct ferry_bundle_result *ret, struct ferry_err *err)
{
	return receive(conn, incoming_dir, done_dir, admit, arg, 0, ret, err);
}

int ferry_bundle_receive_plain(struct ferry_conn *conn, const char *incoming_dir, const char *done_dir,
                               uint64_t max_total, struct ferry_bundle_result *ret, struct ferry_err *err)
{
	return receive(conn, incoming_dir, done_dir, NULL, NULL, max_total, ret, err);
}
