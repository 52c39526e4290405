/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CELLA_ERROR_H
#define CELLA_ERROR_H

#include <stdarg.h>

/*
 * The one error contract of libcella: a function that can fail takes a
 * `struct cella_error *err` as its last parameter, returns -1 (or NULL) and
 * fills it with cella_error_set(); callers add context with
 * cella_error_wrap(); the front end (CLI, HTTP handler) prints or serializes
 * it once.  `code` is the errno that caused the failure (0 when none).
 */
struct cella_error {
	int code;
	char msg[1024];
};

#define CELLA_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Record "message: strerror(errnum)" (just "message" when errnum is 0). */
int cella_error_set(struct cella_error *err, int errnum, const char *fmt, ...) CELLA_PRINTF(3, 4);
int cella_error_setv(struct cella_error *err, int errnum, const char *fmt, va_list ap);
/* Prepend "context: " to an error already recorded; keeps its code. */
int cella_error_wrap(struct cella_error *err, const char *fmt, ...) CELLA_PRINTF(2, 3);
void cella_error_clear(struct cella_error *err);

#endif
