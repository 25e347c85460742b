/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_SPEC_H
#define FERRY_SPEC_H

/*
 * A container's specification: what `ferry run` asked for, what the
 * controller records and what travels with a migration (the `spec` object
 * of the stream).  Encoded as a TLV list (docs/PROTOCOL.md §3), the same
 * bytes on the wire and on disk; parsing is pure and fuzzed.
 */

#include <stdbool.h>
#include <stdint.h>

#include "ferry/buf.h"
#include "ferry/err.h"
#include "ferry/fabric.h"
#include "ferry/frame.h"
#include "ferry/ticket.h"

#define FERRY_SPEC_ARGS_MAX       32
#define FERRY_SPEC_ARG_MAX        255
#define FERRY_SPEC_LAYERS_MAX     16
#define FERRY_SPEC_PROBE_MAX      255
#define FERRY_SPEC_MEMORY_MIN     (4ULL << 20) /* 4 MiB */
#define FERRY_SPEC_MEMORY_MAX     (1ULL << 40) /* 1 TiB */
#define FERRY_SPEC_MEMORY_DEFAULT (256ULL << 20)
#define FERRY_SPEC_STATELESS      0x1ULL

enum ferry_probe_kind {
	FERRY_PROBE_NONE = 0,
	FERRY_PROBE_TCP,  /* connect to 127.0.0.1:port inside the container's network namespace */
	FERRY_PROBE_EXEC, /* run a command in the container; exit 0 means ready */
};

struct ferry_spec {
	char name[FERRY_CONTAINER_NAME_MAX + 1];
	char image[FERRY_CONTAINER_NAME_MAX + 1];
	uint8_t layers[FERRY_SPEC_LAYERS_MAX][32]; /* lowest first */
	unsigned n_layers;
	char args[FERRY_SPEC_ARGS_MAX][FERRY_SPEC_ARG_MAX + 1];
	unsigned argc;
	uint64_t memory;                      /* bytes, the container's memory limit */
	uint64_t flags;                       /* FERRY_SPEC_* */
	char probe[FERRY_SPEC_PROBE_MAX + 1]; /* "" for none */
	uint64_t generation;
	struct ferry_netaddr net; /* its address on the cluster fabric; addr 0 = loopback only */
};

/* Append the spec's fields to a TLV message. */
int ferry_spec_encode(const struct ferry_spec *s, struct ferry_buf *out);
/* Read and check a spec from a parsed TLV list (other fields are ignored). */
int ferry_spec_from_tlv(const struct ferry_tlv_list *l, struct ferry_spec *ret, struct ferry_err *err);
/* Parse encoded bytes (a spec file). */
int ferry_spec_parse(const uint8_t *p, size_t len, struct ferry_spec *ret, struct ferry_err *err);

/* "tcp:PORT" or "exec:CMD ARGS..."; "" is no probe.  Pure. */
int ferry_probe_parse(const char *s, enum ferry_probe_kind *kind, uint16_t *port, struct ferry_err *err);

#endif
