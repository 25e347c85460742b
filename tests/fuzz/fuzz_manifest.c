/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Manifests: canonical, traversal-free names, sizes that add up without overflow. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/frame.h"
#include "ferry/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_buf out = FERRY_BUF_INIT(FERRY_FRAME_CONTROL_MAX * 2);
	struct ferry_manifest m;
	uint64_t total = 0;

	if (ferry_manifest_parse(data, size, &m, NULL) == 0) {
		for (uint32_t i = 0; i < m.n; i++) {
			const char *name = m.objects[i].name;

			size_t len = strlen(name);

			/* No absolute path, and no '.', '..' or empty component anywhere. */
			if (name[0] == '/' || name[len - 1] == '/' || strstr(name, "//") || strcmp(name, ".") == 0 ||
			    strcmp(name, "..") == 0 || strncmp(name, "./", 2) == 0 || strncmp(name, "../", 3) == 0 ||
			    strstr(name, "/./") || strstr(name, "/../") ||
			    (len >= 2 && strcmp(name + len - 2, "/.") == 0) ||
			    (len >= 3 && strcmp(name + len - 3, "/..") == 0))
				abort();
			total += m.objects[i].size;
		}
		if (total != m.total || ferry_manifest_encode(&m, &out) < 0 || out.len != size ||
		    memcmp(out.data, data, size) != 0)
			abort();
		ferry_manifest_free(&m);
	}
	ferry_buf_free(&out);
	return 0;
}
