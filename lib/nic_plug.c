/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Plugging an instance NIC in and out (see lib/nic.h): the veth into the
 * guest's namespace, its addresses and routes, the host side (bridge port,
 * or routes and proxy neighbours for a routed NIC), shaping.  Netlink only,
 * from the resolved JSON alone: cella-monitor links this at every boot of
 * its guest without the database or nftables (lib/nic.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "netlink.h"
#include "nic.h"

int nic_mac_parse(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char tail;
	if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6 ||
	    strlen(s) != 17)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	/* unicast and not all zeros */
	if (mac[0] & 1 || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return -1;
	return 0;
}

/* ---- plugging in ---- */

static const char *nic_str(const json_t *nic, const char *key)
{
	const char *s = json_string_value(json_object_get(nic, key));
	return s ? s : "";
}

/* Rate in bit/s to a TBF burst: 20 ms worth, at least 32 KiB (a GSO packet's worth). */
static uint32_t burst_of(uint64_t rate)
{
	uint64_t b = rate / 8 / 50;
	return b < 32768 ? 32768 : b > (64u << 20) ? (64u << 20) : (uint32_t)b;
}

static int ip_of(const char *s, struct nl_ip *ip, struct cella_error *err)
{
	return nl_ip_parse(s, ip, err);
}

static int guest_side(const json_t *nic, int netns_fd, struct cella_error *err)
{
	cleanup_nl struct nl *g = nl_open_netns(netns_fd, err);
	if (!g)
		return -1;
	const char *name = nic_str(nic, "name");
	bool routed = !strcmp(nic_str(nic, "type"), "routed");
	int lo = nl_link_index(g, "lo", err);
	if (lo < 0 || nl_link_set_up(g, lo, true, err) < 0)
		return -1;
	int idx = nl_link_index(g, name, err);
	if (idx < 0)
		return -1;
	uint8_t mac[6];
	nic_mac_parse(nic_str(nic, "mac"), mac);
	if (nl_link_set_mac(g, idx, mac, err) < 0)
		return -1;
	size_t i;
	json_t *a;
	bool has[2] = { false, false };
	for (int fam = 0; fam < 2; fam++) {
		json_array_foreach(json_object_get(nic, fam ? "ipv6" : "ipv4"), i, a) {
			struct nl_prefix p;
			if (nl_prefix_parse(json_string_value(a), &p, err) < 0 ||
			    nl_addr_add(g, idx, &p, fam ? NL_ADDR_NODAD : 0, err) < 0)
				return -1;
			has[fam] = true;
		}
	}
	if (nl_link_set_up(g, idx, true, err) < 0)
		return -1;
	for (int fam = 0; fam < 2; fam++) {
		const char *gw = nic_str(nic, fam ? "gateway6" : "gateway4");
		if (!*gw || !has[fam])
			continue;
		struct nl_route r = { .ifindex = idx, .has_gateway = true, .onlink = routed };
		r.dst.ip.family = fam ? AF_INET6 : AF_INET;
		if (ip_of(gw, &r.gateway, err) < 0)
			return -1;
		/* the first NIC with a gateway has the default route */
		struct cella_error e;
		if (nl_route_add(g, &r, 0, &e) < 0 && e.code != EEXIST) {
			*err = e;
			return -1;
		}
	}
	return 0;
}

static int host_side(struct nl *nl, const json_t *nic, int hidx, struct cella_error *err)
{
	const char *host = nic_str(nic, "host");
	if (!strcmp(nic_str(nic, "type"), "routed")) {
		char key[64];
		/* the guest's gateway is this end; its addresses are routed to it */
		struct nl_prefix gw4 = { .len = 32 }, gw6 = { .len = 128 };
		if (ip_of(ROUTED_GW4, &gw4.ip, err) < 0 || ip_of(ROUTED_GW6, &gw6.ip, err) < 0)
			return -1;
		snprintf(key, sizeof(key), "ipv6/conf/%s/disable_ipv6", host);
		struct cella_error ignored;
		net_sysctl_write(-1, key, "0", &ignored);
		if (nl_addr_add(nl, hidx, &gw4, NL_ADDR_NOPREFIXROUTE, err) < 0 ||
		    nl_addr_add(nl, hidx, &gw6, NL_ADDR_NODAD | NL_ADDR_NOPREFIXROUTE, err) < 0)
			return -1;
		if (nl_link_set_up(nl, hidx, true, err) < 0)
			return -1;
		const char *parent = nic_str(nic, "parent");
		int pidx = *parent ? nl_link_index(nl, parent, err) : 0;
		if (pidx < 0)
			return -1;
		bool v4 = false, v6 = false;
		for (int fam = 0; fam < 2; fam++) {
			size_t i;
			json_t *a;
			json_array_foreach(json_object_get(nic, fam ? "ipv6" : "ipv4"), i, a) {
				struct nl_route r = { .ifindex = hidx };
				/* exclusive: a route to the address that exists is someone else's */
				if (nl_prefix_parse(json_string_value(a), &r.dst, err) < 0 || nl_route_add(nl, &r, 0, err) < 0)
					return -1;
				if (pidx && nl_neigh_proxy_add(nl, pidx, &r.dst.ip, err) < 0)
					return -1;
				*(fam ? &v6 : &v4) = true;
			}
		}
		if (v4 && net_sysctl_write(-1, "ipv4/ip_forward", "1", err) < 0)
			return -1;
		if (v6 && net_sysctl_write(-1, "ipv6/conf/all/forwarding", "1", err) < 0)
			return -1;
		if (v6 && pidx) {
			snprintf(key, sizeof(key), "ipv6/conf/%s/proxy_ndp", parent);
			if (net_sysctl_write(-1, key, "1", err) < 0)
				return -1;
		}
		return 0;
	}
	int br = nl_link_index(nl, nic_str(nic, "bridge"), err);
	if (br < 0 || nl_link_set_master(nl, hidx, br, err) < 0)
		return -1;
	if (json_is_true(json_object_get(nic, "isolated"))) {
		struct nl_brport bp = { .isolated = 1, .hairpin = -1, .learning = -1 };
		if (nl_brport_set(nl, hidx, &bp, err) < 0)
			return -1;
	}
	return nl_link_set_up(nl, hidx, true, err);
}

static int shaping(struct nl *nl, const json_t *nic, int hidx, struct cella_error *err)
{
	uint64_t in = (uint64_t)json_integer_value(json_object_get(nic, "ingress"));
	uint64_t out = (uint64_t)json_integer_value(json_object_get(nic, "egress"));
	/* into the guest: what the host end sends */
	if (in && nl_tbf_set(nl, hidx, in, burst_of(in), err) < 0)
		return -1;
	if (out) {
		/* out of the guest: what the host end receives, through an IFB */
		int ifb = nl_ifb_create(nl, nic_str(nic, "ifb"), err);
		if (ifb < 0 || nl_link_set_up(nl, ifb, true, err) < 0 || nl_tbf_set(nl, ifb, out, burst_of(out), err) < 0 ||
		    nl_ingress_redirect(nl, hidx, ifb, err) < 0)
			return -1;
	}
	return 0;
}

int nic_limits_update(const json_t *nic, struct cella_error *err)
{
	cleanup_nl struct nl *nl = nl_open(err);
	if (!nl)
		return -1;
	int hidx = nl_link_index(nl, nic_str(nic, "host"), err);
	if (hidx < 0)
		return cella_error_wrap(err, "NIC `%s`", nic_str(nic, "device"));
	/* back to no shaping, then what is asked (each call replaces the TBF it sets) */
	struct cella_error ignored;
	if (!json_integer_value(json_object_get(nic, "ingress")))
		nl_qdisc_root_delete(nl, hidx, &ignored);
	if (!json_integer_value(json_object_get(nic, "egress"))) {
		nl_ingress_delete(nl, hidx, &ignored);
		nl_link_delete_name(nl, nic_str(nic, "ifb"), &ignored);
	} else if (nl_link_index(nl, nic_str(nic, "ifb"), &ignored) > 0) {
		/* the redirect is there already: only the rate changes */
		int ifb = nl_link_index(nl, nic_str(nic, "ifb"), err);
		uint64_t out = (uint64_t)json_integer_value(json_object_get(nic, "egress"));
		json_t *in_only = json_deep_copy(nic);
		json_object_set_new(in_only, "egress", json_integer(0));
		int r = shaping(nl, in_only, hidx, err);
		json_decref(in_only);
		if (r < 0 || ifb < 0 || nl_tbf_set(nl, ifb, out, burst_of(out), err) < 0)
			return cella_error_wrap(err, "NIC `%s`", nic_str(nic, "device"));
		return 0;
	}
	if (shaping(nl, nic, hidx, err) < 0)
		return cella_error_wrap(err, "NIC `%s`", nic_str(nic, "device"));
	return 0;
}

int nic_attach(const json_t *nic, int netns_fd, struct cella_error *err)
{
	cleanup_nl struct nl *nl = nl_open(err);
	if (!nl)
		return -1;
	nic_detach(nic, true);
	const char *host = nic_str(nic, "host");
	struct nl_veth v = {
		.name = host, .peer = nic_str(nic, "name"), .peer_netns_fd = netns_fd,
		.mtu = (unsigned)json_integer_value(json_object_get(nic, "mtu")),
	};
	int hidx = nl_veth_create(nl, &v, err);
	if (hidx < 0)
		return cella_error_wrap(err, "NIC `%s`", nic_str(nic, "device"));
	if (guest_side(nic, netns_fd, err) < 0 || shaping(nl, nic, hidx, err) < 0 || host_side(nl, nic, hidx, err) < 0) {
		nic_detach(nic, true);
		return cella_error_wrap(err, "NIC `%s`", nic_str(nic, "device"));
	}
	return 0;
}

void nic_detach(const json_t *nic, bool with_link)
{
	struct cella_error ignored;
	cleanup_nl struct nl *nl = nl_open(&ignored);
	if (!nl)
		return;
	const char *parent = nic_str(nic, "parent");
	int pidx = *parent ? nl_link_index(nl, parent, &ignored) : -1;
	for (int fam = 0; pidx > 0 && fam < 2; fam++) {
		size_t i;
		json_t *a;
		json_array_foreach(json_object_get(nic, fam ? "ipv6" : "ipv4"), i, a) {
			struct nl_prefix p;
			if (nl_prefix_parse(json_string_value(a), &p, &ignored) == 0)
				nl_neigh_proxy_delete(nl, pidx, &p.ip, &ignored);
		}
	}
	nl_link_delete_name(nl, nic_str(nic, "ifb"), &ignored);
	if (with_link)
		nl_link_delete_name(nl, nic_str(nic, "host"), &ignored);
}
