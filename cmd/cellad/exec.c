/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * exec and console attach, as Incus does them: a websocket operation whose
 * metadata.fds holds one secret per stream; once every websocket is
 * connected, the process (or the console) runs with socketpairs as its
 * stdio, relayed to the websockets by one thread each.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <signal.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cellad.h"

#define CONNECT_TIMEOUT 60

struct stream_job {
	char *name;
	bool console;
	/* exec */
	char **argv;
	size_t argc;
	char **env;
	size_t n_env;
	char *cwd;
	uid_t uid;
	gid_t gid;
	bool interactive;
	bool wait_ws;
	unsigned short rows, cols;
	struct ws_slot slots[4];
	size_t n_slots;
	/* while the process runs: signal numbers for it, and its terminal */
	int ctl_w;
	int pty_master;
};

static void stream_job_free(void *p)
{
	struct stream_job *j = p;
	/* websockets never relayed were closed when the operation ended (operations.c) */
	for (size_t i = 0; i < j->n_slots; i++)
		free(j->slots[i].extra);
	free(j->name);
	strv_free(j->argv);
	strv_free(j->env);
	free(j->cwd);
	free(j);
}

static void slot_add(struct stream_job *j, const char *name)
{
	struct ws_slot *s = &j->slots[j->n_slots++];
	snprintf(s->name, sizeof(s->name), "%s", name);
	random_hex(s->secret, 32);
	s->sock = -1;
}

static struct ws_slot *slot_get(struct stream_job *j, const char *name)
{
	for (size_t i = 0; i < j->n_slots; i++)
		if (strcmp(j->slots[i].name, name) == 0)
			return &j->slots[i];
	return NULL;
}

/* ---------------------------------------------------------------- relays */

struct relay_thread {
	struct ws_relay r;
	struct ws_slot *slot;
	pthread_t t;
	bool started;
};

static void *relay_main(void *arg)
{
	struct relay_thread *rt = arg;
	ws_relay_run(&rt->r);
	return NULL;
}

/* shut_to: the client's end of input is passed on as shutdown(to_fd, SHUT_WR) */
static void relay_start(struct relay_thread *rt, struct ws_slot *slot, int from_fd, int to_fd, bool shut_to,
			int stop_fd, void (*on_text)(void *, const char *, size_t), void *cls)
{
	rt->slot = slot;
	rt->r = (struct ws_relay){ .sock = slot->sock, .urh = slot->urh, .extra = slot->extra,
				   .extra_len = slot->extra_len, .from_fd = from_fd, .to_fd = to_fd,
				   .shut_to_on_close = shut_to, .stop_fd = stop_fd, .on_text = on_text, .cls = cls };
	/* the relay closes the socket from now on */
	slot->finished = true;
	rt->started = pthread_create(&rt->t, NULL, relay_main, rt) == 0;
	if (!rt->started)
		ws_relay_run(&rt->r);  /* no thread: at least hand the socket back */
}

static void relay_join(struct relay_thread *rt)
{
	if (rt->started)
		pthread_join(rt->t, NULL);
	rt->started = false;
}

static void control_signal(struct stream_job *j, int sig)
{
	unsigned char b = (unsigned char)sig;
	if (j->ctl_w >= 0 && sig > 0 && sig < 65 && write(j->ctl_w, &b, 1) != 1)
		log_debug("exec in `%s`: signal %d: %s", j->name, sig, strerror(errno));
}

/* A number in a JSON string or integer ("80" or 80). */
static long json_number(json_t *v)
{
	return json_is_integer(v) ? (long)json_integer_value(v) : json_is_string(v) ? atol(json_string_value(v)) : 0;
}

/*
 * Control messages: {"command":"window-resize","args":{"width":"80","height":"24"}}
 * sizes our pty (cella-runtime copies it to the guest's on SIGWINCH);
 * {"command":"signal","signal":15} signals the process.
 */
static void control_message(void *cls, const char *msg, size_t len)
{
	struct stream_job *j = cls;
	json_t *m = json_loadb(msg, len, 0, NULL);
	const char *cmd = json_string_value(json_object_get(m, "command"));
	if (cmd && strcmp(cmd, "window-resize") == 0) {
		json_t *args = json_object_get(m, "args");
		long w = json_number(json_object_get(args, "width")), h = json_number(json_object_get(args, "height"));
		if (j->pty_master >= 0 && w > 0 && h > 0 && w < 65536 && h < 65536) {
			struct winsize ws = { .ws_row = (unsigned short)h, .ws_col = (unsigned short)w };
			if (ioctl(j->pty_master, TIOCSWINSZ, &ws) == 0)
				control_signal(j, SIGWINCH);
		}
	} else if (cmd && strcmp(cmd, "signal") == 0) {
		control_signal(j, (int)json_number(json_object_get(m, "signal")));
	} else {
		log_debug("exec in `%s`: unknown control message", j->name);
	}
	json_decref(m);
}

/* A pty pair: the master ours, the slave the process's terminal, sized. */
static int pty_open(int *master, int *slave, unsigned short rows, unsigned short cols)
{
	*master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*master < 0)
		return -1;
	char name[64];
	if (grantpt(*master) < 0 || unlockpt(*master) < 0 || ptsname_r(*master, name, sizeof(name)) != 0 ||
	    (*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
		close(*master);
		*master = -1;
		return -1;
	}
	struct winsize ws = { .ws_row = rows ? rows : 24, .ws_col = cols ? cols : 80 };
	ioctl(*master, TIOCSWINSZ, &ws);
	return 0;
}

/* ---------------------------------------------------------------- exec */

static int exec_run(struct operation *op, void *data, struct cella_error *err)
{
	struct stream_job *j = data;
	struct cella_instance_exec x = { .argv = j->argv, .argc = j->argc, .env = j->env, .n_env = j->n_env,
					 .cwd = j->cwd, .uid = j->uid, .gid = j->gid, .tty = j->interactive,
					 .rows = j->rows, .cols = j->cols };
	int status = -1, r;

	if (!j->wait_ws) {
		cleanup_close int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null < 0)
			return cella_error_set(err, errno, "open /dev/null");
		x.stdin_fd = x.stdout_fd = x.stderr_fd = null;
		x.tty = false;
		if (cella_instance_exec(g_daemon.host, j->name, &x, &status, err) < 0)
			return -1;
		op_set_metadata(op, json_pack("{s:i}", "return", status));
		return 0;
	}
	if (op_wait_connected(op, CONNECT_TIMEOUT, err) < 0)
		return -1;

	/* pairs[i][0] is ours, pairs[i][1] the process's */
	int pairs[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	size_t n_pairs = j->interactive ? 1 : 3;
	cleanup_close int stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (stop < 0)
		return cella_error_set(err, errno, "eventfd");
	int ctl[2] = { -1, -1 };
	if (pipe2(ctl, O_CLOEXEC) < 0) {
		r = cella_error_set(err, errno, "pipe");
		goto out;
	}
	j->ctl_w = ctl[1];
	x.has_control = true;
	x.control_fd = ctl[0];
	for (size_t i = 0; i < n_pairs; i++) {
		/* interactive: a real terminal, so that its size reaches the guest */
		if (j->interactive ? pty_open(&pairs[i][0], &pairs[i][1], j->rows, j->cols) < 0
				   : socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pairs[i]) < 0) {
			r = cella_error_set(err, errno, j->interactive ? "pty" : "socketpair");
			goto out;
		}
	}
	j->pty_master = j->interactive ? pairs[0][0] : -1;
	struct relay_thread rt[4] = { 0 };
	if (j->interactive) {
		relay_start(&rt[0], slot_get(j, "0"), pairs[0][0], pairs[0][0], true, -1, NULL, NULL);
		x.stdin_fd = x.stdout_fd = x.stderr_fd = pairs[0][1];
	} else {
		/* stdin: the client's frames in; its end when the process is gone */
		relay_start(&rt[0], slot_get(j, "0"), -1, pairs[0][0], true, stop, NULL, NULL);
		relay_start(&rt[1], slot_get(j, "1"), pairs[1][0], -1, false, stop, NULL, NULL);
		relay_start(&rt[2], slot_get(j, "2"), pairs[2][0], -1, false, stop, NULL, NULL);
		x.stdin_fd = pairs[0][1];
		x.stdout_fd = pairs[1][1];
		x.stderr_fd = pairs[2][1];
	}
	relay_start(&rt[3], slot_get(j, "control"), -1, -1, false, stop, control_message, j);

	r = cella_instance_exec(g_daemon.host, j->name, &x, &status, err);
	/* the process is gone: our copies of its ends go, the relays drain and close */
	for (size_t i = 0; i < n_pairs; i++) {
		close(pairs[i][1]);
		pairs[i][1] = -1;
	}
	uint64_t one = 1;
	if (write(stop, &one, sizeof(one)) < 0)
		log_warn("exec: eventfd: %s", strerror(errno));
	for (size_t i = 0; i < ARRAY_SIZE(rt); i++)
		relay_join(&rt[i]);
	if (r == 0)
		op_set_metadata(op, json_pack("{s:i}", "return", status));
out:
	/* the control relay is joined: nobody writes signals any more */
	j->ctl_w = j->pty_master = -1;
	if (ctl[0] >= 0)
		close(ctl[0]);
	if (ctl[1] >= 0)
		close(ctl[1]);
	for (size_t i = 0; i < 3; i++)
		for (size_t k = 0; k < 2; k++)
			if (pairs[i][k] >= 0)
				close(pairs[i][k]);
	return r;
}

static bool json_is_uint(json_t *v, json_int_t max)
{
	return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= max;
}

/*
 * The local fast path: `Upgrade: cella-fds`.  After the 101, the client
 * sends one byte with its stdin, stdout and stderr as SCM_RIGHTS; the
 * process runs on them directly (a terminal stays the client's terminal),
 * and the answer is one line: "exit N" or "error MESSAGE".  No operation,
 * no websocket, no relay: what `cella exec` on this host uses.
 */
static void fds_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
			 size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	(void)conn;
	(void)con_cls;
	(void)extra_in;
	struct stream_job *j = cls;
	struct cella_error err = { 0 };
	char line[1200], tag;
	int fds[3] = { -1, -1, -1 };
	size_t n = 0;
	int fl = fcntl(sock, F_GETFL);
	if (fl >= 0)
		fcntl(sock, F_SETFL, fl & ~O_NONBLOCK);
	/* the fds come with the client's first byte, never before the 101 */
	if (extra_in_size || fds_recv(sock, &tag, 1, fds, 3, &n) != 1 || n != 3) {
		snprintf(line, sizeof(line), "error exec: expected stdin, stdout and stderr\n");
	} else {
		struct cella_instance_exec x = {
			.argv = j->argv, .argc = j->argc, .env = j->env, .n_env = j->n_env, .cwd = j->cwd,
			.uid = j->uid, .gid = j->gid, .tty = j->interactive, .stdin_fd = fds[0],
			.stdout_fd = fds[1], .stderr_fd = fds[2], .rows = j->rows, .cols = j->cols,
			/* signal numbers from the client, one byte each */
			.has_control = true, .control_fd = sock,
		};
		int status = 0;
		if (cella_instance_exec(g_daemon.host, j->name, &x, &status, &err) < 0)
			snprintf(line, sizeof(line), "error %s\n", err.msg);
		else
			snprintf(line, sizeof(line), "exit %d\n", status);
	}
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	(void)!write(sock, line, strlen(line));
	MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
	stream_job_free(j);
}

static struct reply *exec_post(struct request *req)
{
	const char *name = req_param(req, "name");
	json_t *b = req->json;
	json_t *cmd = json_object_get(b, "command"), *env = json_object_get(b, "environment");
	json_t *v;
	size_t i;

	if (!json_is_array(cmd) || json_array_size(cmd) == 0)
		return reply_error(400, "`command` must be a non-empty array of strings");
	json_array_foreach(cmd, i, v)
		if (!json_is_string(v))
			return reply_error(400, "`command[%zu]` must be a string", i);
	if (env && !json_is_object(env))
		return reply_error(400, "`environment` must be an object of strings");
	const char *key;
	json_object_foreach(env, key, v)
		if (!json_is_string(v) || !*key || strchr(key, '='))
			return reply_error(400, "invalid `environment.%s`", key);
	static const char *const uints[] = { "user", "group", "width", "height" };
	for (i = 0; i < ARRAY_SIZE(uints); i++) {
		v = json_object_get(b, uints[i]);
		if (v && !json_is_uint(v, i < 2 ? 0xfffffffe : 0xffff))
			return reply_error(400, "`%s` must be a non-negative integer", uints[i]);
	}
	static const char *const bools[] = { "interactive", "wait-for-websocket", "record-output" };
	for (i = 0; i < ARRAY_SIZE(bools); i++) {
		v = json_object_get(b, bools[i]);
		if (v && !json_is_boolean(v))
			return reply_error(400, "`%s` must be a boolean", bools[i]);
	}
	if (json_is_true(json_object_get(b, "record-output")))
		return reply_error(400, "`record-output` is not supported");
	v = json_object_get(b, "cwd");
	if (v && (!json_is_string(v) || (json_string_length(v) && json_string_value(v)[0] != '/')))
		return reply_error(400, "`cwd` must be an absolute path");
	struct reply *r = instance_precheck(name);
	if (r)
		return r;

	struct stream_job *j = xmalloc0(sizeof(*j));
	j->ctl_w = j->pty_master = -1;
	j->name = xstrdup(name);
	j->argc = json_array_size(cmd);
	j->argv = xmalloc0(sizeof(char *) * (j->argc + 1));
	json_array_foreach(cmd, i, v)
		j->argv[i] = xstrdup(json_string_value(v));
	j->n_env = json_object_size(env);
	j->env = xmalloc0(sizeof(char *) * (j->n_env + 1));
	i = 0;
	json_object_foreach(env, key, v)
		j->env[i++] = xasprintf("%s=%s", key, json_string_value(v));
	v = json_object_get(b, "cwd");
	j->cwd = v && json_string_length(v) ? xstrdup(json_string_value(v)) : NULL;
	j->uid = (uid_t)json_integer_value(json_object_get(b, "user"));
	j->gid = (gid_t)json_integer_value(json_object_get(b, "group"));
	j->interactive = json_is_true(json_object_get(b, "interactive"));
	j->wait_ws = json_is_true(json_object_get(b, "wait-for-websocket"));
	j->cols = json_object_get(b, "width") ? (unsigned short)json_integer_value(json_object_get(b, "width")) : 80;
	j->rows = json_object_get(b, "height") ? (unsigned short)json_integer_value(json_object_get(b, "height")) : 24;
	const char *upgrade = req_header(req, "Upgrade");
	if (upgrade && !strcasecmp(upgrade, "cella-fds")) {
		struct MHD_Response *resp = MHD_create_response_for_upgrade(fds_upgraded, j);
		if (!resp) {
			stream_job_free(j);
			return reply_error(500, "cannot create the upgrade response");
		}
		MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "cella-fds");
		struct reply *up = reply_text(101, "", xstrdup(""));
		up->upgrade = resp;
		return up;
	}
	if (j->wait_ws) {
		slot_add(j, "0");
		if (!j->interactive) {
			slot_add(j, "1");
			slot_add(j, "2");
		}
		slot_add(j, "control");
	}
	cleanup_free char *desc = xasprintf("Executing command in %s", name);
	cleanup_free char *src = xasprintf("/1.0/instances/%s", name);
	struct op_spec spec = {
		.class = j->wait_ws ? OP_WEBSOCKET : OP_TASK, .description = desc, .run = exec_run, .data = j,
		.data_free = stream_job_free, .resources = json_pack("{s:[s]}", "instances", src),
		.may_cancel = j->wait_ws, .slots = j->slots, .n_slots = j->n_slots,
	};
	struct cella_error err = { 0 };
	struct operation *op = op_create(&spec, &err);
	if (!op)
		return reply_cella_error(&err);
	return op_reply(op);
}

/* ---------------------------------------------------------------- console */

static int console_run(struct operation *op, void *data, struct cella_error *err)
{
	struct stream_job *j = data;
	if (op_wait_connected(op, CONNECT_TIMEOUT, err) < 0)
		return -1;
	cleanup_close int fd = cella_instance_console_open(g_daemon.host, j->name, err);
	if (fd < 0)
		return -1;
	cleanup_close int stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (stop < 0)
		return cella_error_set(err, errno, "eventfd");
	struct relay_thread rt[2] = { 0 };
	relay_start(&rt[0], slot_get(j, "0"), fd, fd, false, -1, NULL, NULL);
	relay_start(&rt[1], slot_get(j, "control"), -1, -1, false, stop, control_message, j);
	relay_join(&rt[0]);
	uint64_t one = 1;
	if (write(stop, &one, sizeof(one)) < 0)
		log_warn("console: eventfd: %s", strerror(errno));
	relay_join(&rt[1]);
	return 0;
}

static struct reply *console_post(struct request *req)
{
	const char *name = req_param(req, "name");
	json_t *b = req->json;
	static const char *const uints[] = { "width", "height" };
	for (size_t i = 0; i < ARRAY_SIZE(uints); i++) {
		json_t *v = json_object_get(b, uints[i]);
		if (v && !json_is_uint(v, 0xffff))
			return reply_error(400, "`%s` must be a non-negative integer", uints[i]);
	}
	const char *type = json_string_value(json_object_get(b, "type"));
	if (type && strcmp(type, "console") != 0)
		return reply_error(400, "unsupported console `type` `%s` (console)", type);
	struct reply *r = instance_precheck(name);
	if (r)
		return r;
	struct stream_job *j = xmalloc0(sizeof(*j));
	j->ctl_w = j->pty_master = -1;
	j->name = xstrdup(name);
	j->console = true;
	slot_add(j, "0");
	slot_add(j, "control");
	cleanup_free char *desc = xasprintf("Showing console of %s", name);
	cleanup_free char *src = xasprintf("/1.0/instances/%s", name);
	struct op_spec spec = {
		.class = OP_WEBSOCKET, .description = desc, .run = console_run, .data = j,
		.data_free = stream_job_free, .resources = json_pack("{s:[s]}", "instances", src),
		.may_cancel = true, .slots = j->slots, .n_slots = j->n_slots,
	};
	struct cella_error err = { 0 };
	struct operation *op = op_create(&spec, &err);
	if (!op)
		return reply_cella_error(&err);
	return op_reply(op);
}

const struct route exec_routes[] = {
	{ "POST", "/1.0/instances/{name}/exec", exec_post, ROUTE_BODY_JSON,
	  FIELDS("command", "environment", "user", "group", "cwd", "interactive", "width", "height",
		 "wait-for-websocket", "record-output"),
	  "Run a command in an instance (websocket operation)" },
	{ "POST", "/1.0/instances/{name}/console", console_post, ROUTE_BODY_JSON, FIELDS("width", "height", "type"),
	  "Attach to the console (websocket operation)" },
	{ 0 },
};
