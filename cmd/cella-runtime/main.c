/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cella-runtime: an OCI runtime with runc's command line, as podman, conmon
 * and containerd's runc shim call it.  This file holds the global options,
 * the command table and the edge where a failed command's error is printed
 * once and turned into the exit status.
 */
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "util.h"

#define PROGRAM "cella-runtime"
#define OCI_SPEC_VERSION "1.2.0"
#define DEFAULT_ROOT "/run/" PROGRAM

struct globals {
	const char *root;
	const char *log;
	const char *log_format;
	const char *criu;
	const char *rootless;
	bool debug;
	bool systemd_cgroup;
	bool version;
};
#define GLOBAL(field) offsetof(struct globals, field)

static const struct opt global_opts[] = {
	{ "root", 0, OPT_STRING, GLOBAL(root), "DIR", "state directory (default: " DEFAULT_ROOT ")" },
	{ "log", 0, OPT_STRING, GLOBAL(log), "FILE", "append log entries to FILE (default: stderr)" },
	{ "log-format", 0, OPT_CHOICE, GLOBAL(log_format), "text|json", "log format (default: text)" },
	{ "debug", 0, OPT_BOOL, GLOBAL(debug), NULL, "log debug messages" },
	{ "systemd-cgroup", 0, OPT_BOOL, GLOBAL(systemd_cgroup), NULL,
	  "accepted; the cgroupfs manager is used" },
	{ "criu", 0, OPT_STRING, GLOBAL(criu), "PATH", "accepted and ignored" },
	{ "rootless", 0, OPT_CHOICE, GLOBAL(rootless), "true|false|auto", "accepted (default: auto)" },
	{ "version", 'v', OPT_BOOL, GLOBAL(version), NULL, "print the version" },
	OPT_END
};

/* Commands taking a container id as their first argument. */
#define CMD_ID (1u << 0)
/* Options end at the id: what follows goes to ps(1). */
#define CMD_STOP_AT_ARG (1u << 1)
/* Puts a process into a container: runs from a sealed copy of the binary. */
#define CMD_SEALED (1u << 2)
#define ANY_ARGS -1

struct command {
	const char *name;
	cmd_fn *run;
	const struct opt *opts[OPT_TABLES];
	unsigned flags;
	int max_args;         /* positional arguments after the id, or ANY_ARGS */
	const char *usage;    /* the arguments, for --help */
	const char *summary;
};

static cmd_fn cmd_help;

static const struct command commands[] = {
	{ "create", cmd_create, { create_opts }, CMD_ID | CMD_SEALED, 0, "<container-id>", "create a container" },
	{ "start", cmd_start, { NULL }, CMD_ID, 0, "<container-id>",
	  "start the user process of a created container" },
	{ "run", cmd_run, { create_opts, run_opts }, CMD_ID | CMD_SEALED, 0, "<container-id>",
	  "create and start a container, wait for it unless detached" },
	{ "state", cmd_state, { NULL }, CMD_ID, 0, "<container-id>",
	  "print the OCI state of a container as JSON" },
	{ "kill", cmd_kill, { kill_opts }, CMD_ID, 1, "<container-id> [signal]",
	  "send a signal (default: SIGTERM) to the container's init process" },
	{ "delete", cmd_delete, { delete_opts }, CMD_ID, 0, "<container-id>",
	  "delete a container and the resources it holds" },
	{ "list", cmd_list, { list_opts }, 0, 0, "", "list the containers under the state directory" },
	{ "ps", cmd_ps, { ps_opts }, CMD_ID | CMD_STOP_AT_ARG, ANY_ARGS,
	  "<container-id> [ps options]", "show the processes of a container" },
	{ "pause", cmd_pause, { NULL }, CMD_ID, 0, "<container-id>",
	  "suspend every process of a container" },
	{ "resume", cmd_resume, { NULL }, CMD_ID, 0, "<container-id>",
	  "resume the processes of a paused container" },
	{ "features", cmd_features, { NULL }, 0, 0, "", "print the enabled features as JSON" },
	{ "spec", cmd_spec, { spec_opts }, 0, 0, "", "write a default config.json" },
	{ "exec", cmd_exec, { exec_opts }, CMD_ID | CMD_STOP_AT_ARG | CMD_SEALED, ANY_ARGS,
	  "<container-id> [command [args...]]", "run a new process in a running container" },
	{ "update", cmd_update, { update_opts }, CMD_ID, 0, "<container-id>",
	  "change the resource limits of a container" },
	{ "help", cmd_help, { NULL }, 0, 1, "[command]", "show the help of the program or a command" },
};

static const struct command *command_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void usage(void)
{
	const struct opt *const globals[OPT_TABLES] = { global_opts };

	printf("Usage: " PROGRAM " [global options] <command> [options] [arguments]\n\n"
	       "An OCI runtime with the command line of runc.\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		printf("  %-10s %s\n", commands[i].name, commands[i].summary);
	printf("\nGlobal options:\n");
	opts_help(stdout, globals);
	printf("\nRun '" PROGRAM " <command> --help' for the options of a command.\n");
}

/* "cella-runtime kill [options] <container-id> [signal]" */
static const char *command_synopsis(const struct command *c, char *buf, size_t size)
{
	snprintf(buf, size, PROGRAM " %s%s%s%s", c->name, c->opts[0] ? " [options]" : "",
		 *c->usage ? " " : "", c->usage);
	return buf;
}

static void command_usage(const struct command *c)
{
	char synopsis[128];

	printf("Usage: %s\n\n%s\n\nOptions:\n", command_synopsis(c, synopsis, sizeof(synopsis)),
	       c->summary);
	opts_help(stdout, c->opts);
}

static int cmd_help(struct cella_runtime *rt, struct cmd_args *a, struct cella_error *err)
{
	const struct command *c;

	(void)rt;
	if (a->nrest == 0) {
		usage();
		return 0;
	}
	c = command_find(a->rest[0]);
	if (!c)
		return cella_error_set(err, 0, "unknown command `%s`", a->rest[0]);
	command_usage(c);
	return 0;
}

int print_text(const char *text, const char *what, struct cella_error *err)
{
	size_t len;

	if (!text)
		return cella_error_set(err, ENOMEM, "%s", what);
	len = strlen(text);
	fputs(text, stdout);
	if (len == 0 || text[len - 1] != '\n')
		putchar('\n');
	return 0;
}

/* Parse a command's options and arguments into `a`, then run it. */
/* fds 3, 4, ... open when we started, up to the first gap */
static int inherited_fds;

static int command_parse_run(const struct command *c, struct cella_runtime *rt, struct cmd_args *a,
			     int argc, char **argv, struct cella_error *err)
{
	char synopsis[128];
	bool help = false;
	int npos, first = 0;

	if (opts_parse(c->opts, a, argc, argv, c->flags & CMD_STOP_AT_ARG, &npos, &help, err) < 0)
		return -1;
	if (help) {
		command_usage(c);
		return 0;
	}
	if (c->flags & CMD_ID) {
		if (npos == 0)
			return cella_error_set(err, 0, "%s: missing container id; usage: %s", c->name,
					       command_synopsis(c, synopsis, sizeof(synopsis)));
		a->id = argv[first++];
	}
	if (c->max_args != ANY_ARGS && npos - first > c->max_args)
		return cella_error_set(err, 0, "%s: unexpected argument `%s`; usage: %s", c->name,
				       argv[first + c->max_args],
				       command_synopsis(c, synopsis, sizeof(synopsis)));
	a->rest = argv + first;
	a->nrest = npos - first;
	int preserve = a->create.preserve_fds > a->exec.preserve_fds ? a->create.preserve_fds
								     : a->exec.preserve_fds;
	/* counted at startup: our own fds (the log) must not fill a gap */
	if (preserve > inherited_fds)
		return cella_error_set(err, EBADF, "--preserve-fds %d: fd %d is not open", preserve,
				       3 + inherited_fds);
	return c->run(rt, a, err);
}

/* Run a command; free what option parsing allocated (OPT_LIST arrays). */
static int command_exec(const struct command *c, struct cella_runtime *rt, int argc, char **argv,
			struct cella_error *err)
{
	struct cmd_args a = {
		.create.bundle = ".",
		.format = "table",
	};
	int r = command_parse_run(c, rt, &a, argc, argv, err);
	free(a.exec_env.v);
	free(a.exec_caps.v);
	return r;
}

static void version(void)
{
	printf(PROGRAM " version %s\nspec: " OCI_SPEC_VERSION "\njansson: %s\n", cella_version(),
	       jansson_version_str());
}

/* runc's rule: an unprivileged user keeps its state under $XDG_RUNTIME_DIR. */
static const char *default_root(char **buf)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (geteuid() == 0 || !xdg || !*xdg)
		return DEFAULT_ROOT;
	*buf = xasprintf("%s/" PROGRAM, xdg);
	return *buf;
}

/* Tell, with --debug, what the accepted-but-unused global options do. */
static void globals_log(struct cella_runtime *rt, const struct globals *g)
{
	if (g->systemd_cgroup)
		cmd_log(rt, CELLA_LOG_DEBUG, "--systemd-cgroup: the cgroupfs manager is used");
	if (g->criu)
		cmd_log(rt, CELLA_LOG_DEBUG, "--criu %s ignored: checkpoint/restore is not supported",
			g->criu);
	if (strcmp(g->rootless, "auto"))
		cmd_log(rt, CELLA_LOG_DEBUG, "--rootless=%s ignored: rootless mode is detected",
			g->rootless);
}

int main(int argc, char **argv)
{
	cleanup_free char *root_buf = NULL;
	struct globals g = { .log_format = "text", .rootless = "auto" };
	const struct opt *const globals[OPT_TABLES] = { global_opts };
	struct log_sink log = { .fd = -1 };
	struct cella_runtime rt = { .log = log_sink_write, .log_data = &log };
	struct cella_error err = { 0 };
	const struct command *c;
	bool help = false;
	int npos, status = -1;

	while (fcntl(3 + inherited_fds, F_GETFD) >= 0)
		inherited_fds++;
	if (argc < 1)
		return 1;
	/* option parsing reorders argv; a re-exec gets it as we did */
	cleanup_free char **argv0 = xmalloc0((argc + 1) * sizeof(*argv));
	memcpy(argv0, argv, (argc + 1) * sizeof(*argv));
	if (opts_parse(globals, &g, argc - 1, argv + 1, true, &npos, &help, &err) < 0)
		goto out;
	if (g.version) {
		version();
		return 0;
	}
	if (help || npos == 0) {
		usage();
		return 0;
	}
	log.json = !strcmp(g.log_format, "json");
	log.debug = g.debug;
	if (g.log && log_sink_open(&log, g.log, &err) < 0)
		goto out;
	rt.root = g.root ? g.root : default_root(&root_buf);
	rt.debug = g.debug;
	rt.systemd_cgroup = g.systemd_cgroup;
	globals_log(&rt, &g);

	c = command_find(argv[1]);
	if (!c) {
		cella_error_set(&err, 0, "unknown command `%s`", argv[1]);
		goto out;
	}
	if ((c->flags & CMD_SEALED) && cella_exe_seal(argv0, &err) < 0)
		goto out;
	status = command_exec(c, &rt, npos - 1, argv + 2, &err);
	if (status >= 0 && (fflush(stdout) != 0 || ferror(stdout))) {
		cella_error_set(&err, errno, "write to stdout");
		status = -1;
	}
out:
	if (status < 0)
		log_sink_error(&log, err.msg);
	if (log.fd >= 0)
		close(log.fd);
	return status < 0 ? 1 : status;
}
