/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* process.capabilities: the five sets, applied with capset/prctl directly. */
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "engine.h"
#include "util.h"

int capabilities_keep(struct cella_error *err)
{
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return cella_error_set(err, errno, "prctl(PR_SET_KEEPCAPS)");
	return 0;
}

/* Must run while CAP_SETPCAP is still effective, i.e. before setuid. */
int capabilities_drop_bounding(const struct oci_capabilities *caps, struct cella_error *err)
{
	for (int cap = 0; cap < 64; cap++) {
		if (caps->bounding & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; /* past the kernel's last capability */
			return cella_error_set(err, errno, "process.capabilities.bounding: drop %s",
					       oci_capability_name(cap));
		}
	}
	return 0;
}

/* capset() sets effective/permitted/inheritable, then the ambient set is
 * raised (it needs each cap permitted and inheritable). */
int capabilities_apply(const struct oci_capabilities *caps, struct cella_error *err)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {
		{ (uint32_t)caps->effective, (uint32_t)caps->permitted, (uint32_t)caps->inheritable },
		{ (uint32_t)(caps->effective >> 32), (uint32_t)(caps->permitted >> 32),
		  (uint32_t)(caps->inheritable >> 32) },
	};
	if (syscall(SYS_capset, &hdr, data) < 0)
		return cella_error_set(err, errno, "process.capabilities: capset");

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return cella_error_set(err, errno, "process.capabilities.ambient: clear");
	for (int cap = 0; cap < 64; cap++) {
		if (!(caps->ambient & (1ULL << cap)))
			continue;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			return cella_error_set(err, errno, "process.capabilities.ambient: raise %s",
					       oci_capability_name(cap));
	}
	return 0;
}
