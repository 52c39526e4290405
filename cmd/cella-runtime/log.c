/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The log sink: lines in logrus's text or JSON format, as runc writes them.
 * containerd's runc shim reads the last "error" entry of the --log file to
 * report why a command failed, so each entry is one write() of one line.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "util.h"

static const char *const level_names[] = {
	[CELLA_LOG_ERROR] = "error",
	[CELLA_LOG_WARNING] = "warning",
	[CELLA_LOG_INFO] = "info",
	[CELLA_LOG_DEBUG] = "debug",
};

int log_sink_open(struct log_sink *l, const char *path, struct cella_error *err)
{
	l->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	if (l->fd < 0)
		return cella_error_set(err, errno, "open log file %s", path);
	return 0;
}

/* logrus quotes a text value unless it is made only of these characters. */
static bool text_needs_quoting(const char *s)
{
	for (; *s; s++) {
		unsigned char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("-._/@^+", c)))
			return true;
	}
	return false;
}

/* Append `s` quoted for JSON or, as Go's %q, for the text format. */
static char *append_quoted(char *out, const char *s, bool json)
{
	*out++ = '"';
	for (; *s; s++) {
		unsigned char c = *s;
		const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" :
				  c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
		if (esc)
			out = stpcpy(out, esc);
		else if (c < 0x20 || c == 0x7f)
			out += sprintf(out, json ? "\\u%04x" : "\\x%02x", c);
		else
			*out++ = c;
	}
	*out++ = '"';
	*out = '\0';
	return out;
}

static void log_emit(const struct log_sink *l, int fd, enum cella_log_level level, const char *msg)
{
	/* an escaped byte takes at most 6 bytes ("\u001f") */
	cleanup_free char *line = malloc(strlen(msg) * 6 + 128);
	char now[32], *p;
	struct tm tm;
	time_t t = time(NULL);

	if (!line)
		return;
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	if (l->json) {
		p = line + sprintf(line, "{\"level\":\"%s\",\"msg\":", level_names[level]);
		p = append_quoted(p, msg, true);
		p += sprintf(p, ",\"time\":\"%s\"}\n", now);
	} else {
		p = line + sprintf(line, "time=\"%s\" level=%s msg=", now, level_names[level]);
		p = text_needs_quoting(msg) ? append_quoted(p, msg, false) : stpcpy(p, msg);
		p = stpcpy(p, "\n");
	}
	write_all(fd, line, p - line);
}

void log_sink_write(void *data, enum cella_log_level level, const char *msg)
{
	const struct log_sink *l = data;

	if (level > CELLA_LOG_DEBUG || (level == CELLA_LOG_DEBUG && !l->debug))
		return;
	log_emit(l, l->fd >= 0 ? l->fd : STDERR_FILENO, level, msg);
}

void log_sink_error(struct log_sink *l, const char *msg)
{
	fprintf(stderr, "cella-runtime: %s\n", msg);
	if (l->fd >= 0)
		log_emit(l, l->fd, CELLA_LOG_ERROR, msg);
}

void cmd_log(struct cella_runtime *rt, enum cella_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!rt->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rt->log(rt->log_data, level, msg);
}
