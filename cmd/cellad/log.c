/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging: one line per message on stderr, prefixed with its syslog level
 * ("<3>" error ... "<7>" debug) so that journald files it right.  Messages
 * at info and above are also sent as "logging" events.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cellad.h"

static bool debug_on;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_debug(bool on)
{
	debug_on = on;
}

static const char *level_name(int level)
{
	switch (level) {
	case LOG_ERR_: return "error";
	case LOG_WARN_: return "warning";
	case LOG_INFO_: return "info";
	default: return "debug";
	}
}

void log_msg(int level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (level >= LOG_DEBUG_ && !debug_on)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "<%d>%s\n", level, msg);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
	events_emit("logging", json_pack("{s:s, s:s, s:{}}", "message", msg, "level", level_name(level), "context"));
}
