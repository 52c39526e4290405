/* SPDX-License-Identifier: GPL-2.0-or-later */
/* /1.0/networks: managed bridges, their addresses and NAT. */
#include <string.h>

#include "cellad.h"

static struct reply *networks_list(struct request *req)
{
	struct cella_error err = { 0 };
	json_t *l = cella_network_list(g_daemon.host, &err);
	if (!l)
		return reply_cella_error(&err);
	if (req_recursion(req) == 0) {
		json_t *urls = json_array();
		size_t i;
		json_t *n;
		json_array_foreach(l, i, n) {
			const char *name = json_string_value(json_object_get(n, "name"));
			if (name)
				json_array_append_new(urls, json_sprintf("/1.0/networks/%s", name));
		}
		json_decref(l);
		l = urls;
	}
	return reply_sync(l);
}

static void network_event(const char *action, const char *name)
{
	cleanup_free char *src = xasprintf("/1.0/networks/%s", name);
	event_lifecycle(action, src, NULL);
}

static struct reply *networks_create(struct request *req)
{
	const char *name = json_string_value(json_object_get(req->json, "name"));
	if (!name)
		return reply_error(400, "missing `name`");
	/* the library checks it too (a bridge name); this keeps hostile names out of the log */
	if (!name_is_dns_label(name))
		return reply_error(400, "invalid network name `%s` (a DNS label of 1-15 characters)", name);
	struct cella_error err = { 0 };
	if (cella_network_create(g_daemon.host, req->json, &err) < 0)
		return reply_cella_error(&err);
	network_event("network-created", name);
	return reply_sync(NULL);
}

static struct reply *network_get(struct request *req)
{
	struct cella_error err = { 0 };
	json_t *n = cella_network_get(g_daemon.host, req_param(req, "name"), &err);
	if (!n)
		return reply_cella_error(&err);
	return reply_sync(n);
}

static struct reply *network_state(struct request *req)
{
	struct cella_error err = { 0 };
	json_t *s = cella_network_state(g_daemon.host, req_param(req, "name"), &err);
	if (!s)
		return reply_cella_error(&err);
	return reply_sync(s);
}

static struct reply *network_update(struct request *req, bool patch)
{
	struct cella_error err = { 0 };
	const char *name = req_param(req, "name");
	if (!req->json)
		return reply_error(400, "missing request body");
	if (cella_network_update(g_daemon.host, name, req->json, patch, &err) < 0)
		return reply_cella_error(&err);
	network_event("network-updated", name);
	return reply_sync(NULL);
}

static struct reply *network_put(struct request *req)
{
	return network_update(req, false);
}

static struct reply *network_patch(struct request *req)
{
	return network_update(req, true);
}

static struct reply *network_delete(struct request *req)
{
	struct cella_error err = { 0 };
	const char *name = req_param(req, "name");
	if (cella_network_delete(g_daemon.host, name, &err) < 0)
		return reply_cella_error(&err);
	network_event("network-deleted", name);
	return reply_sync(NULL);
}

/* ---- forwards ---- */

static struct reply *forwards_list(struct request *req)
{
	struct cella_error err = { 0 };
	const char *name = req_param(req, "name");
	json_t *l = cella_network_forward_list(g_daemon.host, name, &err);
	if (!l)
		return reply_cella_error(&err);
	if (req_recursion(req) == 0) {
		json_t *urls = json_array();
		size_t i;
		json_t *f;
		json_array_foreach(l, i, f)
			json_array_append_new(urls, json_sprintf("/1.0/networks/%s/forwards/%s", name,
								 json_string_value(json_object_get(f, "listen_address"))));
		json_decref(l);
		l = urls;
	}
	return reply_sync(l);
}

static struct reply *forwards_create(struct request *req)
{
	struct cella_error err = { 0 };
	const char *name = req_param(req, "name");
	if (cella_network_forward_create(g_daemon.host, name, req->json, &err) < 0)
		return reply_cella_error(&err);
	network_event("network-forward-created", name);
	return reply_sync(NULL);
}

static struct reply *forward_get(struct request *req)
{
	struct cella_error err = { 0 };
	json_t *f = cella_network_forward_get(g_daemon.host, req_param(req, "name"), req_param(req, "address"), &err);
	if (!f)
		return reply_cella_error(&err);
	return reply_sync(f);
}

static struct reply *forward_update(struct request *req, bool patch)
{
	struct cella_error err = { 0 };
	const char *name = req_param(req, "name");
	if (cella_network_forward_update(g_daemon.host, name, req_param(req, "address"), req->json, patch, &err) < 0)
		return reply_cella_error(&err);
	network_event("network-forward-updated", name);
	return reply_sync(NULL);
}

static struct reply *forward_put(struct request *req)
{
	return forward_update(req, false);
}

static struct reply *forward_patch(struct request *req)
{
	return forward_update(req, true);
}

static struct reply *forward_delete(struct request *req)
{
	struct cella_error err = { 0 };
	const char *name = req_param(req, "name");
	if (cella_network_forward_delete(g_daemon.host, name, req_param(req, "address"), &err) < 0)
		return reply_cella_error(&err);
	network_event("network-forward-deleted", name);
	return reply_sync(NULL);
}

#define FORWARD_FIELDS FIELDS("listen_address", "description", "ports", "config", "location", "network")

#define NETWORK_PUT_FIELDS FIELDS("name", "type", "description", "config", "managed", "status", "used_by", "locations")

const struct route network_routes[] = {
	{ "GET", "/1.0/networks", networks_list, 0, NULL, "List networks" },
	{ "POST", "/1.0/networks", networks_create, ROUTE_BODY_JSON, FIELDS("name", "type", "description", "config"),
	  "Create a network" },
	{ "GET", "/1.0/networks/{name}", network_get, 0, NULL, "Get a network" },
	{ "PUT", "/1.0/networks/{name}", network_put, ROUTE_BODY_JSON, NETWORK_PUT_FIELDS, "Replace a network" },
	{ "PATCH", "/1.0/networks/{name}", network_patch, ROUTE_BODY_JSON, NETWORK_PUT_FIELDS,
	  "Merge into a network" },
	{ "DELETE", "/1.0/networks/{name}", network_delete, 0, NULL, "Delete a network" },
	{ "GET", "/1.0/networks/{name}/state", network_state, 0, NULL, "A network's bridge: addresses, MTU, counters" },
	{ "GET", "/1.0/networks/{name}/forwards", forwards_list, 0, NULL, "List a network's port forwards" },
	{ "POST", "/1.0/networks/{name}/forwards", forwards_create, ROUTE_BODY_JSON, FORWARD_FIELDS,
	  "Forward ports of a listen address to the network" },
	{ "GET", "/1.0/networks/{name}/forwards/{address}", forward_get, 0, NULL, "Get a port forward" },
	{ "PUT", "/1.0/networks/{name}/forwards/{address}", forward_put, ROUTE_BODY_JSON, FORWARD_FIELDS,
	  "Replace a forward's ports" },
	{ "PATCH", "/1.0/networks/{name}/forwards/{address}", forward_patch, ROUTE_BODY_JSON, FORWARD_FIELDS,
	  "Merge into a forward" },
	{ "DELETE", "/1.0/networks/{name}/forwards/{address}", forward_delete, 0, NULL, "Delete a port forward" },
	{ 0 },
};
