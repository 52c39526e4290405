/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Output formats: a boxed table like Incus's, compact aligned columns, CSV
 * (RFC 4180 quoting, no header), JSON and YAML of the API objects as they
 * came.  The YAML emitter writes block style, quoting any string a YAML
 * 1.1 reader could take for something else (numbers, booleans, dates).
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "cella.h"
#include "util.h"

int format_parse(const char *s, enum format *f, struct cella_error *err)
{
	static const char *const names[] = { "table", "compact", "csv", "json", "yaml" };

	if (!s) {
		*f = FMT_TABLE;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i])) {
			*f = (enum format)i;
			return 0;
		}
	return cella_error_set(err, 0, "invalid format `%s` (table, compact, csv, json or yaml)", s);
}

void table_init(struct table *t, size_t ncols, const char **headers)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->headers = headers;
}

void table_add(struct table *t, char **cells)
{
	char ***rows = realloc(t->rows, (t->nrows + 1) * sizeof(*rows));

	if (!rows)
		abort();
	t->rows = rows;
	t->rows[t->nrows] = xmalloc0(t->ncols * sizeof(char *));
	for (size_t j = 0; j < t->ncols; j++)
		t->rows[t->nrows][j] = cells[j] ? cells[j] : xstrdup("");
	t->nrows++;
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows; i++) {
		for (size_t j = 0; j < t->ncols; j++)
			free(t->rows[i][j]);
		free(t->rows[i]);
	}
	free(t->rows);
	t->rows = NULL;
	t->nrows = 0;
}

/* Display width of a UTF-8 string up to a newline: code points, not bytes. */
static size_t text_width(const char *s, size_t len)
{
	size_t w = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			w++;
	return w;
}

/* Width of the widest line of a (possibly multi-line) cell; *lines gets the line count. */
static size_t cell_width(const char *s, size_t *lines)
{
	size_t w = 0, n = 1;

	for (;;) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		size_t lw = text_width(s, len);

		if (lw > w)
			w = lw;
		if (!nl)
			break;
		n++;
		s = nl + 1;
	}
	*lines = n;
	return w;
}

/* Line `k` of a cell ("" past its end). */
static const char *cell_line(const char *s, size_t k, size_t *len)
{
	for (; k > 0; k--) {
		const char *nl = strchr(s, '\n');
		if (!nl) {
			*len = 0;
			return "";
		}
		s = nl + 1;
	}
	const char *nl = strchr(s, '\n');
	*len = nl ? (size_t)(nl - s) : strlen(s);
	return s;
}

static void pad(FILE *f, size_t n)
{
	while (n--)
		fputc(' ', f);
}

static void rule(FILE *f, const size_t *w, size_t ncols)
{
	for (size_t j = 0; j < ncols; j++) {
		fputc('+', f);
		for (size_t k = 0; k < w[j] + 2; k++)
			fputc('-', f);
	}
	fputs("+\n", f);
}

static void csv_cell(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\n\r") && s[0] != ' ' && (!*s || s[strlen(s) - 1] != ' ')) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

void table_print(FILE *f, const struct table *t, enum format fmt)
{
	cleanup_free size_t *w = xmalloc0(t->ncols * sizeof(size_t));
	size_t lines;

	if (fmt == FMT_CSV) {
		for (size_t i = 0; i < t->nrows; i++) {
			for (size_t j = 0; j < t->ncols; j++) {
				if (j)
					fputc(',', f);
				csv_cell(f, t->rows[i][j]);
			}
			fputc('\n', f);
		}
		return;
	}
	for (size_t j = 0; j < t->ncols; j++) {
		w[j] = cell_width(t->headers[j], &lines);
		for (size_t i = 0; i < t->nrows; i++) {
			size_t cw = cell_width(t->rows[i][j], &lines);
			if (cw > w[j])
				w[j] = cw;
		}
	}
	if (fmt == FMT_COMPACT) {
		for (size_t j = 0; j < t->ncols; j++) {
			fprintf(f, "%s", t->headers[j]);
			if (j + 1 < t->ncols)
				pad(f, w[j] - strlen(t->headers[j]) + 2);
		}
		fputc('\n', f);
	} else {
		rule(f, w, t->ncols);
		for (size_t j = 0; j < t->ncols; j++) {
			size_t hw = strlen(t->headers[j]), left = (w[j] - hw) / 2;

			fputs("| ", f);
			pad(f, left);
			fputs(t->headers[j], f);
			pad(f, w[j] - hw - left + 1);
		}
		fputs("|\n", f);
		rule(f, w, t->ncols);
	}
	for (size_t i = 0; i < t->nrows; i++) {
		size_t nl = 1;

		for (size_t j = 0; j < t->ncols; j++) {
			cell_width(t->rows[i][j], &lines);
			if (lines > nl)
				nl = lines;
		}
		for (size_t k = 0; k < nl; k++) {
			for (size_t j = 0; j < t->ncols; j++) {
				size_t len;
				const char *s = cell_line(t->rows[i][j], k, &len);
				size_t cw = text_width(s, len);

				if (fmt == FMT_COMPACT) {
					fwrite(s, 1, len, f);
					if (j + 1 < t->ncols)
						pad(f, w[j] - cw + 2);
				} else {
					fputs("| ", f);
					fwrite(s, 1, len, f);
					pad(f, w[j] - cw + 1);
				}
			}
			fputs(fmt == FMT_COMPACT ? "\n" : "|\n", f);
		}
		if (fmt == FMT_TABLE)
			rule(f, w, t->ncols);
	}
}

/* ---- YAML ---- */

static bool yaml_plain_ok(const char *s)
{
	static const char *const reserved[] = { "true", "false", "yes", "no", "on", "off", "null",
						"y", "n", "~", "nan", ".nan", ".inf", "-.inf", "<<", "=" };
	size_t len = strlen(s);

	if (len == 0 || isspace((unsigned char)s[0]) || isspace((unsigned char)s[len - 1]))
		return false;
	if (strchr("-?:,[]{}#&*!|>'\"%@`.+0123456789", s[0]))
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(reserved); i++)
		if (!strcasecmp(s, reserved[i]))
			return false;
	if (strstr(s, ": ") || strstr(s, " #") || s[len - 1] == ':')
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static void yaml_quoted(FILE *f, const char *s)
{
	json_t *j = json_string(s);
	char *d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;

	fputs(d ? d : "\"\"", f);
	free(d);
	json_decref(j);
}

/* A multi-line string as a literal block, when it can be one losslessly. */
static bool yaml_block_ok(const char *s)
{
	if (!strchr(s, '\n') || s[0] == ' ' || s[0] == '\n' || s[0] == '\t')
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
			return false;
		if (*p == ' ' && (p[1] == '\n' || p[1] == 0))
			return false;   /* trailing blanks would not survive editors */
	}
	size_t len = strlen(s);
	return !(len >= 2 && s[len - 1] == '\n' && s[len - 2] == '\n');
}

static void yaml_string(FILE *f, const char *s, int indent)
{
	if (yaml_plain_ok(s)) {
		fputs(s, f);
	} else if (yaml_block_ok(s)) {
		size_t len = strlen(s);

		fputs(s[len - 1] == '\n' ? "|" : "|-", f);
		while (*s) {
			const char *nl = strchr(s, '\n');
			size_t n = nl ? (size_t)(nl - s) : strlen(s);

			fputc('\n', f);
			if (n)
				pad(f, indent);
			fwrite(s, 1, n, f);
			s += n + (nl ? 1 : 0);
		}
	} else {
		yaml_quoted(f, s);
	}
}

static bool yaml_is_block(const json_t *v)
{
	return (json_is_object(v) && json_object_size(v)) || (json_is_array(v) && json_array_size(v));
}

static void yaml_scalar(FILE *f, const json_t *v, int indent)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		yaml_string(f, json_string_value(v), indent);
		break;
	case JSON_INTEGER:
		fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL: {
		char *d = json_dumps(v, JSON_ENCODE_ANY);
		fputs(d ? d : "0", f);
		free(d);
		break;
	}
	case JSON_TRUE:
		fputs("true", f);
		break;
	case JSON_FALSE:
		fputs("false", f);
		break;
	case JSON_NULL:
		fputs("null", f);
		break;
	case JSON_OBJECT:
		fputs("{}", f);
		break;
	case JSON_ARRAY:
		fputs("[]", f);
		break;
	}
}

static int strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Object members / array items at `indent`; the first line may already be started ("- "). */
static void yaml_node(FILE *f, const json_t *v, int indent, bool inline_first)
{
	bool first = true;

	if (json_is_object(v)) {
		const char *key;
		json_t *m;
		/* sorted keys: stable output whatever order the daemon used */
		size_t n = json_object_size(v), i = 0;
		cleanup_free const char **keys = xmalloc0((n + 1) * sizeof(char *));

		json_object_foreach((json_t *)v, key, m)
			keys[i++] = key;
		qsort(keys, n, sizeof(char *), strcmp_ptr);
		for (i = 0; i < n; i++) {
			m = json_object_get(v, keys[i]);
			if (!(first && inline_first))
				pad(f, indent);
			first = false;
			if (yaml_plain_ok(keys[i]))
				fputs(keys[i], f);
			else
				yaml_quoted(f, keys[i]);
			fputc(':', f);
			if (yaml_is_block(m)) {
				fputc('\n', f);
				yaml_node(f, m, json_is_array(m) ? indent : indent + 2, false);
			} else {
				fputc(' ', f);
				yaml_scalar(f, m, indent + 2);
				fputc('\n', f);
			}
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *m;

		json_array_foreach(v, i, m) {
			if (!(first && inline_first))
				pad(f, indent);
			first = false;
			fputs("- ", f);
			if (yaml_is_block(m)) {
				yaml_node(f, m, indent + 2, true);
			} else {
				yaml_scalar(f, m, indent + 2);
				fputc('\n', f);
			}
		}
	} else {
		yaml_scalar(f, v, indent);
		fputc('\n', f);
	}
}

void yaml_print(FILE *f, const json_t *v)
{
	yaml_node(f, v, 0, false);
}

void value_print(FILE *f, const json_t *v, enum format fmt)
{
	if (fmt == FMT_JSON) {
		char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		if (d)
			fprintf(f, "%s\n", d);
		free(d);
	} else {
		yaml_print(f, v);
	}
}

char *human_bytes(double n)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	size_t u = 0;

	while (n >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		n /= 1024;
		u++;
	}
	return u ? xasprintf("%.2f%s", n, units[u]) : xasprintf("%.0f%s", n, units[u]);
}

int list_show(struct client *c, const char *format, const char *path, const char **headers, size_t ncols,
	      json_t *(*prepare)(json_t *list), void (*row)(json_t *item, char **cells), struct cella_error *err)
{
	enum format fmt = FMT_TABLE;
	if (format_parse(format, &fmt, err) < 0)
		return -1;
	json_t *list = api_get(c, path, err);
	if (!list)
		return -1;
	if (fmt == FMT_JSON || fmt == FMT_YAML) {
		value_print(stdout, list, fmt);
		json_decref(list);
		return 0;
	}
	if (prepare)
		list = prepare(list);
	struct table t;
	table_init(&t, ncols, headers);
	char **cells = xmalloc0(ncols * sizeof(char *));
	size_t i;
	json_t *item;
	json_array_foreach(list, i, item) {
		row(item, cells);
		table_add(&t, cells);
	}
	free(cells);
	table_print(stdout, &t, fmt);
	table_free(&t);
	json_decref(list);
	return 0;
}
