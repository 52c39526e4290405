/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of lib/nft.c.  Everything happens in a network namespace this
 * binary makes first (nftables rulesets are per namespace): the host's own
 * ruleset is never touched.  Needs root; skipped (77) otherwise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <nftables/libnftables.h>

#include "netlink.h"
#include "nft.h"
#include "util.h"

static struct nft_session *S;
static struct nft_ctx *raw;	/* the test's own view, independent of lib/nft.c */

/* Run text commands directly (set-up of foreign tables, listings). */
static const char *raw_run(const char *cmd, bool json)
{
	nft_ctx_output_set_flags(raw, json ? NFT_CTX_OUTPUT_JSON : 0);
	(void)nft_ctx_get_output_buffer(raw);
	(void)nft_ctx_get_error_buffer(raw);
	if (nft_run_cmd_from_buffer(raw, cmd) != 0) {
		fprintf(stderr, "nft: %s: %s\n", cmd, nft_ctx_get_error_buffer(raw));
		return NULL;
	}
	return nft_ctx_get_output_buffer(raw);
}

static char *ruleset(void)
{
	const char *out = raw_run("list ruleset", false);
	assert_non_null(out);
	return xstrdup(out);
}

static bool has(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

static int group_setup(void **state)
{
	(void)state;
	struct cella_error err = { 0 };
	S = nft_open(&err);
	raw = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!S || !raw)
		return -1;
	nft_ctx_buffer_output(raw);
	nft_ctx_buffer_error(raw);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	nft_close(S);
	nft_ctx_free(raw);
	return 0;
}

/* Each test starts from an empty ruleset (of this namespace). */
static int setup(void **state)
{
	(void)state;
	return raw_run("flush ruleset", false) ? 0 : -1;
}

static void test_table_ensure(void **state)
{
	(void)state;
	struct cella_error err = { 0 };
	assert_int_equal(nft_table_ensure(S, &err), 0);
	cleanup_free char *one = ruleset();
	assert_true(has(one, "table inet cella"));
	assert_true(has(one, "table bridge cella"));
	assert_true(has(one, "table netdev cella"));
	assert_true(has(one, "type nat hook prerouting priority dstnat - 10; policy accept;"));
	assert_true(has(one, "type nat hook postrouting priority srcnat - 10; policy accept;"));
	assert_true(has(one, "type filter hook forward priority filter - 10; policy accept;"));
	assert_true(has(one, "iifname vmap @nat_nets"));
	assert_true(has(one, "iifname @isolated oifname @isolated drop"));
	/* idempotent: the same ruleset, no duplicated rules */
	assert_int_equal(nft_table_ensure(S, &err), 0);
	cleanup_free char *two = ruleset();
	assert_string_equal(one, two);
}

static void test_network(void **state)
{
	(void)state;
	struct cella_error err = { 0 };
	struct nft_network net = { .bridge = "cellabr0", .ipv4 = "10.42.0.1/24", .ipv6 = "fd42::1/64" };
	assert_int_equal(nft_network_set(S, &net, &err), 0);
	cleanup_free char *one = ruleset();
	assert_true(has(one, "oifname != \"cellabr0\" ip saddr 10.42.0.0/24 masquerade"));
	assert_true(has(one, "oifname \"cellabr0\" ct status dnat ip saddr 10.42.0.0/24 masquerade"));
	assert_true(has(one, "oifname != \"cellabr0\" ip6 saddr fd42::/64 masquerade"));
	assert_true(has(one, "\"cellabr0\" : jump nat_cellabr0"));
	assert_true(has(one, "\"cellabr0\" : jump fwdi_cellabr0"));
	assert_true(has(one, "\"cellabr0\" : jump fwdo_cellabr0"));
	assert_false(has(one, "oifname \"cellabr0\" drop"));

	/* idempotent */
	assert_int_equal(nft_network_set(S, &net, &err), 0);
	cleanup_free char *two = ruleset();
	assert_string_equal(one, two);

	/* replaced: isolated, IPv4 only */
	net.isolated = true;
	net.ipv6 = NULL;
	assert_int_equal(nft_network_set(S, &net, &err), 0);
	cleanup_free char *three = ruleset();
	assert_true(has(three, "oifname \"cellabr0\" ct status dnat accept"));
	assert_true(has(three, "oifname \"cellabr0\" drop"));
	assert_false(has(three, "fd42::/64"));

	/* a second network beside it */
	struct nft_network net1 = { .bridge = "cellabr1", .ipv6 = "fd43::/64" };
	assert_int_equal(nft_network_set(S, &net1, &err), 0);

	assert_int_equal(nft_network_remove(S, "cellabr0", &err), 0);
	cleanup_free char *four = ruleset();
	assert_false(has(four, "cellabr0"));
	assert_true(has(four, "fd43::/64"));
	/* idempotent */
	assert_int_equal(nft_network_remove(S, "cellabr0", &err), 0);
	cleanup_free char *five = ruleset();
	assert_string_equal(four, five);
}

static void test_portfwd(void **state)
{
	(void)state;
	struct cella_error err = { 0 };
	struct nft_portfwd web = { .name = "web", .proto = "tcp", .listen = "203.0.113.5", .listen_port = 8080,
				   .target = "10.42.0.2", .target_port = 80 };
	assert_int_equal(nft_portfwd_add(S, &web, &err), 0);
	cleanup_free char *one = ruleset();
	assert_true(has(one, "ip daddr 203.0.113.5 tcp dport 8080 dnat ip to 10.42.0.2:80"));
	assert_true(has(one, "fib daddr type local jump portfwd"));

	/* the same again: nothing changes */
	assert_int_equal(nft_portfwd_add(S, &web, &err), 0);
	cleanup_free char *two = ruleset();
	assert_string_equal(one, two);

	/* the same listen under another name */
	struct nft_portfwd dup = web;
	dup.name = "web2";
	dup.target = "10.42.0.3";
	assert_int_equal(nft_portfwd_add(S, &dup, &err), -1);
	assert_int_equal(err.code, EEXIST);
	assert_true(has(err.msg, "`web`"));
	/* every address, same port and proto */
	dup.listen = "0.0.0.0";
	assert_int_equal(nft_portfwd_add(S, &dup, &err), -1);
	assert_int_equal(err.code, EEXIST);
	assert_true(has(err.msg, "`web`"));
	/* the same name elsewhere */
	struct nft_portfwd again = web;
	again.listen_port = 8081;
	assert_int_equal(nft_portfwd_add(S, &again, &err), -1);
	assert_int_equal(err.code, EEXIST);
	cleanup_free char *three = ruleset();
	assert_string_equal(one, three);

	/* udp on the same port is another listen; any address; IPv6 */
	dup.proto = "udp";
	assert_int_equal(nft_portfwd_add(S, &dup, &err), 0);
	struct nft_portfwd v6 = { .name = "web6", .proto = "tcp", .listen = "2001:DB8::5", .listen_port = 8080,
				  .target = "fd42::2", .target_port = 80 };
	assert_int_equal(nft_portfwd_add(S, &v6, &err), 0);
	cleanup_free char *four = ruleset();
	assert_true(has(four, "ip daddr != 127.0.0.0/8 udp dport 8080 dnat ip to 10.42.0.3:80"));
	assert_true(has(four, "ip6 daddr 2001:db8::5 tcp dport 8080 dnat ip6 to [fd42::2]:80"));

	/* removal by name: only that one */
	assert_int_equal(nft_portfwd_remove(S, "web", &err), 0);
	cleanup_free char *five = ruleset();
	assert_false(has(five, "203.0.113.5"));
	assert_true(has(five, "10.42.0.3:80"));
	assert_true(has(five, "[fd42::2]:80"));
	assert_int_equal(nft_portfwd_remove(S, "web", &err), -1);
	assert_int_equal(err.code, ENOENT);
	/* its listen is free again */
	dup.proto = "tcp";
	dup.listen = "203.0.113.5";
	dup.name = "web3";
	assert_int_equal(nft_portfwd_add(S, &dup, &err), 0);
}

static const char *ips[] = { "10.42.0.2", "fd42::2" };

static void test_nic(void **state)
{
	(void)state;
	struct cella_error err = { 0 };
	struct nft_nic nic = { .ifname = "vethc1", .mac = "02:AB:CD:00:00:01", .ips = ips, .n_ips = 2 };
	assert_int_equal(nft_nic_set(S, &nic, &err), 0);
	cleanup_free char *one = ruleset();
	assert_true(has(one, "type filter hook ingress device \"vethc1\" priority -500; policy drop;"));
	assert_true(has(one, "type filter hook egress device \"vethc1\" priority -500; policy accept;"));
	assert_true(has(one, "ether saddr != 02:ab:cd:00:00:01 counter name \"drop_vethc1\" drop"));
	assert_true(has(one, "arp saddr ether 02:ab:cd:00:00:01 arp saddr ip { 0.0.0.0, 10.42.0.2 }"));
	assert_true(has(one, "ip saddr 10.42.0.2 counter name \"tx_vethc1\" accept"));
	/* the EUI-64 link-local of the MAC */
	assert_true(has(one, "fe80::ab:cdff:fe00:1"));
	assert_true(has(one, "icmpv6 type nd-neighbor-advert @th,64,128"));
	assert_true(has(one, "0xfd420000000000000000000000000002"));
	assert_true(has(one, "icmpv6 type { nd-router-advert, nd-redirect } counter name \"drop_vethc1\" drop"));
	assert_false(has(one, "elements = { \"vethc1\" }"));

	/* idempotent */
	assert_int_equal(nft_nic_set(S, &nic, &err), 0);
	cleanup_free char *two = ruleset();
	assert_string_equal(one, two);

	/* replaced: another address, isolated */
	static const char *ips2[] = { "10.42.0.7" };
	nic.ips = ips2;
	nic.n_ips = 1;
	nic.isolated = true;
	assert_int_equal(nft_nic_set(S, &nic, &err), 0);
	cleanup_free char *three = ruleset();
	assert_false(has(three, "10.42.0.2"));
	assert_false(has(three, "fd42::2"));
	assert_true(has(three, "ip saddr 10.42.0.7 counter"));
	assert_true(has(three, "elements = { \"vethc1\" }"));

	struct nft_counters c;
	assert_int_equal(nft_nic_counters(S, "vethc1", &c, &err), 0);
	assert_int_equal(c.rx_packets + c.tx_packets + c.tx_dropped_packets, 0);

	/* a second NIC stays when the first goes */
	struct nft_nic other = { .ifname = "veth-c.2", .mac = "02:ab:cd:00:00:02", .ips = ips, .n_ips = 1 };
	assert_int_equal(nft_nic_set(S, &other, &err), 0);
	assert_int_equal(nft_nic_remove(S, "vethc1", &err), 0);
	cleanup_free char *four = ruleset();
	assert_false(has(four, "vethc1"));
	assert_true(has(four, "in_veth-c.2"));
	assert_true(has(four, "device \"veth-c.2\""));
	assert_int_equal(nft_nic_remove(S, "vethc1", &err), 0);
	assert_int_equal(nft_nic_counters(S, "vethc1", &c, &err), -1);
	assert_int_equal(err.code, ENOENT);
}

static int lo_up(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };
	strcpy(ifr.ifr_name, "lo");
	int r = fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 ? -1 : 0;
	ifr.ifr_flags |= IFF_UP;
	if (r == 0)
		r = ioctl(fd, SIOCSIFFLAGS, &ifr);
	if (fd >= 0)
		close(fd);
	return r;
}

/* Real packets through the NIC rules: on `lo` (frames with an all-zero
 * source MAC), a NIC with another MAC must see every packet counted on
 * egress (rx) and dropped on ingress as spoofed. */
static void test_counters_traffic(void **state)
{
	(void)state;
	struct cella_error err = { 0 };
	assert_int_equal(lo_up(), 0);
	static const char *lo_ips[] = { "10.9.9.9" };
	struct nft_nic nic = { .ifname = "lo", .mac = "02:00:00:00:00:09", .ips = lo_ips, .n_ips = 1 };
	assert_int_equal(nft_nic_set(S, &nic, &err), 0);

	int rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(rx, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t al = sizeof(a);
	assert_int_equal(getsockname(rx, (struct sockaddr *)&a, &al), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(sendto(tx, "hello", 5, 0, (struct sockaddr *)&a, sizeof(a)), 5);
	struct pollfd p = { .fd = rx, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 200), 0);	/* dropped: never delivered */

	struct nft_counters c;
	assert_int_equal(nft_nic_counters(S, "lo", &c, &err), 0);
	assert_int_equal(c.rx_packets, 3);
	assert_true(c.rx_bytes >= 3 * (20 + 8 + 5));
	assert_int_equal(c.tx_dropped_packets, 3);
	assert_int_equal(c.tx_packets, 0);

	/* without the rules, it is delivered */
	assert_int_equal(nft_nic_remove(S, "lo", &err), 0);
	assert_int_equal(sendto(tx, "hello", 5, 0, (struct sockaddr *)&a, sizeof(a)), 5);
	assert_int_equal(poll(&p, 1, 1000), 1);
	close(rx);
	close(tx);
}

/* ---- real frames through a veth pair --------------------------------------
 * vh0 is the host side, vg0 the "instance" side; frames written on vg0 with a
 * packet socket arrive on vh0's ingress hook, where the NIC rules judge them. */

static const uint8_t G_MAC[6] = { 0x02, 0, 0, 0, 0, 0x0a };

static size_t eth(uint8_t *f, const uint8_t src[6], uint16_t type)
{
	memset(f, 0xff, 6);	/* broadcast */
	memcpy(f + 6, src, 6);
	f[12] = type >> 8;
	f[13] = type & 0xff;
	return 14;
}

static size_t ipv4_udp(uint8_t *p, const char *src)
{
	memset(p, 0, 28);
	p[0] = 0x45;
	p[3] = 28;
	p[8] = 64;
	p[9] = 17;
	inet_pton(AF_INET, src, p + 12);
	inet_pton(AF_INET, "10.1.0.1", p + 16);
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (p[i] << 8) | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	p[10] = ~sum >> 8;
	p[11] = ~sum & 0xff;
	p[20] = 0x30; p[21] = 0x39;	/* 12345 -> 9 */
	p[23] = 9;
	p[25] = 8;
	return 28;
}

static size_t arp_reply(uint8_t *p, const uint8_t mac[6], const char *sender)
{
	static const uint8_t hdr[8] = { 0, 1, 8, 0, 6, 4, 0, 2 };
	memcpy(p, hdr, 8);
	memcpy(p + 8, mac, 6);
	inet_pton(AF_INET, sender, p + 14);
	memset(p + 18, 0xff, 6);
	inet_pton(AF_INET, "10.1.0.1", p + 24);
	return 28;
}

static size_t ipv6_na(uint8_t *p, const char *src, const char *target)
{
	memset(p, 0, 64);
	p[0] = 0x60;
	p[5] = 24;	/* payload length */
	p[6] = 58;	/* ICMPv6 */
	p[7] = 255;
	inet_pton(AF_INET6, src, p + 8);
	inet_pton(AF_INET6, "ff02::1", p + 24);
	p[40] = 136;	/* neighbor advertisement */
	p[44] = 0x20;	/* override */
	inet_pton(AF_INET6, target, p + 48);
	return 64;
}

static void send_frame(int sock, int ifindex, const uint8_t *f, size_t len)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6 };
	memset(sll.sll_addr, 0xff, 6);
	assert_int_equal(sendto(sock, f, len, 0, (struct sockaddr *)&sll, sizeof(sll)), (ssize_t)len);
}

static void test_spoofing_frames(void **state)
{
	(void)state;
	struct cella_error err = { 0 };
	/* no IPv6 chatter of their own on the new links: the counts are exact */
	int fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		assert_int_equal(write(fd, "1", 1), 1);
		close(fd);
	}
	struct nl *nl = nl_open(&err);
	assert_non_null(nl);
	struct nl_veth v = { .name = "vh0", .peer = "vg0", .peer_netns_fd = -1 };
	int vh = nl_veth_create(nl, &v, &err);
	if (vh < 0)
		fail_msg("%s", err.msg);
	int vg = nl_link_index(nl, "vg0", &err);
	assert_true(vg > 0);
	assert_int_equal(nl_link_set_mac(nl, vg, G_MAC, &err), 0);

	static const char *gips[] = { "10.1.0.2", "fd01::2" };
	struct nft_nic nic = { .ifname = "vh0", .mac = "02:00:00:00:00:0a", .ips = gips, .n_ips = 2 };
	assert_int_equal(nft_nic_set(S, &nic, &err), 0);
	assert_int_equal(nl_link_set_up(nl, vh, true, &err), 0);
	assert_int_equal(nl_link_set_up(nl, vg, true, &err), 0);

	int sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	assert_true(sock >= 0);
	static const uint8_t other_mac[6] = { 0x02, 0, 0, 0, 0, 0x0b };
	uint8_t f[128];
	size_t n;
	int passed = 0, dropped = 0;

	/* allowed: its own MAC and address; ARP claiming its own address; an
	 * NA for its own address from its link-local */
	n = eth(f, G_MAC, ETHERTYPE_IP); n += ipv4_udp(f + n, "10.1.0.2");
	send_frame(sock, vg, f, n); passed++;
	n = eth(f, G_MAC, ETHERTYPE_ARP); n += arp_reply(f + n, G_MAC, "10.1.0.2");
	send_frame(sock, vg, f, n); passed++;
	n = eth(f, G_MAC, ETHERTYPE_IPV6); n += ipv6_na(f + n, "fe80::ff:fe00:a", "fd01::2");
	send_frame(sock, vg, f, n); passed++;
	/* spoofed: another source address, another MAC, ARP poisoning for
	 * another address, NDP poisoning, a VLAN tag, another ethertype */
	n = eth(f, G_MAC, ETHERTYPE_IP); n += ipv4_udp(f + n, "10.1.0.3");
	send_frame(sock, vg, f, n); dropped++;
	n = eth(f, other_mac, ETHERTYPE_IP); n += ipv4_udp(f + n, "10.1.0.2");
	send_frame(sock, vg, f, n); dropped++;
	n = eth(f, G_MAC, ETHERTYPE_ARP); n += arp_reply(f + n, G_MAC, "10.1.0.1");
	send_frame(sock, vg, f, n); dropped++;
	n = eth(f, G_MAC, ETHERTYPE_ARP); n += arp_reply(f + n, other_mac, "10.1.0.2");
	send_frame(sock, vg, f, n); dropped++;
	n = eth(f, G_MAC, ETHERTYPE_IPV6); n += ipv6_na(f + n, "fe80::ff:fe00:a", "fd01::1");
	send_frame(sock, vg, f, n); dropped++;
	n = eth(f, G_MAC, ETHERTYPE_IPV6); n += ipv6_na(f + n, "fd01::3", "fd01::3");
	send_frame(sock, vg, f, n); dropped++;
	/* duplicate address detection from ::, for its own address only */
	n = eth(f, G_MAC, ETHERTYPE_IPV6); n += ipv6_na(f + n, "::", "fd01::2"); f[14 + 40] = 135;
	send_frame(sock, vg, f, n); passed++;
	n = eth(f, G_MAC, ETHERTYPE_IPV6); n += ipv6_na(f + n, "::", "fd01::1"); f[14 + 40] = 135;
	send_frame(sock, vg, f, n); dropped++;
	n = eth(f, G_MAC, ETHERTYPE_VLAN); f[n++] = 0; f[n++] = 5; f[n++] = 0x08; f[n++] = 0x00;
	n += ipv4_udp(f + n, "10.1.0.2");
	send_frame(sock, vg, f, n); dropped++;
	n = eth(f, G_MAC, 0x88cc); memset(f + n, 0, 46); n += 46;	/* LLDP */
	send_frame(sock, vg, f, n); dropped++;
	/* one frame the other way: what the instance receives */
	n = eth(f, other_mac, ETHERTYPE_IP); n += ipv4_udp(f + n, "10.1.0.1");
	send_frame(sock, vh, f, n);
	usleep(100 * 1000);

	struct nft_counters c;
	assert_int_equal(nft_nic_counters(S, "vh0", &c, &err), 0);
	assert_int_equal(c.tx_packets, passed);
	assert_int_equal(c.tx_dropped_packets, dropped);
	assert_int_equal(c.rx_packets, 1);
	assert_int_equal(c.rx_bytes, 14 + 28);

	close(sock);
	assert_int_equal(nl_link_delete(nl, vh, &err), 0);
	/* the device is gone: removal still works and is complete */
	assert_int_equal(nft_nic_remove(S, "vh0", &err), 0);
	cleanup_free char *after = ruleset();
	assert_false(has(after, "vh0"));
	nl_close(nl);
}

/* A transaction the kernel refuses changes nothing, and its error is one line. */
static void test_atomic_failure(void **state)
{
	(void)state;
	struct cella_error err = { 0 };
	assert_non_null(raw_run("add table inet cella\nadd set inet cella nat_nets { type ipv4_addr; }\n", false));
	cleanup_free char *before = ruleset();
	struct nft_network net = { .bridge = "cellabr0", .ipv4 = "10.42.0.0/24" };
	assert_int_equal(nft_network_set(S, &net, &err), -1);
	assert_true(err.code != 0);
	assert_true(has(err.msg, "network `cellabr0`: nftables: "));
	assert_null(strchr(err.msg, '\n'));
	cleanup_free char *after = ruleset();
	assert_string_equal(before, after);
	/* our delete clears it */
	assert_int_equal(nft_table_delete(S, &err), 0);
	assert_int_equal(nft_network_set(S, &net, &err), 0);
}

#define FOREIGN \
	"table inet other {\n" \
	"	chain forward {\n" \
	"		type filter hook forward priority filter; policy drop;\n" \
	"		ct state established,related accept\n" \
	"	}\n" \
	"}\n"

static void test_foreign_tables(void **state)
{
	(void)state;
	struct cella_error err = { 0 };
	char reason[1024];

	/* ours only: nothing to report, even though ours are there */
	struct nft_network net = { .bridge = "cellabr0", .ipv4 = "10.42.0.0/24" };
	assert_int_equal(nft_network_set(S, &net, &err), 0);
	assert_int_equal(nft_forward_check(S, reason, sizeof(reason), &err), 0);
	assert_string_equal(reason, "");

	/* another table with a forward policy drop */
	assert_non_null(raw_run("add table inet other\n"
				"add chain inet other forward { type filter hook forward priority 0; policy drop; }\n"
				"add rule inet other forward ct state established,related accept\n", false));
	const char *l = raw_run("list table inet other", false);
	assert_non_null(l);
	cleanup_free char *before = xstrdup(l);
	assert_string_equal(before, FOREIGN);
	assert_int_equal(nft_forward_check(S, reason, sizeof(reason), &err), 1);
	assert_true(has(reason, "table inet other: chain forward"));
	assert_true(has(reason, "policy drop"));

	/* iptables-nft's FORWARD DROP too */
	assert_non_null(raw_run("add table ip filter\n"
				"add chain ip filter FORWARD { type filter hook forward priority 0; policy drop; }\n",
				false));
	assert_int_equal(nft_forward_check(S, reason, sizeof(reason), &err), 1);
	assert_true(has(reason, "iptables FORWARD policy DROP"));
	assert_true(has(reason, "table inet other"));
	/* truncated, not overflowed */
	char small[16];
	assert_int_equal(nft_forward_check(S, small, sizeof(small), &err), 1);
	assert_int_equal(strlen(small), sizeof(small) - 1);

	/* our changes leave the other tables alone */
	struct nft_portfwd pf = { .name = "ssh", .proto = "tcp", .listen = "0.0.0.0", .listen_port = 2222,
				  .target = "10.42.0.2", .target_port = 22 };
	assert_int_equal(nft_portfwd_add(S, &pf, &err), 0);
	assert_int_equal(nft_table_flush(S, &err), 0);
	cleanup_free char *flushed = ruleset();
	assert_false(has(flushed, "cellabr0"));
	assert_false(has(flushed, "2222"));
	assert_true(has(flushed, "table inet cella"));
	assert_string_equal(raw_run("list table inet other", false), FOREIGN);

	/* delete: exactly ours */
	assert_int_equal(nft_table_delete(S, &err), 0);
	cleanup_free char *after = ruleset();
	assert_false(has(after, "cella"));
	assert_true(has(after, "table ip filter"));
	assert_string_equal(raw_run("list table inet other", false), FOREIGN);
	/* idempotent */
	assert_int_equal(nft_table_delete(S, &err), 0);
	assert_int_equal(nft_forward_check(S, reason, sizeof(reason), &err), 1);
}

/* Each refused with EINVAL naming the field, changing nothing. */
static void expect_einval(int r, struct cella_error *err, const char *field, const char *before)
{
	if (r != -1 || err->code != EINVAL)
		fail_msg("expected EINVAL naming `%s`, got %d: %s", field, r, r == -1 ? err->msg : "success");
	if (!has(err->msg, field))
		fail_msg("`%s` not named in: %s", field, err->msg);
	assert_null(strchr(err->msg, '\n'));
	cleanup_free char *now = ruleset();
	assert_string_equal(before, now);
}

static void test_bad_inputs(void **state)
{
	(void)state;
	struct cella_error err = { 0 };
	assert_int_equal(nft_table_ensure(S, &err), 0);
	cleanup_free char *before = ruleset();

	static const char *hostile[] = {
		"eth0;flush ruleset", "eth0\" drop", "", "0123456789abcdef", "a b", "eth0\nflush", "x/y", "$(id)",
	};
	for (size_t i = 0; i < ARRAY_SIZE(hostile); i++) {
		struct nft_network net = { .bridge = hostile[i], .ipv4 = "10.0.0.0/24" };
		expect_einval(nft_network_set(S, &net, &err), &err, "bridge", before);
		expect_einval(nft_network_remove(S, hostile[i], &err), &err, "bridge", before);
		struct nft_nic nic = { .ifname = hostile[i], .mac = "02:00:00:00:00:01", .ips = ips, .n_ips = 1 };
		expect_einval(nft_nic_set(S, &nic, &err), &err, "ifname", before);
		expect_einval(nft_nic_remove(S, hostile[i], &err), &err, "ifname", before);
		struct nft_counters c;
		expect_einval(nft_nic_counters(S, hostile[i], &c, &err), &err, "ifname", before);
		if (strlen(hostile[i]) == 16)
			continue;	/* too long for an interface, fine for a forward */
		struct nft_portfwd pf = { .name = hostile[i], .proto = "tcp", .listen = "192.0.2.1",
					  .listen_port = 80, .target = "10.0.0.2", .target_port = 80 };
		expect_einval(nft_portfwd_add(S, &pf, &err), &err, "name", before);
		expect_einval(nft_portfwd_remove(S, hostile[i], &err), &err, "name", before);
	}
	struct nft_network nullbr = { .bridge = NULL, .ipv4 = "10.0.0.0/24" };
	expect_einval(nft_network_set(S, &nullbr, &err), &err, "bridge", before);

	/* networks: subnets */
	static const struct { const char *v4, *v6, *field; } nets[] = {
		{ "10.0.0.0", NULL, "ipv4" }, { "10.0.0.0/33", NULL, "ipv4" }, { "10.0.0.0/0", NULL, "ipv4" },
		{ "10.0.0.0/2x", NULL, "ipv4" }, { "10.0.0.0/", NULL, "ipv4" }, { "fd00::/64", NULL, "ipv4" },
		{ "10.0.0.0/24; flush ruleset", NULL, "ipv4" }, { "300.0.0.0/8", NULL, "ipv4" },
		{ NULL, "fd00::/129", "ipv6" }, { NULL, "10.0.0.0/8", "ipv6" }, { NULL, "fd00::1::2/64", "ipv6" },
		{ NULL, NULL, "ipv4, ipv6" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(nets); i++) {
		struct nft_network net = { .bridge = "br0", .ipv4 = nets[i].v4, .ipv6 = nets[i].v6 };
		expect_einval(nft_network_set(S, &net, &err), &err, nets[i].field, before);
	}

	/* port forwards */
	static const struct nft_portfwd good = { .name = "p", .proto = "tcp", .listen = "192.0.2.1",
						 .listen_port = 80, .target = "10.0.0.2", .target_port = 80 };
	struct nft_portfwd pf;
	pf = good; pf.listen_port = 0;
	expect_einval(nft_portfwd_add(S, &pf, &err), &err, "listen_port", before);
	pf = good; pf.listen_port = 70000;
	expect_einval(nft_portfwd_add(S, &pf, &err), &err, "listen_port", before);
	pf = good; pf.target_port = 0;
	expect_einval(nft_portfwd_add(S, &pf, &err), &err, "target_port", before);
	pf = good; pf.target_port = 65536;
	expect_einval(nft_portfwd_add(S, &pf, &err), &err, "target_port", before);
	static const char *protos[] = { "sctp", "TCP", "", "tcp;", "tcp dport 1 accept", NULL };
	for (size_t i = 0; i < ARRAY_SIZE(protos); i++) {
		pf = good; pf.proto = protos[i];
		expect_einval(nft_portfwd_add(S, &pf, &err), &err, "proto", before);
	}
	static const char *addrs[] = { "192.0.2.1; flush ruleset", "192.0.2", "1.2.3.4.5", "localhost",
				       "192.0.2.1/32", "", "fe80::1%eth0", NULL };
	for (size_t i = 0; i < ARRAY_SIZE(addrs); i++) {
		pf = good; pf.listen = addrs[i];
		expect_einval(nft_portfwd_add(S, &pf, &err), &err, "listen", before);
		pf = good; pf.target = addrs[i];
		expect_einval(nft_portfwd_add(S, &pf, &err), &err, "target", before);
	}
	pf = good; pf.listen = "127.0.0.1";
	expect_einval(nft_portfwd_add(S, &pf, &err), &err, "listen", before);
	pf = good; pf.listen = "::1"; pf.target = "fd00::2";
	expect_einval(nft_portfwd_add(S, &pf, &err), &err, "listen", before);
	pf = good; pf.target = "fd00::2";
	expect_einval(nft_portfwd_add(S, &pf, &err), &err, "target", before);
	pf = good; pf.target = "0.0.0.0";
	expect_einval(nft_portfwd_add(S, &pf, &err), &err, "target", before);
	pf = good; pf.name = "a-name-that-is-longer-than-32-chars";
	expect_einval(nft_portfwd_add(S, &pf, &err), &err, "name", before);

	/* NICs */
	static const char *macs[] = { "02:00:00:00:00", "02:00:00:00:00:0g", "01:00:5e:00:00:01",
				      "00:00:00:00:00:00", "02-00-00-00-00-01", "02:00:00:00:00:01;", NULL };
	for (size_t i = 0; i < ARRAY_SIZE(macs); i++) {
		struct nft_nic nic = { .ifname = "veth0", .mac = macs[i], .ips = ips, .n_ips = 2 };
		expect_einval(nft_nic_set(S, &nic, &err), &err, "mac", before);
	}
	static const char *bad_ips[] = { "10.42.0.2", "10.42.0.3 } accept", "0.0.0.0", "::", "224.0.0.1",
					 "ff02::1", "127.0.0.1", "10.0.0.0/8" };
	for (size_t i = 1; i < ARRAY_SIZE(bad_ips); i++) {
		const char *two[] = { bad_ips[0], bad_ips[i] };
		struct nft_nic nic = { .ifname = "veth0", .mac = "02:00:00:00:00:01", .ips = two, .n_ips = 2 };
		expect_einval(nft_nic_set(S, &nic, &err), &err, "ips[1]", before);
	}
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_nft: needs root (nftables in a network namespace of its own): skipped\n");
		return 77;
	}
	/* nftables rulesets belong to a network namespace: this one is ours */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test_nft: unshare(CLONE_NEWNET): %s: skipped\n", strerror(errno));
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_table_ensure, setup),
		cmocka_unit_test_setup(test_network, setup),
		cmocka_unit_test_setup(test_portfwd, setup),
		cmocka_unit_test_setup(test_nic, setup),
		cmocka_unit_test_setup(test_counters_traffic, setup),
		cmocka_unit_test_setup(test_spoofing_frames, setup),
		cmocka_unit_test_setup(test_atomic_failure, setup),
		cmocka_unit_test_setup(test_foreign_tables, setup),
		cmocka_unit_test_setup(test_bad_inputs, setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
