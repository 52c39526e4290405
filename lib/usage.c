/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a running guest uses, read from its cgroups as the host sees them
 * (through /proc/PID/cgroup of its init): v1 controllers on a hybrid host,
 * the unified tree on cgroup v2.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "usage.h"
#include "util.h"

#define CGROUP2_MAGIC 0x63677270

/* The container's own cgroup, not its init's below it (systemd's init.scope). */
static const char *cgroup_trim(const char *cg, const char *base)
{
	size_t n = base ? strlen(base) : 0;
	if (n && !strncmp(cg, base, n) && (cg[n] == '/' || cg[n] == '\0'))
		return base;
	return cg;
}

bool cgroup_dir_of(pid_t pid, const char *base, const char *ctrl, char *out, size_t len)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	cleanup_fclose FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctrls = c1 + 1, *cg = c2 + 1;
		if (ctrl) {
			char want[64], have[256];
			snprintf(want, sizeof(want), ",%s,", ctrl);
			snprintf(have, sizeof(have), ",%s,", ctrls);
			if (!*ctrls || !strstr(have, want))
				continue;
			snprintf(out, len, "/sys/fs/cgroup/%s%s", ctrl, cgroup_trim(cg, base));
			return access(out, F_OK) == 0;
		}
		if (*ctrls)
			continue;
		struct statfs sf;
		bool pure = statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_MAGIC;
		snprintf(out, len, "%s%s", pure ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified", cgroup_trim(cg, base));
		return access(out, F_OK) == 0;
	}
	return false;
}

long long cgroup_read_ll(const char *dir, const char *file)
{
	char path[600], buf[64];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (!strncmp(buf, "max", 3))
		return -1;
	return strtoll(buf, NULL, 10);
}

long long cgroup_read_key(const char *dir, const char *file, const char *key)
{
	char path[600], line[256];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	cleanup_fclose FILE *f = fopen(path, "re");
	size_t kl = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ' ')
			return strtoll(line + kl + 1, NULL, 10);
	return -1;
}

/* Sum of "rbytes="/"wbytes=" over the devices of io.stat. */
static void io_stat_sum(const char *dir, long long *r, long long *w)
{
	char path[600], line[512];
	snprintf(path, sizeof(path), "%s/io.stat", dir);
	cleanup_fclose FILE *f = fopen(path, "re");
	*r = *w = 0;
	while (f && fgets(line, sizeof(line), f)) {
		char *p;
		if ((p = strstr(line, "rbytes=")))
			*r += strtoll(p + 7, NULL, 10);
		if ((p = strstr(line, "wbytes=")))
			*w += strtoll(p + 7, NULL, 10);
	}
}

/* blkio.throttle.io_service_bytes: "M:m Read N" lines. */
static void blkio_sum(const char *dir, long long *r, long long *w)
{
	char path[600], line[256], op[16];
	snprintf(path, sizeof(path), "%s/blkio.throttle.io_service_bytes", dir);
	cleanup_fclose FILE *f = fopen(path, "re");
	*r = *w = 0;
	long long n;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*u:%*u %15s %lld", op, &n) != 2)
			continue;
		if (!strcmp(op, "Read"))
			*r += n;
		else if (!strcmp(op, "Write"))
			*w += n;
	}
}

void usage_read(pid_t pid, const char *base, struct usage *u)
{
	char dir[512], v2[512];
	memset(u, 0, sizeof(*u));
	u->memory_limit = u->memory_usage = u->processes = -1;
	bool has_v2 = cgroup_dir_of(pid, base, NULL, v2, sizeof(v2));
	if (cgroup_dir_of(pid, base, "cpuacct", dir, sizeof(dir)))
		u->cpu_ns = cgroup_read_ll(dir, "cpuacct.usage");
	else if (has_v2)
		u->cpu_ns = cgroup_read_key(v2, "cpu.stat", "usage_usec") * 1000;
	if (cgroup_dir_of(pid, base, "memory", dir, sizeof(dir))) {
		u->memory_usage = cgroup_read_ll(dir, "memory.usage_in_bytes");
		u->memory_peak = cgroup_read_ll(dir, "memory.max_usage_in_bytes");
		u->memory_limit = cgroup_read_ll(dir, "memory.limit_in_bytes");
		if (u->memory_limit >= (1LL << 62))
			u->memory_limit = -1;
	} else if (has_v2) {
		u->memory_usage = cgroup_read_ll(v2, "memory.current");
		u->memory_peak = cgroup_read_ll(v2, "memory.peak");
		u->memory_limit = cgroup_read_ll(v2, "memory.max");
	}
	if (cgroup_dir_of(pid, base, "pids", dir, sizeof(dir)))
		u->processes = cgroup_read_ll(dir, "pids.current");
	else if (has_v2)
		u->processes = cgroup_read_ll(v2, "pids.current");
	if (cgroup_dir_of(pid, base, "blkio", dir, sizeof(dir)))
		blkio_sum(dir, &u->io_read, &u->io_write);
	else if (has_v2)
		io_stat_sum(v2, &u->io_read, &u->io_write);
}

bool cgroup_frozen(pid_t pid, const char *base)
{
	char dir[512], path[600], buf[32];
	if (cgroup_dir_of(pid, base, "freezer", dir, sizeof(dir)))
		snprintf(path, sizeof(path), "%s/freezer.state", dir);
	else if (cgroup_dir_of(pid, base, NULL, dir, sizeof(dir)))
		snprintf(path, sizeof(path), "%s/cgroup.freeze", dir);
	else
		return false;
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return !strncmp(buf, "FROZEN", 6) || !strncmp(buf, "FREEZING", 8) || buf[0] == '1';
}
