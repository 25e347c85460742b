/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ferry/exec.h"
#include "ferry/fs.h"
#include "ferry/layer.h"

int ferry_layer_pack(const char *dir, const char *tar_path, struct ferry_err *err)
{
	const char *argv[] = {
		"tar",      "--create",           "--file",   tar_path,      "--directory", dir, "--numeric-owner",
		"--xattrs", "--xattrs-include=*", "--sparse", "--sort=name", ".",           NULL
	};
	struct ferry_exec_opts o = { .timeout_ms = FERRY_LAYER_TIMEOUT_MS };

	return ferry_exec_ok(argv, &o, err);
}

int ferry_layer_check(const char *tar_path, struct ferry_err *err)
{
	const char *argv[] = { "tar", "--list", "--file", tar_path, NULL };
	struct ferry_exec_opts o = { .timeout_ms = FERRY_LAYER_TIMEOUT_MS };
	struct ferry_exec_result res;
	int r = ferry_exec(argv, &o, &res, err);

	if (r == 0 && res.status != 0)
		r = ferry_err_set(err, -EINVAL, "%s is not a tar archive", tar_path);
	for (char *line = res.out.data; r == 0 && line && *line;) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (line[0] == '/' || strcmp(line, "..") == 0 || strncmp(line, "../", 3) == 0 || strstr(line, "/../") ||
		    (strlen(line) >= 3 && strcmp(line + strlen(line) - 3, "/..") == 0))
			r = ferry_err_set(err, -EINVAL, "archive member '%.100s' escapes the tree", line);
		line = nl ? nl + 1 : NULL;
	}
	if (r == 0 && res.out.len >= res.out.max)
		r = ferry_err_set(err, -E2BIG, "%s lists more than %d bytes of names", tar_path, FERRY_EXEC_OUTPUT_MAX);
	ferry_exec_result_free(&res);
	return r;
}

int ferry_layer_unpack(const char *tar_path, const char *dir, struct ferry_err *err)
{
	const char *argv[] = { "tar",
		               "--extract",
		               "--file",
		               tar_path,
		               "--directory",
		               dir,
		               "--numeric-owner",
		               "--xattrs",
		               "--xattrs-include=*",
		               "--same-permissions",
		               NULL };
	struct ferry_exec_opts o = { .timeout_ms = FERRY_LAYER_TIMEOUT_MS };
	int r;

	if ((r = ferry_layer_check(tar_path, err)) < 0)
		return r;
	if (mkdir(dir, 0755) < 0)
		return ferry_err_sys(err, -errno, "cannot create %s", dir);
	if ((r = ferry_exec_ok(argv, &o, err)) < 0)
		ferry_rm_tree(dir, NULL);
	return r;
}

int ferry_file_sha256(const char *path, uint8_t out[32], uint64_t *size, struct ferry_err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *chunk = malloc(256 * 1024);
	unsigned int n = 32;
	uint64_t total = 0;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r = 0;

	if (fd < 0)
		r = ferry_err_sys(err, -errno, "cannot open %s", path);
	else if (!ctx || !chunk || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		r = ferry_err_set(err, -ENOMEM, "cannot hash %s", path);
	while (r == 0 && (got = read(fd, chunk, 256 * 1024)) != 0) {
		if (got < 0) {
			r = ferry_err_sys(err, -errno, "cannot read %s", path);
			break;
		}
		EVP_DigestUpdate(ctx, chunk, (size_t)got);
		total += (uint64_t)got;
	}
	if (r == 0) {
		EVP_DigestFinal_ex(ctx, out, &n);
		if (size)
			*size = total;
	}
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(ctx);
	free(chunk);
	return r;
}
