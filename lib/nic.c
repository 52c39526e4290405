/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Instance NICs: IPAM, plugging veths into guests, their packet filter and
 * counters.  See lib/nic.h for the split between the monitor's half and
 * cellad's half.
 *
 * A NIC's identity is its row in `nics`: the row id names the host-side
 * veth ("cv<id>" in hex) and IFB ("ci<id>"), so names are short (IFNAMSIZ),
 * unique on the host and stable for the device's whole life, which lets
 * the nftables rules (keyed by interface name) outlive the guest's reboots.
 *
 * Addresses: a bridged NIC gets a static address when its device names one
 * (checked: in the subnet, not the network, broadcast or gateway address,
 * not another NIC's), else the lowest free one of the network's
 * ipv4.dhcp.ranges (default: the whole subnet); its IPv6 address is the
 * EUI-64 one of its MAC in the network's /64, which is also what a SLAAC
 * client in the guest would pick.  UNIQUE constraints back the checks up,
 * and allocation runs in a write transaction: two NICs never share one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include <cella/manager.h>

#include "host.h"
#include "netlink.h"
#include "network.h"
#include "nft.h"
#include "nic.h"

#define MAX_ROUTED_ADDRS 16

/* ---- device keys ---- */

static const char *const nic_keys[] = {
	"type", "network", "nictype", "name", "hwaddr", "mtu", "ipv4.address", "ipv6.address", "parent",
	"limits.ingress", "limits.egress", "security.port_isolation", "security.mac_filtering",
	"security.ipv4_filtering", "security.ipv6_filtering",
};

/* security.* switches: "true" or "false" */
static const char *const nic_bools[] = {
	"security.port_isolation", "security.mac_filtering", "security.ipv4_filtering", "security.ipv6_filtering",
};

static const char *dev_str(const json_t *d, const char *key)
{
	const char *s = json_string_value(json_object_get(d, key));
	return s && *s ? s : NULL;
}

static bool dev_is(const json_t *d, const char *key, const char *value)
{
	const char *s = dev_str(d, key);
	return s && !strcmp(s, value);
}

int nic_rate_parse(const char *s, uint64_t *out)
{
	static const struct { const char *unit; uint64_t mult; } units[] = {
		{ "bit", 1 }, { "kbit", 1000ULL }, { "Mbit", 1000000ULL }, { "Gbit", 1000000000ULL },
		{ "", 1 },
	};
	char *end;
	errno = 0;
	if (!s || *s < '0' || *s > '9')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].unit))
			continue;
		if (v == 0 || v > 100000000000ULL / units[i].mult)
			return -1;
		*out = v * units[i].mult;
		return 0;
	}
	return -1;
}


/* A comma-separated list of addresses of `family` (at most `max`). */
static int addr_list_check(const char *dev, const char *key, const char *s, int family, size_t max,
			   struct cella_error *err)
{
	cleanup_free char *copy = xstrdup(s);
	char *save = NULL;
	size_t n = 0;
	for (char *a = strtok_r(copy, ",", &save); a; a = strtok_r(NULL, ",", &save), n++) {
		struct nl_ip ip;
		struct cella_error ignored;
		if (n == max)
			return cella_error_set(err, EINVAL, "device `%s`: %s: more than %zu addresses", dev, key, max);
		if (nl_ip_parse(a, &ip, &ignored) < 0 || ip.family != family)
			return cella_error_set(err, EINVAL, "device `%s`: %s: `%s` is not an %s address", dev, key, a,
					       family == AF_INET ? "IPv4" : "IPv6");
		static const uint8_t zero[16], lo6[16] = { [15] = 1 };
		bool bad = family == AF_INET ? (!memcmp(ip.bytes, zero, 4) || ip.bytes[0] == 127 || ip.bytes[0] >= 224)
					     : (!memcmp(ip.bytes, zero, 16) || !memcmp(ip.bytes, lo6, 16) || ip.bytes[0] == 0xff);
		if (bad)
			return cella_error_set(err, EINVAL, "device `%s`: %s: %s is not a unicast address", dev, key, a);
	}
	if (n == 0)
		return cella_error_set(err, EINVAL, "device `%s`: %s: empty", dev, key);
	return 0;
}

int nic_device_check(const char *dev, const json_t *d, struct cella_error *err)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)d, k, v) {
		size_t i;
		for (i = 0; i < ARRAY_SIZE(nic_keys) && strcmp(k, nic_keys[i]); i++)
			;
		if (i == ARRAY_SIZE(nic_keys))
			return cella_error_set(err, EINVAL, "device `%s`: unknown nic key `%s`", dev, k);
	}
	const char *type = dev_str(d, "nictype"), *net = dev_str(d, "network"), *s;
	bool routed = type && !strcmp(type, "routed");
	if (type && !routed && strcmp(type, "bridged"))
		return cella_error_set(err, EINVAL, "device `%s`: nictype `%s`: bridged or routed", dev, type);
	if (routed && net)
		return cella_error_set(err, EINVAL, "device `%s`: a routed NIC has no network", dev);
	if (!routed && !net)
		return cella_error_set(err, EINVAL, "device `%s`: needs network=NAME (or nictype=routed)", dev);
	if (net && !network_name_valid(net))
		return cella_error_set(err, EINVAL, "device `%s`: network `%s`: not a network name", dev, net);
	if (routed && !dev_str(d, "ipv4.address") && !dev_str(d, "ipv6.address"))
		return cella_error_set(err, EINVAL, "device `%s`: a routed NIC needs ipv4.address or ipv6.address", dev);
	const char *name = dev_str(d, "name") ? dev_str(d, "name") : dev;
	if (!ifname_is_valid(name) || !strcmp(name, "lo"))
		return cella_error_set(err, EINVAL, "device `%s`: `%s` cannot name an interface (1 to 15 characters, no '/', ':' or space)",
				       dev, name);
	uint8_t mac[6];
	if ((s = dev_str(d, "hwaddr")) && nic_mac_parse(s, mac) < 0)
		return cella_error_set(err, EINVAL, "device `%s`: hwaddr `%s`: not a unicast MAC address", dev, s);
	if ((s = dev_str(d, "mtu"))) {
		char *end;
		long m = strtol(s, &end, 10);
		if (*end || m < 1280 || m > 65535)
			return cella_error_set(err, EINVAL, "device `%s`: mtu `%s`: 1280 to 65535", dev, s);
	}
	for (int fam = 0; fam < 2; fam++) {
		const char *key = fam ? "ipv6.address" : "ipv4.address";
		if ((s = dev_str(d, key)) &&
		    addr_list_check(dev, key, s, fam ? AF_INET6 : AF_INET, routed ? MAX_ROUTED_ADDRS : 1, err) < 0)
			return -1;
	}
	if ((s = dev_str(d, "parent")) && (!routed || !ifname_is_valid(s)))
		return cella_error_set(err, EINVAL, "device `%s`: parent `%s`: %s", dev, s,
				       routed ? "not an interface name" : "only for routed NICs");
	for (int dir = 0; dir < 2; dir++) {
		const char *key = dir ? "limits.egress" : "limits.ingress";
		uint64_t rate;
		if ((s = dev_str(d, key)) && nic_rate_parse(s, &rate) < 0)
			return cella_error_set(err, EINVAL, "device `%s`: %s `%s`: a rate such as 10Mbit (1bit to 100Gbit)",
					       dev, key, s);
	}
	for (size_t i = 0; i < ARRAY_SIZE(nic_bools); i++)
		if ((s = dev_str(d, nic_bools[i])) && strcmp(s, "true") && strcmp(s, "false"))
			return cella_error_set(err, EINVAL, "device `%s`: %s `%s`: true or false", dev, nic_bools[i], s);
	return 0;
}

/* ---- IPAM ---- */

struct nic_row {
	long long id;
	char device[65];
	char network[16];
	char mac[18];
	char ipv4[INET6_ADDRSTRLEN * MAX_ROUTED_ADDRS];
	char ipv6[INET6_ADDRSTRLEN * MAX_ROUTED_ADDRS];
	bool seen;
};

static void copy_col(char *dst, size_t len, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

static int rows_load(struct cella_host *h, long long inst_id, struct nic_row **out, size_t *n, struct cella_error *err)
{
	*out = NULL;
	*n = 0;
	cleanup_stmt sqlite3_stmt *st = db_prepare(
		host_db(h), "SELECT id, device, network, mac, ipv4, ipv6 FROM nics WHERE instance_id = ? ORDER BY device", err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, inst_id);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*out = realloc(*out, (*n + 1) * sizeof(**out));
		struct nic_row *r = &(*out)[(*n)++];
		memset(r, 0, sizeof(*r));
		r->id = sqlite3_column_int64(st, 0);
		copy_col(r->device, sizeof(r->device), st, 1);
		copy_col(r->network, sizeof(r->network), st, 2);
		copy_col(r->mac, sizeof(r->mac), st, 3);
		copy_col(r->ipv4, sizeof(r->ipv4), st, 4);
		copy_col(r->ipv6, sizeof(r->ipv6), st, 5);
	}
	if (rc != SQLITE_DONE) {
		free(*out);
		*out = NULL;
		return db_error(host_db(h), err, "read the NICs");
	}
	return 0;
}

/* The NIC other than (inst_id, dev) using `col` = `value` on `network`, as "`inst` (dev)"; NULL if none. */
static char *taken_by(struct cella_host *h, const char *col, const char *network, const char *value, long long inst_id,
		      const char *dev)
{
	cleanup_free char *sql = xasprintf(
		"SELECT i.name, n.device FROM nics n JOIN instances i ON i.id = n.instance_id "
		"WHERE n.%s = ? AND (? IS NULL OR n.network = ?) AND NOT (n.instance_id = ? AND n.device = ?)", col);
	struct cella_error ignored;
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), sql, &ignored);
	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, network, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, network, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, inst_id);
	sqlite3_bind_text(st, 5, dev, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		return NULL;
	return xasprintf("`%s` (%s)", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
}

static uint32_t ip4_u32(const struct nl_ip *ip)
{
	return (uint32_t)ip->bytes[0] << 24 | (uint32_t)ip->bytes[1] << 16 | (uint32_t)ip->bytes[2] << 8 | ip->bytes[3];
}

static void u32_ip4(uint32_t v, char *buf, size_t len)
{
	struct in_addr a = { .s_addr = htonl(v) };
	inet_ntop(AF_INET, &a, buf, (socklen_t)len);
}

static bool in_subnet(const struct nl_prefix *net, const struct nl_ip *ip)
{
	struct nl_prefix a = *net, b = { .ip = *ip, .len = net->len };
	if (ip->family != net->ip.family)
		return false;
	prefix_mask(&a);
	prefix_mask(&b);
	return !memcmp(a.ip.bytes, b.ip.bytes, 16);
}

/* A static address for a bridged NIC: usable in `net` (gateway `gw`). */
static int static_check(const char *dev, const char *key, const char *s, const struct nl_prefix *gw, struct nl_ip *ip,
			struct cella_error *err)
{
	char sub[INET6_ADDRSTRLEN + 8];
	struct nl_prefix net = *gw;
	prefix_mask(&net);
	nl_prefix_format(&net, sub, sizeof(sub));
	if (nl_ip_parse(s, ip, err) < 0)
		return cella_error_wrap(err, "device `%s`: %s", dev, key);
	if (!in_subnet(gw, ip))
		return cella_error_set(err, EINVAL, "device `%s`: %s %s is outside the network's subnet %s", dev, key, s,
				       sub);
	struct nl_prefix host = { .ip = *ip, .len = gw->len };
	if (!memcmp(ip->bytes, gw->ip.bytes, 16))
		return cella_error_set(err, EINVAL, "device `%s`: %s %s is the network's gateway", dev, key, s);
	if (ip->family == AF_INET && (host_bits_all(&host, false) || host_bits_all(&host, true)))
		return cella_error_set(err, EINVAL, "device `%s`: %s %s is the network or broadcast address of %s", dev,
				       key, s, sub);
	if (ip->family == AF_INET6 && host_bits_all(&host, false))
		return cella_error_set(err, EINVAL, "device `%s`: %s %s is the subnet-router anycast address of %s", dev,
				       key, s, sub);
	return 0;
}

/* The lowest free IPv4 address of the network's ranges. */
static int alloc4(struct cella_host *h, const char *network, const struct network_info *ni, char *out, size_t len,
		  struct cella_error *err)
{
	uint32_t mask = ni->addr4.len ? ~0u << (32 - ni->addr4.len) : 0;
	uint32_t net = ip4_u32(&ni->addr4.ip) & mask, gw = ip4_u32(&ni->addr4.ip);
	uint32_t lo[32], hi[32];
	size_t nr = 0;
	if (ni->ranges4[0]) {
		cleanup_free char *copy = xstrdup(ni->ranges4);
		char *save = NULL;
		for (char *r = strtok_r(copy, ",", &save); r && nr < ARRAY_SIZE(lo); r = strtok_r(NULL, ",", &save)) {
			char *dash = strchr(r, '-');
			struct nl_ip a, b;
			struct cella_error ignored;
			if (!dash)
				continue;
			*dash = 0;
			if (nl_ip_parse(r, &a, &ignored) == 0 && nl_ip_parse(dash + 1, &b, &ignored) == 0) {
				lo[nr] = ip4_u32(&a);
				hi[nr++] = ip4_u32(&b);
			}
		}
	} else {
		lo[0] = net + 1;
		hi[nr++] = (net | ~mask) - 1;
	}
	/* what is taken, as a bitmap over the subnet (at most a /16 is scanned) */
	uint32_t size = ~mask + 1u;
	if (size == 0 || size > 65536)
		size = 65536;
	cleanup_free uint8_t *used = calloc(size / 8 + 1, 1);
	/* this network's NICs, and routed NICs (whose lists may hold an address of the subnet) */
	cleanup_stmt sqlite3_stmt *st = db_prepare(
		host_db(h), "SELECT ipv4 FROM nics WHERE (network = ? OR network IS NULL) AND ipv4 IS NOT NULL", err);
	if (!used || !st)
		return -1;
	sqlite3_bind_text(st, 1, network, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		cleanup_free char *list = xstrdup((const char *)sqlite3_column_text(st, 0));
		char *save = NULL;
		for (char *a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
			struct nl_ip ip;
			struct cella_error ignored;
			if (nl_ip_parse(a, &ip, &ignored) == 0 && ip.family == AF_INET) {
				uint32_t off = ip4_u32(&ip) - net;
				if (off < size)
					used[off / 8] |= (uint8_t)(1u << (off % 8));
			}
		}
	}
	for (size_t i = 0; i < nr; i++) {
		for (uint32_t a = lo[i]; a <= hi[i] && a >= lo[i]; a++) {
			uint32_t off = a - net;
			if (off >= size || a == gw || (used[off / 8] & (1u << (off % 8))))
				continue;
			u32_ip4(a, out, len);
			return 0;
		}
	}
	return cella_error_set(err, ENOSPC, "network `%s`: no free IPv4 address left", network);
}

/* The EUI-64 address of `mac` in the network's IPv6 prefix. */
static void eui64(const struct nl_prefix *gw, const uint8_t mac[6], char *out, size_t len)
{
	struct nl_prefix p = *gw;
	p.len = 64;
	prefix_mask(&p);
	uint8_t *b = p.ip.bytes;
	b[8] = mac[0] ^ 0x02;
	b[9] = mac[1];
	b[10] = mac[2];
	b[11] = 0xff;
	b[12] = 0xfe;
	b[13] = mac[3];
	b[14] = mac[4];
	b[15] = mac[5];
	inet_ntop(AF_INET6, b, out, (socklen_t)len);
}

static void mac_random(char *out)
{
	uint8_t b[6];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		for (int i = 0; i < 6; i++)
			b[i] = (uint8_t)(ts.tv_nsec >> (i * 5));
	}
	/* locally administered, unicast: 02:xx:xx:xx:xx:xx */
	b[0] = 0x02;
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
}

static json_t *addr_array(const char *list, const char *suffix)
{
	json_t *a = json_array();
	if (!list || !*list)
		return a;
	cleanup_free char *copy = xstrdup(list);
	char *save = NULL;
	for (char *s = strtok_r(copy, ",", &save); s; s = strtok_r(NULL, ",", &save))
		json_array_append_new(a, json_sprintf("%s%s", s, suffix));
	return a;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * A bridged NIC's address of family `fam` (0: IPv4, 1: IPv6) into `out`
 * ("" when the network has no such subnet): the device's static one, the
 * one it had on the same network, or a new one; never another NIC's.
 */
static int addr_pick(struct cella_host *h, int fam, long long inst_id, const char *dev, const json_t *d,
		     const char *net, const struct network_info *ni, const struct nic_row *old, const uint8_t mac[6],
		     char *out, size_t len, struct cella_error *err)
{
	const char *key = fam ? "ipv6.address" : "ipv4.address", *s = dev_str(d, key);
	const struct nl_prefix *gw = fam ? &ni->addr6 : &ni->addr4;
	const char *kept = old && !strcmp(old->network, net) ? (fam ? old->ipv6 : old->ipv4) : "";
	struct nl_ip ip;
	struct cella_error ignored;
	out[0] = '\0';
	if (!(fam ? ni->has6 : ni->has4)) {
		if (s)
			return cella_error_set(err, EINVAL, "device `%s`: network `%s` has no IPv%d subnet", dev, net,
					       fam ? 6 : 4);
		return 0;
	}
	if (s) {
		if (static_check(dev, key, s, gw, &ip, err) < 0)
			return -1;
		inet_ntop(ip.family, ip.bytes, out, (socklen_t)len);
	} else if (fam) {
		/* EUI-64: what SLAAC in the guest would pick too */
		if (gw->len <= 64)
			eui64(gw, mac, out, len);
	} else if (kept[0] && nl_ip_parse(kept, &ip, &ignored) == 0 && in_subnet(gw, &ip) &&
		   memcmp(ip.bytes, gw->ip.bytes, 4)) {
		snprintf(out, len, "%s", kept);
	} else if (alloc4(h, net, ni, out, len, err) < 0) {
		return -1;
	}
	cleanup_free char *who = out[0] ? taken_by(h, fam ? "ipv6" : "ipv4", net, out, inst_id, dev) : NULL;
	if (who)
		return cella_error_set(err, EEXIST, "device `%s`: %s %s is already used by %s", dev, key, out, who);
	return 0;
}

static void addr_list_normalise(const char *in, char *out, size_t len)
{
	size_t used = 0;
	out[0] = '\0';
	if (!in)
		return;
	cleanup_free char *copy = xstrdup(in);
	char *save = NULL;
	for (char *a = strtok_r(copy, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
		struct nl_ip ip;
		struct cella_error ignored;
		char text[INET6_ADDRSTRLEN];
		if (nl_ip_parse(a, &ip, &ignored) < 0)
			continue;
		inet_ntop(ip.family, ip.bytes, text, sizeof(text));
		if (used < len)
			used += (size_t)snprintf(out + used, len - used, "%s%s", used ? "," : "", text);
	}
}

static bool list_has(const char *list, const char *addr)
{
	size_t n = strlen(addr);
	for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, addr, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

/* A routed NIC's addresses: none of them another NIC's (routed or bridged). */
static int routed_taken(struct cella_host *h, long long inst_id, const char *dev, const char *v4, const char *v6,
			struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st = db_prepare(
		host_db(h),
		"SELECT i.name, n.device, n.ipv4, n.ipv6 FROM nics n JOIN instances i ON i.id = n.instance_id "
		"WHERE NOT (n.instance_id = ? AND n.device = ?)",
		err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, inst_id);
	sqlite3_bind_text(st, 2, dev, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int fam = 0; fam < 2; fam++) {
			const char *theirs = (const char *)sqlite3_column_text(st, 2 + fam);
			cleanup_free char *mine = xstrdup(fam ? v6 : v4);
			char *save = NULL;
			for (char *a = strtok_r(mine, ",", &save); a && theirs; a = strtok_r(NULL, ",", &save))
				if (list_has(theirs, a))
					return cella_error_set(err, EEXIST, "device `%s`: %s %s is already used by `%s` (%s)",
							       dev, fam ? "ipv6.address" : "ipv4.address", a,
							       sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
		}
	}
	return 0;
}

/* One device: its row brought up to date (or made), and its resolved form. */
static json_t *nic_resolve(struct cella_host *h, long long inst_id, const char *dev, const json_t *d,
			   struct nic_row *old, struct cella_error *err)
{
	const char *type = dev_str(d, "nictype"), *net = dev_str(d, "network"), *s;
	bool routed = type && !strcmp(type, "routed");
	struct nic_row row = { .id = old ? old->id : 0 };
	snprintf(row.device, sizeof(row.device), "%s", dev);
	if (!routed)
		snprintf(row.network, sizeof(row.network), "%s", net);

	/* the MAC: asked for, kept, or new */
	uint8_t mac[6];
	if ((s = dev_str(d, "hwaddr"))) {
		nic_mac_parse(s, mac);
		snprintf(row.mac, sizeof(row.mac), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
			 mac[4], mac[5]);
		cleanup_free char *who = taken_by(h, "mac", NULL, row.mac, inst_id, dev);
		if (who) {
			cella_error_set(err, EEXIST, "device `%s`: hwaddr %s is already used by %s", dev, row.mac, who);
			return NULL;
		}
	} else if (old && old->mac[0]) {
		snprintf(row.mac, sizeof(row.mac), "%s", old->mac);
	} else {
		for (int tries = 0; tries < 8; tries++) {
			mac_random(row.mac);
			cleanup_free char *who = taken_by(h, "mac", NULL, row.mac, inst_id, dev);
			if (!who)
				break;
		}
	}
	nic_mac_parse(row.mac, mac);

	char gw4[INET6_ADDRSTRLEN] = "", gw6[INET6_ADDRSTRLEN] = "", domain[254] = "";
	unsigned len4 = 32, len6 = 128;
	if (routed) {
		/* stored as inet_ntop() prints them: one spelling per address */
		addr_list_normalise(dev_str(d, "ipv4.address"), row.ipv4, sizeof(row.ipv4));
		addr_list_normalise(dev_str(d, "ipv6.address"), row.ipv6, sizeof(row.ipv6));
		if (routed_taken(h, inst_id, dev, row.ipv4, row.ipv6, err) < 0)
			return NULL;
		if (row.ipv4[0])
			snprintf(gw4, sizeof(gw4), ROUTED_GW4);
		if (row.ipv6[0])
			snprintf(gw6, sizeof(gw6), ROUTED_GW6);
	} else {
		struct network_info ni;
		if (network_info(h, net, &ni, err) < 0) {
			cella_error_wrap(err, "device `%s`", dev);
			return NULL;
		}
		snprintf(domain, sizeof(domain), "%s", ni.domain);
		for (int fam = 0; fam < 2; fam++) {
			char *addr = fam ? row.ipv6 : row.ipv4;
			size_t alen = fam ? sizeof(row.ipv6) : sizeof(row.ipv4);
			if (addr_pick(h, fam, inst_id, dev, d, net, &ni, old, mac, addr, alen, err) < 0)
				return NULL;
		}
		/* nor a routed NIC's */
		if (routed_taken(h, inst_id, dev, row.ipv4, row.ipv6, err) < 0)
			return NULL;
		if (ni.has4) {
			len4 = ni.addr4.len;
			inet_ntop(AF_INET, ni.addr4.ip.bytes, gw4, sizeof(gw4));
		}
		if (ni.has6) {
			len6 = ni.addr6.len;
			inet_ntop(AF_INET6, ni.addr6.ip.bytes, gw6, sizeof(gw6));
		}
	}

	/* the row */
	cleanup_stmt sqlite3_stmt *st = db_prepare(
		host_db(h),
		old ? "UPDATE nics SET network = ?, mac = ?, ipv4 = ?, ipv6 = ? WHERE id = ?"
		    : "INSERT INTO nics (network, mac, ipv4, ipv6, instance_id, device) VALUES (?, ?, ?, ?, ?, ?)",
		err);
	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, routed ? NULL : row.network, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, row.mac, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, row.ipv4[0] ? row.ipv4 : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, row.ipv6[0] ? row.ipv6 : NULL, -1, SQLITE_STATIC);
	if (old) {
		sqlite3_bind_int64(st, 5, old->id);
	} else {
		sqlite3_bind_int64(st, 5, inst_id);
		sqlite3_bind_text(st, 6, dev, -1, SQLITE_STATIC);
	}
	if (sqlite3_step(st) != SQLITE_DONE) {
		db_error(host_db(h), err, "save the NIC");
		return cella_error_wrap(err, "device `%s`", dev), NULL;
	}
	if (!old)
		row.id = sqlite3_last_insert_rowid(host_db(h));

	char sfx4[8], sfx6[8];
	snprintf(sfx4, sizeof(sfx4), "/%u", len4);
	snprintf(sfx6, sizeof(sfx6), "/%u", len6);
	uint64_t in = 0, out = 0;
	if ((s = dev_str(d, "limits.ingress")))
		nic_rate_parse(s, &in);
	if ((s = dev_str(d, "limits.egress")))
		nic_rate_parse(s, &out);
	const char *mtu = dev_str(d, "mtu");
	json_t *nic = json_pack("{s:I, s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:s, s:s, s:s, s:I, s:I, s:b, s:s, s:b, s:b, s:b}",
				"id", (json_int_t)row.id, "device", dev, "name",
				dev_str(d, "name") ? dev_str(d, "name") : dev, "host", json_sprintf("cv%llx", row.id),
				"ifb", json_sprintf("ci%llx", row.id), "type", routed ? "routed" : "bridged", "bridge",
				routed ? "" : row.network, "mac", row.mac, "parent",
				dev_str(d, "parent") ? dev_str(d, "parent") : "", "mtu", mtu ? atoi(mtu) : 0, "ipv4",
				addr_array(row.ipv4, sfx4), "ipv6", addr_array(row.ipv6, sfx6), "gateway4", gw4,
				"gateway6", gw6, "domain", domain, "ingress", (json_int_t)in, "egress", (json_int_t)out,
				"isolated", dev_is(d, "security.port_isolation", "true"), "network",
				routed ? "" : row.network, "any_mac", dev_is(d, "security.mac_filtering", "false"),
				"any_ipv4", dev_is(d, "security.ipv4_filtering", "false"), "any_ipv6",
				dev_is(d, "security.ipv6_filtering", "false"));
	if (old)
		old->seen = true;
	return nic;
}

int nics_check(struct cella_host *h, const json_t *devices, struct cella_error *err)
{
	const char *k;
	json_t *d;
	json_object_foreach((json_t *)devices, k, d) {
		const char *type = json_string_value(json_object_get(d, "type"));
		if (!type || strcmp(type, "nic"))
			continue;
		if (nic_device_check(k, d, err) < 0)
			return -1;
		const char *net = dev_str(d, "network");
		if (!net)
			continue;
		struct network_info ni;
		if (network_info(h, net, &ni, err) < 0)
			return cella_error_wrap(err, "device `%s`", k);
		for (int fam = 0; fam < 2; fam++) {
			const char *key = fam ? "ipv6.address" : "ipv4.address", *s = dev_str(d, key);
			struct nl_ip ip;
			char text[INET6_ADDRSTRLEN];
			if (!s)
				continue;
			if (!(fam ? ni.has6 : ni.has4))
				return cella_error_set(err, EINVAL, "device `%s`: network `%s` has no IPv%d subnet", k, net,
						       fam ? 6 : 4);
			if (static_check(k, key, s, fam ? &ni.addr6 : &ni.addr4, &ip, err) < 0)
				return -1;
			inet_ntop(ip.family, ip.bytes, text, sizeof(text));
			cleanup_free char *who = taken_by(h, fam ? "ipv6" : "ipv4", net, text, -1, "");
			if (who)
				return cella_error_set(err, EEXIST, "device `%s`: %s %s is already used by %s", k, key, text,
						       who);
			if (routed_taken(h, -1, k, fam ? "" : text, fam ? text : "", err) < 0)
				return -1;
		}
	}
	return 0;
}

json_t *nics_sync(struct cella_host *h, long long inst_id, const char *inst_name, const json_t *devices, bool in_txn,
		  struct cella_error *err)
{
	(void)inst_name;
	const char *names[64];
	size_t n = 0;
	const char *k;
	json_t *d;
	json_object_foreach((json_t *)devices, k, d) {
		const char *type = json_string_value(json_object_get(d, "type"));
		if (!type || strcmp(type, "nic"))
			continue;
		if (n == ARRAY_SIZE(names)) {
			cella_error_set(err, EINVAL, "more than %zu NICs", ARRAY_SIZE(names));
			return NULL;
		}
		if (nic_device_check(k, d, err) < 0)
			return NULL;
		const char *gname = dev_str(d, "name") ? dev_str(d, "name") : k;
		for (size_t j = 0; j < n; j++) {
			const json_t *o = json_object_get(devices, names[j]);
			if (!strcmp(gname, dev_str(o, "name") ? dev_str(o, "name") : names[j])) {
				cella_error_set(err, EEXIST, "devices `%s` and `%s` both name the guest's interface `%s`",
						names[j], k, gname);
				return NULL;
			}
		}
		names[n++] = k;
	}
	qsort(names, n, sizeof(names[0]), str_cmp);

	/* no NIC and none before: nothing to write (no write transaction on
	 * the start of every NIC-less instance) */
	if (n == 0) {
		cleanup_stmt sqlite3_stmt *any = db_prepare(host_db(h), "SELECT 1 FROM nics WHERE instance_id = ? LIMIT 1", err);
		if (!any)
			return NULL;
		sqlite3_bind_int64(any, 1, inst_id);
		if (sqlite3_step(any) != SQLITE_ROW)
			return json_array();
	}
	if (!in_txn && db_begin(host_db(h), err) < 0)
		return NULL;
	struct nic_row *rows = NULL;
	size_t nrows = 0;
	json_t *out = json_array();
	if (rows_load(h, inst_id, &rows, &nrows, err) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct nic_row *old = NULL;
		for (size_t j = 0; j < nrows && !old; j++)
			if (!strcmp(rows[j].device, names[i]))
				old = &rows[j];
		json_t *nic = nic_resolve(h, inst_id, names[i], json_object_get(devices, names[i]), old, err);
		if (!nic)
			goto fail;
		json_array_append_new(out, nic);
	}
	for (size_t j = 0; j < nrows; j++) {
		if (rows[j].seen)
			continue;
		if (db_run1(host_db(h), "DELETE FROM nics WHERE id = ?", NULL, rows[j].id, "remove a NIC", err) < 0)
			goto fail;
	}
	if (!in_txn && db_commit(host_db(h), err) < 0)
		goto fail;
	free(rows);
	return out;
fail:
	if (!in_txn)
		db_rollback(host_db(h));
	free(rows);
	json_decref(out);
	return NULL;
}

static const char *nic_str(const json_t *nic, const char *key)
{
	const char *s = json_string_value(json_object_get(nic, key));
	return s ? s : "";
}

/* ---- filter and counters (cellad) ---- */

/* Counters of `host` added to row `id`, and its rules removed. */
static void counters_fold(struct cella_host *h, struct nft_session *s, long long id, const char *host)
{
	struct nft_counters c;
	struct cella_error ignored;
	if (nft_nic_counters(s, host, &c, &ignored) == 0) {
		cleanup_stmt sqlite3_stmt *st = db_prepare(
			host_db(h),
			"UPDATE nics SET rx_bytes = rx_bytes + ?, rx_packets = rx_packets + ?, tx_bytes = tx_bytes + ?, "
			"tx_packets = tx_packets + ?, tx_dropped_bytes = tx_dropped_bytes + ?, "
			"tx_dropped_packets = tx_dropped_packets + ? WHERE id = ?",
			&ignored);
		if (st) {
			sqlite3_bind_int64(st, 1, (sqlite3_int64)c.rx_bytes);
			sqlite3_bind_int64(st, 2, (sqlite3_int64)c.rx_packets);
			sqlite3_bind_int64(st, 3, (sqlite3_int64)c.tx_bytes);
			sqlite3_bind_int64(st, 4, (sqlite3_int64)c.tx_packets);
			sqlite3_bind_int64(st, 5, (sqlite3_int64)c.tx_dropped_bytes);
			sqlite3_bind_int64(st, 6, (sqlite3_int64)c.tx_dropped_packets);
			sqlite3_bind_int64(st, 7, id);
			sqlite3_step(st);
		}
	}
	nft_nic_remove(s, host, &ignored);
}

int nics_filter_set(struct cella_host *h, const json_t *nics, struct cella_error *err)
{
	if (networks_disabled() || json_array_size(nics) == 0)
		return 0;
	cleanup_close int lock = network_lock(h, err);
	if (lock < 0)
		return -1;
	struct nft_session *s = nft_shared(err);
	if (!s)
		return -1;
	int r = nft_table_ensure(s, err);
	size_t i;
	json_t *nic;
	json_array_foreach(nics, i, nic) {
		if (r < 0)
			break;
		const char *host = nic_str(nic, "host");
		counters_fold(h, s, json_integer_value(json_object_get(nic, "id")), host);
		const char *ips[2 * MAX_ROUTED_ADDRS];
		char bufs[2 * MAX_ROUTED_ADDRS][INET6_ADDRSTRLEN + 8];
		size_t n = 0, k;
		json_t *a;
		for (int fam = 0; fam < 2; fam++) {
			json_array_foreach(json_object_get(nic, fam ? "ipv6" : "ipv4"), k, a) {
				if (n == ARRAY_SIZE(ips))
					break;
				snprintf(bufs[n], sizeof(bufs[n]), "%s", json_string_value(a));
				bufs[n][strcspn(bufs[n], "/")] = '\0';
				ips[n] = bufs[n];
				n++;
			}
		}
		struct nft_nic nn = {
			.ifname = host, .mac = nic_str(nic, "mac"), .ips = ips, .n_ips = n,
			.isolated = json_is_true(json_object_get(nic, "isolated")),
			.any_mac = json_is_true(json_object_get(nic, "any_mac")),
			.any_ipv4 = json_is_true(json_object_get(nic, "any_ipv4")),
			.any_ipv6 = json_is_true(json_object_get(nic, "any_ipv6")),
		};
		r = nft_nic_set(s, &nn, err);
	}
	nft_close(s);
	return r;
}

void nic_filter_drop(struct cella_host *h, const json_t *nic)
{
	if (networks_disabled())
		return;
	struct cella_error ignored;
	cleanup_close int lock = network_lock(h, &ignored);
	struct nft_session *s = lock >= 0 ? nft_shared(&ignored) : NULL;
	if (!s)
		return;
	counters_fold(h, s, json_integer_value(json_object_get(nic, "id")), nic_str(nic, "host"));
	nft_close(s);
}

void nics_release(struct cella_host *h, long long inst_id, const char *device)
{
	if (networks_disabled())
		return;
	struct cella_error ignored;
	cleanup_close int lock = network_lock(h, &ignored);
	if (lock < 0)
		return;
	struct nic_row *rows = NULL;
	size_t n = 0;
	if (rows_load(h, inst_id, &rows, &n, &ignored) < 0 || n == 0) {
		free(rows);
		return;
	}
	struct nft_session *s = nft_shared(&ignored);
	for (size_t i = 0; s && i < n; i++) {
		if (device && strcmp(device, rows[i].device))
			continue;
		char host[IFNAMSIZ];
		snprintf(host, sizeof(host), "cv%llx", rows[i].id);
		counters_fold(h, s, rows[i].id, host);
	}
	if (s)
		nft_close(s);
	free(rows);
}

json_t *nics_state(struct cella_host *h, long long inst_id)
{
	json_t *out = json_object();
	struct cella_error ignored;
	cleanup_stmt sqlite3_stmt *st = db_prepare(
		host_db(h),
		"SELECT id, device, network, mac, ipv4, ipv6, rx_bytes, rx_packets, tx_bytes, tx_packets, "
		"tx_dropped_bytes, tx_dropped_packets FROM nics WHERE instance_id = ? ORDER BY device",
		&ignored);
	if (!st)
		return out;
	sqlite3_bind_int64(st, 1, inst_id);
	struct nft_session *s = NULL;
	cleanup_nl struct nl *nl = networks_disabled() ? NULL : nl_open(&ignored);
	/* the shared nftables session is the lock holder's */
	cleanup_close int lock = nl ? network_lock(h, &ignored) : -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		long long id = sqlite3_column_int64(st, 0);
		const char *dev = (const char *)sqlite3_column_text(st, 1);
		const char *net = (const char *)sqlite3_column_text(st, 2);
		char host[IFNAMSIZ];
		snprintf(host, sizeof(host), "cv%llx", id);
		struct nft_counters c = { 0 };
		int hidx = nl ? nl_link_index(nl, host, &ignored) : -1;
		struct nl_link link = { 0 };
		if (hidx > 0 && nl_link_get(nl, hidx, &link, &ignored) < 0)
			hidx = -1;
		if (hidx > 0 && !s && lock >= 0)
			s = nft_shared(&ignored);
		if (hidx > 0 && s && nft_nic_counters(s, host, &c, &ignored) < 0)
			memset(&c, 0, sizeof(c));
		struct network_info ni = { 0 };
		bool has_net = net && network_info(h, net, &ni, &ignored) == 0;
		json_t *addrs = json_array();
		for (int fam = 0; fam < 2; fam++) {
			const char *list = (const char *)sqlite3_column_text(st, 4 + fam);
			if (!list)
				continue;
			unsigned len = fam ? (has_net ? ni.addr6.len : 128) : (has_net ? ni.addr4.len : 32);
			cleanup_free char *copy = xstrdup(list);
			char *save = NULL;
			for (char *a = strtok_r(copy, ",", &save); a; a = strtok_r(NULL, ",", &save))
				json_array_append_new(addrs, json_pack("{s:s, s:s, s:o, s:s}", "family", fam ? "inet6" : "inet",
								       "address", a, "netmask", json_sprintf("%u", len),
								       "scope", "global"));
		}
		json_t *counters = json_pack(
			"{s:I, s:I, s:I, s:I, s:I, s:I}", "bytes_received",
			(json_int_t)(sqlite3_column_int64(st, 6) + (sqlite3_int64)c.rx_bytes), "packets_received",
			(json_int_t)(sqlite3_column_int64(st, 7) + (sqlite3_int64)c.rx_packets), "bytes_sent",
			(json_int_t)(sqlite3_column_int64(st, 8) + (sqlite3_int64)c.tx_bytes), "packets_sent",
			(json_int_t)(sqlite3_column_int64(st, 9) + (sqlite3_int64)c.tx_packets), "bytes_dropped_sent",
			(json_int_t)(sqlite3_column_int64(st, 10) + (sqlite3_int64)c.tx_dropped_bytes),
			"packets_dropped_sent", (json_int_t)(sqlite3_column_int64(st, 11) + (sqlite3_int64)c.tx_dropped_packets));
		json_object_set_new(out, dev,
				    json_pack("{s:s, s:s, s:s?, s:i, s:s, s:s, s:o, s:o}", "host_name", host, "hwaddr",
					      sqlite3_column_text(st, 3), "network", net, "mtu", (int)link.mtu, "state",
					      hidx > 0 && (link.flags & IFF_UP) ? "up" : "down", "type", "broadcast",
					      "addresses", addrs, "counters", counters));
	}
	if (s)
		nft_close(s);
	return out;
}

/* ---- the guest's files ---- */

static char *guest_read(struct cella_host *h, const char *inst, const char *path)
{
	struct cella_error ignored;
	cleanup_close int fd = memfd_create("cella-file", MFD_CLOEXEC);
	if (fd < 0 || cella_instance_file_pull(h, inst, path, fd, NULL, &ignored) < 0)
		return NULL;
	off_t size = lseek(fd, 0, SEEK_END);
	if (size < 0 || size > (1 << 20))
		return NULL;
	char *buf = xmalloc0((size_t)size + 1);
	if (pread(fd, buf, (size_t)size, 0) != size) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int guest_write(struct cella_host *h, const char *inst, const char *path, const char *text,
		       struct cella_error *err)
{
	cleanup_close int fd = memfd_create("cella-file", MFD_CLOEXEC);
	if (fd < 0)
		return cella_error_set(err, errno, "memfd");
	if (write_all(fd, text, strlen(text)) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return cella_error_set(err, errno, "memfd");
	return cella_instance_file_push(h, inst, path, fd, 0, 0, 0644, err);
}

#define HOSTS_BEGIN "# --- BEGIN CELLA (rewritten at each start) ---\n"
#define HOSTS_END "# --- END CELLA ---\n"

int nics_guest_files(struct cella_host *h, const char *inst_name, const json_t *nics, struct cella_error *err)
{
	const json_t *first = NULL;
	size_t i;
	json_t *nic;
	json_array_foreach(nics, i, nic) {
		if (!strcmp(nic_str(nic, "type"), "bridged") && (*nic_str(nic, "gateway4") || *nic_str(nic, "gateway6"))) {
			first = nic;
			break;
		}
	}
	if (!first)
		return 0;
	const char *domain = nic_str(first, "domain");
	cleanup_free char *resolv = xasprintf("# written by cella at each start (network `%s`)\nsearch %s\n%s%s%s%s%s%s",
					      nic_str(first, "network"), domain,
					      *nic_str(first, "gateway4") ? "nameserver " : "", nic_str(first, "gateway4"),
					      *nic_str(first, "gateway4") ? "\n" : "",
					      *nic_str(first, "gateway6") ? "nameserver " : "", nic_str(first, "gateway6"),
					      *nic_str(first, "gateway6") ? "\n" : "");
	if (guest_write(h, inst_name, "/etc/resolv.conf", resolv, err) < 0)
		return cella_error_wrap(err, "write /etc/resolv.conf of `%s`", inst_name);

	/* /etc/hosts: the guest's own lines stay, ours are one section */
	cleanup_free char *old = guest_read(h, inst_name, "/etc/hosts");
	size_t cap = (old ? strlen(old) : 0) + 4096, len = 0;
	cleanup_free char *text = xmalloc0(cap);
	if (!old || !strstr(old, "localhost"))
		len += (size_t)snprintf(text + len, cap - len, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
	if (old) {
		const char *b = strstr(old, HOSTS_BEGIN), *e = b ? strstr(b, HOSTS_END) : NULL;
		size_t head = b ? (size_t)(b - old) : strlen(old);
		memcpy(text + len, old, head);
		len += head;
		if (e) {
			const char *rest = e + strlen(HOSTS_END);
			memcpy(text + len, rest, strlen(rest));
			len += strlen(rest);
		}
		if (len && text[len - 1] != '\n')
			text[len++] = '\n';
	}
	len += (size_t)snprintf(text + len, cap - len, HOSTS_BEGIN);
	for (int fam = 0; fam < 2; fam++) {
		json_t *a = json_array_get(json_object_get(first, fam ? "ipv6" : "ipv4"), 0);
		if (!a)
			continue;
		char ip[INET6_ADDRSTRLEN + 8];
		snprintf(ip, sizeof(ip), "%s", json_string_value(a));
		ip[strcspn(ip, "/")] = '\0';
		len += (size_t)snprintf(text + len, cap - len, "%s\t%s.%s %s\n", ip, inst_name, domain, inst_name);
	}
	snprintf(text + len, cap - len, HOSTS_END);
	if (guest_write(h, inst_name, "/etc/hosts", text, err) < 0)
		return cella_error_wrap(err, "write /etc/hosts of `%s`", inst_name);
	return 0;
}



/* ---- proxy devices: a host port NATed to the instance ---- */

/* "tcp:0.0.0.0:8080", "udp:[::]:53" / "udp:::53" into its parts */
static int endpoint_parse(const char *s, char proto[4], struct nl_ip *ip, unsigned *port)
{
	const char *c1 = s ? strchr(s, ':') : NULL, *c2 = c1 ? strrchr(c1 + 1, ':') : NULL;
	if (!c1 || !c2 || c1 - s != 3)
		return -1;
	memcpy(proto, s, 3);
	proto[3] = '\0';
	if (strcmp(proto, "tcp") && strcmp(proto, "udp"))
		return -1;
	char addr[INET6_ADDRSTRLEN + 2];
	size_t alen = (size_t)(c2 - c1 - 1);
	if (alen == 0 || alen >= sizeof(addr))
		return -1;
	memcpy(addr, c1 + 1, alen);
	addr[alen] = '\0';
	char *a = addr;
	if (*a == '[' && a[alen - 1] == ']') {
		a[alen - 1] = '\0';
		a++;
	}
	struct cella_error ignored;
	if (nl_ip_parse(a, ip, &ignored) < 0)
		return -1;
	char *end;
	long p = strtol(c2 + 1, &end, 10);
	if (*end || c2[1] < '0' || c2[1] > '9' || p < 1 || p > 65535)
		return -1;
	*port = (unsigned)p;
	return 0;
}

int proxy_device_check(const char *dev, const json_t *d, struct cella_error *err)
{
	static const char *const keys[] = { "type", "listen", "connect", "nat", "bind", "description" };
	const char *k, *s;
	json_t *v;
	json_object_foreach((json_t *)d, k, v) {
		size_t i;
		for (i = 0; i < ARRAY_SIZE(keys) && strcmp(k, keys[i]); i++)
			;
		if (i == ARRAY_SIZE(keys))
			return cella_error_set(err, EINVAL, "device `%s`: unknown proxy key `%s`", dev, k);
	}
	if ((s = dev_str(d, "nat")) && strcmp(s, "true"))
		return cella_error_set(err, EINVAL, "device `%s`: nat `%s`: cella proxies are NAT forwards (nat=true)", dev, s);
	if ((s = dev_str(d, "bind")) && strcmp(s, "host"))
		return cella_error_set(err, EINVAL, "device `%s`: bind `%s`: only host", dev, s);
	char p1[4], p2[4];
	struct nl_ip l, c;
	unsigned lp, cp;
	if (endpoint_parse(dev_str(d, "listen"), p1, &l, &lp) < 0)
		return cella_error_set(err, EINVAL, "device `%s`: listen `%s`: PROTO:ADDRESS:PORT (tcp or udp)", dev,
				       dev_str(d, "listen") ? dev_str(d, "listen") : "");
	if (endpoint_parse(dev_str(d, "connect"), p2, &c, &cp) < 0)
		return cella_error_set(err, EINVAL, "device `%s`: connect `%s`: PROTO:ADDRESS:PORT (tcp or udp)", dev,
				       dev_str(d, "connect") ? dev_str(d, "connect") : "");
	if (strcmp(p1, p2) || l.family != c.family)
		return cella_error_set(err, EINVAL, "device `%s`: listen and connect differ in protocol or address family",
				       dev);
	return 0;
}

static void proxy_name(long long inst_id, const char *dev, char *buf, size_t len)
{
	uint32_t h = 2166136261u;
	for (const char *p = dev; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(buf, len, "p%llx-%08x", inst_id, h);
}

/* The instance's address a proxy connects to: the connect address if it is one of
 * its NICs', else (0.0.0.0, 127.0.0.1, ::, ::1) its first NIC's of that family. */
static int proxy_target(const json_t *nics, const struct nl_ip *want, char *out, size_t len)
{
	size_t i, k;
	json_t *nic, *a;
	char first[INET6_ADDRSTRLEN] = "";
	json_array_foreach(nics, i, nic) {
		json_array_foreach(json_object_get(nic, want->family == AF_INET ? "ipv4" : "ipv6"), k, a) {
			struct nl_prefix p;
			struct cella_error ignored;
			if (nl_prefix_parse(json_string_value(a), &p, &ignored) < 0)
				continue;
			char text[INET6_ADDRSTRLEN];
			inet_ntop(p.ip.family, p.ip.bytes, text, sizeof(text));
			if (!first[0])
				snprintf(first, sizeof(first), "%s", text);
			if (!memcmp(p.ip.bytes, want->bytes, 16)) {
				snprintf(out, len, "%s", text);
				return 0;
			}
		}
	}
	static const uint8_t v6lo[16] = { [15] = 1 };
	bool wildcard = want->family == AF_INET
				? (!(want->bytes[0] | want->bytes[1] | want->bytes[2] | want->bytes[3]) || want->bytes[0] == 127)
				: (!memcmp(want->bytes, (uint8_t[16]){ 0 }, 16) || !memcmp(want->bytes, v6lo, 16));
	if (!wildcard || !first[0])
		return -1;
	snprintf(out, len, "%s", first);
	return 0;
}

static bool is_proxy(const json_t *d)
{
	const char *t = dev_str(d, "type");
	return t && !strcmp(t, "proxy");
}

/* Remove the rules of the instance's proxy devices: every one its id names
 * ("p<id>-"), also those of devices a profile has dropped since. */
static void proxies_remove(struct nft_session *s, long long inst_id)
{
	struct cella_error ignored;
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "p%llx-", inst_id);
	nft_portfwd_remove_prefix(s, prefix, &ignored);
}

int proxies_set(struct cella_host *h, long long inst_id, const json_t *devices, const json_t *nics,
		struct cella_error *err)
{
	if (networks_disabled())
		return 0;
	const char *k;
	json_t *d;
	bool any = false;
	json_object_foreach((json_t *)devices, k, d)
		any |= is_proxy(d);
	if (!any)
		return 0;
	cleanup_close int lock = network_lock(h, err);
	if (lock < 0)
		return -1;
	struct nft_session *s = nft_shared(err);
	if (!s)
		return -1;
	int r = nft_table_ensure(s, err);
	json_object_foreach((json_t *)devices, k, d) {
		if (r < 0)
			break;
		if (!is_proxy(d))
			continue;
		char proto[4], p2[4], name[40], listen[INET6_ADDRSTRLEN], target[INET6_ADDRSTRLEN];
		struct nl_ip l, c;
		unsigned lp, cp;
		if (endpoint_parse(dev_str(d, "listen"), proto, &l, &lp) < 0 ||
		    endpoint_parse(dev_str(d, "connect"), p2, &c, &cp) < 0) {
			r = cella_error_set(err, EINVAL, "device `%s`: listen or connect malformed", k);
			break;
		}
		if (proxy_target(nics, &c, target, sizeof(target)) < 0) {
			r = cella_error_set(err, EINVAL,
					    "device `%s`: connect: the instance has no NIC address of that family to forward to "
					    "(use 0.0.0.0, 127.0.0.1 or one of its own addresses)", k);
			break;
		}
		inet_ntop(l.family, l.bytes, listen, sizeof(listen));
		proxy_name(inst_id, k, name, sizeof(name));
		struct nft_portfwd pf = {
			.name = name, .proto = proto, .listen = listen, .listen_port = lp, .target = target, .target_port = cp,
		};
		if ((r = nft_portfwd_add(s, &pf, err)) < 0)
			cella_error_wrap(err, "device `%s`", k);
	}
	if (r < 0)
		proxies_remove(s, inst_id);
	nft_close(s);
	return r;
}

void proxies_release(struct cella_host *h, long long inst_id)
{
	if (networks_disabled())
		return;
	struct cella_error ignored;
	cleanup_close int lock = network_lock(h, &ignored);
	struct nft_session *s = lock >= 0 ? nft_shared(&ignored) : NULL;
	if (!s)
		return;
	proxies_remove(s, inst_id);
	nft_close(s);
}
