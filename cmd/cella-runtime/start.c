/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `start`: run the user process of a created container. */
#include "cmd.h"

int cmd_start(struct cella_runtime *rt, struct cmd_args *a, struct cella_error *err)
{
	return cella_container_start(rt, a->id, err);
}
