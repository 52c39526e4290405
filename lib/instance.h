/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Instance rows shared by lib/instance.c, lib/snapshot.c, lib/files.c. */
#ifndef CELLA_INSTANCE_H
#define CELLA_INSTANCE_H

#include <jansson.h>
#include <stdbool.h>

#include "host.h"

struct inst_row {
	long long id;
	char name[64];
	char type[8];
	char *description;
	json_t *config, *devices, *profiles;
	bool ephemeral;
	char *image;             /* fingerprint, NULL for none */
	unsigned idmap_base;
	char created_at[40], last_used_at[40];
};

/* One change at a time per instance (see lib/instance.c); release with instance_unlock(). */
struct instance_lock {
	int fd;
};
int instance_lock(struct cella_host *h, const char *name, struct instance_lock *l, struct cella_error *err);
void instance_unlock(struct instance_lock *l);
static inline void cleanup_instance_lockp(struct instance_lock *l) { instance_unlock(l); }
#define cleanup_instance_lock __attribute__((cleanup(cleanup_instance_lockp)))

/* Instance, profile and snapshot names: a DNS label starting with a letter. */
bool instance_name_valid(const char *s);
int inst_load(struct cella_host *h, const char *name, struct inst_row *r, struct cella_error *err);
void inst_row_free(struct inst_row *r);
#define cleanup_inst_row __attribute__((cleanup(inst_row_free)))
int inst_expand(struct cella_host *h, const struct inst_row *r, json_t **config, json_t **devices,
		struct cella_error *err);
int devices_validate(const json_t *devices, struct cella_error *err);
int profiles_check(struct cella_host *h, const json_t *profiles, struct cella_error *err);
/* The status word of an instance: Running, Frozen, Stopping, Stopped. */
const char *instance_status(struct cella_host *h, const char *name);
/* The pid of a running instance's init (0 when stopped). */
pid_t instance_init_pid(struct cella_host *h, const char *name);
/* Create a stopped instance like `r` (name, type, config, devices, profiles, image set)
 * whose layer is a copy of `copy_from` (an upper directory), or empty when NULL. */
int instance_create_from(struct cella_host *h, struct inst_row *r, const char *copy_from, struct cella_error *err);
/* The layer of an instance with a disk of its own (limits.disk), mounted; 0 otherwise too. */
int instance_layer_ready(struct cella_host *h, const char *name, struct cella_error *err);
/* Mount / unmount the instance's merged tree at RUN/instances/NAME/rootfs. */
int instance_mount(struct cella_host *h, const struct inst_row *r, char **rootfs, struct cella_error *err);
void instance_umount(struct cella_host *h, const char *name);

#endif
