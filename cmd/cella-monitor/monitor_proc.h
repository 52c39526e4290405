/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The guest's own /proc/{meminfo,uptime,cpuinfo} (cmd/cella-monitor/proc.c). */
#ifndef CELLA_MONITOR_PROC_H
#define CELLA_MONITOR_PROC_H

#include <sys/types.h>
#include <time.h>

#include <cella/error.h>

#define MONITOR_PROC_FILES 3
extern const char *const monitor_proc_files[MONITOR_PROC_FILES];

struct monitor_proc {
	char dir[4096];
	char name[256];
	struct timespec started;   /* CLOCK_MONOTONIC of the guest's boot */
};

void monitor_proc_init(struct monitor_proc *p, const char *dir, const char *name);
/* Write the files for the guest whose init is `init` (0: host values, before boot). */
int monitor_proc_refresh(struct monitor_proc *p, pid_t init, struct cella_error *err);

#endif
