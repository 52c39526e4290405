/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

int cella_error_setv(struct cella_error *err, int errnum, const char *fmt, va_list ap)
{
	if (!err)
		return -1;
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (n < 0)
		n = 0;
	if (errnum && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	err->code = errnum;
	return -1;
}

int cella_error_set(struct cella_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cella_error_setv(err, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

int cella_error_wrap(struct cella_error *err, const char *fmt, ...)
{
	char prefix[256], old[sizeof(err->msg)];
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s: %.*s", prefix,
		 (int)(sizeof(err->msg) - strlen(prefix) - 3), old);
	return -1;
}

void cella_error_clear(struct cella_error *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}
