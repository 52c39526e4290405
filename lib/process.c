/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The container process's own attributes, set in the order the kernel needs:
 * privileged steps first, then the user switch, then capabilities. */
#include <fcntl.h>
#include <grp.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "engine.h"
#include "util.h"

static int process_set_rlimits(const struct oci_process *p, struct cella_error *err)
{
	for (size_t i = 0; i < p->n_rlimits; i++) {
		struct rlimit rl = { .rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard };
		if (setrlimit(p->rlimits[i].resource, &rl) < 0)
			return cella_error_set(err, errno, "process.rlimits[%zu]", i);
	}
	return 0;
}

static int process_set_user(const struct oci_process *p, struct cella_error *err)
{
	/* Drop the runtime's supplementary groups even when none are asked for.
	 * In a user namespace with setgroups denied this is EPERM: nothing to drop. */
	if (setgroups(p->n_additional_gids, p->additional_gids) < 0 && errno != EPERM)
		return cella_error_set(err, errno, "process.user.additionalGids");
	if (setresgid(p->gid, p->gid, p->gid) < 0)
		return cella_error_set(err, errno, "process.user.gid %u", (unsigned)p->gid);
	if (setresuid(p->uid, p->uid, p->uid) < 0)
		return cella_error_set(err, errno, "process.user.uid %u", (unsigned)p->uid);
	return 0;
}

/* The steps that need the runtime's privileges: OOM score, rlimits, keyring. */
int process_prepare_privileged(const struct oci_config *c, bool no_new_keyring, const char *id,
			       struct cella_error *err)
{
	const struct oci_process *p = &c->process;

	if (p->has_oom_score_adj) {
		char buf[16];
		int n = snprintf(buf, sizeof(buf), "%d", p->oom_score_adj);
		if (write_file_at(AT_FDCWD, "/proc/self/oom_score_adj", buf, n, err) < 0)
			return cella_error_wrap(err, "process.oomScoreAdj");
	}
	if (process_set_rlimits(p, err) < 0)
		return -1;
	if (!no_new_keyring) {
		char name[300];
		snprintf(name, sizeof(name), "_ses.%s", id);
		/* a fresh session keyring keeps the host's keys out of reach */
		if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name) < 0 &&
		    errno != ENOSYS && errno != EPERM && errno != EACCES)
			return cella_error_set(err, errno, "join a new session keyring");
	}
	return 0;
}

/* The user and capability switch, umask, cwd and no_new_privs. */
int process_switch_user(const struct oci_config *c, struct cella_error *err)
{
	const struct oci_process *p = &c->process;

	/* No process.capabilities means no capabilities, as runc does: never
	 * the runtime's full set by omission. */
	static const struct oci_capabilities none;
	const struct oci_capabilities *caps = p->has_capabilities ? &p->caps : &none;
	if (capabilities_drop_bounding(caps, err) < 0 || capabilities_keep(err) < 0)
		return -1;
	if (process_set_user(p, err) < 0)
		return -1;
	if (capabilities_apply(caps, err) < 0)
		return -1;
	umask(p->has_umask ? p->umask : 022);
	if (p->cwd && chdir(p->cwd) < 0)
		return cella_error_set(err, errno, "process.cwd `%s`", p->cwd);
	if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return cella_error_set(err, errno, "process.noNewPrivileges");
	return 0;
}

int process_prepare(const struct oci_config *c, bool no_new_keyring, const char *id,
		    struct cella_error *err)
{
	if (process_prepare_privileged(c, no_new_keyring, id, err) < 0)
		return -1;
	return process_switch_user(c, err);
}

/* Checked before we open anything: a gap in the range would be filled by
 * one of our own fds, which would then leak into the container. */
int process_check_preserved_fds(int preserve_fds, struct cella_error *err)
{
	if (preserve_fds < 0)
		return cella_error_set(err, EINVAL, "--preserve-fds: negative");
	for (int fd = 3; fd < 3 + preserve_fds; fd++)
		if (fcntl(fd, F_GETFD) < 0)
			return cella_error_set(err, EBADF, "--preserve-fds %d: fd %d is not open", preserve_fds, fd);
	return 0;
}

int process_limit_fds(int preserve_fds, struct cella_error *err)
{
	int keep = 3 + (preserve_fds > 0 ? preserve_fds : 0);
	for (int fd = 3; fd < keep; fd++) {
		int fl = fcntl(fd, F_GETFD);
		if (fl >= 0)
			fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
	}
	if (close_range(keep, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		return cella_error_set(err, errno, "mark inherited fds close-on-exec");
	return 0;
}

/* HOME of `uid` in the container's /etc/passwd, "/" when it has none. */
char *process_home(uid_t uid)
{
	cleanup_fclose FILE *f = fopen("/etc/passwd", "re");
	char line[1024];
	while (f && fgets(line, sizeof(line), f)) {
		/* name:passwd:uid:gid:gecos:home:shell */
		char *field[7] = { 0 }, *rest = line;
		line[strcspn(line, "\n")] = '\0';
		for (size_t i = 0; i < 7 && rest; i++)
			field[i] = strsep(&rest, ":");
		if (field[5] && field[2][0] && strtoul(field[2], NULL, 10) == uid && field[5][0] == '/')
			return xstrdup(field[5]);
	}
	return xstrdup("/");
}

static bool is_executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static char *process_find_executable_path(const struct oci_process *p, struct cella_error *err);

/*
 * The runtime's own binary must never run inside the container: its
 * /proc/PID/exe would hand the container the host file to overwrite once it
 * exits (CVE-2019-5736).  That happens when the executable is (a link to)
 * /proc/self/exe - still cella-runtime at execve - or a script whose #!
 * interpreter is, so both are compared, by inode, with our own binary.
 */
static bool is_runtime_binary(const char *path, const struct stat *self)
{
	struct stat st;
	return stat(path, &st) == 0 && st.st_dev == self->st_dev && st.st_ino == self->st_ino;
}

static int executable_check(const char *path, struct cella_error *err)
{
	struct stat self;
	char head[256];
	if (stat("/proc/self/exe", &self) < 0)
		return 0;   /* no procfs in the container: nothing resolves to it either */
	if (is_runtime_binary(path, &self))
		return cella_error_set(err, EPERM, "exec: `%s` is the runtime's own binary: refused", path);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, head, sizeof(head) - 1);
	if (n > 2 && head[0] == '#' && head[1] == '!') {
		head[n] = '\0';
		char *interp = head + 2 + strspn(head + 2, " \t");
		interp[strcspn(interp, " \t\n")] = '\0';
		if (is_runtime_binary(interp, &self))
			return cella_error_set(err, EPERM, "exec: the interpreter of `%s` is the runtime's own binary: refused", path);
	}
	return 0;
}

char *process_find_executable(const struct oci_process *p, struct cella_error *err)
{
	char *exe = process_find_executable_path(p, err);
	if (exe && executable_check(exe, err) < 0) {
		free(exe);
		return NULL;
	}
	return exe;
}

static char *process_find_executable_path(const struct oci_process *p, struct cella_error *err)
{
	const char *name = p->args[0];
	if (strchr(name, '/')) {
		if (!is_executable(name)) {
			cella_error_set(err, errno ? errno : EACCES, "exec: `%s`", name);
			return NULL;
		}
		return xstrdup(name);
	}
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (size_t i = 0; i < p->n_env; i++)
		if (!strncmp(p->env[i], "PATH=", 5))
			path = p->env[i] + 5;
	const char *dir = path;
	while (*dir) {
		const char *end = strchrnul(dir, ':');
		char *cand = xasprintf("%.*s%s%s", (int)(end - dir), dir, end > dir ? "/" : "", name);
		if (is_executable(cand))
			return cand;
		free(cand);
		dir = *end ? end + 1 : end;
	}
	cella_error_set(err, ENOENT, "exec: `%s`: executable file not found in $PATH", name);
	return NULL;
}
