/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* uid/gid maps of a new user namespace, written by the parent. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "util.h"

static int idmap_write_one(pid_t pid, const char *file, const struct oci_idmap *m, size_t n,
			   struct cella_error *err)
{
	char path[64], buf[4096];
	size_t len = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int r = snprintf(buf + len, sizeof(buf) - len, "%u %u %u\n",
				 m[i].container_id, m[i].host_id, m[i].size);
		if (r < 0 || (size_t)r >= sizeof(buf) - len)
			return cella_error_set(err, E2BIG, "linux.%s: too many mappings",
					       !strcmp(file, "uid_map") ? "uidMappings" : "gidMappings");
		len += r;
	}
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return cella_error_set(err, errno, "open `%s`", path);
	/* the kernel takes the whole map in one write or refuses it */
	if (write(fd, buf, len) != (ssize_t)len)
		return cella_error_set(err, errno, "linux.%s: write `%s`",
				       !strcmp(file, "uid_map") ? "uidMappings" : "gidMappings", path);
	return 0;
}

int idmap_write(pid_t pid, const struct oci_config *c, struct cella_error *err)
{
	if (idmap_write_one(pid, "uid_map", c->uid_mappings, c->n_uid_mappings, err) < 0)
		return -1;
	return idmap_write_one(pid, "gid_map", c->gid_mappings, c->n_gid_mappings, err);
}
