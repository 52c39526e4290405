/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * snapshot create|list|restore|delete.
 */
#include <string.h>

#include "cella.h"
#include "util.h"

const struct opt snapshot_opts[] = {
	{ "format", 'f', OPT_STRING, ARG(format), "FORMAT", "list: table, compact, csv, json or yaml" },
	OPT_END
};

static char *snap_path(const char *name, const char *snap)
{
	cleanup_free char *n = url_escape(name);
	cleanup_free char *s = snap ? url_escape(snap) : NULL;

	return s ? xasprintf("/1.0/instances/%s/snapshots/%s", n, s) : xasprintf("/1.0/instances/%s/snapshots", n);
}

/* A snapshot's short name, from an object or a URL. */
static const char *snap_name(const json_t *v)
{
	const char *n = json_is_string(v) ? json_string_value(v) : json_string_value(json_object_get(v, "name"));
	const char *slash = n ? strrchr(n, '/') : NULL;

	return slash ? slash + 1 : n ? n : "";
}

static int snapshot_create(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = snap_path(a->pos[0], NULL);
	cleanup_free char *name = NULL;
	json_t *req;

	if (a->npos > 1) {
		name = xstrdup(a->pos[1]);
	} else {
		/* the first free snapN */
		json_t *list = api_get(c, path, err), *v;
		size_t i;

		if (!list)
			return -1;
		for (int k = 0; !name; k++) {
			char cand[32];
			bool used = false;

			snprintf(cand, sizeof(cand), "snap%d", k);
			json_array_foreach(list, i, v)
				if (!strcmp(snap_name(v), cand))
					used = true;
			if (!used)
				name = xstrdup(cand);
		}
		json_decref(list);
	}
	req = json_pack("{s:s}", "name", name);
	progress(c, "Creating snapshot %s of %s", name, a->pos[0]);
	return api_run(c, "POST", path, req, err);
}

static void snapshot_row(json_t *v, char **cells)
{
	cells[0] = xstrdup(snap_name(v));
	cells[1] = xstrdup(json_string_value(json_object_get(v, "created_at")) ?: "");
	cells[2] = xstrdup(json_is_true(json_object_get(v, "stateful")) ? "YES" : "NO");
}

static int snapshot_list(struct client *c, struct args *a, struct cella_error *err)
{
	static const char *headers[] = { "NAME", "TAKEN AT", "STATEFUL" };
	cleanup_free char *base = snap_path(a->pos[0], NULL);
	cleanup_free char *path = xasprintf("%s?recursion=1", base);
	return list_show(c, a->format, path, headers, ARRAY_SIZE(headers), NULL, snapshot_row, err);
}

static int snapshot_restore(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("instances", a->pos[0], NULL);
	json_t *req = json_pack("{s:s}", "restore", a->pos[1]);

	progress(c, "Restoring %s to %s", a->pos[0], a->pos[1]);
	return api_run(c, "PUT", path, req, err);
}

static int snapshot_delete(struct client *c, struct args *a, struct cella_error *err)
{
	for (int i = 1; i < a->npos; i++) {
		cleanup_free char *path = snap_path(a->pos[0], a->pos[i]);
		if (api_run(c, "DELETE", path, NULL, err) < 0)
			return -1;
	}
	return 0;
}

static const struct subcommand subs[] = {
	{ "create", snapshot_create, 1, 2, "NAME [SNAP]", "snapshot an instance (default name: snapN)" },
	{ "list", snapshot_list, 1, 1, "NAME [-f FORMAT]", "list an instance's snapshots" },
	{ "restore", snapshot_restore, 2, 2, "NAME SNAP", "bring an instance back to a snapshot" },
	{ "delete", snapshot_delete, 2, -1, "NAME SNAP...", "delete snapshots" },
};

int cmd_snapshot(struct client *c, struct args *a, struct cella_error *err)
{
	return subcommand_run("snapshot", subs, ARRAY_SIZE(subs), c, a, err);
}
