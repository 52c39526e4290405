/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rtnetlink from C (lib/netlink.c, on libmnl): links, addresses, routes,
 * proxy neighbours, traffic control and counters.  Cella never runs `ip` or
 * `tc`: every change to the kernel's network state goes through here.
 *
 * A `struct nl` is one NETLINK_ROUTE socket bound to one network namespace
 * for its whole life (the kernel ties a socket to the namespace of the task
 * that created it).  It is not thread-safe: one handle per thread.  Every
 * request asks for an ACK, so each call returns only once the kernel has
 * applied (or refused) it; a refusal becomes a cella_error with the kernel's
 * errno and, when it sent one, its extended-ack message:
 *   "create bridge `br0`: Invalid argument (kernel: mtu less than device minimum)"
 *
 * Links are named by ifindex (stable across renames); nl_link_index()
 * resolves a name.  Names are checked against IFNAMSIZ and the kernel's
 * rules (no '/', ':' or whitespace, not "." or "..") before any request.
 */
#ifndef CELLA_NETLINK_H
#define CELLA_NETLINK_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cella/error.h>

struct nl;

/* A socket in the caller's current network namespace. */
struct nl *nl_open(struct cella_error *err);
/* A socket in the namespace of `netns_fd` (an open /proc/PID/ns/net or
 * bind-mounted nsfs file).  The socket is created by a short-lived helper
 * thread that setns()es into the namespace and exits: the calling thread
 * never changes namespace, so there is no way back to get wrong. */
struct nl *nl_open_netns(int netns_fd, struct cella_error *err);
void nl_close(struct nl *nl);
static inline void cleanup_nlp(struct nl **nl) { if (*nl) nl_close(*nl); }
#define cleanup_nl __attribute__((cleanup(cleanup_nlp)))

/* Run fn(arg) in a helper thread that has joined the network namespace of
 * `netns_fd` (-1: the caller's own).  Returns fn's result; fn reports its
 * own errors through arg.  Sockets fn creates keep that namespace. */
int netns_run(int netns_fd, int (*fn)(void *arg), void *arg, struct cella_error *err);

/* A valid interface name: 1..IFNAMSIZ-1 bytes, no '/', ':', whitespace, not "." or "..". */
bool ifname_is_valid(const char *name);

/* ---- links ---- */

struct nl_link_stats {
	uint64_t rx_bytes, tx_bytes, rx_packets, tx_packets;
	uint64_t rx_errors, tx_errors, rx_dropped, tx_dropped;
};

/* Bridge port settings; in nl_brport_set() a negative field is left unchanged. */
struct nl_brport {
	int isolated;   /* BR_ISOLATED: no forwarding to other isolated ports */
	int hairpin;    /* forward back out of the port a frame came in on */
	int learning;   /* learn source MACs on this port */
};

struct nl_link {
	int index;
	char name[IFNAMSIZ];
	char kind[32];          /* "bridge", "veth", "ifb"...; "" for physical/loopback */
	unsigned flags;         /* IFF_UP, IFF_LOWER_UP, ... */
	unsigned mtu;
	int master;             /* ifindex of the bridge it is enslaved to, 0 if none */
	uint8_t mac[6];
	bool has_mac;
	bool is_brport;         /* brport below is filled */
	struct nl_brport brport;
	struct nl_link_stats stats;  /* IFLA_STATS64 */
};

/* Create a bridge: STP off, forward_delay 0, vlan_filtering off; `mtu` 0
 * keeps the default (an explicit MTU sticks: ports do not lower it).
 * Returns its ifindex. */
int nl_bridge_create(struct nl *nl, const char *name, unsigned mtu, struct cella_error *err);

struct nl_veth {
	const char *name;       /* the end in nl's namespace */
	const char *peer;       /* the other end's name, in its namespace */
	int peer_netns_fd;      /* created directly in this namespace (IFLA_NET_NS_FD); -1: nl's */
	unsigned mtu;           /* both ends; 0: default */
};
/* Create a veth pair.  Returns the ifindex of `name`. */
int nl_veth_create(struct nl *nl, const struct nl_veth *veth, struct cella_error *err);
/* A dummy link (needs CONFIG_DUMMY).  Returns its ifindex. */
int nl_dummy_create(struct nl *nl, const char *name, struct cella_error *err);
/* An IFB link, the target of nl_ingress_redirect().  Returns its ifindex. */
int nl_ifb_create(struct nl *nl, const char *name, struct cella_error *err);

/* ifindex of `name`, or -1 (ENODEV) */
int nl_link_index(struct nl *nl, const char *name, struct cella_error *err);
int nl_link_get(struct nl *nl, int ifindex, struct nl_link *out, struct cella_error *err);
/* All links of the namespace; *out is malloc'ed (free() it). */
int nl_link_list(struct nl *nl, struct nl_link **out, size_t *n, struct cella_error *err);
int nl_link_stats(struct nl *nl, int ifindex, struct nl_link_stats *out, struct cella_error *err);

int nl_link_delete(struct nl *nl, int ifindex, struct cella_error *err);
int nl_link_delete_name(struct nl *nl, const char *name, struct cella_error *err);
int nl_link_set_up(struct nl *nl, int ifindex, bool up, struct cella_error *err);
int nl_link_set_mtu(struct nl *nl, int ifindex, unsigned mtu, struct cella_error *err);
int nl_link_set_mac(struct nl *nl, int ifindex, const uint8_t mac[6], struct cella_error *err);
/* Enslave to bridge `master_ifindex`; 0 releases it. */
int nl_link_set_master(struct nl *nl, int ifindex, int master_ifindex, struct cella_error *err);
/* Move to the namespace of `netns_fd`; the link leaves nl's view (and may
 * get another ifindex there).  The link must be down to be renamed later. */
int nl_link_set_netns(struct nl *nl, int ifindex, int netns_fd, struct cella_error *err);
int nl_link_rename(struct nl *nl, int ifindex, const char *name, struct cella_error *err);
/* Port flags of a link enslaved to a bridge. */
int nl_brport_set(struct nl *nl, int ifindex, const struct nl_brport *p, struct cella_error *err);

/* ---- addresses and prefixes ---- */

struct nl_ip {
	int family;             /* AF_INET or AF_INET6 */
	uint8_t bytes[16];      /* network order; 4 used for AF_INET */
};
struct nl_prefix {
	struct nl_ip ip;
	unsigned len;
};
/* "10.0.0.1", "fd00::1" */
int nl_ip_parse(const char *s, struct nl_ip *out, struct cella_error *err);
/* "10.0.0.1/24", "fd00::1/64", "default" is not accepted here (family-less);
 * no "/len" means a host prefix (/32, /128). */
int nl_prefix_parse(const char *s, struct nl_prefix *out, struct cella_error *err);
/* "10.0.0.1/24" into buf (>= INET6_ADDRSTRLEN + 4) */
const char *nl_prefix_format(const struct nl_prefix *p, char *buf, size_t len);

enum {
	NL_ADDR_NODAD = 1 << 0,          /* IPv6: usable at once, no duplicate detection */
	NL_ADDR_NOPREFIXROUTE = 1 << 1,  /* no automatic route for the prefix */
};
struct nl_addr {
	int ifindex;
	struct nl_prefix prefix;
	unsigned char scope;             /* RT_SCOPE_* */
	uint32_t flags;                  /* IFA_F_* as the kernel reports them */
};
int nl_addr_add(struct nl *nl, int ifindex, const struct nl_prefix *p, unsigned flags, struct cella_error *err);
int nl_addr_delete(struct nl *nl, int ifindex, const struct nl_prefix *p, struct cella_error *err);
/* Addresses of `ifindex` (0: all links) of `family` (AF_UNSPEC: both); *out malloc'ed. */
int nl_addr_list(struct nl *nl, int ifindex, int family, struct nl_addr **out, size_t *n,
		 struct cella_error *err);

/* ---- routes (table main) ---- */

struct nl_route {
	struct nl_prefix dst;   /* len 0: the default route; dst.ip.family sets the family */
	bool has_gateway;
	struct nl_ip gateway;   /* same family as dst */
	int ifindex;            /* 0: let the kernel pick from the gateway */
	uint32_t metric;        /* 0: kernel default */
	bool onlink;            /* gateway reachable on the link without a covering prefix */
	unsigned char scope;    /* filled by nl_route_list(); requests derive it: link
	                           for device routes, universe with a gateway */
	unsigned char protocol; /* filled by nl_route_list() */
};
enum { NL_ROUTE_REPLACE = 1 << 0 };     /* replace a route with the same key instead of EEXIST */
int nl_route_add(struct nl *nl, const struct nl_route *r, unsigned flags, struct cella_error *err);
int nl_route_delete(struct nl *nl, const struct nl_route *r, struct cella_error *err);
/* Unicast routes of table main of `family`; *out malloc'ed. */
int nl_route_list(struct nl *nl, int family, struct nl_route **out, size_t *n, struct cella_error *err);

/* Proxy ARP / NDP entries (NTF_PROXY) on `ifindex`: the host answers for a
 * routed NIC's address on the uplink.  IPv4 ones need net.ipv4.conf.X.proxy_arp
 * (see net_sysctl_write); IPv6 ones net.ipv6.conf.X.proxy_ndp.  Adding an
 * entry that exists is no error (the kernel updates it). */
int nl_neigh_proxy_add(struct nl *nl, int ifindex, const struct nl_ip *ip, struct cella_error *err);
int nl_neigh_proxy_delete(struct nl *nl, int ifindex, const struct nl_ip *ip, struct cella_error *err);
/* Proxy entries of `family`; *out malloc'ed (ifindex in each nl_addr, prefix.len the full length). */
int nl_neigh_proxy_list(struct nl *nl, int family, struct nl_addr **out, size_t *n, struct cella_error *err);

/* ---- bandwidth limits ----
 *
 * Egress of a link (for a VPS: the host end of its veth, i.e. the guest's
 * download) is shaped by a TBF root qdisc.  TBF rather than HTB because one
 * rate per link needs no classes, and it queues (limit = burst + 50 ms at
 * the rate) instead of dropping, which TCP follows smoothly.
 *
 * Ingress (the guest's upload) cannot be queued where it arrives.  The
 * usual `police` action is often not built (CONFIG_NET_ACT_POLICE, nor
 * matchall), so ingress traffic is redirected instead to an IFB link
 * (ingress qdisc + a match-all u32 filter + mirred redirect, all built
 * into common kernels) and shaped by a TBF on the IFB's egress: the same
 * shaper both ways, and the guest cannot remove either (both live in the
 * host's namespace).
 */
struct nl_qdisc {
	char kind[32];
	uint32_t handle, parent;
	/* kind "tbf" */
	uint64_t rate;          /* bits/s */
	uint32_t burst;         /* bytes (derived back from the kernel's buffer time: +-1%) */
	uint32_t limit;         /* bytes queued at most */
};
/* Add or replace the root TBF of `ifindex`: `rate` bits/s, `burst` bytes. */
int nl_tbf_set(struct nl *nl, int ifindex, uint64_t rate, uint32_t burst, struct cella_error *err);
/* The qdisc of `ifindex` attached at `parent`: TC_H_ROOT (kind "noqueue"
 * etc. when none was attached) or TC_H_INGRESS (ENOENT when none). */
int nl_qdisc_get(struct nl *nl, int ifindex, uint32_t parent, struct nl_qdisc *out, struct cella_error *err);
/* Remove the root qdisc (the kernel's default comes back); ENOENT if there was none. */
int nl_qdisc_root_delete(struct nl *nl, int ifindex, struct cella_error *err);
/* Ingress qdisc on `ifindex` with a filter redirecting every packet to
 * `ifb_ifindex` (which should be up and carry a TBF). */
int nl_ingress_redirect(struct nl *nl, int ifindex, int ifb_ifindex, struct cella_error *err);
/* Remove the ingress qdisc and its filters; ENOENT if there was none. */
int nl_ingress_delete(struct nl *nl, int ifindex, struct cella_error *err);

/* ---- sysctls of a network namespace ----
 *
 * Write `value` to /proc/sys/net/`key` as seen from the namespace of
 * `netns_fd` (-1: the caller's), e.g. key "ipv4/conf/veth0/proxy_arp".
 * /proc/sys/net resolves per namespace of the task that opens it, so the
 * file is opened by a helper thread inside the namespace.  `key` is a
 * relative path below net/ with no "." or ".." component: nothing else of
 * /proc/sys can be reached through it. */
int net_sysctl_write(int netns_fd, const char *key, const char *value, struct cella_error *err);
/* Read it (trailing newline removed) into buf. */
int net_sysctl_read(int netns_fd, const char *key, char *buf, size_t len, struct cella_error *err);

#endif
