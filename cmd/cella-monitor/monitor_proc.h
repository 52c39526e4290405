/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The guest's own /proc/{meminfo,uptime,cpuinfo} (cmd/cella-monitor/proc.c). */
#ifndef CELLA_MONITOR_PROC_H
#define CELLA_MONITOR_PROC_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include <cella/error.h>

#define MONITOR_PROC_FILES 3
/* The guest's own cgroup path (its bundle's linux.cgroupsPath): usage is read there, not below. */
extern const char *cgroup_base;
extern const char *const monitor_proc_files[MONITOR_PROC_FILES];

struct monitor_proc {
	char dir[4096];
	char name[256];
	struct timespec started;   /* CLOCK_MONOTONIC of the guest's boot */
};

/* The guest's memory (KiB) as its cgroup sees it; limited: under the host's. */
struct guest_mem {
	bool limited;
	long long total, free, available, cached, shmem, swap_total /* -1: the host's */, swap_free;
};
void guest_mem_read(pid_t pid, struct guest_mem *g);

void monitor_proc_init(struct monitor_proc *p, const char *dir, const char *name);
/* Write the files for the guest whose init is `init` (0: host values, before boot). */
int monitor_proc_refresh(struct monitor_proc *p, pid_t init, struct cella_error *err);

#endif
