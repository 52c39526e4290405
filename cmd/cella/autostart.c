/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Starting cellad when its socket is absent: the daemon next to our own
 * binary, else /usr/sbin, else /usr/local/sbin; detached in its own session
 * (double fork, so it is never our child), its output appended to
 * RUN/cellad.log; then up to 10 s for the socket to answer.
 *
 * CELLA_DAEMON_ARGS adds options (split on blanks), e.g. a private tree for
 * tests: "--var-dir X --run-dir Y --log-dir Z".  A CELLA_SOCKET other than
 * the default is passed on as --socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "cella.h"
#include "util.h"

static char *daemon_find(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	static const char *const dirs[] = { "/usr/sbin", "/usr/local/sbin" };

	if (n > 0) {
		self[n] = 0;
		char *p = xasprintf("%s/cellad", dirname(self));
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		char *p = xasprintf("%s/cellad", dirs[i]);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

/* argv for the daemon: cellad [CELLA_DAEMON_ARGS...] [--socket S]; *run_dir gets --run-dir's value. */
static char **daemon_argv(const char *exe, const char *socket_path, char **run_dir)
{
	const char *env = getenv("CELLA_DAEMON_ARGS");
	cleanup_free char *copy = xstrdup(env ? env : "");
	char **argv = xmalloc0(sizeof(char *) * (strlen(copy) / 2 + 5));
	size_t n = 0;
	bool has_socket = false;
	char *save = NULL;

	argv[n++] = xstrdup(exe);
	for (char *t = strtok_r(copy, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save)) {
		if (!strcmp(t, "--socket") || !strncmp(t, "--socket=", 9))
			has_socket = true;
		if (n > 1 && !strcmp(argv[n - 1], "--run-dir")) {
			free(*run_dir);
			*run_dir = xstrdup(t);
		} else if (!strncmp(t, "--run-dir=", 10)) {
			free(*run_dir);
			*run_dir = xstrdup(t + 10);
		}
		argv[n++] = xstrdup(t);
	}
	if (!has_socket && strcmp(socket_path, DEFAULT_SOCKET)) {
		argv[n++] = xstrdup("--socket");
		argv[n++] = xstrdup(socket_path);
	}
	return argv;
}

static bool socket_answers(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		return false;
	strcpy(sa.sun_path, path);
	return connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
}

int daemon_autostart(struct client *c, struct cella_error *err)
{
	cleanup_free char *exe = daemon_find();
	cleanup_strv char **argv = NULL;
	cleanup_free char *run_dir = NULL;
	cleanup_free char *sock_copy = xstrdup(c->socket);
	cleanup_free char *log = NULL;
	cleanup_close int logfd = -1;
	cleanup_close int nullfd = -1;
	struct timespec start, now;
	pid_t pid;
	int status;

	if (!exe)
		return cella_error_set(err, 0, "cellad is not running (socket %s) and no cellad binary "
				       "was found to start", c->socket);
	argv = daemon_argv(exe, c->socket, &run_dir);
	if (!run_dir)
		run_dir = xstrdup(dirname(sock_copy));
	if (mkdir_p(run_dir, 0711, err) < 0)
		return cella_error_wrap(err, "start cellad");
	log = xasprintf("%s/cellad.log", run_dir);
	logfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nullfd < 0)
		return cella_error_set(err, errno, "open /dev/null");
	if (c->progress)
		fprintf(stderr, "Starting cellad (%s)\n", exe);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return cella_error_set(err, errno, "fork");
	if (pid == 0) {
		int out = logfd >= 0 ? logfd : nullfd;

		setsid();
		if (fork() != 0)
			_exit(0);
		dup2(nullfd, 0);
		dup2(out, 1);
		dup2(out, 2);
		signal(SIGPIPE, SIG_DFL);
		execv(exe, argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (socket_answers(c->socket))
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= 10)
			return cella_error_set(err, 0, "cellad did not come up within 10s (socket %s, log %s)",
					       c->socket, logfd >= 0 ? log : "/dev/null");
		nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
	}
}
