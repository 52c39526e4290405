/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Placeholder: filled in as the management layer lands. */
#include <errno.h>

#include "host.h"

json_t *cella_image_list(struct cella_host *h, struct cella_error *err)
{
	(void)h;
	cella_error_set(err, ENOSYS, "cella_image_list: not implemented yet");
	return NULL;
}

json_t *cella_image_get(struct cella_host *h, const char *fingerprint_or_alias, struct cella_error *err)
{
	(void)h;
	(void)fingerprint_or_alias;
	cella_error_set(err, ENOSYS, "cella_image_get: not implemented yet");
	return NULL;
}

char *cella_image_build(struct cella_host *h, const char *what, const char *variant, const char *alias, struct cella_error *err)
{
	(void)h;
	(void)what;
	(void)variant;
	(void)alias;
	cella_error_set(err, ENOSYS, "cella_image_build: not implemented yet");
	return NULL;
}

char *cella_image_import(struct cella_host *h, const char *path, const char *alias, const json_t *properties, struct cella_error *err)
{
	(void)h;
	(void)path;
	(void)alias;
	(void)properties;
	cella_error_set(err, ENOSYS, "cella_image_import: not implemented yet");
	return NULL;
}

int cella_image_delete(struct cella_host *h, const char *fingerprint_or_alias, struct cella_error *err)
{
	(void)h;
	(void)fingerprint_or_alias;
	cella_error_set(err, ENOSYS, "cella_image_delete: not implemented yet");
	return -1;
}

int cella_image_alias_add(struct cella_host *h, const char *alias, const char *fingerprint, struct cella_error *err)
{
	(void)h;
	(void)alias;
	(void)fingerprint;
	cella_error_set(err, ENOSYS, "cella_image_alias_add: not implemented yet");
	return -1;
}

int cella_image_alias_delete(struct cella_host *h, const char *alias, struct cella_error *err)
{
	(void)h;
	(void)alias;
	cella_error_set(err, ENOSYS, "cella_image_alias_delete: not implemented yet");
	return -1;
}
