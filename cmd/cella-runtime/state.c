/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `state`: the OCI state of a container, as indented JSON. */
#include "cmd.h"
#include "util.h"

int cmd_state(struct cella_runtime *rt, struct cmd_args *a, struct cella_error *err)
{
	cleanup_state struct cella_state st = { 0 };
	cleanup_free char *json = NULL;

	if (cella_container_state(rt, a->id, &st, err) < 0)
		return -1;
	json = cella_state_to_json(&st, true);
	return print_text(json, "format the state", err);
}
