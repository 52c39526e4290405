/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sysinfo(2) answered for the guest.  `free`, `uptime` and `top` of
 * busybox (and anything else asking the kernel rather than /proc) would
 * see the host's memory and uptime: the VPS's seccomp filter sends
 * sysinfo to us (SCMP_ACT_NOTIFY), and we fill in the guest's own figures,
 * as Incus does with security.syscalls.intercept.sysinfo.
 *
 * Each process tree with the filter (the init, each `exec`) brings its own
 * listener fd, handed to us over seccomp.sock by the engine.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <unistd.h>

#include "monitor_proc.h"
#include "monitor_sysinfo.h"
#include "util.h"

#ifndef SECCOMP_IOCTL_NOTIF_RECV
#define SECCOMP_IOCTL_NOTIF_RECV SECCOMP_IOWR(0, struct seccomp_notif)
#define SECCOMP_IOCTL_NOTIF_SEND SECCOMP_IOWR(1, struct seccomp_notif_resp)
#define SECCOMP_IOCTL_NOTIF_ID_VALID SECCOMP_IOW(2, __u64)
#endif

void sysinfo_init(struct sysinfo_hub *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < SYSINFO_MAX_LISTENERS; i++)
		s->fds[i] = -1;
	s->listen_fd = -1;
}

/* One connection from the engine: the OCI seccomp state document with the listener fd. */
void sysinfo_accept(struct sysinfo_hub *s)
{
	cleanup_close int conn = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		return;
	char buf[4096];
	int fd = -1;
	if (fd_recv(conn, buf, sizeof(buf), &fd) <= 0 || fd < 0)
		return;
	for (size_t i = 0; i < SYSINFO_MAX_LISTENERS; i++) {
		if (s->fds[i] < 0) {
			s->fds[i] = fd;
			return;
		}
	}
	/* full: that tree's sysinfo calls fail with ENOSYS once the fd is gone */
	close(fd);
}

static void guest_sysinfo(const struct sysinfo_hub *s, pid_t init, struct sysinfo *si)
{
	sysinfo(si);
	struct guest_mem g;
	guest_mem_read(init, &g);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long up = now.tv_sec - s->started.tv_sec;
	si->uptime = up < 0 ? 0 : up;
	if (!g.limited)
		return;
	/* KiB units for everything: the host's swap rescaled when the guest has no swap limit */
	unsigned long long unit = si->mem_unit ? si->mem_unit : 1;
	si->totalswap = g.swap_total >= 0 ? (unsigned long)g.swap_total : (unsigned long)(si->totalswap * unit / 1024);
	si->freeswap = g.swap_total >= 0 ? (unsigned long)g.swap_free : (unsigned long)(si->freeswap * unit / 1024);
	si->mem_unit = 1024;
	si->totalram = (unsigned long)g.total;
	si->freeram = (unsigned long)g.free;
	si->sharedram = (unsigned long)g.shmem;
	si->bufferram = 0;
}

static void handle_one(struct sysinfo_hub *s, int fd, pid_t init)
{
	struct seccomp_notif req;
	struct seccomp_notif_resp resp;
	memset(&req, 0, sizeof(req));
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
		return;
	memset(&resp, 0, sizeof(resp));
	resp.id = req.id;
	if (req.data.nr != __NR_sysinfo) {
		resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
		return;
	}
	struct sysinfo si;
	guest_sysinfo(s, init, &si);
	/*
	 * The caller's memory, opened first and checked after: if the request
	 * is still live, the pid was not reused in between and the fd is the
	 * caller's (the kernel's own advice for user notification).
	 */
	char mem[64];
	snprintf(mem, sizeof(mem), "/proc/%u/mem", req.pid);
	cleanup_close int memfd = open(mem, O_RDWR | O_CLOEXEC);
	if (memfd < 0 || ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &req.id) < 0) {
		if (memfd >= 0)
			return; /* gone: nobody waits for an answer */
		resp.error = -EFAULT;
	} else if (pwrite(memfd, &si, sizeof(si), (off_t)req.data.args[0]) != (ssize_t)sizeof(si)) {
		resp.error = -EFAULT;
	} else {
		resp.error = 0;
		resp.val = 0;
	}
	ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

int sysinfo_pollfds(const struct sysinfo_hub *s, struct pollfd *p)
{
	int n = 0;
	p[n++] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
	for (size_t i = 0; i < SYSINFO_MAX_LISTENERS; i++)
		p[n++] = (struct pollfd){ .fd = s->fds[i], .events = POLLIN };
	return n;
}

void sysinfo_events(struct sysinfo_hub *s, const struct pollfd *p, pid_t init)
{
	if (p[0].revents & POLLIN)
		sysinfo_accept(s);
	for (size_t i = 0; i < SYSINFO_MAX_LISTENERS; i++) {
		short ev = p[1 + i].revents;
		if (s->fds[i] < 0 || !ev)
			continue;
		if (ev & POLLIN)
			handle_one(s, s->fds[i], init);
		else if (ev & (POLLHUP | POLLERR | POLLNVAL)) {
			/* every process of that tree is gone */
			close(s->fds[i]);
			s->fds[i] = -1;
		}
	}
}

void sysinfo_reset(struct sysinfo_hub *s)
{
	for (size_t i = 0; i < SYSINFO_MAX_LISTENERS; i++) {
		if (s->fds[i] >= 0)
			close(s->fds[i]);
		s->fds[i] = -1;
	}
}
