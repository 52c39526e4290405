/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Websockets (RFC 6455) over MHD's upgraded sockets, framed by wslay: the
 * handshake, and one relay loop between a websocket and file descriptors
 * used by exec, the console and the event stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include "cellad.h"

#define RELAY_CHUNK (256u << 10)
#define RELAY_MAX_QUEUED (4u << 20)

/* ---------------------------------------------------------------- SHA-1 for the handshake only */

struct sha1 {
	uint32_t h[5];
	uint64_t len;
	uint8_t buf[64];
	size_t n;
};

static uint32_t rol(uint32_t x, int k)
{
	return x << k | x >> (32 - k);
}

static void sha1_block(struct sha1 *s, const uint8_t *p)
{
	uint32_t w[80], a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		uint32_t t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol(b, 30);
		b = a;
		a = t;
	}
	s->h[0] += a;
	s->h[1] += b;
	s->h[2] += c;
	s->h[3] += d;
	s->h[4] += e;
}

static void sha1_update(struct sha1 *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	s->len += len;
	while (len--) {
		s->buf[s->n++] = *p++;
		if (s->n == 64) {
			sha1_block(s, s->buf);
			s->n = 0;
		}
	}
}

static void sha1_digest(const void *data, size_t len, uint8_t out[20])
{
	struct sha1 s = { .h = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 } };
	sha1_update(&s, data, len);
	uint64_t bits = s.len * 8;
	uint8_t pad = 0x80, zero = 0;
	sha1_update(&s, &pad, 1);
	while (s.n != 56)
		sha1_update(&s, &zero, 1);
	for (int i = 7; i >= 0; i--) {
		uint8_t b = (uint8_t)(bits >> (8 * i));
		sha1_update(&s, &b, 1);
	}
	for (int i = 0; i < 5; i++) {
		out[4 * i] = (uint8_t)(s.h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s.h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s.h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s.h[i];
	}
}

static void base64(const uint8_t *in, size_t n, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
		out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = '\0';
}

static bool header_has_token(const char *v, const char *token)
{
	size_t tl = strlen(token);
	while (v && *v) {
		v += strspn(v, " \t,");
		size_t l = strcspn(v, ",");
		size_t e = l;
		while (e && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e == tl && strncasecmp(v, token, tl) == 0)
			return true;
		v += l;
	}
	return false;
}

struct reply *ws_accept(struct request *req, MHD_UpgradeHandler handler, void *cls)
{
	const char *upgrade = req_header(req, MHD_HTTP_HEADER_UPGRADE);
	const char *connection = req_header(req, MHD_HTTP_HEADER_CONNECTION);
	const char *key = req_header(req, "Sec-WebSocket-Key");
	const char *version = req_header(req, "Sec-WebSocket-Version");
	if (!upgrade || !header_has_token(upgrade, "websocket") || !header_has_token(connection, "upgrade") || !key)
		return reply_error(400, "websocket upgrade expected (Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Key)");
	if (!version || strcmp(version, "13") != 0)
		return reply_error(400, "unsupported websocket version (13 expected)");
	if (strlen(key) > 64)
		return reply_error(400, "malformed Sec-WebSocket-Key");

	char buf[128];
	uint8_t digest[20];
	char accept[32];
	snprintf(buf, sizeof(buf), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
	sha1_digest(buf, strlen(buf), digest);
	base64(digest, sizeof(digest), accept);

	struct MHD_Response *resp = MHD_create_response_for_upgrade(handler, cls);
	if (!resp)
		return reply_error(500, "cannot create the upgrade response");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
	MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
	struct reply *r = reply_text(101, "", xstrdup(""));
	r->upgrade = resp;
	return r;
}

/* ---------------------------------------------------------------- the relay */

/* All of buf to fd, waiting when it is non-blocking and full (a pty master
 * is both our from_fd, non-blocking, and our to_fd). */
static int write_waiting(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			if (poll(&pfd, 1, 10000) <= 0)
				return -1;
			continue;
		}
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

struct relay_state {
	const struct ws_relay *r;
	size_t extra_off;
	bool peer_gone;
	bool to_closed;
};

static ssize_t relay_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	(void)flags;
	struct relay_state *s = user;
	if (s->extra_off < s->r->extra_len) {
		size_t n = s->r->extra_len - s->extra_off;
		if (n > len)
			n = len;
		memcpy(buf, s->r->extra + s->extra_off, n);
		s->extra_off += n;
		return (ssize_t)n;
	}
	ssize_t n;
	do
		n = recv(s->r->sock, buf, len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (n <= 0) {
		s->peer_gone = true;
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return n;
}

static ssize_t relay_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
	struct relay_state *s = user;
	ssize_t n;
	do
		n = send(s->r->sock, data, len, MSG_NOSIGNAL | ((flags & WSLAY_MSG_MORE) ? MSG_MORE : 0));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		} else {
			s->peer_gone = true;
			wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		}
		return -1;
	}
	return n;
}

static void relay_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
	(void)ctx;
	struct relay_state *s = user;
	if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME)
		return;
	if (arg->opcode == WSLAY_TEXT_FRAME && s->r->on_text) {
		s->r->on_text(s->r->cls, (const char *)arg->msg, arg->msg_length);
		return;
	}
	if (s->r->to_fd < 0 || s->to_closed)
		return;
	/* an empty message is the client's end of input */
	if (arg->msg_length == 0) {
		if (s->r->shut_to_on_close)
			shutdown(s->r->to_fd, SHUT_WR);
		s->to_closed = true;
		return;
	}
	if (write_waiting(s->r->to_fd, arg->msg, arg->msg_length) < 0) {
		log_debug("websocket relay: write: %s", strerror(errno));
		s->to_closed = true;
	}
}

/*
 * Relay until the websocket is closed: frames from the client go to
 * `to_fd`, what `from_fd` yields goes to the client (as one message per
 * read, so a SOCK_SEQPACKET keeps its boundaries).  EOF on `from_fd`, or
 * `stop_fd` becoming readable (after draining what `from_fd` holds), closes
 * the websocket.  The socket is handed back to MHD to close.
 */
int ws_relay_run(const struct ws_relay *r)
{
	struct relay_state s = { .r = r };
	struct wslay_event_callbacks cb = { .recv_callback = relay_recv, .send_callback = relay_send,
					    .on_msg_recv_callback = relay_msg };
	wslay_event_context_ptr ctx;
	bool from_open = r->from_fd >= 0, stopping = false;
	cleanup_free uint8_t *buf = malloc(RELAY_CHUNK);

	if (!buf || wslay_event_context_server_init(&ctx, &cb, &s) != 0)
		return -1;
	wslay_event_config_set_max_recv_msg_length(ctx, 16u << 20);
	int fl = fcntl(r->sock, F_GETFL);
	fcntl(r->sock, F_SETFL, fl | O_NONBLOCK);
	if (r->from_fd >= 0) {
		fl = fcntl(r->from_fd, F_GETFL);
		fcntl(r->from_fd, F_SETFL, fl | O_NONBLOCK);
	}
	if (r->extra_len)
		wslay_event_recv(ctx);

	while (!s.peer_gone && (wslay_event_want_read(ctx) || wslay_event_want_write(ctx))) {
		struct pollfd p[3] = {
			{ .fd = r->sock, .events = (short)((wslay_event_want_read(ctx) ? POLLIN : 0) |
							   (wslay_event_want_write(ctx) ? POLLOUT : 0)) },
			{ .fd = -1, .events = POLLIN },
			{ .fd = stopping ? -1 : r->stop_fd, .events = POLLIN },
		};
		bool can_queue = !wslay_event_get_close_sent(ctx) &&
				 wslay_event_get_queued_msg_length(ctx) < RELAY_MAX_QUEUED;
		if (from_open && can_queue)
			p[1].fd = r->from_fd;
		/* a client that never answers our close is not waited for long */
		int pr = poll(p, 3, wslay_event_get_close_sent(ctx) ? 5000 : -1);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			break;
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (wslay_event_recv(ctx) != 0)
				break;
		}
		if (p[2].revents & POLLIN)
			stopping = true;
		if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) || (stopping && from_open && can_queue)) {
			ssize_t n = read(r->from_fd, buf, RELAY_CHUNK);
			if (n > 0) {
				struct wslay_event_msg m = { .opcode = r->text ? WSLAY_TEXT_FRAME : WSLAY_BINARY_FRAME,
							     .msg = buf, .msg_length = (size_t)n };
				wslay_event_queue_msg(ctx, &m);
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR) || stopping) {
				from_open = false;
			}
		}
		if (!wslay_event_get_close_sent(ctx) && ((r->from_fd >= 0 && !from_open) || (stopping && !from_open)))
			wslay_event_queue_close(ctx, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
		if (stopping && r->from_fd < 0 && !wslay_event_get_close_sent(ctx))
			wslay_event_queue_close(ctx, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
		if (wslay_event_want_write(ctx) && wslay_event_send(ctx) != 0)
			break;
		/* both closes exchanged: done */
		if (wslay_event_get_close_sent(ctx) && wslay_event_get_close_received(ctx) &&
		    !wslay_event_want_write(ctx))
			break;
	}
	/* the client went away: its input ends too */
	if (r->to_fd >= 0 && !s.to_closed && r->shut_to_on_close)
		shutdown(r->to_fd, SHUT_WR);
	wslay_event_context_free(ctx);
	if (r->urh)
		MHD_upgrade_action(r->urh, MHD_UPGRADE_ACTION_CLOSE);
	return 0;
}
