/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Managed networks, the parts other library files use (see lib/network.c). */
#ifndef CELLA_NETWORK_H
#define CELLA_NETWORK_H

#include <jansson.h>
#include <stdbool.h>

#include "host.h"
#include "util.h"

/* A network name: an instance-style DNS label that is also an interface
 * name (at most 15 characters), since it names the bridge. */
bool network_name_valid(const char *name) HIDDEN;

/*
 * One change to networks (and their kernel objects: bridges, nftables
 * rules) at a time on this host: an flock on RUN/locks/.networks (no
 * instance can be called that).  Returns the fd to close, or -1.
 */
int network_lock(struct cella_host *h, struct cella_error *err) HIDDEN;

/* The stored config of a network (caller decrefs); ENOENT when unknown. */
json_t *network_config(struct cella_host *h, const char *name, struct cella_error *err) HIDDEN;

/* CELLA_NO_NETWORKS=1: networks live in the database only; nothing in the
 * kernel (bridges, addresses, sysctls, nftables) is created or removed. */
bool networks_disabled(void) HIDDEN;

#endif
