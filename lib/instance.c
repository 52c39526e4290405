/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Placeholder: filled in as the management layer lands. */
#include <errno.h>

#include "host.h"

json_t *cella_instance_list(struct cella_host *h, struct cella_error *err)
{
	(void)h;
	cella_error_set(err, ENOSYS, "cella_instance_list: not implemented yet");
	return NULL;
}

json_t *cella_instance_get(struct cella_host *h, const char *name, struct cella_error *err)
{
	(void)h;
	(void)name;
	cella_error_set(err, ENOSYS, "cella_instance_get: not implemented yet");
	return NULL;
}

json_t *cella_instance_state(struct cella_host *h, const char *name, struct cella_error *err)
{
	(void)h;
	(void)name;
	cella_error_set(err, ENOSYS, "cella_instance_state: not implemented yet");
	return NULL;
}

int cella_instance_create(struct cella_host *h, const json_t *req, struct cella_error *err)
{
	(void)h;
	(void)req;
	cella_error_set(err, ENOSYS, "cella_instance_create: not implemented yet");
	return -1;
}

int cella_instance_update(struct cella_host *h, const char *name, const json_t *req, bool patch, struct cella_error *err)
{
	(void)h;
	(void)name;
	(void)req;
	(void)patch;
	cella_error_set(err, ENOSYS, "cella_instance_update: not implemented yet");
	return -1;
}

int cella_instance_rename(struct cella_host *h, const char *name, const char *new_name, struct cella_error *err)
{
	(void)h;
	(void)name;
	(void)new_name;
	cella_error_set(err, ENOSYS, "cella_instance_rename: not implemented yet");
	return -1;
}

int cella_instance_delete(struct cella_host *h, const char *name, bool force, struct cella_error *err)
{
	(void)h;
	(void)name;
	(void)force;
	cella_error_set(err, ENOSYS, "cella_instance_delete: not implemented yet");
	return -1;
}

int cella_instance_start(struct cella_host *h, const char *name, struct cella_error *err)
{
	(void)h;
	(void)name;
	cella_error_set(err, ENOSYS, "cella_instance_start: not implemented yet");
	return -1;
}

int cella_instance_stop(struct cella_host *h, const char *name, bool force, int timeout, struct cella_error *err)
{
	(void)h;
	(void)name;
	(void)force;
	(void)timeout;
	cella_error_set(err, ENOSYS, "cella_instance_stop: not implemented yet");
	return -1;
}

int cella_instance_restart(struct cella_host *h, const char *name, bool force, int timeout, struct cella_error *err)
{
	(void)h;
	(void)name;
	(void)force;
	(void)timeout;
	cella_error_set(err, ENOSYS, "cella_instance_restart: not implemented yet");
	return -1;
}

int cella_instance_freeze(struct cella_host *h, const char *name, struct cella_error *err)
{
	(void)h;
	(void)name;
	cella_error_set(err, ENOSYS, "cella_instance_freeze: not implemented yet");
	return -1;
}

int cella_instance_unfreeze(struct cella_host *h, const char *name, struct cella_error *err)
{
	(void)h;
	(void)name;
	cella_error_set(err, ENOSYS, "cella_instance_unfreeze: not implemented yet");
	return -1;
}

int cella_instances_autostart(struct cella_host *h, struct cella_error *err)
{
	(void)h;
	cella_error_set(err, ENOSYS, "cella_instances_autostart: not implemented yet");
	return -1;
}

int cella_instance_exec(struct cella_host *h, const char *name, const struct cella_instance_exec *x, int *status, struct cella_error *err)
{
	(void)h;
	(void)name;
	(void)x;
	(void)status;
	cella_error_set(err, ENOSYS, "cella_instance_exec: not implemented yet");
	return -1;
}

int cella_instance_console_open(struct cella_host *h, const char *name, struct cella_error *err)
{
	(void)h;
	(void)name;
	cella_error_set(err, ENOSYS, "cella_instance_console_open: not implemented yet");
	return -1;
}

char *cella_instance_console_log(struct cella_host *h, const char *name, struct cella_error *err)
{
	(void)h;
	(void)name;
	cella_error_set(err, ENOSYS, "cella_instance_console_log: not implemented yet");
	return NULL;
}

int cella_instance_file_pull(struct cella_host *h, const char *name, const char *path, int out_fd, json_t **meta, struct cella_error *err)
{
	(void)h;
	(void)name;
	(void)path;
	(void)out_fd;
	(void)meta;
	cella_error_set(err, ENOSYS, "cella_instance_file_pull: not implemented yet");
	return -1;
}

int cella_instance_file_push(struct cella_host *h, const char *name, const char *path, int in_fd, uid_t uid, gid_t gid, mode_t mode, struct cella_error *err)
{
	(void)h;
	(void)name;
	(void)path;
	(void)in_fd;
	(void)uid;
	(void)gid;
	(void)mode;
	cella_error_set(err, ENOSYS, "cella_instance_file_push: not implemented yet");
	return -1;
}

json_t *cella_snapshot_list(struct cella_host *h, const char *name, struct cella_error *err)
{
	(void)h;
	(void)name;
	cella_error_set(err, ENOSYS, "cella_snapshot_list: not implemented yet");
	return NULL;
}

int cella_snapshot_create(struct cella_host *h, const char *name, const char *snap, struct cella_error *err)
{
	(void)h;
	(void)name;
	(void)snap;
	cella_error_set(err, ENOSYS, "cella_snapshot_create: not implemented yet");
	return -1;
}

int cella_snapshot_restore(struct cella_host *h, const char *name, const char *snap, struct cella_error *err)
{
	(void)h;
	(void)name;
	(void)snap;
	cella_error_set(err, ENOSYS, "cella_snapshot_restore: not implemented yet");
	return -1;
}

int cella_snapshot_delete(struct cella_host *h, const char *name, const char *snap, struct cella_error *err)
{
	(void)h;
	(void)name;
	(void)snap;
	cella_error_set(err, ENOSYS, "cella_snapshot_delete: not implemented yet");
	return -1;
}

int cella_instance_copy(struct cella_host *h, const char *source, const char *target, struct cella_error *err)
{
	(void)h;
	(void)source;
	(void)target;
	cella_error_set(err, ENOSYS, "cella_instance_copy: not implemented yet");
	return -1;
}

char *cella_metrics_text(struct cella_host *h, struct cella_error *err)
{
	(void)h;
	cella_error_set(err, ENOSYS, "cella_metrics_text: not implemented yet");
	return NULL;
}
