/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * linux.seccomp: the parsed profile -> a libseccomp filter -> loaded into the
 * container process, and the SCMP_ACT_NOTIFY listener fd handed to the
 * listener named by linux.seccomp.listenerPath.
 *
 * Where the engine calls these, and why:
 *
 * 1. seccomp_prepare() in the runtime, after the config is parsed and before
 *    the init is cloned (or at the latest in the init before pivot_root and
 *    the user switch).  Building the filter only allocates memory (and
 *    lets libseccomp probe the kernel's seccomp API once), so every error
 *    (an architecture or flag libseccomp cannot handle, a rule it refuses)
 *    reaches `create` as an ordinary error, and the cloned init inherits
 *    the built context.  Free it in the runtime after the clone.
 *
 * 2. seccomp_install() in the init, as late as possible: every syscall made
 *    after it must be allowed by the container's profile, not by the
 *    runtime's needs.  The filter does not force no_new_privs (that stays
 *    process.noNewPrivileges), and without no_new_privs loading a filter
 *    needs CAP_SYS_ADMIN.  So:
 *    - noNewPrivileges true: after prctl(PR_SET_NO_NEW_PRIVS), the user and
 *      capability switch and everything else, immediately before execve
 *      (in cella: after the start.sock handshake, the last call before
 *      execve);
 *    - noNewPrivileges false: immediately before the capabilities are
 *      dropped (capabilities_apply / the setuid of the user switch), since
 *      loading needs CAP_SYS_ADMIN, and still after every mount, pivot,
 *      sysctl, keyring and rlimit step;
 *    - with SCMP_ACT_NOTIFY (seccomp_filter_notifies()): during `create`,
 *      before READY, so that the listener gets the fd while the container
 *      is "creating" (as runc does).  The init then passes the fd number to
 *      the runtime with write(2) (the parser refuses NOTIFY for `write`, as
 *      runc does, so this cannot block on a listener that does not have the
 *      fd yet); the runtime takes it with pidfd_getfd(2) on the init's
 *      pidfd and calls seccomp_notify_send() at once, before waiting for
 *      READY, then closes its copy.  The init closes its own copy (it is
 *      O_CLOEXEC anyway).
 *
 * 3. seccomp_notify_send() in the runtime, on the host: listenerPath is a
 *    host path that the init cannot reach after pivot_root.
 *
 * `exec` joins the container's profile: the same prepare and install in the
 * exec'd process, at the same place relative to its own user switch.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <jansson.h>
#include <seccomp.h>

#include "engine.h"
#include "oci.h"
#include "util.h"

struct seccomp_filter {
	scmp_filter_ctx ctx;
	bool notify;
};

struct scmp_name { const char *name; uint32_t value; };

/* SCMP_ACT_ERRNO and SCMP_ACT_TRACE carry errnoRet in their low 16 bits. */
static const struct scmp_name action_table[] = {
	{ "SCMP_ACT_KILL", SCMP_ACT_KILL },
	{ "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS },
	{ "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD },
	{ "SCMP_ACT_TRAP", SCMP_ACT_TRAP },
	{ "SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0) },
	{ "SCMP_ACT_TRACE", SCMP_ACT_TRACE(0) },
	{ "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW },
	{ "SCMP_ACT_LOG", SCMP_ACT_LOG },
	{ "SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY },
};

static const struct scmp_name operator_table[] = {
	{ "SCMP_CMP_NE", SCMP_CMP_NE }, { "SCMP_CMP_LT", SCMP_CMP_LT },
	{ "SCMP_CMP_LE", SCMP_CMP_LE }, { "SCMP_CMP_EQ", SCMP_CMP_EQ },
	{ "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
	{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};

#define NO_ATTR UINT32_MAX
#if SCMP_VER_MAJOR > 2 || (SCMP_VER_MAJOR == 2 && SCMP_VER_MINOR >= 6)
#define ATTR_WAITKILL SCMP_FLTATR_CTL_WAITKILL
#else
#define ATTR_WAITKILL NO_ATTR
#endif

static const struct scmp_name flag_table[] = {
	{ "SECCOMP_FILTER_FLAG_TSYNC", SCMP_FLTATR_CTL_TSYNC },
	{ "SECCOMP_FILTER_FLAG_LOG", SCMP_FLTATR_CTL_LOG },
	{ "SECCOMP_FILTER_FLAG_SPEC_ALLOW", SCMP_FLTATR_CTL_SSB },
	{ "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", ATTR_WAITKILL },
};

static int name_lookup(const struct scmp_name *t, size_t n, const char *name, uint32_t *value)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(t[i].name, name)) {
			if (value)
				*value = t[i].value;
			return 0;
		}
	}
	return -1;
}

int seccomp_action_lookup(const char *name, uint32_t *action)
{
	return name_lookup(action_table, ARRAY_SIZE(action_table), name, action);
}

int seccomp_operator_lookup(const char *name, int *op)
{
	uint32_t v = 0;
	if (name_lookup(operator_table, ARRAY_SIZE(operator_table), name, &v) < 0)
		return -1;
	if (op)
		*op = (int)v;
	return 0;
}

int seccomp_flag_lookup(const char *name, int *attr)
{
	uint32_t v = 0;
	if (name_lookup(flag_table, ARRAY_SIZE(flag_table), name, &v) < 0)
		return -1;
	if (attr)
		*attr = v == NO_ATTR ? -1 : (int)v;
	return 0;
}

/* "SCMP_ARCH_X86_64" -> libseccomp's "x86_64": every OCI name is the
 * upper-case form of a libseccomp name. */
int seccomp_arch_lookup(const char *name, uint32_t *arch)
{
	static const char prefix[] = "SCMP_ARCH_";
	char lower[32];
	size_t n = strlen(name);

	if (strncmp(name, prefix, sizeof(prefix) - 1) || n - (sizeof(prefix) - 1) >= sizeof(lower) ||
	    n == sizeof(prefix) - 1)
		return -1;
	for (size_t i = sizeof(prefix) - 1; i <= n; i++) {
		char ch = name[i];
		if (ch >= 'a' && ch <= 'z')
			return -1;
		lower[i - (sizeof(prefix) - 1)] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
	}
	uint32_t token = seccomp_arch_resolve_name(lower);
	if (token == 0)
		return -1;
	if (arch)
		*arch = token;
	return 0;
}

/* The action with its errno or trace value (EPERM unless given, as in runc). */
static uint32_t action_value(const char *name, bool has_ret, unsigned ret)
{
	uint32_t a = 0;
	seccomp_action_lookup(name, &a);    /* the parser checked the name */
	if (a == SCMP_ACT_ERRNO(0))
		return SCMP_ACT_ERRNO(has_ret ? ret : EPERM);
	if (a == SCMP_ACT_TRACE(0))
		return SCMP_ACT_TRACE(has_ret ? ret : EPERM);
	return a;
}

/*
 * One syscall entry.  OCI semantics, as runc and crun implement them: the
 * args of an entry are AND-ed in one rule, unless two of them compare the
 * same argument; then each becomes a rule of its own (OR).  Names libseccomp
 * does not know are skipped (a profile lists syscalls of newer kernels).
 */
static int rules_add(scmp_filter_ctx ctx, uint32_t def, const struct oci_seccomp_syscall *sc,
		     size_t idx, bool *notify, struct cella_error *err)
{
	uint32_t action = action_value(sc->action, sc->has_errno_ret, sc->errno_ret);
	size_t n_cmp = sc->n_args;
	bool separate = false;
	unsigned seen = 0;

	/* libseccomp refuses rules that repeat the default action: they add nothing */
	if (action == def)
		return 0;
	cleanup_free struct scmp_arg_cmp *cmp = calloc(n_cmp + 1, sizeof(*cmp));
	if (!cmp)
		return cella_error_set(err, ENOMEM, "linux.seccomp.syscalls[%zu]", idx);
	for (size_t i = 0; i < n_cmp; i++) {
		int op = 0;
		seccomp_operator_lookup(sc->args[i].op, &op);
		cmp[i] = (struct scmp_arg_cmp){
			.arg = sc->args[i].index, .op = (enum scmp_compare)op,
			.datum_a = sc->args[i].value, .datum_b = sc->args[i].value_two,
		};
		separate |= (seen & (1u << sc->args[i].index)) != 0;
		seen |= 1u << sc->args[i].index;
	}
	*notify |= action == SCMP_ACT_NOTIFY;
	for (size_t j = 0; j < sc->n_names; j++) {
		int nr = seccomp_syscall_resolve_name(sc->names[j]);
		if (nr == __NR_SCMP_ERROR)
			continue;
		int r = 0;
		if (!separate) {
			r = seccomp_rule_add_array(ctx, action, nr, (unsigned)n_cmp, n_cmp ? cmp : NULL);
		} else {
			for (size_t i = 0; r == 0 && i < n_cmp; i++)
				r = seccomp_rule_add_array(ctx, action, nr, 1, &cmp[i]);
		}
		if (r < 0)
			return cella_error_set(err, -r, "linux.seccomp.syscalls[%zu]: `%s`", idx, sc->names[j]);
	}
	return 0;
}

static void cleanup_filterp(struct seccomp_filter **f) { seccomp_filter_free(*f); }

int seccomp_prepare(const struct oci_seccomp *s, struct seccomp_filter **out, struct cella_error *err)
{
	__attribute__((cleanup(cleanup_filterp))) struct seccomp_filter *f = calloc(1, sizeof(*f));
	if (!f)
		return cella_error_set(err, ENOMEM, "linux.seccomp");
	uint32_t def = action_value(s->default_action, s->has_default_errno_ret, s->default_errno_ret);
	f->ctx = seccomp_init(def);
	if (!f->ctx)
		return cella_error_set(err, EINVAL, "linux.seccomp.defaultAction: libseccomp refuses `%s`",
				       s->default_action);
	f->notify = def == SCMP_ACT_NOTIFY;
	/* no_new_privs is process.noNewPrivileges' business, not the filter's */
	int r = seccomp_attr_set(f->ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (r < 0)
		return cella_error_set(err, -r, "linux.seccomp: clear the no_new_privs attribute");

	for (size_t i = 0; i < s->n_architectures; i++) {
		uint32_t arch = 0;
		if (seccomp_arch_lookup(s->architectures[i], &arch) < 0)
			return cella_error_set(err, EINVAL, "linux.seccomp.architectures[%zu]: unknown architecture `%s`",
					       i, s->architectures[i]);
		r = seccomp_arch_add(f->ctx, arch);
		if (r < 0 && r != -EEXIST)
			return cella_error_set(err, -r, "linux.seccomp.architectures[%zu]: `%s`", i,
					       s->architectures[i]);
	}
	for (size_t i = 0; i < s->n_flags; i++) {
		int attr = -1;
		if (seccomp_flag_lookup(s->flags[i], &attr) < 0 || attr < 0)
			return cella_error_set(err, EOPNOTSUPP, "linux.seccomp.flags[%zu]: `%s` is not supported by libseccomp %u.%u.%u",
					       i, s->flags[i], SCMP_VER_MAJOR, SCMP_VER_MINOR, SCMP_VER_MICRO);
		r = seccomp_attr_set(f->ctx, (enum scmp_filter_attr)attr, 1);
		if (r < 0)
			return cella_error_set(err, -r, "linux.seccomp.flags[%zu]: `%s`", i, s->flags[i]);
	}
	for (size_t i = 0; i < s->n_syscalls; i++)
		if (rules_add(f->ctx, def, &s->syscalls[i], i, &f->notify, err) < 0)
			return -1;
	*out = steal_pointer(&f);
	return 0;
}

bool seccomp_filter_notifies(const struct seccomp_filter *f)
{
	return f && f->notify;
}

int seccomp_install(struct seccomp_filter *f, int *notify_fd, struct cella_error *err)
{
	if (notify_fd)
		*notify_fd = -1;
	if (f->notify && !notify_fd)
		return cella_error_set(err, EINVAL, "seccomp: SCMP_ACT_NOTIFY needs a listener fd");
	int r = seccomp_load(f->ctx);
	if (r < 0)
		return cella_error_set(err, -r, "load the seccomp filter");
	if (f->notify) {
		int fd = seccomp_notify_fd(f->ctx);
		if (fd < 0)
			return cella_error_set(err, -fd, "seccomp: get the notification fd");
		*notify_fd = fd;
	}
	return 0;
}

void seccomp_filter_free(struct seccomp_filter *f)
{
	if (!f)
		return;
	if (f->ctx)
		seccomp_release(f->ctx);
	free(f);
}

static void cleanup_jsonp(json_t **j) { json_decref(*j); }
#define cleanup_json __attribute__((cleanup(cleanup_jsonp)))

/* sendmsg() the whole of `buf`, with `fd` attached to the first byte. */
static int send_with_fd(int sock, const char *buf, size_t len, int fd)
{
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			      .msg_controllen = sizeof(ctl.b) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));

	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	/* a stream socket may take less: the rest goes without the fd */
	while ((size_t)n < len) {
		ssize_t m = send(sock, buf + n, len - (size_t)n, MSG_NOSIGNAL);
		if (m < 0 && errno == EINTR)
			continue;
		if (m <= 0)
			return -1;
		n += m;
	}
	return 0;
}

/*
 * The runtime-spec's containerProcessState: {"ociVersion", "fds":
 * ["seccompFd"], "pid", "metadata", "state"}, with the notify fd as the one
 * SCM_RIGHTS fd of the message, over a SOCK_STREAM unix socket.
 */
int seccomp_notify_send(const char *listener_path, int notify_fd, const char *state_json,
			const char *metadata, struct cella_error *err)
{
	json_error_t jerr;
	cleanup_json json_t *state = json_loads(state_json, 0, &jerr);
	if (!json_is_object(state))
		return cella_error_set(err, EINVAL, "seccomp listener: the container state is not a JSON object");
	json_t *pid = json_object_get(state, "pid");
	json_t *version = json_object_get(state, "ociVersion");
	cleanup_json json_t *doc = json_pack("{s:s, s:[s], s:o, s:O}",
		"ociVersion", json_is_string(version) ? json_string_value(version) : "1.2.0",
		"fds", "seccompFd",
		"pid", json_is_integer(pid) ? json_incref(pid) : json_integer(0),
		"state", state);
	if (!doc || (metadata && json_object_set_new(doc, "metadata", json_string(metadata)) < 0))
		return cella_error_set(err, ENOMEM, "seccomp listener `%s`", listener_path);
	cleanup_free char *text = json_dumps(doc, JSON_COMPACT);
	if (!text)
		return cella_error_set(err, ENOMEM, "seccomp listener `%s`", listener_path);

	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(listener_path) >= sizeof(addr.sun_path))
		return cella_error_set(err, ENAMETOOLONG, "seccomp listener `%s`", listener_path);
	strcpy(addr.sun_path, listener_path);
	cleanup_close int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return cella_error_set(err, errno, "seccomp listener: socket");
	int r;
	do
		r = connect(sock, (struct sockaddr *)&addr, sizeof(addr));
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return cella_error_set(err, errno, "connect to the seccomp listener `%s`", listener_path);
	if (send_with_fd(sock, text, strlen(text), notify_fd) < 0)
		return cella_error_set(err, errno, "send to the seccomp listener `%s`", listener_path);
	return 0;
}
