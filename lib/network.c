/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Managed networks: a host bridge per network with its gateway addresses,
 * forwarding, and NAT through our nftables tables.  The database row is the
 * truth; the kernel's objects are derived from it by network_apply(), which
 * reconciles (creates what is missing, removes addresses no longer wanted)
 * and so serves both a change and cellad's start (cella_networks_ensure).
 *
 * Config is stored resolved: "auto" addresses are replaced by the subnets
 * chosen when the network was created or changed, so a restart brings back
 * the same subnets.  Every change is validated in full before anything is
 * written, and checked against the host: a subnet overlapping another
 * managed network or a route of the host's namespace is refused, naming
 * both (an overlap would make either unreachable).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "instance.h"
#include "netlink.h"
#include "network.h"
#include "dnsmasq.h"
#include "nft.h"
#include "util.h"

#define DEFAULT_NETWORK "cellabr0"

bool networks_disabled(void)
{
	const char *v = getenv("CELLA_NO_NETWORKS");
	return v && !strcmp(v, "1");
}

bool network_name_valid(const char *name)
{
	return name && strlen(name) < IFNAMSIZ && instance_name_valid(name);
}

/*
 * The name becomes an interface name, a suffix of nftables chain names and a
 * component of /proc/sys/net paths (ipv6/conf/NAME/forwarding): letters,
 * digits and hyphens only, so no client can reach another sysctl ("..",
 * "/"), inject into an nftables command, or name a kernel-reserved link.
 */
static int name_check(const char *name, struct cella_error *err)
{
	if (!network_name_valid(name))
		return cella_error_set(err, EINVAL,
				       "invalid network name `%s`: 1-15 letters, digits and hyphens, starting with a letter",
				       name ? name : "");
	return 0;
}

/* The lock this thread holds for a whole change (network_lock_hold), if any. */
static __thread int held = -1;

int network_lock(struct cella_host *h, struct cella_error *err)
{
	/* inside a held change: a duplicate, whose close leaves the lock held */
	if (held >= 0) {
		int fd = fcntl(held, F_DUPFD_CLOEXEC, 0);
		return fd >= 0 ? fd : cella_error_set(err, errno, "network lock");
	}
	cleanup_free char *dir = xasprintf("%s/locks", h->run_dir);
	if (mkdir_p(dir, 0700, err) < 0)
		return -1;
	cleanup_free char *path = xasprintf("%s/.networks", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return cella_error_set(err, errno, "lock `%s`", path);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int e = errno;
			close(fd);
			return cella_error_set(err, e, "lock `%s`", path);
		}
	}
	return fd;
}

int network_lock_hold(struct cella_host *h, struct cella_error *err)
{
	if (held >= 0)
		return 0;
	int fd = network_lock(h, err);
	if (fd < 0)
		return -1;
	held = fd;
	return 0;
}

void network_lock_drop(void)
{
	if (held >= 0)
		close(held);
	held = -1;
}

/* ---- config: the key table and its parsers ------------------------------ */

enum key_type { K_BOOL, K_ADDR4, K_ADDR6, K_DOMAIN, K_RANGES4 };

static const struct {
	const char *key;
	enum key_type type;
} keys[] = {
	{ "ipv4.address", K_ADDR4 },
	{ "ipv4.nat", K_BOOL },
	{ "ipv4.dhcp.ranges", K_RANGES4 },
	{ "ipv6.address", K_ADDR6 },
	{ "ipv6.nat", K_BOOL },
	{ "dns.domain", K_DOMAIN },
	{ "security.port_isolation", K_BOOL },
};

/* The parsed config a network's kernel objects derive from. */
struct net_cfg {
	bool has4, has6;
	struct nl_prefix addr4, addr6;  /* the gateway: host address and prefix length */
	bool nat4, nat6, isolated;
};

static bool bool_value(const char *s)
{
	return s && !strcmp(s, "true");
}

static const char *cfg_str(const json_t *config, const char *key)
{
	return json_string_value(json_object_get(config, key));
}

void prefix_mask(struct nl_prefix *p)
{
	unsigned bytes = p->ip.family == AF_INET ? 4 : 16;
	for (unsigned i = 0; i < bytes; i++) {
		unsigned bit0 = i * 8;
		if (bit0 >= p->len)
			p->ip.bytes[i] = 0;
		else if (bit0 + 8 > p->len)
			p->ip.bytes[i] &= (uint8_t)(0xff << (8 - (p->len - bit0)));
	}
}

static bool prefix_overlap(const struct nl_prefix *a, const struct nl_prefix *b)
{
	if (a->ip.family != b->ip.family)
		return false;
	struct nl_prefix x = *a, y = *b;
	x.len = y.len = a->len < b->len ? a->len : b->len;
	prefix_mask(&x);
	prefix_mask(&y);
	return !memcmp(x.ip.bytes, y.ip.bytes, 16);
}

static const char *prefix_text(const struct nl_prefix *p, bool masked, char *buf, size_t len)
{
	struct nl_prefix q = *p;
	if (masked)
		prefix_mask(&q);
	return nl_prefix_format(&q, buf, len);
}

/* Host part all zeros (want_ones false) or all ones (true)? */
bool host_bits_all(const struct nl_prefix *p, bool want_ones)
{
	unsigned bits = p->ip.family == AF_INET ? 32 : 128;
	for (unsigned b = p->len; b < bits; b++) {
		bool one = p->ip.bytes[b / 8] & (0x80 >> (b % 8));
		if (one != want_ones)
			return false;
	}
	return true;
}

/*
 * A gateway address "A/len" for `key`: 1 with *out set, 0 for "none" or
 * "auto" (*is_auto) or absent, -1 for anything else.
 */
static int addr_parse(const char *key, const char *s, int family, struct nl_prefix *out, bool *is_auto,
		      struct cella_error *err)
{
	if (is_auto)
		*is_auto = false;
	if (!s || !strcmp(s, "none"))
		return 0;
	if (!strcmp(s, "auto")) {
		if (is_auto)
			*is_auto = true;
		return 0;
	}
	if (!strchr(s, '/'))
		return cella_error_set(err, EINVAL, "%s: `%s`: an address with its prefix length (CIDR), `auto` or `none`",
				       key, s);
	if (nl_prefix_parse(s, out, err) < 0 || out->ip.family != family) {
		return cella_error_set(err, EINVAL, "%s: `%s`: not an %s address with its prefix length", key, s,
				       family == AF_INET ? "IPv4" : "IPv6");
	}
	const uint8_t *b = out->ip.bytes;
	if (family == AF_INET) {
		if (out->len < 8 || out->len > 30)
			return cella_error_set(err, EINVAL, "%s: `%s`: the prefix length must be 8 to 30", key, s);
		if (b[0] == 0 || b[0] == 127 || b[0] >= 224 || (b[0] == 169 && b[1] == 254))
			return cella_error_set(err, EINVAL, "%s: `%s`: not a usable unicast address", key, s);
	} else {
		static const uint8_t zero[16];
		if (out->len < 8 || out->len > 126)
			return cella_error_set(err, EINVAL, "%s: `%s`: the prefix length must be 8 to 126", key, s);
		if (b[0] == 0xff || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || !memcmp(b, zero, 15))
			return cella_error_set(err, EINVAL, "%s: `%s`: not a usable unicast address", key, s);
	}
	if (host_bits_all(out, false))
		return cella_error_set(err, EINVAL, "%s: `%s`: the gateway cannot be the subnet's own address", key, s);
	if (family == AF_INET && host_bits_all(out, true))
		return cella_error_set(err, EINVAL, "%s: `%s`: the gateway cannot be the broadcast address", key, s);
	return 1;
}

bool domain_valid(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (n < 1 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
		if (label == 0 && s[i] == '-')
			return false;
		label++;
	}
	return true;
}

static uint32_t ip4_host(const struct nl_ip *ip)
{
	return (uint32_t)ip->bytes[0] << 24 | (uint32_t)ip->bytes[1] << 16 | (uint32_t)ip->bytes[2] << 8 | ip->bytes[3];
}

/* "A-B[,C-D...]": each address inside the subnet of `gw`, neither the
 * subnet's own nor its broadcast address nor the gateway, A <= B. */
static int ranges_check(const char *key, const char *s, const struct nl_prefix *gw, struct cella_error *err)
{
	if (!gw)
		return cella_error_set(err, EINVAL, "%s: needs ipv4.address to be a subnet", key);
	cleanup_free char *copy = xstrdup(s);
	char *save = NULL;
	uint32_t mask = gw->len ? ~0u << (32 - gw->len) : 0;
	uint32_t net = ip4_host(&gw->ip) & mask, bcast = net | ~mask;
	int n = 0;
	for (char *r = strtok_r(copy, ",", &save); r; r = strtok_r(NULL, ",", &save), n++) {
		char *dash = strchr(r, '-');
		struct nl_ip a, b;
		struct cella_error ignored;
		if (!dash)
			return cella_error_set(err, EINVAL, "%s: `%s`: a range is FIRST-LAST", key, r);
		*dash = 0;
		if (nl_ip_parse(r, &a, &ignored) < 0 || a.family != AF_INET || nl_ip_parse(dash + 1, &b, &ignored) < 0 ||
		    b.family != AF_INET)
			return cella_error_set(err, EINVAL, "%s: `%s-%s`: not two IPv4 addresses", key, r, dash + 1);
		uint32_t x = ip4_host(&a), y = ip4_host(&b), g = ip4_host(&gw->ip);
		if (x > y)
			return cella_error_set(err, EINVAL, "%s: `%s-%s`: the first address is after the last", key, r,
					       dash + 1);
		if ((x & mask) != net || (y & mask) != net || x == net || y == bcast)
			return cella_error_set(err, EINVAL, "%s: `%s-%s`: outside the subnet's usable addresses", key, r,
					       dash + 1);
		if (g >= x && g <= y)
			return cella_error_set(err, EINVAL, "%s: `%s-%s`: contains the gateway", key, r, dash + 1);
	}
	if (n == 0)
		return cella_error_set(err, EINVAL, "%s: empty", key);
	return 0;
}

/* Keys and value syntax; "auto" is accepted for addresses. */
static int config_syntax_check(const json_t *config, struct cella_error *err)
{
	const char *k;
	json_t *v;
	if (!json_is_object(config))
		return cella_error_set(err, EINVAL, "config: not an object");
	json_object_foreach((json_t *)config, k, v) {
		if (!json_is_string(v))
			return cella_error_set(err, EINVAL, "%s: the value must be a string", k);
		if (!strncmp(k, "user.", 5) && k[5])
			continue;
		size_t i;
		for (i = 0; i < ARRAY_SIZE(keys) && strcmp(keys[i].key, k); i++)
			;
		if (i == ARRAY_SIZE(keys))
			return cella_error_set(err, EINVAL, "unknown network config key `%s`", k);
		const char *s = json_string_value(v);
		struct nl_prefix p;
		switch (keys[i].type) {
		case K_BOOL:
			if (strcmp(s, "true") && strcmp(s, "false"))
				return cella_error_set(err, EINVAL, "%s: `%s`: true or false", k, s);
			break;
		case K_ADDR4:
		case K_ADDR6:
			if (addr_parse(k, s, keys[i].type == K_ADDR4 ? AF_INET : AF_INET6, &p, NULL, err) < 0)
				return -1;
			break;
		case K_DOMAIN:
			if (!domain_valid(s))
				return cella_error_set(err, EINVAL, "%s: `%s`: not a domain name", k, s);
			break;
		case K_RANGES4:
			break; /* against the subnet, once it is known */
		}
	}
	return 0;
}

/* ---- what is taken: other networks' subnets, the host's routes --------- */

struct taken {
	struct nl_prefix p;
	char what[128];
};
struct taken_list {
	struct taken *v;
	size_t n;
};
static void taken_free(struct taken_list *l) { free(l->v); }
#define cleanup_taken __attribute__((cleanup(taken_free)))

static void taken_add(struct taken_list *l, const struct nl_prefix *p, const char *fmt, ...) CELLA_PRINTF(3, 4);
static void taken_add(struct taken_list *l, const struct nl_prefix *p, const char *fmt, ...)
{
	struct taken *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
	if (!nv)
		abort();
	l->v = nv;
	struct taken *t = &l->v[l->n++];
	t->p = *p;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->what, sizeof(t->what), fmt, ap);
	va_end(ap);
}

/*
 * Subnets of `family` in use elsewhere: every managed network but `self`,
 * and every route of the namespace cellad runs in except the default
 * route and those through `self`'s own bridge.
 */
static int taken_collect(struct cella_host *h, const char *self, int family, struct taken_list *l,
			 struct cella_error *err)
{
	const char *key = family == AF_INET ? "ipv4.address" : "ipv6.address";
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT name, config FROM networks ORDER BY name", err);
	if (!st)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (self && !strcmp(name, self))
			continue;
		json_error_t jerr;
		json_t *c = json_loads((const char *)sqlite3_column_text(st, 1), 0, &jerr);
		struct nl_prefix p;
		struct cella_error ignored;
		char buf[INET6_ADDRSTRLEN + 8];
		if (addr_parse(key, cfg_str(c, key), family, &p, NULL, &ignored) > 0)
			taken_add(l, &p, "network `%s` (%s)", name, prefix_text(&p, true, buf, sizeof(buf)));
		json_decref(c);
	}

	cleanup_nl struct nl *nl = nl_open(err);
	if (!nl)
		return cella_error_wrap(err, "read the host's routes");
	struct cella_error ignored;
	int own = self ? nl_link_index(nl, self, &ignored) : -1;
	struct nl_route *routes = NULL;
	size_t n = 0;
	if (nl_route_list(nl, family, &routes, &n, err) < 0)
		return cella_error_wrap(err, "read the host's routes");
	for (size_t i = 0; i < n; i++) {
		const struct nl_route *r = &routes[i];
		if (r->dst.len == 0 || (own > 0 && r->ifindex == own))
			continue;
		struct nl_link link = { 0 };
		char buf[INET6_ADDRSTRLEN + 8];
		if (r->ifindex > 0 && nl_link_get(nl, r->ifindex, &link, &ignored) == 0)
			taken_add(l, &r->dst, "the host's route %s (dev %s)", prefix_text(&r->dst, true, buf, sizeof(buf)),
				  link.name);
		else
			taken_add(l, &r->dst, "the host's route %s", prefix_text(&r->dst, true, buf, sizeof(buf)));
	}
	free(routes);
	return 0;
}

static const struct taken *taken_find(const struct taken_list *l, const struct nl_prefix *p)
{
	for (size_t i = 0; i < l->n; i++)
		if (prefix_overlap(&l->v[i].p, p))
			return &l->v[i];
	return NULL;
}

/*
 * A free IPv4 /24 in the private ranges (10/8 first, then 172.16/12, then
 * 192.168/16), scanned from a random start so two hosts seldom pick the
 * same; the gateway is .1.
 */
static int auto_ipv4(const struct taken_list *l, struct nl_prefix *out, struct cella_error *err)
{
	static const struct { uint8_t a, b; unsigned count; } pools[] = {
		{ 10, 0, 65536 }, { 172, 16, 4096 }, { 192, 168, 256 },
	};
	uint32_t rnd = 0;
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)getpid();
	for (size_t k = 0; k < ARRAY_SIZE(pools); k++) {
		uint32_t base = (uint32_t)pools[k].a << 24 | (uint32_t)pools[k].b << 16;
		for (unsigned i = 0; i < pools[k].count; i++) {
			uint32_t net = base + (((rnd + i) % pools[k].count) << 8);
			struct nl_prefix p = { .ip = { .family = AF_INET }, .len = 24 };
			p.ip.bytes[0] = net >> 24;
			p.ip.bytes[1] = net >> 16;
			p.ip.bytes[2] = net >> 8;
			p.ip.bytes[3] = 1;
			if (!taken_find(l, &p)) {
				*out = p;
				return 0;
			}
		}
	}
	return cella_error_set(err, ENOSPC, "ipv4.address: no free /24 left in the private ranges");
}

/* A random ULA /64 (RFC 4193: fd + 40-bit global ID + subnet 0); gateway ::1. */
static int auto_ipv6(const struct taken_list *l, struct nl_prefix *out, struct cella_error *err)
{
	for (int tries = 0; tries < 64; tries++) {
		struct nl_prefix p = { .ip = { .family = AF_INET6 }, .len = 64 };
		p.ip.bytes[0] = 0xfd;
		if (getrandom(p.ip.bytes + 1, 5, 0) != 5)
			return cella_error_set(err, errno, "ipv6.address: random");
		p.ip.bytes[15] = 1;
		if (!taken_find(l, &p)) {
			*out = p;
			return 0;
		}
	}
	return cella_error_set(err, ENOSPC, "ipv6.address: no free ULA /64 found");
}

/*
 * Resolve "auto" addresses in `config` (in place) and check it against the
 * rest of the host; fill `out`.  `self` is the network's name (its own
 * subnets and bridge are not in the way of itself).
 */
static int config_resolve(struct cella_host *h, const char *self, json_t *config, struct net_cfg *out,
			  struct cella_error *err)
{
	if (config_syntax_check(config, err) < 0)
		return -1;
	*out = (struct net_cfg){ 0 };
	for (int fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;
		const char *key = fam ? "ipv6.address" : "ipv4.address";
		struct nl_prefix p;
		bool is_auto;
		int r = addr_parse(key, cfg_str(config, key), family, &p, &is_auto, err);
		if (r < 0)
			return -1;
		if (r == 0 && !is_auto)
			continue;
		cleanup_taken struct taken_list l = { 0 };
		if (taken_collect(h, self, family, &l, err) < 0)
			return -1;
		char buf[INET6_ADDRSTRLEN + 8], sub[INET6_ADDRSTRLEN + 8];
		if (is_auto) {
			if ((fam ? auto_ipv6(&l, &p, err) : auto_ipv4(&l, &p, err)) < 0)
				return -1;
			json_object_set_new(config, key, json_string(prefix_text(&p, false, buf, sizeof(buf))));
		} else {
			const struct taken *t = taken_find(&l, &p);
			if (t)
				return cella_error_set(err, EINVAL, "%s: subnet %s overlaps %s", key,
						       prefix_text(&p, true, sub, sizeof(sub)), t->what);
		}
		if (fam) {
			out->has6 = true;
			out->addr6 = p;
		} else {
			out->has4 = true;
			out->addr4 = p;
		}
	}
	const char *ranges = cfg_str(config, "ipv4.dhcp.ranges");
	if (ranges && ranges_check("ipv4.dhcp.ranges", ranges, out->has4 ? &out->addr4 : NULL, err) < 0)
		return -1;
	out->nat4 = out->has4 && bool_value(cfg_str(config, "ipv4.nat"));
	out->nat6 = out->has6 && bool_value(cfg_str(config, "ipv6.nat"));
	out->isolated = bool_value(cfg_str(config, "security.port_isolation"));
	return 0;
}

/* The stored (resolved) config parsed, for bringing a network up. */
static int config_parse_stored(const json_t *config, struct net_cfg *out, struct cella_error *err)
{
	*out = (struct net_cfg){ 0 };
	int r4 = addr_parse("ipv4.address", cfg_str(config, "ipv4.address"), AF_INET, &out->addr4, NULL, err);
	if (r4 < 0)
		return -1;
	int r6 = addr_parse("ipv6.address", cfg_str(config, "ipv6.address"), AF_INET6, &out->addr6, NULL, err);
	if (r6 < 0)
		return -1;
	out->has4 = r4 > 0;
	out->has6 = r6 > 0;
	out->nat4 = out->has4 && bool_value(cfg_str(config, "ipv4.nat"));
	out->nat6 = out->has6 && bool_value(cfg_str(config, "ipv6.nat"));
	out->isolated = bool_value(cfg_str(config, "security.port_isolation"));
	return 0;
}

int network_info(struct cella_host *h, const char *name, struct network_info *out, struct cella_error *err)
{
	json_t *config = network_config(h, name, err);
	if (!config)
		return -1;
	struct net_cfg c;
	int r = config_parse_stored(config, &c, err);
	if (r == 0) {
		*out = (struct network_info){ .has4 = c.has4, .has6 = c.has6, .addr4 = c.addr4, .addr6 = c.addr6 };
		const char *d = cfg_str(config, "dns.domain");
		snprintf(out->domain, sizeof(out->domain), "%s", d ? d : "cella");
		const char *ranges = cfg_str(config, "ipv4.dhcp.ranges");
		snprintf(out->ranges4, sizeof(out->ranges4), "%s", ranges ? ranges : "");
	}
	json_decref(config);
	return r;
}

/* ---- the kernel's side ---------------------------------------------------- */

static int sysctl_ensure(const char *key, const char *value, struct cella_error *err)
{
	char cur[32];
	if (net_sysctl_read(-1, key, cur, sizeof(cur), err) == 0 && !strcmp(cur, value))
		return 0;
	return net_sysctl_write(-1, key, value, err);
}

static bool addr_equal(const struct nl_prefix *a, const struct nl_prefix *b)
{
	return a->ip.family == b->ip.family && a->len == b->len &&
	       !memcmp(a->ip.bytes, b->ip.bytes, a->ip.family == AF_INET ? 4 : 16);
}

static int network_dns_apply(struct cella_host *h, const char *name, struct cella_error *err);

/*
 * Bring the bridge `name` to what `c` says, in cellad's network namespace:
 * the bridge (created if missing; an existing link must be a bridge), its
 * addresses (others removed, IPv6 link-local kept), forwarding, up, and its
 * nftables rules.  Idempotent.
 */
static int network_apply(struct cella_host *h, const char *name, const struct net_cfg *c, struct cella_error *err)
{
	if (networks_disabled())
		return 0;
	cleanup_nl struct nl *nl = nl_open(err);
	if (!nl)
		return -1;
	struct cella_error ignored;
	int ifindex = nl_link_index(nl, name, &ignored);
	if (ifindex < 0) {
		ifindex = nl_bridge_create(nl, name, 0, err);
		if (ifindex < 0)
			return -1;
	} else {
		struct nl_link link;
		if (nl_link_get(nl, ifindex, &link, err) < 0)
			return -1;
		if (strcmp(link.kind, "bridge"))
			return cella_error_set(err, EEXIST, "interface `%s` exists and is not a bridge", name);
	}
	char key[96];
	if (c->has6) {
		/* before any address: a bridge may start with IPv6 off */
		snprintf(key, sizeof(key), "ipv6/conf/%s/disable_ipv6", name);
		if (sysctl_ensure(key, "0", err) < 0)
			return -1;
	}

	struct nl_addr *addrs = NULL;
	size_t n = 0;
	if (nl_addr_list(nl, ifindex, AF_UNSPEC, &addrs, &n, err) < 0)
		return -1;
	bool have4 = false, have6 = false;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		const struct nl_prefix *p = &addrs[i].prefix;
		if (p->ip.family == AF_INET6 && p->ip.bytes[0] == 0xfe && (p->ip.bytes[1] & 0xc0) == 0x80)
			continue; /* link-local */
		if (c->has4 && addr_equal(p, &c->addr4))
			have4 = true;
		else if (c->has6 && addr_equal(p, &c->addr6))
			have6 = true;
		else
			r = nl_addr_delete(nl, ifindex, p, err);
	}
	free(addrs);
	if (r < 0)
		return -1;
	if (c->has4 && !have4 && nl_addr_add(nl, ifindex, &c->addr4, 0, err) < 0)
		return -1;
	if (c->has6 && !have6 && nl_addr_add(nl, ifindex, &c->addr6, NL_ADDR_NODAD, err) < 0)
		return -1;

	/* forwarding: IPv4's is decided by the input interface, which for
	 * replies is the uplink, hence the global switch; IPv6 per interface
	 * plus `all` (the kernel's routing switch) */
	if (c->has4 && sysctl_ensure("ipv4/ip_forward", "1", err) < 0)
		return -1;
	if (c->has6) {
		snprintf(key, sizeof(key), "ipv6/conf/%s/forwarding", name);
		if (sysctl_ensure(key, "1", err) < 0 || sysctl_ensure("ipv6/conf/all/forwarding", "1", err) < 0)
			return -1;
	}
	if (nl_link_set_up(nl, ifindex, true, err) < 0)
		return -1;

	struct nft_session *s = nft_shared(err);
	if (!s)
		return -1;
	char sub4[INET6_ADDRSTRLEN + 8], sub6[INET6_ADDRSTRLEN + 8];
	struct nft_network net = {
		.bridge = name,
		.ipv4 = c->nat4 ? prefix_text(&c->addr4, true, sub4, sizeof(sub4)) : NULL,
		.ipv6 = c->nat6 ? prefix_text(&c->addr6, true, sub6, sizeof(sub6)) : NULL,
		.isolated = c->isolated,
	};
	/* nft_network_set needs a subnet to masquerade: without NAT there is
	 * nothing of ours to install */
	if (net.ipv4 || net.ipv6)
		r = nft_network_set(s, &net, err);
	else
		r = nft_network_remove(s, name, err);
	nft_close(s);
	if (r < 0)
		return -1;
	return network_dns_apply(h, name, err);
}

static char *dns_dir(struct cella_host *h, const char *name)
{
	return xasprintf("%s/networks/%s", h->run_dir, name);
}

/*
 * The network's dnsmasq: its static leases and names from the NICs on it,
 * then started (or left alone when it runs with the same configuration).
 * The network lock is held.
 */
static int network_dns_apply(struct cella_host *h, const char *name, struct cella_error *err)
{
	struct network_info ni;
	if (networks_disabled())
		return 0;
	if (network_info(h, name, &ni, err) < 0)
		return -1;
	cleanup_free char *dir = dns_dir(h, name);
	if (!ni.has4 && !ni.has6)
		return dnsmasq_stop(dir, err);
	cleanup_free char *top = xasprintf("%s/networks", h->run_dir);
	/* dnsmasq drops to nobody, who must reach its hosts files */
	if (mkdir_p(dir, 0711, err) < 0 || chmod(top, 0711) < 0 || chmod(dir, 0711) < 0)
		return cella_error_wrap(err, "network `%s`: its DNS directory", name);
	char a4[INET6_ADDRSTRLEN + 8] = "", a6[INET6_ADDRSTRLEN + 8] = "";
	if (ni.has4)
		nl_prefix_format(&ni.addr4, a4, sizeof(a4));
	if (ni.has6)
		nl_prefix_format(&ni.addr6, a6, sizeof(a6));
	struct dnsmasq_conf conf = {
		.network = name, .bridge = name, .dir = dir, .ipv4_address = ni.has4 ? a4 : NULL,
		.ipv4_ranges = ni.ranges4[0] ? ni.ranges4 : NULL, .ipv6_address = ni.has6 ? a6 : NULL,
		.domain = ni.domain, .dhcp = true,
	};
	cleanup_stmt sqlite3_stmt *st = db_prepare(
		host_db(h),
		"SELECT i.name, n.mac, n.ipv4, n.ipv6 FROM nics n JOIN instances i ON i.id = n.instance_id "
		"WHERE n.network = ? ORDER BY i.name, n.device",
		err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	size_t n = 0, cap = 0;
	struct dnsmasq_host *hosts = NULL;
	char **strs = NULL;
	size_t nstrs = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			hosts = realloc(hosts, cap * sizeof(*hosts));
			strs = realloc(strs, cap * 4 * sizeof(*strs));
		}
		const char *v[4];
		for (int i = 0; i < 4; i++) {
			const unsigned char *t = sqlite3_column_text(st, i);
			v[i] = t ? (strs[nstrs++] = xstrdup((const char *)t)) : NULL;
		}
		/* DNS names are lowercase; an instance's first NIC on the network
		 * has the name, the others a lease only; an address left from
		 * before the subnet changed is not served (its instance gets a
		 * new one at its next start) */
		for (char *c = (char *)v[0]; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		for (size_t j = 0; j < n; j++)
			if (hosts[j].name && !strcmp(hosts[j].name, v[0]))
				v[0] = NULL;
		for (int fam = 0; fam < 2; fam++) {
			struct nl_ip ip;
			struct cella_error ignored;
			const struct nl_prefix *gw = fam ? &ni.addr6 : &ni.addr4;
			struct nl_prefix a = { .len = gw->len }, b = *gw;
			if (!v[2 + fam])
				continue;
			if (nl_ip_parse(v[2 + fam], &ip, &ignored) < 0 || !(fam ? ni.has6 : ni.has4)) {
				v[2 + fam] = NULL;
				continue;
			}
			a.ip = ip;
			prefix_mask(&a);
			prefix_mask(&b);
			if (memcmp(a.ip.bytes, b.ip.bytes, 16))
				v[2 + fam] = NULL;
		}
		if (!v[2] && !v[3])
			continue;
		hosts[n++] = (struct dnsmasq_host){ .name = v[0], .mac = v[1], .ipv4 = v[2], .ipv6 = v[3] };
	}
	/* dnsmasq runs even when its hosts could not be written (it serves
	 * what it had): DNS and DHCP of the others go on */
	int r = dnsmasq_hosts_set(&conf, hosts, n, err);
	struct cella_error e2 = { 0 };
	if (dnsmasq_start(&conf, r < 0 ? &e2 : err) < 0 && r == 0)
		r = -1;
	for (size_t i = 0; i < nstrs; i++)
		free(strs[i]);
	free(strs);
	free(hosts);
	return r < 0 ? cella_error_wrap(err, "network `%s`", name) : 0;
}

void networks_dns_refresh(struct cella_host *h)
{
	if (networks_disabled())
		return;
	struct cella_error ignored;
	cleanup_close int lock = network_lock(h, &ignored);
	if (lock < 0)
		return;
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT name FROM networks ORDER BY name", &ignored);
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		cleanup_free char *name = xstrdup((const char *)sqlite3_column_text(st, 0));
		network_dns_apply(h, name, &ignored);
	}
}

json_t *cella_networks_supervise(struct cella_host *h)
{
	json_t *restarted = json_array();
	if (networks_disabled())
		return restarted;
	struct cella_error ignored;
	cleanup_close int lock = network_lock(h, &ignored);
	if (lock < 0)
		return restarted;
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT name FROM networks ORDER BY name", &ignored);
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		cleanup_free char *name = xstrdup((const char *)sqlite3_column_text(st, 0));
		cleanup_free char *dir = dns_dir(h, name);
		struct network_info ni;
		if (network_info(h, name, &ni, &ignored) < 0 || (!ni.has4 && !ni.has6) || dnsmasq_pid(dir) > 0)
			continue;
		struct cella_error e = { 0 };
		if (network_dns_apply(h, name, &e) == 0)
			json_array_append_new(restarted, json_sprintf("network `%s`: dnsmasq was not running: started again", name));
		else
			json_array_append_new(restarted, json_sprintf("network `%s`: dnsmasq: %s", name, e.msg));
	}
	return restarted;
}

/* Remove the bridge and its rules (idempotent; a link that is not a bridge
 * is not ours and stays). */
static int network_unapply(struct cella_host *h, const char *name, struct cella_error *err)
{
	if (networks_disabled())
		return 0;
	cleanup_free char *dir = dns_dir(h, name);
	if (dnsmasq_stop(dir, err) < 0)
		return -1;
	rmdir(dir);
	struct nft_session *s = nft_shared(err);
	if (!s)
		return -1;
	int r = nft_network_remove(s, name, err);
	nft_close(s);
	if (r < 0)
		return -1;
	cleanup_nl struct nl *nl = nl_open(err);
	if (!nl)
		return -1;
	struct cella_error ignored;
	int ifindex = nl_link_index(nl, name, &ignored);
	if (ifindex < 0)
		return 0;
	struct nl_link link;
	if (nl_link_get(nl, ifindex, &link, err) < 0)
		return -1;
	if (strcmp(link.kind, "bridge"))
		return 0;
	return nl_link_delete(nl, ifindex, err);
}

/* ---- rows ------------------------------------------------------------------ */

/* Instances whose expanded devices have a NIC on `name`. */
static bool devices_use(const json_t *devices, const char *name)
{
	const char *k;
	json_t *d;
	json_object_foreach((json_t *)devices, k, d) {
		const char *type = json_string_value(json_object_get(d, "type"));
		const char *net = json_string_value(json_object_get(d, "network"));
		if (type && !strcmp(type, "nic") && net && !strcmp(net, name))
			return true;
	}
	return false;
}

/* Profiles, then instances, whose (expanded) devices have a NIC on `name`. */
static json_t *used_by(struct cella_host *h, const char *name)
{
	json_t *a = json_array();
	struct cella_error err;
	cleanup_stmt sqlite3_stmt *ps = db_prepare(host_db(h), "SELECT name, devices FROM profiles ORDER BY name", &err);
	while (ps && sqlite3_step(ps) == SQLITE_ROW) {
		json_error_t jerr;
		json_t *devices = json_loads((const char *)sqlite3_column_text(ps, 1), 0, &jerr);
		if (devices_use(devices, name))
			json_array_append_new(a, json_sprintf("/1.0/profiles/%s", sqlite3_column_text(ps, 0)));
		json_decref(devices);
	}
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT name FROM instances ORDER BY name", &err);
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *inst = (const char *)sqlite3_column_text(st, 0);
		cleanup_inst_row struct inst_row r = { 0 };
		json_t *devices = NULL;
		if (inst_load(h, inst, &r, &err) == 0 && inst_expand(h, &r, NULL, &devices, &err) == 0 &&
		    devices_use(devices, name))
			json_array_append_new(a, json_sprintf("/1.0/instances/%s", inst));
		json_decref(devices);
	}
	return a;
}

#define NET_COLUMNS "name, type, description, config"

static json_t *network_row(struct cella_host *h, sqlite3_stmt *st)
{
	json_error_t jerr;
	json_t *c = json_loads((const char *)sqlite3_column_text(st, 3), 0, &jerr);
	const char *name = (const char *)sqlite3_column_text(st, 0);
	return json_pack("{s:s, s:s, s:s, s:o, s:b, s:s, s:o}", "name", name, "type", sqlite3_column_text(st, 1),
			 "description", sqlite3_column_text(st, 2), "config", c ? c : json_object(), "managed", 1,
			 "status", "Created", "used_by", used_by(h, name));
}

json_t *network_config(struct cella_host *h, const char *name, struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT config FROM networks WHERE name = ?", err);
	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		cella_error_set(err, ENOENT, "network `%s` not found", name);
		return NULL;
	}
	json_error_t jerr;
	json_t *c = json_loads((const char *)sqlite3_column_text(st, 0), 0, &jerr);
	return c ? c : json_object();
}

json_t *cella_network_list(struct cella_host *h, struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT " NET_COLUMNS " FROM networks ORDER BY name", err);
	if (!st)
		return NULL;
	json_t *a = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(a, network_row(h, st));
	return a;
}

json_t *cella_network_get(struct cella_host *h, const char *name, struct cella_error *err)
{
	if (name_check(name, err) < 0)
		return NULL;
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT " NET_COLUMNS " FROM networks WHERE name = ?", err);
	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		cella_error_set(err, ENOENT, "network `%s` not found", name);
		return NULL;
	}
	return network_row(h, st);
}

/* The body of a POST (create) or PUT/PATCH (the read-only fields of a GET
 * are accepted so that an edited GET can be sent back). */
static int fields_check(const json_t *req, bool create, struct cella_error *err)
{
	static const char *const fields[] = { "name", "type", "description", "config",
					      "managed", "status", "used_by", "locations" };
	size_t n = create ? 4 : ARRAY_SIZE(fields);
	const char *k;
	json_t *v;
	if (!json_is_object(req))
		return cella_error_set(err, EINVAL, "network: the body must be a JSON object");
	json_object_foreach((json_t *)req, k, v) {
		size_t i;
		for (i = 0; i < n && strcmp(k, fields[i]); i++)
			;
		if (i == n)
			return cella_error_set(err, EINVAL, "network: unknown field `%s`", k);
	}
	json_t *type = json_object_get(req, "type");
	if (type && (!json_is_string(type) || strcmp(json_string_value(type), "bridge")))
		return cella_error_set(err, EINVAL, "type: only `bridge` networks are supported");
	json_t *desc = json_object_get(req, "description");
	if (desc && !json_is_string(desc))
		return cella_error_set(err, EINVAL, "description: not a string");
	json_t *c = json_object_get(req, "config");
	if (c && !json_is_object(c))
		return cella_error_set(err, EINVAL, "config: not an object");
	return 0;
}

/* Empty values unset their key (as `set key=` does elsewhere). */
static void config_drop_empty(json_t *config)
{
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(config, tmp, k, v)
		if (json_is_string(v) && !*json_string_value(v))
			json_object_del(config, k);
}

static int row_write(struct cella_host *h, const char *sql, const char *name, const char *desc,
		     const json_t *config, struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), sql, err);
	if (!st)
		return -1;
	cleanup_free char *c = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
	char now[40];
	time_now_rfc3339(now, sizeof(now));
	sqlite3_bind_text(st, 1, desc, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	if (sqlite3_bind_parameter_count(st) >= 4)
		sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		if (sqlite3_extended_errcode(host_db(h)) == SQLITE_CONSTRAINT_UNIQUE)
			return cella_error_set(err, EEXIST, "network `%s` already exists", name);
		return db_error(host_db(h), err, "network");
	}
	return 0;
}

static int row_delete(struct cella_host *h, const char *name, struct cella_error *err)
{
	return db_run1(host_db(h), "DELETE FROM networks WHERE name = ?", name, 0, "delete network", err);
}

static bool network_exists(struct cella_host *h, const char *name)
{
	struct cella_error ignored;
	json_t *c = network_config(h, name, &ignored);
	json_decref(c);
	return c != NULL;
}

/* Create with the lock held: row first (the truth), then the kernel's side;
 * a failure there removes both. */
static int network_create_locked(struct cella_host *h, const char *name, const char *desc, json_t *config,
				 struct cella_error *err)
{
	if (network_exists(h, name))
		return cella_error_set(err, EEXIST, "network `%s` already exists", name);
	/* never adopt an interface someone else made (eth0, a host bridge...) */
	cleanup_nl struct nl *nl = nl_open(err);
	if (!nl)
		return -1;
	struct cella_error ignored;
	if (nl_link_index(nl, name, &ignored) >= 0)
		return cella_error_set(err, EEXIST, "network `%s`: an interface of that name exists already", name);

	/* defaults: both families, NATed */
	if (!json_object_get(config, "ipv4.address"))
		json_object_set_new(config, "ipv4.address", json_string("auto"));
	if (!json_object_get(config, "ipv6.address"))
		json_object_set_new(config, "ipv6.address", json_string("auto"));
	if (strcmp(cfg_str(config, "ipv4.address"), "none") && !json_object_get(config, "ipv4.nat"))
		json_object_set_new(config, "ipv4.nat", json_string("true"));
	if (strcmp(cfg_str(config, "ipv6.address"), "none") && !json_object_get(config, "ipv6.nat"))
		json_object_set_new(config, "ipv6.nat", json_string("true"));
	struct net_cfg c;
	if (config_resolve(h, name, config, &c, err) < 0)
		return cella_error_wrap(err, "network `%s`", name);
	if (row_write(h, "INSERT INTO networks (type, description, config, name, created_at) VALUES ('bridge', ?, ?, ?, ?)",
		      name, desc, config, err) < 0)
		return -1;
	if (network_apply(h, name, &c, err) < 0) {
		network_unapply(h, name, &ignored);
		row_delete(h, name, &ignored);
		return cella_error_wrap(err, "network `%s`", name);
	}
	return 0;
}

int cella_network_create(struct cella_host *h, const json_t *req, struct cella_error *err)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	if (fields_check(req, true, err) < 0 || name_check(name, err) < 0)
		return -1;
	json_t *cfg = json_object_get(req, "config");
	json_t *config = cfg ? json_deep_copy(cfg) : json_object();
	config_drop_empty(config);
	const char *desc = json_string_value(json_object_get(req, "description")) ?: "";
	int lock = network_lock(h, err);
	if (lock < 0) {
		json_decref(config);
		return -1;
	}
	int r = network_create_locked(h, name, desc, config, err);
	close(lock);
	json_decref(config);
	return r;
}

int cella_network_update(struct cella_host *h, const char *name, const json_t *req, bool patch,
			 struct cella_error *err)
{
	if (name_check(name, err) < 0 || fields_check(req, false, err) < 0)
		return -1;
	const char *newname = json_string_value(json_object_get(req, "name"));
	if (newname && strcmp(newname, name))
		return cella_error_set(err, EINVAL, "network `%s`: renaming is not supported", name);
	cleanup_close int lock = network_lock(h, err);
	if (lock < 0)
		return -1;
	json_t *cur = cella_network_get(h, name, err);
	if (!cur)
		return -1;
	int r = -1;
	json_t *old = json_object_get(cur, "config");
	json_t *config = patch ? json_deep_copy(old) : json_object();
	json_t *c = json_object_get(req, "config");
	if (c)
		json_object_update(config, c);
	config_drop_empty(config);
	const char *desc = json_string_value(json_object_get(req, "description"));
	if (!desc)
		desc = patch ? json_string_value(json_object_get(cur, "description")) : "";
	struct net_cfg nc, oc;
	struct cella_error ignored;
	if (config_resolve(h, name, config, &nc, err) < 0) {
		cella_error_wrap(err, "network `%s`", name);
		goto out;
	}
	if (row_write(h, "UPDATE networks SET description = ?, config = ? WHERE name = ?", name, desc, config, err) < 0)
		goto out;
	if (network_apply(h, name, &nc, err) < 0) {
		/* back to what was: the row, then the kernel's side */
		cella_error_wrap(err, "network `%s`", name);
		row_write(h, "UPDATE networks SET description = ?, config = ? WHERE name = ?", name,
			  json_string_value(json_object_get(cur, "description")), old, &ignored);
		if (config_parse_stored(old, &oc, &ignored) == 0)
			network_apply(h, name, &oc, &ignored);
		goto out;
	}
	r = 0;
out:
	json_decref(config);
	json_decref(cur);
	return r;
}

int cella_network_delete(struct cella_host *h, const char *name, struct cella_error *err)
{
	if (name_check(name, err) < 0)
		return -1;
	cleanup_close int lock = network_lock(h, err);
	if (lock < 0)
		return -1;
	json_t *cur = cella_network_get(h, name, err);
	if (!cur)
		return -1;
	size_t users = json_array_size(json_object_get(cur, "used_by"));
	json_decref(cur);
	if (users)
		return cella_error_set(err, EBUSY, "network `%s` is used by %zu instance(s) or profile(s) (see its used_by)",
				       name, users);
	if (forwards_apply(h, name, false, err) < 0 || network_unapply(h, name, err) < 0)
		return cella_error_wrap(err, "delete network `%s`", name);
	return row_delete(h, name, err);
}

json_t *cella_network_state(struct cella_host *h, const char *name, struct cella_error *err)
{
	if (name_check(name, err) < 0)
		return NULL;
	json_t *cur = cella_network_get(h, name, err);
	if (!cur)
		return NULL;
	json_decref(cur);
	cleanup_nl struct nl *nl = nl_open(err);
	if (!nl)
		return NULL;
	struct cella_error ignored;
	int ifindex = nl_link_index(nl, name, &ignored);
	if (ifindex < 0) {
		cella_error_set(err, ENOENT, "network `%s`: its bridge is not present", name);
		return NULL;
	}
	struct nl_link link;
	struct nl_link_stats stats;
	if (nl_link_get(nl, ifindex, &link, err) < 0 || nl_link_stats(nl, ifindex, &stats, err) < 0)
		return NULL;
	struct nl_addr *addrs = NULL;
	size_t n = 0;
	if (nl_addr_list(nl, ifindex, AF_UNSPEC, &addrs, &n, err) < 0)
		return NULL;
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct nl_prefix *p = &addrs[i].prefix;
		char ip[INET6_ADDRSTRLEN] = "";
		inet_ntop(p->ip.family, p->ip.bytes, ip, sizeof(ip));
		const char *scope = addrs[i].scope == 253 ? "link" : addrs[i].scope == 254 ? "local" : "global";
		json_array_append_new(a, json_pack("{s:s, s:s, s:o, s:s}", "family",
						   p->ip.family == AF_INET ? "inet" : "inet6", "address", ip, "netmask",
						   json_sprintf("%u", p->len), "scope", scope));
	}
	free(addrs);
	char mac[18] = "";
	if (link.has_mac)
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", link.mac[0], link.mac[1], link.mac[2],
			 link.mac[3], link.mac[4], link.mac[5]);
	json_t *counters = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "bytes_received",
				     (json_int_t)stats.rx_bytes, "bytes_sent", (json_int_t)stats.tx_bytes,
				     "packets_received", (json_int_t)stats.rx_packets, "packets_sent",
				     (json_int_t)stats.tx_packets, "errors_received", (json_int_t)stats.rx_errors,
				     "errors_sent", (json_int_t)stats.tx_errors, "packets_dropped_inbound",
				     (json_int_t)stats.rx_dropped, "packets_dropped_outbound",
				     (json_int_t)stats.tx_dropped);
	json_t *st = json_pack("{s:o, s:o, s:s, s:i, s:s, s:s}", "addresses", a, "counters", counters, "hwaddr", mac,
			       "mtu", (int)link.mtu, "state", (link.flags & IFF_UP) ? "up" : "down", "type", "broadcast");
	/* another table's forward policy that drops what we route (firewalld, ufw, iptables-nft) */
	cleanup_close int lock = network_lock(h, &ignored);
	struct nft_session *s = lock >= 0 ? nft_shared(&ignored) : NULL;
	char reason[512];
	if (s && nft_forward_check(s, reason, sizeof(reason), &ignored) == 1)
		json_object_set_new(st, "forward_blocked", json_string(reason));
	if (s)
		nft_close(s);
	return st;
}

/* The default profile gets a NIC on the default network, unless it has one. */
static int default_profile_nic(struct cella_host *h, struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT devices FROM profiles WHERE name = 'default'", err);
	if (!st)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW)
		return 0;
	json_error_t jerr;
	json_t *devs = json_loads((const char *)sqlite3_column_text(st, 0), 0, &jerr);
	if (!json_is_object(devs)) {
		json_decref(devs);
		return 0;
	}
	const char *k;
	json_t *d;
	json_object_foreach(devs, k, d) {
		const char *type = json_string_value(json_object_get(d, "type"));
		if ((type && !strcmp(type, "nic")) || !strcmp(k, "eth0")) {
			json_decref(devs);
			return 0;
		}
	}
	json_object_set_new(devs, "eth0", json_pack("{s:s, s:s, s:s}", "type", "nic", "network", DEFAULT_NETWORK,
						    "name", "eth0"));
	cleanup_free char *text = json_dumps(devs, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(devs);
	return db_run1(host_db(h), "UPDATE profiles SET devices = ? WHERE name = 'default'", text, 0,
		       "add a NIC to the default profile", err);
}

/*
 * At cellad's start: the default network when there is none, then every
 * network's bridge, addresses, forwarding and rules.  A network that fails
 * does not stop the others; the first error is returned.
 */
int cella_networks_ensure(struct cella_host *h, struct cella_error *err)
{
	if (networks_disabled())
		return 0;
	cleanup_close int lock = network_lock(h, err);
	if (lock < 0)
		return -1;
	cleanup_stmt sqlite3_stmt *count = db_prepare(host_db(h), "SELECT count(*) FROM networks", err);
	if (!count)
		return -1;
	if (sqlite3_step(count) == SQLITE_ROW && sqlite3_column_int(count, 0) == 0) {
		/* IPv6 only where the kernel has it on */
		char v6off[8] = "1";
		struct cella_error ignored;
		bool v6 = net_sysctl_read(-1, "ipv6/conf/all/disable_ipv6", v6off, sizeof(v6off), &ignored) == 0 &&
			  !strcmp(v6off, "0");
		json_t *config = json_pack("{s:s, s:s, s:s}", "ipv4.address", "auto", "ipv4.nat", "true",
					   "ipv6.address", v6 ? "auto" : "none");
		if (v6)
			json_object_set_new(config, "ipv6.nat", json_string("true"));
		int r = network_create_locked(h, DEFAULT_NETWORK, "Default network", config, err);
		json_decref(config);
		if (r < 0)
			return -1;
		return default_profile_nic(h, err);
	}
	cleanup_stmt sqlite3_stmt *st = db_prepare(host_db(h), "SELECT name, config FROM networks ORDER BY name", err);
	if (!st)
		return -1;
	int result = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		json_error_t jerr;
		json_t *config = json_loads((const char *)sqlite3_column_text(st, 1), 0, &jerr);
		struct net_cfg c;
		struct cella_error e = { 0 };
		if (!config)
			cella_error_set(&e, EINVAL, "stored config: %s", jerr.text);
		int r = config ? config_parse_stored(config, &c, &e) : -1;
		if (r == 0)
			r = network_apply(h, name, &c, &e);
		if (r == 0)
			r = forwards_apply(h, name, true, &e);
		json_decref(config);
		if (r < 0 && result == 0) {
			*err = e;
			cella_error_wrap(err, "network `%s`", name);
			result = -1;
		}
	}
	return result;
}
