/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal interfaces of the container engine: the pieces container.c
 * drives while it turns an oci_config into a process tree.  Everything
 * here runs in the container's init process unless said otherwise.
 */
#ifndef CELLA_ENGINE_H
#define CELLA_ENGINE_H

#include <stdbool.h>
#include <sys/types.h>

#include <cella/error.h>
#include <cella/runtime.h>

#include "cgroup.h"
#include "oci.h"

/* namespace.c */
/* Open every namespace path of the config (O_RDONLY|O_CLOEXEC); fds[i] = -1
 * for namespaces to create. */
int namespaces_open(const struct oci_config *c, int *fds, struct cella_error *err);
/* Flags of the namespaces to create (CLONE_NEW*). */
int namespaces_new_flags(const struct oci_config *c);
bool namespaces_has(const struct oci_config *c, int type);
/* setns() into every joined namespace of type in `types`. */
int namespaces_join(const struct oci_config *c, const int *fds, int types, struct cella_error *err);

/* idmap.c: write /proc/PID/{uid,gid}_map (run by the parent). */
int idmap_write(pid_t pid, const struct oci_config *c, struct cella_error *err);
/* signal.c: every signal back to its default disposition and unblocked (a
 * container's processes get nothing of the runtime's or its caller's). */
void signals_reset_all(void);
/* exeseal.c: an O_PATH fd of `path` seen through a read-only overlay of its
 * directory (a program started from it runs sealed), or -1. */
int exeseal_open(const char *path);
/* The host id of container id `id` under the mappings m[n]; -1 if unmapped. */
long idmap_host(const struct oci_idmap *m, size_t n, uint32_t id);
/* Fallback for a rootfs that cannot be idmapped: chown it into the mapping. */
int idmap_chown_tree(const char *rootfs, const struct oci_config *c, struct cella_error *err);

/* mount.c */
struct rootfs_ctx {
	const struct oci_config *config;
	const char *rootfs;         /* absolute host path of the root filesystem */
	struct cgroup *cgroup;
	bool no_pivot;
	bool in_userns;             /* device nodes are bind-mounted, not created */
	int idmapped_root;          /* >= 0: a detached idmapped tree of the rootfs to use */
	int null_tree;              /* set by rootfs_setup: the host's /dev/null, for masks */
	int console_sock;           /* >= 0: make a pty, send its master there */
	int console_slave;          /* out: the pty slave, bind-mounted on /dev/console */
	/* called once before the first cgroup mount, at the latest before pivot_root */
	int (*cgroup_ready)(void *data, struct cella_error *err);
	void *cgroup_ready_data;
	/* called right before pivot_root, with cgroup_ready_data (hooks) */
	int (*before_pivot)(void *data, struct cella_error *err);
};
/* (runtime side) A detached copy of the rootfs idmapped through a user namespace. */
int rootfs_idmap(const char *rootfs, int userns_fd);
/* Mount everything below the rootfs and switch into it. */
int rootfs_setup(struct rootfs_ctx *ctx, struct cella_error *err);
/* After pivot and sysctl: masked paths, read-only paths, read-only root. */
int rootfs_finalize(struct rootfs_ctx *ctx, struct cella_error *err);
/* Open `path` below `rootfd` (resolved as if rootfd were "/"), creating missing
 * directories and, when `file` is true, the last component as an empty file. */
int path_open_in_root(int rootfd, const char *path, bool create, bool file, struct cella_error *err);

/* Set and clear MS_* attributes (ro, nosuid, nodev, noexec, atime...) on the
 * mount `fd` is the root of, with mount_setattr(2). */
int mount_attrs_apply(int fd, bool recursive, unsigned long set, unsigned long clr);

/* device.c: linux.devices, and with `defaults` (a fresh /dev) the default
 * devices and the /dev symlinks.  `bind`: bind-mount host nodes (user ns). */
int devices_create(int rootfd, const struct oci_config *c, bool defaults, bool bind,
		   struct cella_error *err);

/* sysctl.c: write linux.sysctl through the container's /proc/sys. */
int sysctl_apply(const struct oci_config *c, struct cella_error *err);
/* Refuse sysctls that are not namespaced or whose namespace is shared with the host. */
int sysctl_validate(const struct oci_config *c, struct cella_error *err);

/* capability.c */
int capabilities_drop_bounding(const struct oci_capabilities *caps, struct cella_error *err);
int capabilities_apply(const struct oci_capabilities *caps, struct cella_error *err);
/* Keep capabilities across the setuid that follows. */
int capabilities_keep(struct cella_error *err);

/* console.c */
/* Connect to the --console-socket (before pivot). */
int console_socket_connect(const char *path, struct cella_error *err);
/* Open a pty pair from `ptmx` (the container's devpts), send the master over `sock`. */
int console_create(int sock, const char *ptmx, const struct oci_process *p, int *slave,
		   struct cella_error *err);
/* Receive a pty master sent by console_create() over a socketpair. */
int console_recv(int sock, struct cella_error *err);
/* Copy what is readable from `from` to `to`; -1 at EOF or error of `from`. */
int console_copy(int from, int to);
/* Make `slave` the controlling terminal and stdio. */
int console_attach(int slave, struct cella_error *err);

/* process.c: the last steps before exec; process_prepare() is
 * process_prepare_privileged() then process_switch_user(), which a seccomp
 * filter may need to go between (see seccomp.c). */
int process_prepare_privileged(const struct oci_config *c, bool no_new_keyring, const char *id,
			       struct cella_error *err);
int process_switch_user(const struct oci_config *c, struct cella_error *err);
int process_prepare(const struct oci_config *c, bool no_new_keyring, const char *id,
		    struct cella_error *err);
/* Only stdio and fds 3 .. 3+preserve_fds-1 survive the coming execve. */
int process_check_preserved_fds(int preserve_fds, struct cella_error *err);
int process_limit_fds(int preserve_fds, struct cella_error *err);
/* HOME of uid from the container's /etc/passwd ("/" if none); caller frees. */
char *process_home(uid_t uid);
/* Resolve args[0] through PATH of the process env; caller frees. */
char *process_find_executable(const struct oci_process *p, struct cella_error *err);

/* state.c: the state directory of one container under the runtime root. */
struct container_state {
	char id[256];
	pid_t pid;
	unsigned long long start_time;   /* of pid, to detect pid reuse */
	char bundle[4096];
	char rootfs[4096];
	char created[64];
	char cgroup_path[4096];
	char *annotations_json;
	bool hooks;                       /* config.json has hooks: read it again at start/delete */
	bool creating;                    /* create has not finished: the status is "creating" */
};
/* Open (creating it 0700 if needed) the runtime root; returns a dirfd. */
int state_root_open(const char *root, bool create, struct cella_error *err);
int state_load(int rootfd, const char *id, struct container_state *st, struct cella_error *err);
/* `fresh`: the first write, in the directory create just made. */
int state_save(int rootfd, const struct container_state *st, bool fresh, struct cella_error *err);
int state_remove(int rootfd, const char *id, struct cella_error *err);
void state_release(struct container_state *st);

/* lsm.c: AppArmor and SELinux labels */
bool lsm_apparmor_enabled(void);
bool lsm_selinux_enabled(void);
/* Refuse labels whose LSM is not enabled (c may be NULL for exec). */
int lsm_check(const struct oci_config *c, const struct oci_process *p, struct cella_error *err);
/* Label the next execve (in the container, /proc mounted). */
int lsm_exec_label(const struct oci_process *p, struct cella_error *err);
/* Mount data with linux.mountLabel's context= added, or NULL to keep m->data. */
char *lsm_mount_data(const struct oci_config *c, const struct oci_mount *m);

/* container.c: an existing container, its state checked against the kernel. */
struct container_ref {
	int rootfd, statefd;        /* the runtime root and ROOT/ID */
	struct container_state st;
	struct cgroup *cg;          /* NULL unless asked for (or missing) */
	enum cella_status status;
};
/* The OCI state JSON (for hooks and seccomp listeners) of a container of ours. */
char *container_state_json(const struct container_state *st, enum cella_status status);
int container_ref_open(struct cella_runtime *rt, const char *id, bool want_cgroup,
		       struct container_ref *ref, struct cella_error *err);
void container_ref_close(struct container_ref *ref);

/* hooks.c */
/*
 * Run the hooks of one kind in order, each with `state_json` (the OCI state)
 * on its stdin, its stdout and stderr inherited and its timeout enforced;
 * `kind_name` ("prestart", "createRuntime"...) names it in errors:
 * "hooks.poststart[1]: `/bin/x` exited with status 2".  Only forks: fine in
 * the runtime and in the container's (single-threaded) init, where a path
 * resolves in the container after pivot_root.
 */
int hooks_run(const struct oci_hook *hooks, size_t n, const char *kind_name, const char *state_json,
	      struct cella_error *err);

/* exec.c (with console.c's relay, shared with `run`) */
/*
 * Wait for the child `pid` (with its pidfd), forwarding termination signals
 * to it and, when `master` >= 0, relaying stdin -> master -> stdout (our
 * terminal in raw mode meanwhile, SIGWINCH resizing the pty).  The status
 * as from waitpid() goes to *wstatus.
 */
int console_relay_wait(pid_t pid, int pidfd, int master, int *wstatus, struct cella_error *err);

/* ---- seccomp.c ---------------------------------------------------------
 * linux.seccomp -> a libseccomp filter; where these are called in the
 * init's sequence, and why, is explained at the top of seccomp.c. */
struct seccomp_filter;
/* Names of the OCI spec, shared with the parser: 0 if known (the value for
 * libseccomp stored when the pointer is non-NULL), -1 if not.  A flag this
 * libseccomp cannot set is known, with *attr = -1 (seccomp_prepare fails). */
int seccomp_action_lookup(const char *name, uint32_t *action);
int seccomp_operator_lookup(const char *name, int *op);
int seccomp_arch_lookup(const char *name, uint32_t *arch);
int seccomp_flag_lookup(const char *name, int *attr);
/* Build the filter (no syscall of the caller is affected yet). */
int seccomp_prepare(const struct oci_seccomp *s, struct seccomp_filter **out, struct cella_error *err);
/* The same through the compiled-filter cache in `cache_dirfd` (-1: none):
 * on a hit libseccomp is not involved at all. */
int seccomp_prepare_cached(const struct oci_seccomp *s, int cache_dirfd, struct seccomp_filter **out,
			   struct cella_error *err);
/* features.json's linux.seccomp object. */
struct json_t *seccomp_features_json(void);
/* True when an action is SCMP_ACT_NOTIFY: install needs notify_fd then. */
bool seccomp_filter_notifies(const struct seccomp_filter *f);
/* Load the filter into the calling thread; *notify_fd gets the listener fd
 * (O_CLOEXEC, the caller owns it) or -1.  notify_fd may be NULL without NOTIFY. */
int seccomp_install(struct seccomp_filter *f, int *notify_fd, struct cella_error *err);
/* Send the containerProcessState built around `state_json` (the container's
 * state, whose "pid" it repeats) and `notify_fd` to the listener socket. */
int seccomp_notify_send(const char *listener_path, int notify_fd, const char *state_json,
			const char *metadata, struct cella_error *err);
/* The runtime's side of a NOTIFY filter: take the listener fd `remote_fd`
 * of the process behind `pidfd` and send it with `state_json` (may be NULL:
 * out of memory) to the profile's listenerPath. */
int seccomp_notify_take(int pidfd, int remote_fd, const struct oci_seccomp *s, const char *state_json,
			struct cella_error *err);
void seccomp_filter_free(struct seccomp_filter *f);

#endif
