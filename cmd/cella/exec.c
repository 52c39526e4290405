/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * exec, shell and console: a websocket operation whose streams are relayed
 * to our stdio.  Interactive sessions (a pty in the instance) have one
 * stream both ways, our terminal in raw mode (restored on every exit path)
 * and SIGWINCH sent as window-resize on the control socket; otherwise
 * stdin, stdout and stderr are separate streams, stdin's EOF closes its
 * websocket and SIGINT/SIGTERM/SIGHUP/SIGQUIT are forwarded as signals.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>

#include "cella.h"
#include "util.h"


const struct opt exec_opts[] = {
	{ "user", 0, OPT_STRING, ARG(user), "UID", "run as this user id (default: 0)" },
	{ "group", 0, OPT_STRING, ARG(group), "GID", "run as this group id (default: 0)" },
	{ "cwd", 0, OPT_STRING, ARG(cwd), "DIR", "working directory" },
	{ "env", 0, OPT_LIST, ARG(env), "KEY=VALUE", "an environment variable (repeatable)" },
	{ "force-interactive", 't', OPT_BOOL, ARG(tty), NULL, "use a terminal even without one here" },
	{ "force-noninteractive", 'T', OPT_BOOL, ARG(no_tty), NULL, "no terminal, separate stdout/stderr" },
	OPT_END
};

const struct opt console_opts[] = {
	{ "show-log", 0, OPT_BOOL, ARG(show_log), NULL, "print the console log and exit" },
	OPT_END
};

/* Backpressure: stop reading stdin while this much waits for the socket. */
#define MAX_QUEUED (1024 * 1024)

struct term_state {
	bool raw;
	struct termios saved;
};

static void term_raw(struct term_state *t)
{
	struct termios raw;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &t->saved) < 0)
		return;
	raw = t->saved;
	cfmakeraw(&raw);
	if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) == 0)
		t->raw = true;
}

static void term_restore(struct term_state *t)
{
	if (t->raw)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &t->saved);
	t->raw = false;
}

static void win_size(int *w, int *h)
{
	struct winsize ws = { 0 };

	*w = 80;
	*h = 24;
	if ((ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) &&
	    ws.ws_col && ws.ws_row) {
		*w = ws.ws_col;
		*h = ws.ws_row;
	}
}

static void out_fd(void *data, const unsigned char *buf, size_t len)
{
	/* a closed pipe on our side must not stop the session */
	(void)!write_all((int)(long)data, buf, len);
}

static void control_send(struct ws *ctl, json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);

	if (ctl && s)
		ws_send(ctl, true, s, strlen(s));
	free(s);
	json_decref(msg);
}

static void send_resize(struct ws *ctl)
{
	int w, h;
	char ws[16], hs[16];

	win_size(&w, &h);
	snprintf(ws, sizeof(ws), "%d", w);
	snprintf(hs, sizeof(hs), "%d", h);
	control_send(ctl, json_pack("{s:s, s:{s:s, s:s}}", "command", "window-resize", "args", "width", ws,
				    "height", hs));
}

/* The streams of a websocket operation. */
struct session {
	struct ws *io[3];      /* "0", "1", "2" */
	struct ws *ctl;        /* "control" */
	bool interactive;
	bool console;          /* ctrl-a q detaches */
	bool detached;
};

static void session_close(struct session *s)
{
	for (int i = 0; i < 3; i++)
		ws_close(s->io[i]);
	ws_close(s->ctl);
}

static int session_open(struct client *c, json_t *op_env, struct session *s, const char **op_id,
			struct cella_error *err)
{
	json_t *op = json_object_get(op_env, "metadata");
	json_t *fds = json_object_get(json_object_get(op, "metadata"), "fds");
	static const char *const keys[] = { "0", "1", "2" };

	*op_id = json_string_value(json_object_get(op_env, "operation"));
	if (!*op_id || !json_is_object(fds))
		return cella_error_set(err, EPROTO, "cellad sent an operation without websockets");
	for (int i = 0; i < 4; i++) {
		const char *secret = json_string_value(json_object_get(fds, i < 3 ? keys[i] : "control"));
		cleanup_free char *esc = NULL;
		cleanup_free char *path = NULL;
		struct ws *w;

		if (!secret)
			continue;
		esc = url_escape(secret);
		path = xasprintf("%s/websocket?secret=%s", *op_id, esc);
		w = ws_open(c, path, err);
		if (!w)
			return -1;
		if (i < 3)
			s->io[i] = w;
		else
			s->ctl = w;
	}
	if (!s->io[0])
		return cella_error_set(err, EPROTO, "cellad sent no stdin websocket");
	return 0;
}

/* ctrl-a q in what the user typed: detach.  *armed carries a ctrl-a across reads. */
static size_t console_filter(unsigned char *buf, size_t n, bool *armed, bool *detach)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (*armed) {
			*armed = false;
			if (buf[i] == 'q') {
				*detach = true;
				return o;
			}
			if (buf[i] != 0x01)
				buf[o++] = 0x01;
		} else if (buf[i] == 0x01) {
			*armed = true;
			continue;
		}
		buf[o++] = buf[i];
	}
	return o;
}

/* Relay until the output streams end (or the user detaches). */
static int session_relay(struct session *s, struct cella_error *err)
{
	sigset_t mask, old;
	cleanup_close int sfd = -1;
	bool stdin_open = true, armed = false;
	unsigned char buf[65536];

	sigemptyset(&mask);
	sigaddset(&mask, SIGWINCH);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigprocmask(SIG_BLOCK, &mask, &old);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return cella_error_set(err, errno, "signalfd");
	}
	if (s->interactive && s->ctl)
		send_resize(s->ctl);
	/* frames that came with the handshake */
	for (int i = 0; i < 3; i++)
		if (s->io[i])
			ws_pump(s->io[i], 0, out_fd, (void *)(long)(i == 0 ? STDOUT_FILENO : i));
	for (;;) {
		struct pollfd p[6];
		struct ws *who[6] = { 0 };
		int n = 0, sidx = -1, iidx = -1;
		bool done;

		if (s->interactive || s->console)
			done = ws_finished(s->io[0]);
		else
			done = (!s->io[1] || ws_finished(s->io[1])) && (!s->io[2] || ws_finished(s->io[2]));
		if (done || s->detached)
			break;
		if (stdin_open && !ws_finished(s->io[0]) && ws_queued(s->io[0]) < MAX_QUEUED) {
			iidx = n;
			p[n++] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		}
		sidx = n;
		p[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		for (int i = 0; i < 3; i++) {
			if (s->io[i] && ws_events(s->io[i])) {
				who[n] = s->io[i];
				p[n++] = (struct pollfd){ .fd = ws_fd(s->io[i]), .events = ws_events(s->io[i]) };
			}
		}
		if (s->ctl && ws_events(s->ctl)) {
			who[n] = s->ctl;
			p[n++] = (struct pollfd){ .fd = ws_fd(s->ctl), .events = ws_events(s->ctl) };
		}
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			sigprocmask(SIG_SETMASK, &old, NULL);
			return cella_error_set(err, errno, "poll");
		}
		if (iidx >= 0 && p[iidx].revents) {
			ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));

			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				r = -2;
			if (r == 0 || r == -1) {
				stdin_open = false;
				/* EOF: only separate streams carry it; a pty keeps going */
				if (!s->interactive && !s->console)
					ws_send_close(s->io[0]);
			} else if (r > 0) {
				size_t len = r;
				if (s->console)
					len = console_filter(buf, len, &armed, &s->detached);
				if (len)
					ws_send(s->io[0], false, buf, len);
			}
			ws_pump(s->io[0], 0, out_fd, (void *)(long)STDOUT_FILENO);
		}
		if (p[sidx].revents) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGWINCH) {
					if (s->interactive)
						send_resize(s->ctl);
				} else if (s->console) {
					s->detached = true;
				} else {
					control_send(s->ctl, json_pack("{s:s, s:i}", "command", "signal", "signal",
								       (int)si.ssi_signo));
				}
			}
			if (s->ctl)
				ws_pump(s->ctl, 0, NULL, NULL);
		}
		for (int k = 0; k < n; k++) {
			if (!who[k] || !p[k].revents)
				continue;
			long fd = STDOUT_FILENO;
			if (who[k] == s->io[2])
				fd = STDERR_FILENO;
			ws_pump(who[k], p[k].revents, who[k] == s->ctl ? NULL : out_fd, (void *)fd);
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return 0;
}

/*
 * The local fast path (cellad's `Upgrade: cella-fds`): our own stdin,
 * stdout and stderr go to cellad over the socket and the process runs on
 * them; a terminal stays ours (cella-runtime puts it in raw mode and sizes
 * the pty).  Signals we get are passed on as one byte each; the answer is
 * "exit N" or "error MESSAGE".  Returns the exit code, -1 on error, or -2
 * when cellad does not offer the upgrade (then websockets are used).
 */
static int exec_fds(struct client *c, const char *path, json_t *req, struct cella_error *err)
{
	cleanup_free char *body = json_dumps(req, JSON_COMPACT);
	cleanup_close int fd = client_connect(c, err);
	if (fd < 0)
		return -1;
	cleanup_free char *head = xasprintf("POST %s HTTP/1.1\r\nHost: cella\r\nUser-Agent: cella/" CELLA_VERSION
					    "\r\nConnection: Upgrade\r\nUpgrade: cella-fds\r\n"
					    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
					    path, strlen(body), body);
	if (write_all(fd, head, strlen(head)) < 0)
		return cella_error_set(err, errno, "send to cellad");
	/* the response head, byte by byte: nothing after it may be consumed */
	char buf[8192];
	size_t got = 0;
	while (got < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + got, 1);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got >= 4 && !memcmp(buf + got - 4, "\r\n\r\n", 4))
			break;
	}
	buf[got] = '\0';
	if (strncmp(buf, "HTTP/1.1 101", 12)) {
		/* an error envelope (or no upgrade): read it whole */
		ssize_t n;
		while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += (size_t)n;
		struct http_response r;
		if (http_parse_response(buf, got, &r, err) < 0)
			return -1;
		int ret = -2;
		if (r.status >= 400) {
			json_error_t jerr;
			json_t *root = json_loadb(r.body, r.len, 0, &jerr);
			const char *e = json_string_value(json_object_get(root, "error"));
			ret = cella_error_set(err, 0, "%s", e ? e : "exec failed");
			json_decref(root);
		}
		http_response_free(&r);
		return ret;
	}
	sigset_t mask, old;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigaddset(&mask, SIGWINCH);
	sigprocmask(SIG_BLOCK, &mask, &old);
	cleanup_close int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	const int stdio[3] = { STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO };
	int ret = -1;
	if (fds_send(fd, "x", 1, stdio, 3) < 0) {
		cella_error_set(err, errno, "send our stdio to cellad");
		goto out;
	}
	got = 0;
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		if (poll(p, sfd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			break;
		if (sfd >= 0 && (p[1].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				unsigned char sig = (unsigned char)si.ssi_signo;
				(void)!send(fd, &sig, 1, MSG_NOSIGNAL);
			}
		}
		if (p[0].revents) {
			ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
			if (n <= 0)
				break;
			got += (size_t)n;
		}
	}
	buf[got] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (!strncmp(buf, "exit ", 5))
		ret = atoi(buf + 5);
	else if (!strncmp(buf, "error ", 6))
		cella_error_set(err, 0, "%s", buf + 6);
	else
		cella_error_set(err, ECONNRESET, "exec: cellad closed the connection");
out:
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ret;
}

int exec_run(struct client *c, const char *name, json_t *req, bool interactive, struct cella_error *err)
{
	cleanup_free char *path = api_path("instances", name, "/exec");
	struct session s = { .interactive = interactive };
	struct term_state term = { 0 };
	const char *op_id = NULL;
	json_t *env, *op;
	bool async;
	int ret = -1;

	if (interactive) {
		int w, h;
		win_size(&w, &h);
		json_object_set_new(req, "width", json_integer(w));
		json_object_set_new(req, "height", json_integer(h));
	}
	json_object_set_new(req, "interactive", json_boolean(interactive));
	if (!getenv("CELLA_EXEC_WEBSOCKET")) {
		int r = exec_fds(c, path, req, err);
		if (r != -2)
			return r;
	}
	json_object_set_new(req, "wait-for-websocket", json_true());
	env = api_call(c, "POST", path, req, &async, err);
	if (!env)
		return -1;
	if (!async) {
		json_decref(env);
		return cella_error_set(err, EPROTO, "exec: cellad did not start an operation");
	}
	if (session_open(c, env, &s, &op_id, err) < 0)
		goto out;
	if (interactive)
		term_raw(&term);
	ret = session_relay(&s, err);
	term_restore(&term);
	if (s.ctl)
		ws_send_close(s.ctl), ws_pump(s.ctl, 0, NULL, NULL);
	if (ret < 0)
		goto out;
	op = operation_wait(c, op_id, false, err);
	if (!op) {
		ret = -1;
		goto out;
	}
	json_t *rc = json_object_get(json_object_get(op, "metadata"), "return");
	const char *status = json_string_value(json_object_get(op, "status"));
	if (json_is_integer(rc)) {
		ret = (int)json_integer_value(rc);
	} else if (status && strcmp(status, "Success")) {
		const char *e = json_string_value(json_object_get(op, "err"));
		ret = cella_error_set(err, 0, "%s", e && *e ? e : status);
	} else {
		ret = 0;
	}
	json_decref(op);
out:
	term_restore(&term);
	session_close(&s);
	json_decref(env);
	return ret;
}

static int id_value(const char *s, const char *what, json_int_t *out, struct cella_error *err)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (!*s || *end || errno || v < 0 || v > 0xfffffffeLL)
		return cella_error_set(err, 0, "invalid %s `%s`: expected a number", what, s);
	*out = v;
	return 0;
}

int cmd_exec(struct client *c, struct args *a, struct cella_error *err)
{
	json_t *req = json_object(), *cmd = json_array(), *envo = json_object();
	bool interactive = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	int ret;

	if (a->tty && a->no_tty)
		return json_decref(req), json_decref(cmd), json_decref(envo),
		       cella_error_set(err, 0, "exec: -t and -T exclude each other");
	if (a->tty)
		interactive = true;
	if (a->no_tty)
		interactive = false;
	for (int i = 1; i < a->npos; i++)
		json_array_append_new(cmd, json_string(a->pos[i]));
	json_object_set_new(req, "command", cmd);
	for (size_t i = 0; i < a->env.n; i++) {
		cleanup_free char *k = NULL;
		cleanup_free char *v = NULL;

		if (kv_split(a->env.v[i], &k, &v, err) < 0) {
			json_decref(envo);
			json_decref(req);
			return -1;
		}
		json_object_set_new(envo, k, json_string(v));
	}
	if (interactive && !json_object_get(envo, "TERM"))
		json_object_set_new(envo, "TERM", json_string(getenv("TERM") ?: "xterm"));
	json_object_set_new(req, "environment", envo);
	if (a->user || a->group) {
		json_int_t v = 0;

		if (a->user && (id_value(a->user, "user", &v, err) < 0 ||
				json_object_set_new(req, "user", json_integer(v)) < 0)) {
			json_decref(req);
			return -1;
		}
		if (a->group && (id_value(a->group, "group", &v, err) < 0 ||
				 json_object_set_new(req, "group", json_integer(v)) < 0)) {
			json_decref(req);
			return -1;
		}
	}
	if (a->cwd)
		json_object_set_new(req, "cwd", json_string(a->cwd));
	ret = exec_run(c, a->pos[0], req, interactive, err);
	json_decref(req);
	return ret;
}

int cmd_shell(struct client *c, struct args *a, struct cella_error *err)
{
	json_t *req = json_pack("{s:[s,s,s], s:{s:s}}", "command", "/bin/sh", "-c",
				"if command -v su >/dev/null 2>&1; then exec su -l; else exec /bin/sh -l; fi",
				"environment", "TERM", getenv("TERM") ?: "xterm");
	int ret = exec_run(c, a->pos[0], req, isatty(STDIN_FILENO), err);

	json_decref(req);
	return ret;
}

int cmd_console(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("instances", a->pos[0], "/console");
	struct session s = { .console = true };
	struct term_state term = { 0 };
	const char *op_id;
	json_t *req, *env;
	bool async;
	int w, h, ret;

	if (a->show_log) {
		cleanup_response struct http_response r = { 0 };
		json_t *root;

		if (http_request(c, "GET", path, NULL, NULL, 0, NULL, &r, err) < 0)
			return -1;
		root = json_loadb(r.body, r.len, 0, NULL);
		if (r.status >= 400 || json_is_string(json_object_get(root, "error"))) {
			const char *m = json_string_value(json_object_get(root, "error"));
			cella_error_set(err, 0, "%s", m ? m : "cannot read the console log");
			json_decref(root);
			return -1;
		}
		if (root && json_is_string(json_object_get(root, "metadata")))
			fputs(json_string_value(json_object_get(root, "metadata")), stdout);
		else
			fwrite(r.body, 1, r.len, stdout);
		json_decref(root);
		return 0;
	}
	win_size(&w, &h);
	req = json_pack("{s:i, s:i, s:s}", "width", w, "height", h, "type", "console");
	env = api_call(c, "POST", path, req, &async, err);
	json_decref(req);
	if (!env)
		return -1;
	if (!async) {
		json_decref(env);
		return cella_error_set(err, EPROTO, "console: cellad did not start an operation");
	}
	s.interactive = true;
	if (session_open(c, env, &s, &op_id, err) < 0) {
		session_close(&s);
		json_decref(env);
		return -1;
	}
	fprintf(stderr, "To detach from the console, press: <ctrl>+a q\r\n");
	term_raw(&term);
	ret = session_relay(&s, err);
	term_restore(&term);
	if (s.detached)
		fprintf(stderr, "\r\n");
	session_close(&s);
	json_decref(env);
	return ret;
}
