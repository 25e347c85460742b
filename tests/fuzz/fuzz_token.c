/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Join tokens (text from an operator) and base64url: strict, and round-trips exactly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[FERRY_TOKEN_MAX_LEN + 2], back[FERRY_TOKEN_MAX_LEN + 2];
	uint8_t raw[256];
	struct ferry_token t, again;
	long n;

	if (size > FERRY_TOKEN_MAX_LEN + 1)
		size = FERRY_TOKEN_MAX_LEN + 1;
	memcpy(s, data, size);
	s[size] = '\0';
	if (ferry_token_parse(s, &t, NULL) == 0) {
		if (ferry_token_encode(&t, back, sizeof(back), NULL) < 0 || strcmp(back, s) != 0 ||
		    ferry_token_parse(back, &again, NULL) < 0 || memcmp(&t, &again, sizeof(t)) != 0)
			abort();
	}
	n = ferry_base64url_decode(s, strlen(s), raw, sizeof(raw));
	if (n >= 0) {
		char enc[400];

		if (ferry_base64url_encode(raw, (size_t)n, enc, sizeof(enc)) < 0 || strcmp(enc, s) != 0)
			abort(); /* strict decoding: one text per byte string */
	}
	return 0;
}
