/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cellad's packet filter: NAT of managed networks, port forwards, anti-spoofing
 * and counters per instance NIC, isolation, all in nftables tables of our own
 * (`inet cella`, `netdev cella`, `bridge cella`) through libnftables.  The
 * layout and the reasons for it are at the top of nft.c.
 *
 * Every change is one nftables transaction: it happens whole or not at all.
 * Inputs are validated (names, addresses, ports) and re-printed before they
 * reach a command; a refused input is EINVAL naming its field, and changes
 * nothing.  Calls on one session must be serialised by the caller (cellad
 * holds its network lock); a session is not thread-safe.
 */
#ifndef CELLA_NFT_H
#define CELLA_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cella/error.h>

#include "util.h"

struct nft_session;

struct nft_session *nft_open(struct cella_error *err) HIDDEN;
void nft_close(struct nft_session *s) HIDDEN;
/* The process's one long-lived session (nft_close() leaves it open); only
 * with the network lock held (lib/network.h). */
struct nft_session *nft_shared(struct cella_error *err) HIDDEN;

/* Create our tables and their fixed chains (idempotent). */
int nft_table_ensure(struct nft_session *s, struct cella_error *err) HIDDEN;
/* Back to the empty skeleton: no networks, forwards or NICs. */
int nft_table_flush(struct nft_session *s, struct cella_error *err) HIDDEN;
/* Remove our tables, and nothing else (idempotent). */
int nft_table_delete(struct nft_session *s, struct cella_error *err) HIDDEN;

/*
 * A managed network: the host bridge and its subnets.  Traffic from a subnet
 * entering by the bridge is masqueraded when it leaves by any other interface;
 * port-forwarded connections between two instances of the network (hairpin)
 * are masqueraded to the gateway.  `isolated`: routed traffic between two
 * instances of the network is dropped (port forwards excepted); bridged
 * traffic is cut by each NIC's `isolated` (see nft_nic).
 */
struct nft_network {
	const char *bridge;	/* [A-Za-z0-9_.-]{1,15} */
	const char *ipv4;	/* "10.0.0.0/24" (host bits are masked off), or NULL */
	const char *ipv6;	/* "fd00:1::/64", or NULL */
	bool isolated;
};
/* Add or replace the network's rules. */
int nft_network_set(struct nft_session *s, const struct nft_network *net, struct cella_error *err) HIDDEN;
/* Remove them (idempotent). */
int nft_network_remove(struct nft_session *s, const char *bridge, struct cella_error *err) HIDDEN;

/*
 * A port forward: connections to listen:listen_port/proto on the host go to
 * target:target_port, from outside, from the host itself and from
 * instances (hairpin).  `listen` may be "0.0.0.0" or "::" for every local
 * address of that family except loopback; loopback listen addresses are
 * refused.  Both addresses must be of the same family.
 */
struct nft_portfwd {
	const char *name;	/* [A-Za-z0-9_.-]{1,32}, unique */
	const char *proto;	/* "tcp" or "udp" */
	const char *listen;
	unsigned listen_port;	/* 1..65535 */
	const char *target;
	unsigned target_port;	/* 1..65535 */
};
/* EEXIST naming the forward in the way when the name or the listen address,
 * port and protocol are taken by another forward; adding the very same
 * forward again is a no-op. */
int nft_portfwd_add(struct nft_session *s, const struct nft_portfwd *pf, struct cella_error *err) HIDDEN;
/* ENOENT when there is no forward of that name. */
int nft_portfwd_remove(struct nft_session *s, const char *name, struct cella_error *err) HIDDEN;
/* Every forward whose name starts with `prefix` (none is no error). */
int nft_portfwd_remove_prefix(struct nft_session *s, const char *prefix, struct cella_error *err) HIDDEN;

/*
 * An instance NIC: its host-side interface (veth) and what the instance may
 * send through it: frames from `mac` only, IP packets from `ips` only (plus the
 * IPv6 link-local address derived from the MAC), ARP and NDP claiming only
 * those.  `isolated`: frames bridged between two isolated NICs are dropped.
 * On kernels before 6.x the interface must exist when its rules are set (the
 * hooks bind to the device), so set them between creating the veth and
 * bringing it up.
 */
struct nft_nic {
	const char *ifname;		/* [A-Za-z0-9_.-]{1,15} */
	const char *mac;		/* unicast, "02:00:00:00:00:01" */
	const char *const *ips;		/* IPv4 or IPv6 unicast addresses */
	size_t n_ips;
	bool isolated;
	/* filtering turned off: any source MAC; any IPv4 (and ARP); any IPv6
	 * (router advertisements and redirects are still dropped) */
	bool any_mac, any_ipv4, any_ipv6;
};
/* Add or replace (the counters are kept). */
int nft_nic_set(struct nft_session *s, const struct nft_nic *nic, struct cella_error *err) HIDDEN;
/* Remove its rules and counters (idempotent). */
int nft_nic_remove(struct nft_session *s, const char *ifname, struct cella_error *err) HIDDEN;

/* From the instance's point of view: rx = received by the instance, tx = sent
 * by it and let through, tx_dropped = sent by it and dropped (spoofed). */
struct nft_counters {
	uint64_t rx_bytes, rx_packets;
	uint64_t tx_bytes, tx_packets;
	uint64_t tx_dropped_bytes, tx_dropped_packets;
};
/* ENOENT when the NIC has no rules. */
int nft_nic_counters(struct nft_session *s, const char *ifname, struct nft_counters *c,
		     struct cella_error *err) HIDDEN;

/*
 * Does a table other than ours have a forward chain with policy drop (a
 * firewalld/ufw-style or iptables-nft `FORWARD DROP` ruleset) that would
 * drop the networks' traffic?  1 with `reason` naming the chains, 0 when
 * none, -1 on error.  Rules of x_tables (legacy iptables) are not visible.
 */
int nft_forward_check(struct nft_session *s, char *reason, size_t len, struct cella_error *err) HIDDEN;

#endif
