/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The event stream (/1.0/events): every subscriber gets one
 * SOCK_SEQPACKET pair, so each event stays one message end to end; its
 * websocket is relayed from the other end.  A subscriber too slow to keep
 * up loses events rather than stalling the daemon.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cellad.h"

enum { EV_LIFECYCLE = 1, EV_OPERATION = 2, EV_LOGGING = 4 };

static const struct {
	const char *name;
	unsigned bit;
} event_types[] = {
	{ "lifecycle", EV_LIFECYCLE },
	{ "operation", EV_OPERATION },
	{ "logging", EV_LOGGING },
};

struct subscriber {
	int fd;              /* our end: events are sent here */
	unsigned types;
	struct subscriber *next;
};

static pthread_mutex_t subs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct subscriber *subs;

static unsigned type_bit(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(event_types); i++)
		if (strlen(event_types[i].name) == len && strncmp(event_types[i].name, name, len) == 0)
			return event_types[i].bit;
	return 0;
}

void events_emit(const char *type, json_t *metadata)
{
	unsigned bit = type_bit(type, strlen(type));
	char ts[40];

	pthread_mutex_lock(&subs_lock);
	bool any = false;
	for (struct subscriber *s = subs; s && !any; s = s->next)
		any = (s->types & bit) != 0;
	if (!any) {
		pthread_mutex_unlock(&subs_lock);
		json_decref(metadata);
		return;
	}
	json_t *ev = json_pack("{s:s, s:s, s:o, s:s, s:s}", "type", type, "timestamp", now_rfc3339(ts, sizeof(ts)),
			       "metadata", metadata, "location", "none", "project", "default");
	cleanup_free char *text = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	for (struct subscriber *s = subs; s && text; s = s->next)
		if (s->types & bit)
			/* never log from here: logging emits events */
			(void)send(s->fd, text, strlen(text), MSG_DONTWAIT | MSG_NOSIGNAL);
	pthread_mutex_unlock(&subs_lock);
}

void event_lifecycle(const char *action, const char *source, json_t *context)
{
	events_emit("lifecycle", json_pack("{s:s, s:s, s:o, s:s}", "action", action, "source", source, "context",
					   context ? context : json_object(), "requestor", "unix"));
}

struct events_client {
	unsigned types;
	int relay_fd;        /* the subscriber's other end */
	struct subscriber *sub;
};

static void events_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
			    size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	(void)conn;
	(void)con_cls;
	struct events_client *c = cls;
	struct ws_relay r = { .sock = sock, .urh = urh, .extra = extra_in, .extra_len = extra_in_size,
			      .from_fd = c->relay_fd, .to_fd = -1, .stop_fd = -1, .text = true };
	/* thread-per-connection: this thread is the client's, we may block here */
	ws_relay_run(&r);

	pthread_mutex_lock(&subs_lock);
	for (struct subscriber **pp = &subs; *pp; pp = &(*pp)->next) {
		if (*pp == c->sub) {
			*pp = c->sub->next;
			break;
		}
	}
	pthread_mutex_unlock(&subs_lock);
	close(c->sub->fd);
	free(c->sub);
	close(c->relay_fd);
	free(c);
}

static struct reply *events_get(struct request *req)
{
	char buf[256];
	const char *types = req_query(req, "type", buf, sizeof(buf));
	unsigned mask = 0;
	if (!types || !*types) {
		mask = EV_LIFECYCLE | EV_OPERATION | EV_LOGGING;
	} else {
		for (const char *p = types; *p;) {
			size_t l = strcspn(p, ",");
			unsigned b = type_bit(p, l);
			if (!b)
				return reply_error(400, "unknown event type `%.*s` (lifecycle, operation, logging)", (int)l, p);
			mask |= b;
			p += l;
			if (*p)
				p++;
		}
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return reply_error(500, "socketpair: %s", strerror(errno));
	int sndbuf = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

	struct events_client *c = xmalloc0(sizeof(*c));
	c->types = mask;
	c->relay_fd = sv[1];
	c->sub = xmalloc0(sizeof(*c->sub));
	c->sub->fd = sv[0];
	c->sub->types = mask;
	struct reply *r = ws_accept(req, events_upgraded, c);
	if (r->status != 101) {
		close(sv[0]);
		close(sv[1]);
		free(c->sub);
		free(c);
		return r;
	}
	/* subscribed from now on: events before the 101 reaches the client are queued */
	pthread_mutex_lock(&subs_lock);
	c->sub->next = subs;
	subs = c->sub;
	pthread_mutex_unlock(&subs_lock);
	return r;
}

const struct route event_routes[] = {
	{ "GET", "/1.0/events", events_get, 0, NULL, "Event stream (websocket)" },
	{ 0 },
};
