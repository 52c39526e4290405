/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Placeholder: filled in as the management layer lands. */
#include <errno.h>

#include "host.h"

json_t *cella_profile_list(struct cella_host *h, struct cella_error *err)
{
	(void)h;
	cella_error_set(err, ENOSYS, "cella_profile_list: not implemented yet");
	return NULL;
}

json_t *cella_profile_get(struct cella_host *h, const char *name, struct cella_error *err)
{
	(void)h;
	(void)name;
	cella_error_set(err, ENOSYS, "cella_profile_get: not implemented yet");
	return NULL;
}

int cella_profile_create(struct cella_host *h, const json_t *req, struct cella_error *err)
{
	(void)h;
	(void)req;
	cella_error_set(err, ENOSYS, "cella_profile_create: not implemented yet");
	return -1;
}

int cella_profile_update(struct cella_host *h, const char *name, const json_t *req, bool patch, struct cella_error *err)
{
	(void)h;
	(void)name;
	(void)req;
	(void)patch;
	cella_error_set(err, ENOSYS, "cella_profile_update: not implemented yet");
	return -1;
}

int cella_profile_delete(struct cella_host *h, const char *name, struct cella_error *err)
{
	(void)h;
	(void)name;
	cella_error_set(err, ENOSYS, "cella_profile_delete: not implemented yet");
	return -1;
}
