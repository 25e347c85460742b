/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRYD_PRECOPY_H
#define FERRYD_PRECOPY_H

/*
 * Pre-copy by page hashes (docs/ARCHITECTURE.md, "Live modes"; PROTOCOL.md
 * §10).  Before the freeze, on the migration channel to the destination:
 *   PAGES_OPEN (session ticket)           -> RESPONSE
 *   round: PAGES..., PAGES_END            -> RESPONSE (pages the store holds)
 * then the usual bundle, whose page images are refs files into the store.
 */

#include "ferry/channel.h"
#include "ferry/pages.h"
#include "ferry/ticket.h"
#include "node.h"

#define PRECOPY_ROUNDS_MAX       30
#define PRECOPY_ROUNDS_DEFAULT   8
#define PRECOPY_DOWNTIME_DEFAULT 300 /* ms, QEMU's default downtime budget */

struct precopy_opts {
	uint64_t max_downtime_ms;
	uint64_t bandwidth; /* bytes per second; 0 = as fast as the link goes */
	uint64_t max_rounds;
	bool auto_converge;
};

struct precopy_report {
	unsigned rounds;
	uint64_t round_bytes[PRECOPY_ROUNDS_MAX];
	unsigned cpu_percent; /* the container's CPU cap at the freeze (100 = none) */
	char stop[256];       /* why the rounds ended (and, for post-copy, when the last page landed) */
};

/* Source: open the page session with the controller's session ticket. */
int precopy_open(struct ferry_conn *dest, const struct ferry_buf *ticket, struct ferry_err *err);
/*
 * Source: send rounds of the running container's pages until they fit the
 * budget, stop shrinking, or the round limit; sent receives every hash the
 * destination now holds.  The container's CPU cap is lifted again by the
 * caller (precopy_uncap) once it is frozen or the migration failed.
 */
int precopy_rounds(struct node *node, struct ferry_conn *ctl, struct ferry_conn *dest, const char *name,
                   const struct precopy_opts *o, struct ferry_page_set *sent, struct precopy_report *rep,
                   struct ferry_err *err);
void precopy_uncap(struct node *node, const char *name, struct precopy_report *rep);
/*
 * Source, after a metadata-only dump of the paused container: each process's
 * pages (those CRIU left lazy read from the container itself) become
 * pages-N.img.refs and its pagemap says they are all present.
 */
int precopy_freeze_refs(struct node *node, const char *name, const char *images, const struct ferry_page_set *sent,
                        struct ferry_refs_stats *total, struct ferry_err *err);
/* The container's processes by the pid they have inside it (the last NSpid), as CRIU's images name them. */
#define VPIDS_MAX 1024
struct vpid_map {
	pid_t vpid[VPIDS_MAX], pid[VPIDS_MAX];
	int n;
};
int vpids(struct node *node, const char *name, struct vpid_map *m, struct ferry_err *err);
pid_t host_pid(const struct vpid_map *m, long vpid); /* 0: not one of them */
/* n pages at addr of the frozen pid, whole or an error: they cannot have gone anywhere. */
int read_frozen(pid_t pid, uint64_t addr, uint8_t *buf, size_t n, struct ferry_err *err);

/* Source, after the dump: each (remaining) pages-N.img in images becomes pages-N.img.refs. */
int precopy_refs(const char *images, const struct ferry_page_set *sent, struct ferry_refs_stats *total,
                 struct ferry_err *err);

/* Destination: the pages of one session, in an unlinked file, indexed by their hash. */
struct precopy_store {
	bool open;
	int fd;
	struct ferry_page_set set;     /* hash -> index in fd, in the order pages came */
	uint8_t chain[FERRY_HASH_LEN]; /* ferry_page_chain of every stored page */
	struct ferry_ticket ticket;
};

/* Destination: from PAGES_OPEN until the bundle's TICKET frame is next (left unread). */
int precopy_receive(struct node *node, struct ferry_conn *conn, struct precopy_store *st, struct ferry_err *err);
/* Destination: expand every *.refs in images from the store (st may be NULL: then none may be there). */
int precopy_expand(struct precopy_store *st, const char *images, uint64_t max_pages, struct ferry_err *err);
void precopy_store_close(struct precopy_store *st);

/*
 * Destination: a local `criu lazy-pages` serving the rebuilt images, so the
 * restored container runs at once and its memory is filled in behind it
 * (from local files: nothing depends on the source any more).
 */
struct lazy_fill {
	pid_t pid; /* 0: none */
	char work[PATH_MAX];
	long long t_start;
};
/*
 * Start the daemon; page_server_port: 0 = from the images; else a page
 * server on 127.0.0.1 (post-copy: ferryd's relay).  It takes a while to
 * listen: start it early, and lazy_fill_ready() before the restore.
 */
int lazy_fill_start(struct lazy_fill *lf, const char *images, const char *work, int page_server_port,
                    struct ferry_err *err);
int lazy_fill_ready(struct lazy_fill *lf, struct ferry_err *err);
/* Wait until every page landed (the daemon exits 0), at most timeout_ms; ret_ms: since the start. */
int lazy_fill_wait(struct lazy_fill *lf, int timeout_ms, long long *ret_ms, struct ferry_err *err);
void lazy_fill_abort(struct lazy_fill *lf);

#endif
