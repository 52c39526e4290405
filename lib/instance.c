/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Instances: the rows of the database, their storage, and their lives
 * under a cella-monitor each.  Only the `vps` driver exists yet; `vm`
 * lands with QEMU.
 *
 * A running instance is one whose monitor answers on
 * RUN/instances/NAME/monitor.sock; the monitor's state.json tells how a
 * stopped one ended, even when cellad was not there to see it.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config_keys.h"
#include "engine.h"
#include "host.h"
#include "instance.h"
#include "network.h"
#include "nic.h"
#include "storage.h"
#include "usage.h"
#include "util.h"
#include "vps.h"

#define IDMAP_FIRST 1000000u
#define IDMAP_SIZE 65536u

static const char *const proc_files[] = { "meminfo", "uptime", "cpuinfo" };

/* ---- names and paths ---- */

bool instance_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 63 || s[0] == '-' || s[n - 1] == '-' || isdigit((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

static int name_check(const char *what, const char *name, struct cella_error *err)
{
	if (!name || !instance_name_valid(name))
		return cella_error_set(err, EINVAL,
				       "invalid %s name `%s`: 1-63 letters, digits and hyphens, starting with a letter",
				       what, name ? name : "");
	return 0;
}

static char *layer_dir(struct cella_host *h, const char *name)
{
	return xasprintf("%s/instances/%s", h->var_dir, name);
}

static char *run_dir(struct cella_host *h, const char *name)
{
	return xasprintf("%s/instances/%s", h->run_dir, name);
}

static char *image_rootfs(struct cella_host *h, const char *fp)
{
	return xasprintf("%s/images/%s/rootfs", h->var_dir, fp);
}

static const char *layer_parent(struct cella_host *h)
{
	static __thread char buf[4096];
	snprintf(buf, sizeof(buf), "%s/instances", h->var_dir);
	return buf;
}

/* One cgroup tree per host: test hosts and the real one never share a guest's cgroup. */
static void cgroup_parent_of(struct cella_host *h, char *out, size_t len)
{
	unsigned long hash = 5381;
	for (const char *c = h->run_dir; *c; c++)
		hash = hash * 33 + (unsigned char)*c;
	if (!strcmp(h->run_dir, "/run/cella"))
		snprintf(out, len, "/cella-vps");
	else
		snprintf(out, len, "/cella-vps-%08lx", hash & 0xffffffffUL);
}

/* An instance's own cgroup path ("/cella-vps/NAME"), caller frees. */
static char *instance_cgroup(struct cella_host *h, const char *name)
{
	char parent[64];
	cgroup_parent_of(h, parent, sizeof(parent));
	return xasprintf("%s/%s", parent, name);
}

static char *disk_image(struct cella_host *h, const char *name)
{
	return xasprintf("%s/disks/%s.img", h->var_dir, name);
}

/*
 * One change at a time per instance: start, stop, delete, rename, update,
 * snapshots, restore, copy into it.  An flock on RUN/locks/NAME, taken at
 * the public entry points; a thread already holding it (a restart that
 * starts, an update that restores) goes through.
 */
static __thread char lock_held[64];
static __thread int lock_depth;

int instance_lock(struct cella_host *h, const char *name, struct instance_lock *l, struct cella_error *err)
{
	l->fd = -1;
	if (name_check("instance", name, err) < 0)
		return -1;
	if (lock_depth && !strcmp(lock_held, name)) {
		lock_depth++;
		return 0;
	}
	if (lock_depth) /* another instance held: never wait for two */
		return 0;
	cleanup_free char *dir = xasprintf("%s/locks", h->run_dir);
	cleanup_free char *path = xasprintf("%s/%s", dir, name);
	if (mkdir_p(dir, 0700, err) < 0)
		return -1;
	l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (l->fd < 0)
		return cella_error_set(err, errno, "lock `%s`", name);
	while (flock(l->fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int e = errno;
			close(l->fd);
			l->fd = -1;
			return cella_error_set(err, e, "lock `%s`", name);
		}
	}
	snprintf(lock_held, sizeof(lock_held), "%s", name);
	lock_depth = 1;
	return 0;
}

void instance_unlock(struct instance_lock *l)
{
	if (l->fd < 0) {
		if (lock_depth > 1)
			lock_depth--;
		return;
	}
	lock_depth = 0;
	lock_held[0] = '\0';
	close(l->fd);
	l->fd = -1;
}

/* An instance with a disk of its own (limits.disk): its filesystem mounted on the layer dir. */
int instance_layer_ready(struct cella_host *h, const char *name, struct cella_error *err)
{
	cleanup_free char *img = disk_image(h, name);
	if (access(img, F_OK) < 0)
		return 0;
	cleanup_free char *layer = layer_dir(h, name);
	return disk_mount(img, layer, err);
}

/* The layer's disk use: what its own filesystem has used (limits.disk, no walk), else its upper's blocks. */
static long long layer_usage(struct cella_host *h, const char *name)
{
	cleanup_free char *layer = layer_dir(h, name);
	struct statfs sf;
	if (storage_is_mounted(layer) && statfs(layer, &sf) == 0)
		return (long long)(sf.f_blocks - sf.f_bfree) * sf.f_frsize;
	cleanup_free char *upper = xasprintf("%s/upper", layer);
	return tree_usage(upper);
}

/* Unmount the layer's own filesystem, if it has one. */
static void layer_release(struct cella_host *h, const char *name)
{
	cleanup_free char *layer = layer_dir(h, name);
	if (storage_is_mounted(layer))
		umount2(layer, MNT_DETACH);
}

/*
 * limits.disk asks for a disk of its own (at start, stopped): make it and
 * move the layer onto it, or grow it.  Without the key nothing changes (a
 * disk once made stays, at its size).
 */
static int layer_apply_disk(struct cella_host *h, const struct inst_row *r, const json_t *config,
			    struct cella_error *err)
{
	const char *v = config_get(config, "limits.disk");
	long long bytes;
	if (!v || config_parse_size(v, &bytes) < 0)
		return instance_layer_ready(h, r->name, err);
	/* whole filesystem blocks */
	if (bytes > (1LL << 60))
		return cella_error_set(err, ERANGE, "limits.disk: %s is too large", v);
	bytes = (bytes + 4095) & ~4095LL;
	cleanup_free char *img = disk_image(h, r->name);
	cleanup_free char *layer = layer_dir(h, r->name);
	struct stat st;
	if (stat(img, &st) == 0) {
		if (st.st_size == bytes)
			return instance_layer_ready(h, r->name, err);
		instance_umount(h, r->name);
		layer_release(h, r->name);
		if (disk_grow(img, bytes, err) < 0)
			return -1;
		return instance_layer_ready(h, r->name, err);
	}
	/*
	 * A new disk: filled from the layer as it is under a temporary name;
	 * then the layer moves aside (.old-NAME), the disk takes its name and
	 * is mounted.  Recovery keeps whichever side is complete: the disk if
	 * NAME.img exists, else the old layer (recover.c).
	 */
	cleanup_free char *tmp = xasprintf("%s/instances/.disk-%s", h->var_dir, r->name);
	cleanup_free char *old = xasprintf("%s/instances/.old-%s", h->var_dir, r->name);
	cleanup_free char *upper = xasprintf("%s/upper", layer);
	cleanup_free char *tmp_upper = xasprintf("%s/upper", tmp);
	cleanup_free char *tmp_work = xasprintf("%s/work", tmp);
	cleanup_free char *disks = xasprintf("%s/disks", h->var_dir);
	cleanup_free char *new_img = xasprintf("%s/disks/.new-%s.img", h->var_dir, r->name);
	instance_umount(h, r->name);
	unlink(new_img);
	if (mkdir_p(disks, 0711, err) < 0 || disk_create(new_img, bytes, err) < 0)
		return -1;
	if (disk_mount(new_img, tmp, err) < 0)
		goto fail;
	if (tree_copy(upper, tmp_upper, err) < 0 || mkdir(tmp_work, 0700) < 0) {
		if (!err->msg[0])
			cella_error_set(err, errno, "create %s", tmp_work);
		umount2(tmp, MNT_DETACH);
		goto fail;
	}
	umount2(tmp, MNT_DETACH);
	rmdir(tmp);
	if (rename(layer, old) < 0 || mkdir(layer, 0711) < 0) {
		cella_error_set(err, errno, "move the layer of `%s` onto its disk", r->name);
		rmdir(layer);
		rename(old, layer);
		goto fail;
	}
	if (rename(new_img, img) < 0 || disk_mount(img, layer, err) < 0) {
		if (!err->msg[0])
			cella_error_set(err, errno, "put the disk of `%s` in place", r->name);
		rename(img, new_img);
		rmdir(layer);
		rename(old, layer);
		goto fail;
	}
	tree_remove(old);
	return 0;
fail:
	rmdir(tmp);
	unlink(new_img);
	return -1;
}

/* ---- rows ---- */

void inst_row_free(struct inst_row *r)
{
	free(r->description);
	free(r->image);
	json_decref(r->config);
	json_decref(r->devices);
	json_decref(r->profiles);
	memset(r, 0, sizeof(*r));
}

static json_t *json_col(sqlite3_stmt *st, int col, const char *def)
{
	const char *t = (const char *)sqlite3_column_text(st, col);
	json_error_t jerr;
	json_t *v = t ? json_loads(t, 0, &jerr) : NULL;
	return v ? v : json_loads(def, 0, &jerr);
}

#define ROW_COLUMNS "id, name, type, description, config, devices, profiles, ephemeral, image, idmap_base, created_at, last_used_at"

static void row_fill(sqlite3_stmt *st, struct inst_row *r)
{
	r->id = sqlite3_column_int64(st, 0);
	snprintf(r->name, sizeof(r->name), "%s", (const char *)sqlite3_column_text(st, 1));
	snprintf(r->type, sizeof(r->type), "%s", (const char *)sqlite3_column_text(st, 2));
	r->description = xstrdup((const char *)sqlite3_column_text(st, 3));
	r->config = json_col(st, 4, "{}");
	r->devices = json_col(st, 5, "{}");
	r->profiles = json_col(st, 6, "[]");
	r->ephemeral = sqlite3_column_int(st, 7);
	r->image = sqlite3_column_text(st, 8) ? xstrdup((const char *)sqlite3_column_text(st, 8)) : NULL;
	r->idmap_base = (unsigned)sqlite3_column_int64(st, 9);
	snprintf(r->created_at, sizeof(r->created_at), "%s", (const char *)sqlite3_column_text(st, 10));
	snprintf(r->last_used_at, sizeof(r->last_used_at), "%s", (const char *)sqlite3_column_text(st, 11));
}

int inst_load(struct cella_host *h, const char *name, struct inst_row *r, struct cella_error *err)
{
	if (name_check("instance", name, err) < 0)
		return -1;
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT " ROW_COLUMNS " FROM instances WHERE name = ?", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return cella_error_set(err, ENOENT, "instance `%s` not found", name);
	if (rc != SQLITE_ROW)
		return db_error(host_db(h), err, "load instance");
	row_fill(st, r);
	return 0;
}

static int row_save(struct cella_host *h, const struct inst_row *r, struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st = db_prepare(
		host_db(h), "UPDATE instances SET description = ?, config = ?, devices = ?, profiles = ?, ephemeral = ? WHERE id = ?",
		err);
	if (!st)
		return -1;
	cleanup_free char *config = json_dumps(r->config, JSON_COMPACT | JSON_SORT_KEYS);
	cleanup_free char *devices = json_dumps(r->devices, JSON_COMPACT | JSON_SORT_KEYS);
	cleanup_free char *profiles = json_dumps(r->profiles, JSON_COMPACT);
	sqlite3_bind_text(st, 1, r->description ? r->description : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, config, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, devices, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, profiles, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, r->ephemeral);
	sqlite3_bind_int64(st, 6, r->id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_error(host_db(h), err, "save instance");
	return 0;
}

/* One volatile.* key of a row, written at once. */
/* One volatile.* key, written by itself: a concurrent change of other keys stays. */
static void volatile_set(struct cella_host *h, struct inst_row *r, const char *key, const char *value)
{
	struct cella_error ignored;
	if (value)
		json_object_set_new(r->config, key, json_string(value));
	else
		json_object_del(r->config, key);
	cleanup_free char *jpath = xasprintf("$.\"%s\"", key);
	cleanup_stmt sqlite3_stmt *st = db_prepare(
		host_db(h), value ? "UPDATE instances SET config = json_set(config, ?, ?) WHERE id = ?"
				  : "UPDATE instances SET config = json_remove(config, ?) WHERE id = ?",
		&ignored);
	if (!st)
		return;
	sqlite3_bind_text(st, 1, jpath, -1, SQLITE_STATIC);
	if (value) {
		sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, r->id);
	} else {
		sqlite3_bind_int64(st, 2, r->id);
	}
	sqlite3_step(st);
}

/* Profiles applied in order, then the instance's own config and devices. */
int inst_expand(struct cella_host *h, const struct inst_row *r, json_t **config, json_t **devices,
		struct cella_error *err)
{
	json_t *c = json_object(), *d = json_object();
	size_t i;
	json_t *p;
	json_array_foreach(r->profiles, i, p) {
		json_t *prof = cella_profile_get(h, json_string_value(p), err);
		if (!prof) {
			json_decref(c);
			json_decref(d);
			return -1;
		}
		json_object_update(c, json_object_get(prof, "config"));
		json_object_update(d, json_object_get(prof, "devices"));
		json_decref(prof);
	}
	json_object_update(c, r->config);
	json_object_update(d, r->devices);
	if (config)
		*config = c;
	else
		json_decref(c);
	if (devices)
		*devices = d;
	else
		json_decref(d);
	return 0;
}

/* ---- the monitor ---- */

static int monitor_connect(struct cella_host *h, const char *name)
{
	cleanup_free char *dir = run_dir(h, name);
	cleanup_close int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/monitor.sock", dfd);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One request line, one JSON reply (waiting up to timeout_s); NULL if the monitor is gone. */
static json_t *monitor_request(struct cella_host *h, const char *name, json_t *req, int timeout_s)
{
	cleanup_close int fd = monitor_connect(h, name);
	if (fd < 0)
		return NULL;
	cleanup_free char *line = json_dumps(req, JSON_COMPACT);
	if (!line || write_all(fd, line, strlen(line)) < 0 || write_all(fd, "\n", 1) < 0)
		return NULL;
	char buf[4096];
	size_t len = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	while (len < sizeof(buf) - 1 && poll(&p, 1, timeout_s * 1000) > 0) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\n', len))
			break;
	}
	buf[len] = '\0';
	json_error_t jerr;
	return json_loads(buf, JSON_DISABLE_EOF_CHECK, &jerr);
}

/* The monitor's state.json, also after it is gone (NULL if never started). */
static json_t *monitor_state_file(struct cella_host *h, const char *name)
{
	cleanup_free char *path = xasprintf("%s/instances/%s/state.json", h->run_dir, name);
	json_error_t jerr;
	return json_load_file(path, 0, &jerr);
}

/* "Running", "Frozen", "Stopping", "Stopped"; *mon gets the monitor's state object. */
static const char *inst_status(struct cella_host *h, const char *name, json_t **mon)
{
	json_t *req = json_pack("{s:s}", "cmd", "status");
	json_t *st = monitor_request(h, name, req, 5);
	json_decref(req);
	if (!st || !json_is_object(st)) {
		json_decref(st);
		if (mon)
			*mon = monitor_state_file(h, name);
		return "Stopped";
	}
	const char *s = json_string_value(json_object_get(st, "status"));
	const char *result = s && !strcmp(s, "Stopping") ? "Stopping" : "Running";
	pid_t init = (pid_t)json_integer_value(json_object_get(st, "init_pid"));
	cleanup_free char *cg = instance_cgroup(h, name);
	if (init > 0 && cgroup_frozen(init, cg))
		result = "Frozen";
	if (mon)
		*mon = st;
	else
		json_decref(st);
	return result;
}

const char *instance_status(struct cella_host *h, const char *name)
{
	return inst_status(h, name, NULL);
}

pid_t instance_init_pid(struct cella_host *h, const char *name)
{
	json_t *mon = NULL;
	const char *s = inst_status(h, name, &mon);
	pid_t pid = strcmp(s, "Stopped") ? (pid_t)json_integer_value(json_object_get(mon, "init_pid")) : 0;
	json_decref(mon);
	return pid;
}

static bool inst_running(struct cella_host *h, const char *name)
{
	return strcmp(inst_status(h, name, NULL), "Stopped") != 0;
}

static int status_code(const char *s)
{
	return !strcmp(s, "Running") ? 103 : !strcmp(s, "Frozen") ? 110 : !strcmp(s, "Stopping") ? 107 : 102;
}

static json_t *inst_object(struct cella_host *h, const struct inst_row *r)
{
	json_t *config = NULL, *devices = NULL;
	struct cella_error ignored;
	if (inst_expand(h, r, &config, &devices, &ignored) < 0) {
		config = json_object();
		devices = json_object();
	}
	const char *status = inst_status(h, r->name, NULL);
	return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:O, s:O, s:O, s:o, s:o, s:b, s:b, s:s}", "name",
			 r->name, "type", r->type, "status", status, "status_code", status_code(status),
			 "architecture", "x86_64", "created_at", r->created_at, "last_used_at", r->last_used_at,
			 "description", r->description ? r->description : "", "config", r->config, "devices",
			 r->devices, "profiles", r->profiles, "expanded_config", config, "expanded_devices", devices,
			 "ephemeral", r->ephemeral, "stateful", 0, "location", "none");
}

json_t *cella_instance_list(struct cella_host *h, struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT " ROW_COLUMNS " FROM instances ORDER BY name", err);
	if (!st)
		return NULL;
	json_t *a = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		cleanup_inst_row struct inst_row r = { 0 };
		row_fill(st, &r);
		json_array_append_new(a, inst_object(h, &r));
	}
	if (rc != SQLITE_DONE) {
		json_decref(a);
		db_error(host_db(h), err, "list instances");
		return NULL;
	}
	return a;
}

int cella_instance_exists(struct cella_host *h, const char *name, struct cella_error *err)
{
	if (name_check("instance", name, err) < 0)
		return -1;
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT 1 FROM instances WHERE name = ?", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		return cella_error_set(err, ENOENT, "instance `%s` not found", name);
	return 0;
}

json_t *cella_instance_get(struct cella_host *h, const char *name, struct cella_error *err)
{
	cleanup_inst_row struct inst_row r = { 0 };
	if (inst_load(h, name, &r, err) < 0)
		return NULL;
	return inst_object(h, &r);
}

json_t *cella_instance_state(struct cella_host *h, const char *name, struct cella_error *err)
{
	cleanup_inst_row struct inst_row r = { 0 };
	if (inst_load(h, name, &r, err) < 0)
		return NULL;
	json_t *mon = NULL;
	const char *status = inst_status(h, name, &mon);
	json_t *s = json_pack("{s:s, s:i}", "status", status, "status_code", status_code(status));
	pid_t pid = strcmp(status, "Stopped") ? (pid_t)json_integer_value(json_object_get(mon, "init_pid")) : 0;
	json_object_set_new(s, "pid", json_integer(pid));
	if (pid > 0) {
		struct usage u;
		cleanup_free char *cg = instance_cgroup(h, name);
		usage_read(pid, cg, &u);
		json_object_set_new(s, "processes", json_integer(u.processes));
		json_object_set_new(s, "cpu", json_pack("{s:I}", "usage", (json_int_t)u.cpu_ns));
		json_object_set_new(s, "memory", json_pack("{s:I, s:I, s:I}", "usage", (json_int_t)u.memory_usage,
							   "usage_peak", (json_int_t)u.memory_peak, "limit",
							   (json_int_t)u.memory_limit));
		json_object_set_new(s, "io", json_pack("{s:I, s:I}", "read_bytes", (json_int_t)u.io_read,
						       "written_bytes", (json_int_t)u.io_write));
		json_object_set(s, "started_at", json_object_get(mon, "started_at"));
		json_object_set(s, "boots", json_object_get(mon, "boots"));
	} else {
		json_object_set_new(s, "processes", json_integer(0));
		if (mon && json_object_get(mon, "reason")) {
			json_object_set(s, "stop_reason", json_object_get(mon, "reason"));
			json_object_set(s, "exit_code", json_object_get(mon, "exit_code"));
		}
	}
	json_object_set_new(s, "disk", json_pack("{s:{s:I}}", "root", "usage", (json_int_t)layer_usage(h, name)));
	json_object_set_new(s, "network", nics_state(h, r.id));
	json_decref(mon);
	return s;
}

/* ---- create ---- */

static int body_check(const json_t *req, const char *const *allowed, size_t n, const char *what,
		      struct cella_error *err)
{
	const char *k;
	json_t *v;
	if (!json_is_object(req))
		return cella_error_set(err, EINVAL, "%s: the body must be a JSON object", what);
	json_object_foreach((json_t *)req, k, v) {
		size_t i;
		for (i = 0; i < n && strcmp(k, allowed[i]); i++)
			;
		if (i == n)
			return cella_error_set(err, EINVAL, "%s: unknown field `%s`", what, k);
	}
	return 0;
}

int devices_validate(const json_t *devices, struct cella_error *err)
{
	const char *k;
	json_t *d;
	static const char *const types[] = { "nic", "disk", "proxy", "unix-char", "unix-block", "none" };
	if (!json_is_object(devices))
		return cella_error_set(err, EINVAL, "devices: not an object");
	json_object_foreach((json_t *)devices, k, d) {
		const char *t = json_string_value(json_object_get(d, "type"));
		/* a device's name reaches rule names, metric labels and messages */
		if (!*k || strlen(k) > 64 || strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
						      strlen(k) || k[0] == '.' || k[0] == '-')
			return cella_error_set(err, EINVAL, "a device name: 1-64 of [A-Za-z0-9_.-], not starting with '.' or '-'");
		if (!json_is_object(d) || !t)
			return cella_error_set(err, EINVAL, "device `%s`: needs a type", k);
		size_t i;
		for (i = 0; i < ARRAY_SIZE(types) && strcmp(t, types[i]); i++)
			;
		if (i == ARRAY_SIZE(types))
			return cella_error_set(err, EINVAL, "device `%s`: unknown type `%s`", k, t);
		const char *pk;
		json_t *pv;
		json_object_foreach(d, pk, pv)
			if (!json_is_string(pv))
				return cella_error_set(err, EINVAL, "device `%s`: `%s` must be a string", k, pk);
		if (!strcmp(t, "nic") && nic_device_check(k, d, err) < 0)
			return -1;
		if (!strcmp(t, "proxy") && proxy_device_check(k, d, err) < 0)
			return -1;
	}
	return 0;
}

int profiles_check(struct cella_host *h, const json_t *profiles, struct cella_error *err)
{
	size_t i;
	json_t *p;
	if (!json_is_array(profiles))
		return cella_error_set(err, EINVAL, "profiles: not a list");
	json_array_foreach(profiles, i, p) {
		if (!json_is_string(p))
			return cella_error_set(err, EINVAL, "profiles: names must be strings");
		json_t *prof = cella_profile_get(h, json_string_value(p), err);
		if (!prof)
			return -1;
		json_decref(prof);
	}
	return 0;
}

/* The lowest free 65536-id range. */
static int idmap_allocate(struct cella_host *h, unsigned *base, struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT idmap_base FROM instances ORDER BY idmap_base", err);
	if (!st)
		return -1;
	unsigned b = IDMAP_FIRST;
	while (sqlite3_step(st) == SQLITE_ROW) {
		unsigned used = (unsigned)sqlite3_column_int64(st, 0);
		if (used == b)
			b += IDMAP_SIZE;
		else if (used > b)
			break;
	}
	if (b > 4000000000u)
		return cella_error_set(err, ENOSPC, "no free id range left");
	*base = b;
	return 0;
}

static int row_insert(struct cella_host *h, struct inst_row *r, struct cella_error *err)
{
	char now[40];
	time_now_rfc3339(now, sizeof(now));
	snprintf(r->created_at, sizeof(r->created_at), "%s", now);
	cleanup_stmt sqlite3_stmt *st = db_prepare(
		host_db(h),
		"INSERT INTO instances (name, type, description, config, devices, profiles, ephemeral, image, idmap_base, created_at) "
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		err);
	if (!st)
		return -1;
	cleanup_free char *config = json_dumps(r->config, JSON_COMPACT | JSON_SORT_KEYS);
	cleanup_free char *devices = json_dumps(r->devices, JSON_COMPACT | JSON_SORT_KEYS);
	cleanup_free char *profiles = json_dumps(r->profiles, JSON_COMPACT);
	sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->description ? r->description : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, config, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, devices, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, profiles, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, r->ephemeral);
	if (r->image)
		sqlite3_bind_text(st, 8, r->image, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
	sqlite3_bind_int64(st, 9, r->idmap_base);
	sqlite3_bind_text(st, 10, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		if (sqlite3_extended_errcode(host_db(h)) == SQLITE_CONSTRAINT_UNIQUE)
			return cella_error_set(err, EEXIST, "instance `%s` already exists", r->name);
		return db_error(host_db(h), err, "create instance");
	}
	r->id = sqlite3_last_insert_rowid(host_db(h));
	return 0;
}

/* Where a new instance's layer comes from: nothing, or another layer (copy). */
/* The new layer made at `tmp`: empty, a copy of an upper dir, or a btrfs snapshot of a layer. */
static int layer_make(struct cella_host *h, const char *tmp, const char *copy_from, struct cella_error *err)
{
	cleanup_free char *from_layer = copy_from ? xasprintf("%s/..", copy_from) : NULL;
	cleanup_free char *upper = xasprintf("%s/upper", tmp);
	cleanup_free char *work = xasprintf("%s/work", tmp);
	if (!copy_from)
		return storage_layer_create(tmp, err);
	/* a layer subvolume (btrfs): the copy is a snapshot of it, instant and shared */
	if (storage_is_subvolume(from_layer) && storage_is_btrfs(layer_parent(h))) {
		if (subvol_snapshot(from_layer, tmp, false, err) < 0)
			return -1;
		/* a fresh work dir: the source's may hold a running overlay's leftovers */
		tree_remove(work);
	} else {
		if (mkdir(tmp, 0711) < 0)
			return cella_error_set(err, errno, "create `%s`", tmp);
		if (tree_copy(copy_from, upper, err) < 0) {
			tree_remove(tmp);
			return -1;
		}
	}
	if (mkdir(work, 0700) < 0 && errno != EEXIST) {
		cella_error_set(err, errno, "create `%s`", work);
		tree_remove(tmp);
		return -1;
	}
	return 0;
}

/*
 * The layer is made first, under a temporary name, with no database lock
 * held (a copy may take a while); then one short transaction allocates the
 * id range, inserts the row and renames the layer into place.  A crash
 * leaves a .new-* tree that recovery removes.
 */
int instance_create_from(struct cella_host *h, struct inst_row *r, const char *copy_from, struct cella_error *err)
{
	cleanup_free char *layer = layer_dir(h, r->name);
	cleanup_free char *snaps = xasprintf("%s/snapshots/%s", h->var_dir, r->name);
	cleanup_free char *tmp = xasprintf("%s/instances/.new-%d-%s", h->var_dir, (int)gettid(), r->name);
	tree_remove(tmp);
	if (layer_make(h, tmp, copy_from, err) < 0)
		return -1;
	if (db_begin(host_db(h), err) < 0)
		goto fail_tree;
	if (idmap_allocate(h, &r->idmap_base, err) < 0 || row_insert(h, r, err) < 0)
		goto fail;
	if (access(layer, F_OK) == 0 || access(snaps, F_OK) == 0) {
		cella_error_set(err, EEXIST, "storage of `%s` already exists at %s (left by another tool?)", r->name, layer);
		goto fail;
	}
	if (rename(tmp, layer) < 0) {
		cella_error_set(err, errno, "put the layer of `%s` in place", r->name);
		goto fail;
	}
	if (db_commit(host_db(h), err) < 0) {
		rename(layer, tmp);
		goto fail;
	}
	return 0;
fail:
	db_rollback(host_db(h));
fail_tree:
	tree_remove(tmp);
	return -1;
}

int cella_instance_create(struct cella_host *h, const json_t *req, struct cella_error *err)
{
	static const char *const fields[] = { "name", "type", "source", "config", "devices", "profiles",
					      "description", "ephemeral", "start" };
	if (body_check(req, fields, ARRAY_SIZE(fields), "instance", err) < 0)
		return -1;
	const char *name = json_string_value(json_object_get(req, "name"));
	if (name_check("instance", name, err) < 0)
		return -1;
	const char *type = json_string_value(json_object_get(req, "type"));
	if (type && strcmp(type, "vps")) {
		if (!strcmp(type, "vm"))
			return cella_error_set(err, ENOSYS, "instance type `vm`: not available yet");
		return cella_error_set(err, EINVAL, "instance type `%s`: use vps or vm", type);
	}
	json_t *source = json_object_get(req, "source");
	const char *stype = json_string_value(json_object_get(source, "type"));
	if (stype && !strcmp(stype, "copy"))
		return cella_instance_copy(h, json_string_value(json_object_get(source, "source")), name, err);

	cleanup_inst_row struct inst_row r = { 0 };
	snprintf(r.name, sizeof(r.name), "%s", name);
	snprintf(r.type, sizeof(r.type), "vps");
	json_t *v;
	r.config = json_is_object(v = json_object_get(req, "config")) ? json_deep_copy(v) : json_object();
	r.devices = json_is_object(v = json_object_get(req, "devices")) ? json_deep_copy(v) : json_object();
	r.profiles = (v = json_object_get(req, "profiles")) ? json_deep_copy(v) : json_pack("[s]", "default");
	r.description = xstrdup(json_string_value(json_object_get(req, "description")) ?: "");
	r.ephemeral = json_is_true(json_object_get(req, "ephemeral"));
	if ((json_object_get(req, "config") && !json_is_object(json_object_get(req, "config"))) ||
	    cella_config_validate(r.config, false, err) < 0 || devices_validate(r.devices, err) < 0 ||
	    profiles_check(h, r.profiles, err) < 0)
		return -1;
	const char *k;
	json_object_foreach(r.config, k, v) {
		if (!strncmp(k, "volatile.", 9))
			return cella_error_set(err, EINVAL, "config key `%s`: kept by cella, not settable", k);
	}
	if (!stype || !strcmp(stype, "image")) {
		const char *ref = json_string_value(json_object_get(source, "alias"));
		if (!ref)
			ref = json_string_value(json_object_get(source, "fingerprint"));
		if (!ref)
			return cella_error_set(err, EINVAL, "source: an image alias or fingerprint is needed");
		json_t *img = cella_image_get(h, ref, err);
		if (!img)
			return -1;
		r.image = xstrdup(json_string_value(json_object_get(img, "fingerprint")));
		json_t *props = json_object_get(img, "properties");
		static const char *const copied[] = { "os", "release", "architecture", "description" };
		for (size_t i = 0; i < ARRAY_SIZE(copied); i++) {
			const char *pv = json_string_value(json_object_get(props, copied[i]));
			if (pv) {
				cleanup_free char *key = xasprintf("image.%s", copied[i]);
				json_object_set_new(r.config, key, json_string(pv));
			}
		}
		json_decref(img);
	} else if (strcmp(stype, "none")) {
		return cella_error_set(err, EINVAL, "source type `%s`: use image, copy or none", stype);
	}
	json_t *devices = NULL;
	if (inst_expand(h, &r, NULL, &devices, err) < 0)
		return -1;
	int nic_ok = nics_check(h, devices, err);
	json_decref(devices);
	if (nic_ok < 0)
		return -1;
	return instance_create_from(h, &r, NULL, err);
}

/* ---- start, stop ---- */

/* busybox init powers off on SIGUSR2, systemd on SIGRTMIN+4, sysvinit on SIGPWR. */
static int stop_signal_auto(const char *rootfs)
{
	char link[4096];
	cleanup_free char *init = xasprintf("%s/sbin/init", rootfs);
	ssize_t n = readlink(init, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		if (strstr(link, "busybox"))
			return SIGUSR2;
		if (strstr(link, "systemd"))
			return SIGRTMIN + 4;
	}
	struct stat a, b;
	cleanup_free char *bb = xasprintf("%s/bin/busybox", rootfs);
	if (stat(init, &a) == 0 && stat(bb, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
		return SIGUSR2;
	return SIGPWR;
}

static char *find_helper(struct cella_host *h, const char *name)
{
	char *p = xasprintf("%s/%s", h->libexec, name);
	if (access(p, X_OK) == 0)
		return p;
	free(p);
	static const char *const dirs[] = { "/usr/libexec/cella", "/usr/local/libexec/cella", "/usr/sbin",
					    "/usr/local/sbin", "/usr/bin", "/usr/local/bin" };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		p = xasprintf("%s/%s", dirs[i], name);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

/*
 * A sealed view of a helper binary, made once and kept in *slot; made again
 * when the file at `path` is another one (an upgrade).  -1: none, use path.
 */
static int sealed_helper(struct cella_host *h, int *slot, const char *path)
{
	struct stat now, held;
	pthread_mutex_lock(&h->lock);
	if (*slot >= 0 && (stat(path, &now) < 0 || fstat(*slot, &held) < 0 || now.st_ino != held.st_ino ||
			   now.st_mtim.tv_sec != held.st_mtim.tv_sec || now.st_mtim.tv_nsec != held.st_mtim.tv_nsec)) {
		close(*slot);
		*slot = -1;
	}
	if (*slot < 0)
		*slot = exeseal_open(path);
	/* our own copy: another thread may replace the slot's meanwhile */
	int fd = *slot >= 0 ? fcntl(*slot, F_DUPFD_CLOEXEC, 0) : -1;
	pthread_mutex_unlock(&h->lock);
	return fd;
}

/*
 * Start the monitor and wait for its word.  It is spawned (vfork: cheap
 * whatever our size) from a sealed view of its binary, made once, so it
 * need not re-exec itself to run sealed; it then leaves our process tree
 * by forking once (we reap that first process at once), in a session of
 * its own: it outlives cellad.
 */
static int monitor_spawn(struct cella_host *h, const char *name, struct cella_error *err)
{
	cleanup_free char *monitor = find_helper(h, "cella-monitor");
	if (!monitor)
		return cella_error_set(err, ENOENT, "cella-monitor not found next to %s nor in the usual places", h->libexec);
	cleanup_close int exe_fd = sealed_helper(h, &h->monitor_exe, monitor);
	cleanup_free char *logdir = xasprintf("%s/%s", h->log_dir, name);
	if (mkdir_p(logdir, 0700, err) < 0)
		return -1;
	cleanup_free char *logpath = xasprintf("%s/monitor.log", logdir);
	cleanup_close int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	cleanup_close int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (logfd < 0 || nullfd < 0)
		return cella_error_set(err, errno, "open %s", logfd < 0 ? logpath : "/dev/null");
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return cella_error_set(err, errno, "pipe");
	cleanup_close int rfd = pipefd[0];
	char fdarg[16];
	snprintf(fdarg, sizeof(fdarg), "%d", 3);
	char *const argv[] = { "cella-monitor", "--run-dir", h->run_dir, "--log-dir", h->log_dir, "--name",
			       (char *)name, "--ready-fd", fdarg, "--daemonize", NULL };
	/* the sealed view as fd 4, executed through /proc (the monitor closes it) */
	const int fds[] = { nullfd, logfd, logfd, pipefd[1], exe_fd };
	pid_t pid;
	int e = spawn_clean(&pid, exe_fd >= 0 ? "/proc/self/fd/4" : monitor, argv, fds, exe_fd >= 0 ? 5 : 4, true);
	close(pipefd[1]);
	if (e)
		return cella_error_set(err, e, "run %s", monitor);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	char buf[1200];
	ssize_t n = read_all(rfd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (!strcmp(buf, "ok"))
		return 0;
	if (!strncmp(buf, "error: ", 7))
		return cella_error_set(err, EIO, "%s", buf + 7);
	return cella_error_set(err, EIO, "the monitor of `%s` failed to start (see %s)", name, logpath);
}

static int bundle_write(struct cella_host *h, const struct inst_row *r, const json_t *config, const json_t *nics,
			const char *rdir, struct cella_error *err)
{
	cleanup_free char *rootfs = xasprintf("%s/rootfs", rdir);
	cleanup_free char *procdir = xasprintf("%s/proc", rdir);
	cleanup_free char *bundle = xasprintf("%s/bundle", rdir);
	cleanup_free char *layer = layer_dir(h, r->name);
	cleanup_close int rfd = open(rdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return cella_error_set(err, errno, "open %s", rdir);
	unlinkat(rfd, "state.json", 0);

	/* what the monitor needs to know; the guest's init may change, so always */
	const char *sig = config_get(config, "boot.stop.signal");
	int stop_sig = sig && strcmp(sig, "auto") ? cella_signal_parse(sig) : stop_signal_auto(rootfs);
	json_t *params = json_pack("{s:i, s:I, s:s, s:O}", "stop_signal", stop_sig, "stop_timeout",
				   (json_int_t)config_get_int(config, "boot.stop.timeout", 30), "restart",
				   config_get(config, "boot.restart"), "nics", nics);
	/* the monitor's hands for the NICs (it is static; this one links libmnl) */
	cleanup_free char *nicplug = json_array_size(nics) ? find_helper(h, "cella-nicplug") : NULL;
	if (json_array_size(nics) && !nicplug)
		return cella_error_set(err, ENOENT, "cella-nicplug not found next to %s nor in the usual places",
				       h->libexec);
	if (nicplug)
		json_object_set_new(params, "nicplug", json_string(nicplug));
	cleanup_free char *ptext = json_dumps(params, JSON_COMPACT);
	json_decref(params);
	if (write_file_atomic(rfd, "params.json", ptext, strlen(ptext), 0600, err) < 0)
		return -1;

	/* the same inputs as last time: the bundle is still right */
	json_t *inputs = json_pack("{s:O, s:I, s:s?, s:s, s:s, s:i}", "config", config, "base", (json_int_t)r->idmap_base,
				   "image", r->image, "rundir", h->run_dir, "version", CELLA_VERSION, "format",
				   VPS_BUNDLE_FORMAT);
	cleanup_free char *stamp = json_dumps(inputs, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(inputs);
	if (!stamp)
		return cella_error_set(err, ENOMEM, "bundle of `%s`", r->name);
	cleanup_free char *stamp_path = xasprintf("%s/inputs.json", bundle);
	cleanup_free char *cfg_path = xasprintf("%s/config.json", bundle);
	struct cella_error ignored;
	cleanup_free char *old_stamp = read_file_at(AT_FDCWD, stamp_path, NULL, &ignored);
	if (old_stamp && !strcmp(stamp, old_stamp) && access(cfg_path, F_OK) == 0)
		return 0;

	char cgparent[64];
	cgroup_parent_of(h, cgparent, sizeof(cgparent));
	struct vps_params p = {
		.name = r->name, .cgroup_parent = cgparent, .config = config, .idmap_base = r->idmap_base,
		.rootfs = rootfs, .storage_dir = layer, .proc_dir = procdir, .proc_files = proc_files,
		.n_proc_files = ARRAY_SIZE(proc_files),
	};
	/* a unix socket path has 107 bytes: past that, sysinfo shows the host's figures */
	cleanup_free char *listener = xasprintf("%s/seccomp.sock", rdir);
	if (strlen(listener) < 108)
		p.sysinfo_listener = listener;
	json_t *oci = vps_bundle_config(&p, err);
	if (!oci)
		return -1;
	cleanup_free char *text = json_dumps(oci, JSON_COMPACT);
	json_decref(oci);
	if (mkdir_p(bundle, 0700, err) < 0 || mkdir_p(procdir, 0755, err) < 0)
		return -1;
	/* the bind sources must exist before the monitor fills them */
	for (size_t i = 0; i < ARRAY_SIZE(proc_files); i++) {
		cleanup_free char *f = xasprintf("%s/%s", procdir, proc_files[i]);
		int fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0444);
		if (fd < 0)
			return cella_error_set(err, errno, "create %s", f);
		close(fd);
	}
	cleanup_close int bfd = open(bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
	/* the stamp last: a failure before leaves none, so the next start writes it all again */
	if (bfd < 0 || write_file_atomic(bfd, "config.json", text, strlen(text), 0600, err) < 0 ||
	    write_file_atomic(bfd, "inputs.json", stamp, strlen(stamp), 0600, err) < 0)
		return -1;
	return 0;
}

/* Mount the instance's tree at RUN/instances/NAME/rootfs (nothing if already there). */
int instance_mount(struct cella_host *h, const struct inst_row *r, char **rootfsp, struct cella_error *err)
{
	cleanup_free char *rdir = run_dir(h, r->name);
	cleanup_free char *rootfs = xasprintf("%s/rootfs", rdir);
	if (rootfsp)
		*rootfsp = xstrdup(rootfs);
	if (storage_is_mounted(rootfs))
		return 0;
	if (!r->image)
		return cella_error_set(err, EINVAL, "instance `%s` has no image", r->name);
	if (instance_layer_ready(h, r->name, err) < 0)
		return -1;
	cleanup_free char *img = image_rootfs(h, r->image);
	if (access(img, F_OK) < 0)
		return cella_error_set(err, ENOENT, "image %.12s of `%s` is missing", r->image, r->name);
	cleanup_free char *layer = layer_dir(h, r->name);
	if (mkdir_p(rdir, 0711, err) < 0)
		return -1;
	return storage_mount(img, layer, r->idmap_base, rootfs, err);
}

void instance_umount(struct cella_host *h, const char *name)
{
	cleanup_free char *rootfs = xasprintf("%s/instances/%s/rootfs", h->run_dir, name);
	storage_umount(rootfs);
}

/* A stopped guest's network: NIC counters kept, their rules and its proxies' dropped. */
static void net_release(struct cella_host *h, const struct inst_row *r)
{
	nics_release(h, r->id, NULL);
	proxies_release(h, r->id);
}

/* volatile.DEV.hwaddr and volatile.DEV.host_name tell what IPAM gave each NIC. */
static void nics_volatile(struct cella_host *h, struct inst_row *r, const json_t *nics)
{
	static const char *const fields[][2] = { { "hwaddr", "mac" }, { "host_name", "host" } };
	const char *k;
	json_t *v;
	/* keys of NICs that are gone */
	json_t *copy = json_deep_copy(r->config);
	json_object_foreach(copy, k, v) {
		for (size_t f = 0; f < ARRAY_SIZE(fields); f++) {
			size_t kl = strlen(k), fl = strlen(fields[f][0]);
			if (strncmp(k, "volatile.", 9) || kl < 10 + fl || strcmp(k + kl - fl, fields[f][0]) ||
			    k[kl - fl - 1] != '.')
				continue;
			char dev[80];
			snprintf(dev, sizeof(dev), "%.*s", (int)(kl - fl - 10), k + 9);
			bool found = false;
			size_t i;
			json_t *n;
			json_array_foreach(nics, i, n)
				found |= !strcmp(json_string_value(json_object_get(n, "device")), dev);
			if (!found)
				volatile_set(h, r, k, NULL);
		}
	}
	json_decref(copy);
	size_t i;
	json_t *n;
	json_array_foreach(nics, i, n) {
		for (size_t f = 0; f < ARRAY_SIZE(fields); f++) {
			cleanup_free char *key = xasprintf("volatile.%s.%s", json_string_value(json_object_get(n, "device")),
							   fields[f][0]);
			const char *want = json_string_value(json_object_get(n, fields[f][1]));
			const char *have = json_string_value(json_object_get(r->config, key));
			if (!have || strcmp(have, want))
				volatile_set(h, r, key, want);
		}
	}
}

/* The guest's /etc/hostname names the instance (once per name: the guest may change it). */
static int hostname_write(struct cella_host *h, struct inst_row *r, struct cella_error *err)
{
	const char *done = json_string_value(json_object_get(r->config, "volatile.hostname"));
	if (done && !strcmp(done, r->name))
		return 0;
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return cella_error_set(err, errno, "pipe");
	char line[80];
	int n = snprintf(line, sizeof(line), "%s\n", r->name);
	write_all(pipefd[1], line, (size_t)n);
	close(pipefd[1]);
	int ret = cella_instance_file_push(h, r->name, "/etc/hostname", pipefd[0], 0, 0, 0644, err);
	close(pipefd[0]);
	if (ret < 0)
		return cella_error_wrap(err, "set the hostname of `%s`", r->name);
	volatile_set(h, r, "volatile.hostname", r->name);
	return 0;
}

int cella_instance_start(struct cella_host *h, const char *name, struct cella_error *err)
{
	cleanup_instance_lock struct instance_lock lock = { -1 };
	if (instance_lock(h, name, &lock, err) < 0)
		return -1;
	cleanup_inst_row struct inst_row r = { 0 };
	json_t *config = NULL;
	int ret = -1;
	if (inst_load(h, name, &r, err) < 0)
		return -1;
	cleanup_free char *rdir = run_dir(h, name);
	cleanup_stmt sqlite3_stmt *st = NULL;
	json_t *devices = NULL, *nics = NULL;
	char now[40];
	if (inst_running(h, name)) {
		cella_error_set(err, EALREADY, "instance `%s` is already running", name);
		goto out;
	}
	if (inst_expand(h, &r, &config, &devices, err) < 0)
		goto out;
	if (!(nics = nics_sync(h, r.id, name, devices, false, err))) {
		cella_error_wrap(err, "start `%s`", name);
		goto out;
	}
	nics_volatile(h, &r, nics);
	if (networks_disabled())
		json_array_clear(nics);
	if (mkdir_p(rdir, 0711, err) < 0 || layer_apply_disk(h, &r, config, err) < 0 ||
	    instance_mount(h, &r, NULL, err) < 0 || hostname_write(h, &r, err) < 0 ||
	    nics_guest_files(h, name, nics, err) < 0)
		goto out;
	/* its DHCP lease and name before its init can ask */
	networks_dns_refresh(h);
	if (nics_filter_set(h, nics, err) < 0 || proxies_set(h, r.id, devices, nics, err) < 0 ||
	    bundle_write(h, &r, config, nics, rdir, err) < 0 || monitor_spawn(h, name, err) < 0) {
		net_release(h, &r);
		instance_umount(h, name);
		cella_error_wrap(err, "start `%s`", name);
		goto out;
	}
	snprintf(r.last_used_at, sizeof(r.last_used_at), "%s", time_now_rfc3339(now, sizeof(now)));
	st = db_prepare(host_db(h), "UPDATE instances SET last_used_at = ? WHERE id = ?", err);
	if (st) {
		sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, r.id);
		sqlite3_step(st);
	}
	volatile_set(h, &r, "volatile.last_state.power", "RUNNING");
	ret = 0;
out:
	json_decref(config);
	json_decref(devices);
	json_decref(nics);
	return ret;
}

/* Wait until the monitor is gone (its socket refuses). */
static void monitor_wait_gone(struct cella_host *h, const char *name, int timeout_ms)
{
	for (int t = 0; t < timeout_ms; t += 2) {
		int fd = monitor_connect(h, name);
		if (fd < 0)
			return;
		close(fd);
		usleep(2000);
	}
}

static int inst_stop(struct cella_host *h, const char *name, bool force, int timeout, bool restart,
		     struct cella_error *err)
{
	json_t *req = json_pack("{s:s, s:b}", "cmd", restart ? "restart" : "stop", "force", force);
	if (timeout >= 0)
		json_object_set_new(req, "timeout", json_integer(timeout));
	/* the monitor answers when the guest is down (or up again) */
	json_t *reply = monitor_request(h, name, req, (timeout >= 0 ? timeout : 86400) + 30);
	json_decref(req);
	if (!reply)
		return cella_error_set(err, EALREADY, "instance `%s` is not running", name);
	bool ok = json_is_true(json_object_get(reply, "ok"));
	json_decref(reply);
	if (!ok)
		return cella_error_set(err, EIO, "instance `%s` did not %s", name, restart ? "boot again" : "stop");
	if (!restart)
		monitor_wait_gone(h, name, 5000);
	return 0;
}

int cella_instance_stop(struct cella_host *h, const char *name, bool force, int timeout, struct cella_error *err)
{
	cleanup_instance_lock struct instance_lock lock = { -1 };
	if (instance_lock(h, name, &lock, err) < 0)
		return -1;
	cleanup_inst_row struct inst_row r = { 0 };
	if (inst_load(h, name, &r, err) < 0)
		return -1;
	int ret = inst_stop(h, name, force, timeout, false, err);
	if (ret == 0) {
		volatile_set(h, &r, "volatile.last_state.power", "STOPPED");
		net_release(h, &r);
	}
	return ret;
}

void cella_instance_stopped(struct cella_host *h, const char *name)
{
	if (networks_disabled())
		return;
	struct cella_error ignored;
	/* a start in between must not lose its fresh rules to us */
	cleanup_instance_lock struct instance_lock lock = { -1 };
	if (instance_lock(h, name, &lock, &ignored) < 0)
		return;
	cleanup_inst_row struct inst_row r = { 0 };
	if (inst_load(h, name, &r, &ignored) == 0 && !inst_running(h, name))
		net_release(h, &r);
}

int cella_instance_restart(struct cella_host *h, const char *name, bool force, int timeout, struct cella_error *err)
{
	cleanup_instance_lock struct instance_lock lock = { -1 };
	if (instance_lock(h, name, &lock, err) < 0)
		return -1;
	cleanup_inst_row struct inst_row r = { 0 };
	if (inst_load(h, name, &r, err) < 0)
		return -1;
	if (!inst_running(h, name))
		return cella_instance_start(h, name, err);
	return inst_stop(h, name, force, timeout, true, err);
}

int cella_instance_freeze(struct cella_host *h, const char *name, struct cella_error *err)
{
	cleanup_inst_row struct inst_row r = { 0 };
	if (inst_load(h, name, &r, err) < 0)
		return -1;
	if (!inst_running(h, name))
		return cella_error_set(err, EALREADY, "instance `%s` is not running", name);
	return cella_container_pause(&h->rt, name, err);
}

int cella_instance_unfreeze(struct cella_host *h, const char *name, struct cella_error *err)
{
	cleanup_inst_row struct inst_row r = { 0 };
	if (inst_load(h, name, &r, err) < 0)
		return -1;
	if (strcmp(inst_status(h, name, NULL), "Frozen"))
		return cella_error_set(err, EALREADY, "instance `%s` is not frozen", name);
	return cella_container_resume(&h->rt, name, err);
}

/* ---- delete, rename ---- */

int cella_instance_delete(struct cella_host *h, const char *name, bool force, struct cella_error *err)
{
	cleanup_instance_lock struct instance_lock lock = { -1 };
	if (instance_lock(h, name, &lock, err) < 0)
		return -1;
	cleanup_inst_row struct inst_row r = { 0 };
	if (inst_load(h, name, &r, err) < 0)
		return -1;
	cleanup_free char *layer = layer_dir(h, name);
	cleanup_free char *snaps = xasprintf("%s/snapshots/%s", h->var_dir, name);
	cleanup_free char *rdir = run_dir(h, name);
	cleanup_free char *logs = xasprintf("%s/%s", h->log_dir, name);
	cleanup_free char *img = disk_image(h, name);
	if (inst_running(h, name)) {
		if (!force)
			return cella_error_set(err, EBUSY, "instance `%s` is running: stop it first, or force", name);
		if (!strcmp(inst_status(h, name, NULL), "Frozen")) {
			struct cella_error ignored;
			cella_container_resume(&h->rt, name, &ignored);
		}
		if (inst_stop(h, name, true, 0, false, err) < 0 && inst_running(h, name))
			return -1;
	}
	net_release(h, &r);
	instance_umount(h, name);
	layer_release(h, name);
	if (tree_remove(layer) < 0 || tree_remove(snaps) < 0 || (unlink(img) < 0 && errno != ENOENT))
		return cella_error_set(err, errno, "remove the storage of `%s`", name);
	tree_remove(rdir);
	tree_remove(logs);
	if (db_run1(host_db(h), "DELETE FROM instances WHERE id = ?", NULL, r.id, "delete instance", err) < 0)
		return -1;
	networks_dns_refresh(h);
	return 0;
}

int cella_instance_rename(struct cella_host *h, const char *name, const char *new_name, struct cella_error *err)
{
	cleanup_instance_lock struct instance_lock lock = { -1 };
	if (instance_lock(h, name, &lock, err) < 0)
		return -1;
	cleanup_inst_row struct inst_row r = { 0 };
	int ret = -1;
	if (inst_load(h, name, &r, err) < 0)
		return -1;
	if (name_check("instance", new_name, err) < 0)
		return -1;
	cleanup_free char *from = layer_dir(h, name), *to = layer_dir(h, new_name);
	cleanup_free char *sfrom = xasprintf("%s/snapshots/%s", h->var_dir, name);
	cleanup_free char *sto = xasprintf("%s/snapshots/%s", h->var_dir, new_name);
	cleanup_free char *rdir = run_dir(h, name);
	cleanup_free char *ifrom = disk_image(h, name), *ito = disk_image(h, new_name);
	cleanup_free char *marker = xasprintf("%s/instances/.rename-%s", h->var_dir, name);
	cleanup_stmt sqlite3_stmt *st = NULL;
	if (inst_running(h, name)) {
		cella_error_set(err, EBUSY, "instance `%s` is running: stop it before renaming", name);
		goto out;
	}
	instance_umount(h, name);
	layer_release(h, name);
	/* a crash between the renames and the commit: recovery makes the
	 * trees follow whichever name the row has (recover.c) */
	if (write_file_atomic(AT_FDCWD, marker, new_name, strlen(new_name), 0600, err) < 0)
		goto out;
	if (db_begin(host_db(h), err) < 0)
		goto out;
	st = db_prepare(host_db(h), "UPDATE instances SET name = ? WHERE id = ?", err);
	if (!st) {
		db_rollback(host_db(h));
		goto out;
	}
	sqlite3_bind_text(st, 1, new_name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r.id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		if (sqlite3_extended_errcode(host_db(h)) == SQLITE_CONSTRAINT_UNIQUE)
			cella_error_set(err, EEXIST, "instance `%s` already exists", new_name);
		else
			db_error(host_db(h), err, "rename");
		db_rollback(host_db(h));
		goto out;
	}
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0) {
		cella_error_set(err, errno, "rename `%s`", from);
		db_rollback(host_db(h));
		goto out;
	}
	if (access(ifrom, F_OK) == 0 && rename(ifrom, ito) < 0) {
		cella_error_set(err, errno, "rename `%s`", ifrom);
		rename(to, from);
		db_rollback(host_db(h));
		goto out;
	}
	if (access(sfrom, F_OK) == 0 && rename(sfrom, sto) < 0) {
		cella_error_set(err, errno, "rename `%s`", sfrom);
		rename(to, from);
		rename(ito, ifrom);
		db_rollback(host_db(h));
		goto out;
	}
	if (db_commit(host_db(h), err) < 0) {
		rename(to, from);
		rename(sto, sfrom);
		rename(ito, ifrom);
		goto out;
	}
	tree_remove(rdir);
	networks_dns_refresh(h);
	ret = 0;
out:
	unlink(marker);
	return ret;
}

/* ---- update ---- */

static bool nic_same(const json_t *a, const json_t *b)
{
	return json_equal((json_t *)a, (json_t *)b);
}

/* The same NIC but for its rate limits (changed in place, not by re-plugging)? */
static bool nic_same_but_limits(const json_t *a, const json_t *b)
{
	json_t *x = json_deep_copy(a), *y = json_deep_copy(b);
	for (int i = 0; i < 2; i++) {
		const char *k = i ? "egress" : "ingress";
		json_object_del(x, k);
		json_object_del(y, k);
	}
	bool same = json_equal(x, y);
	json_decref(x);
	json_decref(y);
	return same;
}

static const json_t *nic_find(const json_t *nics, const char *device)
{
	size_t i;
	json_t *n;
	json_array_foreach(nics, i, n)
		if (!strcmp(json_string_value(json_object_get(n, "device")), device))
			return n;
	return NULL;
}

/* The NICs the running guest's monitor has (params.json); [] when unknown. */
static json_t *params_nics(struct cella_host *h, const char *name)
{
	cleanup_free char *rdir = run_dir(h, name);
	cleanup_free char *path = xasprintf("%s/params.json", rdir);
	struct cella_error ignored;
	cleanup_free char *text = read_file_at(AT_FDCWD, path, NULL, &ignored);
	json_error_t jerr;
	json_t *p = text ? json_loads(text, 0, &jerr) : NULL;
	json_t *n = json_is_array(json_object_get(p, "nics")) ? json_incref(json_object_get(p, "nics")) : json_array();
	json_decref(p);
	return n;
}

/*
 * A running guest's NICs brought to `nics`: removed or changed ones
 * unplugged, new or changed ones plugged in, and params.json rewritten so
 * that its next boot has the same.
 */
static int nics_hot_apply(struct cella_host *h, const struct inst_row *r, const json_t *nics, struct cella_error *err)
{
	cleanup_free char *rdir = run_dir(h, r->name);
	cleanup_close int rfd = open(rdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct cella_error ignored;
	cleanup_free char *ptext = rfd >= 0 ? read_file_at(rfd, "params.json", NULL, &ignored) : NULL;
	json_error_t jerr;
	json_t *params = ptext ? json_loads(ptext, 0, &jerr) : NULL;
	if (!params)
		return cella_error_set(err, ENOENT, "instance `%s`: its monitor's parameters are missing", r->name);
	const json_t *old = json_object_get(params, "nics");
	if (nic_same(old, nics)) {
		json_decref(params);
		return 0;
	}
	pid_t pid = instance_init_pid(h, r->name);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	cleanup_close int netns = pid > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (netns < 0) {
		json_decref(params);
		return cella_error_set(err, errno ? errno : ESRCH, "instance `%s`: its network namespace", r->name);
	}
	size_t i;
	json_t *n;
	int ret = 0;
	json_array_foreach(old, i, n) {
		const char *dev = json_string_value(json_object_get(n, "device"));
		const json_t *now = nic_find(nics, dev);
		if (now && nic_same(now, n))
			continue;
		if (now && nic_same_but_limits(now, n)) {
			if (ret == 0)
				ret = nic_limits_update(now, err);
			continue;
		}
		nic_detach(n, true);
		nic_filter_drop(h, n);
	}
	json_t *added = json_array();
	json_array_foreach(nics, i, n) {
		const json_t *was = nic_find(old, json_string_value(json_object_get(n, "device")));
		if (was && (nic_same(was, n) || nic_same_but_limits(was, n)))
			continue;
		json_array_append(added, n);
	}
	if (ret == 0)
		ret = nics_filter_set(h, added, err);
	json_array_foreach(added, i, n) {
		if (ret == 0)
			ret = nic_attach(n, netns, err);
	}
	json_decref(added);
	if (ret == 0) {
		json_object_set(params, "nics", (json_t *)nics);
		cleanup_free char *text = json_dumps(params, JSON_COMPACT);
		ret = write_file_atomic(rfd, "params.json", text, strlen(text), 0600, err);
	}
	json_decref(params);
	return ret;
}

int cella_instance_update(struct cella_host *h, const char *name, const json_t *req, bool patch,
			  struct cella_error *err)
{
	static const char *const fields[] = { "config", "devices", "profiles", "description", "ephemeral", "restore",
					      "name", "type", "status", "status_code", "architecture", "created_at",
					      "last_used_at", "expanded_config", "expanded_devices", "stateful",
					      "location" };
	if (body_check(req, fields, ARRAY_SIZE(fields), "instance", err) < 0)
		return -1;
	cleanup_instance_lock struct instance_lock lock = { -1 };
	if (instance_lock(h, name, &lock, err) < 0)
		return -1;
	const char *restore = json_string_value(json_object_get(req, "restore"));
	if (restore)
		return cella_snapshot_restore(h, name, restore, err);
	cleanup_inst_row struct inst_row r = { 0 };
	int ret = -1;
	json_t *newconf = NULL, *expanded = NULL, *devices = NULL, *nics = NULL, *old_devices = NULL;
	if (inst_load(h, name, &r, err) < 0)
		return -1;
	if (inst_expand(h, &r, NULL, &old_devices, err) < 0)
		return -1;
	json_t *v;
	if ((v = json_object_get(req, "config"))) {
		if (!json_is_object(v)) {
			cella_error_set(err, EINVAL, "config: not an object");
			goto out;
		}
		/* users never set volatile keys; they are kept as they are */
		newconf = patch ? json_deep_copy(r.config) : json_object();
		const char *k;
		json_t *cv;
		json_object_foreach(r.config, k, cv)
			if (!strncmp(k, "volatile.", 9) || !strncmp(k, "image.", 6))
				json_object_set(newconf, k, cv);
		json_object_foreach(v, k, cv) {
			if (!strncmp(k, "volatile.", 9)) {
				if (json_equal(cv, json_object_get(r.config, k)))
					continue;
				cella_error_set(err, EINVAL, "config key `%s`: kept by cella, not settable", k);
				goto out;
			}
			if (json_is_null(cv) || (json_is_string(cv) && !*json_string_value(cv)))
				json_object_del(newconf, k);
			else
				json_object_set(newconf, k, cv);
		}
		if (cella_config_validate(newconf, false, err) < 0)
			goto out;
	}
	if (newconf) {
		/* a disk of its own can grow, never shrink */
		const char *d = json_string_value(json_object_get(newconf, "limits.disk"));
		long long bytes;
		struct stat st;
		cleanup_free char *img = disk_image(h, name);
		if (d && config_parse_size(d, &bytes) == 0 && bytes < (1LL << 60) && stat(img, &st) == 0 &&
		    ((bytes + 4095) & ~4095LL) < st.st_size) {
			cella_error_set(err, EINVAL, "config key `limits.disk`: %s is smaller than the disk (%lld bytes): disks only grow",
					d, (long long)st.st_size);
			goto out;
		}
	}
	if ((v = json_object_get(req, "devices")) && devices_validate(v, err) < 0)
		goto out;
	if ((v = json_object_get(req, "profiles")) && profiles_check(h, v, err) < 0)
		goto out;
	if ((v = json_object_get(req, "description")) && !json_is_string(v)) {
		cella_error_set(err, EINVAL, "description: not a string");
		goto out;
	}
	/* everything checked: change it */
	if (newconf) {
		json_decref(r.config);
		r.config = steal_pointer(&newconf);
	}
	if ((v = json_object_get(req, "devices"))) {
		json_t *d = patch ? json_deep_copy(r.devices) : json_object();
		json_object_update(d, v);
		json_decref(r.devices);
		r.devices = d;
	}
	if ((v = json_object_get(req, "profiles"))) {
		json_decref(r.profiles);
		r.profiles = json_deep_copy(v);
	}
	if ((v = json_object_get(req, "description"))) {
		free(r.description);
		r.description = xstrdup(json_string_value(v));
	}
	if ((v = json_object_get(req, "ephemeral")))
		r.ephemeral = json_is_true(v);
	if (inst_expand(h, &r, &expanded, &devices, err) < 0)
		goto out;
	/* addresses checked and handed out in the transaction that saves the
	 * row; a running guest's NICs and proxies change under the network lock,
	 * which comes first (the order every network change takes them in) */
	if (inst_running(h, name) && !networks_disabled() && network_lock_hold(h, err) < 0)
		goto out;
	if (db_begin(host_db(h), err) < 0)
		goto out;
	if (!(nics = nics_sync(h, r.id, name, devices, true, err)) || row_save(h, &r, err) < 0)
		goto rollback;
	/* live keys reach a running guest now */
	if (inst_running(h, name)) {
		cleanup_free char *layer = layer_dir(h, name);
		json_t *res = vps_resources(expanded, layer);
		cleanup_free char *text = json_dumps(res, JSON_COMPACT);
		json_decref(res);
		if (cella_container_update(&h->rt, name, text, err) < 0) {
			cella_error_wrap(err, "apply the limits of `%s`", name);
			goto rollback;
		}
		json_t *was = params_nics(h, name);
		struct cella_error ignored;
		if (!networks_disabled() && nics_hot_apply(h, &r, nics, err) < 0) {
			nics_hot_apply(h, &r, was, &ignored);
			json_decref(was);
			goto rollback;
		}
		if (!json_equal(old_devices, devices)) {
			proxies_release(h, r.id);
			if (proxies_set(h, r.id, devices, nics, err) < 0) {
				/* back as it was: the NICs too */
				proxies_set(h, r.id, old_devices, was, &ignored);
				if (!networks_disabled())
					nics_hot_apply(h, &r, was, &ignored);
				json_decref(was);
				goto rollback;
			}
		}
		json_decref(was);
	}
	if (db_commit(host_db(h), err) < 0)
		goto rollback;
	nics_volatile(h, &r, nics);
	networks_dns_refresh(h);
	ret = 0;
	goto out;
rollback:
	db_rollback(host_db(h));
out:
	network_lock_drop();
	json_decref(newconf);
	json_decref(expanded);
	json_decref(devices);
	json_decref(old_devices);
	json_decref(nics);
	return ret;
}

/* ---- autostart ---- */

struct autostart { char name[64]; long long priority, delay; };

static int autostart_cmp(const void *a, const void *b)
{
	const struct autostart *x = a, *y = b;
	return x->priority < y->priority ? 1 : x->priority > y->priority ? -1 : strcmp(x->name, y->name);
}

int cella_instances_autostart(struct cella_host *h, struct cella_error *err)
{
	json_t *all = cella_instance_list(h, err);
	if (!all)
		return -1;
	size_t n = json_array_size(all), k = 0, i;
	struct autostart *todo = xmalloc0((n + 1) * sizeof(*todo));
	json_t *o;
	json_array_foreach(all, i, o) {
		const char *name = json_string_value(json_object_get(o, "name"));
		json_t *c = json_object_get(o, "expanded_config");
		if (strcmp(json_string_value(json_object_get(o, "status")), "Stopped"))
			continue;
		const char *auto_v = json_string_value(json_object_get(c, "boot.autostart"));
		const char *last = json_string_value(json_object_get(c, "volatile.last_state.power"));
		bool start = auto_v ? config_get_bool(c, "boot.autostart") : false;
		if (!auto_v && last && !strcmp(last, "RUNNING")) {
			/* it was running when we went away: unless it stopped by itself */
			json_t *mon = monitor_state_file(h, name);
			const char *reason = json_string_value(json_object_get(mon, "reason"));
			const char *policy = config_get(c, "boot.restart");
			long long code = json_integer_value(json_object_get(mon, "exit_code"));
			start = !reason || !strcmp(policy, "always") || (!strcmp(policy, "on-failure") && code != 0);
			json_decref(mon);
		}
		if (!start)
			continue;
		snprintf(todo[k].name, sizeof(todo[k].name), "%s", name);
		todo[k].priority = config_get_int(c, "boot.autostart.priority", 0);
		todo[k].delay = config_get_int(c, "boot.autostart.delay", 0);
		k++;
	}
	json_decref(all);
	qsort(todo, k, sizeof(*todo), autostart_cmp);
	int ret = 0;
	for (i = 0; i < k; i++) {
		struct cella_error e = { 0 };
		if (cella_instance_start(h, todo[i].name, &e) < 0) {
			*err = e;
			ret = -1;
		} else if (todo[i].delay > 0 && i + 1 < k) {
			sleep((unsigned)todo[i].delay);
		}
	}
	free(todo);
	return ret;
}

/* ---- exec, console ---- */

/* cella-runtime exec [--tty] --user U:G --cwd D --env K=V... NAME ARGS..., on the caller's fds. */
static int exec_spawn(struct cella_host *h, const char *name, const json_t *config, const struct cella_instance_exec *x,
		      int *status, struct cella_error *err)
{
	cleanup_free char *runtime = find_helper(h, "cella-runtime");
	if (!runtime)
		return cella_error_set(err, ENOENT, "cella-runtime not found");
	/* run from a sealed view made once: it need not re-exec itself */
	cleanup_close int exe_fd = sealed_helper(h, &h->runtime_exe, runtime);
	size_t max = 16 + 2 * (x->n_env + json_object_size(config)) + x->argc;
	cleanup_free char **argv = xmalloc0((max + 1) * sizeof(char *));
	cleanup_strv char **own = xmalloc0((max + 1) * sizeof(char *));
	size_t a = 0, o = 0;
	argv[a++] = "cella-runtime";
	argv[a++] = "--root";
	argv[a++] = (char *)h->rt.root;
	argv[a++] = "exec";
	if (x->tty)
		argv[a++] = "--tty";
	argv[a++] = "--user";
	argv[a++] = own[o++] = xasprintf("%u:%u", (unsigned)x->uid, (unsigned)x->gid);
	argv[a++] = "--cwd";
	argv[a++] = own[o++] = xstrdup(x->cwd && *x->cwd ? x->cwd : x->uid == 0 ? "/root" : "/");
	argv[a++] = "--env";
	argv[a++] = x->uid == 0 ? "HOME=/root" : "HOME=/";
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)config, k, v) {
		if (strncmp(k, "environment.", 12) || !json_is_string(v))
			continue;
		argv[a++] = "--env";
		argv[a++] = own[o++] = xasprintf("%s=%s", k + 12, json_string_value(v));
	}
	for (size_t i = 0; i < x->n_env; i++) {
		argv[a++] = "--env";
		argv[a++] = x->env[i];
	}
	argv[a++] = (char *)name;
	for (size_t i = 0; i < x->argc; i++)
		argv[a++] = x->argv[i];
	argv[a] = NULL;

	const int fds[] = { x->stdin_fd, x->stdout_fd, x->stderr_fd, exe_fd };
	pid_t pid;
	int e = spawn_clean(&pid, exe_fd >= 0 ? "/proc/self/fd/3" : runtime, argv, fds, exe_fd >= 0 ? 4 : 3, true);
	if (e)
		return cella_error_set(err, e, "run %s", runtime);
	/* signals from the caller reach the process (cella-runtime exec forwards them) */
	cleanup_close int pidfd = x->has_control ? pidfd_open(pid, 0) : -1;
	bool control = pidfd >= 0;
	while (control) {
		struct pollfd p[2] = { { .fd = pidfd, .events = POLLIN }, { .fd = x->control_fd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (p[1].revents) {
			unsigned char sig;
			ssize_t n = read(x->control_fd, &sig, 1);
			if (n <= 0)
				control = false;
			else if (sig > 0 && sig < 65)
				kill(pid, sig);
		}
	}
	int ws;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	return 0;
}

int cella_instance_exec(struct cella_host *h, const char *name, const struct cella_instance_exec *x, int *status,
			struct cella_error *err)
{
	cleanup_inst_row struct inst_row r = { 0 };
	if (inst_load(h, name, &r, err) < 0)
		return -1;
	json_t *config = NULL;
	int ret = -1;
	if (inst_expand(h, &r, &config, NULL, err) < 0)
		goto out;
	if (strcmp(inst_status(h, name, NULL), "Running"))
		cella_error_set(err, EALREADY, "instance `%s` is not running", name);
	else if (!x->argc)
		cella_error_set(err, EINVAL, "exec: no command");
	else
		ret = exec_spawn(h, name, config, x, status, err);
out:
	json_decref(config);
	return ret;
}

int cella_instance_console_open(struct cella_host *h, const char *name, struct cella_error *err)
{
	cleanup_inst_row struct inst_row r = { 0 };
	if (inst_load(h, name, &r, err) < 0)
		return -1;
	int fd = monitor_connect(h, name);
	if (fd < 0)
		return cella_error_set(err, EALREADY, "instance `%s` is not running", name);
	if (write_all(fd, "{\"cmd\":\"console\"}\n", 18) < 0) {
		close(fd);
		return cella_error_set(err, errno, "attach the console of `%s`", name);
	}
	return fd;
}

int cella_instance_watch(struct cella_host *h, const char *name, struct cella_error *err)
{
	if (cella_instance_exists(h, name, err) < 0)
		return -1;
	int fd = monitor_connect(h, name);
	if (fd < 0)
		return cella_error_set(err, EALREADY, "instance `%s` is not running", name);
	if (write_all(fd, "{\"cmd\":\"watch\"}\n", 16) < 0) {
		close(fd);
		return cella_error_set(err, errno, "watch `%s`", name);
	}
	return fd;
}

char *cella_instance_console_log(struct cella_host *h, const char *name, size_t *len, struct cella_error *err)
{
	cleanup_inst_row struct inst_row r = { 0 };
	*len = 0;
	if (inst_load(h, name, &r, err) < 0)
		return NULL;
	cleanup_free char *path = xasprintf("%s/%s/console.log", h->log_dir, name);
	if (access(path, F_OK) < 0)
		return xstrdup("");
	return read_file_at(AT_FDCWD, path, len, err);
}

/* ---- metrics ---- */

char *cella_metrics_text(struct cella_host *h, struct cella_error *err)
{
	json_t *all = cella_instance_list(h, err);
	if (!all)
		return NULL;
	static const struct { const char *name, *type, *help; } m[] = {
		{ "cella_instance_running", "gauge", "1 when the instance runs" },
		{ "cella_cpu_seconds_total", "counter", "CPU time used" },
		{ "cella_memory_usage_bytes", "gauge", "memory in use" },
		{ "cella_memory_limit_bytes", "gauge", "memory limit (absent: none)" },
		{ "cella_processes", "gauge", "processes" },
		{ "cella_disk_read_bytes_total", "counter", "bytes read from block devices" },
		{ "cella_disk_written_bytes_total", "counter", "bytes written to block devices" },
	};
	size_t cap = 4096, len = 0;
	char *out = xmalloc0(cap);
#define EMIT(...)                                                                  \
	do {                                                                       \
		int need = snprintf(NULL, 0, __VA_ARGS__);                         \
		if (len + (size_t)need + 1 > cap) {                                \
			cap = (len + (size_t)need + 1) * 2;                        \
			char *nb = realloc(out, cap);                              \
			if (!nb)                                                   \
				abort();                                           \
			out = nb;                                                  \
		}                                                                  \
		len += (size_t)snprintf(out + len, cap - len, __VA_ARGS__);        \
	} while (0)
	/* each instance's usage read once */
	size_t n = json_array_size(all);
	struct usage *u = xmalloc0((n + 1) * sizeof(*u));
	bool *running = xmalloc0((n + 1) * sizeof(*running));
	size_t i;
	json_t *o;
	json_array_foreach(all, i, o) {
		const char *name = json_string_value(json_object_get(o, "name"));
		running[i] = strcmp(json_string_value(json_object_get(o, "status")), "Stopped") != 0;
		pid_t pid = running[i] ? instance_init_pid(h, name) : 0;
		cleanup_free char *cg = instance_cgroup(h, name);
		if (pid > 0)
			usage_read(pid, cg, &u[i]);
	}
	for (size_t k = 0; k < ARRAY_SIZE(m); k++) {
		EMIT("# HELP %s %s\n# TYPE %s %s\n", m[k].name, m[k].help, m[k].name, m[k].type);
		json_array_foreach(all, i, o) {
			const char *name = json_string_value(json_object_get(o, "name"));
			const char *type = json_string_value(json_object_get(o, "type"));
			double v;
			switch (k) {
			case 0: v = running[i]; break;
			case 1: v = (double)u[i].cpu_ns / 1e9; break;
			case 2: v = (double)(u[i].memory_usage > 0 ? u[i].memory_usage : 0); break;
			case 3:
				if (u[i].memory_limit <= 0)
					continue;
				v = (double)u[i].memory_limit;
				break;
			case 4: v = (double)(u[i].processes > 0 ? u[i].processes : 0); break;
			case 5: v = (double)u[i].io_read; break;
			default: v = (double)u[i].io_write; break;
			}
			EMIT("%s{name=\"%s\",type=\"%s\"} %.9g\n", m[k].name, name, type, v);
		}
	}
	/* traffic of each NIC, kept across restarts (lib/nic.c) */
	static const struct { const char *name, *counter, *help; } nm[] = {
		{ "cella_network_receive_bytes_total", "bytes_received", "bytes received by the NIC's guest" },
		{ "cella_network_transmit_bytes_total", "bytes_sent", "bytes sent by the NIC's guest and let through" },
		{ "cella_network_receive_packets_total", "packets_received", "packets received by the NIC's guest" },
		{ "cella_network_transmit_packets_total", "packets_sent", "packets sent by the NIC's guest and let through" },
		{ "cella_network_transmit_dropped_packets_total", "packets_dropped_sent",
		  "packets sent by the NIC's guest and dropped (spoofed)" },
	};
	json_t **nets = xmalloc0((n + 1) * sizeof(*nets));
	json_array_foreach(all, i, o) {
		cleanup_inst_row struct inst_row r = { 0 };
		struct cella_error ignored;
		if (inst_load(h, json_string_value(json_object_get(o, "name")), &r, &ignored) == 0)
			nets[i] = nics_state(h, r.id);
	}
	for (size_t k = 0; k < ARRAY_SIZE(nm); k++) {
		EMIT("# HELP %s %s\n# TYPE %s counter\n", nm[k].name, nm[k].help, nm[k].name);
		json_array_foreach(all, i, o) {
			const char *dev;
			json_t *nic;
			json_object_foreach(nets[i], dev, nic)
				EMIT("%s{name=\"%s\",device=\"%s\"} %lld\n", nm[k].name,
				     json_string_value(json_object_get(o, "name")), dev,
				     (long long)json_integer_value(json_object_get(json_object_get(nic, "counters"), nm[k].counter)));
		}
	}
	json_array_foreach(all, i, o)
		json_decref(nets[i]);
	free(nets);
	free(u);
	free(running);
#undef EMIT
	json_decref(all);
	return out;
}
