/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_WORKLOAD_H
#define FERRY_WORKLOAD_H

/*
 * What the controller records about workloads, in the registry's database:
 * images (name -> layer digest), containers (where each runs, its spec and
 * fencing generation, and a state that serializes operations on it) and the
 * history of migrations with their metrics.
 */

#include <stdint.h>

#include "ferry/registry.h"
#include "ferry/ticket.h"

#define FERRY_SPEC_ENC_MAX 16384

struct ferry_image_rec {
	char name[FERRY_CONTAINER_NAME_MAX + 1];
	uint8_t digest[32];
	uint64_t size, created_at;
};

struct ferry_container_rec {
	char name[FERRY_CONTAINER_NAME_MAX + 1];
	char node[FERRY_NODE_NAME_MAX + 1];
	char image[FERRY_CONTAINER_NAME_MAX + 1];
	char state[16]; /* "running", "stopped", "migrating" */
	uint64_t generation, created_at;
	uint8_t spec[FERRY_SPEC_ENC_MAX];
	size_t spec_len;
};

struct ferry_migration_rec {
	uint64_t id;
	char container[FERRY_CONTAINER_NAME_MAX + 1];
	char mode[16], source[FERRY_NODE_NAME_MAX + 1], dest[FERRY_NODE_NAME_MAX + 1];
	char result[16]; /* "" while running, "ok", "failed", "interrupted" */
	char message[256];
	uint64_t started_at, finished_at;
	uint64_t total_ms, downtime_ms, checkpoint_ms, transfer_ms, restore_ms, bytes_image, bytes_wire, rounds;
	char round_bytes[400]; /* bytes sent in each round, comma-separated: pre-copy rounds, then the final one */
	char note[320]; /* why the pre-copy rounds ended; auto: what it picked and why; when the last page landed */
};

int ferry_store_image_put(struct ferry_registry *reg, const struct ferry_image_rec *img, struct ferry_err *err);
int ferry_store_image_get(struct ferry_registry *reg, const char *name, struct ferry_image_rec *ret,
                          struct ferry_err *err);
int ferry_store_images(struct ferry_registry *reg, struct ferry_image_rec *out, unsigned max, struct ferry_err *err);

/* -EEXIST when the name is taken. */
int ferry_store_container_add(struct ferry_registry *reg, const struct ferry_container_rec *c, struct ferry_err *err);
int ferry_store_container_get(struct ferry_registry *reg, const char *name, struct ferry_container_rec *ret,
                              struct ferry_err *err);
int ferry_store_containers(struct ferry_registry *reg, struct ferry_container_rec *out, unsigned max,
                           struct ferry_err *err);
/* Remove it, remembering its generation for the next container of its name. */
int ferry_store_container_del(struct ferry_registry *reg, const char *name, struct ferry_err *err);
/* The generation a new container of this name starts at: 1, or above every one its name had. */
int ferry_store_first_generation(struct ferry_registry *reg, const char *name, uint64_t *ret, struct ferry_err *err);
/* Atomically move state from -> to; -EBUSY naming the state it is in otherwise. */
int ferry_store_container_transition(struct ferry_registry *reg, const char *name, const char *from, const char *to,
                                     struct ferry_err *err);
/* Record where it now runs, its generation, state and spec. */
int ferry_store_container_update(struct ferry_registry *reg, const struct ferry_container_rec *c,
                                 struct ferry_err *err);

int ferry_store_migration_begin(struct ferry_registry *reg, struct ferry_migration_rec *m, struct ferry_err *err);
int ferry_store_migration_end(struct ferry_registry *reg, const struct ferry_migration_rec *m, struct ferry_err *err);
/* The newest `max` migrations, oldest first. */
int ferry_store_migrations(struct ferry_registry *reg, struct ferry_migration_rec *out, unsigned max,
                           struct ferry_err *err);
/* At start: migrations that never finished are marked interrupted; returns how many. */
int ferry_store_migrations_interrupt(struct ferry_registry *reg, uint64_t now, struct ferry_err *err);

#endif
