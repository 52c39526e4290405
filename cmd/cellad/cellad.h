/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cellad: the daemon serving Cella's REST API on a unix socket. */
#ifndef CELLAD_H
#define CELLAD_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include <cella/manager.h>

#include "util.h"

/* ---- logging (log.c): stderr with syslog level prefixes, read by journald ---- */
enum { LOG_ERR_ = 3, LOG_WARN_ = 4, LOG_INFO_ = 6, LOG_DEBUG_ = 7 };
void log_set_debug(bool on);
void log_msg(int level, const char *fmt, ...) CELLA_PRINTF(2, 3);
#define log_error(...) log_msg(LOG_ERR_, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN_, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO_, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG_, __VA_ARGS__)

/* ---- the daemon ---- */
struct daemon_ctx {
	struct cella_host *host;
	const char *log_dir;
	gid_t group;          /* members may use the API; (gid_t)-1: root only */
	bool debug;
};
extern struct daemon_ctx g_daemon;

/* ---- requests and responses (server.c) ---- */
struct request;
struct reply;

typedef struct reply *(*handler_fn)(struct request *req);

/* Request bodies are JSON objects checked against `fields`, or raw bytes. */
enum { ROUTE_BODY_NONE = 0, ROUTE_BODY_JSON, ROUTE_BODY_RAW };

struct route {
	const char *method;
	const char *path;         /* "/1.0/instances/{name}": {x} is one path segment */
	handler_fn fn;
	int body;
	const char *const *fields; /* allowed top-level fields of a JSON body */
	const char *summary;       /* one line, also in docs/api.yaml */
};

#define FIELDS(...) ((const char *const[]){ __VA_ARGS__, NULL })

struct request {
	struct MHD_Connection *conn;
	const struct route *route;
	const char *method;
	/* path parameters, percent-decoded and validated */
	size_t n_params;
	char *param_names[4];
	char *params[4];
	/* body */
	char *body;
	size_t body_len, body_cap;
	int body_fd;              /* ROUTE_BODY_RAW: a memfd */
	json_t *json;             /* parsed ROUTE_BODY_JSON body, or NULL if empty */
	struct reply *early;      /* an error decided before the body was read */
	uid_t uid;
	pid_t pid;
};

/* Path parameter and query argument (percent-decoded; NULL if absent). */
const char *req_param(struct request *req, const char *name);
const char *req_query(struct request *req, const char *key, char *buf, size_t len);
const char *req_header(struct request *req, const char *name);
bool req_query_bool(struct request *req, const char *key);
int req_recursion(struct request *req);

/* A reply: built by handlers, queued by server.c. */
struct reply {
	unsigned int status;
	char *body;
	size_t body_len;
	int fd;                   /* a file body of `body_len` bytes, or -1 */
	const char *content_type;
	char *headers[8][2];
	size_t n_headers;
	struct MHD_Response *upgrade; /* a websocket upgrade, ready made */
};

struct reply *reply_sync(json_t *metadata);           /* steals metadata; NULL -> null */
struct reply *reply_async(const char *op_id, json_t *op);
struct reply *reply_error(int http_status, const char *fmt, ...) CELLA_PRINTF(2, 3);
struct reply *reply_cella_error(const struct cella_error *err);
struct reply *reply_text(unsigned int status, const char *content_type, char *text); /* steals */
void reply_add_header(struct reply *r, const char *name, const char *value);
void reply_free(struct reply *r);

/* Validation of names in paths: a DNS label, 1-63 chars. */
bool name_is_dns_label(const char *s);
/* Image fingerprints and aliases: [A-Za-z0-9._:-], 1-128, not starting with `.` or `-`. */
bool image_ref_is_valid(const char *s);

/* Route tables, one per resource file, listed in server.c. */
extern const struct route server_routes[];
extern const struct route operation_routes[];
extern const struct route event_routes[];
extern const struct route instance_routes[];
extern const struct route exec_routes[];
extern const struct route image_routes[];
extern const struct route profile_routes[];
extern const struct route metrics_routes[];

struct MHD_Daemon *server_start(int listen_fd, struct cella_error *err);
void server_list_routes(FILE *out);

/* ---- operations (operations.c) ---- */
struct operation;
typedef int (*op_run_fn)(struct operation *op, void *data, struct cella_error *err);

enum op_class { OP_TASK, OP_WEBSOCKET };

struct op_spec {
	enum op_class class;
	const char *description;
	json_t *resources;        /* {"instances":["/1.0/instances/x"]}: stolen */
	op_run_fn run;
	void *data;
	void (*data_free)(void *data);
	bool may_cancel;
	/* websocket operations: called with the upgraded socket of a matching secret */
	struct ws_slot *slots;
	size_t n_slots;
};

struct operation *op_create(const struct op_spec *spec, struct cella_error *err);
struct reply *op_reply(struct operation *op);     /* the 202 async reply; drops the caller's ref */
const char *op_id(const struct operation *op);
void op_ref(struct operation *op);
void op_unref(struct operation *op);
/* metadata: merged in (e.g. {"return": 0}); stolen. */
void op_set_metadata(struct operation *op, json_t *md);
bool op_cancelled(struct operation *op);
/* websocket operations: wait until every slot is connected, or cancel/timeout. */
int op_wait_connected(struct operation *op, int timeout_sec, struct cella_error *err);

/* ---- websockets (websocket.c) ---- */
/*
 * One websocket of an operation: a secret the client presents, the upgraded
 * socket once it connected, and what is relayed on it.
 */
struct ws_slot {
	char name[16];            /* "0", "1", "2", "control" */
	char secret[65];
	int sock;                 /* the upgraded socket, -1 until connected */
	struct MHD_UpgradeResponseHandle *urh;
	char *extra;
	size_t extra_len;
	bool connected;
	bool finished;
};

/* The 101 reply for a websocket request, or an error reply if the request is not one. */
struct reply *ws_accept(struct request *req, MHD_UpgradeHandler handler, void *cls);
/* Relay between a websocket and data fds until both directions are done. */
struct ws_relay {
	int sock;
	struct MHD_UpgradeResponseHandle *urh; /* closed when done */
	const char *extra;
	size_t extra_len;
	int from_fd;              /* data read here is sent as binary frames (-1: none) */
	int to_fd;                /* frames received are written here (-1: none) */
	bool shut_to_on_close;    /* shutdown(to_fd, SHUT_WR) at the client's EOF */
	int stop_fd;              /* readable: finish (-1: none) */
	bool text;                /* send text frames rather than binary */
	void (*on_text)(void *cls, const char *msg, size_t len);
	void *cls;
};
int ws_relay_run(const struct ws_relay *r);

/* ---- events (events.c) ---- */
void events_emit(const char *type, json_t *metadata);  /* steals */
void event_lifecycle(const char *action, const char *source, json_t *context);

/* ---- helpers ---- */
void make_uuid(char out[37]);
void random_hex(char *out, size_t nbytes);
const char *now_rfc3339(char *buf, size_t len);
/* Instance lookups before an async action: NULL (404...) reply if it is known to be missing. */
struct reply *instance_precheck(const char *name);

/* watch.c: lifecycle events for what guests do by themselves */
int watch_start(void);
void watch_instance(const char *name);
void watch_running(void);

#endif
