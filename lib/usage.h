/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Resource usage of a running guest from its cgroups (lib/usage.c). */
#ifndef CELLA_USAGE_H
#define CELLA_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct usage {
	long long cpu_ns;
	long long memory_usage, memory_peak, memory_limit; /* -1: unknown / none */
	long long processes;
	long long io_read, io_write;                       /* bytes */
};

/* The host directory of pid's cgroup for v1 controller `ctrl`, or of its v2 cgroup (ctrl NULL);
 * with base (the container's cgroup path), that one rather than a cgroup below it. */
bool cgroup_dir_of(pid_t pid, const char *base, const char *ctrl, char *out, size_t len);
long long cgroup_read_ll(const char *dir, const char *file);       /* -1 if absent or "max" */
long long cgroup_read_key(const char *dir, const char *file, const char *key);
void usage_read(pid_t pid, const char *base, struct usage *u);
/* pid's cgroup is frozen (or freezing). */
bool cgroup_frozen(pid_t pid, const char *base);

#endif
