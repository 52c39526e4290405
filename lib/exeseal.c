/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Running from a sealed view of our own binary (CVE-2019-5736).  The
 * container's first process is a fork of the runtime until it execs, so
 * /proc/PID/exe of it names our binary; were a process inside able to open
 * it, it could write the host's runtime once we exit.  Non-dumpable
 * processes and the refusal to exec our own inode already close that; as a
 * further wall, commands that put processes into a container re-exec from
 * a view of the binary no one can write:
 *
 *  - a detached overlayfs mount with two lower layers (the binary's
 *    directory and an empty tmpfs) and no upper one: a write would need a
 *    copy-up and fails with EROFS whatever the mount flags.  No copy, about
 *    50 us;
 *  - else (no overlayfs, no privilege, a kernel before 6.8) a memfd copy
 *    sealed against writes, about 1 ms for our 1.4 MB.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h> /* ST_RDONLY */
#include <unistd.h>

#include "engine.h"
#include "util.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
#define OVERLAYFS_MAGIC 0x794c7630

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

bool cella_exe_is_sealed(void)
{
	cleanup_close int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	struct statfs sf;
	if (fd < 0)
		return false;
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals >= 0)
		return (seals & SEALS) == SEALS;
	return fstatfs(fd, &sf) == 0 && sf.f_type == OVERLAYFS_MAGIC && (sf.f_flags & ST_RDONLY);
}

/* A read-only overlay of the directory holding `exe`; returns an O_PATH fd of the binary in it. */
static int exeseal_overlay(const char *exe)
{
	cleanup_free char *dir = xstrdup(exe);
	char *slash = strrchr(dir, '/');
	char empty[64];
	if (!slash || slash == dir)
		return -1;
	*slash = '\0';
	cleanup_close int tfs = fsopen("tmpfs", FSOPEN_CLOEXEC);
	if (tfs < 0 || fsconfig(tfs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -1;
	cleanup_close int tmnt = fsmount(tfs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
	if (tmnt < 0)
		return -1;
	snprintf(empty, sizeof(empty), "/proc/self/fd/%d", tmnt);
	cleanup_close int ofs = fsopen("overlay", FSOPEN_CLOEXEC);
	if (ofs < 0 || fsconfig(ofs, FSCONFIG_SET_STRING, "lowerdir+", dir, 0) < 0 ||
	    fsconfig(ofs, FSCONFIG_SET_STRING, "lowerdir+", empty, 0) < 0 ||
	    fsconfig(ofs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -1;
	cleanup_close int omnt =
		fsmount(ofs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (omnt < 0)
		return -1;
	return openat(omnt, slash + 1, O_PATH | O_CLOEXEC | O_NOFOLLOW);
}

/* A sealed memfd copy of the binary. */
static int exeseal_memfd(struct cella_error *err)
{
	cleanup_close int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (src < 0 || fstat(src, &st) < 0)
		return cella_error_set(err, errno, "open our own binary");
	int fd = memfd_create("cella-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (fd < 0 && errno == EINVAL) /* before Linux 6.3 */
		fd = memfd_create("cella-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return cella_error_set(err, errno, "memfd_create");
	for (off_t done = 0; done < st.st_size;) {
		ssize_t n = sendfile(fd, src, NULL, (size_t)(st.st_size - done));
		if (n <= 0) {
			cella_error_set(err, n < 0 ? errno : EIO, "copy our own binary");
			close(fd);
			return -1;
		}
		done += n;
	}
	/* F_SEAL_EXEC (Linux 6.3+): nor can its mode be changed */
	if (fchmod(fd, 0555) < 0 || fcntl(fd, F_ADD_SEALS, SEALS & ~F_SEAL_SEAL) < 0 ||
	    (fcntl(fd, F_ADD_SEALS, F_SEAL_EXEC) < 0 && errno != EINVAL) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL) < 0) {
		cella_error_set(err, errno, "seal the copy of our binary");
		close(fd);
		return -1;
	}
	return fd;
}

int exeseal_open(const char *path)
{
	return exeseal_overlay(path);
}

int cella_exe_seal(char *const argv[], struct cella_error *err)
{
	extern char **environ;
	char exe[PATH_MAX];
	if (cella_exe_is_sealed())
		return 0;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return cella_error_set(err, errno, "readlink /proc/self/exe");
	exe[n] = '\0';
	cleanup_close int fd = exeseal_overlay(exe);
	if (fd >= 0)
		execveat(fd, "", argv, environ, AT_EMPTY_PATH);
	cleanup_closep(&fd);
	if ((fd = exeseal_memfd(err)) < 0)
		return -1;
	execveat(fd, "", argv, environ, AT_EMPTY_PATH);
	return cella_error_set(err, errno, "re-exec from a sealed copy of our binary");
}
