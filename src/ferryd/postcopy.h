/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRYD_POSTCOPY_H
#define FERRYD_POSTCOPY_H

/*
 * Post-copy page traffic inside the migration channel (postcopy.c,
 * PROTOCOL.md §11), after the commit:
 *   destination: PAGE_GET (pid, address, pages)   source: PAGE_DATA (the same, then per page
 *                                                 'R' + the page, or hybrid 'S' + its store index)
 *   destination: PAGES_END (every page landed)    source: RESPONSE
 */

#include <pthread.h>

#include "ferry/channel.h"
#include "node.h"
#include "precopy.h"

/* Source: the frozen container's processes, and a buffer for answers. */
struct postcopy_source {
	const struct ferry_page_set *sent; /* hybrid: the pre-copy rounds' pages, by store index */
	struct vpid_map *map;
	uint8_t *out;
	uint64_t pages, held; /* served so far; of them named by store index */
	bool landed;          /* the destination said it has every page */
};
int postcopy_source_init(struct postcopy_source *ps, struct node *node, const char *name,
                         const struct ferry_page_set *sent, struct ferry_err *err);
void postcopy_source_free(struct postcopy_source *ps);
/* Source: wait for the destination's RESPONSE (its restore goes on meanwhile), answering page requests. */
int postcopy_expect_response(struct postcopy_source *ps, struct ferry_conn *conn, struct ferry_buf *resp,
                             struct ferry_err *err);
/* Source, after the commit: answer page requests until PAGES_END. */
int postcopy_serve(struct postcopy_source *ps, struct ferry_conn *ctl, struct ferry_conn *conn, struct ferry_err *err);

/*
 * Destination: the page server the local lazy-pages daemon talks to, a
 * thread that forwards its requests to the source from the restore on
 * (CRIU's restore already needs pages), one exchange at a time under lock,
 * which the restore's own use of the channel takes too.
 */
struct postcopy_relay {
	int listen_fd, port, daemon_fd; /* -1: none */
	struct ferry_conn *conn;
	pthread_mutex_t *lock;
	const struct precopy_store *store; /* hybrid: pages the rounds brought */
	pthread_t thread;
	bool running;
	volatile bool stop;
	int result;
	uint64_t pages;
	struct ferry_err err;
};
int postcopy_listen(struct postcopy_relay *pr, struct ferry_err *err);
int postcopy_relay_start(struct postcopy_relay *pr, struct ferry_conn *conn, pthread_mutex_t *lock,
                         const struct precopy_store *store, struct ferry_err *err);
/* Wait until the daemon has every page (0) or the relay failed. */
int postcopy_relay_join(struct postcopy_relay *pr, uint64_t *ret_pages, struct ferry_err *err);
void postcopy_relay_stop(struct postcopy_relay *pr);
void postcopy_relay_close(struct postcopy_relay *pr);

#endif
