/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `ps ID [ps options]`: the container's pids as a JSON array, or, as runc
 * does, the lines of ps(1) (default options -ef) whose PID column is one of
 * them, under ps's own header.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cmd.h"
#include "util.h"

extern char **environ;

const struct opt ps_opts[] = {
	{ "format", 'f', OPT_CHOICE, ARG(format), "table|json", "output format (default: table)" },
	OPT_END
};

static char *read_to_end(int fd, struct cella_error *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0, size = 0;

	for (;;) {
		ssize_t n;

		if (size - len < 4096) {
			char *p = realloc(buf, size + 65536);
			if (!p)
				return cella_error_set(err, ENOMEM, "read ps output"), NULL;
			buf = p;
			size += 65536;
		}
		n = read(fd, buf + len, size - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cella_error_set(err, errno, "read ps output"), NULL;
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	return steal_pointer(&buf);
}

/* Run ps(1) with `args` (or -ef) and return its stdout and stderr. */
static char *ps_output(char **args, int nargs, struct cella_error *err)
{
	cleanup_free char **argv = calloc(nargs + 3, sizeof(*argv));
	cleanup_close int rd = -1;
	cleanup_close int wr = -1;
	cleanup_pid pid_t pid = -1;
	cleanup_free char *out = NULL;
	posix_spawn_file_actions_t fa;
	int p[2], r, wstatus;

	if (!argv)
		return cella_error_set(err, ENOMEM, "run ps"), NULL;
	argv[0] = "ps";
	if (nargs == 0)
		argv[1] = "-ef";
	memcpy(argv + 1, args, nargs * sizeof(*argv));
	if (pipe2(p, O_CLOEXEC) < 0)
		return cella_error_set(err, errno, "pipe"), NULL;
	rd = p[0];
	wr = p[1];
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, wr, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, wr, STDERR_FILENO);
	r = posix_spawnp(&pid, "ps", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		pid = -1;
		return cella_error_set(err, r, "run ps"), NULL;
	}
	close(steal_fd(&wr));
	out = read_to_end(rd, err);
	while ((r = waitpid(pid, &wstatus, 0)) < 0 && errno == EINTR)
		;
	if (r < 0)
		return cella_error_set(err, errno, "wait for ps"), NULL;
	pid = -1;
	if (!out)
		return NULL;
	if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
		out[strcspn(out, "\n")] = '\0';
		return cella_error_set(err, 0, "ps: exit status %d: %s",
				       WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus),
				       out), NULL;
	}
	return steal_pointer(&out);
}

/* The index-th whitespace-separated field of `line` and its length; NULL past the last. */
static const char *field_at(const char *line, int index, size_t *len)
{
	for (int i = 0;; i++) {
		line += strspn(line, " \t");
		if (!*line)
			return NULL;
		*len = strcspn(line, " \t");
		if (i == index)
			return line;
		line += *len;
	}
}

static bool line_has_pid(const char *line, int column, const pid_t *pids, size_t n)
{
	const char *f;
	char *end;
	size_t len;
	long v;

	f = field_at(line, column, &len);
	if (!f)
		return false;
	v = strtol(f, &end, 10);
	if (end != f + len)
		return false;
	for (size_t i = 0; i < n; i++)
		if (pids[i] == v)
			return true;
	return false;
}

static int print_table(char **args, int nargs, const pid_t *pids, size_t n, struct cella_error *err)
{
	cleanup_free char *out = ps_output(args, nargs, err);
	char *line, *next;
	const char *f;
	size_t len;
	int column;

	if (!out)
		return -1;
	next = strchr(out, '\n');
	if (next)
		*next++ = '\0';
	for (column = 0; (f = field_at(out, column, &len)); column++)
		if (len == 3 && !strncmp(f, "PID", 3))
			break;
	if (!f)
		return cella_error_set(err, 0, "couldn't find PID field in ps output");
	puts(out);
	for (line = next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (line_has_pid(line, column, pids, n))
			puts(line);
	}
	return 0;
}

int cmd_ps(struct cella_runtime *rt, struct cmd_args *a, struct cella_error *err)
{
	cleanup_free pid_t *pids = NULL;
	size_t n = 0;

	if (cella_container_pids(rt, a->id, &pids, &n, err) < 0)
		return -1;
	if (strcmp(a->format, "json"))
		return print_table(a->rest, a->nrest, pids, n, err);
	putchar('[');
	for (size_t i = 0; i < n; i++)
		printf("%s%d", i ? "," : "", (int)pids[i]);
	puts("]");
	return 0;
}
