/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One dnsmasq per managed network: DHCP (v4, v6 static leases), router
 * advertisements and DNS for the instances on its bridge.
 *
 * How it runs.  dnsmasq daemonizes itself, and we let it: the process we
 * spawn binds the sockets and opens the lease file, forks; the child calls
 * setsid() and forks again; the grandchild writes the pid file, drops its
 * privileges and only then, start-up complete, releases the first process,
 * which exits 0.  An error on the way comes back to the first process,
 * which prints it on stderr and exits non-zero (1 configuration, 2 network,
 * 3 filesystem, 4 memory, 5 other).  That exit is exactly the "listening or
 * failed, and why" we need: we spawn dnsmasq (in a session of its own) with
 * stderr on a pipe and wait at most 5 s for the first process.  The daemon
 * is then in its own session, reparented to init, not a child of cellad:
 * cellad can exit or be killed without taking DHCP and DNS with it.
 * (With --keep-in-foreground in a process we detached ourselves, we would
 * have to invent the readiness signal: the pid file is written before the
 * privileges are dropped, so its presence does not mean start-up worked.)
 *
 * User.  dnsmasq binds its ports and opens its lease file as root, then
 * runs as nobody:nogroup keeping only CAP_NET_ADMIN, CAP_NET_RAW and
 * CAP_NET_BIND_SERVICE (what DHCP needs): it parses packets from every
 * guest, so it should not keep root (--user=root was the simpler, weaker
 * choice).  After the switch it only reads: the two hosts files, on SIGHUP.
 * They are written 0644 whatever cellad's umask, and dnsmasq_start() checks
 * that nobody can reach them (the directory and all above it searchable by
 * others, like RUN's 0711): dnsmasq would only log the failure to syslog and
 * serve no names.  The lease file stays root's (dnsmasq rewrites it through
 * the descriptor opened as root); the pid file is chowned to nobody by
 * dnsmasq itself.
 *
 * Identity.  Since the pid file is writable by nobody, it is a hint only:
 * its pid is our dnsmasq when /proc/PID/exe is dnsmasq and the command line
 * carries this directory's --pid-file, checked while the process is held by
 * a pidfd (signals then cannot reach a recycled pid).  The command line is
 * the whole configuration (--conf-file=/dev/null keeps /etc/dnsmasq.conf
 * out), so comparing it with the one we would run tells whether a live
 * dnsmasq must be restarted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dnsmasq.h"
#include "network.h"
#include "netlink.h"

#define DNSMASQ_BIN "/usr/sbin/dnsmasq"
#define DNSMASQ_USER "nobody"
#define DNSMASQ_GROUP "nogroup"
#define LEASE_TIME "1h"
#define START_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS 2000

#define PID_FILE "dnsmasq.pid"
#define HOSTS_FILE "hosts"
#define DHCP_HOSTS_FILE "dhcp-hosts"
#define LEASES_FILE "leases"

#define RANGES_MAX 64
#define ARGS_MAX (40 + RANGES_MAX)

/* ---- validation ---- */

/* An absolute path that goes as it is into dnsmasq's options and its own
 * --pid-file identity check: no empty, "." or ".." component, no trailing
 * '/', no ',' (dnsmasq splits some options on it), no space or control
 * character. */
static bool dir_valid(const char *d)
{
	size_t n = d ? strlen(d) : 0;
	if (n < 2 || n > 3000 || d[0] != '/' || d[n - 1] == '/')
		return false;
	for (const char *p = d; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch <= ' ' || ch == 0x7f || ch == ',')
			return false;
		if (ch == '/') {
			size_t len = strcspn(p + 1, "/");
			if (len == 0 || (len == 1 && p[1] == '.') || (len == 2 && p[1] == '.' && p[2] == '.'))
				return false;
		}
	}
	return true;
}

/* An instance name as a DNS label: [a-z0-9-]{1,63}, no '-' at either end. */
static bool label_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* "xx:xx:xx:xx:xx:xx", unicast, not all zero (dnsmasq's own wildcards such
 * as '*' are refused with everything else). */
static bool mac_parse(const char *s, uint8_t mac[6])
{
	if (strlen(s) != 17)
		return false;
	bool zero = true;
	for (int i = 0; i < 6; i++) {
		const char *p = s + 3 * i;
		int hi = hexval(p[0]), lo = hexval(p[1]);
		if (hi < 0 || lo < 0 || (i < 5 && p[2] != ':'))
			return false;
		mac[i] = (uint8_t)(hi << 4 | lo);
		zero = zero && mac[i] == 0;
	}
	return !zero && !(mac[0] & 1);
}

static uint32_t ip4_host(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void ip4_format(uint32_t h, char *buf, size_t len)
{
	struct in_addr a = { .s_addr = htonl(h) };
	inet_ntop(AF_INET, &a, buf, len);
}

/* Does `ip` (16 bytes) lie in p's prefix?  Byte by byte, then the last bits. */
static bool in_prefix6(const struct nl_prefix *p, const uint8_t *ip)
{
	unsigned full = p->len / 8, rest = p->len % 8;
	if (memcmp(p->ip.bytes, ip, full))
		return false;
	if (rest == 0)
		return true;
	uint8_t m = (uint8_t)(0xff << (8 - rest));
	return (p->ip.bytes[full] & m) == (ip[full] & m);
}

/* Are all host bits of `ip` in p's prefix zero? */
static bool host_zero6(const struct nl_prefix *p, const uint8_t *ip)
{
	for (unsigned bit = p->len; bit < 128; bit++)
		if (ip[bit / 8] & (0x80 >> (bit % 8)))
			return false;
	return true;
}

struct range4 {
	uint32_t first, last;
};

/* A conf, checked and parsed. */
struct conf {
	bool has4, has6;
	struct nl_prefix gw4, gw6;
	uint32_t net4, mask4, bcast4;
	struct range4 ranges[RANGES_MAX];
	size_t n_ranges;
};

/* A gateway "ADDR/LEN" of `family`: a unicast host address of its subnet. */
static int gateway_parse(const char *key, const char *s, int family, struct nl_prefix *p, struct cella_error *err)
{
	struct cella_error ignored;
	if (!strchr(s, '/') || nl_prefix_parse(s, p, &ignored) < 0 || p->ip.family != family)
		return cella_error_set(err, EINVAL, "%s: `%s`: not an %s address with its prefix length", key, s,
				       family == AF_INET ? "IPv4" : "IPv6");
	const uint8_t *b = p->ip.bytes;
	if (family == AF_INET) {
		uint32_t h = ip4_host(b), mask = p->len ? ~0u << (32 - p->len) : 0;
		if (p->len < 1 || p->len > 30)
			return cella_error_set(err, EINVAL, "%s: `%s`: the prefix length must be 1 to 30", key, s);
		if (b[0] == 0 || b[0] == 127 || b[0] >= 224 || (h & ~mask) == 0 || (h & ~mask) == ~mask)
			return cella_error_set(err, EINVAL, "%s: `%s`: not a usable gateway address", key, s);
	} else {
		if (p->len < 1 || p->len > 126)
			return cella_error_set(err, EINVAL, "%s: `%s`: the prefix length must be 1 to 126", key, s);
		if (b[0] == 0xff || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || host_zero6(p, b) ||
		    in_prefix6(&(struct nl_prefix){ .len = 96 }, b))
			return cella_error_set(err, EINVAL, "%s: `%s`: not a usable gateway address", key, s);
	}
	return 0;
}

/* ipv4.dhcp.ranges: "A-B[,C-D...]", each inside the subnet's usable
 * addresses, without the gateway, A <= B, no two overlapping. */
static int ranges_parse(const char *s, struct conf *k, struct cella_error *err)
{
	const char *key = "ipv4.dhcp.ranges";
	if (!k->has4)
		return cella_error_set(err, EINVAL, "%s: needs ipv4.address", key);
	if (strlen(s) > 4096)
		return cella_error_set(err, EINVAL, "%s: too long", key);
	cleanup_free char *copy = xstrdup(s);
	uint32_t gw = ip4_host(k->gw4.ip.bytes);
	char *save = NULL;
	for (char *r = strtok_r(copy, ",", &save); r; r = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(r, '-');
		struct in_addr a, b;
		if (k->n_ranges == RANGES_MAX)
			return cella_error_set(err, EINVAL, "%s: more than %d ranges", key, RANGES_MAX);
		if (!dash)
			return cella_error_set(err, EINVAL, "%s: `%s`: a range is FIRST-LAST", key, r);
		*dash = '\0';
		if (inet_pton(AF_INET, r, &a) != 1 || inet_pton(AF_INET, dash + 1, &b) != 1)
			return cella_error_set(err, EINVAL, "%s: `%s-%s`: not two IPv4 addresses", key, r, dash + 1);
		uint32_t x = ntohl(a.s_addr), y = ntohl(b.s_addr);
		if (x > y)
			return cella_error_set(err, EINVAL, "%s: `%s-%s`: the first address is after the last", key, r,
					       dash + 1);
		if ((x & k->mask4) != k->net4 || (y & k->mask4) != k->net4 || x == k->net4 || y == k->bcast4)
			return cella_error_set(err, EINVAL, "%s: `%s-%s`: outside the subnet's usable addresses", key,
					       r, dash + 1);
		if (gw >= x && gw <= y)
			return cella_error_set(err, EINVAL, "%s: `%s-%s`: contains the gateway", key, r, dash + 1);
		for (size_t i = 0; i < k->n_ranges; i++)
			if (x <= k->ranges[i].last && y >= k->ranges[i].first)
				return cella_error_set(err, EINVAL, "%s: `%s-%s`: overlaps another range", key, r,
						       dash + 1);
		k->ranges[k->n_ranges++] = (struct range4){ x, y };
	}
	if (k->n_ranges == 0)
		return cella_error_set(err, EINVAL, "%s: empty", key);
	return 0;
}

/* Every field of `c`, before anything uses one. */
static int conf_parse(const struct dnsmasq_conf *c, struct conf *k, struct cella_error *err)
{
	memset(k, 0, sizeof(*k));
	if (!c || !c->network || !c->bridge || !c->dir)
		return cella_error_set(err, EINVAL, "dnsmasq: network, bridge and dir are required");
	if (!ifname_is_valid(c->bridge))
		return cella_error_set(err, EINVAL, "bridge: `%s`: not an interface name", c->bridge);
	if (!dir_valid(c->dir))
		return cella_error_set(err, EINVAL, "dir: `%s`: not a plain absolute path", c->dir);
	if (c->domain && !domain_valid(c->domain))
		return cella_error_set(err, EINVAL, "dns.domain: `%s`: not a domain name", c->domain);
	if (c->ipv4_address) {
		if (gateway_parse("ipv4.address", c->ipv4_address, AF_INET, &k->gw4, err) < 0)
			return -1;
		k->has4 = true;
		k->mask4 = ~0u << (32 - k->gw4.len);
		k->net4 = ip4_host(k->gw4.ip.bytes) & k->mask4;
		k->bcast4 = k->net4 | ~k->mask4;
	}
	if (c->ipv6_address) {
		if (gateway_parse("ipv6.address", c->ipv6_address, AF_INET6, &k->gw6, err) < 0)
			return -1;
		k->has6 = true;
	}
	if (!k->has4 && !k->has6)
		return cella_error_set(err, EINVAL, "network `%s`: no ipv4.address nor ipv6.address to serve",
				       c->network);
	if (c->ipv4_ranges) {
		if (ranges_parse(c->ipv4_ranges, k, err) < 0)
			return -1;
	} else if (k->has4) {
		/* the whole subnet but its own address, the broadcast and the gateway */
		uint32_t gw = ip4_host(k->gw4.ip.bytes), lo = k->net4 + 1, hi = k->bcast4 - 1;
		if (gw > lo)
			k->ranges[k->n_ranges++] = (struct range4){ lo, gw - 1 };
		if (gw < hi)
			k->ranges[k->n_ranges++] = (struct range4){ gw + 1, hi };
	}
	return 0;
}

/* ---- the command line ---- */

struct args {
	char *v[ARGS_MAX + 1];
	size_t n;
};

static void args_free(struct args *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
}

/* Takes `s` (from xasprintf). */
static void args_add(struct args *a, char *s)
{
	if (a->n == ARGS_MAX)
		abort(); /* a bug: ARGS_MAX counts every option below */
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

/*
 * The whole configuration, as dnsmasq's arguments (the order is fixed: the
 * command line of a running dnsmasq is compared with it).  Names of the
 * network: from the two hosts files only (--no-hosts: not the host's
 * /etc/hosts; --dhcp-ignore-names: a guest cannot put a name of its choice
 * into the DNS, say another instance's, through its DHCP request); names of
 * the domain, and plain names, never go upstream (--local, --domain-needed);
 * other names are resolved through the host's resolv.conf.
 */
static void args_build(const struct dnsmasq_conf *c, const struct conf *k, struct args *a)
{
	char ip[INET6_ADDRSTRLEN], ip2[INET6_ADDRSTRLEN], mask[INET_ADDRSTRLEN];

	args_add(a, xstrdup(DNSMASQ_BIN));
	args_add(a, xstrdup("--conf-file=/dev/null"));
	args_add(a, xasprintf("--pid-file=%s/" PID_FILE, c->dir));
	args_add(a, xstrdup("--user=" DNSMASQ_USER));
	args_add(a, xstrdup("--group=" DNSMASQ_GROUP));
	args_add(a, xstrdup("--strict-order"));
	args_add(a, xstrdup("--bind-interfaces"));
	args_add(a, xasprintf("--interface=%s", c->bridge));
	/* --interface adds the loopback implicitly: not ours to serve */
	args_add(a, xstrdup("--except-interface=lo"));
	if (k->has4) {
		inet_ntop(AF_INET, k->gw4.ip.bytes, ip, sizeof(ip));
		args_add(a, xasprintf("--listen-address=%s", ip));
	}
	if (k->has6) {
		inet_ntop(AF_INET6, k->gw6.ip.bytes, ip, sizeof(ip));
		args_add(a, xasprintf("--listen-address=%s", ip));
	}
	args_add(a, xstrdup("--no-hosts"));
	args_add(a, xasprintf("--addn-hosts=%s/" HOSTS_FILE, c->dir));
	args_add(a, xstrdup("--domain-needed"));
	if (c->domain) {
		args_add(a, xasprintf("--domain=%s", c->domain));
		args_add(a, xasprintf("--local=/%s/", c->domain));
		args_add(a, xstrdup("--expand-hosts"));
	}
	bool ranges = false;
	if (c->dhcp) {
		args_add(a, xasprintf("--dhcp-hostsfile=%s/" DHCP_HOSTS_FILE, c->dir));
		args_add(a, xstrdup("--dhcp-authoritative"));
		args_add(a, xstrdup("--dhcp-no-override"));
		args_add(a, xstrdup("--dhcp-ignore-names"));
		args_add(a, xstrdup("--no-ping"));
		args_add(a, xstrdup("--quiet-dhcp"));
		args_add(a, xstrdup("--quiet-dhcp6"));
		if (k->has4) {
			ip4_format(k->mask4, mask, sizeof(mask));
			for (size_t i = 0; i < k->n_ranges; i++) {
				ip4_format(k->ranges[i].first, ip, sizeof(ip));
				ip4_format(k->ranges[i].last, ip2, sizeof(ip2));
				args_add(a, xasprintf("--dhcp-range=%s,%s,%s," LEASE_TIME, ip, ip2, mask));
			}
			ranges = true;
		}
		if (k->has6) {
			/* Static leases only (by MAC, from dhcp-hosts), plus SLAAC
			 * for everyone (slaac: the A flag in RAs) and AAAA names for
			 * SLAAC addresses of hosts known by their IPv4 lease. */
			char len[16] = "";
			if (k->gw6.len > 64)
				snprintf(len, sizeof(len), ",%u", k->gw6.len);
			args_add(a, xasprintf("--dhcp-range=::,constructor:%s,static,slaac,ra-names%s," LEASE_TIME,
					      c->bridge, len));
			ranges = true;
		}
	} else if (k->has6) {
		/* no DHCP, but the guests still learn the prefix and route */
		args_add(a, xasprintf("--dhcp-range=::,constructor:%s,ra-only", c->bridge));
		ranges = true;
	}
	if (k->has6) {
		args_add(a, xstrdup("--enable-ra"));
		args_add(a, xstrdup("--quiet-ra"));
	}
	/* any --dhcp-range makes dnsmasq keep leases: here, not in /var/lib/misc */
	if (ranges)
		args_add(a, xasprintf("--dhcp-leasefile=%s/" LEASES_FILE, c->dir));
}

/* Is the NUL-separated command line `cl` exactly `a`? */
static bool args_equal(const struct args *a, const char *cl, size_t len)
{
	size_t off = 0;
	for (size_t i = 0; i < a->n; i++) {
		size_t n = strlen(a->v[i]) + 1;
		if (off + n > len || memcmp(cl + off, a->v[i], n))
			return false;
		off += n;
	}
	return off == len;
}

/* ---- the running process ---- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Has the process of `pidfd` exited, waiting at most `ms`? */
static bool pidfd_exited(int pidfd, int ms)
{
	long long deadline = now_ms() + ms;
	for (;;) {
		long long left = deadline - now_ms();
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		int r = poll(&p, 1, left > 0 ? (int)left : 0);
		if (r >= 0 || errno != EINTR)
			return r > 0;
	}
}

/* /proc/PID/exe of dnsmasq: its path, or that path " (deleted)" when the
 * package was upgraded under the running daemon. */
static bool exe_is_dnsmasq(const char *exe)
{
	char real[PATH_MAX];
	const char *names[] = { DNSMASQ_BIN, realpath(DNSMASQ_BIN, real) };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		size_t n = names[i] ? strlen(names[i]) : 0;
		if (n && !strncmp(exe, names[i], n) && (!exe[n] || !strcmp(exe + n, " (deleted)")))
			return true;
	}
	return false;
}

/*
 * The live dnsmasq of `dir`, held by a pidfd (returned, its pid in *pidp,
 * its command line in *cl when asked), or -1 when there is none.  The pid
 * file only names a candidate (see the top of this file).
 */
static int running_open(const char *dir, pid_t *pidp, char **cl, size_t *cl_len)
{
	cleanup_free char *pidfile = xasprintf("%s/" PID_FILE, dir);
	cleanup_free char *pidarg = xasprintf("--pid-file=%s", pidfile);
	char buf[32], path[64], exe[PATH_MAX];

	cleanup_close int fd = open(pidfile, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	ssize_t n = read_all(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *end;
	errno = 0;
	long v = strtol(buf, &end, 10);
	if (errno || end == buf || v <= 1 || v > INT_MAX || (*end && strcmp(end, "\n")))
		return -1;
	pid_t pid = (pid_t)v;

	cleanup_close int pidfd = pidfd_open(pid, 0);
	if (pidfd < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	ssize_t m = readlink(path, exe, sizeof(exe) - 1);
	if (m >= 0) {
		exe[m] = '\0';
		if (!exe_is_dnsmasq(exe))
			return -1;
	} else if (errno != EACCES) {
		return -1; /* gone, or a zombie; EACCES: not root, the command line decides */
	}
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	struct cella_error ignored;
	size_t len;
	cleanup_free char *cmd = read_file_at(AT_FDCWD, path, &len, &ignored);
	if (!cmd || len == 0 || strcmp(cmd, DNSMASQ_BIN))
		return -1;
	bool ours = false;
	for (size_t off = 0; off < len && !ours; off += strlen(cmd + off) + 1)
		ours = !strcmp(cmd + off, pidarg);
	if (!ours)
		return -1;
	/* still alive: what /proc showed was the process the pidfd holds */
	if (pidfd_exited(pidfd, 0))
		return -1;
	*pidp = pid;
	if (cl) {
		*cl = steal_pointer(&cmd);
		*cl_len = len;
	}
	return steal_fd(&pidfd);
}

/* SIGTERM, then SIGKILL after 2 s; returns once it is gone. */
static int terminate(int pidfd, pid_t pid, struct cella_error *err)
{
	if (pidfd_send_signal(pidfd, SIGTERM, NULL, 0) < 0 && errno != ESRCH)
		return cella_error_set(err, errno, "stop dnsmasq (pid %d)", (int)pid);
	if (pidfd_exited(pidfd, STOP_TIMEOUT_MS))
		return 0;
	if (pidfd_send_signal(pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
		return cella_error_set(err, errno, "kill dnsmasq (pid %d)", (int)pid);
	if (pidfd_exited(pidfd, STOP_TIMEOUT_MS))
		return 0;
	cella_error_set(err, 0, "dnsmasq (pid %d) does not exit", (int)pid);
	err->code = ETIMEDOUT;
	return -1;
}

/* ---- files ---- */

/* Every directory from / down to `dir` must be searchable by others, or
 * dnsmasq, once nobody, cannot read its hosts files. */
static int dir_reachable(const char *dir, struct cella_error *err)
{
	cleanup_free char *real = realpath(dir, NULL);
	if (!real)
		return cella_error_set(err, errno, "`%s`", dir);
	for (char *p = real;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		struct stat st;
		*p = '\0';
		const char *d = p == real ? "/" : real;
		if (stat(d, &st) < 0)
			return cella_error_set(err, errno, "`%s`", d);
		if (!(st.st_mode & S_IXOTH)) {
			cella_error_set(err, 0, "`%s` is not searchable by others: dnsmasq, running as " DNSMASQ_USER
					", could not read its files in `%s`", d, dir);
			err->code = EACCES;
			return -1;
		}
		*p = c;
		if (!c)
			return 0;
	}
}

/* Replace `name` atomically, 0644 whatever the umask (dnsmasq reads it as
 * nobody).  O_NOFOLLOW | O_EXCL: nothing planted at the temp name is followed. */
/* Create `name` empty unless it exists. */
static int file_ensure(int dirfd, const char *dir, const char *name, struct cella_error *err)
{
	cleanup_close int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 && errno != EEXIST)
		return cella_error_set(err, errno, "create `%s/%s`", dir, name);
	if (fd >= 0 && fchmod(fd, 0644) < 0)
		return cella_error_set(err, errno, "chmod `%s/%s`", dir, name);
	return 0;
}

/* The network's directory, created if need be; searchable by others
 * (dnsmasq reads in it as nobody) whatever the umask was. */
static int dir_open(const char *dir, struct cella_error *err)
{
	if (mkdir_p(dir, 0711, err) < 0)
		return -1;
	cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return cella_error_set(err, errno, "open `%s`", dir);
	if (!(st.st_mode & S_IXOTH) && fchmod(fd, (st.st_mode & 07777) | S_IXOTH) < 0)
		return cella_error_set(err, errno, "chmod `%s`", dir);
	return steal_fd(&fd);
}

/* ---- hosts ---- */

struct host {
	uint8_t mac[6];
	bool has4, has6;
	uint8_t ip4[4], ip6[16];
};

/* hosts[i], checked against the network and hosts[0..i-1]. */
static int host_parse(const struct dnsmasq_conf *c, const struct conf *k, const struct dnsmasq_host *hosts,
		      struct host *parsed, size_t i, struct cella_error *err)
{
	const struct dnsmasq_host *h = &hosts[i];
	struct host *p = &parsed[i];
	/* no name: a lease only (an instance's second NIC on the network) */
	if (h->name && !label_valid(h->name))
		return cella_error_set(err, EINVAL, "hosts[%zu].name: `%s`: not a DNS label ([a-z0-9-], 63 at most)", i,
				       h->name);
	const char *who = h->name ? h->name : h->mac ? h->mac : "?";
	if (!h->mac || !mac_parse(h->mac, p->mac))
		return cella_error_set(err, EINVAL, "host `%s`: mac: `%s`: not a unicast MAC address", who,
				       h->mac ? h->mac : "(null)");
	if (h->ipv4) {
		struct in_addr a;
		if (inet_pton(AF_INET, h->ipv4, &a) != 1)
			return cella_error_set(err, EINVAL, "host `%s`: ipv4: `%s`: not an IPv4 address", who,
					       h->ipv4);
		uint32_t x = ntohl(a.s_addr);
		if (!k->has4 || (x & k->mask4) != k->net4 || x == k->net4 || x == k->bcast4 ||
		    x == ip4_host(k->gw4.ip.bytes))
			return cella_error_set(err, EINVAL,
					       "host `%s`: ipv4: `%s`: not a free address of network `%s`'s subnet",
					       who, h->ipv4, c->network);
		memcpy(p->ip4, &a, 4);
		p->has4 = true;
	}
	if (h->ipv6) {
		struct in6_addr a;
		if (inet_pton(AF_INET6, h->ipv6, &a) != 1)
			return cella_error_set(err, EINVAL, "host `%s`: ipv6: `%s`: not an IPv6 address", who,
					       h->ipv6);
		if (!k->has6 || !in_prefix6(&k->gw6, a.s6_addr) || host_zero6(&k->gw6, a.s6_addr) ||
		    !memcmp(a.s6_addr, k->gw6.ip.bytes, 16))
			return cella_error_set(err, EINVAL,
					       "host `%s`: ipv6: `%s`: not a free address of network `%s`'s subnet",
					       who, h->ipv6, c->network);
		memcpy(p->ip6, &a, 16);
		p->has6 = true;
	}
	for (size_t j = 0; j < i; j++) {
		const struct host *q = &parsed[j];
		const char *what = h->name && hosts[j].name && !strcmp(hosts[j].name, h->name) ? "name"
				   : !memcmp(q->mac, p->mac, 6)                  ? "mac"
				   : p->has4 && q->has4 && !memcmp(q->ip4, p->ip4, 4) ? "ipv4"
				   : p->has6 && q->has6 && !memcmp(q->ip6, p->ip6, 16) ? "ipv6"
										 : NULL;
		if (what)
			return cella_error_set(err, EINVAL, "host `%s`: %s: the same as host `%s`'s",
					       who, what, hosts[j].name ? hosts[j].name : hosts[j].mac);
	}
	return 0;
}

int dnsmasq_hosts_set(const struct dnsmasq_conf *c, const struct dnsmasq_host *hosts, size_t n,
		      struct cella_error *err)
{
	struct conf k;
	if (conf_parse(c, &k, err) < 0)
		return -1;
	if (n && !hosts)
		return cella_error_set(err, EINVAL, "hosts: missing");
	cleanup_free struct host *parsed = calloc(n ? n : 1, sizeof(*parsed));
	if (!parsed)
		return cella_error_set(err, ENOMEM, "hosts of network `%s`", c->network);
	for (size_t i = 0; i < n; i++)
		if (host_parse(c, &k, hosts, parsed, i, err) < 0)
			return -1;

	/* Both files from the parsed values, printed back: nothing of the
	 * input strings but the validated names reaches them. */
	cleanup_free char *dhcp = NULL, *names = NULL;
	size_t dhcp_len = 0, names_len = 0;
	FILE *fdh = open_memstream(&dhcp, &dhcp_len), *fnm = open_memstream(&names, &names_len);
	if (!fdh || !fnm) {
		if (fdh)
			fclose(fdh);
		if (fnm)
			fclose(fnm);
		return cella_error_set(err, ENOMEM, "hosts of network `%s`", c->network);
	}
	for (size_t i = 0; i < n; i++) {
		const struct host *p = &parsed[i];
		const char *name = hosts[i].name;
		char ip4[INET_ADDRSTRLEN], ip6[INET6_ADDRSTRLEN];
		/* MAC[,IPv4][,[IPv6]],NAME */
		fprintf(fdh, "%02x:%02x:%02x:%02x:%02x:%02x", p->mac[0], p->mac[1], p->mac[2], p->mac[3], p->mac[4],
			p->mac[5]);
		if (p->has4) {
			inet_ntop(AF_INET, p->ip4, ip4, sizeof(ip4));
			fprintf(fdh, ",%s", ip4);
			if (name)
				fprintf(fnm, "%s %s%s%s %s\n", ip4, name, c->domain ? "." : "", c->domain ? c->domain : "",
					name);
		}
		if (p->has6) {
			inet_ntop(AF_INET6, p->ip6, ip6, sizeof(ip6));
			fprintf(fdh, ",[%s]", ip6);
			if (name)
				fprintf(fnm, "%s %s%s%s %s\n", ip6, name, c->domain ? "." : "", c->domain ? c->domain : "",
					name);
		}
		if (name)
			fprintf(fdh, ",%s", name);
		fputc('\n', fdh);
	}
	bool bad = ferror(fdh) || ferror(fnm);
	bad = (fclose(fdh) != 0) | (fclose(fnm) != 0) | bad;
	if (bad)
		return cella_error_set(err, ENOMEM, "hosts of network `%s`", c->network);

	cleanup_close int dirfd = dir_open(c->dir, err);
	if (dirfd < 0)
		return -1;
	/* the same as dnsmasq has: no rewrite, no reload (every start of an
	 * instance asks, most change nothing) */
	struct cella_error ignored;
	size_t old_dhcp_len = 0, old_names_len = 0;
	cleanup_free char *old_dhcp = read_file_at(dirfd, DHCP_HOSTS_FILE, &old_dhcp_len, &ignored);
	cleanup_free char *old_names = read_file_at(dirfd, HOSTS_FILE, &old_names_len, &ignored);
	if (old_dhcp && old_names && old_dhcp_len == dhcp_len && old_names_len == names_len &&
	    !memcmp(old_dhcp, dhcp, dhcp_len) && !memcmp(old_names, names, names_len))
		return 0;
	if (write_file_atomic(dirfd, DHCP_HOSTS_FILE, dhcp, dhcp_len, 0644, err) < 0 ||
	    write_file_atomic(dirfd, HOSTS_FILE, names, names_len, 0644, err) < 0)
		return cella_error_wrap(err, "hosts of network `%s`", c->network);

	pid_t pid;
	cleanup_close int pidfd = running_open(c->dir, &pid, NULL, NULL);
	if (pidfd >= 0 && pidfd_send_signal(pidfd, SIGHUP, NULL, 0) < 0 && errno != ESRCH)
		return cella_error_set(err, errno, "reload dnsmasq of network `%s` (pid %d)", c->network, (int)pid);
	return 0;
}

/* ---- start, stop ---- */

/* Append what is readable now on `fd` to buf (the excess is dropped);
 * *eof at end of file or on an error. */
static void drain(int fd, char *buf, size_t cap, size_t *len, bool *eof)
{
	for (;;) {
		char tmp[512];
		ssize_t r = read(fd, tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			*eof = *eof || r == 0 || errno != EAGAIN;
			return;
		}
		size_t take = (size_t)r < cap - 1 - *len ? (size_t)r : cap - 1 - *len;
		memcpy(buf + *len, tmp, take);
		*len += take;
		buf[*len] = '\0';
	}
}

/* dnsmasq's stderr `in` as one line into `out`: its "dnsmasq: " prefixes
 * and blank lines out, lines joined by "; ". */
static void message_tidy(const char *in, char *out, size_t cap)
{
	size_t len = 0;
	out[0] = '\0';
	while (*in) {
		size_t n = strcspn(in, "\n");
		const char *line = in, *end = in + n;
		in = *end ? end + 1 : end;
		if (!strncmp(line, "dnsmasq: ", 9))
			line += 9;
		while (line < end && (*line == ' ' || *line == '\t'))
			line++;
		if (line == end)
			continue;
		int w = snprintf(out + len, cap - len, "%s%.*s", len ? "; " : "", (int)(end - line), line);
		if (w < 0 || (size_t)w >= cap - len)
			return;
		len += (size_t)w;
	}
}

/*
 * Run dnsmasq and wait for its first process (see the top of this file):
 * 0 once the daemon is up, or the error it printed.  Exit codes become
 * errnos: 1 (configuration) EINVAL, 2 (network: an address taken or
 * missing) EADDRINUSE, 4 ENOMEM, others EIO.
 */
static int spawn_wait(const struct dnsmasq_conf *c, struct args *a, struct cella_error *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return cella_error_set(err, errno, "pipe");
	cleanup_close int out_r = p[0], out_w = p[1];
	cleanup_close int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		return cella_error_set(err, errno, "open `/dev/null`");
	int fds[3] = { devnull, devnull, out_w };
	pid_t spawned;
	int e = spawn_clean(&spawned, DNSMASQ_BIN, a->v, fds, 3, true);
	if (e)
		return cella_error_set(err, e, "run `%s`", DNSMASQ_BIN);
	cleanup_pid pid_t pid = spawned;
	close(steal_fd(&out_w));
	cleanup_close int pidfd = pidfd_open(pid, 0);
	if (pidfd < 0)
		return cella_error_set(err, errno, "pidfd_open");
	fcntl(out_r, F_SETFL, O_NONBLOCK);

	char raw[768] = "";
	size_t len = 0;
	bool eof = false, exited = false;
	long long deadline = now_ms() + START_TIMEOUT_MS;
	while (!exited) {
		long long left = deadline - now_ms();
		if (left <= 0)
			break;
		struct pollfd pf[2] = {
			{ .fd = pidfd, .events = POLLIN },
			{ .fd = eof ? -1 : out_r, .events = POLLIN },
		};
		int r = poll(pf, 2, (int)left);
		if (r < 0 && errno != EINTR)
			return cella_error_set(err, errno, "poll");
		if (r > 0 && pf[1].revents)
			drain(out_r, raw, sizeof(raw), &len, &eof);
		if (r > 0 && pf[0].revents)
			exited = true;
	}
	if (!exited) {
		/* the first process is killed and reaped by cleanup_pid; a daemon
		 * that got as far as its pid file goes too */
		pid_t d;
		cleanup_close int dfd = running_open(c->dir, &d, NULL, NULL);
		if (dfd >= 0)
			terminate(dfd, d, &(struct cella_error){ 0 });
		cella_error_set(err, 0, "dnsmasq of network `%s` not started after %d s", c->network,
				START_TIMEOUT_MS / 1000);
		err->code = ETIMEDOUT;
		return -1;
	}
	int status = 0;
	pid_t w;
	while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (w < 0)
		return cella_error_set(err, errno, "wait for dnsmasq");
	pid = 0;
	drain(out_r, raw, sizeof(raw), &len, &eof);
	char msg[768];
	message_tidy(raw, msg, sizeof(msg));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	int code = !WIFEXITED(status)		   ? EIO
		   : WEXITSTATUS(status) == 1 ? EINVAL
		   : WEXITSTATUS(status) == 2 ? EADDRINUSE
		   : WEXITSTATUS(status) == 4 ? ENOMEM
					      : EIO;
	if (msg[0])
		cella_error_set(err, 0, "dnsmasq of network `%s`: %s", c->network, msg);
	else if (WIFEXITED(status))
		cella_error_set(err, 0, "dnsmasq of network `%s` exited with status %d", c->network,
				WEXITSTATUS(status));
	else
		cella_error_set(err, 0, "dnsmasq of network `%s` killed by signal %d", c->network, WTERMSIG(status));
	err->code = code;
	return -1;
}

int dnsmasq_start(const struct dnsmasq_conf *c, struct cella_error *err)
{
	struct conf k;
	if (conf_parse(c, &k, err) < 0)
		return -1;
	__attribute__((cleanup(args_free))) struct args a = { 0 };
	args_build(c, &k, &a);
	if (access(DNSMASQ_BIN, X_OK) < 0)
		return cella_error_set(err, errno, "dnsmasq of network `%s`: `%s` (package dnsmasq-base)", c->network,
				       DNSMASQ_BIN);
	cleanup_close int dirfd = dir_open(c->dir, err);
	if (dirfd < 0 || dir_reachable(c->dir, err) < 0)
		return cella_error_wrap(err, "dnsmasq of network `%s`", c->network);
	if (file_ensure(dirfd, c->dir, HOSTS_FILE, err) < 0 || file_ensure(dirfd, c->dir, DHCP_HOSTS_FILE, err) < 0)
		return cella_error_wrap(err, "dnsmasq of network `%s`", c->network);

	pid_t pid;
	cleanup_free char *cl = NULL;
	size_t cl_len = 0;
	cleanup_close int pidfd = running_open(c->dir, &pid, &cl, &cl_len);
	if (pidfd >= 0) {
		if (args_equal(&a, cl, cl_len))
			return 0;
		if (terminate(pidfd, pid, err) < 0)
			return cella_error_wrap(err, "restart dnsmasq of network `%s`", c->network);
	}
	/* a stale pid file must not pass for the new daemon's */
	if (unlinkat(dirfd, PID_FILE, 0) < 0 && errno != ENOENT)
		return cella_error_set(err, errno, "remove `%s/" PID_FILE "`", c->dir);
	if (spawn_wait(c, &a, err) < 0)
		return -1;
	if (pidfd >= 0)
		close(steal_fd(&pidfd));
	pidfd = running_open(c->dir, &pid, NULL, NULL);
	if (pidfd < 0) {
		cella_error_set(err, 0, "dnsmasq of network `%s` exited right after its start", c->network);
		err->code = EIO;
		return -1;
	}
	return 0;
}

pid_t dnsmasq_pid(const char *dir)
{
	pid_t pid = 0;
	if (!dir_valid(dir))
		return 0;
	cleanup_close int pidfd = running_open(dir, &pid, NULL, NULL);
	return pidfd >= 0 ? pid : 0;
}

int dnsmasq_stop(const char *dir, struct cella_error *err)
{
	static const char *const files[] = { PID_FILE, HOSTS_FILE, DHCP_HOSTS_FILE };
	if (!dir_valid(dir))
		return cella_error_set(err, EINVAL, "dir: `%s`: not a plain absolute path", dir ? dir : "(null)");
	pid_t pid;
	cleanup_close int pidfd = running_open(dir, &pid, NULL, NULL);
	if (pidfd >= 0 && terminate(pidfd, pid, err) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		cleanup_free char *path = xasprintf("%s/%s", dir, files[i]);
		if (unlink(path) < 0 && errno != ENOENT && errno != ENOTDIR)
			return cella_error_set(err, errno, "remove `%s`", path);
	}
	return 0;
}
