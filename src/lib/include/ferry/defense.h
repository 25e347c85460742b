/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_DEFENSE_H
#define FERRY_DEFENSE_H

/*
 * The controller's defensive rules (docs/ARCHITECTURE.md, "Moving-target
 * defense and IDS alerts"): how destinations are drawn when Ferry moves
 * containers to defend them (security_mode), which intrusion alerts act and
 * on which host, and the tracker that turns a stream of alerts into at
 * most one evacuation per host at a time.  Pure: no I/O, the controller
 * feeds alerts in and the unit tests feed made-up ones.
 */

#include <stdbool.h>
#include <limits.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/ticket.h"

enum ferry_security_mode {
	FERRY_SECURITY_NONE,     /* destinations by the load-balancing policy */
	FERRY_SECURITY_RANDOM,   /* destinations drawn uniformly by CSPRNG */
	FERRY_SECURITY_SHAMIR,   /* the source host collects k shares from k distinct hosts to open its table */
	FERRY_SECURITY_FOUNTAIN, /* the same, k requests drawn by 1/latency, repeats allowed */
};

#define FERRY_MTD_CONTAINERS_MAX 16

enum ferry_ids_action {
	FERRY_IDS_LOG,      /* record the alert, move nothing */
	FERRY_IDS_EVACUATE, /* move every container off the implicated host and quarantine it */
};

enum ferry_ids_implicate {
	FERRY_IMPLICATE_AUTO,        /* the alert's destination address if it is Ferry's, else the reporter */
	FERRY_IMPLICATE_REPORTER,    /* the host whose IDS saw it */
	FERRY_IMPLICATE_DESTINATION, /* only the host the destination address belongs to (a container or a node) */
};

struct ferry_defense_config {
	enum ferry_security_mode security_mode;
	enum ferry_ids_action action;
	enum ferry_ids_implicate implicate;
	unsigned min_severity;       /* alerts of this severity or more severe (a lower number) act */
	unsigned alerts;             /* this many acting alerts ... */
	unsigned window_s;           /* ... within this many seconds about one host trigger its evacuation */
	bool quarantine;             /* an evacuated host takes no container until `ferry node release` */
	unsigned key_number;         /* k: shares that open a lookup table (shamir, fountain) */
	unsigned mtd_interval_s;     /* 0: no rotation; else the selected containers move this often ... */
	unsigned mtd_jitter_percent; /* ... give or take this much, drawn each time */
	unsigned mtd_decoys;         /* cover streams to this many other hosts with every move */
	char mtd_containers[FERRY_MTD_CONTAINERS_MAX][FERRY_CONTAINER_NAME_MAX + 1];
	unsigned n_mtd_containers;
	char snapshot_dir[256];       /* "": no snapshot; else an evacuation first snapshots into this directory ... */
	char snapshot_recipient[256]; /* ... encrypted to this operator public key (ferry snapshot keygen) */
};

void ferry_defense_config_default(struct ferry_defense_config *d);
bool ferry_defense_is_key(const char *key);
/* One key; the error names the key, the bad value and what is accepted. */
int ferry_defense_set(struct ferry_defense_config *d, const char *key, const char *value, struct ferry_err *err);
const char *ferry_security_mode_name(enum ferry_security_mode m);
const char *ferry_ids_action_name(enum ferry_ids_action a);
const char *ferry_ids_implicate_name(enum ferry_ids_implicate i);

/* A uniform draw below n (n >= 1) from the CSPRNG, without modulo bias; -EIO without random numbers. */
int ferry_defense_draw(unsigned n, unsigned *ret);

/* ---- the tracker ---- */

#define FERRY_IDS_HOSTS      64
#define FERRY_IDS_ALERTS_MAX 1000 /* the largest "alerts" a rule may name */

struct ferry_ids_host {
	char name[FERRY_NODE_NAME_MAX + 1];
	long long times_ms[FERRY_IDS_ALERTS_MAX]; /* the latest acting alerts' arrival, a ring */
	unsigned n, head;
	bool evacuating;     /* between a trigger and ferry_ids_done */
	uint64_t suppressed; /* acting alerts that arrived while it was evacuating */
};

struct ferry_ids_tracker {
	struct ferry_ids_host hosts[FERRY_IDS_HOSTS];
	unsigned n_hosts;
};

enum ferry_ids_verdict {
	FERRY_IDS_IGNORED,    /* less severe than the rule */
	FERRY_IDS_COUNTED,    /* counted; not yet the rule's rate */
	FERRY_IDS_TRIGGER,    /* evacuate this host now */
	FERRY_IDS_SUPPRESSED, /* the host is being evacuated already */
};

void ferry_ids_tracker_init(struct ferry_ids_tracker *t);
/* One alert of this severity about host at now_ms (a monotonic clock). */
enum ferry_ids_verdict ferry_ids_observe(struct ferry_ids_tracker *t, const struct ferry_defense_config *d,
                                         const char *host, unsigned severity, long long now_ms);
/* The host's evacuation ended: later alerts count afresh. */
void ferry_ids_done(struct ferry_ids_tracker *t, const char *host);
const char *ferry_ids_verdict_name(enum ferry_ids_verdict v);

#endif
