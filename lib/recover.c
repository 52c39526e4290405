/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a killed cellad may leave half done, finished or undone when the
 * next one starts.  Every multi-step change is ordered so that the
 * database row is the truth:
 *   - create: the row commits last, after the layer exists: a layer
 *     without a row is a create that never finished: removed;
 *   - delete: storage first, the row last: a row without a layer is a
 *     delete that never finished: finished;
 *   - snapshot create: the copy first, its row commits last; snapshot
 *     delete: the copy first, the row last: same two rules;
 *   - restore: the old layer is renamed upper.old before the new one is
 *     renamed into place: put back whichever is missing;
 *   - copy: a temporary .copy-NAME tree: removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "instance.h"
#include "storage.h"
#include "util.h"

static bool row_exists(struct cella_host *h, const char *sql, const char *a, const char *b)
{
	struct cella_error err;
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), sql, &err);
	if (!st)
		return true; /* when in doubt, keep */
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	return sqlite3_step(st) == SQLITE_ROW;
}

/* Renames cut short: every tree goes to the name its row has. */
static void renames_sweep(struct cella_host *h, json_t *report)
{
	cleanup_free char *dir = xasprintf("%s/instances", h->var_dir);
	cleanup_dir DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, ".rename-", 8))
			continue;
		const char *old_name = de->d_name + 8;
		cleanup_free char *marker = xasprintf("%s/%s", dir, de->d_name);
		struct cella_error ignored;
		cleanup_free char *new_name = read_file_at(AT_FDCWD, marker, NULL, &ignored);
		if (new_name && instance_name_valid(new_name) && instance_name_valid(old_name)) {
			bool is_new = row_exists(h, "SELECT 1 FROM instances WHERE name = ?", new_name, NULL);
			const char *from = is_new ? old_name : new_name, *to = is_new ? new_name : old_name;
			static const char *const where[][2] = { { "instances", "" }, { "snapshots", "" }, { "disks", ".img" } };
			for (size_t i = 0; i < ARRAY_SIZE(where); i++) {
				cleanup_free char *a = xasprintf("%s/%s/%s%s", h->var_dir, where[i][0], from, where[i][1]);
				cleanup_free char *b = xasprintf("%s/%s/%s%s", h->var_dir, where[i][0], to, where[i][1]);
				if (access(a, F_OK) == 0 && access(b, F_OK) < 0 && rename(a, b) == 0)
					json_array_append_new(report, json_sprintf("finished a rename: %s -> %s", a, b));
			}
		}
		unlink(marker);
	}
}

static void layers_sweep(struct cella_host *h, json_t *report)
{
	cleanup_free char *dir = xasprintf("%s/instances", h->var_dir);
	cleanup_dir DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' && (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")))
			continue;
		cleanup_free char *path = xasprintf("%s/%s", dir, de->d_name);
		/* a disk being filled (.disk-NAME) or the layer it replaces (.old-NAME) */
		if (!strncmp(de->d_name, ".new-", 5) || !strncmp(de->d_name, ".restore-", 9)) {
			tree_remove(path);
			continue;
		}
		if (!strncmp(de->d_name, ".disk-", 6)) {
			umount2(path, MNT_DETACH);
			rmdir(path);
			continue;
		}
		if (!strncmp(de->d_name, ".old-", 5)) {
			/* a move onto a disk of its own: complete once NAME.img exists */
			cleanup_free char *orig = xasprintf("%s/%s", dir, de->d_name + 5);
			cleanup_free char *img = xasprintf("%s/disks/%s.img", h->var_dir, de->d_name + 5);
			if (access(img, F_OK) == 0) {
				tree_remove(path);
				continue;
			}
			rmdir(orig); /* the empty mount point, if it was made */
			if (access(orig, F_OK) < 0 && rename(path, orig) == 0)
				json_array_append_new(report, json_sprintf("put back the layer of `%s`", de->d_name + 5));
			continue;
		}
		if (!strncmp(de->d_name, ".copy-", 6) ||
		    !row_exists(h, "SELECT 1 FROM instances WHERE name = ?", de->d_name, NULL)) {
			if (tree_remove(path) == 0)
				json_array_append_new(report, json_sprintf("removed the layer of an unfinished create: %s", path));
			continue;
		}
		/* an interrupted restore */
		cleanup_free char *upper = xasprintf("%s/upper", path);
		cleanup_free char *old = xasprintf("%s/upper.old", path);
		cleanup_free char *fresh = xasprintf("%s/upper.restore", path);
		if (access(upper, F_OK) < 0 && access(old, F_OK) == 0 && rename(old, upper) == 0)
			json_array_append_new(report, json_sprintf("put back the layer of an unfinished restore: %s", upper));
		if (access(fresh, F_OK) == 0)
			tree_remove(fresh);
		if (access(old, F_OK) == 0 && access(upper, F_OK) == 0)
			tree_remove(old);
	}
}

/* Disks of instances that do not exist (an unfinished create or delete). */
static void disks_sweep(struct cella_host *h, json_t *report)
{
	cleanup_free char *dir = xasprintf("%s/disks", h->var_dir);
	cleanup_dir DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n <= 4 || strcmp(de->d_name + n - 4, ".img"))
			continue;
		if (!strncmp(de->d_name, ".new-", 5)) {
			cleanup_free char *p = xasprintf("%s/%s", dir, de->d_name);
			if (unlink(p) == 0)
				json_array_append_new(report, json_sprintf("removed an unfinished disk: %s", p));
			continue;
		}
		cleanup_free char *name = xasprintf("%.*s", (int)(n - 4), de->d_name);
		if (row_exists(h, "SELECT 1 FROM instances WHERE name = ?", name, NULL))
			continue;
		cleanup_free char *p = xasprintf("%s/%s", dir, de->d_name);
		if (unlink(p) == 0)
			json_array_append_new(report, json_sprintf("removed the disk of a missing instance: %s", p));
	}
}

static void snapshots_sweep(struct cella_host *h, json_t *report)
{
	cleanup_free char *dir = xasprintf("%s/snapshots", h->var_dir);
	cleanup_dir DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		cleanup_free char *idir = xasprintf("%s/%s", dir, de->d_name);
		cleanup_dir DIR *sd = opendir(idir);
		struct dirent *se;
		while (sd && (se = readdir(sd))) {
			if (!strcmp(se->d_name, ".") || !strcmp(se->d_name, ".."))
				continue;
			if (!row_exists(h,
					"SELECT 1 FROM snapshots s JOIN instances i ON s.instance_id = i.id "
					"WHERE i.name = ? AND s.name = ?",
					de->d_name, se->d_name)) {
				cleanup_free char *p = xasprintf("%s/%s", idir, se->d_name);
				if (tree_remove(p) == 0)
					json_array_append_new(report, json_sprintf("removed an unfinished snapshot: %s", p));
			}
		}
		rmdir(idir); /* only if now empty */
	}
}

/* Rows whose storage is gone: deletes that did not finish. */
static void rows_sweep(struct cella_host *h, json_t *report)
{
	struct cella_error err;
	json_t *gone = json_array();
	{
		cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT name FROM instances", &err);
		while (st && sqlite3_step(st) == SQLITE_ROW) {
			const char *name = (const char *)sqlite3_column_text(st, 0);
			cleanup_free char *layer = xasprintf("%s/instances/%s", h->var_dir, name);
			if (access(layer, F_OK) < 0 && errno == ENOENT)
				json_array_append_new(gone, json_string(name));
		}
	}
	size_t i;
	json_t *v;
	json_array_foreach(gone, i, v) {
		const char *name = json_string_value(v);
		if (db_run1(host_db(h), "DELETE FROM instances WHERE name = ?", name, 0, "recovery", &err) == 0) {
			instance_umount(h, name);
			cleanup_free char *rdir = xasprintf("%s/instances/%s", h->run_dir, name);
			tree_remove(rdir);
			json_array_append_new(report, json_sprintf("finished the delete of `%s`", name));
		}
	}
	json_decref(gone);
	/* snapshot rows whose copy is gone */
	cleanup_stmt sqlite3_stmt *st = db_prepare(
		host_db(h), "SELECT s.id, i.name, s.name FROM snapshots s JOIN instances i ON s.instance_id = i.id", &err);
	json_t *dead = json_array();
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		cleanup_free char *p = xasprintf("%s/snapshots/%s/%s", h->var_dir, sqlite3_column_text(st, 1),
						 sqlite3_column_text(st, 2));
		if (access(p, F_OK) < 0 && errno == ENOENT)
			json_array_append_new(dead, json_integer(sqlite3_column_int64(st, 0)));
	}
	json_array_foreach(dead, i, v) {
		if (db_run1(host_db(h), "DELETE FROM snapshots WHERE id = ?", NULL, json_integer_value(v), "recovery",
			    &err) == 0)
			json_array_append_new(report, json_sprintf("finished the delete of snapshot #%lld",
								   (long long)json_integer_value(v)));
	}
	json_decref(dead);
}

/* Guests left frozen by a copy that never finished. */
static void freezes_sweep(struct cella_host *h, json_t *report)
{
	cleanup_free char *dir = xasprintf("%s/instances", h->run_dir);
	cleanup_dir DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		cleanup_free char *marker = xasprintf("%s/%s/frozen-for-copy", dir, de->d_name);
		if (access(marker, F_OK) < 0)
			continue;
		struct cella_error ignored;
		if (cella_container_resume(&h->rt, de->d_name, &ignored) == 0)
			json_array_append_new(report, json_sprintf("thawed `%s`, frozen by an unfinished copy", de->d_name));
		unlink(marker);
	}
}

/* Guests that stopped while cellad was away: their NICs' counters and rules. */
static void nics_sweep(struct cella_host *h)
{
	struct cella_error ignored;
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT name FROM instances", &ignored);
	while (st && sqlite3_step(st) == SQLITE_ROW)
		cella_instance_stopped(h, (const char *)sqlite3_column_text(st, 0));
}

json_t *cella_host_recover(struct cella_host *h, struct cella_error *err)
{
	(void)err;
	json_t *report = json_array();
	renames_sweep(h, report);
	freezes_sweep(h, report);
	layers_sweep(h, report);
	snapshots_sweep(h, report);
	disks_sweep(h, report);
	rows_sweep(h, report);
	nics_sweep(h);
	return report;
}
