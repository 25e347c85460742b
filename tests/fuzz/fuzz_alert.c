/* SPDX-License-Identifier: GPL-2.0-or-later */
/* IDS alert lines in all three formats: whatever an IDS (or an attacker who can write its file) puts there. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	for (int f = FERRY_ALERT_SNORT_FAST; f <= FERRY_ALERT_GENERIC; f++) {
		struct ferry_alert a;

		/* An accepted alert is bounded and printable. */
		if (ferry_alert_parse((enum ferry_alert_format)f, s, size, &a, NULL) == 1) {
			if (a.severity < 1 || a.severity > 255 ||
			    strnlen(a.signature, sizeof(a.signature)) == sizeof(a.signature))
				abort();
			for (const char *p = a.signature; *p; p++)
				if (*p < ' ' || *p > '~')
					abort();
		}
	}
	free(s);
	return 0;
}
