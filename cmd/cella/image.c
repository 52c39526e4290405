/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * image list|info|build|import|delete and image alias create|delete|list.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cella.h"
#include "util.h"

const struct opt image_opts[] = {
	{ "format", 'f', OPT_STRING, ARG(format), "FORMAT", "list: table, compact, csv, json or yaml" },
	{ "variant", 0, OPT_STRING, ARG(variant), "VARIANT", "build: a variant (debian: minbase...)" },
	{ "alias", 0, OPT_LIST, ARG(alias), "ALIAS", "build, import: an alias (repeatable)" },
	OPT_END
};

static char *aliases_text(const json_t *img, const char *sep)
{
	json_t *v;
	size_t i;
	char *out = xstrdup("");

	json_array_foreach(json_object_get(img, "aliases"), i, v) {
		const char *n = json_is_string(v) ? json_string_value(v)
						  : json_string_value(json_object_get(v, "name"));
		char *o = xasprintf("%s%s%s", out, i ? sep : "", n ? n : "");
		free(out);
		out = o;
	}
	return out;
}

static const char *prop(const json_t *img, const char *key)
{
	return json_string_value(json_object_get(json_object_get(img, "properties"), key)) ?: "";
}

static void image_row(json_t *img, char **cells)
{
	const char *fp = json_string_value(json_object_get(img, "fingerprint")) ?: "";
	json_t *size = json_object_get(img, "size");

	cells[0] = aliases_text(img, "\n");
	cells[1] = strndup(fp, 12);
	cells[2] = xstrdup(prop(img, "description"));
	cells[3] = xstrdup(json_string_value(json_object_get(img, "architecture")) ?: prop(img, "architecture"));
	cells[4] = json_is_number(size) ? human_bytes(json_number_value(size)) : xstrdup("");
	cells[5] = xstrdup(json_string_value(json_object_get(img, "created_at")) ?: "");
}

static int image_list(struct client *c, struct args *a, struct cella_error *err)
{
	static const char *headers[] = { "ALIAS", "FINGERPRINT", "DESCRIPTION", "ARCHITECTURE", "SIZE",
					 "CREATED AT" };
	return list_show(c, a->format, "/1.0/images?recursion=1", headers, ARRAY_SIZE(headers), NULL, image_row,
			 err);
}

static int image_info(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("images", a->pos[0], NULL);
	cleanup_free char *aliases = NULL;
	json_t *img = api_get(c, path, err), *size, *props, *v;
	const char *key;

	if (!img)
		return -1;
	aliases = aliases_text(img, ", ");
	printf("Fingerprint: %s\n", json_string_value(json_object_get(img, "fingerprint")) ?: "");
	size = json_object_get(img, "size");
	if (json_is_number(size)) {
		cleanup_free char *h = human_bytes(json_number_value(size));
		printf("Size: %s\n", h);
	}
	printf("Type: %s\n", json_string_value(json_object_get(img, "type")) ?: "vps");
	printf("Created: %s\n", json_string_value(json_object_get(img, "created_at")) ?: "");
	printf("Aliases: %s\n", aliases);
	props = json_object_get(img, "properties");
	if (json_object_size(props)) {
		printf("Properties:\n");
		json_object_foreach(props, key, v) {
			printf("    %s: ", key);
			config_value_print(v);
		}
	}
	json_decref(img);
	return 0;
}

static json_t *aliases_json(const struct strv *l, const char *fallback)
{
	json_t *out = json_array();

	for (size_t i = 0; i < l->n; i++)
		json_array_append_new(out, json_pack("{s:s}", "name", l->v[i]));
	if (!l->n && fallback)
		json_array_append_new(out, json_pack("{s:s}", "name", fallback));
	return out;
}

/* The fingerprint an image operation made, when it says. */
static void print_fingerprint(struct client *c, json_t *op, const char *what)
{
	json_t *m = json_object_get(op, "metadata");
	const char *fp = json_string_value(json_object_get(m, "fingerprint"));

	if (!fp)
		fp = json_string_value(json_object_get(op, "fingerprint"));
	if (fp)
		printf("%s: %s\n", what, fp);
	else
		progress(c, "%s", what);
}

static int image_build(struct client *c, struct args *a, struct cella_error *err)
{
	json_t *req, *src, *r;

	src = json_pack("{s:s, s:s}", "type", "build", "name", a->pos[0]);
	if (a->variant)
		json_object_set_new(src, "variant", json_string(a->variant));
	/* without --alias, the image is known by what was built ("minimal") */
	req = json_pack("{s:o, s:o}", "source", src, "aliases", aliases_json(&a->alias, a->pos[0]));
	progress(c, "Building %s", a->pos[0]);
	r = api_do(c, "POST", "/1.0/images", req, err);
	json_decref(req);
	if (!r)
		return -1;
	print_fingerprint(c, r, "Image built");
	json_decref(r);
	return 0;
}

static int image_import(struct client *c, struct args *a, struct cella_error *err)
{
	char abs[PATH_MAX];
	json_t *req, *r;

	/* cellad opens the file itself: give it an absolute path */
	if (!realpath(a->pos[0], abs))
		return cella_error_set(err, errno, "`%s`", a->pos[0]);
	req = json_pack("{s:{s:s, s:s}, s:o, s:{}}", "source", "type", "file", "path", abs, "aliases",
			aliases_json(&a->alias, NULL), "properties");
	progress(c, "Importing %s", a->pos[0]);
	r = api_do(c, "POST", "/1.0/images", req, err);
	json_decref(req);
	if (!r)
		return -1;
	print_fingerprint(c, r, "Image imported");
	json_decref(r);
	return 0;
}

static int image_delete(struct client *c, struct args *a, struct cella_error *err)
{
	return api_delete_each(c, "images", a->pos, a->npos, err);
}

static int alias_create(struct client *c, struct args *a, struct cella_error *err)
{
	json_t *req = json_pack("{s:s, s:s}", "name", a->pos[0], "target", a->pos[1]);
	json_t *r = api_do(c, "POST", "/1.0/images/aliases", req, err);

	json_decref(req);
	if (!r)
		return -1;
	json_decref(r);
	return 0;
}

static int alias_delete(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("images/aliases", a->pos[0], NULL);
	if (api_run(c, "DELETE", path, NULL, err) < 0)
		return -1;
	return 0;
}

static void alias_row(json_t *v, char **cells)
{
	const char *target = json_string_value(json_object_get(v, "target")) ?: "";

	cells[0] = xstrdup(json_string_value(json_object_get(v, "name")) ?: json_string_value(v) ?: "");
	cells[1] = strndup(target, 12);
	cells[2] = xstrdup(json_string_value(json_object_get(v, "description")) ?: "");
}

static int alias_list(struct client *c, struct args *a, struct cella_error *err)
{
	static const char *headers[] = { "ALIAS", "FINGERPRINT", "DESCRIPTION" };
	return list_show(c, a->format, "/1.0/images/aliases?recursion=1", headers, ARRAY_SIZE(headers), NULL,
			 alias_row, err);
}

static const struct subcommand alias_subs[] = {
	{ "create", alias_create, 2, 2, "ALIAS FINGERPRINT", "name an image" },
	{ "delete", alias_delete, 1, 1, "ALIAS", "remove an alias" },
	{ "list", alias_list, 0, 0, "[-f FORMAT]", "list aliases" },
};

static int image_alias(struct client *c, struct args *a, struct cella_error *err)
{
	return subcommand_run("image alias", alias_subs, ARRAY_SIZE(alias_subs), c, a, err);
}

static const struct subcommand subs[] = {
	{ "list", image_list, 0, 0, "[-f FORMAT]", "list images" },
	{ "info", image_info, 1, 1, "IMAGE", "show an image (fingerprint or alias)" },
	{ "build", image_build, 1, 1, "minimal|debian/12 [--variant V] [--alias A]",
	  "build an image (aliased by its name unless --alias)" },
	{ "import", image_import, 1, 1, "FILE [--alias A]", "import a rootfs tarball or OCI archive" },
	{ "delete", image_delete, 1, -1, "IMAGE...", "delete images" },
	{ "alias", image_alias, 1, -1, "create|delete|list ...", "image aliases" },
};

int cmd_image(struct client *c, struct args *a, struct cella_error *err)
{
	return subcommand_run("image", subs, ARRAY_SIZE(subs), c, a, err);
}
