/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `exec`: a new process in an existing container, as `runc exec` runs it.
 *
 *   runtime                                    child
 *   pidfd of the init (start time checked),
 *   /proc/PID/root; joins the init's pid
 *   namespace for its children, then
 *   clone3(CLONE_INTO_CGROUP) ------------->   enters the v1 hierarchies (still host root)
 *   back in its own pid namespace              setns(pidfd, user|mnt|net|ipc|uts|cgroup|time)
 *                                              chroot to the init's root, pty, HOME,
 *                                              process attributes (process.c), execve
 *   EOF on the sync socket: it exec'd  <----   (the socket is close-on-exec) or ERROR
 *   pid file; waits unless detached
 *
 * The process is born in the container's pid namespace and cgroup, so it is
 * never visible on the host outside them, and it is the runtime's child, so
 * its exit status comes from waitpid().  What it is given comes from the
 * kernel (the init's pidfd), not from paths named in the state.
 */
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "engine.h"
#include "util.h"

/* Child -> runtime over the sync socket; EOF means the exec happened. */
enum exec_msg_type { EXEC_ERROR = 1, EXEC_NOTIFY };
struct exec_msg {
	int type;
	int code;                   /* errno, or the seccomp listener fd number */
	char msg[1016];
};

/* Everything the child needs, prepared by the runtime before the clone. */
struct exec_ctx {
	const char *id;
	struct oci_config cfg;      /* the container's config, its process replaced */
	char **argv;
	char **envp;                /* room for one more entry (HOME) */
	int init_pidfd;
	int join;                   /* CLONE_NEW* the child setns()es into */
	int init_root;              /* O_PATH fd of /proc/PID/root */
	struct cgroup *cg;
	bool cloned_into;           /* born in the cgroup2 directory */
	int sync;                   /* the child's end */
	int console;                /* send the pty master here, or -1 */
	int preserve_fds;
	struct seccomp_filter *seccomp;  /* the container's, NULL without linux.seccomp */
};

/* The namespaces of `pid` that are not ours: what to join. */
static int exec_namespaces(pid_t pid)
{
	static const struct { const char *name; int type; } ns[] = {
		{ "user", CLONE_NEWUSER }, { "mnt", CLONE_NEWNS }, { "pid", CLONE_NEWPID },
		{ "net", CLONE_NEWNET }, { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS },
		{ "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
	};
	int flags = 0;
	for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
		char path[64];
		struct stat mine, theirs;
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns[i].name);
		if (stat(path, &theirs) < 0)
			continue;   /* a namespace type this kernel lacks */
		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i].name);
		if (stat(path, &mine) < 0 || mine.st_ino != theirs.st_ino || mine.st_dev != theirs.st_dev)
			flags |= ns[i].type;
	}
	return flags;
}

/*
 * Load the container's seccomp filter.  With SCMP_ACT_NOTIFY the runtime
 * must take the listener fd (pidfd_getfd) before our execve closes it: the
 * fd number goes over with write(2), which the parser never lets NOTIFY
 * (see seccomp.c), and we wait for the runtime's byte saying it has it.
 */
static int exec_child_seccomp(struct exec_ctx *x, struct cella_error *err)
{
	int notify_fd = -1;
	if (seccomp_install(x->seccomp, &notify_fd, err) < 0)
		return -1;
	x->seccomp = NULL;
	if (notify_fd < 0)
		return 0;
	struct exec_msg m = { .type = EXEC_NOTIFY, .code = notify_fd };
	char ack;
	errno = 0;
	if (write(x->sync, &m, offsetof(struct exec_msg, msg) + 1) < 0 || read(x->sync, &ack, 1) != 1)
		return cella_error_set(err, errno ? errno : EPIPE, "pass the seccomp listener fd");
	close(notify_fd);
	return 0;
}

static int exec_child_setup(struct exec_ctx *x, char **exe, struct cella_error *err)
{
	struct oci_process *p = &x->cfg.process;

	if (x->cg && cgroup_enter_self(x->cg, x->cloned_into, err) < 0)
		return cella_error_wrap(err, "enter the container's cgroup");
	/* one call, the kernel orders it (user namespace first) */
	int join = x->join & ~CLONE_NEWPID;
	if (join && setns(x->init_pidfd, join) < 0)
		return cella_error_set(err, errno, "join the namespaces of the container");
	if ((join & CLONE_NEWUSER) && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
		return cella_error_set(err, errno, "become root in the container's user namespace");
	/* the init's root, not the mount namespace's: right after pivot_root and chroot alike */
	if (fchdir(x->init_root) < 0 || chroot(".") < 0 || chdir("/") < 0)
		return cella_error_set(err, errno, "enter the root of the container");
	close(x->init_root);
	close(x->init_pidfd);

	if (x->console >= 0) {
		int slave = -1;
		if (console_create(x->console, "/dev/pts/ptmx", p, &slave, err) < 0)
			return -1;
		if (console_attach(slave, err) < 0)
			return -1;
		if (slave > STDERR_FILENO)
			close(slave);
		close(x->console);
	}
	size_t n = 0;
	bool has_home = false;
	for (; x->envp[n]; n++)
		has_home |= !strncmp(x->envp[n], "HOME=", 5);
	if (!has_home) {
		/* as runc: HOME from the container's passwd, for the user it runs as */
		cleanup_free char *home = process_home(p->uid);
		x->envp[n] = xasprintf("HOME=%s", home);
		x->envp[n + 1] = NULL;
	}
	/* seccomp between the two halves without no_new_privs (loading it needs
	 * CAP_SYS_ADMIN then), else as late as possible (see seccomp.c) */
	bool seccomp_early = x->seccomp && !p->no_new_privileges;
	if (process_prepare_privileged(&x->cfg, false, x->id, err) < 0)
		return -1;
	if (seccomp_early && exec_child_seccomp(x, err) < 0)
		return -1;
	if (process_switch_user(&x->cfg, err) < 0)
		return -1;
	*exe = process_find_executable(p, err);
	if (!*exe)
		return -1;
	return process_limit_fds(x->preserve_fds, err);
}

static __attribute__((noreturn)) void exec_child(struct exec_ctx *x)
{
	struct cella_error err = { 0 };
	char *exe = NULL;

	if (exec_child_setup(x, &exe, &err) == 0) {
		/* nothing of our caller's dispositions (cellad ignores SIGPIPE) */
		signals_reset_all();
		if (lsm_check(NULL, &x->cfg.process, &err) == 0 && lsm_exec_label(&x->cfg.process, &err) == 0 &&
		    (!x->seccomp || exec_child_seccomp(x, &err) == 0)) {
			execve(exe, x->argv, x->envp);
			cella_error_set(&err, errno, "exec `%s`", exe);
		}
	}
	struct exec_msg m = { .type = EXEC_ERROR, .code = err.code };
	snprintf(m.msg, sizeof(m.msg), "%.*s", (int)sizeof(m.msg) - 1, err.msg);
	/* write(2): with a filter loaded, the one call a profile cannot send to a listener */
	if (write(x->sync, &m, offsetof(struct exec_msg, msg) + strlen(m.msg) + 1) < 0)
		_exit(126);
	_exit(127);
}

/* ------------------------------------------------------------------ */
/* The process to run: given whole, or the container's with changes.    */

/* The exec'd process and what it points to that we own. */
struct exec_process {
	struct oci_process *parsed;     /* from process_json */
	char **env;                     /* built env array (strings not owned) */
	char **argv;                    /* NULL-terminated view of the args */
};

static void exec_process_release(struct exec_process *ep)
{
	if (ep->parsed)
		oci_process_free(ep->parsed);
	free(ep->env);
	free(ep->argv);
}

static int parse_id(const char *s, uint32_t *v)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || n >= UINT32_MAX)
		return -1;
	*v = (uint32_t)n;
	return 0;
}

/* "UID" or "UID:GID", numeric as runc takes them. */
static int user_parse(const char *s, struct oci_process *p, struct cella_error *err)
{
	cleanup_free char *u = xstrdup(s);
	char *g = strchr(u, ':');
	uint32_t v;
	if (g)
		*g++ = '\0';
	if (parse_id(u, &v) < 0)
		return cella_error_set(err, EINVAL, "--user `%s`: want UID[:GID] (numbers)", s);
	p->uid = v;
	if (g) {
		if (parse_id(g, &v) < 0)
			return cella_error_set(err, EINVAL, "--user `%s`: want UID[:GID] (numbers)", s);
		p->gid = v;
	}
	return 0;
}

static int cap_parse(const char *s, struct cella_error *err)
{
	char name[64];
	if (strncasecmp(s, "CAP_", 4) == 0)
		s += 4;
	int n = snprintf(name, sizeof(name), "CAP_%s", s);
	for (int i = 4; i < n && i < (int)sizeof(name); i++)
		name[i] = (name[i] >= 'a' && name[i] <= 'z') ? name[i] - 'a' + 'A' : name[i];
	int cap = n < (int)sizeof(name) ? oci_capability_number(name) : -1;
	if (cap < 0)
		return cella_error_set(err, EINVAL, "--cap `%s`: unknown capability", s);
	return cap;
}

/* The container's env with `extra` set over it (a KEY replaced, not repeated). */
static char **env_merge(char **base, size_t n_base, char *const *extra, size_t n_extra,
			size_t *n, struct cella_error *err)
{
	char **v = xmalloc0((n_base + n_extra + 2) * sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < n_base; i++)
		v[k++] = base[i];
	for (size_t i = 0; i < n_extra; i++) {
		const char *eq = strchr(extra[i], '=');
		if (!eq || eq == extra[i]) {
			free(v);
			cella_error_set(err, EINVAL, "--env `%s`: want KEY=VALUE", extra[i]);
			return NULL;
		}
		size_t klen = eq - extra[i] + 1, j;
		for (j = 0; j < k; j++)
			if (!strncmp(v[j], extra[i], klen))
				break;
		v[j] = extra[i];
		if (j == k)
			k++;
	}
	*n = k;
	return v;
}

/*
 * The process as runc builds it: --process is used as given, except that
 * what it leaves out and the container sets (capabilities, rlimits,
 * oomScoreAdj) is inherited; otherwise it is the container's process with
 * the args and the flags applied.
 */
static int exec_process_build(const struct oci_config *c, const struct cella_exec_opts *o,
			      struct oci_process *p, struct exec_process *ep, struct cella_error *err)
{
	if (o->process_json) {
		size_t len = o->process_json_len ? o->process_json_len : strlen(o->process_json);
		ep->parsed = oci_process_parse(o->process_json, len, err);
		if (!ep->parsed)
			return -1;
		*p = *ep->parsed;
		if (!p->has_capabilities && c->process.has_capabilities) {
			p->has_capabilities = true;
			p->caps = c->process.caps;
		}
		if (!p->n_rlimits) {
			p->rlimits = c->process.rlimits;
			p->n_rlimits = c->process.n_rlimits;
		}
		if (!p->has_oom_score_adj && c->process.has_oom_score_adj) {
			p->has_oom_score_adj = true;
			p->oom_score_adj = c->process.oom_score_adj;
		}
		p->terminal |= o->tty;
	} else {
		if (!o->n_args)
			return cella_error_set(err, EINVAL, "no command to run: give the args or --process");
		*p = c->process;
		p->args = (char **)o->args;
		p->n_args = o->n_args;
		if (o->cwd) {
			if (o->cwd[0] != '/')
				return cella_error_set(err, EINVAL, "--cwd `%s`: not an absolute path", o->cwd);
			p->cwd = (char *)o->cwd;
		}
		ep->env = env_merge(c->process.env, c->process.n_env, o->env, o->n_env, &p->n_env, err);
		if (!ep->env)
			return -1;
		p->env = ep->env;
		if (o->user && user_parse(o->user, p, err) < 0)
			return -1;
		for (size_t i = 0; i < o->n_caps; i++) {
			int cap = cap_parse(o->caps[i], err);
			if (cap < 0)
				return -1;
			uint64_t bit = 1ULL << cap;
			/* ambient needs inheritable: raised only if the container has some, as runc */
			if (p->has_capabilities && p->caps.inheritable)
				p->caps.ambient |= bit;
			p->has_capabilities = true;
			p->caps.bounding |= bit;
			p->caps.effective |= bit;
			p->caps.permitted |= bit;
		}
		p->terminal = o->tty;
	}
	p->no_new_privileges |= o->no_new_privs;
	if (!p->cwd)
		p->cwd = "/";
	if (p->apparmor_profile || p->selinux_label)
		return cella_error_set(err, ENOTSUP, "process: apparmorProfile and selinuxLabel are not supported");
	/* a view of args and env with room for HOME, for execve() */
	ep->argv = xmalloc0((p->n_args + 1) * sizeof(char *));
	memcpy(ep->argv, p->args, p->n_args * sizeof(char *));
	if (!ep->env) {
		ep->env = xmalloc0((p->n_env + 2) * sizeof(char *));
		if (p->n_env)
			memcpy(ep->env, p->env, p->n_env * sizeof(char *));
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The runtime side.                                                    */

static int exec_check_opts(const struct cella_exec_opts *o, bool terminal, struct cella_error *err)
{
	if (o->console_socket && !terminal)
		return cella_error_set(err, EINVAL, "--console-socket given without a terminal (--tty)");
	if (terminal && !o->console_socket && o->detach)
		return cella_error_set(err, EINVAL, "--tty with --detach needs --console-socket");
	return 0;
}


static int exec_run(struct container_ref *ref, const struct cella_exec_opts *o, int *wstatus,
		    struct cella_error *err)
{
	cleanup_free char *config_path = NULL;
	cleanup_close int init_pidfd = -1, init_root = -1, own_pidns = -1, console = -1,
			  console_peer = -1, master = -1, child_pidfd = -1;
	struct exec_process ep = { 0 };
	struct oci_config *c = NULL;
	struct exec_ctx x = { .id = ref->st.id, .console = -1 };
	int sp[2] = { -1, -1 };
	pid_t pid = -1;
	int ret = -1;

	if (ref->status != CELLA_STATUS_RUNNING && ref->status != CELLA_STATUS_CREATED)
		return cella_error_set(err, EINVAL, "the container is %s", cella_status_name(ref->status));
	if (!ref->cg)
		return cella_error_set(err, ENOENT, "the container has no cgroup `%s`", ref->st.cgroup_path);
	config_path = xasprintf("%s/config.json", ref->st.bundle);
	c = oci_config_load(config_path, NULL, NULL, err);
	if (!c)
		return -1;
	x.cfg = *c;
	if (exec_process_build(c, o, &x.cfg.process, &ep, err) < 0)
		goto out;
	x.argv = ep.argv;
	x.envp = ep.env;
	x.preserve_fds = o->preserve_fds;
	if (exec_check_opts(o, x.cfg.process.terminal, err) < 0)
		goto out;

	/* The pidfd is opened before the start time check: if the pid still is
	 * the container's init then, the pidfd is that process for good. */
	init_pidfd = pidfd_open(ref->st.pid, 0);
	if (init_pidfd < 0 || proc_start_time(ref->st.pid, NULL) != ref->st.start_time) {
		cella_error_set(err, ESRCH, "the container is not running");
		goto out;
	}
	x.init_pidfd = init_pidfd;
	x.join = exec_namespaces(ref->st.pid);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/root", (int)ref->st.pid);
	init_root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (init_root < 0) {
		cella_error_set(err, errno, "open the root of the container");
		goto out;
	}
	x.init_root = init_root;
	/* still the same process: the root we opened is its */
	if (pidfd_send_signal(init_pidfd, 0, NULL, 0) < 0) {
		cella_error_set(err, ESRCH, "the container is not running");
		goto out;
	}
	if (x.cfg.process.terminal) {
		if (o->console_socket) {
			if ((console = console_socket_connect(o->console_socket, err)) < 0)
				goto out;
		} else {
			/* in the foreground we are the console socket and relay the pty */
			int cp[2];
			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cp) < 0) {
				cella_error_set(err, errno, "socketpair");
				goto out;
			}
			console_peer = cp[0];
			console = cp[1];
		}
		x.console = console;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		cella_error_set(err, errno, "socketpair");
		goto out;
	}
	x.sync = sp[1];
	x.cg = ref->cg;
	/* built here so that a profile libseccomp refuses is an ordinary error */
	if (c->seccomp && seccomp_prepare(c->seccomp, &x.seccomp, err) < 0)
		goto out;

	/* A pid namespace is entered by the children of who joins it: we join
	 * for the clone and return right after, as create does. */
	if (x.join & CLONE_NEWPID) {
		own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
		if (own_pidns < 0 || setns(init_pidfd, CLONE_NEWPID) < 0) {
			cella_error_set(err, errno, "join the pid namespace of the container");
			goto out;
		}
	}
	int cgfd = cgroup_clone_fd(ref->cg);
	x.cloned_into = cgfd >= 0;
	struct clone_args ca = {
		.flags = CLONE_PIDFD | (cgfd >= 0 ? CLONE_INTO_CGROUP : 0),
		.pidfd = (uint64_t)(uintptr_t)&child_pidfd,
		.exit_signal = SIGCHLD,
		.cgroup = cgfd >= 0 ? (uint64_t)cgfd : 0,
	};
	/* non-dumpable, inherited by the child: until its execve() no process of
	 * the container may open its /proc/PID/{exe,fd,mem} (host fds, the
	 * runtime binary) */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0) {
		close(sp[0]);
		exec_child(&x);
	}
	int clone_errno = errno;
	if (own_pidns >= 0 && setns(own_pidns, CLONE_NEWPID) < 0 && pid > 0) {
		cella_error_set(err, errno, "return to our pid namespace");
		goto out;
	}
	if (pid < 0) {
		cella_error_set(err, clone_errno, "clone the process");
		goto out;
	}
	close(sp[1]);
	sp[1] = -1;
	if (console >= 0)
		close(steal_fd(&console));

	/* EOF: it exec'd (the socket is close-on-exec); a message: why not,
	 * or first its seccomp listener fd for linux.seccomp.listenerPath */
	for (;;) {
		struct exec_msg m = { 0 };
		ssize_t r;
		do
			r = recv(sp[0], &m, sizeof(m) - 1, 0);
		while (r < 0 && errno == EINTR);
		if (r < 0) {
			cella_error_set(err, errno, "wait for the process to start");
			goto out;
		}
		if (r == 0)
			break;
		if (m.type == EXEC_NOTIFY) {
			/* the listener gets the exec'd process's fd with the container's state */
			cleanup_free char *state = container_state_json(&ref->st, ref->status);
			if (seccomp_notify_take(child_pidfd, m.code, c->seccomp, state, err) < 0)
				goto out;
			if (write_all(sp[0], "N", 1) != 1) {
				cella_error_set(err, errno, "wait for the process to start");
				goto out;
			}
			continue;
		}
		err->code = m.code;
		snprintf(err->msg, sizeof(err->msg), "%s", m.msg);
		goto out;
	}
	if (console_peer >= 0 && (master = console_recv(console_peer, err)) < 0)
		goto out;
	if (o->pid_file) {
		char buf[32];
		int n = snprintf(buf, sizeof(buf), "%d", (int)pid);
		if (write_file_atomic(AT_FDCWD, o->pid_file, buf, n, 0644, err) < 0) {
			cella_error_wrap(err, "--pid-file");
			goto out;
		}
	}
	if (o->detach) {
		pid = -1;   /* it runs on, reparented when we exit */
		ret = 0;
		goto out;
	}
	ret = console_relay_wait(pid, child_pidfd, master, wstatus, err);
	pid = -1;
out:
	if (pid > 0) {
		/* failed before or at exec: nothing of it stays */
		if (child_pidfd >= 0)
			pidfd_send_signal(child_pidfd, SIGKILL, NULL, 0);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	if (x.seccomp)
		seccomp_filter_free(x.seccomp);
	exec_process_release(&ep);
	oci_config_free(c);
	return ret;
}

int cella_container_exec(struct cella_runtime *rt, const char *id, const struct cella_exec_opts *opts,
			 int *wstatus, struct cella_error *err)
{
	struct container_ref ref;
	if (process_check_preserved_fds(opts->preserve_fds, err) < 0)
		return cella_error_wrap(err, "exec in `%s`", id);
	int ret = container_ref_open(rt, id, true, &ref, err);
	if (ret == 0)
		ret = exec_run(&ref, opts, wstatus, err);
	container_ref_close(&ref);
	if (ret < 0)
		cella_error_wrap(err, "exec in `%s`", id);
	return ret;
}
