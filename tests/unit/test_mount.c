/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of lib/mount.c: resolving and creating paths inside a rootfs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"
#include "util.h"

struct fixture {
	char base[64];     /* holds root/ and outside/ */
	char root[96];
	char outside[96];
	int rootfd;
};

static int setup(void **state)
{
	struct fixture *f = xmalloc0(sizeof(*f));
	snprintf(f->base, sizeof(f->base), "/tmp/cella-mount-XXXXXX");
	if (!mkdtemp(f->base))
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/root", f->base);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->base);
	mkdir(f->root, 0755);
	mkdir(f->outside, 0755);
	char p[256];
	/* hostile image: absolute and relative links pointing out of the root */
	snprintf(p, sizeof(p), "%s/abs", f->root);
	if (symlink(f->outside, p) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/rel", f->root);
	if (symlink("../../outside", p) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/etc", f->root);
	mkdir(p, 0755);
	f->rootfd = open(f->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	*state = f;
	return f->rootfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	close(f->rootfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->base);
	int r = system(cmd);
	free(f);
	return r == 0 ? 0 : -1;
}

static bool outside_is_empty(struct fixture *f)
{
	cleanup_dir DIR *d = opendir(f->outside);
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			return false;
	return true;
}

/* The fd must name a file below the root. */
static void assert_inside(struct fixture *f, int fd, const char *expect)
{
	char link[64], target[4096], want[512];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	snprintf(want, sizeof(want), "%s%s", f->root, expect);
	assert_string_equal(target, want);
}

static void test_existing(void **state)
{
	struct fixture *f = *state;
	struct cella_error err = { 0 };
	int fd = path_open_in_root(f->rootfd, "/etc", false, false, &err);
	assert_true(fd >= 0);
	assert_inside(f, fd, "/etc");
	close(fd);
	fd = path_open_in_root(f->rootfd, "/missing", false, false, &err);
	assert_int_equal(fd, -1);
	assert_int_equal(err.code, ENOENT);
}

static void test_create_dirs_and_file(void **state)
{
	struct fixture *f = *state;
	struct cella_error err = { 0 };
	int fd = path_open_in_root(f->rootfd, "/a/b/c", true, false, &err);
	assert_true(fd >= 0);
	assert_inside(f, fd, "/a/b/c");
	close(fd);
	fd = path_open_in_root(f->rootfd, "/a/b/file", true, true, &err);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	close(fd);
}

/* A symlink to an absolute host path is followed inside the root. */
static void test_absolute_symlink_stays_inside(void **state)
{
	struct fixture *f = *state;
	struct cella_error err = { 0 };
	int fd = path_open_in_root(f->rootfd, "/abs/x", true, false, &err);
	assert_true(fd >= 0);
	/* created as <root><outside>/x, never as <outside>/x */
	char expect[256];
	snprintf(expect, sizeof(expect), "%s/x", f->outside);
	assert_inside(f, fd, expect);
	close(fd);
	assert_true(outside_is_empty(f));
}

/* "../.." cannot climb above the root. */
static void test_dotdot_symlink_stays_inside(void **state)
{
	struct fixture *f = *state;
	struct cella_error err = { 0 };
	int fd = path_open_in_root(f->rootfd, "/rel/y", true, true, &err);
	assert_true(fd >= 0);
	assert_inside(f, fd, "/outside/y");
	close(fd);
	fd = path_open_in_root(f->rootfd, "/../../../z", true, false, &err);
	assert_true(fd >= 0);
	assert_inside(f, fd, "/z");
	close(fd);
	assert_true(outside_is_empty(f));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_existing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_dirs_and_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absolute_symlink_stays_inside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dotdot_symlink_stays_inside, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
