/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the image store (lib/image.c, lib/image_build.c,
 * lib/tarball.c) against a temporary host.  Archives, hostile ones
 * included, are written here with libarchive's writer.  Needs root (owners
 * are kept); the debian/12 build runs only with CELLA_SLOW=1.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <cella/manager.h>
#include "host.h"
#include "tarball.h"
#include "util.h"

struct fixture {
	char base[64];
	char var[96];
	struct cella_host *h;
	bool tmpfs; /* var is a small tmpfs (ENOSPC test) */
};

static int host_make(struct fixture *f, const char *var_size)
{
	snprintf(f->base, sizeof(f->base), "/tmp/cella-test-image-XXXXXX");
	if (!mkdtemp(f->base))
		return -1;
	snprintf(f->var, sizeof(f->var), "%s/var", f->base);
	if (var_size) {
		char opts[64];
		snprintf(opts, sizeof(opts), "size=%s", var_size);
		if (mkdir(f->var, 0755) < 0 || mount("tmpfs", f->var, "tmpfs", 0, opts) < 0)
			return -1;
		f->tmpfs = true;
	}
	char run[96], log[96];
	snprintf(run, sizeof(run), "%s/run", f->base);
	snprintf(log, sizeof(log), "%s/log", f->base);
	struct cella_host_opts o = { .var_dir = f->var, .run_dir = run, .log_dir = log };
	struct cella_error err = { 0 };
	if (cella_host_open(&o, &f->h, &err) < 0) {
		fprintf(stderr, "host: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = xmalloc0(sizeof(*f));
	if (host_make(f, NULL) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	cella_host_close(f->h);
	if (f->tmpfs)
		umount2(f->var, MNT_DETACH);
	char *slash = strrchr(f->base, '/');
	*slash = '\0';
	cleanup_close int tmp = open(f->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rm_rf_at(tmp, slash + 1, NULL);
	free(f);
	return 0;
}

/* ---- helpers ---- */

static char *path_of(struct fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *path_of(struct fixture *f, const char *fmt, ...)
{
	static char buf[4][1024];
	static int i;
	char rel[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	char *b = buf[i++ % 4];
	snprintf(b, 1024, "%s/%s", f->var, rel);
	return b;
}

/* Nothing but finished images under VAR/images: no temporary directory. */
static size_t images_dirs(struct fixture *f, bool *tmp_left)
{
	cleanup_dir DIR *d = opendir(path_of(f, "images"));
	assert_non_null(d);
	size_t n = 0;
	*tmp_left = false;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' && (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")))
			continue;
		if (de->d_name[0] == '.')
			*tmp_left = true;
		n++;
	}
	return n;
}

static void assert_store_empty(struct fixture *f)
{
	struct cella_error err = { 0 };
	json_t *l = cella_image_list(f->h, &err);
	assert_non_null(l);
	assert_int_equal(json_array_size(l), 0);
	json_decref(l);
	bool tmp;
	assert_int_equal(images_dirs(f, &tmp), 0);
	assert_false(tmp);
}

struct tentry {
	const char *path;
	mode_t type;        /* AE_IF*; 0 with hardlink */
	mode_t perm;
	int64_t uid, gid;
	const char *data;   /* file content, symlink target */
	const char *hardlink;
	dev_t rdev;
};

enum { F_NONE, F_GZIP, F_XZ, F_ZSTD };

static void tar_write(const char *path, int filter, const struct tentry *e, size_t n)
{
	struct archive *a = archive_write_new();
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	switch (filter) {
	case F_GZIP: assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK); break;
	case F_XZ: assert_int_equal(archive_write_add_filter_xz(a), ARCHIVE_OK); break;
	case F_ZSTD: assert_true(archive_write_add_filter_zstd(a) >= ARCHIVE_WARN); break;
	default: break;
	}
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ae = archive_entry_new();
		archive_entry_set_pathname(ae, e[i].path);
		archive_entry_set_uid(ae, e[i].uid);
		archive_entry_set_gid(ae, e[i].gid);
		archive_entry_set_mtime(ae, 1700000000, 0);
		if (e[i].hardlink) {
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_perm(ae, 0644);
			archive_entry_set_hardlink(ae, e[i].hardlink);
			archive_entry_set_size(ae, 0);
		} else {
			archive_entry_set_filetype(ae, e[i].type);
			archive_entry_set_perm(ae, e[i].perm ? e[i].perm : (e[i].type == AE_IFDIR ? 0755 : 0644));
			if (e[i].type == AE_IFLNK)
				archive_entry_set_symlink(ae, e[i].data);
			if (e[i].type == AE_IFCHR || e[i].type == AE_IFBLK)
				archive_entry_set_rdev(ae, e[i].rdev);
			archive_entry_set_size(ae, e[i].type == AE_IFREG && e[i].data ? strlen(e[i].data) : 0);
		}
		assert_true(archive_write_header(a, ae) >= ARCHIVE_WARN);
		if (!e[i].hardlink && e[i].type == AE_IFREG && e[i].data)
			assert_int_equal(archive_write_data(a, e[i].data, strlen(e[i].data)), (ssize_t)strlen(e[i].data));
		archive_entry_free(ae);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static char *file_text(const char *path)
{
	return read_file_at(AT_FDCWD, path, NULL, NULL);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!hay || !strstr(hay, needle))
		fail_msg("`%s` does not contain `%s`", hay ? hay : "(null)", needle);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- build minimal ---- */

static void test_build_minimal(void **state)
{
	struct fixture *f = *state;
	struct cella_error err = { 0 };
	if (access("/bin/busybox", X_OK) < 0)
		skip();
	/* what a dead process left half-made goes with the next build */
	pid_t dead = 4000000;
	while (kill(dead, 0) == 0 || errno != ESRCH)
		dead--;
	char left[64];
	snprintf(left, sizeof(left), "images/.tmp-%d-abcdef", (int)dead);
	assert_int_equal(mkdir_p(path_of(f, "%s/rootfs/etc", left), 0755, NULL), 0);
	double t0 = now_s();
	cleanup_free char *fp = cella_image_build(f->h, "minimal", NULL, NULL, &err);
	double dt = now_s() - t0;
	if (!fp)
		fail_msg("%s", err.msg);
	print_message("build minimal: %.0f ms\n", dt * 1000);
	assert_true(dt < 1.0);
	assert_int_equal(strlen(fp), 64);
	assert_int_equal(access(path_of(f, "%s", left), F_OK), -1);

	/* the tree */
	struct stat st;
	assert_int_equal(lstat(path_of(f, "images/%s/rootfs/bin/busybox", fp), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(lstat(path_of(f, "images/%s/rootfs/sbin/init", fp), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(lstat(path_of(f, "images/%s/rootfs/bin/sh", fp), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(lstat(path_of(f, "images/%s/rootfs/usr/sbin/httpd", fp), &st), 0);
	assert_int_equal(lstat(path_of(f, "images/%s/rootfs/tmp", fp), &st), 0);
	assert_int_equal(st.st_mode & 07777, 01777);
	assert_int_equal(lstat(path_of(f, "images/%s/rootfs/etc/shadow", fp), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(lstat(path_of(f, "images/%s/rootfs/etc/init.d/rcS", fp), &st), 0);
	assert_int_equal(st.st_mode & 0111, 0111);
	cleanup_free char *inittab = file_text(path_of(f, "images/%s/rootfs/etc/inittab", fp));
	assert_contains(inittab, "::sysinit:/etc/init.d/rcS");
	assert_contains(inittab, "::respawn:-/bin/sh");
	assert_contains(inittab, "::ctrlaltdel:/sbin/reboot");
	assert_contains(inittab, "::shutdown:");
	cleanup_free char *rcs = file_text(path_of(f, "images/%s/rootfs/etc/init.d/rcS", fp));
	assert_contains(rcs, "/run/cella-booted");
	assert_contains(rcs, "httpd -h /var/www -p 80");
	assert_contains(rcs, "udhcpc");
	cleanup_free char *osr = file_text(path_of(f, "images/%s/rootfs/etc/os-release", fp));
	assert_contains(osr, "ID=cella-minimal");
	cleanup_free char *shadow = file_text(path_of(f, "images/%s/rootfs/etc/shadow", fp));
	assert_contains(shadow, "root:!:");
	assert_int_equal(access(path_of(f, "images/%s/rootfs/usr/share/udhcpc/default.script", fp), X_OK), 0);
	assert_int_equal(access(path_of(f, "images/%s/rootfs/var/www/index.html", fp), R_OK), 0);
	cleanup_free char *meta = file_text(path_of(f, "images/%s/metadata.json", fp));
	assert_contains(meta, fp);

	/* the record */
	json_t *img = cella_image_get(f->h, "minimal", &err);
	assert_non_null(img);
	assert_string_equal(json_string_value(json_object_get(img, "fingerprint")), fp);
	assert_string_equal(json_string_value(json_object_get(img, "type")), "vps");
	json_t *props = json_object_get(img, "properties");
	assert_string_equal(json_string_value(json_object_get(props, "os")), "cella-minimal");
	assert_string_equal(json_string_value(json_object_get(props, "release")), "1");
	assert_string_equal(json_string_value(json_object_get(props, "description")), "Cella minimal (busybox)");
	assert_non_null(json_string_value(json_object_get(props, "architecture")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(img, "aliases"), 0), "name")),
			    "minimal");
	assert_true(json_integer_value(json_object_get(img, "size")) > 1000000);
	assert_non_null(json_string_value(json_object_get(img, "created_at")));
	json_decref(img);

	/* deterministic: the same build is the same image */
	char *again = cella_image_build(f->h, "minimal", NULL, NULL, &err);
	assert_null(again);
	assert_int_equal(err.code, EEXIST);
	again = cella_image_build(f->h, "minimal", NULL, "mini2", &err);
	if (!again)
		fail_msg("%s", err.msg);
	assert_string_equal(again, fp);
	free(again);
	json_t *l = cella_image_list(f->h, &err);
	assert_int_equal(json_array_size(l), 1);
	assert_int_equal(json_array_size(json_object_get(json_array_get(l, 0), "aliases")), 2);
	json_decref(l);

	/* lookups */
	char prefix[13];
	snprintf(prefix, sizeof(prefix), "%s", fp);
	img = cella_image_get(f->h, prefix, &err);
	assert_non_null(img);
	json_decref(img);
	img = cella_image_get(f->h, fp, &err);
	assert_non_null(img);
	json_decref(img);
	prefix[11] = '\0';
	assert_null(cella_image_get(f->h, prefix, &err));
	assert_int_equal(err.code, ENOENT);
	assert_null(cella_image_build(f->h, "gentoo", NULL, NULL, &err));
	assert_int_equal(err.code, EINVAL);
	bool tmp;
	assert_int_equal(images_dirs(f, &tmp), 1);
	assert_false(tmp);
}

/* ---- aliases, delete, in use ---- */

static void test_alias_delete_busy(void **state)
{
	struct fixture *f = *state;
	struct cella_error err = { 0 };
	if (access("/bin/busybox", X_OK) < 0)
		skip();
	cleanup_free char *fp = cella_image_build(f->h, "minimal", NULL, "base", &err);
	assert_non_null(fp);

	static const char *const bad[] = { "", "/abs", "-opt", "a..b", "sp ace", "semi;colon", "é",
					   "0123456789012345678901234567890123456789012345678901234567890123" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(cella_image_alias_add(f->h, bad[i], fp, &err), -1);
		assert_int_equal(err.code, EINVAL);
	}
	assert_int_equal(cella_image_alias_add(f->h, "my/img-1.0_x", fp, &err), 0);
	assert_int_equal(cella_image_alias_add(f->h, "my/img-1.0_x", fp, &err), -1);
	assert_int_equal(err.code, EEXIST);
	assert_int_equal(cella_image_alias_add(f->h, "other", "0123456789abcdef", &err), -1);
	assert_int_equal(err.code, ENOENT);
	json_t *img = cella_image_get(f->h, "my/img-1.0_x", &err);
	assert_non_null(img);
	json_decref(img);
	assert_int_equal(cella_image_alias_delete(f->h, "my/img-1.0_x", &err), 0);
	assert_int_equal(cella_image_alias_delete(f->h, "my/img-1.0_x", &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_null(cella_image_get(f->h, "my/img-1.0_x", &err));
	assert_int_equal(err.code, ENOENT);

	/* in use by an instance: EBUSY naming it */
	sqlite3 *db = host_db(f->h);
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "INSERT INTO instances (name, type, image, idmap_base, created_at) VALUES "
		 "('web1', 'vps', '%s', 1000000, 'now'), ('web2', 'vps', '%s', 1065536, 'now')",
		 fp, fp);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(cella_image_delete(f->h, "base", &err), -1);
	assert_int_equal(err.code, EBUSY);
	assert_contains(err.msg, "web1");
	assert_contains(err.msg, "web2");
	assert_int_equal(access(path_of(f, "images/%s/rootfs/bin/busybox", fp), F_OK), 0);
	assert_int_equal(sqlite3_exec(db, "DELETE FROM instances", NULL, NULL, NULL), SQLITE_OK);

	assert_int_equal(cella_image_delete(f->h, "base", &err), 0);
	assert_store_empty(f);
	cleanup_stmt sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM image_aliases", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	assert_int_equal(cella_image_delete(f->h, fp, &err), -1);
	assert_int_equal(err.code, ENOENT);
}

/* ---- import of rootfs tarballs ---- */

static const struct tentry good_tree[] = {
	{ "./", AE_IFDIR, 0755, 0, 0, NULL, NULL, 0 },
	{ "./etc/", AE_IFDIR, 0755, 0, 0, NULL, NULL, 0 },
	{ "./etc/os-release", AE_IFREG, 0644, 0, 0, "ID=testos\nVERSION_ID=\"3.1\"\nPRETTY_NAME=\"Test OS 3\"\n", NULL, 0 },
	{ "./etc/passwd", AE_IFREG, 0644, 0, 0, "root:x:0:0::/root:/bin/sh\n", NULL, 0 },
	{ "./bin/su", AE_IFREG, 04755, 0, 0, "#!/bin/sh\n", NULL, 0 },
	{ "./home/user/", AE_IFDIR, 0700, 1000, 1000, NULL, NULL, 0 },
	{ "./home/user/notes", AE_IFREG, 0600, 1000, 1000, "hello\n", NULL, 0 },
	{ "./home/user/nobody", AE_IFREG, 0600, 65535, 65535, "edge\n", NULL, 0 },
	{ "./etc/mtab", AE_IFLNK, 0777, 0, 0, "/proc/self/mounts", NULL, 0 },
	{ "./etc/up", AE_IFLNK, 0777, 0, 0, "../../../../../../", NULL, 0 },
	{ "./bin/su2", 0, 0, 0, 0, NULL, "./bin/su", 0 },
	{ "./run/fifo", AE_IFIFO, 0600, 0, 0, NULL, NULL, 0 },
	{ "./dev/null", AE_IFCHR, 0666, 0, 0, NULL, NULL, 0x0103 },
	{ "./dev/sda", AE_IFBLK, 0660, 0, 6, NULL, NULL, 0x0800 },
	{ "tmp/", AE_IFDIR, 01777, 0, 0, NULL, NULL, 0 },
};

static void test_import_tarballs(void **state)
{
	struct fixture *f = *state;
	struct cella_error err = { 0 };
	static const char *const names[] = { "none", "gzip", "xz", "zstd" };
	char *fps[4];
	for (int filter = F_NONE; filter <= F_ZSTD; filter++) {
		char tar[256], alias[32];
		snprintf(tar, sizeof(tar), "%s/rootfs-%s.tar", f->base, names[filter]);
		snprintf(alias, sizeof(alias), "t-%s", names[filter]);
		tar_write(tar, filter, good_tree, ARRAY_SIZE(good_tree));
		char *fp = cella_image_import(f->h, tar, alias, NULL, &err);
		if (!fp)
			fail_msg("%s: %s", names[filter], err.msg);
		fps[filter] = fp;

		/* the fingerprint is the file's sha256 */
		cleanup_close int fd = open(tar, O_RDONLY | O_CLOEXEC);
		char hex[65];
		assert_int_equal(sha256_fd(fd, hex, NULL, NULL), 0);
		assert_string_equal(hex, fp);

		json_t *img = cella_image_get(f->h, alias, &err);
		assert_non_null(img);
		json_t *props = json_object_get(img, "properties");
		assert_string_equal(json_string_value(json_object_get(props, "os")), "testos");
		assert_string_equal(json_string_value(json_object_get(props, "release")), "3.1");
		assert_string_equal(json_string_value(json_object_get(props, "description")), "Test OS 3");
		json_decref(img);

		struct stat st, st2;
		assert_int_equal(lstat(path_of(f, "images/%s/rootfs/bin/su", fp), &st), 0);
		assert_int_equal(st.st_mode & 07777, 04755);
		assert_int_equal(lstat(path_of(f, "images/%s/rootfs/bin/su2", fp), &st2), 0);
		assert_int_equal(st.st_ino, st2.st_ino);
		assert_int_equal(lstat(path_of(f, "images/%s/rootfs/home/user/notes", fp), &st), 0);
		assert_int_equal(st.st_uid, 1000);
		assert_int_equal(st.st_mode & 0777, 0600);
		assert_int_equal(lstat(path_of(f, "images/%s/rootfs/home/user/nobody", fp), &st), 0);
		assert_int_equal(st.st_uid, 65535);
		assert_int_equal(lstat(path_of(f, "images/%s/rootfs/tmp", fp), &st), 0);
		assert_int_equal(st.st_mode & 07777, 01777);
		assert_int_equal(lstat(path_of(f, "images/%s/rootfs/run/fifo", fp), &st), 0);
		assert_true(S_ISFIFO(st.st_mode));
		assert_int_equal(lstat(path_of(f, "images/%s/rootfs/dev/null", fp), &st), -1);
		assert_int_equal(lstat(path_of(f, "images/%s/rootfs/dev/sda", fp), &st), -1);
		char target[256];
		ssize_t n = readlink(path_of(f, "images/%s/rootfs/etc/mtab", fp), target, sizeof(target) - 1);
		assert_true(n > 0);
		target[n] = '\0';
		assert_string_equal(target, "/proc/self/mounts");
		cleanup_free char *meta = file_text(path_of(f, "images/%s/metadata.json", fp));
		assert_contains(meta, "\"devices_skipped\": 2");
	}
	/* four files, four images */
	json_t *l = cella_image_list(f->h, &err);
	assert_int_equal(json_array_size(l), 4);
	json_decref(l);

	/* the same file again: EEXIST, unless only an alias is added */
	char tar[256];
	snprintf(tar, sizeof(tar), "%s/rootfs-gzip.tar", f->base);
	assert_null(cella_image_import(f->h, tar, NULL, NULL, &err));
	assert_int_equal(err.code, EEXIST);
	assert_null(cella_image_import(f->h, tar, "t-gzip", NULL, &err));
	assert_int_equal(err.code, EEXIST);
	char *fp = cella_image_import(f->h, tar, "t-gzip-again", NULL, &err);
	assert_non_null(fp);
	assert_string_equal(fp, fps[F_GZIP]);
	free(fp);

	/* properties from the caller win */
	assert_int_equal(cella_image_delete(f->h, "t-xz", &err), 0);
	snprintf(tar, sizeof(tar), "%s/rootfs-xz.tar", f->base);
	json_t *props = json_pack("{s:s, s:s}", "os", "custom", "variant", "cloud");
	fp = cella_image_import(f->h, tar, "t-xz", props, &err);
	json_decref(props);
	assert_non_null(fp);
	json_t *img = cella_image_get(f->h, "t-xz", &err);
	assert_string_equal(json_string_value(json_object_get(json_object_get(img, "properties"), "os")), "custom");
	assert_string_equal(json_string_value(json_object_get(json_object_get(img, "properties"), "release")), "3.1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(img, "properties"), "variant")), "cloud");
	json_decref(img);
	free(fp);

	/* not an archive */
	snprintf(tar, sizeof(tar), "%s/junk", f->base);
	assert_int_equal(write_file_atomic(AT_FDCWD, tar, "hello world, not a tar\n", 23, 0644, NULL), 0);
	assert_null(cella_image_import(f->h, tar, NULL, NULL, &err));
	assert_int_equal(err.code, EINVAL);
	snprintf(tar, sizeof(tar), "%s/missing", f->base);
	assert_null(cella_image_import(f->h, tar, NULL, NULL, &err));
	assert_int_equal(err.code, ENOENT);
	for (int i = 0; i < 4; i++)
		free(fps[i]);
	bool tmp;
	images_dirs(f, &tmp);
	assert_false(tmp);
}

/* ---- OCI ---- */

/* Write `data` as a blob of the layout at `dir`; "sha256:HEX" in digest. */
static void blob_put(const char *dir, const void *data, size_t len, char digest[80])
{
	struct sha256 s;
	char hex[65], path[512];
	sha256_init(&s);
	sha256_update(&s, data, len);
	sha256_final_hex(&s, hex);
	snprintf(digest, 80, "sha256:%s", hex);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, hex);
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, data, len), (ssize_t)len);
}

static void blob_put_file(const char *dir, const char *file, char digest[80], size_t *size)
{
	size_t len;
	cleanup_free char *data = read_file_at(AT_FDCWD, file, &len, NULL);
	assert_non_null(data);
	blob_put(dir, data, len, digest);
	*size = len;
}

static void blob_put_json(const char *dir, json_t *j, char digest[80], size_t *size)
{
	cleanup_free char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	blob_put(dir, text, strlen(text), digest);
	*size = strlen(text);
}

/* An OCI layout at `dir`: two layers, the second with whiteouts. */
static void oci_layout_make(const char *base, const char *dir)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/blobs/sha256", dir);
	assert_int_equal(mkdir_p(path, 0755, NULL), 0);
	static const struct tentry l1[] = {
		{ "etc/", AE_IFDIR, 0755, 0, 0, NULL, NULL, 0 },
		{ "etc/os-release", AE_IFREG, 0644, 0, 0, "ID=ocios\nVERSION_ID=7\n", NULL, 0 },
		{ "a/x", AE_IFREG, 0644, 0, 0, "x\n", NULL, 0 },
		{ "a/y", AE_IFREG, 0644, 0, 0, "y\n", NULL, 0 },
		{ "d/keep", AE_IFREG, 0644, 0, 0, "lower\n", NULL, 0 },
		{ "d/sub/deep", AE_IFREG, 0644, 0, 0, "lower\n", NULL, 0 },
		{ "r/", AE_IFDIR, 0755, 0, 0, NULL, NULL, 0 },
		{ "r/child", AE_IFREG, 0644, 0, 0, "lower\n", NULL, 0 },
	};
	static const struct tentry l2[] = {
		{ "d/new", AE_IFREG, 0644, 0, 0, "upper\n", NULL, 0 },
		{ "a/.wh.x", AE_IFREG, 0644, 0, 0, NULL, NULL, 0 },
		{ "d/.wh..wh..opq", AE_IFREG, 0644, 0, 0, NULL, NULL, 0 },
		{ "r", AE_IFREG, 0644, 0, 0, "dir replaced by a file\n", NULL, 0 },
	};
	char t1[512], t2[512], d1[80], d2[80], dc[80], dm[80];
	size_t s1, s2, sc, sm;
	snprintf(t1, sizeof(t1), "%s/layer1.tar.gz", base);
	snprintf(t2, sizeof(t2), "%s/layer2.tar", base);
	tar_write(t1, F_GZIP, l1, ARRAY_SIZE(l1));
	tar_write(t2, F_NONE, l2, ARRAY_SIZE(l2));
	blob_put_file(dir, t1, d1, &s1);
	blob_put_file(dir, t2, d2, &s2);
	blob_put_json(dir, json_pack("{s:s, s:s, s:{s:s, s:[s, s]}}", "architecture", "amd64", "os", "linux", "rootfs",
				     "type", "layers", "diff_ids", "x", "y"),
		      dc, &sc);
	blob_put_json(dir,
		      json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}, {s:s, s:s, s:I}]}", "schemaVersion", 2,
				"mediaType", "application/vnd.oci.image.manifest.v1+json", "config", "mediaType",
				"application/vnd.oci.image.config.v1+json", "digest", dc, "size", (json_int_t)sc,
				"layers", "mediaType", "application/vnd.oci.image.layer.v1.tar+gzip", "digest", d1,
				"size", (json_int_t)s1, "mediaType", "application/vnd.oci.image.layer.v1.tar",
				"digest", d2, "size", (json_int_t)s2),
		      dm, &sm);
	json_t *index = json_pack("{s:i, s:[{s:s, s:s, s:I, s:{s:s, s:s}}]}", "schemaVersion", 2, "manifests",
				  "mediaType", "application/vnd.oci.image.manifest.v1+json", "digest", dm, "size",
				  (json_int_t)sm, "platform", "architecture", "amd64", "os", "linux");
	snprintf(path, sizeof(path), "%s/index.json", dir);
	assert_int_equal(json_dump_file(index, path, 0), 0);
	json_decref(index);
	snprintf(path, sizeof(path), "%s/oci-layout", dir);
	const char *mark = "{\"imageLayoutVersion\":\"1.0.0\"}";
	assert_int_equal(write_file_atomic(AT_FDCWD, path, mark, strlen(mark), 0644, NULL), 0);
}

static void assert_oci_tree(struct fixture *f, const char *fp)
{
	assert_int_equal(access(path_of(f, "images/%s/rootfs/a/x", fp), F_OK), -1);
	assert_int_equal(access(path_of(f, "images/%s/rootfs/a/y", fp), F_OK), 0);
	assert_int_equal(access(path_of(f, "images/%s/rootfs/d/keep", fp), F_OK), -1);
	assert_int_equal(access(path_of(f, "images/%s/rootfs/d/sub", fp), F_OK), -1);
	assert_int_equal(access(path_of(f, "images/%s/rootfs/d/new", fp), F_OK), 0);
	assert_int_equal(access(path_of(f, "images/%s/rootfs/a/.wh.x", fp), F_OK), -1);
	assert_int_equal(access(path_of(f, "images/%s/rootfs/d/.wh..wh..opq", fp), F_OK), -1);
	struct stat st;
	assert_int_equal(lstat(path_of(f, "images/%s/rootfs/r", fp), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(access(path_of(f, "images/%s/oci", fp), F_OK), -1);
	struct cella_error err = { 0 };
	json_t *img = cella_image_get(f->h, fp, &err);
	assert_non_null(img);
	json_t *props = json_object_get(img, "properties");
	assert_string_equal(json_string_value(json_object_get(props, "os")), "ocios");
	assert_string_equal(json_string_value(json_object_get(props, "release")), "7");
	assert_string_equal(json_string_value(json_object_get(props, "architecture")), "x86_64");
	json_decref(img);
}

static void test_import_oci(void **state)
{
	struct fixture *f = *state;
	struct cella_error err = { 0 };
	char dir[256], archive[256];
	snprintf(dir, sizeof(dir), "%s/layout", f->base);
	oci_layout_make(f->base, dir);

	char *fp = cella_image_import(f->h, dir, "oci-dir", NULL, &err);
	if (!fp)
		fail_msg("%s", err.msg);
	assert_oci_tree(f, fp);
	assert_null(cella_image_import(f->h, dir, NULL, NULL, &err));
	assert_int_equal(err.code, EEXIST);
	free(fp);

	/* the same layout as an OCI archive (a tar of the directory) */
	/* packed from the directory with libarchive's disk reader */
	snprintf(archive, sizeof(archive), "%s/image.oci.tar", f->base);
	{
		struct archive *w = archive_write_new();
		archive_write_set_format_pax_restricted(w);
		assert_int_equal(archive_write_open_filename(w, archive), ARCHIVE_OK);
		struct archive *disk = archive_read_disk_new();
		char cwd[512];
		assert_non_null(getcwd(cwd, sizeof(cwd)));
		assert_int_equal(chdir(dir), 0);
		assert_int_equal(archive_read_disk_open(disk, "."), ARCHIVE_OK);
		struct archive_entry *ae;
		while (archive_read_next_header2(disk, ae = archive_entry_new()) == ARCHIVE_OK) {
			archive_read_disk_descend(disk);
			assert_true(archive_write_header(w, ae) >= ARCHIVE_WARN);
			if (archive_entry_filetype(ae) == AE_IFREG) {
				cleanup_close int fd = open(archive_entry_sourcepath(ae), O_RDONLY | O_CLOEXEC);
				char buf[8192];
				ssize_t r;
				while ((r = read(fd, buf, sizeof(buf))) > 0)
					archive_write_data(w, buf, r);
			}
			archive_entry_free(ae);
		}
		archive_entry_free(ae);
		archive_read_free(disk);
		assert_int_equal(chdir(cwd), 0);
		archive_write_close(w);
		archive_write_free(w);
	}
	fp = cella_image_import(f->h, archive, "oci-archive", NULL, &err);
	if (!fp)
		fail_msg("%s", err.msg);
	cleanup_close int afd = open(archive, O_RDONLY | O_CLOEXEC);
	char hex[65];
	assert_int_equal(sha256_fd(afd, hex, NULL, NULL), 0);
	assert_string_equal(hex, fp);
	assert_oci_tree(f, fp);
	free(fp);

	/* a layer that does not match its digest */
	char path[512];
	snprintf(path, sizeof(path), "%s/index.json", dir);
	cleanup_free char *idx = file_text(path);
	json_t *ij = json_loads(idx, 0, NULL);
	const char *md = json_string_value(json_object_get(json_array_get(json_object_get(ij, "manifests"), 0), "digest"));
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, md + 7);
	cleanup_free char *mtext = file_text(path);
	json_t *mj = json_loads(mtext, 0, NULL);
	const char *ld = json_string_value(json_object_get(json_array_get(json_object_get(mj, "layers"), 1), "digest"));
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, ld + 7);
	tar_write(path, F_NONE, good_tree, 3);
	assert_int_equal(cella_image_delete(f->h, "oci-dir", &err), 0);
	assert_null(cella_image_import(f->h, dir, NULL, NULL, &err));
	assert_contains(err.msg, "does not match its digest");
	json_decref(ij);
	json_decref(mj);

	/* a blob digest naming a path */
	snprintf(path, sizeof(path), "%s/index.json", dir);
	const char *evil = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
			   "\"digest\":\"sha256:../../../../etc/passwd\",\"size\":1}]}";
	assert_int_equal(write_file_atomic(AT_FDCWD, path, evil, strlen(evil), 0644, NULL), 0);
	assert_null(cella_image_import(f->h, dir, NULL, NULL, &err));
	assert_int_equal(err.code, EINVAL);
	assert_contains(err.msg, "sha256:../../../../etc/passwd");

	json_t *l = cella_image_list(f->h, &err);
	assert_int_equal(json_array_size(l), 1);
	json_decref(l);
	bool tmp;
	assert_int_equal(images_dirs(f, &tmp), 1);
	assert_false(tmp);
}

/* ---- hostile archives ---- */

struct hostile {
	const char *what;
	struct tentry e[4];
	size_t n;
	const char *names; /* the message must name this */
};

static const struct hostile hostiles[] = {
	{ "absolute path", { { "/etc/cella-pwned", AE_IFREG, 0644, 0, 0, "x", NULL, 0 } }, 1, "/etc/cella-pwned" },
	{ "dotdot", { { "../cella-pwned", AE_IFREG, 0644, 0, 0, "x", NULL, 0 } }, 1, "../cella-pwned" },
	{ "inner dotdot", { { "a/b/../../../cella-pwned", AE_IFREG, 0644, 0, 0, "x", NULL, 0 } }, 1, "a/b/../../../cella-pwned" },
	{ "dir dotdot", { { "ok/", AE_IFDIR, 0755, 0, 0, NULL, NULL, 0 }, { "ok/../../x/", AE_IFDIR, 0755, 0, 0, NULL, NULL, 0 } }, 2, "ok/../../x/" },
	{ "hardlink absolute", { { "shadow", 0, 0, 0, 0, NULL, "/etc/shadow", 0 } }, 1, "/etc/shadow" },
	{ "hardlink dotdot", { { "shadow", 0, 0, 0, 0, NULL, "../../../../etc/shadow", 0 } }, 1, "../../../../etc/shadow" },
	{ "hardlink through symlink", { { "up", AE_IFLNK, 0777, 0, 0, "/etc", NULL, 0 }, { "shadow", 0, 0, 0, 0, NULL, "up/shadow", 0 } }, 2, "up/shadow" },
	{ "uid out of range", { { "f", AE_IFREG, 0644, 65536, 0, "x", NULL, 0 } }, 1, "`f`" },
	{ "gid out of range", { { "f", AE_IFREG, 0644, 0, 100000, "x", NULL, 0 } }, 1, "`f`" },
	{ "huge uid", { { "f", AE_IFREG, 0644, 4294967294LL, 0, "x", NULL, 0 } }, 1, "`f`" },
	{ "setuid foreign owner", { { "bin/", AE_IFDIR, 0755, 0, 0, NULL, NULL, 0 }, { "bin/suid", AE_IFREG, 04755, 70000, 0, "x", NULL, 0 } }, 2, "bin/suid" },
	{ "dir replaced by file", { { "d/", AE_IFDIR, 0755, 0, 0, NULL, NULL, 0 }, { "d/f", AE_IFREG, 0644, 0, 0, "x", NULL, 0 }, { "d", AE_IFREG, 0644, 0, 0, "y", NULL, 0 } }, 3, "`d`" },
};

static void test_hostile(void **state)
{
	struct fixture *f = *state;
	for (size_t i = 0; i < ARRAY_SIZE(hostiles); i++) {
		struct cella_error err = { 0 };
		char tar[256];
		snprintf(tar, sizeof(tar), "%s/hostile-%zu.tar", f->base, i);
		tar_write(tar, i % 2 ? F_GZIP : F_NONE, hostiles[i].e, hostiles[i].n);
		char *fp = cella_image_import(f->h, tar, "hostile", NULL, &err);
		if (fp)
			fail_msg("%s: imported", hostiles[i].what);
		if (!strstr(err.msg, hostiles[i].names))
			fail_msg("%s: `%s` does not name `%s`", hostiles[i].what, err.msg, hostiles[i].names);
		assert_int_not_equal(err.code, 0);
		print_message("  %-26s %s\n", hostiles[i].what, err.msg);
		assert_store_empty(f);
	}
	assert_int_equal(access("/etc/cella-pwned", F_OK), -1);
	assert_int_equal(access("/tmp/cella-pwned", F_OK), -1);
}

/* Symlinks the archive plants are followed inside the image, never on the host. */
static void test_symlink_neutralised(void **state)
{
	struct fixture *f = *state;
	struct cella_error err = { 0 };
	char outside[256];
	snprintf(outside, sizeof(outside), "%s/outside", f->base);
	assert_int_equal(mkdir(outside, 0755), 0);
	char abs_target[300], inside[300];
	snprintf(abs_target, sizeof(abs_target), "%s", outside);
	snprintf(inside, sizeof(inside), "%s/", outside + 1);
	const struct tentry e[] = {
		/* the host path exists inside the image too: that is where host/ leads */
		{ inside, AE_IFDIR, 0755, 0, 0, NULL, NULL, 0 },
		{ "root", AE_IFLNK, 0777, 0, 0, "/", NULL, 0 },
		{ "root/etc/pwned", AE_IFREG, 0644, 0, 0, "in the image\n", NULL, 0 },
		{ "up", AE_IFLNK, 0777, 0, 0, "../../../../../../../../", NULL, 0 },
		{ "up/tmp/pwned", AE_IFREG, 0644, 0, 0, "in the image\n", NULL, 0 },
		{ "host", AE_IFLNK, 0777, 0, 0, abs_target, NULL, 0 },
		{ "host/pwned", AE_IFREG, 0644, 0, 0, "in the image\n", NULL, 0 },
		{ "proc-escape", AE_IFLNK, 0777, 0, 0, "/proc/self/root/tmp", NULL, 0 },
		{ "link-to-link", 0, 0, 0, 0, NULL, "host", 0 },
	};
	char tar[256];
	snprintf(tar, sizeof(tar), "%s/links.tar", f->base);
	tar_write(tar, F_NONE, e, ARRAY_SIZE(e));
	char *fp = cella_image_import(f->h, tar, NULL, NULL, &err);
	if (!fp)
		fail_msg("%s", err.msg);
	assert_int_equal(access("/etc/pwned", F_OK), -1);
	assert_int_equal(access("/tmp/pwned", F_OK), -1);
	char p[512];
	snprintf(p, sizeof(p), "%s/pwned", outside);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(access(path_of(f, "images/%s/rootfs/etc/pwned", fp), F_OK), 0);
	assert_int_equal(access(path_of(f, "images/%s/rootfs/tmp/pwned", fp), F_OK), 0);
	snprintf(p, sizeof(p), "images/%s/rootfs%s/pwned", fp, outside);
	assert_int_equal(access(path_of(f, "%s", p), F_OK), 0);
	/* a hard link to a symlink links the symlink */
	struct stat st;
	assert_int_equal(lstat(path_of(f, "images/%s/rootfs/link-to-link", fp), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	free(fp);

	/* a planted proc magic link is not followed either */
	const struct tentry e2[] = {
		{ "p", AE_IFLNK, 0777, 0, 0, "/proc/self/root/tmp", NULL, 0 },
		{ "proc/", AE_IFDIR, 0755, 0, 0, NULL, NULL, 0 },
		{ "p/magic-pwned", AE_IFREG, 0644, 0, 0, "x", NULL, 0 },
	};
	snprintf(tar, sizeof(tar), "%s/magic.tar", f->base);
	tar_write(tar, F_NONE, e2, ARRAY_SIZE(e2));
	fp = cella_image_import(f->h, tar, NULL, NULL, &err);
	assert_int_equal(access("/tmp/magic-pwned", F_OK), -1);
	free(fp);
}

/* An OCI archive's own files must be plain: a symlinked blob is refused. */
static void test_oci_archive_symlink(void **state)
{
	struct fixture *f = *state;
	struct cella_error err = { 0 };
	const struct tentry e[] = {
		{ "oci-layout", AE_IFREG, 0644, 0, 0, "{\"imageLayoutVersion\":\"1.0.0\"}", NULL, 0 },
		{ "index.json", AE_IFLNK, 0777, 0, 0, "/etc/passwd", NULL, 0 },
	};
	char tar[256];
	snprintf(tar, sizeof(tar), "%s/evil.oci.tar", f->base);
	tar_write(tar, F_NONE, e, ARRAY_SIZE(e));
	assert_null(cella_image_import(f->h, tar, NULL, NULL, &err));
	assert_contains(err.msg, "index.json");
	assert_store_empty(f);
}

/* A full disk leaves nothing behind and says so. */
static void test_enospc(void **state)
{
	(void)state;
	struct fixture *f = xmalloc0(sizeof(*f));
	if (geteuid() != 0 || host_make(f, "3m") < 0) {
		free(f);
		skip();
	}
	void *fs = f;
	struct cella_error err = { 0 };
	size_t big = 4 << 20;
	char *data = malloc(big + 1);
	for (size_t i = 0; i < big; i++)
		data[i] = 'a' + (i * 7919) % 26;
	data[big] = '\0';
	const struct tentry e[] = {
		{ "etc/", AE_IFDIR, 0755, 0, 0, NULL, NULL, 0 },
		{ "big", AE_IFREG, 0644, 0, 0, data, NULL, 0 },
	};
	char tar[256];
	snprintf(tar, sizeof(tar), "%s/big.tar.xz", f->base);
	tar_write(tar, F_XZ, e, ARRAY_SIZE(e));
	free(data);
	assert_null(cella_image_import(f->h, tar, NULL, NULL, &err));
	assert_int_equal(err.code, ENOSPC);
	assert_contains(err.msg, "No space left on device");
	assert_contains(err.msg, "`big`");
	assert_store_empty(f);
	teardown(&fs);
}

/* Deterministic canonical archives: same tree, same digest; owner matters. */
static void test_tree_digest(void **state)
{
	struct fixture *f = *state;
	char a[256];
	snprintf(a, sizeof(a), "%s/tree", f->base);
	assert_int_equal(mkdir(a, 0755), 0);
	cleanup_close int fd = open(a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(mkdirat(fd, "z", 0755), 0);
	assert_int_equal(mkdirat(fd, "a", 0755), 0);
	assert_int_equal(symlinkat("/x", fd, "a/l"), 0);
	char d1[65], d2[65], d3[65];
	uint64_t s1;
	assert_int_equal(tree_digest(fd, d1, &s1, NULL), 0);
	struct timespec ts[2] = { { 1, 0 }, { 1, 0 } };
	assert_int_equal(utimensat(fd, "z", ts, 0), 0);
	assert_int_equal(tree_digest(fd, d2, NULL, NULL), 0);
	assert_string_equal(d1, d2);
	assert_int_equal(fchownat(fd, "z", 1, 1, 0), 0);
	assert_int_equal(tree_digest(fd, d3, NULL, NULL), 0);
	assert_string_not_equal(d1, d3);
	assert_true(s1 > 0 && s1 % 512 == 0);

	/* and the SHA-256 itself */
	struct sha256 s;
	char hex[65];
	sha256_init(&s);
	sha256_update(&s, "abc", 3);
	sha256_final_hex(&s, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256_init(&s);
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	for (size_t i = 0; i < strlen(m); i++)
		sha256_update(&s, m + i, 1);
	sha256_final_hex(&s, hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_build_debian(void **state)
{
	struct fixture *f = *state;
	struct cella_error err = { 0 };
	const char *slow = getenv("CELLA_SLOW");
	if (!slow || strcmp(slow, "1"))
		skip();
	double t0 = now_s();
	cleanup_free char *fp = cella_image_build(f->h, "debian/12", "minbase", NULL, &err);
	double dt = now_s() - t0;
	if (!fp)
		fail_msg("%s", err.msg);
	print_message("build debian/12 minbase: %.1f s\n", dt);
	json_t *img = cella_image_get(f->h, "debian/12", &err);
	assert_non_null(img);
	json_t *props = json_object_get(img, "properties");
	assert_string_equal(json_string_value(json_object_get(props, "os")), "debian");
	assert_string_equal(json_string_value(json_object_get(props, "release")), "12");
	assert_string_equal(json_string_value(json_object_get(props, "variant")), "minbase");
	json_decref(img);
	cleanup_free char *ver = file_text(path_of(f, "images/%s/rootfs/etc/debian_version", fp));
	assert_contains(ver, "12.");
	assert_int_equal(access(path_of(f, "images/%s/rootfs/sbin/init", fp), F_OK) == 0 ||
				 access(path_of(f, "images/%s/rootfs/bin/bash", fp), X_OK) == 0,
			 1);
	struct stat st;
	assert_int_equal(lstat(path_of(f, "images/%s/rootfs/dev/null", fp), &st), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_build_minimal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alias_delete_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_tarballs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_oci, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_neutralised, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oci_archive_symlink, setup, teardown),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test_setup_teardown(test_tree_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_build_debian, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
