/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Files in and out of an instance.  The work is done by a child process
 * that becomes the guest's root first: in the guest's own user and mount
 * namespaces when it runs, or chrooted into its tree through its idmap
 * when it is stopped.  Paths, symlinks included, then resolve exactly as
 * the guest sees them, and the host's tree is simply not there to reach.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "instance.h"
#include "storage.h"
#include "util.h"

enum file_kind { FILE_PULL, FILE_PUSH, FILE_MKDIR, FILE_DELETE };

struct file_op {
	enum file_kind kind;
	const char *path;
	int data_fd;          /* pull: where the content goes; push: where it comes from */
	uid_t uid;
	gid_t gid;
	mode_t mode;
	int result_fd;        /* child -> parent: "0{meta json}" or "1error text" */
};

/* "1ERRNO message": the parent makes it our error (its text gets strerror(ERRNO) itself). */
static void child_fail(struct file_op *op, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
static void child_fail(struct file_op *op, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(msg, sizeof(msg), "1%d ", code);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	write_all(op->result_fd, msg, strlen(msg));
	_exit(1);
}

static int copy_fd(int from, int to)
{
	char buf[65536];
	ssize_t n;
	while ((n = read(from, buf, sizeof(buf))) > 0)
		if (write_all(to, buf, (size_t)n) < 0)
			return -1;
	return n < 0 ? -1 : 0;
}

static void child_pull(struct file_op *op)
{
	int fd = open(op->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		child_fail(op, errno, "%s", op->path);
	json_t *meta = json_pack("{s:I, s:I, s:I}", "uid", (json_int_t)st.st_uid, "gid", (json_int_t)st.st_gid, "mode",
				 (json_int_t)(st.st_mode & 07777));
	if (S_ISDIR(st.st_mode)) {
		json_object_set_new(meta, "type", json_string("directory"));
		json_t *entries = json_array();
		DIR *d = fdopendir(fd);
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				json_array_append_new(entries, json_string(de->d_name));
		json_object_set_new(meta, "entries", entries);
	} else if (S_ISREG(st.st_mode)) {
		json_object_set_new(meta, "type", json_string("file"));
		fcntl(fd, F_SETFL, 0);
		if (copy_fd(fd, op->data_fd) < 0)
			child_fail(op, errno, "%s", op->path);
	} else {
		child_fail(op, EINVAL, "%s: not a regular file or directory", op->path);
	}
	cleanup_free char *text = json_dumps(meta, JSON_COMPACT);
	write_all(op->result_fd, "0", 1);
	write_all(op->result_fd, text, strlen(text));
	_exit(0);
}

static void child_mkdir(struct file_op *op)
{
	if (mkdir(op->path, op->mode & 07777) < 0 && errno != EEXIST)
		child_fail(op, errno, "%s", op->path);
	/* the directory itself, never what a link there points to */
	int fd = open(op->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		child_fail(op, errno, "%s: not a directory", op->path);
	if (fchown(fd, op->uid, op->gid) < 0 || fchmod(fd, op->mode & 07777) < 0)
		child_fail(op, errno, "%s: set owner and mode", op->path);
	write_all(op->result_fd, "0{}", 3);
	_exit(0);
}

static void child_delete(struct file_op *op)
{
	/* the entry itself: a link is removed, not followed; a directory must be empty */
	struct stat st;
	if (lstat(op->path, &st) < 0)
		child_fail(op, errno, "%s", op->path);
	if (!strcmp(op->path, "/"))
		child_fail(op, EINVAL, "/: cannot delete the root");
	if ((S_ISDIR(st.st_mode) ? rmdir(op->path) : unlink(op->path)) < 0)
		child_fail(op, errno, "%s", op->path);
	write_all(op->result_fd, "0{}", 3);
	_exit(0);
}

static void child_push(struct file_op *op)
{
	/* never write through a link the guest planted: the last component must be ours */
	/* non-blocking: a fifo the guest put there must not hold us; truncated once known regular */
	int fd = open(op->path, O_WRONLY | O_CREAT | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, op->mode & 07777);
	if (fd < 0)
		child_fail(op, errno, "%s", op->path);
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		child_fail(op, EINVAL, "%s: not a regular file", op->path);
	if (fcntl(fd, F_SETFL, 0) < 0 || ftruncate(fd, 0) < 0)
		child_fail(op, errno, "%s", op->path);
	if (fchown(fd, op->uid, op->gid) < 0 || fchmod(fd, op->mode & 07777) < 0)
		child_fail(op, errno, "%s: set owner and mode", op->path);
	if (copy_fd(op->data_fd, fd) < 0 || close(fd) < 0)
		child_fail(op, errno, "%s", op->path);
	write_all(op->result_fd, "0{}", 3);
	_exit(0);
}

/* In the child: become root of the guest whose namespaces or tree we were given. */
static void child_enter(struct file_op *op, int userns, int mntns, int rootfd)
{
	if (setns(userns, CLONE_NEWUSER) < 0)
		child_fail(op, errno, "enter the guest's user namespace");
	if (mntns >= 0) {
		if (setns(mntns, CLONE_NEWNS) < 0)
			child_fail(op, errno, "enter the guest's mount namespace");
	} else if (fchdir(rootfd) < 0 || chroot(".") < 0) {
		child_fail(op, errno, "enter the guest's tree");
	}
	if (chdir("/") < 0 || setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		child_fail(op, errno, "become the guest's root");
	umask(0);
}

static int file_op_run(struct cella_host *h, const char *name, struct file_op *op, json_t **meta,
		       struct cella_error *err)
{
	cleanup_inst_row struct inst_row r = { 0 };
	if (inst_load(h, name, &r, err) < 0)
		return -1;
	int ret = -1;
	bool mounted = false;
	cleanup_close int userns = -1, mntns = -1, rootfd = -1, rfd = -1;
	cleanup_free char *res = NULL;
	if (!op->path || op->path[0] != '/') {
		cella_error_set(err, EINVAL, "path `%s`: must be absolute", op->path ? op->path : "");
		goto out;
	}
	pid_t pid = instance_init_pid(h, name);
	if (pid > 0) {
		char p[64];
		snprintf(p, sizeof(p), "/proc/%d/ns/user", (int)pid);
		userns = open(p, O_RDONLY | O_CLOEXEC);
		snprintf(p, sizeof(p), "/proc/%d/ns/mnt", (int)pid);
		mntns = open(p, O_RDONLY | O_CLOEXEC);
		if (userns < 0 || mntns < 0) {
			cella_error_set(err, errno, "open the namespaces of `%s`", name);
			goto out;
		}
	} else {
		cleanup_free char *rootfs = NULL;
		cleanup_free char *mp = xasprintf("%s/instances/%s/rootfs", h->run_dir, name);
		mounted = !storage_is_mounted(mp);
		if (instance_mount(h, &r, &rootfs, err) < 0)
			goto out;
		rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		userns = userns_open_range(r.idmap_base, 65536, err);
		if (rootfd < 0 || userns < 0) {
			if (rootfd < 0)
				cella_error_set(err, errno, "open the tree of `%s`", name);
			goto out;
		}
	}
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		cella_error_set(err, errno, "pipe");
		goto out;
	}
	pid_t child = fork();
	if (child < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		cella_error_set(err, errno, "fork");
		goto out;
	}
	if (child == 0) {
		close(pipefd[0]);
		op->result_fd = pipefd[1];
		signal(SIGPIPE, SIG_DFL);
		child_enter(op, userns, mntns, rootfd);
		switch (op->kind) {
		case FILE_PUSH: child_push(op); break;
		case FILE_MKDIR: child_mkdir(op); break;
		case FILE_DELETE: child_delete(op); break;
		case FILE_PULL: child_pull(op); break;
		}
	}
	close(pipefd[1]);
	rfd = pipefd[0];
	res = read_fd_text(rfd, NULL, err);
	int ws;
	while (waitpid(child, &ws, 0) < 0 && errno == EINTR)
		;
	if (!res || !res[0]) {
		cella_error_set(err, EIO, "file `%s`: the helper died", op->path);
		goto out;
	}
	if (res[0] != '0') {
		char *msg;
		long code = strtol(res + 1, &msg, 10);
		cella_error_set(err, (int)code, "%s", *msg ? msg + 1 : "file operation failed");
		goto out;
	}
	if (meta) {
		json_error_t jerr;
		*meta = json_loads(res + 1, 0, &jerr);
	}
	ret = 0;
out:
	if (mounted)
		instance_umount(h, name);
	return ret;
}

int cella_instance_file_pull(struct cella_host *h, const char *name, const char *path, int out_fd, json_t **meta,
			     struct cella_error *err)
{
	struct file_op op = { .kind = FILE_PULL, .path = path, .data_fd = out_fd };
	return file_op_run(h, name, &op, meta, err);
}

int cella_instance_file_push(struct cella_host *h, const char *name, const char *path, int in_fd, uid_t uid,
			     gid_t gid, mode_t mode, struct cella_error *err)
{
	if (uid > 65535 || gid > 65535)
		return cella_error_set(err, ERANGE, "owner %u:%u: outside the guest's ids (0-65535)", (unsigned)uid,
				       (unsigned)gid);
	/* S_IFDIR in mode: a directory (no content) */
	struct file_op op = { .kind = S_ISDIR(mode) ? FILE_MKDIR : FILE_PUSH, .path = path, .data_fd = in_fd,
			      .uid = uid, .gid = gid, .mode = mode };
	return file_op_run(h, name, &op, NULL, err);
}

int cella_instance_file_delete(struct cella_host *h, const char *name, const char *path, struct cella_error *err)
{
	struct file_op op = { .kind = FILE_DELETE, .path = path, .data_fd = -1 };
	return file_op_run(h, name, &op, NULL, err);
}
