/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * file push|pull|edit: raw bodies on /1.0/instances/NAME/files?path=P, the
 * owner, mode and type in X-Cella-* headers.  The guest path is only ever
 * resolved by cellad (inside the instance's root); we never build host
 * paths from it, except the basename of a pull into a local directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>

#include "cella.h"
#include "util.h"

const struct opt file_opts[] = {
	{ "uid", 0, OPT_STRING, ARG(uid), "UID", "owner of the pushed file (default: 0)" },
	{ "gid", 0, OPT_STRING, ARG(gid), "GID", "group of the pushed file (default: 0)" },
	{ "mode", 0, OPT_STRING, ARG(mode), "MODE", "octal mode of the pushed file (default: the local file's)" },
	OPT_END
};

/* "NAME/PATH" -> name and "/PATH". */
static int target_split(const char *s, char **name, char **path, struct cella_error *err)
{
	const char *slash = strchr(s, '/');

	if (!slash || slash == s || !slash[1])
		return cella_error_set(err, 0, "invalid target `%s`: expected NAME/PATH", s);
	*name = strndup(s, slash - s);
	*path = xstrdup(slash);
	return 0;
}

static char *files_path(const char *name, const char *path)
{
	cleanup_free char *n = url_escape(name);
	cleanup_free char *p = url_escape(path);

	return xasprintf("/1.0/instances/%s/files?path=%s", n, p);
}

static int check_octal(const char *s, const char *what, struct cella_error *err)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 8);
	if (!*s || *end || errno || v > 07777)
		return cella_error_set(err, 0, "invalid %s `%s`", what, s);
	return 0;
}

static int check_id(const char *s, const char *what, struct cella_error *err)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *end || errno || v > 0xfffffffeULL)
		return cella_error_set(err, 0, "invalid %s `%s`: expected a number", what, s);
	return 0;
}

static int file_put(struct client *c, const char *name, const char *path, const char *data, size_t len,
		    const char *uid, const char *gid, const char *mode, struct cella_error *err)
{
	cleanup_free char *url = files_path(name, path);
	cleanup_free char *huid = uid ? xasprintf("X-Cella-Uid: %s", uid) : NULL;
	cleanup_free char *hgid = gid ? xasprintf("X-Cella-Gid: %s", gid) : NULL;
	cleanup_free char *hmode = mode ? xasprintf("X-Cella-Mode: %s", mode) : NULL;
	cleanup_response struct http_response r = { 0 };
	const char *hdrs[5];
	int n = 0;

	hdrs[n++] = "X-Cella-Type: file";
	if (huid)
		hdrs[n++] = huid;
	if (hgid)
		hdrs[n++] = hgid;
	if (hmode)
		hdrs[n++] = hmode;
	hdrs[n] = NULL;
	if (http_request(c, "POST", url, "application/octet-stream", data, len, hdrs, &r, err) < 0)
		return -1;
	if (r.status >= 400) {
		json_t *root = json_loadb(r.body, r.len, 0, NULL);
		const char *m = json_string_value(json_object_get(root, "error"));

		cella_error_set(err, 0, "%s", m ? m : "push failed");
		json_decref(root);
		return -1;
	}
	return 0;
}

/* GET a file; a directory or an error is refused. */
static int file_get(struct client *c, const char *name, const char *path, struct http_response *r,
		    struct cella_error *err)
{
	cleanup_free char *url = files_path(name, path);
	const char *type;

	if (http_request(c, "GET", url, NULL, NULL, 0, NULL, r, err) < 0)
		return -1;
	if (r->status >= 400) {
		json_t *root = json_loadb(r->body, r->len, 0, NULL);
		const char *m = json_string_value(json_object_get(root, "error"));

		cella_error_set(err, 0, "%s", m ? m : "pull failed");
		json_decref(root);
		return -1;
	}
	type = http_header_get(r, "X-Cella-Type");
	if (type && !strcmp(type, "directory"))
		return cella_error_set(err, EISDIR, "`%s` in `%s` is a directory", path, name);
	return 0;
}

static int file_push(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *name = NULL;
	cleanup_free char *path = NULL;
	cleanup_free char *data = NULL;
	cleanup_free char *mode = NULL;
	cleanup_close int fd = -1;
	const char *local = a->pos[0];
	struct stat st;
	size_t len;

	if (target_split(a->pos[1], &name, &path, err) < 0)
		return -1;
	if ((a->uid && check_id(a->uid, "uid", err) < 0) || (a->gid && check_id(a->gid, "gid", err) < 0) ||
	    (a->mode && check_octal(a->mode, "mode", err) < 0))
		return -1;
	if (strcmp(local, "-")) {
		fd = open(local, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return cella_error_set(err, errno, "open `%s`", local);
		if (fstat(fd, &st) < 0)
			return cella_error_set(err, errno, "stat `%s`", local);
		if (!S_ISREG(st.st_mode))
			return cella_error_set(err, 0, "`%s` is not a regular file", local);
		data = read_fd_text(fd, &len, err);
		mode = xasprintf("%04o", st.st_mode & 07777);
	} else {
		data = read_fd_text(0, &len, err);
	}
	if (!data)
		return cella_error_wrap(err, "read `%s`", local);
	if (path[strlen(path) - 1] == '/') {
		cleanup_free char *copy = xstrdup(local);
		char *full = xasprintf("%s%s", path, basename(copy));
		free(path);
		path = full;
	}
	return file_put(c, name, path, data, len, a->uid, a->gid, a->mode ? a->mode : mode, err);
}

static int file_pull(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *name = NULL;
	cleanup_free char *path = NULL;
	cleanup_free char *dest = NULL;
	cleanup_response struct http_response r = { 0 };
	cleanup_close int fd = -1;
	const char *mode;
	mode_t m = 0644;
	struct stat st;

	if (target_split(a->pos[0], &name, &path, err) < 0)
		return -1;
	if (file_get(c, name, path, &r, err) < 0)
		return -1;
	if (!strcmp(a->pos[1], "-")) {
		if (write_all(STDOUT_FILENO, r.body, r.len) < 0)
			return cella_error_set(err, errno, "write to stdout");
		return 0;
	}
	dest = xstrdup(a->pos[1]);
	if (stat(dest, &st) == 0 && S_ISDIR(st.st_mode)) {
		cleanup_free char *copy = xstrdup(path);
		char *full = xasprintf("%s/%s", dest, basename(copy));
		free(dest);
		dest = full;
	}
	mode = http_header_get(&r, "X-Cella-Mode");
	if (mode && check_octal(mode, "mode", err) == 0)
		m = strtoul(mode, NULL, 8) & 0777;
	cella_error_clear(err);
	fd = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, m);
	if (fd < 0)
		return cella_error_set(err, errno, "open `%s`", dest);
	if (write_all(fd, r.body, r.len) < 0)
		return cella_error_set(err, errno, "write `%s`", dest);
	return 0;
}

static int file_edit(struct client *c, struct args *a, struct cella_error *err)
{
	cleanup_free char *name = NULL;
	cleanup_free char *path = NULL;
	cleanup_free char *text = NULL;
	cleanup_response struct http_response r = { 0 };

	if (target_split(a->pos[0], &name, &path, err) < 0)
		return -1;
	if (file_get(c, name, path, &r, err) < 0)
		return -1;
	if (memchr(r.body, 0, r.len))
		return cella_error_set(err, 0, "`%s` is a binary file", path);
	if (isatty(STDIN_FILENO))
		text = editor_run(r.body, "", err);
	else
		text = read_fd_text(STDIN_FILENO, NULL, err);
	if (!text)
		return -1;
	return file_put(c, name, path, text, strlen(text), http_header_get(&r, "X-Cella-Uid"),
			http_header_get(&r, "X-Cella-Gid"), http_header_get(&r, "X-Cella-Mode"), err);
}

static const struct subcommand subs[] = {
	{ "push", file_push, 2, 2, "LOCAL|- NAME/PATH", "copy a local file into an instance" },
	{ "pull", file_pull, 2, 2, "NAME/PATH LOCAL|-", "copy a file out of an instance" },
	{ "edit", file_edit, 1, 1, "NAME/PATH", "edit a file of an instance in $EDITOR" },
};

int cmd_file(struct client *c, struct args *a, struct cella_error *err)
{
	return subcommand_run("file", subs, ARRAY_SIZE(subs), c, a, err);
}
