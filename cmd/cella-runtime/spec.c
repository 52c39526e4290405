/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `spec`: write a default config.json into a bundle, never over an existing one. */
#include <fcntl.h>
#include <string.h>

#include "cmd.h"
#include "util.h"

const struct opt spec_opts[] = {
	{ "bundle", 'b', OPT_STRING, ARG(create.bundle), "DIR", "bundle directory (default: .)" },
	{ "rootless", 0, OPT_BOOL, ARG(rootless), NULL, "generate a configuration for a rootless container" },
	OPT_END
};

int cmd_spec(struct cella_runtime *rt, struct cmd_args *a, struct cella_error *err)
{
	cleanup_free char *spec = cella_spec_default(a->rootless);
	cleanup_close int dirfd = -1;
	cleanup_close int fd = -1;
	const char *bundle = a->create.bundle;

	(void)rt;
	if (!spec)
		return cella_error_set(err, ENOMEM, "generate the default spec");
	dirfd = open(bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return cella_error_set(err, errno, "open bundle %s", bundle);
	/* O_EXCL: refuse to replace a config.json, even one created meanwhile or a symlink */
	fd = openat(dirfd, "config.json", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (fd < 0 && errno == EEXIST)
		return cella_error_set(err, 0, "File config.json exists. Remove it first");
	if (fd < 0)
		return cella_error_set(err, errno, "create %s/config.json", bundle);
	if (write_all(fd, spec, strlen(spec)) < 0) {
		cella_error_set(err, errno, "write %s/config.json", bundle);
		unlinkat(dirfd, "config.json", 0);
		return -1;
	}
	return 0;
}
