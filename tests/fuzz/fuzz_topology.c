/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Any input either fails cleanly or yields a topology whose canonical text parses back to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/topology.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_topology *t = malloc(sizeof(*t)), *again = malloc(sizeof(*again));
	struct ferry_buf text = FERRY_BUF_INIT(FERRY_TOPO_FILE_MAX);
	struct ferry_err err = { 0 };

	if (!t || !again)
		abort();
	memset(t, 0, sizeof(*t));
	memset(again, 0, sizeof(*again));
	if (ferry_topology_parse((const char *)data, size, t, &err) == 0) {
		if (ferry_topology_format(t, &text) < 0 || ferry_topology_parse(text.data, text.len, again, &err) < 0 ||
		    memcmp(t, again, sizeof(*t)) != 0)
			abort();
	} else if (err.msg[0] == '\0') {
		abort(); /* every refusal says why */
	}
	ferry_buf_free(&text);
	free(t);
	free(again);
	return 0;
}
