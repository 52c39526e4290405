/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cellad's packet filter, through libnftables (never the `nft` program).
 *
 * Three tables are ours and nothing else is ever touched:
 *
 *   table inet cella          NAT, port forwards, forward accepts, routed isolation
 *     map nat_nets, fwd_in, fwd_out   bridge name -> jump to that network's chain
 *     chain prerouting  nat    hook prerouting  priority -110  fib daddr local -> portfwd
 *     chain output      nat    hook output      priority -110  fib daddr local -> portfwd
 *     chain postrouting nat    hook postrouting priority 90    iifname vmap @nat_nets
 *     chain forward     filter hook forward     priority -10   iifname vmap @fwd_in,
 *                                                              oifname vmap @fwd_out
 *     chain portfwd     one dnat rule per forward, commented
 *                       "NAME PROTO LISTEN LPORT TARGET TPORT"
 *     chains nat_BR, fwdi_BR, fwdo_BR   one set per network (bridge BR)
 *
 *   table netdev cella        anti-spoofing and counters, per instance NIC
 *     chain in_IF   filter hook ingress device IF priority -500, policy drop
 *     chain out_IF  filter hook egress  device IF priority -500 (counts only)
 *     counters tx_IF, rx_IF, drop_IF
 *
 *   table bridge cella        bridged isolation
 *     set isolated (ifname); chain forward hook forward priority -210:
 *     iifname @isolated oifname @isolated drop
 *
 * Why anti-spoofing sits on netdev ingress of the host-side veth: that hook
 * sees every frame the instance sends before anything else on the host does
 * -- the bridge's rx handler (so its forwarding database and STP/LLDP
 * handling), other instances, the host's own ARP/NDP and IP stacks -- whether
 * the veth is a bridge port or routed, and whatever the ethertype.  Its policy
 * is drop: only frames from the NIC's MAC carrying ARP (sender = that MAC and
 * one of its IPv4 addresses, or 0.0.0.0 probes), IPv4 from its addresses (or
 * a DHCP request from 0.0.0.0) and IPv6 from its addresses or the link-local
 * derived from the MAC (from :: only MLD reports and DAD probes for its own
 * addresses) pass.  Neighbor advertisements must name one of its own
 * addresses as target (NDP spoofing), router advertisements and redirects
 * are dropped (rogue routers), anything else (VLAN tags, other ethertypes)
 * is dropped.  Fragmented NDP is not parsed
 * here; Linux ignores it (suppress_frag_ndisc, RFC 6980).  A bridge-family
 * prerouting chain would match by name and survive veth re-creation, but
 * frames to link-local group addresses bypass it, and it covers only bridge
 * ports.  The egress hook of the same device counts what the instance
 * receives (Linux >= 5.16).
 *
 * Bridged isolation is in the bridge family because bridged frames never
 * reach inet hooks (without br_netfilter); `meta ibrname` would be the
 * natural match but needs nft_meta_bridge, which some kernels lack, so
 * the NICs of isolated networks are listed instead: bridging never crosses
 * bridges, so one set serves every network.  Routed isolation (an instance
 * sending to another through the gateway) is in the network's fwdi_ chain,
 * letting port forwards (ct status dnat) through.
 *
 * Priorities: our NAT chains run just before the usual dstnat/srcnat ones
 * (-100/100: firewalld, Docker's iptables-nft) so port forwards bind first;
 * our forward chain runs before the usual filter chains (0, firewalld's +10).
 * An accept in our chains ends only our chains: a policy drop in another
 * table still drops, which nft_forward_check() reports.
 *
 * Every operation is one batch run by nft_run_cmd_from_buffer: the commands
 * apply in one transaction or not at all.  Each batch begins by (re)creating
 * the skeleton -- tables, maps, sets, base chains with their fixed rules
 * flushed and re-added -- so operations are independent of ordering and
 * restore a skeleton damaged by hand.  Removals that would fail on an absent
 * object first add it (`add element`, `add chain` are no-ops when present),
 * then delete it, in the same batch.
 *
 * Nothing from a caller reaches a command unvalidated: interface names match
 * [A-Za-z0-9_.-]{1,15} (IFNAMSIZ), forward names [A-Za-z0-9_.-]{1,32},
 * addresses are parsed by inet_pton and printed back by inet_ntop, MACs
 * parsed and printed back, ports are integers, protocols one of two words.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nftables/libnftables.h>

#include "nft.h"
#include "util.h"

#define TABLE "cella"
#define PRIO_NAT_DST -110
#define PRIO_NAT_SRC 90
#define PRIO_FORWARD -10
#define PRIO_BRIDGE_FORWARD -210
#define PRIO_NIC -500
#define PRIO_RAW -300
#define PORTFWD_NAME_MAX 32

struct nft_session {
	struct nft_ctx *ctx;
	bool shared;
};

struct nft_session *nft_open(struct cella_error *err)
{
	struct nft_session *s = calloc(1, sizeof(*s));
	if (!s) {
		cella_error_set(err, ENOMEM, "nftables session");
		return NULL;
	}
	s->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!s->ctx || nft_ctx_buffer_output(s->ctx) < 0 || nft_ctx_buffer_error(s->ctx) < 0) {
		nft_close(s);
		cella_error_set(err, ENOMEM, "nftables context");
		return NULL;
	}
	return s;
}

/*
 * Freeing a context costs a netlink socket's release, which waits for an RCU
 * grace period (~30 ms on 2 CPUs): a daemon keeps one for its whole life.
 * Its users serialise on cellad's network lock (an flock, which also holds
 * threads of one process apart), as any session's must.
 */
struct nft_session *nft_shared(struct cella_error *err)
{
	static struct nft_session *shared;
	static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&once);
	if (!shared && (shared = nft_open(err)))
		shared->shared = true;
	struct nft_session *s = shared;
	pthread_mutex_unlock(&once);
	return s;
}

void nft_close(struct nft_session *s)
{
	if (!s || s->shared)
		return;
	if (s->ctx)
		nft_ctx_free(s->ctx);
	free(s);
}

/* ---- running commands ---------------------------------------------------- */

/* libnftables reports errors as text; find the errno whose strerror() the
 * message ends with ("Could not process rule: File exists"). */
static int errno_from_message(const char *msg)
{
	for (int e = 1; e < 134; e++) {
		const char *t = strerror(e);
		size_t tl = strlen(t), ml = strlen(msg);
		if (tl && ml >= tl && strcmp(msg + ml - tl, t) == 0)
			return e;
	}
	return EIO;
}

/* The first "Error: ..." line of libnftables' error buffer, without the input
 * location before it and without the echoed command and caret lines after. */
static void error_from_buffer(const char *buf, const char *what, struct cella_error *err)
{
	char line[512] = "unknown error";
	const char *p = buf ? strstr(buf, "Error: ") : NULL;
	if (p) {
		p += strlen("Error: ");
		size_t n = strcspn(p, "\n");
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, p, n);
		line[n] = '\0';
	} else if (buf && *buf) {
		snprintf(line, sizeof(line), "%.*s", (int)strcspn(buf, "\n"), buf);
	}
	int code = errno_from_message(line);
	/* the message already ends with strerror(code): record it as is */
	cella_error_set(err, 0, "nftables: %s: %s", what, line);
	if (err)
		err->code = code;
}

/* Run a batch (or a list command); `json` selects JSON output.  The output
 * buffer is returned through `out` (owned by the context, valid until the
 * next run) when not NULL. */
static int nft_run(struct nft_session *s, const char *cmds, bool json, const char *what,
		   const char **out, struct cella_error *err)
{
	/* reading the buffers rewinds them: nothing of a previous run remains */
	(void)nft_ctx_get_output_buffer(s->ctx);
	(void)nft_ctx_get_error_buffer(s->ctx);
	nft_ctx_output_set_flags(s->ctx, json ? NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE : 0);
	if (nft_run_cmd_from_buffer(s->ctx, cmds) != 0) {
		error_from_buffer(nft_ctx_get_error_buffer(s->ctx), what, err);
		return -1;
	}
	if (out)
		*out = nft_ctx_get_output_buffer(s->ctx);
	return 0;
}

/* Run a list command and parse its JSON; the array under "nftables".  A
 * missing table or chain is ENOENT. */
static json_t *nft_list(struct nft_session *s, const char *cmd, struct cella_error *err)
{
	const char *out = NULL;
	if (nft_run(s, cmd, true, cmd, &out, err) < 0)
		return NULL;
	json_error_t jerr;
	json_t *root = json_loads(out ? out : "", 0, &jerr);
	json_t *items = root ? json_object_get(root, "nftables") : NULL;
	if (!json_is_array(items)) {
		json_decref(root);
		cella_error_set(err, EPROTO, "nftables: %s: unexpected JSON output", cmd);
		return NULL;
	}
	json_incref(items);
	json_decref(root);
	return items;
}

/* ---- building batches ---------------------------------------------------- */

struct batch {
	char *buf;
	size_t len;
	FILE *f;
};

static int batch_open(struct batch *b, struct cella_error *err)
{
	b->buf = NULL;
	b->len = 0;
	b->f = open_memstream(&b->buf, &b->len);
	if (!b->f)
		return cella_error_set(err, errno, "nftables batch");
	return 0;
}

/* Close the stream; the text is in b->buf (to be freed). */
static int batch_close(struct batch *b, struct cella_error *err)
{
	bool bad = ferror(b->f);
	if (fclose(b->f) != 0 || bad) {
		b->f = NULL;
		free(b->buf);
		b->buf = NULL;
		return cella_error_set(err, ENOMEM, "nftables batch");
	}
	b->f = NULL;
	return 0;
}

/* Close and run the batch as one transaction. */
static int batch_run(struct nft_session *s, struct batch *b, const char *what, struct cella_error *err)
{
	if (batch_close(b, err) < 0)
		return -1;
	int r = nft_run(s, b->buf, false, what, NULL, err);
	free(b->buf);
	b->buf = NULL;
	return r;
}

/* The fixed part of our tables, (re)created idempotently: base chains are
 * flushed and their rules added again in the same transaction. */
static void put_skeleton(FILE *f)
{
	fprintf(f,
		"add table inet " TABLE "\n"
		"add map inet " TABLE " nat_nets { type ifname : verdict; }\n"
		"add map inet " TABLE " fwd_in { type ifname : verdict; }\n"
		"add map inet " TABLE " fwd_out { type ifname : verdict; }\n"
		"add chain inet " TABLE " portfwd\n"
		/* port forwards, for connections to local addresses only: from
		 * outside and from instances (prerouting), from the host (output) */
		"add chain inet " TABLE " prerouting { type nat hook prerouting priority %d; policy accept; }\n"
		"flush chain inet " TABLE " prerouting\n"
		"add rule inet " TABLE " prerouting fib daddr type local jump portfwd\n"
		"add chain inet " TABLE " output { type nat hook output priority %d; policy accept; }\n"
		"flush chain inet " TABLE " output\n"
		"add rule inet " TABLE " output fib daddr type local jump portfwd\n"
		"add chain inet " TABLE " postrouting { type nat hook postrouting priority %d; policy accept; }\n"
		"flush chain inet " TABLE " postrouting\n"
		"add rule inet " TABLE " postrouting iifname vmap @nat_nets\n"
		"add map inet " TABLE " raw_nets { type ifname : verdict; }\n"
		/* where port forwards lead: their replies must stay tracked */
		"add set inet " TABLE " pf_targets4 { type ipv4_addr . inet_proto . inet_service; }\n"
		"add set inet " TABLE " pf_targets6 { type ipv6_addr . inet_proto . inet_service; }\n"
		/* before conntrack (-200): what needs no connection tracking */
		"add chain inet " TABLE " raw { type filter hook prerouting priority %d; policy accept; }\n"
		"flush chain inet " TABLE " raw\n"
		"add rule inet " TABLE " raw iifname vmap @raw_nets\n"
		"add chain inet " TABLE " forward { type filter hook forward priority %d; policy accept; }\n"
		"flush chain inet " TABLE " forward\n"
		"add rule inet " TABLE " forward iifname vmap @fwd_in\n"
		"add rule inet " TABLE " forward oifname vmap @fwd_out\n"
		"add table bridge " TABLE "\n"
		"add set bridge " TABLE " isolated { type ifname; }\n"
		"add chain bridge " TABLE " forward { type filter hook forward priority %d; policy accept; }\n"
		"flush chain bridge " TABLE " forward\n"
		/* isolation: no frame bridged from one isolated instance to another */
		"add rule bridge " TABLE " forward iifname @isolated oifname @isolated drop\n"
		"add table netdev " TABLE "\n",
		PRIO_NAT_DST, PRIO_NAT_DST, PRIO_NAT_SRC, PRIO_RAW, PRIO_FORWARD, PRIO_BRIDGE_FORWARD);
}

/* ---- validation ---------------------------------------------------------- */

/* A printable, bounded copy of untrusted text for an error message. */
static const char *shown(const char *s, char *buf, size_t len)
{
	size_t i = 0;
	for (; s && s[i] && i + 4 < len && i < 40; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s && s[i] && i + 4 <= len) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

static bool name_ok(const char *s, size_t max)
{
	if (!s)
		return false;
	size_t n = strlen(s);
	if (n < 1 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static int check_ifname(const char *field, const char *s, struct cella_error *err)
{
	if (!name_ok(s, 15))
		return cella_error_set(err, EINVAL, "%s: not an interface name ([A-Za-z0-9_.-]{1,15})", field);
	return 0;
}

struct addr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];
};

/* Parse an address (no prefix), and print it back canonically. */
static int parse_addr(const char *field, const char *s, struct addr *out, struct cella_error *err)
{
	char show[64];
	memset(out, 0, sizeof(*out));
	if (s && inet_pton(AF_INET, s, out->a) == 1)
		out->family = AF_INET;
	else if (s && inet_pton(AF_INET6, s, out->a) == 1)
		out->family = AF_INET6;
	else
		return cella_error_set(err, EINVAL, "%s: `%s` is not an IPv4 or IPv6 address", field,
				       shown(s, show, sizeof(show)));
	if (!inet_ntop(out->family, out->a, out->text, sizeof(out->text)))
		return cella_error_set(err, errno, "%s", field);
	return 0;
}

static bool addr_is_unspecified(const struct addr *a)
{
	static const unsigned char zero[16];
	return memcmp(a->a, zero, a->family == AF_INET ? 4 : 16) == 0;
}

static bool addr_is_loopback(const struct addr *a)
{
	static const unsigned char lo6[16] = { [15] = 1 };
	return a->family == AF_INET ? a->a[0] == 127 : memcmp(a->a, lo6, 16) == 0;
}

static bool addr_is_multicast(const struct addr *a)
{
	return a->family == AF_INET ? (a->a[0] & 0xf0) == 0xe0 : a->a[0] == 0xff;
}

/* "ADDR/LEN" of the given family; host bits are cleared. */
static int parse_prefix(const char *field, const char *s, int family, struct addr *out, unsigned *len,
			struct cella_error *err)
{
	char buf[64], show[64];
	const char *slash = s ? strchr(s, '/') : NULL;
	unsigned max = family == AF_INET ? 32 : 128;
	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return cella_error_set(err, EINVAL, "%s: `%s` is not a subnet (ADDRESS/LENGTH)", field,
				       shown(s, show, sizeof(show)));
	memcpy(buf, s, slash - s);
	buf[slash - s] = '\0';
	if (parse_addr(field, buf, out, err) < 0)
		return -1;
	if (out->family != family)
		return cella_error_set(err, EINVAL, "%s: `%s` is not an IPv%d subnet", field,
				       shown(s, show, sizeof(show)), family == AF_INET ? 4 : 6);
	const char *p = slash + 1;
	unsigned n = 0;
	if (!*p || strlen(p) > 3)
		return cella_error_set(err, EINVAL, "%s: bad prefix length", field);
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return cella_error_set(err, EINVAL, "%s: bad prefix length", field);
		n = n * 10 + (*p - '0');
	}
	if (n < 1 || n > max)
		return cella_error_set(err, EINVAL, "%s: prefix length %u not in 1..%u", field, n, max);
	for (unsigned bit = n; bit < max; bit++)
		out->a[bit / 8] &= ~(0x80 >> (bit % 8));
	inet_ntop(family, out->a, out->text, sizeof(out->text));
	*len = n;
	return 0;
}

/* "xx:xx:xx:xx:xx:xx", a unicast MAC; printed back lower-case. */
static int parse_mac(const char *field, const char *s, unsigned char mac[6], char text[18],
		     struct cella_error *err)
{
	char show[64];
	if (!s || strlen(s) != 17)
		goto bad;
	for (int i = 0; i < 6; i++) {
		unsigned v = 0;
		for (int j = 0; j < 2; j++) {
			char c = s[i * 3 + j];
			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				v |= c - 'A' + 10;
			else
				goto bad;
		}
		if (i < 5 && s[i * 3 + 2] != ':')
			goto bad;
		mac[i] = v;
	}
	if (mac[0] & 1)
		return cella_error_set(err, EINVAL, "%s: `%s` is a multicast address", field, s);
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return cella_error_set(err, EINVAL, "%s: the zero address", field);
	snprintf(text, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return 0;
bad:
	return cella_error_set(err, EINVAL, "%s: `%s` is not a MAC address (xx:xx:xx:xx:xx:xx)", field,
			       shown(s, show, sizeof(show)));
}

static int check_port(const char *field, unsigned port, struct cella_error *err)
{
	if (port < 1 || port > 65535)
		return cella_error_set(err, EINVAL, "%s: %u not in 1..65535", field, port);
	return 0;
}

/* ---- tables ---------------------------------------------------------------- */

int nft_table_ensure(struct nft_session *s, struct cella_error *err)
{
	struct batch b;
	if (batch_open(&b, err) < 0)
		return -1;
	put_skeleton(b.f);
	return batch_run(s, &b, "create table " TABLE, err);
}

int nft_table_flush(struct nft_session *s, struct cella_error *err)
{
	struct batch b;
	if (batch_open(&b, err) < 0)
		return -1;
	fputs("add table inet " TABLE "\ndelete table inet " TABLE "\n"
	      "add table bridge " TABLE "\ndelete table bridge " TABLE "\n"
	      "add table netdev " TABLE "\ndelete table netdev " TABLE "\n", b.f);
	put_skeleton(b.f);
	return batch_run(s, &b, "flush table " TABLE, err);
}

int nft_table_delete(struct nft_session *s, struct cella_error *err)
{
	struct batch b;
	if (batch_open(&b, err) < 0)
		return -1;
	fputs("add table inet " TABLE "\ndelete table inet " TABLE "\n"
	      "add table bridge " TABLE "\ndelete table bridge " TABLE "\n"
	      "add table netdev " TABLE "\ndelete table netdev " TABLE "\n", b.f);
	return batch_run(s, &b, "delete table " TABLE, err);
}

/* ---- networks ------------------------------------------------------------ */

int nft_network_set(struct nft_session *s, const struct nft_network *net, struct cella_error *err)
{
	struct addr v4, v6;
	unsigned len4 = 0, len6 = 0;

	if (check_ifname("bridge", net->bridge, err) < 0)
		return -1;
	const char *br = net->bridge;
	if (net->ipv4 && parse_prefix("ipv4", net->ipv4, AF_INET, &v4, &len4, err) < 0)
		return cella_error_wrap(err, "network `%s`", br);
	if (net->ipv6 && parse_prefix("ipv6", net->ipv6, AF_INET6, &v6, &len6, err) < 0)
		return cella_error_wrap(err, "network `%s`", br);
	if (!net->ipv4 && !net->ipv6)
		return cella_error_set(err, EINVAL, "network `%s`: ipv4, ipv6: neither subnet given", br);

	struct batch b;
	if (batch_open(&b, err) < 0)
		return -1;
	FILE *f = b.f;
	put_skeleton(f);
	/* NAT: from the subnet, in by the bridge, out by anything else.
	 * Hairpin: a port-forwarded connection from an instance to another of
	 * the same network leaves by the bridge again; masquerade it to the
	 * gateway so the reply comes back through the host and its conntrack
	 * entry, not straight from the other instance. */
	fprintf(f, "add chain inet " TABLE " nat_%s\nflush chain inet " TABLE " nat_%s\n", br, br);
	if (net->ipv4)
		fprintf(f,
			"add rule inet " TABLE " nat_%s oifname != \"%s\" ip saddr %s/%u masquerade\n"
			"add rule inet " TABLE " nat_%s oifname \"%s\" ct status dnat ip saddr %s/%u masquerade\n",
			br, br, v4.text, len4, br, br, v4.text, len4);
	if (net->ipv6)
		fprintf(f,
			"add rule inet " TABLE " nat_%s oifname != \"%s\" ip6 saddr %s/%u masquerade\n"
			"add rule inet " TABLE " nat_%s oifname \"%s\" ct status dnat ip6 saddr %s/%u masquerade\n",
			br, br, v6.text, len6, br, br, v6.text, len6);
	/* Instance to instance of the subnet is bridged: with br_netfilter on
	 * (bridge-nf-call-iptables, which Docker turns on) each such frame would
	 * pass conntrack for nothing (~10% of the bridge's throughput).  What
	 * stays tracked: traffic to the host's own addresses, and replies from
	 * where a port forward leads (br_netfilter bridges a hairpin's DNATed
	 * packets, so their replies are undone by conntrack on the bridge). */
	fprintf(f, "add chain inet " TABLE " raw_%s\nflush chain inet " TABLE " raw_%s\n", br, br);
	if (net->ipv4)
		fprintf(f, "add rule inet " TABLE " raw_%s ip saddr . meta l4proto . th sport @pf_targets4 return\n"
			"add rule inet " TABLE " raw_%s ip saddr %s/%u ip daddr %s/%u fib daddr type != local notrack\n",
			br, br, v4.text, len4, v4.text, len4);
	if (net->ipv6)
		fprintf(f, "add rule inet " TABLE " raw_%s ip6 saddr . meta l4proto . th sport @pf_targets6 return\n"
			"add rule inet " TABLE " raw_%s ip6 saddr %s/%u ip6 daddr %s/%u fib daddr type != local notrack\n",
			br, br, v6.text, len6, v6.text, len6);
	/* forward: in by the bridge */
	fprintf(f, "add chain inet " TABLE " fwdi_%s\nflush chain inet " TABLE " fwdi_%s\n", br, br);
	if (net->isolated)
		/* isolation, routed: an instance reaching another through the
		 * gateway; published ports (dnat) stay reachable */
		fprintf(f,
			"add rule inet " TABLE " fwdi_%s oifname \"%s\" ct status dnat accept\n"
			"add rule inet " TABLE " fwdi_%s oifname \"%s\" drop\n",
			br, br, br, br);
	fprintf(f, "add rule inet " TABLE " fwdi_%s accept\n", br);
	/* forward: out by the bridge: replies and port forwards only */
	fprintf(f,
		"add chain inet " TABLE " fwdo_%s\nflush chain inet " TABLE " fwdo_%s\n"
		"add rule inet " TABLE " fwdo_%s ct state established,related accept\n"
		"add rule inet " TABLE " fwdo_%s ct status dnat accept\n",
		br, br, br, br);
	fprintf(f,
		"add element inet " TABLE " nat_nets { \"%s\" : jump nat_%s }\n"
		"add element inet " TABLE " fwd_in { \"%s\" : jump fwdi_%s }\n"
		"add element inet " TABLE " fwd_out { \"%s\" : jump fwdo_%s }\n"
		"add element inet " TABLE " raw_nets { \"%s\" : jump raw_%s }\n",
		br, br, br, br, br, br, br, br);
	if (batch_run(s, &b, "add rules", err) < 0)
		return cella_error_wrap(err, "network `%s`", br);
	return 0;
}

int nft_network_remove(struct nft_session *s, const char *bridge, struct cella_error *err)
{
	if (check_ifname("bridge", bridge, err) < 0)
		return -1;
	struct batch b;
	if (batch_open(&b, err) < 0)
		return -1;
	put_skeleton(b.f);
	static const struct { const char *map, *chain; } parts[] = {
		{ "nat_nets", "nat" }, { "fwd_in", "fwdi" }, { "fwd_out", "fwdo" }, { "raw_nets", "raw" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		const char *m = parts[i].map, *c = parts[i].chain;
		fprintf(b.f,
			"add chain inet " TABLE " %s_%s\n"
			"add element inet " TABLE " %s { \"%s\" : jump %s_%s }\n"
			"delete element inet " TABLE " %s { \"%s\" }\n"
			"flush chain inet " TABLE " %s_%s\n"
			"delete chain inet " TABLE " %s_%s\n",
			c, bridge, m, bridge, c, bridge, m, bridge, c, bridge, c, bridge);
	}
	if (batch_run(s, &b, "remove rules", err) < 0)
		return cella_error_wrap(err, "network `%s`", bridge);
	return 0;
}

/* ---- port forwards ------------------------------------------------------- */

/* A forward as its rule's comment records it. */
struct pf_rec {
	char name[PORTFWD_NAME_MAX + 1];
	char proto[4];
	char listen[INET6_ADDRSTRLEN];
	unsigned lport;
	char target[INET6_ADDRSTRLEN];
	unsigned tport;
	uint64_t handle;
};

static int pf_parse_comment(const char *c, struct pf_rec *r)
{
	/* widths follow the buffer sizes above */
	char extra;
	if (sscanf(c, "%32s %3s %45s %u %45s %u %c", r->name, r->proto, r->listen, &r->lport, r->target,
		   &r->tport, &extra) != 6)
		return -1;
	return 0;
}

/* The port forwards in our portfwd chain (none when it does not exist yet). */
static int pf_list(struct nft_session *s, struct pf_rec **out, size_t *n, struct cella_error *err)
{
	*out = NULL;
	*n = 0;
	struct cella_error lerr = { 0 };
	json_t *items = nft_list(s, "list chain inet " TABLE " portfwd", &lerr);
	if (!items) {
		if (lerr.code == ENOENT)
			return 0;
		*err = lerr;
		return -1;
	}
	size_t i;
	json_t *it;
	struct pf_rec *recs = calloc(json_array_size(items) + 1, sizeof(*recs));
	if (!recs) {
		json_decref(items);
		return cella_error_set(err, ENOMEM, "port forwards");
	}
	json_array_foreach(items, i, it) {
		json_t *rule = json_object_get(it, "rule");
		const char *comment = json_string_value(json_object_get(rule, "comment"));
		json_t *handle = json_object_get(rule, "handle");
		if (!comment || !json_is_integer(handle))
			continue;
		struct pf_rec r = { 0 };
		if (pf_parse_comment(comment, &r) < 0)
			continue;
		r.handle = json_integer_value(handle);
		recs[(*n)++] = r;
	}
	json_decref(items);
	*out = recs;
	return 0;
}

int nft_portfwd_add(struct nft_session *s, const struct nft_portfwd *pf, struct cella_error *err)
{
	struct addr listen, target;
	char show[64];

	if (!name_ok(pf->name, PORTFWD_NAME_MAX))
		return cella_error_set(err, EINVAL, "port forward: name: `%s` is not a name ([A-Za-z0-9_.-]{1,32})",
				       shown(pf->name, show, sizeof(show)));
	const char *name = pf->name;
	if (!pf->proto || (strcmp(pf->proto, "tcp") != 0 && strcmp(pf->proto, "udp") != 0))
		return cella_error_set(err, EINVAL, "port forward `%s`: proto: `%s` is neither tcp nor udp", name,
				       shown(pf->proto, show, sizeof(show)));
	const char *proto = strcmp(pf->proto, "tcp") == 0 ? "tcp" : "udp";
	if (parse_addr("listen", pf->listen, &listen, err) < 0 ||
	    check_port("listen_port", pf->listen_port, err) < 0 ||
	    parse_addr("target", pf->target, &target, err) < 0 ||
	    check_port("target_port", pf->target_port, err) < 0)
		return cella_error_wrap(err, "port forward `%s`", name);
	if (addr_is_loopback(&listen) || addr_is_multicast(&listen))
		return cella_error_set(err, EINVAL, "port forward `%s`: listen: %s is a loopback or multicast address",
				       name, listen.text);
	if (target.family != listen.family)
		return cella_error_set(err, EINVAL, "port forward `%s`: target: %s is not of the listen address's family",
				       name, target.text);
	if (addr_is_unspecified(&target) || addr_is_loopback(&target) || addr_is_multicast(&target))
		return cella_error_set(err, EINVAL, "port forward `%s`: target: %s is not a unicast address",
				       name, target.text);
	bool any = addr_is_unspecified(&listen);

	/* conflicts: the same name, or the same proto and port on the same
	 * address or where one of the two listens on every address */
	cleanup_free struct pf_rec *recs = NULL;
	size_t n;
	if (pf_list(s, &recs, &n, err) < 0)
		return cella_error_wrap(err, "port forward `%s`", name);
	for (size_t i = 0; i < n; i++) {
		struct pf_rec *r = &recs[i];
		struct addr rl;
		struct cella_error ignored;
		if (parse_addr("", r->listen, &rl, &ignored) < 0)
			continue;
		bool same_name = strcmp(r->name, name) == 0;
		bool same_listen = rl.family == listen.family && strcmp(r->proto, proto) == 0 &&
				   r->lport == pf->listen_port &&
				   (strcmp(rl.text, listen.text) == 0 || any || addr_is_unspecified(&rl));
		if (same_name && same_listen && strcmp(rl.text, listen.text) == 0 &&
		    strcmp(r->target, target.text) == 0 && r->tport == pf->target_port)
			return 0;	/* the very same forward: nothing to do */
		if (same_name)
			return cella_error_set(err, EEXIST, "port forward `%s`", name);
		if (same_listen)
			return cella_error_set(err, EEXIST, "port forward `%s`: listen %s port %u/%s: taken by port forward `%s`",
					       name, listen.text, pf->listen_port, proto, r->name);
	}

	struct batch b;
	if (batch_open(&b, err) < 0)
		return -1;
	put_skeleton(b.f);
	bool v4 = listen.family == AF_INET;
	fprintf(b.f, "add rule inet " TABLE " portfwd ");
	if (any)	/* every local address but loopback (route_localnet is off) */
		fprintf(b.f, "%s", v4 ? "ip daddr != 127.0.0.0/8 " : "ip6 daddr != ::1 ");
	else
		fprintf(b.f, "%s %s ", v4 ? "ip daddr" : "ip6 daddr", listen.text);
	fprintf(b.f, "%s dport %u dnat %s to %s%s%s:%u comment \"%s %s %s %u %s %u\"\n",
		proto, pf->listen_port, v4 ? "ip" : "ip6", v4 ? "" : "[", target.text, v4 ? "" : "]",
		pf->target_port, name, proto, listen.text, pf->listen_port, target.text, pf->target_port);
	fprintf(b.f, "add element inet " TABLE " pf_targets%c { %s . %s . %u }\n", v4 ? '4' : '6', target.text, proto,
		pf->target_port);
	if (batch_run(s, &b, "add rule", err) < 0)
		return cella_error_wrap(err, "port forward `%s`", name);
	return 0;
}

int nft_portfwd_remove_prefix(struct nft_session *s, const char *prefix, struct cella_error *err)
{
	char show[64];
	if (!*prefix || !name_ok(prefix, PORTFWD_NAME_MAX))
		return cella_error_set(err, EINVAL, "port forward: prefix: `%s` is not a name ([A-Za-z0-9_.-]{1,32})",
				       shown(prefix, show, sizeof(show)));
	cleanup_free struct pf_rec *recs = NULL;
	size_t n;
	if (pf_list(s, &recs, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!strncmp(recs[i].name, prefix, strlen(prefix)) && nft_portfwd_remove(s, recs[i].name, err) < 0)
			return -1;
	return 0;
}

int nft_portfwd_remove(struct nft_session *s, const char *name, struct cella_error *err)
{
	char show[64];
	if (!name_ok(name, PORTFWD_NAME_MAX))
		return cella_error_set(err, EINVAL, "port forward: name: `%s` is not a name ([A-Za-z0-9_.-]{1,32})",
				       shown(name, show, sizeof(show)));
	cleanup_free struct pf_rec *recs = NULL;
	size_t n;
	if (pf_list(s, &recs, &n, err) < 0)
		return cella_error_wrap(err, "port forward `%s`", name);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(recs[i].name, name) != 0)
			continue;
		char cmd[256];
		int len = snprintf(cmd, sizeof(cmd), "delete rule inet " TABLE " portfwd handle %" PRIu64 "\n",
				   recs[i].handle);
		/* its target leaves the set unless another forward leads there too */
		bool shared = false;
		for (size_t j = 0; j < n; j++)
			shared |= j != i && !strcmp(recs[j].target, recs[i].target) && !strcmp(recs[j].proto, recs[i].proto) &&
				  recs[j].tport == recs[i].tport;
		if (!shared)
			snprintf(cmd + len, sizeof(cmd) - (size_t)len, "delete element inet " TABLE " pf_targets%c { %s . %s . %u }\n",
				 strchr(recs[i].target, ':') ? '6' : '4', recs[i].target, recs[i].proto, recs[i].tport);
		if (nft_run(s, cmd, false, "delete rule", NULL, err) < 0)
			return cella_error_wrap(err, "port forward `%s`", name);
		return 0;
	}
	return cella_error_set(err, ENOENT, "port forward `%s`", name);
}

/* ---- instance NICs ------------------------------------------------------- */

/* Print a set of address texts "{ a, b }" */
static void put_set(FILE *f, const struct addr *addrs, size_t n, int family, bool hex)
{
	const char *sep = "{ ";
	for (size_t i = 0; i < n; i++) {
		if (addrs[i].family != family)
			continue;
		fputs(sep, f);
		if (hex) {
			fputs("0x", f);
			for (int j = 0; j < 16; j++)
				fprintf(f, "%02x", addrs[i].a[j]);
		} else {
			fputs(addrs[i].text, f);
		}
		sep = ", ";
	}
	fputs(" }", f);
}

int nft_nic_set(struct nft_session *s, const struct nft_nic *nic, struct cella_error *err)
{
	unsigned char mac[6];
	char mac_text[18];

	if (check_ifname("ifname", nic->ifname, err) < 0)
		return -1;
	const char *ifn = nic->ifname;
	if (parse_mac("mac", nic->mac, mac, mac_text, err) < 0)
		return cella_error_wrap(err, "NIC `%s`", ifn);
	if (nic->n_ips > 64)
		return cella_error_set(err, EINVAL, "NIC `%s`: ips: more than 64 addresses", ifn);

	/* its addresses, plus the IPv6 link-local address derived from the MAC
	 * (EUI-64, universal/local bit flipped) */
	struct addr addrs[65];
	size_t n = 0, n4 = 0;
	for (size_t i = 0; i < nic->n_ips; i++) {
		char field[32];
		snprintf(field, sizeof(field), "ips[%zu]", i);
		if (parse_addr(field, nic->ips[i], &addrs[n], err) < 0)
			return cella_error_wrap(err, "NIC `%s`", ifn);
		if (addr_is_unspecified(&addrs[n]) || addr_is_loopback(&addrs[n]) || addr_is_multicast(&addrs[n]))
			return cella_error_set(err, EINVAL, "NIC `%s`: %s: %s is not a unicast address", ifn, field,
					       addrs[n].text);
		n4 += addrs[n].family == AF_INET;
		n++;
	}
	struct addr *ll = &addrs[n++];
	memset(ll, 0, sizeof(*ll));
	ll->family = AF_INET6;
	ll->a[0] = 0xfe;
	ll->a[1] = 0x80;
	ll->a[8] = mac[0] ^ 0x02;
	ll->a[9] = mac[1];
	ll->a[10] = mac[2];
	ll->a[11] = 0xff;
	ll->a[12] = 0xfe;
	ll->a[13] = mac[3];
	ll->a[14] = mac[4];
	ll->a[15] = mac[5];
	inet_ntop(AF_INET6, ll->a, ll->text, sizeof(ll->text));

	struct batch b;
	if (batch_open(&b, err) < 0)
		return -1;
	FILE *f = b.f;
	put_skeleton(f);
	const char *t = "netdev " TABLE;
	fprintf(f,
		"add counter %s tx_%s\nadd counter %s rx_%s\nadd counter %s drop_%s\n"
		"add chain %s in_%s { type filter hook ingress device \"%s\" priority %d; policy drop; }\n"
		"flush chain %s in_%s\n",
		t, ifn, t, ifn, t, ifn, t, ifn, ifn, PRIO_NIC, t, ifn);
	char pass[64], drop[64];
	snprintf(pass, sizeof(pass), "counter name \"tx_%s\" accept", ifn);
	snprintf(drop, sizeof(drop), "counter name \"drop_%s\" drop", ifn);
	/* a forged source MAC would poison the bridge's forwarding database
	 * and impersonate another instance */
	if (!nic->any_mac)
		fprintf(f, "add rule %s in_%s ether saddr != %s %s\n", t, ifn, mac_text, drop);
	/* what its owner let through unfiltered (a router or bridge inside) */
	if (nic->any_ipv4)
		fprintf(f, "add rule %s in_%s ether type { arp, ip } %s\n", t, ifn, pass);
	if (nic->any_ipv6)
		fprintf(f, "add rule %s in_%s ether type ip6 icmpv6 type { nd-router-advert, nd-redirect } %s\n"
			"add rule %s in_%s ether type ip6 %s\n", t, ifn, drop, t, ifn, pass);
	/* ARP: the sender must be this NIC (ARP cache poisoning); 0.0.0.0 is
	 * an address probe (RFC 5227), which claims nothing */
	fprintf(f, "add rule %s in_%s ether type arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 ", t, ifn);
	if (!nic->any_mac)
		fprintf(f, "arp saddr ether %s ", mac_text);
	fprintf(f, "arp saddr ip { 0.0.0.0");
	for (size_t i = 0; i < n; i++)
		if (addrs[i].family == AF_INET)
			fprintf(f, ", %s", addrs[i].text);
	fprintf(f, " } %s\n", pass);
	/* IPv4 from its own addresses only (source spoofing); a DHCP client
	 * without an address yet */
	if (n4) {
		fprintf(f, "add rule %s in_%s ether type ip ip saddr ", t, ifn);
		put_set(f, addrs, n, AF_INET, false);
		fprintf(f, " %s\n", pass);
	}
	fprintf(f, "add rule %s in_%s ether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 "
		"udp sport 68 udp dport 67 %s\n", t, ifn, pass);
	/* rogue routers: no router advertisements or redirects from instances */
	fprintf(f, "add rule %s in_%s ether type ip6 icmpv6 type { nd-router-advert, nd-redirect } %s\n",
		t, ifn, drop);
	/* NDP spoofing: a neighbor advertisement names one of its own
	 * addresses as target (ICMPv6 bytes 8..23) */
	fprintf(f, "add rule %s in_%s ether type ip6 icmpv6 type nd-neighbor-advert @th,64,128 ", t, ifn);
	put_set(f, addrs, n, AF_INET6, true);
	fprintf(f, " ip6 saddr ");
	put_set(f, addrs, n, AF_INET6, false);
	fprintf(f, " %s\n", pass);
	fprintf(f, "add rule %s in_%s ether type ip6 icmpv6 type nd-neighbor-advert %s\n", t, ifn, drop);
	/* duplicate address detection: solicitations from :: for its own
	 * addresses only (a probe for another's address is a DAD denial of
	 * service), and MLD reports from :: */
	fprintf(f, "add rule %s in_%s ether type ip6 ip6 saddr :: icmpv6 type nd-neighbor-solicit @th,64,128 ",
		t, ifn);
	put_set(f, addrs, n, AF_INET6, true);
	fprintf(f, " %s\n", pass);
	fprintf(f, "add rule %s in_%s ether type ip6 ip6 saddr :: icmpv6 type mld2-listener-report %s\n",
		t, ifn, pass);
	/* IPv6 from its own addresses only (DHCPv6 and NDP from link-local) */
	fprintf(f, "add rule %s in_%s ether type ip6 ip6 saddr ", t, ifn);
	put_set(f, addrs, n, AF_INET6, false);
	fprintf(f, " %s\n", pass);
	/* everything else: other ethertypes, VLAN tags, other sources */
	fprintf(f, "add rule %s in_%s %s\n", t, ifn, drop);
	/* what the instance receives */
	fprintf(f,
		"add chain %s out_%s { type filter hook egress device \"%s\" priority %d; policy accept; }\n"
		"flush chain %s out_%s\n"
		"add rule %s out_%s counter name \"rx_%s\"\n",
		t, ifn, ifn, PRIO_NIC, t, ifn, t, ifn, ifn);
	fprintf(f, "add element bridge " TABLE " isolated { \"%s\" }\n", ifn);
	if (!nic->isolated)
		fprintf(f, "delete element bridge " TABLE " isolated { \"%s\" }\n", ifn);
	if (batch_run(s, &b, "add rules", err) < 0)
		return cella_error_wrap(err, "NIC `%s`", ifn);
	return 0;
}

/* Which of the NIC's objects exist in our netdev table: chains in_, out_ and
 * counters tx_, rx_, drop_ (bit per object); optionally their counters. */
enum { HAS_IN = 1, HAS_OUT = 2, HAS_TX = 4, HAS_RX = 8, HAS_DROP = 16 };

static int nic_objects(struct nft_session *s, const char *ifn, unsigned *has, struct nft_counters *c,
		       struct cella_error *err)
{
	*has = 0;
	struct cella_error lerr = { 0 };
	json_t *items = nft_list(s, "list table netdev " TABLE, &lerr);
	if (!items) {
		if (lerr.code == ENOENT)
			return 0;
		*err = lerr;
		return -1;
	}
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it) {
		json_t *o;
		const char *name;
		if ((o = json_object_get(it, "chain")) && (name = json_string_value(json_object_get(o, "name")))) {
			if (strncmp(name, "in_", 3) == 0 && strcmp(name + 3, ifn) == 0)
				*has |= HAS_IN;
			else if (strncmp(name, "out_", 4) == 0 && strcmp(name + 4, ifn) == 0)
				*has |= HAS_OUT;
		} else if ((o = json_object_get(it, "counter")) &&
			   (name = json_string_value(json_object_get(o, "name")))) {
			uint64_t bytes = json_integer_value(json_object_get(o, "bytes"));
			uint64_t packets = json_integer_value(json_object_get(o, "packets"));
			const char *us = strchr(name, '_');
			if (!us || strcmp(us + 1, ifn) != 0)
				continue;
			size_t pl = us - name;
			if (pl == 2 && strncmp(name, "tx", 2) == 0) {
				*has |= HAS_TX;
				if (c)
					c->tx_bytes = bytes, c->tx_packets = packets;
			} else if (pl == 2 && strncmp(name, "rx", 2) == 0) {
				*has |= HAS_RX;
				if (c)
					c->rx_bytes = bytes, c->rx_packets = packets;
			} else if (pl == 4 && strncmp(name, "drop", 4) == 0) {
				*has |= HAS_DROP;
				if (c)
					c->tx_dropped_bytes = bytes, c->tx_dropped_packets = packets;
			}
		}
	}
	json_decref(items);
	return 0;
}

int nft_nic_remove(struct nft_session *s, const char *ifname, struct cella_error *err)
{
	if (check_ifname("ifname", ifname, err) < 0)
		return -1;
	/* chains bound to a device cannot be re-added once it is gone (older
	 * kernels), so delete only what exists */
	unsigned has;
	if (nic_objects(s, ifname, &has, NULL, err) < 0)
		return cella_error_wrap(err, "NIC `%s`", ifname);
	struct batch b;
	if (batch_open(&b, err) < 0)
		return -1;
	FILE *f = b.f;
	put_skeleton(f);
	const char *t = "netdev " TABLE;
	if (has & HAS_IN)
		fprintf(f, "flush chain %s in_%s\ndelete chain %s in_%s\n", t, ifname, t, ifname);
	if (has & HAS_OUT)
		fprintf(f, "flush chain %s out_%s\ndelete chain %s out_%s\n", t, ifname, t, ifname);
	if (has & HAS_TX)
		fprintf(f, "delete counter %s tx_%s\n", t, ifname);
	if (has & HAS_RX)
		fprintf(f, "delete counter %s rx_%s\n", t, ifname);
	if (has & HAS_DROP)
		fprintf(f, "delete counter %s drop_%s\n", t, ifname);
	fprintf(f, "add element bridge " TABLE " isolated { \"%s\" }\n"
		"delete element bridge " TABLE " isolated { \"%s\" }\n", ifname, ifname);
	if (batch_run(s, &b, "remove rules", err) < 0)
		return cella_error_wrap(err, "NIC `%s`", ifname);
	return 0;
}

int nft_nic_counters(struct nft_session *s, const char *ifname, struct nft_counters *c,
		     struct cella_error *err)
{
	if (check_ifname("ifname", ifname, err) < 0)
		return -1;
	memset(c, 0, sizeof(*c));
	unsigned has;
	if (nic_objects(s, ifname, &has, c, err) < 0)
		return cella_error_wrap(err, "NIC `%s`: counters", ifname);
	if ((has & (HAS_TX | HAS_RX | HAS_DROP)) != (HAS_TX | HAS_RX | HAS_DROP))
		return cella_error_set(err, ENOENT, "NIC `%s`: no counters", ifname);
	return 0;
}

/* ---- the host's forward policy ------------------------------------------- */

int nft_forward_check(struct nft_session *s, char *reason, size_t len, struct cella_error *err)
{
	if (len)
		reason[0] = '\0';
	json_t *items = nft_list(s, "list ruleset", err);
	if (!items)
		return -1;
	size_t i, used = 0;
	json_t *it;
	int found = 0;
	json_array_foreach(items, i, it) {
		json_t *c = json_object_get(it, "chain");
		if (!c)
			continue;
		const char *family = json_string_value(json_object_get(c, "family"));
		const char *table = json_string_value(json_object_get(c, "table"));
		const char *name = json_string_value(json_object_get(c, "name"));
		const char *hook = json_string_value(json_object_get(c, "hook"));
		const char *policy = json_string_value(json_object_get(c, "policy"));
		json_int_t prio = json_integer_value(json_object_get(c, "prio"));
		if (!family || !table || !name || !hook || !policy)
			continue;
		if (strcmp(hook, "forward") != 0 || strcmp(policy, "drop") != 0)
			continue;
		/* bridge and netdev forward hooks are layer 2: not our routed traffic */
		if (strcmp(family, "ip") != 0 && strcmp(family, "ip6") != 0 && strcmp(family, "inet") != 0)
			continue;
		if (strcmp(table, TABLE) == 0 && strcmp(family, "inet") == 0)
			continue;
		bool iptables = strcmp(table, "filter") == 0 && strcmp(name, "FORWARD") == 0 &&
				strcmp(family, "inet") != 0;
		int w;
		if (iptables)
			w = snprintf(reason + used, len - used,
				     "%s%s FORWARD policy DROP (table %s filter, iptables-nft): forwarded traffic of "
				     "cella networks is dropped unless a rule there accepts it",
				     found ? "; " : "", strcmp(family, "ip") == 0 ? "iptables" : "ip6tables", family);
		else
			w = snprintf(reason + used, len - used,
				     "%stable %s %s: chain %s (hook forward, priority %lld) has policy drop: forwarded "
				     "traffic of cella networks is dropped unless a rule there accepts it",
				     found ? "; " : "", family, table, name, (long long)prio);
		found = 1;
		if (w > 0 && used + w < len)
			used += w;
		else if (len)
			used = len - 1;
	}
	json_decref(items);
	return found;
}
