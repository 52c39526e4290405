/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Snapshots and copies of instances.  A snapshot is a copy of the
 * instance's layer (VAR/snapshots/NAME/SNAP/upper); the image below it is
 * shared and read-only, so layer plus image is the whole tree.  A running
 * instance is frozen while its layer is copied, so the copy is consistent.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_keys.h"
#include "instance.h"
#include "storage.h"
#include "util.h"

static char *snap_dir(struct cella_host *h, const char *name, const char *snap)
{
	return xasprintf("%s/snapshots/%s/%s", h->var_dir, name, snap);
}

static int snap_name_check(const char *snap, struct cella_error *err)
{
	if (!snap || !instance_name_valid(snap))
		return cella_error_set(err, EINVAL,
				       "invalid snapshot name `%s`: 1-63 letters, digits and hyphens, starting with a letter",
				       snap ? snap : "");
	return 0;
}

/*
 * Freeze a running guest for a copy of its layer; thaw it after.  A marker
 * says the freeze is ours: a cellad killed meanwhile thaws it at restart.
 */
struct copy_freeze {
	char *marker;
	bool thaw;
};

static void copy_freeze_begin(struct cella_host *h, const char *name, struct copy_freeze *f)
{
	struct cella_error ignored;
	f->marker = xasprintf("%s/instances/%s/frozen-for-copy", h->run_dir, name);
	f->thaw = false;
	if (strcmp(instance_status(h, name), "Running"))
		return;
	int fd = open(f->marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	f->thaw = cella_container_pause(&h->rt, name, &ignored) == 0;
}

static void copy_freeze_end(struct cella_host *h, const char *name, struct copy_freeze *f)
{
	struct cella_error ignored;
	if (f->thaw)
		cella_container_resume(&h->rt, name, &ignored);
	unlink(f->marker);
	free(f->marker);
}

/* Copy the layer of a possibly running instance, frozen meanwhile. */
static int layer_copy_frozen(struct cella_host *h, const char *name, const char *dst, struct cella_error *err)
{
	cleanup_free char *upper = xasprintf("%s/instances/%s/upper", h->var_dir, name);
	if (instance_layer_ready(h, name, err) < 0)
		return -1;
	struct copy_freeze f;
	copy_freeze_begin(h, name, &f);
	int r = tree_copy(upper, dst, err);
	copy_freeze_end(h, name, &f);
	return r;
}

/*
 * The instance's layer into `dir`: a read-only btrfs snapshot of the whole
 * layer subvolume where it is one, else a copy of its upper dir into
 * `upper` (dir/upper) -- the guest frozen meanwhile either way.
 */
static int layer_snapshot(struct cella_host *h, const char *name, const char *dir, const char *upper,
			  struct cella_error *err)
{
	cleanup_free char *layer = xasprintf("%s/instances/%s", h->var_dir, name);
	cleanup_free char *parent = xasprintf("%s/snapshots/%s", h->var_dir, name);
	if (mkdir_p(parent, 0700, err) < 0)
		return -1;
	if (!storage_is_subvolume(layer) || !storage_is_btrfs(parent))
		return mkdir_p(dir, 0700, err) < 0 ? -1 : layer_copy_frozen(h, name, upper, err);
	struct copy_freeze f;
	copy_freeze_begin(h, name, &f);
	int r = subvol_snapshot(layer, dir, true, err);
	copy_freeze_end(h, name, &f);
	return r;
}

json_t *cella_snapshot_list(struct cella_host *h, const char *name, struct cella_error *err)
{
	cleanup_inst_row struct inst_row r = { 0 };
	if (inst_load(h, name, &r, err) < 0)
		return NULL;
	cleanup_stmt sqlite3_stmt *st =
		db_prepare(host_db(h), "SELECT name, created_at FROM snapshots WHERE instance_id = ? ORDER BY id", err);
	json_t *a = NULL;
	if (st) {
		sqlite3_bind_int64(st, 1, r.id);
		a = json_array();
		while (sqlite3_step(st) == SQLITE_ROW)
			json_array_append_new(a, json_pack("{s:s, s:s, s:b}", "name", sqlite3_column_text(st, 0),
							   "created_at", sqlite3_column_text(st, 1), "stateful", 0));
	}
	return a;
}

static long long snap_id(struct cella_host *h, long long inst, const char *name, const char *snap,
			 struct cella_error *err);

int cella_snapshot_create(struct cella_host *h, const char *name, const char *snap, struct cella_error *err)
{
	cleanup_instance_lock struct instance_lock lock = { -1 };
	if (instance_lock(h, name, &lock, err) < 0)
		return -1;
	cleanup_inst_row struct inst_row r = { 0 };
	if (inst_load(h, name, &r, err) < 0)
		return -1;
	cleanup_free char *dir = snap_dir(h, name, snap ? snap : "");
	cleanup_free char *upper = xasprintf("%s/upper", dir);
	cleanup_stmt sqlite3_stmt *st = NULL;
	char now[40];
	if (snap_name_check(snap, err) < 0)
		return -1;
	/* the copy first, with no database lock held; its row commits last (recover.c) */
	if (snap_id(h, r.id, name, snap, err) >= 0)
		return cella_error_set(err, EEXIST, "snapshot `%s/%s` already exists", name, snap);
	if (access(dir, F_OK) == 0)
		return cella_error_set(err, EEXIST, "snapshot `%s/%s` is being made", name, snap);
	if (layer_snapshot(h, name, dir, upper, err) < 0) {
		tree_remove(dir);
		return -1;
	}
	st = db_prepare(host_db(h), "INSERT INTO snapshots (instance_id, name, created_at) VALUES (?, ?, ?)", err);
	if (!st) {
		tree_remove(dir);
		return -1;
	}
	sqlite3_bind_int64(st, 1, r.id);
	sqlite3_bind_text(st, 2, snap, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, time_now_rfc3339(now, sizeof(now)), -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		if (sqlite3_extended_errcode(host_db(h)) == SQLITE_CONSTRAINT_UNIQUE)
			cella_error_set(err, EEXIST, "snapshot `%s/%s` already exists", name, snap);
		else
			db_error(host_db(h), err, "create snapshot");
		tree_remove(dir);
		return -1;
	}
	return 0;
}

static long long snap_id(struct cella_host *h, long long inst, const char *name, const char *snap,
			 struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT id FROM snapshots WHERE instance_id = ? AND name = ?", err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, inst);
	sqlite3_bind_text(st, 2, snap, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		return cella_error_set(err, ENOENT, "snapshot `%s/%s` not found", name, snap);
	return sqlite3_column_int64(st, 0);
}

int cella_snapshot_delete(struct cella_host *h, const char *name, const char *snap, struct cella_error *err)
{
	cleanup_instance_lock struct instance_lock lock = { -1 };
	if (instance_lock(h, name, &lock, err) < 0)
		return -1;
	cleanup_inst_row struct inst_row r = { 0 };
	if (inst_load(h, name, &r, err) < 0)
		return -1;
	long long id;
	cleanup_free char *dir = snap_dir(h, name, snap ? snap : "");
	if (snap_name_check(snap, err) < 0 || (id = snap_id(h, r.id, name, snap, err)) < 0)
		return -1;
	if (tree_remove(dir) < 0)
		return cella_error_set(err, errno, "remove snapshot `%s/%s`", name, snap);
	if (db_run1(host_db(h), "DELETE FROM snapshots WHERE id = ?", NULL, id, "delete snapshot", err) < 0)
		return -1;
	return 0;
}

/* Put the snapshot's layer in place of the instance's (stopped). */
int cella_snapshot_restore(struct cella_host *h, const char *name, const char *snap, struct cella_error *err)
{
	cleanup_instance_lock struct instance_lock lock = { -1 };
	if (instance_lock(h, name, &lock, err) < 0)
		return -1;
	cleanup_inst_row struct inst_row r = { 0 };
	if (inst_load(h, name, &r, err) < 0)
		return -1;
	cleanup_free char *sdir = snap_dir(h, name, snap ? snap : "");
	cleanup_free char *src = xasprintf("%s/upper", sdir);
	cleanup_free char *layer = xasprintf("%s/instances/%s", h->var_dir, name);
	cleanup_free char *upper = xasprintf("%s/upper", layer);
	cleanup_free char *fresh = xasprintf("%s/upper.restore", layer);
	cleanup_free char *old = xasprintf("%s/upper.old", layer);
	cleanup_free char *work = xasprintf("%s/work", layer);
	if (snap_name_check(snap, err) < 0 || snap_id(h, r.id, name, snap, err) < 0)
		return -1;
	if (strcmp(instance_status(h, name), "Stopped"))
		return cella_error_set(err, EBUSY, "instance `%s` is running: stop it before restoring", name);
	instance_umount(h, name);
	if (instance_layer_ready(h, name, err) < 0)
		return -1;
	if (storage_is_subvolume(sdir) && storage_is_subvolume(layer)) {
		/* btrfs: a writable snapshot of the snapshot takes the layer's place */
		cleanup_free char *next = xasprintf("%s/instances/.restore-%s", h->var_dir, name);
		cleanup_free char *prev = xasprintf("%s/instances/.old-%s", h->var_dir, name);
		tree_remove(next);
		if (subvol_snapshot(sdir, next, false, err) < 0)
			return -1;
		if (rename(layer, prev) < 0 || rename(next, layer) < 0) {
			cella_error_set(err, errno, "restore `%s/%s`", name, snap);
			rename(prev, layer);
			tree_remove(next);
			return -1;
		}
		tree_remove(prev);
		tree_remove(work);
		mkdir(work, 0700);
		return 0;
	}
	tree_remove(fresh);
	/* the copy first: a failure leaves the instance as it was */
	if (tree_copy(src, fresh, err) < 0)
		return -1;
	if (rename(upper, old) < 0 || rename(fresh, upper) < 0) {
		cella_error_set(err, errno, "restore `%s/%s`", name, snap);
		rename(old, upper);
		tree_remove(fresh);
		return -1;
	}
	tree_remove(old);
	tree_remove(work);
	if (mkdir(work, 0700) < 0 && errno != EEXIST)
		return cella_error_set(err, errno, "create `%s`", work);
	return 0;
}

int cella_instance_copy(struct cella_host *h, const char *source, const char *target, struct cella_error *err)
{
	if (!source)
		return cella_error_set(err, EINVAL, "copy: no source");
	cleanup_free char *src = xstrdup(source);
	char *snap = strchr(src, '/');
	if (snap)
		*snap++ = '\0';
	/* the source holds still while it is copied */
	cleanup_instance_lock struct instance_lock lock = { -1 };
	if (instance_lock(h, src, &lock, err) < 0)
		return -1;
	cleanup_inst_row struct inst_row r = { 0 }, n = { 0 };
	int ret = -1;
	if (inst_load(h, src, &r, err) < 0)
		return -1;
	cleanup_free char *tmp = xasprintf("%s/instances/.copy-%s", h->var_dir, target ? target : "");
	cleanup_free char *srclayer = xasprintf("%s/instances/%s", h->var_dir, src);
	cleanup_free char *from = NULL;
	if (!target || !instance_name_valid(target)) {
		cella_error_set(err, EINVAL, "invalid instance name `%s`", target ? target : "");
		goto out;
	}
	if (snap) {
		if (snap_name_check(snap, err) < 0 || snap_id(h, r.id, src, snap, err) < 0)
			goto out;
		from = xasprintf("%s/snapshots/%s/%s/upper", h->var_dir, src, snap);
	} else if (storage_is_subvolume(srclayer)) {
		/* btrfs: snapshotted whole, atomically (instance_create_from) */
		from = xasprintf("%s/upper", srclayer);
	} else {
		/* a consistent copy of a running source: frozen while copied */
		tree_remove(tmp);
		if (layer_copy_frozen(h, src, tmp, err) < 0)
			goto out;
		from = xstrdup(tmp);
	}
	snprintf(n.name, sizeof(n.name), "%s", target);
	snprintf(n.type, sizeof(n.type), "%s", r.type);
	n.description = xstrdup(r.description ? r.description : "");
	n.config = json_deep_copy(r.config);
	const char *k;
	json_t *v;
	void *t;
	json_object_foreach_safe(n.config, t, k, v)
		if (!strncmp(k, "volatile.", 9))
			json_object_del(n.config, k);
	n.devices = json_deep_copy(r.devices);
	n.profiles = json_deep_copy(r.profiles);
	n.image = r.image ? xstrdup(r.image) : NULL;
	ret = instance_create_from(h, &n, from, err);
	if (!snap)
		tree_remove(tmp);
out:
	return ret;
}
