/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Placeholder: filled in as the management layer lands. */
#include <errno.h>

#include "host.h"

json_t *cella_config_keys(void)
{
	return NULL;
}

int cella_config_validate(const json_t *config, bool for_profile, struct cella_error *err)
{
	(void)config;
	(void)for_profile;
	cella_error_set(err, ENOSYS, "cella_config_validate: not implemented yet");
	return -1;
}
