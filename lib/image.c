/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The image store: VAR/images/FINGERPRINT/{rootfs,metadata.json}, one row in
 * `images` each, names in `image_aliases`.  Content-addressed: the
 * fingerprint is the SHA-256 of the image's canonical archive (the imported
 * file as given, the OCI manifest for a layout directory, the deterministic
 * tar stream of a built tree).  An image is made in VAR/images/.tmp-PID-XXXXXX
 * and renamed into place only once complete and recorded, so a failure
 * leaves neither a row nor a directory.  See docs/images.md.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "image.h"
#include "util.h"

#define FP_LEN 64
#define FP_PREFIX_MIN 12
#define JSON_MAX (4 << 20)

const char *image_arch_host(void)
{
	static __thread struct utsname u;
	if (!u.machine[0] && uname(&u) < 0)
		return "unknown";
	return u.machine;
}

static const char *arch_from_oci(const char *a)
{
	static const struct { const char *oci, *uname; } map[] = {
		{ "amd64", "x86_64" }, { "arm64", "aarch64" }, { "386", "i686" }, { "arm", "armv7l" },
		{ "ppc64le", "ppc64le" }, { "s390x", "s390x" }, { "riscv64", "riscv64" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (!strcmp(a, map[i].oci))
			return map[i].uname;
	return a;
}

static bool is_hex(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);
	if (n < min || n > max)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s) && !(*s >= 'a' && *s <= 'f'))
			return false;
	return true;
}

/* Alias names end up in URLs and CLI arguments, never in host paths; still
 * kept to a small alphabet: 1-63 of [A-Za-z0-9._/-], no "..", not starting
 * with "/" or "-" (an option, an absolute path). */
static int alias_check(const char *a, struct cella_error *err)
{
	size_t n = a ? strlen(a) : 0;
	if (n < 1 || n > 63)
		return cella_error_set(err, EINVAL, "alias `%s`: 1 to 63 characters", a ? a : "");
	if (a[0] == '/' || a[0] == '-')
		return cella_error_set(err, EINVAL, "alias `%s`: must not start with `%c`", a, a[0]);
	if (strstr(a, ".."))
		return cella_error_set(err, EINVAL, "alias `%s`: must not contain `..`", a);
	for (const char *p = a; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._/-", *p))
			return cella_error_set(err, EINVAL, "alias `%s`: invalid character `%c` (A-Z a-z 0-9 . _ / -)", a,
					       isprint((unsigned char)*p) ? *p : '?');
	return 0;
}

/* ---- lookups ---- */

static int image_row_exists(struct cella_host *h, const char *fp, struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT 1 FROM images WHERE fingerprint = ?", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, fp, -1, SQLITE_STATIC);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		return 1;
	if (r != SQLITE_DONE)
		return db_error(host_db(h), err, "images");
	return 0;
}

/* An alias's fingerprint: 1 found, 0 not, -1 error. */
static int alias_lookup(struct cella_host *h, const char *alias, char fp[FP_LEN + 1], struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st =
		db_prepare(host_db(h), "SELECT fingerprint FROM image_aliases WHERE name = ?", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, alias, -1, SQLITE_STATIC);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		snprintf(fp, FP_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 0));
		return 1;
	}
	if (r != SQLITE_DONE)
		return db_error(host_db(h), err, "image aliases");
	return 0;
}

/* A full fingerprint, an alias, or a unique prefix of >= 12 hex digits. */
static int image_resolve(struct cella_host *h, const char *ref, char fp[FP_LEN + 1], struct cella_error *err)
{
	if (!ref || !*ref)
		return cella_error_set(err, EINVAL, "no image given");
	if (is_hex(ref, FP_LEN, FP_LEN)) {
		int r = image_row_exists(h, ref, err);
		if (r < 0)
			return -1;
		if (r) {
			memcpy(fp, ref, FP_LEN + 1);
			return 0;
		}
	}
	int r = alias_lookup(h, ref, fp, err);
	if (r < 0)
		return -1;
	if (r)
		return 0;
	if (is_hex(ref, FP_PREFIX_MIN, FP_LEN - 1)) {
		cleanup_stmt sqlite3_stmt *st = db_prepare(
			host_db(h), "SELECT fingerprint FROM images WHERE substr(fingerprint, 1, ?) = ? LIMIT 2", err);
		if (!st)
			return -1;
		sqlite3_bind_int(st, 1, (int)strlen(ref));
		sqlite3_bind_text(st, 2, ref, -1, SQLITE_STATIC);
		int n = 0;
		while ((r = sqlite3_step(st)) == SQLITE_ROW) {
			if (n++ == 0)
				snprintf(fp, FP_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 0));
		}
		if (r != SQLITE_DONE)
			return db_error(host_db(h), err, "images");
		if (n == 1)
			return 0;
		if (n > 1)
			return cella_error_set(err, EINVAL, "image `%s`: ambiguous fingerprint prefix", ref);
	}
	return cella_error_set(err, ENOENT, "image `%s` not found", ref);
}

static json_t *image_aliases(struct cella_host *h, const char *fp, struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st = db_prepare(
		host_db(h), "SELECT name, description FROM image_aliases WHERE fingerprint = ? ORDER BY name", err);
	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, fp, -1, SQLITE_STATIC);
	json_t *arr = json_array();
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, json_pack("{s:s, s:s}", "name", (const char *)sqlite3_column_text(st, 0),
						     "description", (const char *)sqlite3_column_text(st, 1)));
	if (r != SQLITE_DONE) {
		json_decref(arr);
		db_error(host_db(h), err, "image aliases");
		return NULL;
	}
	return arr;
}

#define IMAGE_COLUMNS "fingerprint, type, properties, size, created_at"

/* The API object of the current row of `st` (IMAGE_COLUMNS). */
static json_t *image_from_row(struct cella_host *h, sqlite3_stmt *st, struct cella_error *err)
{
	const char *fp = (const char *)sqlite3_column_text(st, 0);
	json_t *aliases = image_aliases(h, fp, err);
	if (!aliases)
		return NULL;
	json_t *props = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
	if (!json_is_object(props)) {
		json_decref(props);
		props = json_object();
	}
	static const char *const keys[] = { "os", "release", "architecture", "description", "variant" };
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!json_object_get(props, keys[i]))
			json_object_set_new(props, keys[i], json_string(""));
	return json_pack("{s:s, s:s, s:o, s:o, s:I, s:s}", "fingerprint", fp, "type",
			 (const char *)sqlite3_column_text(st, 1), "aliases", aliases, "properties", props, "size",
			 (json_int_t)sqlite3_column_int64(st, 3), "created_at", (const char *)sqlite3_column_text(st, 4));
}

json_t *cella_image_list(struct cella_host *h, struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st =
		db_prepare(host_db(h), "SELECT " IMAGE_COLUMNS " FROM images ORDER BY created_at, fingerprint", err);
	if (!st)
		return NULL;
	json_t *arr = json_array();
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *img = image_from_row(h, st, err);
		if (!img) {
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, img);
	}
	if (r != SQLITE_DONE) {
		json_decref(arr);
		db_error(host_db(h), err, "images");
		return NULL;
	}
	return arr;
}

json_t *cella_image_get(struct cella_host *h, const char *ref, struct cella_error *err)
{
	char fp[FP_LEN + 1];
	if (image_resolve(h, ref, fp, err) < 0)
		return NULL;
	cleanup_stmt sqlite3_stmt *st =
		db_prepare(host_db(h), "SELECT " IMAGE_COLUMNS " FROM images WHERE fingerprint = ?", err);
	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, fp, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		cella_error_set(err, ENOENT, "image `%s` not found", ref);
		return NULL;
	}
	return image_from_row(h, st, err);
}

/* ---- aliases ---- */

static int alias_insert(struct cella_host *h, const char *alias, const char *fp, struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st =
		db_prepare(host_db(h), "INSERT INTO image_aliases (name, fingerprint) VALUES (?, ?)", err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, alias, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, fp, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		db_error(host_db(h), err, "alias");
		if (err && err->code == EEXIST)
			cella_error_set(err, EEXIST, "alias `%s` already exists", alias);
		return -1;
	}
	return 0;
}

int cella_image_alias_add(struct cella_host *h, const char *alias, const char *fingerprint, struct cella_error *err)
{
	char fp[FP_LEN + 1];
	if (alias_check(alias, err) < 0 || image_resolve(h, fingerprint, fp, err) < 0)
		return -1;
	return alias_insert(h, alias, fp, err);
}

int cella_image_alias_delete(struct cella_host *h, const char *alias, struct cella_error *err)
{
	if (alias_check(alias, err) < 0)
		return -1;
	if (db_run1(host_db(h), "DELETE FROM image_aliases WHERE name = ?", alias, 0, "alias", err) < 0)
		return -1;
	if (sqlite3_changes(host_db(h)) == 0)
		return cella_error_set(err, ENOENT, "alias `%s` not found", alias);
	return 0;
}

/* Refuse up front an alias that is taken, before any work is done. */
static int alias_free(struct cella_host *h, const char *alias, struct cella_error *err)
{
	char fp[FP_LEN + 1];
	int r = alias_lookup(h, alias, fp, err);
	if (r < 0)
		return -1;
	if (r)
		return cella_error_set(err, EEXIST, "alias `%s` already exists (image %.12s)", alias, fp);
	return 0;
}

/* ---- delete ---- */

int cella_image_delete(struct cella_host *h, const char *ref, struct cella_error *err)
{
	char fp[FP_LEN + 1];
	if (image_resolve(h, ref, fp, err) < 0)
		return -1;
	cleanup_free char *images = xasprintf("%s/images", h->var_dir);
	cleanup_close int imagesfd = open(images, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (imagesfd < 0)
		return cella_error_set(err, errno, "open `%s`", images);
	if (db_begin(host_db(h), err) < 0)
		return -1;

	/* An instance's rootfs is presented from the image: it must stay. */
	{
		cleanup_stmt sqlite3_stmt *st =
			db_prepare(host_db(h), "SELECT name FROM instances WHERE image = ? ORDER BY name", err);
		if (!st)
			goto fail;
		sqlite3_bind_text(st, 1, fp, -1, SQLITE_STATIC);
		char users[512] = "";
		size_t n = 0;
		while (sqlite3_step(st) == SQLITE_ROW) {
			size_t l = strlen(users);
			if (l < sizeof(users) - 80)
				snprintf(users + l, sizeof(users) - l, "%s`%s`", n ? ", " : "",
					 (const char *)sqlite3_column_text(st, 0));
			n++;
		}
		if (n) {
			cella_error_set(err, EBUSY, "image %.12s is used by instance%s %s", fp, n > 1 ? "s" : "", users);
			goto fail;
		}
	}
	if (db_run1(host_db(h), "DELETE FROM images WHERE fingerprint = ?", fp, 0, "delete image", err) < 0)
		goto fail;
	/* Out of the way first (rename is atomic), removed after the commit. */
	char gone[FP_LEN + 32];
	snprintf(gone, sizeof(gone), ".del-%s-%d", fp, (int)getpid());
	if (rm_rf_at(imagesfd, gone, err) < 0)
		goto fail;
	bool moved = renameat(imagesfd, fp, imagesfd, gone) == 0;
	if (!moved && errno != ENOENT) {
		cella_error_set(err, errno, "move `%s/%s`", images, fp);
		goto fail;
	}
	if (db_commit(host_db(h), err) < 0) {
		db_rollback(host_db(h));
		if (moved)
			renameat(imagesfd, gone, imagesfd, fp);
		return cella_error_wrap(err, "delete image %.12s", fp);
	}
	if (moved && rm_rf_at(imagesfd, gone, err) < 0)
		return cella_error_wrap(err, "delete image %.12s (its record is gone)", fp);
	return 0;
fail:
	db_rollback(host_db(h));
	return cella_error_wrap(err, "delete image %.12s", fp);
}

/* ---- making an image ---- */

/*
 * What a process that died while making (.tmp-PID-*) or deleting
 * (.del-FP-PID) an image left behind: removed when PID is gone.
 */
static void image_leftovers_remove(int imagesfd)
{
	int fd = openat(imagesfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	cleanup_dir DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		long pid = 0;
		if (!strncmp(de->d_name, ".tmp-", 5))
			pid = strtol(de->d_name + 5, NULL, 10);
		else if (!strncmp(de->d_name, ".del-", 5) && strrchr(de->d_name, '-'))
			pid = strtol(strrchr(de->d_name, '-') + 1, NULL, 10);
		if (pid > 0 && pid != getpid() && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			rm_rf_at(fd, de->d_name, NULL);
	}
}

int image_new_begin(struct cella_host *h, struct image_new *n, struct cella_error *err)
{
	memset(n, 0, sizeof(*n));
	n->imagesfd = n->tmpfd = n->rootfd = -1;
	cleanup_free char *images = xasprintf("%s/images", h->var_dir);
	n->imagesfd = open(images, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (n->imagesfd < 0)
		return cella_error_set(err, errno, "open `%s`", images);
	image_leftovers_remove(n->imagesfd);
	cleanup_free char *tmpl = xasprintf("%s/.tmp-%d-XXXXXX", images, (int)getpid());
	if (!mkdtemp(tmpl)) {
		cella_error_set(err, errno, "create a directory in `%s`", images);
		goto fail;
	}
	snprintf(n->tmpname, sizeof(n->tmpname), "%s", strrchr(tmpl, '/') + 1);
	n->tmpfd = openat(n->imagesfd, n->tmpname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (n->tmpfd < 0 || mkdirat(n->tmpfd, "rootfs", 0755) < 0 || fchmodat(n->tmpfd, "rootfs", 0755, 0) < 0 ||
	    (n->rootfd = openat(n->tmpfd, "rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		cella_error_set(err, errno, "create `%s/rootfs`", tmpl);
		goto fail;
	}
	n->properties = json_object();
	n->meta = json_object();
	return 0;
fail:
	image_new_abort(n);
	return -1;
}

void image_new_abort(struct image_new *n)
{
	if (n->rootfd >= 0)
		close(n->rootfd);
	if (n->tmpfd >= 0)
		close(n->tmpfd);
	if (n->imagesfd >= 0) {
		if (n->tmpname[0])
			rm_rf_at(n->imagesfd, n->tmpname, NULL);
		close(n->imagesfd);
	}
	json_decref(n->properties);
	json_decref(n->meta);
	memset(n, 0, sizeof(*n));
	n->imagesfd = n->tmpfd = n->rootfd = -1;
}

/*
 * Record the image and move it into place, in one transaction: the row is
 * inserted, the directory renamed, then the transaction committed; if the
 * commit fails the directory is removed again.
 */
static char *image_new_commit(struct cella_host *h, struct image_new *n, const char *alias, struct cella_error *err)
{
	char now[40];
	time_now_rfc3339(now, sizeof(now));
	const char *fp = n->fingerprint;

	json_t *meta = json_pack("{s:s, s:s, s:O, s:I, s:s}", "fingerprint", fp, "type", "vps", "properties",
				 n->properties, "size", (json_int_t)n->size, "created_at", now);
	json_object_update(meta, n->meta);
	cleanup_free char *text = json_dumps(meta, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(meta);
	cleanup_free char *props = json_dumps(n->properties, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text || !props) {
		cella_error_set(err, ENOMEM, "metadata");
		goto fail;
	}
	if (write_file_atomic(n->tmpfd, "metadata.json", text, strlen(text), 0644, err) < 0)
		goto fail;
	/* everything written has reached the disk, or we say ENOSPC now */
	if (syncfs(n->tmpfd) < 0) {
		cella_error_set(err, errno, "sync the new image");
		goto fail;
	}

	if (db_begin(host_db(h), err) < 0)
		goto fail;
	{
		cleanup_stmt sqlite3_stmt *st = db_prepare(
			host_db(h),
			"INSERT INTO images (fingerprint, type, properties, size, created_at) VALUES (?, 'vps', ?, ?, ?)",
			err);
		if (!st)
			goto rollback;
		sqlite3_bind_text(st, 1, fp, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, props, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)n->size);
		sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			db_error(host_db(h), err, "image");
			if (err && err->code == EEXIST)
				cella_error_set(err, EEXIST, "image %.12s already exists", fp);
			goto rollback;
		}
	}
	if (alias && alias_insert(h, alias, fp, err) < 0)
		goto rollback;
	/* A directory without a row is what a crash between rename and commit
	 * leaves: nothing refers to it. */
	if (rm_rf_at(n->imagesfd, fp, err) < 0)
		goto rollback;
	if (renameat(n->imagesfd, n->tmpname, n->imagesfd, fp) < 0) {
		cella_error_set(err, errno, "move the new image into place");
		goto rollback;
	}
	n->tmpname[0] = '\0';
	if (db_commit(host_db(h), err) < 0) {
		db_rollback(host_db(h));
		rm_rf_at(n->imagesfd, fp, NULL);
		goto fail;
	}
	char *ret = xstrdup(fp);
	image_new_abort(n);
	return ret;
rollback:
	db_rollback(host_db(h));
fail:
	image_new_abort(n);
	return NULL;
}

/*
 * The image already exists: EEXIST, unless the caller only adds a new
 * alias to it (importing the same file again under another name).
 */
static char *image_known(struct cella_host *h, const char *fp, const char *alias, struct cella_error *err)
{
	if (!alias) {
		cella_error_set(err, EEXIST, "image %.12s already exists", fp);
		return NULL;
	}
	if (alias_insert(h, alias, fp, err) < 0)
		return NULL;
	return xstrdup(fp);
}

/* ---- os-release ---- */

/* Properties the rootfs says about itself: /etc/os-release, read inside the root. */
static void os_release_read(int rootfd, json_t *out)
{
	static const char *const paths[] = { "etc/os-release", "usr/lib/os-release" };
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		/* O_NONBLOCK: a fifo planted there must not hang us */
		cleanup_close int fd = open_in_root(rootfd, paths[i], O_RDONLY | O_NONBLOCK, 0);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 65536)
			continue;
		cleanup_free char *text = read_fd_text(fd, NULL, NULL);
		if (!text)
			continue;
		static const struct { const char *key, *prop; } map[] = {
			{ "ID=", "os" }, { "VERSION_ID=", "release" }, { "PRETTY_NAME=", "description" },
		};
		for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
			for (size_t k = 0; k < ARRAY_SIZE(map); k++) {
				size_t kl = strlen(map[k].key);
				if (strncmp(line, map[k].key, kl))
					continue;
				char *v = line + kl;
				size_t vl = strlen(v);
				if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
					v[vl - 1] = '\0';
					v++;
				}
				if (!json_object_get(out, map[k].prop) && strlen(v) < 256)
					json_object_set_new(out, map[k].prop, json_string(v));
			}
		}
		return;
	}
}

/* ---- OCI image layouts ---- */

/* Open a file of the layout: beneath it, no symlinks at all (an OCI archive
 * is untrusted, and its blobs must not lead to host files). */
static int layout_open(int layoutfd, const char *path)
{
	struct open_how how = {
		.flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd;
	do
		fd = syscall(SYS_openat2, layoutfd, path, &how, sizeof(how));
	while (fd < 0 && (errno == EINTR || errno == EAGAIN));
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	/* back to blocking reads */
	fcntl(fd, F_SETFL, 0);
	return fd;
}

/* "sha256:HEX" -> "blobs/sha256/HEX"; anything else is refused. */
static int blob_path(const char *digest, char *out, size_t len, struct cella_error *err)
{
	if (!digest || strncmp(digest, "sha256:", 7) || !is_hex(digest + 7, FP_LEN, FP_LEN))
		return cella_error_set(err, EINVAL, "unsupported digest `%s` (sha256:HEX expected)",
				       digest ? digest : "");
	snprintf(out, len, "blobs/sha256/%s", digest + 7);
	return 0;
}

/* A small JSON file of the layout; with `digest`, its content is checked. */
static json_t *layout_json(int layoutfd, const char *path, const char *digest, struct cella_error *err)
{
	cleanup_close int fd = layout_open(layoutfd, path);
	if (fd < 0) {
		cella_error_set(err, errno, "open `%s`", path);
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size > JSON_MAX) {
		cella_error_set(err, EFBIG, "`%s`", path);
		return NULL;
	}
	size_t len;
	cleanup_free char *text = read_fd_text(fd, &len, err);
	if (!text)
		return NULL;
	if (digest) {
		struct sha256 s;
		char hex[65];
		sha256_init(&s);
		sha256_update(&s, text, len);
		sha256_final_hex(&s, hex);
		if (strcmp(hex, digest + 7)) {
			cella_error_set(err, EINVAL, "`%s`: content does not match its digest", path);
			return NULL;
		}
	}
	json_error_t je;
	json_t *j = json_loadb(text, len, 0, &je);
	if (!json_is_object(j)) {
		json_decref(j);
		cella_error_set(err, EINVAL, "`%s`: invalid JSON: %s", path, je.text);
		return NULL;
	}
	return j;
}

static const char *oci_host_arch(void)
{
	static const struct { const char *u, *o; } map[] = {
		{ "x86_64", "amd64" }, { "aarch64", "arm64" }, { "i686", "386" }, { "armv7l", "arm" },
	};
	const char *u = image_arch_host();
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (!strcmp(u, map[i].u))
			return map[i].o;
	return u;
}

/*
 * Find the image manifest: index.json, through nested indexes, preferring
 * the entry for this host's architecture.  Returns the manifest with its
 * digest in `digest` ("sha256:HEX").
 */
static json_t *oci_manifest_find(int layoutfd, char digest[80], struct cella_error *err)
{
	cleanup_close int mark = layout_open(layoutfd, "oci-layout");
	if (mark < 0) {
		cella_error_set(err, errno, "not an OCI image layout (`oci-layout`)");
		return NULL;
	}
	json_t *index = layout_json(layoutfd, "index.json", NULL, err);
	for (int depth = 0; index; depth++) {
		if (depth == 4) {
			cella_error_set(err, EINVAL, "`index.json`: indexes nested too deep");
			break;
		}
		json_t *list = json_object_get(index, "manifests"), *pick = NULL, *m;
		size_t i;
		json_array_foreach(list, i, m) {
			json_t *plat = json_object_get(m, "platform");
			const char *arch = json_string_value(json_object_get(plat, "architecture"));
			bool native = arch && !strcmp(arch, oci_host_arch());
			if (!pick || native)
				pick = m;
			if (native)
				break;
		}
		if (!pick) {
			cella_error_set(err, EINVAL, "`index.json`: no manifests");
			break;
		}
		const char *d = json_string_value(json_object_get(pick, "digest"));
		const char *mt = json_string_value(json_object_get(pick, "mediaType"));
		char path[128];
		if (blob_path(d, path, sizeof(path), err) < 0)
			break;
		json_t *next = layout_json(layoutfd, path, d, err);
		if (next && !(mt && strstr(mt, "index")) && !json_object_get(next, "manifests")) {
			snprintf(digest, 80, "%s", d);
			json_decref(index);
			return next;
		}
		json_decref(index);
		index = next;
	}
	json_decref(index);
	return NULL;
}

/* Apply the manifest's layers in order onto rootfd; properties from its config. */
static int oci_apply(int layoutfd, json_t *manifest, struct image_new *n, struct tarball_stats *st,
		     struct cella_error *err)
{
	json_t *config = json_object_get(manifest, "config");
	const char *cd = json_string_value(json_object_get(config, "digest"));
	char path[128];
	if (cd) {
		if (blob_path(cd, path, sizeof(path), err) < 0)
			return cella_error_wrap(err, "manifest config");
		json_t *cfg = layout_json(layoutfd, path, cd, err);
		if (!cfg)
			return cella_error_wrap(err, "manifest config");
		const char *os = json_string_value(json_object_get(cfg, "os"));
		const char *arch = json_string_value(json_object_get(cfg, "architecture"));
		if (arch && strlen(arch) < 64)
			json_object_set_new(n->meta, "oci_architecture", json_string(arch_from_oci(arch)));
		if (os && strlen(os) < 64)
			json_object_set_new(n->meta, "oci_os", json_string(os));
		json_decref(cfg);
	}
	json_t *layers = json_object_get(manifest, "layers"), *l;
	if (!json_is_array(layers))
		return cella_error_set(err, EINVAL, "manifest: no `layers`");
	size_t i;
	json_array_foreach(layers, i, l) {
		const char *d = json_string_value(json_object_get(l, "digest"));
		if (blob_path(d, path, sizeof(path), err) < 0)
			return cella_error_wrap(err, "layer %zu", i);
		cleanup_close int fd = layout_open(layoutfd, path);
		if (fd < 0)
			return cella_error_set(err, errno, "layer %zu: open `%s`", i, path);
		char got[65];
		if (tarball_extract_fd(fd, n->rootfd, TARBALL_OCI_LAYER, st, got, err) < 0)
			return cella_error_wrap(err, "layer %zu (%.19s)", i, d);
		if (strcmp(got, d + 7))
			return cella_error_set(err, EINVAL, "layer %zu: `%s` does not match its digest", i, path);
		n->size += json_integer_value(json_object_get(l, "size"));
	}
	return 0;
}

/* ---- import ---- */

static int properties_check(const json_t *p, struct cella_error *err)
{
	if (!p)
		return 0;
	if (!json_is_object(p))
		return cella_error_set(err, EINVAL, "properties: an object expected");
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)p, k, v) {
		if (!json_is_string(v) || strlen(k) > 64 || json_string_length(v) > 1024)
			return cella_error_set(err, EINVAL, "properties.%s: a string (up to 1024 bytes) expected", k);
	}
	return 0;
}

static void stats_record(struct image_new *n, const struct tarball_stats *st)
{
	json_object_set_new(n->meta, "warnings",
			    json_pack("{s:I, s:I}", "devices_skipped", (json_int_t)st->devices_skipped,
				      "sockets_skipped", (json_int_t)st->sockets_skipped));
	json_object_set_new(n->meta, "entries", json_integer((json_int_t)st->entries));
}

static char *image_import(struct cella_host *h, const char *path, const char *alias, const json_t *properties,
			  struct cella_error *err)
{
	if (alias && (alias_check(alias, err) < 0 || alias_free(h, alias, err) < 0))
		return NULL;
	if (properties_check(properties, err) < 0)
		return NULL;

	struct stat sb;
	if (stat(path, &sb) < 0) {
		cella_error_set(err, errno, "`%s`", path);
		return NULL;
	}
	cleanup_close int fd = -1, layoutfd = -1;
	json_t *manifest = NULL;
	char fp[FP_LEN + 1], manifest_digest[80] = "";
	uint64_t size = 0;
	bool oci = false, oci_archive = false;

	if (S_ISDIR(sb.st_mode)) {
		/* a layout directory: named by its manifest's digest */
		layoutfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (layoutfd < 0) {
			cella_error_set(err, errno, "open `%s`", path);
			return NULL;
		}
		manifest = oci_manifest_find(layoutfd, manifest_digest, err);
		if (!manifest)
			return NULL;
		snprintf(fp, sizeof(fp), "%.64s", manifest_digest + 7);
		oci = true;
	} else {
		fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
		if (fd < 0) {
			cella_error_set(err, errno, "open `%s`", path);
			return NULL;
		}
		if (tarball_scan_fd(fd, fp, &size, &oci_archive, err) < 0)
			return NULL;
		oci = oci_archive;
	}

	int known = image_row_exists(h, fp, err);
	if (known < 0) {
		json_decref(manifest);
		return NULL;
	}
	if (known) {
		json_decref(manifest);
		return image_known(h, fp, alias, err);
	}

	struct image_new n;
	struct tarball_stats st = { 0 };
	if (image_new_begin(h, &n, err) < 0) {
		json_decref(manifest);
		return NULL;
	}
	n.size = size;
	if (oci_archive) {
		/* the layout's files, unpacked beside the rootfs, then read as a directory */
		char got[65];
		if (mkdirat(n.tmpfd, "oci", 0700) < 0 ||
		    (layoutfd = openat(n.tmpfd, "oci", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			cella_error_set(err, errno, "create the layout directory");
			goto fail;
		}
		if (lseek(fd, 0, SEEK_SET) < 0) {
			cella_error_set(err, errno, "seek");
			goto fail;
		}
		struct tarball_stats ost = { 0 };
		if (tarball_extract_fd(fd, layoutfd, TARBALL_PLAIN, &ost, got, err) < 0) {
			cella_error_wrap(err, "OCI archive");
			goto fail;
		}
		if (strcmp(got, fp)) {
			cella_error_set(err, EAGAIN, "the file changed while it was imported");
			goto fail;
		}
		manifest = oci_manifest_find(layoutfd, manifest_digest, err);
		if (!manifest)
			goto fail;
	}
	if (oci) {
		if (oci_apply(layoutfd, manifest, &n, &st, err) < 0)
			goto fail;
		json_object_set_new(n.meta, "source",
				    json_pack("{s:s, s:s}", "type", oci_archive ? "oci-archive" : "oci-layout",
					      "manifest", manifest_digest));
		if (oci_archive && rm_rf_at(n.tmpfd, "oci", err) < 0)
			goto fail;
	} else {
		char got[65];
		if (lseek(fd, 0, SEEK_SET) < 0) {
			cella_error_set(err, errno, "seek");
			goto fail;
		}
		if (tarball_extract_fd(fd, n.rootfd, 0, &st, got, err) < 0)
			goto fail;
		if (strcmp(got, fp)) {
			cella_error_set(err, EAGAIN, "the file changed while it was imported");
			goto fail;
		}
		json_object_set_new(n.meta, "source", json_pack("{s:s}", "type", "tarball"));
	}
	json_decref(manifest);
	manifest = NULL;
	memcpy(n.fingerprint, fp, sizeof(fp));
	stats_record(&n, &st);

	/* Properties: the caller's, else the OCI config's architecture, else
	 * what the rootfs says in os-release; "os" names the distribution, so
	 * the config's "linux" is only the last resort for it. */
	if (properties)
		json_object_update(n.properties, (json_t *)properties);
	const char *arch = json_string_value(json_object_get(n.meta, "oci_architecture"));
	if (arch && !json_object_get(n.properties, "architecture"))
		json_object_set_new(n.properties, "architecture", json_string(arch));
	os_release_read(n.rootfd, n.properties);
	const char *os = json_string_value(json_object_get(n.meta, "oci_os"));
	if (os && !json_object_get(n.properties, "os"))
		json_object_set_new(n.properties, "os", json_string(os));
	if (!json_object_get(n.properties, "architecture"))
		json_object_set_new(n.properties, "architecture", json_string(image_arch_host()));
	return image_new_commit(h, &n, alias, err);
fail:
	json_decref(manifest);
	image_new_abort(&n);
	return NULL;
}

char *cella_image_import(struct cella_host *h, const char *path, const char *alias, const json_t *properties,
			 struct cella_error *err)
{
	if (!path || !*path) {
		cella_error_set(err, EINVAL, "import: no file given");
		return NULL;
	}
	char *fp = image_import(h, path, alias, properties, err);
	if (!fp)
		cella_error_wrap(err, "import `%s`", path);
	return fp;
}

/* ---- build ---- */

char *cella_image_build(struct cella_host *h, const char *what, const char *variant, const char *alias,
			struct cella_error *err)
{
	if (!what) {
		cella_error_set(err, EINVAL, "build: nothing to build (minimal, debian/12)");
		return NULL;
	}
	bool minimal = !strcmp(what, "minimal");
	bool debian = !strcmp(what, "debian/12") || !strcmp(what, "debian/bookworm");
	if (!minimal && !debian) {
		cella_error_set(err, EINVAL, "build `%s`: unknown image (minimal, debian/12)", what);
		return NULL;
	}
	if (minimal && variant && *variant) {
		cella_error_set(err, EINVAL, "build `%s`: no variant `%s`", what, variant);
		return NULL;
	}
	if (!alias)
		alias = minimal ? "minimal" : "debian/12";
	if (alias_check(alias, err) < 0 || alias_free(h, alias, err) < 0) {
		cella_error_wrap(err, "build `%s`", what);
		return NULL;
	}
	struct image_new n;
	if (image_new_begin(h, &n, err) < 0)
		goto wrap;
	int r = minimal ? image_build_minimal(h, &n, err) : image_build_debian(h, &n, "12", variant, err);
	if (r < 0 || tree_digest(n.rootfd, n.fingerprint, &n.size, err) < 0) {
		image_new_abort(&n);
		goto wrap;
	}
	json_object_set_new(n.meta, "source", json_pack("{s:s, s:s}", "type", "build", "what", what));
	int known = image_row_exists(h, n.fingerprint, err);
	if (known) {
		char fp[FP_LEN + 1];
		memcpy(fp, n.fingerprint, sizeof(fp));
		image_new_abort(&n);
		char *ret = known < 0 ? NULL : image_known(h, fp, alias, err);
		if (!ret)
			goto wrap;
		return ret;
	}
	char *fp = image_new_commit(h, &n, alias, err);
	if (fp)
		return fp;
wrap:
	cella_error_wrap(err, "build `%s`", what);
	return NULL;
}
