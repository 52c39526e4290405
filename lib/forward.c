/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Network forwards (Incus-shaped): a listen address of the host whose ports
 * are forwarded (DNAT) to addresses on a managed network, reachable from
 * outside, from the host and from instances of the network (hairpin).
 *
 * The row (table network_forwards) is the truth; its ports become one
 * nftables port forward each (lib/nft.c), named "f<row id>-<proto><port>".
 * A change is checked whole first, then applied in a database transaction
 * that is rolled back, with the rules it added removed and the old ones put
 * back, if any rule is refused (a listen port another forward holds).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cella/manager.h>

#include "host.h"
#include "netlink.h"
#include "network.h"
#include "nft.h"

struct fwd_port {
	char proto[4];
	unsigned listen_port, target_port;
	char target[INET6_ADDRSTRLEN];
	char description[256];
};

struct fwd {
	long long id;
	char listen[INET6_ADDRSTRLEN];
	char description[256];
	struct fwd_port *ports;
	size_t n;
};

static void fwd_release(struct fwd *f)
{
	free(f->ports);
	f->ports = NULL;
	f->n = 0;
}
#define cleanup_fwd __attribute__((cleanup(fwd_release)))

static int fields_only(const json_t *o, const char *const *allowed, size_t n, const char *what, struct cella_error *err)
{
	const char *k;
	json_t *v;
	if (!json_is_object(o))
		return cella_error_set(err, EINVAL, "%s: not an object", what);
	json_object_foreach((json_t *)o, k, v) {
		size_t i;
		for (i = 0; i < n && strcmp(k, allowed[i]); i++)
			;
		if (i == n)
			return cella_error_set(err, EINVAL, "%s: unknown field `%s`", what, k);
	}
	return 0;
}

/* "8080" or 8080: 1..65535 */
static int port_get(const json_t *v, unsigned *out)
{
	long long p = -1;
	if (json_is_integer(v)) {
		p = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		if (*s < '0' || *s > '9')
			return -1;
		p = strtoll(s, &end, 10);
		if (*end)
			return -1;
	}
	if (p < 1 || p > 65535)
		return -1;
	*out = (unsigned)p;
	return 0;
}

static int text_get(const json_t *o, const char *key, char *out, size_t len, const char *what, struct cella_error *err)
{
	json_t *v = json_object_get(o, key);
	if (!v) {
		out[0] = '\0';
		return 0;
	}
	if (!json_is_string(v) || strlen(json_string_value(v)) >= len)
		return cella_error_set(err, EINVAL, "%s: `%s` must be a string of at most %zu bytes", what, key, len - 1);
	snprintf(out, len, "%s", json_string_value(v));
	return 0;
}

/* A forward's body checked against its network, into `f` (listen address from `listen`). */
static int fwd_parse(struct cella_host *h, const char *network, const char *listen, const json_t *body, bool stored,
		     struct fwd *f, struct cella_error *err)
{
	static const char *const top[] = { "listen_address", "description", "ports", "config", "location" };
	static const char *const pf[] = { "protocol", "listen_port", "target_address", "target_port", "description" };
	if (fields_only(body, top, ARRAY_SIZE(top), "forward", err) < 0)
		return -1;
	struct nl_ip lip;
	struct cella_error ignored;
	if (!listen || nl_ip_parse(listen, &lip, &ignored) < 0)
		return cella_error_set(err, EINVAL, "forward: listen_address `%s`: not an IP address", listen ? listen : "");
	if ((lip.family == AF_INET && lip.bytes[0] == 127) ||
	    (lip.family == AF_INET6 && !memcmp(lip.bytes, (uint8_t[16]){ [15] = 1 }, 16)))
		return cella_error_set(err, EINVAL, "forward: listen_address %s: a loopback address cannot be forwarded",
				       listen);
	inet_ntop(lip.family, lip.bytes, f->listen, sizeof(f->listen));
	if (text_get(body, "description", f->description, sizeof(f->description), "forward", err) < 0)
		return -1;
	struct network_info ni = { 0 };
	if (!stored && network_info(h, network, &ni, err) < 0)
		return -1;
	const json_t *ports = json_object_get(body, "ports");
	if (ports && !json_is_array(ports))
		return cella_error_set(err, EINVAL, "forward: ports: not a list");
	f->n = 0;
	f->ports = calloc(json_array_size(ports) + 1, sizeof(*f->ports));
	size_t i;
	json_t *p;
	json_array_foreach(ports, i, p) {
		char what[48];
		snprintf(what, sizeof(what), "forward: ports[%zu]", i);
		struct fwd_port *fp = &f->ports[f->n];
		if (fields_only(p, pf, ARRAY_SIZE(pf), what, err) < 0 ||
		    text_get(p, "protocol", fp->proto, sizeof(fp->proto), what, err) < 0 ||
		    text_get(p, "description", fp->description, sizeof(fp->description), what, err) < 0)
			return -1;
		if (strcmp(fp->proto, "tcp") && strcmp(fp->proto, "udp"))
			return cella_error_set(err, EINVAL, "%s: protocol `%s`: tcp or udp", what, fp->proto);
		if (port_get(json_object_get(p, "listen_port"), &fp->listen_port) < 0)
			return cella_error_set(err, EINVAL, "%s: listen_port: a port number 1-65535", what);
		fp->target_port = fp->listen_port;
		if (json_object_get(p, "target_port") && port_get(json_object_get(p, "target_port"), &fp->target_port) < 0)
			return cella_error_set(err, EINVAL, "%s: target_port: a port number 1-65535", what);
		const char *t = json_string_value(json_object_get(p, "target_address"));
		struct nl_ip tip;
		if (!t || nl_ip_parse(t, &tip, &ignored) < 0)
			return cella_error_set(err, EINVAL, "%s: target_address `%s`: not an IP address", what, t ? t : "");
		if (tip.family != lip.family)
			return cella_error_set(err, EINVAL, "%s: target_address %s is not of the listen address's family",
					       what, t);
		struct nl_prefix net = tip.family == AF_INET ? ni.addr4 : ni.addr6;
		struct nl_prefix tp = { .ip = tip, .len = net.len };
		prefix_mask(&net);
		prefix_mask(&tp);
		/* (a stored forward stays what it was if the network's subnet changed since) */
		if (!stored && (!(tip.family == AF_INET ? ni.has4 : ni.has6) || memcmp(net.ip.bytes, tp.ip.bytes, 16)))
			return cella_error_set(err, EINVAL, "%s: target_address %s is not on network `%s`", what, t, network);
		inet_ntop(tip.family, tip.bytes, fp->target, sizeof(fp->target));
		for (size_t j = 0; j < f->n; j++)
			if (!strcmp(f->ports[j].proto, fp->proto) && f->ports[j].listen_port == fp->listen_port)
				return cella_error_set(err, EEXIST, "%s: %s port %u is forwarded twice", what, fp->proto,
						       fp->listen_port);
		f->n++;
	}
	return 0;
}

static json_t *fwd_json(const char *network, const struct fwd *f)
{
	json_t *ports = json_array();
	for (size_t i = 0; i < f->n; i++) {
		const struct fwd_port *p = &f->ports[i];
		json_array_append_new(ports, json_pack("{s:s, s:o, s:s, s:o, s:s}", "protocol", p->proto, "listen_port",
						       json_sprintf("%u", p->listen_port), "target_address", p->target,
						       "target_port", json_sprintf("%u", p->target_port), "description",
						       p->description));
	}
	return json_pack("{s:s, s:s, s:s, s:o, s:{}}", "listen_address", f->listen, "network", network, "description",
			 f->description, "ports", ports, "config");
}

static void rule_name(const struct fwd *f, const struct fwd_port *p, char *buf, size_t len)
{
	snprintf(buf, len, "f%llx-%s%u", f->id, p->proto, p->listen_port);
}

/* Remove the rules of forward `f`: every one its id names ("f<id>-"), so
 * that what an older version of it left goes too. */
static void rules_remove(struct nft_session *s, const struct fwd *f)
{
	struct cella_error ignored;
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "f%llx-", f->id);
	nft_portfwd_remove_prefix(s, prefix, &ignored);
}

static int rules_add(struct nft_session *s, const struct fwd *f, struct cella_error *err)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct fwd_port *p = &f->ports[i];
		char name[40];
		rule_name(f, p, name, sizeof(name));
		struct nft_portfwd pf = {
			.name = name, .proto = p->proto, .listen = f->listen, .listen_port = p->listen_port,
			.target = p->target, .target_port = p->target_port,
		};
		if (nft_portfwd_add(s, &pf, err) < 0) {
			rules_remove(s, f);
			return cella_error_wrap(err, "forward %s %s port %u", f->listen, p->proto, p->listen_port);
		}
	}
	return 0;
}

/* The stored forward of `network` at `listen` into `f`; ENOENT when none. */
static int fwd_load(struct cella_host *h, const char *network, const char *listen, struct fwd *f,
		    struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st = db_prepare(
		host_db(h),
		"SELECT f.id, f.listen_address, f.description, f.ports FROM network_forwards f "
		"JOIN networks n ON n.id = f.network_id WHERE n.name = ? AND f.listen_address = ?",
		err);
	if (!st)
		return -1;
	struct nl_ip ip;
	struct cella_error ignored;
	char canon[INET6_ADDRSTRLEN] = "";
	if (listen && nl_ip_parse(listen, &ip, &ignored) == 0)
		inet_ntop(ip.family, ip.bytes, canon, sizeof(canon));
	sqlite3_bind_text(st, 1, network, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, canon, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		return cella_error_set(err, ENOENT, "network `%s` has no forward of %s", network, listen ? listen : "");
	json_error_t jerr;
	json_t *body = json_pack("{s:s, s:o}", "description", sqlite3_column_text(st, 2), "ports",
				 json_loads((const char *)sqlite3_column_text(st, 3), 0, &jerr));
	/* stored rows were checked when written: parse without the network's checks failing them */
	int r = fwd_parse(h, network, (const char *)sqlite3_column_text(st, 1), body, true, f, err);
	json_decref(body);
	f->id = sqlite3_column_int64(st, 0);
	return r;
}

static char *ports_text(const struct fwd *f)
{
	json_t *j = fwd_json("", f);
	char *text = json_dumps(json_object_get(j, "ports"), JSON_COMPACT);
	json_decref(j);
	return text;
}

static long long network_id(struct cella_host *h, const char *name, struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT id FROM networks WHERE name = ?", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		return cella_error_set(err, ENOENT, "network `%s` not found", name);
	return sqlite3_column_int64(st, 0);
}

json_t *cella_network_forward_list(struct cella_host *h, const char *network, struct cella_error *err)
{
	if (network_id(h, network, err) < 0)
		return NULL;
	cleanup_stmt sqlite3_stmt *st = db_prepare(
		host_db(h),
		"SELECT f.listen_address FROM network_forwards f JOIN networks n ON n.id = f.network_id "
		"WHERE n.name = ? ORDER BY f.listen_address",
		err);
	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, network, -1, SQLITE_STATIC);
	json_t *out = json_array();
	while (sqlite3_step(st) == SQLITE_ROW) {
		cleanup_fwd struct fwd f = { 0 };
		struct cella_error ignored;
		if (fwd_load(h, network, (const char *)sqlite3_column_text(st, 0), &f, &ignored) == 0)
			json_array_append_new(out, fwd_json(network, &f));
	}
	return out;
}

json_t *cella_network_forward_get(struct cella_host *h, const char *network, const char *listen,
				  struct cella_error *err)
{
	cleanup_fwd struct fwd f = { 0 };
	if (network_id(h, network, err) < 0 || fwd_load(h, network, listen, &f, err) < 0)
		return NULL;
	return fwd_json(network, &f);
}

/* Under the network lock, in a transaction: the row written by `sql`, then the rules; all or nothing. */
static int fwd_commit(struct cella_host *h, struct fwd *now, const struct fwd *before, bool delete,
		      struct cella_error *err)
{
	struct nft_session *s = networks_disabled() ? NULL : nft_shared(err);
	if ((!networks_disabled() && !s) || (s && nft_table_ensure(s, err) < 0)) {
		db_rollback(host_db(h));
		return -1;
	}
	if (s && before)
		rules_remove(s, before);
	int r = 0;
	if (s && !delete)
		r = rules_add(s, now, err);
	if (r < 0 && s && before) {
		struct cella_error ignored;
		rules_add(s, before, &ignored);
	}
	if (r == 0 && db_commit(host_db(h), err) < 0) {
		r = -1;
		if (s && !delete)
			rules_remove(s, now);
		if (s && before) {
			struct cella_error ignored;
			rules_add(s, before, &ignored);
		}
	}
	if (s)
		nft_close(s);
	if (r < 0)
		db_rollback(host_db(h));
	return r;
}

int cella_network_forward_create(struct cella_host *h, const char *network, const json_t *req,
				 struct cella_error *err)
{
	cleanup_close int lock = network_lock(h, err);
	if (lock < 0)
		return -1;
	long long nid = network_id(h, network, err);
	if (nid < 0)
		return -1;
	cleanup_fwd struct fwd f = { 0 };
	if (fwd_parse(h, network, json_string_value(json_object_get(req, "listen_address")), req, false, &f, err) < 0)
		return -1;
	cleanup_stmt sqlite3_stmt *dup = db_prepare(
		host_db(h),
		"SELECT n.name FROM network_forwards f JOIN networks n ON n.id = f.network_id WHERE f.listen_address = ?",
		err);
	if (!dup)
		return -1;
	sqlite3_bind_text(dup, 1, f.listen, -1, SQLITE_STATIC);
	if (sqlite3_step(dup) == SQLITE_ROW)
		return cella_error_set(err, EEXIST, "a forward of %s exists already (network `%s`)", f.listen,
				       sqlite3_column_text(dup, 0));
	if (db_begin(host_db(h), err) < 0)
		return -1;
	cleanup_free char *ports = ports_text(&f);
	cleanup_stmt sqlite3_stmt *st = db_prepare(
		host_db(h), "INSERT INTO network_forwards (network_id, listen_address, description, ports) VALUES (?, ?, ?, ?)",
		err);
	if (!st) {
		db_rollback(host_db(h));
		return -1;
	}
	sqlite3_bind_int64(st, 1, nid);
	sqlite3_bind_text(st, 2, f.listen, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, f.description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ports, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		db_error(host_db(h), err, "save the forward");
		db_rollback(host_db(h));
		return -1;
	}
	f.id = sqlite3_last_insert_rowid(host_db(h));
	return fwd_commit(h, &f, NULL, false, err);
}

int cella_network_forward_update(struct cella_host *h, const char *network, const char *listen, const json_t *req,
				 bool patch, struct cella_error *err)
{
	cleanup_close int lock = network_lock(h, err);
	if (lock < 0)
		return -1;
	cleanup_fwd struct fwd old = { 0 }, f = { 0 };
	if (network_id(h, network, err) < 0 || fwd_load(h, network, listen, &old, err) < 0)
		return -1;
	json_t *body = json_deep_copy(req);
	const char *la = json_string_value(json_object_get(body, "listen_address"));
	if (la && strcmp(la, old.listen)) {
		json_decref(body);
		return cella_error_set(err, EINVAL, "forward: the listen address cannot change (delete and create)");
	}
	if (patch) {
		json_t *cur = fwd_json(network, &old);
		json_object_del(cur, "network");
		json_object_update(cur, body);
		json_decref(body);
		body = cur;
	}
	json_object_del(body, "listen_address");
	json_object_del(body, "network");
	int r = fwd_parse(h, network, old.listen, body, false, &f, err);
	json_decref(body);
	if (r < 0)
		return -1;
	f.id = old.id;
	if (db_begin(host_db(h), err) < 0)
		return -1;
	cleanup_free char *ports = ports_text(&f);
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h),
						   "UPDATE network_forwards SET description = ?, ports = ? WHERE id = ?", err);
	if (!st) {
		db_rollback(host_db(h));
		return -1;
	}
	sqlite3_bind_text(st, 1, f.description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ports, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, f.id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		db_error(host_db(h), err, "save the forward");
		db_rollback(host_db(h));
		return -1;
	}
	return fwd_commit(h, &f, &old, false, err);
}

int cella_network_forward_delete(struct cella_host *h, const char *network, const char *listen,
				 struct cella_error *err)
{
	cleanup_close int lock = network_lock(h, err);
	if (lock < 0)
		return -1;
	cleanup_fwd struct fwd old = { 0 };
	if (network_id(h, network, err) < 0 || fwd_load(h, network, listen, &old, err) < 0)
		return -1;
	if (db_begin(host_db(h), err) < 0)
		return -1;
	if (db_run1(host_db(h), "DELETE FROM network_forwards WHERE id = ?", NULL, old.id, "delete the forward", err) < 0) {
		db_rollback(host_db(h));
		return -1;
	}
	return fwd_commit(h, &old, &old, true, err);
}

/* Every forward of `network` into (add) or out of (remove) the ruleset; the network lock is held. */
int forwards_apply(struct cella_host *h, const char *network, bool add, struct cella_error *err)
{
	if (networks_disabled())
		return 0;
	json_t *list = cella_network_forward_list(h, network, err);
	if (!list)
		return -1;
	struct nft_session *s = nft_shared(err);
	int r = s ? 0 : -1;
	size_t i;
	json_t *j;
	json_array_foreach(list, i, j) {
		cleanup_fwd struct fwd f = { 0 };
		if (r < 0 || fwd_load(h, network, json_string_value(json_object_get(j, "listen_address")), &f, err) < 0) {
			r = -1;
			break;
		}
		if (add)
			r = rules_add(s, &f, err);
		else
			rules_remove(s, &f);
	}
	if (s)
		nft_close(s);
	json_decref(list);
	return r;
}
