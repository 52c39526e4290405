/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `update`: new resource limits for an existing container's cgroup. */
#include <string.h>

#include "engine.h"
#include "util.h"

int cella_container_update(struct cella_runtime *rt, const char *id, const char *resources_json,
			   struct cella_error *err)
{
	struct container_ref ref;
	struct oci_resources *res = NULL;
	int ret = -1;

	if (container_ref_open(rt, id, true, &ref, err) < 0)
		goto out;
	if (ref.status == CELLA_STATUS_STOPPED) {
		cella_error_set(err, EINVAL, "the container is stopped");
		goto out;
	}
	if (!ref.cg) {
		cella_error_set(err, ENOENT, "the container has no cgroup `%s`", ref.st.cgroup_path);
		goto out;
	}
	res = oci_resources_parse(resources_json, strlen(resources_json), err);
	if (!res)
		goto out;
	ret = cgroup_apply(ref.cg, res, err);
out:
	if (res)
		oci_resources_free(res);
	container_ref_close(&ref);
	if (ret < 0)
		cella_error_wrap(err, "update `%s`", id);
	return ret;
}
