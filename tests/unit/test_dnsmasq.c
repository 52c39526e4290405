/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of lib/dnsmasq.c against the real dnsmasq (/usr/sbin/dnsmasq).
 *
 * Network safety: main() moves the whole process into a new network
 * namespace before anything else, so the dnsmasq it starts lives there too:
 * it serves a bridge of that namespace, and its upstream servers (the host's
 * resolv.conf) are unreachable from it (no route out).  The DHCP client runs
 * in a second namespace made by a thread, linked to the bridge by a veth.
 * DNS queries go from the test to the bridge's address, inside the namespace.
 *
 * Clean-up even on failure: main() forks; the child runs the tests, the
 * parent waits for it, then stops any dnsmasq left in the test directories
 * and removes them, so a failed (or crashed) test leaves no daemon behind.
 * Needs root and dnsmasq; skipped (77) otherwise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "dnsmasq.h"
#include "netlink.h"
#include "util.h"

#define DNSMASQ "/usr/sbin/dnsmasq"
#define BUSYBOX "/bin/busybox"
#define BRIDGE "tbr0"
#define BRIDGE2 "tbr1"   /* 10.98.0.1/24, no dnsmasq */
#define GW4 "10.99.0.1"

static struct cella_error err;
static struct nl *nl;        /* the test's own namespace */
static struct nl *peer;      /* the DHCP client's namespace */
static int peer_fd = -1;
static char tmp[] = "/tmp/test_dnsmasq.XXXXXX";
static char dir[256];        /* the network's directory */
static char dir2[256];       /* another one, for start failures */

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

static struct dnsmasq_conf conf(void)
{
	return (struct dnsmasq_conf){
		.network = "tnet",
		.bridge = BRIDGE,
		.dir = dir,
		.ipv4_address = GW4 "/24",
		.ipv6_address = "fd42:99::1/64",
		.domain = "cella",
		.dhcp = true,
	};
}

static char *file(const char *d, const char *name)
{
	cleanup_free char *path = xasprintf("%s/%s", d, name);
	struct cella_error e;
	return read_file_at(AT_FDCWD, path, NULL, &e);
}

static bool exists(const char *d, const char *name)
{
	cleanup_free char *path = xasprintf("%s/%s", d, name);
	return access(path, F_OK) == 0;
}

/* gone, or a zombie waiting for init to reap it */
static bool process_gone(pid_t pid)
{
	char state = 0;
	return proc_start_time(pid, &state) == 0 || state == 'Z';
}

/* ---- a tiny DNS client ---- */

static size_t skip_name(const uint8_t *b, size_t len, size_t off)
{
	while (off < len) {
		if (b[off] == 0)
			return off + 1;
		if ((b[off] & 0xc0) == 0xc0)
			return off + 2;
		off += 1 + b[off];
	}
	return len + 1;
}

/*
 * Ask GW4:53 for `name` (type A or AAAA); the answer as text into buf: the
 * first address of that type, "NXDOMAIN", "NOANSWER", "RCODE n" or
 * "TIMEOUT".
 */
static const char *dns_ask(const char *name, int family, char *buf, size_t len)
{
	static uint16_t seq;
	uint16_t qtype = family == AF_INET ? 1 : 28, id = (uint16_t)(getpid() * 31 + ++seq);
	size_t alen = family == AF_INET ? 4 : 16, n = 0;
	uint8_t q[300] = { id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 }, r[1500];
	n = 12;
	for (const char *l = name; *l;) {
		size_t ll = strcspn(l, ".");
		assert_true(ll > 0 && ll < 64 && n + ll + 6 < sizeof(q));
		q[n++] = (uint8_t)ll;
		memcpy(q + n, l, ll);
		n += ll;
		l += ll + (l[ll] == '.');
	}
	q[n++] = 0;
	q[n++] = 0;
	q[n++] = (uint8_t)qtype;
	q[n++] = 0;
	q[n++] = 1;

	cleanup_close int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	struct timeval tv = { .tv_sec = 1 };
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(53) };
	inet_pton(AF_INET, GW4, &sa.sin_addr);
	assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(s, q, n, 0), (ssize_t)n);
	ssize_t m;
	do
		m = recv(s, r, sizeof(r), 0);
	while (m >= 2 && (r[0] != q[0] || r[1] != q[1]));
	if (m < 12 || !(r[2] & 0x80)) {
		snprintf(buf, len, "TIMEOUT");
		return buf;
	}
	int rcode = r[3] & 0x0f;
	unsigned qd = (unsigned)r[4] << 8 | r[5], an = (unsigned)r[6] << 8 | r[7];
	size_t off = 12;
	for (unsigned i = 0; i < qd; i++)
		off = skip_name(r, (size_t)m, off) + 4;
	for (unsigned i = 0; i < an && off + 10 <= (size_t)m; i++) {
		off = skip_name(r, (size_t)m, off);
		if (off + 10 > (size_t)m)
			break;
		unsigned type = (unsigned)r[off] << 8 | r[off + 1], rdlen = (unsigned)r[off + 8] << 8 | r[off + 9];
		off += 10;
		if (off + rdlen > (size_t)m)
			break;
		if (type == qtype && rdlen == alen) {
			inet_ntop(family, r + off, buf, len);
			return buf;
		}
		off += rdlen;
	}
	if (rcode == 3)
		snprintf(buf, len, "NXDOMAIN");
	else if (rcode)
		snprintf(buf, len, "RCODE %d", rcode);
	else
		snprintf(buf, len, "NOANSWER");
	return buf;
}

/* Ask until the answer is `want` (dnsmasq rereads its files after SIGHUP
 * at its own pace), at most 5 s; the last answer. */
static const char *dns_wait(const char *name, int family, const char *want, char *buf, size_t len)
{
	for (int i = 0; i < 50; i++) {
		if (!strcmp(dns_ask(name, family, buf, len), want))
			break;
		usleep(100 * 1000);
	}
	return buf;
}

#define ASSERT_DNS(name, family, want)                                                   \
	do {                                                                             \
		char b_[INET6_ADDRSTRLEN + 16];                                          \
		assert_string_equal(dns_wait(name, family, want, b_, sizeof(b_)), want); \
	} while (0)

/* ---- set-up ---- */

static void *unshare_thread(void *p)
{
	int *fd = p;
	if (unshare(CLONE_NEWNET) == 0)
		*fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	return NULL;
}

static int group_setup(void **state)
{
	(void)state;
	pthread_t t;
	if (pthread_create(&t, NULL, unshare_thread, &peer_fd))
		return -1;
	pthread_join(t, NULL);
	nl = nl_open(&err);
	peer = peer_fd >= 0 ? nl_open_netns(peer_fd, &err) : NULL;
	if (!nl || !peer)
		return -1;
	struct nl_prefix p4, p6, p4b;
	int br = nl_bridge_create(nl, BRIDGE, 0, &err);
	int br2 = nl_bridge_create(nl, BRIDGE2, 0, &err);
	int lo = nl_link_index(nl, "lo", &err);
	if (br < 0 || br2 < 0 || lo < 0 || nl_prefix_parse(GW4 "/24", &p4, &err) < 0 ||
	    nl_prefix_parse("10.98.0.1/24", &p4b, &err) < 0 || nl_addr_add(nl, br2, &p4b, 0, &err) < 0 ||
	    nl_link_set_up(nl, br2, true, &err) < 0 ||
	    nl_prefix_parse("fd42:99::1/64", &p6, &err) < 0 || nl_addr_add(nl, br, &p4, 0, &err) < 0 ||
	    nl_addr_add(nl, br, &p6, NL_ADDR_NODAD, &err) < 0 || nl_link_set_up(nl, br, true, &err) < 0 ||
	    nl_link_set_up(nl, lo, true, &err) < 0) {
		fprintf(stderr, "set-up: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	struct cella_error e;
	dnsmasq_stop(dir, &e);
	dnsmasq_stop(dir2, &e);
	nl_close(nl);
	nl_close(peer);
	close(peer_fd);
	return 0;
}

/* ---- tests ---- */

static const struct dnsmasq_host web5[] = {
	{ .name = "web", .mac = "02:00:00:00:00:05", .ipv4 = "10.99.0.5", .ipv6 = "fd42:99::5" },
};

static void test_start(void **state)
{
	(void)state;
	struct dnsmasq_conf c = conf();
	assert_int_equal(dnsmasq_pid(dir), 0);
	CHECK(dnsmasq_start(&c, &err));
	pid_t pid = dnsmasq_pid(dir);
	assert_true(pid > 1);

	/* the pid file names it; it left our process tree and session */
	cleanup_free char *pidfile = file(dir, "dnsmasq.pid");
	assert_non_null(pidfile);
	assert_int_equal(atoi(pidfile), pid);
	cleanup_free char *path = xasprintf("%d/status", (int)pid);
	cleanup_free char *dstatus = file("/proc", path);
	assert_non_null(dstatus);
	/* it dropped root */
	assert_non_null(strstr(dstatus, "\nUid:\t65534\t65534\t65534\t65534\n"));
	const char *ppid = strstr(dstatus, "\nPPid:\t");
	assert_non_null(ppid);
	assert_int_not_equal(atoi(ppid + 7), getpid());
	assert_int_not_equal(getsid(pid), getsid(0));
	assert_int_equal(kill(pid, 0), 0);

	/* its files: hosts files readable by nobody, lease file */
	struct stat st;
	cleanup_free char *hosts_path = xasprintf("%s/hosts", dir);
	assert_int_equal(stat(hosts_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_true(exists(dir, "dhcp-hosts"));
	assert_true(exists(dir, "leases"));

	/* nothing known yet: the domain is answered locally */
	ASSERT_DNS("web.cella", AF_INET, "NXDOMAIN");
}

static void test_hosts(void **state)
{
	(void)state;
	struct dnsmasq_conf c = conf();
	pid_t pid = dnsmasq_pid(dir);
	assert_true(pid > 1);
	CHECK(dnsmasq_hosts_set(&c, web5, 1, &err));
	cleanup_free char *dhcp = file(dir, "dhcp-hosts");
	cleanup_free char *names = file(dir, "hosts");
	assert_string_equal(dhcp, "02:00:00:00:00:05,10.99.0.5,[fd42:99::5],web\n");
	assert_string_equal(names, "10.99.0.5 web.cella web\nfd42:99::5 web.cella web\n");
	ASSERT_DNS("web.cella", AF_INET, "10.99.0.5");
	ASSERT_DNS("web.cella", AF_INET6, "fd42:99::5");
	ASSERT_DNS("web", AF_INET, "10.99.0.5");
	ASSERT_DNS("nothere.cella", AF_INET, "NXDOMAIN");

	/* changed: the new answers, from the same process (SIGHUP) */
	const struct dnsmasq_host two[] = {
		{ .name = "web", .mac = "02:00:00:00:00:05", .ipv4 = "10.99.0.6" },
		{ .name = "db", .mac = "02:AB:00:00:00:07", .ipv4 = "10.99.0.7", .ipv6 = "fd42:99::7" },
	};
	CHECK(dnsmasq_hosts_set(&c, two, 2, &err));
	ASSERT_DNS("web.cella", AF_INET, "10.99.0.6");
	ASSERT_DNS("db.cella", AF_INET, "10.99.0.7");
	ASSERT_DNS("db.cella", AF_INET6, "fd42:99::7");
	ASSERT_DNS("web.cella", AF_INET6, "NOANSWER");
	cleanup_free char *dhcp2 = file(dir, "dhcp-hosts");
	assert_string_equal(dhcp2, "02:00:00:00:00:05,10.99.0.6,web\n02:ab:00:00:00:07,10.99.0.7,[fd42:99::7],db\n");
	assert_int_equal(dnsmasq_pid(dir), pid);

	CHECK(dnsmasq_hosts_set(&c, web5, 1, &err));
	ASSERT_DNS("web.cella", AF_INET, "10.99.0.5");
	ASSERT_DNS("db.cella", AF_INET, "NXDOMAIN");
}

static void test_bad_hosts(void **state)
{
	(void)state;
	struct dnsmasq_conf c = conf();
	cleanup_free char *dhcp = file(dir, "dhcp-hosts");
	cleanup_free char *names = file(dir, "hosts");
	static const struct {
		struct dnsmasq_host h;
		const char *field;
	} bad[] = {
		{ { "web", "02:00:00:00:00:zz", "10.99.0.9", NULL }, "mac" },
		{ { "web", "01:00:5e:00:00:01", "10.99.0.9", NULL }, "mac" },    /* multicast */
		{ { "web", "00:00:00:00:00:00", "10.99.0.9", NULL }, "mac" },
		{ { "web", "02:00:00:00:00:09,10.99.0.8", "10.99.0.9", NULL }, "mac" },
		{ { "web", "02:00:00:00:00:9", NULL, NULL }, "mac" },
		{ { "Web_1", "02:00:00:00:00:09", NULL, NULL }, "name" },
		{ { "-web", "02:00:00:00:00:09", NULL, NULL }, "name" },
		{ { "a\nb", "02:00:00:00:00:09", NULL, NULL }, "name" },
		{ { "", "02:00:00:00:00:09", NULL, NULL }, "name" },
		{ { "a.b", "02:00:00:00:00:09", NULL, NULL }, "name" },
		{ { "web", "02:00:00:00:00:09", "10.98.0.9", NULL }, "ipv4" },   /* another subnet */
		{ { "web", "02:00:00:00:00:09", "10.99.0.1", NULL }, "ipv4" },   /* the gateway */
		{ { "web", "02:00:00:00:00:09", "10.99.0.255", NULL }, "ipv4" }, /* broadcast */
		{ { "web", "02:00:00:00:00:09", "10.99.0.9 ", NULL }, "ipv4" },
		{ { "web", "02:00:00:00:00:09", NULL, "fd43::9" }, "ipv6" },
		{ { "web", "02:00:00:00:00:09", NULL, "10.99.0.9" }, "ipv6" },
		{ { "web", "02:00:00:00:00:09", NULL, "fd42:99::1" }, "ipv6" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct dnsmasq_host two[2] = { web5[0], bad[i].h };
		if (!strcmp(bad[i].h.name, "web"))
			two[1].name = "other";
		FAILS(dnsmasq_hosts_set(&c, two, 2, &err), EINVAL);
		if (!strstr(err.msg, bad[i].field))
			fail_msg("bad[%zu]: `%s` does not name %s", i, err.msg, bad[i].field);
	}
	/* duplicates */
	const struct dnsmasq_host dup_name[] = { web5[0], { "web", "02:00:00:00:00:09", NULL, NULL } };
	FAILS(dnsmasq_hosts_set(&c, dup_name, 2, &err), EINVAL);
	const struct dnsmasq_host dup_mac[] = { web5[0], { "db", "02:00:00:00:00:05", NULL, NULL } };
	FAILS(dnsmasq_hosts_set(&c, dup_mac, 2, &err), EINVAL);
	const struct dnsmasq_host dup_ip[] = { web5[0], { "db", "02:00:00:00:00:09", "10.99.0.5", NULL } };
	FAILS(dnsmasq_hosts_set(&c, dup_ip, 2, &err), EINVAL);
	/* a bad network is refused before any host */
	struct dnsmasq_conf bc = conf();
	bc.domain = "bad..domain";
	FAILS(dnsmasq_hosts_set(&bc, web5, 1, &err), EINVAL);

	/* nothing changed */
	cleanup_free char *dhcp2 = file(dir, "dhcp-hosts");
	cleanup_free char *names2 = file(dir, "hosts");
	assert_string_equal(dhcp, dhcp2);
	assert_string_equal(names, names2);
	ASSERT_DNS("web.cella", AF_INET, "10.99.0.5");
}

static void test_bad_conf(void **state)
{
	(void)state;
	pid_t pid = dnsmasq_pid(dir);
	assert_true(pid > 1);
	struct dnsmasq_conf c;
#define BAD(field, value, name)                                                           \
	do {                                                                               \
		c = conf();                                                                \
		c.field = value;                                                           \
		FAILS(dnsmasq_start(&c, &err), EINVAL);                                    \
		if (!strstr(err.msg, name))                                                \
			fail_msg("%s = `%s`: `%s` does not name %s", #field, value, err.msg, name); \
	} while (0)
	BAD(bridge, "bad/name", "bridge");
	BAD(bridge, "", "bridge");
	BAD(bridge, "a-very-long-bridge-name", "bridge");
	BAD(dir, "relative/dir", "dir");
	BAD(dir, "/tmp/a,b", "dir");
	BAD(dir, "/tmp/../etc", "dir");
	BAD(dir, "/tmp/x/", "dir");
	BAD(dir, "/tmp/a b", "dir");
	BAD(domain, "bad..domain", "dns.domain");
	BAD(domain, "-x", "dns.domain");
	BAD(domain, "a/b", "dns.domain");
	BAD(ipv4_address, "10.99.0.1", "ipv4.address");
	BAD(ipv4_address, "10.99.0.0/24", "ipv4.address");
	BAD(ipv4_address, "10.99.0.255/24", "ipv4.address");
	BAD(ipv4_address, "fd42::1/64", "ipv4.address");
	BAD(ipv4_address, "10.99.0.1/31", "ipv4.address");
	BAD(ipv6_address, "fe80::1/64", "ipv6.address");
	BAD(ipv6_address, "fd42:99::/64", "ipv6.address");
	BAD(ipv6_address, "10.99.0.1/24", "ipv6.address");
	BAD(ipv4_ranges, "10.99.0.1-10.99.0.9", "ipv4.dhcp.ranges");
	BAD(ipv4_ranges, "10.98.0.2-10.98.0.9", "ipv4.dhcp.ranges");
	BAD(ipv4_ranges, "10.99.0.9-10.99.0.2", "ipv4.dhcp.ranges");
	BAD(ipv4_ranges, "10.99.0.2-10.99.0.255", "ipv4.dhcp.ranges");
	BAD(ipv4_ranges, "10.99.0.2-10.99.0.9,10.99.0.5-10.99.0.20", "ipv4.dhcp.ranges");
	BAD(ipv4_ranges, "10.99.0.2", "ipv4.dhcp.ranges");
	BAD(ipv4_ranges, "", "ipv4.dhcp.ranges");
#undef BAD
	c = conf();
	c.ipv4_address = c.ipv6_address = NULL;
	FAILS(dnsmasq_start(&c, &err), EINVAL);
	FAILS(dnsmasq_stop("relative", &err), EINVAL);
	/* the running one was not touched */
	assert_int_equal(dnsmasq_pid(dir), pid);
	assert_int_equal(dnsmasq_pid("relative"), 0);
}

static void test_restart(void **state)
{
	(void)state;
	struct dnsmasq_conf c = conf();
	pid_t pid = dnsmasq_pid(dir);
	assert_true(pid > 1);
	/* the same configuration: left alone */
	CHECK(dnsmasq_start(&c, &err));
	assert_int_equal(dnsmasq_pid(dir), pid);

	/* another one: restarted, with the hosts kept */
	c.ipv4_ranges = "10.99.0.100-10.99.0.149,10.99.0.200-10.99.0.209";
	CHECK(dnsmasq_start(&c, &err));
	pid_t pid2 = dnsmasq_pid(dir);
	assert_true(pid2 > 1);
	assert_int_not_equal(pid2, pid);
	assert_true(process_gone(pid));
	cleanup_free char *path = xasprintf("/proc/%d/cmdline", (int)pid2);
	size_t len;
	cleanup_free char *cl = read_file_at(AT_FDCWD, path, &len, &err);
	assert_non_null(cl);
	bool r1 = false, r2 = false;
	for (size_t off = 0; off < len; off += strlen(cl + off) + 1) {
		r1 = r1 || !strcmp(cl + off, "--dhcp-range=10.99.0.100,10.99.0.149,255.255.255.0,1h");
		r2 = r2 || !strcmp(cl + off, "--dhcp-range=10.99.0.200,10.99.0.209,255.255.255.0,1h");
	}
	assert_true(r1 && r2);
	ASSERT_DNS("web.cella", AF_INET, "10.99.0.5");

	/* a dnsmasq killed behind our back is started again */
	assert_int_equal(kill(pid2, SIGKILL), 0);
	for (int i = 0; i < 100 && !process_gone(pid2); i++)
		usleep(10 * 1000);
	assert_int_equal(dnsmasq_pid(dir), 0);
	CHECK(dnsmasq_start(&c, &err));
	assert_true(dnsmasq_pid(dir) > 1);
	ASSERT_DNS("web.cella", AF_INET, "10.99.0.5");

	/* back to the default ranges, DNS only for IPv6 */
	c = conf();
	CHECK(dnsmasq_start(&c, &err));
	ASSERT_DNS("web.cella", AF_INET6, "fd42:99::5");
}

/* What dnsmasq refuses comes back with its own words; nothing is left running. */
static void test_start_errors(void **state)
{
	(void)state;
	struct dnsmasq_conf c = conf();
	c.dir = dir2;
	c.bridge = BRIDGE2;
	c.ipv6_address = NULL;
	c.ipv4_address = "10.77.0.1/24"; /* not an address of the namespace */
	FAILS(dnsmasq_start(&c, &err), EADDRINUSE);
	if (!strstr(err.msg, "10.77.0.1"))
		fail_msg("%s", err.msg);
	assert_non_null(strstr(err.msg, "network `tnet`"));
	assert_int_equal(dnsmasq_pid(dir2), 0);

	c = conf();
	c.dir = dir2;
	c.bridge = "nosuchbr";
	c.ipv4_address = "10.77.0.1/24";
	c.ipv6_address = NULL;
	cella_error_clear(&err);
	assert_int_equal(dnsmasq_start(&c, &err), -1);
	assert_int_not_equal(err.code, 0);
	assert_int_equal(dnsmasq_pid(dir2), 0);

	/* the same addresses as the running one: taken */
	c = conf();
	c.dir = dir2;
	FAILS(dnsmasq_start(&c, &err), EADDRINUSE);
	assert_non_null(strstr(err.msg, "in use"));
	assert_int_equal(dnsmasq_pid(dir2), 0);

	/* a directory nobody could read its files in */
	cleanup_free char *closed = xasprintf("%s/closed", tmp);
	assert_int_equal(mkdir(closed, 0700), 0);
	cleanup_free char *inside = xasprintf("%s/net", closed);
	c = conf();
	c.dir = inside;
	FAILS(dnsmasq_start(&c, &err), EACCES);
	assert_non_null(strstr(err.msg, closed));
	assert_int_equal(dnsmasq_pid(inside), 0);
}

/* Run busybox udhcpc on `ifname` of the peer namespace; its output. */
static char *udhcpc(const char *ifname)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setns(peer_fd, CLONE_NEWNET) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
			_exit(127);
		execl(BUSYBOX, "busybox", "udhcpc", "-f", "-q", "-n", "-i", ifname, "-s", "/bin/true", "-t", "5",
		      "-T", "1", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	cleanup_close int r = p[0];
	cleanup_close int pidfd = pidfd_open(pid, 0);
	struct pollfd pf = { .fd = pidfd, .events = POLLIN };
	if (poll(&pf, 1, 15000) != 1)
		kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	char *out = read_fd_text(r, NULL, &err);
	assert_non_null(out);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("udhcpc on %s: status %d: %s", ifname, status, out);
	return out;
}

/* A veth `name` enslaved to the bridge, its peer `peer_name` with `mac` in
 * the peer namespace, both up. */
static void port_add(const char *name, const char *peer_name, const uint8_t mac[6])
{
	struct nl_veth v = { .name = name, .peer = peer_name, .peer_netns_fd = peer_fd };
	int i = nl_veth_create(nl, &v, &err);
	CHECK(i);
	int br = nl_link_index(nl, BRIDGE, &err);
	CHECK(br);
	CHECK(nl_link_set_master(nl, i, br, &err));
	CHECK(nl_link_set_up(nl, i, true, &err));
	int pi = nl_link_index(peer, peer_name, &err);
	CHECK(pi);
	CHECK(nl_link_set_mac(peer, pi, mac, &err));
	CHECK(nl_link_set_up(peer, pi, true, &err));
}

static void test_dhcp(void **state)
{
	(void)state;
	if (access(BUSYBOX, X_OK) < 0)
		skip();
	struct dnsmasq_conf c = conf();
	const struct dnsmasq_host hosts[] = {
		web5[0],
		{ .name = "vm7", .mac = "02:00:00:00:00:07", .ipv4 = "10.99.0.7" },
	};
	CHECK(dnsmasq_hosts_set(&c, hosts, 2, &err));
	ASSERT_DNS("vm7.cella", AF_INET, "10.99.0.7");

	/* a static lease by MAC */
	static const uint8_t mac7[6] = { 2, 0, 0, 0, 0, 7 }, mac8[6] = { 2, 0, 0, 0, 0, 8 };
	port_add("tv7", "eth7", mac7);
	cleanup_free char *out = udhcpc("eth7");
	if (!strstr(out, "lease of 10.99.0.7 obtained"))
		fail_msg("udhcpc: %s", out);

	/* a dynamic one, from the range (.2 to .254 but the static ones) */
	port_add("tv8", "eth8", mac8);
	cleanup_free char *out8 = udhcpc("eth8");
	const char *l = strstr(out8, "lease of 10.99.0.");
	if (!l)
		fail_msg("udhcpc: %s", out8);
	int last = atoi(l + strlen("lease of 10.99.0."));
	assert_true(last >= 2 && last <= 254 && last != 5 && last != 7);

	/* both in the lease file; the name of a client is ours, never its own */
	cleanup_free char *leases = NULL;
	for (int i = 0; i < 50; i++) {
		free(leases);
		leases = file(dir, "leases");
		if (leases && strstr(leases, "02:00:00:00:00:07") && strstr(leases, "02:00:00:00:00:08"))
			break;
		usleep(100 * 1000);
	}
	assert_non_null(leases);
	assert_non_null(strstr(leases, "02:00:00:00:00:07 10.99.0.7 vm7 "));
	assert_non_null(strstr(leases, "02:00:00:00:00:08 10.99.0."));
	CHECK(nl_link_delete_name(nl, "tv7", &err));
	CHECK(nl_link_delete_name(nl, "tv8", &err));
}

static void test_stop(void **state)
{
	(void)state;
	pid_t pid = dnsmasq_pid(dir);
	assert_true(pid > 1);
	CHECK(dnsmasq_stop(dir, &err));
	assert_true(process_gone(pid));
	assert_int_equal(dnsmasq_pid(dir), 0);
	assert_false(exists(dir, "dnsmasq.pid"));
	assert_false(exists(dir, "hosts"));
	assert_false(exists(dir, "dhcp-hosts"));
	assert_true(exists(dir, "leases"));
	ASSERT_DNS("web.cella", AF_INET, "TIMEOUT");
	/* idempotent, also for a directory that never was */
	CHECK(dnsmasq_stop(dir, &err));
	CHECK(dnsmasq_stop("/nonexistent/cella/net", &err));

	/* a pid file naming another process is not believed */
	cleanup_free char *pidfile = xasprintf("%s/dnsmasq.pid", dir);
	cleanup_free char *self = xasprintf("%d\n", (int)getpid());
	CHECK(write_file_atomic(AT_FDCWD, pidfile, self, strlen(self), 0644, &err));
	assert_int_equal(dnsmasq_pid(dir), 0);
	CHECK(dnsmasq_stop(dir, &err));
	assert_false(exists(dir, "dnsmasq.pid"));

	/* started again from nothing, with no hosts yet */
	struct dnsmasq_conf c = conf();
	c.dhcp = false;
	c.ipv6_address = NULL;
	c.domain = NULL;
	CHECK(dnsmasq_start(&c, &err));
	pid = dnsmasq_pid(dir);
	assert_true(pid > 1);
	CHECK(dnsmasq_hosts_set(&c, web5, 0, &err));
	const struct dnsmasq_host plain[] = { { .name = "plain", .mac = "02:00:00:00:00:0a", .ipv4 = "10.99.0.10" } };
	CHECK(dnsmasq_hosts_set(&c, plain, 1, &err));
	ASSERT_DNS("plain", AF_INET, "10.99.0.10");
	CHECK(dnsmasq_stop(dir, &err));
	assert_true(process_gone(pid));
}

static int dnsmasq_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start),
		cmocka_unit_test(test_hosts),
		cmocka_unit_test(test_bad_hosts),
		cmocka_unit_test(test_bad_conf),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_start_errors),
		cmocka_unit_test(test_dhcp),
		cmocka_unit_test(test_stop),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	remove(path);
	return 0;
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_dnsmasq: needs root (a network namespace of its own): skipped\n");
		return 77;
	}
	if (access(DNSMASQ, X_OK) < 0) {
		fprintf(stderr, "test_dnsmasq: no %s (package dnsmasq-base): skipped\n", DNSMASQ);
		return 77;
	}
	/* first of all: nothing this test does may reach the host's network */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test_dnsmasq: unshare(CLONE_NEWNET): %s: skipped\n", strerror(errno));
		return 77;
	}
	/* searchable by others: dnsmasq reads its hosts files as nobody */
	if (!mkdtemp(tmp) || chmod(tmp, 0711) < 0) {
		perror("test_dnsmasq: mkdtemp");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/net", tmp);
	snprintf(dir2, sizeof(dir2), "%s/net2", tmp);
	fflush(NULL);
	pid_t child = fork();
	if (child < 0) {
		perror("test_dnsmasq: fork");
		return 1;
	}
	if (child == 0)
		exit(dnsmasq_tests());
	int status = 0;
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	/* whatever happened to the tests: no daemon, no directory left */
	struct cella_error e;
	if (dnsmasq_stop(dir, &e) < 0 || dnsmasq_stop(dir2, &e) < 0)
		fprintf(stderr, "test_dnsmasq: clean-up: %s\n", e.msg);
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "test_dnsmasq: killed by signal %d\n", WTERMSIG(status));
		return 1;
	}
	return WEXITSTATUS(status);
}
