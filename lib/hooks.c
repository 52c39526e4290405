/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * OCI hooks (config.json "hooks"): programs run at points of the lifecycle
 * with the container's state JSON on their stdin.  hooks_run() is called by
 * the runtime (createRuntime, prestart, poststart, poststop) and by the
 * container's init (createContainer, startContainer): it only forks, so it
 * is safe in a single-threaded process that already did pivot_root, where
 * the hook's path then resolves inside the container.
 */
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "engine.h"
#include "util.h"

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The child: stdin from the pipe, stdout/stderr inherited, nothing else
 * open.  Only async-signal-safe calls: the caller may be anything. */
static __attribute__((noreturn)) void hook_child(int in, int errfd, const char *path, char *const *argv,
						 char *const *envp)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (in == STDIN_FILENO) {
		int fl = fcntl(in, F_GETFD);
		if (fl < 0 || fcntl(in, F_SETFD, fl & ~FD_CLOEXEC) < 0)
			goto fail;
	} else if (dup2(in, STDIN_FILENO) < 0) {
		goto fail;
	}
	/* the error pipe must stay open until the exec itself: mark, do not close */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		goto fail;
	execve(path, argv, envp);
fail:;
	int e = errno;
	while (write(errfd, &e, sizeof(e)) < 0 && errno == EINTR)
		;
	_exit(127);
}

/*
 * Run one hook to completion.  The state is written without blocking while
 * we wait for the hook (a hook that never reads stdin must not hang us on a
 * full pipe), and a hook that exits early is fine (EPIPE ignored).
 */
static int hook_run(const struct oci_hook *h, const char *state, struct cella_error *err)
{
	char *default_argv[] = { h->path, NULL };
	char *empty_env[] = { NULL };
	char *const *argv = h->n_args ? h->args : default_argv;
	char *const *envp = h->n_env ? h->env : empty_env;
	cleanup_close int in_r = -1, in_w = -1, err_r = -1, err_w = -1, pidfd = -1;
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return cella_error_set(err, errno, "pipe");
	in_r = p[0];
	in_w = p[1];
	if (pipe2(p, O_CLOEXEC) < 0)
		return cella_error_set(err, errno, "pipe");
	err_r = p[0];
	err_w = p[1];

	/* Writing to a hook that exited must not kill the runtime: SIGPIPE is
	 * blocked while we write, and one we caused is consumed before unblocking. */
	sigset_t pipe_set, old_mask, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	bool was_pending = sigismember(&pending, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipe_set, &old_mask);

	struct clone_args ca = {
		.flags = CLONE_PIDFD,
		.pidfd = (uint64_t)(uintptr_t)&pidfd,
		.exit_signal = SIGCHLD,
	};
	pid_t pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0)
		hook_child(in_r, err_w, h->path, argv, envp);
	int ret = -1;
	if (pid < 0) {
		cella_error_set(err, errno, "`%s`: fork", h->path);
		goto out;
	}
	close(steal_fd(&in_r));
	close(steal_fd(&err_w));
	fcntl(in_w, F_SETFL, O_NONBLOCK);

	size_t len = state ? strlen(state) : 0, off = 0;
	if (len == 0)
		close(steal_fd(&in_w));
	long long deadline = h->has_timeout ? now_ms() + (long long)h->timeout * 1000 : -1;
	bool timed_out = false;
	int poll_errno = 0;
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = pidfd, .events = POLLIN },
			{ .fd = in_w, .events = POLLOUT },
		};
		int wait_ms = -1;
		if (deadline >= 0) {
			long long left = deadline - now_ms();
			if (left <= 0) {
				timed_out = true;
				break;
			}
			wait_ms = left > INT32_MAX ? INT32_MAX : (int)left;
		}
		int r = poll(pfd, 2, wait_ms);
		if (r < 0 && errno != EINTR) {
			poll_errno = errno;
			break;
		}
		if (r > 0 && pfd[1].revents) {
			ssize_t n = write(in_w, state + off, len - off);
			if (n > 0)
				off += n;
			/* EPIPE and friends: the hook does not want (more of) the state */
			if ((n < 0 && errno != EAGAIN && errno != EINTR) || off == len)
				close(steal_fd(&in_w));
		}
		if (r > 0 && pfd[0].revents)
			break;
	}
	if (timed_out || poll_errno)
		pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
	int status = 0;
	pid_t w;
	while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	int exec_errno = 0;
	if (w < 0) {
		cella_error_set(err, errno, "`%s`: wait", h->path);
	} else if (poll_errno) {
		cella_error_set(err, poll_errno, "`%s`: poll", h->path);
	} else if (read_all(err_r, &exec_errno, sizeof(exec_errno)) == sizeof(exec_errno)) {
		cella_error_set(err, exec_errno, "exec `%s`", h->path);
	} else if (timed_out) {
		cella_error_set(err, 0, "`%s` timed out after %d s", h->path, h->timeout);
		err->code = ETIMEDOUT;
	} else if (WIFSIGNALED(status)) {
		cella_error_set(err, 0, "`%s` killed by signal %d", h->path, WTERMSIG(status));
		err->code = ECHILD;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		cella_error_set(err, 0, "`%s` exited with status %d", h->path, WEXITSTATUS(status));
		err->code = ECHILD;
	} else {
		ret = 0;
	}
out:
	if (in_w >= 0)
		close(steal_fd(&in_w));
	sigpending(&pending);
	if (!was_pending && sigismember(&pending, SIGPIPE)) {
		static const struct timespec zero;
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	return ret;
}

int hooks_run(const struct oci_hook *hooks, size_t n, const char *kind_name, const char *state_json,
	      struct cella_error *err)
{
	for (size_t i = 0; i < n; i++)
		if (hook_run(&hooks[i], state_json, err) < 0)
			return cella_error_wrap(err, "hooks.%s[%zu]", kind_name, i);
	return 0;
}
