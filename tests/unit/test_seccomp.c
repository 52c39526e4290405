/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/seccomp.c: profiles built into libseccomp filters, and filters
 * installed in forked children that then report what their syscalls did
 * (through the exit status: 0 is success, anything else names the check
 * that failed).  JSON uses single quotes; json_q() makes them double.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <seccomp.h>

#include <cella/runtime.h>

#include "engine.h"
#include "oci.h"
#include "util.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static char *json_q(const char *s)
{
	char *t = xstrdup(s);
	for (char *p = t; *p; p++)
		if (*p == '\'')
			*p = '"';
	return t;
}

/* A config whose linux.seccomp is `quoted`. */
static struct oci_config *config_with_seccomp(const char *quoted)
{
	cleanup_free char *s = json_q(quoted);
	cleanup_free char *text = xasprintf("{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"r\"},"
					    " \"linux\": {\"seccomp\": %s}}", s);
	struct cella_error err = { 0 };
	struct oci_config *c = oci_config_parse(text, strlen(text), NULL, NULL, &err);
	if (!c)
		fail_msg("parse failed: %s", err.msg);
	assert_non_null(c->seccomp);
	return c;
}

static struct seccomp_filter *prepare_ok(const char *quoted)
{
	struct oci_config *c = config_with_seccomp(quoted);
	struct seccomp_filter *f = NULL;
	struct cella_error err = { 0 };
	if (seccomp_prepare(c->seccomp, &f, &err) < 0)
		fail_msg("prepare failed: %s", err.msg);
	oci_config_free(c);
	return f;
}

static void prepare_fails(const char *quoted, const char *expect)
{
	struct oci_config *c = config_with_seccomp(quoted);
	struct seccomp_filter *f = NULL;
	struct cella_error err = { 0 };
	int r = seccomp_prepare(c->seccomp, &f, &err);
	oci_config_free(c);
	if (r == 0) {
		seccomp_filter_free(f);
		fail_msg("prepared, expected an error containing `%s`", expect);
	}
	if (!strstr(err.msg, expect))
		fail_msg("error `%s` does not contain `%s`", err.msg, expect);
}

/*
 * Fork; the child installs `f` (no_new_privs first, so that this works
 * without CAP_SYS_ADMIN too) and runs check(), whose return value becomes
 * its exit status.  The child ends with _exit: no atexit handler (the leak
 * checker among them) runs under the filter.  Returns the wait status.
 */
static int run_filtered(struct seccomp_filter *f, int (*check)(void *), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cella_error err = { 0 };
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || seccomp_install(f, NULL, &err) < 0) {
			fprintf(stderr, "install: %s\n", err.msg);
			_exit(100);
		}
		_exit(check(arg));
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	return status;
}

static void assert_exit_ok(int status)
{
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child: %s %d", WIFEXITED(status) ? "failed check" : "killed by signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* errno of a raw syscall, 0 when it succeeded. */
#define SYSCALL_ERRNO(...) (syscall(__VA_ARGS__) < 0 ? errno : 0)

/* ---- lookups ------------------------------------------------------------ */

static void t_lookups(void **state)
{
	(void)state;
	uint32_t v = 0;
	int op = -1, attr = 0;

	assert_int_equal(seccomp_action_lookup("SCMP_ACT_ALLOW", &v), 0);
	assert_int_equal(v, SCMP_ACT_ALLOW);
	assert_int_equal(seccomp_action_lookup("SCMP_ACT_KILL_PROCESS", &v), 0);
	assert_int_equal(v, SCMP_ACT_KILL_PROCESS);
	assert_int_equal(seccomp_action_lookup("SCMP_ACT_KILL", &v), 0);
	assert_int_equal(v, SCMP_ACT_KILL_THREAD);
	assert_int_equal(seccomp_action_lookup("SCMP_ACT_NOTIFY", NULL), 0);
	assert_int_equal(seccomp_action_lookup("SCMP_ACT_LOG", NULL), 0);
	assert_int_equal(seccomp_action_lookup("SCMP_ACT_TRAP", NULL), 0);
	assert_int_equal(seccomp_action_lookup("SCMP_ACT_ERRNO", NULL), 0);
	assert_int_equal(seccomp_action_lookup("SCMP_ACT_TRACE", NULL), 0);
	assert_int_equal(seccomp_action_lookup("SCMP_ACT_KILL_THREAD", NULL), 0);
	assert_int_equal(seccomp_action_lookup("scmp_act_allow", NULL), -1);
	assert_int_equal(seccomp_action_lookup("SCMP_ACT_ERRNO(1)", NULL), -1);

	assert_int_equal(seccomp_operator_lookup("SCMP_CMP_MASKED_EQ", &op), 0);
	assert_int_equal(op, SCMP_CMP_MASKED_EQ);
	assert_int_equal(seccomp_operator_lookup("SCMP_CMP_NE", &op), 0);
	assert_int_equal(op, SCMP_CMP_NE);
	assert_int_equal(seccomp_operator_lookup("SCMP_CMP_EQUAL", NULL), -1);

	assert_int_equal(seccomp_arch_lookup("SCMP_ARCH_X86_64", &v), 0);
	assert_int_equal(v, SCMP_ARCH_X86_64);
	assert_int_equal(seccomp_arch_lookup("SCMP_ARCH_AARCH64", &v), 0);
	assert_int_equal(v, SCMP_ARCH_AARCH64);
	assert_int_equal(seccomp_arch_lookup("SCMP_ARCH_MIPSEL64N32", &v), 0);
	assert_int_equal(v, SCMP_ARCH_MIPSEL64N32);
	assert_int_equal(seccomp_arch_lookup("SCMP_ARCH_x86_64", NULL), -1);
	assert_int_equal(seccomp_arch_lookup("x86_64", NULL), -1);
	assert_int_equal(seccomp_arch_lookup("SCMP_ARCH_", NULL), -1);
	assert_int_equal(seccomp_arch_lookup("SCMP_ARCH_VAX", NULL), -1);
	assert_int_equal(seccomp_arch_lookup("SCMP_ARCH_X86_64_AND_A_VERY_LONG_SUFFIX_BEYOND_32", NULL), -1);

	assert_int_equal(seccomp_flag_lookup("SECCOMP_FILTER_FLAG_LOG", &attr), 0);
	assert_int_equal(attr, SCMP_FLTATR_CTL_LOG);
	assert_int_equal(seccomp_flag_lookup("SECCOMP_FILTER_FLAG_TSYNC", &attr), 0);
	assert_int_equal(attr, SCMP_FLTATR_CTL_TSYNC);
	assert_int_equal(seccomp_flag_lookup("SECCOMP_FILTER_FLAG_SPEC_ALLOW", &attr), 0);
	assert_int_equal(attr, SCMP_FLTATR_CTL_SSB);
	assert_int_equal(seccomp_flag_lookup("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", NULL), 0);
	assert_int_equal(seccomp_flag_lookup("SECCOMP_FILTER_FLAG_NEW_LISTENER", NULL), -1);
}

/* ---- building filters --------------------------------------------------- */

static void t_prepare_variants(void **state)
{
	(void)state;
	static const char *const ok[] = {
		"{'defaultAction': 'SCMP_ACT_ALLOW'}",
		"{'defaultAction': 'SCMP_ACT_ERRNO', 'defaultErrnoRet': 38}",
		"{'defaultAction': 'SCMP_ACT_KILL_PROCESS', 'syscalls': [{'names': ['read'], 'action': 'SCMP_ACT_ALLOW'}]}",
		/* the native architecture listed again, and its companions */
		"{'defaultAction': 'SCMP_ACT_ALLOW', 'architectures': ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']}",
		/* unknown names are skipped, known ones still filtered */
		"{'defaultAction': 'SCMP_ACT_ALLOW', 'syscalls': [{'names': ['no_such_syscall', 'getpid', ''],"
		"  'action': 'SCMP_ACT_ERRNO'}]}",
		/* a rule with the default action adds nothing and is no error */
		"{'defaultAction': 'SCMP_ACT_ALLOW', 'syscalls': [{'names': ['getpid'], 'action': 'SCMP_ACT_ALLOW'}]}",
		"{'defaultAction': 'SCMP_ACT_ERRNO', 'syscalls': [{'names': ['getpid'], 'action': 'SCMP_ACT_ERRNO'}]}",
		/* of another architecture only */
		"{'defaultAction': 'SCMP_ACT_ALLOW', 'syscalls': [{'names': ['set_tls', 's390_runtime_instr'],"
		"  'action': 'SCMP_ACT_ERRNO'}]}",
		"{'defaultAction': 'SCMP_ACT_ALLOW', 'flags': ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW',"
		"  'SECCOMP_FILTER_FLAG_TSYNC']}",
		"{'defaultAction': 'SCMP_ACT_ALLOW', 'syscalls': [{'names': ['getppid'], 'action': 'SCMP_ACT_LOG'},"
		"  {'names': ['getpid'], 'action': 'SCMP_ACT_TRACE', 'errnoRet': 7},"
		"  {'names': ['gettid'], 'action': 'SCMP_ACT_TRAP'}, {'names': ['getuid'], 'action': 'SCMP_ACT_KILL_THREAD'},"
		"  {'names': ['getgid'], 'action': 'SCMP_ACT_KILL'}]}",
		/* every operator */
		"{'defaultAction': 'SCMP_ACT_ALLOW', 'syscalls': [{'names': ['kill'], 'action': 'SCMP_ACT_ERRNO', 'args': ["
		"  {'index': 0, 'value': 1, 'op': 'SCMP_CMP_NE'}, {'index': 1, 'value': 2, 'op': 'SCMP_CMP_LT'},"
		"  {'index': 2, 'value': 3, 'op': 'SCMP_CMP_LE'}, {'index': 3, 'value': 4, 'op': 'SCMP_CMP_EQ'},"
		"  {'index': 4, 'value': 5, 'op': 'SCMP_CMP_GE'}, {'index': 5, 'value': 6, 'op': 'SCMP_CMP_GT'}]},"
		"  {'names': ['tkill'], 'action': 'SCMP_ACT_ERRNO', 'args': ["
		"  {'index': 0, 'value': 255, 'valueTwo': 1, 'op': 'SCMP_CMP_MASKED_EQ'}]}]}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		seccomp_filter_free(prepare_ok(ok[i]));
	seccomp_filter_free(NULL);
}

static void t_prepare_errors(void **state)
{
	(void)state;
#if SCMP_VER_MAJOR == 2 && SCMP_VER_MINOR < 6
	prepare_fails("{'defaultAction': 'SCMP_ACT_ALLOW', 'flags': ['SECCOMP_FILTER_FLAG_LOG',"
		      " 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV']}",
		      "linux.seccomp.flags[1]: `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` is not supported by libseccomp 2.");
#endif
	/* two actions for the same condition contradict each other */
	prepare_fails("{'defaultAction': 'SCMP_ACT_ALLOW', 'syscalls': ["
		      " {'names': ['getpid'], 'action': 'SCMP_ACT_ERRNO', 'args': [{'index': 0, 'value': 1, 'op': 'SCMP_CMP_EQ'}]},"
		      " {'names': ['getppid', 'getpid'], 'action': 'SCMP_ACT_LOG', 'args': [{'index': 0, 'value': 1, 'op': 'SCMP_CMP_EQ'}]}]}",
		      "linux.seccomp.syscalls[1]: `getpid`: File exists");
}

/* The profile of `spec`: builds, and knows what a container must not do. */
static void t_default_profile_builds(void **state)
{
	(void)state;
	for (int rootless = 0; rootless < 2; rootless++) {
		cleanup_free char *text = cella_spec_default(rootless);
		struct cella_error err = { 0 };
		struct oci_config *c = oci_config_parse(text, strlen(text), NULL, NULL, &err);
		assert_non_null(c);
		assert_non_null(c->seccomp);
		struct seccomp_filter *f = NULL;
		if (seccomp_prepare(c->seccomp, &f, &err) < 0)
			fail_msg("%s", err.msg);
		assert_false(seccomp_filter_notifies(f));
		seccomp_filter_free(f);
		oci_config_free(c);
	}
}

/* ---- filters at work ---------------------------------------------------- */

static int check_errno_42(void *arg)
{
	(void)arg;
	if (SYSCALL_ERRNO(SYS_getpid) != 42)
		return 1;
	if (mkdir("/nonexistent-dir/x", 0700) == 0 || errno != 42)
		return 2;
	if (SYSCALL_ERRNO(SYS_getppid) != 0)       /* not listed: allowed */
		return 3;
	if (SYSCALL_ERRNO(SYS_getuid) != EPERM)    /* errnoRet absent: EPERM */
		return 4;
	return 0;
}

static void t_errno(void **state)
{
	(void)state;
	struct seccomp_filter *f = prepare_ok(
		"{'defaultAction': 'SCMP_ACT_ALLOW', 'syscalls': ["
		"  {'names': ['getpid', 'mkdir', 'mkdirat', 'no_such_call'], 'action': 'SCMP_ACT_ERRNO', 'errnoRet': 42},"
		"  {'names': ['getuid'], 'action': 'SCMP_ACT_ERRNO'}]}");
	assert_exit_ok(run_filtered(f, check_errno_42, NULL));
	seccomp_filter_free(f);
}

static int check_kill(void *arg)
{
	(void)arg;
	syscall(SYS_getppid);
	return 1;       /* still alive */
}

static void t_kill_process(void **state)
{
	(void)state;
	struct seccomp_filter *f = prepare_ok(
		"{'defaultAction': 'SCMP_ACT_ALLOW', 'syscalls': [{'names': ['getppid'], 'action': 'SCMP_ACT_KILL_PROCESS'}]}");
	int status = run_filtered(f, check_kill, NULL);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
	seccomp_filter_free(f);
}

static int check_default_errno(void *arg)
{
	(void)arg;
	if (SYSCALL_ERRNO(SYS_getppid) != 0)
		return 11;
	if (SYSCALL_ERRNO(SYS_getuid) != 38)
		return 12;
	return 0;
}

static void t_default_action(void **state)
{
	(void)state;
	/* deny by default: what the child's exit path (and a sanitizer's) needs is allowed */
	struct seccomp_filter *f = prepare_ok(
		"{'defaultAction': 'SCMP_ACT_ERRNO', 'defaultErrnoRet': 38, 'syscalls': ["
		"  {'names': ['getppid', 'exit', 'exit_group', 'write', 'sigaltstack', 'mmap', 'munmap'],"
		"   'action': 'SCMP_ACT_ALLOW'}]}");
	assert_exit_ok(run_filtered(f, check_default_errno, NULL));
	seccomp_filter_free(f);
}

/* getpriority(which, who): arguments the kernel does not mind. */
static int check_args(void *arg)
{
	(void)arg;
	/* one rule: index 0 == PRIO_PROCESS and index 1 == 12345 (AND) */
	if (SYSCALL_ERRNO(SYS_getpriority, 0, 12345) != 44)
		return 1;
	if (SYSCALL_ERRNO(SYS_getpriority, 1, 12345) == 44)
		return 2;
	/* same index twice: each its own rule (OR) */
	if (SYSCALL_ERRNO(SYS_setpriority, 0, 111, 0) != 45 || SYSCALL_ERRNO(SYS_setpriority, 0, 222, 0) != 45)
		return 3;
	if (SYSCALL_ERRNO(SYS_setpriority, 0, 333, 0) == 45)
		return 4;
	/* masked: (who & 0xf0) == 0x10 */
	if (SYSCALL_ERRNO(SYS_sched_getscheduler, 0x13) != 46)
		return 5;
	if (SYSCALL_ERRNO(SYS_sched_getscheduler, 0x23) == 46)
		return 6;
	return 0;
}

static void t_args(void **state)
{
	(void)state;
	struct seccomp_filter *f = prepare_ok(
		"{'defaultAction': 'SCMP_ACT_ALLOW', 'syscalls': ["
		" {'names': ['getpriority'], 'action': 'SCMP_ACT_ERRNO', 'errnoRet': 44, 'args': ["
		"   {'index': 0, 'value': 0, 'op': 'SCMP_CMP_EQ'}, {'index': 1, 'value': 12345, 'op': 'SCMP_CMP_EQ'}]},"
		" {'names': ['setpriority'], 'action': 'SCMP_ACT_ERRNO', 'errnoRet': 45, 'args': ["
		"   {'index': 1, 'value': 111, 'op': 'SCMP_CMP_EQ'}, {'index': 1, 'value': 222, 'op': 'SCMP_CMP_EQ'}]},"
		" {'names': ['sched_getscheduler'], 'action': 'SCMP_ACT_ERRNO', 'errnoRet': 46, 'args': ["
		"   {'index': 0, 'value': 240, 'valueTwo': 16, 'op': 'SCMP_CMP_MASKED_EQ'}]}]}");
	assert_exit_ok(run_filtered(f, check_args, NULL));
	seccomp_filter_free(f);
}

static int check_default_profile(void *arg)
{
	(void)arg;
	enum { KEYCTL_GET_KEYRING_ID_ = 0, KEY_SPEC_SESSION_KEYRING_ = -3 };

	if (SYSCALL_ERRNO(SYS_keyctl, KEYCTL_GET_KEYRING_ID_, KEY_SPEC_SESSION_KEYRING_, 0) != EPERM)
		return 1;
	if (SYSCALL_ERRNO(SYS_unshare, CLONE_NEWUSER) != EPERM)
		return 2;
	if (SYSCALL_ERRNO(SYS_clone3, NULL, 0) != ENOSYS)
		return 3;
	if (SYSCALL_ERRNO(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0) != EPERM)
		return 4;
	if (SYSCALL_ERRNO(SYS_socket, AF_VSOCK, SOCK_STREAM, 0) != EPERM)
		return 5;
	if (SYSCALL_ERRNO(SYS_socket, 38 /* AF_ALG */, SOCK_SEQPACKET, 0) != EPERM)
		return 6;
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 7;
	close(s);
	if (personality(0xffffffff) < 0)
		return 8;
	if (personality(0x0100000 /* ADDR_LIMIT_32BIT */) >= 0 || errno != EPERM)
		return 9;
	if (SYSCALL_ERRNO(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL) != EPERM)
		return 10;
	if (SYSCALL_ERRNO(SYS_bpf, 0, NULL, 0) != EPERM)
		return 11;
	if (SYSCALL_ERRNO(SYS_io_uring_setup, 1, NULL) != EPERM)
		return 12;
	if (SYSCALL_ERRNO(SYS_userfaultfd, 0) != EPERM)
		return 13;
	if (SYSCALL_ERRNO(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0) != EPERM)
		return 14;
	/* fork (clone without namespace flags) still works */
	pid_t pid = fork();
	if (pid == 0)
		_exit(7);
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 7)
		return 15;
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0 || SYSCALL_ERRNO(SYS_getpid) != 0)
		return 16;
	return 0;
}

static void t_default_profile_denies(void **state)
{
	(void)state;
	cleanup_free char *text = cella_spec_default(false);
	struct cella_error err = { 0 };
	struct oci_config *c = oci_config_parse(text, strlen(text), NULL, NULL, &err);
	assert_non_null(c);
	struct seccomp_filter *f = NULL;
	assert_int_equal(seccomp_prepare(c->seccomp, &f, &err), 0);
	oci_config_free(c);
	assert_exit_ok(run_filtered(f, check_default_profile, NULL));
	seccomp_filter_free(f);
}

/* ---- SCMP_ACT_NOTIFY ---------------------------------------------------- */

static void t_install_needs_notify_fd(void **state)
{
	(void)state;
	struct seccomp_filter *f = prepare_ok(
		"{'defaultAction': 'SCMP_ACT_ALLOW', 'listenerPath': '/run/x.sock',"
		" 'syscalls': [{'names': ['getppid'], 'action': 'SCMP_ACT_NOTIFY'}]}");
	struct cella_error err = { 0 };
	assert_true(seccomp_filter_notifies(f));
	/* refused before anything is loaded */
	assert_int_equal(seccomp_install(f, NULL, &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_non_null(strstr(err.msg, "SCMP_ACT_NOTIFY"));
	seccomp_filter_free(f);
}

static void t_notify_send_errors(void **state)
{
	(void)state;
	struct cella_error err = { 0 };
	assert_int_equal(seccomp_notify_send("/nonexistent/listener.sock", 0, "{\"pid\": 1}", NULL, &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_non_null(strstr(err.msg, "connect to the seccomp listener `/nonexistent/listener.sock`"));
	assert_int_equal(seccomp_notify_send("/tmp/x", 0, "[1]", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "not a JSON object"));
	char longpath[200];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(seccomp_notify_send(longpath, 0, "{}", NULL, &err), -1);
	assert_int_equal(err.code, ENAMETOOLONG);
}

/* Receive one message with one fd. */
static ssize_t recv_with_fd(int sock, char *buf, size_t len, int *fd)
{
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			      .msg_controllen = sizeof(ctl.b) };
	ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	*fd = -1;
	if (n > 0 && c && c->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(c), sizeof(int));
	return n;
}

/*
 * The whole path: a child installs a filter notifying getppid, sends the
 * listener fd with the state to our socket, then calls getppid; we answer
 * the notification with errno 55, which the child checks.
 */
static void t_notify_end_to_end(void **state)
{
	(void)state;
	char dir[] = "/tmp/cella-seccomp-XXXXXX";
	assert_non_null(mkdtemp(dir));
	cleanup_free char *path = xasprintf("%s/listener.sock", dir);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	cleanup_close int lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lsock >= 0);
	assert_int_equal(bind(lsock, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(lsock, 1), 0);

	cleanup_free char *profile = xasprintf(
		"{'defaultAction': 'SCMP_ACT_ALLOW', 'listenerPath': '%s', 'listenerMetadata': 'k=v',"
		" 'syscalls': [{'names': ['getppid'], 'action': 'SCMP_ACT_NOTIFY'}]}", path);
	struct seccomp_filter *f = prepare_ok(profile);

	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cella_error err = { 0 };
		int fd = -1;
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || seccomp_install(f, &fd, &err) < 0 || fd < 0)
			_exit(100);
		char state_json[256];
		snprintf(state_json, sizeof(state_json),
			 "{\"ociVersion\": \"1.2.0\", \"id\": \"c1\", \"status\": \"creating\", \"pid\": %d,"
			 " \"bundle\": \"/b\"}", (int)getpid());
		if (seccomp_notify_send(path, fd, state_json, "k=v", &err) < 0)
			_exit(101);
		close(fd);
		_exit(SYSCALL_ERRNO(SYS_getppid) == 55 ? 0 : 102);
	}

	cleanup_close int conn = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
	assert_true(conn >= 0);
	char buf[4096] = "";
	int nfd = -1;
	ssize_t n = recv_with_fd(conn, buf, sizeof(buf) - 1, &nfd);
	assert_true(n > 0);
	assert_true(nfd >= 0);
	json_t *msg = json_loadb(buf, (size_t)n, 0, NULL);
	assert_non_null(msg);
	assert_string_equal(json_string_value(json_object_get(msg, "ociVersion")), "1.2.0");
	assert_string_equal(json_string_value(json_array_get(json_object_get(msg, "fds"), 0)), "seccompFd");
	assert_int_equal(json_array_size(json_object_get(msg, "fds")), 1);
	assert_int_equal(json_integer_value(json_object_get(msg, "pid")), pid);
	assert_string_equal(json_string_value(json_object_get(msg, "metadata")), "k=v");
	json_t *st = json_object_get(msg, "state");
	assert_string_equal(json_string_value(json_object_get(st, "id")), "c1");
	assert_string_equal(json_string_value(json_object_get(st, "status")), "creating");
	json_decref(msg);

	struct seccomp_notif *req = NULL;
	struct seccomp_notif_resp *resp = NULL;
	assert_int_equal(seccomp_notify_alloc(&req, &resp), 0);
	assert_int_equal(seccomp_notify_receive(nfd, req), 0);
	assert_int_equal(req->pid, pid);
	assert_int_equal(req->data.nr, seccomp_syscall_resolve_name("getppid"));
	resp->id = req->id;
	resp->error = -55;
	resp->val = 0;
	resp->flags = 0;
	assert_int_equal(seccomp_notify_respond(nfd, resp), 0);
	seccomp_notify_free(req, resp);
	close(nfd);

	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_exit_ok(status);
	seccomp_filter_free(f);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_lookups),
		cmocka_unit_test(t_prepare_variants),
		cmocka_unit_test(t_prepare_errors),
		cmocka_unit_test(t_default_profile_builds),
		cmocka_unit_test(t_errno),
		cmocka_unit_test(t_kill_process),
		cmocka_unit_test(t_default_action),
		cmocka_unit_test(t_args),
		cmocka_unit_test(t_default_profile_denies),
		cmocka_unit_test(t_install_needs_notify_fd),
		cmocka_unit_test(t_notify_send_errors),
		cmocka_unit_test(t_notify_end_to_end),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
