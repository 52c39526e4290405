/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of lib/util.c, lib/error.c and lib/signal.c. */
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
#include <sys/wait.h>

#include <cella/runtime.h>
#include "util.h"

static void test_name_is_valid(void **state)
{
	(void)state;
	assert_true(name_is_valid("a"));
	assert_true(name_is_valid("web-1.example_2+x"));
	assert_false(name_is_valid(""));
	assert_false(name_is_valid("."));
	assert_false(name_is_valid(".."));
	assert_false(name_is_valid("../x"));
	assert_false(name_is_valid("a/b"));
	assert_false(name_is_valid("-a"));
	assert_false(name_is_valid(".hidden"));
	assert_false(name_is_valid("a b"));
	char long_name[300];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[299] = '\0';
	assert_false(name_is_valid(long_name));
	long_name[255] = '\0';
	assert_true(name_is_valid(long_name));
}

static void test_error_set_wrap(void **state)
{
	(void)state;
	struct cella_error err = { 0 };
	assert_int_equal(cella_error_set(&err, ENOENT, "open `%s`", "/x"), -1);
	assert_int_equal(err.code, ENOENT);
	assert_string_equal(err.msg, "open `/x`: No such file or directory");
	assert_int_equal(cella_error_wrap(&err, "create `%s`", "c1"), -1);
	assert_string_equal(err.msg, "create `c1`: open `/x`: No such file or directory");
	assert_int_equal(err.code, ENOENT);
	cella_error_set(&err, 0, "plain");
	assert_string_equal(err.msg, "plain");
	assert_int_equal(err.code, 0);
	/* a long message is truncated, never overflowed */
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cella_error_set(&err, EINVAL, "%s", big);
	assert_true(strlen(err.msg) < sizeof(err.msg));
	cella_error_wrap(&err, "%s", big);
	assert_true(strlen(err.msg) < sizeof(err.msg));
	cella_error_clear(&err);
	assert_string_equal(err.msg, "");
}

static void test_files(void **state)
{
	(void)state;
	char dir[] = "/tmp/cella-unit-XXXXXX";
	assert_non_null(mkdtemp(dir));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	struct cella_error err = { 0 };
	assert_int_equal(write_file_atomic(dfd, "f", "hello", 5, 0600, &err), 0);
	size_t len = 0;
	char *s = read_file_at(dfd, "f", &len, &err);
	assert_non_null(s);
	assert_int_equal(len, 5);
	assert_string_equal(s, "hello");
	free(s);
	struct stat st;
	assert_int_equal(fstatat(dfd, "f", &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(write_file_at(dfd, "f", "bye", 3, &err), 0);
	s = read_file_at(dfd, "f", NULL, &err);
	assert_string_equal(s, "bye");
	free(s);
	/* write_file_at never creates */
	assert_int_equal(write_file_at(dfd, "missing", "x", 1, &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_null(read_file_at(dfd, "missing", NULL, &err));
	assert_non_null(strstr(err.msg, "missing"));

	char *deep = xasprintf("%s/a/b/c", dir);
	assert_int_equal(mkdir_p(deep, 0755, &err), 0);
	assert_int_equal(mkdir_p(deep, 0755, &err), 0); /* idempotent */
	assert_int_equal(stat(deep, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	free(deep);
	close(dfd);
	char *cmd = xasprintf("rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static void test_proc_start_time(void **state)
{
	(void)state;
	char st = 0;
	unsigned long long t = proc_start_time(getpid(), &st);
	assert_true(t > 0);
	assert_int_equal(st, 'R');
	assert_int_equal(proc_start_time(getpid(), NULL), t);
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	/* a zombie still has a start time, and says so */
	usleep(50000);
	assert_true(proc_start_time(child, &st) > 0);
	assert_int_equal(st, 'Z');
	waitpid(child, NULL, 0);
	assert_int_equal(proc_start_time(child, NULL), 0);
}

static void test_signal_parse(void **state)
{
	(void)state;
	assert_int_equal(cella_signal_parse("KILL"), SIGKILL);
	assert_int_equal(cella_signal_parse("SIGKILL"), SIGKILL);
	assert_int_equal(cella_signal_parse("sigterm"), SIGTERM);
	assert_int_equal(cella_signal_parse("9"), 9);
	assert_int_equal(cella_signal_parse("HUP"), SIGHUP);
	assert_int_equal(cella_signal_parse("RTMIN"), SIGRTMIN);
	assert_int_equal(cella_signal_parse("RTMIN+2"), SIGRTMIN + 2);
	assert_int_equal(cella_signal_parse("RTMAX-1"), SIGRTMAX - 1);
	assert_int_equal(cella_signal_parse("0"), -1);
	assert_int_equal(cella_signal_parse("65"), -1);
	assert_int_equal(cella_signal_parse("NOPE"), -1);
	assert_int_equal(cella_signal_parse(""), -1);
	assert_int_equal(cella_signal_parse("9x"), -1);
}

static void test_cleanup_helpers(void **state)
{
	(void)state;
	int fd_num;
	{
		cleanup_close int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		fd_num = fd;
		assert_true(fd >= 0);
	}
	assert_int_equal(fcntl(fd_num, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	{
		cleanup_close int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		int kept = steal_fd(&fd);
		assert_int_equal(fd, -1);
		assert_true(fcntl(kept, F_GETFD) >= 0);
		close(kept);
	}
	pid_t child;
	{
		cleanup_pid pid_t p = fork();
		if (p == 0) {
			pause();
			_exit(0);
		}
		child = p;
	}
	/* killed and reaped by the cleanup */
	assert_int_equal(kill(child, 0), -1);
	assert_int_equal(errno, ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_is_valid),
		cmocka_unit_test(test_error_set_wrap),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_proc_start_time),
		cmocka_unit_test(test_signal_parse),
		cmocka_unit_test(test_cleanup_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
