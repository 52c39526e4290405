/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of lib/netlink.c against the real kernel.
 *
 * Network safety: main() moves the whole process into a new network
 * namespace before anything else, and a second one (the "peer", where veth
 * peers go) is made by a thread that unshares and exits.  Every link,
 * address, route and qdisc below lives in these two namespaces and vanishes
 * with them; the only traffic is between them over veth pairs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include "netlink.h"
#include "util.h"

static struct cella_error err;
static struct nl *nl;       /* the test's own namespace */
static struct nl *peer;     /* the peer namespace */
static int peer_fd = -1;    /* its nsfs fd */

#define CHECK(expr)                                                       \
	do {                                                              \
		if ((expr) < 0)                                           \
			fail_msg("%s: %s (errno %d)", #expr, err.msg, err.code); \
	} while (0)

#define FAILS(expr, errnum)                                               \
	do {                                                              \
		cella_error_clear(&err);                                  \
		if ((expr) >= 0)                                          \
			fail_msg("%s: succeeded", #expr);                 \
		if (err.code != (errnum))                                 \
			fail_msg("%s: errno %d, wanted %d: %s", #expr, err.code, (errnum), err.msg); \
	} while (0)

static void *unshare_thread(void *p)
{
	int *fd = p;
	if (unshare(CLONE_NEWNET) == 0)
		*fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	return NULL;
}

/* A new network namespace, held by the returned fd only. */
static int netns_new(void)
{
	pthread_t t;
	int fd = -1;
	if (pthread_create(&t, NULL, unshare_thread, &fd))
		return -1;
	pthread_join(t, NULL);
	return fd;
}

static int group_setup(void **state)
{
	(void)state;
	peer_fd = netns_new();
	if (peer_fd < 0)
		return -1;
	nl = nl_open(&err);
	peer = nl_open_netns(peer_fd, &err);
	return nl && peer ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	nl_close(nl);
	nl_close(peer);
	close(peer_fd);
	return 0;
}

static struct nl_prefix P(const char *s)
{
	struct nl_prefix p;
	if (nl_prefix_parse(s, &p, &err) < 0)
		fail_msg("%s", err.msg);
	return p;
}

static struct nl_ip IP(const char *s)
{
	struct nl_ip ip;
	if (nl_ip_parse(s, &ip, &err) < 0)
		fail_msg("%s", err.msg);
	return ip;
}

/* A veth pair `name` here / `peer_name` in the peer namespace, both up. */
static int veth_up(const char *name, const char *peer_name, int *peer_index)
{
	struct nl_veth v = { .name = name, .peer = peer_name, .peer_netns_fd = peer_fd };
	int ifindex = nl_veth_create(nl, &v, &err);
	CHECK(ifindex);
	CHECK(nl_link_set_up(nl, ifindex, true, &err));
	int pi = nl_link_index(peer, peer_name, &err);
	CHECK(pi);
	CHECK(nl_link_set_up(peer, pi, true, &err));
	if (peer_index)
		*peer_index = pi;
	return ifindex;
}

static void test_names(void **state)
{
	(void)state;
	assert_true(ifname_is_valid("eth0"));
	assert_true(ifname_is_valid("123456789012345"));
	assert_false(ifname_is_valid("1234567890123456"));
	assert_false(ifname_is_valid(""));
	assert_false(ifname_is_valid("."));
	assert_false(ifname_is_valid(".."));
	assert_false(ifname_is_valid("a/b"));
	assert_false(ifname_is_valid("a:1"));
	assert_false(ifname_is_valid("a b"));
	assert_false(ifname_is_valid(NULL));

	struct nl_prefix p;
	char buf[64];
	CHECK(nl_prefix_parse("10.0.0.1/24", &p, &err));
	assert_int_equal(p.ip.family, AF_INET);
	assert_int_equal(p.len, 24);
	assert_string_equal(nl_prefix_format(&p, buf, sizeof(buf)), "10.0.0.1/24");
	CHECK(nl_prefix_parse("fd00::1", &p, &err));
	assert_int_equal(p.ip.family, AF_INET6);
	assert_int_equal(p.len, 128);
	FAILS(nl_prefix_parse("10.0.0.1/33", &p, &err), EINVAL);
	FAILS(nl_prefix_parse("10.0.0.1/", &p, &err), EINVAL);
	FAILS(nl_prefix_parse("10.0.0.1/-1", &p, &err), EINVAL);
	FAILS(nl_prefix_parse("fd00::1/129", &p, &err), EINVAL);
	FAILS(nl_prefix_parse("10.0.0.256/8", &p, &err), EINVAL);
	FAILS(nl_prefix_parse("default", &p, &err), EINVAL);
	struct nl_ip ip;
	FAILS(nl_ip_parse("10.0.0.1/24", &ip, &err), EINVAL);
}

static void test_bridge(void **state)
{
	(void)state;
	struct nl_link l;
	int br = nl_bridge_create(nl, "tbr0", 1400, &err);
	CHECK(br);
	assert_int_equal(nl_link_index(nl, "tbr0", &err), br);
	CHECK(nl_link_get(nl, br, &l, &err));
	assert_string_equal(l.name, "tbr0");
	assert_string_equal(l.kind, "bridge");
	assert_int_equal(l.mtu, 1400);
	assert_true(l.has_mac);
	assert_false(l.flags & IFF_UP);
	CHECK(nl_link_set_up(nl, br, true, &err));
	CHECK(nl_link_get(nl, br, &l, &err));
	assert_true(l.flags & IFF_UP);

	/* an explicit MTU sticks when a port with a larger one joins */
	int v = veth_up("tv0", "tp0", NULL);
	CHECK(nl_link_set_master(nl, v, br, &err));
	CHECK(nl_link_get(nl, br, &l, &err));
	assert_int_equal(l.mtu, 1400);

	struct nl_link *links = NULL;
	size_t n = 0;
	bool seen = false;
	CHECK(nl_link_list(nl, &links, &n, &err));
	for (size_t i = 0; i < n; i++)
		if (links[i].index == br && !strcmp(links[i].name, "tbr0"))
			seen = true;
	free(links);
	assert_true(seen);
	assert_true(n >= 3); /* lo, tbr0, tv0 */

	CHECK(nl_link_set_up(nl, br, false, &err));
	CHECK(nl_link_get(nl, br, &l, &err));
	assert_false(l.flags & IFF_UP);
	CHECK(nl_link_delete(nl, br, &err));
	FAILS(nl_link_index(nl, "tbr0", &err), ENODEV);
	/* the port was released, not deleted */
	CHECK(nl_link_get(nl, v, &l, &err));
	assert_int_equal(l.master, 0);
	CHECK(nl_link_delete_name(nl, "tv0", &err));
	/* deleting one end of a veth removes the other, in the peer namespace too */
	FAILS(nl_link_index(peer, "tp0", &err), ENODEV);
}

static void test_errors(void **state)
{
	(void)state;
	int br = nl_bridge_create(nl, "dup0", 0, &err);
	CHECK(br);
	FAILS(nl_bridge_create(nl, "dup0", 0, &err), EEXIST);
	assert_non_null(strstr(err.msg, "`dup0`"));
	assert_non_null(strstr(err.msg, strerror(EEXIST)));
	print_message("duplicate: %s\n", err.msg);
	struct nl_veth v = { .name = "dup0", .peer = "dup1", .peer_netns_fd = -1 };
	FAILS(nl_veth_create(nl, &v, &err), EEXIST);
	FAILS(nl_link_index(nl, "dup1", &err), ENODEV); /* nothing half made */

	/* the kernel's extended ack reaches the message */
	FAILS(nl_link_set_mtu(nl, br, 10, &err), EINVAL);
	assert_non_null(strstr(err.msg, "(kernel: "));
	assert_non_null(strstr(err.msg, "mtu"));
	print_message("extack: %s\n", err.msg);
	/* a bridge cannot be enslaved to itself */
	cella_error_clear(&err);
	assert_int_equal(nl_link_set_master(nl, br, br, &err), -1);
	assert_int_not_equal(err.code, 0);

	FAILS(nl_bridge_create(nl, "a-name-too-long0", 0, &err), ENAMETOOLONG);
	FAILS(nl_link_index(nl, "a-name-too-long0", &err), ENAMETOOLONG);
	FAILS(nl_bridge_create(nl, "a/b", 0, &err), EINVAL);
	FAILS(nl_bridge_create(nl, "", 0, &err), EINVAL);
	v = (struct nl_veth){ .name = "ok0", .peer = "peer-name-too-long", .peer_netns_fd = -1 };
	FAILS(nl_veth_create(nl, &v, &err), ENAMETOOLONG);

	FAILS(nl_link_index(nl, "nosuch0", &err), ENODEV);
	assert_non_null(strstr(err.msg, "`nosuch0`"));
	FAILS(nl_link_delete_name(nl, "nosuch0", &err), ENODEV);
	FAILS(nl_link_set_up(nl, 999999, true, &err), ENODEV);
	FAILS(nl_link_delete(nl, 999999, &err), ENODEV);
	struct nl_link l;
	FAILS(nl_link_get(nl, 999999, &l, &err), ENODEV);
	FAILS(nl_link_get(nl, 0, &l, &err), ENODEV);

	/* no dummy driver in some kernels: then the kernel says so */
	cella_error_clear(&err);
	int d = nl_dummy_create(nl, "tdummy0", &err);
	if (d < 0) {
		assert_int_equal(err.code, EOPNOTSUPP);
		assert_non_null(strstr(err.msg, "Unknown device type"));
	} else {
		CHECK(nl_link_delete(nl, d, &err));
	}
	CHECK(nl_link_delete(nl, br, &err));
}

static void test_veth(void **state)
{
	(void)state;
	struct nl_link l;
	struct nl_veth v = { .name = "tv1", .peer = "eth0", .peer_netns_fd = peer_fd, .mtu = 1450 };
	int a = nl_veth_create(nl, &v, &err);
	CHECK(a);
	CHECK(nl_link_get(nl, a, &l, &err));
	assert_string_equal(l.kind, "veth");
	assert_int_equal(l.mtu, 1450);
	/* the peer end exists only in the peer namespace, under its own name */
	FAILS(nl_link_index(nl, "eth0", &err), ENODEV);
	int b = nl_link_index(peer, "eth0", &err);
	CHECK(b);
	CHECK(nl_link_get(peer, b, &l, &err));
	assert_string_equal(l.kind, "veth");
	assert_int_equal(l.mtu, 1450);

	const uint8_t mac[6] = { 0x02, 0xce, 0x11, 0x00, 0x00, 0x01 };
	CHECK(nl_link_set_mac(peer, b, mac, &err));
	CHECK(nl_link_get(peer, b, &l, &err));
	assert_memory_equal(l.mac, mac, 6);
	CHECK(nl_link_set_mtu(peer, b, 1400, &err));
	CHECK(nl_link_rename(peer, b, "eth1", &err));
	CHECK(nl_link_get(peer, b, &l, &err));
	assert_string_equal(l.name, "eth1");
	assert_int_equal(l.mtu, 1400);
	FAILS(nl_link_rename(peer, b, "x/y", &err), EINVAL);

	/* a pair made here, one end moved over afterwards */
	struct nl_veth w = { .name = "tw0", .peer = "tw1", .peer_netns_fd = -1 };
	CHECK(nl_veth_create(nl, &w, &err));
	int w1 = nl_link_index(nl, "tw1", &err);
	CHECK(w1);
	CHECK(nl_link_set_netns(nl, w1, peer_fd, &err));
	FAILS(nl_link_index(nl, "tw1", &err), ENODEV);
	int pw1 = nl_link_index(peer, "tw1", &err);
	CHECK(pw1);
	CHECK(nl_link_delete(peer, pw1, &err));
	FAILS(nl_link_index(nl, "tw0", &err), ENODEV);
	FAILS(nl_link_set_netns(nl, a, -1, &err), EBADF);

	CHECK(nl_link_delete(nl, a, &err));
	FAILS(nl_link_index(peer, "eth1", &err), ENODEV);
}

static void test_brport(void **state)
{
	(void)state;
	struct nl_link l;
	int br = nl_bridge_create(nl, "tbr1", 0, &err);
	CHECK(br);
	int a = veth_up("tv2", "tp2", NULL);
	int b = veth_up("tv3", "tp3", NULL);
	CHECK(nl_link_set_master(nl, a, br, &err));
	CHECK(nl_link_set_master(nl, b, br, &err));
	CHECK(nl_link_get(nl, a, &l, &err));
	assert_int_equal(l.master, br);
	assert_true(l.is_brport);
	assert_int_equal(l.brport.isolated, 0);
	assert_int_equal(l.brport.learning, 1);

	struct nl_brport p = { .isolated = 1, .hairpin = 1, .learning = 0 };
	CHECK(nl_brport_set(nl, a, &p, &err));
	CHECK(nl_link_get(nl, a, &l, &err));
	assert_int_equal(l.brport.isolated, 1);
	assert_int_equal(l.brport.hairpin, 1);
	assert_int_equal(l.brport.learning, 0);
	/* -1 leaves a flag alone */
	p = (struct nl_brport){ .isolated = -1, .hairpin = 0, .learning = -1 };
	CHECK(nl_brport_set(nl, a, &p, &err));
	CHECK(nl_link_get(nl, a, &l, &err));
	assert_int_equal(l.brport.isolated, 1);
	assert_int_equal(l.brport.hairpin, 0);
	assert_int_equal(l.brport.learning, 0);
	/* the other port is untouched */
	CHECK(nl_link_get(nl, b, &l, &err));
	assert_int_equal(l.brport.isolated, 0);

	CHECK(nl_link_set_master(nl, a, 0, &err));
	CHECK(nl_link_get(nl, a, &l, &err));
	assert_int_equal(l.master, 0);
	assert_false(l.is_brport);
	/* port flags on a link that is no port */
	cella_error_clear(&err);
	assert_int_equal(nl_brport_set(nl, a, &p, &err), -1);
	assert_int_not_equal(err.code, 0);

	CHECK(nl_link_delete(nl, a, &err));
	CHECK(nl_link_delete(nl, b, &err));
	CHECK(nl_link_delete(nl, br, &err));
}

static bool addr_listed(int ifindex, const char *prefix, struct nl_addr *out)
{
	struct nl_addr *v = NULL;
	size_t n = 0;
	struct nl_prefix want = P(prefix);
	bool found = false;
	CHECK(nl_addr_list(nl, ifindex, AF_UNSPEC, &v, &n, &err));
	for (size_t i = 0; i < n; i++)
		if (v[i].ifindex == ifindex && v[i].prefix.len == want.len &&
		    v[i].prefix.ip.family == want.ip.family &&
		    !memcmp(v[i].prefix.ip.bytes, want.ip.bytes, sizeof(want.ip.bytes))) {
			found = true;
			if (out)
				*out = v[i];
		}
	free(v);
	return found;
}

static void test_addresses(void **state)
{
	(void)state;
	struct nl_addr a;
	int v = veth_up("tv4", "tp4", NULL);
	struct nl_prefix p4 = P("10.1.0.1/24"), p6 = P("fd00:1::1/64");
	CHECK(nl_addr_add(nl, v, &p4, 0, &err));
	CHECK(nl_addr_add(nl, v, &p6, NL_ADDR_NODAD, &err));
	assert_true(addr_listed(v, "10.1.0.1/24", &a));
	assert_int_equal(a.scope, RT_SCOPE_UNIVERSE);
	assert_true(addr_listed(v, "fd00:1::1/64", &a));
	assert_true(a.flags & IFA_F_NODAD);
	assert_false(a.flags & IFA_F_TENTATIVE);
	/* only IPv4 when asked */
	struct nl_addr *list = NULL;
	size_t n = 0;
	CHECK(nl_addr_list(nl, v, AF_INET, &list, &n, &err));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(list[i].prefix.ip.family, AF_INET);
	assert_int_equal(n, 1);
	free(list);

	FAILS(nl_addr_add(nl, v, &p4, 0, &err), EEXIST);
	assert_non_null(strstr(err.msg, "10.1.0.1/24"));
	struct nl_prefix p4b = P("10.1.0.2/32");
	CHECK(nl_addr_add(nl, v, &p4b, NL_ADDR_NOPREFIXROUTE, &err));
	assert_true(addr_listed(v, "10.1.0.2/32", &a));
	assert_true(a.flags & IFA_F_NOPREFIXROUTE);

	CHECK(nl_addr_delete(nl, v, &p4, &err));
	CHECK(nl_addr_delete(nl, v, &p4b, &err));
	CHECK(nl_addr_delete(nl, v, &p6, &err));
	assert_false(addr_listed(v, "10.1.0.1/24", NULL));
	assert_false(addr_listed(v, "fd00:1::1/64", NULL));
	FAILS(nl_addr_delete(nl, v, &p4, &err), EADDRNOTAVAIL);
	FAILS(nl_addr_add(nl, 999999, &p4, 0, &err), ENODEV);
	CHECK(nl_link_delete(nl, v, &err));
}

static bool route_listed(const struct nl_route *want, struct nl_route *out)
{
	struct nl_route *v = NULL;
	size_t n = 0;
	bool found = false;
	CHECK(nl_route_list(nl, want->dst.ip.family, &v, &n, &err));
	for (size_t i = 0; i < n; i++) {
		const struct nl_route *r = &v[i];
		if (r->dst.len != want->dst.len || memcmp(r->dst.ip.bytes, want->dst.ip.bytes, 16) ||
		    r->has_gateway != want->has_gateway || (want->ifindex && r->ifindex != want->ifindex))
			continue;
		if (want->has_gateway && memcmp(r->gateway.bytes, want->gateway.bytes, 16))
			continue;
		if (want->metric && r->metric != want->metric)
			continue;
		found = true;
		if (out)
			*out = *r;
	}
	free(v);
	return found;
}

static void test_routes(void **state)
{
	(void)state;
	struct nl_route got;
	int v = veth_up("tv5", "tp5", NULL);
	struct nl_prefix a4 = P("10.2.0.1/24"), a6 = P("fd00:2::1/64");
	CHECK(nl_addr_add(nl, v, &a4, 0, &err));
	CHECK(nl_addr_add(nl, v, &a6, NL_ADDR_NODAD, &err));

	/* via a gateway */
	struct nl_route r1 = { .dst = P("10.3.0.0/24"), .has_gateway = true, .gateway = IP("10.2.0.2"),
			       .ifindex = v };
	CHECK(nl_route_add(nl, &r1, 0, &err));
	assert_true(route_listed(&r1, &got));
	assert_int_equal(got.scope, RT_SCOPE_UNIVERSE);
	assert_int_equal(got.protocol, RTPROT_STATIC);
	FAILS(nl_route_add(nl, &r1, 0, &err), EEXIST);
	/* device only: scope link */
	struct nl_route r2 = { .dst = P("10.4.0.0/24"), .ifindex = v };
	CHECK(nl_route_add(nl, &r2, 0, &err));
	assert_true(route_listed(&r2, &got));
	assert_int_equal(got.scope, RT_SCOPE_LINK);
	/* a host route for a routed NIC */
	struct nl_route r3 = { .dst = P("192.0.2.7/32"), .ifindex = v };
	CHECK(nl_route_add(nl, &r3, 0, &err));
	assert_true(route_listed(&r3, NULL));
	/* default, then replaced by another gateway with the same metric */
	struct nl_route d = { .dst = { .ip = { .family = AF_INET } }, .has_gateway = true,
			      .gateway = IP("10.2.0.254"), .metric = 100 };
	CHECK(nl_route_add(nl, &d, 0, &err));
	assert_true(route_listed(&d, &got));
	assert_int_equal(got.ifindex, v);
	d.gateway = IP("10.2.0.253");
	FAILS(nl_route_add(nl, &d, 0, &err), EEXIST);
	CHECK(nl_route_add(nl, &d, NL_ROUTE_REPLACE, &err));
	assert_true(route_listed(&d, NULL));
	d.gateway = IP("10.2.0.254");
	assert_false(route_listed(&d, NULL));
	d.gateway = IP("10.2.0.253");
	/* onlink: a gateway outside every prefix of the link */
	struct nl_route o = { .dst = P("10.6.0.0/16"), .has_gateway = true, .gateway = IP("172.16.0.1"),
			      .ifindex = v };
	FAILS(nl_route_add(nl, &o, 0, &err), ENETUNREACH);
	o.onlink = true;
	CHECK(nl_route_add(nl, &o, 0, &err));
	assert_true(route_listed(&o, &got));
	assert_true(got.onlink);

	/* IPv6: device route and default */
	struct nl_route r6 = { .dst = P("fd00:3::/64"), .ifindex = v, .metric = 256 };
	CHECK(nl_route_add(nl, &r6, 0, &err));
	assert_true(route_listed(&r6, NULL));
	struct nl_route d6 = { .dst = { .ip = { .family = AF_INET6 } }, .has_gateway = true,
			       .gateway = IP("fd00:2::fe"), .ifindex = v, .metric = 1024 };
	CHECK(nl_route_add(nl, &d6, 0, &err));
	assert_true(route_listed(&d6, NULL));
	d6.gateway = IP("fd00:2::fd");
	CHECK(nl_route_add(nl, &d6, NL_ROUTE_REPLACE, &err));
	assert_true(route_listed(&d6, NULL));

	/* invalid requests fail before the kernel */
	struct nl_route bad = { .dst = P("10.7.0.0/24") };
	FAILS(nl_route_add(nl, &bad, 0, &err), EINVAL);
	bad = (struct nl_route){ .dst = P("10.7.0.0/24"), .has_gateway = true, .gateway = IP("fd00::1") };
	FAILS(nl_route_add(nl, &bad, 0, &err), EINVAL);

	CHECK(nl_route_delete(nl, &r1, &err));
	assert_false(route_listed(&r1, NULL));
	CHECK(nl_route_delete(nl, &r2, &err));
	CHECK(nl_route_delete(nl, &r3, &err));
	CHECK(nl_route_delete(nl, &d, &err));
	CHECK(nl_route_delete(nl, &o, &err));
	CHECK(nl_route_delete(nl, &r6, &err));
	CHECK(nl_route_delete(nl, &d6, &err));
	assert_false(route_listed(&d6, NULL));
	FAILS(nl_route_delete(nl, &r1, &err), ESRCH);
	CHECK(nl_link_delete(nl, v, &err));
}

static bool proxy_listed(int family, int ifindex, const char *ip)
{
	struct nl_addr *v = NULL;
	size_t n = 0;
	struct nl_ip want = IP(ip);
	bool found = false;
	CHECK(nl_neigh_proxy_list(nl, family, &v, &n, &err));
	for (size_t i = 0; i < n; i++)
		if (v[i].ifindex == ifindex && !memcmp(v[i].prefix.ip.bytes, want.bytes, 16))
			found = true;
	free(v);
	return found;
}

static void test_neigh_proxy(void **state)
{
	(void)state;
	int v = veth_up("tv6", "tp6", NULL);
	struct nl_ip ip4 = IP("192.0.2.9"), ip6 = IP("2001:db8::9");
	CHECK(nl_neigh_proxy_add(nl, v, &ip4, &err));
	CHECK(nl_neigh_proxy_add(nl, v, &ip6, &err));
	assert_true(proxy_listed(AF_INET, v, "192.0.2.9"));
	assert_true(proxy_listed(AF_INET6, v, "2001:db8::9"));
	/* adding it again is no error (the kernel updates the entry) */
	CHECK(nl_neigh_proxy_add(nl, v, &ip4, &err));
	CHECK(nl_neigh_proxy_delete(nl, v, &ip4, &err));
	CHECK(nl_neigh_proxy_delete(nl, v, &ip6, &err));
	assert_false(proxy_listed(AF_INET, v, "192.0.2.9"));
	assert_false(proxy_listed(AF_INET6, v, "2001:db8::9"));
	FAILS(nl_neigh_proxy_delete(nl, v, &ip4, &err), ENOENT);
	CHECK(nl_link_delete(nl, v, &err));
}

static void test_sysctl(void **state)
{
	(void)state;
	char buf[32];
	int v = veth_up("tv7", "tp7", NULL);
	CHECK(net_sysctl_write(-1, "ipv4/conf/tv7/proxy_arp", "1", &err));
	CHECK(net_sysctl_read(-1, "ipv4/conf/tv7/proxy_arp", buf, sizeof(buf), &err));
	assert_string_equal(buf, "1");
	/* in the peer namespace, its own links are there and ours are not */
	CHECK(net_sysctl_write(peer_fd, "ipv6/conf/tp7/proxy_ndp", "1", &err));
	CHECK(net_sysctl_read(peer_fd, "ipv6/conf/tp7/proxy_ndp", buf, sizeof(buf), &err));
	assert_string_equal(buf, "1");
	CHECK(net_sysctl_read(-1, "ipv6/conf/tv7/proxy_ndp", buf, sizeof(buf), &err));
	assert_string_equal(buf, "0");
	FAILS(net_sysctl_read(peer_fd, "ipv4/conf/tv7/proxy_arp", buf, sizeof(buf), &err), ENOENT);
	/* nothing outside net/ */
	FAILS(net_sysctl_write(-1, "../kernel/hostname", "x", &err), EINVAL);
	FAILS(net_sysctl_write(-1, "ipv4/../../kernel/hostname", "x", &err), EINVAL);
	FAILS(net_sysctl_write(-1, "/proc/sys/kernel/hostname", "x", &err), EINVAL);
	FAILS(net_sysctl_write(-1, "ipv4//conf", "x", &err), EINVAL);
	FAILS(net_sysctl_write(-1, "", "x", &err), EINVAL);
	CHECK(nl_link_delete(nl, v, &err));
}

/* ---- traffic between the two namespaces ---- */

struct sock_job {
	int type;
	int fd;
};

static int sock_in_peer(void *p)
{
	struct sock_job *j = p;
	j->fd = socket(AF_INET, j->type | SOCK_CLOEXEC, 0);
	return j->fd < 0 ? -1 : 0;
}

/* A socket of the peer namespace (usable from any thread). */
static int peer_socket(int type)
{
	struct sock_job j = { .type = type, .fd = -1 };
	CHECK(netns_run(peer_fd, sock_in_peer, &j, &err));
	assert_true(j.fd >= 0);
	return j.fd;
}

static struct sockaddr_in sin_of(const char *ip, int port)
{
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, ip, &s.sin_addr);
	return s;
}

/* veth tv8 (10.9.0.1) here, eth0 (10.9.0.2) in the peer namespace */
static void pair_setup(int *a, int *b)
{
	*a = veth_up("tv8", "eth0", b);
	struct nl_prefix pa = P("10.9.0.1/24"), pb = P("10.9.0.2/24");
	CHECK(nl_addr_add(nl, *a, &pa, 0, &err));
	CHECK(nl_addr_add(peer, *b, &pb, 0, &err));
}

static void test_udp_counters(void **state)
{
	(void)state;
	int a, b;
	struct nl_link_stats sa0, sb0, sa1, sb1;
	pair_setup(&a, &b);
	CHECK(nl_link_stats(nl, a, &sa0, &err));
	CHECK(nl_link_stats(peer, b, &sb0, &err));

	cleanup_close int rx = peer_socket(SOCK_DGRAM);
	struct sockaddr_in dst = sin_of("10.9.0.2", 5000);
	assert_int_equal(bind(rx, (struct sockaddr *)&dst, sizeof(dst)), 0);
	cleanup_close int tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	char msg[1000];
	memset(msg, 'x', sizeof(msg));
	for (int i = 0; i < 10; i++)
		assert_int_equal(sendto(tx, msg, sizeof(msg), 0, (struct sockaddr *)&dst, sizeof(dst)), sizeof(msg));
	char got[2000];
	int received = 0;
	struct pollfd pfd = { .fd = rx, .events = POLLIN };
	while (received < 10 && poll(&pfd, 1, 3000) == 1)
		if (recv(rx, got, sizeof(got), 0) == (ssize_t)sizeof(msg))
			received++;
	assert_true(received >= 1); /* the first datagrams may wait on ARP; the link works */

	CHECK(nl_link_stats(nl, a, &sa1, &err));
	CHECK(nl_link_stats(peer, b, &sb1, &err));
	assert_true(sa1.tx_packets >= sa0.tx_packets + (uint64_t)received);
	assert_true(sa1.tx_bytes >= sa0.tx_bytes + (uint64_t)received * sizeof(msg));
	assert_true(sb1.rx_packets >= sb0.rx_packets + (uint64_t)received);
	assert_true(sb1.rx_bytes >= sb0.rx_bytes + (uint64_t)received * sizeof(msg));
	/* the ARP reply came back */
	assert_true(sa1.rx_packets > sa0.rx_packets);
	CHECK(nl_link_delete(nl, a, &err));
}

static void test_tbf(void **state)
{
	(void)state;
	struct nl_qdisc q;
	int v = veth_up("tv9", "tp9", NULL);
	CHECK(nl_qdisc_get(nl, v, TC_H_ROOT, &q, &err));
	assert_string_equal(q.kind, "noqueue");

	CHECK(nl_tbf_set(nl, v, 10000000, 32000, &err));
	CHECK(nl_qdisc_get(nl, v, TC_H_ROOT, &q, &err));
	assert_string_equal(q.kind, "tbf");
	assert_int_equal(q.handle, 0x10000);
	assert_int_equal(q.rate, 10000000);
	assert_in_range(q.burst, 31680, 32320);
	assert_int_equal(q.limit, 32000 + 1250000 / 20);

	/* replaced in place */
	CHECK(nl_tbf_set(nl, v, 25000000, 64000, &err));
	CHECK(nl_qdisc_get(nl, v, TC_H_ROOT, &q, &err));
	assert_string_equal(q.kind, "tbf");
	assert_int_equal(q.rate, 25000000);
	assert_in_range(q.burst, 63360, 64640);
	/* above 32 bits of bytes per second */
	CHECK(nl_tbf_set(nl, v, 40000000000ull, 1000000, &err));
	CHECK(nl_qdisc_get(nl, v, TC_H_ROOT, &q, &err));
	assert_true(q.rate == 40000000000ull);
	assert_in_range(q.burst, 990000, 1010000);

	CHECK(nl_qdisc_root_delete(nl, v, &err));
	CHECK(nl_qdisc_get(nl, v, TC_H_ROOT, &q, &err));
	assert_string_equal(q.kind, "noqueue");
	FAILS(nl_qdisc_root_delete(nl, v, &err), ENOENT);
	FAILS(nl_tbf_set(nl, v, 0, 1000, &err), EINVAL);
	FAILS(nl_tbf_set(nl, v, 1000000, 0, &err), EINVAL);
	FAILS(nl_tbf_set(nl, 999999, 1000000, 1000, &err), ENODEV);
	CHECK(nl_link_delete(nl, v, &err));
}

static void test_ingress(void **state)
{
	(void)state;
	int v = veth_up("tv10", "tp10", NULL);
	int ifb = nl_ifb_create(nl, "tifb0", &err);
	CHECK(ifb);
	struct nl_link l;
	CHECK(nl_link_get(nl, ifb, &l, &err));
	assert_string_equal(l.kind, "ifb");
	CHECK(nl_link_set_up(nl, ifb, true, &err));
	CHECK(nl_tbf_set(nl, ifb, 10000000, 32000, &err));
	struct nl_qdisc q;
	FAILS(nl_qdisc_get(nl, v, TC_H_INGRESS, &q, &err), ENOENT);
	CHECK(nl_ingress_redirect(nl, v, ifb, &err));
	CHECK(nl_qdisc_get(nl, v, TC_H_INGRESS, &q, &err));
	assert_string_equal(q.kind, "ingress");
	assert_int_equal(q.handle, 0xffff0000);
	/* again: replaces, does not fail */
	CHECK(nl_ingress_redirect(nl, v, ifb, &err));
	CHECK(nl_qdisc_get(nl, ifb, TC_H_ROOT, &q, &err));
	assert_string_equal(q.kind, "tbf");
	CHECK(nl_ingress_delete(nl, v, &err));
	FAILS(nl_qdisc_get(nl, v, TC_H_INGRESS, &q, &err), ENOENT);
	FAILS(nl_ingress_delete(nl, v, &err), ENOENT);
	/* a redirect to a link that does not exist leaves nothing behind */
	cella_error_clear(&err);
	assert_int_equal(nl_ingress_redirect(nl, v, 999999, &err), -1);
	FAILS(nl_ingress_delete(nl, v, &err), ENOENT);
	CHECK(nl_link_delete(nl, ifb, &err));
	CHECK(nl_link_delete(nl, v, &err));
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Push TCP from `tx` to `rx` as fast as they go for `secs`; the goodput in
 * bits/s measured after the first 0.3 s (the bucket's initial burst). */
static double tcp_goodput(int tx, int rx, double secs)
{
	static char buf[65536];
	double t0 = now(), skip = t0 + 0.3, end = t0 + secs, t_first = 0;
	uint64_t counted = 0;
	fcntl(tx, F_SETFL, O_NONBLOCK);
	fcntl(rx, F_SETFL, O_NONBLOCK);
	for (;;) {
		struct pollfd p[2] = { { .fd = tx, .events = POLLOUT }, { .fd = rx, .events = POLLIN } };
		double t = now();
		if (t >= end)
			break;
		if (poll(p, 2, 100) < 0)
			break;
		if (p[0].revents & POLLOUT)
			(void)send(tx, buf, sizeof(buf), MSG_NOSIGNAL);
		if (p[1].revents & POLLIN) {
			ssize_t n = recv(rx, buf, sizeof(buf), 0);
			t = now();
			if (n > 0 && t >= skip) {
				if (!t_first)
					t_first = t;
				else
					counted += n;
			}
		}
	}
	double span = now() - t_first;
	return t_first && span > 0 ? counted * 8 / span : 0;
}

/* A connected TCP pair: client made by mk_client, listener by mk_listener. */
static void tcp_pair(int listener, int client, const char *ip, int *accepted)
{
	struct sockaddr_in s = sin_of(ip, 5001);
	int one = 1;
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(listener, (struct sockaddr *)&s, sizeof(s)), 0);
	assert_int_equal(listen(listener, 1), 0);
	assert_int_equal(connect(client, (struct sockaddr *)&s, sizeof(s)), 0);
	*accepted = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*accepted >= 0);
}

/* The shaper holds its rate under a bulk TCP load, both ways: TBF on the
 * egress of our end; ingress redirected through an IFB with a TBF. */
static void test_rate(void **state)
{
	(void)state;
	const uint64_t rate = 16000000; /* 16 Mbit/s */
	int a, b;
	pair_setup(&a, &b);

	/* egress: here -> peer */
	CHECK(nl_tbf_set(nl, a, rate, 32000, &err));
	{
		cleanup_close int l = peer_socket(SOCK_STREAM);
		cleanup_close int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cleanup_close int s = -1;
		tcp_pair(l, c, "10.9.0.2", &s);
		double g = tcp_goodput(c, s, 2.0);
		print_message("egress: %.2f Mbit/s goodput for %.2f Mbit/s\n", g / 1e6, rate / 1e6);
		/* goodput is the rate less Ethernet, IP and TCP headers (~4.5%) */
		assert_true(g > rate * 0.86 && g < rate * 1.05);
	}
	CHECK(nl_qdisc_root_delete(nl, a, &err));

	/* ingress: peer -> here, through tifb1 */
	int ifb = nl_ifb_create(nl, "tifb1", &err);
	CHECK(ifb);
	CHECK(nl_link_set_up(nl, ifb, true, &err));
	CHECK(nl_tbf_set(nl, ifb, rate, 32000, &err));
	CHECK(nl_ingress_redirect(nl, a, ifb, &err));
	struct nl_link_stats s0, s1;
	CHECK(nl_link_stats(nl, ifb, &s0, &err));
	{
		cleanup_close int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cleanup_close int c = peer_socket(SOCK_STREAM);
		cleanup_close int s = -1;
		tcp_pair(l, c, "10.9.0.1", &s);
		double g = tcp_goodput(c, s, 2.0);
		print_message("ingress: %.2f Mbit/s goodput for %.2f Mbit/s\n", g / 1e6, rate / 1e6);
		assert_true(g > rate * 0.86 && g < rate * 1.05);
	}
	/* it did go through the IFB */
	CHECK(nl_link_stats(nl, ifb, &s1, &err));
	assert_true(s1.tx_bytes > s0.tx_bytes + 1000000);
	CHECK(nl_ingress_delete(nl, a, &err));
	CHECK(nl_link_delete(nl, ifb, &err));
	CHECK(nl_link_delete(nl, a, &err));
}

static void test_open_netns_errors(void **state)
{
	(void)state;
	FAILS((nl_open_netns(-1, &err) ? 0 : -1), EBADF);
	cleanup_close int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	FAILS((nl_open_netns(fd, &err) ? 0 : -1), EINVAL);
}

int main(void)
{
	/* first of all: nothing this test does may reach the host's network */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test_netlink: unshare(CLONE_NEWNET): %s: skipped (needs root)\n", strerror(errno));
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_bridge),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_veth),
		cmocka_unit_test(test_brport),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_neigh_proxy),
		cmocka_unit_test(test_sysctl),
		cmocka_unit_test(test_udp_counters),
		cmocka_unit_test(test_tbf),
		cmocka_unit_test(test_ingress),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_open_netns_errors),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
