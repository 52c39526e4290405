/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Namespaces of a container: which to create, which to join by path. */
#include <fcntl.h>
#include <sched.h>
#include <string.h>

#include "engine.h"
#include "util.h"

int namespaces_new_flags(const struct oci_config *c)
{
	int flags = 0;
	for (size_t i = 0; i < c->n_namespaces; i++)
		if (!c->namespaces[i].path)
			flags |= c->namespaces[i].type;
	return flags;
}

bool namespaces_has(const struct oci_config *c, int type)
{
	for (size_t i = 0; i < c->n_namespaces; i++)
		if (c->namespaces[i].type == type)
			return true;
	return false;
}

int namespaces_open(const struct oci_config *c, int *fds, struct cella_error *err)
{
	for (size_t i = 0; i < c->n_namespaces; i++)
		fds[i] = -1;
	for (size_t i = 0; i < c->n_namespaces; i++) {
		const struct oci_namespace *ns = &c->namespaces[i];
		if (!ns->path)
			continue;
		fds[i] = open(ns->path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			cella_error_set(err, errno, "linux.namespaces: open %s namespace `%s`",
					oci_namespace_name(ns->type), ns->path);
			for (size_t j = 0; j < i; j++)
				if (fds[j] >= 0)
					close(fds[j]);
			return -1;
		}
	}
	return 0;
}

int namespaces_join(const struct oci_config *c, const int *fds, int types, struct cella_error *err)
{
	for (size_t i = 0; i < c->n_namespaces; i++) {
		const struct oci_namespace *ns = &c->namespaces[i];
		if (fds[i] < 0 || !(ns->type & types))
			continue;
		/* setns() checks the fd really is a namespace of that type */
		if (setns(fds[i], ns->type) < 0)
			return cella_error_set(err, errno, "linux.namespaces: join %s namespace `%s`",
					       oci_namespace_name(ns->type), ns->path);
	}
	return 0;
}
