/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cella: the command-line client of cellad.  It speaks only the REST API on
 * cellad's unix socket (CELLA_SOCKET, default /run/cella/unix.socket) and
 * starts the daemon when the socket is absent.  This file holds the command
 * table, the shared helpers, and the edge where a failed command's error is
 * printed once ("Error: ...") and becomes exit status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cella.h"
#include "util.h"

#define PROGRAM "cella"

/* Commands that never talk to the daemon. */
#define CMD_LOCAL (1u << 0)
#define ANY -1

struct command {
	const char *name;
	cmd_fn *run;
	const struct opt *opts;
	unsigned flags;
	int min_args, max_args;
	const char *usage;
	const char *summary;
};

static cmd_fn cmd_help, cmd_version;
/* network.c */
cmd_fn cmd_network;
extern const struct opt network_opts[];

const struct opt no_opts[] = { OPT_END };

static const struct command commands[] = {
	{ "launch", cmd_launch, launch_opts, 0, 2, 2, "IMAGE NAME", "create and start an instance" },
	{ "create", cmd_create, launch_opts, 0, 2, 2, "IMAGE NAME", "create an instance (not started)" },
	{ "start", cmd_start, no_opts, 0, 1, ANY, "NAME...", "start instances" },
	{ "stop", cmd_stop, stop_opts, 0, 1, ANY, "NAME...", "stop instances" },
	{ "restart", cmd_restart, stop_opts, 0, 1, ANY, "NAME...", "restart instances" },
	{ "freeze", cmd_freeze, no_opts, 0, 1, ANY, "NAME...", "freeze (pause) every process of instances" },
	{ "unfreeze", cmd_unfreeze, no_opts, 0, 1, ANY, "NAME...", "thaw frozen instances" },
	{ "delete", cmd_delete, delete_opts, 0, 1, ANY, "NAME...", "delete instances" },
	{ "list", cmd_list, list_opts, 0, 0, ANY, "[FILTER...]", "list instances" },
	{ "info", cmd_info, no_opts, 0, 1, 1, "NAME", "show an instance's state, limits, usage and snapshots" },
	{ "exec", cmd_exec, exec_opts, 0, 2, ANY, "NAME -- COMMAND [ARG...]",
	  "run a command in an instance (exit code passed through)" },
	{ "shell", cmd_shell, no_opts, 0, 1, 1, "NAME", "open a login shell in an instance" },
	{ "console", cmd_console, console_opts, 0, 1, 1, "NAME", "attach to an instance's console (ctrl-a q detaches)" },
	{ "file", cmd_file, file_opts, 0, 1, ANY, "push|pull|edit ...", "move files in and out of instances" },
	{ "config", cmd_config, config_opts, 0, 1, ANY, "set|get|unset|show|edit|device ...",
	  "an instance's configuration" },
	{ "profile", cmd_profile, profile_opts, 0, 1, ANY,
	  "list|show|create|delete|edit|set|unset|get|add|remove ...", "profiles" },
	{ "network", cmd_network, network_opts, 0, 1, ANY, "list|show|info|create|set|unset|delete|forward ...",
	  "managed networks" },
	{ "image", cmd_image, image_opts, 0, 1, ANY, "list|info|build|import|delete|alias ...", "images" },
	{ "snapshot", cmd_snapshot, snapshot_opts, 0, 1, ANY, "create|list|restore|delete NAME [SNAP]",
	  "instance snapshots" },
	{ "copy", cmd_copy, no_opts, 0, 2, 2, "SOURCE[/SNAP] TARGET", "copy an instance or a snapshot" },
	{ "rename", cmd_rename, no_opts, 0, 2, 2, "OLD NEW", "rename an instance" },
	{ "operation", cmd_operation, operation_opts, 0, 1, ANY, "list|show|wait|cancel [ID]",
	  "background operations" },
	{ "monitor", cmd_monitor, monitor_opts, 0, 0, 0, "", "print the daemon's events" },
	{ "version", cmd_version, no_opts, 0, 0, 0, "", "print the client and daemon versions" },
	{ "help", cmd_help, no_opts, CMD_LOCAL, 0, 1, "[COMMAND]", "show help" },
};

static const struct command *command_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: " PROGRAM " [--no-autostart] COMMAND [options] [arguments]\n\n"
		   "The client of cellad, the Cella daemon.\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nGlobal options:\n  --no-autostart  never start cellad (also CELLA_NO_AUTOSTART=1)\n"
		   "  --version       print the client version\n"
		   "\nEnvironment: CELLA_SOCKET (default " DEFAULT_SOCKET "), CELLA_DAEMON_ARGS.\n"
		   "Run '" PROGRAM " help COMMAND' for the options of a command.\n");
}

static void command_usage(const struct command *c)
{
	printf("Usage: " PROGRAM " %s%s%s%s\n\n%s\n\nOptions:\n", c->name,
	       c->opts[0].name ? " [options]" : "", *c->usage ? " " : "", c->usage, c->summary);
	opts_help(stdout, c->opts);
	/* grouped commands list their subcommands */
	if (strchr(c->usage, '|')) {
		struct client none = { .socket = DEFAULT_SOCKET };
		struct args h = { 0 };
		char *sub[] = { "help", NULL };
		struct cella_error e = { 0 };

		h.pos = sub;
		h.npos = 1;
		c->run(&none, &h, &e);
	}
}

static int cmd_help(struct client *c, struct args *a, struct cella_error *err)
{
	const struct command *cmd;

	(void)c;
	if (a->npos == 0) {
		usage(stdout);
		return 0;
	}
	cmd = command_find(a->pos[0]);
	if (!cmd)
		return cella_error_set(err, 0, "unknown command `%s`", a->pos[0]);
	command_usage(cmd);
	return 0;
}

static int cmd_version(struct client *c, struct args *a, struct cella_error *err)
{
	json_t *server;

	(void)a;
	printf("Client version: " CELLA_VERSION "\n");
	server = api_get(c, "/1.0", err);
	if (!server)
		return -1;
	const char *v = json_string_value(json_object_get(json_object_get(server, "environment"),
							   "server_version"));
	if (!v)
		v = json_string_value(json_object_get(server, "api_version"));
	printf("Server version: %s\n", v ? v : "unknown");
	json_decref(server);
	return 0;
}

/* ---- helpers shared by the command files ---- */

void progress(struct client *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->progress)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

int need_args(const struct args *a, int n, const char *usage_text, struct cella_error *err)
{
	if (a->npos < n)
		return cella_error_set(err, 0, "missing argument; usage: " PROGRAM " %s", usage_text);
	return 0;
}

int kv_split(const char *s, char **key, char **value, struct cella_error *err)
{
	const char *eq = strchr(s, '=');

	if (!eq || eq == s)
		return cella_error_set(err, 0, "invalid `%s`: expected key=value", s);
	*key = strndup(s, eq - s);
	*value = xstrdup(eq + 1);
	return 0;
}

char *file_read(const char *path, size_t *len, struct cella_error *err)
{
	cleanup_close int fd = -1;
	char *data;

	if (!strcmp(path, "-"))
		return read_fd_text(0, len, err);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cella_error_set(err, errno, "open `%s`", path), NULL;
	data = read_fd_text(fd, len, err);
	if (!data)
		cella_error_wrap(err, "read `%s`", path);
	return data;
}

char *editor_run(const char *text, const char *suffix, struct cella_error *err)
{
	char tmpl[64];
	cleanup_close int fd = -1;
	const char *editor = getenv("VISUAL");
	cleanup_free char *cmd = NULL;
	char *out;
	int status;
	pid_t pid;

	if (!editor || !*editor)
		editor = getenv("EDITOR");
	if (!editor || !*editor)
		editor = "vi";
	snprintf(tmpl, sizeof(tmpl), "/tmp/cella-edit-XXXXXX%s", suffix);
	fd = mkostemps(tmpl, strlen(suffix), O_CLOEXEC);
	if (fd < 0)
		return cella_error_set(err, errno, "temporary file"), NULL;
	if (write_all(fd, text, strlen(text)) < 0) {
		unlink(tmpl);
		return cella_error_set(err, errno, "write `%s`", tmpl), NULL;
	}
	cmd = xasprintf("%s \"$1\"", editor);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, "sh", tmpl, (char *)NULL);
		_exit(127);
	}
	if (pid < 0) {
		unlink(tmpl);
		return cella_error_set(err, errno, "fork"), NULL;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		unlink(tmpl);
		return cella_error_set(err, 0, "editor `%s` failed", editor), NULL;
	}
	out = read_file_at(AT_FDCWD, tmpl, NULL, err);
	unlink(tmpl);
	return out;
}

json_t *text_to_json(const char *text, struct cella_error *err)
{
	json_error_t je;
	json_t *v = json_loads(text, 0, &je);

	if (!v)
		return cella_error_set(err, 0, "invalid JSON at line %d: %s", je.line, je.text), NULL;
	if (!json_is_object(v)) {
		json_decref(v);
		return cella_error_set(err, 0, "invalid JSON: expected an object"), NULL;
	}
	return v;
}

static void subcommands_help(const char *group, const struct subcommand *subs, size_t n)
{
	(void)group;
	printf("\nSubcommands:\n");
	for (size_t i = 0; i < n; i++)
		printf("  %-8s %-34s %s\n", subs[i].name, subs[i].usage, subs[i].summary);
}

int subcommand_run(const char *group, const struct subcommand *subs, size_t n, struct client *c,
		   struct args *a, struct cella_error *err)
{
	const char *name = a->pos[0];

	if (!strcmp(name, "help") || a->help) {
		subcommands_help(group, subs, n);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(subs[i].name, name))
			continue;
		a->pos++;
		a->npos--;
		if (a->npos < subs[i].min_args)
			return cella_error_set(err, 0, "missing argument; usage: " PROGRAM " %s %s %s", group,
					       subs[i].name, subs[i].usage);
		if (subs[i].max_args >= 0 && a->npos > subs[i].max_args)
			return cella_error_set(err, 0, "unexpected argument `%s`; usage: " PROGRAM " %s %s %s",
					       a->pos[subs[i].max_args], group, subs[i].name, subs[i].usage);
		return subs[i].run(c, a, err);
	}
	return cella_error_set(err, 0, "unknown command `%s %s`; see '" PROGRAM " help %s'", group, name, group);
}

/* ---- the edge ---- */

static int run(int argc, char **argv, struct cella_error *err)
{
	struct client c = { 0 };
	struct args a = { .timeout = -1 };
	const struct command *cmd;
	const char *env;
	int first = 1, ret;
	bool no_autostart = false;

	/* global options before the command */
	for (; first < argc && argv[first][0] == '-'; first++) {
		if (!strcmp(argv[first], "--no-autostart")) {
			no_autostart = true;
		} else if (!strcmp(argv[first], "--version")) {
			printf(CELLA_VERSION "\n");
			return 0;
		} else if (!strcmp(argv[first], "-h") || !strcmp(argv[first], "--help")) {
			usage(stdout);
			return 0;
		} else {
			return cella_error_set(err, 0, "unknown flag: %s", argv[first]);
		}
	}
	if (first >= argc) {
		return cella_error_set(err, 0, "no command given; see '" PROGRAM " help'");
	}
	cmd = command_find(argv[first]);
	if (!cmd)
		return cella_error_set(err, 0, "unknown command `%s`; see '" PROGRAM " help'", argv[first]);
	/* --no-autostart is accepted anywhere before "--" */
	int nargs = 0;
	char **rest = xmalloc0(sizeof(char *) * (argc + 1));
	bool dashdash = false;
	for (int i = first + 1; i < argc; i++) {
		if (!dashdash && !strcmp(argv[i], "--no-autostart")) {
			no_autostart = true;
			continue;
		}
		if (!strcmp(argv[i], "--"))
			dashdash = true;
		rest[nargs++] = argv[i];
	}
	env = getenv("CELLA_NO_AUTOSTART");
	if (env && *env && strcmp(env, "0"))
		no_autostart = true;
	c.autostart = !no_autostart;
	env = getenv("CELLA_SOCKET");
	c.socket = env && *env ? env : DEFAULT_SOCKET;
	c.progress = isatty(STDOUT_FILENO);

	if (opts_parse(cmd->opts, &a, nargs, rest, err) < 0) {
		cella_error_wrap(err, "%s", cmd->name);
		goto out;
	}
	if (a.help) {
		command_usage(cmd);
		ret = 0;
		goto out;
	}
	if (a.npos < cmd->min_args) {
		cella_error_set(err, 0, "%s: missing %s; usage: " PROGRAM " %s %s", cmd->name,
				cmd->min_args == 1 && strstr(cmd->usage, "NAME") == cmd->usage ? "instance name"
												 : "argument",
				cmd->name, cmd->usage);
		goto out;
	}
	if (cmd->max_args >= 0 && a.npos > cmd->max_args) {
		cella_error_set(err, 0, "%s: unexpected argument `%s`; usage: " PROGRAM " %s %s", cmd->name,
				a.pos[cmd->max_args], cmd->name, cmd->usage);
		goto out;
	}
	ret = cmd->run(&c, &a, err);
	args_free(&a);
	free(rest);
	return ret;
out:
	args_free(&a);
	free(rest);
	return err->msg[0] ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct cella_error err = { 0 };
	int ret;

	signal(SIGPIPE, SIG_IGN);
	ret = run(argc, argv, &err);
	fflush(stdout);
	if (ret < 0) {
		fprintf(stderr, "Error: %s\n", err.msg[0] ? err.msg : "failed");
		return 1;
	}
	return ret;
}
