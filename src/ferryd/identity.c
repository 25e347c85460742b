/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The node's identity files: key, certificate, CA, ticket key, controller. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "ferry/buf.h"
#include "ferry/fs.h"
#include "ferry/parse.h"
#include "node.h"

int node_controller_write(const char *state_dir, const uint8_t id[FERRY_ID_LEN], const char *addr, const char *name,
                          struct ferry_err *err)
{
	char path[PATH_MAX], hex[FERRY_ID_HEX_LEN], text[256];
	int n;

	ferry_id_hex(id, hex);
	snprintf(path, sizeof(path), "%s/%s", state_dir, NODE_CONTROLLER);
	n = snprintf(text, sizeof(text), "id %s\naddress %s\nname %s\n", hex, addr, name);
	return ferry_write_file_atomic(path, text, (size_t)n, 0600, err);
}

int node_identity_load(const char *dir, struct node_identity *id, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(4096);
	char path[PATH_MAX], hex[80];
	int r;

	memset(id, 0, sizeof(*id));
	snprintf(path, sizeof(path), "%s/%s", dir, NODE_CONTROLLER);
	r = ferry_read_file(path, 4096, &b, err);
	if (r == -ENOENT) {
		ferry_buf_free(&b);
		return ferry_err_set(err, -ENOENT,
		                     "this node has not joined a cluster (no %s); run 'ferryd join TOKEN'", path);
	}
	if (r == 0 &&
	    (sscanf(b.data ? b.data : "", "id %79s address %31s name %31s", hex, id->controller_addr, id->name) != 3 ||
	     ferry_id_from_hex(hex, id->controller_id) < 0 ||
	     ferry_check_name(id->name, FERRY_NODE_NAME_MAX, "node", NULL) < 0))
		r = ferry_err_set(err, -EINVAL, "%s is damaged", path);
	ferry_buf_free(&b);
	if (r < 0)
		return r;
#define LOAD(field, fn, file)                                                                                          \
	do {                                                                                                           \
		snprintf(path, sizeof(path), "%s/%s", dir, file);                                                      \
		if (!(id->field = fn(path, err)))                                                                      \
			goto fail;                                                                                     \
	} while (0)
	LOAD(cert, ferry_cert_load, NODE_CERT);
	LOAD(ca, ferry_cert_load, NODE_CA);
	LOAD(key, ferry_key_load, NODE_KEY);
	LOAD(ticket_pub, ferry_pubkey_load, NODE_TICKET_PUB);
#undef LOAD
	return 0;
fail:
	node_identity_free(id);
	return err ? err->code : -EIO;
}

void node_identity_free(struct node_identity *id)
{
	X509_free(id->cert);
	X509_free(id->ca);
	EVP_PKEY_free(id->key);
	EVP_PKEY_free(id->ticket_pub);
	memset(id, 0, sizeof(*id));
}
