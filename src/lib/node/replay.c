/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/buf.h"
#include "ferry/fs.h"
#include "ferry/hex.h"
#include "ferry/parse.h"
#include "ferry/trust.h"

#define SEEN_FILE      "seen-tickets"
#define GEN_FILE       "generations"
#define GEN_MAX        4096
#define STATE_FILE_MAX (4 * 1024 * 1024)

/* Rewrite the seen file with the live entries only. Lock held. */
static int write_seen(struct ferry_replay_guard *g, struct ferry_err *err)
{
	struct ferry_buf text = FERRY_BUF_INIT(STATE_FILE_MAX);
	char hex[33];
	int r = 0;

	for (unsigned i = 0; r == 0 && i < g->n; i++) {
		ferry_hex_encode(g->seen[i].id, FERRY_TICKET_ID_LEN, hex);
		r = ferry_buf_printf(&text, "%s %llu\n", hex, (unsigned long long)g->seen[i].expires_at);
	}
	r = r < 0 ? ferry_err_set(err, r, "seen-set too large")
	          : ferry_write_file_atomic(g->seen_path, text.data ? text.data : "", text.len, 0600, err);
	ferry_buf_free(&text);
	return r;
}

static int write_gens(struct ferry_replay_guard *g, struct ferry_err *err)
{
	struct ferry_buf text = FERRY_BUF_INIT(STATE_FILE_MAX);
	int r = 0;

	for (unsigned i = 0; r == 0 && i < g->n_gen; i++)
		r = ferry_buf_printf(&text, "%s %llu\n", g->gens[i].container,
		                     (unsigned long long)g->gens[i].generation);
	r = r < 0 ? ferry_err_set(err, r, "generation table too large")
	          : ferry_write_file_atomic(g->gen_path, text.data ? text.data : "", text.len, 0600, err);
	ferry_buf_free(&text);
	return r;
}

static void prune(struct ferry_replay_guard *g, uint64_t now)
{
	unsigned w = 0;

	for (unsigned i = 0; i < g->n; i++)
		if (g->seen[i].expires_at > now)
			g->seen[w++] = g->seen[i];
	g->n = w;
}

int ferry_replay_open(struct ferry_replay_guard *g, const char *dir, uint64_t now, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(STATE_FILE_MAX);
	int r;

	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	snprintf(g->seen_path, sizeof(g->seen_path), "%s/%s", dir, SEEN_FILE);
	snprintf(g->gen_path, sizeof(g->gen_path), "%s/%s", dir, GEN_FILE);
	g->seen = calloc(FERRY_SEEN_MAX, sizeof(*g->seen));
	g->gens = calloc(GEN_MAX, sizeof(*g->gens));
	if (!g->seen || !g->gens)
		return ferry_err_set(err, -ENOMEM, "out of memory for the replay guard");
	r = ferry_read_file(g->seen_path, STATE_FILE_MAX, &b, err);
	if (r == 0) {
		for (char *line = strtok(b.data ? b.data : (char *)"", "\n"); line; line = strtok(NULL, "\n")) {
			char hex[40], num[24];
			uint64_t exp;

			/* A damaged line is a refusal to start, never a silently forgotten ticket. */
			if (sscanf(line, "%39s %23s", hex, num) != 2 ||
			    ferry_hex_decode(hex, g->seen[g->n].id, FERRY_TICKET_ID_LEN) < 0 ||
			    ferry_parse_u64(num, 0, UINT64_MAX, "expiry", &exp, NULL) < 0 || g->n >= FERRY_SEEN_MAX) {
				ferry_buf_free(&b);
				return ferry_err_set(err, -EINVAL, "%s is damaged; refusing to start", g->seen_path);
			}
			g->seen[g->n++].expires_at = exp;
		}
	} else if (r != -ENOENT) {
		ferry_buf_free(&b);
		return r;
	}
	r = ferry_read_file(g->gen_path, STATE_FILE_MAX, &b, err);
	if (r == 0) {
		for (char *line = strtok(b.data ? b.data : (char *)"", "\n"); line; line = strtok(NULL, "\n")) {
			char name[80], num[24];

			if (g->n_gen >= GEN_MAX || sscanf(line, "%79s %23s", name, num) != 2 ||
			    ferry_check_name(name, FERRY_CONTAINER_NAME_MAX, "container", NULL) < 0 ||
			    ferry_parse_u64(num, 0, UINT64_MAX, "generation", &g->gens[g->n_gen].generation, NULL) <
			        0) {
				ferry_buf_free(&b);
				return ferry_err_set(err, -EINVAL, "%s is damaged; refusing to start", g->gen_path);
			}
			snprintf(g->gens[g->n_gen++].container, FERRY_CONTAINER_NAME_MAX + 1, "%s", name);
		}
	} else if (r != -ENOENT) {
		ferry_buf_free(&b);
		return r;
	}
	ferry_buf_free(&b);
	ferry_err_clear(err);
	prune(g, now);
	return write_seen(g, err);
}

void ferry_replay_close(struct ferry_replay_guard *g)
{
	free(g->seen);
	free(g->gens);
	g->seen = NULL;
	g->gens = NULL;
	pthread_mutex_destroy(&g->lock);
}

static int append_seen(struct ferry_replay_guard *g, const struct ferry_seen_entry *e, struct ferry_err *err)
{
	char hex[33], line[64];
	int fd, n, r = 0;

	ferry_hex_encode(e->id, FERRY_TICKET_ID_LEN, hex);
	n = snprintf(line, sizeof(line), "%s %llu\n", hex, (unsigned long long)e->expires_at);
	fd = open(g->seen_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return ferry_err_sys(err, -errno, "cannot open %s", g->seen_path);
	/* Synced before the ticket is acted upon: a crash cannot make it usable twice. */
	if (write(fd, line, (size_t)n) != n || fsync(fd) < 0)
		r = ferry_err_sys(err, -errno, "cannot record the ticket in %s", g->seen_path);
	close(fd);
	return r;
}

static int admit(struct ferry_replay_guard *g, const struct ferry_ticket *t, bool continued, uint64_t now,
                 struct ferry_err *err)
{
	struct ferry_seen_entry e = { .expires_at = t->expires_at };
	int r = 0, gi = -1;

	memcpy(e.id, t->id, sizeof(e.id));
	pthread_mutex_lock(&g->lock);
	for (unsigned i = 0; i < g->n; i++) {
		if (memcmp(g->seen[i].id, t->id, FERRY_TICKET_ID_LEN) == 0) {
			r = ferry_err_set(err, -EALREADY, "ticket was already used (replay refused)");
			goto out;
		}
	}
	for (unsigned i = 0; i < g->n_gen; i++)
		if (strcmp(g->gens[i].container, t->container) == 0)
			gi = (int)i;
	if (gi >= 0 &&
	    (t->generation < g->gens[gi].generation || (t->generation == g->gens[gi].generation && !continued))) {
		r = ferry_err_set(err, -ESTALE, "ticket generation %llu of '%s' is stale (seen %llu)",
		                  (unsigned long long)t->generation, t->container,
		                  (unsigned long long)g->gens[gi].generation);
		goto out;
	}
	if (g->n >= FERRY_SEEN_MAX) {
		prune(g, now);
		if ((r = write_seen(g, err)) < 0)
			goto out;
		if (g->n >= FERRY_SEEN_MAX) {
			r = ferry_err_set(err, -EBUSY, "too many live tickets");
			goto out;
		}
	}
	if (gi < 0 && g->n_gen >= GEN_MAX) {
		r = ferry_err_set(err, -ENOSPC, "generation table is full");
		goto out;
	}
	if ((r = append_seen(g, &e, err)) < 0)
		goto out;
	g->seen[g->n++] = e;
	if (gi < 0) {
		gi = (int)g->n_gen++;
		snprintf(g->gens[gi].container, FERRY_CONTAINER_NAME_MAX + 1, "%s", t->container);
	}
	g->gens[gi].generation = t->generation;
	r = write_gens(g, err);
out:
	pthread_mutex_unlock(&g->lock);
	return r;
}

int ferry_replay_admit(struct ferry_replay_guard *g, const struct ferry_ticket *t, uint64_t now, struct ferry_err *err)
{
	return admit(g, t, false, now, err);
}

int ferry_replay_admit_continued(struct ferry_replay_guard *g, const struct ferry_ticket *t, uint64_t now,
                                 struct ferry_err *err)
{
	return admit(g, t, true, now, err);
}
