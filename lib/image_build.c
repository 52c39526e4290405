/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Image builders: "minimal" (busybox-static, offline, in milliseconds) and
 * "debian/12" (debootstrap from the host's configured mirror).  Both write
 * the tree into the rootfs of an image_new; lib/image.c names it by its
 * canonical archive and stores it.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image.h"
#include "util.h"

#define BUSYBOX "/bin/busybox"
#define DEBOOTSTRAP "/usr/sbin/debootstrap"
#define CHROOT "/usr/sbin/chroot"

extern char **environ;

/*
 * Run argv (an absolute path) with stdin from /dev/null and stdout+stderr
 * captured; *out gets the output (the last 256 KiB of it), NUL-terminated.
 * Returns the exit status (0..255, 128+N for a signal) or -1.
 */
static int run_capture(const char *const argv[], char **out, struct cella_error *err)
{
	const size_t keep = 256 << 10;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return cella_error_set(err, errno, "pipe");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	static const char *const env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "HOME=/root", NULL };
	pid_t pid;
	int r = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, (char *const *)env);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (r != 0) {
		close(p[0]);
		return cella_error_set(err, r, "run `%s`", argv[0]);
	}
	size_t len = 0, cap = 64 << 10;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (!buf)
			break;
		if (len == cap) {
			/* keep the tail: that is where the error is */
			memmove(buf, buf + cap / 2, cap - cap / 2);
			len = cap - cap / 2;
			if (cap < keep) {
				char *nb = realloc(buf, cap * 2 + 1);
				if (nb) {
					buf = nb;
					cap *= 2;
				}
			}
		}
		ssize_t n = read(p[0], buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	close(p[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			free(buf);
			return cella_error_set(err, errno, "wait for `%s`", argv[0]);
		}
	if (!buf)
		return cella_error_set(err, ENOMEM, "run `%s`", argv[0]);
	buf[len] = '\0';
	*out = buf;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The last non-empty line of a command's output, for an error message. */
static const char *last_line(char *text)
{
	size_t n = strlen(text);
	while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
		text[--n] = '\0';
	char *nl = strrchr(text, '\n');
	return nl ? nl + 1 : text;
}

/* ---- writing a tree below rootfd (a fresh, private directory) ---- */

static int mkdir_in(int rootfd, const char *path, mode_t mode, struct cella_error *err)
{
	if (mkdirat(rootfd, path, mode) < 0 && errno != EEXIST)
		return cella_error_set(err, errno, "mkdir `%s`", path);
	if (fchmodat(rootfd, path, mode, 0) < 0)
		return cella_error_set(err, errno, "chmod `%s`", path);
	return 0;
}

static int file_put(int rootfd, const char *path, const char *text, mode_t mode, struct cella_error *err)
{
	cleanup_close int fd = openat(rootfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return cella_error_set(err, errno, "create `%s`", path);
	if (write_all(fd, text, strlen(text)) < 0)
		return cella_error_set(err, errno, "write `%s`", path);
	if (fchmod(fd, mode) < 0)
		return cella_error_set(err, errno, "chmod `%s`", path);
	return 0;
}

static int file_copy(const char *src, int rootfd, const char *path, mode_t mode, struct cella_error *err)
{
	cleanup_close int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return cella_error_set(err, errno, "open `%s`", src);
	cleanup_close int fd = openat(rootfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return cella_error_set(err, errno, "create `%s`", path);
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, fd, NULL, 1 << 30, 0);
		if (n == 0)
			break;
		if (n > 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
			return cella_error_set(err, errno, "copy `%s`", src);
		/* fall back to read/write */
		char buf[1 << 16];
		ssize_t r;
		while ((r = read(in, buf, sizeof(buf))) != 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 || write_all(fd, buf, r) < 0)
				return cella_error_set(err, errno, "copy `%s`", src);
		}
		break;
	}
	if (fchmod(fd, mode) < 0)
		return cella_error_set(err, errno, "chmod `%s`", path);
	return 0;
}

/* ---- minimal ---- */

static const char inittab[] =
	"# /etc/inittab: busybox init of Cella minimal\n"
	"::sysinit:/etc/init.d/rcS\n"
	"# a shell on the console, started again when it exits\n"
	"::respawn:-/bin/sh\n"
	"::ctrlaltdel:/sbin/reboot\n"
	"::shutdown:/etc/init.d/rcK\n"
	"::shutdown:/bin/sync\n";

static const char rcS[] =
	"#!/bin/sh\n"
	"# /etc/init.d/rcS: Cella minimal's boot, run once by init.\n"
	"PATH=/sbin:/bin:/usr/sbin:/usr/bin\n"
	"export PATH\n"
	"\n"
	"mounted() { grep -q \"^[^ ]* $1 \" /proc/mounts 2>/dev/null; }\n"
	"# /proc, /sys and /dev come from the engine: only what is missing is mounted\n"
	"mounted /run || mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run\n"
	"mounted /tmp || mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp\n"
	"\n"
	"[ -s /etc/hostname ] && hostname -F /etc/hostname\n"
	"ip link set lo up 2>/dev/null\n"
	"# DHCP only when the engine did not configure eth0 already\n"
	"if ip link show eth0 >/dev/null 2>&1 && ! ip -4 addr show dev eth0 | grep -q inet; then\n"
	"\tip link set eth0 up\n"
	"\tudhcpc -b -i eth0 -t 3 -T 2 -p /run/udhcpc.eth0.pid -s /usr/share/udhcpc/default.script >/dev/null 2>&1\n"
	"fi\n"
	"\n"
	"mkdir -p /var/log\n"
	"syslogd -O /var/log/messages\n"
	"httpd -h /var/www -p 80\n"
	"\n"
	"touch /run/cella-booted\n"
	"echo \"Cella minimal: booted ($(hostname))\"\n";

static const char rcK[] =
	"#!/bin/sh\n"
	"# /etc/init.d/rcK: stop the services before init shuts down.\n"
	"PATH=/sbin:/bin:/usr/sbin:/usr/bin\n"
	"for s in httpd udhcpc syslogd; do killall -TERM $s 2>/dev/null; done\n"
	"rm -f /run/cella-booted\n"
	"sync\n";

static const char udhcpc_script[] =
	"#!/bin/sh\n"
	"# udhcpc's event script (Cella minimal): address, default route, DNS.\n"
	"[ -n \"$1\" ] || exit 1\n"
	"RESOLV_CONF=/etc/resolv.conf\n"
	"case \"$1\" in\n"
	"deconfig)\n"
	"\tip -4 addr flush dev \"$interface\"\n"
	"\tip link set \"$interface\" up\n"
	"\t;;\n"
	"bound|renew)\n"
	"\tip -4 addr flush dev \"$interface\"\n"
	"\tip -4 addr add \"$ip/${mask:-24}\" ${broadcast:+broadcast $broadcast} dev \"$interface\"\n"
	"\tif [ -n \"$router\" ]; then\n"
	"\t\twhile ip route del default dev \"$interface\" 2>/dev/null; do :; done\n"
	"\t\tfor r in $router; do ip route add default via \"$r\" dev \"$interface\"; break; done\n"
	"\tfi\n"
	"\tif [ -n \"$dns\" ]; then\n"
	"\t\t: > \"$RESOLV_CONF\"\n"
	"\t\t[ -n \"$domain\" ] && echo \"search $domain\" >> \"$RESOLV_CONF\"\n"
	"\t\tfor d in $dns; do echo \"nameserver $d\" >> \"$RESOLV_CONF\"; done\n"
	"\tfi\n"
	"\t;;\n"
	"esac\n"
	"exit 0\n";

static const struct {
	const char *path;
	const char *text;
	mode_t mode;
} minimal_files[] = {
	{ "etc/inittab", inittab, 0644 },
	{ "etc/init.d/rcS", rcS, 0755 },
	{ "etc/init.d/rcK", rcK, 0755 },
	{ "usr/share/udhcpc/default.script", udhcpc_script, 0755 },
	{ "etc/passwd",
	  "root:x:0:0:root:/root:/bin/sh\n"
	  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
	  0644 },
	{ "etc/group", "root:x:0:\nnogroup:x:65534:\n", 0644 },
	/* root's password is locked: the console and `cella exec` need none */
	{ "etc/shadow", "root:!:0:0:99999:7:::\nnobody:!:0:0:99999:7:::\n", 0600 },
	{ "etc/hostname", "cella\n", 0644 },
	{ "etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\tcella\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0644 },
	{ "etc/shells", "/bin/sh\n/bin/ash\n", 0644 },
	{ "etc/os-release",
	  "NAME=\"Cella minimal\"\n"
	  "ID=cella-minimal\n"
	  "VERSION_ID=1\n"
	  "PRETTY_NAME=\"Cella minimal 1 (busybox)\"\n",
	  0644 },
	{ "etc/profile",
	  "# /etc/profile: Cella minimal\n"
	  "export PATH=/sbin:/bin:/usr/sbin:/usr/bin\n"
	  "export HOME=${HOME:-/root}\n"
	  "[ \"$(id -u)\" = 0 ] && [ \"$PWD\" = / ] && cd /root\n"
	  "export PS1='\\u@\\h:\\w\\$ '\n"
	  "alias ll='ls -l'\n",
	  0644 },
	{ "var/www/index.html",
	  "<!DOCTYPE html>\n<html><head><title>Cella minimal</title></head>\n"
	  "<body><h1>It works</h1><p>Served by busybox httpd in a Cella instance.</p></body></html>\n",
	  0644 },
};

static const struct {
	const char *path;
	mode_t mode;
} minimal_dirs[] = {
	{ "bin", 0755 }, { "sbin", 0755 }, { "usr", 0755 }, { "usr/bin", 0755 }, { "usr/sbin", 0755 },
	{ "usr/share", 0755 }, { "usr/share/udhcpc", 0755 }, { "etc", 0755 }, { "etc/init.d", 0755 },
	{ "dev", 0755 }, { "proc", 0555 }, { "sys", 0555 }, { "run", 0755 }, { "tmp", 01777 },
	{ "root", 0700 }, { "home", 0755 }, { "mnt", 0755 }, { "var", 0755 }, { "var/log", 0755 },
	{ "var/www", 0755 },
};

int image_build_minimal(struct cella_host *h, struct image_new *n, struct cella_error *err)
{
	(void)h;
	int rootfd = n->rootfd;
	if (access(BUSYBOX, X_OK) < 0)
		return cella_error_set(err, errno, "`%s` (install Debian's busybox-static)", BUSYBOX);
	static const char *const list[] = { BUSYBOX, "--list-full", NULL };
	cleanup_free char *applets = NULL;
	int st = run_capture(list, &applets, err);
	if (st < 0)
		return -1;
	if (st != 0)
		return cella_error_set(err, 0, "`%s --list-full` failed: %s", BUSYBOX, last_line(applets));

	for (size_t i = 0; i < ARRAY_SIZE(minimal_dirs); i++)
		if (mkdir_in(rootfd, minimal_dirs[i].path, minimal_dirs[i].mode, err) < 0)
			return -1;
	if (file_copy(BUSYBOX, rootfd, "bin/busybox", 0755, err) < 0)
		return -1;
	size_t count = 0;
	for (char *line = strtok(applets, "\n"); line; line = strtok(NULL, "\n")) {
		/* "usr/bin/[": one of the four directories made above, a plain name */
		const char *slash = strrchr(line, '/');
		const char *name = slash ? slash + 1 : line;
		if (line[0] == '/' || strstr(line, "..") || !*name || !strcmp(line, "bin/busybox"))
			continue;
		if (strncmp(line, "bin/", 4) && strncmp(line, "sbin/", 5) && strncmp(line, "usr/bin/", 8) &&
		    strncmp(line, "usr/sbin/", 9))
			continue;
		if (symlinkat("/bin/busybox", rootfd, line) < 0) {
			if (errno == EEXIST)
				continue;
			return cella_error_set(err, errno, "symlink `%s`", line);
		}
		count++;
	}
	if (count == 0)
		return cella_error_set(err, EINVAL, "`%s --list-full` lists no applets", BUSYBOX);
	struct stat sb;
	if (fstatat(rootfd, "sbin/init", &sb, AT_SYMLINK_NOFOLLOW) < 0 &&
	    symlinkat("/bin/busybox", rootfd, "sbin/init") < 0)
		return cella_error_set(err, errno, "symlink `sbin/init`");
	for (size_t i = 0; i < ARRAY_SIZE(minimal_files); i++)
		if (file_put(rootfd, minimal_files[i].path, minimal_files[i].text, minimal_files[i].mode, err) < 0)
			return -1;

	json_object_set_new(n->properties, "os", json_string("cella-minimal"));
	json_object_set_new(n->properties, "release", json_string("1"));
	json_object_set_new(n->properties, "architecture", json_string(image_arch_host()));
	json_object_set_new(n->properties, "description", json_string("Cella minimal (busybox)"));
	json_object_set_new(n->properties, "variant", json_string("default"));
	json_object_set_new(n->meta, "applets", json_integer((json_int_t)count));
	return 0;
}

/* ---- debian ---- */

static bool word_in(const char *list, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = list; (p = strstr(p, word)); p += wl)
		if ((p == list || p[-1] == ' ' || p[-1] == '\t') && (p[wl] == '\0' || p[wl] == ' ' || p[wl] == '\t' ||
								      p[wl] == '\n'))
			return true;
	return false;
}

static bool uri_ok(const char *uri)
{
	return (!strncmp(uri, "http://", 7) || !strncmp(uri, "https://", 8)) && !strstr(uri, "security") &&
	       strlen(uri) < 512 && !strpbrk(uri, " \t'\"\\");
}

/* One-line style: "deb [opts] URI SUITE COMPONENT...". */
static char *mirror_from_list(const char *text, const char *suite)
{
	cleanup_free char *copy = xstrdup(text);
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *f[16];
		int nf = 0;
		char *s2 = NULL;
		for (char *w = strtok_r(line, " \t", &s2); w && nf < 16; w = strtok_r(NULL, " \t", &s2)) {
			f[nf++] = w;
		}
		int i = 0;
		if (nf < 4 || strcmp(f[i++], "deb"))
			continue;
		if (f[i][0] == '[') {
			while (i < nf && !strchr(f[i], ']'))
				i++;
			i++;
		}
		if (i + 2 >= nf || strcmp(f[i + 1], suite) || !uri_ok(f[i]))
			continue;
		for (int c = i + 2; c < nf; c++)
			if (!strcmp(f[c], "main"))
				return xstrdup(f[i]);
	}
	return NULL;
}

/* deb822 style: stanzas of Types/URIs/Suites/Components. */
static char *mirror_from_sources(const char *text, const char *suite)
{
	cleanup_free char *copy = xstrdup(text);
	char *types = NULL, *uris = NULL, *suites = NULL, *comps = NULL;
	bool disabled = false;
	for (char *line = copy;; ) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		bool blank = strspn(line, " \t") == strlen(line);
		if (blank) {
			if (types && uris && suites && comps && !disabled && word_in(types, "deb") &&
			    word_in(suites, suite) && word_in(comps, "main")) {
				char *s2 = NULL;
				for (char *u = strtok_r(uris, " \t", &s2); u; u = strtok_r(NULL, " \t", &s2))
					if (uri_ok(u))
						return xstrdup(u);
			}
			types = uris = suites = comps = NULL;
			disabled = false;
		} else if (line[0] != '#') {
			char *colon = strchr(line, ':');
			if (colon) {
				*colon = '\0';
				char *v = colon + 1 + strspn(colon + 1, " \t");
				if (!strcasecmp(line, "Types"))
					types = v;
				else if (!strcasecmp(line, "URIs"))
					uris = v;
				else if (!strcasecmp(line, "Suites"))
					suites = v;
				else if (!strcasecmp(line, "Components"))
					comps = v;
				else if (!strcasecmp(line, "Enabled"))
					disabled = !strncasecmp(v, "no", 2);
			}
		}
		if (!nl) {
			if (!blank) {
				line = (char *)"";
				continue; /* one more round closes the last stanza */
			}
			break;
		}
		line = nl + 1;
	}
	return NULL;
}

/* The first Debian mirror the host's apt uses for `suite` main. */
static char *debian_mirror(const char *suite, struct cella_error *err)
{
	cleanup_free char *main_list = read_file_at(AT_FDCWD, "/etc/apt/sources.list", NULL, NULL);
	if (main_list) {
		char *m = mirror_from_list(main_list, suite);
		if (m)
			return m;
	}
	glob_t g;
	if (glob("/etc/apt/sources.list.d/*", 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			const char *p = g.gl_pathv[i];
			size_t l = strlen(p);
			bool deb822 = l > 8 && !strcmp(p + l - 8, ".sources");
			bool list = l > 5 && !strcmp(p + l - 5, ".list");
			if (!deb822 && !list)
				continue;
			cleanup_free char *text = read_file_at(AT_FDCWD, p, NULL, NULL);
			char *m = text ? (deb822 ? mirror_from_sources(text, suite) : mirror_from_list(text, suite)) : NULL;
			if (m) {
				globfree(&g);
				return m;
			}
		}
		globfree(&g);
	}
	cella_error_set(err, ENOENT, "no Debian mirror for `%s main` in /etc/apt/sources.list(.d)", suite);
	return NULL;
}

/* What debootstrap leaves that an image must not carry: apt caches and
 * lists, the host's hostname and resolv.conf, device nodes. */
static int debian_clean(int rootfd, struct cella_error *err)
{
	static const char *const dirs[] = { "var/cache/apt/archives", "var/lib/apt/lists", "dev", "var/cache/apt" };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		cleanup_close int fd = open_in_root(rootfd, dirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
		if (fd < 0)
			continue;
		int dfd = dup(fd);
		cleanup_dir DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
		if (!d) {
			if (dfd >= 0)
				close(dfd);
			return cella_error_set(err, errno, "clean `%s`", dirs[i]);
		}
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, "partial") ||
			    !strcmp(de->d_name, "lock") || !strcmp(de->d_name, "archives"))
				continue;
			/* /dev keeps only its directories (pts, shm) and symlinks */
			if (!strcmp(dirs[i], "dev") && (de->d_type == DT_DIR || de->d_type == DT_LNK))
				continue;
			if (rm_rf_at(fd, de->d_name, err) < 0)
				return cella_error_wrap(err, "clean `%s`", dirs[i]);
		}
	}
	unlinkat(rootfd, "etc/resolv.conf", 0);
	unlinkat(rootfd, "etc/hostname", 0);
	return file_put(rootfd, "etc/hostname", "debian\n", 0644, err);
}

/* Detach whatever debootstrap left mounted below `target` (/proc, /sys of
 * an interrupted run), deepest first, so the tree can be removed. */
static void mounts_detach(const char *target)
{
	cleanup_fclose FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return;
	char *paths[64];
	size_t n = 0, tl = strlen(target);
	char line[4096];
	while (n < ARRAY_SIZE(paths) && fgets(line, sizeof(line), f)) {
		char mp[4096];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		if (!strncmp(mp, target, tl) && mp[tl] == '/')
			paths[n++] = xstrdup(mp);
	}
	while (n--) {
		umount2(paths[n], MNT_DETACH);
		free(paths[n]);
	}
}

/*
 * What `--variant` means for debian/12.  minbase and buildd are debootstrap's
 * own (no init: a tree to build on, not a system to boot).  The default one
 * boots: systemd as PID 1 (as Incus's debian images), dbus so that
 * systemctl, hostnamectl and logind work, adduser, iproute2, netbase
 * (/etc/services, which inetd needs for "www"), procps, and a
 * service that answers from the first boot: micro-httpd (50 KiB, an HTTP
 * server started per connection by systemd's micro-httpd.socket on port
 * 80).  openbsd-inetd is micro-httpd's first alternative, which debootstrap
 * always picks (and --exclude cannot stop): it is purged afterwards with
 * what only it pulled in (perl, tcpd), systemd-sysv satisfying micro-httpd.
 * sysvinit is the same system on sysvinit, micro-httpd run by
 * openbsd-inetd.  Networking beyond lo comes later (no ifupdown).
 */
static const char *const debian_no_inetd[] = {
	"openbsd-inetd", "update-inetd", "tcpd", "libwrap0", "libnsl2", "libevent-2.1-7", "perl",
	"perl-modules-5.36", "libperl5.36", "libgdbm-compat4", "libgdbm6", NULL,
};
static const struct debian_variant {
	const char *name;
	const char *debootstrap;        /* its --variant */
	const char *include;            /* its --include */
	const char *init;               /* NULL: not bootable */
	const char *const *purge;       /* packages dpkg removes afterwards */
} debian_variants[] = {
	{ "default", "minbase", "systemd-sysv,dbus,adduser,iproute2,netbase,procps,micro-httpd", "systemd", debian_no_inetd },
	{ "sysvinit", "minbase", "sysvinit-core,adduser,iproute2,netbase,procps,openbsd-inetd,micro-httpd", "sysvinit", NULL },
	{ "minbase", "minbase", NULL, NULL, NULL },
	{ "buildd", "buildd", NULL, NULL, NULL },
};

/* Debian's /etc/inittab with what a container needs changed: lo up before
 * rcS, no gettys on tty1-6 (there are none) but one on the console; SIGPWR
 * (what `cella stop` sends sysvinit) powers off at once rather than
 * waiting for a UPS. */
static const char debian_inittab[] =
	"# /etc/inittab: sysvinit in a Cella instance\n"
	"id:2:initdefault:\n"
	"# no ifupdown: lo is brought up here (systemd does it itself)\n"
	"lo::sysinit:/sbin/ip link set lo up\n"
	"si::sysinit:/etc/init.d/rcS\n"
	"~:S:wait:/sbin/sulogin --force\n"
	"l0:0:wait:/etc/init.d/rc 0\n"
	"l1:1:wait:/etc/init.d/rc 1\n"
	"l2:2:wait:/etc/init.d/rc 2\n"
	"l3:3:wait:/etc/init.d/rc 3\n"
	"l4:4:wait:/etc/init.d/rc 4\n"
	"l5:5:wait:/etc/init.d/rc 5\n"
	"l6:6:wait:/etc/init.d/rc 6\n"
	"z6:6:respawn:/sbin/sulogin --force\n"
	"ca:12345:ctrlaltdel:/sbin/shutdown -t1 -a -r now\n"
	"# `cella stop` sends SIGPWR: power off\n"
	"pf::powerwait:/sbin/shutdown -h -P now\n"
	"pn::powerfailnow:/sbin/shutdown -h -P now\n"
	"po::powerokwait:/sbin/shutdown -c\n"
	"co:2345:respawn:/sbin/getty --noclear 115200,38400,9600 console linux\n";

static const char debian_index[] =
	"<!DOCTYPE html>\n<html><head><title>Debian 12 on Cella</title></head>\n"
	"<body><h1>It works</h1><p>Served by micro-httpd in a Cella instance.</p></body></html>\n";

/*
 * `dpkg --purge` in the new tree (chroot), with a policy-rc.d that keeps
 * maintainer scripts from starting or stopping services on the host's
 * behalf (nothing runs in that tree).
 */
static int debian_purge(int rootfd, const char *target, const char *const *pkgs, struct cella_error *err)
{
	if (file_put(rootfd, "usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0755, err) < 0)
		return -1;
	const char *argv[32];
	size_t na = 0;
	argv[na++] = CHROOT;
	argv[na++] = target;
	argv[na++] = "dpkg";
	argv[na++] = "--purge";
	for (; *pkgs && na < ARRAY_SIZE(argv) - 1; pkgs++)
		argv[na++] = *pkgs;
	argv[na] = NULL;
	cleanup_free char *out = NULL;
	int st = run_capture(argv, &out, err);
	unlinkat(rootfd, "usr/sbin/policy-rc.d", 0);
	if (st < 0)
		return -1;
	if (st != 0)
		return cella_error_set(err, EIO, "dpkg --purge in the new tree failed (%d): %s", st, last_line(out));
	return 0;
}

/* Make a bootable tree an image: each instance gets its own machine id
 * (systemd makes one at first boot when the file is empty), a page for
 * micro-httpd, localhost names, and for sysvinit an inittab for a console. */
static int debian_bootable(int rootfd, const struct debian_variant *v, struct cella_error *err)
{
	unlinkat(rootfd, "etc/machine-id", 0);
	if (file_put(rootfd, "etc/machine-id", "", 0444, err) < 0)
		return -1;
	/* dbus falls back to /etc/machine-id */
	unlinkat(rootfd, "var/lib/dbus/machine-id", 0);
	unlinkat(rootfd, "etc/hosts", 0);
	if (file_put(rootfd, "etc/hosts",
		     "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		     "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n", 0644, err) < 0)
		return -1;
	if (mkdir_in(rootfd, "var/www", 0755, err) < 0 || mkdir_in(rootfd, "var/www/html", 0755, err) < 0)
		return -1;
	unlinkat(rootfd, "var/www/html/index.html", 0);
	if (file_put(rootfd, "var/www/html/index.html", debian_index, 0644, err) < 0)
		return -1;
	if (!strcmp(v->init, "sysvinit")) {
		unlinkat(rootfd, "etc/inittab", 0);
		if (file_put(rootfd, "etc/inittab", debian_inittab, 0644, err) < 0)
			return -1;
	}
	return 0;
}

int image_build_debian(struct cella_host *h, struct image_new *n, const char *release, const char *variant,
		       struct cella_error *err)
{
	(void)h;
	const char *suite = "bookworm";
	if (strcmp(release, "12"))
		return cella_error_set(err, EINVAL, "debian/%s: only 12 (bookworm)", release);
	if (!variant || !*variant)
		variant = "default";
	const struct debian_variant *v = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(debian_variants); i++)
		if (!strcmp(variant, debian_variants[i].name))
			v = &debian_variants[i];
	if (!v)
		return cella_error_set(err, EINVAL, "debian/12: unknown variant `%s` (default, sysvinit, minbase, buildd)",
				       variant);
	if (access(DEBOOTSTRAP, X_OK) < 0)
		return cella_error_set(err, errno, "`%s` (install debootstrap)", DEBOOTSTRAP);
	cleanup_free char *mirror = debian_mirror(suite, err);
	if (!mirror)
		return -1;
	char fdpath[64];
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", n->rootfd);
	char target[4096];
	ssize_t tl = readlink(fdpath, target, sizeof(target) - 1);
	if (tl < 0)
		return cella_error_set(err, errno, "rootfs path");
	target[tl] = '\0';
	cleanup_free char *var = xasprintf("--variant=%s", v->debootstrap);
	cleanup_free char *inc = v->include ? xasprintf("--include=%s", v->include) : NULL;
	const char *argv[8];
	size_t na = 0;
	argv[na++] = DEBOOTSTRAP;
	argv[na++] = var;
	if (inc)
		argv[na++] = inc;
	argv[na++] = suite;
	argv[na++] = target;
	argv[na++] = mirror;
	argv[na] = NULL;
	cleanup_free char *out = NULL;
	int st = run_capture(argv, &out, err);
	mounts_detach(target);
	if (st < 0)
		return -1;
	if (st != 0)
		return cella_error_set(err, strstr(out, "No space left on device") ? ENOSPC : EIO, "debootstrap %s from %s failed (%d): %s", suite,
				       mirror, st, last_line(out));
	if (v->purge && debian_purge(n->rootfd, target, v->purge, err) < 0)
		return -1;
	if (debian_clean(n->rootfd, err) < 0 || (v->init && debian_bootable(n->rootfd, v, err) < 0))
		return -1;
	json_object_set_new(n->properties, "os", json_string("debian"));
	json_object_set_new(n->properties, "release", json_string("12"));
	json_object_set_new(n->properties, "architecture", json_string(image_arch_host()));
	cleanup_free char *desc = xasprintf("Debian 12 (bookworm) %s", v->name);
	json_object_set_new(n->properties, "description", json_string(desc));
	json_object_set_new(n->properties, "variant", json_string(v->name));
	if (v->init)
		json_object_set_new(n->properties, "init", json_string(v->init));
	json_object_set_new(n->meta, "mirror", json_string(mirror));
	return 0;
}
