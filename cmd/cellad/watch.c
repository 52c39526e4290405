/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What guests do by themselves: a reboot or poweroff from inside, an init
 * that exits or is killed.  One thread follows every running instance
 * through its monitor (cella_instance_watch()) and turns those changes
 * into lifecycle events.  Changes cellad made itself (stop, restart)
 * already had theirs.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "cellad.h"

#define WATCH_MAX 1024

struct watched {
	int fd;
	char name[64];
	char buf[1024];
	size_t len;
};

static struct watched watched[WATCH_MAX];
static int wake[2] = { -1, -1 };  /* names to follow, one per line */
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;

static void watch_line(struct watched *w, const char *line)
{
	json_t *ev = json_loads(line, 0, NULL);
	const char *event = json_string_value(json_object_get(ev, "event"));
	const char *reason = json_string_value(json_object_get(ev, "reason"));
	if (event && !strcmp(event, "stopped"))
		cella_instance_stopped(g_daemon.host, w->name);
	if (event && reason && strcmp(reason, "stopped") != 0) {
		cleanup_free char *src = xasprintf("/1.0/instances/%s", w->name);
		const char *action = !strcmp(event, "restarted") ? "instance-restarted" : "instance-stopped";
		event_lifecycle(action, src,
				json_pack("{s:s, s:O?}", "reason", reason, "exit_code", json_object_get(ev, "exit_code")));
		log_info("instance `%s`: %s (%s)", w->name, !strcmp(event, "restarted") ? "restarted" : "stopped", reason);
	}
	json_decref(ev);
}

static void watch_input(struct watched *w)
{
	ssize_t n = read(w->fd, w->buf + w->len, sizeof(w->buf) - 1 - w->len);
	if (n <= 0) {
		close(w->fd);
		w->fd = -1;
		return;
	}
	w->len += (size_t)n;
	w->buf[w->len] = '\0';
	char *nl;
	while ((nl = strchr(w->buf, '\n'))) {
		*nl = '\0';
		watch_line(w, w->buf);
		size_t rest = w->len - (size_t)(nl + 1 - w->buf);
		memmove(w->buf, nl + 1, rest + 1);
		w->len = rest;
	}
	if (w->len == sizeof(w->buf) - 1)
		w->len = 0; /* a line that long is not one of ours */
}

static void watch_add(const char *name)
{
	int free_slot = -1;
	if (strlen(name) >= sizeof(watched[0].name))
		return;
	for (int i = 0; i < WATCH_MAX; i++) {
		if (watched[i].fd >= 0 && !strcmp(watched[i].name, name))
			return;
		if (watched[i].fd < 0 && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
		return;
	struct cella_error err = { 0 };
	int fd = cella_instance_watch(g_daemon.host, name, &err);
	if (fd < 0) {
		log_debug("watch `%s`: %s", name, err.msg);
		return;
	}
	struct watched *w = &watched[free_slot];
	w->fd = fd;
	w->len = 0;
	memcpy(w->name, name, strlen(name) + 1);
}

static void *watch_main(void *unused)
{
	(void)unused;
	static struct pollfd p[WATCH_MAX + 1];
	char names[4096];
	size_t have = 0;
	for (;;) {
		int n = 0;
		p[n++] = (struct pollfd){ .fd = wake[0], .events = POLLIN };
		for (int i = 0; i < WATCH_MAX; i++)
			p[n++] = (struct pollfd){ .fd = watched[i].fd, .events = POLLIN };
		if (poll(p, (nfds_t)n, -1) < 0 && errno != EINTR)
			return NULL;
		if (p[0].revents & POLLIN) {
			ssize_t r = read(wake[0], names + have, sizeof(names) - 1 - have);
			if (r > 0) {
				have += (size_t)r;
				names[have] = '\0';
				char *nl;
				while ((nl = strchr(names, '\n'))) {
					*nl = '\0';
					watch_add(names);
					size_t rest = have - (size_t)(nl + 1 - names);
					memmove(names, nl + 1, rest + 1);
					have = rest;
				}
			}
		}
		for (int i = 0; i < WATCH_MAX; i++)
			if (watched[i].fd >= 0 && p[1 + i].revents)
				watch_input(&watched[i]);
	}
}

void watch_instance(const char *name)
{
	pthread_mutex_lock(&wake_lock);
	if (wake[1] >= 0) {
		cleanup_free char *line = xasprintf("%s\n", name);
		if (write(wake[1], line, strlen(line)) < 0)
			log_warn("watch `%s`: %s", name, strerror(errno));
	}
	pthread_mutex_unlock(&wake_lock);
}

int watch_start(void)
{
	for (int i = 0; i < WATCH_MAX; i++)
		watched[i].fd = -1;
	if (pipe2(wake, O_CLOEXEC) < 0)
		return -1;
	pthread_t t;
	if (pthread_create(&t, NULL, watch_main, NULL) != 0)
		return -1;
	pthread_detach(t);
	watch_running();
	return 0;
}

/* Follow every instance that runs now (found through their monitors). */
void watch_running(void)
{
	struct cella_error err = { 0 };
	json_t *all = cella_instance_list(g_daemon.host, &err);
	size_t i;
	json_t *o;
	json_array_foreach(all, i, o)
		if (strcmp(json_string_value(json_object_get(o, "status")), "Stopped"))
			watch_instance(json_string_value(json_object_get(o, "name")));
	json_decref(all);
}
