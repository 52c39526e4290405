/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* linux.sysctl: only keys the container's own namespaces own may be set. */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/vfs.h>

#include "engine.h"
#include "util.h"

/* Which namespace a sysctl belongs to; 0 = not namespaced (host-wide). */
static int sysctl_namespace(const char *key)
{
	static const char *const ipc[] = {
		"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
		"kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
	};
	for (size_t i = 0; i < ARRAY_SIZE(ipc); i++)
		if (!strcmp(key, ipc[i]))
			return CLONE_NEWIPC;
	if (!strncmp(key, "fs.mqueue.", 10))
		return CLONE_NEWIPC;
	if (!strcmp(key, "kernel.hostname") || !strcmp(key, "kernel.domainname"))
		return CLONE_NEWUTS;
	if (!strncmp(key, "net.", 4))
		return CLONE_NEWNET;
	return 0;
}

int sysctl_validate(const struct oci_config *c, struct cella_error *err)
{
	int own = 0;
	for (size_t i = 0; i < c->n_namespaces; i++)
		own |= c->namespaces[i].type;
	for (size_t i = 0; i < c->n_sysctl; i++) {
		const char *key = c->sysctl[i].key;
		int ns = sysctl_namespace(key);
		if (strstr(key, "..") || strchr(key, '/') || key[0] == '.' || key[0] == '\0')
			return cella_error_set(err, EINVAL, "linux.sysctl: invalid key `%s`", key);
		if (!ns)
			return cella_error_set(err, EPERM,
					       "linux.sysctl: `%s` is not namespaced: it would change the host", key);
		if (!(own & ns))
			return cella_error_set(err, EPERM,
					       "linux.sysctl: `%s` needs a %s namespace of the container's own", key,
					       oci_namespace_name(ns));
	}
	return 0;
}

int sysctl_apply(const struct oci_config *c, struct cella_error *err)
{
	struct statfs sfs;
	/* an image could put anything at /proc: only write through a real procfs */
	if (c->n_sysctl && (statfs("/proc/sys", &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC))
		return cella_error_set(err, EINVAL, "linux.sysctl: /proc/sys in the container is not procfs");
	for (size_t i = 0; i < c->n_sysctl; i++) {
		char path[512];
		const char *key = c->sysctl[i].key;
		int n = snprintf(path, sizeof(path), "/proc/sys/%s", key);
		if (n < 0 || (size_t)n >= sizeof(path))
			return cella_error_set(err, ENAMETOOLONG, "linux.sysctl: `%s`", key);
		for (char *p = path + 10; *p; p++)
			if (*p == '.')
				*p = '/';
		const char *v = c->sysctl[i].value;
		if (write_file_at(AT_FDCWD, path, v, strlen(v), err) < 0)
			return cella_error_wrap(err, "linux.sysctl: %s", key);
	}
	return 0;
}
