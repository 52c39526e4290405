/* SPDX-License-Identifier: GPL-2.0-or-later */
/* /1.0/profiles: named sets of config and devices. */
#include <string.h>

#include "cellad.h"

static struct reply *profiles_list(struct request *req)
{
	struct cella_error err = { 0 };
	json_t *l = cella_profile_list(g_daemon.host, &err);
	if (!l)
		return reply_cella_error(&err);
	if (req_recursion(req) == 0) {
		json_t *urls = json_array();
		size_t i;
		json_t *p;
		json_array_foreach(l, i, p) {
			const char *n = json_string_value(json_object_get(p, "name"));
			if (n)
				json_array_append_new(urls, json_sprintf("/1.0/profiles/%s", n));
		}
		json_decref(l);
		l = urls;
	}
	return reply_sync(l);
}

static void profile_event(const char *action, const char *name)
{
	cleanup_free char *src = xasprintf("/1.0/profiles/%s", name);
	event_lifecycle(action, src, NULL);
}

static struct reply *profiles_create(struct request *req)
{
	const char *name = json_string_value(json_object_get(req->json, "name"));
	if (!name)
		return reply_error(400, "missing `name`");
	if (!name_is_dns_label(name))
		return reply_error(400, "invalid profile name `%s` (a DNS label of 1-63 characters)", name);
	struct cella_error err = { 0 };
	if (cella_profile_create(g_daemon.host, req->json, &err) < 0)
		return reply_cella_error(&err);
	profile_event("profile-created", name);
	return reply_sync(NULL);
}

static struct reply *profile_get(struct request *req)
{
	struct cella_error err = { 0 };
	json_t *p = cella_profile_get(g_daemon.host, req_param(req, "name"), &err);
	if (!p)
		return reply_cella_error(&err);
	return reply_sync(p);
}

static struct reply *profile_update(struct request *req, bool patch)
{
	struct cella_error err = { 0 };
	const char *name = req_param(req, "name");
	if (!req->json)
		return reply_error(400, "missing request body");
	if (cella_profile_update(g_daemon.host, name, req->json, patch, &err) < 0)
		return reply_cella_error(&err);
	profile_event("profile-updated", name);
	return reply_sync(NULL);
}

static struct reply *profile_put(struct request *req)
{
	return profile_update(req, false);
}

static struct reply *profile_patch(struct request *req)
{
	return profile_update(req, true);
}

static struct reply *profile_delete(struct request *req)
{
	struct cella_error err = { 0 };
	const char *name = req_param(req, "name");
	if (cella_profile_delete(g_daemon.host, name, &err) < 0)
		return reply_cella_error(&err);
	profile_event("profile-deleted", name);
	return reply_sync(NULL);
}

const struct route profile_routes[] = {
	{ "GET", "/1.0/profiles", profiles_list, 0, NULL, "List profiles" },
	{ "POST", "/1.0/profiles", profiles_create, ROUTE_BODY_JSON, FIELDS("name", "description", "config", "devices"),
	  "Create a profile" },
	{ "GET", "/1.0/profiles/{name}", profile_get, 0, NULL, "Get a profile" },
	{ "PUT", "/1.0/profiles/{name}", profile_put, ROUTE_BODY_JSON, FIELDS("name", "description", "config", "devices", "used_by"),
	  "Replace a profile" },
	{ "PATCH", "/1.0/profiles/{name}", profile_patch, ROUTE_BODY_JSON, FIELDS("name", "description", "config", "devices", "used_by"),
	  "Merge into a profile" },
	{ "DELETE", "/1.0/profiles/{name}", profile_delete, 0, NULL, "Delete a profile" },
	{ 0 },
};
