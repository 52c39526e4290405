/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Websocket client (RFC 6455) over cellad's unix socket, framing by wslay:
 * the upgrade GET is written here, then the socket is non-blocking and the
 * caller's poll loop drives ws_pump().
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <wslay/wslay.h>

#include "cella.h"
#include "util.h"

struct ws {
	int fd;
	wslay_event_context_ptr ctx;
	char *pending;        /* bytes read past the handshake, fed to wslay first */
	size_t npending, pending_off;
	bool eof, failed;
	bool close_wanted;     /* a close frame once the queued data is out */
	ws_data_fn *on_data;
	void *data;
};

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	struct ws *w = user;
	ssize_t n;

	(void)flags;
	if (w->pending_off < w->npending) {
		n = w->npending - w->pending_off;
		if ((size_t)n > len)
			n = len;
		memcpy(buf, w->pending + w->pending_off, n);
		w->pending_off += n;
		return n;
	}
	do
		n = recv(w->fd, buf, len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		wslay_event_set_error(ctx, (errno == EAGAIN || errno == EWOULDBLOCK) ? WSLAY_ERR_WOULDBLOCK
										     : WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	if (n == 0) {
		w->eof = true;
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
	struct ws *w = user;
	ssize_t n;

	(void)flags;
	do
		n = send(w->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		wslay_event_set_error(ctx, (errno == EAGAIN || errno == EWOULDBLOCK) ? WSLAY_ERR_WOULDBLOCK
										     : WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return n;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
	(void)ctx;
	(void)user;
	while (len) {
		ssize_t n = getrandom(buf, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
	struct ws *w = user;

	(void)ctx;
	if ((arg->opcode == WSLAY_BINARY_FRAME || arg->opcode == WSLAY_TEXT_FRAME) && w->on_data &&
	    arg->msg_length)
		w->on_data(w->data, arg->msg, arg->msg_length);
}

static void base64(const unsigned char *in, size_t len, char *out)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		*out++ = tbl[in[i] >> 2];
		*out++ = tbl[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*out++ = tbl[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		*out++ = tbl[in[i + 2] & 63];
	}
	if (i < len) {
		*out++ = tbl[in[i] >> 2];
		if (i + 1 < len) {
			*out++ = tbl[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
			*out++ = tbl[(in[i + 1] & 15) << 2];
		} else {
			*out++ = tbl[(in[i] & 3) << 4];
			*out++ = '=';
		}
		*out++ = '=';
	}
	*out = 0;
}

void ws_close(struct ws *w)
{
	if (!w)
		return;
	if (w->ctx)
		wslay_event_context_free(w->ctx);
	if (w->fd >= 0)
		close(w->fd);
	free(w->pending);
	free(w);
}

struct ws *ws_open(struct client *c, const char *path, struct cella_error *err)
{
	static const struct wslay_event_callbacks cbs = {
		.recv_callback = ws_recv_cb,
		.send_callback = ws_send_cb,
		.genmask_callback = ws_genmask_cb,
		.on_msg_recv_callback = ws_msg_cb,
	};
	struct ws *w = xmalloc0(sizeof(*w));
	unsigned char nonce[16];
	char key[32];
	cleanup_free char *req = NULL;
	char buf[8192];
	size_t got = 0;
	char *end = NULL;
	int status = 0;

	w->fd = client_connect(c, err);
	if (w->fd < 0)
		goto fail;
	if (ws_genmask_cb(NULL, nonce, sizeof(nonce), NULL) < 0) {
		cella_error_set(err, errno, "getrandom");
		goto fail;
	}
	base64(nonce, sizeof(nonce), key);
	req = xasprintf("GET %s HTTP/1.1\r\nHost: cella\r\nUser-Agent: cella/" CELLA_VERSION "\r\n"
			"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
			"Sec-WebSocket-Version: 13\r\n\r\n", path, key);
	if (write_all(w->fd, req, strlen(req)) < 0) {
		cella_error_set(err, errno, "websocket %s", path);
		goto fail;
	}
	/* the answer's head, up to the blank line; what follows is frames */
	while (!end) {
		ssize_t n;

		if (got == sizeof(buf) - 1) {
			cella_error_set(err, EPROTO, "websocket %s: answer header too long", path);
			goto fail;
		}
		n = read(w->fd, buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			cella_error_set(err, n < 0 ? errno : ECONNRESET, "websocket %s: handshake", path);
			goto fail;
		}
		got += n;
		buf[got] = 0;
		end = strstr(buf, "\r\n\r\n");
	}
	if (sscanf(buf, "HTTP/1.1 %d", &status) != 1 || status != 101) {
		/* an ordinary answer: show the daemon's error */
		struct http_response r;
		struct cella_error perr = { 0 };
		size_t total = got;
		char *all = xmalloc0(got + 1);

		memcpy(all, buf, got);
		for (;;) {
			char tmp[4096];
			ssize_t n = read(w->fd, tmp, sizeof(tmp));
			if (n <= 0)
				break;
			all = realloc(all, total + n + 1);
			if (!all)
				abort();
			memcpy(all + total, tmp, n);
			total += n;
		}
		if (http_parse_response(all, total, &r, &perr) == 0) {
			json_t *root = json_loadb(r.body, r.len, 0, NULL);
			const char *m = json_string_value(json_object_get(root, "error"));
			cella_error_set(err, 0, "%s", m ? m : "websocket upgrade refused");
			json_decref(root);
		} else {
			cella_error_set(err, EPROTO, "websocket %s: upgrade refused (HTTP %d)", path, status);
		}
		http_response_free(&r);
		free(all);
		goto fail;
	}
	end += 4;
	w->npending = got - (end - buf);
	if (w->npending) {
		w->pending = xmalloc0(w->npending);
		memcpy(w->pending, end, w->npending);
	}
	if (wslay_event_context_client_init(&w->ctx, &cbs, w) != 0) {
		cella_error_set(err, ENOMEM, "websocket");
		goto fail;
	}
	return w;
fail:
	ws_close(w);
	return NULL;
}

int ws_fd(const struct ws *w)
{
	return w->fd;
}

int ws_send(struct ws *w, bool text, const void *data, size_t len)
{
	struct wslay_event_msg msg = {
		.opcode = text ? WSLAY_TEXT_FRAME : WSLAY_BINARY_FRAME,
		.msg = data,
		.msg_length = len,
	};

	if (w->failed || wslay_event_queue_msg(w->ctx, &msg) != 0)
		return -1;
	return 0;
}

/*
 * wslay sends control frames ahead of queued data: the close (stdin's EOF)
 * waits until every data frame is out, or the tail of the input would be lost.
 */
static void ws_close_if_flushed(struct ws *w)
{
	if (w->close_wanted && !w->failed && wslay_event_get_queued_msg_count(w->ctx) == 0 &&
	    !wslay_event_get_close_sent(w->ctx)) {
		w->close_wanted = false;
		wslay_event_queue_close(w->ctx, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
	}
}

void ws_send_close(struct ws *w)
{
	w->close_wanted = true;
	ws_close_if_flushed(w);
}

bool ws_finished(const struct ws *w)
{
	return w->failed || w->eof ||
	       (!wslay_event_want_read(w->ctx) && !wslay_event_want_write(w->ctx));
}

short ws_events(const struct ws *w)
{
	short ev = 0;

	if (ws_finished(w))
		return 0;
	if (wslay_event_want_read(w->ctx))
		ev |= POLLIN;
	if (wslay_event_want_write(w->ctx))
		ev |= POLLOUT;
	return ev;
}

int ws_pump(struct ws *w, short revents, ws_data_fn *on_data, void *data)
{
	w->on_data = on_data;
	w->data = data;
	if (w->failed || w->eof)
		return -1;
	if ((revents & (POLLIN | POLLHUP | POLLERR)) || w->pending_off < w->npending) {
		if (wslay_event_want_read(w->ctx) && wslay_event_recv(w->ctx) != 0 && !w->eof)
			w->failed = true;
	}
	if (!w->failed && !w->eof && wslay_event_want_write(w->ctx) && wslay_event_send(w->ctx) != 0)
		w->failed = true;
	ws_close_if_flushed(w);
	if (!w->failed && !w->eof && wslay_event_want_write(w->ctx) && wslay_event_send(w->ctx) != 0)
		w->failed = true;
	return ws_finished(w) ? -1 : 0;
}

size_t ws_queued(const struct ws *w)
{
	return wslay_event_get_queued_msg_length(w->ctx);
}
