/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The container lifecycle of the OCI runtime spec: create, start, state,
 * kill, delete (and run = create + start + wait + delete).
 *
 * Process model.  `create` clones the container's init directly into its new
 * namespaces and talks to it over a SOCK_SEQPACKET pair:
 *
 *   runtime (parent)                     init (child)
 *   cgroup, uid/gid maps  -- GO -->      joins namespaces, mounts, pivot_root,
 *                                        sysctl, masks, user, capabilities
 *   state.json, pid file  <-- READY --   (or ERROR with the reason)
 *   exits                                waits on ROOT/ID/start.sock
 *
 * `start` connects to start.sock; init execs the user's program and the
 * socket closes on exec (CLOEXEC), which tells `start` it worked.  `run`
 * keeps the pair and sends START over it instead.
 */
#include <fcntl.h>
#include <jansson.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "engine.h"
#include "util.h"

#define START_SOCK "start.sock"
/* not a valid container id: `list` never shows it */
#define SECCOMP_CACHE ".seccomp-cache"

enum sync_type { SYNC_GO = 1, SYNC_READY, SYNC_ERROR, SYNC_START, SYNC_PID, SYNC_NOTIFY, SYNC_HOOKS };

struct sync_msg {
	int type;
	int code;
	char msg[1016];
};

const char *cella_version(void)
{
	return CELLA_VERSION;
}

const char *cella_status_name(enum cella_status s)
{
	static const char *const names[] = { "creating", "created", "running", "paused", "stopped" };
	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "unknown";
}

static void rt_log(struct cella_runtime *rt, enum cella_log_level level, const char *fmt, ...)
	CELLA_PRINTF(3, 4);
static void rt_log(struct cella_runtime *rt, enum cella_log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	if (!rt->log || (level == CELLA_LOG_DEBUG && !rt->debug))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	rt->log(rt->log_data, level, buf);
}

static const char *const hook_names[OCI_HOOK_KINDS] = {
	[OCI_HOOK_PRESTART] = "prestart", [OCI_HOOK_CREATE_RUNTIME] = "createRuntime",
	[OCI_HOOK_CREATE_CONTAINER] = "createContainer", [OCI_HOOK_START_CONTAINER] = "startContainer",
	[OCI_HOOK_POSTSTART] = "poststart", [OCI_HOOK_POSTSTOP] = "poststop",
};

static int hooks_of(const struct oci_config *c, enum oci_hook_kind k, const char *state_json,
		    struct cella_error *err)
{
	return c->n_hooks[k] ? hooks_run(c->hooks[k], c->n_hooks[k], hook_names[k], state_json, err) : 0;
}

/* poststart and poststop: a failing hook is a warning, the others still run. */
static void hooks_warn(struct cella_runtime *rt, const struct oci_config *c, enum oci_hook_kind k,
		       const char *state_json)
{
	for (size_t i = 0; i < c->n_hooks[k]; i++) {
		struct cella_error e = { 0 };
		if (hooks_run(&c->hooks[k][i], 1, hook_names[k], state_json, &e) < 0)
			rt_log(rt, CELLA_LOG_WARNING, "%s", e.msg);
	}
}

char *container_state_json(const struct container_state *st, enum cella_status status)
{
	struct cella_state cs = { .pid = status == CELLA_STATUS_STOPPED ? 0 : st->pid, .status = status };
	snprintf(cs.id, sizeof(cs.id), "%s", st->id);
	snprintf(cs.bundle, sizeof(cs.bundle), "%s", st->bundle);
	snprintf(cs.rootfs, sizeof(cs.rootfs), "%s", st->rootfs);
	snprintf(cs.created, sizeof(cs.created), "%s", st->created);
	cs.annotations_json = st->annotations_json;
	return cella_state_to_json(&cs, false);
}

static int sync_send(int fd, int type, const struct cella_error *e)
{
	struct sync_msg m = { .type = type };
	if (e) {
		m.code = e->code;
		snprintf(m.msg, sizeof(m.msg), "%.*s", (int)sizeof(m.msg) - 1, e->msg);
	}
	ssize_t r;
	do
		r = send(fd, &m, offsetof(struct sync_msg, msg) + strlen(m.msg) + 1, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -1 : 0;
}

/* GO may carry a file descriptor (the idmapped rootfs). */
static int sync_send_fd(int sock, int type, int fd)
{
	struct sync_msg m = { .type = type };
	return fd_send(sock, &m, offsetof(struct sync_msg, msg) + 1, fd);
}

/* Receive one message and the fd it may carry (-1 if none). */
static int sync_recv_fd(int sock, struct sync_msg *m, int *fd)
{
	memset(m, 0, sizeof(*m));
	ssize_t r = fd_recv(sock, m, sizeof(*m) - 1, fd);
	return r < 0 ? -1 : r == 0 ? 0 : 1;
}

/* Receive one message; 0 on EOF (the peer exited or exec'd). */
static int sync_recv(int fd, struct sync_msg *m)
{
	ssize_t r;
	memset(m, 0, sizeof(*m));
	do
		r = recv(fd, m, sizeof(*m) - 1, 0);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -1 : r == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* The container's init, from clone to exec.                            */

struct init_args {
	const char *id;
	const struct cella_create_opts *opts;
	const struct oci_config *c;
	const char *bundle;
	const char *rootfs;
	char *const *argv;
	char **envp;       /* room for one more entry (HOME) */
	const int *nsfds;
	struct cgroup *cgroup;
	bool enter_self;   /* move ourselves into the cgroup (no user namespace) */
	bool cloned_into;  /* born in the cgroup2 directory (CLONE_INTO_CGROUP) */
	bool cgroup_done;  /* init_cgroup_ready() ran */
	const int *tasks_fds;  /* user namespace: v1 `tasks` files the runtime opened */
	size_t n_tasks_fds;
	int sync;          /* our end of the pair */
	int start_listen;  /* create: the start.sock listener; run: -1 */
	int console_sock;  /* -1 unless process.terminal */
	struct seccomp_filter *seccomp;  /* built by the runtime, NULL without linux.seccomp */
};

/*
 * Load the seccomp filter; with SCMP_ACT_NOTIFY, tell the runtime which fd
 * is the listener (it takes it with pidfd_getfd).  write(2) carries the
 * message: the parser refuses NOTIFY for write, so this cannot block.
 */
static int init_seccomp(struct init_args *a, struct cella_error *err)
{
	int notify_fd = -1;
	if (seccomp_install(a->seccomp, &notify_fd, err) < 0)
		return -1;
	if (notify_fd >= 0) {
		struct sync_msg m = { .type = SYNC_NOTIFY, .code = notify_fd };
		if (write(a->sync, &m, offsetof(struct sync_msg, msg) + 1) < 0)
			return cella_error_set(err, errno, "pass the seccomp listener fd");
	}
	return 0;
}

static bool env_has(char **envp, const char *name)
{
	size_t len = strlen(name);
	for (; *envp; envp++)
		if (!strncmp(*envp, name, len) && (*envp)[len] == '=')
			return true;
	return false;
}

/*
 * Our cgroup, once the runtime finished it (it creates the v1 directories
 * and writes the limits while we mount): enter it, then root a cgroup
 * namespace there.  Called before the first cgroup mount, and at the
 * latest before pivot_root (rootfs_ctx.cgroup_ready); runs once.
 */
static int init_cgroup_ready(void *data, struct cella_error *err)
{
	struct init_args *a = data;
	struct sync_msg m;
	if (a->cgroup_done)
		return 0;
	a->cgroup_done = true;
	if (a->enter_self) {
		if (sync_recv(a->sync, &m) <= 0 || m.type != SYNC_GO)
			return cella_error_set(err, EPIPE, "the runtime went away");
		if (cgroup_enter_self(a->cgroup, a->cloned_into, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < a->n_tasks_fds; i++) {
		if (write(a->tasks_fds[i], "0", 1) != 1)
			return cella_error_set(err, errno, "enter the container's cgroup");
		close(a->tasks_fds[i]);
	}
	a->n_tasks_fds = 0;
	if ((namespaces_new_flags(a->c) & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
		return cella_error_set(err, errno, "unshare the cgroup namespace");
	return 0;
}

/*
 * A state JSON of any size over the seqpacket pair: its length, then
 * chunks small enough for any socket buffer.
 */
#define SYNC_TEXT_CHUNK 32768

static int sync_send_text(int sock, const char *text)
{
	size_t len = strlen(text);
	if (send(sock, &len, sizeof(len), MSG_NOSIGNAL) < 0)
		return -1;
	for (size_t off = 0; off < len;) {
		size_t n = len - off < SYNC_TEXT_CHUNK ? len - off : SYNC_TEXT_CHUNK;
		ssize_t r = send(sock, text + off, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

static char *sync_recv_text(int sock)
{
	size_t len;
	ssize_t n;
	do
		n = recv(sock, &len, sizeof(len), 0);
	while (n < 0 && errno == EINTR);
	if (n != sizeof(len) || len > (64u << 20))
		return NULL;
	cleanup_free char *buf = malloc(len + 1);
	if (!buf)
		return NULL;
	for (size_t off = 0; off < len;) {
		n = recv(sock, buf + off, len - off < SYNC_TEXT_CHUNK ? len - off : SYNC_TEXT_CHUNK, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		off += (size_t)n;
	}
	buf[len] = '\0';
	return steal_pointer(&buf);
}

/*
 * Before pivot_root, with the container's namespaces and mounts in place:
 * the runtime runs prestart and createRuntime (on the host), then we run
 * createContainer here, in the container's namespaces (its paths still
 * resolve in the runtime's view of the filesystem).
 */
static int init_before_pivot(void *data, struct cella_error *err)
{
	struct init_args *a = data;
	const struct oci_config *c = a->c;
	struct sync_msg m = { .type = SYNC_HOOKS };
	if (!c->n_hooks[OCI_HOOK_PRESTART] && !c->n_hooks[OCI_HOOK_CREATE_RUNTIME] &&
	    !c->n_hooks[OCI_HOOK_CREATE_CONTAINER])
		return 0;
	if (write(a->sync, &m, offsetof(struct sync_msg, msg) + 1) < 0 ||
	    sync_recv(a->sync, &m) <= 0)
		return cella_error_set(err, EPIPE, "the runtime went away");
	if (m.type == SYNC_ERROR)
		return cella_error_set(err, m.code, "%s", m.msg);
	cleanup_free char *state = sync_recv_text(a->sync);
	if (!state)
		return cella_error_set(err, EPIPE, "the runtime went away");
	return hooks_of(c, OCI_HOOK_CREATE_CONTAINER, state, err);
}

static int init_setup(struct init_args *a, char **exe, struct cella_error *err)
{
	const struct oci_config *c = a->c;
	int newns = namespaces_new_flags(c);
	struct sync_msg m;
	cleanup_close int idmapped_root = -1;

	if (!a->enter_self && (sync_recv_fd(a->sync, &m, &idmapped_root) <= 0 || m.type != SYNC_GO))
		return cella_error_set(err, EPIPE, "the runtime went away");
	/* while we still are host root on the host's files (before the user
	 * switch below), so a bundle only root can enter works with a user ns */
	if (chdir(a->bundle) < 0)
		return cella_error_set(err, errno, "chdir to the bundle `%s`", a->bundle);
	bool user_joined = namespaces_has(c, CLONE_NEWUSER) && !(newns & CLONE_NEWUSER);
	if (user_joined && namespaces_join(c, a->nsfds, CLONE_NEWUSER, err) < 0)
		return -1;
	if ((newns & CLONE_NEWUSER || user_joined) && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
		return cella_error_set(err, errno, "become root in the user namespace");
	if (namespaces_join(c, a->nsfds, ~(CLONE_NEWPID | CLONE_NEWUSER | CLONE_NEWTIME), err) < 0)
		return -1;
	/* joined: the host's namespace fds have no business in the container */
	for (size_t i = 0; i < c->n_namespaces; i++)
		if (a->nsfds[i] >= 0)
			close(a->nsfds[i]);
	if (user_joined) {
		/* what we create now must belong to the joined user namespace, so it
		 * is created here rather than by clone3() in the runtime */
		int flags = newns & ~(CLONE_NEWPID | CLONE_NEWCGROUP | CLONE_NEWTIME);
		if (flags && unshare(flags) < 0)
			return cella_error_set(err, errno, "unshare the container's namespaces");
		if (newns & CLONE_NEWPID) {
			/* a new pid namespace takes effect for children: the init is a
			 * sibling we fork (CLONE_PARENT), and this stage process exits */
			if (unshare(CLONE_NEWPID) < 0)
				return cella_error_set(err, errno, "unshare the pid namespace");
			/* the init waits until the runtime knows its pid: nothing it
			 * says may reach the runtime before SYNC_PID */
			int told[2];
			if (pipe2(told, O_CLOEXEC) < 0)
				return cella_error_set(err, errno, "pipe");
			struct clone_args ca = { .flags = CLONE_PARENT };
			pid_t pid = syscall(SYS_clone3, &ca, sizeof(ca));
			if (pid < 0)
				return cella_error_set(err, errno, "fork the container init");
			if (pid > 0) {
				struct sync_msg pm = { .type = SYNC_PID, .code = pid };
				send(a->sync, &pm, offsetof(struct sync_msg, msg) + 1, MSG_NOSIGNAL);
				write_all(told[1], "", 1);
				_exit(0);
			}
			close(told[1]);
			char b;
			if (read_all(told[0], &b, 1) != 1)
				return cella_error_set(err, EPIPE, "the stage process went away");
			close(told[0]);
		}
	}
	if (!namespaces_has(c, CLONE_NEWNS) && init_cgroup_ready(a, err) < 0)
		return -1;
	if (c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0)
		return cella_error_set(err, errno, "hostname `%s`", c->hostname);
	if (c->domainname && setdomainname(c->domainname, strlen(c->domainname)) < 0)
		return cella_error_set(err, errno, "domainname `%s`", c->domainname);

	struct rootfs_ctx rctx = {
		.config = c,
		.rootfs = a->rootfs,
		.cgroup = a->cgroup,
		.no_pivot = a->opts->no_pivot,
		.idmapped_root = idmapped_root,
		.null_tree = -1,
		.in_userns = (newns & CLONE_NEWUSER) || user_joined,
		.console_sock = a->console_sock,
		.console_slave = -1,
		.cgroup_ready = init_cgroup_ready,
		.cgroup_ready_data = a,
		.before_pivot = init_before_pivot,
	};
	if (namespaces_has(c, CLONE_NEWNS)) {
		if (rootfs_setup(&rctx, err) < 0)
			return -1;
		/* entered and mounted: no handle on the host's cgroup trees stays */
		cgroup_drop_fds(a->cgroup);
	} else {
		if (init_before_pivot(a, err) < 0)
			return -1;
		if (chroot(a->rootfs) < 0 || chdir("/") < 0)
			return cella_error_set(err, errno, "chroot into `%s`", a->rootfs);
	}
	/* a missing cwd is created (as root, before the root turns read-only), as runc does */
	if (c->process.cwd && mkdir_p(c->process.cwd, 0755, err) < 0)
		return cella_error_wrap(err, "process.cwd");
	if (sysctl_apply(c, err) < 0)
		return -1;
	if (namespaces_has(c, CLONE_NEWNS) && rootfs_finalize(&rctx, err) < 0)
		return -1;
	if (rctx.console_slave >= 0) {
		if (console_attach(rctx.console_slave, err) < 0)
			return -1;
		close(rctx.console_slave);
	}
	if (a->console_sock >= 0)
		close(a->console_sock);
	if (!env_has(a->envp, "HOME")) {
		/* as runc: HOME from the container's passwd, for the user it runs as */
		size_t n = 0;
		while (a->envp[n])
			n++;
		cleanup_free char *home = process_home(c->process.uid);
		a->envp[n] = xasprintf("HOME=%s", home);
		a->envp[n + 1] = NULL;
	}
	/* seccomp goes on as late as it can (see seccomp.c): without
	 * no_new_privs it needs CAP_SYS_ADMIN, so before the user switch; with
	 * NOTIFY, before READY so the listener has it while we are "creating";
	 * otherwise right before execve (init_main) */
	bool seccomp_early = a->seccomp && !c->process.no_new_privileges;
	bool seccomp_ready = a->seccomp && !seccomp_early && seccomp_filter_notifies(a->seccomp);
	if (process_prepare_privileged(c, a->opts->no_new_keyring, a->id, err) < 0)
		return -1;
	if (seccomp_early && init_seccomp(a, err) < 0)
		return -1;
	if (process_switch_user(c, err) < 0)
		return -1;
	if (seccomp_ready && init_seccomp(a, err) < 0)
		return -1;
	if (seccomp_early || seccomp_ready)
		a->seccomp = NULL;
	*exe = process_find_executable(&c->process, err);
	if (!*exe)
		return -1;
	return process_limit_fds(a->opts->preserve_fds, err);
}

/*
 * The container's process starts with no signal blocked or ignored, as with
 * runc and crun: the mask and ignored set of whoever ran the runtime
 * (cella-monitor blocks SIGCHLD for its signalfd, daemons ignore SIGPIPE)
 * are not the guest's.  sysvinit never unblocks SIGCHLD itself and would
 * wait forever on its first zombie.
 */

static __attribute__((noreturn)) void init_main(struct init_args *a)
{
	struct cella_error err = { 0 };
	cleanup_free char *exe = NULL;
	struct sync_msg m;
	int chan;

	if (init_setup(a, &exe, &err) < 0) {
		sync_send(a->sync, SYNC_ERROR, &err);
		_exit(1);
	}
	sync_send(a->sync, SYNC_READY, NULL);

	if (a->start_listen >= 0) {
		close(a->sync);
		do
			chan = accept4(a->start_listen, NULL, NULL, SOCK_CLOEXEC);
		while (chan < 0 && errno == EINTR);
		if (chan < 0)
			_exit(1);
		close(a->start_listen);
		char b;
		if (read_all(chan, &b, 1) != 1)
			_exit(1);
	} else {
		chan = a->sync;
		if (sync_recv(chan, &m) <= 0 || m.type != SYNC_START)
			_exit(1);
	}
	if (a->c->n_hooks[OCI_HOOK_START_CONTAINER]) {
		/* the starter sent our state after the start byte */
		cleanup_free char *state = NULL;
		if (a->start_listen >= 0) {
			struct cella_error ignored;
			state = read_fd_text(chan, NULL, &ignored);
		} else {
			state = sync_recv_text(chan);
		}
		if (!state || hooks_of(a->c, OCI_HOOK_START_CONTAINER, state, &err) < 0) {
			if (!state)
				cella_error_set(&err, EPIPE, "startContainer: no state from the runtime");
			goto fail;
		}
	}
	if (lsm_exec_label(&a->c->process, &err) < 0)
		goto fail;
	if (a->seccomp && seccomp_install(a->seccomp, NULL, &err) < 0)
		goto fail;
	signals_reset_all();
	execve(exe, a->argv, a->envp);
	cella_error_set(&err, errno, "exec `%s`", exe);
fail:
	if (a->start_listen >= 0)
		write_all(chan, err.msg, strlen(err.msg));
	else
		sync_send(chan, SYNC_ERROR, &err);
	_exit(127);
}

/* ------------------------------------------------------------------ */
/* The runtime side.                                                    */

static void config_unknown(void *data, const char *path)
{
	struct cella_runtime *rt = data;
	rt_log(rt, CELLA_LOG_DEBUG, "config.json: ignoring unknown property `%s`", path);
}

/* RFC 3339 in UTC.  By hand: gmtime() and strftime() load the time zone
 * database, a file read on every `create` for nothing. */
static void now_rfc3339(char *buf, size_t len)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	long long days = ts.tv_sec / 86400, secs = ts.tv_sec % 86400;
	/* civil_from_days (H. Hinnant) */
	long long z = days + 719468, era = z / 146097;
	long long doe = z - era * 146097;
	long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long long mp = (5 * doy + 2) / 153;
	long long d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
	long long y = yoe + era * 400 + (m <= 2);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", (int)(y % 10000), (int)m, (int)d,
		 (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60), (int)(ts.tv_nsec % 1000000000));
}

/* OCI linux.cgroupsPath, or a systemd "slice:prefix:name" with --systemd-cgroup,
 * as a cgroupfs path. */
static char *cgroup_path_for(struct cella_runtime *rt, const struct oci_config *c, const char *id,
			     struct cella_error *err)
{
	const char *p = c->cgroups_path;
	if (!p || !*p)
		return xasprintf("/cella/%s", id);
	if (rt->systemd_cgroup && strchr(p, ':')) {
		char slice[256], prefix[256], name[256];
		if (sscanf(p, "%255[^:]:%255[^:]:%255s", slice, prefix, name) != 3) {
			cella_error_set(err, EINVAL, "linux.cgroupsPath: expected slice:prefix:name, got `%s`", p);
			return NULL;
		}
		rt_log(rt, CELLA_LOG_DEBUG, "--systemd-cgroup: using the cgroupfs manager for `%s`", p);
		/* "a-b.slice" lives at a.slice/a-b.slice */
		char path[1024] = "";
		size_t len = 0;
		for (char *dash = slice; (dash = strchr(dash, '-')); dash++) {
			len += snprintf(path + len, sizeof(path) - len, "/%.*s.slice", (int)(dash - slice), slice);
			if (len >= sizeof(path))
				break;
		}
		if (strcmp(slice, "-") && strcmp(slice, ""))
			len += snprintf(path + len, sizeof(path) - len, "/%s", slice);
		return xasprintf("%s/%s-%s.scope", path, prefix, name);
	}
	if (strchr(p, ':')) {
		cella_error_set(err, EINVAL, "linux.cgroupsPath `%s` is in the systemd format: pass --systemd-cgroup", p);
		return NULL;
	}
	return p[0] == '/' ? xstrdup(p) : xasprintf("/%s", p);
}

static int config_check(const struct oci_config *c, struct cella_error *err)
{
	if (!c->has_process || c->process.n_args == 0)
		return cella_error_set(err, EINVAL, "config.json: process.args: required to create a container");
	if (c->hostname && *c->hostname && !namespaces_has(c, CLONE_NEWUTS))
		return cella_error_set(err, EINVAL, "config.json: hostname: needs a uts namespace of the container's own");
	if (c->domainname && *c->domainname && !namespaces_has(c, CLONE_NEWUTS))
		return cella_error_set(err, EINVAL, "config.json: domainname: needs a uts namespace of the container's own");
	int newns = namespaces_new_flags(c);
	if ((newns & CLONE_NEWUSER) && (!c->n_uid_mappings || !c->n_gid_mappings))
		return cella_error_set(err, EINVAL, "config.json: linux.uidMappings/gidMappings: required with a new user namespace");
	/* with a joined user namespace the mappings are its own (runc wants them given) */
	if (!namespaces_has(c, CLONE_NEWUSER) && (c->n_uid_mappings || c->n_gid_mappings))
		return cella_error_set(err, EINVAL, "config.json: linux.uidMappings: given without a user namespace");
	if (c->has_time_offsets && !(newns & CLONE_NEWTIME))
		return cella_error_set(err, EINVAL, "config.json: linux.timeOffsets: needs a new time namespace");
	if (c->process.terminal && !namespaces_has(c, CLONE_NEWNS))
		return cella_error_set(err, EINVAL, "config.json: process.terminal: needs a mount namespace");
	if (lsm_check(c, &c->process, err) < 0)
		return cella_error_wrap(err, "config.json");
	return sysctl_validate(c, err);
}

static int start_listener(int statefd, struct cella_error *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/" START_SOCK, statefd);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cella_error_set(err, errno, "socket");
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 1) < 0) {
		int e = errno;
		close(fd);
		return cella_error_set(err, e, "listen on " START_SOCK);
	}
	return fd;
}

static int timens_prepare(const struct oci_config *c, struct cella_error *err)
{
	char buf[128];
	if (unshare(CLONE_NEWTIME) < 0)
		return cella_error_set(err, errno, "unshare the time namespace");
	int n = snprintf(buf, sizeof(buf), "monotonic %lld %u\nboottime %lld %u\n",
			 (long long)c->time_monotonic.secs, c->time_monotonic.nanosecs,
			 (long long)c->time_boottime.secs, c->time_boottime.nanosecs);
	if (c->has_time_offsets && write_file_at(AT_FDCWD, "/proc/self/timens_offsets", buf, n, err) < 0)
		return cella_error_wrap(err, "linux.timeOffsets");
	return 0;
}

/* Everything a create in progress owns; released by container_abort(). */
struct spawn {
	int rootfd;
	int statefd;
	bool state_made;
	struct cgroup *cg;
	pid_t pid;
	int pidfd;
	int sync;
	int console_sock;    /* run with a terminal: the pty master arrives here */
	int console_master;  /* ... and is relayed to our stdio */
	struct container_state st;
	struct oci_config *config;  /* kept for run's poststart/poststop hooks */
};

static void spawn_abort(struct spawn *s, const char *id)
{
	struct cella_error ignored;
	if (s->pidfd >= 0) {
		pidfd_send_signal(s->pidfd, SIGKILL, NULL, 0);
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (s->cg) {
		cgroup_destroy(s->cg, &ignored);
		cgroup_free(s->cg);
		s->cg = NULL;
	}
	if (s->state_made)
		state_remove(s->rootfd, id, &ignored);
}

static void spawn_release(struct spawn *s)
{
	if (s->cg)
		cgroup_free(s->cg);
	oci_config_free(s->config);
	int fds[] = { s->rootfd, s->statefd, s->pidfd, s->sync, s->console_sock, s->console_master };
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	state_release(&s->st);
}

static char *realpath_or_error(const char *path, const char *what, struct cella_error *err)
{
	char *r = realpath(path, NULL);
	if (!r)
		cella_error_set(err, errno, "%s `%s`", what, path);
	return r;
}

/* A NULL-terminated copy of a string array for execve(), with room for
 * one more entry. */
static char **strv_view(char **src, size_t n)
{
	char **v = xmalloc0((n + 2) * sizeof(char *));
	for (size_t i = 0; i < n; i++)
		v[i] = src[i];
	return v;
}

/* Fill in and write the state of the container being created. */
static bool config_has_hooks(const struct oci_config *c)
{
	for (int k = 0; k < OCI_HOOK_KINDS; k++)
		if (c->n_hooks[k])
			return true;
	return false;
}

static void spawn_fill(struct spawn *s, const char *id, const char *bundle, const char *rootfs,
		       const char *cgpath, const struct oci_config *c)
{
	free(s->st.annotations_json);
	snprintf(s->st.id, sizeof(s->st.id), "%s", id);
	s->st.pid = s->pid;
	s->st.start_time = proc_start_time(s->pid, NULL);
	snprintf(s->st.bundle, sizeof(s->st.bundle), "%s", bundle);
	snprintf(s->st.rootfs, sizeof(s->st.rootfs), "%s", rootfs);
	snprintf(s->st.cgroup_path, sizeof(s->st.cgroup_path), "%s", cgpath);
	if (!s->st.created[0])
		now_rfc3339(s->st.created, sizeof(s->st.created));
	s->st.annotations_json = c->annotations ? json_dumps(c->annotations, JSON_COMPACT) : NULL;
	s->st.hooks = config_has_hooks(c);
}

static int spawn_record(struct spawn *s, const char *id, const char *bundle, const char *rootfs,
			const char *cgpath, const struct oci_config *c, struct cella_error *err)
{
	spawn_fill(s, id, bundle, rootfs, cgpath, c);
	return state_save(s->rootfd, &s->st, true, err);
}

/* prestart and createRuntime, asked for by the init right before pivot_root. */
static int spawn_hooks_create(struct spawn *s, const struct oci_config *c, struct cella_error *err)
{
	cleanup_free char *state = container_state_json(&s->st, CELLA_STATUS_CREATING);
	if (!state)
		return cella_error_set(err, ENOMEM, "hooks");
	if (hooks_of(c, OCI_HOOK_PRESTART, state, err) < 0 || hooks_of(c, OCI_HOOK_CREATE_RUNTIME, state, err) < 0) {
		sync_send(s->sync, SYNC_ERROR, err);
		return -1;
	}
	if (sync_send(s->sync, SYNC_GO, NULL) < 0 || sync_send_text(s->sync, state) < 0)
		return cella_error_set(err, errno, "answer the container init");
	return 0;
}

/*
 * Create the container up to the point where its init waits for START.
 * run_mode: keep the sync pair (s->sync) instead of listening on start.sock.
 */
static int container_spawn(struct cella_runtime *rt, const char *id, const struct cella_create_opts *opts,
			   bool run_mode, struct spawn *s, struct cella_error *err)
{
	cleanup_free char *bundle = NULL, *config_path = NULL, *rootfs = NULL, *cgpath = NULL;
	cleanup_free char **envp = NULL;
	cleanup_free char **argv = NULL;
	cleanup_close int listener = -1, console = -1, own_pidns = -1, own_timens = -1;
	struct seccomp_filter *filter = NULL;
	struct oci_config *c = NULL;
	int sp[2] = { -1, -1 };
	int nsfds[16];
	size_t n_nsfds = 0;
	int ret = -1;

	if (!name_is_valid(id))
		return cella_error_set(err, EINVAL, "invalid container id `%s`: use letters, digits and _.+- (not first)", id);
	if (process_check_preserved_fds(opts->preserve_fds, err) < 0)
		return -1;
	bundle = realpath_or_error(opts->bundle ? opts->bundle : ".", "bundle", err);
	if (!bundle)
		return -1;
	config_path = xasprintf("%s/config.json", bundle);
	c = oci_config_load(config_path, config_unknown, rt, err);
	if (!c)
		return -1;
	if (config_check(c, err) < 0)
		goto out;
	if (c->n_namespaces > ARRAY_SIZE(nsfds)) {
		cella_error_set(err, EINVAL, "config.json: linux.namespaces: too many entries");
		goto out;
	}
	{
		cleanup_free char *r = c->root_path[0] == '/' ? xstrdup(c->root_path)
							    : xasprintf("%s/%s", bundle, c->root_path);
		rootfs = realpath_or_error(r, "config.json: root.path", err);
		if (!rootfs)
			goto out;
		struct stat sb;
		if (stat(rootfs, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
			cella_error_set(err, ENOTDIR, "config.json: root.path `%s`", r);
			goto out;
		}
	}
	cgpath = cgroup_path_for(rt, c, id, err);
	if (!cgpath)
		goto out;

	/* The state directory doubles as the lock on the id. */
	s->rootfd = state_root_open(rt->root, true, err);
	if (s->rootfd < 0)
		goto out;
	if (mkdirat(s->rootfd, id, 0700) < 0) {
		if (errno == EEXIST)
			cella_error_set(err, EEXIST, "container `%s` already exists", id);
		else
			cella_error_set(err, errno, "create state of `%s`", id);
		goto out;
	}
	s->state_made = true;
	s->statefd = openat(s->rootfd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->statefd < 0) {
		cella_error_set(err, errno, "open state of `%s`", id);
		goto out;
	}
	if (!run_mode && (listener = start_listener(s->statefd, err)) < 0)
		goto out;
	if (!c->process.terminal && opts->console_socket) {
		cella_error_set(err, EINVAL, "--console-socket given but process.terminal is false");
		goto out;
	}
	if (c->process.terminal && opts->console_socket) {
		if ((console = console_socket_connect(opts->console_socket, err)) < 0)
			goto out;
	} else if (c->process.terminal) {
		/* `run` in the foreground is its own console socket and relays the pty */
		int cp[2];
		if (!run_mode || opts->detach) {
			cella_error_set(err, EINVAL, "process.terminal is true: --console-socket is required");
			goto out;
		}
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cp) < 0) {
			cella_error_set(err, errno, "socketpair");
			goto out;
		}
		s->console_sock = cp[0];
		console = cp[1];
	}

	s->cg = cgroup_create_begin(cgpath, c->has_resources ? &c->resources : NULL, c->devices, c->n_devices, err);
	if (!s->cg)
		goto out;
	rt_log(rt, CELLA_LOG_DEBUG, "cgroup manager: cgroupfs (%s), path %s",
	       cgroup_mode_name(cgroup_get_mode(s->cg)), cgpath);
	if (namespaces_open(c, nsfds, err) < 0)
		goto out;
	n_nsfds = c->n_namespaces;
	int newns = namespaces_new_flags(c);
	/* Joining a pid namespace and creating a time namespace change what our
	 * children get: we change back right after the clone. */
	if (namespaces_has(c, CLONE_NEWPID) && !(newns & CLONE_NEWPID))
		own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (newns & CLONE_NEWTIME)
		own_timens = open("/proc/self/ns/time", O_RDONLY | O_CLOEXEC);
	if (namespaces_join(c, nsfds, CLONE_NEWPID, err) < 0)
		goto out;
	if ((newns & CLONE_NEWTIME) && timens_prepare(c, err) < 0)
		goto out;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		cella_error_set(err, errno, "socketpair");
		goto out;
	}
	if (c->seccomp) {
		/* compiled filters are kept under the runtime root, by profile */
		if (mkdirat(s->rootfd, SECCOMP_CACHE, 0700) < 0 && errno != EEXIST)
			rt_log(rt, CELLA_LOG_DEBUG, "no seccomp cache: %s", strerror(errno));
		cleanup_close int cache = openat(s->rootfd, SECCOMP_CACHE, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (seccomp_prepare_cached(c->seccomp, cache, &filter, err) < 0) {
			cella_error_wrap(err, "config.json: linux.seccomp");
			goto out;
		}
	}
	envp = strv_view(c->process.env, c->process.n_env);
	argv = strv_view(c->process.args, c->process.n_args);

	/* Without a user namespace the init can enter its cgroup itself, the
	 * cheap way (see cgroup_enter_self); a mapped root could not. */
	bool enter_self = !namespaces_has(c, CLONE_NEWUSER);
	/* joining a user namespace: the init creates its namespaces itself, and
	 * with a new pid namespace a stage process forks it (see init_setup) */
	bool user_joined = namespaces_has(c, CLONE_NEWUSER) && !(newns & CLONE_NEWUSER);
	bool staged = user_joined && (newns & CLONE_NEWPID);
	/* A new user namespace: the cgroup is finished first, and the init gets
	 * the v1 `tasks` files opened by us (see cgroup_open_tasks()); writing
	 * its pid from here would wait for an RCU grace period. */
	bool tasks_passed = !enter_self && !user_joined;
	int tasks_fds[16];
	int n_tasks = 0;
	if (tasks_passed) {
		/* its root may run an init that manages its own cgroup tree (systemd):
		 * the container's directories become its own, nothing above them */
		long ru = idmap_host(c->uid_mappings, c->n_uid_mappings, 0);
		long rg = idmap_host(c->gid_mappings, c->n_gid_mappings, 0);
		if (cgroup_create_finish(s->cg, err) < 0 ||
		    (ru > 0 && rg > 0 && cgroup_delegate(s->cg, (uid_t)ru, (gid_t)rg, err) < 0) ||
		    (n_tasks = cgroup_open_tasks(s->cg, tasks_fds, ARRAY_SIZE(tasks_fds), err)) < 0)
			goto out;
	}
	int cgfd = enter_self || tasks_passed ? cgroup_clone_fd(s->cg) : -1;
	struct clone_args ca = {
		.flags = (user_joined ? 0 : newns & ~(CLONE_NEWCGROUP | CLONE_NEWTIME)) | CLONE_PIDFD |
			 (cgfd >= 0 ? CLONE_INTO_CGROUP : 0),
		.pidfd = (uint64_t)(uintptr_t)&s->pidfd,
		.exit_signal = SIGCHLD,
		.cgroup = cgfd >= 0 ? (uint64_t)cgfd : 0,
	};
	/* non-dumpable, inherited by the init: until its execve() no process of
	 * the container may open its /proc/PID/{exe,fd,mem} */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	pid_t pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid != 0) {
		if (own_pidns >= 0)
			setns(own_pidns, CLONE_NEWPID);
		if (own_timens >= 0)
			setns(own_timens, CLONE_NEWTIME);
	}
	if (pid < 0) {
		cella_error_set(err, errno, "clone the container init");
		goto out;
	}
	if (pid == 0) {
		/* the init keeps no handle on the host it does not need */
		close(sp[0]);
		close(s->rootfd);
		close(s->statefd);
		if (own_pidns >= 0)
			close(own_pidns);
		if (own_timens >= 0)
			close(own_timens);
		struct init_args a = {
			.id = id, .opts = opts, .c = c, .bundle = bundle, .rootfs = rootfs,
			.argv = argv, .envp = envp, .nsfds = nsfds, .cgroup = s->cg, .sync = sp[1],
			.enter_self = enter_self, .cloned_into = cgfd >= 0, .seccomp = filter,
			.tasks_fds = tasks_fds, .n_tasks_fds = (size_t)n_tasks,
			.start_listen = listener, .console_sock = console,
		};
		init_main(&a);
	}
	s->pid = pid;
	while (n_tasks > 0)
		close(tasks_fds[--n_tasks]);
	close(sp[1]);
	sp[1] = -1;
	s->sync = sp[0];
	sp[0] = -1;

	/* the state is recorded while the init sets itself up: `create` marks it
	 * "creating" until READY, `run` does not wait for anyone to see it */
	s->st.creating = !run_mode;
	if (!staged && spawn_record(s, id, bundle, rootfs, cgpath, c, err) < 0)
		goto out;

	/* the init mounts while we finish its cgroup; GO tells it the cgroup is ready */
	if (!tasks_passed && cgroup_create_finish(s->cg, err) < 0)
		goto out;
	if (enter_self && sync_send(s->sync, SYNC_GO, NULL) < 0) {
		cella_error_set(err, errno, "start the container init");
		goto out;
	}
	if (!enter_self) {
		if (((newns & CLONE_NEWUSER) && idmap_write(pid, c, err) < 0) ||
		    (!tasks_passed && cgroup_enter(s->cg, pid, err) < 0))
			goto out;
		cleanup_close int tree = -1;
		if ((newns & CLONE_NEWUSER) && namespaces_has(c, CLONE_NEWNS)) {
			/* root inside sees the image as its own through an idmapped mount */
			char path[64];
			snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
			cleanup_close int userns = open(path, O_RDONLY | O_CLOEXEC);
			struct stat rst;
			if (stat(rootfs, &rst) == 0 &&
			    (long)rst.st_uid == idmap_host(c->uid_mappings, c->n_uid_mappings, 0) && rst.st_uid != 0) {
				/* already shown in the container's ids (an overlay of idmapped layers) */
				rt_log(rt, CELLA_LOG_DEBUG, "rootfs `%s` already belongs to the container's root", rootfs);
			} else if ((tree = userns < 0 ? -1 : rootfs_idmap(rootfs, userns)) < 0) {
				rt_log(rt, CELLA_LOG_DEBUG, "rootfs `%s` cannot be idmapped (%s): chown it into the user namespace instead",
				       rootfs, strerror(errno));
				if (idmap_chown_tree(rootfs, c, err) < 0)
					goto out;
			} else
				rt_log(rt, CELLA_LOG_DEBUG, "rootfs presented through an idmapped mount");
		}
		if (sync_send_fd(s->sync, SYNC_GO, tree) < 0) {
			cella_error_set(err, errno, "start the container init");
			goto out;
		}
	}
	struct sync_msg m;
	int r;
	/* until READY (or ERROR) the init may ask for things */
	while ((r = sync_recv(s->sync, &m)) > 0) {
		if (m.type == SYNC_NOTIFY) {
			/* the listener gets the fd while we are "creating" */
			cleanup_free char *state = container_state_json(&s->st, CELLA_STATUS_CREATING);
			if (seccomp_notify_take(s->pidfd, m.code, c->seccomp, state, err) < 0)
				goto out;
		} else if (m.type == SYNC_PID) {
			/* the stage process exits; its child is the init, and ours (CLONE_PARENT) */
			while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
				;
			close(s->pidfd);
			s->pid = m.code;
			s->pidfd = pidfd_open(s->pid, 0);
			if (s->pidfd < 0) {
				cella_error_set(err, errno, "open the container init");
				goto out;
			}
			spawn_fill(s, id, bundle, rootfs, cgpath, c);
		} else if (m.type == SYNC_HOOKS) {
			if (spawn_hooks_create(s, c, err) < 0)
				goto out;
		} else {
			break;
		}
	}
	if (r <= 0) {
		cella_error_set(err, r < 0 ? errno : 0, "the container init exited during setup");
		goto out;
	}
	if (m.type == SYNC_ERROR) {
		err->code = m.code;
		snprintf(err->msg, sizeof(err->msg), "%s", m.msg);
		goto out;
	}
	if (s->console_sock >= 0 && (s->console_master = console_recv(s->console_sock, err)) < 0)
		goto out;

	s->st.creating = false;
	if (staged && spawn_record(s, id, bundle, rootfs, cgpath, c, err) < 0)
		goto out;
	if (!staged && !run_mode && state_save(s->rootfd, &s->st, false, err) < 0)
		goto out;
	if (opts->pid_file) {
		char buf[32];
		int n = snprintf(buf, sizeof(buf), "%d", (int)s->pid);
		if (write_file_atomic(AT_FDCWD, opts->pid_file, buf, n, 0644, err) < 0) {
			cella_error_wrap(err, "--pid-file");
			goto out;
		}
	}
	ret = 0;
out:
	/* (again: an error may have come between the join and the clone) */
	if (own_pidns >= 0)
		setns(own_pidns, CLONE_NEWPID);
	if (own_timens >= 0)
		setns(own_timens, CLONE_NEWTIME);
	if (ret < 0)
		cella_error_wrap(err, "create `%s`", id);
	for (size_t i = 0; i < n_nsfds; i++)
		if (nsfds[i] >= 0)
			close(nsfds[i]);
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	if (filter)
		seccomp_filter_free(filter);
	if (ret == 0)
		s->config = c;
	else
		oci_config_free(c);
	return ret;
}

static void spawn_init(struct spawn *s)
{
	memset(s, 0, sizeof(*s));
	s->rootfd = s->statefd = s->pidfd = s->sync = s->console_sock = s->console_master = -1;
}

int cella_container_create(struct cella_runtime *rt, const char *id, const struct cella_create_opts *opts,
			   struct cella_error *err)
{
	struct spawn s;
	spawn_init(&s);
	int r = container_spawn(rt, id, opts, false, &s, err);
	if (r < 0)
		spawn_abort(&s, id);
	spawn_release(&s);
	return r;
}

/* Wait for the init to exec: the sync socket closes on exec, or carries an error. */
static int spawn_confirm_exec(struct spawn *s, struct cella_error *err)
{
	struct sync_msg m;
	if (sync_send(s->sync, SYNC_START, NULL) < 0)
		return cella_error_set(err, errno, "start the container");
	if (s->config->n_hooks[OCI_HOOK_START_CONTAINER]) {
		cleanup_free char *state = container_state_json(&s->st, CELLA_STATUS_CREATED);
		if (!state || sync_send_text(s->sync, state) < 0)
			return cella_error_set(err, errno, "start the container");
	}
	int r = sync_recv(s->sync, &m);
	if (r < 0)
		return cella_error_set(err, errno, "start the container");
	if (r > 0 && m.type == SYNC_ERROR) {
		err->code = m.code;
		snprintf(err->msg, sizeof(err->msg), "%s", m.msg);
		return -1;
	}
	return 0;
}

/* Wait for the init, forwarding signals and relaying its pty (console.c). */
static int spawn_wait(struct spawn *s, int *wstatus, struct cella_error *err)
{
	int r = console_relay_wait(s->pid, s->pidfd, s->console_master, wstatus, err);
	if (r == 0) {
		close(s->pidfd);
		s->pidfd = -1;
	}
	return r;
}

int cella_container_run(struct cella_runtime *rt, const char *id, const struct cella_create_opts *opts,
			int *wstatus, struct cella_error *err)
{
	struct spawn s;
	spawn_init(&s);
	int r = container_spawn(rt, id, opts, true, &s, err);
	if (r == 0) {
		r = spawn_confirm_exec(&s, err);
		if (r == 0 && s.config->n_hooks[OCI_HOOK_POSTSTART]) {
			cleanup_free char *state = container_state_json(&s.st, CELLA_STATUS_RUNNING);
			hooks_warn(rt, s.config, OCI_HOOK_POSTSTART, state);
		}
		if (r == 0 && !opts->detach) {
			r = spawn_wait(&s, wstatus, err);
			if (r == 0 && (r = cgroup_destroy(s.cg, err)) == 0)
				r = state_remove(s.rootfd, id, err);
			if (r == 0 && s.config->n_hooks[OCI_HOOK_POSTSTOP]) {
				cleanup_free char *state = container_state_json(&s.st, CELLA_STATUS_STOPPED);
				hooks_warn(rt, s.config, OCI_HOOK_POSTSTOP, state);
			}
		}
	}
	if (r < 0)
		spawn_abort(&s, id);
	spawn_release(&s);
	return r;
}

/* ------------------------------------------------------------------ */
/* Operations on an existing container.                                 */

/* The status of a loaded container, checking the pid is really its init. */
static enum cella_status container_status(int statefd, const struct container_state *st, struct cgroup *cg)
{
	char pstate = 0;
	if (st->pid <= 0)
		return CELLA_STATUS_STOPPED;
	unsigned long long t = proc_start_time(st->pid, &pstate);
	if (t == 0 || t != st->start_time || pstate == 'Z' || pstate == 'X')
		return CELLA_STATUS_STOPPED;
	if (st->creating)
		return CELLA_STATUS_CREATING;
	if (statefd >= 0 && faccessat(statefd, START_SOCK, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return CELLA_STATUS_CREATED;
	if (cg) {
		struct cella_error ignored;
		if (cgroup_is_frozen(cg, &ignored) == 1)
			return CELLA_STATUS_PAUSED;
	}
	return CELLA_STATUS_RUNNING;
}

void container_ref_close(struct container_ref *l)
{
	if (l->cg)
		cgroup_free(l->cg);
	if (l->statefd >= 0)
		close(l->statefd);
	if (l->rootfd >= 0)
		close(l->rootfd);
	state_release(&l->st);
}

int container_ref_open(struct cella_runtime *rt, const char *id, bool want_cgroup, struct container_ref *l,
		       struct cella_error *err)
{
	memset(l, 0, sizeof(*l));
	l->rootfd = l->statefd = -1;
	if (!name_is_valid(id))
		return cella_error_set(err, EINVAL, "invalid container id `%s`", id);
	l->rootfd = state_root_open(rt->root, false, err);
	if (l->rootfd < 0) {
		if (err->code == ENOENT)
			cella_error_set(err, ENOENT, "container `%s` does not exist", id);
		return -1;
	}
	if (state_load(l->rootfd, id, &l->st, err) < 0)
		return -1;
	l->statefd = openat(l->rootfd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (want_cgroup && l->st.cgroup_path[0]) {
		struct cella_error e2;
		l->cg = cgroup_open(l->st.cgroup_path, &e2);
	}
	l->status = container_status(l->statefd, &l->st, l->cg);
	return 0;
}

/* Release an init waiting on start.sock; it answers with EOF on exec or an
 * error.  Our state follows the start byte, for startContainer hooks. */
static int start_release(struct container_ref *l, const char *id, struct cella_error *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/" START_SOCK, l->statefd);
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return cella_error_set(err, errno, "start container `%s`", id);
	/* from now on it is running (or stopped, if exec fails) */
	unlinkat(l->statefd, START_SOCK, 0);
	cleanup_free char *state = l->st.hooks ? container_state_json(&l->st, CELLA_STATUS_CREATED) : NULL;
	if (write_all(fd, "S", 1) != 1)
		return cella_error_set(err, errno, "start container `%s`", id);
	/* the init reads it only for startContainer hooks: once it has exec'd,
	 * the socket is gone, which is fine (no SIGPIPE) */
	if (state && send(fd, state, strlen(state), MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
		return cella_error_set(err, errno, "start container `%s`", id);
	shutdown(fd, SHUT_WR);
	char msg[900];
	ssize_t n = read_all(fd, msg, sizeof(msg) - 1);
	if (n > 0) {
		msg[n] = '\0';
		return cella_error_set(err, 0, "start container `%s`: %s", id, msg);
	}
	return 0;
}

/* The config again, for hooks after create (poststart at start, poststop at delete). */
static void container_hooks_warn(struct cella_runtime *rt, const struct container_ref *l,
				 enum oci_hook_kind k, enum cella_status status)
{
	struct cella_error e = { 0 };
	cleanup_free char *path = xasprintf("%s/config.json", l->st.bundle);
	struct oci_config *c = oci_config_load(path, NULL, NULL, &e);
	if (!c) {
		rt_log(rt, CELLA_LOG_WARNING, "%s hooks not run: %s", hook_names[k], e.msg);
		return;
	}
	cleanup_free char *state = container_state_json(&l->st, status);
	hooks_warn(rt, c, k, state);
	oci_config_free(c);
}

int cella_container_start(struct cella_runtime *rt, const char *id, struct cella_error *err)
{
	struct container_ref l;
	int ret = container_ref_open(rt, id, false, &l, err);
	if (ret == 0 && l.status != CELLA_STATUS_CREATED)
		ret = cella_error_set(err, EINVAL, "cannot start container `%s`: it is %s, not created", id,
				      cella_status_name(l.status));
	if (ret == 0)
		ret = start_release(&l, id, err);
	if (ret == 0 && l.st.hooks)
		container_hooks_warn(rt, &l, OCI_HOOK_POSTSTART, CELLA_STATUS_RUNNING);
	container_ref_close(&l);
	return ret;
}

int cella_container_state(struct cella_runtime *rt, const char *id, struct cella_state *st,
			  struct cella_error *err)
{
	struct container_ref l;
	memset(st, 0, sizeof(*st));
	int ret = container_ref_open(rt, id, true, &l, err);
	if (ret == 0) {
		snprintf(st->id, sizeof(st->id), "%s", l.st.id);
		snprintf(st->bundle, sizeof(st->bundle), "%s", l.st.bundle);
		snprintf(st->rootfs, sizeof(st->rootfs), "%s", l.st.rootfs);
		snprintf(st->created, sizeof(st->created), "%s", l.st.created);
		st->status = l.status;
		st->pid = l.status == CELLA_STATUS_STOPPED ? 0 : l.st.pid;
		st->annotations_json = steal_pointer(&l.st.annotations_json);
	}
	container_ref_close(&l);
	return ret;
}

void cella_state_release(struct cella_state *st)
{
	free(st->annotations_json);
	st->annotations_json = NULL;
}

char *cella_state_to_json(const struct cella_state *st, bool pretty)
{
	json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}",
			      "ociVersion", "1.2.0", "id", st->id, "pid", (int)st->pid,
			      "status", cella_status_name(st->status), "bundle", st->bundle,
			      "rootfs", st->rootfs, "created", st->created, "owner", st->owner);
	if (!o)
		return NULL;
	if (st->annotations_json) {
		json_t *a = json_loads(st->annotations_json, 0, NULL);
		if (a)
			json_object_set_new(o, "annotations", a);
	}
	char *s = json_dumps(o, pretty ? JSON_INDENT(2) | JSON_PRESERVE_ORDER : JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

static bool status_alive(enum cella_status s)
{
	return s == CELLA_STATUS_CREATING || s == CELLA_STATUS_CREATED || s == CELLA_STATUS_RUNNING ||
	       s == CELLA_STATUS_PAUSED;
}

/* Signal the init through a pidfd opened after the start time check: no pid reuse race. */
static int init_signal(const struct container_ref *l, int sig, struct cella_error *err)
{
	cleanup_close int pfd = pidfd_open(l->st.pid, 0);
	if (pfd < 0)
		return cella_error_set(err, errno, "open the init of `%s`", l->st.id);
	if (proc_start_time(l->st.pid, NULL) != l->st.start_time)
		return cella_error_set(err, ESRCH, "container `%s` is not running", l->st.id);
	if (pidfd_send_signal(pfd, sig, NULL, 0) < 0)
		return cella_error_set(err, errno, "signal the init of `%s`", l->st.id);
	return 0;
}

int cella_container_kill(struct cella_runtime *rt, const char *id, int sig, unsigned flags,
			 struct cella_error *err)
{
	struct container_ref l;
	int ret = -1;
	if (container_ref_open(rt, id, true, &l, err) < 0)
		goto out;
	if (sig <= 0 || sig >= 65) {
		cella_error_set(err, EINVAL, "invalid signal %d", sig);
		goto out;
	}
	if (!status_alive(l.status) && !(flags & CELLA_KILL_ALL)) {
		cella_error_set(err, ESRCH, "container `%s` is not running", id);
		goto out;
	}
	if (flags & CELLA_KILL_ALL) {
		if (!l.cg) {
			cella_error_set(err, ENOENT, "container `%s` has no cgroup", id);
			goto out;
		}
		ret = cgroup_kill(l.cg, sig, err);
	} else {
		ret = init_signal(&l, sig, err);
	}
	/* a frozen task only dies once thawed */
	if (ret == 0 && sig == SIGKILL && l.status == CELLA_STATUS_PAUSED)
		ret = cgroup_freeze(l.cg, false, err);
out:
	container_ref_close(&l);
	return ret;
}

/* Kill everything left and wait for the init to be gone (it is not our child). */
static int container_kill_wait(struct container_ref *l, struct cella_error *err)
{
	if (l->cg) {
		if (cgroup_kill(l->cg, SIGKILL, err) < 0)
			return -1;
		if (l->status == CELLA_STATUS_PAUSED && cgroup_freeze(l->cg, false, err) < 0)
			return -1;
	}
	cleanup_close int pfd = pidfd_open(l->st.pid, 0);
	if (pfd < 0)
		return 0;
	if (proc_start_time(l->st.pid, NULL) != l->st.start_time)
		return 0;
	pidfd_send_signal(pfd, SIGKILL, NULL, 0);
	struct pollfd p = { .fd = pfd, .events = POLLIN };
	while (poll(&p, 1, 10000) < 0 && errno == EINTR)
		;
	return 0;
}

int cella_container_delete(struct cella_runtime *rt, const char *id, unsigned flags, struct cella_error *err)
{
	struct container_ref l;
	int ret = -1;
	if (container_ref_open(rt, id, true, &l, err) < 0) {
		/* a state dir without state.json is a create that died half-way */
		if (err->code == EBUSY && (flags & CELLA_DELETE_FORCE) && l.rootfd >= 0)
			ret = state_remove(l.rootfd, id, err);
		/* as runc: forcing the delete of what does not exist is not an error */
		else if (err->code == ENOENT && (flags & CELLA_DELETE_FORCE) && name_is_valid(id))
			ret = 0;
		goto out;
	}
	if ((l.status == CELLA_STATUS_RUNNING || l.status == CELLA_STATUS_PAUSED ||
	     l.status == CELLA_STATUS_CREATING) && !(flags & CELLA_DELETE_FORCE)) {
		cella_error_set(err, EBUSY, "cannot delete container `%s` that is not stopped: %s (use --force)",
				id, cella_status_name(l.status));
		goto out;
	}
	if (status_alive(l.status) && container_kill_wait(&l, err) < 0)
		goto out;
	if (l.cg) {
		if (cgroup_destroy(l.cg, err) < 0)
			goto out;
	}
	ret = state_remove(l.rootfd, id, err);
	if (ret == 0 && l.st.hooks)
		container_hooks_warn(rt, &l, OCI_HOOK_POSTSTOP, CELLA_STATUS_STOPPED);
out:
	container_ref_close(&l);
	return ret;
}

static int container_freeze(struct cella_runtime *rt, const char *id, bool frozen, struct cella_error *err)
{
	struct container_ref l;
	int ret = -1;
	if (container_ref_open(rt, id, true, &l, err) < 0)
		goto out;
	enum cella_status want = frozen ? CELLA_STATUS_RUNNING : CELLA_STATUS_PAUSED;
	if (l.status != want) {
		cella_error_set(err, EINVAL, "cannot %s container `%s`: it is %s", frozen ? "pause" : "resume",
				id, cella_status_name(l.status));
		goto out;
	}
	if (!l.cg) {
		cella_error_set(err, ENOENT, "container `%s` has no cgroup", id);
		goto out;
	}
	ret = cgroup_freeze(l.cg, frozen, err);
out:
	container_ref_close(&l);
	return ret;
}

int cella_container_pause(struct cella_runtime *rt, const char *id, struct cella_error *err)
{
	return container_freeze(rt, id, true, err);
}

int cella_container_resume(struct cella_runtime *rt, const char *id, struct cella_error *err)
{
	return container_freeze(rt, id, false, err);
}

int cella_container_pids(struct cella_runtime *rt, const char *id, pid_t **pids, size_t *n,
			 struct cella_error *err)
{
	struct container_ref l;
	int ret = -1;
	*pids = NULL;
	*n = 0;
	if (container_ref_open(rt, id, true, &l, err) < 0)
		goto out;
	if (!status_alive(l.status) || !l.cg) {
		ret = 0;
		goto out;
	}
	ret = cgroup_pids(l.cg, pids, n, err);
out:
	container_ref_close(&l);
	return ret;
}

static int strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int cella_container_list(struct cella_runtime *rt, char ***ids, size_t *n, struct cella_error *err)
{
	*ids = NULL;
	*n = 0;
	int fd = state_root_open(rt->root, false, err);
	if (fd < 0)
		return err->code == ENOENT ? 0 : -1;
	cleanup_dir DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return cella_error_set(err, errno, "read `%s`", rt->root);
	}
	size_t cap = 0;
	char **v = NULL;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!name_is_valid(e->d_name) || e->d_type != DT_DIR)
			continue;
		if (*n + 1 >= cap) {
			cap = cap ? cap * 2 : 16;
			char **nv = realloc(v, cap * sizeof(char *));
			if (!nv) {
				strv_free(v);
				return cella_error_set(err, ENOMEM, "list");
			}
			v = nv;
		}
		v[(*n)++] = xstrdup(e->d_name);
		v[*n] = NULL;
	}
	if (v)
		qsort(v, *n, sizeof(char *), strcmp_p);
	*ids = v;
	return 0;
}
