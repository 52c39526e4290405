/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared by the cella-runtime command files: option tables, the parsed
 * command line, the command handlers main.c dispatches to, and the log sink.
 */
#ifndef CELLA_RUNTIME_CMD_H
#define CELLA_RUNTIME_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cella/runtime.h>

/* ---- options (args.c) ---- */

enum opt_kind {
	OPT_BOOL,     /* --flag, --flag=true|false; never takes the next argument */
	OPT_STRING,   /* --opt VALUE, --opt=VALUE */
	OPT_COUNT,    /* a non-negative decimal integer */
	OPT_CHOICE,   /* one of the '|'-separated words in `arg` */
	OPT_LIST,     /* a string, every occurrence appended to a struct opt_list */
};

/* The values of an OPT_LIST option, in order; v is NULL-terminated. */
struct opt_list {
	char **v;
	size_t n;
};

/*
 * One option of a table.  `offset` locates the value (bool, const char *
 * or int) in the structure the table is parsed into.  Both "-name" and
 * "--name" are accepted, as urfave/cli does for runc.
 */
struct opt {
	const char *name;
	char alias;           /* one-letter form, or 0 */
	enum opt_kind kind;
	size_t offset;
	const char *arg;      /* value name for --help; the choices for OPT_CHOICE */
	const char *help;
};
#define OPT_END { NULL, 0, OPT_BOOL, 0, NULL, NULL }

/* At most this many option tables per command (run = create's + its own). */
#define OPT_TABLES 2

/*
 * Parse the options in argv[0..argc) into `base`.  The positional arguments
 * are moved, in order, to argv[0..*npos).  With `stop_at_arg`, parsing stops
 * at the first positional argument and the rest is left untouched (global
 * options, `ps ID [ps options]`); otherwise options may follow arguments.
 * "--" ends the options.  -h/--help set *help.
 */
int opts_parse(const struct opt *const tables[OPT_TABLES], void *base, int argc, char **argv,
	       bool stop_at_arg, int *npos, bool *help, struct cella_error *err);
/* The option lines of a --help text, including -h/--help. */
void opts_help(FILE *f, const struct opt *const tables[OPT_TABLES]);

/* ---- commands ---- */

/* A command's parsed options and arguments. */
struct cmd_args {
	const char *id;                   /* the container id, for CMD_ID commands */
	char **rest;                      /* the positional arguments after the id */
	int nrest;
	struct cella_create_opts create;  /* create, run; create.bundle also for spec */
	bool all;                         /* kill */
	bool force;                       /* delete */
	bool quiet;                       /* list */
	bool rootless;                    /* spec */
	const char *format;               /* list, ps: "table" or "json" */
	struct cella_exec_opts exec;      /* exec */
	const char *exec_process;         /* exec --process FILE */
	struct opt_list exec_env, exec_caps;
	struct {                          /* update: --resources FILE, or runc's flags */
		const char *resources, *memory, *memory_swap, *memory_reservation, *cpu_shares,
			*cpu_period, *cpu_quota, *cpuset_cpus, *cpuset_mems, *pids_limit,
			*blkio_weight;
	} update;
};
#define ARG(field) offsetof(struct cmd_args, field)

/*
 * A command handler: returns the exit status, or -1 with `err` set (main
 * prints it once and exits 1).
 */
typedef int cmd_fn(struct cella_runtime *rt, struct cmd_args *a, struct cella_error *err);

cmd_fn cmd_create, cmd_run, cmd_start, cmd_state, cmd_kill, cmd_delete, cmd_list, cmd_ps,
	cmd_pause, cmd_resume, cmd_features, cmd_spec, cmd_exec, cmd_update;

extern const struct opt create_opts[], run_opts[], kill_opts[], delete_opts[], list_opts[],
	ps_opts[], spec_opts[], exec_opts[], update_opts[];

/* Print library-made text (JSON) on stdout with a final newline; NULL is an error. */
int print_text(const char *text, const char *what, struct cella_error *err);

/* Release a state filled by cella_container_state() when it goes out of scope. */
#define cleanup_state __attribute__((cleanup(cella_state_release)))

/* ---- logging (log.c) ---- */

/*
 * Where diagnostics go: the --log file (appended to) or stderr, as logrus
 * text or JSON lines, which containerd and podman parse.
 */
struct log_sink {
	int fd;       /* the --log file, or -1 for stderr */
	bool json;
	bool debug;
};

int log_sink_open(struct log_sink *l, const char *path, struct cella_error *err);
/* The cella_runtime.log callback; `data` is the struct log_sink. */
void log_sink_write(void *data, enum cella_log_level level, const char *msg);
/* The final error of a command: one line on stderr, and one in the --log file. */
void log_sink_error(struct log_sink *l, const char *msg);
/* Log through the runtime's callback, as the library does. */
void cmd_log(struct cella_runtime *rt, enum cella_log_level level, const char *fmt, ...)
	CELLA_PRINTF(3, 4);

#endif
