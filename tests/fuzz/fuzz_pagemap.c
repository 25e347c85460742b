/* SPDX-License-Identifier: GPL-2.0-or-later */
/* CRIU pagemap images as Ferry reads them after a dump: what parses encodes back to what parses the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/pagemap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_buf b = FERRY_BUF_INIT(FERRY_PAGEMAP_MAX_BYTES);
	struct ferry_pagemap pm, again;
	struct ferry_err err = { 0 };

	if (ferry_pagemap_parse(data, size, &pm, &err) < 0)
		return 0;
	if (ferry_pagemap_encode(&pm, &b) < 0 || ferry_pagemap_parse((const uint8_t *)b.data, b.len, &again, &err) < 0)
		abort();
	if (again.n != pm.n || again.pages_id != pm.pages_id ||
	    (pm.n && memcmp(again.entries, pm.entries, pm.n * sizeof(*pm.entries)) != 0))
		abort();
	ferry_pagemap_free(&again);
	ferry_pagemap_free(&pm);
	ferry_buf_free(&b);
	return 0;
}
