/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ferry/manifest.h"
#include "ferry/wire.h"

/* Smallest encoding of one object: name length, 1-byte name, size, hash. */
#define OBJECT_MIN_LEN (2 + 1 + 8 + 32)

int ferry_object_name_check(const char *name, struct ferry_err *err)
{
	size_t n = strnlen(name, FERRY_OBJECT_NAME_MAX + 1);
	const char *comp = name;

	if (n == 0 || n > FERRY_OBJECT_NAME_MAX)
		return ferry_err_set(err, -EINVAL, "object name is empty or longer than %d bytes",
		                     FERRY_OBJECT_NAME_MAX);
	for (size_t i = 0; i <= n; i++) {
		char c = name[i];

		if (c == '/' || c == '\0') {
			size_t len = (size_t)(name + i - comp);

			if (len == 0 || (len == 1 && comp[0] == '.') || (len == 2 && comp[0] == '.' && comp[1] == '.'))
				return ferry_err_set(err, -EINVAL,
				                     "object name '%.64s' has an empty, '.' or '..' component", name);
			comp = name + i + 1;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-' || c == '+'))
			return ferry_err_set(err, -EINVAL, "object name has a byte outside [A-Za-z0-9._+-/]");
	}
	return 0;
}

int ferry_manifest_encode(const struct ferry_manifest *m, struct ferry_buf *out)
{
	int r = ferry_buf_append(out, FERRY_MANIFEST_MAGIC, 4);

	r = r ? r : ferry_buf_u32(out, m->n);
	for (uint32_t i = 0; r == 0 && i < m->n; i++) {
		const struct ferry_manifest_object *o = &m->objects[i];
		size_t n = strlen(o->name);

		r = r ? r : ferry_buf_u16(out, (uint16_t)n);
		r = r ? r : ferry_buf_append(out, o->name, n);
		r = r ? r : ferry_buf_u64(out, o->size);
		r = r ? r : ferry_buf_append(out, o->sha256, 32);
	}
	return r;
}

int ferry_manifest_parse(const uint8_t *p, size_t len, struct ferry_manifest *ret, struct ferry_err *err)
{
	struct ferry_manifest m = { 0 };
	struct ferry_reader r;
	char magic[4];
	int rc;

	ferry_reader_init(&r, p, len);
	if (!ferry_get_bytes(&r, magic, 4) || memcmp(magic, FERRY_MANIFEST_MAGIC, 4) != 0)
		return ferry_err_set(err, -EPROTO, "not a manifest (bad magic)");
	m.n = ferry_get_u32(&r);
	if (!r.ok)
		return ferry_err_set(err, -EPROTO, "manifest is cut short");
	/* Check the count against the bytes present before allocating for it. */
	if (m.n > FERRY_MANIFEST_MAX_OBJECTS || (size_t)m.n > r.left / OBJECT_MIN_LEN)
		return ferry_err_set(err, -EPROTO, "manifest claims %u objects; at most %d and what its %zu bytes hold",
		                     m.n, FERRY_MANIFEST_MAX_OBJECTS, len);
	m.objects = calloc(m.n ? m.n : 1, sizeof(*m.objects));
	if (!m.objects)
		return ferry_err_set(err, -ENOMEM, "out of memory for the manifest");
	for (uint32_t i = 0; i < m.n; i++) {
		struct ferry_manifest_object *o = &m.objects[i];
		uint16_t n = ferry_get_u16(&r);

		if (!r.ok || n == 0 || n > FERRY_OBJECT_NAME_MAX || !ferry_get_bytes(&r, o->name, n)) {
			rc = ferry_err_set(err, -EPROTO, "manifest object %u has a bad name length", i);
			goto fail;
		}
		o->name[n] = '\0';
		if (strlen(o->name) != n || (rc = ferry_object_name_check(o->name, err)) < 0) {
			rc = ferry_err_set(err, -EPROTO, "manifest object %u has a forbidden name", i);
			goto fail;
		}
		for (uint32_t k = 0; k < i; k++) {
			if (strcmp(m.objects[k].name, o->name) == 0) {
				rc = ferry_err_set(err, -EPROTO, "manifest names object '%.64s' twice", o->name);
				goto fail;
			}
		}
		o->size = ferry_get_u64(&r);
		ferry_get_bytes(&r, o->sha256, 32);
		if (!r.ok) {
			rc = ferry_err_set(err, -EPROTO, "manifest is cut short");
			goto fail;
		}
		if (o->size > UINT64_MAX - m.total) {
			rc = ferry_err_set(err, -EPROTO, "manifest sizes overflow");
			goto fail;
		}
		m.total += o->size;
	}
	if (r.left != 0) {
		rc = ferry_err_set(err, -EPROTO, "manifest has %zu trailing bytes", r.left);
		goto fail;
	}
	*ret = m;
	return 0;
fail:
	free(m.objects);
	return rc;
}

void ferry_manifest_free(struct ferry_manifest *m)
{
	if (!m)
		return;
	free(m->objects);
	m->objects = NULL;
	m->n = 0;
}

void ferry_sha256(const void *p, size_t len, uint8_t out[32])
{
	unsigned int n = 32;

	EVP_Digest(p, len, out, &n, EVP_sha256(), NULL);
}
