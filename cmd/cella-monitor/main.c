/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cella-monitor: one per running instance, started by libcella (in cellad)
 * and independent of it from then on.  It is the parent of the guest's
 * init and
 *   - holds its console: the pty master, a ring buffer of recent output,
 *     the console log, and any number of attached clients;
 *   - sees how the guest ends: a reboot from inside (the kernel kills a
 *     pid namespace's init with SIGHUP) boots it again, a poweroff or halt
 *     (SIGINT) or an exit stops it; the outcome goes to state.json;
 *   - answers requests on monitor.sock (one JSON line each): status, stop
 *     (the guest's own shutdown signal, SIGKILL after the timeout), restart,
 *     console (the connection becomes the console stream);
 *   - keeps /proc/{meminfo,uptime,cpuinfo} of the guest showing its own
 *     limits and uptime (files it rewrites every second, bound over /proc),
 *     and answers the guest's sysinfo(2) calls with the same (sysinfo.c).
 *
 * Killing cellad leaves every monitor, and so every guest, running.
 *
 * Usage: cella-monitor --run-dir RUN --log-dir LOG --name NAME [--ready-fd N] [--daemonize]
 * RUN/instances/NAME/ holds bundle/config.json, rootfs (mounted) and
 * params.json ({"stop_signal":N,"stop_timeout":S,"restart":"reboot|no|always|on-failure"}).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cella/manager.h>
#include <cella/runtime.h>

#include "monitor_proc.h"
#include "monitor_sysinfo.h"
#include "util.h"

#define RING_SIZE (128 * 1024)
#define MAX_CLIENTS 32
#define LOG_MAX (4 << 20)

enum client_kind { CLIENT_REQUEST, CLIENT_CONSOLE, CLIENT_WAIT_STOP, CLIENT_WAIT_BOOT, CLIENT_WATCH };

struct client {
	int fd;
	enum client_kind kind;
	char buf[1024];
	size_t len;
};

struct monitor {
	const char *name;
	int dirfd;                 /* RUN/instances/NAME */
	struct cella_runtime rt;
	char bundle[4096];
	int listen_fd;
	int master;                /* console pty master, -1 when down */
	int slave;                 /* our hold on its slave (see guest_boot) */
	bool master_idle;          /* its slave is closed: not polled until the next tick */
	int init_pidfd;
	pid_t init_pid;
	int log_fd;
	char *log_path;
	char ring[RING_SIZE];
	size_t ring_head, ring_len;
	struct client clients[MAX_CLIENTS];
	/* params */
	int stop_signal, stop_timeout;
	char restart[16];
	json_t *nics;              /* resolved NICs (lib/nic.h), plugged in at each boot */
	char nicplug[4096];        /* cella-nicplug, which does it */
	/* state */
	bool stopping, restarting;
	struct timespec stop_deadline;
	unsigned boots;
	time_t started_at;
	struct timespec started_mono;
	int ready_fd;
	struct monitor_proc proc;
	struct sysinfo_hub si;
};

static void log_msg(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_msg(const char *level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s", level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- console output: ring buffer, log file, attached clients ---- */

static void ring_put(struct monitor *m, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		m->ring[(m->ring_head + m->ring_len) % RING_SIZE] = p[i];
		if (m->ring_len < RING_SIZE)
			m->ring_len++;
		else
			m->ring_head = (m->ring_head + 1) % RING_SIZE;
	}
}

static void log_put(struct monitor *m, const char *p, size_t n)
{
	if (m->log_fd < 0)
		return;
	struct stat st;
	if (fstat(m->log_fd, &st) == 0 && st.st_size + (off_t)n > LOG_MAX) {
		cleanup_free char *old = xasprintf("%s.1", m->log_path);
		rename(m->log_path, old);
		close(m->log_fd);
		m->log_fd = open(m->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (m->log_fd < 0)
			return;
	}
	if (write_all(m->log_fd, p, n) < 0)
		log_msg("<4>", "%s: console log: %s", m->name, strerror(errno));
}

static void client_drop(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
}

static void console_output(struct monitor *m, const char *p, size_t n)
{
	ring_put(m, p, n);
	log_put(m, p, n);
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &m->clients[i];
		/* a client that cannot keep up loses the console, not the guest */
		if (c->fd >= 0 && c->kind == CLIENT_CONSOLE && send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			client_drop(c);
	}
}

static void console_note(struct monitor *m, const char *note)
{
	console_output(m, note, strlen(note));
}

/* ---- state.json ---- */

static void state_write(struct monitor *m, const char *status, const char *reason, int exit_code)
{
	char started[64] = "";
	if (m->started_at) {
		struct tm tm;
		gmtime_r(&m->started_at, &tm);
		strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	json_t *st = json_pack("{s:s, s:i, s:i, s:s, s:I, s:s?, s:i}", "status", status, "pid", (int)getpid(),
			       "init_pid", (int)m->init_pid, "started_at", started, "boots", (json_int_t)m->boots,
			       "reason", reason, "exit_code", exit_code);
	cleanup_free char *text = json_dumps(st, JSON_COMPACT);
	json_decref(st);
	struct cella_error err;
	if (!text || write_file_atomic(m->dirfd, "state.json", text, strlen(text), 0644, &err) < 0)
		log_msg("<3>", "%s: write state.json: %s", m->name, text ? err.msg : "out of memory");
}

/* ---- the guest ---- */

static int listen_at(int dirfd, const char *name, struct cella_error *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/%s", dirfd, name);
	unlinkat(dirfd, name, 0);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cella_error_set(err, errno, "socket");
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0) {
		int e = errno;
		close(fd);
		return cella_error_set(err, e, "listen on %s", name);
	}
	fchmodat(dirfd, name, 0600, 0);
	return fd;
}

static int params_load(struct monitor *m);

/* The guest's NICs, into the namespaces just made for it. */
/*
 * Run cella-nicplug with the NICs on its stdin (it links libmnl, which this
 * static binary cannot); its one error line becomes ours.  Waited for here:
 * the main loop's reaping of the init cannot take it meanwhile.
 */
static int nicplug_run(struct monitor *m, char *const argv[], struct cella_error *err)
{
	cleanup_free char *text = json_dumps(m->nics, JSON_COMPACT);
	int in[2], out[2];
	if (!text || !m->nicplug[0])
		return cella_error_set(err, ENOENT, "`%s` has NICs, and cella-nicplug was not found", m->name);
	if (pipe2(in, O_CLOEXEC) < 0)
		return cella_error_set(err, errno, "pipe");
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return cella_error_set(err, errno, "pipe");
	}
	pid_t pid = fork();
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(in[0], 0) < 0 || dup2(out[1], 2) < 0)
			_exit(127);
		execv(m->nicplug, argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (pid > 0)
		write_all(in[1], text, strlen(text));
	close(in[1]);
	char msg[1024];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(msg) - 1 && (n = read(out[0], msg + len, sizeof(msg) - 1 - len)) > 0)
		len += (size_t)n;
	close(out[0]);
	msg[len] = '\0';
	msg[strcspn(msg, "\n")] = '\0';
	int ws = 0;
	if (pid < 0)
		return cella_error_set(err, errno, "fork");
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		return cella_error_set(err, EIO, "NICs of `%s`: %s", m->name, msg[0] ? msg : "cella-nicplug failed");
	return 0;
}

/* The guest's NICs, into the namespaces just made for it. */
static int nics_plug(struct monitor *m, struct cella_error *err)
{
	if (json_array_size(m->nics) == 0)
		return 0;
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)m->init_pid);
	char *const argv[] = { "cella-nicplug", "attach", pid, NULL };
	return nicplug_run(m, argv, err);
}

/* With `with_link` the veths too (else they go with the guest's namespace). */
static void nics_unplug(struct monitor *m, bool with_link)
{
	struct cella_error err;
	size_t i;
	json_t *nic;
	bool needed = with_link;
	/* without the links, only an IFB (limits.egress) or proxy entries (a
	 * routed NIC's parent) outlive the guest's namespace */
	json_array_foreach(m->nics, i, nic)
		needed |= json_integer_value(json_object_get(nic, "egress")) > 0 ||
			  *(json_string_value(json_object_get(nic, "parent")) ?: "");
	if (json_array_size(m->nics) == 0 || !needed)
		return;
	char *const argv[] = { "cella-nicplug", "detach", with_link ? "--with-link" : NULL, NULL };
	if (nicplug_run(m, argv, &err) < 0)
		log_msg("<4>", "%s", err.msg);
}

static int guest_boot(struct monitor *m, struct cella_error *err)
{
	/* cellad may have changed them (a NIC added to the running guest) */
	params_load(m);
	char console_path[64];
	cleanup_close int console_listen = listen_at(m->dirfd, "console.sock", err);
	if (console_listen < 0)
		return -1;
	snprintf(console_path, sizeof(console_path), "/proc/self/fd/%d/console.sock", m->dirfd);
	struct cella_create_opts opts = { .bundle = m->bundle, .console_socket = console_path };
	/* a stale engine state (a crash of ours) would block the name */
	struct cella_error ignored;
	cella_container_delete(&m->rt, m->name, CELLA_DELETE_FORCE, &ignored);
	if (monitor_proc_refresh(&m->proc, 0, err) < 0)
		return -1;
	int r = cella_container_create(&m->rt, m->name, &opts, err);
	unlinkat(m->dirfd, "console.sock", 0);
	if (r < 0)
		return -1;
	cleanup_close int conn = accept4(console_listen, NULL, NULL, SOCK_CLOEXEC);
	char tag[64];
	int master = -1;
	if (conn < 0 || fd_recv(conn, tag, sizeof(tag), &master) <= 0 || master < 0) {
		cella_error_set(err, errno ? errno : EPROTO, "receive the console of `%s`", m->name);
		goto fail;
	}
	struct cella_state st = { 0 };
	if (cella_container_state(&m->rt, m->name, &st, err) < 0) {
		close(master);
		goto fail;
	}
	m->init_pid = st.pid;
	cella_state_release(&st);
	m->init_pidfd = pidfd_open(m->init_pid, 0);
	if (m->init_pidfd < 0) {
		cella_error_set(err, errno, "pidfd of the init of `%s`", m->name);
		close(master);
		goto fail;
	}
	if (nics_plug(m, err) < 0) {
		close(master);
		goto fail;
	}
	int fl = fcntl(master, F_GETFL);
	fcntl(master, F_SETFL, fl | O_NONBLOCK);
	m->master = master;
	/*
	 * We hold the console's slave too: a guest init that opens /dev/console
	 * for each message and closes it (systemd) would otherwise leave it
	 * with no holder between messages, and the kernel drops what no one
	 * has read yet when the last holder goes.
	 */
	if (m->slave >= 0)
		close(m->slave);
	m->slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	m->master_idle = false;
	clock_gettime(CLOCK_MONOTONIC, &m->started_mono);
	m->proc.started = m->started_mono;
	m->si.started = m->started_mono;
	if (cella_container_start(&m->rt, m->name, err) < 0)
		goto fail;
	m->started_at = time(NULL);
	m->boots++;
	monitor_proc_refresh(&m->proc, m->init_pid, err);
	state_write(m, "Running", NULL, 0);
	return 0;
fail:
	cella_container_delete(&m->rt, m->name, CELLA_DELETE_FORCE, &ignored);
	nics_unplug(m, true);
	if (m->init_pidfd >= 0)
		close(m->init_pidfd);
	m->init_pidfd = -1;
	if (m->master >= 0)
		close(m->master);
	if (m->slave >= 0)
		close(m->slave);
	m->master = m->slave = -1;
	m->init_pid = 0;
	return -1;
}

/* Reap the init; its status as from waitpid, -1 if not yet. */
static int guest_reap(struct monitor *m)
{
	int ws;
	pid_t p;
	int result = -1;
	while ((p = waitpid(-1, &ws, WNOHANG)) > 0)
		if (p == m->init_pid)
			result = ws;
	return result;
}

static void guest_down(struct monitor *m)
{
	struct cella_error err;
	/* the console's last words */
	char buf[4096];
	ssize_t n;
	while (m->master >= 0 && (n = read(m->master, buf, sizeof(buf))) > 0)
		console_output(m, buf, (size_t)n);
	if (cella_container_delete(&m->rt, m->name, CELLA_DELETE_FORCE, &err) < 0)
		log_msg("<4>", "%s: %s", m->name, err.msg);
	/* the veths go with the guest's namespace; what else was ours (as
	 * cellad last left the list: NICs come and go while the guest runs) */
	params_load(m);
	nics_unplug(m, false);
	if (m->master >= 0)
		close(m->master);
	if (m->slave >= 0)
		close(m->slave);
	if (m->init_pidfd >= 0)
		close(m->init_pidfd);
	m->master = m->slave = m->init_pidfd = -1;
	m->init_pid = 0;
	sysinfo_reset(&m->si);
}

static void clients_answer(struct monitor *m, enum client_kind kind, const char *line)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &m->clients[i];
		if (c->fd >= 0 && c->kind == kind) {
			send(c->fd, line, strlen(line), MSG_NOSIGNAL);
			client_drop(c);
		}
	}
}

/* Tell watchers (cellad) what just happened to the guest. */
static void watchers_tell(struct monitor *m, const char *event, const char *reason, int code)
{
	json_t *ev = json_pack("{s:s, s:s?, s:i, s:I}", "event", event, "reason", reason, "exit_code", code, "boots",
			       (json_int_t)m->boots);
	cleanup_free char *line = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	if (!line)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &m->clients[i];
		if (c->fd >= 0 && c->kind == CLIENT_WATCH &&
		    (send(c->fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ||
		     send(c->fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0))
			client_drop(c);
	}
}

static void guest_signal(struct monitor *m, int sig)
{
	if (m->init_pidfd >= 0 && pidfd_send_signal(m->init_pidfd, sig, NULL, 0) < 0 && errno != ESRCH)
		log_msg("<4>", "%s: signal %d to init: %s", m->name, sig, strerror(errno));
}

static void stop_begin(struct monitor *m, int timeout, bool force, bool restart)
{
	m->restarting = restart;
	if (m->stopping && !force)
		return;
	m->stopping = true;
	clock_gettime(CLOCK_MONOTONIC, &m->stop_deadline);
	m->stop_deadline.tv_sec += timeout < 0 ? m->stop_timeout : timeout;
	state_write(m, "Stopping", NULL, 0);
	guest_signal(m, force ? SIGKILL : m->stop_signal);
}

/* ---- requests ---- */

static void request_handle(struct monitor *m, struct client *c)
{
	json_error_t jerr;
	c->buf[c->len] = '\0';
	json_t *req = json_loads(c->buf, 0, &jerr);
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	char reply[512];
	if (!cmd) {
		snprintf(reply, sizeof(reply), "{\"error\":\"bad request\"}\n");
	} else if (!strcmp(cmd, "status")) {
		cleanup_free char *st = read_file_at(m->dirfd, "state.json", NULL, &(struct cella_error){ 0 });
		snprintf(reply, sizeof(reply), "%s\n", st ? st : "{}");
	} else if (!strcmp(cmd, "stop") || !strcmp(cmd, "restart")) {
		json_t *t = json_object_get(req, "timeout");
		stop_begin(m, json_is_integer(t) ? (int)json_integer_value(t) : -1,
			   json_is_true(json_object_get(req, "force")), !strcmp(cmd, "restart"));
		c->kind = !strcmp(cmd, "stop") ? CLIENT_WAIT_STOP : CLIENT_WAIT_BOOT;
		c->len = 0;
		json_decref(req);
		return;
	} else if (!strcmp(cmd, "watch")) {
		/* a line per change of the guest's life, until it is over */
		c->kind = CLIENT_WATCH;
		c->len = 0;
		json_decref(req);
		return;
	} else if (!strcmp(cmd, "console")) {
		c->kind = CLIENT_CONSOLE;
		c->len = 0;
		/* recent output first */
		for (size_t i = 0; i < m->ring_len;) {
			size_t start = (m->ring_head + i) % RING_SIZE;
			size_t chunk = m->ring_len - i;
			if (chunk > RING_SIZE - start)
				chunk = RING_SIZE - start;
			if (send(c->fd, m->ring + start, chunk, MSG_NOSIGNAL) < 0) {
				client_drop(c);
				break;
			}
			i += chunk;
		}
		json_decref(req);
		return;
	} else {
		snprintf(reply, sizeof(reply), "{\"error\":\"unknown command\"}\n");
	}
	json_decref(req);
	send(c->fd, reply, strlen(reply), MSG_NOSIGNAL);
	client_drop(c);
}

static void client_input(struct monitor *m, struct client *c)
{
	if (c->kind == CLIENT_CONSOLE) {
		char buf[4096];
		ssize_t n = read(c->fd, buf, sizeof(buf));
		if (n <= 0) {
			client_drop(c);
			return;
		}
		if (m->master >= 0)
			write_all(m->master, buf, (size_t)n);
		return;
	}
	if (c->kind != CLIENT_REQUEST) {
		char b;
		if (read(c->fd, &b, 1) <= 0)
			client_drop(c);
		return;
	}
	ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	if (n <= 0) {
		client_drop(c);
		return;
	}
	c->len += (size_t)n;
	if (memchr(c->buf, '\n', c->len) || c->len == sizeof(c->buf) - 1)
		request_handle(m, c);
}

static void client_accept(struct monitor *m)
{
	int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (m->clients[i].fd < 0) {
			m->clients[i] = (struct client){ .fd = fd, .kind = CLIENT_REQUEST };
			return;
		}
	}
	close(fd);
}

/* ---- main loop ---- */

/* What the end of the init means: "reboot", "poweroff", "stopped", "exited", "killed". */
static const char *exit_reason(const struct monitor *m, int ws, int *code)
{
	*code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	if (m->stopping)
		return "stopped";
	if (WIFSIGNALED(ws) && WTERMSIG(ws) == SIGHUP)
		return "reboot";
	if (WIFSIGNALED(ws) && WTERMSIG(ws) == SIGINT)
		return "poweroff";
	return WIFEXITED(ws) ? "exited" : "killed";
}

static void ready_say(struct monitor *m, const char *msg)
{
	if (m->ready_fd < 0)
		return;
	write_all(m->ready_fd, msg, strlen(msg));
	close(m->ready_fd);
	m->ready_fd = -1;
}

static int monitor_run(struct monitor *m)
{
	struct cella_error err = { 0 };
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	cleanup_close int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	cleanup_close int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	struct itimerspec tick = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	if (sfd < 0 || tfd < 0 || timerfd_settime(tfd, 0, &tick, NULL) < 0) {
		log_msg("<3>", "%s: signalfd/timerfd: %s", m->name, strerror(errno));
		return 1;
	}
	if (guest_boot(m, &err) < 0) {
		char msg[1100];
		snprintf(msg, sizeof(msg), "error: %s\n", err.msg);
		ready_say(m, msg);
		state_write(m, "Stopped", "error", 1);
		return 1;
	}
	ready_say(m, "ok\n");
	unsigned quick_restarts = 0;
	for (;;) {
		struct pollfd pfd[4 + MAX_CLIENTS + SYSINFO_POLLFDS];
		int n = 0;
		pfd[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = tfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = m->listen_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = m->master, .events = m->master_idle ? 0 : POLLIN };
		for (int i = 0; i < MAX_CLIENTS; i++)
			pfd[n++] = (struct pollfd){ .fd = m->clients[i].fd, .events = POLLIN };
		int si_first = n;
		n += sysinfo_pollfds(&m->si, pfd + n);
		if (poll(pfd, (nfds_t)n, -1) < 0 && errno != EINTR)
			return 1;
		sysinfo_events(&m->si, pfd + si_first, m->init_pid);
		if (pfd[3].revents & POLLIN) {
			char buf[8192];
			ssize_t r = read(m->master, buf, sizeof(buf));
			if (r > 0)
				console_output(m, buf, (size_t)r);
		} else if (pfd[3].revents & (POLLHUP | POLLERR)) {
			/* no one holds the console any more: poll it for nothing until
			 * something opens it again (the next tick looks) */
			m->master_idle = true;
		}
		if (pfd[2].revents & POLLIN)
			client_accept(m);
		for (int i = 0; i < MAX_CLIENTS; i++)
			/* the slot may have been dropped and refilled in this pass */
			if (m->clients[i].fd >= 0 && m->clients[i].fd == pfd[4 + i].fd &&
			    (pfd[4 + i].revents & (POLLIN | POLLHUP | POLLERR)))
				client_input(m, &m->clients[i]);
		if (pfd[1].revents & POLLIN) {
			uint64_t ticks;
			if (read(tfd, &ticks, sizeof(ticks)) < 0) {
				/* nothing: a missed tick */
			}
			monitor_proc_refresh(&m->proc, m->init_pid, &err);
			m->master_idle = false;
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (m->stopping && now.tv_sec >= m->stop_deadline.tv_sec)
				guest_signal(m, SIGKILL);
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
					stop_begin(m, -1, false, false);
			}
		}
		int ws = guest_reap(m);
		if (ws < 0)
			continue;
		int code;
		const char *reason = exit_reason(m, ws, &code);
		bool again = !strcmp(reason, "reboot") || (m->stopping && m->restarting) ||
			     (!m->stopping && (!strcmp(m->restart, "always") ||
					       (!strcmp(m->restart, "on-failure") && code != 0)));
		if (!strcmp(m->restart, "no") && !strcmp(reason, "reboot"))
			again = false;
		guest_down(m);
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		/* a guest that dies at once, over and over, stops being restarted */
		quick_restarts = now.tv_sec - m->started_mono.tv_sec < 5 ? quick_restarts + 1 : 0;
		if (again && quick_restarts < 10) {
			char note[128];
			snprintf(note, sizeof(note), "\r\n[cella: %s, booting again]\r\n", reason);
			console_note(m, note);
			m->stopping = m->restarting = false;
			if (guest_boot(m, &err) == 0) {
				watchers_tell(m, "restarted", reason, code);
				clients_answer(m, CLIENT_WAIT_BOOT, "{\"ok\":true}\n");
				/* a stop that a restart overtook: it did stop */
				clients_answer(m, CLIENT_WAIT_STOP, "{\"ok\":true}\n");
				continue;
			}
			log_msg("<3>", "%s: boot again: %s", m->name, err.msg);
			reason = "error";
		}
		char note[128];
		snprintf(note, sizeof(note), "\r\n[cella: %s]\r\n", reason);
		console_note(m, note);
		state_write(m, "Stopped", reason, code);
		watchers_tell(m, "stopped", reason, code);
		/* gone for new clients before the waiting ones hear it: a start may follow at once */
		unlinkat(m->dirfd, "monitor.sock", 0);
		unlinkat(m->dirfd, "monitor.pid", 0);
		close(m->listen_fd);
		m->listen_fd = -1;
		clients_answer(m, CLIENT_WAIT_STOP, "{\"ok\":true}\n");
		clients_answer(m, CLIENT_WAIT_BOOT, "{\"ok\":false}\n");
		return 0;
	}
}

static int params_load(struct monitor *m)
{
	struct cella_error err;
	cleanup_free char *text = read_file_at(m->dirfd, "params.json", NULL, &err);
	json_error_t jerr;
	json_t *p = text ? json_loads(text, 0, &jerr) : NULL;
	m->stop_signal = SIGPWR;
	m->stop_timeout = 30;
	snprintf(m->restart, sizeof(m->restart), "reboot");
	if (!p)
		return -1;
	json_t *v;
	if (json_is_integer(v = json_object_get(p, "stop_signal")))
		m->stop_signal = (int)json_integer_value(v);
	if (json_is_integer(v = json_object_get(p, "stop_timeout")))
		m->stop_timeout = (int)json_integer_value(v);
	if (json_is_string(v = json_object_get(p, "restart")))
		snprintf(m->restart, sizeof(m->restart), "%s", json_string_value(v));
	if (json_is_array(v = json_object_get(p, "nics"))) {
		json_decref(m->nics);
		m->nics = json_incref(v);
	}
	if (json_is_string(v = json_object_get(p, "nicplug")))
		snprintf(m->nicplug, sizeof(m->nicplug), "%s", json_string_value(v));
	json_decref(p);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "run-dir", required_argument, NULL, 'r' }, { "log-dir", required_argument, NULL, 'l' },
		{ "name", required_argument, NULL, 'n' },    { "ready-fd", required_argument, NULL, 'f' },
		{ "daemonize", no_argument, NULL, 'd' },
		{ 0 },
	};
	const char *run_dir = NULL, *log_dir = NULL, *name = NULL;
	bool daemonize = false;
	struct cella_error err = { 0 };
	struct monitor m = { .master = -1, .slave = -1, .init_pidfd = -1, .log_fd = -1, .ready_fd = -1 };
	int o;
	/* a reader gone (cella-nicplug, a console client) is an error, not our end */
	signal(SIGPIPE, SIG_IGN);
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'r': run_dir = optarg; break;
		case 'l': log_dir = optarg; break;
		case 'n': name = optarg; break;
		case 'f': m.ready_fd = atoi(optarg); break;
		case 'd': daemonize = true; break;
		default: return 2;
		}
	}
	/* stdio and the ready fd: nothing else of whoever started us */
	close_range(m.ready_fd == 3 ? 4 : 3, ~0U, 0);
	if (!run_dir || !log_dir || !name || !name_is_valid(name)) {
		fprintf(stderr, "usage: cella-monitor --run-dir RUN --log-dir LOG --name NAME [--ready-fd N] [--daemonize]\n");
		return 2;
	}
	/* guests are forks of us until they exec (the ready fd crosses the re-exec) */
	if (cella_exe_seal(argv, &err) < 0) {
		log_msg("<3>", "%s: %s", name, err.msg);
		return 1;
	}
	if (m.ready_fd >= 0)
		fcntl(m.ready_fd, F_SETFD, FD_CLOEXEC);
	/* out of the spawner's process tree: it reaps this first process now */
	if (daemonize) {
		pid_t child = fork();
		if (child < 0) {
			log_msg("<3>", "%s: fork: %s", name, strerror(errno));
			return 1;
		}
		if (child > 0)
			_exit(0);
	}
	m.name = name;
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	cleanup_free char *dir = xasprintf("%s/instances/%s", run_dir, name);
	cleanup_free char *root = xasprintf("%s/runtime", run_dir);
	m.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m.dirfd < 0 || chdir(dir) < 0) {
		log_msg("<3>", "%s: open %s: %s", name, dir, strerror(errno));
		return 1;
	}
	snprintf(m.bundle, sizeof(m.bundle), "%s/bundle", dir);
	m.rt.root = root;
	for (int i = 0; i < MAX_CLIENTS; i++)
		m.clients[i].fd = -1;
	params_load(&m);
	/* usage is read at the guest's own cgroup, whatever its init makes below it */
	json_t *bundle_cfg = json_load_file("bundle/config.json", 0, NULL);
	const char *cgpath = json_string_value(json_object_get(json_object_get(bundle_cfg, "linux"), "cgroupsPath"));
	if (cgpath)
		cgroup_base = xstrdup(cgpath);
	json_decref(bundle_cfg);
	cleanup_free char *logdir = xasprintf("%s/%s", log_dir, name);
	m.log_path = xasprintf("%s/console.log", logdir);
	if (mkdir_p(logdir, 0700, &err) == 0)
		m.log_fd = open(m.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	cleanup_free char *procdir = xasprintf("%s/proc", dir);
	monitor_proc_init(&m.proc, procdir, name);
	sysinfo_init(&m.si);
	m.si.listen_fd = listen_at(m.dirfd, "seccomp.sock", &err);
	m.listen_fd = listen_at(m.dirfd, "monitor.sock", &err);
	if (m.listen_fd < 0 || m.si.listen_fd < 0) {
		log_msg("<3>", "%s: %s", name, err.msg);
		return 1;
	}
	char pid[32];
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	write_file_atomic(m.dirfd, "monitor.pid", pid, strlen(pid), 0644, &err);
	int status = monitor_run(&m);
	/* the guest is gone, and so are its sockets; its tree stays mounted for
	 * a quick start again (deleting the instance unmounts it) */
	if (m.listen_fd >= 0) {
		unlinkat(m.dirfd, "monitor.sock", 0);
		unlinkat(m.dirfd, "monitor.pid", 0);
	}
	unlinkat(m.dirfd, "seccomp.sock", 0);
	free(m.log_path);
	json_decref(m.nics);
	return status;
}
