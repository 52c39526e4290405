/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The HTTP front: libmicrohttpd on our unix socket, the route table, the
 * Incus-shaped envelopes (sync, async, error), caller identity.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cellad.h"

extern const struct route network_routes[]; /* networks.c */

#define MAX_JSON_BODY (8u << 20)

/* Every route table, in one explicit list. */
static const struct route *const route_tables[] = {
	server_routes, operation_routes, event_routes, instance_routes,
	exec_routes, image_routes, profile_routes, metrics_routes,
	network_routes,
};

/* ---------------------------------------------------------------- replies */

static struct reply *reply_new(unsigned int status)
{
	struct reply *r = xmalloc0(sizeof(*r));
	r->status = status;
	r->fd = -1;
	r->content_type = "application/json";
	return r;
}

static struct reply *reply_json(unsigned int status, json_t *doc)
{
	struct reply *r = reply_new(status);
	r->body = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!r->body)
		abort();
	r->body_len = strlen(r->body);
	return r;
}

struct reply *reply_sync(json_t *metadata)
{
	json_t *doc = json_pack("{s:s, s:s, s:i, s:s, s:i, s:s, s:o}", "type", "sync", "status", "Success",
				"status_code", 200, "operation", "", "error_code", 0, "error", "",
				"metadata", metadata ? metadata : json_null());
	return reply_json(200, doc);
}

struct reply *reply_async(const char *op_id, json_t *op)
{
	cleanup_free char *url = xasprintf("/1.0/operations/%s", op_id);
	json_t *doc = json_pack("{s:s, s:s, s:i, s:s, s:i, s:s, s:o}", "type", "async", "status",
				"Operation created", "status_code", 100, "operation", url, "error_code", 0,
				"error", "", "metadata", op);
	struct reply *r = reply_json(202, doc);
	reply_add_header(r, "Location", url);
	return r;
}

static struct reply *reply_errorv(int status, const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* one line: the client shows it as is */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	json_t *doc = json_pack("{s:s, s:s, s:i, s:s, s:i, s:s, s:n}", "type", "error", "status", "",
				"status_code", 0, "operation", "", "error_code", status, "error", msg,
				"metadata");
	return reply_json((unsigned int)status, doc);
}

struct reply *reply_error(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct reply *r = reply_errorv(status, fmt, ap);
	va_end(ap);
	return r;
}

struct reply *reply_cella_error(const struct cella_error *err)
{
	int status = cella_error_http_status(err->code);
	if (status >= 500 && status != 501)
		log_error("%s", err->msg);
	else
		log_debug("%d: %s", status, err->msg);
	return reply_error(status, "%s", err->msg);
}

struct reply *reply_text(unsigned int status, const char *content_type, char *text)
{
	struct reply *r = reply_new(status);
	r->content_type = content_type;
	r->body = text;
	r->body_len = strlen(text);
	return r;
}

void reply_add_header(struct reply *r, const char *name, const char *value)
{
	if (r->n_headers >= ARRAY_SIZE(r->headers))
		return;
	r->headers[r->n_headers][0] = xstrdup(name);
	r->headers[r->n_headers][1] = xstrdup(value);
	r->n_headers++;
}

void reply_free(struct reply *r)
{
	if (!r)
		return;
	free(r->body);
	if (r->fd >= 0)
		close(r->fd);
	for (size_t i = 0; i < r->n_headers; i++) {
		free(r->headers[i][0]);
		free(r->headers[i][1]);
	}
	if (r->upgrade)
		MHD_destroy_response(r->upgrade);
	free(r);
}

/* ---------------------------------------------------------------- names */

/*
 * Names in paths become database keys, directory names and cgroup names in
 * the library: refuse anything but a DNS label before any library call, so
 * that `..`, `/`, NUL or control bytes never reach it.
 */
bool name_is_dns_label(const char *s)
{
	size_t n = strlen(s);
	bool digits_only = true;
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && c != '-')
			return false;
		if (!(c >= '0' && c <= '9'))
			digits_only = false;
	}
	return !digits_only;
}

/* Fingerprints (hex) and aliases ([A-Za-z0-9._:-], not starting with a dot). */
bool image_ref_is_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '-' || c == '_' || c == '.' || c == ':';
		if (!ok)
			return false;
	}
	return true;
}

/* Log file names: [A-Za-z0-9._-], not starting with a dot. */
static bool file_name_is_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 255 || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '-' || c == '_' || c == '.';
		if (!ok)
			return false;
	}
	return true;
}

static bool uuid_is_valid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return false;
		}
	}
	return true;
}

/* One validation rule per kind of path parameter. */
static const struct {
	const char *param;
	bool (*valid)(const char *s);
	int status;              /* when invalid */
	const char *what;
} param_rules[] = {
	{ "name", name_is_dns_label, 400, "instance or profile name (a DNS label of 1-63 characters)" },
	{ "snap", name_is_dns_label, 400, "snapshot name (a DNS label of 1-63 characters)" },
	{ "fingerprint", image_ref_is_valid, 400, "image fingerprint or alias" },
	{ "alias", image_ref_is_valid, 400, "image alias" },
	{ "file", file_name_is_valid, 400, "log file name" },
	{ "id", uuid_is_valid, 404, "operation id" },
};

/* ---------------------------------------------------------------- URL handling */

/* We decode path segments and query values ourselves: MHD would decode
 * `..%2Fx` into two segments before we could refuse it as one name. */
static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode; NULL if the result would hold a NUL byte or the escape is broken. */
static char *percent_decode(const char *s, size_t n, bool plus_is_space)
{
	char *out = xmalloc0(n + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n)
				goto bad;
			int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				goto bad;
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '+' && plus_is_space) {
			*o++ = ' ';
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

const char *req_param(struct request *req, const char *name)
{
	for (size_t i = 0; i < req->n_params; i++)
		if (strcmp(req->param_names[i], name) == 0)
			return req->params[i];
	return NULL;
}

const char *req_query(struct request *req, const char *key, char *buf, size_t len)
{
	const char *v = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
	if (!v)
		return NULL;
	cleanup_free char *d = percent_decode(v, strlen(v), true);
	if (!d || strlen(d) >= len)
		return NULL;
	memcpy(buf, d, strlen(d) + 1);
	return buf;
}

const char *req_header(struct request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

bool req_query_bool(struct request *req, const char *key)
{
	char buf[16];
	const char *v = req_query(req, key, buf, sizeof(buf));
	return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || !*v);
}

int req_recursion(struct request *req)
{
	char buf[16];
	const char *v = req_query(req, "recursion", buf, sizeof(buf));
	return v ? atoi(v) : 0;
}

/*
 * Match `url` against the route table. Literal segments win over
 * parameters (`/1.0/images/aliases` is not an image called "aliases").
 * Returns the best route for the method; *path_matched tells a 405 from a 404.
 */
static const struct route *route_match(const char *method, char **segs, size_t n_segs, bool *path_matched)
{
	const struct route *best = NULL;
	int best_score = -1;
	*path_matched = false;
	for (size_t t = 0; t < ARRAY_SIZE(route_tables); t++) {
		for (const struct route *r = route_tables[t]; r->path; r++) {
			const char *p = r->path + 1;
			size_t i = 0;
			int score = 0;
			bool ok = true;
			while (ok && *p) {
				const char *end = strchrnul(p, '/');
				size_t len = (size_t)(end - p);
				if (i >= n_segs)
					ok = false;
				else if (p[0] == '{')
					;
				else if (strlen(segs[i]) == len && strncmp(p, segs[i], len) == 0)
					score++;
				else
					ok = false;
				i++;
				p = *end ? end + 1 : end;
			}
			if (!ok || i != n_segs)
				continue;
			*path_matched = true;
			if (strcmp(r->method, method) == 0 && score > best_score) {
				best = r;
				best_score = score;
			}
		}
	}
	return best;
}

/* Fill req->params from the route; a reply if a parameter is invalid. */
static struct reply *route_params(struct request *req, char **segs)
{
	const char *p = req->route->path + 1;
	size_t i = 0;
	while (*p) {
		const char *end = strchrnul(p, '/');
		if (p[0] == '{' && req->n_params < ARRAY_SIZE(req->params)) {
			char *pname = strndup(p + 1, (size_t)(end - p) - 2);
			req->param_names[req->n_params] = pname;
			req->params[req->n_params] = xstrdup(segs[i]);
			req->n_params++;
			for (size_t k = 0; k < ARRAY_SIZE(param_rules); k++) {
				if (strcmp(param_rules[k].param, pname) != 0)
					continue;
				if (!param_rules[k].valid(segs[i]))
					return reply_error(param_rules[k].status, "invalid %s `%s`", param_rules[k].what,
							   segs[i]);
			}
		}
		i++;
		p = *end ? end + 1 : end;
	}
	return NULL;
}

static void request_free(struct request *req)
{
	if (!req)
		return;
	for (size_t i = 0; i < req->n_params; i++) {
		free(req->param_names[i]);
		free(req->params[i]);
	}
	free(req->body);
	if (req->body_fd >= 0)
		close(req->body_fd);
	json_decref(req->json);
	reply_free(req->early);
	free(req);
}

/* ---------------------------------------------------------------- identity */

/*
 * Who is calling, from the kernel (SO_PEERCRED, SO_PEERGROUPS), never from
 * the request: root and members of the cella group may use the API.  The
 * socket's mode already keeps others out; this is the second fence should
 * its mode or its directory be loosened.
 */
static bool caller_allowed(struct request *req)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return false;
	int fd = ci->connect_fd;
	struct ucred uc;
	socklen_t len = sizeof(uc);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return false;
	req->uid = uc.uid;
	req->pid = uc.pid;
	if (uc.uid == 0)
		return true;
	if (g_daemon.group == (gid_t)-1)
		return false;
	if (uc.gid == g_daemon.group)
		return true;
	gid_t groups[256];
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == g_daemon.group)
			return true;
	return false;
}

/* ---------------------------------------------------------------- MHD glue */

static enum MHD_Result queue_reply(struct MHD_Connection *conn, struct reply *r)
{
	struct MHD_Response *resp;
	if (r->upgrade) {
		resp = r->upgrade;
		r->upgrade = NULL;
	} else if (r->fd >= 0) {
		resp = MHD_create_response_from_fd(r->body_len, r->fd);
		r->fd = -1;
	} else {
		resp = MHD_create_response_from_buffer(r->body_len, r->body ? r->body : (char *)"",
						       r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
		r->body = NULL;
	}
	if (!resp) {
		reply_free(r);
		return MHD_NO;
	}
	if (r->status != 101)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	for (size_t i = 0; i < r->n_headers; i++)
		MHD_add_response_header(resp, r->headers[i][0], r->headers[i][1]);
	enum MHD_Result ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	reply_free(r);
	return ret;
}

static char **split_path(const char *url, size_t *n, bool *bad)
{
	char **segs = NULL;
	*n = 0;
	*bad = false;
	const char *p = url;
	if (*p == '/')
		p++;
	while (*p) {
		const char *end = strchrnul(p, '/');
		char *seg = percent_decode(p, (size_t)(end - p), false);
		if (!seg) {
			*bad = true;
			seg = xstrdup("");
		}
		segs = realloc(segs, sizeof(char *) * (*n + 2));
		if (!segs)
			abort();
		segs[(*n)++] = seg;
		segs[*n] = NULL;
		p = *end ? end + 1 : end;
	}
	/* a trailing slash is the same resource */
	return segs;
}

static struct request *request_begin(struct MHD_Connection *conn, const char *url, const char *method)
{
	struct request *req = xmalloc0(sizeof(*req));
	req->conn = conn;
	req->method = method;
	req->body_fd = -1;

	if (!caller_allowed(req)) {
		req->early = reply_error(403, "permission denied: only root and members of the cella group may use the API");
		log_info("refused uid %u (pid %d)", req->uid, req->pid);
		return req;
	}
	size_t n = 0;
	bool bad = false;
	cleanup_strv char **segs = split_path(url, &n, &bad);
	if (bad) {
		req->early = reply_error(400, "malformed URL `%s`", url);
		return req;
	}
	bool path_matched;
	const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
	req->route = route_match(m, segs ? segs : (char *[]){ NULL }, n, &path_matched);
	if (!req->route) {
		req->early = path_matched ? reply_error(405, "method %s not allowed on `%s`", method, url)
					  : reply_error(404, "not found: `%s`", url);
		return req;
	}
	req->early = route_params(req, segs);
	if (req->early)
		return req;
	if (req->route->body == ROUTE_BODY_RAW) {
		req->body_fd = memfd_create("cellad-body", MFD_CLOEXEC);
		if (req->body_fd < 0)
			req->early = reply_error(500, "memfd_create: %s", strerror(errno));
	}
	return req;
}

static void body_append(struct request *req, const char *data, size_t len)
{
	if (req->early)
		return;
	if (req->route->body == ROUTE_BODY_RAW) {
		if (write_all(req->body_fd, data, len) < 0)
			req->early = reply_error(507, "request body: %s", strerror(errno));
		return;
	}
	if (req->route->body == ROUTE_BODY_NONE) {
		req->body_len += len;  /* ignored, but a JSON body on GET is not an error */
		return;
	}
	if (req->body_len + len > MAX_JSON_BODY) {
		req->early = reply_error(413, "request body larger than %u bytes", MAX_JSON_BODY);
		return;
	}
	if (req->body_len + len + 1 > req->body_cap) {
		req->body_cap = (req->body_len + len + 1) * 2;
		req->body = realloc(req->body, req->body_cap);
		if (!req->body)
			abort();
	}
	memcpy(req->body + req->body_len, data, len);
	req->body_len += len;
	req->body[req->body_len] = '\0';
}

/* Parse and check a JSON body: an object whose top-level fields the route knows. */
static struct reply *body_parse(struct request *req)
{
	if (req->route->body == ROUTE_BODY_RAW) {
		if (lseek(req->body_fd, 0, SEEK_SET) < 0)
			return reply_error(500, "request body: %s", strerror(errno));
		return NULL;
	}
	if (req->route->body != ROUTE_BODY_JSON || req->body_len == 0)
		return NULL;
	json_error_t jerr;
	req->json = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req->json)
		return reply_error(400, "malformed JSON body: %s (line %d, column %d)", jerr.text, jerr.line,
				   jerr.column);
	if (!json_is_object(req->json))
		return reply_error(400, "request body must be a JSON object");
	const char *key;
	json_t *v;
	json_object_foreach(req->json, key, v) {
		bool known = false;
		for (const char *const *f = req->route->fields; f && *f && !known; f++)
			known = strcmp(*f, key) == 0;
		if (!known)
			return reply_error(400, "unknown field `%s` in request body", key);
	}
	return NULL;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version, const char *upload_data,
				      size_t *upload_data_size, void **con_cls)
{
	(void)cls;
	(void)version;
	struct request *req = *con_cls;
	if (!req) {
		*con_cls = request_begin(conn, url, method);
		return MHD_YES;
	}
	if (*upload_data_size) {
		body_append(req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	struct reply *r = req->early;
	req->early = NULL;
	if (!r)
		r = body_parse(req);
	if (!r) {
		log_debug("%s %s (uid %u)", method, url, req->uid);
		r = req->route->fn(req);
	}
	if (!r)
		r = reply_error(500, "internal error: no reply");
	return queue_reply(conn, r);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	request_free(*con_cls);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_debug("microhttpd: %s", buf);
}

struct MHD_Daemon *server_start(int listen_fd, struct cella_error *err)
{
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_UPGRADE |
			MHD_USE_ERROR_LOG,
		0, NULL, NULL, access_handler, NULL,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_LISTEN_SOCKET, listen_fd,
		MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
		MHD_OPTION_END);
	if (!d)
		cella_error_set(err, errno ? errno : EIO, "start the HTTP server");
	return d;
}

void server_list_routes(FILE *out)
{
	for (size_t t = 0; t < ARRAY_SIZE(route_tables); t++)
		for (const struct route *r = route_tables[t]; r->path; r++)
			fprintf(out, "%s %s\n", r->method, r->path);
}

/* ---------------------------------------------------------------- GET /1.0 */

static struct reply *server_get(struct request *req)
{
	(void)req;
	struct utsname u;
	uname(&u);
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	json_t *env = json_pack("{s:s, s:[s], s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s}",
				"server", "cella", "addresses", "unix", "server_name", host, "server_version",
				CELLA_VERSION, "kernel", u.sysname, "kernel_version", u.release,
				"kernel_architecture", u.machine, "driver", "vps", "driver_version", CELLA_VERSION,
				"storage", "dir", "server_pid", (int)getpid(), "firewall", "none",
				"os_name", "Linux");
	json_object_set_new(env, "architectures", json_pack("[s]", u.machine));
	json_t *info = json_pack("{s:[], s:s, s:s, s:s, s:b, s:[s], s:o, s:{}}", "api_extensions", "api_status",
				 "stable", "api_version", "1.0", "auth", "trusted", "public", 0, "auth_methods",
				 "unix", "environment", env, "config");
	return reply_sync(info);
}

const struct route server_routes[] = {
	{ "GET", "/1.0", server_get, 0, NULL, "Server information" },
	{ 0 },
};
