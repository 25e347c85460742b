/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ferry/buf.h"
#include "ferry/fs.h"
#include "ferry/parse.h"
#include "ferry/trust.h"

#define ALLOWLIST_FILE_MAX (64 * 1024)

int ferry_allowlist_parse(const char *text, uint64_t *ret_version, struct ferry_peer *peers, unsigned *ret_n,
                          struct ferry_err *err)
{
	const char *line = text;
	unsigned n = 0, line_no = 0;
	uint64_t version = 0;

	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char buf[160], hex[FERRY_ID_HEX_LEN + 1], name[64], extra[2];

		line_no++;
		if (len >= sizeof(buf))
			return ferry_err_set(err, -EINVAL, "allowlist line %u is too long", line_no);
		memcpy(buf, line, len);
		buf[len] = '\0';
		line = eol ? eol + 1 : NULL;
		if (line_no == 1) {
			char num[24];

			if (sscanf(buf, "version %23s %1s", num, extra) != 1 ||
			    ferry_parse_u64(num, 0, UINT64_MAX, "allowlist version", &version, err) < 0)
				return ferry_err_set(err, -EINVAL, "allowlist must start with 'version N'");
			continue;
		}
		if (buf[0] == '\0')
			continue;
		if (n >= FERRY_ALLOWLIST_MAX)
			return ferry_err_set(err, -E2BIG, "allowlist has more than %d peers", FERRY_ALLOWLIST_MAX);
		if (sscanf(buf, "%65s %63s %1s", hex, name, extra) != 2 || ferry_id_from_hex(hex, peers[n].id) < 0 ||
		    ferry_check_name(name, FERRY_NODE_NAME_MAX, "node", err) < 0)
			return ferry_err_set(err, -EINVAL, "allowlist line %u is not 'ID NAME'", line_no);
		snprintf(peers[n].name, sizeof(peers[n].name), "%s", name);
		n++;
	}
	if (line_no == 0)
		return ferry_err_set(err, -EINVAL, "allowlist is empty");
	*ret_version = version;
	*ret_n = n;
	return 0;
}

int ferry_allowlist_open(struct ferry_allowlist *al, const char *path, struct ferry_err *err)
{
	struct ferry_buf b = FERRY_BUF_INIT(ALLOWLIST_FILE_MAX);
	int r;

	memset(al, 0, sizeof(*al));
	pthread_mutex_init(&al->lock, NULL);
	snprintf(al->path, sizeof(al->path), "%s", path);
	r = ferry_read_file(path, ALLOWLIST_FILE_MAX, &b, err);
	if (r == -ENOENT) {
		ferry_err_clear(err);
		r = 0;
	} else if (r == 0) {
		r = ferry_allowlist_parse(b.data ? b.data : "", &al->version, al->peers, &al->n, err);
		if (r < 0)
			ferry_err_wrap(err, "%s", path);
	}
	ferry_buf_free(&b);
	return r;
}

int ferry_allowlist_replace(struct ferry_allowlist *al, uint64_t version, const struct ferry_peer *peers, unsigned n,
                            struct ferry_err *err)
{
	struct ferry_buf text = FERRY_BUF_INIT(ALLOWLIST_FILE_MAX);
	char hex[FERRY_ID_HEX_LEN];
	int r = 0;

	if (n > FERRY_ALLOWLIST_MAX)
		return ferry_err_set(err, -E2BIG, "allowlist has more than %d peers", FERRY_ALLOWLIST_MAX);
	pthread_mutex_lock(&al->lock);
	if (version <= al->version) {
		pthread_mutex_unlock(&al->lock);
		return 0;
	}
	r = ferry_buf_printf(&text, "version %llu\n", (unsigned long long)version);
	for (unsigned i = 0; r == 0 && i < n; i++) {
		ferry_id_hex(peers[i].id, hex);
		r = ferry_buf_printf(&text, "%s %s\n", hex, peers[i].name);
	}
	if (r < 0)
		r = ferry_err_set(err, r, "cannot encode the allowlist");
	else
		r = ferry_write_file_atomic(al->path, text.data, text.len, 0600, err);
	if (r == 0) {
		memcpy(al->peers, peers, n * sizeof(*peers));
		al->n = n;
		al->version = version;
		r = 1;
	}
	pthread_mutex_unlock(&al->lock);
	ferry_buf_free(&text);
	return r;
}

bool ferry_allowlist_lookup(struct ferry_allowlist *al, const uint8_t id[FERRY_ID_LEN], char *name_out)
{
	bool found = false;

	pthread_mutex_lock(&al->lock);
	for (unsigned i = 0; i < al->n; i++) {
		if (memcmp(al->peers[i].id, id, FERRY_ID_LEN) == 0) {
			if (name_out)
				memcpy(name_out, al->peers[i].name, sizeof(al->peers[i].name));
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&al->lock);
	return found;
}

bool ferry_allowlist_find_name(struct ferry_allowlist *al, const char *name, uint8_t id_out[FERRY_ID_LEN])
{
	bool found = false;

	pthread_mutex_lock(&al->lock);
	for (unsigned i = 0; i < al->n; i++) {
		if (strcmp(al->peers[i].name, name) == 0) {
			memcpy(id_out, al->peers[i].id, FERRY_ID_LEN);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&al->lock);
	return found;
}

uint64_t ferry_allowlist_version(struct ferry_allowlist *al)
{
	uint64_t v;

	pthread_mutex_lock(&al->lock);
	v = al->version;
	pthread_mutex_unlock(&al->lock);
	return v;
}
