/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of lib/hooks.c: hooks run by /bin/sh scripts in a temp dir. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine.h"
#include "util.h"

static char dir[] = "/tmp/cella-hooks-XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A hook running `sh -c script` with argv[0] "hook" and the given env. */
static struct oci_hook sh_hook(const char *script, char **env, size_t n_env, int timeout)
{
	static char *args[4][4];
	static int slot;
	char **a = args[slot++ % 4];
	a[0] = "hook";
	a[1] = "-c";
	a[2] = (char *)script;
	a[3] = NULL;
	struct oci_hook h = {
		.path = "/bin/sh", .args = a, .n_args = 3, .env = env, .n_env = n_env,
		.has_timeout = timeout > 0, .timeout = timeout,
	};
	return h;
}

static char *slurp(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct cella_error err = { 0 };
	return read_file_at(AT_FDCWD, path, NULL, &err);
}

static void test_success_in_order(void **state)
{
	(void)state;
	char s1[256], s2[256];
	snprintf(s1, sizeof(s1), "echo one >> %s/order", dir);
	snprintf(s2, sizeof(s2), "echo two >> %s/order", dir);
	struct oci_hook h[2] = { sh_hook(s1, NULL, 0, 0), sh_hook(s2, NULL, 0, 5) };
	struct cella_error err = { 0 };
	assert_int_equal(hooks_run(h, 2, "prestart", "{}", &err), 0);
	cleanup_free char *out = slurp("order");
	assert_non_null(out);
	assert_string_equal(out, "one\ntwo\n");
	/* without args, argv is just the path */
	struct oci_hook bare = { .path = "/bin/true" };
	assert_int_equal(hooks_run(&bare, 1, "poststop", "{}", &err), 0);
	/* no hooks at all is fine */
	assert_int_equal(hooks_run(NULL, 0, "poststop", "{}", &err), 0);
}

static void test_failure_status(void **state)
{
	(void)state;
	char s[256];
	snprintf(s, sizeof(s), "echo ran >> %s/after", dir);
	struct oci_hook h[2] = { sh_hook("exit 3", NULL, 0, 0), sh_hook(s, NULL, 0, 0) };
	struct cella_error err = { 0 };
	assert_int_equal(hooks_run(h, 2, "createRuntime", "{}", &err), -1);
	assert_string_equal(err.msg, "hooks.createRuntime[0]: `/bin/sh` exited with status 3");
	/* the next hook does not run */
	cleanup_free char *after = slurp("after");
	assert_null(after);

	struct oci_hook k = sh_hook("kill -TERM $$", NULL, 0, 0);
	assert_int_equal(hooks_run(&k, 1, "poststart", "{}", &err), -1);
	assert_string_equal(err.msg, "hooks.poststart[0]: `/bin/sh` killed by signal 15");
}

static void test_exec_failure(void **state)
{
	(void)state;
	struct oci_hook h = { .path = "/nonexistent/hook" };
	struct cella_error err = { 0 };
	assert_int_equal(hooks_run(&h, 1, "prestart", "{}", &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_non_null(strstr(err.msg, "hooks.prestart[0]: exec `/nonexistent/hook`"));
}

static void test_timeout(void **state)
{
	(void)state;
	struct oci_hook h = sh_hook("exec sleep 30", NULL, 0, 1);
	struct cella_error err = { 0 };
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(hooks_run(&h, 1, "startContainer", "{}", &err), -1);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_string_equal(err.msg, "hooks.startContainer[0]: `/bin/sh` timed out after 1 s");
	assert_int_equal(err.code, ETIMEDOUT);
	assert_true(b.tv_sec - a.tv_sec < 5);
}

static void test_stdin_gets_state(void **state)
{
	(void)state;
	char s[256];
	snprintf(s, sizeof(s), "cat > %s/state", dir);
	struct oci_hook h = sh_hook(s, NULL, 0, 5);
	const char *json = "{\"ociVersion\":\"1.2.0\",\"id\":\"c1\",\"status\":\"creating\",\"pid\":42}";
	struct cella_error err = { 0 };
	assert_int_equal(hooks_run(&h, 1, "createRuntime", json, &err), 0);
	cleanup_free char *got = slurp("state");
	assert_non_null(got);
	assert_string_equal(got, json);
}

/* A state bigger than a pipe buffer, to a hook that never reads it: no
 * hang, no SIGPIPE. */
static void test_stdin_unread(void **state)
{
	(void)state;
	size_t n = 1 << 20;
	char *big = malloc(n + 1);
	assert_non_null(big);
	memset(big, 'x', n);
	big[n] = '\0';
	struct oci_hook h = sh_hook("exit 0", NULL, 0, 5);
	struct cella_error err = { 0 };
	assert_int_equal(hooks_run(&h, 1, "poststop", big, &err), 0);
	free(big);
	sigset_t pending;
	sigpending(&pending);
	assert_false(sigismember(&pending, SIGPIPE));
}

static void test_env_and_argv0(void **state)
{
	(void)state;
	char s[256];
	snprintf(s, sizeof(s), "{ echo \"$0\"; tr '\\0' '\\n' < /proc/$$/environ; } > %s/env", dir);
	char *env[] = { "FOO=foo value", "BAR=2", NULL };
	struct oci_hook h = sh_hook(s, env, 2, 0);
	struct cella_error err = { 0 };
	assert_int_equal(hooks_run(&h, 1, "prestart", "{}", &err), 0);
	cleanup_free char *got = slurp("env");
	assert_non_null(got);
	/* argv[0] as given, exactly the hook's env (nothing inherited) */
	assert_string_equal(got, "hook\nFOO=foo value\nBAR=2\n");
}

/* Only stdio reaches a hook. */
static void test_fds_closed(void **state)
{
	(void)state;
	int fd = open("/dev/null", O_RDONLY);   /* deliberately not O_CLOEXEC */
	assert_true(fd >= 3);
	char s[256];
	snprintf(s, sizeof(s), "ls /proc/self/fd > %s/fds", dir);
	struct oci_hook h = sh_hook(s, NULL, 0, 0);
	struct cella_error err = { 0 };
	assert_int_equal(hooks_run(&h, 1, "prestart", "{}", &err), 0);
	close(fd);
	cleanup_free char *got = slurp("fds");
	assert_non_null(got);
	/* 0 1 2 and the fd ls itself opens on /proc/self/fd */
	int count = 0;
	for (char *p = strtok(got, "\n"); p; p = strtok(NULL, "\n"))
		count++;
	assert_true(count <= 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_success_in_order),
		cmocka_unit_test(test_failure_status),
		cmocka_unit_test(test_exec_failure),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_stdin_gets_state),
		cmocka_unit_test(test_stdin_unread),
		cmocka_unit_test(test_env_and_argv0),
		cmocka_unit_test(test_fds_closed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
