/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The migration manager's configuration keys (the thesis' Table 4.1, in Ferry's words). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ferry/manager.h"
#include "ferry/parse.h"
#include "ferry/ticket.h"

void ferry_manager_config_default(struct ferry_manager_config *m)
{
	memset(m, 0, sizeof(*m));
	m->sample_ms = 1000;
	m->fast_sample_ms = 250;
	m->check_ms = 2000;
	m->aggregate_threshold = 50000000ULL;            /* 50 Mbit/s */
	m->aggregate_difference_threshold = 25000000ULL; /* 25 Mbit/s more than the check before */
	m->port_threshold = 20000000ULL;                 /* 20 Mbit/s */
	m->hysteresis_percent = 20;
	m->confirm_checks = 2;
	m->cooldown_s = 120;
	m->retention_s = 3600;
	m->probe_ms = 5000;
	m->mode = FERRY_MODE_AUTO;
}

enum kind { MS, RATE, PERCENT, COUNT, SECONDS };

static const struct {
	const char *key;
	enum kind kind;
	size_t offset;
	uint64_t min, max;
} keys[] = {
	{ "sample_interval_ms", MS, offsetof(struct ferry_manager_config, sample_ms), 50, 600000 },
	{ "fast_sample_interval_ms", MS, offsetof(struct ferry_manager_config, fast_sample_ms), 50, 600000 },
	{ "check_interval_ms", MS, offsetof(struct ferry_manager_config, check_ms), 100, 3600000 },
	{ "aggregate_threshold", RATE, offsetof(struct ferry_manager_config, aggregate_threshold), 0, 0 },
	{ "aggregate_difference_threshold", RATE, offsetof(struct ferry_manager_config, aggregate_difference_threshold),
	  0, 0 },
	{ "port_threshold", RATE, offsetof(struct ferry_manager_config, port_threshold), 0, 0 },
	{ "hysteresis_percent", PERCENT, offsetof(struct ferry_manager_config, hysteresis_percent), 0, 90 },
	{ "confirm_checks", COUNT, offsetof(struct ferry_manager_config, confirm_checks), 1, 100 },
	{ "cooldown_s", SECONDS, offsetof(struct ferry_manager_config, cooldown_s), 0, 86400 },
	{ "retention_s", SECONDS, offsetof(struct ferry_manager_config, retention_s), 60, 30 * 86400 },
	{ "probe_interval_ms", MS, offsetof(struct ferry_manager_config, probe_ms), 0, 3600000 },
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

bool ferry_manager_is_key(const char *key)
{
	if (strcmp(key, "policy") == 0 || strcmp(key, "topology") == 0 || strcmp(key, "dry_run") == 0 ||
	    strcmp(key, "migration_mode") == 0)
		return true;
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(key, keys[i].key) == 0)
			return true;
	return false;
}

int ferry_manager_set(struct ferry_manager_config *m, const char *key, const char *value, struct ferry_err *err)
{
	if (strcmp(key, "policy") == 0) {
		if (!ferry_policy_find(value, err))
			return ferry_err_wrap(err, "policy");
		snprintf(m->policy, sizeof(m->policy), "%s", value);
		return 0;
	}
	if (strcmp(key, "topology") == 0) {
		if (value[0] != '/' || strlen(value) >= sizeof(m->topology))
			return ferry_err_set(err, -EINVAL,
			                     "topology '%.64s' is not an absolute path shorter than %zu bytes", value,
			                     sizeof(m->topology));
		snprintf(m->topology, sizeof(m->topology), "%s", value);
		return 0;
	}
	if (strcmp(key, "migration_mode") == 0) {
		uint8_t mode;

		if (ferry_mode_parse(value, &mode, err) < 0)
			return ferry_err_wrap(err, "migration_mode");
		m->mode = mode;
		return 0;
	}
	if (strcmp(key, "dry_run") == 0) {
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
			return ferry_err_set(err, -EINVAL, "dry_run '%.32s' is not yes or no", value);
		m->dry_run = strcmp(value, "yes") == 0;
		return 0;
	}
	for (size_t i = 0; i < N_KEYS; i++) {
		void *field = (char *)m + keys[i].offset;
		uint64_t v;
		int r;

		if (strcmp(key, keys[i].key) != 0)
			continue;
		if (keys[i].kind == RATE) {
			if ((r = ferry_parse_rate(value, &v, err)) < 0)
				return ferry_err_wrap(err, "%s", key);
			*(uint64_t *)field = v;
			return 0;
		}
		if ((r = ferry_parse_u64(value, keys[i].min, keys[i].max, key, &v, err)) < 0)
			return r;
		/* 0 turns probing off; otherwise not more often than twice a second. */
		if (keys[i].offset == offsetof(struct ferry_manager_config, probe_ms) && v && v < 500)
			return ferry_err_set(err, -ERANGE,
			                     "probe_interval_ms %llu is too often; expected 0 (never) or "
			                     "500 to 3600000",
			                     (unsigned long long)v);
		*(unsigned *)field = (unsigned)v;
		return 0;
	}
	return ferry_err_set(err, -EINVAL, "unknown manager key '%.64s'", key);
}

int ferry_manager_check(const struct ferry_manager_config *m, struct ferry_err *err)
{
	if (m->fast_sample_ms > m->sample_ms)
		return ferry_err_set(err, -EINVAL,
		                     "fast_sample_interval_ms %u is slower than sample_interval_ms %u; the customized "
		                     "frequency must be the faster one",
		                     m->fast_sample_ms, m->sample_ms);
	if (m->check_ms < m->fast_sample_ms)
		return ferry_err_set(err, -EINVAL,
		                     "check_interval_ms %u is shorter than fast_sample_interval_ms %u; a check would "
		                     "see no new sample",
		                     m->check_ms, m->fast_sample_ms);
	return 0;
}
