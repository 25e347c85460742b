/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_TRUST_H
#define FERRY_TRUST_H

/*
 * A node's trust state, kept in its state directory:
 * - the allowlist of peer node ids (SPKI-SHA256) and names the controller
 *   pushed, with a version that only goes up;
 * - the seen-set of ticket ids (until they expire), written and synced
 *   before a ticket is acted upon, so a replay is refused after a restart;
 * - the highest fencing generation seen per container.
 * All functions are thread-safe.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/identity.h"
#include "ferry/ticket.h"

#define FERRY_ALLOWLIST_MAX 250

struct ferry_peer {
	uint8_t id[FERRY_ID_LEN];
	char name[FERRY_NODE_NAME_MAX + 1];
};

struct ferry_allowlist {
	pthread_mutex_t lock;
	char path[512];
	uint64_t version;
	unsigned n;
	struct ferry_peer peers[FERRY_ALLOWLIST_MAX];
};

/* Load from path (a missing file is an empty list at version 0). */
int ferry_allowlist_open(struct ferry_allowlist *al, const char *path, struct ferry_err *err);
/* Replace the list when version is newer; persisted before it takes effect. 1 = applied, 0 = stale. */
int ferry_allowlist_replace(struct ferry_allowlist *al, uint64_t version, const struct ferry_peer *peers, unsigned n,
                            struct ferry_err *err);
/* Whether id is allowed; its name into name_out when given. */
bool ferry_allowlist_lookup(struct ferry_allowlist *al, const uint8_t id[FERRY_ID_LEN], char *name_out);
/* The id of the named peer; false when not listed. */
bool ferry_allowlist_find_name(struct ferry_allowlist *al, const char *name, uint8_t id_out[FERRY_ID_LEN]);
uint64_t ferry_allowlist_version(struct ferry_allowlist *al);

/* Pure parser of the allowlist file (for tests and fuzzing). */
int ferry_allowlist_parse(const char *text, uint64_t *ret_version, struct ferry_peer *peers, unsigned *ret_n,
                          struct ferry_err *err);

#define FERRY_SEEN_MAX 65536

struct ferry_seen_entry {
	uint8_t id[FERRY_TICKET_ID_LEN];
	uint64_t expires_at;
};

struct ferry_replay_guard {
	pthread_mutex_t lock;
	char seen_path[512];
	char gen_path[512];
	unsigned n;
	struct ferry_seen_entry *seen; /* FERRY_SEEN_MAX entries */
	unsigned n_gen;
	struct {
		char container[FERRY_CONTAINER_NAME_MAX + 1];
		uint64_t generation;
	} * gens;
};

int ferry_replay_open(struct ferry_replay_guard *g, const char *dir, uint64_t now, struct ferry_err *err);
void ferry_replay_close(struct ferry_replay_guard *g);
/*
 * Admit a verified ticket once: refuses a ticket id already seen and a
 * generation not above the highest seen for its container; records both
 * (synced to disk) before returning 0.
 */
int ferry_replay_admit(struct ferry_replay_guard *g, const struct ferry_ticket *t, uint64_t now, struct ferry_err *err);
/*
 * The same for the second ticket of one migration (pre-copy's bundle after
 * its page session): the generation may equal the one seen, never be lower;
 * the ticket id is still used once only.
 */
int ferry_replay_admit_continued(struct ferry_replay_guard *g, const struct ferry_ticket *t, uint64_t now,
                                 struct ferry_err *err);

#endif
