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
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <jansson.h>
#include <seccomp.h>

#include "engine.h"
#include "oci.h"
#include "util.h"

struct seccomp_filter {
	scmp_filter_ctx ctx;
	bool notify;
	/* The compiled program, loaded with seccomp(2) directly; from the cache
	 * when the same profile was compiled before. */
	struct sock_fprog prog;
	unsigned kflags;            /* SECCOMP_FILTER_FLAG_* */
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

/* The names of a table as a JSON array (all, or those with a usable value). */
static json_t *names_json(const struct scmp_name *t, size_t n, bool usable_only)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		if (!usable_only || t[i].value != NO_ATTR)
			json_array_append_new(a, json_string(t[i].name));
	return a;
}

json_t *seccomp_features_json(void)
{
	static const char *const archs[] = {
		"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
		"SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",
		"SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
		"SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_RISCV64",
	};
	json_t *a = json_array();
	for (size_t i = 0; i < ARRAY_SIZE(archs); i++)
		if (seccomp_arch_lookup(archs[i], NULL) == 0)
			json_array_append_new(a, json_string(archs[i]));
	return json_pack("{s:b, s:o, s:o, s:o, s:o, s:o}", "enabled", 1,
			 "actions", names_json(action_table, ARRAY_SIZE(action_table), false),
			 "operators", names_json(operator_table, ARRAY_SIZE(operator_table), false),
			 "archs", a,
			 "knownFlags", names_json(flag_table, ARRAY_SIZE(flag_table), false),
			 "supportedFlags", names_json(flag_table, ARRAY_SIZE(flag_table), true));
}

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

/* ------------------------------------------------------------------ */
/* The compiled-filter cache                                            */

/*
 * libseccomp needs milliseconds to turn a profile the size of the container
 * default into BPF, on every container.  The program is cached by profile:
 * CACHE/<hash>.bpf holds the full canonical text of the profile (the key,
 * compared byte for byte, so a hash collision can never load another
 * profile's program), the seccomp(2) flags and the instructions.
 */
#define CACHE_MAGIC "CELLASC1"

struct keybuf { char *s; size_t len, cap; };

static void key_add(struct keybuf *k, const char *fmt, ...) CELLA_PRINTF(2, 3);
static void key_add(struct keybuf *k, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(k->s + k->len, k->cap - k->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < k->cap - k->len) {
			k->len += n;
			return;
		}
		k->cap = (k->cap + (n > 0 ? (size_t)n : 0) + 1) * 2;
		k->s = realloc(k->s, k->cap);
		if (!k->s)
			abort();
	}
}

/* Everything the generated program depends on, as text. */
static char *cache_key(const struct oci_seccomp *s, size_t *len)
{
	struct keybuf k = { 0 };
	const struct scmp_version *v = seccomp_version();
	key_add(&k, "cella %s libseccomp %u.%u.%u\ndefault %s %d %u\n", CELLA_VERSION,
		v ? v->major : 0, v ? v->minor : 0, v ? v->micro : 0, s->default_action,
		s->has_default_errno_ret, s->default_errno_ret);
	for (size_t i = 0; i < s->n_architectures; i++)
		key_add(&k, "arch %s\n", s->architectures[i]);
	for (size_t i = 0; i < s->n_flags; i++)
		key_add(&k, "flag %s\n", s->flags[i]);
	for (size_t i = 0; i < s->n_syscalls; i++) {
		const struct oci_seccomp_syscall *sc = &s->syscalls[i];
		key_add(&k, "rule %s %d %u", sc->action, sc->has_errno_ret, sc->errno_ret);
		for (size_t j = 0; j < sc->n_args; j++)
			key_add(&k, " arg %u %s %llu %llu", sc->args[j].index, sc->args[j].op,
				(unsigned long long)sc->args[j].value, (unsigned long long)sc->args[j].value_two);
		for (size_t j = 0; j < sc->n_names; j++)
			key_add(&k, " %s", sc->names[j]);
		key_add(&k, "\n");
	}
	*len = k.len;
	return k.s;
}

/* FNV-1a, 64 bits: only a file name, the key itself is compared. */
static uint64_t key_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
	return h;
}

static unsigned kernel_flags(const struct oci_seccomp *s)
{
	static const struct { const char *name; unsigned flag; } table[] = {
		{ "SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC },
		{ "SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG },
		{ "SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW },
#ifdef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
		{ "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV },
#endif
	};
	unsigned flags = 0;
	for (size_t i = 0; i < s->n_flags; i++)
		for (size_t j = 0; j < ARRAY_SIZE(table); j++)
			if (!strcmp(s->flags[i], table[j].name))
				flags |= table[j].flag;
	return flags;
}

/* Load CACHE/name if its key is `key`: 0 on a hit, -1 otherwise. */
static int cache_read(int dirfd, const char *name, const char *key, size_t key_len, struct seccomp_filter *f)
{
	size_t len;
	struct cella_error ignored;
	cleanup_free char *data = read_file_at(dirfd, name, &len, &ignored);
	size_t hdr = 8 + 4 + key_len + 4 + 4;
	uint32_t klen, flags, n;
	if (!data || len < hdr || memcmp(data, CACHE_MAGIC, 8))
		return -1;
	memcpy(&klen, data + 8, 4);
	if (klen != key_len || memcmp(data + 12, key, key_len))
		return -1;
	memcpy(&flags, data + 12 + key_len, 4);
	memcpy(&n, data + 16 + key_len, 4);
	if (n == 0 || n > BPF_MAXINSNS || len != hdr + (size_t)n * sizeof(struct sock_filter))
		return -1;
	f->prog.filter = malloc((size_t)n * sizeof(struct sock_filter));
	if (!f->prog.filter)
		return -1;
	memcpy(f->prog.filter, data + hdr, (size_t)n * sizeof(struct sock_filter));
	f->prog.len = (unsigned short)n;
	f->kflags = flags;
	return 0;
}

/* Compile f->ctx into f->prog (through a memfd: libseccomp exports to fds). */
static int filter_compile(struct seccomp_filter *f, const struct oci_seccomp *s, struct cella_error *err)
{
	cleanup_close int mfd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
	if (mfd < 0)
		return cella_error_set(err, errno, "linux.seccomp: memfd");
	int r = seccomp_export_bpf(f->ctx, mfd);
	if (r < 0)
		return cella_error_set(err, -r, "linux.seccomp: compile the filter");
	off_t size = lseek(mfd, 0, SEEK_END);
	if (size <= 0 || size % sizeof(struct sock_filter) || size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return cella_error_set(err, EINVAL, "linux.seccomp: the compiled filter has %lld bytes", (long long)size);
	f->prog.filter = malloc(size);
	if (!f->prog.filter || pread(mfd, f->prog.filter, size, 0) != size)
		return cella_error_set(err, errno ? errno : ENOMEM, "linux.seccomp: read the compiled filter");
	f->prog.len = (unsigned short)(size / sizeof(struct sock_filter));
	f->kflags = kernel_flags(s);
	return 0;
}

static void cache_write(int dirfd, const char *name, const char *key, size_t key_len,
			const struct seccomp_filter *f)
{
	size_t insns = (size_t)f->prog.len * sizeof(struct sock_filter);
	size_t len = 8 + 4 + key_len + 4 + 4 + insns;
	cleanup_free char *data = malloc(len);
	struct cella_error ignored;
	if (!data)
		return;
	uint32_t klen = key_len, flags = f->kflags, n = f->prog.len;
	memcpy(data, CACHE_MAGIC, 8);
	memcpy(data + 8, &klen, 4);
	memcpy(data + 12, key, key_len);
	memcpy(data + 12 + key_len, &flags, 4);
	memcpy(data + 16 + key_len, &n, 4);
	memcpy(data + 20 + key_len, f->prog.filter, insns);
	/* best effort: a failed write only costs the next run a compile */
	write_file_atomic(dirfd, name, data, len, 0600, &ignored);
}

int seccomp_prepare_cached(const struct oci_seccomp *s, int cache_dirfd, struct seccomp_filter **out,
			   struct cella_error *err)
{
	size_t key_len;
	cleanup_free char *key = cache_key(s, &key_len);
	char name[64];
	snprintf(name, sizeof(name), "%016llx.bpf", (unsigned long long)key_hash(key, key_len));
	bool notify = !strcmp(s->default_action, "SCMP_ACT_NOTIFY");
	for (size_t i = 0; i < s->n_syscalls; i++)
		notify |= !strcmp(s->syscalls[i].action, "SCMP_ACT_NOTIFY");

	if (cache_dirfd >= 0) {
		struct seccomp_filter *f = calloc(1, sizeof(*f));
		if (!f)
			return cella_error_set(err, ENOMEM, "linux.seccomp");
		if (cache_read(cache_dirfd, name, key, key_len, f) == 0) {
			f->notify = notify;
			*out = f;
			return 0;
		}
		seccomp_filter_free(f);
	}
	if (seccomp_prepare(s, out, err) < 0)
		return -1;
	if (filter_compile(*out, s, err) < 0) {
		seccomp_filter_free(*out);
		*out = NULL;
		return -1;
	}
	if (cache_dirfd >= 0)
		cache_write(cache_dirfd, name, key, key_len, *out);
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
	if (f->prog.filter) {
		unsigned flags = f->kflags | (f->notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0);
		long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &f->prog);
		if (fd < 0)
			return cella_error_set(err, errno, "load the seccomp filter");
		if (f->notify)
			*notify_fd = (int)fd;
		return 0;
	}
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

int seccomp_notify_take(int pidfd, int remote_fd, const struct oci_seccomp *s, const char *state_json,
			struct cella_error *err)
{
	cleanup_close int fd = pidfd_getfd(pidfd, remote_fd, 0);
	if (fd < 0)
		return cella_error_set(err, errno, "take the seccomp listener fd of the container process");
	if (!state_json)
		return cella_error_set(err, ENOMEM, "seccomp notify state");
	return seccomp_notify_send(s->listener_path, fd, state_json, s->listener_metadata, err);
}

void seccomp_filter_free(struct seccomp_filter *f)
{
	if (!f)
		return;
	if (f->ctx)
		seccomp_release(f->ctx);
	free(f->prog.filter);
	free(f);
}

static void cleanup_jsonp(json_t **j) { json_decref(*j); }
#define cleanup_json __attribute__((cleanup(cleanup_jsonp)))

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
	if (fd_send(sock, text, strlen(text), notify_fd) < 0)
		return cella_error_set(err, errno, "send to the seccomp listener `%s`", listener_path);
	return 0;
}
