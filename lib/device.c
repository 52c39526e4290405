/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Device nodes of a container: the OCI default set and linux.devices. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "engine.h"
#include "util.h"

static const struct oci_device default_devices[] = {
	{ .type = 'c', .path = "/dev/null", .major = 1, .minor = 3 },
	{ .type = 'c', .path = "/dev/zero", .major = 1, .minor = 5 },
	{ .type = 'c', .path = "/dev/full", .major = 1, .minor = 7 },
	{ .type = 'c', .path = "/dev/random", .major = 1, .minor = 8 },
	{ .type = 'c', .path = "/dev/urandom", .major = 1, .minor = 9 },
	{ .type = 'c', .path = "/dev/tty", .major = 5, .minor = 0 },
};

static const struct { const char *target, *name; } default_links[] = {
	{ "/proc/self/fd", "fd" },
	{ "/proc/self/fd/0", "stdin" },
	{ "/proc/self/fd/1", "stdout" },
	{ "/proc/self/fd/2", "stderr" },
	{ "pts/ptmx", "ptmx" },
	{ "/proc/kcore", "core" },
};

/* Split "/dev/net/tun" into an fd of its parent (created, resolved in root) and "tun". */
static int device_parent_open(int rootfd, const char *path, const char **name, struct cella_error *err)
{
	char parent[4096];
	const char *slash = strrchr(path, '/');
	if (!slash || slash[1] == '\0' || (size_t)(slash - path) >= sizeof(parent))
		return cella_error_set(err, EINVAL, "linux.devices: invalid path `%s`", path);
	memcpy(parent, path, slash - path);
	parent[slash - path] = '\0';
	*name = slash + 1;
	cleanup_close int p = path_open_in_root(rootfd, parent[0] ? parent : "/", true, false, err);
	if (p < 0)
		return -1;
	/* O_PATH fds cannot be used with mknodat: reopen the directory */
	int fd = openat(p, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cella_error_set(err, errno, "open `%s`", parent);
	return fd;
}

/* Create one node in `dir` (the umask is 0 in the init, so modes are exact). */
static int device_make(int dir, const char *name, const struct oci_device *d, bool bind, bool replace,
		       struct cella_error *err)
{
	mode_t mode = d->has_file_mode ? (d->file_mode & 07777) : 0666;
	mode_t type = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;

	if (replace && unlinkat(dir, name, 0) < 0 && errno != ENOENT && errno != EISDIR)
		return cella_error_set(err, errno, "linux.devices: replace `%s`", d->path);
	if (bind && type != S_IFIFO) {
		/* mknod is not allowed in a user namespace: bind the host's node */
		char src[64];
		int f = openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0000);
		if (f < 0)
			return cella_error_set(err, errno, "linux.devices: create `%s`", d->path);
		snprintf(src, sizeof(src), "/proc/self/fd/%d", f);
		int r = mount(d->path, src, NULL, MS_BIND, NULL);
		int e = errno;
		close(f);
		if (r < 0)
			return cella_error_set(err, e, "linux.devices: bind `%s`", d->path);
		return 0;
	}
	if (mknodat(dir, name, type | mode, makedev(d->major, d->minor)) < 0)
		return cella_error_set(err, errno, "linux.devices: mknod `%s`", d->path);
	if ((d->has_uid || d->has_gid) &&
	    fchownat(dir, name, d->has_uid ? d->uid : (uid_t)-1, d->has_gid ? d->gid : (gid_t)-1,
		     AT_SYMLINK_NOFOLLOW) < 0)
		return cella_error_set(err, errno, "linux.devices: chown `%s`", d->path);
	return 0;
}

static int device_create(int rootfd, const struct oci_device *d, bool bind, struct cella_error *err)
{
	const char *name;
	cleanup_close int dir = device_parent_open(rootfd, d->path, &name, err);
	if (dir < 0)
		return -1;
	return device_make(dir, name, d, bind, true, err);
}

static bool config_has_device(const struct oci_config *c, const char *path)
{
	for (size_t i = 0; i < c->n_devices; i++)
		if (!strcmp(c->devices[i].path, path))
			return true;
	return false;
}

int devices_create(int rootfd, const struct oci_config *c, bool defaults, bool bind,
		   struct cella_error *err)
{
	if (defaults) {
		/* a fresh tmpfs: nothing to replace, one directory fd for all */
		cleanup_close int dev = path_open_in_root(rootfd, "/dev", false, false, err);
		if (dev < 0)
			return -1;
		cleanup_close int devdir = openat(dev, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (devdir < 0)
			return cella_error_set(err, errno, "open /dev");
		for (size_t i = 0; i < ARRAY_SIZE(default_devices); i++) {
			const struct oci_device *d = &default_devices[i];
			if (config_has_device(c, d->path))
				continue;
			if (device_make(devdir, d->path + 5, d, bind, false, err) < 0)
				return -1;
		}
		for (size_t i = 0; i < ARRAY_SIZE(default_links); i++) {
			if (symlinkat(default_links[i].target, devdir, default_links[i].name) < 0 &&
			    errno != EEXIST)
				return cella_error_set(err, errno, "symlink /dev/%s", default_links[i].name);
		}
	}
	for (size_t i = 0; i < c->n_devices; i++)
		if (device_create(rootfd, &c->devices[i], bind, err) < 0)
			return -1;
	return 0;
}
