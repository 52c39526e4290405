/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Operations: long actions run in their own thread and are tracked in
 * memory, as Incus does (/1.0/operations).  Finished operations are kept a
 * few minutes so that clients can still read their result.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cellad.h"

#define OP_KEEP_SECONDS 300

enum op_status { OP_RUNNING, OP_SUCCESS, OP_FAILURE, OP_CANCELLED };

struct operation {
	char id[37];
	enum op_class class;
	char *description;
	char created_at[40], updated_at[40];
	enum op_status status;
	json_t *resources;
	json_t *metadata;
	bool may_cancel;
	bool cancelled;
	char err[1024];
	int err_code;
	struct timespec done_at;     /* CLOCK_MONOTONIC */
	op_run_fn run;
	void *data;
	void (*data_free)(void *data);
	struct ws_slot *slots;
	size_t n_slots;
	int refs;
	struct operation *next;
};

/* One lock for the registry and every operation's fields; one condition for all changes. */
static pthread_mutex_t ops_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ops_cond;
static pthread_once_t ops_once = PTHREAD_ONCE_INIT;
static struct operation *ops_head;

static void ops_init(void)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&ops_cond, &a);
	pthread_condattr_destroy(&a);
}

/* ---------------------------------------------------------------- helpers */

void random_hex(char *out, size_t nbytes)
{
	unsigned char buf[64];
	if (nbytes > sizeof(buf))
		nbytes = sizeof(buf);
	size_t got = 0;
	while (got < nbytes) {
		ssize_t n = getrandom(buf + got, nbytes - got, 0);
		if (n < 0 && errno != EINTR)
			abort();
		if (n > 0)
			got += (size_t)n;
	}
	for (size_t i = 0; i < nbytes; i++)
		sprintf(out + 2 * i, "%02x", buf[i]);
}

void make_uuid(char out[37])
{
	char hex[33];
	random_hex(hex, 16);
	hex[12] = '4';                                   /* version 4 */
	int v = hex[16] <= '9' ? hex[16] - '0' : hex[16] - 'a' + 10;
	hex[16] = "89ab"[v & 3];                         /* variant 10 */
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

const char *now_rfc3339(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char date[24];
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%.20s.%09dZ", date, (int)(ts.tv_nsec % 1000000000));
	return buf;
}

static const char *status_name(enum op_status s)
{
	static const char *const names[] = { "Running", "Success", "Failure", "Cancelled" };
	return names[s];
}

static int status_code(enum op_status s)
{
	static const int codes[] = { 103, 200, 400, 401 };
	return codes[s];
}

/* The operation object; ops_lock held. */
static json_t *op_json_locked(const struct operation *op)
{
	json_t *md = json_deep_copy(op->metadata);
	if (op->class == OP_WEBSOCKET && op->n_slots) {
		/* secrets are shown only until the websockets are taken */
		json_t *fds = json_object();
		for (size_t i = 0; i < op->n_slots; i++)
			json_object_set_new(fds, op->slots[i].name, json_string(op->slots[i].secret));
		json_object_set_new(md, "fds", fds);
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:O, s:o, s:b, s:s, s:s}", "id", op->id, "class",
			 op->class == OP_TASK ? "task" : "websocket", "description", op->description,
			 "created_at", op->created_at, "updated_at", op->updated_at, "status",
			 status_name(op->status), "status_code", status_code(op->status), "resources",
			 op->resources, "metadata", md, "may_cancel", op->may_cancel && op->status == OP_RUNNING,
			 "err", op->err, "location", "none");
}

static void op_emit_locked(const struct operation *op)
{
	events_emit("operation", op_json_locked(op));
}

void op_ref(struct operation *op)
{
	pthread_mutex_lock(&ops_lock);
	op->refs++;
	pthread_mutex_unlock(&ops_lock);
}

static void op_free(struct operation *op)
{
	if (op->data_free)
		op->data_free(op->data);
	free(op->description);
	json_decref(op->resources);
	json_decref(op->metadata);
	free(op);
}

void op_unref(struct operation *op)
{
	pthread_mutex_lock(&ops_lock);
	bool last = --op->refs == 0;
	pthread_mutex_unlock(&ops_lock);
	if (last)
		op_free(op);
}

const char *op_id(const struct operation *op)
{
	return op->id;
}

bool op_cancelled(struct operation *op)
{
	pthread_mutex_lock(&ops_lock);
	bool c = op->cancelled;
	pthread_mutex_unlock(&ops_lock);
	return c;
}

void op_set_metadata(struct operation *op, json_t *md)
{
	pthread_mutex_lock(&ops_lock);
	json_object_update(op->metadata, md);
	now_rfc3339(op->updated_at, sizeof(op->updated_at));
	op_emit_locked(op);
	pthread_cond_broadcast(&ops_cond);
	pthread_mutex_unlock(&ops_lock);
	json_decref(md);
}

/* Drop finished operations older than OP_KEEP_SECONDS; ops_lock held. */
static void ops_prune_locked(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (struct operation **pp = &ops_head; *pp;) {
		struct operation *op = *pp;
		if (op->status != OP_RUNNING && now.tv_sec - op->done_at.tv_sec > OP_KEEP_SECONDS) {
			*pp = op->next;
			if (--op->refs == 0) {
				pthread_mutex_unlock(&ops_lock);
				op_free(op);
				pthread_mutex_lock(&ops_lock);
				pp = &ops_head;  /* the list may have changed while unlocked */
			}
			continue;
		}
		pp = &op->next;
	}
}

/* The operation `id`, referenced; NULL if unknown. */
static struct operation *op_find(const char *id)
{
	pthread_mutex_lock(&ops_lock);
	ops_prune_locked();
	struct operation *op = ops_head;
	while (op && strcmp(op->id, id) != 0)
		op = op->next;
	if (op)
		op->refs++;
	pthread_mutex_unlock(&ops_lock);
	return op;
}

static void *op_thread(void *arg)
{
	struct operation *op = arg;
	struct cella_error err = { 0 };
	int r = op->run(op, op->data, &err);

	pthread_mutex_lock(&ops_lock);
	if (op->cancelled)
		op->status = OP_CANCELLED;
	else if (r < 0)
		op->status = OP_FAILURE;
	else
		op->status = OP_SUCCESS;
	if (r < 0) {
		snprintf(op->err, sizeof(op->err), "%s", err.msg);
		op->err_code = err.code;
	}
	/* a finished operation's websockets can no longer be taken; those
	 * connected but never relayed (cancel, timeout, error) are closed */
	struct MHD_UpgradeResponseHandle *unused[8];
	size_t n_unused = 0;
	for (size_t i = 0; i < op->n_slots; i++) {
		struct ws_slot *sl = &op->slots[i];
		memset(sl->secret, 0, sizeof(sl->secret));
		if (sl->connected && !sl->finished && n_unused < ARRAY_SIZE(unused))
			unused[n_unused++] = sl->urh;
		sl->finished = true;
	}
	op->n_slots = 0;
	clock_gettime(CLOCK_MONOTONIC, &op->done_at);
	now_rfc3339(op->updated_at, sizeof(op->updated_at));
	op_emit_locked(op);
	pthread_cond_broadcast(&ops_cond);
	pthread_mutex_unlock(&ops_lock);
	for (size_t i = 0; i < n_unused; i++)
		MHD_upgrade_action(unused[i], MHD_UPGRADE_ACTION_CLOSE);
	if (r < 0)
		log_msg(err.code == ENOSYS ? LOG_DEBUG_ : LOG_WARN_, "operation %s (%s): %s", op->id,
			op->description, err.msg);
	op_unref(op);
	return NULL;
}

struct operation *op_create(const struct op_spec *spec, struct cella_error *err)
{
	pthread_once(&ops_once, ops_init);
	struct operation *op = xmalloc0(sizeof(*op));
	make_uuid(op->id);
	op->class = spec->class;
	op->description = xstrdup(spec->description);
	now_rfc3339(op->created_at, sizeof(op->created_at));
	memcpy(op->updated_at, op->created_at, sizeof(op->updated_at));
	op->status = OP_RUNNING;
	op->resources = spec->resources ? spec->resources : json_object();
	op->metadata = json_object();
	op->may_cancel = spec->may_cancel;
	op->run = spec->run;
	op->data = spec->data;
	op->data_free = spec->data_free;
	op->slots = spec->slots;
	op->n_slots = spec->n_slots;
	op->refs = 3;  /* the registry, the thread, the caller */

	pthread_mutex_lock(&ops_lock);
	op->next = ops_head;
	ops_head = op;
	op_emit_locked(op);
	pthread_mutex_unlock(&ops_lock);

	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int r = pthread_create(&t, &attr, op_thread, op);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		pthread_mutex_lock(&ops_lock);
		op->status = OP_FAILURE;
		snprintf(op->err, sizeof(op->err), "cannot start a thread: %s", strerror(r));
		clock_gettime(CLOCK_MONOTONIC, &op->done_at);
		op->refs--;  /* no thread */
		pthread_mutex_unlock(&ops_lock);
		op_unref(op);
		cella_error_set(err, r, "start operation thread");
		return NULL;
	}
	return op;
}

struct reply *op_reply(struct operation *op)
{
	pthread_mutex_lock(&ops_lock);
	json_t *j = op_json_locked(op);
	pthread_mutex_unlock(&ops_lock);
	struct reply *r = reply_async(op->id, j);
	op_unref(op);
	return r;
}

/* ---------------------------------------------------------------- websockets of an operation */

int op_wait_connected(struct operation *op, int timeout_sec, struct cella_error *err)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_sec;
	pthread_mutex_lock(&ops_lock);
	for (;;) {
		size_t n = 0;
		for (size_t i = 0; i < op->n_slots; i++)
			n += op->slots[i].connected;
		if (n == op->n_slots)
			break;
		if (op->cancelled) {
			pthread_mutex_unlock(&ops_lock);
			return cella_error_set(err, ECANCELED, "operation cancelled before the websockets connected");
		}
		if (pthread_cond_timedwait(&ops_cond, &ops_lock, &deadline) == ETIMEDOUT) {
			pthread_mutex_unlock(&ops_lock);
			return cella_error_set(err, ETIMEDOUT, "websockets not connected within %d seconds", timeout_sec);
		}
	}
	/* connected: secrets are spent */
	for (size_t i = 0; i < op->n_slots; i++)
		memset(op->slots[i].secret, 0, sizeof(op->slots[i].secret));
	pthread_mutex_unlock(&ops_lock);
	return 0;
}

struct ws_take {
	struct operation *op;
	struct ws_slot *slot;
};

/* Called by MHD with the upgraded socket: hand it to the slot and leave. */
static void ws_slot_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
			     size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	(void)conn;
	(void)con_cls;
	struct ws_take *t = cls;
	pthread_mutex_lock(&ops_lock);
	if (t->slot->finished) {
		/* the operation ended while this websocket was being opened */
		pthread_mutex_unlock(&ops_lock);
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		op_unref(t->op);
		free(t);
		return;
	}
	t->slot->sock = sock;
	t->slot->urh = urh;
	if (extra_in_size) {
		t->slot->extra = malloc(extra_in_size);
		if (t->slot->extra) {
			memcpy(t->slot->extra, extra_in, extra_in_size);
			t->slot->extra_len = extra_in_size;
		}
	}
	t->slot->connected = true;
	pthread_cond_broadcast(&ops_cond);
	pthread_mutex_unlock(&ops_lock);
	op_unref(t->op);
	free(t);
}

/* Constant-time comparison: secrets are what authorise a websocket. */
static bool secret_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0 && la > 0;
}

static struct reply *op_websocket(struct request *req)
{
	char secret[128];
	struct operation *op = op_find(req_param(req, "id"));
	if (!op)
		return reply_error(404, "operation `%s` not found", req_param(req, "id"));
	if (!req_query(req, "secret", secret, sizeof(secret))) {
		op_unref(op);
		return reply_error(400, "missing secret");
	}
	struct ws_slot *slot = NULL;
	pthread_mutex_lock(&ops_lock);
	for (size_t i = 0; i < op->n_slots && !slot; i++)
		if (!op->slots[i].connected && secret_equal(op->slots[i].secret, secret))
			slot = &op->slots[i];
	pthread_mutex_unlock(&ops_lock);
	if (!slot) {
		op_unref(op);
		return reply_error(403, "wrong or spent websocket secret");
	}
	struct ws_take *t = xmalloc0(sizeof(*t));
	t->op = op;
	t->slot = slot;
	struct reply *r = ws_accept(req, ws_slot_upgraded, t);
	if (r->status != 101) {
		free(t);
		op_unref(op);
	}
	return r;
}

/* ---------------------------------------------------------------- routes */

static struct reply *ops_list(struct request *req)
{
	int recursion = req_recursion(req);
	json_t *by_status = json_object();
	pthread_mutex_lock(&ops_lock);
	ops_prune_locked();
	for (struct operation *op = ops_head; op; op = op->next) {
		const char *s = status_name(op->status);
		json_t *list = json_object_get(by_status, s);
		if (!list) {
			list = json_array();
			json_object_set_new(by_status, s, list);
		}
		json_array_append_new(list, recursion ? op_json_locked(op)
						     : json_sprintf("/1.0/operations/%s", op->id));
	}
	pthread_mutex_unlock(&ops_lock);
	/* Incus groups operations by status: {"running":[...],"success":[...]} */
	json_t *out = json_object();
	const char *key;
	json_t *v;
	json_object_foreach(by_status, key, v) {
		char lower[16];
		snprintf(lower, sizeof(lower), "%s", key);
		for (char *p = lower; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		json_object_set(out, lower, v);
	}
	json_decref(by_status);
	return reply_sync(out);
}

static struct reply *ops_get(struct request *req)
{
	struct operation *op = op_find(req_param(req, "id"));
	if (!op)
		return reply_error(404, "operation `%s` not found", req_param(req, "id"));
	pthread_mutex_lock(&ops_lock);
	json_t *j = op_json_locked(op);
	pthread_mutex_unlock(&ops_lock);
	op_unref(op);
	return reply_sync(j);
}

static struct reply *ops_cancel(struct request *req)
{
	struct operation *op = op_find(req_param(req, "id"));
	if (!op)
		return reply_error(404, "operation `%s` not found", req_param(req, "id"));
	struct reply *r;
	pthread_mutex_lock(&ops_lock);
	if (op->status != OP_RUNNING) {
		r = reply_error(400, "operation `%s` is not running", op->id);
	} else if (!op->may_cancel) {
		r = reply_error(400, "operation `%s` cannot be cancelled", op->id);
	} else {
		op->cancelled = true;
		pthread_cond_broadcast(&ops_cond);
		r = reply_sync(NULL);
	}
	pthread_mutex_unlock(&ops_lock);
	op_unref(op);
	return r;
}

static struct reply *ops_wait(struct request *req)
{
	char buf[32];
	const char *t = req_query(req, "timeout", buf, sizeof(buf));
	long timeout = t ? strtol(t, NULL, 10) : -1;
	struct operation *op = op_find(req_param(req, "id"));
	if (!op)
		return reply_error(404, "operation `%s` not found", req_param(req, "id"));
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout;
	pthread_mutex_lock(&ops_lock);
	while (op->status == OP_RUNNING) {
		if (timeout < 0)
			pthread_cond_wait(&ops_cond, &ops_lock);
		else if (pthread_cond_timedwait(&ops_cond, &ops_lock, &deadline) == ETIMEDOUT)
			break;
	}
	json_t *j = op_json_locked(op);
	pthread_mutex_unlock(&ops_lock);
	op_unref(op);
	return reply_sync(j);
}

const struct route operation_routes[] = {
	{ "GET", "/1.0/operations", ops_list, 0, NULL, "List operations" },
	{ "GET", "/1.0/operations/{id}", ops_get, 0, NULL, "Get an operation" },
	{ "DELETE", "/1.0/operations/{id}", ops_cancel, 0, NULL, "Cancel an operation" },
	{ "GET", "/1.0/operations/{id}/wait", ops_wait, 0, NULL, "Wait for an operation to finish" },
	{ "GET", "/1.0/operations/{id}/websocket", op_websocket, 0, NULL, "Connect to an operation's websocket" },
	{ 0 },
};
