/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `exec [options] ID [COMMAND [ARGS...]]`: a new process in a running
 * container.  Options end at the id: what follows is the command's.
 */
#include <fcntl.h>
#include <sys/wait.h>

#include "cmd.h"
#include "util.h"

const struct opt exec_opts[] = {
	{ "process", 'p', OPT_STRING, ARG(exec_process), "FILE",
	  "the process as a config.json \"process\" object (the args are then ignored)" },
	{ "tty", 't', OPT_BOOL, ARG(exec.tty), NULL, "allocate a pseudo-terminal" },
	{ "console-socket", 0, OPT_STRING, ARG(exec.console_socket), "PATH",
	  "AF_UNIX socket to receive the pty master (with --tty)" },
	{ "detach", 'd', OPT_BOOL, ARG(exec.detach), NULL, "do not wait for the process to exit" },
	{ "pid-file", 0, OPT_STRING, ARG(exec.pid_file), "FILE", "write the process's pid to FILE" },
	{ "cwd", 0, OPT_STRING, ARG(exec.cwd), "DIR", "working directory in the container" },
	{ "env", 'e', OPT_LIST, ARG(exec_env), "KEY=VALUE", "set an environment variable (repeatable)" },
	{ "user", 'u', OPT_STRING, ARG(exec.user), "UID[:GID]", "run as this user" },
	{ "cap", 'c', OPT_LIST, ARG(exec_caps), "CAP", "add a capability (repeatable)" },
	{ "no-new-privs", 0, OPT_BOOL, ARG(exec.no_new_privs), NULL, "set no_new_privs" },
	{ "preserve-fds", 0, OPT_COUNT, ARG(exec.preserve_fds), "N",
	  "pass fds 3 .. 3+N-1 to the process (default: 0)" },
	OPT_END
};

/* In the foreground, exit as the process did; 128+N for a signal N, as a shell does. */
int cmd_exec(struct cella_runtime *rt, struct cmd_args *a, struct cella_error *err)
{
	cleanup_free char *process = NULL;
	int wstatus = 0;

	if (a->exec_process) {
		process = read_file_at(AT_FDCWD, a->exec_process, &a->exec.process_json_len, err);
		if (!process)
			return cella_error_wrap(err, "--process");
		a->exec.process_json = process;
	}
	a->exec.args = a->rest;
	a->exec.n_args = a->nrest;
	a->exec.env = a->exec_env.v;
	a->exec.n_env = a->exec_env.n;
	a->exec.caps = a->exec_caps.v;
	a->exec.n_caps = a->exec_caps.n;
	if (cella_container_exec(rt, a->id, &a->exec, &wstatus, err) < 0)
		return -1;
	if (a->exec.detach)
		return 0;
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return WEXITSTATUS(wstatus);
}
