/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cella-probe: a static program that runs inside a container and reports,
 * as JSON on stdout, what the container looks like from the inside.  The
 * integration tests (tests/test_*.py) ask it precise questions, one
 * subcommand per question, and compare the answer with the config.json they
 * wrote.  Failures of the operation being probed are reported in the JSON
 * (as errno names) with exit status 0; only usage errors exit non-zero (2).
 *
 * No dependencies beyond libc: JSON is written by hand.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* ---- JSON writer ------------------------------------------------------ */

/*
 * A tiny streaming writer: `need_comma` tracks whether the next value in
 * the current container must be preceded by a comma.  Nesting depth is
 * small and bounded.
 */
static bool need_comma[64];
static int depth;

static void j_sep(void)
{
	if (need_comma[depth])
		putchar(',');
	need_comma[depth] = true;
}

static void j_raw_str(const char *s, size_t len)
{
	putchar('"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': fputs("\\\"", stdout); break;
		case '\\': fputs("\\\\", stdout); break;
		case '\n': fputs("\\n", stdout); break;
		case '\t': fputs("\\t", stdout); break;
		case '\r': fputs("\\r", stdout); break;
		default:
			/* Control bytes and non-ASCII bytes are escaped one by one so
			 * the output is always valid JSON, even for binary data. */
			if (c < 0x20 || c >= 0x7f)
				printf("\\u%04x", c);
			else
				putchar(c);
		}
	}
	putchar('"');
}

static void j_key(const char *k)
{
	j_sep();
	j_raw_str(k, strlen(k));
	putchar(':');
}

/*
 * Values: when `k` is non-NULL they are object members and j_key() has
 * already printed the separating comma; array elements go through j_sep().
 */
#define KEYED(k) do { if (k) j_key(k); else j_sep(); } while (0)

static void j_obj_begin(const char *k) { KEYED(k); putchar('{'); need_comma[++depth] = false; }
static void j_obj_end(void) { putchar('}'); depth--; }
static void j_arr_begin(const char *k) { KEYED(k); putchar('['); need_comma[++depth] = false; }
static void j_arr_end(void) { putchar(']'); depth--; }
static void j_str(const char *k, const char *v) { KEYED(k); if (v) j_raw_str(v, strlen(v)); else fputs("null", stdout); }
static void j_strn(const char *k, const char *v, size_t n) { KEYED(k); j_raw_str(v, n); }
static void j_int(const char *k, long long v) { KEYED(k); printf("%lld", v); }
static void j_uint(const char *k, unsigned long long v) { KEYED(k); printf("%llu", v); }
static void j_bool(const char *k, bool v) { KEYED(k); fputs(v ? "true" : "false", stdout); }
static void j_null(const char *k) { KEYED(k); fputs("null", stdout); }

/* ---- errno names ------------------------------------------------------ */

static const char *errno_name(int e)
{
	static char buf[16];
	switch (e) {
#define E(x) case x: return #x;
	E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG)
	E(ENOEXEC) E(EBADF) E(ECHILD) E(EAGAIN) E(ENOMEM) E(EACCES)
	E(EFAULT) E(ENOTBLK) E(EBUSY) E(EEXIST) E(EXDEV) E(ENODEV)
	E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOTTY)
	E(ETXTBSY) E(EFBIG) E(ENOSPC) E(ESPIPE) E(EROFS) E(EMLINK)
	E(EPIPE) E(EDOM) E(ERANGE) E(EDEADLK) E(ENAMETOOLONG) E(ENOLCK)
	E(ENOSYS) E(ENOTEMPTY) E(ELOOP) E(ENODATA) E(EOVERFLOW)
	E(EOPNOTSUPP) E(ETIMEDOUT) E(ECONNREFUSED) E(ENETUNREACH)
	E(EADDRNOTAVAIL) E(EAFNOSUPPORT) E(EPROTONOSUPPORT) E(EDQUOT)
	E(ESTALE) E(ECANCELED) E(EOWNERDEAD) E(EUSERS) E(ENOMEDIUM)
#undef E
	}
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

/* {"ok": false, "errno": "ENOENT", "op": op} members for the current object. */
static void j_errno(const char *op, int e)
{
	j_bool("ok", false);
	j_str("errno", errno_name(e));
	j_int("errno_num", e);
	if (op)
		j_str("op", op);
}

/* ---- small helpers ---------------------------------------------------- */

/* Read a whole (small, possibly /proc) file; NULL with errno on failure. */
static char *read_file(const char *path, size_t *len_out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	for (;;) {
		if (len == cap) {
			char *nb = realloc(buf, cap * 2 + 1);
			if (!nb) {
				free(buf);
				close(fd);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			close(fd);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
}

/* Value of a "Key:\tvalue" line of /proc/self/status, trimmed; static buffer. */
static const char *status_field(const char *key)
{
	static char *status;
	static char val[256];
	if (!status)
		status = read_file("/proc/self/status", NULL);
	if (!status)
		return NULL;
	size_t kl = strlen(key);
	for (const char *p = status; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
			p += kl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			size_t n = strcspn(p, "\n");
			if (n >= sizeof(val))
				n = sizeof(val) - 1;
			memcpy(val, p, n);
			val[n] = '\0';
			return val;
		}
	}
	return NULL;
}

/* Undo the octal escapes (\040 for space...) of /proc/self/mountinfo. */
static void unescape_octal(char *s)
{
	char *w = s;
	for (char *r = s; *r; ) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

static void j_comma_list(const char *k, const char *s)
{
	j_arr_begin(k);
	while (s && *s) {
		size_t n = strcspn(s, ",");
		j_strn(NULL, s, n);
		s += n;
		if (*s == ',')
			s++;
	}
	j_arr_end();
}

static int parse_int(const char *s, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 0);
	if (errno || end == s || *end)
		return -1;
	*out = v;
	return 0;
}

/* ---- probes ----------------------------------------------------------- */

static void probe_ns(const char *k)
{
	static const char *const names[] = {
		"cgroup", "ipc", "mnt", "net", "pid", "pid_for_children",
		"time", "time_for_children", "user", "uts", NULL,
	};
	j_obj_begin(k);
	for (int i = 0; names[i]; i++) {
		char path[64];
		struct stat st;
		snprintf(path, sizeof(path), "/proc/self/ns/%s", names[i]);
		if (stat(path, &st) == 0)
			j_uint(names[i], (unsigned long long)st.st_ino);
		else
			j_null(names[i]);
	}
	j_obj_end();
}

static void idmap(const char *k, const char *path)
{
	char *m = read_file(path, NULL);
	j_arr_begin(k);
	for (char *line = m ? strtok(m, "\n") : NULL; line; line = strtok(NULL, "\n")) {
		unsigned long long a, b, c;
		if (sscanf(line, "%llu %llu %llu", &a, &b, &c) == 3) {
			j_arr_begin(NULL);
			j_uint(NULL, a);
			j_uint(NULL, b);
			j_uint(NULL, c);
			j_arr_end();
		}
	}
	j_arr_end();
	free(m);
}

static void probe_ids(const char *k)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;
	getresuid(&ruid, &euid, &suid);
	getresgid(&rgid, &egid, &sgid);
	j_obj_begin(k);
	j_uint("uid", ruid);
	j_uint("euid", euid);
	j_uint("suid", suid);
	j_uint("gid", rgid);
	j_uint("egid", egid);
	j_uint("sgid", sgid);
	gid_t groups[NGROUPS_MAX];
	int n = getgroups(NGROUPS_MAX, groups);
	j_arr_begin("groups");
	for (int i = 0; i < n; i++)
		j_uint(NULL, groups[i]);
	j_arr_end();
	idmap("uid_map", "/proc/self/uid_map");
	idmap("gid_map", "/proc/self/gid_map");
	j_obj_end();
}

static void probe_caps(const char *k)
{
	static const char *const names[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", NULL };
	j_obj_begin(k);
	for (int i = 0; names[i]; i++)
		j_str(names[i], status_field(names[i]));
	j_obj_end();
}

static void probe_seccomp(const char *k)
{
	const char *v;
	j_obj_begin(k);
	v = status_field("Seccomp");
	if (v)
		j_int("seccomp", atoll(v));
	else
		j_null("seccomp");
	v = status_field("Seccomp_filters");
	if (v)
		j_int("seccomp_filters", atoll(v));
	else
		j_null("seccomp_filters");
	v = status_field("NoNewPrivs");
	if (v)
		j_int("no_new_privs", atoll(v));
	else
		j_null("no_new_privs");
	j_int("prctl_no_new_privs", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	j_obj_end();
}

/*
 * /proc/self/mountinfo, one object per line:
 *   36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 * "propagation" summarises the optional fields: shared, slave, private or
 * unbindable ("shared+slave" when both).
 */
static void probe_mounts(const char *k)
{
	char *m = read_file("/proc/self/mountinfo", NULL);
	j_arr_begin(k);
	char *save = NULL;
	for (char *line = m ? strtok_r(m, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		char *f[32];
		int nf = 0;
		for (char *t = strtok(line, " "); t && nf < 32; t = strtok(NULL, " "))
			f[nf++] = t;
		int dash = -1;
		for (int i = 6; i < nf; i++) {
			if (strcmp(f[i], "-") == 0) {
				dash = i;
				break;
			}
		}
		if (nf < 6 || dash < 0 || dash + 3 > nf)
			continue;
		unescape_octal(f[3]);
		unescape_octal(f[4]);
		unescape_octal(f[dash + 2]);
		bool shared = false, slave = false, unbindable = false;
		j_obj_begin(NULL);
		j_int("id", atoll(f[0]));
		j_int("parent", atoll(f[1]));
		j_str("major_minor", f[2]);
		j_str("root", f[3]);
		j_str("mount_point", f[4]);
		j_comma_list("options", f[5]);
		j_arr_begin("optional");
		for (int i = 6; i < dash; i++) {
			j_str(NULL, f[i]);
			if (strncmp(f[i], "shared:", 7) == 0)
				shared = true;
			else if (strncmp(f[i], "master:", 7) == 0)
				slave = true;
			else if (strcmp(f[i], "unbindable") == 0)
				unbindable = true;
		}
		j_arr_end();
		j_str("propagation", unbindable ? "unbindable" :
		      shared && slave ? "shared+slave" :
		      shared ? "shared" : slave ? "slave" : "private");
		j_str("fstype", f[dash + 1]);
		j_str("source", f[dash + 2]);
		j_comma_list("super_options", dash + 3 < nf ? f[dash + 3] : "");
		j_obj_end();
	}
	j_arr_end();
	free(m);
}

static void probe_cgroup(const char *k)
{
	char *m = read_file("/proc/self/cgroup", NULL);
	j_arr_begin(k);
	for (char *line = m ? strtok(m, "\n") : NULL; line; line = strtok(NULL, "\n")) {
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c1 = *c2 = '\0';
		j_obj_begin(NULL);
		j_int("id", atoll(line));
		j_str("controllers", c1 + 1);
		j_str("path", c2 + 1);
		j_obj_end();
	}
	j_arr_end();
	free(m);
}

static const struct { const char *name; int res; } rlimits[] = {
	{ "RLIMIT_AS", RLIMIT_AS }, { "RLIMIT_CORE", RLIMIT_CORE },
	{ "RLIMIT_CPU", RLIMIT_CPU }, { "RLIMIT_DATA", RLIMIT_DATA },
	{ "RLIMIT_FSIZE", RLIMIT_FSIZE }, { "RLIMIT_LOCKS", RLIMIT_LOCKS },
	{ "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
	{ "RLIMIT_NICE", RLIMIT_NICE }, { "RLIMIT_NOFILE", RLIMIT_NOFILE },
	{ "RLIMIT_NPROC", RLIMIT_NPROC }, { "RLIMIT_RSS", RLIMIT_RSS },
	{ "RLIMIT_RTPRIO", RLIMIT_RTPRIO }, { "RLIMIT_RTTIME", RLIMIT_RTTIME },
	{ "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING }, { "RLIMIT_STACK", RLIMIT_STACK },
};

/* Limits as numbers; RLIM_INFINITY is printed as 18446744073709551615. */
static void probe_rlimits(const char *k)
{
	j_obj_begin(k);
	for (size_t i = 0; i < sizeof(rlimits) / sizeof(rlimits[0]); i++) {
		struct rlimit rl;
		j_obj_begin(rlimits[i].name);
		if (getrlimit(rlimits[i].res, &rl) == 0) {
			j_uint("soft", (unsigned long long)rl.rlim_cur);
			j_uint("hard", (unsigned long long)rl.rlim_max);
		} else {
			j_errno("getrlimit", errno);
		}
		j_obj_end();
	}
	j_obj_end();
}

extern char **environ;

static void probe_env(const char *k)
{
	j_arr_begin(k);
	for (char **e = environ; e && *e; e++)
		j_str(NULL, *e);
	j_arr_end();
}

static void probe_cwd(const char *k)
{
	char buf[PATH_MAX];
	j_obj_begin(k);
	if (getcwd(buf, sizeof(buf)))
		j_str("cwd", buf);
	else
		j_errno("getcwd", errno);
	j_obj_end();
}

static void probe_hostname(const char *k)
{
	struct utsname u;
	j_obj_begin(k);
	if (uname(&u) == 0) {
		j_str("nodename", u.nodename);
		j_str("domainname", u.domainname);
	} else {
		j_errno("uname", errno);
	}
	j_obj_end();
}

static void probe_umask(const char *k)
{
	mode_t m = umask(0);
	umask(m);
	j_obj_begin(k);
	j_uint("umask", m);
	char oct[8];
	snprintf(oct, sizeof(oct), "%04o", (unsigned)m);
	j_str("octal", oct);
	j_obj_end();
}

static void probe_oom(const char *k)
{
	char *v = read_file("/proc/self/oom_score_adj", NULL);
	j_obj_begin(k);
	if (v)
		j_int("oom_score_adj", atoll(v));
	else
		j_errno("read", errno);
	j_obj_end();
	free(v);
}

static void probe_pid(const char *k)
{
	j_obj_begin(k);
	j_int("pid", getpid());
	j_int("ppid", getppid());
	j_int("pgid", getpgrp());
	j_int("sid", getsid(0));
	j_obj_end();
}

static void probe_fds(const char *k)
{
	DIR *d = opendir("/proc/self/fd");
	int self = d ? dirfd(d) : -1;
	j_arr_begin(k);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		int fd = atoi(de->d_name);
		if (fd == self)
			continue;
		char path[64], target[PATH_MAX];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		j_obj_begin(NULL);
		j_int("fd", fd);
		if (n >= 0)
			j_strn("target", target, (size_t)n);
		else
			j_null("target");
		int fl = fcntl(fd, F_GETFD);
		j_bool("cloexec", fl >= 0 && (fl & FD_CLOEXEC));
		j_obj_end();
	}
	j_arr_end();
	if (d)
		closedir(d);
}

/* Clocks as seconds (float); the monotonic and boottime ones move with the
 * time namespace offsets. */
static void probe_clock(const char *k)
{
	static const struct { const char *name; clockid_t id; } clocks[] = {
		{ "realtime", CLOCK_REALTIME }, { "monotonic", CLOCK_MONOTONIC },
		{ "boottime", CLOCK_BOOTTIME },
	};
	j_obj_begin(k);
	for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
		struct timespec ts;
		if (clock_gettime(clocks[i].id, &ts) == 0) {
			j_key(clocks[i].name);
			printf("%lld.%09ld", (long long)ts.tv_sec, ts.tv_nsec);
		} else {
			j_null(clocks[i].name);
		}
	}
	j_obj_end();
}

/* The session keyring (id and "type;uid;gid;perm;description"): a runtime
 * gives each container a fresh one unless --no-new-keyring. */
static void probe_keyring(const char *k)
{
	enum { KEYCTL_GET_KEYRING_ID_ = 0, KEYCTL_DESCRIBE_ = 6, KEY_SPEC_SESSION_KEYRING_ = -3 };
	j_obj_begin(k);
	long id = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID_, KEY_SPEC_SESSION_KEYRING_, 0);
	if (id < 0) {
		j_errno("keyctl", errno);
	} else {
		char desc[512];
		j_int("session", id);
		long n = syscall(SYS_keyctl, KEYCTL_DESCRIBE_, id, desc, sizeof(desc));
		if (n > 0 && (size_t)n <= sizeof(desc))
			j_str("description", desc);
		else
			j_null("description");
	}
	j_obj_end();
}

static void probe_tty(const char *k)
{
	j_obj_begin(k);
	for (int fd = 0; fd <= 2; fd++) {
		static const char *const names[] = { "stdin", "stdout", "stderr" };
		j_obj_begin(names[fd]);
		j_bool("isatty", isatty(fd));
		char *n = ttyname(fd);
		j_str("ttyname", n);
		struct winsize ws;
		if (ioctl(fd, TIOCGWINSZ, &ws) == 0) {
			j_uint("rows", ws.ws_row);
			j_uint("cols", ws.ws_col);
		}
		j_obj_end();
	}
	j_int("pgrp", getpgrp());
	j_int("tcpgrp", tcgetpgrp(0));
	j_obj_end();
}

/* ---- subcommands that take arguments ---------------------------------- */

static void cmd_sysctl(int argc, char **argv)
{
	j_obj_begin(NULL);
	for (int i = 0; i < argc; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "/proc/sys/%s", argv[i]);
		/* net.ipv4.ip_forward -> net/ipv4/ip_forward (keys given with
		 * slashes are used as they are) */
		if (!strchr(argv[i], '/'))
			for (char *p = path + strlen("/proc/sys/"); *p; p++)
				if (*p == '.')
					*p = '/';
		size_t len;
		char *v = read_file(path, &len);
		j_obj_begin(argv[i]);
		if (v) {
			while (len && (v[len - 1] == '\n' || v[len - 1] == ' '))
				len--;
			j_bool("ok", true);
			j_strn("value", v, len);
		} else {
			j_errno("read", errno);
		}
		j_obj_end();
		free(v);
	}
	j_obj_end();
}

static const char *file_type(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "reg";
	case S_IFDIR: return "dir";
	case S_IFCHR: return "chr";
	case S_IFBLK: return "blk";
	case S_IFIFO: return "fifo";
	case S_IFLNK: return "lnk";
	case S_IFSOCK: return "sock";
	}
	return "unknown";
}

/* lstat each path (symlinks are reported as links, with their target). */
static void cmd_stat(int argc, char **argv)
{
	j_obj_begin(NULL);
	for (int i = 0; i < argc; i++) {
		struct stat st;
		j_obj_begin(argv[i]);
		if (lstat(argv[i], &st) == 0) {
			j_bool("ok", true);
			j_str("type", file_type(st.st_mode));
			j_uint("mode", st.st_mode & 07777);
			char oct[8];
			snprintf(oct, sizeof(oct), "%04o", (unsigned)(st.st_mode & 07777));
			j_str("octal", oct);
			j_uint("uid", st.st_uid);
			j_uint("gid", st.st_gid);
			j_uint("size", (unsigned long long)st.st_size);
			j_uint("ino", (unsigned long long)st.st_ino);
			j_uint("nlink", (unsigned long long)st.st_nlink);
			j_uint("dev_major", major(st.st_dev));
			j_uint("dev_minor", minor(st.st_dev));
			j_uint("rdev_major", major(st.st_rdev));
			j_uint("rdev_minor", minor(st.st_rdev));
			if (S_ISLNK(st.st_mode)) {
				char t[PATH_MAX];
				ssize_t n = readlink(argv[i], t, sizeof(t) - 1);
				if (n >= 0)
					j_strn("link", t, (size_t)n);
			}
		} else {
			j_errno("lstat", errno);
		}
		j_obj_end();
	}
	j_obj_end();
}

static int cmd_write(const char *path, const char *data)
{
	j_obj_begin(NULL);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		j_errno("open", errno);
	} else {
		size_t len = strlen(data);
		ssize_t w;
		do
			w = write(fd, data, len);
		while (w < 0 && errno == EINTR);
		if (w < 0) {
			j_errno("write", errno);
		} else if (close(fd) < 0) {
			fd = -1;
			j_errno("close", errno);
		} else {
			fd = -1;
			j_bool("ok", true);
			j_int("written", w);
		}
		if (fd >= 0)
			close(fd);
	}
	j_obj_end();
	return 0;
}

static int cmd_read(const char *path)
{
	size_t len;
	char *v = read_file(path, &len);
	j_obj_begin(NULL);
	if (v) {
		j_bool("ok", true);
		j_uint("size", len);
		j_strn("data", v, len);
	} else {
		j_errno("read", errno);
	}
	j_obj_end();
	free(v);
	return 0;
}

/* open PATH [r|w|rw]: just open and close. */
static int cmd_open(const char *path, const char *how)
{
	int flags = O_RDONLY;
	if (how && strcmp(how, "w") == 0)
		flags = O_WRONLY;
	else if (how && strcmp(how, "rw") == 0)
		flags = O_RDWR;
	j_obj_begin(NULL);
	int fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		j_errno("open", errno);
	} else {
		j_bool("ok", true);
		close(fd);
	}
	j_obj_end();
	return 0;
}

static int cmd_ls(const char *path)
{
	j_obj_begin(NULL);
	DIR *d = opendir(path);
	if (!d) {
		j_errno("opendir", errno);
	} else {
		j_bool("ok", true);
		j_arr_begin("entries");
		struct dirent *de;
		errno = 0;
		while ((de = readdir(d))) {
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				j_str(NULL, de->d_name);
			errno = 0;
		}
		int e = errno;
		j_arr_end();
		if (e)
			j_str("readdir_errno", errno_name(e));
		closedir(d);
	}
	j_obj_end();
	return 0;
}

/*
 * Fork children that just wait until the parent dies, until fork fails
 * (or a safety cap is reached, so a missing pids limit cannot hurt the
 * host); report the count and errno, then reap every child.
 */
static int cmd_fork_bomb(long long cap)
{
	pid_t *kids = calloc((size_t)cap, sizeof(pid_t));
	long long n = 0;
	int err = 0;
	if (!kids)
		return 1;
	while (n < cap) {
		pid_t p = fork();
		if (p < 0) {
			err = errno;
			break;
		}
		if (p == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
			for (;;)
				pause();
		}
		kids[n++] = p;
	}
	for (long long i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	for (long long i = 0; i < n; i++)
		waitpid(kids[i], NULL, 0);
	free(kids);
	j_obj_begin(NULL);
	j_int("forked", n);
	j_bool("capped", n >= cap);
	if (err)
		j_str("errno", errno_name(err));
	else
		j_null("errno");
	j_obj_end();
	return 0;
}

/* Touch `mb` MiB (or forever if mb <= 0) one page at a time. */
static int cmd_alloc(long long mb)
{
	long long done = 0;
	long page = sysconf(_SC_PAGESIZE);
	while (mb <= 0 || done < mb) {
		char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			j_obj_begin(NULL);
			j_int("allocated_mb", done);
			j_errno("mmap", errno);
			j_obj_end();
			return 0;
		}
		for (long off = 0; off < (1 << 20); off += page)
			p[off] = 1;
		done++;
	}
	j_obj_begin(NULL);
	j_int("allocated_mb", done);
	j_bool("ok", true);
	j_obj_end();
	return 0;
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

/*
 * wait-signal [SECONDS]: print {"ready":...} once handlers are installed,
 * then wait for any catchable signal and report it.  SIGCHLD, SIGURG and
 * SIGWINCH keep their default (ignore) disposition: they are noise (runc,
 * a Go program, forwards its own SIGURG preemption signals).
 */
static int cmd_wait_signal(long long secs)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD && s != SIGURG && s != SIGWINCH)
			sigaction(s, &sa, NULL);
	printf("{\"ready\":true,\"pid\":%d}\n", getpid());
	fflush(stdout);
	time_t end = time(NULL) + secs;
	while (!got_signal && time(NULL) < end)
		sleep(1);
	j_obj_begin(NULL);
	if (got_signal) {
		j_int("signal", got_signal);
	} else {
		j_null("signal");
	}
	j_obj_end();
	return 0;
}

static void probe_all(void)
{
	j_obj_begin(NULL);
	probe_ns("ns");
	probe_ids("ids");
	probe_caps("caps");
	probe_mounts("mounts");
	probe_cgroup("cgroup");
	probe_rlimits("rlimits");
	probe_seccomp("seccomp");
	probe_env("env");
	probe_cwd("cwd");
	probe_hostname("hostname");
	probe_umask("umask");
	probe_oom("oom");
	probe_pid("pid");
	probe_fds("fds");
	probe_tty("tty");
	probe_clock("clock");
	probe_keyring("keyring");
	j_obj_end();
}

static const char usage[] =
	"usage: cella-probe COMMAND [ARGS]\n"
	"  all ns ids caps mounts cgroup rlimits seccomp env cwd hostname umask oom\n"
	"  pid fds tty clock keyring       report one aspect (all: every one) as JSON\n"
	"  sysctl KEY...                   values of /proc/sys keys (a.b.c or a/b/c)\n"
	"  stat PATH...                    lstat each path\n"
	"  read PATH | write PATH DATA | open PATH [r|w|rw] | ls PATH\n"
	"  sleep SECONDS | exit N | wait-signal [SECONDS]\n"
	"  fork-bomb [CAP] | alloc MB (0: until killed)\n";

static int need_args(int argc, int n)
{
	if (argc < n) {
		fputs(usage, stderr);
		exit(2);
	}
	return 0;
}

static long long int_arg(const char *s)
{
	long long v;
	if (parse_int(s, &v) < 0) {
		fprintf(stderr, "cella-probe: not a number: %s\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct { const char *name; void (*fn)(const char *); } simple[] = {
		{ "ns", probe_ns }, { "ids", probe_ids }, { "caps", probe_caps },
		{ "mounts", probe_mounts }, { "cgroup", probe_cgroup },
		{ "rlimits", probe_rlimits }, { "seccomp", probe_seccomp },
		{ "env", probe_env }, { "cwd", probe_cwd }, { "hostname", probe_hostname },
		{ "umask", probe_umask }, { "oom", probe_oom }, { "pid", probe_pid },
		{ "fds", probe_fds }, { "tty", probe_tty }, { "clock", probe_clock },
		{ "keyring", probe_keyring },
	};
	const char *cmd = argc > 1 ? argv[1] : "all";
	int rc = 0;

	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (strcmp(cmd, simple[i].name) == 0) {
			simple[i].fn(NULL);
			goto out;
		}
	}
	if (strcmp(cmd, "all") == 0) {
		probe_all();
	} else if (strcmp(cmd, "sysctl") == 0) {
		cmd_sysctl(argc - 2, argv + 2);
	} else if (strcmp(cmd, "stat") == 0) {
		cmd_stat(argc - 2, argv + 2);
	} else if (strcmp(cmd, "write") == 0) {
		need_args(argc, 4);
		rc = cmd_write(argv[2], argv[3]);
	} else if (strcmp(cmd, "read") == 0) {
		need_args(argc, 3);
		rc = cmd_read(argv[2]);
	} else if (strcmp(cmd, "open") == 0) {
		need_args(argc, 3);
		rc = cmd_open(argv[2], argc > 3 ? argv[3] : NULL);
	} else if (strcmp(cmd, "ls") == 0) {
		need_args(argc, 3);
		rc = cmd_ls(argv[2]);
	} else if (strcmp(cmd, "sleep") == 0) {
		need_args(argc, 3);
		long long s = int_arg(argv[2]);
		struct timespec ts = { .tv_sec = s };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		j_obj_begin(NULL);
		j_int("slept", s);
		j_obj_end();
	} else if (strcmp(cmd, "exit") == 0) {
		need_args(argc, 3);
		return (int)int_arg(argv[2]);
	} else if (strcmp(cmd, "wait-signal") == 0) {
		rc = cmd_wait_signal(argc > 2 ? int_arg(argv[2]) : 60);
	} else if (strcmp(cmd, "fork-bomb") == 0) {
		rc = cmd_fork_bomb(argc > 2 ? int_arg(argv[2]) : 4096);
	} else if (strcmp(cmd, "alloc") == 0) {
		need_args(argc, 3);
		rc = cmd_alloc(int_arg(argv[2]));
	} else if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0) {
		fputs(usage, stdout);
		return 0;
	} else {
		fprintf(stderr, "cella-probe: unknown command '%s'\n", cmd);
		fputs(usage, stderr);
		return 2;
	}
out:
	putchar('\n');
	if (fflush(stdout) != 0)
		return 1;
	return rc;
}
