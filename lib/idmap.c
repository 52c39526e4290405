/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* uid/gid maps of a new user namespace, written by the parent. */
#include <fcntl.h>
#include <ftw.h>
#include <unistd.h>
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

/* The host id that `id` (inside) maps to, or -1 when it is not mapped. */
long idmap_host(const struct oci_idmap *m, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (id >= m[i].container_id && id - m[i].container_id < m[i].size)
			return (long)m[i].host_id + (id - m[i].container_id);
	return -1;
}

/* nftw() has no user data: the walk is single-threaded, one at a time. */
static const struct oci_config *chown_config;
static int chown_errno;

static int chown_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)type;
	(void)ftw;
	const struct oci_config *c = chown_config;
	long uid = idmap_host(c->uid_mappings, c->n_uid_mappings, st->st_uid);
	long gid = idmap_host(c->gid_mappings, c->n_gid_mappings, st->st_gid);
	if (uid < 0 && gid < 0)
		return 0;
	if (uid == (long)st->st_uid && gid == (long)st->st_gid)
		return 0;
	mode_t mode = st->st_mode & 07777;
	if (lchown(path, uid < 0 ? (uid_t)-1 : (uid_t)uid, gid < 0 ? (gid_t)-1 : (gid_t)gid) < 0) {
		chown_errno = errno;
		return 1;
	}
	/* chown clears setuid/setgid bits: put them back */
	if ((mode & (S_ISUID | S_ISGID)) && !S_ISLNK(st->st_mode))
		chmod(path, mode);
	return 0;
}

/*
 * The fallback when the rootfs cannot be idmapped: shift its owners into
 * the user namespace's host range, in place, once (an id already shifted
 * is outside the container range, so a second run changes nothing as long
 * as the host range does not overlap the container range).
 */
int idmap_chown_tree(const char *rootfs, const struct oci_config *c, struct cella_error *err)
{
	chown_config = c;
	chown_errno = 0;
	int r = nftw(rootfs, chown_one, 64, FTW_PHYS | FTW_MOUNT);
	chown_config = NULL;
	if (r != 0)
		return cella_error_set(err, chown_errno ? chown_errno : errno, "chown the rootfs `%s` into the user namespace", rootfs);
	return 0;
}
