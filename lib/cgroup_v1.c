/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cgroup v1: one hierarchy per controller (or per set of co-mounted
 * controllers), plus the v1 side of hybrid.  Resources are written to the
 * hierarchy that holds their controller; devices are devices.allow/deny
 * lines; the container's view is a tmpfs with one mount per hierarchy.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "cgroup_internal.h"
#include "engine.h"
#include "util.h"

#define V1_FREEZE_TIMEOUT_MS 5000

/* The container's directory in the hierarchy of `controller`. */
static int v1_dir_get(struct cgroup *cg, unsigned controller, const char *field, struct cella_error *err)
{
	struct cgroup_hier *h = cgroup_find(cg, controller);
	if (!h)
		return cella_error_set(err, ENOTSUP, "%s: the %s controller is not mounted", field,
				       cgroup_controller_name(controller, false));
	if (h->fd < 0)
		return cella_error_set(err, ENOENT, "%s: cgroup %s is missing in %s", field, cg->path, h->mountpoint);
	return h->fd;
}

/*
 * A new cpuset cgroup starts with empty cpuset.cpus and cpuset.mems, and no
 * task can join it until they are set: copy the parent's values down every
 * level we created.  The parent is read once; the levels below get the same.
 * An empty parent is one a concurrent create made and has not initialised
 * yet (or one a crash left): then start from its own parent, and so on.
 * Intermediate levels we create get cgroup.clone_children, so that the next
 * container below them ("/cella/ID") is initialised by the kernel at mkdir:
 * one read to check instead of two reads and two writes.
 */
int cgroup_v1_level_init(struct cgroup *cg, struct cgroup_hier *h, struct cella_error *err)
{
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	char path[2100], vals[2][4096];

	if (h->created_from >= cg->depth)
		return 0;
	if (h->created_from == cg->depth - 1) {
		snprintf(path, sizeof(path), "%s/cpuset.mems", cg->rel);
		if (cgroup_read(h->rootfd, path, vals[0], sizeof(vals[0]), err) < 0)
			return cella_error_wrap(err, "initialise cpuset of %s", cg->path);
		if (vals[0][0] && vals[0][0] != '\n')
			return 0;
	}
	size_t from = h->created_from;
	for (;;) {
		size_t plen = from ? cg->ends[from - 1] : 0;
		bool empty = false;
		for (size_t i = 0; i < 2; i++) {
			snprintf(path, sizeof(path), "%.*s%s%s", (int)plen, cg->rel, plen ? "/" : "", files[i]);
			if (cgroup_read(h->rootfd, path, vals[i], sizeof(vals[i]), err) < 0)
				return cella_error_wrap(err, "initialise cpuset of %s", cg->path);
			vals[i][strcspn(vals[i], "\n")] = '\0';
			empty |= !vals[i][0];
		}
		if (!empty || from == 0)
			break;
		from--;
	}
	for (size_t l = from; l < cg->depth; l++)
		for (size_t i = 0; i < 2; i++) {
			if (!vals[i][0])
				continue;
			snprintf(path, sizeof(path), "%.*s/%s", (int)cg->ends[l], cg->rel, files[i]);
			if (cgroup_write(h->rootfd, path, vals[i], "cgroup", err) < 0)
				return cella_error_wrap(err, "initialise cpuset of %s", cg->path);
		}
	for (size_t l = h->created_from; l + 1 < cg->depth; l++) {
		snprintf(path, sizeof(path), "%.*s/cgroup.clone_children", (int)cg->ends[l], cg->rel);
		if (cgroup_write(h->rootfd, path, "1", "cgroup", err) < 0)
			return cella_error_wrap(err, "initialise cpuset of %s", cg->path);
	}
	return 0;
}

static int i64_write(int fd, const char *file, const char *field, int64_t v, struct cella_error *err)
{
	return cgroup_writef(fd, file, field, err, "%" PRId64, v);
}

static int u64_write(int fd, const char *file, const char *field, uint64_t v, struct cella_error *err)
{
	return cgroup_writef(fd, file, field, err, "%" PRIu64, v);
}

/* Write `a` then `b`; when the kernel refuses `a` because of the current
 * value of `b` (EINVAL), write `b` first. */
static int pair_write(int fd, const char *fa, const char *fielda, const struct oci_opt_i64 *a,
		      const char *fb, const char *fieldb, const struct oci_opt_i64 *b, struct cella_error *err)
{
	if (a->set && i64_write(fd, fa, fielda, a->v, err) < 0) {
		if (err->code != EINVAL || !b->set)
			return -1;
		if (i64_write(fd, fb, fieldb, b->v, err) < 0 || i64_write(fd, fa, fielda, a->v, err) < 0)
			return -1;
		return 0;
	}
	if (b->set && i64_write(fd, fb, fieldb, b->v, err) < 0)
		return -1;
	return 0;
}

static int v1_memory_apply(struct cgroup *cg, const struct oci_resources *res, bool update, struct cella_error *err)
{
	const typeof(res->memory) *m = &res->memory;
	if (!m->limit.set && !m->reservation.set && !m->swap.set && !m->kernel.set && !m->kernel_tcp.set &&
	    !m->swappiness.set && !m->has_disable_oom_killer && !m->has_use_hierarchy)
		return 0;
	int fd = v1_dir_get(cg, CGROUP_C_MEMORY, "linux.resources.memory", err);
	if (fd < 0)
		return -1;
	if (update && m->has_check_before_update && m->check_before_update && m->limit.set && m->limit.v >= 0) {
		char buf[64];
		if (cgroup_read(fd, "memory.usage_in_bytes", buf, sizeof(buf), err) < 0)
			return cella_error_wrap(err, "linux.resources.memory.checkBeforeUpdate");
		buf[strcspn(buf, "\n")] = '\0';
		if (strtoull(buf, NULL, 10) > (uint64_t)m->limit.v)
			return cella_error_set(err, EBUSY, "linux.resources.memory.limit: %" PRId64
					       " is below the current usage %s", m->limit.v, buf);
	}
	/* use_hierarchy must be set while the cgroup has no children: first */
	if (m->has_use_hierarchy &&
	    cgroup_write(fd, "memory.use_hierarchy", m->use_hierarchy ? "1" : "0",
			 "linux.resources.memory.useHierarchy", err) < 0)
		return -1;
	/* memsw >= limit at all times: limit first, memsw first when raising past it */
	if (pair_write(fd, "memory.limit_in_bytes", "linux.resources.memory.limit", &m->limit,
		       "memory.memsw.limit_in_bytes", "linux.resources.memory.swap", &m->swap, err) < 0)
		return -1;
	if (m->reservation.set &&
	    i64_write(fd, "memory.soft_limit_in_bytes", "linux.resources.memory.reservation", m->reservation.v, err) < 0)
		return -1;
	/* kernel memory limits are deprecated: newer kernels refuse them */
	if (m->kernel.set &&
	    i64_write(fd, "memory.kmem.limit_in_bytes", "linux.resources.memory.kernel", m->kernel.v, err) < 0 &&
	    err->code != EOPNOTSUPP && err->code != ENOENT)
		return -1;
	if (m->kernel_tcp.set &&
	    i64_write(fd, "memory.kmem.tcp.limit_in_bytes", "linux.resources.memory.kernelTCP", m->kernel_tcp.v, err) < 0)
		return -1;
	if (m->swappiness.set &&
	    u64_write(fd, "memory.swappiness", "linux.resources.memory.swappiness", m->swappiness.v, err) < 0)
		return -1;
	if (m->has_disable_oom_killer &&
	    cgroup_write(fd, "memory.oom_control", m->disable_oom_killer ? "1" : "0",
			 "linux.resources.memory.disableOOMKiller", err) < 0)
		return -1;
	return 0;
}

static int v1_cpu_apply(struct cgroup *cg, const struct oci_resources *res, struct cella_error *err)
{
	const typeof(res->cpu) *c = &res->cpu;
	if (c->shares.set || c->quota.set || c->period.set || c->realtime_runtime.set ||
	    c->realtime_period.set || c->idle.set || c->burst.set) {
		int fd = v1_dir_get(cg, CGROUP_C_CPU, "linux.resources.cpu", err);
		if (fd < 0)
			return -1;
		if (c->shares.set && u64_write(fd, "cpu.shares", "linux.resources.cpu.shares", c->shares.v, err) < 0)
			return -1;
		/* a period shorter than the current one can be refused until the quota is set */
		struct oci_opt_i64 period = { c->period.set, (int64_t)c->period.v };
		if (pair_write(fd, "cpu.cfs_period_us", "linux.resources.cpu.period", &period,
			       "cpu.cfs_quota_us", "linux.resources.cpu.quota", &c->quota, err) < 0)
			return -1;
		if (c->burst.set && u64_write(fd, "cpu.cfs_burst_us", "linux.resources.cpu.burst", c->burst.v, err) < 0)
			return -1;
		struct oci_opt_i64 rt_period = { c->realtime_period.set, (int64_t)c->realtime_period.v };
		if (pair_write(fd, "cpu.rt_period_us", "linux.resources.cpu.realtimePeriod", &rt_period,
			       "cpu.rt_runtime_us", "linux.resources.cpu.realtimeRuntime", &c->realtime_runtime, err) < 0)
			return -1;
		if (c->idle.set && i64_write(fd, "cpu.idle", "linux.resources.cpu.idle", c->idle.v, err) < 0)
			return -1;
	}
	if (c->cpus || c->mems) {
		int fd = v1_dir_get(cg, CGROUP_C_CPUSET, "linux.resources.cpu", err);
		if (fd < 0)
			return -1;
		if (c->cpus && cgroup_write(fd, "cpuset.cpus", c->cpus, "linux.resources.cpu.cpus", err) < 0)
			return -1;
		if (c->mems && cgroup_write(fd, "cpuset.mems", c->mems, "linux.resources.cpu.mems", err) < 0)
			return -1;
	}
	return 0;
}

static int v1_pids_apply(struct cgroup *cg, const struct oci_resources *res, struct cella_error *err)
{
	/* 0 leaves the limit alone (as runc does), negative is unlimited */
	if (!res->pids.limit.set || res->pids.limit.v == 0)
		return 0;
	int fd = v1_dir_get(cg, CGROUP_C_PIDS, "linux.resources.pids", err);
	if (fd < 0)
		return -1;
	if (res->pids.limit.v < 0)
		return cgroup_write(fd, "pids.max", "max", "linux.resources.pids.limit", err);
	return i64_write(fd, "pids.max", "linux.resources.pids.limit", res->pids.limit.v, err);
}

/* CFQ's blkio.* files, or BFQ's blkio.bfq.* when the former do not exist. */
static int v1_blkio_weight_write(int fd, const char *file, const char *field, const char *value,
			   struct cella_error *err)
{
	char bfq[64];
	if (cgroup_write(fd, file, value, field, err) == 0)
		return 0;
	if (err->code != ENOENT)
		return -1;
	snprintf(bfq, sizeof(bfq), "blkio.bfq.%s", file + strlen("blkio."));
	return cgroup_write(fd, bfq, value, field, err);
}

static int v1_throttle_write(int fd, const char *file, const char *field, const struct oci_throttle_device *t,
		       size_t n, struct cella_error *err)
{
	for (size_t i = 0; i < n; i++)
		if (cgroup_writef(fd, file, field, err, "%" PRId64 ":%" PRId64 " %" PRIu64,
				  t[i].major, t[i].minor, t[i].rate) < 0)
			return -1;
	return 0;
}

static int v1_blkio_apply(struct cgroup *cg, const struct oci_resources *res, struct cella_error *err)
{
	const typeof(res->blkio) *b = &res->blkio;
	char buf[64];
	if (!b->has_weight && !b->has_leaf_weight && !b->n_weight_device && !b->n_throttle_read_bps &&
	    !b->n_throttle_write_bps && !b->n_throttle_read_iops && !b->n_throttle_write_iops)
		return 0;
	int fd = v1_dir_get(cg, CGROUP_C_IO, "linux.resources.blockIO", err);
	if (fd < 0)
		return -1;
	if (b->has_weight) {
		snprintf(buf, sizeof(buf), "%u", b->weight);
		if (v1_blkio_weight_write(fd, "blkio.weight", "linux.resources.blockIO.weight", buf, err) < 0)
			return -1;
	}
	if (b->has_leaf_weight) {
		snprintf(buf, sizeof(buf), "%u", b->leaf_weight);
		if (cgroup_write(fd, "blkio.leaf_weight", buf, "linux.resources.blockIO.leafWeight", err) < 0)
			return -1;
	}
	for (size_t i = 0; i < b->n_weight_device; i++) {
		const struct oci_weight_device *w = &b->weight_device[i];
		if (w->has_weight) {
			snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %u", w->major, w->minor, w->weight);
			if (v1_blkio_weight_write(fd, "blkio.weight_device", "linux.resources.blockIO.weightDevice", buf, err) < 0)
				return -1;
		}
		if (w->has_leaf_weight) {
			snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %u", w->major, w->minor, w->leaf_weight);
			if (cgroup_write(fd, "blkio.leaf_weight_device", buf, "linux.resources.blockIO.weightDevice", err) < 0)
				return -1;
		}
	}
	if (v1_throttle_write(fd, "blkio.throttle.read_bps_device", "linux.resources.blockIO.throttleReadBpsDevice",
			b->throttle_read_bps, b->n_throttle_read_bps, err) < 0 ||
	    v1_throttle_write(fd, "blkio.throttle.write_bps_device", "linux.resources.blockIO.throttleWriteBpsDevice",
			b->throttle_write_bps, b->n_throttle_write_bps, err) < 0 ||
	    v1_throttle_write(fd, "blkio.throttle.read_iops_device", "linux.resources.blockIO.throttleReadIOPSDevice",
			b->throttle_read_iops, b->n_throttle_read_iops, err) < 0 ||
	    v1_throttle_write(fd, "blkio.throttle.write_iops_device", "linux.resources.blockIO.throttleWriteIOPSDevice",
			b->throttle_write_iops, b->n_throttle_write_iops, err) < 0)
		return -1;
	return 0;
}

static int v1_hugetlb_apply(struct cgroup *cg, const struct oci_resources *res, struct cella_error *err)
{
	char file[64];
	if (!res->n_hugepage_limits)
		return 0;
	int fd = v1_dir_get(cg, CGROUP_C_HUGETLB, "linux.resources.hugepageLimits", err);
	if (fd < 0)
		return -1;
	for (size_t i = 0; i < res->n_hugepage_limits; i++) {
		snprintf(file, sizeof(file), "hugetlb.%s.limit_in_bytes", res->hugepage_limits[i].page_size);
		if (u64_write(fd, file, "linux.resources.hugepageLimits", res->hugepage_limits[i].limit, err) < 0)
			return -1;
	}
	return 0;
}

static void v1_device_id_format(char *buf, size_t len, int64_t v)
{
	if (v < 0)
		snprintf(buf, len, "*");
	else
		snprintf(buf, len, "%" PRId64, v);
}

/*
 * One write per rule, in order, to devices.allow or devices.deny.  "a" alone
 * resets the whole list (whatever the access), so it is only used for the
 * full wildcard; "a" with an access subset or a major/minor becomes a "c"
 * and a "b" rule, which is what it means.
 */
static int v1_devices_apply(struct cgroup *cg, const struct oci_device_rule *rules, size_t n_rules,
		      struct cella_error *err)
{
	int fd = v1_dir_get(cg, CGROUP_C_DEVICES, "linux.resources.devices", err);
	if (fd < 0)
		return -1;
	cleanup_close int allow = openat(fd, "devices.allow", O_WRONLY | O_CLOEXEC);
	cleanup_close int deny = openat(fd, "devices.deny", O_WRONLY | O_CLOEXEC);
	if (allow < 0 || deny < 0)
		return cella_error_set(err, errno, "linux.resources.devices: open devices.allow/deny");
	for (size_t i = 0; i < n_rules; i++) {
		const struct oci_device_rule *r = &rules[i];
		char line[3][64], maj[24], min[24];
		size_t n = 0;
		if (!r->access[0])
			continue;
		v1_device_id_format(maj, sizeof(maj), r->major);
		v1_device_id_format(min, sizeof(min), r->minor);
		if (r->type == 'a' && r->major < 0 && r->minor < 0 && strchr(r->access, 'r') &&
		    strchr(r->access, 'w') && strchr(r->access, 'm')) {
			snprintf(line[n++], sizeof(line[0]), "a");
		} else {
			if (r->type == 'a' || r->type == 'c')
				snprintf(line[n++], sizeof(line[0]), "c %s:%s %s", maj, min, r->access);
			if (r->type == 'a' || r->type == 'b')
				snprintf(line[n++], sizeof(line[0]), "b %s:%s %s", maj, min, r->access);
		}
		for (size_t k = 0; k < n; k++) {
			ssize_t w;
			do
				w = write(r->allow ? allow : deny, line[k], strlen(line[k]));
			while (w < 0 && errno == EINTR);
			if (w < 0)
				return cella_error_set(err, errno, "linux.resources.devices: write `%s` to %s", line[k],
						       r->allow ? "devices.allow" : "devices.deny");
		}
	}
	return 0;
}

int cgroup_v1_apply(struct cgroup *cg, const struct oci_resources *res,
		    const struct oci_device_rule *rules, size_t n_rules, bool update,
		    struct cella_error *err)
{
	if (res) {
		if (v1_memory_apply(cg, res, update, err) < 0 || v1_cpu_apply(cg, res, err) < 0 ||
		    v1_pids_apply(cg, res, err) < 0 || v1_blkio_apply(cg, res, err) < 0 ||
		    v1_hugetlb_apply(cg, res, err) < 0)
			return -1;
	}
	if (rules && v1_devices_apply(cg, rules, n_rules, err) < 0)
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Freezer                                                              */

int cgroup_v1_is_frozen(struct cgroup_hier *h, struct cella_error *err)
{
	char buf[32];
	if (cgroup_read(h->fd, "freezer.state", buf, sizeof(buf), err) < 0)
		return -1;
	return !strncmp(buf, "FROZEN", 6);
}

/*
 * Thawing is immediate; freezing goes through FREEZING until every task
 * stopped.  Poll (the first check without sleeping) and write FROZEN again
 * now and then, as tasks that were forking can make it stall.
 */
int cgroup_v1_freeze(struct cgroup_hier *h, bool frozen, struct cella_error *err)
{
	const char *want = frozen ? "FROZEN" : "THAWED";
	long long deadline = cgroup_now_ms() + V1_FREEZE_TIMEOUT_MS;
	unsigned us = 50;
	for (int i = 0;; i++) {
		if (i % 16 == 0 && cgroup_write(h->fd, "freezer.state", want, "freezer.state", err) < 0)
			return -1;
		char buf[32];
		if (cgroup_read(h->fd, "freezer.state", buf, sizeof(buf), err) < 0)
			return -1;
		if (!strncmp(buf, want, strlen(want)))
			return 0;
		if (cgroup_now_ms() > deadline) {
			struct cella_error ignored;
			if (frozen)
				cgroup_write(h->fd, "freezer.state", "THAWED", "freezer.state", &ignored);
			return cella_error_set(err, ETIMEDOUT, "freezer.state still not %s after %d s", want,
					       V1_FREEZE_TIMEOUT_MS / 1000);
		}
		cgroup_backoff_sleep(&us);
	}
}

/* ------------------------------------------------------------------ */
/* Mount                                                                */

#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001
#endif
#ifndef FSMOUNT_CLOEXEC
#define FSMOUNT_CLOEXEC 0x00000001
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_SYMLINKS
#define MOVE_MOUNT_T_SYMLINKS 0x00000010
#endif
enum { V1_FSCONFIG_SET_STRING = 1, V1_FSCONFIG_CMD_CREATE = 6 };


/* A detached tmpfs (mode=755) moved onto target; returns an fd on its root. */
static int v1_tmpfs_mount(const char *target, struct cella_error *err)
{
	cleanup_close int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
	if (fs < 0)
		return cella_error_set(err, errno, "fsopen tmpfs");
	if (syscall(SYS_fsconfig, fs, V1_FSCONFIG_SET_STRING, "mode", "755", 0) < 0 ||
	    syscall(SYS_fsconfig, fs, V1_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return cella_error_set(err, errno, "create tmpfs");
	int mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0);
	if (mnt < 0)
		return cella_error_set(err, errno, "fsmount tmpfs");
	/* follow `target` like mount(2) does: it is often a /proc/self/fd link */
	if (syscall(SYS_move_mount, mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_SYMLINKS) < 0) {
		int e = errno;
		close(mnt);
		return cella_error_set(err, e, "move tmpfs onto the cgroup mount point");
	}
	return mnt;
}

/*
 * The v1 view of a container: a tmpfs with one directory per hierarchy,
 * named as on the host ("cpu,cpuacct", "systemd"), each a bind mount of the
 * container's own cgroup directory in that hierarchy (so it is the root of
 * what the container sees, with or without a cgroup namespace), symlinks for
 * co-mounted controllers, and "unified" on hybrid.  Bind mounts of the
 * directories cgroup_create() made cost a fraction of new cgroup superblock
 * mounts, and need no mountinfo parsing in the container's init.  Runs
 * before pivot_root, while the host's hierarchies are still visible.
 */
int cgroup_v1_mount(struct cgroup *cg, const char *target, unsigned long flags,
		    struct cella_error *err)
{
	cleanup_close int mnt = v1_tmpfs_mount(target, err);
	if (mnt < 0)
		return -1;
	for (size_t i = 0; i < cg->n_hier; i++) {
		const struct cgroup_hier *h = &cg->hier[i];
		const char *dir = strrchr(h->mountpoint, '/') + 1;
		char src[4096], dst[512];
		if (h->fd < 0)
			continue;
		if (mkdirat(mnt, dir, 0755) < 0 && errno != EEXIST)
			return cella_error_set(err, errno, "mkdir %s in the cgroup tmpfs", dir);
		/* by path: the fds belong to the mount namespace of our parent */
		snprintf(src, sizeof(src), "%s/%s", h->mountpoint, cg->rel);
		snprintf(dst, sizeof(dst), "/proc/self/fd/%d/%s", mnt, dir);
		if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
			return cella_error_set(err, errno, "bind the %s cgroup", dir);
		for (unsigned bit = 1; bit && bit <= CGROUP_C_MISC; bit <<= 1) {
			const char *c = cgroup_controller_name(bit, false);
			if (!h->v2 && (h->controllers & bit) && strcmp(c, dir) &&
			    symlinkat(dir, mnt, c) < 0 && errno != EEXIST)
				return cella_error_set(err, errno, "symlink %s -> %s in the cgroup tmpfs", c, dir);
		}
	}
	/* one call sets the flags on the tmpfs and every bind below it */
	if (flags && mount_attrs_apply(mnt, true, flags, 0) < 0)
		return cella_error_set(err, errno, "set the cgroup mount options");
	return 0;
}
