/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sysinfo(2) answered for the guest (cmd/cella-monitor/sysinfo.c). */
#ifndef CELLA_MONITOR_SYSINFO_H
#define CELLA_MONITOR_SYSINFO_H

#include <poll.h>
#include <sys/types.h>
#include <time.h>

#define SYSINFO_MAX_LISTENERS 32
#define SYSINFO_POLLFDS (1 + SYSINFO_MAX_LISTENERS)

struct sysinfo_hub {
	int listen_fd;                    /* seccomp.sock: the engine hands listeners here */
	int fds[SYSINFO_MAX_LISTENERS];   /* seccomp notify fds, -1 when free */
	struct timespec started;          /* CLOCK_MONOTONIC of the guest's boot */
};

void sysinfo_init(struct sysinfo_hub *s);
void sysinfo_accept(struct sysinfo_hub *s);
/* Fill SYSINFO_POLLFDS entries; returns how many. */
int sysinfo_pollfds(const struct sysinfo_hub *s, struct pollfd *p);
void sysinfo_events(struct sysinfo_hub *s, const struct pollfd *p, pid_t init);
/* The guest is down: its listeners go. */
void sysinfo_reset(struct sysinfo_hub *s);

#endif
