/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "util.h"

void cleanup_pidp(pid_t *pid)
{
	if (*pid > 0) {
		int e = errno;
		kill(*pid, SIGKILL);
		while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
			;
		errno = e;
	}
}

void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

void cleanup_strvp(char ***v) { strv_free(*v); }

ssize_t read_all(int fd, void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = read(fd, (char *)buf + done, len - done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		done += r;
	}
	return done;
}

ssize_t write_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = write(fd, (const char *)buf + done, len - done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += r;
	}
	return done;
}

char *read_fd_text(int fd, size_t *lenp, struct cella_error *err)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap + 1);
	if (!buf) {
		cella_error_set(err, ENOMEM, "read");
		return NULL;
	}
	for (;;) {
		if (len == cap) {
			char *n = realloc(buf, cap * 2 + 1);
			if (!n) {
				free(buf);
				cella_error_set(err, ENOMEM, "read");
				return NULL;
			}
			buf = n;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			cella_error_set(err, errno, "read");
			return NULL;
		}
		if (r == 0)
			break;
		len += r;
	}
	buf[len] = '\0';
	if (lenp)
		*lenp = len;
	return buf;
}

char *read_file_at(int dirfd, const char *path, size_t *lenp, struct cella_error *err)
{
	cleanup_close int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cella_error_set(err, errno, "open `%s`", path);
		return NULL;
	}
	char *buf = read_fd_text(fd, lenp, err);
	if (!buf)
		cella_error_wrap(err, "read `%s`", path);
	return buf;
}

int write_file_at(int dirfd, const char *path, const char *data, size_t len, struct cella_error *err)
{
	cleanup_close int fd = openat(dirfd, path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return cella_error_set(err, errno, "open `%s`", path);
	if (write_all(fd, data, len) < 0)
		return cella_error_set(err, errno, "write `%s` to `%s`", data, path);
	return 0;
}

int write_file_atomic(int dirfd, const char *path, const char *data, size_t len, mode_t mode,
		      struct cella_error *err)
{
	char tmp[4096];
	/* per thread: cellad writes from many at once */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)gettid()) >= sizeof(tmp))
		return cella_error_set(err, ENAMETOOLONG, "write `%s`", path);
	cleanup_close int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return cella_error_set(err, errno, "create `%s`", tmp);
	/* `mode` whatever the umask: some files are for another user to read */
	if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0) {
		int e = errno;
		unlinkat(dirfd, tmp, 0);
		return cella_error_set(err, e, "write `%s`", tmp);
	}
	if (renameat(dirfd, tmp, dirfd, path) < 0) {
		int e = errno;
		unlinkat(dirfd, tmp, 0);
		return cella_error_set(err, e, "rename `%s`", tmp);
	}
	return 0;
}

int mkdir_p(const char *path, mode_t mode, struct cella_error *err)
{
	char buf[4096];
	if (strlen(path) >= sizeof(buf))
		return cella_error_set(err, ENAMETOOLONG, "mkdir `%s`", path);
	strcpy(buf, path);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return cella_error_set(err, errno, "mkdir `%s`", buf);
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

void *xmalloc0(size_t n)
{
	void *p = calloc(1, n ? n : 1);
	if (!p)
		abort();
	return p;
}

char *xstrdup(const char *s)
{
	if (!s)
		return NULL;
	char *p = strdup(s);
	if (!p)
		abort();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		abort();
	return s;
}

unsigned long long proc_start_time(pid_t pid, char *state)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read_all(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may contain spaces and parentheses: fields restart after the last ')' */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	p += 2;
	if (state)
		*state = *p;
	/* p is at field 3 (state); start time is field 22 */
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return 0;
		p++;
	}
	return strtoull(p, NULL, 10);
}

bool name_is_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 255 || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  (i > 0 && (c == '_' || c == '.' || c == '+' || c == '-'));
		if (!ok)
			return false;
	}
	return true;
}

#define FDS_MAX 8

int fds_send(int sock, const void *buf, size_t len, const int *fds, size_t n_fds)
{
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int) * FDS_MAX)]; } ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (n_fds > FDS_MAX) {
		errno = E2BIG;
		return -1;
	}
	if (n_fds) {
		msg.msg_control = ctl.b;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	/* a stream socket may take less: the rest goes without the fds */
	while ((size_t)n < len) {
		ssize_t m = send(sock, (const char *)buf + n, len - (size_t)n, MSG_NOSIGNAL);
		if (m < 0 && errno == EINTR)
			continue;
		if (m <= 0)
			return -1;
		n += m;
	}
	return 0;
}

int fd_send(int sock, const void *buf, size_t len, int fd)
{
	return fds_send(sock, buf, len, &fd, fd >= 0 ? 1 : 0);
}

ssize_t fds_recv(int sock, void *buf, size_t len, int *fds, size_t max, size_t *n_fds)
{
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int) * FDS_MAX)]; } ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			      .msg_controllen = sizeof(ctl.b) };
	ssize_t r;
	*n_fds = 0;
	do
		r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	struct cmsghdr *c = r > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
		size_t got = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int all[FDS_MAX];
		memcpy(all, CMSG_DATA(c), got * sizeof(int));
		/* more than asked for: the extra ones are not ours to keep */
		for (size_t i = 0; i < got; i++) {
			if (i < max)
				fds[(*n_fds)++] = all[i];
			else
				close(all[i]);
		}
	}
	return r;
}

ssize_t fd_recv(int sock, void *buf, size_t len, int *fd)
{
	size_t n;
	ssize_t r = fds_recv(sock, buf, len, fd, 1, &n);
	if (!n)
		*fd = -1;
	return r;
}

int spawn_clean(pid_t *pid, const char *path, char *const argv[], const int *fds, size_t n, bool new_session)
{
	extern char **environ;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	for (size_t i = 0; i < n; i++)
		posix_spawn_file_actions_adddup2(&fa, fds[i], (int)i);
	/* nothing else of ours */
	posix_spawn_file_actions_addclosefrom_np(&fa, (int)n);
	posix_spawnattr_t sa;
	posix_spawnattr_init(&sa);
	/* no blocked signal, no disposition of the caller's (cellad ignores SIGPIPE) */
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&sa, &none);
	posix_spawnattr_setsigdefault(&sa, &all);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					      (new_session ? POSIX_SPAWN_SETSID : 0));
	int e = posix_spawn(pid, path, &fa, &sa, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&sa);
	return e;
}
