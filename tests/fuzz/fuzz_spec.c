/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Container specs (files and wire), runtime state answers and readiness
 * probes: a spec that parses is valid, survives encode/parse unchanged, and
 * gives a runtime configuration.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/runtime.h"
#include "ferry/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_spec *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct ferry_buf enc = FERRY_BUF_INIT(64 * 1024), cfg = FERRY_BUF_INIT(256 * 1024);
	char *text = malloc(size + 1);
	enum ferry_ct_status st;
	enum ferry_probe_kind kind;
	uint16_t port;
	pid_t pid;

	if (!a || !b || !text)
		abort();
	if (ferry_spec_parse(data, size, a, NULL) == 0) {
		if (a->argc == 0 || a->args[0][0] != '/' || a->n_layers == 0 || a->memory < FERRY_SPEC_MEMORY_MIN ||
		    a->memory > FERRY_SPEC_MEMORY_MAX || ferry_probe_parse(a->probe, &kind, &port, NULL) < 0)
			abort();
		if (ferry_spec_encode(a, &enc) < 0 ||
		    ferry_spec_parse((const uint8_t *)enc.data, enc.len, b, NULL) < 0 || memcmp(a, b, sizeof(*a)) != 0)
			abort();
		if (ferry_oci_config(a, "/rootfs", "/ferry/test", a->net.addr ? "/state/netns/x" : NULL,
		                     "/state/criu.conf", &cfg, NULL) < 0)
			abort();
	}
	memcpy(text, data, size);
	text[size] = '\0';
	if (ferry_runtime_parse_state(text, &st, &pid) == 0 && (st == FERRY_CT_MISSING || pid < 0))
		abort();
	if (ferry_probe_parse(text, &kind, &port, NULL) == 0 && kind == FERRY_PROBE_TCP && port == 0)
		abort();
	ferry_buf_free(&enc);
	ferry_buf_free(&cfg);
	free(text);
	free(a);
	free(b);
	return 0;
}
