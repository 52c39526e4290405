/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Control groups behind one interface, three back ends:
 *   v2      pure unified hierarchy at /sys/fs/cgroup
 *   v1      legacy: one hierarchy per controller under /sys/fs/cgroup
 *   hybrid  v1 controllers plus a controller-less cgroup2 at
 *           /sys/fs/cgroup/unified (used for process tracking only)
 * A container's cgroup is named by one path ("/cella/ID") that exists in
 * every hierarchy the mode uses.
 */
#ifndef CELLA_CGROUP_H
#define CELLA_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <cella/error.h>

struct oci_resources;
struct oci_device;

enum cgroup_mode { CGROUP_MODE_V1, CGROUP_MODE_HYBRID, CGROUP_MODE_V2 };

struct cgroup;

/* Detect the host's layout (statfs of /sys/fs/cgroup and .../unified). */
int cgroup_mode_detect(enum cgroup_mode *mode, struct cella_error *err);
const char *cgroup_mode_name(enum cgroup_mode mode);

/*
 * Create the cgroup `path` (absolute inside each hierarchy, validated: no
 * "..", no empty components) in every hierarchy, enabling the controllers
 * it needs on v2, and apply `res` (may be NULL).  Default device rules (the
 * OCI default devices plus `devices`, n_devices entries) are added after the
 * last rule in `res` that covers every device (its leading "deny all"), so
 * its later rules can still restrict them.  On failure nothing is left behind.
 */
struct cgroup *cgroup_create(const char *path, const struct oci_resources *res,
			     const struct oci_device *devices, size_t n_devices,
			     struct cella_error *err);
/* cgroup_create() in two halves: begin() makes the cgroup2 directory
 * (enough for cgroup_clone_fd()), finish() the rest and the limits; `res`
 * must stay valid in between.  A failed finish() removes everything. */
struct cgroup *cgroup_create_begin(const char *path, const struct oci_resources *res,
				   const struct oci_device *devices, size_t n_devices,
				   struct cella_error *err);
int cgroup_create_finish(struct cgroup *cg, struct cella_error *err);
/* Re-open an existing container cgroup (from saved state). */
struct cgroup *cgroup_open(const char *path, struct cella_error *err);
void cgroup_free(struct cgroup *cg);
enum cgroup_mode cgroup_get_mode(const struct cgroup *cg);
const char *cgroup_get_path(const struct cgroup *cg);

/* Move `pid` into the cgroup in every hierarchy. */
int cgroup_enter(struct cgroup *cg, pid_t pid, struct cella_error *err);
/* Close the hierarchy fds (the init, once in its cgroup and mounted: it
 * keeps no handle on the host's cgroup trees). */
void cgroup_drop_fds(struct cgroup *cg);
/* The cgroup2 directory fd for clone3(CLONE_INTO_CGROUP), or -1 (pure v1). */
int cgroup_clone_fd(struct cgroup *cg);
/* Move the calling single-threaded process into the cgroup in every
 * hierarchy, skipping the cgroup2 one if it was cloned into it. */
int cgroup_enter_self(struct cgroup *cg, bool cloned_into, struct cella_error *err);
/*
 * The v1 `tasks` files of a finished cgroup, opened for writing (fds[max]);
 * returns how many.  A process in a user namespace cannot open them, but
 * writing "0" through an fd opened by root moves it in, as cheaply as
 * cgroup_enter_self(): the kernel checks the opener's credentials.
 */
int cgroup_open_tasks(struct cgroup *cg, int *fds, size_t max, struct cella_error *err);
/* Give the container's own directory in every hierarchy, and the files
 * that create and populate children, to uid:gid (its root's host ids). */
int cgroup_delegate(struct cgroup *cg, uid_t uid, gid_t gid, struct cella_error *err);
/* Apply (again) a resources block, as `update` does. */
int cgroup_apply(struct cgroup *cg, const struct oci_resources *res, struct cella_error *err);
/* Every pid in the cgroup (and its descendants); caller frees. */
int cgroup_pids(struct cgroup *cg, pid_t **pids, size_t *n, struct cella_error *err);
/* Send `sig` to every process in the cgroup. */
int cgroup_kill(struct cgroup *cg, int sig, struct cella_error *err);
/* Freeze or thaw, waiting until the state is reached. */
int cgroup_freeze(struct cgroup *cg, bool frozen, struct cella_error *err);
/* 1 frozen, 0 not, -1 error. */
int cgroup_is_frozen(struct cgroup *cg, struct cella_error *err);
/* Kill what is left (SIGKILL), wait for it to leave, remove the directories
 * in every hierarchy (and empty parents Cella created).  Missing is fine. */
int cgroup_destroy(struct cgroup *cg, struct cella_error *err);

/*
 * Mount the container's view of the cgroup filesystem at `target` (a path
 * already resolved safely inside the rootfs, e.g. "/proc/self/fd/N"), from
 * the container's init (a fork of the process that created `cg`, so its fds
 * are still open), after it entered its cgroup namespace.  `flags` are MS_*
 * (MS_RDONLY, MS_NOSUID...).  v2: one cgroup2 mount; v1/hybrid: a tmpfs with
 * a bind of the container's directory of each hierarchy (plus "unified" on
 * hybrid) and the usual cpu,cpuacct symlinks.
 */
int cgroup_mount(struct cgroup *cg, const char *target, unsigned long flags,
		 struct cella_error *err);

#endif
