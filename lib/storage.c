/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Instance storage, "dir" backend: a VPS's root filesystem is an overlay
 * of its image (read-only, shared by every instance made from it) and an
 * upper directory of its own.  Nothing is ever chowned: both layers keep
 * the image's ids (0..65535) on disk and enter the overlay through
 * idmapped mounts onto the instance's own range, so root inside is an
 * unprivileged id outside, and creating a VPS costs two mkdirs.
 *
 *   VAR/instances/NAME/upper, work       the instance's layer
 *   VAR/snapshots/NAME/SNAP/upper        a snapshot: a copy of the layer
 *   RUN/instances/NAME/rootfs            the merged tree while it runs
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <linux/btrfs.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "storage.h"
#include "util.h"

/* A user namespace mapping 0..count-1 onto base..: the idmap of the mounts. */
int userns_open_range(unsigned base, unsigned count, struct cella_error *err)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return cella_error_set(err, errno, "pipe");
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return cella_error_set(err, errno, "clone a user namespace");
	}
	if (pid == 0) {
		char b;
		close(pipefd[1]);
		/* wait until the parent has what it needs, then go */
		while (read(pipefd[0], &b, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(pipefd[0]);
	int fd = -1;
	char path[64], map[64];
	snprintf(map, sizeof(map), "0 %u %u\n", base, count);
	static const char *const files[] = { "uid_map", "gid_map" };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, files[i]);
		if (write_file_at(AT_FDCWD, path, map, strlen(map), err) < 0)
			goto out;
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		cella_error_set(err, errno, "open %s", path);
out:
	close(pipefd[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return fd;
}

/* A detached clone of `path`, idmapped through `userns`. */
static int tree_idmapped(const char *path, int userns, struct cella_error *err)
{
	cleanup_close int tree = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		return cella_error_set(err, errno, "clone mount of `%s`", path);
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns };
	if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
		return cella_error_set(err, errno, "idmap `%s` (the filesystem must support idmapped mounts)", path);
	return steal_fd(&tree);
}

/*
 * Overlayfs works on its upper layer with the credentials of whoever
 * created it.  Host root (id 0) has no id in the layers' idmap, so the
 * overlay is created with the fs ids of the instance's root (base) and the
 * effective capabilities raised again (changing fsuid from 0 drops them).
 * Both are per-thread.
 */
static int overlay_create_as(int fs, unsigned base)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	setfsgid(base);
	setfsuid(base);
	struct __user_cap_data_struct raised[2] = {
		{ .effective = data[0].permitted, .permitted = data[0].permitted, .inheritable = data[0].inheritable },
		{ .effective = data[1].permitted, .permitted = data[1].permitted, .inheritable = data[1].inheritable },
	};
	int r = (int)syscall(SYS_capset, &hdr, raised);
	if (r == 0)
		r = fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
	int e = errno;
	setfsuid(0);
	setfsgid(0);
	syscall(SYS_capset, &hdr, data);
	errno = e;
	return r;
}

int storage_mount(const char *image_rootfs, const char *layer_dir, unsigned base, const char *target,
		  struct cella_error *err)
{
	char upper[64], work[64], lower[64];
	cleanup_close int userns = userns_open_range(base, 65536, err);
	if (userns < 0)
		return -1;
	cleanup_close int lower_tree = tree_idmapped(image_rootfs, userns, err);
	if (lower_tree < 0)
		return -1;
	cleanup_close int layer_tree = tree_idmapped(layer_dir, userns, err);
	if (layer_tree < 0)
		return -1;
	snprintf(lower, sizeof(lower), "/proc/self/fd/%d", lower_tree);
	snprintf(upper, sizeof(upper), "/proc/self/fd/%d/upper", layer_tree);
	snprintf(work, sizeof(work), "/proc/self/fd/%d/work", layer_tree);
	cleanup_close int fs = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0)
		return cella_error_set(err, errno, "overlayfs");
	if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", lower, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work, 0) < 0 ||
	    /* no inode index: the layer may move between hosts and snapshots */
	    fsconfig(fs, FSCONFIG_SET_STRING, "index", "off", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "xino", "off", 0) < 0 || overlay_create_as(fs, base) < 0)
		return cella_error_set(err, errno, "mount the overlay of `%s`", layer_dir);
	cleanup_close int mnt = fsmount(fs, FSMOUNT_CLOEXEC, 0);
	if (mnt < 0)
		return cella_error_set(err, errno, "mount the overlay of `%s`", layer_dir);
	if (mkdir_p(target, 0700, err) < 0)
		return -1;
	if (move_mount(mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return cella_error_set(err, errno, "attach the overlay at `%s`", target);
	return 0;
}

int storage_umount(const char *target)
{
	if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
		return -1;
	rmdir(target);
	return 0;
}

bool storage_is_mounted(const char *target)
{
	struct stat a, b;
	cleanup_free char *parent = xasprintf("%s/..", target);
	return stat(target, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

int storage_layer_create(const char *layer_dir, struct cella_error *err)
{
	cleanup_free char *upper = xasprintf("%s/upper", layer_dir);
	cleanup_free char *work = xasprintf("%s/work", layer_dir);
	const char *slash = strrchr(layer_dir, '/');
	cleanup_free char *parent = slash ? xasprintf("%.*s", (int)(slash - layer_dir), layer_dir) : xstrdup(".");
	if (storage_is_btrfs(parent)) {
		if (subvol_create(layer_dir, err) < 0)
			return -1;
		chmod(layer_dir, 0711);
	} else if (mkdir(layer_dir, 0711) < 0) {
		return cella_error_set(err, errno, "create `%s`", layer_dir);
	}
	/* the root of the merged tree is the upper dir: root's, 0755, as images have it */
	if (mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0) {
		cella_error_set(err, errno, "create `%s`", layer_dir);
		tree_remove(layer_dir);
		return -1;
	}
	return 0;
}

static bool fd_is_subvolume(int fd);
static int subvol_delete_at(int dirfd, const char *name);
static int parent_open(const char *path, char name[256], struct cella_error *err);

/* A mount's root (not a subvolume, whose st_dev differs too). */
static bool storage_is_mounted_fd(int fd)
{
	struct statx sx;
	return statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx) == 0 &&
	       (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* ---- whole trees: remove and copy, never following a link ---- */

/* Deeper than this is no tree of ours: an error, not a crash or an fd famine. */
#define TREE_MAX_DEPTH 4096

static int tree_remove_at(int dirfd, const char *name, int depth)
{
	cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOTDIR || errno == ELOOP)
			return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
		return errno == ENOENT ? 0 : -1;
	}
	/* a mount point below would take us onto another filesystem; a btrfs
	 * subvolume (another st_dev too) goes whole */
	struct stat st, pst;
	if (fstat(fd, &st) == 0 && fstat(dirfd, &pst) == 0 && st.st_dev != pst.st_dev) {
		if (fd_is_subvolume(fd) && !storage_is_mounted_fd(fd))
			return subvol_delete_at(dirfd, name);
		errno = EBUSY;
		return -1;
	}
	if (depth > TREE_MAX_DEPTH) {
		errno = ELOOP;
		return -1;
	}
	int dfd = dup(fd);
	cleanup_dir DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	struct dirent *de;
	int ret = 0;
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (tree_remove_at(fd, de->d_name, depth + 1) < 0)
			ret = -1;
		errno = 0;
	}
	if (errno)
		ret = -1;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		ret = -1;
	return ret;
}

int tree_remove(const char *path)
{
	/* from its parent: "another filesystem" is judged against where it lives */
	char name[256];
	struct cella_error ignored;
	cleanup_close int dfd = parent_open(path, name, &ignored);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -1;
	return tree_remove_at(dfd, name, 0);
}

static int xattrs_copy(int src, int dst)
{
	char names[65536], value[65536];
	ssize_t n = flistxattr(src, names, sizeof(names));
	if (n < 0)
		return errno == ENOTSUP ? 0 : -1;
	for (char *p = names; p < names + n; p += strlen(p) + 1) {
		ssize_t v = fgetxattr(src, p, value, sizeof(value));
		if (v >= 0 && fsetxattr(dst, p, value, (size_t)v, 0) < 0 && errno != ENOTSUP)
			return -1;
	}
	return 0;
}

/* Links and devices have no fd to read xattrs through: by path under their directory's fd. */
static int lxattrs_copy(int sdir, const char *sname, int ddir, const char *name)
{
	char src[300], dst[300], names[4096], value[4096];
	snprintf(src, sizeof(src), "/proc/self/fd/%d/%s", sdir, sname);
	snprintf(dst, sizeof(dst), "/proc/self/fd/%d/%s", ddir, name);
	ssize_t n = llistxattr(src, names, sizeof(names));
	if (n < 0)
		return errno == ENOTSUP || errno == ERANGE ? 0 : -1;
	for (char *p = names; p < names + n; p += strlen(p) + 1) {
		ssize_t v = lgetxattr(src, p, value, sizeof(value));
		if (v >= 0 && lsetxattr(dst, p, value, (size_t)v, 0) < 0 && errno != ENOTSUP && errno != EPERM)
			return -1;
	}
	return 0;
}

static int file_copy(int src, int dst, off_t size)
{
	for (off_t done = 0; done < size;) {
		ssize_t n = copy_file_range(src, NULL, dst, NULL, (size_t)(size - done), 0);
		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL)) {
			char buf[65536];
			n = read(src, buf, sizeof(buf));
			if (n > 0 && write_all(dst, buf, (size_t)n) < 0)
				return -1;
		}
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += n;
	}
	return 0;
}

/* Kept out of tree_copy_at(): its buffer must not sit on every level's stack. */
static __attribute__((noinline)) int link_copy(int sdir, const char *sname, int ddir, const char *name)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(sdir, sname, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = '\0';
	return symlinkat(target, ddir, name);
}

/*
 * Copy the entry `name` of sdir into ddir, never following a link on the
 * way (every step is relative to an fd we opened with O_NOFOLLOW): a guest
 * that changes its tree meanwhile can make the copy fail, never make it
 * read or write outside.
 */
static int tree_copy_at(int sdir, const char *sname, int ddir, const char *name, int depth, struct cella_error *err)
{
	struct stat st;
	if (fstatat(sdir, sname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return cella_error_set(err, errno, "copy `%s`", name);
	struct timespec times[2] = { st.st_atim, st.st_mtim };
	if (S_ISDIR(st.st_mode)) {
		if (depth > TREE_MAX_DEPTH)
			return cella_error_set(err, ELOOP, "copy `%s`: deeper than %d levels", name, TREE_MAX_DEPTH);
		if (mkdirat(ddir, name, 0700) < 0 && errno != EEXIST)
			return cella_error_set(err, errno, "create `%s`", name);
		cleanup_close int sfd = openat(sdir, sname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		cleanup_close int dfd = openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0 || dfd < 0)
			return cella_error_set(err, errno, "copy `%s`", name);
		int lfd = dup(sfd);
		cleanup_dir DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
		if (!d) {
			if (lfd >= 0)
				close(lfd);
			return cella_error_set(err, errno, "read directory `%s`", name);
		}
		struct dirent *de;
		errno = 0;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (tree_copy_at(sfd, de->d_name, dfd, de->d_name, depth + 1, err) < 0)
				return cella_error_wrap(err, "in `%s`", name);
			errno = 0;
		}
		if (errno)
			return cella_error_set(err, errno, "read directory `%s`", name);
		if (xattrs_copy(sfd, dfd) < 0 || fchown(dfd, st.st_uid, st.st_gid) < 0 ||
		    fchmod(dfd, st.st_mode & 07777) < 0 || futimens(dfd, times) < 0)
			return cella_error_set(err, errno, "copy the attributes of `%s`", name);
		return 0;
	}
	if (S_ISREG(st.st_mode)) {
		cleanup_close int sfd = openat(sdir, sname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		cleanup_close int dfd = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (sfd < 0 || dfd < 0 || file_copy(sfd, dfd, st.st_size) < 0)
			return cella_error_set(err, errno, "copy `%s`", name);
		if (xattrs_copy(sfd, dfd) < 0 || fchown(dfd, st.st_uid, st.st_gid) < 0 ||
		    fchmod(dfd, st.st_mode & 07777) < 0 || futimens(dfd, times) < 0)
			return cella_error_set(err, errno, "copy the attributes of `%s`", name);
		return 0;
	}
	if (S_ISLNK(st.st_mode)) {
		if (link_copy(sdir, sname, ddir, name) < 0)
			return cella_error_set(err, errno, "copy link `%s`", name);
	} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
		/* overlay whiteouts are 0:0 character devices */
		if (mknodat(ddir, name, st.st_mode, st.st_rdev) < 0)
			return cella_error_set(err, errno, "create node `%s`", name);
	} else {
		return 0; /* sockets belong to a running guest */
	}
	if (lxattrs_copy(sdir, sname, ddir, name) < 0 || fchownat(ddir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	    (!S_ISLNK(st.st_mode) && fchmodat(ddir, name, st.st_mode & 07777, 0) < 0) ||
	    utimensat(ddir, name, times, AT_SYMLINK_NOFOLLOW) < 0)
		return cella_error_set(err, errno, "copy the attributes of `%s`", name);
	return 0;
}

int tree_copy(const char *src, const char *dst, struct cella_error *err)
{
	char sname[256], dname[256];
	cleanup_close int sdir = parent_open(src, sname, err);
	if (sdir < 0)
		return -1;
	cleanup_close int ddir = parent_open(dst, dname, err);
	if (ddir < 0)
		return -1;
	struct stat st;
	if (fstatat(ddir, dname, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return cella_error_set(err, EEXIST, "copy to `%s`", dst);
	if (tree_copy_at(sdir, sname, ddir, dname, 0, err) < 0) {
		tree_remove(dst);
		return cella_error_wrap(err, "copy `%s`", src);
	}
	return 0;
}

/* The blocks under AT/NAME on filesystem DEV, each entry stat'ed once (a
 * guest's tree: its depth is bounded as tree_remove_at() bounds it). */
static long long usage_at(int at, const char *name, dev_t dev, int depth)
{
	struct stat st;
	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
		return 0;
	long long total = (long long)st.st_blocks * 512;
	if (!S_ISDIR(st.st_mode) || depth > TREE_MAX_DEPTH)
		return total;
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	cleanup_dir DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return total;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			total += usage_at(dirfd(d), de->d_name, dev, depth + 1);
	return total;
}

long long tree_usage(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0;
	return usage_at(AT_FDCWD, path, st.st_dev, 0);
}

/* ---- limits.disk: the layer on a filesystem of its own ---- */

/*
 * An instance with limits.disk keeps its layer (upper, work) on an ext4
 * filesystem in a sparse file of that size, VAR/disks/NAME.img, mounted on
 * the layer directory through a loop device.  Overlayfs reports its upper
 * filesystem to statfs(), so `df /` inside the guest shows the quota, and
 * a full disk is the guest's ENOSPC alone.
 */
static int run_tool(char *const argv[], struct cella_error *err)
{
	cleanup_close int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return cella_error_set(err, errno, "open /dev/null");
	const int fds[] = { null, null, null };
	pid_t pid;
	int e = spawn_clean(&pid, argv[0], argv, fds, 3, false);
	if (e)
		return cella_error_set(err, e, "run %s", argv[0]);
	int ws;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		return cella_error_set(err, EIO, "%s failed (status %d)", argv[0], WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
	return 0;
}

static const char *tool_path(const char *name)
{
	static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };
	static __thread char buf[64];
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(buf, sizeof(buf), "%s/%s", dirs[i], name);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return name;
}

int disk_create(const char *image, long long bytes, struct cella_error *err)
{
	cleanup_close int fd = open(image, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return cella_error_set(err, errno, "create %s", image);
	if (ftruncate(fd, bytes) < 0) {
		cella_error_set(err, errno, "size %s", image);
		unlink(image);
		return -1;
	}
	char mkfs[64];
	snprintf(mkfs, sizeof(mkfs), "%s", tool_path("mkfs.ext4"));
	char *const argv[] = { mkfs, "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1",
			       (char *)image, NULL };
	if (run_tool(argv, err) < 0) {
		unlink(image);
		return cella_error_wrap(err, "make the filesystem of %s", image);
	}
	return 0;
}

int disk_grow(const char *image, long long bytes, struct cella_error *err)
{
	struct stat st;
	if (stat(image, &st) < 0)
		return cella_error_set(err, errno, "%s", image);
	if (bytes < st.st_size)
		return cella_error_set(err, EINVAL, "limits.disk cannot shrink a disk (%lld bytes now)", (long long)st.st_size);
	if (bytes == st.st_size)
		return 0;
	if (truncate(image, bytes) < 0)
		return cella_error_set(err, errno, "grow %s", image);
	char resize[64], e2fsck[64];
	snprintf(resize, sizeof(resize), "%s", tool_path("resize2fs"));
	snprintf(e2fsck, sizeof(e2fsck), "%s", tool_path("e2fsck"));
	char *const check[] = { e2fsck, "-f", "-p", (char *)image, NULL };
	char *const argv[] = { resize, (char *)image, NULL };
	if (run_tool(check, err) < 0 || run_tool(argv, err) < 0)
		return cella_error_wrap(err, "grow the filesystem of %s", image);
	return 0;
}

int disk_mount(const char *image, const char *target, struct cella_error *err)
{
	if (storage_is_mounted(target))
		return 0;
	cleanup_close int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	cleanup_close int img = open(image, O_RDWR | O_CLOEXEC);
	if (ctl < 0 || img < 0)
		return cella_error_set(err, errno, "open %s", ctl < 0 ? "/dev/loop-control" : image);
	for (int attempt = 0; attempt < 8; attempt++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			return cella_error_set(err, errno, "find a free loop device");
		char dev[32];
		snprintf(dev, sizeof(dev), "/dev/loop%d", n);
		cleanup_close int lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0)
			return cella_error_set(err, errno, "open %s", dev);
		/* gone with the last unmount: nothing to detach by hand */
		struct loop_config cfg = { .fd = (unsigned)img, .info = { .lo_flags = LO_FLAGS_AUTOCLEAR } };
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) < 0) {
			if (errno == EBUSY)
				continue; /* taken meanwhile */
			return cella_error_set(err, errno, "attach %s to %s", image, dev);
		}
		if (mkdir(target, 0711) < 0 && errno != EEXIST)
			return cella_error_set(err, errno, "create %s", target);
		if (mount(dev, target, "ext4", MS_NOSUID | MS_NODEV, NULL) < 0) {
			int e = errno;
			ioctl(lfd, LOOP_CLR_FD, 0);
			return cella_error_set(err, e, "mount %s on %s", image, target);
		}
		return 0;
	}
	return cella_error_set(err, EBUSY, "no free loop device for %s", image);
}

/* ---- btrfs: layers as subvolumes, snapshots and copies as btrfs snapshots ---- */

#define BTRFS_MAGIC 0x9123683E
#define BTRFS_FIRST_SUBVOL_INO 256

bool storage_is_btrfs(const char *path)
{
	struct statfs sf;
	return statfs(path, &sf) == 0 && (unsigned long)sf.f_type == BTRFS_MAGIC;
}

static bool fd_is_subvolume(int fd)
{
	struct statfs sf;
	struct stat st;
	return fstatfs(fd, &sf) == 0 && (unsigned long)sf.f_type == BTRFS_MAGIC && fstat(fd, &st) == 0 &&
	       st.st_ino == BTRFS_FIRST_SUBVOL_INO;
}

bool storage_is_subvolume(const char *path)
{
	cleanup_close int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd >= 0 && fd_is_subvolume(fd);
}

/* The directory holding `path` (opened) and its last component (in *name, <= 255). */
static int parent_open(const char *path, char name[256], struct cella_error *err)
{
	const char *slash = strrchr(path, '/');
	if (!slash || !slash[1] || strlen(slash + 1) > 255)
		return cella_error_set(err, EINVAL, "bad path `%s`", path);
	snprintf(name, 256, "%s", slash + 1);
	cleanup_free char *dir = xasprintf("%.*s", (int)(slash - path) ? (int)(slash - path) : 1, path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cella_error_set(err, errno, "open `%s`", dir);
	return fd;
}

int subvol_create(const char *path, struct cella_error *err)
{
	struct btrfs_ioctl_vol_args args = { 0 };
	cleanup_close int dfd = parent_open(path, args.name, err);
	if (dfd < 0)
		return -1;
	if (ioctl(dfd, BTRFS_IOC_SUBVOL_CREATE, &args) < 0)
		return cella_error_set(err, errno, "create subvolume `%s`", path);
	return 0;
}

int subvol_snapshot(const char *src, const char *dst, bool readonly, struct cella_error *err)
{
	struct btrfs_ioctl_vol_args_v2 args = { 0 };
	cleanup_close int sfd = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0)
		return cella_error_set(err, errno, "open `%s`", src);
	cleanup_close int dfd = parent_open(dst, args.name, err);
	if (dfd < 0)
		return -1;
	args.fd = sfd;
	args.flags = readonly ? BTRFS_SUBVOL_RDONLY : 0;
	if (ioctl(dfd, BTRFS_IOC_SNAP_CREATE_V2, &args) < 0)
		return cella_error_set(err, errno, "snapshot `%s` to `%s`", src, dst);
	return 0;
}

static int subvol_delete_at(int dirfd, const char *name)
{
	struct btrfs_ioctl_vol_args args = { 0 };
	snprintf(args.name, sizeof(args.name), "%s", name);
	return ioctl(dirfd, BTRFS_IOC_SNAP_DESTROY, &args);
}
