/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * config set|get|unset|show|edit and config device add|remove|list|show on
 * an instance; the read-modify-write helpers profiles share.  Changes are
 * a GET, an edit of the writable fields, and a PUT of them.
 */
#include <string.h>

#include "cella.h"
#include "util.h"

const struct opt config_opts[] = {
	{ "expanded", 'e', OPT_BOOL, ARG(expanded), NULL, "with what profiles add (show, get)" },
	OPT_END
};

/* The fields a PUT takes: instances and profiles share config, devices, description. */
json_t *object_writable(const json_t *obj, bool profile)
{
	json_t *w = json_object(), *v;

	v = json_object_get(obj, "config");
	json_object_set_new(w, "config", json_is_object(v) ? json_deep_copy(v) : json_object());
	v = json_object_get(obj, "devices");
	json_object_set_new(w, "devices", json_is_object(v) ? json_deep_copy(v) : json_object());
	v = json_object_get(obj, "description");
	json_object_set_new(w, "description", json_string(json_string_value(v) ?: ""));
	if (!profile) {
		v = json_object_get(obj, "profiles");
		json_object_set_new(w, "profiles", json_is_array(v) ? json_deep_copy(v) : json_array());
	}
	return w;
}

int object_modify(struct client *c, const char *path, bool profile,
		  int (*fn)(json_t *w, struct args *a, struct cella_error *err), struct args *a,
		  struct cella_error *err)
{
	json_t *obj = api_get(c, path, err), *w;

	if (!obj)
		return -1;
	w = object_writable(obj, profile);
	json_decref(obj);
	if (fn(w, a, err) < 0) {
		json_decref(w);
		return -1;
	}
	return api_run(c, "PUT", path, w, err);
}

int object_edit(struct client *c, const char *path, bool profile, struct cella_error *err)
{
	json_t *obj, *w, *nw;
	cleanup_free char *text = NULL;
	cleanup_free char *edited = NULL;

	if (!isatty(STDIN_FILENO)) {
		edited = read_fd_text(STDIN_FILENO, NULL, err);
	} else {
		obj = api_get(c, path, err);
		if (!obj)
			return -1;
		w = object_writable(obj, profile);
		json_decref(obj);
		text = json_dumps(w, JSON_INDENT(4) | JSON_SORT_KEYS);
		json_decref(w);
		if (!text)
			return cella_error_set(err, ENOMEM, "edit");
		edited = editor_run(text, ".json", err);
	}
	if (!edited)
		return -1;
	nw = text_to_json(edited, err);
	if (!nw)
		return -1;
	return api_run(c, "PUT", path, nw, err);
}

/* Positional key=value pairs (or one "key value") into w.config; a[0] is the object's name. */
int config_set_pairs(json_t *w, struct args *a, struct cella_error *err)
{
	json_t *cfg = json_object_get(w, "config");

	if (a->npos == 3 && !strchr(a->pos[1], '=')) {
		json_object_set_new(cfg, a->pos[1], json_string(a->pos[2]));
		return 0;
	}
	for (int i = 1; i < a->npos; i++) {
		cleanup_free char *k = NULL;
		cleanup_free char *v = NULL;

		if (kv_split(a->pos[i], &k, &v, err) < 0)
			return -1;
		json_object_set_new(cfg, k, json_string(v));
	}
	return 0;
}

int config_unset_keys(json_t *w, struct args *a, struct cella_error *err)
{
	json_t *cfg = json_object_get(w, "config");

	for (int i = 1; i < a->npos; i++)
		if (json_object_del(cfg, a->pos[i]) < 0)
			return cella_error_set(err, 0, "`%s` is not set", a->pos[i]);
	return 0;
}

/* A config value as text: strings as they are, anything else as JSON. */
void config_value_print(const json_t *v)
{
	if (!v) {
		putchar('\n');
	} else if (json_is_string(v)) {
		printf("%s\n", json_string_value(v));
	} else {
		char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		printf("%s\n", d ? d : "");
		free(d);
	}
}

static int config_set(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("instances", a->pos[0], NULL);
	return object_modify(c, path, false, config_set_pairs, a, err);
}

static int config_unset(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("instances", a->pos[0], NULL);
	return object_modify(c, path, false, config_unset_keys, a, err);
}

static int config_get(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("instances", a->pos[0], NULL);
	json_t *obj = api_get(c, path, err);

	if (!obj)
		return -1;
	config_value_print(json_object_get(json_object_get(obj, a->expanded ? "expanded_config" : "config"),
					   a->pos[1]));
	json_decref(obj);
	return 0;
}

static int config_show(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("instances", a->pos[0], NULL);
	json_t *obj = api_get(c, path, err), *w;
	static const char *const keep[] = { "architecture", "ephemeral", "stateful", "type", "name" };

	if (!obj)
		return -1;
	w = object_writable(obj, false);
	for (size_t i = 0; i < ARRAY_SIZE(keep); i++)
		if (json_object_get(obj, keep[i]))
			json_object_set(w, keep[i], json_object_get(obj, keep[i]));
	if (a->expanded) {
		json_t *v = json_object_get(obj, "expanded_config");
		if (v)
			json_object_set(w, "config", v);
		v = json_object_get(obj, "expanded_devices");
		if (v)
			json_object_set(w, "devices", v);
	}
	yaml_print(stdout, w);
	json_decref(w);
	json_decref(obj);
	return 0;
}

static int config_edit(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("instances", a->pos[0], NULL);
	return object_edit(c, path, false, err);
}

/* ---- devices ---- */

/* a: NAME DEV TYPE k=v... */
static int device_add_fn(json_t *w, struct args *a, struct cella_error *err)
{
	json_t *devs = json_object_get(w, "devices");
	json_t *d;

	if (json_object_get(devs, a->pos[1]))
		return cella_error_set(err, 0, "device `%s` already exists", a->pos[1]);
	d = json_pack("{s:s}", "type", a->pos[2]);
	for (int i = 3; i < a->npos; i++) {
		cleanup_free char *k = NULL;
		cleanup_free char *v = NULL;

		if (kv_split(a->pos[i], &k, &v, err) < 0) {
			json_decref(d);
			return -1;
		}
		json_object_set_new(d, k, json_string(v));
	}
	json_object_set_new(devs, a->pos[1], d);
	return 0;
}

static int device_remove_fn(json_t *w, struct args *a, struct cella_error *err)
{
	json_t *devs = json_object_get(w, "devices");

	for (int i = 1; i < a->npos; i++)
		if (json_object_del(devs, a->pos[i]) < 0)
			return cella_error_set(err, 0, "no device `%s`", a->pos[i]);
	return 0;
}

static int device_add(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("instances", a->pos[0], NULL);
	return object_modify(c, path, false, device_add_fn, a, err);
}

static int device_remove(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("instances", a->pos[0], NULL);
	return object_modify(c, path, false, device_remove_fn, a, err);
}

/*
 * device set NAME DEV KEY=VALUE... / device unset NAME DEV KEY...: a device
 * the instance has from a profile becomes its own first (an override).
 */
static int device_change(struct client *c, struct args *a, bool set, struct cella_error *err)
{
	cleanup_free char *path = api_path("instances", a->pos[0], NULL);
	json_t *obj = api_get(c, path, err), *w, *devs, *d;

	if (!obj)
		return -1;
	w = object_writable(obj, false);
	devs = json_object_get(w, "devices");
	d = json_object_get(devs, a->pos[1]);
	if (!d) {
		json_t *inherited = json_object_get(json_object_get(obj, "expanded_devices"), a->pos[1]);
		if (!json_is_object(inherited)) {
			json_decref(obj);
			json_decref(w);
			return cella_error_set(err, 0, "no device `%s`", a->pos[1]);
		}
		d = json_deep_copy(inherited);
		json_object_set_new(devs, a->pos[1], d);
	}
	json_decref(obj);
	for (int i = 2; i < a->npos; i++) {
		cleanup_free char *k = NULL;
		cleanup_free char *v = NULL;

		if (!set) {
			if (json_object_del(d, a->pos[i]) < 0) {
				json_decref(w);
				return cella_error_set(err, 0, "device `%s` has no `%s`", a->pos[1], a->pos[i]);
			}
			continue;
		}
		if (kv_split(a->pos[i], &k, &v, err) < 0) {
			json_decref(w);
			return -1;
		}
		if (!strcmp(k, "type")) {
			json_decref(w);
			return cella_error_set(err, 0, "a device's type cannot change (remove and add it)");
		}
		json_object_set_new(d, k, json_string(v));
	}
	return api_run(c, "PUT", path, w, err);
}

static int device_set(struct client *c, struct args *a, struct cella_error *err)
{
	return device_change(c, a, true, err);
}

static int device_unset(struct client *c, struct args *a, struct cella_error *err)
{
	return device_change(c, a, false, err);
}

static int device_list(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("instances", a->pos[0], NULL);
	json_t *obj = api_get(c, path, err), *d;
	const char *key;

	if (!obj)
		return -1;
	json_object_foreach(json_object_get(obj, "devices"), key, d)
		printf("%s\n", key);
	json_decref(obj);
	return 0;
}

static int device_show(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("instances", a->pos[0], NULL);
	json_t *obj = api_get(c, path, err);

	if (!obj)
		return -1;
	yaml_print(stdout, json_object_get(obj, "devices") ?: json_object());
	json_decref(obj);
	return 0;
}

static const struct subcommand device_subs[] = {
	{ "add", device_add, 3, -1, "NAME DEVICE TYPE [KEY=VALUE...]", "add a device" },
	{ "remove", device_remove, 2, -1, "NAME DEVICE...", "remove devices" },
	{ "set", device_set, 3, -1, "NAME DEVICE KEY=VALUE...", "set keys of a device (a profile's becomes the instance's own)" },
	{ "unset", device_unset, 3, -1, "NAME DEVICE KEY...", "remove keys of a device" },
	{ "list", device_list, 1, 1, "NAME", "list the instance's own devices" },
	{ "show", device_show, 1, 1, "NAME", "show the instance's own devices" },
};

static int config_device(struct client *c, struct args *a, struct cella_error *err)
{
	if (a->npos == 0)
		return cella_error_set(err, 0, "missing argument; usage: cella config device add|remove|set|unset|list|show");
	return subcommand_run("config device", device_subs, ARRAY_SIZE(device_subs), c, a, err);
}

static const struct subcommand subs[] = {
	{ "set", config_set, 2, -1, "NAME KEY=VALUE...", "set config keys" },
	{ "get", config_get, 2, 2, "NAME KEY", "print a config key" },
	{ "unset", config_unset, 2, -1, "NAME KEY...", "remove config keys" },
	{ "show", config_show, 1, 1, "NAME", "show the configuration (--expanded: with profiles)" },
	{ "edit", config_edit, 1, 1, "NAME", "edit the configuration as JSON in $EDITOR (or from stdin)" },
	{ "device", config_device, 1, -1, "add|remove|list|show ...", "the instance's devices" },
};

int cmd_config(struct client *c, struct args *a, struct cella_error *err)
{
	return subcommand_run("config", subs, ARRAY_SIZE(subs), c, a, err);
}
