/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The common front of the cgroup subsystem: mode detection, hierarchy
 * discovery, path validation, and the operations that are the same on every
 * hierarchy (mkdir, enter, list, kill, rmdir).  Resource writes, freezing
 * and mounting go to cgroup_v1.c / cgroup_v2.c.
 */
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>

#include "cgroup_internal.h"
#include "util.h"

#define CGROUP_DESTROY_TIMEOUT_MS 5000
#define CGROUP_MAX_NESTING 64

static const struct {
	unsigned bit;
	const char *v1, *v2;
} controller_table[] = {
	{ CGROUP_C_CPU, "cpu", "cpu" },
	{ CGROUP_C_CPUACCT, "cpuacct", NULL },
	{ CGROUP_C_CPUSET, "cpuset", "cpuset" },
	{ CGROUP_C_MEMORY, "memory", "memory" },
	{ CGROUP_C_DEVICES, "devices", NULL },
	{ CGROUP_C_FREEZER, "freezer", NULL },
	{ CGROUP_C_IO, "blkio", "io" },
	{ CGROUP_C_PIDS, "pids", "pids" },
	{ CGROUP_C_HUGETLB, "hugetlb", "hugetlb" },
	{ CGROUP_C_NET_CLS, "net_cls", NULL },
	{ CGROUP_C_NET_PRIO, "net_prio", NULL },
	{ CGROUP_C_PERF_EVENT, "perf_event", "perf_event" },
	{ CGROUP_C_RDMA, "rdma", "rdma" },
	{ CGROUP_C_MISC, "misc", "misc" },
};

const char *cgroup_controller_name(unsigned bit, bool v2)
{
	for (size_t i = 0; i < ARRAY_SIZE(controller_table); i++)
		if (controller_table[i].bit == bit)
			return v2 ? controller_table[i].v2 : controller_table[i].v1;
	return NULL;
}

const char *cgroup_mode_name(enum cgroup_mode mode)
{
	switch (mode) {
	case CGROUP_MODE_V1:
		return "v1";
	case CGROUP_MODE_HYBRID:
		return "hybrid";
	case CGROUP_MODE_V2:
		return "v2";
	}
	return "unknown";
}

int cgroup_mode_detect(enum cgroup_mode *mode, struct cella_error *err)
{
	struct statfs s;
	if (statfs(CGROUP_ROOT, &s) < 0)
		return cella_error_set(err, errno, "statfs " CGROUP_ROOT);
	if (s.f_type == CGROUP2_SUPER_MAGIC) {
		*mode = CGROUP_MODE_V2;
		return 0;
	}
	if (s.f_type != TMPFS_MAGIC)
		return cella_error_set(err, ENOTSUP,
				       CGROUP_ROOT " is neither cgroup2 nor a tmpfs of cgroup v1 hierarchies");
	if (statfs(CGROUP_UNIFIED_HYBRID, &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC)
		*mode = CGROUP_MODE_HYBRID;
	else
		*mode = CGROUP_MODE_V1;
	return 0;
}

/*
 * A container cgroup path: absolute, at least one component, no empty, "."
 * or ".." component, no control characters.  It is joined to every
 * hierarchy root, so this is what keeps a config from reaching outside.
 */
int cgroup_path_validate(const char *path, struct cella_error *err)
{
	if (!path || !*path)
		return cella_error_set(err, EINVAL, "cgroup path is empty");
	if (path[0] != '/')
		return cella_error_set(err, EINVAL, "cgroup path `%s` is not absolute", path);
	if (strlen(path) >= 2048)
		return cella_error_set(err, ENAMETOOLONG, "cgroup path `%.64s...`", path);
	if (!path[1])
		return cella_error_set(err, EINVAL, "cgroup path `/` is the root of the hierarchy");
	for (const char *p = path + 1;;) {
		size_t n = strcspn(p, "/");
		if (n == 0)
			return cella_error_set(err, EINVAL, "cgroup path `%s` has an empty component", path);
		if (n > 255)
			return cella_error_set(err, ENAMETOOLONG, "cgroup path `%s` has a component longer than 255", path);
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return cella_error_set(err, EINVAL, "cgroup path `%s` has a `.` or `..` component", path);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
				return cella_error_set(err, EINVAL, "cgroup path has a control character");
		if (!p[n])
			break;
		p += n + 1;
	}
	return 0;
}

int cgroup_write(int dirfd, const char *file, const char *value, const char *field,
		 struct cella_error *err)
{
	int fd = openat(dirfd, file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return cella_error_set(err, errno, "%s: open %s", field, file);
	size_t len = strlen(value);
	ssize_t r;
	/* one write(): cgroup files take a value per write */
	do
		r = write(fd, value, len);
	while (r < 0 && errno == EINTR);
	int e = r < 0 ? errno : (size_t)r != len ? EIO : 0;
	close(fd);
	if (e)
		return cella_error_set(err, e, "%s: write `%s` to %s", field, value, file);
	return 0;
}

int cgroup_writef(int dirfd, const char *file, const char *field, struct cella_error *err,
		  const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return cella_error_set(err, EINVAL, "%s: value too long for %s", field, file);
	return cgroup_write(dirfd, file, buf, field, err);
}

int cgroup_read(int dirfd, const char *file, char *buf, size_t len, struct cella_error *err)
{
	cleanup_close int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cella_error_set(err, errno, "open %s", file);
	ssize_t n = read_all(fd, buf, len - 1);
	if (n < 0)
		return cella_error_set(err, errno, "read %s", file);
	buf[n] = '\0';
	return 0;
}

struct cgroup_hier *cgroup_find(struct cgroup *cg, unsigned controller)
{
	for (size_t i = 0; i < cg->n_hier; i++)
		if (!cg->hier[i].v2 && (cg->hier[i].controllers & controller))
			return &cg->hier[i];
	return NULL;
}

struct cgroup_hier *cgroup_find_v2(struct cgroup *cg)
{
	for (size_t i = 0; i < cg->n_hier; i++)
		if (cg->hier[i].v2)
			return &cg->hier[i];
	return NULL;
}

long long cgroup_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void cgroup_backoff_sleep(unsigned *us)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)*us * 1000 };
	nanosleep(&ts, NULL);
	if (*us < 10000)
		*us *= 2;
}

/* ------------------------------------------------------------------ */
/* Device rules                                                         */

/* The OCI default devices (runtime-spec config-linux.md, "Default Devices"). */
static const struct oci_device_rule default_device_rules[] = {
	{ true, 'c', 1, 3, "rwm" },     /* null */
	{ true, 'c', 1, 5, "rwm" },     /* zero */
	{ true, 'c', 1, 7, "rwm" },     /* full */
	{ true, 'c', 1, 8, "rwm" },     /* random */
	{ true, 'c', 1, 9, "rwm" },     /* urandom */
	{ true, 'c', 5, 0, "rwm" },     /* tty */
	{ true, 'c', 5, 1, "rwm" },     /* console */
	{ true, 'c', 5, 2, "rwm" },     /* ptmx */
	{ true, 'c', 136, -1, "rwm" },  /* pts */
};

static bool device_rule_is_reset(const struct oci_device_rule *d)
{
	return d->type == 'a' && d->major < 0 && d->minor < 0 && strchr(d->access, 'r') &&
	       strchr(d->access, 'w') && strchr(d->access, 'm');
}

/*
 * The effective rule list; the last matching rule wins.  Every cgroup starts
 * from "deny all" (as runc and crun do, on v1 and v2 alike) so that a config
 * without rules does not hand the container every host device.  The OCI
 * defaults and the linux.devices entries go right after the config's last
 * rule covering every device (its "deny all", usually the first rule), and
 * before its other rules: the config's usual leading "deny all" does not
 * take /dev/null away, yet a config can still deny a default device or
 * narrow its access (unlike runc, which appends the defaults at the end).
 */
struct oci_device_rule *cgroup_device_rules_build(const struct oci_resources *res,
						  const struct oci_device_rule *extra, size_t n_extra,
						  size_t *n)
{
	size_t n_res = res ? res->n_devices : 0, reset = 0;
	struct oci_device_rule *r = xmalloc0((3 + n_res + ARRAY_SIZE(default_device_rules) + n_extra) * sizeof(*r));
	size_t k = 0;
	for (size_t i = 0; i < n_res; i++)
		if (device_rule_is_reset(&res->devices[i]))
			reset = i + 1;
	if (!reset)
		r[k++] = (struct oci_device_rule){ false, 'a', -1, -1, "rwm" };
	for (size_t i = 0; i < reset; i++)
		r[k++] = res->devices[i];
	for (size_t i = 0; i < ARRAY_SIZE(default_device_rules); i++)
		r[k++] = default_device_rules[i];
	for (size_t i = 0; i < n_extra; i++)
		r[k++] = extra[i];
	for (size_t i = reset; i < n_res; i++)
		r[k++] = res->devices[i];
	/* mknod is never what the rules restrict (as with runc, crun, Docker):
	 * CAP_MKNOD guards it, and a node is of no use without "r" or "w".  The
	 * container's /dev is populated with mknod from inside the cgroup, so a
	 * rule denying a default device must not make its creation fail. */
	r[k++] = (struct oci_device_rule){ true, 'c', -1, -1, "m" };
	r[k++] = (struct oci_device_rule){ true, 'b', -1, -1, "m" };
	*n = k;
	return r;
}

int cgroup_device_rules_validate(const struct oci_resources *res, struct cella_error *err)
{
	for (size_t i = 0; res && i < res->n_devices; i++) {
		const struct oci_device_rule *d = &res->devices[i];
		if (d->type != 'a' && d->type != 'c' && d->type != 'b')
			return cella_error_set(err, EINVAL, "linux.resources.devices[%zu].type: `%c` is not a, c or b", i, d->type);
		if (d->major < -1 || d->major > 0x7fffffff || d->minor < -1 || d->minor > 0x7fffffff)
			return cella_error_set(err, EINVAL, "linux.resources.devices[%zu]: major/minor out of range", i);
		if (strspn(d->access, "rwm") != strlen(d->access))
			return cella_error_set(err, EINVAL, "linux.resources.devices[%zu].access: `%s` is not a subset of rwm",
					       i, d->access);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Hierarchy discovery                                                  */

void cgroup_hierarchies_free(struct cgroup_hier *hier, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (hier[i].rootfd >= 0)
			close(hier[i].rootfd);
		if (hier[i].fd >= 0)
			close(hier[i].fd);
		free(hier[i].mountpoint);
		free(hier[i].name);
	}
	free(hier);
}

static struct cgroup_hier *hier_add(struct cgroup_hier **hier, size_t *n, const char *mountpoint)
{
	struct cgroup_hier *v = realloc(*hier, (*n + 1) * sizeof(**hier));
	if (!v)
		abort();
	*hier = v;
	struct cgroup_hier *h = &v[(*n)++];
	*h = (struct cgroup_hier){ .mountpoint = xstrdup(mountpoint), .rootfd = -1, .fd = -1 };
	return h;
}

/* Undo mountinfo's octal escapes (\040 for a space...) in place. */
static void mountinfo_unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* "rw,cpu,cpuacct" or "rw,name=systemd": the controllers and the name. */
static unsigned superopts_parse(char *opts, char **name)
{
	unsigned mask = 0;
	*name = NULL;
	for (char *save = NULL, *tok = strtok_r(opts, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "name=", 5)) {
			*name = tok + 5;
			continue;
		}
		for (size_t i = 0; i < ARRAY_SIZE(controller_table); i++)
			if (!strcmp(tok, controller_table[i].v1))
				mask |= controller_table[i].bit;
	}
	return mask;
}

/*
 * The v1 hierarchies are the "cgroup" mounts directly below /sys/fs/cgroup,
 * read from /proc/self/mountinfo (one pass; the first mount of a hierarchy
 * wins).  Paths are relative to each mountpoint: when we run inside a cgroup
 * namespace the mount root is not "/", and that is what we want.
 */
int cgroup_hierarchies_discover(enum cgroup_mode mode, struct cgroup_hier **hierp, size_t *np,
				struct cella_error *err)
{
	struct cgroup_hier *hier = NULL;
	size_t n = 0;

	*hierp = NULL;
	*np = 0;
	if (mode == CGROUP_MODE_V2) {
		hier_add(&hier, &n, CGROUP_ROOT)->v2 = true;
		*hierp = hier;
		*np = n;
		return 0;
	}
	cleanup_free char *text = read_file_at(AT_FDCWD, "/proc/self/mountinfo", NULL, err);
	if (!text)
		return -1;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		char *f[5], *s2 = NULL;
		size_t k = 0;
		for (char *t = strtok_r(line, " ", &s2); t && k < 5; t = strtok_r(NULL, " ", &s2))
			f[k++] = t;
		if (k < 5)
			continue;
		char *mp = f[4];
		char *fstype = strtok_r(sep + 3, " ", &s2);
		char *source = fstype ? strtok_r(NULL, " ", &s2) : NULL;
		char *superopts = source ? strtok_r(NULL, " ", &s2) : NULL;
		if (!superopts || strcmp(fstype, "cgroup"))
			continue;
		mountinfo_unescape(mp);
		const char *base = mp + strlen(CGROUP_ROOT "/");
		if (strncmp(mp, CGROUP_ROOT "/", strlen(CGROUP_ROOT "/")) || !*base || strchr(base, '/'))
			continue;
		char *name;
		unsigned mask = superopts_parse(superopts, &name);
		if (!mask && !name)
			continue;
		bool dup = false;
		for (size_t i = 0; i < n; i++)
			if (hier[i].controllers == mask && !hier[i].name == !name &&
			    (!name || !strcmp(hier[i].name, name)))
				dup = true;
		if (dup)
			continue;
		struct cgroup_hier *h = hier_add(&hier, &n, mp);
		h->controllers = mask;
		h->name = xstrdup(name);
	}
	if (!n)
		return cella_error_set(err, ENOENT, "no cgroup v1 hierarchy is mounted under " CGROUP_ROOT);
	if (mode == CGROUP_MODE_HYBRID)
		hier_add(&hier, &n, CGROUP_UNIFIED_HYBRID)->v2 = true;
	*hierp = hier;
	*np = n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The struct cgroup                                                    */

void cgroup_free(struct cgroup *cg)
{
	if (!cg)
		return;
	cgroup_hierarchies_free(cg->hier, cg->n_hier);
	free(cg->path);
	free(cg->ends);
	free(cg->dev_rules);
	free(cg);
}

enum cgroup_mode cgroup_get_mode(const struct cgroup *cg)
{
	return cg->mode;
}

const char *cgroup_get_path(const struct cgroup *cg)
{
	return cg->path;
}

/* The first `level`+1 components of the path, relative ("cella" for 0). */
static const char *cgroup_prefix_format(const struct cgroup *cg, size_t level, char *buf, size_t len)
{
	size_t n = cg->ends[level];
	if (n >= len)
		n = len - 1;
	memcpy(buf, cg->rel, n);
	buf[n] = '\0';
	return buf;
}

static struct cgroup *cgroup_new(const char *path, struct cella_error *err)
{
	if (cgroup_path_validate(path, err) < 0)
		return NULL;
	struct cgroup *cg = xmalloc0(sizeof(*cg));
	if (cgroup_mode_detect(&cg->mode, err) < 0)
		goto fail;
	cg->path = xstrdup(path);
	cg->rel = cg->path + 1;
	for (const char *p = cg->rel; p; p = strchr(p + 1, '/'))
		cg->depth++;
	cg->ends = xmalloc0(cg->depth * sizeof(size_t));
	size_t k = 0;
	for (const char *p = cg->rel;; p++)
		if (*p == '/' || !*p) {
			cg->ends[k++] = p - cg->rel;
			if (!*p)
				break;
		}
	if (cgroup_hierarchies_discover(cg->mode, &cg->hier, &cg->n_hier, err) < 0)
		goto fail;
	for (size_t i = 0; i < cg->n_hier; i++) {
		struct cgroup_hier *h = &cg->hier[i];
		h->created_from = cg->depth;
		h->rootfd = open(h->mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (h->rootfd < 0) {
			cella_error_set(err, errno, "open %s", h->mountpoint);
			goto fail;
		}
	}
	return cg;
fail:
	cgroup_free(cg);
	return NULL;
}

/* Remove the directories this struct created, leaf first (create failed). */
static void cgroup_rollback(struct cgroup *cg)
{
	char buf[2048];
	for (size_t i = 0; i < cg->n_hier; i++) {
		struct cgroup_hier *h = &cg->hier[i];
		if (h->fd >= 0) {
			close(h->fd);
			h->fd = -1;
		}
		for (size_t l = cg->depth; l-- > h->created_from;)
			unlinkat(h->rootfd, cgroup_prefix_format(cg, l, buf, sizeof(buf)), AT_REMOVEDIR);
		h->created_from = cg->depth;
	}
}

/*
 * mkdir -p of the path in one hierarchy, remembering the first level we
 * created.  The common cases cost one mkdirat(): the parent exists (EEXIST
 * never happens for a new container).  ENOENT midway means a concurrent
 * destroy removed an empty parent: start again from the top.
 */
static int cgroup_hier_mkdir(struct cgroup *cg, struct cgroup_hier *h, struct cella_error *err)
{
	char buf[2048];
	for (int attempt = 0;; attempt++) {
		if (mkdirat(h->rootfd, cg->rel, 0755) == 0) {
			h->created_from = cg->depth - 1;
			break;
		}
		if (errno == EEXIST)
			break;
		if (errno != ENOENT || attempt == 8)
			return cella_error_set(err, errno, "mkdir %s%s", h->mountpoint, cg->path);
		int e = 0;
		for (size_t l = 0; l < cg->depth && !e; l++) {
			if (mkdirat(h->rootfd, cgroup_prefix_format(cg, l, buf, sizeof(buf)), 0755) == 0) {
				if (h->created_from == cg->depth)
					h->created_from = l;
			} else if (errno != EEXIST) {
				e = errno;
			}
		}
		if (!e)
			break;
		if (e != ENOENT)
			return cella_error_set(err, e, "mkdir %s/%s", h->mountpoint, buf);
	}
	h->fd = openat(h->rootfd, cg->rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (h->fd < 0)
		return cella_error_set(err, errno, "open %s%s", h->mountpoint, cg->path);
	return 0;
}

/* Checks that do not depend on the kernel, done before any mkdir. */
static int cgroup_resources_validate(enum cgroup_mode mode, const struct oci_resources *res,
				     struct cella_error *err)
{
	if (!res)
		return 0;
	const struct { const struct oci_opt_i64 *v; const char *name; } mem[] = {
		{ &res->memory.limit, "limit" }, { &res->memory.reservation, "reservation" },
		{ &res->memory.swap, "swap" }, { &res->memory.kernel, "kernel" },
		{ &res->memory.kernel_tcp, "kernelTCP" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(mem); i++)
		if (mem[i].v->set && mem[i].v->v < -1)
			return cella_error_set(err, EINVAL, "linux.resources.memory.%s: invalid value %lld",
					       mem[i].name, (long long)mem[i].v->v);
	if (res->memory.swappiness.set && res->memory.swappiness.v > 100)
		return cella_error_set(err, EINVAL, "linux.resources.memory.swappiness: %llu is not in 0-100",
				       (unsigned long long)res->memory.swappiness.v);
	for (size_t i = 0; i < res->n_hugepage_limits; i++) {
		const char *s = res->hugepage_limits[i].page_size;
		size_t d = s ? strspn(s, "0123456789") : 0;
		/* it becomes part of a file name: digits, then kB/KB/MB/GB */
		if (!d || strlen(s + d) != 2 || !strchr("kKMG", s[d]) || s[d + 1] != 'B')
			return cella_error_set(err, EINVAL, "linux.resources.hugepageLimits[%zu].pageSize: invalid `%s`",
					       i, s ? s : "");
	}
	if (res->n_unified && mode == CGROUP_MODE_V1)
		return cella_error_set(err, ENOTSUP,
				       "linux.resources.unified: needs cgroup v2, and this host uses cgroup v1 only");
	for (size_t i = 0; i < res->n_unified; i++) {
		const char *k = res->unified[i].key;
		/* a file of the container's own cgroup, never one that moves tasks or reshapes the tree */
		if (!k || !*k || k[0] == '.' || strchr(k, '/') || !strchr(k, '.') || !res->unified[i].value ||
		    !strcmp(k, "cgroup.procs") || !strcmp(k, "cgroup.threads") ||
		    !strcmp(k, "cgroup.subtree_control") || !strcmp(k, "cgroup.kill"))
			return cella_error_set(err, EINVAL, "linux.resources.unified: invalid key `%s`", k ? k : "");
	}
	return cgroup_device_rules_validate(res, err);
}

/*
 * Which parts of res go to the v2 hierarchy: everything on v2; on hybrid only
 * the unified keys, which ask for v2 files by name.  The hybrid cgroup2 is
 * otherwise left controller-less, as systemd set it up: a controller the v1
 * side lacks (e.g. hugetlb) is refused rather than enabled there.
 */
static unsigned cgroup_v2_parts(struct cgroup *cg, const struct oci_resources *res)
{
	if (cg->mode == CGROUP_MODE_V2)
		return CGROUP_V2_ALL;
	if (cg->mode == CGROUP_MODE_HYBRID && res && res->n_unified)
		return CGROUP_V2_UNIFIED;
	return 0;
}

static int cgroup_resources_write(struct cgroup *cg, const struct oci_resources *res,
				  const struct oci_device_rule *rules, size_t n_rules, bool fresh,
				  bool update, struct cella_error *err)
{
	unsigned parts = cgroup_v2_parts(cg, res);
	struct cgroup_hier *h2 = cgroup_find_v2(cg);
	if (cg->mode != CGROUP_MODE_V2 &&
	    cgroup_v1_apply(cg, res, rules, n_rules, update, err) < 0)
		return -1;
	if (parts) {
		char ctrl[512];
		if (!h2 || h2->fd < 0)
			return cella_error_set(err, ENOENT, "cgroup %s is missing in the cgroup v2 hierarchy", cg->path);
		cgroup_v2_controllers_needed(res, parts, ctrl, sizeof(ctrl));
		/* on create, cgroup_create() enabled them already */
		if (update && cgroup_v2_enable(cg, h2, ctrl, err) < 0)
			return -1;
		if (cgroup_v2_apply(cg, h2, res, parts, rules, n_rules, fresh, update, err) < 0)
			return -1;
	}
	return 0;
}

/*
 * Creation comes in two halves so that the runtime can overlap the second
 * with the container's own setup: begin() makes the cgroup2 directory (the
 * one clone3(CLONE_INTO_CGROUP) needs), finish() the v1 directories and the
 * resource limits.  `res` must stay valid until finish().
 */
struct cgroup *cgroup_create_begin(const char *path, const struct oci_resources *res,
				   const struct oci_device *devices, size_t n_devices,
				   struct cella_error *err)
{
	struct cgroup *cg = cgroup_new(path, err);
	if (!cg)
		return NULL;
	if (cgroup_resources_validate(cg->mode, res, err) < 0)
		goto fail;
	cg->res = res;
	cg->dev_rules = xmalloc0((n_devices + 1) * sizeof(*cg->dev_rules));
	for (size_t i = 0; i < n_devices; i++) {
		const struct oci_device *d = &devices[i];
		if (d->type == 'p')     /* fifos are not device-cgroup controlled */
			continue;
		cg->dev_rules[cg->n_dev_rules++] = (struct oci_device_rule){
			true, d->type == 'b' ? 'b' : 'c', d->major, d->minor, "rwm"
		};
	}
	char ctrl[512];
	cgroup_v2_controllers_needed(res, cgroup_v2_parts(cg, res), ctrl, sizeof(ctrl));
	for (size_t i = 0; i < cg->n_hier; i++) {
		struct cgroup_hier *h = &cg->hier[i];
		if (!h->v2)
			continue;
		if (cgroup_hier_mkdir(cg, h, err) < 0 || cgroup_v2_enable(cg, h, ctrl, err) < 0)
			goto fail_rollback;
	}
	return cg;

fail_rollback:
	cgroup_rollback(cg);
fail:
	cgroup_free(cg);
	return NULL;
}

int cgroup_create_finish(struct cgroup *cg, struct cella_error *err)
{
	cleanup_free struct oci_device_rule *rules = NULL;
	size_t n_rules;
	const struct oci_resources *res = cg->res;

	for (size_t i = 0; i < cg->n_hier; i++) {
		struct cgroup_hier *h = &cg->hier[i];
		if (h->v2)
			continue;
		if (cgroup_hier_mkdir(cg, h, err) < 0)
			goto fail;
		if ((h->controllers & CGROUP_C_CPUSET) && cgroup_v1_level_init(cg, h, err) < 0)
			goto fail;
	}
	rules = cgroup_device_rules_build(res, cg->dev_rules, cg->n_dev_rules, &n_rules);
	struct cgroup_hier *h2 = cgroup_find_v2(cg);
	bool fresh = h2 && h2->created_from < cg->depth;
	if (cgroup_resources_write(cg, res, rules, n_rules, fresh, false, err) < 0)
		goto fail;
	cg->res = NULL;
	return 0;
fail:
	cgroup_rollback(cg);
	return -1;
}

struct cgroup *cgroup_create(const char *path, const struct oci_resources *res,
			     const struct oci_device *devices, size_t n_devices,
			     struct cella_error *err)
{
	struct cgroup *cg = cgroup_create_begin(path, res, devices, n_devices, err);
	if (cg && cgroup_create_finish(cg, err) < 0) {
		cgroup_free(cg);
		return NULL;
	}
	return cg;
}

struct cgroup *cgroup_open(const char *path, struct cella_error *err)
{
	struct cgroup *cg = cgroup_new(path, err);
	if (!cg)
		return NULL;
	bool any = false;
	for (size_t i = 0; i < cg->n_hier; i++) {
		struct cgroup_hier *h = &cg->hier[i];
		h->fd = openat(h->rootfd, cg->rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (h->fd >= 0)
			any = true;
		else if (errno != ENOENT) {
			cella_error_set(err, errno, "open %s%s", h->mountpoint, cg->path);
			cgroup_free(cg);
			return NULL;
		}
	}
	if (!any) {
		cella_error_set(err, ENOENT, "cgroup %s does not exist", path);
		cgroup_free(cg);
		return NULL;
	}
	return cg;
}

int cgroup_apply(struct cgroup *cg, const struct oci_resources *res, struct cella_error *err)
{
	if (!res)
		return 0;
	if (cgroup_resources_validate(cg->mode, res, err) < 0)
		return -1;
	size_t n_rules = 0;
	/* an update without device rules leaves the device rules alone */
	cleanup_free struct oci_device_rule *rules =
		res->n_devices ? cgroup_device_rules_build(res, cg->dev_rules, cg->n_dev_rules, &n_rules) : NULL;
	return cgroup_resources_write(cg, res, rules, n_rules, false, true, err);
}

int cgroup_enter(struct cgroup *cg, pid_t pid, struct cella_error *err)
{
	char buf[16];
	snprintf(buf, sizeof(buf), "%d", (int)pid);
	for (size_t i = 0; i < cg->n_hier; i++) {
		struct cgroup_hier *h = &cg->hier[i];
		if (h->fd < 0)
			continue;
		if (cgroup_write(h->fd, "cgroup.procs", buf, h->mountpoint, err) < 0)
			return cella_error_wrap(err, "move pid %d into cgroup %s", (int)pid, cg->path);
	}
	return 0;
}

/*
 * Writing a pid to cgroup.procs takes the kernel's global threadgroup
 * rwsem for writing, which waits for an RCU grace period: milliseconds on
 * an idle host, per container.  Two cheaper paths reach the same result:
 * a clone3(CLONE_INTO_CGROUP) into the cgroup2 hierarchy, and a
 * single-threaded process writing "0" (itself) to the v1 `tasks` files,
 * which the kernel serialises with cgroup_mutex alone.
 */
void cgroup_drop_fds(struct cgroup *cg)
{
	for (size_t i = 0; i < cg->n_hier; i++) {
		struct cgroup_hier *h = &cg->hier[i];
		if (h->fd >= 0)
			close(h->fd);
		if (h->rootfd >= 0)
			close(h->rootfd);
		h->fd = h->rootfd = -1;
	}
}

int cgroup_clone_fd(struct cgroup *cg)
{
	for (size_t i = 0; i < cg->n_hier; i++)
		if (cg->hier[i].v2)
			return cg->hier[i].fd;
	return -1;
}

int cgroup_open_tasks(struct cgroup *cg, int *fds, size_t max, struct cella_error *err)
{
	size_t n = 0;
	for (size_t i = 0; i < cg->n_hier; i++) {
		struct cgroup_hier *h = &cg->hier[i];
		if (h->v2 || h->fd < 0)
			continue;
		if (n == max) {
			cella_error_set(err, E2BIG, "too many cgroup hierarchies");
			goto fail;
		}
		fds[n] = openat(h->fd, "tasks", O_WRONLY | O_CLOEXEC);
		if (fds[n] < 0) {
			cella_error_set(err, errno, "open %s%s/tasks", h->mountpoint, cg->path);
			goto fail;
		}
		n++;
	}
	return (int)n;
fail:
	while (n > 0)
		close(fds[--n]);
	return -1;
}

int cgroup_enter_self(struct cgroup *cg, bool cloned_into, struct cella_error *err)
{
	for (size_t i = 0; i < cg->n_hier; i++) {
		struct cgroup_hier *h = &cg->hier[i];
		/* a copy of `cg` made before cgroup_create_finish() (the init is a
		 * fork taken then) has no fd on the v1 directories yet */
		if (h->fd < 0)
			h->fd = openat(h->rootfd, cg->rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (h->fd < 0)
			return cella_error_set(err, errno, "enter cgroup %s%s", h->mountpoint, cg->path);
		if (h->v2 && cloned_into)
			continue;
		if (cgroup_write(h->fd, h->v2 ? "cgroup.procs" : "tasks", "0", h->mountpoint, err) < 0)
			return cella_error_wrap(err, "enter cgroup %s", cg->path);
	}
	return 0;
}

/*
 * Hand the container's own cgroup to the root of its user namespace, as
 * crun and LXC do, so that an init like systemd can build its tree below
 * it: the directory (mkdir of children) and the files that move processes
 * or enable controllers for the children.  Everything is reached through
 * h->fd, the container's own directory, with AT_SYMLINK_NOFOLLOW: nothing
 * above it (the parent Cella shares between containers, the hierarchy
 * root) is ever touched, and the limit files of the directory itself stay
 * root's, so what the container makes below can only be narrower.
 */
int cgroup_delegate(struct cgroup *cg, uid_t uid, gid_t gid, struct cella_error *err)
{
	static const char *const v1_files[] = { "tasks", "cgroup.procs" };
	static const char *const v2_files[] = { "cgroup.procs", "cgroup.threads", "cgroup.subtree_control" };
	for (size_t i = 0; i < cg->n_hier; i++) {
		struct cgroup_hier *h = &cg->hier[i];
		if (h->fd < 0)
			continue;
		if (fchownat(h->fd, "", uid, gid, AT_EMPTY_PATH) < 0)
			return cella_error_set(err, errno, "delegate cgroup %s%s", h->mountpoint, cg->path);
		const char *const *files = h->v2 ? v2_files : v1_files;
		size_t n = h->v2 ? ARRAY_SIZE(v2_files) : ARRAY_SIZE(v1_files);
		for (size_t k = 0; k < n; k++)
			if (fchownat(h->fd, files[k], uid, gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT)
				return cella_error_set(err, errno, "delegate %s%s/%s", h->mountpoint, cg->path,
						       files[k]);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Processes                                                            */

struct pidvec {
	pid_t *v;
	size_t n, cap;
};

static void pidvec_push(struct pidvec *p, pid_t pid)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 32;
		pid_t *v = realloc(p->v, p->cap * sizeof(pid_t));
		if (!v)
			abort();
		p->v = v;
	}
	p->v[p->n++] = pid;
}

static int pid_cmp(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return x < y ? -1 : x > y;
}

/* cgroup.procs of dirfd and of every cgroup below it. */
static int procs_collect(int dirfd, struct pidvec *out, int level, struct cella_error *err)
{
	size_t len;
	cleanup_free char *text = read_file_at(dirfd, "cgroup.procs", &len, err);
	if (!text)
		return err->code == ENOENT || err->code == ENODEV ? 0 : -1;   /* removed meanwhile */
	for (char *p = text, *end; *p; p = end) {
		long v = strtol(p, &end, 10);
		if (end == p)
			break;
		if (v > 0)
			pidvec_push(out, (pid_t)v);
	}
	if (level >= CGROUP_MAX_NESTING)
		return 0;
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cella_error_set(err, errno, "open cgroup directory");
	cleanup_dir DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return cella_error_set(err, errno, "read cgroup directory");
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		cleanup_close int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sub < 0)
			continue;
		if (procs_collect(sub, out, level + 1, err) < 0)
			return -1;
	}
	return 0;
}

/* The hierarchy that sees every process: the v2 one when there is one. */
static struct cgroup_hier *cgroup_tracking_find(struct cgroup *cg)
{
	struct cgroup_hier *h = cgroup_find_v2(cg);
	if (h && h->fd >= 0 && !h->gone)
		return h;
	for (size_t i = 0; i < cg->n_hier; i++)
		if (cg->hier[i].fd >= 0 && !cg->hier[i].gone)
			return &cg->hier[i];
	return NULL;
}

static int cgroup_pids_collect(struct cgroup *cg, struct pidvec *p, struct cella_error *err)
{
	struct cgroup_hier *h = cgroup_tracking_find(cg);
	if (!h || procs_collect(h->fd, p, 0, err) < 0)
		return h ? -1 : 0;
	if (p->n > 1) {
		/* v1 cgroup.procs may repeat a pid */
		qsort(p->v, p->n, sizeof(pid_t), pid_cmp);
		size_t k = 1;
		for (size_t i = 1; i < p->n; i++)
			if (p->v[i] != p->v[k - 1])
				p->v[k++] = p->v[i];
		p->n = k;
	}
	return 0;
}

int cgroup_pids(struct cgroup *cg, pid_t **pids, size_t *n, struct cella_error *err)
{
	struct pidvec p = { 0 };
	*pids = NULL;
	*n = 0;
	if (cgroup_pids_collect(cg, &p, err) < 0) {
		free(p.v);
		return cella_error_wrap(err, "list the processes of cgroup %s", cg->path);
	}
	*pids = p.v;
	*n = p.n;
	return 0;
}

/*
 * Signal every process, the ones forked meanwhile included: read the list
 * again until it has nobody we did not signal already.
 */
static int cgroup_signal_all(struct cgroup *cg, int sig, struct cella_error *err)
{
	struct pidvec done = { 0 };
	int ret = 0;
	for (int pass = 0; pass < 100; pass++) {
		struct pidvec p = { 0 };
		if (cgroup_pids_collect(cg, &p, err) < 0) {
			free(p.v);
			ret = -1;
			break;
		}
		size_t fresh = 0, sorted = done.n;
		for (size_t i = 0; i < p.n; i++) {
			if (sorted && bsearch(&p.v[i], done.v, sorted, sizeof(pid_t), pid_cmp))
				continue;
			if (kill(p.v[i], sig) < 0 && errno != ESRCH) {
				ret = cella_error_set(err, errno, "signal %d to pid %d", sig, (int)p.v[i]);
				break;
			}
			pidvec_push(&done, p.v[i]);
			fresh++;
		}
		free(p.v);
		if (ret < 0 || !fresh)
			break;
		qsort(done.v, done.n, sizeof(pid_t), pid_cmp);
	}
	free(done.v);
	return ret;
}

int cgroup_kill(struct cgroup *cg, int sig, struct cella_error *err)
{
	if (sig == SIGKILL) {
		struct cgroup_hier *h2 = cgroup_find_v2(cg);
		if (h2 && h2->fd >= 0 && !h2->gone) {
			int r = cgroup_v2_kill(h2, err);
			if (r != 0)
				return r < 0 ? cella_error_wrap(err, "kill cgroup %s", cg->path) : 0;
		}
	}
	if (cgroup_signal_all(cg, sig, err) < 0)
		return cella_error_wrap(err, "kill cgroup %s", cg->path);
	return 0;
}

int cgroup_freeze(struct cgroup *cg, bool frozen, struct cella_error *err)
{
	struct cgroup_hier *h = cgroup_find(cg, CGROUP_C_FREEZER);
	int r;
	if (h && h->fd >= 0)
		r = cgroup_v1_freeze(h, frozen, err);
	else if ((h = cgroup_find_v2(cg)) && h->fd >= 0)
		r = cgroup_v2_freeze(h, frozen, err);
	else
		return cella_error_set(err, ENOTSUP, "%s cgroup %s: no freezer", frozen ? "freeze" : "thaw", cg->path);
	return r < 0 ? cella_error_wrap(err, "%s cgroup %s", frozen ? "freeze" : "thaw", cg->path) : 0;
}

int cgroup_is_frozen(struct cgroup *cg, struct cella_error *err)
{
	struct cgroup_hier *h = cgroup_find(cg, CGROUP_C_FREEZER);
	if (h && h->fd >= 0)
		return cgroup_v1_is_frozen(h, err);
	if ((h = cgroup_find_v2(cg)) && h->fd >= 0)
		return cgroup_v2_is_frozen(h, err);
	return cella_error_set(err, ENOTSUP, "cgroup %s: no freezer", cg->path);
}

/* ------------------------------------------------------------------ */
/* Destroy                                                              */

/* rmdir `name` (below parentfd) and the cgroups the container made in it. */
static int cgroup_tree_remove(int parentfd, const char *name, int level)
{
	if (unlinkat(parentfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return 0;
	if ((errno != EBUSY && errno != ENOTEMPTY) || level >= CGROUP_MAX_NESTING)
		return -1;
	int fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	bool children = false;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_type == DT_DIR && strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			children = true;
			cgroup_tree_remove(dirfd(d), e->d_name, level + 1);
		}
	closedir(d);
	if (!children) {
		errno = EBUSY;
		return -1;
	}
	if (unlinkat(parentfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return 0;
	return -1;
}

/*
 * Parents go while they are empty, up to (not including) the hierarchy
 * root, but only the ones we created or the ones in Cella's own "/cella"
 * tree: a user's "/machine.slice" stays even when we emptied it.  "/cella"
 * itself stays: recreating it for every container would cost a mkdir and
 * an rmdir per hierarchy on the hot path of `run`.
 */
static void cgroup_parents_remove(struct cgroup *cg, struct cgroup_hier *h)
{
	char buf[2048];
	bool ours = cg->ends[0] == 5 && !strncmp(cg->rel, "cella", 5);
	for (size_t l = cg->depth - 1; l-- > 0;) {
		if ((l < h->created_from && !ours) || (ours && l == 0))
			break;
		if (unlinkat(h->rootfd, cgroup_prefix_format(cg, l, buf, sizeof(buf)), AT_REMOVEDIR) < 0 && errno != ENOENT)
			break;
	}
}

/* Processes are left: kill them, thaw a v1 freezer (frozen tasks do not die),
 * and rmdir again with growing sleeps, up to 5 s. */
static int cgroup_destroy_slow(struct cgroup *cg, struct cella_error *err)
{
	long long deadline = cgroup_now_ms() + CGROUP_DESTROY_TIMEOUT_MS;
	unsigned us = 100;
	for (;;) {
		struct cella_error ignored;
		cgroup_kill(cg, SIGKILL, &ignored);
		struct cgroup_hier *fz = cgroup_find(cg, CGROUP_C_FREEZER);
		if (fz && fz->fd >= 0 && !fz->gone)
			cgroup_v1_freeze(fz, false, &ignored);
		bool left = false;
		for (size_t i = 0; i < cg->n_hier; i++) {
			struct cgroup_hier *h = &cg->hier[i];
			if (h->gone)
				continue;
			if (cgroup_tree_remove(h->rootfd, cg->rel, 0) == 0)
				h->gone = true;
			else if (errno == EBUSY || errno == ENOTEMPTY)
				left = true;
			else
				return cella_error_set(err, errno, "remove cgroup %s%s", h->mountpoint, cg->path);
		}
		if (!left)
			return 0;
		if (cgroup_now_ms() > deadline)
			return cella_error_set(err, EBUSY, "remove cgroup %s: processes still there after %d s",
					       cg->path, CGROUP_DESTROY_TIMEOUT_MS / 1000);
		cgroup_backoff_sleep(&us);
	}
}

int cgroup_destroy(struct cgroup *cg, struct cella_error *err)
{
	bool busy = false;
	int ret = 0;
	/* fast path: the container is gone, one rmdir per hierarchy */
	for (size_t i = 0; i < cg->n_hier; i++) {
		struct cgroup_hier *h = &cg->hier[i];
		if (h->gone)
			continue;
		if (unlinkat(h->rootfd, cg->rel, AT_REMOVEDIR) == 0 || errno == ENOENT)
			h->gone = true;
		else if (errno == EBUSY || errno == ENOTEMPTY)
			busy = true;
		else if (ret == 0)
			ret = cella_error_set(err, errno, "remove cgroup %s%s", h->mountpoint, cg->path);
	}
	if (busy && ret == 0)
		ret = cgroup_destroy_slow(cg, err);
	for (size_t i = 0; i < cg->n_hier; i++) {
		struct cgroup_hier *h = &cg->hier[i];
		if (!h->gone)
			continue;
		if (h->fd >= 0) {
			close(h->fd);
			h->fd = -1;
		}
		cgroup_parents_remove(cg, h);
	}
	return ret;
}

/* ------------------------------------------------------------------ */
/* Mount                                                                */

int cgroup_mount(struct cgroup *cg, const char *target, unsigned long flags,
		 struct cella_error *err)
{
	flags &= MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME |
		 MS_RELATIME | MS_STRICTATIME;
	if (cg->mode != CGROUP_MODE_V2)
		return cgroup_v1_mount(cg, target, flags, err);
	if (mount("cgroup2", target, "cgroup2", flags, NULL) < 0)
		return cella_error_set(err, errno, "mount cgroup2");
	return 0;
}
