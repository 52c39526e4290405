/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Instance NICs (lib/nic.c): the `nic` devices of an instance resolved into
 * what the kernel needs, the addresses and MACs handed out (IPAM, table
 * `nics`), and the two halves of plugging one in:
 *
 *   - nic_attach()/nic_detach() (lib/nic_plug.c): links, addresses, routes
 *     and shaping, by netlink.  The monitor calls them at every boot of the guest (between
 *     creating its namespaces and starting its init), cellad for a hot add
 *     or remove.  They work from the resolved JSON alone: no database.
 *   - nics_filter_set()/nics_release(): cellad's nftables rules (anti-spoofing,
 *     isolation, counters) keyed by the host-side name, set at start and kept
 *     across the guest's own reboots; released (counters folded into the
 *     database) when it stops.
 *
 * A resolved NIC is a JSON object:
 *   {"device", "name" (in the guest), "host" (veth on the host, "cv<id>"),
 *    "ifb" ("ci<id>"), "type": "bridged"|"routed", "bridge", "mac", "mtu",
 *    "ipv4": ["10.0.3.5/24"], "ipv6": [...], "gateway4", "gateway6",
 *    "parent", "ingress", "egress" (bit/s, 0: none), "isolated", "domain"}
 */
#ifndef CELLA_NIC_H
#define CELLA_NIC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "host.h"
#include "util.h"

/* "02:00:00:00:00:01": a unicast MAC address that is not all zeros. */
int nic_mac_parse(const char *s, uint8_t mac[6]) HIDDEN;
#define ROUTED_GW4 "169.254.0.1"
#define ROUTED_GW6 "fe80::1"

/* The keys of a `nic` device, checked when devices are set. */
int nic_device_check(const char *dev, const json_t *d, struct cella_error *err) HIDDEN;
/* "10Mbit", "500kbit", "1Gbit" (also "bit/s"-less "100000") into bit/s. */
int nic_rate_parse(const char *s, uint64_t *out) HIDDEN;

/* Before an instance exists: its NICs' keys, networks and static addresses
 * (free, usable) checked; nothing written. */
int nics_check(struct cella_host *h, const json_t *devices, struct cella_error *err) HIDDEN;

/*
 * Bring the IPAM rows of instance `inst_id` in line with its expanded
 * `devices`: addresses and MACs allocated for new NICs, static ones checked
 * (in the subnet, not the gateway, not another NIC's), rows of removed NICs
 * dropped.  Returns the resolved NICs in device-name order (caller decrefs),
 * or NULL with nothing written (it runs in a transaction of its own unless
 * `in_txn`, when the caller's transaction holds it).
 */
json_t *nics_sync(struct cella_host *h, long long inst_id, const char *inst_name, const json_t *devices, bool in_txn,
		  struct cella_error *err) HIDDEN;

/* Plug a resolved NIC into the guest whose network namespace is `netns_fd`. */
int nic_attach(const json_t *nic, int netns_fd, struct cella_error *err) HIDDEN;
/* Its limits.ingress/egress applied anew to the plugged-in NIC. */
int nic_limits_update(const json_t *nic, struct cella_error *err) HIDDEN;
/* Unplug it (host side: its IFB, proxy entries, and with `with_link` its
 * veth, which otherwise goes with the guest's namespace: deleting a link
 * waits for an RCU grace period); idempotent. */
void nic_detach(const json_t *nic, bool with_link) HIDDEN;

/* nftables rules of the NICs (counters of an earlier run folded first). */
int nics_filter_set(struct cella_host *h, const json_t *nics, struct cella_error *err) HIDDEN;
/* Fold the counters of instance `inst_id`'s NICs into the database and drop
 * their rules (all of them, or only `device` when not NULL). */
void nics_release(struct cella_host *h, long long inst_id, const char *device) HIDDEN;
/* Drop the rules of one resolved NIC (counters folded into its row, if any). */
void nic_filter_drop(struct cella_host *h, const json_t *nic) HIDDEN;
/* The `network` object of an instance's state. */
json_t *nics_state(struct cella_host *h, long long inst_id) HIDDEN;
/* The guest's /etc/resolv.conf and its /etc/hosts section, from its NICs. */
int nics_guest_files(struct cella_host *h, const char *inst_name, const json_t *nics, struct cella_error *err) HIDDEN;

/* `proxy` devices: listen=PROTO:ADDR:PORT connect=PROTO:ADDR:PORT, a NAT
 * forward of a host port to the instance (connect 0.0.0.0 or 127.0.0.1: its
 * first NIC address).  Set at start with the resolved `nics`, released at stop. */
int proxy_device_check(const char *dev, const json_t *d, struct cella_error *err) HIDDEN;
int proxies_set(struct cella_host *h, long long inst_id, const json_t *devices, const json_t *nics,
		struct cella_error *err) HIDDEN;
void proxies_release(struct cella_host *h, long long inst_id) HIDDEN;

#endif
