/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `delete`: remove a stopped container, or any container with --force. */
#include "cmd.h"

const struct opt delete_opts[] = {
	{ "force", 'f', OPT_BOOL, ARG(force), NULL, "kill a running container (SIGKILL) first" },
	OPT_END
};

int cmd_delete(struct cella_runtime *rt, struct cmd_args *a, struct cella_error *err)
{
	return cella_container_delete(rt, a->id, a->force ? CELLA_DELETE_FORCE : 0, err);
}
