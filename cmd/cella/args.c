/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Option parsing for cella's commands: long options (--name, --name=value),
 * one-letter aliases (-f json, -fjson, -c a=b), options anywhere among the
 * arguments, "--" ending them.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "cella.h"
#include "util.h"

static const struct opt *opt_find(const struct opt *opts, const char *name, size_t len, char alias)
{
	for (const struct opt *o = opts; o && o->name; o++) {
		if (alias ? o->alias == alias : (strlen(o->name) == len && !strncmp(o->name, name, len)))
			return o;
	}
	return NULL;
}

static int opt_set(const struct opt *o, struct args *a, const char *value, const char *shown,
		   struct cella_error *err)
{
	char *base = (char *)a + o->offset;

	switch (o->kind) {
	case OPT_BOOL:
		*(bool *)base = true;
		return 0;
	case OPT_STRING:
		*(const char **)base = value;
		return 0;
	case OPT_INT: {
		char *end;
		long v;

		errno = 0;
		v = strtol(value, &end, 10);
		if (!*value || *end || errno || v < INT_MIN || v > INT_MAX)
			return cella_error_set(err, 0, "invalid value `%s` for %s: not an integer", value, shown);
		*(int *)base = (int)v;
		return 0;
	}
	case OPT_LIST: {
		struct strv *l = (struct strv *)base;
		char **nv = realloc(l->v, (l->n + 2) * sizeof(char *));

		if (!nv)
			return cella_error_set(err, ENOMEM, "%s", shown);
		l->v = nv;
		l->v[l->n++] = (char *)value;
		l->v[l->n] = NULL;
		return 0;
	}
	}
	return 0;
}

int opts_parse(const struct opt *opts, struct args *a, int argc, char **argv, struct cella_error *err)
{
	char **pos = xmalloc0(sizeof(char *) * (argc + 1));
	int npos = 0;
	bool dashdash = false;

	free(a->pos_alloc);
	a->pos = a->pos_alloc = pos;
	a->npos = 0;
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		const struct opt *o;
		const char *value = NULL;
		char shown[64];

		if (dashdash || s[0] != '-' || s[1] == 0) {
			pos[npos++] = argv[i];
			continue;
		}
		if (!strcmp(s, "--")) {
			dashdash = true;
			continue;
		}
		if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
			a->help = true;
			continue;
		}
		if (s[1] == '-') {
			const char *eq = strchr(s + 2, '=');
			size_t len = eq ? (size_t)(eq - s - 2) : strlen(s + 2);

			o = opt_find(opts, s + 2, len, 0);
			snprintf(shown, sizeof(shown), "--%.*s", (int)len, s + 2);
			if (!o)
				return cella_error_set(err, 0, "unknown flag: %s", shown);
			if (eq) {
				if (o->kind == OPT_BOOL)
					return cella_error_set(err, 0, "flag %s takes no value", shown);
				value = eq + 1;
			}
		} else {
			o = opt_find(opts, NULL, 0, s[1]);
			snprintf(shown, sizeof(shown), "-%c", s[1]);
			if (!o)
				return cella_error_set(err, 0, "unknown shorthand flag: '%c' in %s", s[1], s);
			if (s[2]) {
				if (o->kind == OPT_BOOL)
					return cella_error_set(err, 0, "unknown shorthand flag: '%c' in %s",
							       s[2], s);
				value = s + 2;
			}
		}
		if (o->kind != OPT_BOOL && !value) {
			if (i + 1 >= argc)
				return cella_error_set(err, 0, "flag needs an argument: %s", shown);
			value = argv[++i];
		}
		if (opt_set(o, a, value, shown, err) < 0)
			return -1;
	}
	a->npos = npos;
	return 0;
}

void opts_help(FILE *f, const struct opt *opts)
{
	for (const struct opt *o = opts; o && o->name; o++) {
		char left[64];

		snprintf(left, sizeof(left), "%s%c%s--%s%s%s", o->alias ? "-" : "", o->alias ? o->alias : ' ',
			 o->alias ? ", " : "  ", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
		fprintf(f, "  %-28s %s\n", o->alias ? left : left + 2, o->help);
	}
	fprintf(f, "  %-28s %s\n", "-h, --help", "show this help");
}

void args_free(struct args *a)
{
	free(a->pos_alloc);
	free(a->config.v);
	free(a->profiles.v);
	free(a->env.v);
	free(a->alias.v);
	free(a->types.v);
}
