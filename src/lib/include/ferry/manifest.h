/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_MANIFEST_H
#define FERRY_MANIFEST_H

/*
 * A bulk stream's manifest (docs/PROTOCOL.md §6): the objects that follow,
 * with their sizes and SHA-256.  It travels first; its own SHA-256 is the
 * ticket's manifest_hash, so the controller's signature covers every byte
 * of the stream.  Object names are relative paths checked against traversal.
 */

#include <stddef.h>
#include <stdint.h>

#include "ferry/buf.h"
#include "ferry/err.h"

#define FERRY_MANIFEST_MAGIC       "FMF1"
#define FERRY_MANIFEST_MAX_OBJECTS 1024
#define FERRY_OBJECT_NAME_MAX      255

struct ferry_manifest_object {
	char name[FERRY_OBJECT_NAME_MAX + 1];
	uint64_t size;
	uint8_t sha256[32];
};

struct ferry_manifest {
	uint32_t n;
	uint64_t total; /* sum of sizes */
	struct ferry_manifest_object *objects;
};

/* Relative path of [A-Za-z0-9._+-] components; no '.', '..', empty or absolute parts. */
int ferry_object_name_check(const char *name, struct ferry_err *err);

int ferry_manifest_encode(const struct ferry_manifest *m, struct ferry_buf *out);
/* Pure parse; ret->objects is malloc'ed (free with ferry_manifest_free). */
int ferry_manifest_parse(const uint8_t *p, size_t len, struct ferry_manifest *ret, struct ferry_err *err);
void ferry_manifest_free(struct ferry_manifest *m);

/* SHA-256 of bytes (the manifest hash of its encoding). */
void ferry_sha256(const void *p, size_t len, uint8_t out[32]);

#endif
