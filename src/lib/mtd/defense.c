/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The defensive rules' keys and the alert tracker.  The tracker keeps, per
 * host, the arrival times of the last acting alerts in a ring as long as
 * the rule's count: the rule fires when the oldest of them is still inside
 * the window.  A host that fired is "evacuating" until the controller says
 * it is done, so that a flood of alerts about one host starts one
 * evacuation, not one per alert.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ferry/defense.h"
#include "ferry/identity.h"
#include "ferry/mtd.h"
#include "ferry/parse.h"

void ferry_defense_config_default(struct ferry_defense_config *d)
{
	memset(d, 0, sizeof(*d));
	d->security_mode = FERRY_SECURITY_NONE;
	d->action = FERRY_IDS_LOG;
	d->implicate = FERRY_IMPLICATE_AUTO;
	d->min_severity = 2; /* Snort's and Suricata's high (1) and medium (2) */
	d->alerts = 1;
	d->window_s = 60;
	d->quarantine = true;
	d->key_number = 3;
	d->mtd_jitter_percent = 25;
}

static const char *const mode_names[] = { [FERRY_SECURITY_NONE] = "none",
	                                  [FERRY_SECURITY_RANDOM] = "random",
	                                  [FERRY_SECURITY_SHAMIR] = "shamir",
	                                  [FERRY_SECURITY_FOUNTAIN] = "fountain" };
static const char *const action_names[] = { [FERRY_IDS_LOG] = "log", [FERRY_IDS_EVACUATE] = "evacuate" };
static const char *const implicate_names[] = { [FERRY_IMPLICATE_AUTO] = "auto",
	                                       [FERRY_IMPLICATE_REPORTER] = "reporter",
	                                       [FERRY_IMPLICATE_DESTINATION] = "destination" };

const char *ferry_security_mode_name(enum ferry_security_mode m)
{
	return (unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "?";
}

const char *ferry_ids_action_name(enum ferry_ids_action a)
{
	return (unsigned)a < sizeof(action_names) / sizeof(action_names[0]) ? action_names[a] : "?";
}

const char *ferry_ids_implicate_name(enum ferry_ids_implicate i)
{
	return (unsigned)i < sizeof(implicate_names) / sizeof(implicate_names[0]) ? implicate_names[i] : "?";
}

/* value among names[0..n) into ret, or an error naming the key and the accepted words. */
static int pick_word(const char *key, const char *value, const char *const *names, unsigned n, const char *accepted,
                     unsigned *ret, struct ferry_err *err)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(value, names[i]) == 0) {
			*ret = i;
			return 0;
		}
	return ferry_err_set(err, -EINVAL, "%s '%.32s' is not known; expected %s", key, value, accepted);
}

/* "a,b,c": the containers rotation moves. */
static int set_containers(struct ferry_defense_config *d, const char *value, struct ferry_err *err)
{
	const char *p = value;

	d->n_mtd_containers = 0;
	while (*p) {
		size_t n = strcspn(p, ",");
		char name[FERRY_CONTAINER_NAME_MAX + 1];

		if (n == 0 || n > FERRY_CONTAINER_NAME_MAX)
			return ferry_err_set(
			    err, -EINVAL, "mtd_containers '%.64s': expected container names separated by ','", value);
		if (d->n_mtd_containers == FERRY_MTD_CONTAINERS_MAX)
			return ferry_err_set(err, -E2BIG, "mtd_containers: at most %d containers",
			                     FERRY_MTD_CONTAINERS_MAX);
		memcpy(name, p, n);
		name[n] = '\0';
		if (ferry_check_name(name, FERRY_CONTAINER_NAME_MAX, "container", err) < 0)
			return ferry_err_wrap(err, "mtd_containers");
		snprintf(d->mtd_containers[d->n_mtd_containers++], sizeof(d->mtd_containers[0]), "%s", name);
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

static const struct {
	const char *key;
	size_t offset;
	uint64_t min, max;
} numbers[] = {
	{ "ids_min_severity", offsetof(struct ferry_defense_config, min_severity), 1, 255 },
	{ "ids_alerts", offsetof(struct ferry_defense_config, alerts), 1, FERRY_IDS_ALERTS_MAX },
	{ "ids_window_s", offsetof(struct ferry_defense_config, window_s), 1, 86400 },
	{ "key_number", offsetof(struct ferry_defense_config, key_number), 2, FERRY_MTD_K_MAX },
	{ "mtd_interval_s", offsetof(struct ferry_defense_config, mtd_interval_s), 0, 86400 },
	{ "mtd_jitter_percent", offsetof(struct ferry_defense_config, mtd_jitter_percent), 0, 90 },
	{ "mtd_decoys", offsetof(struct ferry_defense_config, mtd_decoys), 0, 8 },
};

#define N_NUMBERS (sizeof(numbers) / sizeof(numbers[0]))

bool ferry_defense_is_key(const char *key)
{
	if (strcmp(key, "security_mode") == 0 || strcmp(key, "ids_action") == 0 || strcmp(key, "ids_implicate") == 0 ||
	    strcmp(key, "ids_quarantine") == 0 || strcmp(key, "mtd_containers") == 0 ||
	    strcmp(key, "ids_snapshot_dir") == 0 || strcmp(key, "ids_snapshot_recipient") == 0)
		return true;
	for (size_t i = 0; i < N_NUMBERS; i++)
		if (strcmp(key, numbers[i].key) == 0)
			return true;
	return false;
}

int ferry_defense_set(struct ferry_defense_config *d, const char *key, const char *value, struct ferry_err *err)
{
	unsigned v = 0;
	int r;

	if (strcmp(key, "security_mode") == 0) {
		if ((r = pick_word(key, value, mode_names, 4, "none, random, shamir or fountain", &v, err)) < 0)
			return r;
		d->security_mode = (enum ferry_security_mode)v;
		return 0;
	}
	if (strcmp(key, "ids_action") == 0) {
		if ((r = pick_word(key, value, action_names, 2, "log or evacuate", &v, err)) < 0)
			return r;
		d->action = (enum ferry_ids_action)v;
		return 0;
	}
	if (strcmp(key, "ids_implicate") == 0) {
		if ((r = pick_word(key, value, implicate_names, 3, "auto, reporter or destination", &v, err)) < 0)
			return r;
		d->implicate = (enum ferry_ids_implicate)v;
		return 0;
	}
	if (strcmp(key, "mtd_containers") == 0)
		return set_containers(d, value, err);
	if (strcmp(key, "ids_snapshot_dir") == 0 || strcmp(key, "ids_snapshot_recipient") == 0) {
		char *field = strcmp(key, "ids_snapshot_dir") == 0 ? d->snapshot_dir : d->snapshot_recipient;

		if (value[0] != '/' || strlen(value) >= sizeof(d->snapshot_dir))
			return ferry_err_set(err, -EINVAL, "%s '%.64s' is not an absolute path shorter than %zu bytes",
			                     key, value, sizeof(d->snapshot_dir));
		snprintf(field, sizeof(d->snapshot_dir), "%s", value);
		return 0;
	}
	if (strcmp(key, "ids_quarantine") == 0) {
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
			return ferry_err_set(err, -EINVAL, "ids_quarantine '%.32s' is not yes or no", value);
		d->quarantine = strcmp(value, "yes") == 0;
		return 0;
	}
	for (size_t i = 0; i < N_NUMBERS; i++) {
		uint64_t n;

		if (strcmp(key, numbers[i].key) != 0)
			continue;
		if ((r = ferry_parse_u64(value, numbers[i].min, numbers[i].max, key, &n, err)) < 0)
			return r;
		*(unsigned *)((char *)d + numbers[i].offset) = (unsigned)n;
		return 0;
	}
	return ferry_err_set(err, -EINVAL, "unknown defense key '%.64s'", key);
}

int ferry_defense_draw(unsigned n, unsigned *ret)
{
	uint32_t x, limit;

	if (n == 0)
		return -EINVAL;
	/* The largest multiple of n below 2^32: draws above it would favour the low values. */
	limit = UINT32_MAX - UINT32_MAX % n;
	do {
		if (ferry_random(&x, sizeof(x)) < 0)
			return -EIO;
	} while (x >= limit);
	*ret = x % n;
	return 0;
}

/* ---- the tracker ---- */

void ferry_ids_tracker_init(struct ferry_ids_tracker *t)
{
	memset(t, 0, sizeof(*t));
}

static struct ferry_ids_host *host_slot(struct ferry_ids_tracker *t, const char *name)
{
	struct ferry_ids_host *h;

	for (unsigned i = 0; i < t->n_hosts; i++)
		if (strcmp(t->hosts[i].name, name) == 0)
			return &t->hosts[i];
	if (t->n_hosts == FERRY_IDS_HOSTS) {
		/* Full: reuse a host that is neither counting nor evacuating. */
		for (unsigned i = 0; i < t->n_hosts; i++)
			if (!t->hosts[i].evacuating && t->hosts[i].n == 0) {
				h = &t->hosts[i];
				goto fill;
			}
		return NULL;
	}
	h = &t->hosts[t->n_hosts++];
fill:
	memset(h, 0, sizeof(*h));
	snprintf(h->name, sizeof(h->name), "%s", name);
	return h;
}

enum ferry_ids_verdict ferry_ids_observe(struct ferry_ids_tracker *t, const struct ferry_defense_config *d,
                                         const char *host, unsigned severity, long long now_ms)
{
	struct ferry_ids_host *h;
	unsigned want = d->alerts ? d->alerts : 1, oldest;

	if (severity == 0 || severity > d->min_severity)
		return FERRY_IDS_IGNORED;
	if (!(h = host_slot(t, host)))
		return FERRY_IDS_COUNTED; /* 64 hosts counting at once: the 65th waits for a slot */
	if (h->evacuating) {
		h->suppressed++;
		return FERRY_IDS_SUPPRESSED;
	}
	if (want > FERRY_IDS_ALERTS_MAX)
		want = FERRY_IDS_ALERTS_MAX;
	h->times_ms[h->head] = now_ms;
	h->head = (h->head + 1) % want;
	if (h->n < want)
		h->n++;
	if (h->n < want)
		return FERRY_IDS_COUNTED;
	/* The ring is full: its oldest entry is the one head points at now. */
	oldest = h->head;
	if (now_ms - h->times_ms[oldest] > (long long)d->window_s * 1000)
		return FERRY_IDS_COUNTED;
	h->evacuating = true;
	h->n = h->head = 0;
	return FERRY_IDS_TRIGGER;
}

void ferry_ids_done(struct ferry_ids_tracker *t, const char *host)
{
	for (unsigned i = 0; i < t->n_hosts; i++)
		if (strcmp(t->hosts[i].name, host) == 0) {
			t->hosts[i].evacuating = false;
			t->hosts[i].n = t->hosts[i].head = 0;
		}
}

const char *ferry_ids_verdict_name(enum ferry_ids_verdict v)
{
	switch (v) {
	case FERRY_IDS_IGNORED:
		return "ignored";
	case FERRY_IDS_COUNTED:
		return "counted";
	case FERRY_IDS_TRIGGER:
		return "evacuate";
	case FERRY_IDS_SUPPRESSED:
		return "suppressed";
	}
	return "?";
}
