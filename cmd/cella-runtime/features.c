/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `features`: the OCI features document of this runtime. */
#include "cmd.h"
#include "util.h"

int cmd_features(struct cella_runtime *rt, struct cmd_args *a, struct cella_error *err)
{
	cleanup_free char *json = cella_features_json();

	(void)rt;
	(void)a;
	return print_text(json, "format the features", err);
}
