/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Option parsing shared by the global options and every command, with the
 * conventions of runc's urfave/cli front end that podman, conmon and
 * containerd rely on: "-opt" and "--opt", "--opt value" and "--opt=value",
 * booleans as "--flag" or "--flag=false", options before or after the
 * arguments.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

static const struct opt *opt_find(const struct opt *const tables[OPT_TABLES], const char *name,
				  size_t len)
{
	for (size_t t = 0; t < OPT_TABLES && tables[t]; t++)
		for (const struct opt *o = tables[t]; o->name; o++)
			if ((strlen(o->name) == len && !strncmp(o->name, name, len)) ||
			    (len == 1 && o->alias == name[0]))
				return o;
	return NULL;
}

/* strconv.ParseBool's spellings. */
static int parse_bool(const char *s, bool *v)
{
	static const char *const yes[] = { "1", "t", "T", "true", "TRUE", "True" };
	static const char *const no[] = { "0", "f", "F", "false", "FALSE", "False" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcmp(s, yes[i]) || !strcmp(s, no[i])) {
			*v = !strcmp(s, yes[i]);
			return 0;
		}
	}
	return -1;
}

static bool choice_is_valid(const char *choices, const char *s)
{
	size_t len = strlen(s);

	for (const char *p = choices; p; p = strchr(p, '|')) {
		p += *p == '|';
		if (!strncmp(p, s, len) && (p[len] == '|' || p[len] == '\0'))
			return true;
	}
	return false;
}

static int opt_set(const struct opt *o, void *base, const char *value, struct cella_error *err)
{
	void *dst = (char *)base + o->offset;
	bool yes = true;
	char *end;
	long n;

	if (o->kind == OPT_BOOL) {
		if (value && parse_bool(value, &yes) < 0)
			return cella_error_set(err, 0, "invalid value \"%s\" for flag `--%s`: want true or false",
					       value, o->name);
		*(bool *)dst = yes;
		return 0;
	}
	if (!value)
		return cella_error_set(err, 0, "flag `--%s` needs a value", o->name);
	switch (o->kind) {
	case OPT_COUNT:
		errno = 0;
		n = strtol(value, &end, 10);
		if (errno || end == value || *end || n < 0 || n > INT_MAX)
			return cella_error_set(err, 0, "invalid value \"%s\" for flag `--%s`: want a number",
					       value, o->name);
		*(int *)dst = (int)n;
		return 0;
	case OPT_LIST: {
		struct opt_list *l = dst;
		char **v = realloc(l->v, (l->n + 2) * sizeof(char *));
		if (!v)
			return cella_error_set(err, ENOMEM, "flag `--%s`", o->name);
		v[l->n++] = (char *)value;
		v[l->n] = NULL;
		l->v = v;
		return 0;
	}
	case OPT_CHOICE:
		if (!choice_is_valid(o->arg, value))
			return cella_error_set(err, 0, "invalid value \"%s\" for flag `--%s`: want %s",
					       value, o->name, o->arg);
		/* fall through */
	default:
		*(const char **)dst = value;
		return 0;
	}
}

int opts_parse(const struct opt *const tables[OPT_TABLES], void *base, int argc, char **argv,
	       bool stop_at_arg, int *npos, bool *help, struct cella_error *err)
{
	int i, n = 0;

	for (i = 0; i < argc; i++) {
		const char *arg = argv[i], *name, *eq, *value;
		const struct opt *o;
		size_t len;

		if (!strcmp(arg, "--")) {
			i++;
			break;
		}
		if (arg[0] != '-' || arg[1] == '\0') {
			if (stop_at_arg)
				break;
			argv[n++] = argv[i];
			continue;
		}
		name = arg + (arg[1] == '-' ? 2 : 1);
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		value = eq ? eq + 1 : NULL;
		if ((len == 4 && !strncmp(name, "help", 4)) || (len == 1 && name[0] == 'h')) {
			*help = true;
			continue;
		}
		o = len ? opt_find(tables, name, len) : NULL;
		if (!o)
			return cella_error_set(err, 0, "unknown flag `%.*s`", (int)(name - arg + len), arg);
		if (o->kind != OPT_BOOL && !value && i + 1 < argc)
			value = argv[++i];
		if (opt_set(o, base, value, err) < 0)
			return -1;
	}
	while (i < argc)
		argv[n++] = argv[i++];
	*npos = n;
	return 0;
}

/* The left column of an option's help line: "  -b, --bundle DIR". */
static int opt_help_left(char *buf, size_t size, char alias, const char *name, const char *arg)
{
	return snprintf(buf, size, "  %c%c%s--%s%s%s", alias ? '-' : ' ', alias ? alias : ' ',
			alias ? ", " : "  ", name, arg ? " " : "", arg ? arg : "");
}

static const char *opt_help_arg(const struct opt *o)
{
	return o->kind == OPT_BOOL ? NULL : o->arg;
}

void opts_help(FILE *f, const struct opt *const tables[OPT_TABLES])
{
	char left[128];
	int width = opt_help_left(left, sizeof(left), 'h', "help", NULL);

	for (size_t t = 0; t < OPT_TABLES && tables[t]; t++)
		for (const struct opt *o = tables[t]; o->name; o++) {
			int w = opt_help_left(left, sizeof(left), o->alias, o->name, opt_help_arg(o));
			width = w > width ? w : width;
		}
	for (size_t t = 0; t < OPT_TABLES && tables[t]; t++)
		for (const struct opt *o = tables[t]; o->name; o++) {
			opt_help_left(left, sizeof(left), o->alias, o->name, opt_help_arg(o));
			fprintf(f, "%-*s  %s\n", width, left, o->help);
		}
	opt_help_left(left, sizeof(left), 'h', "help", NULL);
	fprintf(f, "%-*s  %s\n", width, left, "show this help");
}
