/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* process.terminal: a pty from the container's devpts, its master sent to
 * the --console-socket with SCM_RIGHTS as runc does. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>

#include "engine.h"
#include "util.h"

int console_socket_connect(const char *path, struct cella_error *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path))
		return cella_error_set(err, ENAMETOOLONG, "--console-socket `%s`", path);
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cella_error_set(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;
		close(fd);
		return cella_error_set(err, e, "connect to --console-socket `%s`", path);
	}
	return fd;
}

int console_create(int sock, const char *ptmx, const struct oci_process *p, int *slave,
		   struct cella_error *err)
{
	cleanup_close int master = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return cella_error_set(err, errno, "process.terminal: open the container's /dev/pts/ptmx");
	int unlock = 0;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		return cella_error_set(err, errno, "process.terminal: unlock pty");
	int s = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0)
		return cella_error_set(err, errno, "process.terminal: open pty peer");
	struct winsize ws;
	if (p->has_console_size) {
		ws = (struct winsize){ .ws_row = p->console_height, .ws_col = p->console_width };
		ioctl(s, TIOCSWINSZ, &ws);
	} else if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) {
		/* our caller's terminal: its size from the first instant, not once the relay starts */
		ioctl(s, TIOCSWINSZ, &ws);
	}
	if (fd_send(sock, "/dev/ptmx", 9, master) < 0) {
		cella_error_set(err, errno, "send the console to --console-socket");
		close(s);
		return -1;
	}
	*slave = s;
	return 0;
}

int console_attach(int slave, struct cella_error *err)
{
	if (setsid() < 0)
		return cella_error_set(err, errno, "setsid");
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		return cella_error_set(err, errno, "set the controlling terminal");
	for (int fd = 0; fd < 3; fd++)
		if (dup2(slave, fd) < 0)
			return cella_error_set(err, errno, "dup the console to fd %d", fd);
	return 0;
}

int console_recv(int sock, struct cella_error *err)
{
	char name[64];
	int fd;
	ssize_t r = fd_recv(sock, name, sizeof(name), &fd);
	if (r <= 0 || fd < 0)
		return cella_error_set(err, r < 0 ? errno : EPROTO, "receive the console of the container");
	return fd;
}

/* Copy what is readable from `from` to `to`; -1 at EOF or error of `from`. */
int console_copy(int from, int to)
{
	char buf[4096];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -1;
	return write_all(to, buf, n) < 0 ? -1 : 0;
}

/* Our terminal in raw mode while a container's pty is relayed to it. */
static bool relay_terminal_raw(struct termios *saved)
{
	struct termios raw;
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, saved) < 0)
		return false;
	raw = *saved;
	cfmakeraw(&raw);
	return tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
}

static void relay_resize(int master)
{
	struct winsize ws;
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
		ioctl(master, TIOCSWINSZ, &ws);
}

/*
 * A foreground runtime stands in for its process: the signals a shell or
 * a supervisor sends us go to it (through its pidfd: no pid reuse), and
 * with a pty we are its terminal.  Signals that report our own faults or
 * job control stay ours.
 */
int console_relay_wait(pid_t pid, int pidfd, int master, int *wstatus, struct cella_error *err)
{
	sigset_t set, old;
	struct termios saved;
	bool raw = false;

	sigemptyset(&set);
	for (int sig = 1; sig < SIGRTMIN; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD && sig != SIGSEGV &&
		    sig != SIGBUS && sig != SIGILL && sig != SIGFPE && sig != SIGTRAP && sig != SIGABRT &&
		    sig != SIGSYS && sig != SIGTTIN && sig != SIGTTOU && sig != SIGTSTP && sig != SIGPIPE)
			sigaddset(&set, sig);
	sigprocmask(SIG_BLOCK, &set, &old);
	cleanup_close int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (master >= 0) {
		raw = relay_terminal_raw(&saved);
		relay_resize(master);
	}
	struct pollfd pfd[4] = {
		{ .fd = pidfd, .events = POLLIN },
		{ .fd = sfd, .events = POLLIN },
		{ .fd = master, .events = POLLIN },
		{ .fd = master >= 0 ? STDIN_FILENO : -1, .events = POLLIN },
	};
	for (;;) {
		if (poll(pfd, ARRAY_SIZE(pfd), -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[2].revents && console_copy(master, STDOUT_FILENO) < 0)
			pfd[2].fd = -1;
		if (pfd[3].revents && console_copy(STDIN_FILENO, master) < 0)
			pfd[3].fd = -1;
		if (pfd[0].revents) {
			/* what it wrote last is still in the pty */
			while (pfd[2].fd >= 0 && poll(&pfd[2], 1, 0) > 0 && console_copy(master, STDOUT_FILENO) == 0)
				;
			break;
		}
		struct signalfd_siginfo si;
		if (pfd[1].revents && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGWINCH && master >= 0)
				relay_resize(master);
			else
				pidfd_send_signal(pidfd, si.ssi_signo, NULL, 0);
		}
	}
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	int r;
	while ((r = waitpid(pid, wstatus, 0)) < 0 && errno == EINTR)
		;
	int e = errno;
	/* Signals meant for the container that came with its exit: drop them
	 * rather than let them kill us before the caller cleans up. */
	struct pollfd spfd = { .fd = sfd, .events = POLLIN };
	struct signalfd_siginfo drop;
	while (sfd >= 0 && poll(&spfd, 1, 0) > 0 && read(sfd, &drop, sizeof(drop)) == sizeof(drop))
		;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		return cella_error_set(err, e, "wait for process %d", (int)pid);
	return 0;
}
