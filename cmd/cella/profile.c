/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * profile list|show|create|delete|edit|set|unset|get, and add|remove to
 * apply a profile to an instance or take it off.
 */
#include <string.h>

#include "cella.h"
#include "util.h"

const struct opt profile_opts[] = {
	{ "format", 'f', OPT_STRING, ARG(format), "FORMAT", "list: table, compact, csv, json or yaml" },
	{ "description", 0, OPT_STRING, ARG(description), "TEXT", "create: a description" },
	OPT_END
};

static void profile_row(json_t *p, char **cells)
{
	const char *n = json_is_string(p) ? json_string_value(p) : json_string_value(json_object_get(p, "name"));
	const char *slash = n ? strrchr(n, '/') : NULL;

	cells[0] = xstrdup(slash ? slash + 1 : n ? n : "");
	cells[1] = xstrdup(json_string_value(json_object_get(p, "description")) ?: "");
	cells[2] = xasprintf("%zu", json_array_size(json_object_get(p, "used_by")));
}

static int profile_list(struct client *c, struct args *a, struct cella_error *err)
{
	static const char *headers[] = { "NAME", "DESCRIPTION", "USED BY" };
	return list_show(c, a->format, "/1.0/profiles?recursion=1", headers, ARRAY_SIZE(headers), NULL,
			 profile_row, err);
}

static int profile_show(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("profiles", a->pos[0], NULL);
	json_t *p = api_get(c, path, err);

	if (!p)
		return -1;
	yaml_print(stdout, p);
	json_decref(p);
	return 0;
}

static int profile_create(struct client *c, struct args *a, struct cella_error *err)
{
	json_t *req = json_pack("{s:s, s:{}, s:{}}", "name", a->pos[0], "config", "devices");

	if (a->description)
		json_object_set_new(req, "description", json_string(a->description));
	if (api_run(c, "POST", "/1.0/profiles", req, err) < 0)
		return -1;
	progress(c, "Profile %s created", a->pos[0]);
	return 0;
}

static int profile_delete(struct client *c, struct args *a, struct cella_error *err)
{
	return api_delete_each(c, "profiles", a->pos, a->npos, err);
}

static int profile_edit(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("profiles", a->pos[0], NULL);
	return object_edit(c, path, true, err);
}

static int profile_set(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("profiles", a->pos[0], NULL);
	return object_modify(c, path, true, config_set_pairs, a, err);
}

static int profile_unset(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("profiles", a->pos[0], NULL);
	return object_modify(c, path, true, config_unset_keys, a, err);
}

static int profile_get(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("profiles", a->pos[0], NULL);
	json_t *p = api_get(c, path, err);

	if (!p)
		return -1;
	config_value_print(json_object_get(json_object_get(p, "config"), a->pos[1]));
	json_decref(p);
	return 0;
}

/* a: INSTANCE PROFILE */
static int profiles_add_fn(json_t *w, struct args *a, struct cella_error *err)
{
	json_t *l = json_object_get(w, "profiles"), *v;
	size_t i;

	json_array_foreach(l, i, v)
		if (json_string_value(v) && !strcmp(json_string_value(v), a->pos[1]))
			return cella_error_set(err, 0, "profile `%s` is already applied to `%s`", a->pos[1],
					       a->pos[0]);
	json_array_append_new(l, json_string(a->pos[1]));
	return 0;
}

static int profiles_remove_fn(json_t *w, struct args *a, struct cella_error *err)
{
	json_t *l = json_object_get(w, "profiles"), *v;
	size_t i;

	json_array_foreach(l, i, v)
		if (json_string_value(v) && !strcmp(json_string_value(v), a->pos[1])) {
			json_array_remove(l, i);
			return 0;
		}
	return cella_error_set(err, 0, "profile `%s` is not applied to `%s`", a->pos[1], a->pos[0]);
}

static int profile_add(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("instances", a->pos[0], NULL);
	return object_modify(c, path, false, profiles_add_fn, a, err);
}

static int profile_remove(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("instances", a->pos[0], NULL);
	return object_modify(c, path, false, profiles_remove_fn, a, err);
}

static const struct subcommand subs[] = {
	{ "list", profile_list, 0, 0, "[-f FORMAT]", "list profiles" },
	{ "show", profile_show, 1, 1, "PROFILE", "show a profile" },
	{ "create", profile_create, 1, 1, "PROFILE", "create an empty profile" },
	{ "delete", profile_delete, 1, -1, "PROFILE...", "delete profiles" },
	{ "edit", profile_edit, 1, 1, "PROFILE", "edit a profile as JSON in $EDITOR (or from stdin)" },
	{ "set", profile_set, 2, -1, "PROFILE KEY=VALUE...", "set config keys" },
	{ "unset", profile_unset, 2, -1, "PROFILE KEY...", "remove config keys" },
	{ "get", profile_get, 2, 2, "PROFILE KEY", "print a config key" },
	{ "add", profile_add, 2, 2, "INSTANCE PROFILE", "apply a profile to an instance" },
	{ "remove", profile_remove, 2, 2, "INSTANCE PROFILE", "take a profile off an instance" },
};

int cmd_profile(struct client *c, struct args *a, struct cella_error *err)
{
	return subcommand_run("profile", subs, ARRAY_SIZE(subs), c, a, err);
}
