/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vps driver's OCI bundle (lib/vps.c). */
#ifndef CELLA_VPS_H
#define CELLA_VPS_H

#include <jansson.h>

#include <cella/manager.h>

/* Raised whenever vps_bundle_config() makes a different bundle from the same inputs. */
#define VPS_BUNDLE_FORMAT 2

struct vps_params {
	const char *name;
	const char *cgroup_parent; /* "/cella-vps" for the default host */
	const json_t *config;      /* expanded config */
	unsigned idmap_base;       /* first host id of its 65536 */
	const char *rootfs;        /* the merged tree */
	const char *storage_dir;   /* where its layer lives (for I/O throttling) */
	const char *proc_dir;      /* files shown over /proc/<name> (NULL: none) */
	const char *sysinfo_listener; /* the monitor's seccomp.sock (NULL: sysinfo not intercepted) */
	const char *const *proc_files;
	size_t n_proc_files;
};

json_t *vps_bundle_config(const struct vps_params *p, struct cella_error *err);
/* linux.resources from the limits.* keys of an expanded config. */
json_t *vps_resources(const json_t *config, const char *storage_dir);

#endif
