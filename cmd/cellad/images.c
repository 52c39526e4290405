/* SPDX-License-Identifier: GPL-2.0-or-later */
/* /1.0/images: the image store (build, import, aliases). */
#include <errno.h>
#include <string.h>

#include "cellad.h"

struct image_job {
	json_t *body;     /* POST /1.0/images */
	char *ref;        /* DELETE */
};

static void image_job_free(void *p)
{
	struct image_job *j = p;
	json_decref(j->body);
	free(j->ref);
	free(j);
}

static struct reply *image_op(struct image_job *j, const char *description, op_run_fn run, json_t *resources)
{
	struct op_spec spec = { .class = OP_TASK, .description = description, .run = run, .data = j,
				.data_free = image_job_free, .resources = resources };
	struct cella_error err = { 0 };
	struct operation *op = op_create(&spec, &err);
	if (!op)
		return reply_cella_error(&err);
	return op_reply(op);
}

static struct reply *images_list(struct request *req)
{
	struct cella_error err = { 0 };
	json_t *l = cella_image_list(g_daemon.host, &err);
	if (!l)
		return reply_cella_error(&err);
	if (req_recursion(req) == 0) {
		json_t *urls = json_array();
		size_t i;
		json_t *im;
		json_array_foreach(l, i, im) {
			const char *fp = json_string_value(json_object_get(im, "fingerprint"));
			if (fp)
				json_array_append_new(urls, json_sprintf("/1.0/images/%s", fp));
		}
		json_decref(l);
		l = urls;
	}
	return reply_sync(l);
}

static int image_create_run(struct operation *op, void *data, struct cella_error *err)
{
	struct image_job *j = data;
	json_t *src = json_object_get(j->body, "source");
	json_t *aliases = json_object_get(j->body, "aliases");
	const char *type = json_string_value(json_object_get(src, "type"));
	const char *alias = json_string_value(json_object_get(json_array_get(aliases, 0), "name"));
	cleanup_free char *fp = NULL;

	if (strcmp(type, "build") == 0)
		fp = cella_image_build(g_daemon.host, json_string_value(json_object_get(src, "name")),
				       json_string_value(json_object_get(src, "variant")), alias, err);
	else
		fp = cella_image_import(g_daemon.host, json_string_value(json_object_get(src, "path")), alias,
					json_object_get(j->body, "properties"), err);
	if (!fp)
		return -1;
	/* the library takes one alias with the image; the others are added */
	for (size_t i = 1; i < json_array_size(aliases); i++) {
		const char *a = json_string_value(json_object_get(json_array_get(aliases, i), "name"));
		if (cella_image_alias_add(g_daemon.host, a, fp, err) < 0)
			return cella_error_wrap(err, "image %s", fp);
	}
	op_set_metadata(op, json_pack("{s:s}", "fingerprint", fp));
	cleanup_free char *src_url = xasprintf("/1.0/images/%s", fp);
	event_lifecycle("image-created", src_url, NULL);
	return 0;
}

static struct reply *images_create(struct request *req)
{
	json_t *b = req->json;
	json_t *src = json_object_get(b, "source");
	const char *type = json_string_value(json_object_get(src, "type"));
	if (!json_is_object(src) || !type)
		return reply_error(400, "missing `source` {\"type\": \"build\"|\"file\", ...}");
	if (strcmp(type, "build") == 0) {
		const char *name = json_string_value(json_object_get(src, "name"));
		if (!name || (strcmp(name, "minimal") != 0 && strcmp(name, "debian/12") != 0))
			return reply_error(400, "invalid `source.name` (minimal or debian/12)");
		json_t *variant = json_object_get(src, "variant");
		if (variant && (!json_is_string(variant) || !name_is_dns_label(json_string_value(variant))))
			return reply_error(400, "invalid `source.variant`");
	} else if (strcmp(type, "file") == 0) {
		/* a path on the host, read by the daemon: absolute, no `..` */
		const char *path = json_string_value(json_object_get(src, "path"));
		if (!path || path[0] != '/' || strstr(path, "/../") || (strlen(path) >= 3 && !strcmp(path + strlen(path) - 3, "/..")))
			return reply_error(400, "invalid `source.path` (an absolute path on the host)");
	} else {
		return reply_error(400, "invalid `source.type` `%s` (build or file)", type);
	}
	json_t *aliases = json_object_get(b, "aliases"), *a;
	size_t i;
	if (aliases && !json_is_array(aliases))
		return reply_error(400, "`aliases` must be an array of {\"name\"}");
	json_array_foreach(aliases, i, a) {
		const char *n = json_string_value(json_object_get(a, "name"));
		if (!n || !image_ref_is_valid(n))
			return reply_error(400, "invalid `aliases[%zu].name`", i);
	}
	json_t *props = json_object_get(b, "properties");
	if (props && !json_is_object(props))
		return reply_error(400, "`properties` must be an object");
	struct image_job *j = xmalloc0(sizeof(*j));
	j->body = json_incref(b);
	return image_op(j, strcmp(type, "build") == 0 ? "Building image" : "Importing image", image_create_run,
			json_pack("{s:[]}", "images"));
}

static struct reply *image_get(struct request *req)
{
	struct cella_error err = { 0 };
	json_t *im = cella_image_get(g_daemon.host, req_param(req, "fingerprint"), &err);
	if (!im)
		return reply_cella_error(&err);
	return reply_sync(im);
}

static int image_delete_run(struct operation *op, void *data, struct cella_error *err)
{
	(void)op;
	struct image_job *j = data;
	if (cella_image_delete(g_daemon.host, j->ref, err) < 0)
		return -1;
	cleanup_free char *src = xasprintf("/1.0/images/%s", j->ref);
	event_lifecycle("image-deleted", src, NULL);
	return 0;
}

static struct reply *image_delete(struct request *req)
{
	struct cella_error err = { 0 };
	const char *ref = req_param(req, "fingerprint");
	json_t *im = cella_image_get(g_daemon.host, ref, &err);
	if (!im && err.code != ENOSYS)
		return reply_cella_error(&err);
	json_decref(im);
	struct image_job *j = xmalloc0(sizeof(*j));
	j->ref = xstrdup(ref);
	cleanup_free char *url = xasprintf("/1.0/images/%s", ref);
	return image_op(j, "Deleting image", image_delete_run, json_pack("{s:[s]}", "images", url));
}

/* Aliases are read from the images that carry them. */
static json_t *alias_list(struct cella_error *err)
{
	json_t *l = cella_image_list(g_daemon.host, err);
	if (!l)
		return NULL;
	json_t *out = json_array();
	size_t i, k;
	json_t *im, *a;
	json_array_foreach(l, i, im) {
		const char *fp = json_string_value(json_object_get(im, "fingerprint"));
		json_array_foreach(json_object_get(im, "aliases"), k, a) {
			const char *n = json_string_value(json_object_get(a, "name"));
			if (n && fp)
				json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s}", "name", n, "target", fp,
								     "description", "", "type", "vps"));
		}
	}
	json_decref(l);
	return out;
}

static struct reply *aliases_list(struct request *req)
{
	struct cella_error err = { 0 };
	json_t *l = alias_list(&err);
	if (!l)
		return reply_cella_error(&err);
	if (req_recursion(req) == 0) {
		json_t *urls = json_array();
		size_t i;
		json_t *a;
		json_array_foreach(l, i, a)
			json_array_append_new(urls, json_sprintf("/1.0/images/aliases/%s",
								 json_string_value(json_object_get(a, "name"))));
		json_decref(l);
		l = urls;
	}
	return reply_sync(l);
}

static struct reply *aliases_create(struct request *req)
{
	const char *name = json_string_value(json_object_get(req->json, "name"));
	const char *target = json_string_value(json_object_get(req->json, "target"));
	if (!name || !image_ref_is_valid(name))
		return reply_error(400, "missing or invalid `name`");
	if (!target || !image_ref_is_valid(target))
		return reply_error(400, "missing or invalid `target` (a fingerprint)");
	struct cella_error err = { 0 };
	if (cella_image_alias_add(g_daemon.host, name, target, &err) < 0)
		return reply_cella_error(&err);
	cleanup_free char *src = xasprintf("/1.0/images/aliases/%s", name);
	event_lifecycle("image-alias-created", src, NULL);
	return reply_sync(NULL);
}

static struct reply *alias_get(struct request *req)
{
	struct cella_error err = { 0 };
	const char *name = req_param(req, "alias");
	json_t *l = alias_list(&err);
	if (!l)
		return reply_cella_error(&err);
	size_t i;
	json_t *a;
	json_array_foreach(l, i, a) {
		if (strcmp(json_string_value(json_object_get(a, "name")), name) == 0) {
			json_incref(a);
			json_decref(l);
			return reply_sync(a);
		}
	}
	json_decref(l);
	return reply_error(404, "image alias `%s` not found", name);
}

static struct reply *alias_delete(struct request *req)
{
	struct cella_error err = { 0 };
	const char *name = req_param(req, "alias");
	if (cella_image_alias_delete(g_daemon.host, name, &err) < 0)
		return reply_cella_error(&err);
	cleanup_free char *src = xasprintf("/1.0/images/aliases/%s", name);
	event_lifecycle("image-alias-deleted", src, NULL);
	return reply_sync(NULL);
}

const struct route image_routes[] = {
	{ "GET", "/1.0/images", images_list, 0, NULL, "List images" },
	{ "POST", "/1.0/images", images_create, ROUTE_BODY_JSON, FIELDS("source", "aliases", "properties"),
	  "Build or import an image (async)" },
	{ "GET", "/1.0/images/{fingerprint}", image_get, 0, NULL, "Get an image" },
	{ "DELETE", "/1.0/images/{fingerprint}", image_delete, 0, NULL, "Delete an image (async)" },
	{ "GET", "/1.0/images/aliases", aliases_list, 0, NULL, "List image aliases" },
	{ "POST", "/1.0/images/aliases", aliases_create, ROUTE_BODY_JSON, FIELDS("name", "target", "description"),
	  "Create an image alias" },
	{ "GET", "/1.0/images/aliases/{alias}", alias_get, 0, NULL, "Get an image alias" },
	{ "DELETE", "/1.0/images/aliases/{alias}", alias_delete, 0, NULL, "Delete an image alias" },
	{ 0 },
};
