/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared by the cella command files: the connection to cellad (HTTP and
 * websockets over its unix socket), the option parser, output formats and
 * the command handlers main.c dispatches to.
 */
#ifndef CELLA_CLI_H
#define CELLA_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cella/error.h>

#define DEFAULT_SOCKET "/run/cella/unix.socket"

/* ---- the connection to cellad (http.c, autostart.c) ---- */

struct client {
	const char *socket;   /* CELLA_SOCKET or DEFAULT_SOCKET */
	bool autostart;       /* start cellad when the socket is absent */
	bool started;         /* already tried (or found it running) */
	bool progress;        /* stdout is a terminal: say what is going on */
};

/* A connected stream socket to cellad, starting it first when allowed. */
int client_connect(struct client *c, struct cella_error *err);
/* Start cellad detached and wait for its socket (autostart.c). */
int daemon_autostart(struct client *c, struct cella_error *err);

struct http_header {
	char *name, *value;
};

struct http_response {
	int status;
	char *body;           /* NUL-terminated for convenience; len excludes the NUL */
	size_t len;
	struct http_header *headers;
	size_t nheaders;
};

void http_response_free(struct http_response *r);
#define cleanup_response __attribute__((cleanup(http_response_free)))
const char *http_header_get(const struct http_response *r, const char *name);

/* One request; `extra` is NULL or a NULL-terminated list of "Name: value". */
int http_request(struct client *c, const char *method, const char *path, const char *ctype,
		 const void *body, size_t len, const char *const *extra, struct http_response *r,
		 struct cella_error *err);

/*
 * Parse an HTTP/1.1 response in `buf` (the whole stream up to EOF): status
 * line, headers, then a Content-Length, chunked or read-to-EOF body.
 * Exposed for the fuzz-like tests.
 */
int http_parse_response(const char *buf, size_t len, struct http_response *r, struct cella_error *err);

/*
 * The API's envelopes: a sync answer gives its metadata (new reference;
 * json null when absent), an async one the operation's envelope
 * (*async = true), an error envelope (or any 4xx/5xx) sets `err` to the
 * daemon's message.  `body` may be NULL.
 */
json_t *api_call(struct client *c, const char *method, const char *path, json_t *body, bool *async,
		 struct cella_error *err);
/* GET's metadata. */
json_t *api_get(struct client *c, const char *path, struct cella_error *err);
/*
 * A call whose async answer is waited for: returns the sync metadata or the
 * finished operation (a "Failure" is an error with the operation's "err").
 */
json_t *api_do(struct client *c, const char *method, const char *path, json_t *body,
	       struct cella_error *err);
/* api_do() when the answer itself is not wanted; BODY (may be NULL) is released. */
int api_run(struct client *c, const char *method, const char *path, json_t *body, struct cella_error *err);
/* Wait for an operation ("/1.0/operations/ID" or its id) and check its outcome. */
json_t *operation_wait(struct client *c, const char *op, bool check, struct cella_error *err);
/* "a/b c" -> "a%2Fb%20c" for a path segment or a query value (caller frees). */
char *url_escape(const char *s);
/* "/1.0/COLLECTION/NAME-escaped" followed by SUFFIX (or nothing); caller frees. */
char *api_path(const char *collection, const char *name, const char *suffix);
/* DELETE each /1.0/COLLECTION/NAME in turn, stopping at the first failure. */
int api_delete_each(struct client *c, const char *collection, char *const *names, int n, struct cella_error *err);

/* ---- websockets (ws.c) ---- */

struct ws;
/* Connect to an operation's websocket with its secret. */
struct ws *ws_open(struct client *c, const char *path, struct cella_error *err);
void ws_close(struct ws *w);
int ws_fd(const struct ws *w);
/* Queue a message (binary or text). */
int ws_send(struct ws *w, bool text, const void *data, size_t len);
/* Queue a close frame: for stdin, EOF. */
void ws_send_close(struct ws *w);
/*
 * Do what poll() said is ready: read frames (handing data to `on_data`) and
 * flush queued output.  Returns 0, or -1 when the connection is finished
 * (closed by the peer or failed).
 */
typedef void ws_data_fn(void *data, const unsigned char *buf, size_t len);
int ws_pump(struct ws *w, short revents, ws_data_fn *on_data, void *data);
/* Events wanted for poll(): POLLIN and/or POLLOUT, 0 when finished. */
short ws_events(const struct ws *w);
bool ws_finished(const struct ws *w);

/* ---- options (args.c) ---- */

enum opt_kind {
	OPT_BOOL,     /* --flag */
	OPT_STRING,   /* --opt VALUE, --opt=VALUE, -o VALUE */
	OPT_INT,      /* a decimal integer */
	OPT_LIST,     /* every occurrence appended to a struct strv */
};

struct strv {
	char **v;     /* NULL-terminated */
	size_t n;
};

struct opt {
	const char *name;
	char alias;
	enum opt_kind kind;
	size_t offset;        /* in struct args */
	const char *arg;      /* value name for --help */
	const char *help;
};
#define OPT_END { NULL, 0, OPT_BOOL, 0, NULL, NULL }

/* Everything any command's options parse into. */
struct args {
	char **pos;           /* positional arguments (after the command words) */
	int npos;
	char **pos_alloc;     /* what pos pointed to first (subcommands advance pos) */
	bool help;
	/* shared */
	const char *format;   /* -f */
	const char *columns;  /* -c for list */
	bool force;
	int timeout;
	/* launch/create */
	struct strv config, profiles;
	const char *type;
	bool ephemeral;
	bool no_profiles;
	const char *description;
	/* exec */
	const char *user, *group, *cwd;
	struct strv env;
	bool tty, no_tty;
	/* console */
	bool show_log;
	/* file */
	const char *uid, *gid, *mode;
	bool mkdirs;
	/* config */
	bool expanded;
	/* image */
	const char *variant;
	struct strv alias;
	/* monitor */
	struct strv types;
};
#define ARG(field) offsetof(struct args, field)

/*
 * Parse options in argv[0..argc) (options may follow arguments; "--" ends
 * them, and with `stop_at_dashdash` the rest are positional).  Positional
 * arguments land in a->pos.
 */
int opts_parse(const struct opt *opts, struct args *a, int argc, char **argv, struct cella_error *err);
void opts_help(FILE *f, const struct opt *opts);
void args_free(struct args *a);

/* ---- output (format.c) ---- */

enum format { FMT_TABLE, FMT_COMPACT, FMT_CSV, FMT_JSON, FMT_YAML };
int format_parse(const char *s, enum format *f, struct cella_error *err);

/* A table: rows of strings, one header row. */
struct table {
	size_t ncols;
	const char **headers;
	char ***rows;         /* rows[i][j], owned */
	size_t nrows;
};
void table_init(struct table *t, size_t ncols, const char **headers);
/* Append a row; takes ownership of the strings (NULL is empty). */
void table_add(struct table *t, char **cells);
void table_free(struct table *t);
/* Render as table (boxed), compact (aligned columns), csv. */
void table_print(FILE *f, const struct table *t, enum format fmt);
/* Print a jansson value as YAML (block style, strings quoted when needed). */
void yaml_print(FILE *f, const json_t *v);
/* JSON (indented) or YAML of an API object; other formats fall back to YAML. */
void value_print(FILE *f, const json_t *v, enum format fmt);
/*
 * A `list` command: GET path (recursion=1), print it as the API gave it for
 * json/yaml, else as a table of ncols; `prepare` (may be NULL) turns the
 * list into the rows (and takes it), `row` fills one row's cells.
 */
int list_show(struct client *c, const char *format, const char *path, const char **headers, size_t ncols,
	      json_t *(*prepare)(json_t *list), void (*row)(json_t *item, char **cells), struct cella_error *err);
/* "1.50GiB" */
char *human_bytes(double n);

/* ---- helpers shared by commands ---- */

/* Say what we do, on a terminal only ("Creating c1"). */
void progress(struct client *c, const char *fmt, ...) CELLA_PRINTF(2, 3);
/* Read a whole file (or stdin with "-"). */
char *file_read(const char *path, size_t *len, struct cella_error *err);
/* Edit `text` in $EDITOR; returns the new text. */
char *editor_run(const char *text, const char *suffix, struct cella_error *err);
/* Parse YAML-ish "key: value" text or JSON back into an object (edit). */
json_t *text_to_json(const char *text, struct cella_error *err);
/* "key=value" split into a new key and value (caller frees both). */
int kv_split(const char *s, char **key, char **value, struct cella_error *err);
/* The name must be non-empty; a helpful error names the command. */
int need_args(const struct args *a, int n, const char *usage, struct cella_error *err);

/* Read-modify-write of an instance or a profile (config.c). */
json_t *object_writable(const json_t *obj, bool profile);
int object_modify(struct client *c, const char *path, bool profile,
		  int (*fn)(json_t *w, struct args *a, struct cella_error *err), struct args *a,
		  struct cella_error *err);
int object_edit(struct client *c, const char *path, bool profile, struct cella_error *err);
int config_set_pairs(json_t *w, struct args *a, struct cella_error *err);
int config_unset_keys(json_t *w, struct args *a, struct cella_error *err);
void config_value_print(const json_t *v);
/* Bytes waiting to be sent on a websocket (ws.c). */
size_t ws_queued(const struct ws *w);

/* ---- commands ---- */

/* A handler: returns the exit status, or -1 with err set (main prints it). */
typedef int cmd_fn(struct client *c, struct args *a, struct cella_error *err);

cmd_fn cmd_launch, cmd_create, cmd_start, cmd_stop, cmd_restart, cmd_freeze, cmd_unfreeze,
	cmd_delete, cmd_list, cmd_info, cmd_rename, cmd_copy, cmd_exec, cmd_shell, cmd_console,
	cmd_file, cmd_config, cmd_profile, cmd_image, cmd_snapshot, cmd_operation, cmd_monitor;

extern const struct opt launch_opts[], stop_opts[], delete_opts[], list_opts[], exec_opts[],
	console_opts[], file_opts[], config_opts[], profile_opts[], image_opts[], snapshot_opts[],
	operation_opts[], monitor_opts[], no_opts[];

/* Run a process in an instance, relaying stdio; returns its exit code. */
int exec_run(struct client *c, const char *name, json_t *req, bool interactive, struct cella_error *err);
/* A subcommand table for the grouped commands (file, config, profile...). */
struct subcommand {
	const char *name;
	cmd_fn *run;
	int min_args, max_args;  /* positional after the subcommand; -1: any */
	const char *usage;
	const char *summary;
};
int subcommand_run(const char *group, const struct subcommand *subs, size_t n, struct client *c,
		   struct args *a, struct cella_error *err);

#endif
