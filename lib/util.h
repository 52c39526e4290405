/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers shared by every libcella file: cleanup attributes, I/O. */
#ifndef CELLA_UTIL_H
#define CELLA_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include <cella/error.h>

#define HIDDEN __attribute__((visibility("hidden")))

static inline void cleanup_freep(void *p) { free(*(void **)p); }
static inline void cleanup_closep(int *fd) { if (*fd >= 0) { int e = errno; close(*fd); errno = e; } }
static inline void cleanup_fclosep(FILE **f) { if (*f) fclose(*f); }
static inline void cleanup_closedirp(DIR **d) { if (*d) closedir(*d); }
void cleanup_pidp(pid_t *pid);   /* SIGKILL + reap a child still owned */
void cleanup_strvp(char ***v);   /* NULL-terminated array of strings */

#define cleanup_free __attribute__((cleanup(cleanup_freep)))
#define cleanup_close __attribute__((cleanup(cleanup_closep)))
#define cleanup_fclose __attribute__((cleanup(cleanup_fclosep)))
#define cleanup_dir __attribute__((cleanup(cleanup_closedirp)))
#define cleanup_pid __attribute__((cleanup(cleanup_pidp)))
#define cleanup_strv __attribute__((cleanup(cleanup_strvp)))

/* Hand ownership out of a cleanup variable. */
#define steal_pointer(pp) ({ __typeof__(*(pp)) _p = *(pp); *(pp) = NULL; _p; })
#define steal_fd(fdp) ({ int _fd = *(fdp); *(fdp) = -1; _fd; })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Full-length read/write retrying on EINTR and short counts. */
ssize_t read_all(int fd, void *buf, size_t len);
ssize_t write_all(int fd, const void *buf, size_t len);
/* sendmsg() all of `buf` with `fd` (if >= 0) attached as SCM_RIGHTS;
 * MSG_NOSIGNAL, EINTR retried, short stream sends completed. */
int fd_send(int sock, const void *buf, size_t len, int fd);
/* The same with up to 8 fds. */
int fds_send(int sock, const void *buf, size_t len, const int *fds, size_t n_fds);
/* recvmsg() with up to `max` fds (O_CLOEXEC) into fds[], *n_fds of them; extra ones are closed. */
ssize_t fds_recv(int sock, void *buf, size_t len, int *fds, size_t max, size_t *n_fds);
/* recvmsg() into `buf` and the SCM_RIGHTS fd that came with it (O_CLOEXEC;
 * *fd = -1 if none).  Bytes received, 0 at EOF, -1 with errno. */
ssize_t fd_recv(int sock, void *buf, size_t len, int *fd);
/* Read a whole file (NUL-terminated); dirfd may be AT_FDCWD. */
/* Everything up to EOF, NUL-terminated. */
char *read_fd_text(int fd, size_t *len, struct cella_error *err);
char *read_file_at(int dirfd, const char *path, size_t *len, struct cella_error *err);
/* Write `data` to an existing file (O_WRONLY|O_TRUNC, no O_CREAT). */
int write_file_at(int dirfd, const char *path, const char *data, size_t len, struct cella_error *err);
/* Atomic replace: write to a temp file in the same dir, fsync-less rename. */
int write_file_atomic(int dirfd, const char *path, const char *data, size_t len, mode_t mode,
		      struct cella_error *err);
int mkdir_p(const char *path, mode_t mode, struct cella_error *err);
void *xmalloc0(size_t n);      /* calloc that aborts on OOM: only for small fixed allocations */
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void strv_free(char **v);
/* Start time of a process in clock ticks since boot (field 22 of stat); 0 if
 * gone.  `state` (may be NULL) receives its state letter ('Z' for a zombie). */
unsigned long long proc_start_time(pid_t pid, char *state);
/* A container or component name: [A-Za-z0-9][A-Za-z0-9_.+-]*, <= 255 bytes, not "." or "..". */
bool name_is_valid(const char *s);
/* posix_spawn() path with fds[i] as its fd i and nothing else open, every
 * signal default and unblocked, in a session of its own if asked; an errno. */
int spawn_clean(pid_t *pid, const char *path, char *const argv[], const int *fds, size_t n, bool new_session);

#endif
