/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * operation list|show|wait|cancel, and monitor: the /1.0/events websocket
 * printed as JSON lines or YAML documents.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>

#include "cella.h"
#include "util.h"

const struct opt operation_opts[] = {
	{ "format", 'f', OPT_STRING, ARG(format), "FORMAT", "list: table, compact, csv, json or yaml" },
	OPT_END
};

const struct opt monitor_opts[] = {
	{ "type", 0, OPT_LIST, ARG(types), "TYPE", "only events of this type: lifecycle, operation, logging" },
	{ "format", 'f', OPT_STRING, ARG(format), "FORMAT", "json (one event a line) or yaml (default)" },
	OPT_END
};

static char *op_path(const char *id)
{
	if (id[0] == '/')
		return xstrdup(id);
	return api_path("operations", id, NULL);
}

/* The list as an array, whether cellad groups it by status (as Incus does) or not. */
static json_t *ops_flatten(json_t *v)
{
	json_t *out, *l, *o;
	const char *key;
	size_t i;

	if (json_is_array(v))
		return json_incref(v);
	out = json_array();
	json_object_foreach(v, key, l)
		json_array_foreach(l, i, o)
			json_array_append(out, o);
	return out;
}

static json_t *ops_rows(json_t *raw)
{
	json_t *list = ops_flatten(raw);
	json_decref(raw);
	return list;
}

static void operation_row(json_t *o, char **cells)
{
	cells[0] = xstrdup(json_string_value(json_object_get(o, "id")) ?: json_string_value(o) ?: "");
	cells[1] = xstrdup(json_string_value(json_object_get(o, "class")) ?: "");
	cells[2] = xstrdup(json_string_value(json_object_get(o, "description")) ?: "");
	cells[3] = xstrdup(json_string_value(json_object_get(o, "status")) ?: "");
	cells[4] = xstrdup(json_is_true(json_object_get(o, "may_cancel")) ? "YES" : "NO");
	cells[5] = xstrdup(json_string_value(json_object_get(o, "created_at")) ?: "");
}

static int operation_list(struct client *c, struct args *a, struct cella_error *err)
{
	static const char *headers[] = { "ID", "CLASS", "DESCRIPTION", "STATUS", "CANCELABLE", "CREATED AT" };
	return list_show(c, a->format, "/1.0/operations?recursion=1", headers, ARRAY_SIZE(headers), ops_rows,
			 operation_row, err);
}

static int operation_show(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = op_path(a->pos[0]);
	json_t *o = api_get(c, path, err);

	if (!o)
		return -1;
	yaml_print(stdout, o);
	json_decref(o);
	return 0;
}

static int operation_wait_cmd(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = op_path(a->pos[0]);
	json_t *o = operation_wait(c, path, false, err);

	if (!o)
		return -1;
	yaml_print(stdout, o);
	const char *st = json_string_value(json_object_get(o, "status"));
	int ret = st && strcmp(st, "Success") ? 1 : 0;
	json_decref(o);
	return ret;
}

static int operation_cancel(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = op_path(a->pos[0]);
	if (api_run(c, "DELETE", path, NULL, err) < 0)
		return -1;
	return 0;
}

static const struct subcommand subs[] = {
	{ "list", operation_list, 0, 0, "[-f FORMAT]", "list operations" },
	{ "show", operation_show, 1, 1, "ID", "show an operation" },
	{ "wait", operation_wait_cmd, 1, 1, "ID", "wait for an operation and show it" },
	{ "cancel", operation_cancel, 1, 1, "ID", "cancel an operation" },
};

int cmd_operation(struct client *c, struct args *a, struct cella_error *err)
{
	return subcommand_run("operation", subs, ARRAY_SIZE(subs), c, a, err);
}

/* ---- monitor ---- */

struct monitor {
	bool json;
};

static void event_print(void *data, const unsigned char *buf, size_t len)
{
	struct monitor *m = data;
	json_t *ev = json_loadb((const char *)buf, len, 0, NULL);

	if (!ev) {
		fwrite(buf, 1, len, stdout);
		fputc('\n', stdout);
	} else if (m->json) {
		value_print(stdout, ev, FMT_JSON);
	} else {
		fputs("---\n", stdout);
		yaml_print(stdout, ev);
	}
	fflush(stdout);
	json_decref(ev);
}

int cmd_monitor(struct client *c, struct args *a, struct cella_error *err)
{
	struct monitor m = { 0 };
	cleanup_free char *path = NULL;
	cleanup_free char *types = xstrdup("");
	struct ws *w;

	if (a->format && strcmp(a->format, "json") && strcmp(a->format, "yaml"))
		return cella_error_set(err, 0, "invalid format `%s` (json or yaml)", a->format);
	m.json = a->format && !strcmp(a->format, "json");
	for (size_t i = 0; i < a->types.n; i++) {
		cleanup_free char *e = url_escape(a->types.v[i]);
		char *t = xasprintf("%s%s%s", types, i ? "," : "", e);
		free(types);
		types = t;
	}
	path = a->types.n ? xasprintf("/1.0/events?type=%s", types) : xstrdup("/1.0/events");
	w = ws_open(c, path, err);
	if (!w)
		return -1;
	ws_pump(w, 0, event_print, &m);
	while (!ws_finished(w)) {
		struct pollfd p = { .fd = ws_fd(w), .events = ws_events(w) };

		if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			ws_close(w);
			return cella_error_set(err, errno, "poll");
		}
		ws_pump(w, p.revents, event_print, &m);
	}
	ws_close(w);
	return cella_error_set(err, 0, "cellad closed the event stream");
}
