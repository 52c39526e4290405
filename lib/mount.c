/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The container's mount namespace: the mounts of config.json below the
 * rootfs, pivot_root into it, then masked and read-only paths.
 *
 * Every mount target is resolved inside the rootfs with openat2(2) and
 * RESOLVE_IN_ROOT and mounted through its /proc/self/fd path, so a symlink
 * in the image ("/proc -> /host/etc") can never redirect a mount to the host.
 */
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>

#include "engine.h"
#include "util.h"

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

static int openat2_in_root(int rootfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)flags | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;
	do
		fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	while (fd < 0 && (errno == EAGAIN || errno == EINTR));
	return fd;
}

/*
 * Missing components are created one at a time, each in a parent resolved
 * inside the root.  A dangling symlink on the way ("/var/run -> /run" with
 * no /run yet) is expanded into the path, as the kernel would follow it
 * from the root, and the walk starts again: what gets created is always the
 * target inside the rootfs, never a host path.
 */
int path_open_in_root(int rootfd, const char *path, bool create, bool file, struct cella_error *err)
{
	int fd = openat2_in_root(rootfd, path, O_PATH);
	if (fd >= 0 || errno != ENOENT || !create) {
		if (fd < 0)
			cella_error_set(err, errno, "open `%s` in the rootfs", path);
		return fd;
	}

	char cur[4096];
	if (snprintf(cur, sizeof(cur), "%s", path) >= (int)sizeof(cur))
		return cella_error_set(err, ENAMETOOLONG, "`%s`", path);
	for (int hops = 0; hops < 40; hops++) {
		char buf[4096];
		strcpy(buf, cur);
		cleanup_close int parent = openat2_in_root(rootfd, "/", O_PATH);
		if (parent < 0)
			return cella_error_set(err, errno, "open rootfs");
		char *save = NULL, *comp = strtok_r(buf, "/", &save);
		bool restart = false;
		while (comp && !restart) {
			char *next = strtok_r(NULL, "/", &save);
			/* the prefix up to and including comp, resolved again from the root */
			char sub[4096];
			size_t plen = (size_t)(comp - buf) + strlen(comp);
			memcpy(sub, cur, plen);
			sub[plen] = '\0';
			int child = openat2_in_root(rootfd, sub, O_PATH);
			if (child < 0 && errno == ENOENT) {
				char link[4096];
				ssize_t n = readlinkat(parent, comp, link, sizeof(link) - 1);
				if (n >= 0) {
					link[n] = '\0';
					const char *rest = cur + plen;
					int w = link[0] == '/'
						? snprintf(buf, sizeof(buf), "%s%s", link, rest)
						: snprintf(buf, sizeof(buf), "%.*s/%s%s", (int)(comp - buf), cur, link, rest);
					if (w < 0 || (size_t)w >= sizeof(buf))
						return cella_error_set(err, ENAMETOOLONG, "`%s`", path);
					strcpy(cur, buf);
					restart = true;
					break;
				}
				int r;
				if (!next && file) {
					r = openat(parent, comp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
					if (r >= 0)
						close(r);
				} else {
					r = mkdirat(parent, comp, 0755);
				}
				if (r < 0 && errno != EEXIST)
					return cella_error_set(err, errno, "create `%s` in the rootfs", sub);
				child = openat2_in_root(rootfd, sub, O_PATH);
			}
			if (child < 0)
				return cella_error_set(err, errno, "open `%s` in the rootfs", sub);
			close(parent);
			parent = child;
			comp = next;
		}
		if (!restart)
			return steal_fd(&parent);
	}
	return cella_error_set(err, ELOOP, "open `%s` in the rootfs", path);
}

static void fd_path(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/* Attributes for mount_setattr(2) from MS_* flags. */
static uint64_t mount_attr_from_flags(unsigned long f)
{
	uint64_t a = 0;
	if (f & MS_RDONLY)
		a |= MOUNT_ATTR_RDONLY;
	if (f & MS_NOSUID)
		a |= MOUNT_ATTR_NOSUID;
	if (f & MS_NODEV)
		a |= MOUNT_ATTR_NODEV;
	if (f & MS_NOEXEC)
		a |= MOUNT_ATTR_NOEXEC;
	if (f & MS_NODIRATIME)
		a |= MOUNT_ATTR_NODIRATIME;
	if (f & MS_NOSYMFOLLOW)
		a |= MOUNT_ATTR_NOSYMFOLLOW;
	return a;
}

int mount_attrs_apply(int fd, bool recursive, unsigned long set, unsigned long clr)
{
	struct mount_attr attr = {
		.attr_set = mount_attr_from_flags(set),
		.attr_clr = mount_attr_from_flags(clr),
	};
	if (set & MS_NOATIME) {
		attr.attr_set |= MOUNT_ATTR_NOATIME;
		attr.attr_clr |= MOUNT_ATTR__ATIME;
	} else if (set & MS_STRICTATIME) {
		attr.attr_set |= MOUNT_ATTR_STRICTATIME;
		attr.attr_clr |= MOUNT_ATTR__ATIME;
	} else if (set & MS_RELATIME) {
		attr.attr_set |= MOUNT_ATTR_RELATIME;
		attr.attr_clr |= MOUNT_ATTR__ATIME;
	}
	if (!attr.attr_set && !attr.attr_clr)
		return 0;
	return mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof(attr));
}

#define MS_ATTR_MASK (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | \
		      MS_RELATIME | MS_STRICTATIME | MS_NOSYMFOLLOW)

/*
 * A bind mount is built detached (open_tree), given its options there, and
 * only then attached: the container never sees it writable, even briefly.
 */
static int mount_bind(const struct oci_mount *m, const char *tpath, struct cella_error *err)
{
	cleanup_close int tree = open_tree(AT_FDCWD, m->source,
					   OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (m->recursive ? AT_RECURSIVE : 0));
	if (tree < 0)
		return cella_error_set(err, errno, "bind `%s`", m->source);
	unsigned long set = m->flags & MS_ATTR_MASK, clr = m->clear_flags & MS_ATTR_MASK;
	if ((set || clr) && mount_attrs_apply(tree, false, set, clr) < 0)
		return cella_error_set(err, errno, "set options on bind mount of `%s`", m->source);
	if ((m->rec_flags || m->rec_clear_flags) &&
	    mount_attrs_apply(tree, true, m->rec_flags, m->rec_clear_flags) < 0)
		return cella_error_set(err, errno, "set recursive options on bind mount of `%s`", m->source);
	if (move_mount(tree, "", AT_FDCWD, tpath, MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_SYMLINKS) < 0)
		return cella_error_set(err, errno, "attach bind mount of `%s`", m->source);
	return 0;
}

/*
 * Nothing may be mounted over procfs files (core_pattern, sysrq-trigger...):
 * that is how a container reaches the host kernel.  Checked on the path the
 * target really resolved to, so a symlink in the image cannot lead there.
 * Only the files LXCFS-style tools replace are allowed, as runc allows them.
 */
static int mount_check_proc(const char *rootfs, int target, const struct oci_mount *m,
			    struct cella_error *err)
{
	static const char *const allowed[] = {
		"/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
		"/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/sys/kernel/ns_last_pid",
		"/proc/sys/crypto/fips_enabled",
	};
	char link[64], real[4096];
	fd_path(link, sizeof(link), target);
	ssize_t n = readlink(link, real, sizeof(real) - 1);
	if (n < 0)
		return cella_error_set(err, errno, "resolve the mount target");
	real[n] = '\0';
	size_t rlen = strlen(rootfs);
	/* (a rootfs of "/" leaves the path as it is) */
	const char *rel = rlen <= 1 || strncmp(real, rootfs, rlen) ? real : real + rlen;
	if (strcmp(rel, "/proc") == 0) {
		if (m->bind || !m->type || strcmp(m->type, "proc"))
			return cella_error_set(err, EPERM, "only a proc filesystem may be mounted on /proc");
		return 0;
	}
	if (strncmp(rel, "/proc/", 6))
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(allowed); i++)
		if (!strcmp(rel, allowed[i]))
			return 0;
	return cella_error_set(err, EPERM, "the target resolves to `%s` in /proc: refused", rel);
}

/* Copy a directory tree (tmpcopyup): the image's content under a fresh tmpfs. */
static int tree_copy(int src, int dst, int depth, struct cella_error *err)
{
	if (depth > 64)
		return cella_error_set(err, ELOOP, "tmpcopyup: tree too deep");
	int dfd = dup(src);
	if (dfd < 0)
		return cella_error_set(err, errno, "tmpcopyup");
	cleanup_dir DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return cella_error_set(err, errno, "tmpcopyup");
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *name = e->d_name;
		struct stat st;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return cella_error_set(err, errno, "tmpcopyup: stat `%s`", name);
		int r = 0;
		if (S_ISDIR(st.st_mode)) {
			r = mkdirat(dst, name, st.st_mode & 07777);
			cleanup_close int s2 = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			cleanup_close int d2 = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (r < 0 || s2 < 0 || d2 < 0)
				return cella_error_set(err, errno, "tmpcopyup: `%s`", name);
			if (tree_copy(s2, d2, depth + 1, err) < 0)
				return -1;
		} else if (S_ISREG(st.st_mode)) {
			cleanup_close int in = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			cleanup_close int out = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777);
			if (in < 0 || out < 0)
				return cella_error_set(err, errno, "tmpcopyup: `%s`", name);
			char buf[65536];
			ssize_t k;
			while ((k = read(in, buf, sizeof(buf))) > 0)
				if (write_all(out, buf, k) < 0)
					return cella_error_set(err, errno, "tmpcopyup: write `%s`", name);
			if (k < 0)
				return cella_error_set(err, errno, "tmpcopyup: read `%s`", name);
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t k = readlinkat(src, name, target, sizeof(target) - 1);
			if (k < 0)
				return cella_error_set(err, errno, "tmpcopyup: readlink `%s`", name);
			target[k] = '\0';
			r = symlinkat(target, dst, name);
		} else {
			r = mknodat(dst, name, st.st_mode, st.st_rdev);
		}
		if (r < 0)
			return cella_error_set(err, errno, "tmpcopyup: create `%s`", name);
		if (fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
			return cella_error_set(err, errno, "tmpcopyup: chown `%s`", name);
	}
	return 0;
}

/* Reopen an O_PATH fd as a directory to read or write in. */
static int dir_reopen(int pathfd)
{
	return openat(pathfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int mount_one(struct rootfs_ctx *ctx, int rootfd, const struct oci_mount *m, struct cella_error *err)
{
	bool is_file = false;
	char tpath[64];

	if (m->bind) {
		struct stat st;
		if (!m->source)
			return cella_error_set(err, EINVAL, "bind mount without a source");
		if (stat(m->source, &st) < 0)
			return cella_error_set(err, errno, "bind source `%s`", m->source);
		is_file = !S_ISDIR(st.st_mode);
	}
	cleanup_close int target = path_open_in_root(rootfd, m->destination, true, is_file, err);
	if (target < 0)
		return -1;
	if (mount_check_proc(ctx->rootfs, target, m, err) < 0)
		return -1;
	fd_path(tpath, sizeof(tpath), target);
	/* the directory under the mount, still reachable through this fd afterwards */
	cleanup_close int below = m->tmpcopyup ? dir_reopen(target) : -1;
	if (m->tmpcopyup && below < 0)
		return cella_error_set(err, errno, "tmpcopyup: open `%s`", m->destination);

	if (m->bind) {
		if (mount_bind(m, tpath, err) < 0)
			return -1;
	} else if (m->type && !strcmp(m->type, "cgroup")) {
		if (ctx->cgroup_ready && ctx->cgroup_ready(ctx->cgroup_ready_data, err) < 0)
			return -1;
		if (cgroup_mount(ctx->cgroup, tpath, m->flags & MS_ATTR_MASK, err) < 0)
			return -1;
	} else {
		const char *type = m->type ? m->type : "none";
		const char *src = m->source ? m->source : type;
		cleanup_free char *labelled = lsm_mount_data(ctx->config, m);
		if (mount(src, tpath, type, m->flags & ~(MS_BIND | MS_REC), labelled ? labelled : m->data) < 0)
			return cella_error_set(err, errno, "mount %s%s%s", type,
					       m->data ? " with options " : "", m->data ? m->data : "");
		if (m->rec_flags || m->rec_clear_flags) {
			/* the new mount is reached through a fresh fd: the old one is below it */
			cleanup_close int top = path_open_in_root(rootfd, m->destination, false, false, err);
			if (top < 0 || mount_attrs_apply(top, true, m->rec_flags, m->rec_clear_flags) < 0)
				return cella_error_set(err, errno, "set recursive options");
		}
		if (below >= 0) {
			cleanup_close int top = path_open_in_root(rootfd, m->destination, false, false, err);
			cleanup_close int topdir = top < 0 ? -1 : dir_reopen(top);
			if (topdir < 0)
				return cella_error_set(err, errno, "tmpcopyup: open the new mount");
			if (tree_copy(below, topdir, 0, err) < 0)
				return -1;
		}
	}
	if (m->propagation) {
		cleanup_close int top = path_open_in_root(rootfd, m->destination, false, false, err);
		if (top < 0)
			return -1;
		fd_path(tpath, sizeof(tpath), top);
		if (mount(NULL, tpath, NULL, m->propagation, NULL) < 0)
			return cella_error_set(err, errno, "set propagation");
	}
	return 0;
}

static bool config_mounts_dev(const struct oci_config *c)
{
	for (size_t i = 0; i < c->n_mounts; i++)
		if (!strcmp(c->mounts[i].destination, "/dev"))
			return true;
	return false;
}

static int rootfs_pivot(int rootfd, bool no_pivot, const char *rootfs, struct cella_error *err)
{
	if (no_pivot) {
		if (chdir(rootfs) < 0)
			return cella_error_set(err, errno, "chdir `%s`", rootfs);
		if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0)
			return cella_error_set(err, errno, "move the rootfs to /");
		if (chroot(".") < 0)
			return cella_error_set(err, errno, "chroot");
		if (chdir("/") < 0)
			return cella_error_set(err, errno, "chdir /");
		return 0;
	}
	if (fchdir(rootfd) < 0)
		return cella_error_set(err, errno, "chdir into the rootfs");
	/* pivot_root(".", ".") stacks the old root on top of the new one; detach it */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return cella_error_set(err, errno, "pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		return cella_error_set(err, errno, "detach the old root");
	if (chdir("/") < 0)
		return cella_error_set(err, errno, "chdir /");
	return 0;
}

/* A detached bind of the host's /dev/null, checked to be the null device. */
static int host_null_tree(struct cella_error *err)
{
	struct stat st;
	cleanup_close int tree = open_tree(AT_FDCWD, "/dev/null", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		return cella_error_set(err, errno, "open the host's /dev/null");
	if (fstat(tree, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
		return cella_error_set(err, EINVAL, "the host's /dev/null is not the null device");
	return steal_fd(&tree);
}

/*
 * The rootfs as a detached tree whose ownership is seen through the user
 * namespace `userns_fd`: root inside owns what host root owns, without a
 * chown of the image.  Built by the runtime (host root: only it may idmap
 * the host's filesystems), attached by the init.  -1 with errno when the
 * filesystem cannot be idmapped.
 */
int rootfs_idmap(const char *rootfs, int userns_fd)
{
	cleanup_close int tree = open_tree(AT_FDCWD, rootfs, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (tree < 0)
		return -1;
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns_fd };
	if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		return -1;
	return steal_fd(&tree);
}

int rootfs_setup(struct rootfs_ctx *ctx, struct cella_error *err)
{
	const struct oci_config *c = ctx->config;

	/* Modes of what we create below are exact; the process's own umask is set last. */
	umask(0);
	/* Nothing done below may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return cella_error_set(err, errno, "make / a slave mount");
	/* pivot_root needs the new root to be a mount point: a bind of the
	 * rootfs, or the idmapped tree the runtime made of it */
	if (ctx->idmapped_root >= 0) {
		if (move_mount(ctx->idmapped_root, "", AT_FDCWD, ctx->rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
			return cella_error_set(err, errno, "attach the idmapped rootfs `%s`", ctx->rootfs);
	} else if (mount(ctx->rootfs, ctx->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) {
		return cella_error_set(err, errno, "bind the rootfs `%s`", ctx->rootfs);
	}
	if (ctx->no_pivot && mount(NULL, ctx->rootfs, NULL, MS_PRIVATE, NULL) < 0)
		return cella_error_set(err, errno, "make the rootfs private");
	cleanup_close int rootfd = open(ctx->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return cella_error_set(err, errno, "open the rootfs `%s`", ctx->rootfs);

	for (size_t i = 0; i < c->n_mounts; i++) {
		if (mount_one(ctx, rootfd, &c->mounts[i], err) < 0)
			return cella_error_wrap(err, "mounts[%zu]: %s", i, c->mounts[i].destination);
	}

	if (devices_create(rootfd, c, config_mounts_dev(c), ctx->in_userns, err) < 0)
		return -1;
	if (ctx->console_sock >= 0) {
		char src[64], dst[64];
		cleanup_close int ptmx = path_open_in_root(rootfd, "/dev/pts/ptmx", false, false, err);
		if (ptmx < 0)
			return cella_error_wrap(err, "process.terminal");
		fd_path(src, sizeof(src), ptmx);
		if (console_create(ctx->console_sock, src, &c->process, &ctx->console_slave, err) < 0)
			return -1;
		cleanup_close int cons = path_open_in_root(rootfd, "/dev/console", true, true, err);
		if (cons < 0)
			return -1;
		/* an image's /dev/console symlink must not lead the pty over a /proc file */
		static const struct oci_mount console_mount = { .destination = "/dev/console", .bind = true };
		if (mount_check_proc(ctx->rootfs, cons, &console_mount, err) < 0)
			return cella_error_wrap(err, "/dev/console");
		fd_path(src, sizeof(src), ctx->console_slave);
		fd_path(dst, sizeof(dst), cons);
		if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
			return cella_error_set(err, errno, "bind the console on /dev/console");
	}

	if (ctx->cgroup_ready && ctx->cgroup_ready(ctx->cgroup_ready_data, err) < 0)
		return -1;
	if (ctx->before_pivot && ctx->before_pivot(ctx->cgroup_ready_data, err) < 0)
		return -1;
	if (c->n_masked_paths && (ctx->null_tree = host_null_tree(err)) < 0)
		return -1;
	if (rootfs_pivot(rootfd, ctx->no_pivot, ctx->rootfs, err) < 0)
		return -1;
	if (c->rootfs_propagation && mount(NULL, "/", NULL, c->rootfs_propagation, NULL) < 0)
		return cella_error_set(err, errno, "linux.rootfsPropagation");
	return 0;
}

/* Open a path of the (already pivoted) root without following a final symlink. */
static int path_open_nofollow(const char *path, struct stat *st)
{
	int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, st) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Directories are masked by an empty read-only tmpfs: the first one made is
 * cloned for the others (`tmpl`), cheaper than a new superblock each. */
static int path_mask(const char *path, int *tmpl, int null_tree, struct cella_error *err)
{
	struct stat st;
	char tpath[64];
	cleanup_close int fd = path_open_nofollow(path, &st);
	if (fd < 0)
		return errno == ENOENT ? 0 : cella_error_set(err, errno, "linux.maskedPaths: `%s`", path);
	fd_path(tpath, sizeof(tpath), fd);
	int r;
	if (S_ISDIR(st.st_mode) && *tmpl >= 0) {
		cleanup_close int tree = open_tree(*tmpl, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
		r = tree < 0 ? -1 : move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
	} else if (S_ISDIR(st.st_mode)) {
		r = mount("tmpfs", tpath, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,nr_inodes=1");
		if (r == 0)
			*tmpl = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	} else if (S_ISLNK(st.st_mode))
		return 0; /* a symlink cannot be read through once its target is masked */
	else {
		/* the host's /dev/null, cloned before pivot_root: never the image's
		 * /dev/null, which could be a symlink to a sysctl (CVE-2025-31133) */
		cleanup_close int tree = open_tree(null_tree, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
		r = tree < 0 ? -1 : move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
	}
	if (r < 0)
		return cella_error_set(err, errno, "linux.maskedPaths: mask `%s`", path);
	return 0;
}

static int path_make_readonly(const char *path, struct cella_error *err)
{
	struct stat st;
	char tpath[64];
	cleanup_close int fd = path_open_nofollow(path, &st);
	if (fd < 0)
		return errno == ENOENT ? 0 : cella_error_set(err, errno, "linux.readonlyPaths: `%s`", path);
	fd_path(tpath, sizeof(tpath), fd);
	if (mount(tpath, tpath, NULL, MS_BIND | MS_REC, NULL) < 0)
		return cella_error_set(err, errno, "linux.readonlyPaths: bind `%s`", path);
	cleanup_close int top = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (top < 0 || mount_attrs_apply(top, true, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, 0) < 0)
		return cella_error_set(err, errno, "linux.readonlyPaths: make `%s` read-only", path);
	return 0;
}

int rootfs_finalize(struct rootfs_ctx *ctx, struct cella_error *err)
{
	const struct oci_config *c = ctx->config;

	cleanup_close int tmpl = -1;
	for (size_t i = 0; i < c->n_masked_paths; i++)
		if (path_mask(c->masked_paths[i], &tmpl, ctx->null_tree, err) < 0)
			return -1;
	for (size_t i = 0; i < c->n_readonly_paths; i++)
		if (path_make_readonly(c->readonly_paths[i], err) < 0)
			return -1;
	if (c->root_readonly) {
		cleanup_close int root = open("/", O_PATH | O_CLOEXEC);
		if (root < 0 || mount_attrs_apply(root, false, MS_RDONLY, 0) < 0)
			return cella_error_set(err, errno, "root.readonly: remount / read-only");
	}
	return 0;
}
