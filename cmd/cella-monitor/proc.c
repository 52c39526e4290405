/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /proc/meminfo, /proc/uptime and /proc/cpuinfo as the guest should see
 * them: its memory limit and usage, the time since its own boot, the CPUs
 * of its cpuset (as OpenVZ showed them, and lxcfs does with FUSE).  The
 * files live in RUN/instances/NAME/proc, are bound read-only over the
 * guest's /proc entries, and are rewritten in place every second.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "monitor_proc.h"
#include "usage.h"
#include "util.h"

/* the guest's own cgroup path (linux.cgroupsPath), NULL until known */
const char *cgroup_base;

const char *const monitor_proc_files[MONITOR_PROC_FILES] = { "meminfo", "uptime", "cpuinfo" };

void monitor_proc_init(struct monitor_proc *p, const char *dir, const char *name)
{
	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	snprintf(p->name, sizeof(p->name), "%s", name);
}

static void write_in_place(const char *dir, const char *name, const char *text, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0444);
	if (fd < 0)
		return;
	/* the file stays the one bound into the guest: rewrite, never replace */
	if (pwrite(fd, text, len, 0) == (ssize_t)len && ftruncate(fd, (off_t)len) < 0) {
		/* a stale tail is harmless until the next refresh */
	}
}

/* The guest's memory as its cgroup sees it, in KiB; limited false: the host's figures apply. */
void guest_mem_read(pid_t pid, struct guest_mem *g)
{
	char dir[512];
	long long limit = -1, usage = -1, cache = 0, swlimit = -1, swusage = -1, shmem = 0;
	if (pid > 0 && cgroup_dir_of(pid, cgroup_base, "memory", dir, sizeof(dir))) {
		limit = cgroup_read_ll(dir, "memory.limit_in_bytes");
		usage = cgroup_read_ll(dir, "memory.usage_in_bytes");
		cache = cgroup_read_key(dir, "memory.stat", "total_cache");
		shmem = cgroup_read_key(dir, "memory.stat", "total_shmem");
		swlimit = cgroup_read_ll(dir, "memory.memsw.limit_in_bytes");
		swusage = cgroup_read_ll(dir, "memory.memsw.usage_in_bytes");
	} else if (pid > 0 && cgroup_dir_of(pid, cgroup_base, NULL, dir, sizeof(dir))) {
		limit = cgroup_read_ll(dir, "memory.max");
		usage = cgroup_read_ll(dir, "memory.current");
		cache = cgroup_read_key(dir, "memory.stat", "file");
		shmem = cgroup_read_key(dir, "memory.stat", "shmem");
		long long sw = cgroup_read_ll(dir, "memory.swap.max");
		swlimit = sw >= 0 && limit >= 0 ? limit + sw : -1;
		long long su = cgroup_read_ll(dir, "memory.swap.current");
		swusage = su >= 0 && usage >= 0 ? usage + su : -1;
	}
	/* v1 says "no limit" with a huge number */
	if (swlimit >= (1LL << 62))
		swlimit = -1;
	long long host_total = sysconf(_SC_PHYS_PAGES) * (sysconf(_SC_PAGESIZE) / 1024);
	memset(g, 0, sizeof(*g));
	g->limited = limit > 0 && usage >= 0 && limit / 1024 < host_total;
	g->total = g->limited ? limit / 1024 : host_total;
	long long used = usage >= 0 ? usage / 1024 : 0;
	g->cached = cache > 0 ? cache / 1024 : 0;
	g->shmem = shmem > 0 ? shmem / 1024 : 0;
	g->free = g->total > used ? g->total - used : 0;
	long long avail = g->free + g->cached - g->shmem;
	g->available = avail < 0 ? 0 : avail > g->total ? g->total : avail;
	g->swap_total = swlimit > 0 && limit > 0 && swlimit >= limit ? (swlimit - limit) / 1024 : -1;
	long long swused = swusage >= 0 && usage >= 0 && swusage >= usage ? (swusage - usage) / 1024 : 0;
	g->swap_free = g->swap_total > swused ? g->swap_total - swused : 0;
}

static char *meminfo_text(pid_t pid)
{
	struct cella_error err;
	cleanup_free char *host = read_file_at(AT_FDCWD, "/proc/meminfo", NULL, &err);
	if (!host)
		return NULL;
	struct guest_mem g;
	guest_mem_read(pid, &g);
	bool limited = g.limited;
	size_t len = strlen(host) + 256;
	char *out = xmalloc0(len);
	size_t o = 0;
	for (char *line = strtok(host, "\n"); line; line = strtok(NULL, "\n")) {
		char key[64];
		long long v = 0;
		if (sscanf(line, "%63[^:]: %lld", key, &v) < 1)
			continue;
		if (limited) {
			if (!strcmp(key, "MemTotal"))
				v = g.total;
			else if (!strcmp(key, "MemFree"))
				v = g.free;
			else if (!strcmp(key, "MemAvailable"))
				v = g.available;
			else if (!strcmp(key, "Cached"))
				v = g.cached;
			else if (!strcmp(key, "Buffers") || !strcmp(key, "SReclaimable") || !strcmp(key, "Slab") ||
				 !strcmp(key, "SUnreclaim"))
				/* the host's kernel memory is not the guest's (free counts it as cache) */
				v = 0;
			else if (!strcmp(key, "Shmem"))
				v = g.shmem;
			else if (!strcmp(key, "SwapTotal") && g.swap_total >= 0)
				v = g.swap_total;
			else if (!strcmp(key, "SwapFree") && g.swap_total >= 0)
				v = g.swap_free;
			else
				goto copy;
			o += (size_t)snprintf(out + o, len - o, "%-16s%8lld kB\n", strcat(key, ":"), v);
			continue;
		}
copy:
		o += (size_t)snprintf(out + o, len - o, "%s\n", line);
	}
	return out;
}

/* The CPUs of the cpuset as a count, and a mask of the first 1024. */
static int cpuset_cpus(pid_t pid, unsigned char *mask, size_t masklen)
{
	char dir[512], path[600], buf[4096];
	memset(mask, 0, masklen);
	if (pid <= 0)
		return -1;
	if (cgroup_dir_of(pid, cgroup_base, "cpuset", dir, sizeof(dir)))
		snprintf(path, sizeof(path), "%s/cpuset.effective_cpus", dir);
	else if (cgroup_dir_of(pid, cgroup_base, NULL, dir, sizeof(dir)))
		snprintf(path, sizeof(path), "%s/cpuset.cpus.effective", dir);
	else
		return -1;
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	int count = 0;
	for (char *p = buf; *p && *p != '\n';) {
		char *end;
		long a = strtol(p, &end, 10), b = a;
		if (end == p)
			break;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (long c = a; c <= b && c < (long)masklen; c++, count++)
			mask[c] = 1;
		p = *end == ',' ? end + 1 : end;
	}
	return count;
}

static char *cpuinfo_text(pid_t pid)
{
	struct cella_error err;
	cleanup_free char *host = read_file_at(AT_FDCWD, "/proc/cpuinfo", NULL, &err);
	unsigned char mask[1024];
	if (!host)
		return NULL;
	if (cpuset_cpus(pid, mask, sizeof(mask)) <= 0)
		return steal_pointer(&host);
	size_t len = strlen(host) + 1, o = 0;
	char *out = xmalloc0(len + 64);
	int next = 0;
	/* blocks separated by blank lines, each starting "processor : N" */
	for (char *blk = host; blk && *blk;) {
		char *end = strstr(blk, "\n\n");
		size_t bl = end ? (size_t)(end - blk) + 2 : strlen(blk);
		int cpu = -1;
		sscanf(blk, "processor : %d", &cpu);
		if (sscanf(blk, "processor\t: %d", &cpu) == 1 || cpu >= 0) {
			if (cpu >= 0 && cpu < (int)sizeof(mask) && mask[cpu]) {
				char *nl = memchr(blk, '\n', bl);
				o += (size_t)snprintf(out + o, len + 64 - o, "processor\t: %d", next++);
				if (nl) {
					memcpy(out + o, nl, bl - (size_t)(nl - blk));
					o += bl - (size_t)(nl - blk);
				}
			}
		}
		blk = end ? end + 2 : NULL;
	}
	out[o] = '\0';
	return out;
}

int monitor_proc_refresh(struct monitor_proc *p, pid_t init, struct cella_error *err)
{
	if (mkdir(p->dir, 0755) < 0 && errno != EEXIST)
		return cella_error_set(err, errno, "create %s", p->dir);
	cleanup_free char *mem = meminfo_text(init);
	cleanup_free char *cpu = cpuinfo_text(init);
	char up[128];
	double secs = 0;
	if (init > 0) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		secs = (double)(now.tv_sec - p->started.tv_sec) + (double)(now.tv_nsec - p->started.tv_nsec) / 1e9;
	}
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	snprintf(up, sizeof(up), "%.2f %.2f\n", secs, secs * (double)ncpu);
	if (mem)
		write_in_place(p->dir, "meminfo", mem, strlen(mem));
	write_in_place(p->dir, "uptime", up, strlen(up));
	if (cpu)
		write_in_place(p->dir, "cpuinfo", cpu, strlen(cpu));
	return 0;
}
