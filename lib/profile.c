/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Profiles: named sets of config keys and devices applied to instances in order. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config_keys.h"
#include "instance.h"
#include "util.h"

static json_t *used_by(struct cella_host *h, const char *profile)
{
	json_t *a = json_array();
	struct cella_error err;
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT name, profiles FROM instances ORDER BY name", &err);
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		json_error_t jerr;
		json_t *p = json_loads((const char *)sqlite3_column_text(st, 1), 0, &jerr);
		size_t i;
		json_t *v;
		json_array_foreach(p, i, v) {
			if (json_is_string(v) && !strcmp(json_string_value(v), profile)) {
				json_array_append_new(a, json_sprintf("/1.0/instances/%s", sqlite3_column_text(st, 0)));
				break;
			}
		}
		json_decref(p);
	}
	return a;
}

static json_t *profile_row(struct cella_host *h, sqlite3_stmt *st)
{
	json_error_t jerr;
	json_t *c = json_loads((const char *)sqlite3_column_text(st, 2), 0, &jerr);
	json_t *d = json_loads((const char *)sqlite3_column_text(st, 3), 0, &jerr);
	const char *name = (const char *)sqlite3_column_text(st, 0);
	return json_pack("{s:s, s:s, s:o, s:o, s:o}", "name", name, "description", sqlite3_column_text(st, 1), "config",
			 c ? c : json_object(), "devices", d ? d : json_object(), "used_by", used_by(h, name));
}

static int profile_name_check(const char *name, struct cella_error *err)
{
	if (!name || !instance_name_valid(name))
		return cella_error_set(err, EINVAL, "invalid profile name `%s`", name ? name : "");
	return 0;
}

json_t *cella_profile_list(struct cella_host *h, struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st =
		db_prepare(host_db(h), "SELECT name, description, config, devices FROM profiles ORDER BY name", err);
	if (!st)
		return NULL;
	json_t *a = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(a, profile_row(h, st));
	return a;
}

json_t *cella_profile_get(struct cella_host *h, const char *name, struct cella_error *err)
{
	if (profile_name_check(name, err) < 0)
		return NULL;
	cleanup_stmt sqlite3_stmt *st =
		db_prepare(host_db(h), "SELECT name, description, config, devices FROM profiles WHERE name = ?", err);
	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		cella_error_set(err, ENOENT, "profile `%s` not found", name);
		return NULL;
	}
	return profile_row(h, st);
}

static int profile_fields_check(const json_t *req, struct cella_error *err)
{
	static const char *const fields[] = { "name", "description", "config", "devices", "used_by" };
	const char *k;
	json_t *v;
	if (!json_is_object(req))
		return cella_error_set(err, EINVAL, "profile: the body must be a JSON object");
	json_object_foreach((json_t *)req, k, v) {
		size_t i;
		for (i = 0; i < ARRAY_SIZE(fields) && strcmp(k, fields[i]); i++)
			;
		if (i == ARRAY_SIZE(fields))
			return cella_error_set(err, EINVAL, "profile: unknown field `%s`", k);
	}
	json_t *c = json_object_get(req, "config");
	json_t *d = json_object_get(req, "devices");
	json_t *desc = json_object_get(req, "description");
	if (c && cella_config_validate(c, true, err) < 0)
		return -1;
	if (d && devices_validate(d, err) < 0)
		return -1;
	if (desc && !json_is_string(desc))
		return cella_error_set(err, EINVAL, "description: not a string");
	return 0;
}

static int profile_write(struct cella_host *h, const char *sql, const char *name, const char *desc, const json_t *config,
			 const json_t *devices, struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), sql, err);
	if (!st)
		return -1;
	cleanup_free char *c = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
	cleanup_free char *d = json_dumps(devices, JSON_COMPACT | JSON_SORT_KEYS);
	sqlite3_bind_text(st, 1, desc, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, d, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		if (sqlite3_extended_errcode(host_db(h)) == SQLITE_CONSTRAINT_UNIQUE)
			return cella_error_set(err, EEXIST, "profile `%s` already exists", name);
		return db_error(host_db(h), err, "profile");
	}
	return 0;
}

int cella_profile_create(struct cella_host *h, const json_t *req, struct cella_error *err)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	if (profile_fields_check(req, err) < 0 || profile_name_check(name, err) < 0)
		return -1;
	json_t *c = json_object_get(req, "config"), *d = json_object_get(req, "devices");
	json_t *empty = json_object();
	int r = profile_write(h, "INSERT INTO profiles (description, config, devices, name) VALUES (?, ?, ?, ?)", name,
			      json_string_value(json_object_get(req, "description")) ?: "", c ? c : empty,
			      d ? d : empty, err);
	json_decref(empty);
	return r;
}

int cella_profile_update(struct cella_host *h, const char *name, const json_t *req, bool patch, struct cella_error *err)
{
	json_t *cur = cella_profile_get(h, name, err);
	if (!cur)
		return -1;
	int r = -1;
	if (profile_fields_check(req, err) < 0)
		goto out;
	const char *newname = json_string_value(json_object_get(req, "name"));
	if (newname && strcmp(newname, name)) {
		cella_error_set(err, EINVAL, "profile `%s`: renaming is not supported", name);
		goto out;
	}
	json_t *c = json_object_get(req, "config"), *d = json_object_get(req, "devices");
	json_t *nc = patch ? json_deep_copy(json_object_get(cur, "config")) : json_object();
	json_t *nd = patch ? json_deep_copy(json_object_get(cur, "devices")) : json_object();
	if (c)
		json_object_update(nc, c);
	if (d)
		json_object_update(nd, d);
	const char *desc = json_string_value(json_object_get(req, "description"));
	if (!desc)
		desc = patch ? json_string_value(json_object_get(cur, "description")) : "";
	r = profile_write(h, "UPDATE profiles SET description = ?, config = ?, devices = ? WHERE name = ?", name, desc, nc,
			  nd, err);
	json_decref(nc);
	json_decref(nd);
out:
	json_decref(cur);
	return r;
}

int cella_profile_delete(struct cella_host *h, const char *name, struct cella_error *err)
{
	json_t *cur = cella_profile_get(h, name, err);
	if (!cur)
		return -1;
	size_t users = json_array_size(json_object_get(cur, "used_by"));
	json_decref(cur);
	if (!strcmp(name, "default"))
		return cella_error_set(err, EBUSY, "profile `default` cannot be deleted");
	if (users)
		return cella_error_set(err, EBUSY, "profile `%s` is used by %zu instance(s)", name, users);
	return db_run1(host_db(h), "DELETE FROM profiles WHERE name = ?", name, 0, "delete profile", err);
}
