/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `create` and `run`, which takes create's options plus --detach. */
#include <sys/wait.h>

#include "cmd.h"

const struct opt create_opts[] = {
	{ "bundle", 'b', OPT_STRING, ARG(create.bundle), "DIR", "bundle directory (default: .)" },
	{ "console-socket", 0, OPT_STRING, ARG(create.console_socket), "PATH",
	  "AF_UNIX socket to receive the console's master fd" },
	{ "pid-file", 0, OPT_STRING, ARG(create.pid_file), "FILE", "write the init pid to FILE" },
	{ "no-pivot", 0, OPT_BOOL, ARG(create.no_pivot), NULL, "do not pivot_root (rootfs on a ramdisk)" },
	{ "no-new-keyring", 0, OPT_BOOL, ARG(create.no_new_keyring), NULL,
	  "keep the caller's session keyring" },
	{ "preserve-fds", 0, OPT_COUNT, ARG(create.preserve_fds), "N",
	  "pass fds 3 .. 3+N-1 to the container (default: 0)" },
	OPT_END
};

const struct opt run_opts[] = {
	{ "detach", 'd', OPT_BOOL, ARG(create.detach), NULL, "do not wait for the container to exit" },
	OPT_END
};

int cmd_create(struct cella_runtime *rt, struct cmd_args *a, struct cella_error *err)
{
	return cella_container_create(rt, a->id, &a->create, err);
}

/* In the foreground, exit as the container's process did; 128+N for a signal N, as a shell does. */
int cmd_run(struct cella_runtime *rt, struct cmd_args *a, struct cella_error *err)
{
	int wstatus = 0;

	if (cella_container_run(rt, a->id, &a->create, &wstatus, err) < 0)
		return -1;
	if (a->create.detach)
		return 0;
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return WEXITSTATUS(wstatus);
}
