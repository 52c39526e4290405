/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Managed networks, the parts other library files use (see lib/network.c). */
#ifndef CELLA_NETWORK_H
#define CELLA_NETWORK_H

#include <jansson.h>
#include <stdbool.h>

#include "host.h"
#include "netlink.h"
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
/* Hold it across a whole change that also writes the database: taken before
 * the database's write lock, as every network change does, and network_lock()
 * in this thread meanwhile returns a duplicate.  Released by network_lock_drop(). */
int network_lock_hold(struct cella_host *h, struct cella_error *err) HIDDEN;
void network_lock_drop(void) HIDDEN;

/* The stored config of a network (caller decrefs); ENOENT when unknown. */
json_t *network_config(struct cella_host *h, const char *name, struct cella_error *err) HIDDEN;

/* CELLA_NO_NETWORKS=1: networks live in the database only; nothing in the
 * kernel (bridges, addresses, sysctls, nftables) is created or removed. */
bool networks_disabled(void) HIDDEN;

/* What instance NICs need of a network: its gateways (host address and
 * prefix), DNS domain, and the IPv4 ranges addresses are taken from. */
struct network_info {
	bool has4, has6;
	struct nl_prefix addr4, addr6;
	char domain[254];
	char ranges4[256];
};
int network_info(struct cella_host *h, const char *name, struct network_info *out, struct cella_error *err) HIDDEN;

/* Each network's dnsmasq given the static leases and names of its NICs
 * (after instances gained, lost or renamed NICs). */
void networks_dns_refresh(struct cella_host *h) HIDDEN;

/* Every forward of `network` into (add) or out of the ruleset (lib/forward.c);
 * the network lock is held. */
int forwards_apply(struct cella_host *h, const char *network, bool add, struct cella_error *err) HIDDEN;

/* A DNS domain: dot-separated labels of letters, digits and inner '-', 253 bytes at most. */
bool domain_valid(const char *s) HIDDEN;

/* Clear the host bits of a prefix. */
void prefix_mask(struct nl_prefix *p) HIDDEN;
/* Host part all zeros (want_ones false) or all ones (true)? */
bool host_bits_all(const struct nl_prefix *p, bool want_ones) HIDDEN;

#endif
