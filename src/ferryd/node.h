/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRYD_NODE_H
#define FERRYD_NODE_H

#include <pthread.h>

#include "ferry/channel.h"
#include "ferry/daemon_main.h"
#include "ferry/server.h"
#include "ferry/trust.h"

/* Files in a node's state directory (docs/ARCHITECTURE.md, Node state). */
#define NODE_KEY        "node.key"
#define NODE_CERT       "node.crt"
#define NODE_CA         "ca.crt"
#define NODE_TICKET_PUB "ticket.pub"
#define NODE_CONTROLLER "controller"
#define NODE_ALLOWLIST  "allowlist"

/* Post-authentication caps on concurrent incoming migrations. */
#define NODE_MAX_MIGRATIONS          4
#define NODE_MAX_MIGRATIONS_PER_PEER 2

struct node_identity {
	X509 *cert, *ca;
	EVP_PKEY *key, *ticket_pub;
	uint8_t controller_id[FERRY_ID_LEN];
	char controller_addr[32];
	char name[FERRY_NODE_NAME_MAX + 1];
};

/* Load what `ferryd join` wrote; a clear error when the node never joined. */
int node_identity_load(const char *state_dir, struct node_identity *id, struct ferry_err *err);
void node_identity_free(struct node_identity *id);
/* Write the controller file (pure data: id, address, name). */
int node_controller_write(const char *state_dir, const uint8_t id[FERRY_ID_LEN], const char *addr, const char *name,
                          struct ferry_err *err);

int cmd_join(int argc, char **argv);
int cmd_send(int argc, char **argv);
int node_run(int argc, char **argv);

#endif
