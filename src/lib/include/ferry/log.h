/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

/*
 * Structured logging for the programs (the library itself reports through
 * struct ferry_err and does not log).  Each line is key=value:
 *   ts=2026-11-23T22:00:00.123Z level=info src=ferryd.c:main msg="..."
 * Define LOG_PREFIX before including to tag a file (CRIU's habit).
 */

enum ferry_log_level {
	FERRY_LOG_ERROR = 0,
	FERRY_LOG_WARN,
	FERRY_LOG_INFO,
	FERRY_LOG_DEBUG,
};

void ferry_log_set_level(enum ferry_log_level level);
/* Parse "error|warn|info|debug"; returns 0 or -EINVAL. */
int ferry_log_parse_level(const char *s, enum ferry_log_level *ret_level);
void ferry_log(enum ferry_log_level level, const char *src, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#ifndef LOG_PREFIX
#define LOG_PREFIX __FILE_NAME__
#endif

#define log_error(...) ferry_log(FERRY_LOG_ERROR, LOG_PREFIX, __func__, __VA_ARGS__)
#define log_warn(...)  ferry_log(FERRY_LOG_WARN, LOG_PREFIX, __func__, __VA_ARGS__)
#define log_info(...)  ferry_log(FERRY_LOG_INFO, LOG_PREFIX, __func__, __VA_ARGS__)
#define log_debug(...) ferry_log(FERRY_LOG_DEBUG, LOG_PREFIX, __func__, __VA_ARGS__)

#endif
