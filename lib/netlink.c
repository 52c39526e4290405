/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rtnetlink through libmnl: links, addresses, routes, proxy neighbours,
 * qdiscs and counters (see netlink.h for the API and its choices).
 *
 * Every request carries NLM_F_ACK and a fresh sequence number; replies with
 * another sequence number or port id (left over from an earlier, failed
 * call) are skipped.  The socket asks for extended acks (NETLINK_EXT_ACK)
 * and capped ones (NETLINK_CAP_ACK: the kernel does not echo the request
 * back), so a refusal carries the kernel's own explanation.  A dump the
 * kernel marks interrupted by a concurrent change (NLM_F_DUMP_INTR) is
 * returned as read: lists are snapshots, not transactions.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <time.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <linux/veth.h>

#include <libmnl/libmnl.h>

#include "netlink.h"
#include "util.h"

/* Large enough for a dump batch of the kernel (it sizes them by the
 * reader's buffer, up to 32 KiB) */
#define NL_RECV_SIZE 32768
/* Requests: a few attributes, never near a page */
#define NL_REQ_SIZE 4096

struct nl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
	char buf[NL_RECV_SIZE] __attribute__((aligned(8)));
};

/* A request buffer on the stack, aligned for struct nlmsghdr */
#define NL_REQ(name) char name[NL_REQ_SIZE] __attribute__((aligned(8)))

/* ---------------------------------------------------------------- socket */

static int nl_socket_open(struct nl *nl, struct cella_error *err)
{
	int one = 1;

	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->sock)
		return cella_error_set(err, errno, "netlink socket");
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;
		mnl_socket_close(nl->sock);
		nl->sock = NULL;
		return cella_error_set(err, e, "bind netlink socket");
	}
	/* both are optional: without them errors just lack the kernel's text */
	(void)mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	(void)mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (uint32_t)time(NULL);
	return 0;
}

struct nl *nl_open(struct cella_error *err)
{
	struct nl *nl = calloc(1, sizeof(*nl));
	if (!nl) {
		cella_error_set(err, ENOMEM, "netlink");
		return NULL;
	}
	if (nl_socket_open(nl, err) < 0) {
		free(nl);
		return NULL;
	}
	return nl;
}

void nl_close(struct nl *nl)
{
	if (!nl)
		return;
	if (nl->sock)
		mnl_socket_close(nl->sock);
	free(nl);
}

struct netns_job {
	int netns_fd;
	int (*fn)(void *arg);
	void *arg;
	int ret;
	int setns_errno;
};

static void *netns_thread(void *p)
{
	struct netns_job *job = p;
	/* only this thread changes namespace; it ends right after fn */
	if (job->netns_fd >= 0 && setns(job->netns_fd, CLONE_NEWNET) < 0) {
		job->setns_errno = errno;
		job->ret = -1;
		return NULL;
	}
	job->ret = job->fn(job->arg);
	return NULL;
}

int netns_run(int netns_fd, int (*fn)(void *arg), void *arg, struct cella_error *err)
{
	struct netns_job job = { .netns_fd = netns_fd, .fn = fn, .arg = arg };
	pthread_t t;

	if (netns_fd < 0)
		return fn(arg);
	int e = pthread_create(&t, NULL, netns_thread, &job);
	if (e)
		return cella_error_set(err, e, "thread to enter a network namespace");
	pthread_join(t, NULL);
	if (job.setns_errno)
		return cella_error_set(err, job.setns_errno, "enter network namespace (fd %d)", netns_fd);
	return job.ret;
}

struct open_job {
	struct nl *nl;
	struct cella_error *err;
};

static int open_in_thread(void *p)
{
	struct open_job *j = p;
	return nl_socket_open(j->nl, j->err);
}

struct nl *nl_open_netns(int netns_fd, struct cella_error *err)
{
	if (netns_fd < 0) {
		cella_error_set(err, EBADF, "netlink socket in a network namespace: no namespace fd");
		return NULL;
	}
	struct nl *nl = calloc(1, sizeof(*nl));
	if (!nl) {
		cella_error_set(err, ENOMEM, "netlink");
		return NULL;
	}
	struct open_job job = { nl, err };
	if (netns_run(netns_fd, open_in_thread, &job, err) < 0) {
		nl_close(nl);
		return NULL;
	}
	return nl;
}

/* ------------------------------------------------------- request and ack */

/* Record the kernel's refusal: "strerror (kernel: extack)"; callers wrap it. */
static int nl_fail(struct cella_error *err, int e, const char *ext)
{
	if (ext && *ext)
		cella_error_set(err, 0, "%s (kernel: %s)", strerror(e), ext);
	else
		cella_error_set(err, 0, "%s", strerror(e));
	if (err)
		err->code = e;
	return -1;
}

static int extack_cb(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		*(const char **)data = mnl_attr_get_str(a);
	return MNL_CB_OK;
}

/* The error code of an NLMSG_ERROR or NLMSG_DONE message (0: ack / end)
 * and its extended-ack message, if any. */
static int msg_error(const struct nlmsghdr *m, const char **ext)
{
	size_t len = mnl_nlmsg_get_payload_len(m), off;
	const char *payload = mnl_nlmsg_get_payload(m);
	int code;

	*ext = NULL;
	if (m->nlmsg_type == NLMSG_DONE) {
		if (len < sizeof(int))
			return 0;
		memcpy(&code, payload, sizeof(code));
		off = sizeof(int);
	} else {
		const struct nlmsgerr *e = (const struct nlmsgerr *)payload;
		if (len < sizeof(*e))
			return -EBADMSG;
		code = e->error;
		off = sizeof(*e);
		if (!(m->nlmsg_flags & NLM_F_CAPPED) && e->msg.nlmsg_len >= sizeof(struct nlmsghdr))
			off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	}
	if ((m->nlmsg_flags & NLM_F_ACK_TLVS) && off < len)
		mnl_attr_parse_payload(payload + off, len - off, extack_cb, ext);
	return code;
}

/* Called for each reply message of a get or dump; returns 0 or -errno. */
typedef int (*nl_reply_cb)(const struct nlmsghdr *m, void *data);

/* Send `nlh` and read replies until its ack, error or end of dump.  A
 * callback failure stops callbacks but the replies are still drained so the
 * socket stays in step. */
static int nl_request(struct nl *nl, struct nlmsghdr *nlh, nl_reply_cb cb, void *data,
		      struct cella_error *err)
{
	uint32_t seq = ++nl->seq;
	int cb_err = 0;

	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return cella_error_set(err, errno, "send netlink request");
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof(nl->buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return cella_error_set(err, errno, "receive netlink reply");
		}
		int left = (int)n;
		for (const struct nlmsghdr *m = (const struct nlmsghdr *)nl->buf; mnl_nlmsg_ok(m, left);
		     m = mnl_nlmsg_next(m, &left)) {
			if (m->nlmsg_seq != seq || m->nlmsg_pid != nl->portid)
				continue; /* a reply to an earlier request */
			if (m->nlmsg_type == NLMSG_ERROR || m->nlmsg_type == NLMSG_DONE) {
				const char *ext;
				int code = msg_error(m, &ext);
				if (code < 0)
					return nl_fail(err, -code, ext);
				if (cb_err)
					return cella_error_set(err, -cb_err, "netlink reply");
				return 0;
			}
			if (m->nlmsg_type < NLMSG_MIN_TYPE || !cb || cb_err)
				continue;
			cb_err = cb(m, data);
		}
	}
}

/* ------------------------------------------------------------- attributes */

struct attr_table {
	const struct nlattr **tb;
	unsigned max;
};

static int attr_table_cb(const struct nlattr *a, void *data)
{
	struct attr_table *t = data;
	unsigned type = mnl_attr_get_type(a);
	if (type <= t->max)
		t->tb[type] = a;
	return MNL_CB_OK;
}

static void attrs_parse(const struct nlmsghdr *m, size_t hdrlen, const struct nlattr **tb, unsigned max)
{
	struct attr_table t = { tb, max };
	memset(tb, 0, (max + 1) * sizeof(*tb));
	if (m->nlmsg_len >= mnl_nlmsg_size(hdrlen))
		mnl_attr_parse(m, hdrlen, attr_table_cb, &t);
}

static void attrs_parse_nested(const struct nlattr *nest, const struct nlattr **tb, unsigned max)
{
	struct attr_table t = { tb, max };
	memset(tb, 0, (max + 1) * sizeof(*tb));
	if (nest)
		mnl_attr_parse_nested(nest, attr_table_cb, &t);
}

static bool attr_u32(const struct nlattr *a, uint32_t *v)
{
	if (!a || mnl_attr_get_payload_len(a) < sizeof(uint32_t))
		return false;
	memcpy(v, mnl_attr_get_payload(a), sizeof(*v));
	return true;
}

static bool attr_u8(const struct nlattr *a, uint8_t *v)
{
	if (!a || mnl_attr_get_payload_len(a) < 1)
		return false;
	*v = *(const uint8_t *)mnl_attr_get_payload(a);
	return true;
}

static void attr_str(const struct nlattr *a, char *buf, size_t len)
{
	buf[0] = '\0';
	if (!a)
		return;
	size_t n = strnlen(mnl_attr_get_payload(a), mnl_attr_get_payload_len(a));
	if (n >= len)
		n = len - 1;
	memcpy(buf, mnl_attr_get_payload(a), n);
	buf[n] = '\0';
}

/* An address attribute of `family` into ip; false if it has another size. */
static bool attr_ip(const struct nlattr *a, int family, struct nl_ip *ip)
{
	size_t want = family == AF_INET ? 4 : 16;
	if (!a || mnl_attr_get_payload_len(a) != want)
		return false;
	memset(ip, 0, sizeof(*ip));
	ip->family = family;
	memcpy(ip->bytes, mnl_attr_get_payload(a), want);
	return true;
}

static size_t ip_size(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* ------------------------------------------------------------------ names */

bool ifname_is_valid(const char *name)
{
	/* the kernel's dev_valid_name(), checked here for a clear message */
	if (!name || !*name || strnlen(name, IFNAMSIZ) >= IFNAMSIZ)
		return false;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p))
			return false;
	return true;
}

static int ifname_check(const char *name, struct cella_error *err)
{
	if (name && strnlen(name, IFNAMSIZ) >= IFNAMSIZ)
		return cella_error_set(err, ENAMETOOLONG, "interface name `%.64s`: longer than %d bytes", name,
				       IFNAMSIZ - 1);
	if (!ifname_is_valid(name))
		return cella_error_set(err, EINVAL, "invalid interface name `%s`", name ? name : "");
	return 0;
}

static int ifindex_check(int ifindex, struct cella_error *err)
{
	if (ifindex <= 0)
		return cella_error_set(err, ENODEV, "link %d", ifindex);
	return 0;
}

/* ------------------------------------------------------------------ links */

static struct nlmsghdr *link_msg(char *buf, uint16_t type, uint16_t flags, int ifindex)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return nlh;
}

static int link_parse(const struct nlmsghdr *m, struct nl_link *l)
{
	const struct nlattr *tb[IFLA_MAX + 1], *info[IFLA_INFO_MAX + 1], *port[IFLA_BRPORT_MAX + 1];
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(m);
	uint32_t v;
	uint8_t b;

	if (m->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(m) < sizeof(*ifi))
		return -EBADMSG;
	memset(l, 0, sizeof(*l));
	attrs_parse(m, sizeof(*ifi), tb, IFLA_MAX);
	l->index = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	attr_str(tb[IFLA_IFNAME], l->name, sizeof(l->name));
	if (attr_u32(tb[IFLA_MTU], &v))
		l->mtu = v;
	if (attr_u32(tb[IFLA_MASTER], &v))
		l->master = (int)v;
	if (tb[IFLA_ADDRESS] && mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) == 6) {
		memcpy(l->mac, mnl_attr_get_payload(tb[IFLA_ADDRESS]), 6);
		l->has_mac = true;
	}
	if (tb[IFLA_STATS64]) {
		struct rtnl_link_stats64 s = { 0 };
		size_t n = mnl_attr_get_payload_len(tb[IFLA_STATS64]);
		memcpy(&s, mnl_attr_get_payload(tb[IFLA_STATS64]), n < sizeof(s) ? n : sizeof(s));
		l->stats = (struct nl_link_stats){
			.rx_bytes = s.rx_bytes, .tx_bytes = s.tx_bytes,
			.rx_packets = s.rx_packets, .tx_packets = s.tx_packets,
			.rx_errors = s.rx_errors, .tx_errors = s.tx_errors,
			.rx_dropped = s.rx_dropped, .tx_dropped = s.tx_dropped,
		};
	}
	attrs_parse_nested(tb[IFLA_LINKINFO], info, IFLA_INFO_MAX);
	attr_str(info[IFLA_INFO_KIND], l->kind, sizeof(l->kind));
	if (info[IFLA_INFO_SLAVE_KIND] && info[IFLA_INFO_SLAVE_DATA]) {
		char skind[16];
		attr_str(info[IFLA_INFO_SLAVE_KIND], skind, sizeof(skind));
		if (!strcmp(skind, "bridge")) {
			attrs_parse_nested(info[IFLA_INFO_SLAVE_DATA], port, IFLA_BRPORT_MAX);
			l->is_brport = true;
			l->brport.isolated = attr_u8(port[IFLA_BRPORT_ISOLATED], &b) ? b : -1;
			l->brport.hairpin = attr_u8(port[IFLA_BRPORT_MODE], &b) ? b : -1;
			l->brport.learning = attr_u8(port[IFLA_BRPORT_LEARNING], &b) ? b : -1;
		}
	}
	return 0;
}

static int link_get_cb(const struct nlmsghdr *m, void *data)
{
	return link_parse(m, data);
}

/* RTM_GETLINK of one link by index or (ifindex 0) by name. */
static int link_get(struct nl *nl, int ifindex, const char *name, struct nl_link *out, struct cella_error *err)
{
	NL_REQ(buf);
	struct nlmsghdr *nlh = link_msg(buf, RTM_GETLINK, 0, ifindex);
	if (!ifindex)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	out->index = 0;
	if (nl_request(nl, nlh, link_get_cb, out, err) < 0)
		return -1;
	if (!out->index)
		return cella_error_set(err, ENODEV, "no reply");
	return 0;
}

int nl_link_get(struct nl *nl, int ifindex, struct nl_link *out, struct cella_error *err)
{
	if (ifindex_check(ifindex, err) < 0 || link_get(nl, ifindex, NULL, out, err) < 0)
		return cella_error_wrap(err, "link %d", ifindex);
	return 0;
}

int nl_link_index(struct nl *nl, const char *name, struct cella_error *err)
{
	struct nl_link l;
	if (ifname_check(name, err) < 0)
		return -1;
	if (link_get(nl, 0, name, &l, err) < 0)
		return cella_error_wrap(err, "link `%s`", name);
	return l.index;
}

int nl_link_stats(struct nl *nl, int ifindex, struct nl_link_stats *out, struct cella_error *err)
{
	struct nl_link l;
	if (nl_link_get(nl, ifindex, &l, err) < 0)
		return -1;
	*out = l.stats;
	return 0;
}

struct link_vec {
	struct nl_link *v;
	size_t n, cap;
};

static int link_list_cb(const struct nlmsghdr *m, void *data)
{
	struct link_vec *lv = data;
	if (lv->n == lv->cap) {
		size_t cap = lv->cap ? lv->cap * 2 : 16;
		struct nl_link *v = realloc(lv->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		lv->v = v;
		lv->cap = cap;
	}
	int r = link_parse(m, &lv->v[lv->n]);
	if (r == 0)
		lv->n++;
	return r;
}

int nl_link_list(struct nl *nl, struct nl_link **out, size_t *n, struct cella_error *err)
{
	NL_REQ(buf);
	struct link_vec lv = { 0 };
	struct nlmsghdr *nlh = link_msg(buf, RTM_GETLINK, NLM_F_DUMP, 0);
	if (nl_request(nl, nlh, link_list_cb, &lv, err) < 0) {
		free(lv.v);
		return cella_error_wrap(err, "list links");
	}
	*out = lv.v;
	*n = lv.n;
	return 0;
}

/* RTM_NEWLINK creating `name` of `kind`; `data` (may be NULL) adds the
 * IFLA_INFO_DATA attributes of that kind. */
static int link_create(struct nl *nl, const char *name, const char *kind, unsigned mtu,
		       void (*data)(struct nlmsghdr *nlh, const void *arg), const void *arg,
		       struct cella_error *err)
{
	NL_REQ(buf);
	struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	struct nlattr *linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
	if (data) {
		struct nlattr *d = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
		data(nlh, arg);
		mnl_attr_nest_end(nlh, d);
	}
	mnl_attr_nest_end(nlh, linkinfo);
	return nl_request(nl, nlh, NULL, NULL, err);
}

static void bridge_data(struct nlmsghdr *nlh, const void *arg)
{
	(void)arg;
	/* forward_delay before stp_state: the kernel checks its range only with STP on */
	mnl_attr_put_u32(nlh, IFLA_BR_FORWARD_DELAY, 0);
	mnl_attr_put_u32(nlh, IFLA_BR_STP_STATE, 0);
	/* vlan_filtering is off on a new bridge; saying so would fail on
	 * kernels without CONFIG_BRIDGE_VLAN_FILTERING (EOPNOTSUPP) */
}

static int link_set_mtu(struct nl *nl, int ifindex, unsigned mtu, struct cella_error *err);

int nl_bridge_create(struct nl *nl, const char *name, unsigned mtu, struct cella_error *err)
{
	struct cella_error ignored;
	if (ifname_check(name, err) < 0)
		return cella_error_wrap(err, "create bridge");
	if (link_create(nl, name, "bridge", 0, bridge_data, NULL, err) < 0)
		return cella_error_wrap(err, "create bridge `%s`", name);
	int ifindex = nl_link_index(nl, name, err);
	if (ifindex < 0)
		return cella_error_wrap(err, "create bridge `%s`", name);
	/* set through SETLINK, not at creation, so the bridge remembers it was
	 * chosen and does not follow its ports' MTU */
	if (mtu && link_set_mtu(nl, ifindex, mtu, err) < 0) {
		nl_link_delete(nl, ifindex, &ignored);
		return cella_error_wrap(err, "create bridge `%s`: mtu %u", name, mtu);
	}
	return ifindex;
}

static void veth_data(struct nlmsghdr *nlh, const void *arg)
{
	const struct nl_veth *v = arg;
	struct nlattr *peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	/* the peer's attributes follow an ifinfomsg of their own */
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, v->peer);
	if (v->mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, v->mtu);
	if (v->peer_netns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)v->peer_netns_fd);
	mnl_attr_nest_end(nlh, peer);
}

int nl_veth_create(struct nl *nl, const struct nl_veth *veth, struct cella_error *err)
{
	if (ifname_check(veth->name, err) < 0 || ifname_check(veth->peer, err) < 0)
		return cella_error_wrap(err, "create veth");
	if (link_create(nl, veth->name, "veth", veth->mtu, veth_data, veth, err) < 0)
		return cella_error_wrap(err, "create veth `%s` (peer `%s`)", veth->name, veth->peer);
	int ifindex = nl_link_index(nl, veth->name, err);
	if (ifindex < 0)
		return cella_error_wrap(err, "create veth `%s`", veth->name);
	return ifindex;
}

static int simple_create(struct nl *nl, const char *name, const char *kind, struct cella_error *err)
{
	if (ifname_check(name, err) < 0)
		return cella_error_wrap(err, "create %s", kind);
	if (link_create(nl, name, kind, 0, NULL, NULL, err) < 0)
		return cella_error_wrap(err, "create %s `%s`", kind, name);
	int ifindex = nl_link_index(nl, name, err);
	if (ifindex < 0)
		return cella_error_wrap(err, "create %s `%s`", kind, name);
	return ifindex;
}

int nl_dummy_create(struct nl *nl, const char *name, struct cella_error *err)
{
	return simple_create(nl, name, "dummy", err);
}

int nl_ifb_create(struct nl *nl, const char *name, struct cella_error *err)
{
	return simple_create(nl, name, "ifb", err);
}

int nl_link_delete(struct nl *nl, int ifindex, struct cella_error *err)
{
	NL_REQ(buf);
	if (ifindex_check(ifindex, err) < 0)
		return cella_error_wrap(err, "delete");
	struct nlmsghdr *nlh = link_msg(buf, RTM_DELLINK, 0, ifindex);
	if (nl_request(nl, nlh, NULL, NULL, err) < 0)
		return cella_error_wrap(err, "delete link %d", ifindex);
	return 0;
}

int nl_link_delete_name(struct nl *nl, const char *name, struct cella_error *err)
{
	NL_REQ(buf);
	if (ifname_check(name, err) < 0)
		return cella_error_wrap(err, "delete link");
	struct nlmsghdr *nlh = link_msg(buf, RTM_DELLINK, 0, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (nl_request(nl, nlh, NULL, NULL, err) < 0)
		return cella_error_wrap(err, "delete link `%s`", name);
	return 0;
}

int nl_link_set_up(struct nl *nl, int ifindex, bool up, struct cella_error *err)
{
	NL_REQ(buf);
	if (ifindex_check(ifindex, err) < 0)
		return cella_error_wrap(err, "set link %s", up ? "up" : "down");
	struct nlmsghdr *nlh = link_msg(buf, RTM_SETLINK, 0, ifindex);
	struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = up ? IFF_UP : 0;
	if (nl_request(nl, nlh, NULL, NULL, err) < 0)
		return cella_error_wrap(err, "set link %d %s", ifindex, up ? "up" : "down");
	return 0;
}

static int link_set_mtu(struct nl *nl, int ifindex, unsigned mtu, struct cella_error *err)
{
	NL_REQ(buf);
	struct nlmsghdr *nlh = link_msg(buf, RTM_SETLINK, 0, ifindex);
	mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return nl_request(nl, nlh, NULL, NULL, err);
}

int nl_link_set_mtu(struct nl *nl, int ifindex, unsigned mtu, struct cella_error *err)
{
	if (ifindex_check(ifindex, err) < 0 || link_set_mtu(nl, ifindex, mtu, err) < 0)
		return cella_error_wrap(err, "set mtu %u of link %d", mtu, ifindex);
	return 0;
}

int nl_link_set_mac(struct nl *nl, int ifindex, const uint8_t mac[6], struct cella_error *err)
{
	NL_REQ(buf);
	if (ifindex_check(ifindex, err) < 0)
		return cella_error_wrap(err, "set mac");
	struct nlmsghdr *nlh = link_msg(buf, RTM_SETLINK, 0, ifindex);
	mnl_attr_put(nlh, IFLA_ADDRESS, 6, mac);
	if (nl_request(nl, nlh, NULL, NULL, err) < 0)
		return cella_error_wrap(err, "set mac %02x:%02x:%02x:%02x:%02x:%02x of link %d", mac[0], mac[1],
					mac[2], mac[3], mac[4], mac[5], ifindex);
	return 0;
}

int nl_link_set_master(struct nl *nl, int ifindex, int master_ifindex, struct cella_error *err)
{
	NL_REQ(buf);
	if (ifindex_check(ifindex, err) < 0)
		return cella_error_wrap(err, "set master");
	if (master_ifindex < 0)
		return cella_error_set(err, ENODEV, "set master of link %d: link %d", ifindex, master_ifindex);
	struct nlmsghdr *nlh = link_msg(buf, RTM_SETLINK, 0, ifindex);
	mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master_ifindex);
	if (nl_request(nl, nlh, NULL, NULL, err) < 0)
		return cella_error_wrap(err, "set master of link %d to %d", ifindex, master_ifindex);
	return 0;
}

int nl_link_set_netns(struct nl *nl, int ifindex, int netns_fd, struct cella_error *err)
{
	NL_REQ(buf);
	if (ifindex_check(ifindex, err) < 0)
		return cella_error_wrap(err, "move link");
	if (netns_fd < 0)
		return cella_error_set(err, EBADF, "move link %d: no namespace fd", ifindex);
	struct nlmsghdr *nlh = link_msg(buf, RTM_SETLINK, 0, ifindex);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)netns_fd);
	if (nl_request(nl, nlh, NULL, NULL, err) < 0)
		return cella_error_wrap(err, "move link %d to another namespace", ifindex);
	return 0;
}

int nl_link_rename(struct nl *nl, int ifindex, const char *name, struct cella_error *err)
{
	NL_REQ(buf);
	if (ifindex_check(ifindex, err) < 0 || ifname_check(name, err) < 0)
		return cella_error_wrap(err, "rename link %d", ifindex);
	struct nlmsghdr *nlh = link_msg(buf, RTM_SETLINK, 0, ifindex);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (nl_request(nl, nlh, NULL, NULL, err) < 0)
		return cella_error_wrap(err, "rename link %d to `%s`", ifindex, name);
	return 0;
}

int nl_brport_set(struct nl *nl, int ifindex, const struct nl_brport *p, struct cella_error *err)
{
	NL_REQ(buf);
	if (ifindex_check(ifindex, err) < 0)
		return cella_error_wrap(err, "bridge port flags");
	/* slave data is only read by RTM_NEWLINK (as `ip link set type bridge_slave`) */
	struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, 0, ifindex);
	struct nlattr *linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_SLAVE_KIND, "bridge");
	struct nlattr *d = mnl_attr_nest_start(nlh, IFLA_INFO_SLAVE_DATA);
	if (p->isolated >= 0)
		mnl_attr_put_u8(nlh, IFLA_BRPORT_ISOLATED, !!p->isolated);
	if (p->hairpin >= 0)
		mnl_attr_put_u8(nlh, IFLA_BRPORT_MODE, !!p->hairpin);
	if (p->learning >= 0)
		mnl_attr_put_u8(nlh, IFLA_BRPORT_LEARNING, !!p->learning);
	mnl_attr_nest_end(nlh, d);
	mnl_attr_nest_end(nlh, linkinfo);
	if (nl_request(nl, nlh, NULL, NULL, err) < 0)
		return cella_error_wrap(err, "bridge port flags of link %d", ifindex);
	return 0;
}

/* ---------------------------------------------------- addresses, prefixes */

int nl_ip_parse(const char *s, struct nl_ip *out, struct cella_error *err)
{
	memset(out, 0, sizeof(*out));
	if (s && inet_pton(AF_INET, s, out->bytes) == 1)
		out->family = AF_INET;
	else if (s && inet_pton(AF_INET6, s, out->bytes) == 1)
		out->family = AF_INET6;
	else
		return cella_error_set(err, EINVAL, "invalid IP address `%s`", s ? s : "");
	return 0;
}

int nl_prefix_parse(const char *s, struct nl_prefix *out, struct cella_error *err)
{
	char ip[INET6_ADDRSTRLEN];
	const char *slash = s ? strchr(s, '/') : NULL;
	size_t n = slash ? (size_t)(slash - s) : (s ? strlen(s) : 0);

	memset(out, 0, sizeof(*out));
	if (!s || n >= sizeof(ip))
		return cella_error_set(err, EINVAL, "invalid prefix `%s`", s ? s : "");
	memcpy(ip, s, n);
	ip[n] = '\0';
	if (nl_ip_parse(ip, &out->ip, err) < 0)
		return cella_error_set(err, EINVAL, "invalid prefix `%s`", s);
	unsigned max = out->ip.family == AF_INET ? 32 : 128;
	out->len = max;
	if (slash) {
		char *end;
		errno = 0;
		unsigned long len = strtoul(slash + 1, &end, 10);
		if (!isdigit((unsigned char)slash[1]) || *end || errno || len > max)
			return cella_error_set(err, EINVAL, "invalid prefix length in `%s`", s);
		out->len = (unsigned)len;
	}
	return 0;
}

const char *nl_prefix_format(const struct nl_prefix *p, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	inet_ntop(p->ip.family, p->ip.bytes, ip, sizeof(ip));
	snprintf(buf, len, "%s/%u", ip, p->len);
	return buf;
}

static int prefix_check(const struct nl_prefix *p, struct cella_error *err)
{
	if (p->ip.family != AF_INET && p->ip.family != AF_INET6)
		return cella_error_set(err, EAFNOSUPPORT, "address family %d", p->ip.family);
	if (p->len > (p->ip.family == AF_INET ? 32u : 128u))
		return cella_error_set(err, EINVAL, "prefix length %u", p->len);
	return 0;
}

static int addr_modify(struct nl *nl, uint16_t type, uint16_t flags, int ifindex, const struct nl_prefix *p,
		       unsigned aflags, struct cella_error *err)
{
	NL_REQ(buf);
	if (ifindex_check(ifindex, err) < 0 || prefix_check(p, err) < 0)
		return -1;
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = p->ip.family;
	ifa->ifa_prefixlen = p->len;
	ifa->ifa_index = ifindex;
	size_t n = ip_size(p->ip.family);
	mnl_attr_put(nlh, IFA_LOCAL, n, p->ip.bytes);
	mnl_attr_put(nlh, IFA_ADDRESS, n, p->ip.bytes);
	uint32_t f = 0;
	if (aflags & NL_ADDR_NODAD)
		f |= IFA_F_NODAD;
	if (aflags & NL_ADDR_NOPREFIXROUTE)
		f |= IFA_F_NOPREFIXROUTE;
	if (f) {
		ifa->ifa_flags = f & 0xff;
		mnl_attr_put_u32(nlh, IFA_FLAGS, f);
	}
	return nl_request(nl, nlh, NULL, NULL, err);
}

int nl_addr_add(struct nl *nl, int ifindex, const struct nl_prefix *p, unsigned flags, struct cella_error *err)
{
	char s[INET6_ADDRSTRLEN + 8];
	if (addr_modify(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, p, flags, err) < 0)
		return cella_error_wrap(err, "add address %s to link %d", nl_prefix_format(p, s, sizeof(s)),
					ifindex);
	return 0;
}

int nl_addr_delete(struct nl *nl, int ifindex, const struct nl_prefix *p, struct cella_error *err)
{
	char s[INET6_ADDRSTRLEN + 8];
	if (addr_modify(nl, RTM_DELADDR, 0, ifindex, p, 0, err) < 0)
		return cella_error_wrap(err, "delete address %s from link %d",
					nl_prefix_format(p, s, sizeof(s)), ifindex);
	return 0;
}

struct addr_vec {
	struct nl_addr *v;
	size_t n, cap;
	int ifindex;
};

static int addr_vec_push(struct addr_vec *av, const struct nl_addr *a)
{
	if (av->n == av->cap) {
		size_t cap = av->cap ? av->cap * 2 : 16;
		struct nl_addr *v = realloc(av->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		av->v = v;
		av->cap = cap;
	}
	av->v[av->n++] = *a;
	return 0;
}

static int addr_list_cb(const struct nlmsghdr *m, void *data)
{
	struct addr_vec *av = data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(m);
	const struct nlattr *tb[IFA_MAX + 1];
	struct nl_addr a = { 0 };

	if (m->nlmsg_type != RTM_NEWADDR || mnl_nlmsg_get_payload_len(m) < sizeof(*ifa))
		return 0;
	if (av->ifindex && (int)ifa->ifa_index != av->ifindex)
		return 0;
	attrs_parse(m, sizeof(*ifa), tb, IFA_MAX);
	/* IFA_LOCAL is the address itself; IFA_ADDRESS the peer on point-to-point links */
	if (!attr_ip(tb[IFA_LOCAL], ifa->ifa_family, &a.prefix.ip) &&
	    !attr_ip(tb[IFA_ADDRESS], ifa->ifa_family, &a.prefix.ip))
		return 0;
	a.ifindex = (int)ifa->ifa_index;
	a.prefix.len = ifa->ifa_prefixlen;
	a.scope = ifa->ifa_scope;
	a.flags = ifa->ifa_flags;
	attr_u32(tb[IFA_FLAGS], &a.flags);
	return addr_vec_push(av, &a);
}

int nl_addr_list(struct nl *nl, int ifindex, int family, struct nl_addr **out, size_t *n,
		 struct cella_error *err)
{
	NL_REQ(buf);
	struct addr_vec av = { .ifindex = ifindex };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETADDR;
	nlh->nlmsg_flags = NLM_F_DUMP;
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = family;
	if (nl_request(nl, nlh, addr_list_cb, &av, err) < 0) {
		free(av.v);
		return cella_error_wrap(err, "list addresses");
	}
	*out = av.v;
	*n = av.n;
	return 0;
}

/* ----------------------------------------------------------------- routes */

static int route_check(const struct nl_route *r, struct cella_error *err)
{
	if (prefix_check(&r->dst, err) < 0)
		return -1;
	if (r->has_gateway && r->gateway.family != r->dst.ip.family)
		return cella_error_set(err, EINVAL, "gateway of another address family");
	if (!r->has_gateway && r->ifindex <= 0)
		return cella_error_set(err, EINVAL, "a route needs a gateway or a link");
	if (r->ifindex < 0)
		return cella_error_set(err, ENODEV, "link %d", r->ifindex);
	return 0;
}

static int route_modify(struct nl *nl, uint16_t type, uint16_t flags, const struct nl_route *r,
			struct cella_error *err)
{
	NL_REQ(buf);
	if (route_check(r, err) < 0)
		return -1;
	int family = r->dst.ip.family;
	size_t n = ip_size(family);
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = family;
	rtm->rtm_dst_len = r->dst.len;
	rtm->rtm_table = RT_TABLE_MAIN;
	if (type == RTM_DELROUTE) {
		/* match any scope, type and protocol: the key is dst, metric, nexthop */
		rtm->rtm_scope = RT_SCOPE_NOWHERE;
	} else {
		rtm->rtm_protocol = RTPROT_STATIC;
		rtm->rtm_type = RTN_UNICAST;
		/* IPv4: a route without gateway covers the link only (what the
		 * kernel's own prefix routes are); IPv6 routes are all universe */
		rtm->rtm_scope = family == AF_INET && !r->has_gateway ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
	}
	if (r->onlink)
		rtm->rtm_flags |= RTNH_F_ONLINK;
	mnl_attr_put_u32(nlh, RTA_TABLE, RT_TABLE_MAIN);
	if (r->dst.len)
		mnl_attr_put(nlh, RTA_DST, n, r->dst.ip.bytes);
	if (r->has_gateway)
		mnl_attr_put(nlh, RTA_GATEWAY, n, r->gateway.bytes);
	if (r->ifindex)
		mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)r->ifindex);
	if (r->metric)
		mnl_attr_put_u32(nlh, RTA_PRIORITY, r->metric);
	return nl_request(nl, nlh, NULL, NULL, err);
}

static const char *route_format(const struct nl_route *r, char *buf, size_t len)
{
	char dst[INET6_ADDRSTRLEN + 8], gw[INET6_ADDRSTRLEN] = "";
	if (r->dst.len == 0)
		snprintf(dst, sizeof(dst), "default");
	else
		nl_prefix_format(&r->dst, dst, sizeof(dst));
	if (r->has_gateway)
		inet_ntop(r->gateway.family, r->gateway.bytes, gw, sizeof(gw));
	snprintf(buf, len, "%s%s%s dev %d", dst, r->has_gateway ? " via " : "", gw, r->ifindex);
	return buf;
}

int nl_route_add(struct nl *nl, const struct nl_route *r, unsigned flags, struct cella_error *err)
{
	char s[128];
	uint16_t f = NLM_F_CREATE | (flags & NL_ROUTE_REPLACE ? NLM_F_REPLACE : NLM_F_EXCL);
	if (route_modify(nl, RTM_NEWROUTE, f, r, err) < 0)
		return cella_error_wrap(err, "%s route %s", flags & NL_ROUTE_REPLACE ? "replace" : "add",
					route_format(r, s, sizeof(s)));
	return 0;
}

int nl_route_delete(struct nl *nl, const struct nl_route *r, struct cella_error *err)
{
	char s[128];
	if (route_modify(nl, RTM_DELROUTE, 0, r, err) < 0)
		return cella_error_wrap(err, "delete route %s", route_format(r, s, sizeof(s)));
	return 0;
}

struct route_vec {
	struct nl_route *v;
	size_t n, cap;
};

static int route_list_cb(const struct nlmsghdr *m, void *data)
{
	struct route_vec *rv = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(m);
	const struct nlattr *tb[RTA_MAX + 1];
	struct nl_route r = { 0 };
	uint32_t table, v;

	if (m->nlmsg_type != RTM_NEWROUTE || mnl_nlmsg_get_payload_len(m) < sizeof(*rtm))
		return 0;
	attrs_parse(m, sizeof(*rtm), tb, RTA_MAX);
	table = rtm->rtm_table;
	attr_u32(tb[RTA_TABLE], &table);
	if (table != RT_TABLE_MAIN || rtm->rtm_type != RTN_UNICAST)
		return 0;
	r.dst.ip.family = rtm->rtm_family;
	r.dst.len = rtm->rtm_dst_len;
	if (r.dst.len)
		attr_ip(tb[RTA_DST], rtm->rtm_family, &r.dst.ip);
	r.has_gateway = attr_ip(tb[RTA_GATEWAY], rtm->rtm_family, &r.gateway);
	if (attr_u32(tb[RTA_OIF], &v))
		r.ifindex = (int)v;
	attr_u32(tb[RTA_PRIORITY], &r.metric);
	r.onlink = rtm->rtm_flags & RTNH_F_ONLINK;
	r.scope = rtm->rtm_scope;
	r.protocol = rtm->rtm_protocol;
	if (rv->n == rv->cap) {
		size_t cap = rv->cap ? rv->cap * 2 : 16;
		struct nl_route *nv = realloc(rv->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		rv->v = nv;
		rv->cap = cap;
	}
	rv->v[rv->n++] = r;
	return 0;
}

int nl_route_list(struct nl *nl, int family, struct nl_route **out, size_t *n, struct cella_error *err)
{
	NL_REQ(buf);
	struct route_vec rv = { 0 };
	if (family != AF_INET && family != AF_INET6)
		return cella_error_set(err, EAFNOSUPPORT, "list routes: address family %d", family);
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_DUMP;
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = family;
	if (nl_request(nl, nlh, route_list_cb, &rv, err) < 0) {
		free(rv.v);
		return cella_error_wrap(err, "list routes");
	}
	*out = rv.v;
	*n = rv.n;
	return 0;
}

/* ------------------------------------------------------ proxy neighbours */

static int neigh_proxy_modify(struct nl *nl, uint16_t type, uint16_t flags, int ifindex,
			      const struct nl_ip *ip, struct cella_error *err)
{
	NL_REQ(buf);
	if (ifindex_check(ifindex, err) < 0)
		return -1;
	if (ip->family != AF_INET && ip->family != AF_INET6)
		return cella_error_set(err, EAFNOSUPPORT, "address family %d", ip->family);
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = ip->family;
	ndm->ndm_ifindex = ifindex;
	ndm->ndm_state = NUD_PERMANENT;
	ndm->ndm_flags = NTF_PROXY;
	mnl_attr_put(nlh, NDA_DST, ip_size(ip->family), ip->bytes);
	return nl_request(nl, nlh, NULL, NULL, err);
}

int nl_neigh_proxy_add(struct nl *nl, int ifindex, const struct nl_ip *ip, struct cella_error *err)
{
	char s[INET6_ADDRSTRLEN] = "?";
	if (neigh_proxy_modify(nl, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL, ifindex, ip, err) < 0) {
		inet_ntop(ip->family, ip->bytes, s, sizeof(s));
		return cella_error_wrap(err, "add proxy neighbour %s on link %d", s, ifindex);
	}
	return 0;
}

int nl_neigh_proxy_delete(struct nl *nl, int ifindex, const struct nl_ip *ip, struct cella_error *err)
{
	char s[INET6_ADDRSTRLEN] = "?";
	if (neigh_proxy_modify(nl, RTM_DELNEIGH, 0, ifindex, ip, err) < 0) {
		inet_ntop(ip->family, ip->bytes, s, sizeof(s));
		return cella_error_wrap(err, "delete proxy neighbour %s on link %d", s, ifindex);
	}
	return 0;
}

static int neigh_list_cb(const struct nlmsghdr *m, void *data)
{
	struct addr_vec *av = data;
	const struct ndmsg *ndm = mnl_nlmsg_get_payload(m);
	const struct nlattr *tb[NDA_MAX + 1];
	struct nl_addr a = { 0 };

	if (m->nlmsg_type != RTM_NEWNEIGH || mnl_nlmsg_get_payload_len(m) < sizeof(*ndm) ||
	    !(ndm->ndm_flags & NTF_PROXY))
		return 0;
	attrs_parse(m, sizeof(*ndm), tb, NDA_MAX);
	if (!attr_ip(tb[NDA_DST], ndm->ndm_family, &a.prefix.ip))
		return 0;
	a.ifindex = ndm->ndm_ifindex;
	a.prefix.len = ndm->ndm_family == AF_INET ? 32 : 128;
	return addr_vec_push(av, &a);
}

int nl_neigh_proxy_list(struct nl *nl, int family, struct nl_addr **out, size_t *n, struct cella_error *err)
{
	NL_REQ(buf);
	struct addr_vec av = { 0 };
	if (family != AF_INET && family != AF_INET6)
		return cella_error_set(err, EAFNOSUPPORT, "list proxy neighbours: address family %d", family);
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETNEIGH;
	nlh->nlmsg_flags = NLM_F_DUMP;
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = family;
	ndm->ndm_flags = NTF_PROXY; /* the kernel then dumps its proxy table */
	if (nl_request(nl, nlh, neigh_list_cb, &av, err) < 0) {
		free(av.v);
		return cella_error_wrap(err, "list proxy neighbours");
	}
	*out = av.v;
	*n = av.n;
	return 0;
}

/* ------------------------------------------------------- traffic control */

#define TBF_HANDLE 0x10000u          /* 1: */
#define INGRESS_HANDLE 0xffff0000u   /* ffff: */
#define TBF_LATENCY_MS 50            /* queue at most this long at the rate, beyond the burst */

static struct nlmsghdr *tc_msg(char *buf, uint16_t type, uint16_t flags, int ifindex, uint32_t handle,
			       uint32_t parent)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	struct tcmsg *tcm = mnl_nlmsg_put_extra_header(nlh, sizeof(*tcm));
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_handle = handle;
	tcm->tcm_parent = parent;
	return nlh;
}

int nl_tbf_set(struct nl *nl, int ifindex, uint64_t rate, uint32_t burst, struct cella_error *err)
{
	NL_REQ(buf);
	uint64_t bytes = rate / 8;

	if (ifindex_check(ifindex, err) < 0)
		return cella_error_wrap(err, "set tbf");
	if (bytes == 0 || burst == 0)
		return cella_error_set(err, EINVAL, "tbf on link %d: rate %" PRIu64 " bit/s, burst %u bytes: both must be > 0",
				       ifindex, rate, burst);
	uint64_t limit = burst + bytes * TBF_LATENCY_MS / 1000;
	struct tc_tbf_qopt q = {
		/* linklayer set: the kernel then needs no rate table */
		.rate = { .linklayer = TC_LINKLAYER_ETHERNET, .rate = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes },
		.limit = limit > UINT32_MAX ? UINT32_MAX : (uint32_t)limit,
		/* ignored when TCA_TBF_BURST is given; kept consistent anyway (64 ns ticks) */
		.buffer = (uint32_t)(((unsigned __int128)burst * 1000000000u / bytes) >> 6),
	};
	struct nlmsghdr *nlh = tc_msg(buf, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, ifindex, TBF_HANDLE,
				      TC_H_ROOT);
	mnl_attr_put_strz(nlh, TCA_KIND, "tbf");
	struct nlattr *opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
	mnl_attr_put(nlh, TCA_TBF_PARMS, sizeof(q), &q);
	mnl_attr_put_u32(nlh, TCA_TBF_BURST, burst);
	if (bytes > UINT32_MAX)
		mnl_attr_put_u64(nlh, TCA_TBF_RATE64, bytes);
	mnl_attr_nest_end(nlh, opts);
	if (nl_request(nl, nlh, NULL, NULL, err) < 0)
		return cella_error_wrap(err, "set tbf rate %" PRIu64 " bit/s burst %u on link %d", rate, burst,
					ifindex);
	return 0;
}

struct qdisc_find {
	int ifindex;
	uint32_t parent;
	bool found;
	struct nl_qdisc *out;
};

static int qdisc_find_cb(const struct nlmsghdr *m, void *data)
{
	struct qdisc_find *f = data;
	const struct tcmsg *tcm = mnl_nlmsg_get_payload(m);
	const struct nlattr *tb[TCA_MAX + 1], *opt[TCA_TBF_MAX + 1];

	if (f->found || m->nlmsg_type != RTM_NEWQDISC || mnl_nlmsg_get_payload_len(m) < sizeof(*tcm))
		return 0;
	if (tcm->tcm_ifindex != f->ifindex || tcm->tcm_parent != f->parent)
		return 0;
	f->found = true;
	struct nl_qdisc *q = f->out;
	memset(q, 0, sizeof(*q));
	q->handle = tcm->tcm_handle;
	q->parent = tcm->tcm_parent;
	attrs_parse(m, sizeof(*tcm), tb, TCA_MAX);
	attr_str(tb[TCA_KIND], q->kind, sizeof(q->kind));
	if (strcmp(q->kind, "tbf") != 0)
		return 0;
	attrs_parse_nested(tb[TCA_OPTIONS], opt, TCA_TBF_MAX);
	if (!opt[TCA_TBF_PARMS] || mnl_attr_get_payload_len(opt[TCA_TBF_PARMS]) < sizeof(struct tc_tbf_qopt))
		return -EBADMSG;
	struct tc_tbf_qopt p;
	memcpy(&p, mnl_attr_get_payload(opt[TCA_TBF_PARMS]), sizeof(p));
	uint64_t bytes = p.rate.rate;
	if (opt[TCA_TBF_RATE64] && mnl_attr_get_payload_len(opt[TCA_TBF_RATE64]) >= 8)
		bytes = mnl_attr_get_u64(opt[TCA_TBF_RATE64]);
	q->rate = bytes * 8;
	q->limit = p.limit;
	/* the kernel keeps the burst as time at the rate: bytes = ns * rate */
	unsigned __int128 b = ((unsigned __int128)p.buffer << 6) * bytes + 500000000u;
	b /= 1000000000u;
	q->burst = b > UINT32_MAX ? UINT32_MAX : (uint32_t)b;
	return 0;
}

static int qdisc_get(struct nl *nl, int ifindex, uint32_t parent, struct nl_qdisc *out, struct cella_error *err)
{
	NL_REQ(buf);
	struct qdisc_find f = { .ifindex = ifindex, .parent = parent, .out = out };
	/* the qdisc dump covers every link; the filter is ours */
	struct nlmsghdr *nlh = tc_msg(buf, RTM_GETQDISC, NLM_F_DUMP, 0, 0, 0);
	if (nl_request(nl, nlh, qdisc_find_cb, &f, err) < 0)
		return -1;
	if (!f.found)
		return cella_error_set(err, ENOENT, "no qdisc");
	return 0;
}

int nl_qdisc_get(struct nl *nl, int ifindex, uint32_t parent, struct nl_qdisc *out, struct cella_error *err)
{
	if (ifindex_check(ifindex, err) < 0 || qdisc_get(nl, ifindex, parent, out, err) < 0)
		return cella_error_wrap(err, "%s qdisc of link %d", parent == TC_H_INGRESS ? "ingress" : "root",
					ifindex);
	return 0;
}

int nl_qdisc_root_delete(struct nl *nl, int ifindex, struct cella_error *err)
{
	NL_REQ(buf);
	if (ifindex_check(ifindex, err) < 0)
		return cella_error_wrap(err, "delete root qdisc");
	struct nlmsghdr *nlh = tc_msg(buf, RTM_DELQDISC, 0, ifindex, 0, TC_H_ROOT);
	if (nl_request(nl, nlh, NULL, NULL, err) < 0)
		return cella_error_wrap(err, "delete root qdisc of link %d", ifindex);
	return 0;
}

static int ingress_delete(struct nl *nl, int ifindex, struct cella_error *err)
{
	NL_REQ(buf);
	/* handle 0: any; the kernel answers ENOENT when there is none */
	struct nlmsghdr *nlh = tc_msg(buf, RTM_DELQDISC, 0, ifindex, 0, TC_H_INGRESS);
	return nl_request(nl, nlh, NULL, NULL, err);
}

int nl_ingress_delete(struct nl *nl, int ifindex, struct cella_error *err)
{
	if (ifindex_check(ifindex, err) < 0 || ingress_delete(nl, ifindex, err) < 0)
		return cella_error_wrap(err, "delete ingress qdisc of link %d", ifindex);
	return 0;
}

/* u32 filter matching every packet (one key: mask 0) whose action is a
 * mirred redirect to the egress of `ifb` */
static int ingress_filter_add(struct nl *nl, int ifindex, int ifb, struct cella_error *err)
{
	NL_REQ(buf);
	struct {
		struct tc_u32_sel sel;
		struct tc_u32_key key;
	} __attribute__((packed)) sel = { .sel = { .flags = TC_U32_TERMINAL, .nkeys = 1 } };
	struct tc_mirred mirred = {
		.action = TC_ACT_STOLEN,
		.eaction = TCA_EGRESS_REDIR,
		.ifindex = (uint32_t)ifb,
	};
	struct nlmsghdr *nlh = tc_msg(buf, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, ifindex, 0, INGRESS_HANDLE);
	struct tcmsg *tcm = mnl_nlmsg_get_payload(nlh);
	tcm->tcm_info = TC_H_MAKE(1u << 16, htons(ETH_P_ALL)); /* priority 1, every protocol */
	mnl_attr_put_strz(nlh, TCA_KIND, "u32");
	struct nlattr *opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
	mnl_attr_put(nlh, TCA_U32_SEL, sizeof(sel), &sel);
	struct nlattr *acts = mnl_attr_nest_start(nlh, TCA_U32_ACT);
	struct nlattr *act = mnl_attr_nest_start(nlh, 1);
	mnl_attr_put_strz(nlh, TCA_ACT_KIND, "mirred");
	struct nlattr *aopts = mnl_attr_nest_start(nlh, TCA_ACT_OPTIONS);
	mnl_attr_put(nlh, TCA_MIRRED_PARMS, sizeof(mirred), &mirred);
	mnl_attr_nest_end(nlh, aopts);
	mnl_attr_nest_end(nlh, act);
	mnl_attr_nest_end(nlh, acts);
	mnl_attr_nest_end(nlh, opts);
	return nl_request(nl, nlh, NULL, NULL, err);
}

int nl_ingress_redirect(struct nl *nl, int ifindex, int ifb_ifindex, struct cella_error *err)
{
	NL_REQ(buf);
	struct cella_error ignored;

	if (ifindex_check(ifindex, err) < 0 || ifindex_check(ifb_ifindex, err) < 0)
		return cella_error_wrap(err, "ingress redirect");
	/* the ingress qdisc cannot be changed in place: start from none */
	(void)ingress_delete(nl, ifindex, &ignored);
	struct nlmsghdr *nlh = tc_msg(buf, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, ifindex, INGRESS_HANDLE,
				      TC_H_INGRESS);
	mnl_attr_put_strz(nlh, TCA_KIND, "ingress");
	if (nl_request(nl, nlh, NULL, NULL, err) < 0)
		return cella_error_wrap(err, "add ingress qdisc to link %d", ifindex);
	if (ingress_filter_add(nl, ifindex, ifb_ifindex, err) < 0) {
		(void)ingress_delete(nl, ifindex, &ignored);
		return cella_error_wrap(err, "redirect ingress of link %d to link %d", ifindex, ifb_ifindex);
	}
	return 0;
}

/* --------------------------------------------------------------- sysctls */

/* A relative path of plain components: no "", "." or ".." component, so
 * nothing outside /proc/sys/net can be named. */
static bool sysctl_key_is_valid(const char *key)
{
	if (!key || !*key || strlen(key) > 255 || key[0] == '/')
		return false;
	for (const char *p = key; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/' && !*++p)
			return false;
	}
	return true;
}

struct sysctl_job {
	const char *key;
	const char *value;  /* NULL: read into buf */
	char *buf;
	size_t len;
	struct cella_error *err;
};

static int sysctl_in_thread(void *p)
{
	struct sysctl_job *j = p;
	struct statfs sfs;
	cleanup_close int dfd = open("/proc/sys/net", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return cella_error_set(j->err, errno, "open /proc/sys/net");
	/* only a real procfs resolves keys per network namespace */
	if (fstatfs(dfd, &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC)
		return cella_error_set(j->err, EINVAL, "/proc/sys/net is not procfs");
	cleanup_close int fd = openat(dfd, j->key, (j->value ? O_WRONLY : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return cella_error_set(j->err, errno, "open");
	if (j->value) {
		if (write_all(fd, j->value, strlen(j->value)) < 0)
			return cella_error_set(j->err, errno, "write `%s`", j->value);
		return 0;
	}
	ssize_t n = read(fd, j->buf, j->len - 1);
	if (n < 0)
		return cella_error_set(j->err, errno, "read");
	while (n > 0 && j->buf[n - 1] == '\n')
		n--;
	j->buf[n] = '\0';
	return 0;
}

static int net_sysctl(int netns_fd, struct sysctl_job *j, struct cella_error *err)
{
	if (!sysctl_key_is_valid(j->key))
		return cella_error_set(err, EINVAL, "invalid sysctl key `net/%s`", j->key ? j->key : "");
	if (netns_run(netns_fd, sysctl_in_thread, j, err) < 0)
		return cella_error_wrap(err, "sysctl net/%s", j->key);
	return 0;
}

int net_sysctl_write(int netns_fd, const char *key, const char *value, struct cella_error *err)
{
	struct sysctl_job j = { .key = key, .value = value ? value : "", .err = err };
	return net_sysctl(netns_fd, &j, err);
}

int net_sysctl_read(int netns_fd, const char *key, char *buf, size_t len, struct cella_error *err)
{
	if (len < 2)
		return cella_error_set(err, EINVAL, "sysctl net/%s: buffer too small", key ? key : "");
	struct sysctl_job j = { .key = key, .buf = buf, .len = len, .err = err };
	return net_sysctl(netns_fd, &j, err);
}
