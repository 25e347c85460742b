/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Frame headers and TLV payloads as a peer sends them: caps hold, nothing reads past the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_tlv_list *l = malloc(sizeof(*l));
	struct ferry_frame_header h;
	char text[256];
	uint8_t fixed[32];
	uint64_t v;

	if (!l)
		abort();
	if (size >= FERRY_FRAME_HEADER_LEN && ferry_frame_parse_header(data, &h, NULL) == 0) {
		if (h.len > ferry_frame_max_len(h.type))
			abort();
		uint8_t again[FERRY_FRAME_HEADER_LEN];
		ferry_frame_encode_header(again, h.type, h.len);
		if (memcmp(again, data, FERRY_FRAME_HEADER_LEN) != 0)
			abort(); /* one encoding per header */
	}
	if (ferry_tlv_parse(data, size, l, NULL) == 0) {
		for (unsigned i = 0; i < l->n; i++)
			if (l->items[i].value < data || l->items[i].value + l->items[i].len > data + size)
				abort();
		ferry_tlv_get_str(l, FERRY_TAG_NODE, text, sizeof(text), NULL);
		ferry_tlv_get_fixed(l, FERRY_TAG_SECRET, fixed, sizeof(fixed), NULL);
		ferry_tlv_get_u64(l, FERRY_TAG_VERSION, &v, NULL);
	}
	free(l);
	return 0;
}
