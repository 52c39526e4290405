/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cgroup v2 (unified): the OCI resources converted to v2 files as crun does,
 * controllers enabled down the tree, cgroup.freeze and cgroup.kill.  Also
 * serves the hybrid layout's cgroup2 for the unified keys.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "cgroup_internal.h"
#include "util.h"

#define V2_FREEZE_TIMEOUT_MS 5000

uint64_t cgroup_v2_weight_from_shares(uint64_t shares)
{
	if (shares < 2)
		shares = 2;
	if (shares > 262144)
		shares = 262144;
	return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t cgroup_v2_io_weight_from_blkio(uint64_t weight)
{
	if (weight < 10)
		weight = 10;
	if (weight > 1000)
		weight = 1000;
	return 1 + (weight - 10) * 9999 / 990;
}

/* OCI swap is the memory+swap limit (v1's memsw); v2 limits swap alone. */
int cgroup_v2_swap_max(const struct oci_opt_i64 *limit, const struct oci_opt_i64 *swap,
		       int64_t *out, struct cella_error *err)
{
	if (!swap->set || swap->v == 0)    /* 0: unset, as runc reads it */
		return 0;
	if (swap->v == -1) {
		*out = -1;
		return 1;
	}
	if (swap->v < -1)
		return cella_error_set(err, EINVAL, "linux.resources.memory.swap: invalid value %" PRId64, swap->v);
	if (!limit->set || limit->v <= 0)
		return cella_error_set(err, EINVAL,
				       "linux.resources.memory.swap: needs linux.resources.memory.limit "
				       "(OCI swap is memory plus swap)");
	if (swap->v < limit->v)
		return cella_error_set(err, EINVAL,
				       "linux.resources.memory.swap: %" PRId64 " is below memory.limit %" PRId64
				       " (OCI swap is memory plus swap)", swap->v, limit->v);
	*out = swap->v - limit->v;
	return 1;
}

static void ctrl_add(char *buf, size_t len, const char *name, size_t name_len)
{
	/* " +name" unless already there */
	for (const char *p = buf; (p = strstr(p, " +")); p += 2)
		if (!strncmp(p + 2, name, name_len) && (p[2 + name_len] == ' ' || !p[2 + name_len]))
			return;
	size_t n = strlen(buf);
	if (n + name_len + 3 <= len)
		snprintf(buf + n, len - n, " +%.*s", (int)name_len, name);
}

void cgroup_v2_controllers_needed(const struct oci_resources *res, unsigned parts, char *buf, size_t len)
{
	buf[0] = '\0';
	if (!res)
		return;
	if (parts & CGROUP_V2_BASE) {
		const typeof(res->memory) *m = &res->memory;
		const typeof(res->cpu) *c = &res->cpu;
		const typeof(res->blkio) *b = &res->blkio;
		if (m->limit.set || m->reservation.set || m->swap.set)
			ctrl_add(buf, len, "memory", 6);
		if (c->shares.set || c->quota.set || c->period.set || c->idle.set || c->burst.set)
			ctrl_add(buf, len, "cpu", 3);
		if (c->cpus || c->mems)
			ctrl_add(buf, len, "cpuset", 6);
		if (res->pids.limit.set && res->pids.limit.v != 0)
			ctrl_add(buf, len, "pids", 4);
		if (b->has_weight || b->n_weight_device || b->n_throttle_read_bps || b->n_throttle_write_bps ||
		    b->n_throttle_read_iops || b->n_throttle_write_iops)
			ctrl_add(buf, len, "io", 2);
	}
	if ((parts & CGROUP_V2_BASE) && res->n_hugepage_limits)
		ctrl_add(buf, len, "hugetlb", 7);
	if (parts & CGROUP_V2_UNIFIED)
		for (size_t i = 0; i < res->n_unified; i++) {
			const char *k = res->unified[i].key;
			size_t n = strcspn(k, ".");
			if (k[n] && strncmp(k, "cgroup", n))
				ctrl_add(buf, len, k, n);
		}
}

/*
 * Enable `controllers` (" +a +b") in cgroup.subtree_control of the
 * hierarchy root and of every ancestor of the leaf.  Asking for what is
 * enabled already is a no-op in the kernel, so there is no read first; on
 * failure, cgroup.controllers tells which one is missing.
 */
int cgroup_v2_enable(struct cgroup *cg, struct cgroup_hier *h, const char *controllers,
		     struct cella_error *err)
{
	char path[2100];
	if (!controllers[0])
		return 0;
	for (size_t l = 0; l < cg->depth; l++) {
		/* l = 0: the root; l > 0: the first l components */
		size_t plen = l ? cg->ends[l - 1] : 0;
		snprintf(path, sizeof(path), "%.*s%scgroup.subtree_control", (int)plen, cg->rel, plen ? "/" : "");
		if (cgroup_write(h->rootfd, path, controllers + 1, "linux.resources", err) == 0)
			continue;
		int e = err->code;
		char avail[256] = "";
		struct cella_error ignored;
		snprintf(path, sizeof(path), "%.*s%scgroup.controllers", (int)plen, cg->rel, plen ? "/" : "");
		cgroup_read(h->rootfd, path, avail, sizeof(avail), &ignored);
		avail[strcspn(avail, "\n")] = '\0';
		return cella_error_set(err, e, "linux.resources: enable cgroup v2 controllers `%s` in %s%s%.*s "
				       "(available there: %s)", controllers + 1, h->mountpoint, plen ? "/" : "",
				       (int)plen, cg->rel, avail[0] ? avail : "none");
	}
	return 0;
}

static void v2_max_format(char *buf, size_t len, int64_t v)
{
	if (v < 0)
		snprintf(buf, len, "max");
	else
		snprintf(buf, len, "%" PRId64, v);
}

static int v2_memory_apply(int fd, const struct oci_resources *res, bool update, struct cella_error *err)
{
	const typeof(res->memory) *m = &res->memory;
	char buf[32];
	int64_t swap;
	/* kernel, kernelTCP, swappiness, disableOOMKiller, useHierarchy: no v2 equivalent */
	int has_swap = cgroup_v2_swap_max(&m->limit, &m->swap, &swap, err);
	if (has_swap < 0)
		return -1;
	if (update && m->has_check_before_update && m->check_before_update && m->limit.set && m->limit.v >= 0) {
		if (cgroup_read(fd, "memory.current", buf, sizeof(buf), err) < 0)
			return cella_error_wrap(err, "linux.resources.memory.checkBeforeUpdate");
		buf[strcspn(buf, "\n")] = '\0';
		if (strtoull(buf, NULL, 10) > (uint64_t)m->limit.v)
			return cella_error_set(err, EBUSY, "linux.resources.memory.limit: %" PRId64
					       " is below the current usage %s", m->limit.v, buf);
	}
	if (m->limit.set) {
		v2_max_format(buf, sizeof(buf), m->limit.v);
		if (cgroup_write(fd, "memory.max", buf, "linux.resources.memory.limit", err) < 0)
			return -1;
	}
	if (m->reservation.set) {
		v2_max_format(buf, sizeof(buf), m->reservation.v);
		if (cgroup_write(fd, "memory.low", buf, "linux.resources.memory.reservation", err) < 0)
			return -1;
	}
	if (has_swap) {
		v2_max_format(buf, sizeof(buf), swap);
		if (cgroup_write(fd, "memory.swap.max", buf, "linux.resources.memory.swap", err) < 0)
			return -1;
	}
	return 0;
}

static int v2_cpu_apply(int fd, const struct oci_resources *res, struct cella_error *err)
{
	const typeof(res->cpu) *c = &res->cpu;
	char buf[64];
	if ((c->realtime_runtime.set && c->realtime_runtime.v != 0) ||
	    (c->realtime_period.set && c->realtime_period.v != 0))
		return cella_error_set(err, ENOTSUP,
				       "linux.resources.cpu.realtimeRuntime/realtimePeriod: not supported on cgroup v2");
	if (c->shares.set && c->shares.v != 0 &&
	    cgroup_writef(fd, "cpu.weight", "linux.resources.cpu.shares", err, "%" PRIu64,
			  cgroup_v2_weight_from_shares(c->shares.v)) < 0)
		return -1;
	if (c->quota.set || c->period.set) {
		char quota[32];
		if (c->quota.set) {
			v2_max_format(quota, sizeof(quota), c->quota.v);
		} else {
			/* the period alone: keep the current quota */
			if (cgroup_read(fd, "cpu.max", buf, sizeof(buf), err) < 0)
				return cella_error_wrap(err, "linux.resources.cpu.period");
			snprintf(quota, sizeof(quota), "%.*s", (int)strcspn(buf, " \n"), buf);
		}
		if (c->period.set)
			snprintf(buf, sizeof(buf), "%s %" PRIu64, quota, c->period.v);
		else
			snprintf(buf, sizeof(buf), "%s", quota);   /* the kernel keeps the period */
		if (cgroup_write(fd, "cpu.max", buf, c->quota.set ? "linux.resources.cpu.quota" : "linux.resources.cpu.period",
				 err) < 0)
			return -1;
	}
	if (c->burst.set &&
	    cgroup_writef(fd, "cpu.max.burst", "linux.resources.cpu.burst", err, "%" PRIu64, c->burst.v) < 0)
		return -1;
	if (c->idle.set && cgroup_writef(fd, "cpu.idle", "linux.resources.cpu.idle", err, "%" PRId64, c->idle.v) < 0)
		return -1;
	if (c->cpus && cgroup_write(fd, "cpuset.cpus", c->cpus, "linux.resources.cpu.cpus", err) < 0)
		return -1;
	if (c->mems && cgroup_write(fd, "cpuset.mems", c->mems, "linux.resources.cpu.mems", err) < 0)
		return -1;
	return 0;
}

/*
 * io.bfq.weight takes the blkio weight as is; io.weight (when BFQ is not
 * there) has another range.  `dev` is "MAJ:MIN " or "".
 */
static int v2_io_weight_write(int fd, const char *dev, unsigned weight, const char *field, struct cella_error *err)
{
	if (cgroup_writef(fd, "io.bfq.weight", field, err, "%s%u", dev, weight) == 0)
		return 0;
	if (err->code != ENOENT)
		return -1;
	return cgroup_writef(fd, "io.weight", field, err, "%s%" PRIu64, dev[0] ? dev : "default ",
			     cgroup_v2_io_weight_from_blkio(weight));
}

static int v2_io_max_write(int fd, const char *key, const char *field, const struct oci_throttle_device *t,
		     size_t n, struct cella_error *err)
{
	for (size_t i = 0; i < n; i++) {
		char rate[32];
		if (t[i].rate)
			snprintf(rate, sizeof(rate), "%" PRIu64, t[i].rate);
		else
			snprintf(rate, sizeof(rate), "max");   /* v1's 0: no limit */
		if (cgroup_writef(fd, "io.max", field, err, "%" PRId64 ":%" PRId64 " %s=%s", t[i].major, t[i].minor,
				  key, rate) < 0)
			return -1;
	}
	return 0;
}

static int v2_io_apply(int fd, const struct oci_resources *res, struct cella_error *err)
{
	const typeof(res->blkio) *b = &res->blkio;
	/* leafWeight has no v2 equivalent */
	if (b->has_weight && v2_io_weight_write(fd, "", b->weight, "linux.resources.blockIO.weight", err) < 0)
		return -1;
	for (size_t i = 0; i < b->n_weight_device; i++) {
		const struct oci_weight_device *w = &b->weight_device[i];
		char dev[48];
		if (!w->has_weight)
			continue;
		snprintf(dev, sizeof(dev), "%" PRId64 ":%" PRId64 " ", w->major, w->minor);
		if (v2_io_weight_write(fd, dev, w->weight, "linux.resources.blockIO.weightDevice", err) < 0)
			return -1;
	}
	if (v2_io_max_write(fd, "rbps", "linux.resources.blockIO.throttleReadBpsDevice", b->throttle_read_bps,
		      b->n_throttle_read_bps, err) < 0 ||
	    v2_io_max_write(fd, "wbps", "linux.resources.blockIO.throttleWriteBpsDevice", b->throttle_write_bps,
		      b->n_throttle_write_bps, err) < 0 ||
	    v2_io_max_write(fd, "riops", "linux.resources.blockIO.throttleReadIOPSDevice", b->throttle_read_iops,
		      b->n_throttle_read_iops, err) < 0 ||
	    v2_io_max_write(fd, "wiops", "linux.resources.blockIO.throttleWriteIOPSDevice", b->throttle_write_iops,
		      b->n_throttle_write_iops, err) < 0)
		return -1;
	return 0;
}

int cgroup_v2_apply(struct cgroup *cg, struct cgroup_hier *h, const struct oci_resources *res,
		    unsigned parts, const struct oci_device_rule *rules, size_t n_rules, bool fresh,
		    bool update, struct cella_error *err)
{
	int fd = h->fd;
	if (fd < 0)
		return cella_error_set(err, ENOENT, "cgroup %s is missing in %s", cg->path, h->mountpoint);
	if (res && (parts & CGROUP_V2_BASE)) {
		if (v2_memory_apply(fd, res, update, err) < 0 || v2_cpu_apply(fd, res, err) < 0)
			return -1;
		if (res->pids.limit.set && res->pids.limit.v != 0) {
			char buf[32];
			v2_max_format(buf, sizeof(buf), res->pids.limit.v);
			if (cgroup_write(fd, "pids.max", buf, "linux.resources.pids.limit", err) < 0)
				return -1;
		}
		if (v2_io_apply(fd, res, err) < 0)
			return -1;
	}
	if (res && (parts & CGROUP_V2_BASE))
		for (size_t i = 0; i < res->n_hugepage_limits; i++) {
			char file[64];
			snprintf(file, sizeof(file), "hugetlb.%s.max", res->hugepage_limits[i].page_size);
			if (cgroup_writef(fd, file, "linux.resources.hugepageLimits", err, "%" PRIu64,
					  res->hugepage_limits[i].limit) < 0)
				return -1;
		}
	if (res && (parts & CGROUP_V2_UNIFIED))
		for (size_t i = 0; i < res->n_unified; i++) {
			char field[300];
			snprintf(field, sizeof(field), "linux.resources.unified.%s", res->unified[i].key);
			if (cgroup_write(fd, res->unified[i].key, res->unified[i].value, field, err) < 0)
				return -1;
		}
	if (rules && (parts & CGROUP_V2_BASE) &&
	    cgroup_ebpf_apply(fd, rules, n_rules, !fresh, err) < 0)
		return cella_error_wrap(err, "linux.resources.devices");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Freeze and kill                                                      */

/* The value of `key` in a "key value\n" file such as cgroup.events; -1 if absent. */
static long long keyed_value_get(const char *text, const char *key)
{
	size_t n = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, n) && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
	return -1;
}

int cgroup_v2_is_frozen(struct cgroup_hier *h, struct cella_error *err)
{
	char buf[256];
	if (cgroup_read(h->fd, "cgroup.events", buf, sizeof(buf), err) < 0)
		return -1;
	return keyed_value_get(buf, "frozen") == 1;
}

/* Write cgroup.freeze, then wait for cgroup.events to say "frozen N": the
 * kernel signals changes of that file as POLLPRI. */
int cgroup_v2_freeze(struct cgroup_hier *h, bool frozen, struct cella_error *err)
{
	if (cgroup_write(h->fd, "cgroup.freeze", frozen ? "1" : "0", "cgroup.freeze", err) < 0)
		return -1;
	cleanup_close int fd = openat(h->fd, "cgroup.events", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cella_error_set(err, errno, "open cgroup.events");
	long long deadline = cgroup_now_ms() + V2_FREEZE_TIMEOUT_MS;
	for (;;) {
		char buf[256];
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0)
			return cella_error_set(err, errno, "read cgroup.events");
		buf[n] = '\0';
		if (keyed_value_get(buf, "frozen") == frozen)
			return 0;
		long long left = deadline - cgroup_now_ms();
		if (left <= 0)
			return cella_error_set(err, ETIMEDOUT, "cgroup.events still not frozen %d after %d s", frozen,
					       V2_FREEZE_TIMEOUT_MS / 1000);
		struct pollfd p = { .fd = fd, .events = POLLPRI };
		/* bounded: a notification between our read and poll() is not lost for long */
		if (poll(&p, 1, left < 50 ? (int)left : 50) < 0 && errno != EINTR)
			return cella_error_set(err, errno, "poll cgroup.events");
	}
}

int cgroup_v2_kill(struct cgroup_hier *h, struct cella_error *err)
{
	if (cgroup_write(h->fd, "cgroup.kill", "1", "cgroup.kill", err) == 0)
		return 1;
	return err->code == ENOENT ? 0 : -1;   /* before Linux 5.14 */
}
