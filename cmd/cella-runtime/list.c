/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `list`: every container under the state directory, as runc prints them:
 * a table aligned like Go's tabwriter (minimum width 12, padding 3), the ids
 * alone with --quiet, or a JSON array of state objects ("null" when empty).
 */
#include <string.h>

#include "cmd.h"
#include "util.h"

const struct opt list_opts[] = {
	{ "format", 'f', OPT_CHOICE, ARG(format), "table|json", "output format (default: table)" },
	{ "quiet", 'q', OPT_BOOL, ARG(quiet), NULL, "print only the container ids" },
	OPT_END
};

/* The states of the listed containers; the ones that vanished meanwhile are skipped. */
struct state_list {
	struct cella_state *st;
	size_t n;
};

static void state_list_free(struct state_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		cella_state_release(&l->st[i]);
	free(l->st);
}

static void ids_free(char **ids, size_t n)
{
	for (size_t i = 0; ids && i < n; i++)
		free(ids[i]);
	free(ids);
}

static int state_list_load(struct cella_runtime *rt, struct state_list *l, struct cella_error *err)
{
	char **ids = NULL;
	size_t nids = 0;

	if (cella_container_list(rt, &ids, &nids, err) < 0)
		return -1;
	l->st = nids ? calloc(nids, sizeof(*l->st)) : NULL;
	if (nids && !l->st) {
		ids_free(ids, nids);
		return cella_error_set(err, ENOMEM, "list containers");
	}
	for (size_t i = 0; i < nids; i++) {
		struct cella_error e = { 0 };

		if (cella_container_state(rt, ids[i], &l->st[l->n], &e) == 0) {
			l->n++;
			continue;
		}
		cella_state_release(&l->st[l->n]);
		l->st[l->n] = (struct cella_state){ 0 };
		if (e.code != ENOENT)
			cmd_log(rt, CELLA_LOG_WARNING, "%s", e.msg);
	}
	ids_free(ids, nids);
	return 0;
}

static int print_json(const struct state_list *l, struct cella_error *err)
{
	if (l->n == 0) {
		puts("null");
		return 0;
	}
	for (size_t i = 0; i < l->n; i++) {
		cleanup_free char *json = cella_state_to_json(&l->st[i], false);

		if (!json)
			return cella_error_set(err, ENOMEM, "format the state of %s", l->st[i].id);
		printf("%c%s", i ? ',' : '[', json);
	}
	puts("]");
	return 0;
}

#define COLUMNS 6

static void row_cells(const struct cella_state *st, char pid[24], const char *cells[COLUMNS])
{
	snprintf(pid, 24, "%d", (int)st->pid);
	cells[0] = st->id;
	cells[1] = pid;
	cells[2] = cella_status_name(st->status);
	cells[3] = st->bundle;
	cells[4] = st->created;
	cells[5] = st->owner;
}

static void print_table(const struct state_list *l)
{
	static const char *const header[COLUMNS] = { "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER" };
	size_t width[COLUMNS];
	const char *cells[COLUMNS];
	char pid[24];

	for (size_t c = 0; c < COLUMNS; c++)
		width[c] = strlen(header[c]);
	for (size_t i = 0; i < l->n; i++) {
		row_cells(&l->st[i], pid, cells);
		for (size_t c = 0; c < COLUMNS; c++)
			if (strlen(cells[c]) > width[c])
				width[c] = strlen(cells[c]);
	}
	for (size_t i = 0; i <= l->n; i++) {
		if (i == 0)
			memcpy(cells, header, sizeof(cells));
		else
			row_cells(&l->st[i - 1], pid, cells);
		/* the last column is not padded, as tabwriter leaves trailing cells */
		for (size_t c = 0; c < COLUMNS - 1; c++)
			printf("%-*s", (int)(width[c] + 3 > 12 ? width[c] + 3 : 12), cells[c]);
		printf("%s\n", cells[COLUMNS - 1]);
	}
}

int cmd_list(struct cella_runtime *rt, struct cmd_args *a, struct cella_error *err)
{
	__attribute__((cleanup(state_list_free))) struct state_list l = { 0 };

	if (state_list_load(rt, &l, err) < 0)
		return -1;
	if (a->quiet) {
		for (size_t i = 0; i < l.n; i++)
			puts(l.st[i].id);
		return 0;
	}
	if (!strcmp(a->format, "json"))
		return print_json(&l, err);
	print_table(&l);
	return 0;
}
