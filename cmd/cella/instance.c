/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Instances: launch, create, the state actions, delete, list, info, rename
 * and copy.
 */
#include <ctype.h>
#include <string.h>
#include <time.h>

#include "cella.h"
#include "util.h"

const struct opt launch_opts[] = {
	{ "config", 'c', OPT_LIST, ARG(config), "KEY=VALUE", "a config key (repeatable)" },
	{ "profile", 'p', OPT_LIST, ARG(profiles), "PROFILE", "a profile to apply (repeatable)" },
	{ "no-profiles", 0, OPT_BOOL, ARG(no_profiles), NULL, "apply no profile at all" },
	{ "type", 0, OPT_STRING, ARG(type), "TYPE", "instance type (default: vps)" },
	{ "ephemeral", 'e', OPT_BOOL, ARG(ephemeral), NULL, "delete the instance when it stops" },
	{ "description", 0, OPT_STRING, ARG(description), "TEXT", "a description" },
	OPT_END
};

const struct opt stop_opts[] = {
	{ "force", 'f', OPT_BOOL, ARG(force), NULL, "kill rather than ask the guest to shut down" },
	{ "timeout", 0, OPT_INT, ARG(timeout), "SECONDS", "how long to wait for a clean shutdown" },
	OPT_END
};

const struct opt delete_opts[] = {
	{ "force", 'f', OPT_BOOL, ARG(force), NULL, "stop a running instance first" },
	OPT_END
};

const struct opt list_opts[] = {
	{ "format", 'f', OPT_STRING, ARG(format), "FORMAT", "table, compact, csv, json or yaml" },
	{ "columns", 'c', OPT_STRING, ARG(columns), "COLUMNS",
	  "n name, s state, t type, d description, c created, l last used, p pid, P profiles, "
	  "S snapshots, m memory, e ephemeral, 4 IPv4, 6 IPv6 (default: ns46td)" },
	OPT_END
};

/* A hex string of 12+ characters is taken as an image fingerprint, else an alias. */
static bool looks_like_fingerprint(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!isxdigit((unsigned char)s[n]) || isupper((unsigned char)s[n]))
			return false;
	return n >= 12;
}

static int instance_create(struct client *c, struct args *a, struct cella_error *err)
{
	const char *image = a->pos[0], *name = a->pos[1];
	json_t *req = json_object(), *cfg = json_object(), *src = json_object();

	json_object_set_new(req, "name", json_string(name));
	json_object_set_new(req, "type", json_string(a->type ? a->type : "vps"));
	if (!strcmp(image, "none")) {
		json_object_set_new(src, "type", json_string("none"));
	} else {
		json_object_set_new(src, "type", json_string("image"));
		json_object_set_new(src, looks_like_fingerprint(image) ? "fingerprint" : "alias",
				    json_string(image));
	}
	json_object_set_new(req, "source", src);
	for (size_t i = 0; i < a->config.n; i++) {
		cleanup_free char *k = NULL;
		cleanup_free char *v = NULL;

		if (kv_split(a->config.v[i], &k, &v, err) < 0) {
			json_decref(cfg);
			json_decref(req);
			return -1;
		}
		json_object_set_new(cfg, k, json_string(v));
	}
	json_object_set_new(req, "config", cfg);
	json_object_set_new(req, "devices", json_object());
	if (a->profiles.n || a->no_profiles) {
		json_t *p = json_array();
		for (size_t i = 0; i < a->profiles.n; i++)
			json_array_append_new(p, json_string(a->profiles.v[i]));
		json_object_set_new(req, "profiles", p);
	}
	if (a->ephemeral)
		json_object_set_new(req, "ephemeral", json_true());
	if (a->description)
		json_object_set_new(req, "description", json_string(a->description));
	progress(c, "Creating %s", name);
	return api_run(c, "POST", "/1.0/instances", req, err);
}

/* PUT .../state {"action": ...} for one instance. */
static int instance_action(struct client *c, const char *name, const char *action, struct args *a,
			   struct cella_error *err)
{
	cleanup_free char *path = api_path("instances", name, "/state");
	json_t *req = json_pack("{s:s}", "action", action);

	if (a->force)
		json_object_set_new(req, "force", json_true());
	if (a->timeout >= 0)
		json_object_set_new(req, "timeout", json_integer(a->timeout));
	return api_run(c, "PUT", path, req, err);
}

int cmd_create(struct client *c, struct args *a, struct cella_error *err)
{
	return instance_create(c, a, err);
}

int cmd_launch(struct client *c, struct args *a, struct cella_error *err)
{
	if (instance_create(c, a, err) < 0)
		return -1;
	progress(c, "Starting %s", a->pos[1]);
	return instance_action(c, a->pos[1], "start", a, err);
}

static int actions(struct client *c, struct args *a, const char *action, const char *verb,
		   struct cella_error *err)
{
	for (int i = 0; i < a->npos; i++) {
		progress(c, "%s %s", verb, a->pos[i]);
		if (instance_action(c, a->pos[i], action, a, err) < 0) {
			if (a->npos > 1)
				cella_error_wrap(err, "%s `%s`", action, a->pos[i]);
			return -1;
		}
	}
	return 0;
}

int cmd_start(struct client *c, struct args *a, struct cella_error *err)
{
	return actions(c, a, "start", "Starting", err);
}

int cmd_stop(struct client *c, struct args *a, struct cella_error *err)
{
	return actions(c, a, "stop", "Stopping", err);
}

int cmd_restart(struct client *c, struct args *a, struct cella_error *err)
{
	return actions(c, a, "restart", "Restarting", err);
}

int cmd_freeze(struct client *c, struct args *a, struct cella_error *err)
{
	return actions(c, a, "freeze", "Freezing", err);
}

int cmd_unfreeze(struct client *c, struct args *a, struct cella_error *err)
{
	return actions(c, a, "unfreeze", "Unfreezing", err);
}

int cmd_delete(struct client *c, struct args *a, struct cella_error *err)
{
	for (int i = 0; i < a->npos; i++) {
		cleanup_free char *path = api_path("instances", a->pos[i], a->force ? "?force=1" : NULL);
		json_t *r;

		progress(c, "Deleting %s", a->pos[i]);
		r = api_do(c, "DELETE", path, NULL, err);
		if (!r) {
			if (a->npos > 1)
				cella_error_wrap(err, "delete `%s`", a->pos[i]);
			return -1;
		}
		json_decref(r);
	}
	return 0;
}

int cmd_rename(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("instances", a->pos[0], NULL);
	json_t *req = json_pack("{s:s}", "name", a->pos[1]);
	json_t *r = api_do(c, "POST", path, req, err);

	json_decref(req);
	if (!r)
		return -1;
	json_decref(r);
	return 0;
}

int cmd_copy(struct client *c, struct args *a, struct cella_error *err)
{
	json_t *req = json_pack("{s:s, s:{s:s, s:s}}", "name", a->pos[1], "source", "type", "copy",
				"source", a->pos[0]);

	progress(c, "Copying %s to %s", a->pos[0], a->pos[1]);
	return api_run(c, "POST", "/1.0/instances", req, err);
}

/* ---- list ---- */

struct column {
	char letter;
	const char *header;
	bool needs_state;
};

static const struct column columns[] = {
	{ 'n', "NAME", false },        { 's', "STATE", false },    { 't', "TYPE", false },
	{ 'd', "DESCRIPTION", false }, { 'c', "CREATED AT", false }, { 'l', "LAST USED AT", false },
	{ 'p', "PID", true },          { 'P', "PROFILES", false }, { 'S', "SNAPSHOTS", false },
	{ 'm', "MEMORY USAGE", true }, { 'e', "EPHEMERAL", false }, { '4', "IPV4", true },
	{ '6', "IPV6", true },
};

static const struct column *column_find(char l)
{
	for (size_t i = 0; i < ARRAY_SIZE(columns); i++)
		if (columns[i].letter == l)
			return &columns[i];
	return NULL;
}

static char *str_or_empty(const json_t *v)
{
	const char *s = json_string_value(v);
	return xstrdup(s ? s : "");
}

static char *upper(const char *s)
{
	char *u = xstrdup(s ? s : "");
	for (char *p = u; *p; p++)
		*p = toupper((unsigned char)*p);
	return u;
}

static char *cell(struct client *c, json_t *inst, json_t **state, char l)
{
	const char *name = json_string_value(json_object_get(inst, "name"));

	/* a stopped instance has no live state worth a request */
	if (column_find(l)->needs_state && !*state &&
	    strcmp(json_string_value(json_object_get(inst, "status")) ?: "", "Stopped")) {
		struct cella_error e = { 0 };
		cleanup_free char *path = api_path("instances", name ? name : "", "/state");

		*state = api_get(c, path, &e);
		if (!*state)
			*state = json_object();
	}
	switch (l) {
	case 'n':
		return str_or_empty(json_object_get(inst, "name"));
	case 's':
		return upper(json_string_value(json_object_get(inst, "status")));
	case 't':
		return upper(json_string_value(json_object_get(inst, "type")));
	case 'd':
		return str_or_empty(json_object_get(inst, "description"));
	case 'c':
		return str_or_empty(json_object_get(inst, "created_at"));
	case 'l':
		return str_or_empty(json_object_get(inst, "last_used_at"));
	case 'e':
		return xstrdup(json_is_true(json_object_get(inst, "ephemeral")) ? "YES" : "NO");
	case 'p': {
		json_int_t pid = json_integer_value(json_object_get(*state, "pid"));
		return pid > 0 ? xasprintf("%" JSON_INTEGER_FORMAT, pid) : xstrdup("");
	}
	case 'm': {
		json_t *u = json_object_get(json_object_get(*state, "memory"), "usage");
		return json_is_number(u) && json_number_value(u) > 0 ? human_bytes(json_number_value(u))
								     : xstrdup("");
	}
	case '4':
	case '6': {
		/* "10.0.3.5 (eth0)" per address, one per line, as Incus lists them */
		const char *dev;
		json_t *nic, *addr;
		char *out = xstrdup("");
		size_t i;

		json_object_foreach(json_object_get(*state, "network"), dev, nic) {
			json_array_foreach(json_object_get(nic, "addresses"), i, addr) {
				const char *fam = json_string_value(json_object_get(addr, "family")) ?: "";
				if (strcmp(fam, l == '4' ? "inet" : "inet6"))
					continue;
				char *n = xasprintf("%s%s%s (%s)", out, *out ? "\n" : "",
						    json_string_value(json_object_get(addr, "address")) ?: "", dev);
				free(out);
				out = n;
			}
		}
		return out;
	}
	case 'P': {
		json_t *p = json_object_get(inst, "profiles"), *v;
		size_t i;
		char *out = xstrdup("");

		json_array_foreach(p, i, v) {
			char *n = xasprintf("%s%s%s", out, i ? "\n" : "", json_string_value(v) ?: "");
			free(out);
			out = n;
		}
		return out;
	}
	case 'S': {
		json_t *s = json_object_get(inst, "snapshots");
		if (json_is_array(s))
			return xasprintf("%zu", json_array_size(s));
		struct cella_error e = { 0 };
		cleanup_free char *path = api_path("instances", name ? name : "", "/snapshots");
		json_t *l2 = api_get(c, path, &e);
		char *out = json_is_array(l2) ? xasprintf("%zu", json_array_size(l2)) : xstrdup("");
		json_decref(l2);
		return out;
	}
	}
	return xstrdup("");
}

static bool list_match(json_t *inst, struct args *a)
{
	const char *name = json_string_value(json_object_get(inst, "name"));

	if (a->npos == 0)
		return true;
	for (int i = 0; i < a->npos; i++)
		if (name && strstr(name, a->pos[i]))
			return true;
	return false;
}

int cmd_list(struct client *c, struct args *a, struct cella_error *err)
{
	const char *cols = a->columns ? a->columns : "ns46td";
	enum format fmt;
	json_t *list, *inst, *shown;
	size_t i, ncols = strlen(cols);
	struct table t;

	if (format_parse(a->format, &fmt, err) < 0)
		return -1;
	for (i = 0; i < ncols; i++)
		if (!column_find(cols[i]))
			return cella_error_set(err, 0, "unknown column `%c`", cols[i]);
	if (ncols == 0)
		return cella_error_set(err, 0, "no columns");
	list = api_get(c, "/1.0/instances?recursion=1", err);
	if (!list)
		return -1;
	if (!json_is_array(list)) {
		json_decref(list);
		return cella_error_set(err, EPROTO, "GET /1.0/instances: not a list");
	}
	shown = json_array();
	json_array_foreach(list, i, inst)
		if (list_match(inst, a))
			json_array_append(shown, inst);
	json_decref(list);
	if (fmt == FMT_JSON || fmt == FMT_YAML) {
		value_print(stdout, shown, fmt);
		json_decref(shown);
		return 0;
	}
	const char **headers = xmalloc0(ncols * sizeof(char *));
	for (size_t j = 0; j < ncols; j++)
		headers[j] = column_find(cols[j])->header;
	table_init(&t, ncols, headers);
	json_array_foreach(shown, i, inst) {
		char **cells = xmalloc0(ncols * sizeof(char *));
		json_t *state = NULL;

		for (size_t j = 0; j < ncols; j++)
			cells[j] = cell(c, inst, &state, cols[j]);
		table_add(&t, cells);
		free(cells);
		json_decref(state);
	}
	table_print(stdout, &t, fmt);
	table_free(&t);
	free(headers);
	json_decref(shown);
	return 0;
}

/* ---- info ---- */

static void print_kv(const char *indent, const char *key, const json_t *v)
{
	if (json_is_string(v) && *json_string_value(v))
		printf("%s%s: %s\n", indent, key, json_string_value(v));
	else if (json_is_integer(v))
		printf("%s%s: %" JSON_INTEGER_FORMAT "\n", indent, key, json_integer_value(v));
}

static void print_bytes(const char *indent, const char *key, const json_t *v)
{
	if (json_is_number(v) && json_number_value(v) > 0) {
		cleanup_free char *h = human_bytes(json_number_value(v));
		printf("%s%s: %s\n", indent, key, h);
	}
}

int cmd_info(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("instances", a->pos[0], NULL);
	cleanup_free char *spath = api_path("instances", a->pos[0], "/state");
	cleanup_free char *snpath = api_path("instances", a->pos[0], "/snapshots?recursion=1");
	json_t *inst, *state, *snaps, *v, *cfg;
	struct cella_error e = { 0 };
	const char *key;
	size_t i;

	inst = api_get(c, path, err);
	if (!inst)
		return -1;
	state = api_get(c, spath, &e);
	snaps = api_get(c, snpath, &e);
	printf("Name: %s\n", json_string_value(json_object_get(inst, "name")) ?: a->pos[0]);
	{
		cleanup_free char *st = upper(json_string_value(json_object_get(state ? state : inst, "status")));
		printf("Status: %s\n", st);
	}
	print_kv("", "Type", json_object_get(inst, "type"));
	print_kv("", "Architecture", json_object_get(inst, "architecture"));
	print_kv("", "Description", json_object_get(inst, "description"));
	print_kv("", "Created", json_object_get(inst, "created_at"));
	print_kv("", "Last Used", json_object_get(inst, "last_used_at"));
	if (json_is_true(json_object_get(inst, "ephemeral")))
		printf("Ephemeral: yes\n");
	v = json_object_get(inst, "profiles");
	if (json_array_size(v)) {
		printf("Profiles:");
		json_array_foreach(v, i, cfg)
			printf("%s%s", i ? ", " : " ", json_string_value(cfg) ?: "");
		printf("\n");
	}
	if (state) {
		json_int_t pid = json_integer_value(json_object_get(state, "pid"));
		if (pid > 0)
			printf("PID: %" JSON_INTEGER_FORMAT "\n", pid);
		print_kv("", "Started", json_object_get(state, "started_at"));
		/* how a stopped guest ended, also while cellad was away */
		json_t *reason = json_object_get(state, "stop_reason");
		if (json_is_string(reason))
			printf("Stopped: %s (exit code %" JSON_INTEGER_FORMAT ")\n", json_string_value(reason),
			       json_integer_value(json_object_get(state, "exit_code")));
		if (json_integer_value(json_object_get(state, "boots")) > 1)
			printf("Boots: %" JSON_INTEGER_FORMAT "\n", json_integer_value(json_object_get(state, "boots")));
		printf("\nResources:\n");
		print_kv("  ", "Processes", json_object_get(state, "processes"));
		v = json_object_get(json_object_get(state, "cpu"), "usage");
		if (json_is_number(v))
			printf("  CPU usage (in seconds): %.0f\n", json_number_value(v) / 1e9);
		json_t *mem = json_object_get(state, "memory");
		if (json_object_size(mem)) {
			printf("  Memory usage:\n");
			print_bytes("    ", "Memory (current)", json_object_get(mem, "usage"));
			print_bytes("    ", "Memory (peak)", json_object_get(mem, "usage_peak"));
			print_bytes("    ", "Memory (limit)", json_object_get(mem, "limit"));
		}
		json_t *disk = json_object_get(state, "disk"), *d;
		if (json_object_size(disk)) {
			printf("  Disk usage:\n");
			json_object_foreach(disk, key, d) {
				v = json_object_get(d, "usage");
				if (json_is_number(v)) {
					cleanup_free char *h = human_bytes(json_number_value(v));
					printf("    %s: %s\n", key, h);
				}
			}
		}
	}
	json_t *net = json_object_get(state, "network"), *nic;
	if (json_object_size(net)) {
		printf("\nNetwork:\n");
		json_object_foreach(net, key, nic) {
			json_t *addr, *cnt = json_object_get(nic, "counters"), *n = nic;
			size_t ai;
			printf("  %s (host side %s, %s, %s):\n", key, json_string_value(json_object_get(n, "host_name")) ?: "",
			       json_string_value(json_object_get(n, "hwaddr")) ?: "",
			       json_string_value(json_object_get(n, "state")) ?: "");
			json_array_foreach(json_object_get(n, "addresses"), ai, addr)
				printf("    %s %s/%s\n", json_string_value(json_object_get(addr, "family")) ?: "",
				       json_string_value(json_object_get(addr, "address")) ?: "",
				       json_string_value(json_object_get(addr, "netmask")) ?: "");
			print_bytes("    ", "Bytes received", json_object_get(cnt, "bytes_received"));
			print_bytes("    ", "Bytes sent", json_object_get(cnt, "bytes_sent"));
			printf("    Packets received: %lld\n    Packets sent: %lld\n",
			       (long long)json_integer_value(json_object_get(cnt, "packets_received")),
			       (long long)json_integer_value(json_object_get(cnt, "packets_sent")));
			if (json_integer_value(json_object_get(cnt, "packets_dropped_sent")))
				printf("    Sent and dropped (spoofed): %lld packets\n",
				       (long long)json_integer_value(json_object_get(cnt, "packets_dropped_sent")));
		}
	}
	cfg = json_object_get(inst, "expanded_config");
	if (!json_object_size(cfg))
		cfg = json_object_get(inst, "config");
	bool any = false;
	json_object_foreach(cfg, key, v) {
		if (strncmp(key, "limits.", 7) || !json_is_string(v))
			continue;
		if (!any)
			printf("\nLimits:\n");
		any = true;
		printf("  %s: %s\n", key, json_string_value(v));
	}
	if (json_array_size(snaps)) {
		struct table t;
		static const char *headers[] = { "NAME", "TAKEN AT", "STATEFUL" };

		printf("\nSnapshots:\n");
		table_init(&t, 3, headers);
		json_array_foreach(snaps, i, v) {
			char *cells[3];
			const char *n = json_is_string(v) ? json_string_value(v)
							  : json_string_value(json_object_get(v, "name"));
			const char *slash = n ? strrchr(n, '/') : NULL;

			cells[0] = xstrdup(slash ? slash + 1 : n ? n : "");
			cells[1] = str_or_empty(json_object_get(v, "created_at"));
			cells[2] = xstrdup(json_is_true(json_object_get(v, "stateful")) ? "YES" : "NO");
			table_add(&t, cells);
		}
		table_print(stdout, &t, FMT_TABLE);
		table_free(&t);
	}
	json_decref(inst);
	json_decref(state);
	json_decref(snaps);
	return 0;
}
