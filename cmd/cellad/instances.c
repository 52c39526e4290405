/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /1.0/instances: instances, their state, snapshots, files and logs.
 * Handlers check what the client sent, call libcella, and shape the reply;
 * long actions run as operations.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cellad.h"

/* ---------------------------------------------------------------- jobs: one async action */

struct job {
	char *name;             /* instance */
	char *arg;              /* snapshot, new name, copy source... */
	json_t *body;
	int (*fn)(struct job *j, struct cella_error *err);
	const char *lifecycle;  /* event on success */
	char *source;           /* event source URL */
};

static void job_free(void *p)
{
	struct job *j = p;
	free(j->name);
	free(j->arg);
	free(j->source);
	json_decref(j->body);
	free(j);
}

static int job_run(struct operation *op, void *data, struct cella_error *err)
{
	(void)op;
	struct job *j = data;
	if (j->fn(j, err) < 0)
		return -1;
	if (j->lifecycle)
		event_lifecycle(j->lifecycle, j->source, NULL);
	if (j->lifecycle && (!strcmp(j->lifecycle, "instance-started") || !strcmp(j->lifecycle, "instance-restarted")))
		watch_instance(j->name);
	return 0;
}

/* Start `fn` as a task operation on instance `name`; the 202 reply. */
static struct reply *job_start(const char *description, const char *name, const char *arg, json_t *body,
			       int (*fn)(struct job *, struct cella_error *), const char *lifecycle,
			       const char *source)
{
	struct job *j = xmalloc0(sizeof(*j));
	j->name = xstrdup(name);
	j->arg = arg ? xstrdup(arg) : NULL;
	j->body = body ? json_incref(body) : NULL;
	j->fn = fn;
	j->lifecycle = lifecycle;
	j->source = source ? xstrdup(source) : xasprintf("/1.0/instances/%s", name);
	cleanup_free char *desc = xasprintf("%s %s", description, name);
	struct op_spec spec = {
		.class = OP_TASK, .description = desc, .run = job_run, .data = j, .data_free = job_free,
		.resources = json_pack("{s:[s]}", "instances", j->source),
	};
	struct cella_error err = { 0 };
	struct operation *op = op_create(&spec, &err);
	if (!op)
		return reply_cella_error(&err);
	return op_reply(op);
}

/*
 * Before queueing an action on an instance, refuse one that is known to be
 * missing (404 now rather than a failed operation later).  While the
 * library's lookup is a placeholder (ENOSYS), let the action decide.
 */
struct reply *instance_precheck(const char *name)
{
	struct cella_error err = { 0 };
	if (cella_instance_exists(g_daemon.host, name, &err) == 0)
		return NULL;
	if (err.code == ENOSYS)
		return NULL;
	return reply_cella_error(&err);
}

/* [objects] -> ["PREFIX<key>"] */
static json_t *names_to_urls(json_t *objects, const char *prefix, const char *key)
{
	json_t *out = json_array();
	size_t i;
	json_t *o;
	json_array_foreach(objects, i, o) {
		const char *n = json_string_value(json_object_get(o, key));
		if (n)
			json_array_append_new(out, json_sprintf("%s%s", prefix, n));
	}
	json_decref(objects);
	return out;
}

static const char *body_string(struct request *req, const char *key)
{
	return json_string_value(json_object_get(req->json, key));
}

/* ---------------------------------------------------------------- /1.0/instances */

static struct reply *instances_list(struct request *req)
{
	struct cella_error err = { 0 };
	json_t *l = cella_instance_list(g_daemon.host, &err);
	if (!l)
		return reply_cella_error(&err);
	if (req_recursion(req) == 0)
		l = names_to_urls(l, "/1.0/instances/", "name");
	return reply_sync(l);
}

static int do_create(struct job *j, struct cella_error *err)
{
	json_t *src = json_object_get(j->body, "source");
	const char *type = json_string_value(json_object_get(src, "type"));
	int r;
	if (type && strcmp(type, "copy") == 0) {
		r = cella_instance_copy(g_daemon.host, json_string_value(json_object_get(src, "source")), j->name, err);
	} else {
		/* the library takes the create request without our extras */
		json_t *req = json_copy(j->body);
		json_object_del(req, "start");
		r = cella_instance_create(g_daemon.host, req, err);
		json_decref(req);
	}
	if (r < 0)
		return cella_error_wrap(err, "create instance `%s`", j->name);
	event_lifecycle("instance-created", j->source, NULL);
	if (json_is_true(json_object_get(j->body, "start"))) {
		if (cella_instance_start(g_daemon.host, j->name, err) < 0)
			return cella_error_wrap(err, "start instance `%s`", j->name);
		event_lifecycle("instance-started", j->source, NULL);
		watch_instance(j->name);
	}
	return 0;
}

/* A snapshot reference "name" or "name/snap", each part a DNS label. */
static bool copy_source_is_valid(const char *s)
{
	char buf[128];
	if (!s || strlen(s) >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s", s);
	char *slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		if (!name_is_dns_label(slash + 1))
			return false;
	}
	return name_is_dns_label(buf);
}

static struct reply *instances_create(struct request *req)
{
	const char *name = body_string(req, "name");
	if (!name)
		return reply_error(400, "missing `name`");
	if (!name_is_dns_label(name))
		return reply_error(400, "invalid instance name `%s` (a DNS label of 1-63 characters)", name);
	const char *type = body_string(req, "type");
	if (type && strcmp(type, "vps") != 0 && strcmp(type, "vm") != 0)
		return reply_error(400, "invalid `type` `%s` (vps or vm)", type);
	json_t *src = json_object_get(req->json, "source");
	if (src && !json_is_object(src))
		return reply_error(400, "`source` must be an object");
	const char *stype = json_string_value(json_object_get(src, "type"));
	if (src && (!stype || (strcmp(stype, "image") && strcmp(stype, "none") && strcmp(stype, "copy"))))
		return reply_error(400, "invalid `source.type` (image, none or copy)");
	if (stype && strcmp(stype, "copy") == 0 &&
	    !copy_source_is_valid(json_string_value(json_object_get(src, "source"))))
		return reply_error(400, "invalid `source.source` (an instance name, or name/snapshot)");
	json_t *start = json_object_get(req->json, "start");
	if (start && !json_is_boolean(start))
		return reply_error(400, "`start` must be a boolean");
	return job_start("Creating instance", name, NULL, req->json, do_create, NULL, NULL);
}

/* ---------------------------------------------------------------- /1.0/instances/{name} */

static struct reply *instance_get(struct request *req)
{
	struct cella_error err = { 0 };
	json_t *i = cella_instance_get(g_daemon.host, req_param(req, "name"), &err);
	if (!i)
		return reply_cella_error(&err);
	return reply_sync(i);
}

static int do_put(struct job *j, struct cella_error *err)
{
	const char *restore = json_string_value(json_object_get(j->body, "restore"));
	if (restore) {
		if (cella_snapshot_restore(g_daemon.host, j->name, restore, err) < 0)
			return -1;
		event_lifecycle("instance-restored", j->source, json_pack("{s:s}", "snapshot", restore));
		return 0;
	}
	if (cella_instance_update(g_daemon.host, j->name, j->body, false, err) < 0)
		return -1;
	event_lifecycle("instance-updated", j->source, NULL);
	return 0;
}

static struct reply *instance_put(struct request *req)
{
	const char *name = req_param(req, "name");
	if (!req->json)
		return reply_error(400, "missing request body");
	json_t *restore = json_object_get(req->json, "restore");
	if (restore && (!json_is_string(restore) || !name_is_dns_label(json_string_value(restore))))
		return reply_error(400, "invalid `restore` (a snapshot name)");
	if (restore && json_object_size(req->json) != 1)
		return reply_error(400, "`restore` cannot be combined with other fields");
	struct reply *r = instance_precheck(name);
	if (r)
		return r;
	return job_start(restore ? "Restoring snapshot of" : "Updating instance", name, NULL, req->json, do_put,
			 NULL, NULL);
}

static struct reply *instance_patch(struct request *req)
{
	struct cella_error err = { 0 };
	const char *name = req_param(req, "name");
	if (!req->json)
		return reply_error(400, "missing request body");
	if (cella_instance_update(g_daemon.host, name, req->json, true, &err) < 0)
		return reply_cella_error(&err);
	cleanup_free char *src = xasprintf("/1.0/instances/%s", name);
	event_lifecycle("instance-updated", src, NULL);
	return reply_sync(NULL);
}

static int do_delete(struct job *j, struct cella_error *err)
{
	return cella_instance_delete(g_daemon.host, j->name, json_is_true(json_object_get(j->body, "force")), err);
}

static struct reply *instance_delete(struct request *req)
{
	const char *name = req_param(req, "name");
	struct reply *r = instance_precheck(name);
	if (r)
		return r;
	json_t *b = json_pack("{s:b}", "force", req_query_bool(req, "force"));
	r = job_start("Deleting instance", name, NULL, b, do_delete, "instance-deleted", NULL);
	json_decref(b);
	return r;
}

static int do_rename(struct job *j, struct cella_error *err)
{
	if (cella_instance_rename(g_daemon.host, j->name, j->arg, err) < 0)
		return -1;
	event_lifecycle("instance-renamed", j->source, json_pack("{s:s}", "old_name", j->name));
	return 0;
}

static struct reply *instance_post(struct request *req)
{
	const char *name = req_param(req, "name");
	const char *new_name = body_string(req, "name");
	if (!new_name)
		return reply_error(400, "missing `name` (the new name)");
	if (!name_is_dns_label(new_name))
		return reply_error(400, "invalid instance name `%s` (a DNS label of 1-63 characters)", new_name);
	struct reply *r = instance_precheck(name);
	if (r)
		return r;
	cleanup_free char *source = xasprintf("/1.0/instances/%s", new_name);
	return job_start("Renaming instance", name, new_name, NULL, do_rename, NULL, source);
}

/* ---------------------------------------------------------------- state */

static struct reply *state_get(struct request *req)
{
	struct cella_error err = { 0 };
	json_t *s = cella_instance_state(g_daemon.host, req_param(req, "name"), &err);
	if (!s)
		return reply_cella_error(&err);
	return reply_sync(s);
}

static int do_state(struct job *j, struct cella_error *err)
{
	const char *action = json_string_value(json_object_get(j->body, "action"));
	bool force = json_is_true(json_object_get(j->body, "force"));
	json_t *t = json_object_get(j->body, "timeout");
	int timeout = t ? (int)json_integer_value(t) : -1;
	struct cella_host *h = g_daemon.host;
	static const struct {
		const char *action;
		const char *event;
	} events[] = {
		{ "start", "instance-started" }, { "stop", "instance-stopped" },
		{ "restart", "instance-restarted" }, { "freeze", "instance-paused" },
		{ "unfreeze", "instance-resumed" },
	};
	int r;
	if (strcmp(action, "start") == 0)
		r = cella_instance_start(h, j->name, err);
	else if (strcmp(action, "stop") == 0)
		r = cella_instance_stop(h, j->name, force, timeout, err);
	else if (strcmp(action, "restart") == 0)
		r = cella_instance_restart(h, j->name, force, timeout, err);
	else if (strcmp(action, "freeze") == 0)
		r = cella_instance_freeze(h, j->name, err);
	else
		r = cella_instance_unfreeze(h, j->name, err);
	if (r < 0)
		return cella_error_wrap(err, "%s instance `%s`", action, j->name);
	for (size_t i = 0; i < ARRAY_SIZE(events); i++)
		if (strcmp(events[i].action, action) == 0)
			event_lifecycle(events[i].event, j->source, NULL);
	/* a new monitor: follow what the guest does by itself */
	if (!strcmp(action, "start") || !strcmp(action, "restart"))
		watch_instance(j->name);
	return 0;
}

static struct reply *state_put(struct request *req)
{
	static const char *const actions[] = { "start", "stop", "restart", "freeze", "unfreeze" };
	const char *name = req_param(req, "name");
	const char *action = body_string(req, "action");
	bool known = false;
	for (size_t i = 0; action && i < ARRAY_SIZE(actions); i++)
		known |= strcmp(actions[i], action) == 0;
	if (!known)
		return reply_error(400, "invalid `action` (start, stop, restart, freeze or unfreeze)");
	json_t *t = json_object_get(req->json, "timeout");
	if (t && !json_is_integer(t))
		return reply_error(400, "`timeout` must be an integer (seconds)");
	json_t *f = json_object_get(req->json, "force");
	if (f && !json_is_boolean(f))
		return reply_error(400, "`force` must be a boolean");
	struct reply *r = instance_precheck(name);
	if (r)
		return r;
	cleanup_free char *desc = xasprintf("Instance %s:", action);
	return job_start(desc, name, NULL, req->json, do_state, NULL, NULL);
}

/* ---------------------------------------------------------------- console log */

static struct reply *console_get(struct request *req)
{
	struct cella_error err = { 0 };
	size_t len;
	char *text = cella_instance_console_log(g_daemon.host, req_param(req, "name"), &len, &err);
	if (!text)
		return reply_cella_error(&err);
	struct reply *r = reply_text(200, "text/plain; charset=utf-8", text);
	/* all of it: a guest writes NULs too (Debian's startpar ends a partial
	 * line with "\n\0"), and strlen() would end the log at the first one */
	r->body_len = len;
	return r;
}

/* ---------------------------------------------------------------- files */

/* Guest paths are absolute; the library resolves them inside the instance's root. */
static const char *file_path(struct request *req, char *buf, size_t len, struct reply **err)
{
	const char *p = req_query(req, "path", buf, len);
	if (!p || p[0] != '/') {
		*err = reply_error(400, "missing or relative `path` (an absolute path in the instance)");
		return NULL;
	}
	return p;
}

static struct reply *files_get(struct request *req)
{
	char buf[4096];
	struct reply *r = NULL;
	const char *path = file_path(req, buf, sizeof(buf), &r);
	if (!path)
		return r;
	cleanup_close int fd = memfd_create("cellad-file", MFD_CLOEXEC);
	if (fd < 0)
		return reply_error(500, "memfd_create: %s", strerror(errno));
	json_t *meta = NULL;
	struct cella_error err = { 0 };
	if (cella_instance_file_pull(g_daemon.host, req_param(req, "name"), path, fd, &meta, &err) < 0) {
		json_decref(meta);
		return reply_cella_error(&err);
	}
	const char *type = json_string_value(json_object_get(meta, "type"));
	if (type && strcmp(type, "directory") == 0) {
		/* a directory: its entries, as Incus lists them */
		json_t *entries = json_incref(json_object_get(meta, "entries"));
		json_decref(meta);
		return reply_sync(entries ? entries : json_array());
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		json_decref(meta);
		return reply_error(500, "file buffer: %s", strerror(errno));
	}
	r = xmalloc0(sizeof(*r));
	r->status = 200;
	r->content_type = "application/octet-stream";
	r->fd = steal_fd(&fd);
	r->body_len = (size_t)st.st_size;
	char v[32];
	snprintf(v, sizeof(v), "%lld", (long long)json_integer_value(json_object_get(meta, "uid")));
	reply_add_header(r, "X-Cella-Uid", v);
	snprintf(v, sizeof(v), "%lld", (long long)json_integer_value(json_object_get(meta, "gid")));
	reply_add_header(r, "X-Cella-Gid", v);
	snprintf(v, sizeof(v), "%04llo", (unsigned long long)json_integer_value(json_object_get(meta, "mode")) & 07777);
	reply_add_header(r, "X-Cella-Mode", v);
	reply_add_header(r, "X-Cella-Type", type ? type : "file");
	json_decref(meta);
	return r;
}

static bool header_number(struct request *req, const char *name, int base, unsigned long max, unsigned long *out)
{
	const char *v = req_header(req, name);
	if (!v)
		return true;
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, base);
	if (errno || end == v || *end || n > max || v[0] == '-')
		return false;
	*out = n;
	return true;
}

static struct reply *files_post(struct request *req)
{
	char buf[4096];
	struct reply *r = NULL;
	const char *path = file_path(req, buf, sizeof(buf), &r);
	if (!path)
		return r;
	const char *type = req_header(req, "X-Cella-Type");
	bool dir = type && strcmp(type, "directory") == 0;
	if (type && !dir && strcmp(type, "file") != 0)
		return reply_error(400, "invalid X-Cella-Type `%s` (file or directory)", type);
	unsigned long uid = 0, gid = 0, mode = dir ? 0755 : 0644;
	if (!header_number(req, "X-Cella-Uid", 10, 0xfffffffeUL, &uid))
		return reply_error(400, "invalid X-Cella-Uid");
	if (!header_number(req, "X-Cella-Gid", 10, 0xfffffffeUL, &gid))
		return reply_error(400, "invalid X-Cella-Gid");
	if (!header_number(req, "X-Cella-Mode", 8, 07777, &mode))
		return reply_error(400, "invalid X-Cella-Mode (octal, at most 07777)");
	struct cella_error err = { 0 };
	/* a directory is pushed without content: no fd, S_IFDIR in the mode */
	if (cella_instance_file_push(g_daemon.host, req_param(req, "name"), path, dir ? -1 : req->body_fd,
				     (uid_t)uid, (gid_t)gid, (mode_t)mode | (dir ? S_IFDIR : S_IFREG), &err) < 0)
		return reply_cella_error(&err);
	return reply_sync(NULL);
}

static struct reply *files_delete(struct request *req)
{
	char buf[4096];
	struct reply *r = NULL;
	const char *path = file_path(req, buf, sizeof(buf), &r);
	if (!path)
		return r;
	struct cella_error err = { 0 };
	if (cella_instance_file_delete(g_daemon.host, req_param(req, "name"), path, &err) < 0)
		return reply_cella_error(&err);
	return reply_sync(NULL);
}

/* ---------------------------------------------------------------- snapshots */

static struct reply *snapshots_list(struct request *req)
{
	struct cella_error err = { 0 };
	const char *name = req_param(req, "name");
	json_t *l = cella_snapshot_list(g_daemon.host, name, &err);
	if (!l)
		return reply_cella_error(&err);
	if (req_recursion(req) == 0) {
		cleanup_free char *prefix = xasprintf("/1.0/instances/%s/snapshots/", name);
		l = names_to_urls(l, prefix, "name");
	}
	return reply_sync(l);
}

static int do_snapshot_create(struct job *j, struct cella_error *err)
{
	return cella_snapshot_create(g_daemon.host, j->name, j->arg, err);
}

static struct reply *snapshots_create(struct request *req)
{
	const char *name = req_param(req, "name");
	const char *snap = body_string(req, "name");
	if (!snap)
		return reply_error(400, "missing `name` (the snapshot name)");
	if (!name_is_dns_label(snap))
		return reply_error(400, "invalid snapshot name `%s` (a DNS label of 1-63 characters)", snap);
	json_t *stateful = json_object_get(req->json, "stateful");
	if (json_is_true(stateful))
		return reply_error(400, "stateful snapshots are not supported");
	struct reply *r = instance_precheck(name);
	if (r)
		return r;
	cleanup_free char *source = xasprintf("/1.0/instances/%s/snapshots/%s", name, snap);
	return job_start("Snapshotting instance", name, snap, NULL, do_snapshot_create, "instance-snapshot-created",
			 source);
}

static struct reply *snapshot_get(struct request *req)
{
	struct cella_error err = { 0 };
	const char *name = req_param(req, "name"), *snap = req_param(req, "snap");
	json_t *l = cella_snapshot_list(g_daemon.host, name, &err);
	if (!l)
		return reply_cella_error(&err);
	size_t i;
	json_t *s;
	json_array_foreach(l, i, s) {
		const char *n = json_string_value(json_object_get(s, "name"));
		if (n && strcmp(n, snap) == 0) {
			json_incref(s);
			json_decref(l);
			return reply_sync(s);
		}
	}
	json_decref(l);
	return reply_error(404, "snapshot `%s` of instance `%s` not found", snap, name);
}

static int do_snapshot_delete(struct job *j, struct cella_error *err)
{
	return cella_snapshot_delete(g_daemon.host, j->name, j->arg, err);
}

static struct reply *snapshot_delete(struct request *req)
{
	const char *name = req_param(req, "name");
	struct reply *r = instance_precheck(name);
	if (r)
		return r;
	cleanup_free char *source = xasprintf("/1.0/instances/%s/snapshots/%s", name, req_param(req, "snap"));
	return job_start("Deleting snapshot of", name, req_param(req, "snap"), NULL, do_snapshot_delete,
			 "instance-snapshot-deleted", source);
}

/* ---------------------------------------------------------------- logs: LOG_DIR/NAME/ */

static int log_dir_open(const char *name, struct cella_error *err)
{
	cleanup_free char *path = xasprintf("%s/%s", g_daemon.log_dir, name);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cella_error_set(err, errno, "logs of `%s`", name);
	return fd;
}

static struct reply *logs_list(struct request *req)
{
	const char *name = req_param(req, "name");
	struct reply *r = instance_precheck(name);
	if (r)
		return r;
	struct cella_error err = { 0 };
	json_t *out = json_array();
	int fd = log_dir_open(name, &err);
	if (fd < 0) {
		if (err.code != ENOENT) {
			json_decref(out);
			return reply_cella_error(&err);
		}
		return reply_sync(out);
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		json_decref(out);
		return reply_error(500, "logs of `%s`: %s", name, strerror(errno));
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && de->d_type == DT_REG)
			json_array_append_new(out, json_sprintf("/1.0/instances/%s/logs/%s", name, de->d_name));
	closedir(d);
	return reply_sync(out);
}

static struct reply *log_get(struct request *req)
{
	const char *name = req_param(req, "name"), *file = req_param(req, "file");
	struct cella_error err = { 0 };
	cleanup_close int dfd = log_dir_open(name, &err);
	if (dfd < 0)
		return reply_cella_error(&err);
	/* the file name was validated (no slash, no leading dot); never follow a link */
	cleanup_close int fd = openat(dfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return reply_error(errno == ENOENT ? 404 : 500, "log `%s` of `%s`: %s", file, name, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return reply_error(404, "log `%s` of `%s` is not a file", file, name);
	struct reply *r = reply_text(200, "text/plain; charset=utf-8", xstrdup(""));
	free(r->body);
	r->body = NULL;
	r->fd = steal_fd(&fd);
	r->body_len = (size_t)st.st_size;
	return r;
}

/* What PUT/PATCH take: the writable fields, and the read-only ones of the
 * instance object (ignored), so that an edited GET can be sent back. */
#define INSTANCE_PUT_FIELDS                                                                                    \
	FIELDS("config", "devices", "profiles", "description", "ephemeral", "restore", "name", "type", "status", \
	       "status_code", "architecture", "created_at", "last_used_at", "expanded_config", "expanded_devices", \
	       "stateful", "location")

const struct route instance_routes[] = {
	{ "GET", "/1.0/instances", instances_list, 0, NULL, "List instances" },
	{ "POST", "/1.0/instances", instances_create, ROUTE_BODY_JSON,
	  FIELDS("name", "type", "source", "config", "devices", "profiles", "description", "ephemeral", "start"),
	  "Create an instance (async)" },
	{ "GET", "/1.0/instances/{name}", instance_get, 0, NULL, "Get an instance" },
	{ "PUT", "/1.0/instances/{name}", instance_put, ROUTE_BODY_JSON, INSTANCE_PUT_FIELDS,
	  "Replace an instance's configuration, or restore a snapshot (async)" },
	{ "PATCH", "/1.0/instances/{name}", instance_patch, ROUTE_BODY_JSON, INSTANCE_PUT_FIELDS,
	  "Merge into an instance's configuration" },
	{ "DELETE", "/1.0/instances/{name}", instance_delete, 0, NULL, "Delete an instance (async)" },
	{ "POST", "/1.0/instances/{name}", instance_post, ROUTE_BODY_JSON, FIELDS("name"), "Rename an instance (async)" },
	{ "GET", "/1.0/instances/{name}/state", state_get, 0, NULL, "Live state of an instance" },
	{ "PUT", "/1.0/instances/{name}/state", state_put, ROUTE_BODY_JSON,
	  FIELDS("action", "timeout", "force", "stateful"), "Start, stop, restart, freeze, unfreeze (async)" },
	{ "GET", "/1.0/instances/{name}/console", console_get, 0, NULL, "The console log" },
	{ "GET", "/1.0/instances/{name}/files", files_get, 0, NULL, "Pull a file" },
	{ "POST", "/1.0/instances/{name}/files", files_post, ROUTE_BODY_RAW, NULL, "Push a file or create a directory" },
	{ "DELETE", "/1.0/instances/{name}/files", files_delete, 0, NULL, "Delete a file" },
	{ "GET", "/1.0/instances/{name}/snapshots", snapshots_list, 0, NULL, "List snapshots" },
	{ "POST", "/1.0/instances/{name}/snapshots", snapshots_create, ROUTE_BODY_JSON, FIELDS("name", "stateful"),
	  "Create a snapshot (async)" },
	{ "GET", "/1.0/instances/{name}/snapshots/{snap}", snapshot_get, 0, NULL, "Get a snapshot" },
	{ "DELETE", "/1.0/instances/{name}/snapshots/{snap}", snapshot_delete, 0, NULL, "Delete a snapshot (async)" },
	{ "GET", "/1.0/instances/{name}/logs", logs_list, 0, NULL, "List log files" },
	{ "GET", "/1.0/instances/{name}/logs/{file}", log_get, 0, NULL, "Get a log file" },
	{ 0 },
};
