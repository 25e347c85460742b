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
	if (again.n != pm.n || again.pages_id != pm.pages_id)
		abort();
	/* Field by field: the structs have padding. */
	for (size_t i = 0; i < pm.n; i++) {
		const struct ferry_pagemap_entry *a = &pm.entries[i], *b2 = &again.entries[i];

		if (a->vaddr != b2->vaddr || a->nr_pages != b2->nr_pages || a->flags != b2->flags ||
		    a->compat_nr_pages != b2->compat_nr_pages || a->has_in_parent != b2->has_in_parent ||
		    a->in_parent != b2->in_parent || a->has_flags != b2->has_flags ||
		    a->has_nr_pages != b2->has_nr_pages)
			abort();
	}
	ferry_pagemap_free(&again);
	ferry_pagemap_free(&pm);
	ferry_buf_free(&b);
	return 0;
}
