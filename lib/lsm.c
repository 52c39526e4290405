/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Linux security modules: process.apparmorProfile, process.selinuxLabel and
 * linux.mountLabel.  A label is applied when its LSM is enabled and refused,
 * naming the absent LSM, when it is not: a container must never run
 * unconfined because the host silently lacks what the config asked for.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"
#include "util.h"

bool lsm_apparmor_enabled(void)
{
	char buf[4] = "";
	cleanup_close int fd = open("/sys/module/apparmor/parameters/enabled", O_RDONLY | O_CLOEXEC);
	return fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0 && buf[0] == 'Y';
}

bool lsm_selinux_enabled(void)
{
	return access("/sys/fs/selinux/enforce", F_OK) == 0;
}

static bool set(const char *s)
{
	return s && *s;
}

int lsm_check(const struct oci_config *c, const struct oci_process *p, struct cella_error *err)
{
	if (set(p->apparmor_profile) && !lsm_apparmor_enabled())
		return cella_error_set(err, ENOTSUP, "process.apparmorProfile `%s`: AppArmor is not enabled on this host",
				       p->apparmor_profile);
	if (set(p->selinux_label) && !lsm_selinux_enabled())
		return cella_error_set(err, ENOTSUP, "process.selinuxLabel `%s`: SELinux is not enabled on this host",
				       p->selinux_label);
	if (c && set(c->mount_label) && !lsm_selinux_enabled())
		return cella_error_set(err, ENOTSUP, "linux.mountLabel `%s`: SELinux is not enabled on this host",
				       c->mount_label);
	return 0;
}

/* Write `value` to the first of `paths` that exists (the LSM-specific attr
 * directory first, the shared one as the fallback). */
static int attr_write(const char *const *paths, const char *value, const char *field, struct cella_error *err)
{
	for (; *paths; paths++) {
		cleanup_close int fd = open(*paths, O_WRONLY | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0 || write_all(fd, value, strlen(value)) < 0)
			return cella_error_set(err, errno, "%s: write `%s` to %s", field, value, *paths);
		return 0;
	}
	return cella_error_set(err, ENOENT, "%s: no /proc/self/attr interface", field);
}

int lsm_exec_label(const struct oci_process *p, struct cella_error *err)
{
	if (set(p->apparmor_profile)) {
		static const char *const paths[] = { "/proc/self/attr/apparmor/exec", "/proc/self/attr/exec", NULL };
		char buf[4096];
		snprintf(buf, sizeof(buf), "exec %s", p->apparmor_profile);
		if (attr_write(paths, buf, "process.apparmorProfile", err) < 0)
			return -1;
	}
	if (set(p->selinux_label)) {
		static const char *const paths[] = { "/proc/self/attr/selinux/exec", "/proc/self/attr/exec", NULL };
		if (attr_write(paths, p->selinux_label, "process.selinuxLabel", err) < 0)
			return -1;
	}
	return 0;
}

char *lsm_mount_data(const struct oci_config *c, const struct oci_mount *m)
{
	static const char *const labelled[] = { "tmpfs", "devpts", "mqueue", "proc", "sysfs" };
	if (!set(c->mount_label) || m->bind || !m->type)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(labelled); i++)
		if (!strcmp(m->type, labelled[i]))
			return m->data ? xasprintf("%s,context=\"%s\"", m->data, c->mount_label)
				       : xasprintf("context=\"%s\"", c->mount_label);
	return NULL;
}
