/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `kill ID [SIGNAL]`: the signal by name (KILL, SIGKILL, RTMIN+1) or number. */
#include "cmd.h"

const struct opt kill_opts[] = {
	{ "all", 'a', OPT_BOOL, ARG(all), NULL, "signal every process of the container" },
	OPT_END
};

int cmd_kill(struct cella_runtime *rt, struct cmd_args *a, struct cella_error *err)
{
	const char *name = a->nrest > 0 ? a->rest[0] : "SIGTERM";
	int sig = cella_signal_parse(name);

	if (sig < 0)
		return cella_error_set(err, 0, "unknown signal \"%s\"", name);
	return cella_container_kill(rt, a->id, sig, a->all ? CELLA_KILL_ALL : 0, err);
}
