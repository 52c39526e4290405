/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An HTTP/1.1 client for cellad's unix socket: one request per connection
 * (Connection: close), the response read to EOF and parsed (Content-Length,
 * chunked or until EOF), then the API's sync/async/error envelopes.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "cella.h"
#include "util.h"

/* Bodies above this are refused: a confused peer must not eat the memory. */
#define MAX_RESPONSE (1024UL * 1024 * 1024)

static int socket_open(const char *path, struct cella_error *err)
{
	cleanup_close int fd = -1;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		return cella_error_set(err, ENAMETOOLONG, "socket path `%s`", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cella_error_set(err, errno, "socket");
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		return cella_error_set(err, errno, "connect to `%s`", path);
	}
	return steal_fd(&fd);
}

int client_connect(struct client *c, struct cella_error *err)
{
	int fd = socket_open(c->socket, err);

	if (fd >= 0 || (err->code != ENOENT && err->code != ECONNREFUSED))
		return fd;
	if (!c->autostart || c->started)
		return cella_error_set(err, 0, "cellad is not running (socket %s)", c->socket);
	c->started = true;
	if (daemon_autostart(c, err) < 0)
		return -1;
	cella_error_clear(err);
	return socket_open(c->socket, err);
}

void http_response_free(struct http_response *r)
{
	free(r->body);
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

const char *http_header_get(const struct http_response *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}

/* Next CRLF-terminated line in [*p, end); NULL when there is none. */
static const char *line_next(const char **p, const char *end, size_t *len)
{
	const char *s = *p;
	const char *nl = memchr(s, '\n', end - s);

	if (!nl)
		return NULL;
	*len = nl - s;
	if (*len && s[*len - 1] == '\r')
		(*len)--;
	*p = nl + 1;
	return s;
}

static int body_append(struct http_response *r, const char *data, size_t n, struct cella_error *err)
{
	char *b;

	if (r->len + n > MAX_RESPONSE)
		return cella_error_set(err, EFBIG, "response body too large");
	b = realloc(r->body, r->len + n + 1);
	if (!b)
		return cella_error_set(err, ENOMEM, "response body");
	memcpy(b + r->len, data, n);
	r->body = b;
	r->len += n;
	b[r->len] = 0;
	return 0;
}

int http_parse_response(const char *buf, size_t len, struct http_response *r, struct cella_error *err)
{
	const char *p = buf, *end = buf + len, *l;
	const char *cl, *te;
	size_t n;
	int major, minor, status, consumed = 0;

	memset(r, 0, sizeof(*r));
	l = line_next(&p, end, &n);
	if (!l || n < 12 || sscanf(l, "HTTP/%d.%d %3d%n", &major, &minor, &status, &consumed) != 3 ||
	    status < 100 || status > 999)
		return cella_error_set(err, EPROTO, "malformed response from cellad");
	r->status = status;
	for (;;) {
		const char *colon;
		struct http_header *h;
		size_t vs;

		l = line_next(&p, end, &n);
		if (!l)
			return cella_error_set(err, EPROTO, "truncated response headers from cellad");
		if (n == 0)
			break;
		colon = memchr(l, ':', n);
		if (!colon || colon == l)
			return cella_error_set(err, EPROTO, "malformed response header from cellad");
		h = realloc(r->headers, (r->nheaders + 1) * sizeof(*h));
		if (!h)
			return cella_error_set(err, ENOMEM, "response headers");
		r->headers = h;
		vs = colon + 1 - l;
		while (vs < n && (l[vs] == ' ' || l[vs] == '\t'))
			vs++;
		size_t ve = n;
		while (ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'))
			ve--;
		h[r->nheaders].name = strndup(l, colon - l);
		h[r->nheaders].value = strndup(l + vs, ve - vs);
		r->nheaders++;
		if (!h[r->nheaders - 1].name || !h[r->nheaders - 1].value)
			return cella_error_set(err, ENOMEM, "response headers");
	}
	if (body_append(r, "", 0, err) < 0)
		return -1;
	te = http_header_get(r, "Transfer-Encoding");
	cl = http_header_get(r, "Content-Length");
	if (te && strcasestr(te, "chunked")) {
		for (;;) {
			char *e;
			unsigned long long sz;

			l = line_next(&p, end, &n);
			if (!l)
				return cella_error_set(err, EPROTO, "truncated chunked body from cellad");
			errno = 0;
			sz = strtoull(l, &e, 16);
			if (e == l || errno || (e < l + n && *e != ';' && *e != ' '))
				return cella_error_set(err, EPROTO, "malformed chunk size from cellad");
			if (sz == 0)
				break;    /* trailers are ignored */
			if (sz > (unsigned long long)(end - p))
				return cella_error_set(err, EPROTO, "truncated chunk from cellad");
			if (body_append(r, p, sz, err) < 0)
				return -1;
			p += sz;
			if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
				p += 2;
			else if (end - p >= 1 && p[0] == '\n')
				p += 1;
			else
				return cella_error_set(err, EPROTO, "malformed chunk from cellad");
		}
		return 0;
	}
	if (cl) {
		char *e;
		unsigned long long sz;

		errno = 0;
		sz = strtoull(cl, &e, 10);
		if (e == cl || *e || errno || !isdigit((unsigned char)*cl))
			return cella_error_set(err, EPROTO, "malformed Content-Length from cellad");
		if (sz > (unsigned long long)(end - p))
			return cella_error_set(err, EPROTO, "truncated response body from cellad");
		return body_append(r, p, sz, err);
	}
	return body_append(r, p, end - p, err);
}

static int write_vec(int fd, const void *buf, size_t len, struct cella_error *err)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cella_error_set(err, errno, "send to cellad");
		p += n;
		len -= n;
	}
	return 0;
}

int http_request(struct client *c, const char *method, const char *path, const char *ctype,
		 const void *body, size_t len, const char *const *extra, struct http_response *r,
		 struct cella_error *err)
{
	cleanup_close int fd = -1;
	cleanup_free char *head = NULL;
	cleanup_free char *hdrs = NULL;
	cleanup_free char *buf = NULL;
	size_t cap = 0, got = 0;

	memset(r, 0, sizeof(*r));
	fd = client_connect(c, err);
	if (fd < 0)
		return -1;
	hdrs = xstrdup("");
	for (size_t i = 0; extra && extra[i]; i++) {
		char *n = xasprintf("%s%s\r\n", hdrs, extra[i]);
		free(hdrs);
		hdrs = n;
	}
	head = xasprintf("%s %s HTTP/1.1\r\nHost: cella\r\nUser-Agent: cella/" CELLA_VERSION
			 "\r\nConnection: close\r\n%s%s%sContent-Length: %zu\r\n%s\r\n",
			 method, path, ctype ? "Content-Type: " : "", ctype ? ctype : "",
			 ctype ? "\r\n" : "", body ? len : 0, hdrs);
	if (write_vec(fd, head, strlen(head), err) < 0 ||
	    (body && len && write_vec(fd, body, len, err) < 0))
		return cella_error_wrap(err, "%s %s", method, path);
	shutdown(fd, SHUT_WR);
	for (;;) {
		ssize_t n;

		if (cap - got < 65536) {
			char *nb;

			if (cap > MAX_RESPONSE)
				return cella_error_set(err, EFBIG, "%s %s: response too large", method, path);
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (!nb)
				return cella_error_set(err, ENOMEM, "%s %s", method, path);
			buf = nb;
		}
		n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cella_error_set(err, errno, "%s %s: read from cellad", method, path);
		if (n == 0)
			break;
		got += n;
	}
	if (got == 0)
		return cella_error_set(err, ECONNRESET, "%s %s: cellad closed the connection", method, path);
	if (http_parse_response(buf, got, r, err) < 0) {
		http_response_free(r);
		return cella_error_wrap(err, "%s %s", method, path);
	}
	return 0;
}

char *url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc0(strlen(s) * 3 + 1), *o = out;

	for (; *s; s++) {
		unsigned char ch = *s;

		if (isalnum(ch) || strchr("-._~", ch)) {
			*o++ = ch;
		} else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	return out;
}

char *api_path(const char *collection, const char *name, const char *suffix)
{
	cleanup_free char *e = url_escape(name);
	return xasprintf("/1.0/%s/%s%s", collection, e, suffix ?: "");
}

int api_delete_each(struct client *c, const char *collection, char *const *names, int n, struct cella_error *err)
{
	for (int i = 0; i < n; i++) {
		cleanup_free char *path = api_path(collection, names[i], NULL);
		if (api_run(c, "DELETE", path, NULL, err) < 0)
			return -1;
	}
	return 0;
}

/* The message of an error answer: the envelope's "error", else the status. */
static int error_from_response(const struct http_response *r, json_t *root, struct cella_error *err)
{
	const char *msg = NULL;

	if (root && json_is_object(root))
		msg = json_string_value(json_object_get(root, "error"));
	if (msg && *msg)
		return cella_error_set(err, 0, "%s", msg);
	if (r->len && r->len < 200 && !memchr(r->body, '\n', r->len - 1))
		return cella_error_set(err, 0, "%.*s", (int)(r->len - (r->body[r->len - 1] == '\n')),
				       r->body);
	return cella_error_set(err, 0, "cellad answered HTTP %d", r->status);
}

json_t *api_call(struct client *c, const char *method, const char *path, json_t *body, bool *async,
		 struct cella_error *err)
{
	cleanup_response struct http_response r = { 0 };
	cleanup_free char *data = NULL;
	json_t *root, *ret;
	json_error_t je;

	if (async)
		*async = false;
	if (body) {
		data = json_dumps(body, JSON_COMPACT);
		if (!data)
			return cella_error_set(err, ENOMEM, "request"), NULL;
	}
	if (http_request(c, method, path, data ? "application/json" : NULL, data, data ? strlen(data) : 0,
			 NULL, &r, err) < 0)
		return NULL;
	root = json_loadb(r.body, r.len, 0, &je);
	if (r.status >= 400) {
		error_from_response(&r, root, err);
		json_decref(root);
		return NULL;
	}
	if (!root || !json_is_object(root)) {
		json_decref(root);
		return cella_error_set(err, EPROTO, "%s %s: cellad sent no JSON envelope", method, path), NULL;
	}
	const char *type = json_string_value(json_object_get(root, "type"));
	if (type && !strcmp(type, "error")) {
		error_from_response(&r, root, err);
		json_decref(root);
		return NULL;
	}
	if (type && !strcmp(type, "async")) {
		if (async)
			*async = true;
		return root;
	}
	ret = json_object_get(root, "metadata");
	ret = ret ? json_incref(ret) : json_null();
	json_decref(root);
	return ret;
}

json_t *api_get(struct client *c, const char *path, struct cella_error *err)
{
	bool async;
	json_t *v = api_call(c, "GET", path, NULL, &async, err);

	if (v && async) {
		json_decref(v);
		return cella_error_set(err, EPROTO, "GET %s: unexpected operation", path), NULL;
	}
	return v;
}

json_t *operation_wait(struct client *c, const char *op, bool check, struct cella_error *err)
{
	cleanup_free char *path = NULL;
	json_t *m;

	for (;;) {
		if (op[0] == '/')
			path = xasprintf("%s/wait?timeout=60", op);
		else
			path = xasprintf("/1.0/operations/%s/wait?timeout=60", op);
		m = api_get(c, path, err);
		if (!m)
			return NULL;
		const char *status = json_string_value(json_object_get(m, "status"));
		if (status && (!strcmp(status, "Running") || !strcmp(status, "Pending"))) {
			/* a server that caps the wait: ask again */
			json_decref(m);
			free(path);
			path = NULL;
			continue;
		}
		if (check && status && strcmp(status, "Success")) {
			const char *e = json_string_value(json_object_get(m, "err"));
			cella_error_set(err, 0, "%s", e && *e ? e : status);
			json_decref(m);
			return NULL;
		}
		return m;
	}
}

json_t *api_do(struct client *c, const char *method, const char *path, json_t *body,
	       struct cella_error *err)
{
	bool async;
	json_t *v = api_call(c, method, path, body, &async, err);
	json_t *op;

	if (!v || !async)
		return v;
	const char *id = json_string_value(json_object_get(v, "operation"));
	if (!id) {
		op = json_object_get(v, "metadata");
		id = json_string_value(json_object_get(op, "id"));
	}
	if (!id) {
		json_decref(v);
		return cella_error_set(err, EPROTO, "%s %s: operation without an id", method, path), NULL;
	}
	op = operation_wait(c, id, true, err);
	json_decref(v);
	return op;
}

int api_run(struct client *c, const char *method, const char *path, json_t *body, struct cella_error *err)
{
	json_t *r = api_do(c, method, path, body, err);
	json_decref(body);
	if (!r)
		return -1;
	json_decref(r);
	return 0;
}
