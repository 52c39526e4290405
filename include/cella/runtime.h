/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CELLA_RUNTIME_H
#define CELLA_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cella/error.h>

#define CELLA_API __attribute__((visibility("default")))

enum cella_log_level {
	CELLA_LOG_ERROR,
	CELLA_LOG_WARNING,
	CELLA_LOG_INFO,
	CELLA_LOG_DEBUG,
};

/*
 * Everything a runtime operation needs to know about its caller.  The
 * library never prints: diagnostics go to `log` when it is set.
 */
struct cella_runtime {
	const char *root;         /* state directory, e.g. /run/cella-runtime */
	bool debug;
	bool systemd_cgroup;      /* accepted; the cgroupfs manager is used */
	void (*log)(void *data, enum cella_log_level level, const char *msg);
	void *log_data;
};

enum cella_status {
	CELLA_STATUS_CREATING,
	CELLA_STATUS_CREATED,
	CELLA_STATUS_RUNNING,
	CELLA_STATUS_PAUSED,
	CELLA_STATUS_STOPPED,
};

/* The OCI state of one container. */
struct cella_state {
	char id[256];
	char bundle[4096];
	char rootfs[4096];
	char created[64];         /* RFC 3339, UTC */
	char owner[64];
	pid_t pid;                /* 0 when stopped */
	enum cella_status status;
	char *annotations_json;   /* JSON object text, may be NULL */
};

struct cella_create_opts {
	const char *bundle;
	const char *pid_file;
	const char *console_socket;
	bool no_pivot;
	bool no_new_keyring;
	int preserve_fds;         /* fds 3 .. 3+n-1 are passed to the container */
	bool detach;              /* run only */
};

#define CELLA_KILL_ALL    (1u << 0)
#define CELLA_DELETE_FORCE (1u << 0)

CELLA_API const char *cella_version(void);

/*
 * Re-exec the calling program from a sealed memfd copy of itself, unless it
 * already runs from one: processes put into a container are forks of it
 * until they exec, and their /proc/PID/exe must not lead to a writable
 * binary on the host.  Returns 0 when already sealed; -1 on failure; does
 * not return otherwise.
 */
CELLA_API int cella_exe_seal(char *const argv[], struct cella_error *err);
CELLA_API bool cella_exe_is_sealed(void);
CELLA_API const char *cella_status_name(enum cella_status s);

CELLA_API int cella_container_create(struct cella_runtime *rt, const char *id,
				     const struct cella_create_opts *opts, struct cella_error *err);
CELLA_API int cella_container_start(struct cella_runtime *rt, const char *id, struct cella_error *err);
/* create + start; unless opts->detach, waits and stores the exit status
 * (as from waitpid) in *wstatus and deletes the container. */
CELLA_API int cella_container_run(struct cella_runtime *rt, const char *id,
				  const struct cella_create_opts *opts, int *wstatus,
				  struct cella_error *err);
CELLA_API int cella_container_state(struct cella_runtime *rt, const char *id,
				    struct cella_state *st, struct cella_error *err);
CELLA_API void cella_state_release(struct cella_state *st);
/* OCI state JSON (as `runc state` prints it); caller frees. */
CELLA_API char *cella_state_to_json(const struct cella_state *st, bool pretty);
CELLA_API int cella_container_kill(struct cella_runtime *rt, const char *id, int sig,
				   unsigned flags, struct cella_error *err);
CELLA_API int cella_container_delete(struct cella_runtime *rt, const char *id,
				     unsigned flags, struct cella_error *err);
CELLA_API int cella_container_pause(struct cella_runtime *rt, const char *id, struct cella_error *err);
CELLA_API int cella_container_resume(struct cella_runtime *rt, const char *id, struct cella_error *err);
/* Pids of every process of the container; caller frees *pids. */
CELLA_API int cella_container_pids(struct cella_runtime *rt, const char *id, pid_t **pids,
				   size_t *n, struct cella_error *err);
/* Ids of every container under rt->root, sorted; caller frees each and the array. */
CELLA_API int cella_container_list(struct cella_runtime *rt, char ***ids, size_t *n,
				   struct cella_error *err);

/* `spec`: a default config.json (text, caller frees). */
CELLA_API char *cella_spec_default(bool rootless);
/* `features`: the OCI features document (text, caller frees). */
CELLA_API char *cella_features_json(void);

/* Parse a signal given by name ("KILL", "SIGKILL") or number; -1 if unknown. */
CELLA_API int cella_signal_parse(const char *s);

/* `exec`: a new process in a running container. */
struct cella_exec_opts {
	/* The process as a config.json "process" object (text), used as given:
	 * what it leaves out (capabilities, rlimits, oomScoreAdj) comes from the
	 * container's config.  NULL: the container's process with the fields below. */
	const char *process_json;
	size_t process_json_len;
	char *const *args; size_t n_args;    /* required without process_json */
	const char *cwd;                     /* NULL: the container's */
	char *const *env; size_t n_env;      /* "KEY=VALUE", set over the container's env */
	const char *user;                    /* "UID[:GID]", NULL: the container's */
	char *const *caps; size_t n_caps;    /* "CAP_NET_ADMIN" or "NET_ADMIN", added */
	bool tty;                            /* process.terminal */
	bool no_new_privs;                   /* set it (false keeps the container's) */
	const char *console_socket;          /* with tty: send the pty master there */
	const char *pid_file;                /* the new process's pid, as seen by the host */
	int preserve_fds;                    /* fds 3 .. 3+n-1 are passed to the process */
	bool detach;                         /* return once it runs, do not wait */
};

/* Run a process in the container `id` (created or running).  Unless
 * opts->detach, waits for it (forwarding signals, relaying its pty when tty
 * without console_socket) and stores its status (as from waitpid) in *wstatus. */
CELLA_API int cella_container_exec(struct cella_runtime *rt, const char *id,
				   const struct cella_exec_opts *opts, int *wstatus,
				   struct cella_error *err);
/* `update`: apply a linux.resources object (JSON text) to the container's cgroup. */
CELLA_API int cella_container_update(struct cella_runtime *rt, const char *id,
				     const char *resources_json, struct cella_error *err);

#endif
