/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config.json (OCI runtime-spec 1.2) -> struct oci_config.
 *
 * The parser is driven by tables: every JSON object the spec defines is a
 * `struct field` array saying, per property, which converter reads it and
 * where in the C structure the result lands.  The converters check types and
 * ranges and report errors as "<file>: <json path>: <what is wrong>".  The same
 * tables drive oci_config_free(), so whatever the parser stores is released.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <string.h>
#include <sys/random.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <linux/capability.h>

#include <jansson.h>

#include "engine.h"
#include "oci.h"
#include "util.h"

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* ---- name tables ---------------------------------------------------- */

struct name_value { const char *name; int value; };

static const struct name_value namespace_table[] = {
	{ "pid", CLONE_NEWPID },   { "network", CLONE_NEWNET }, { "mount", CLONE_NEWNS },
	{ "ipc", CLONE_NEWIPC },   { "uts", CLONE_NEWUTS },     { "user", CLONE_NEWUSER },
	{ "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
};

#define RLIMIT_ENTRY(x) { "RLIMIT_" #x, RLIMIT_##x }
static const struct name_value rlimit_table[] = {
	RLIMIT_ENTRY(AS),      RLIMIT_ENTRY(CORE),     RLIMIT_ENTRY(CPU),        RLIMIT_ENTRY(DATA),
	RLIMIT_ENTRY(FSIZE),   RLIMIT_ENTRY(LOCKS),    RLIMIT_ENTRY(MEMLOCK),    RLIMIT_ENTRY(MSGQUEUE),
	RLIMIT_ENTRY(NICE),    RLIMIT_ENTRY(NOFILE),   RLIMIT_ENTRY(NPROC),      RLIMIT_ENTRY(RSS),
	RLIMIT_ENTRY(RTPRIO),  RLIMIT_ENTRY(RTTIME),   RLIMIT_ENTRY(SIGPENDING), RLIMIT_ENTRY(STACK),
};

static int table_value(const struct name_value *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(t[i].name, name))
			return t[i].value;
	return -1;
}

static const char *table_name(const struct name_value *t, size_t n, int value)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].value == value)
			return t[i].name;
	return NULL;
}

int oci_namespace_type(const char *name)
{
	return table_value(namespace_table, ARRAY_SIZE(namespace_table), name);
}

const char *oci_namespace_name(int type)
{
	return table_name(namespace_table, ARRAY_SIZE(namespace_table), type);
}

int oci_rlimit_resource(const char *name)
{
	return table_value(rlimit_table, ARRAY_SIZE(rlimit_table), name);
}

static const char *rlimit_name(int resource)
{
	return table_name(rlimit_table, ARRAY_SIZE(rlimit_table), resource);
}

/* Every capability the kernel headers know, indexed by number. */
#define CAP_ENTRY(x) [x] = #x
static const char *const capability_names[CAP_LAST_CAP + 1] = {
	CAP_ENTRY(CAP_CHOWN),            CAP_ENTRY(CAP_DAC_OVERRIDE),   CAP_ENTRY(CAP_DAC_READ_SEARCH),
	CAP_ENTRY(CAP_FOWNER),           CAP_ENTRY(CAP_FSETID),         CAP_ENTRY(CAP_KILL),
	CAP_ENTRY(CAP_SETGID),           CAP_ENTRY(CAP_SETUID),         CAP_ENTRY(CAP_SETPCAP),
	CAP_ENTRY(CAP_LINUX_IMMUTABLE),  CAP_ENTRY(CAP_NET_BIND_SERVICE), CAP_ENTRY(CAP_NET_BROADCAST),
	CAP_ENTRY(CAP_NET_ADMIN),        CAP_ENTRY(CAP_NET_RAW),        CAP_ENTRY(CAP_IPC_LOCK),
	CAP_ENTRY(CAP_IPC_OWNER),        CAP_ENTRY(CAP_SYS_MODULE),     CAP_ENTRY(CAP_SYS_RAWIO),
	CAP_ENTRY(CAP_SYS_CHROOT),       CAP_ENTRY(CAP_SYS_PTRACE),     CAP_ENTRY(CAP_SYS_PACCT),
	CAP_ENTRY(CAP_SYS_ADMIN),        CAP_ENTRY(CAP_SYS_BOOT),       CAP_ENTRY(CAP_SYS_NICE),
	CAP_ENTRY(CAP_SYS_RESOURCE),     CAP_ENTRY(CAP_SYS_TIME),       CAP_ENTRY(CAP_SYS_TTY_CONFIG),
	CAP_ENTRY(CAP_MKNOD),            CAP_ENTRY(CAP_LEASE),          CAP_ENTRY(CAP_AUDIT_WRITE),
	CAP_ENTRY(CAP_AUDIT_CONTROL),    CAP_ENTRY(CAP_SETFCAP),        CAP_ENTRY(CAP_MAC_OVERRIDE),
	CAP_ENTRY(CAP_MAC_ADMIN),        CAP_ENTRY(CAP_SYSLOG),         CAP_ENTRY(CAP_WAKE_ALARM),
	CAP_ENTRY(CAP_BLOCK_SUSPEND),    CAP_ENTRY(CAP_AUDIT_READ),
#ifdef CAP_PERFMON
	CAP_ENTRY(CAP_PERFMON),
#endif
#ifdef CAP_BPF
	CAP_ENTRY(CAP_BPF),
#endif
#ifdef CAP_CHECKPOINT_RESTORE
	CAP_ENTRY(CAP_CHECKPOINT_RESTORE),
#endif
};

int oci_capability_number(const char *name)
{
	for (int i = 0; i <= CAP_LAST_CAP; i++)
		if (capability_names[i] && !strcmp(capability_names[i], name))
			return i;
	return -1;
}

const char *oci_capability_name(int cap)
{
	return cap >= 0 && cap <= CAP_LAST_CAP ? capability_names[cap] : NULL;
}

/* ---- mount options --------------------------------------------------- */

enum mount_opt_kind {
	MO_NONE,      /* accepted, no effect ("defaults") */
	MO_SET,       /* flags |= flag */
	MO_CLEAR,     /* clear_flags |= flag */
	MO_RSET,      /* recursive attribute: set */
	MO_RCLEAR,    /* recursive attribute: clear */
	MO_PROP,      /* propagation */
	MO_BIND,      /* bind / rbind */
	MO_TMPCOPYUP,
	MO_IDMAP,     /* idmap / ridmap */
};

/* The "mount options" table of config.md, in its alphabetical order. */
#define MOUNT_OPTIONS(X) \
	X("async", MO_CLEAR, MS_SYNCHRONOUS) \
	X("atime", MO_CLEAR, MS_NOATIME) \
	X("bind", MO_BIND, MS_BIND) \
	X("defaults", MO_NONE, 0) \
	X("dev", MO_CLEAR, MS_NODEV) \
	X("diratime", MO_CLEAR, MS_NODIRATIME) \
	X("dirsync", MO_SET, MS_DIRSYNC) \
	X("exec", MO_CLEAR, MS_NOEXEC) \
	X("idmap", MO_IDMAP, 0) \
	X("iversion", MO_SET, MS_I_VERSION) \
	X("lazytime", MO_SET, MS_LAZYTIME) \
	X("loud", MO_CLEAR, MS_SILENT) \
	X("mand", MO_SET, MS_MANDLOCK) \
	X("noatime", MO_SET, MS_NOATIME) \
	X("nodev", MO_SET, MS_NODEV) \
	X("nodiratime", MO_SET, MS_NODIRATIME) \
	X("noexec", MO_SET, MS_NOEXEC) \
	X("noiversion", MO_CLEAR, MS_I_VERSION) \
	X("nolazytime", MO_CLEAR, MS_LAZYTIME) \
	X("nomand", MO_CLEAR, MS_MANDLOCK) \
	X("norelatime", MO_CLEAR, MS_RELATIME) \
	X("nostrictatime", MO_CLEAR, MS_STRICTATIME) \
	X("nosuid", MO_SET, MS_NOSUID) \
	X("nosymfollow", MO_SET, MS_NOSYMFOLLOW) \
	X("private", MO_PROP, MS_PRIVATE) \
	X("ratime", MO_RCLEAR, MS_NOATIME) \
	X("rbind", MO_BIND, MS_BIND | MS_REC) \
	X("rdev", MO_RCLEAR, MS_NODEV) \
	X("rdiratime", MO_RCLEAR, MS_NODIRATIME) \
	X("relatime", MO_SET, MS_RELATIME) \
	X("remount", MO_SET, MS_REMOUNT) \
	X("rexec", MO_RCLEAR, MS_NOEXEC) \
	X("ridmap", MO_IDMAP, MS_REC) \
	X("rnoatime", MO_RSET, MS_NOATIME) \
	X("rnodev", MO_RSET, MS_NODEV) \
	X("rnodiratime", MO_RSET, MS_NODIRATIME) \
	X("rnoexec", MO_RSET, MS_NOEXEC) \
	X("rnorelatime", MO_RCLEAR, MS_RELATIME) \
	X("rnostrictatime", MO_RCLEAR, MS_STRICTATIME) \
	X("rnosuid", MO_RSET, MS_NOSUID) \
	X("rnosymfollow", MO_RSET, MS_NOSYMFOLLOW) \
	X("ro", MO_SET, MS_RDONLY) \
	X("rprivate", MO_PROP, MS_PRIVATE | MS_REC) \
	X("rrelatime", MO_RSET, MS_RELATIME) \
	X("rro", MO_RSET, MS_RDONLY) \
	X("rrw", MO_RCLEAR, MS_RDONLY) \
	X("rshared", MO_PROP, MS_SHARED | MS_REC) \
	X("rslave", MO_PROP, MS_SLAVE | MS_REC) \
	X("rstrictatime", MO_RSET, MS_STRICTATIME) \
	X("rsuid", MO_RCLEAR, MS_NOSUID) \
	X("rsymfollow", MO_RCLEAR, MS_NOSYMFOLLOW) \
	X("runbindable", MO_PROP, MS_UNBINDABLE | MS_REC) \
	X("rw", MO_CLEAR, MS_RDONLY) \
	X("shared", MO_PROP, MS_SHARED) \
	X("silent", MO_SET, MS_SILENT) \
	X("slave", MO_PROP, MS_SLAVE) \
	X("strictatime", MO_SET, MS_STRICTATIME) \
	X("suid", MO_CLEAR, MS_NOSUID) \
	X("symfollow", MO_CLEAR, MS_NOSYMFOLLOW) \
	X("sync", MO_SET, MS_SYNCHRONOUS) \
	X("tmpcopyup", MO_TMPCOPYUP, 0) \
	X("unbindable", MO_PROP, MS_UNBINDABLE)

struct mount_opt { const char *name; enum mount_opt_kind kind; unsigned long flag; };

#define MOUNT_OPT_NAME(n, k, f) n,
#define MOUNT_OPT_ENTRY(n, k, f) { n, k, f },
const char *const oci_mount_options[] = { MOUNT_OPTIONS(MOUNT_OPT_NAME) NULL };
static const struct mount_opt mount_opt_table[] = { MOUNT_OPTIONS(MOUNT_OPT_ENTRY) };

static const struct mount_opt *mount_opt_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(mount_opt_table); i++)
		if (!strcmp(mount_opt_table[i].name, name))
			return &mount_opt_table[i];
	return NULL;
}

/* The last of two contradicting options wins ("ro,rw" is rw). */
static void flags_update(unsigned long *set, unsigned long *clear, unsigned long flag, bool on)
{
	if (on) {
		*set |= flag;
		*clear &= ~flag;
	} else {
		*clear |= flag;
		*set &= ~flag;
	}
}

int oci_mount_option_apply(struct oci_mount *m, const char *opt)
{
	const struct mount_opt *o = mount_opt_find(opt);
	if (!o) {
		char *data = m->data ? xasprintf("%s,%s", m->data, opt) : xstrdup(opt);
		free(m->data);
		m->data = data;
		return 0;
	}
	switch (o->kind) {
	case MO_NONE:
		break;
	case MO_SET:
	case MO_CLEAR:
		flags_update(&m->flags, &m->clear_flags, o->flag, o->kind == MO_SET);
		break;
	case MO_RSET:
	case MO_RCLEAR:
		flags_update(&m->flags, &m->clear_flags, o->flag, o->kind == MO_RSET);
		flags_update(&m->rec_flags, &m->rec_clear_flags, o->flag, o->kind == MO_RSET);
		m->recursive = true;
		break;
	case MO_PROP:
		m->propagation = o->flag;
		break;
	case MO_BIND:
		m->bind = true;
		m->flags |= o->flag;
		m->recursive |= (o->flag & MS_REC) != 0;
		break;
	case MO_TMPCOPYUP:
		m->tmpcopyup = true;
		break;
	case MO_IDMAP:
		m->idmap = true;
		m->recursive |= (o->flag & MS_REC) != 0;
		break;
	}
	return 1;
}

/* ---- parser machinery ------------------------------------------------ */

struct parser {
	const char *name;           /* "config.json" or the file path */
	void (*unknown)(void *data, const char *path);
	void *data;
	struct cella_error *err;
	char path[512];             /* JSON path of the value being read */
	size_t len;
};

struct field;
typedef int (*field_fn)(struct parser *p, const struct field *f, json_t *v, void *dst);

enum {
	F_REQUIRED = 1 << 0,
	F_NONEMPTY = 1 << 1,        /* arrays */
	F_ARRAY    = 1 << 2,        /* JSON array -> C array + count; fn reads one element */
	F_MAP      = 1 << 3,        /* JSON object of strings -> struct oci_kv array + count */
	F_HAS      = 1 << 4,        /* set the bool at aux_off when present */
	F_STR      = 1 << 5,        /* fn stores a heap string (freed by oci_config_free) */
	F_JSON     = 1 << 6,        /* fn stores a json_t reference */
	F_PTR      = 1 << 7,        /* fn stores a heap object made of f->sub */
};

struct field {
	const char *name;
	field_fn fn;
	unsigned flags;
	size_t off;                 /* destination, from the base of the enclosing object */
	size_t aux_off;             /* F_HAS: the presence flag; F_ARRAY/F_MAP: the count */
	size_t size;                /* integers: destination width; arrays: element size */
	int64_t min;                /* integers: accepted range */
	uint64_t max;
	const struct field *sub;    /* objects: their fields (same base unless off says otherwise) */
	const char *choices;        /* one-letter enumerations */
};

static size_t path_push(struct parser *p, const char *fmt, ...) CELLA_PRINTF(2, 3);
static size_t path_push(struct parser *p, const char *fmt, ...)
{
	size_t mark = p->len;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(p->path + p->len, sizeof(p->path) - p->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		p->len = p->len + n < sizeof(p->path) ? p->len + n : sizeof(p->path) - 1;
	return mark;
}

static size_t path_push_key(struct parser *p, const char *key)
{
	return p->len ? path_push(p, ".%s", key) : path_push(p, "%s", key);
}

static void path_pop(struct parser *p, size_t mark)
{
	p->len = mark;
	p->path[mark] = '\0';
}

static int fail(struct parser *p, const char *fmt, ...) CELLA_PRINTF(2, 3);
static int fail(struct parser *p, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->len)
		return cella_error_set(p->err, 0, "%s: %s: %s", p->name, p->path, msg);
	return cella_error_set(p->err, 0, "%s: %s", p->name, msg);
}

static int parse_object(struct parser *p, json_t *obj, const struct field *fields, void *base);

static bool json_is_blank(json_t *v)
{
	return json_is_null(v) || (json_is_string(v) && !json_string_length(v)) ||
	       (json_is_array(v) && !json_array_size(v));
}

/*
 * An empty value asks for nothing: null, "", [], {}, or an object of blank
 * lists such as {"prestart": []}.  A nested object is not empty: in maps such
 * as linux.netDevices {"eth0": {}} the key itself is the request.
 */
static bool json_is_empty(json_t *v)
{
	const char *key;
	json_t *member;

	if (json_is_blank(v))
		return true;
	if (!json_is_object(v))
		return false;
	json_object_foreach(v, key, member)
		if (!json_is_blank(member))
			return false;
	return true;
}

/* ---- converters: one per JSON shape ---------------------------------- */

/*
 * Properties Cella does not implement yet.  Ignoring them would run a
 * container with less confinement (LSM labels) or different behaviour
 * (scheduler, I/O priority) than its config asks for, so they are refused;
 * an empty value asks for nothing and is accepted.
 */
static int f_refused(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	(void)f;
	(void)dst;
	return json_is_empty(v) ? 0 : fail(p, "not supported by this version of cella-runtime");
}

static int f_object(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	return parse_object(p, v, f->sub, dst);
}

static int f_bool(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	(void)f;
	if (!json_is_boolean(v))
		return fail(p, "must be a boolean");
	*(bool *)dst = json_is_true(v);
	return 0;
}

static int f_str(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	(void)f;
	if (!json_is_string(v))
		return fail(p, "must be a string");
	*(char **)dst = xstrdup(json_string_value(v));
	return 0;
}

static int f_path(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	if (json_is_string(v) && json_string_value(v)[0] != '/')
		return fail(p, "must be an absolute path (got `%s`)", json_string_value(v));
	return f_str(p, f, v, dst);
}

/* environ(7) entries: NAME=value with a non-empty NAME. */
static int f_env(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	if (json_is_string(v)) {
		const char *s = json_string_value(v), *eq = strchr(s, '=');
		if (!eq || eq == s)
			return fail(p, "`%s`: must have the form NAME=value", s);
	}
	return f_str(p, f, v, dst);
}

static int f_version(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (strncmp(s, "1.", 2) || !isdigit((unsigned char)s[2]))
			return fail(p, "unsupported version `%s` (cella-runtime implements 1.x)", s);
	}
	return f_str(p, f, v, dst);
}

/*
 * jansson keeps integers as long long.  text_widen_integers() turns literals
 * above INT64_MAX into reals; accept those for uint64 destinations (e.g.
 * RLIM_INFINITY, 18446744073709551615).  Precision is a double's there.
 */
static bool huge_real_to_u64(double d, uint64_t *out)
{
	if (!(d >= 0x1p63 && d <= 0x1p64))
		return false;
	*out = d >= 0x1p64 ? UINT64_MAX : (uint64_t)d;
	return true;
}

static int f_int(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	uint64_t raw;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < f->min || (i >= 0 && (uint64_t)i > f->max)) {
			if (f->min == 0 && f->max == UINT64_MAX)
				return fail(p, "must not be negative");
			return fail(p, "%lld is out of range (%" PRId64 " to %" PRIu64 ")", (long long)i,
				    f->min, f->max);
		}
		raw = (uint64_t)i;
	} else if (json_is_real(v) && huge_real_to_u64(json_real_value(v), &raw)) {
		if (raw > f->max)
			return fail(p, "%.0f is out of range (%" PRId64 " to %" PRIu64 ")", json_real_value(v),
				    f->min, f->max);
	} else {
		return fail(p, "must be an integer");
	}
	switch (f->size) {
	case sizeof(uint16_t):
		*(uint16_t *)dst = (uint16_t)raw;
		break;
	case sizeof(uint32_t):
		*(uint32_t *)dst = (uint32_t)raw;
		break;
	default:
		*(uint64_t *)dst = raw;
		break;
	}
	return 0;
}

/* A one-letter enumeration stored as a char ("c" for a character device). */
static int f_char(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	if (!s || strlen(s) != 1 || !strchr(f->choices, s[0])) {
		char list[64] = "";
		for (const char *c = f->choices; *c; c++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s\"%c\"",
				 c == f->choices ? "" : c[1] ? ", " : " or ", *c);
		return s ? fail(p, "must be %s (got `%s`)", list, s) : fail(p, "must be %s", list);
	}
	*(char *)dst = s[0];
	return 0;
}

/* A string looked up by `lookup`, stored as an int. */
static int string_lookup(struct parser *p, json_t *v, int *dst, int (*lookup)(const char *),
			 const char *what)
{
	if (!json_is_string(v))
		return fail(p, "must be a string");
	int r = lookup(json_string_value(v));
	if (r < 0)
		return fail(p, "unknown %s `%s`", what, json_string_value(v));
	*dst = r;
	return 0;
}

static int f_namespace_type(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	(void)f;
	return string_lookup(p, v, dst, oci_namespace_type, "namespace type");
}

static int f_rlimit_type(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	(void)f;
	return string_lookup(p, v, dst, oci_rlimit_resource, "rlimit type");
}

static int f_capability(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	(void)f;
	int cap = 0;
	if (string_lookup(p, v, &cap, oci_capability_number, "capability") < 0)
		return -1;
	*(uint64_t *)dst |= UINT64_C(1) << cap;
	return 0;
}

/* An array of capability names -> bitmask. */
static int f_capset(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	size_t i;
	json_t *name;

	if (!json_is_array(v))
		return fail(p, "must be an array of strings");
	json_array_foreach(v, i, name) {
		size_t mark = path_push(p, "[%zu]", i);
		int r = f_capability(p, f, name, dst);
		path_pop(p, mark);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int propagation_lookup(const char *name)
{
	const struct mount_opt *o = mount_opt_find(name);
	return o && o->kind == MO_PROP ? (int)o->flag : -1;
}

static int f_propagation(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	(void)f;
	int flags = 0;
	if (string_lookup(p, v, &flags, propagation_lookup, "propagation") < 0)
		return -1;
	*(unsigned long *)dst = (unsigned long)flags;
	return 0;
}

/* Device cgroup access: a non-empty combination of r, w, m. */
static int f_access(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	(void)f;
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	size_t n = strlen(s);
	if (n == 0 || n > 3 || strspn(s, "rwm") != n || strchr(s + 1, s[0]) ||
	    (n == 3 && s[1] == s[2]))
		return fail(p, "must be a non-empty combination of \"r\", \"w\" and \"m\"");
	memcpy(dst, s, n + 1);
	return 0;
}

/* annotations: an object of strings, kept as JSON for the state file. */
static int f_annotations(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	(void)f;
	const char *key;
	json_t *value;

	if (!json_is_object(v))
		return fail(p, "must be an object of strings");
	json_object_foreach(v, key, value) {
		if (!json_is_string(value)) {
			path_push_key(p, key);
			return fail(p, "must be a string");
		}
	}
	*(json_t **)dst = json_incref(v);
	return 0;
}

static int f_device(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	struct oci_device *d = dst;

	d->major = d->minor = -1;
	if (parse_object(p, v, f->sub, d) < 0)
		return -1;
	if (d->type == 'p') {
		d->major = d->major < 0 ? 0 : d->major;
		d->minor = d->minor < 0 ? 0 : d->minor;
	} else if (d->major < 0 || d->minor < 0) {
		path_push(p, d->major < 0 ? ".major" : ".minor");
		return fail(p, "required for devices of type \"%c\"", d->type);
	}
	return 0;
}

static int f_device_rule(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	struct oci_device_rule *r = dst;

	r->type = 'a';
	r->major = r->minor = -1;
	strcpy(r->access, "rwm");
	return parse_object(p, v, f->sub, r);
}

static int f_rlimit(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	struct oci_rlimit *r = dst;

	if (parse_object(p, v, f->sub, r) < 0)
		return -1;
	if (r->soft > r->hard) {
		path_push(p, ".soft");
		return fail(p, "must not exceed hard (%" PRIu64 " > %" PRIu64 ")", r->soft, r->hard);
	}
	return 0;
}

static int f_mount(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	struct oci_mount *m = dst;

	if (parse_object(p, v, f->sub, m) < 0)
		return -1;
	for (size_t i = 0; i < m->n_options; i++) {
		oci_mount_option_apply(m, m->options[i]);
		if (m->idmap) {
			path_push(p, ".options[%zu]", i);
			return fail(p, "`%s` is not supported by this version of cella-runtime",
				    m->options[i]);
		}
	}
	if (m->type && !strcmp(m->type, "bind"))
		m->bind = true;
	return 0;
}

/* ---- hooks and linux.seccomp ------------------------------------------ */

/* A string that `known` must accept, kept as written. */
static int string_checked(struct parser *p, json_t *v, void *dst, bool (*known)(const char *),
			  const char *what)
{
	if (json_is_string(v) && !known(json_string_value(v)))
		return fail(p, "unknown %s `%s`", what, json_string_value(v));
	return f_str(p, NULL, v, dst);
}

static bool action_known(const char *s) { return seccomp_action_lookup(s, NULL) == 0; }
static bool operator_known(const char *s) { return seccomp_operator_lookup(s, NULL) == 0; }
static bool arch_known(const char *s) { return seccomp_arch_lookup(s, NULL) == 0; }
static bool flag_known(const char *s) { return seccomp_flag_lookup(s, NULL) == 0; }

static int f_scmp_action(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	(void)f;
	return string_checked(p, v, dst, action_known, "action");
}

static int f_scmp_operator(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	(void)f;
	return string_checked(p, v, dst, operator_known, "operator");
}

static int f_scmp_arch(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	(void)f;
	return string_checked(p, v, dst, arch_known, "architecture");
}

static int f_scmp_flag(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	(void)f;
	return string_checked(p, v, dst, flag_known, "flag");
}

/* The spec: an errnoRet with an action that returns no errno is an error. */
static bool action_takes_errno(const char *action)
{
	return !strcmp(action, "SCMP_ACT_ERRNO") || !strcmp(action, "SCMP_ACT_TRACE");
}

static int f_scmp_syscall(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	struct oci_seccomp_syscall *sc = dst;

	if (parse_object(p, v, f->sub, sc) < 0)
		return -1;
	if (sc->has_errno_ret && !action_takes_errno(sc->action)) {
		path_push(p, ".errnoRet");
		return fail(p, "only for SCMP_ACT_ERRNO and SCMP_ACT_TRACE (action is `%s`)", sc->action);
	}
	if (strcmp(sc->action, "SCMP_ACT_NOTIFY"))
		return 0;
	/* As in runc: the runtime's own last writes must not wait for the
	 * listener that only learns of the filter through them. */
	for (size_t i = 0; i < sc->n_names; i++) {
		if (!strcmp(sc->names[i], "write")) {
			path_push(p, ".names[%zu]", i);
			return fail(p, "SCMP_ACT_NOTIFY cannot be used for `write`");
		}
	}
	return 0;
}

static int f_seccomp(struct parser *p, const struct field *f, json_t *v, void *dst)
{
	struct oci_seccomp *s = calloc(1, sizeof(*s));
	if (!s)
		return cella_error_set(p->err, ENOMEM, "%s: %s", p->name, p->path);
	*(struct oci_seccomp **)dst = s;
	if (parse_object(p, v, f->sub, s) < 0)
		return -1;

	bool notify = false;
	for (size_t i = 0; i < s->n_syscalls; i++)
		notify |= !strcmp(s->syscalls[i].action, "SCMP_ACT_NOTIFY");
	if (!strcmp(s->default_action, "SCMP_ACT_NOTIFY")) {
		path_push(p, ".defaultAction");
		return fail(p, "SCMP_ACT_NOTIFY cannot be the default action");
	}
	if (s->has_default_errno_ret && !action_takes_errno(s->default_action)) {
		path_push(p, ".defaultErrnoRet");
		return fail(p, "only for SCMP_ACT_ERRNO and SCMP_ACT_TRACE (defaultAction is `%s`)",
			    s->default_action);
	}
	if (notify && !s->listener_path) {
		path_push(p, ".listenerPath");
		return fail(p, "required when SCMP_ACT_NOTIFY is used");
	}
	return 0;
}

/* ---- the tables ------------------------------------------------------- */

#define MEMBER_SIZE(T, m) sizeof(((T *)0)->m)
#define FIELD(n, f, fl, T, m) { .name = n, .fn = f, .flags = (fl), .off = offsetof(T, m) }
#define STR(n, T, m, fl) FIELD(n, f_str, F_STR | (fl), T, m)
#define PATH(n, T, m, fl) FIELD(n, f_path, F_STR | (fl), T, m)
#define BOOL(n, T, m, fl) FIELD(n, f_bool, fl, T, m)
#define BOOL_HAS(n, T, m, has) \
	{ .name = n, .fn = f_bool, .flags = F_HAS, .off = offsetof(T, m), .aux_off = offsetof(T, has) }
#define INT(n, T, m, lo, hi, fl) \
	{ .name = n, .fn = f_int, .flags = (fl), .off = offsetof(T, m), .size = MEMBER_SIZE(T, m), \
	  .min = (lo), .max = (hi) }
#define INT_HAS(n, T, m, has, lo, hi) \
	{ .name = n, .fn = f_int, .flags = F_HAS, .off = offsetof(T, m), .size = MEMBER_SIZE(T, m), \
	  .aux_off = offsetof(T, has), .min = (lo), .max = (hi) }
#define OPT(n, T, m, lo, hi) INT_HAS(n, T, m.v, m.set, lo, hi)
#define CHAR(n, T, m, choices_, fl) \
	{ .name = n, .fn = f_char, .flags = (fl), .off = offsetof(T, m), .choices = choices_ }
/* An object whose members live in the same C structure as its parent's. */
#define SUB(n, fields) { .name = n, .fn = f_object, .sub = fields }
#define SUB_HAS(n, fields, T, has) \
	{ .name = n, .fn = f_object, .sub = fields, .flags = F_HAS, .aux_off = offsetof(T, has) }
#define OBJ(n, fields, T, m) { .name = n, .fn = f_object, .sub = fields, .off = offsetof(T, m) }
#define OBJ_HAS(n, fields, T, m, has) \
	{ .name = n, .fn = f_object, .sub = fields, .off = offsetof(T, m), .flags = F_HAS, \
	  .aux_off = offsetof(T, has) }
#define LIST(n, f, fl, T, m, count) \
	{ .name = n, .fn = f, .flags = F_ARRAY | (fl), .off = offsetof(T, m), \
	  .aux_off = offsetof(T, count), .size = sizeof(*((T *)0)->m) }
#define LIST_INT(n, T, m, count, lo, hi) \
	{ .name = n, .fn = f_int, .flags = F_ARRAY, .off = offsetof(T, m), \
	  .aux_off = offsetof(T, count), .size = sizeof(*((T *)0)->m), .min = (lo), .max = (hi) }
#define LIST_OBJ(n, f, fields, T, m, count) \
	{ .name = n, .fn = f, .sub = fields, .flags = F_ARRAY, .off = offsetof(T, m), \
	  .aux_off = offsetof(T, count), .size = sizeof(*((T *)0)->m) }
#define MAP(n, T, m, count) \
	{ .name = n, .fn = f_str, .flags = F_MAP | F_STR, .off = offsetof(T, m), \
	  .aux_off = offsetof(T, count), .size = sizeof(struct oci_kv) }
#define REFUSED(n) { .name = n, .fn = f_refused }
#define END { .name = NULL }

#define DEVNUM_MAX UINT32_MAX

static const struct field root_fields[] = {
	STR("path", struct oci_config, root_path, 0),      /* relative to the bundle, or absolute */
	BOOL("readonly", struct oci_config, root_readonly, 0),
	END
};

static const struct field console_fields[] = {
	INT("height", struct oci_process, console_height, 0, UINT16_MAX, F_REQUIRED),
	INT("width", struct oci_process, console_width, 0, UINT16_MAX, F_REQUIRED),
	END
};

static const struct field user_fields[] = {
	INT("uid", struct oci_process, uid, 0, UINT32_MAX, 0),
	INT("gid", struct oci_process, gid, 0, UINT32_MAX, 0),
	INT_HAS("umask", struct oci_process, umask, has_umask, 0, 0777),
	LIST_INT("additionalGids", struct oci_process, additional_gids, n_additional_gids, 0, UINT32_MAX),
	END
};

static const struct field rlimit_fields[] = {
	FIELD("type", f_rlimit_type, F_REQUIRED, struct oci_rlimit, resource),
	INT("soft", struct oci_rlimit, soft, 0, UINT64_MAX, F_REQUIRED),
	INT("hard", struct oci_rlimit, hard, 0, UINT64_MAX, F_REQUIRED),
	END
};

static const struct field caps_fields[] = {
	FIELD("bounding", f_capset, 0, struct oci_capabilities, bounding),
	FIELD("effective", f_capset, 0, struct oci_capabilities, effective),
	FIELD("inheritable", f_capset, 0, struct oci_capabilities, inheritable),
	FIELD("permitted", f_capset, 0, struct oci_capabilities, permitted),
	FIELD("ambient", f_capset, 0, struct oci_capabilities, ambient),
	END
};

static const struct field process_fields[] = {
	BOOL("terminal", struct oci_process, terminal, 0),
	SUB_HAS("consoleSize", console_fields, struct oci_process, has_console_size),
	PATH("cwd", struct oci_process, cwd, F_REQUIRED),
	LIST("args", f_str, F_STR | F_REQUIRED | F_NONEMPTY, struct oci_process, args, n_args),
	LIST("env", f_env, F_STR, struct oci_process, env, n_env),
	SUB("user", user_fields),
	LIST_OBJ("rlimits", f_rlimit, rlimit_fields, struct oci_process, rlimits, n_rlimits),
	INT_HAS("oomScoreAdj", struct oci_process, oom_score_adj, has_oom_score_adj, -1000, 1000),
	BOOL("noNewPrivileges", struct oci_process, no_new_privileges, 0),
	OBJ_HAS("capabilities", caps_fields, struct oci_process, caps, has_capabilities),
	STR("apparmorProfile", struct oci_process, apparmor_profile, 0),
	STR("selinuxLabel", struct oci_process, selinux_label, 0),
	REFUSED("ioPriority"),
	REFUSED("scheduler"),
	REFUSED("execCPUAffinity"),
	END
};

static const struct field mount_fields[] = {
	PATH("destination", struct oci_mount, destination, F_REQUIRED),
	STR("source", struct oci_mount, source, 0),
	STR("type", struct oci_mount, type, 0),
	LIST("options", f_str, F_STR, struct oci_mount, options, n_options),
	REFUSED("uidMappings"),
	REFUSED("gidMappings"),
	END
};

static const struct field namespace_fields[] = {
	FIELD("type", f_namespace_type, F_REQUIRED, struct oci_namespace, type),
	PATH("path", struct oci_namespace, path, 0),
	END
};

static const struct field idmap_fields[] = {
	INT("containerID", struct oci_idmap, container_id, 0, UINT32_MAX, F_REQUIRED),
	INT("hostID", struct oci_idmap, host_id, 0, UINT32_MAX, F_REQUIRED),
	INT("size", struct oci_idmap, size, 1, UINT32_MAX, F_REQUIRED),
	END
};

static const struct field time_offset_fields[] = {
	INT("secs", struct oci_time_offset, secs, INT64_MIN, INT64_MAX, 0),
	INT("nanosecs", struct oci_time_offset, nanosecs, 0, 999999999, 0),
	END
};

static const struct field time_offsets_fields[] = {
	OBJ("boottime", time_offset_fields, struct oci_config, time_boottime),
	OBJ("monotonic", time_offset_fields, struct oci_config, time_monotonic),
	END
};

static const struct field device_fields[] = {
	CHAR("type", struct oci_device, type, "cbup", F_REQUIRED),
	PATH("path", struct oci_device, path, F_REQUIRED),
	INT("major", struct oci_device, major, 0, DEVNUM_MAX, 0),
	INT("minor", struct oci_device, minor, 0, DEVNUM_MAX, 0),
	INT_HAS("fileMode", struct oci_device, file_mode, has_file_mode, 0, 07777),
	INT_HAS("uid", struct oci_device, uid, has_uid, 0, UINT32_MAX),
	INT_HAS("gid", struct oci_device, gid, has_gid, 0, UINT32_MAX),
	END
};

static const struct field device_rule_fields[] = {
	BOOL("allow", struct oci_device_rule, allow, F_REQUIRED),
	CHAR("type", struct oci_device_rule, type, "acb", 0),
	INT("major", struct oci_device_rule, major, -1, DEVNUM_MAX, 0),
	INT("minor", struct oci_device_rule, minor, -1, DEVNUM_MAX, 0),
	FIELD("access", f_access, 0, struct oci_device_rule, access),
	END
};

static const struct field memory_fields[] = {
	OPT("limit", struct oci_resources, memory.limit, -1, INT64_MAX),
	OPT("reservation", struct oci_resources, memory.reservation, -1, INT64_MAX),
	OPT("swap", struct oci_resources, memory.swap, -1, INT64_MAX),
	OPT("kernel", struct oci_resources, memory.kernel, -1, INT64_MAX),
	OPT("kernelTCP", struct oci_resources, memory.kernel_tcp, -1, INT64_MAX),
	OPT("swappiness", struct oci_resources, memory.swappiness, 0, UINT64_MAX),
	BOOL_HAS("disableOOMKiller", struct oci_resources, memory.disable_oom_killer,
		 memory.has_disable_oom_killer),
	BOOL_HAS("useHierarchy", struct oci_resources, memory.use_hierarchy, memory.has_use_hierarchy),
	BOOL_HAS("checkBeforeUpdate", struct oci_resources, memory.check_before_update,
		 memory.has_check_before_update),
	END
};

static const struct field cpu_fields[] = {
	OPT("shares", struct oci_resources, cpu.shares, 0, UINT64_MAX),
	OPT("quota", struct oci_resources, cpu.quota, -1, INT64_MAX),
	OPT("burst", struct oci_resources, cpu.burst, 0, UINT64_MAX),
	OPT("period", struct oci_resources, cpu.period, 0, UINT64_MAX),
	OPT("realtimeRuntime", struct oci_resources, cpu.realtime_runtime, -1, INT64_MAX),
	OPT("realtimePeriod", struct oci_resources, cpu.realtime_period, 0, UINT64_MAX),
	OPT("idle", struct oci_resources, cpu.idle, 0, 1),
	STR("cpus", struct oci_resources, cpu.cpus, 0),
	STR("mems", struct oci_resources, cpu.mems, 0),
	END
};

static const struct field pids_fields[] = {
	OPT("limit", struct oci_resources, pids.limit, -1, INT64_MAX),
	END
};

static const struct field weight_device_fields[] = {
	INT("major", struct oci_weight_device, major, 0, DEVNUM_MAX, F_REQUIRED),
	INT("minor", struct oci_weight_device, minor, 0, DEVNUM_MAX, F_REQUIRED),
	INT_HAS("weight", struct oci_weight_device, weight, has_weight, 0, UINT16_MAX),
	INT_HAS("leafWeight", struct oci_weight_device, leaf_weight, has_leaf_weight, 0, UINT16_MAX),
	END
};

static const struct field throttle_device_fields[] = {
	INT("major", struct oci_throttle_device, major, 0, DEVNUM_MAX, F_REQUIRED),
	INT("minor", struct oci_throttle_device, minor, 0, DEVNUM_MAX, F_REQUIRED),
	INT("rate", struct oci_throttle_device, rate, 0, UINT64_MAX, 0),
	END
};

#define THROTTLE(n, m) \
	LIST_OBJ(n, f_object, throttle_device_fields, struct oci_resources, blkio.m, blkio.n_##m)
static const struct field blkio_fields[] = {
	INT_HAS("weight", struct oci_resources, blkio.weight, blkio.has_weight, 0, UINT16_MAX),
	INT_HAS("leafWeight", struct oci_resources, blkio.leaf_weight, blkio.has_leaf_weight, 0, UINT16_MAX),
	LIST_OBJ("weightDevice", f_object, weight_device_fields, struct oci_resources, blkio.weight_device,
		 blkio.n_weight_device),
	THROTTLE("throttleReadBpsDevice", throttle_read_bps),
	THROTTLE("throttleWriteBpsDevice", throttle_write_bps),
	THROTTLE("throttleReadIOPSDevice", throttle_read_iops),
	THROTTLE("throttleWriteIOPSDevice", throttle_write_iops),
	END
};

static const struct field hugepage_fields[] = {
	STR("pageSize", struct oci_hugepage_limit, page_size, F_REQUIRED),
	INT("limit", struct oci_hugepage_limit, limit, 0, UINT64_MAX, F_REQUIRED),
	END
};

static const struct field resources_fields[] = {
	LIST_OBJ("devices", f_device_rule, device_rule_fields, struct oci_resources, devices, n_devices),
	SUB("memory", memory_fields),
	SUB("cpu", cpu_fields),
	SUB("pids", pids_fields),
	SUB("blockIO", blkio_fields),
	LIST_OBJ("hugepageLimits", f_object, hugepage_fields, struct oci_resources, hugepage_limits,
		 n_hugepage_limits),
	MAP("unified", struct oci_resources, unified, n_unified),
	REFUSED("network"),
	REFUSED("rdma"),
	END
};

static const struct field hook_fields[] = {
	PATH("path", struct oci_hook, path, F_REQUIRED),
	LIST("args", f_str, F_STR, struct oci_hook, args, n_args),
	LIST("env", f_env, F_STR, struct oci_hook, env, n_env),
	INT_HAS("timeout", struct oci_hook, timeout, has_timeout, 1, INT32_MAX),
	END
};

#define HOOKS(n, kind) \
	LIST_OBJ(n, f_object, hook_fields, struct oci_config, hooks[kind], n_hooks[kind])
static const struct field hooks_fields[] = {
	HOOKS("prestart", OCI_HOOK_PRESTART),
	HOOKS("createRuntime", OCI_HOOK_CREATE_RUNTIME),
	HOOKS("createContainer", OCI_HOOK_CREATE_CONTAINER),
	HOOKS("startContainer", OCI_HOOK_START_CONTAINER),
	HOOKS("poststart", OCI_HOOK_POSTSTART),
	HOOKS("poststop", OCI_HOOK_POSTSTOP),
	END
};

static const struct field seccomp_arg_fields[] = {
	INT("index", struct oci_seccomp_arg, index, 0, 5, F_REQUIRED),
	INT("value", struct oci_seccomp_arg, value, 0, UINT64_MAX, F_REQUIRED),
	INT("valueTwo", struct oci_seccomp_arg, value_two, 0, UINT64_MAX, 0),
	FIELD("op", f_scmp_operator, F_STR | F_REQUIRED, struct oci_seccomp_arg, op),
	END
};

static const struct field seccomp_syscall_fields[] = {
	LIST("names", f_str, F_STR | F_REQUIRED | F_NONEMPTY, struct oci_seccomp_syscall, names, n_names),
	FIELD("action", f_scmp_action, F_STR | F_REQUIRED, struct oci_seccomp_syscall, action),
	INT_HAS("errnoRet", struct oci_seccomp_syscall, errno_ret, has_errno_ret, 0, UINT16_MAX),
	LIST_OBJ("args", f_object, seccomp_arg_fields, struct oci_seccomp_syscall, args, n_args),
	END
};

static const struct field seccomp_fields[] = {
	FIELD("defaultAction", f_scmp_action, F_STR | F_REQUIRED, struct oci_seccomp, default_action),
	INT_HAS("defaultErrnoRet", struct oci_seccomp, default_errno_ret, has_default_errno_ret, 0, UINT16_MAX),
	LIST("architectures", f_scmp_arch, F_STR, struct oci_seccomp, architectures, n_architectures),
	LIST("flags", f_scmp_flag, F_STR, struct oci_seccomp, flags, n_flags),
	PATH("listenerPath", struct oci_seccomp, listener_path, 0),
	STR("listenerMetadata", struct oci_seccomp, listener_metadata, 0),
	LIST_OBJ("syscalls", f_scmp_syscall, seccomp_syscall_fields, struct oci_seccomp, syscalls, n_syscalls),
	END
};

static const struct field linux_fields[] = {
	LIST_OBJ("namespaces", f_object, namespace_fields, struct oci_config, namespaces, n_namespaces),
	LIST_OBJ("uidMappings", f_object, idmap_fields, struct oci_config, uid_mappings, n_uid_mappings),
	LIST_OBJ("gidMappings", f_object, idmap_fields, struct oci_config, gid_mappings, n_gid_mappings),
	SUB_HAS("timeOffsets", time_offsets_fields, struct oci_config, has_time_offsets),
	LIST_OBJ("devices", f_device, device_fields, struct oci_config, devices, n_devices),
	STR("cgroupsPath", struct oci_config, cgroups_path, 0),
	OBJ_HAS("resources", resources_fields, struct oci_config, resources, has_resources),
	MAP("sysctl", struct oci_config, sysctl, n_sysctl),
	FIELD("rootfsPropagation", f_propagation, 0, struct oci_config, rootfs_propagation),
	LIST("maskedPaths", f_path, F_STR, struct oci_config, masked_paths, n_masked_paths),
	LIST("readonlyPaths", f_path, F_STR, struct oci_config, readonly_paths, n_readonly_paths),
	STR("mountLabel", struct oci_config, mount_label, 0),
	{ .name = "seccomp", .fn = f_seccomp, .flags = F_PTR, .off = offsetof(struct oci_config, seccomp),
	  .sub = seccomp_fields },
	REFUSED("intelRdt"),
	REFUSED("personality"),
	REFUSED("memoryPolicy"),
	REFUSED("netDevices"),
	END
};

static const struct field config_fields[] = {
	FIELD("ociVersion", f_version, F_STR | F_REQUIRED, struct oci_config, oci_version),
	SUB("root", root_fields),
	OBJ_HAS("process", process_fields, struct oci_config, process, has_process),
	STR("hostname", struct oci_config, hostname, 0),
	STR("domainname", struct oci_config, domainname, 0),
	LIST_OBJ("mounts", f_mount, mount_fields, struct oci_config, mounts, n_mounts),
	SUB("linux", linux_fields),
	SUB("hooks", hooks_fields),
	FIELD("annotations", f_annotations, F_JSON, struct oci_config, annotations),
	END
};

/* ---- generic walkers ------------------------------------------------ */

static const char *container_shape(const struct field *f)
{
	if (f->flags & F_MAP)
		return "an object of strings";
	if (f->flags & F_NONEMPTY)
		return f->flags & F_STR ? "a non-empty array of strings" : "a non-empty array";
	if (f->flags & F_STR)
		return "an array of strings";
	return f->sub ? "an array of objects" : "an array of integers";
}

/* A JSON array or object of strings -> C array of f->size elements + count. */
static int container_parse(struct parser *p, const struct field *f, json_t *v, char *base)
{
	bool map = f->flags & F_MAP;
	size_t n = map ? json_object_size(v) : json_array_size(v);

	if ((map ? !json_is_object(v) : !json_is_array(v)) || (n == 0 && (f->flags & F_NONEMPTY)))
		return fail(p, "must be %s", container_shape(f));
	/* One spare zeroed element: string arrays are NULL-terminated too. */
	char *items = calloc(n + 1, f->size);
	if (!items)
		return cella_error_set(p->err, ENOMEM, "%s: %s", p->name, p->path);
	*(char **)(base + f->off) = items;
	*(size_t *)(base + f->aux_off) = n;

	size_t i = 0;
	const char *key;
	json_t *item;
	if (map) {
		json_object_foreach(v, key, item) {
			struct oci_kv *kv = (struct oci_kv *)items + i++;
			size_t mark = path_push_key(p, key);
			kv->key = xstrdup(key);
			int r = f->fn(p, f, item, &kv->value);
			path_pop(p, mark);
			if (r < 0)
				return -1;
		}
		return 0;
	}
	json_array_foreach(v, i, item) {
		size_t mark = path_push(p, "[%zu]", i);
		int r = f->fn(p, f, item, items + i * f->size);
		path_pop(p, mark);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int field_parse(struct parser *p, const struct field *f, json_t *v, char *base)
{
	int r = f->flags & (F_ARRAY | F_MAP) ? container_parse(p, f, v, base)
					       : f->fn(p, f, v, base + f->off);
	if (r == 0 && (f->flags & F_HAS))
		*(bool *)(base + f->aux_off) = true;
	return r;
}

/*
 * Read the members of `obj` described by `fields` into `base`.  null is
 * "absent", as in the Go runtimes; unknown members are reported, not refused.
 */
static int parse_object(struct parser *p, json_t *obj, const struct field *fields, void *base)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		return fail(p, "must be an object");
	json_object_foreach(obj, key, v) {
		const struct field *f = fields;
		while (f->name && strcmp(f->name, key))
			f++;
		size_t mark = path_push_key(p, key);
		int r = 0;
		if (!f->name) {
			if (p->unknown)
				p->unknown(p->data, p->path);
		} else if (!json_is_null(v)) {
			r = field_parse(p, f, v, base);
		}
		path_pop(p, mark);
		if (r < 0)
			return -1;
	}
	for (const struct field *f = fields; f->name; f++) {
		v = json_object_get(obj, f->name);
		if ((f->flags & F_REQUIRED) && (!v || json_is_null(v))) {
			path_push_key(p, f->name);
			return fail(p, "required");
		}
	}
	return 0;
}

static void object_release(const struct field *fields, char *base);

static void value_release(const struct field *f, char *dst)
{
	if (f->flags & F_MAP) {
		free(((struct oci_kv *)dst)->key);
		free(((struct oci_kv *)dst)->value);
	} else if (f->flags & F_STR) {
		free(*(char **)dst);
	} else if (f->flags & F_JSON) {
		json_decref(*(json_t **)dst);
	} else if (f->flags & F_PTR) {
		if (*(char **)dst)
			object_release(f->sub, *(char **)dst);
		free(*(char **)dst);
	} else if (f->sub) {
		object_release(f->sub, dst);
	}
}

static void object_release(const struct field *fields, char *base)
{
	for (const struct field *f = fields; f->name; f++) {
		char *dst = base + f->off;
		if (!(f->flags & (F_ARRAY | F_MAP))) {
			value_release(f, dst);
			continue;
		}
		char *items = *(char **)dst;
		size_t n = *(size_t *)(base + f->aux_off);
		for (size_t i = 0; items && i < n; i++)
			value_release(f, items + i * f->size);
		free(items);
	}
}

void oci_config_free(struct oci_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_mounts; i++)
		free(c->mounts[i].data);
	object_release(config_fields, (char *)c);
	free(c);
}

/* ---- whole-document checks -------------------------------------------- */

/* Two elements of an array must not share the int at `off` (namespace or rlimit type). */
static int check_unique(struct parser *p, const char *array, const char *what, const void *items,
			size_t n, size_t size, size_t off, const char *(*name)(int))
{
	for (size_t i = 1; i < n; i++) {
		int vi = *(const int *)((const char *)items + i * size + off);
		for (size_t j = 0; j < i; j++) {
			if (vi != *(const int *)((const char *)items + j * size + off))
				continue;
			path_pop(p, 0);
			path_push(p, "%s[%zu].type", array, i);
			return fail(p, "duplicate %s `%s` (also in %s[%zu])", what, name(vi), array, j);
		}
	}
	return 0;
}

static int rlimits_check(struct parser *p, const char *array, const struct oci_process *proc)
{
	return check_unique(p, array, "rlimit type", proc->rlimits, proc->n_rlimits,
			    sizeof(*proc->rlimits), offsetof(struct oci_rlimit, resource), rlimit_name);
}

static int config_check(struct parser *p, struct oci_config *c)
{
	if (!c->root_path) {
		path_push(p, "root.path");
		return fail(p, "required");
	}
	if (check_unique(p, "linux.namespaces", "namespace type", c->namespaces, c->n_namespaces,
			 sizeof(*c->namespaces), offsetof(struct oci_namespace, type), oci_namespace_name) < 0)
		return -1;
	return rlimits_check(p, "process.rlimits", &c->process);
}

/*
 * jansson rejects integer literals above INT64_MAX, but uint64 properties
 * legitimately hold them (RLIM_INFINITY is 18446744073709551615).  Rewrite
 * each such literal outside strings, in place and at the same length, as a
 * real ("184467440737095516e2"), which f_int accepts for uint64 fields.
 * Returns NULL when there is nothing to rewrite.
 */
static char *text_widen_integers(const char *text, size_t len)
{
	char *out = NULL;
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		char ch = text[i];
		if (in_string) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_string = false;
			continue;
		}
		if (ch == '"') {
			in_string = true;
			continue;
		}
		if (!isdigit((unsigned char)ch))
			continue;
		size_t j = i;
		while (j < len && isdigit((unsigned char)text[j]))
			j++;
		/* a whole non-negative integer: not a fraction, exponent or negative */
		bool whole = (i == 0 || !strchr("-+.eE", text[i - 1])) &&
			     (j == len || !strchr(".eE", text[j]));
		size_t n = j - i;
		if (whole && n >= 19 && n <= 20) {
			char digits[21];
			memcpy(digits, text + i, n);
			digits[n] = '\0';
			errno = 0;
			unsigned long long u = strtoull(digits, NULL, 10);
			if (errno == 0 && u > INT64_MAX) {
				if (!out) {
					out = malloc(len + 1);
					if (!out)
						return NULL;
					memcpy(out, text, len);
					out[len] = '\0';
				}
				memcpy(out + j - 2, "e2", 2);
			}
		}
		i = j - 1;
	}
	return out;
}

/* jansson seeds its hash function from /dev/urandom (an open, a read and a
 * close on every run); getrandom(2) gives the same in one syscall. */
static void oci_json_seed(void)
{
	size_t seed = 0;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed) && seed)
		json_object_seed(seed);
}


static void cleanup_jsonp(json_t **j) { json_decref(*j); }
#define cleanup_json __attribute__((cleanup(cleanup_jsonp)))

/* JSON text -> a document; errors name `name`. */
static json_t *doc_load(const char *name, const char *text, size_t len, struct cella_error *err)
{
	cleanup_free char *widened = text_widen_integers(text, len);
	json_error_t jerr;
	oci_json_seed();
	json_t *root = json_loadb(widened ? widened : text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		cella_error_set(err, 0, "%s: invalid JSON at line %d column %d: %s", name, jerr.line,
				jerr.column, jerr.text);
	return root;
}

static struct oci_config *config_parse_named(const char *name, const char *text, size_t len,
					     void (*unknown)(void *data, const char *path), void *data,
					     struct cella_error *err)
{
	cleanup_json json_t *root = doc_load(name, text, len, err);
	if (!root)
		return NULL;
	struct oci_config *c = calloc(1, sizeof(*c));
	if (!c) {
		cella_error_set(err, ENOMEM, "%s", name);
		return NULL;
	}
	struct parser p = { .name = name, .unknown = unknown, .data = data, .err = err };
	if (parse_object(&p, root, config_fields, c) < 0 || config_check(&p, c) < 0) {
		oci_config_free(c);
		return NULL;
	}
	return c;
}

/* One object of config.json on its own (`exec --process`, `update --resources`). */
static void *part_parse(const char *name, const char *text, size_t len, const struct field *fields,
			size_t size, struct cella_error *err)
{
	cleanup_json json_t *root = doc_load(name, text, len, err);
	if (!root)
		return NULL;
	char *obj = calloc(1, size);
	if (!obj) {
		cella_error_set(err, ENOMEM, "%s", name);
		return NULL;
	}
	struct parser p = { .name = name, .err = err };
	if (parse_object(&p, root, fields, obj) < 0 ||
	    (fields == process_fields && rlimits_check(&p, "rlimits", (struct oci_process *)obj) < 0)) {
		object_release(fields, obj);
		free(obj);
		return NULL;
	}
	return obj;
}

struct oci_process *oci_process_parse(const char *text, size_t len, struct cella_error *err)
{
	return part_parse("process.json", text, len, process_fields, sizeof(struct oci_process), err);
}

void oci_process_free(struct oci_process *p)
{
	if (!p)
		return;
	object_release(process_fields, (char *)p);
	free(p);
}

struct oci_resources *oci_resources_parse(const char *text, size_t len, struct cella_error *err)
{
	return part_parse("resources.json", text, len, resources_fields, sizeof(struct oci_resources), err);
}

void oci_resources_free(struct oci_resources *r)
{
	if (!r)
		return;
	object_release(resources_fields, (char *)r);
	free(r);
}

struct oci_config *oci_config_parse(const char *text, size_t len,
				    void (*unknown)(void *data, const char *path), void *data,
				    struct cella_error *err)
{
	return config_parse_named("config.json", text, len, unknown, data, err);
}

struct oci_config *oci_config_load(const char *path,
				   void (*unknown)(void *data, const char *path), void *data,
				   struct cella_error *err)
{
	size_t len;
	cleanup_free char *text = read_file_at(AT_FDCWD, path, &len, err);
	if (!text)
		return NULL;
	return config_parse_named(path, text, len, unknown, data, err);
}
