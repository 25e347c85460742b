/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_CONTROLLER_H
#define FERRY_CONTROLLER_H

#include <pthread.h>

#include "ferry/channel.h"
#include "ferry/registry.h"
#include "ferry/server.h"

/* Files in the controller's state directory. */
#define CTL_CA_KEY     "ca.key"
#define CTL_CA_CERT    "ca.crt"
#define CTL_TICKET_KEY "ticket.key"
#define CTL_TICKET_PUB "ticket.pub"
#define CTL_KEY        "controller.key"
#define CTL_CERT       "controller.crt"
#define CTL_REGISTRY   "registry.db"
#define CTL_LISTEN     "listen"

#define CTL_CERT_DAYS     365
#define CTL_CA_DAYS       3650
#define TOKEN_TTL_DEFAULT 600
#define TOKEN_TTL_MAX     (7 * 24 * 3600)

struct controller_state {
	X509 *ca, *cert;
	EVP_PKEY *ca_key, *key, *ticket_key;
	uint8_t ca_id[FERRY_ID_LEN], id[FERRY_ID_LEN];
	char listen[32];
	struct ferry_registry reg;
};

int controller_state_load(const char *dir, struct controller_state *st, struct ferry_err *err);
void controller_state_free(struct controller_state *st);
/* Make a token for node; text into out. */
int controller_token_create(struct controller_state *st, const char *node, uint64_t ttl, char *out, size_t len,
                            struct ferry_err *err);

int cmd_init(int argc, char **argv);
int cmd_admin_cert(int argc, char **argv);
int cmd_token(int argc, char **argv);
int controller_run(int argc, char **argv);

#endif
