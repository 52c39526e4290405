/* SPDX-License-Identifier: GPL-2.0-or-later */
/* network list|show|create|set|unset|delete|info|forward: managed networks. */
#include <string.h>

#include "cella.h"
#include "util.h"

const struct opt network_opts[] = {
	{ "format", 'f', OPT_STRING, ARG(format), "FORMAT", "list, info: table, compact, csv, json or yaml" },
	{ "description", 0, OPT_STRING, ARG(description), "TEXT", "create: a description" },
	OPT_END
};

static void network_row(json_t *n, char **cells)
{
	json_t *cfg = json_object_get(n, "config");

	cells[0] = xstrdup(json_string_value(json_object_get(n, "name")) ?: "");
	cells[1] = xstrdup(json_string_value(json_object_get(n, "type")) ?: "");
	cells[2] = xstrdup(json_string_value(json_object_get(cfg, "ipv4.address")) ?: "");
	cells[3] = xstrdup(json_string_value(json_object_get(cfg, "ipv6.address")) ?: "");
	cells[4] = xstrdup(json_string_value(json_object_get(n, "description")) ?: "");
	cells[5] = xasprintf("%zu", json_array_size(json_object_get(n, "used_by")));
}

static int network_list(struct client *c, struct args *a, struct cella_error *err)
{
	static const char *headers[] = { "NAME", "TYPE", "IPV4", "IPV6", "DESCRIPTION", "USED BY" };
	return list_show(c, a->format, "/1.0/networks?recursion=1", headers, ARRAY_SIZE(headers), NULL,
			 network_row, err);
}

static int network_show(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("networks", a->pos[0], NULL);
	json_t *n = api_get(c, path, err);
	enum format fmt;

	if (!n)
		return -1;
	if (format_parse(a->format ? a->format : "yaml", &fmt, err) < 0) {
		json_decref(n);
		return -1;
	}
	value_print(stdout, n, fmt);
	json_decref(n);
	return 0;
}

static int network_info(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("networks", a->pos[0], "/state");
	json_t *s = api_get(c, path, err), *v;
	enum format fmt;
	size_t i;

	if (!s)
		return -1;
	if (format_parse(a->format, &fmt, err) < 0) {
		json_decref(s);
		return -1;
	}
	if (fmt == FMT_JSON || fmt == FMT_YAML) {
		value_print(stdout, s, fmt);
		json_decref(s);
		return 0;
	}
	json_t *cnt = json_object_get(s, "counters");
	printf("Name: %s\nMAC address: %s\nMTU: %lld\nState: %s\nType: %s\n\nIP addresses:\n", a->pos[0],
	       json_string_value(json_object_get(s, "hwaddr")) ?: "",
	       (long long)json_integer_value(json_object_get(s, "mtu")),
	       json_string_value(json_object_get(s, "state")) ?: "",
	       json_string_value(json_object_get(s, "type")) ?: "");
	json_array_foreach(json_object_get(s, "addresses"), i, v)
		printf("  %s\t%s/%s (%s)\n", json_string_value(json_object_get(v, "family")) ?: "",
		       json_string_value(json_object_get(v, "address")) ?: "",
		       json_string_value(json_object_get(v, "netmask")) ?: "",
		       json_string_value(json_object_get(v, "scope")) ?: "");
	printf("\nNetwork usage:\n  Bytes received: %lld\n  Bytes sent: %lld\n  Packets received: %lld\n"
	       "  Packets sent: %lld\n",
	       (long long)json_integer_value(json_object_get(cnt, "bytes_received")),
	       (long long)json_integer_value(json_object_get(cnt, "bytes_sent")),
	       (long long)json_integer_value(json_object_get(cnt, "packets_received")),
	       (long long)json_integer_value(json_object_get(cnt, "packets_sent")));
	v = json_object_get(s, "forward_blocked");
	if (json_is_string(v))
		printf("\nWarning: the host's firewall drops forwarded traffic: %s.\n"
		       "Instances on this network cannot reach beyond the host until it accepts it.\n",
		       json_string_value(v));
	json_decref(s);
	return 0;
}

/* KEY=VALUE arguments from a->pos[from] on into an object. */
static json_t *pairs_object(struct args *a, int from, struct cella_error *err)
{
	json_t *o = json_object();

	for (int i = from; i < a->npos; i++) {
		cleanup_free char *k = NULL;
		cleanup_free char *v = NULL;

		if (kv_split(a->pos[i], &k, &v, err) < 0) {
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, k, json_string(v));
	}
	return o;
}

static int network_create(struct client *c, struct args *a, struct cella_error *err)
{
	json_t *cfg = pairs_object(a, 1, err), *req;

	if (!cfg)
		return -1;
	req = json_pack("{s:s, s:s, s:o}", "name", a->pos[0], "type", "bridge", "config", cfg);
	if (a->description)
		json_object_set_new(req, "description", json_string(a->description));
	if (api_run(c, "POST", "/1.0/networks", req, err) < 0)
		return -1;
	progress(c, "Network %s created", a->pos[0]);
	return 0;
}

static int network_set(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("networks", a->pos[0], NULL);
	json_t *cfg = pairs_object(a, 1, err), *req;

	if (!cfg)
		return -1;
	req = json_pack("{s:o}", "config", cfg);
	return api_run(c, "PATCH", path, req, err);
}

/* Read, drop the keys, write back whole (a PATCH cannot remove a key). */
static int network_unset(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = api_path("networks", a->pos[0], NULL);
	json_t *n = api_get(c, path, err), *cfg, *req;

	if (!n)
		return -1;
	cfg = json_object_get(n, "config");
	for (int i = 1; i < a->npos; i++)
		if (json_object_del(cfg, a->pos[i]) < 0) {
			json_decref(n);
			return cella_error_set(err, 0, "`%s` is not set", a->pos[i]);
		}
	req = json_pack("{s:O, s:O}", "description", json_object_get(n, "description"), "config", cfg);
	json_decref(n);
	return api_run(c, "PUT", path, req, err);
}

static int network_delete(struct client *c, struct args *a, struct cella_error *err)
{
	return api_delete_each(c, "networks", a->pos, a->npos, err);
}

/* ---- forwards ---- */

static char *forward_path(const char *net, const char *addr)
{
	cleanup_free char *sfx = xasprintf("/forwards/%s", addr ? addr : "");
	return api_path("networks", net, addr ? sfx : "/forwards");
}

static void forward_row(json_t *f, char **cells)
{
	json_t *ports = json_object_get(f, "ports"), *p;
	size_t i, len = 0;
	char buf[1024] = "";

	json_array_foreach(ports, i, p) {
		if (len >= sizeof(buf) - 1)
			break;
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s/%s -> %s:%s",
					i ? ", " : "", json_string_value(json_object_get(p, "protocol")) ?: "",
					json_string_value(json_object_get(p, "listen_port")) ?: "",
					json_string_value(json_object_get(p, "target_address")) ?: "",
					json_string_value(json_object_get(p, "target_port")) ?: "");
	}
	cells[0] = xstrdup(json_string_value(json_object_get(f, "listen_address")) ?: "");
	cells[1] = xstrdup(json_string_value(json_object_get(f, "description")) ?: "");
	cells[2] = xstrdup(buf);
}

static int forward_list(struct client *c, struct args *a, struct cella_error *err)
{
	static const char *headers[] = { "LISTEN ADDRESS", "DESCRIPTION", "PORTS" };
	cleanup_free char *base = forward_path(a->pos[0], NULL);
	cleanup_free char *path = xasprintf("%s?recursion=1", base);
	return list_show(c, a->format, path, headers, ARRAY_SIZE(headers), NULL, forward_row, err);
}

static int forward_show(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = forward_path(a->pos[0], a->pos[1]);
	json_t *f = api_get(c, path, err);
	enum format fmt;

	if (!f)
		return -1;
	if (format_parse(a->format ? a->format : "yaml", &fmt, err) < 0) {
		json_decref(f);
		return -1;
	}
	value_print(stdout, f, fmt);
	json_decref(f);
	return 0;
}

static int forward_create(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = forward_path(a->pos[0], NULL);
	json_t *req = json_pack("{s:s, s:[]}", "listen_address", a->pos[1], "ports");

	if (a->description)
		json_object_set_new(req, "description", json_string(a->description));
	if (api_run(c, "POST", path, req, err) < 0)
		return -1;
	progress(c, "Forward %s created", a->pos[1]);
	return 0;
}

static int forward_delete(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *path = forward_path(a->pos[0], a->pos[1]);
	return api_run(c, "DELETE", path, NULL, err);
}

/* port add NET ADDR PROTO LISTEN_PORT TARGET [TARGET_PORT] / port remove NET ADDR PROTO LISTEN_PORT */
static int forward_port_change(struct client *c, struct args *a, bool add, struct cella_error *err)
{
	cleanup_free char *path = forward_path(a->pos[0], a->pos[1]);
	json_t *f = api_get(c, path, err), *ports, *p;
	size_t i;
	bool found = false;

	if (!f)
		return -1;
	ports = json_object_get(f, "ports");
	json_array_foreach(ports, i, p) {
		if (!strcmp(json_string_value(json_object_get(p, "protocol")) ?: "", a->pos[2]) &&
		    !strcmp(json_string_value(json_object_get(p, "listen_port")) ?: "", a->pos[3])) {
			found = true;
			break;
		}
	}
	if (add && found) {
		json_decref(f);
		return cella_error_set(err, 0, "%s port %s of %s is forwarded already", a->pos[2], a->pos[3], a->pos[1]);
	}
	if (!add && !found) {
		json_decref(f);
		return cella_error_set(err, 0, "%s port %s of %s is not forwarded", a->pos[2], a->pos[3], a->pos[1]);
	}
	if (add)
		json_array_append_new(ports, json_pack("{s:s, s:s, s:s, s:s}", "protocol", a->pos[2], "listen_port",
						       a->pos[3], "target_address", a->pos[4], "target_port",
						       a->npos > 5 ? a->pos[5] : a->pos[3]));
	else
		json_array_remove(ports, i);
	json_t *req = json_pack("{s:O, s:O}", "description", json_object_get(f, "description"), "ports", ports);
	json_decref(f);
	return api_run(c, "PUT", path, req, err);
}

static int forward_port_add(struct client *c, struct args *a, struct cella_error *err)
{
	return forward_port_change(c, a, true, err);
}

static int forward_port_remove(struct client *c, struct args *a, struct cella_error *err)
{
	return forward_port_change(c, a, false, err);
}

static const struct subcommand port_subs[] = {
	{ "add", forward_port_add, 5, 6, "NETWORK LISTEN_ADDRESS PROTOCOL LISTEN_PORT TARGET_ADDRESS [TARGET_PORT]",
	  "forward a port" },
	{ "remove", forward_port_remove, 4, 4, "NETWORK LISTEN_ADDRESS PROTOCOL LISTEN_PORT", "stop forwarding a port" },
};

static int forward_port(struct client *c, struct args *a, struct cella_error *err)
{
	return subcommand_run("network forward port", port_subs, ARRAY_SIZE(port_subs), c, a, err);
}

static const struct subcommand forward_subs[] = {
	{ "list", forward_list, 1, 1, "NETWORK [-f FORMAT]", "list a network's forwards" },
	{ "show", forward_show, 2, 2, "NETWORK LISTEN_ADDRESS", "show a forward" },
	{ "create", forward_create, 2, 2, "NETWORK LISTEN_ADDRESS", "create a forward of a listen address" },
	{ "delete", forward_delete, 2, 2, "NETWORK LISTEN_ADDRESS", "delete a forward and its ports" },
	{ "port", forward_port, 1, -1, "add|remove ...", "the ports of a forward" },
};

static int network_forward(struct client *c, struct args *a, struct cella_error *err)
{
	return subcommand_run("network forward", forward_subs, ARRAY_SIZE(forward_subs), c, a, err);
}

static const struct subcommand subs[] = {
	{ "list", network_list, 0, 0, "[-f FORMAT]", "list networks" },
	{ "forward", network_forward, 1, -1, "list|show|create|delete|port ...", "port forwards of a network" },
	{ "show", network_show, 1, 1, "NETWORK", "show a network's configuration" },
	{ "info", network_info, 1, 1, "NETWORK", "show a network's bridge: addresses, MTU, counters" },
	{ "create", network_create, 1, -1, "NETWORK [KEY=VALUE...]", "create a bridge network" },
	{ "set", network_set, 2, -1, "NETWORK KEY=VALUE...", "set config keys" },
	{ "unset", network_unset, 2, -1, "NETWORK KEY...", "remove config keys" },
	{ "delete", network_delete, 1, -1, "NETWORK...", "delete networks" },
};

int cmd_network(struct client *c, struct args *a, struct cella_error *err)
{
	return subcommand_run("network", subs, ARRAY_SIZE(subs), c, a, err);
}
