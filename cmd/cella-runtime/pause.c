/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `pause` and `resume`: freeze and thaw every process of a container. */
#include "cmd.h"

int cmd_pause(struct cella_runtime *rt, struct cmd_args *a, struct cella_error *err)
{
	return cella_container_pause(rt, a->id, err);
}

int cmd_resume(struct cella_runtime *rt, struct cmd_args *a, struct cella_error *err)
{
	return cella_container_resume(rt, a->id, err);
}
