/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ferry/log.h"

static enum ferry_log_level current_level = FERRY_LOG_INFO;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

void ferry_log_set_level(enum ferry_log_level level)
{
	current_level = level;
}

int ferry_log_parse_level(const char *s, enum ferry_log_level *ret_level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*ret_level = (enum ferry_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void ferry_log(enum ferry_log_level level, const char *src, const char *func, const char *fmt, ...)
{
	char msg[1024], ts[32];
	struct timespec now;
	struct tm tm;
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Quotes and newlines would break the key=value line: escape them. */
	for (char *p = msg; *p; p++) {
		if (*p == '"')
			*p = '\'';
		else if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "ts=%s.%03ldZ level=%s src=%s:%s msg=\"%s\"\n", ts, now.tv_nsec / 1000000L, level_names[level],
	        src, func, msg);
}
