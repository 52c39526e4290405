/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The two JSON documents cella-runtime writes rather than reads: the default
 * config.json of `spec` (the same document `runc spec [--rootless]` writes,
 * so bundles prepared for one runtime work with the other) and the OCI
 * features document of `features`.
 */
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>

#include <jansson.h>

#include <cella/runtime.h>

#include "engine.h"
#include "oci.h"
#include "util.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const char *const default_caps[] = {
	"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", NULL
};

static const char *const default_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm", NULL
};

static const char *const default_namespaces[] = {
	"pid", "network", "ipc", "uts", "mount", "cgroup", NULL
};

static const char *const masked_paths[] = {
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
	"/proc/scsi", "/sys/devices/virtual/powercap", NULL
};

static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL
};

struct default_mount {
	const char *destination, *type, *source;
	const char *options[8];     /* NULL-terminated */
};

static const struct default_mount default_mounts[] = {
	{ "/proc", "proc", "proc", { NULL } },
	{ "/dev", "tmpfs", "tmpfs", { "nosuid", "strictatime", "mode=755", "size=65536k" } },
	{ "/dev/pts", "devpts", "devpts",
	  { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" } },
	{ "/dev/shm", "tmpfs", "shm", { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" } },
	{ "/dev/mqueue", "mqueue", "mqueue", { "nosuid", "noexec", "nodev" } },
	{ "/sys", "sysfs", "sysfs", { "nosuid", "noexec", "nodev", "ro" } },
	{ "/sys/fs/cgroup", "cgroup", "cgroup", { "nosuid", "noexec", "nodev", "relatime", "ro" } },
};

/* Without its own network namespace a rootless container cannot mount sysfs. */
static const struct default_mount rootless_sys = {
	"/sys", "none", "/sys", { "rbind", "nosuid", "noexec", "nodev", "ro" }
};

static void cleanup_jsonp(json_t **j) { json_decref(*j); }
#define cleanup_json __attribute__((cleanup(cleanup_jsonp)))

/* Append the strings of `v` for which keep() is true (all when it is NULL). */
static json_t *strv_json(const char *const *v, bool (*keep)(const char *))
{
	json_t *a = json_array();
	for (; a && *v; v++)
		if ((!keep || keep(*v)) && json_array_append_new(a, json_string(*v)) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/*
 * The default seccomp profile: the container default of Moby's default.json
 * and containers-common's seccomp.json, as a deny-by-default allow list.
 * Not listed, hence EPERM: what is not namespaced or reaches past the
 * container (kernel keyring: keyctl/add_key/request_key; modules:
 * init_module/finit_module/delete_module; kexec_load/kexec_file_load; acct;
 * reboot; swapon/swapoff; settimeofday/clock_settime/stime; adjtimex and
 * clock_adjtime stay allowed as in Moby: setting the clock through them
 * needs CAP_SYS_TIME), what
 * rebuilds the container from inside (mount/umount2/pivot_root/chroot/
 * unshare/setns/open_tree/move_mount/fsopen...), what exposes the host or
 * other processes (ptrace/process_vm_readv/process_vm_writev/kcmp/
 * pidfd_getfd, bpf, perf_event_open, lookup_dcookie, open_by_handle_at,
 * syslog, quotactl) and the large attack surfaces behind many kernel CVEs
 * (userfaultfd, io_uring_setup/enter/register).  Names this libseccomp
 * does not know, or that another architecture has, are skipped when the
 * filter is built.
 */
static const char *const seccomp_allowed[] = {
	"accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
	"capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
	"clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
	"clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
	"dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
	"epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
	"exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
	"fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
	"fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
	"fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
	"ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
	"futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
	"geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
	"getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
	"getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
	"getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid",
	"gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init",
	"inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
	"io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit",
	"ipc", "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
	"lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr",
	"_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise",
	"map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
	"mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
	"mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
	"mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv",
	"msgsnd", "msync", "munlock", "munlockall", "munmap", "nanosleep", "newfstatat", "_newselect",
	"open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2",
	"pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl",
	"pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
	"pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
	"readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
	"remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall",
	"rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
	"rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
	"rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
	"sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
	"sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
	"sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl",
	"semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64",
	"sendmmsg", "sendmsg", "sendto", "setdomainname", "setfsgid", "setfsgid32", "setfsuid",
	"setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "sethostname", "setitimer",
	"setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
	"setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
	"setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "shmat",
	"shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask",
	"sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64",
	"statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee",
	"tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
	"timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
	"timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
	"truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
	"utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
	"writev",
	/* architecture specific, as in Moby */
	"arch_prctl", "modify_ldt",                                         /* x86 */
	"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush",
	"set_tls",                                                          /* arm */
	"riscv_flush_icache",                                               /* riscv */
	"s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr",  /* s390 */
	NULL
};

/* Architectures the native binaries may also run as (Moby's archMap). */
static const char *const seccomp_archs[] = {
#if defined(__x86_64__)
	"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
#elif defined(__i386__)
	"SCMP_ARCH_X86",
#elif defined(__aarch64__)
	"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM",
#elif defined(__arm__)
	"SCMP_ARCH_ARM",
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	"SCMP_ARCH_PPC64LE",
#elif defined(__s390x__)
	"SCMP_ARCH_S390X", "SCMP_ARCH_S390",
#elif defined(__riscv) && __riscv_xlen == 64
	"SCMP_ARCH_RISCV64",
#endif
	NULL
};

/* clone() flags that create namespaces: CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP */
#define CLONE_NS_MASK 0x7E020000
/* personality(2) values a container may switch between: PER_LINUX,
 * PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and 0xffffffff (query) */
static const json_int_t safe_personalities[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff };

static json_t *scmp_arg(int index, json_int_t value, const char *op)
{
	return json_pack("{s:i, s:I, s:s}", "index", index, "value", value, "op", op);
}

static json_t *seccomp_json(void)
{
	json_t *personality = json_array();
	for (size_t i = 0; personality && i < ARRAY_SIZE(safe_personalities); i++)
		if (json_array_append_new(personality, scmp_arg(0, safe_personalities[i], "SCMP_CMP_EQ")) < 0) {
			json_decref(personality);
			personality = NULL;
		}
	/* args with the same index are alternatives (OR), see seccomp.c */
	return json_pack(
		"{s:s, s:i, s:o, s:["
		" {s:o, s:s},"
		/* socket(2) of any family but AF_ALG (38, kernel crypto) and AF_VSOCK (40, host sockets) */
		" {s:[s], s:s, s:[o, o, o]},"
		" {s:[s], s:s, s:o},"
		/* clone(2) without namespace flags: creating namespaces from
		 * inside is what most container escapes start with */
		" {s:[s], s:s, s:[{s:i, s:I, s:I, s:s}]},"
		/* clone3(2) passes its flags in memory, out of a filter's reach:
		 * ENOSYS makes libc fall back to clone(2) */
		" {s:[s], s:s, s:i}]}",
		"defaultAction", "SCMP_ACT_ERRNO",
		"defaultErrnoRet", 1,
		"architectures", strv_json(seccomp_archs, NULL),
		"syscalls",
		"names", strv_json(seccomp_allowed, NULL), "action", "SCMP_ACT_ALLOW",
		"names", "socket", "action", "SCMP_ACT_ALLOW",
		"args", scmp_arg(0, 38, "SCMP_CMP_LT"), scmp_arg(0, 39, "SCMP_CMP_EQ"), scmp_arg(0, 40, "SCMP_CMP_GT"),
		"names", "personality", "action", "SCMP_ACT_ALLOW", "args", personality,
		"names", "clone", "action", "SCMP_ACT_ALLOW",
		"args", "index", 0, "value", (json_int_t)CLONE_NS_MASK, "valueTwo", (json_int_t)0, "op", "SCMP_CMP_MASKED_EQ",
		"names", "clone3", "action", "SCMP_ACT_ERRNO", "errnoRet", 38);
}

/* A rootless container has a single id mapped: uid=/gid= options would fail. */
static bool option_rootless_ok(const char *opt)
{
	return strncmp(opt, "uid=", 4) && strncmp(opt, "gid=", 4);
}

static json_t *mount_json(const struct default_mount *m, bool rootless)
{
	if (rootless && !strcmp(m->destination, "/sys"))
		m = &rootless_sys;
	json_t *j = json_pack("{s:s, s:s, s:s}", "destination", m->destination, "type", m->type,
			      "source", m->source);
	if (j && m->options[0] &&
	    json_object_set_new(j, "options", strv_json(m->options, rootless ? option_rootless_ok : NULL)) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static json_t *idmap_json(unsigned long host_id)
{
	return json_pack("[{s:i, s:I, s:i}]", "containerID", 0, "hostID", (json_int_t)host_id, "size", 1);
}

static json_t *linux_json(bool rootless)
{
	json_t *lx = json_object();
	json_t *namespaces = json_array();
	int r = 0;

	if (!lx || !namespaces) {
		json_decref(lx);
		json_decref(namespaces);
		return NULL;
	}
	if (rootless) {
		r |= json_object_set_new(lx, "uidMappings", idmap_json(geteuid()));
		r |= json_object_set_new(lx, "gidMappings", idmap_json(getegid()));
	} else {
		r |= json_object_set_new(lx, "resources",
					 json_pack("{s:[{s:b, s:s}]}", "devices", "allow", 0, "access", "rwm"));
	}
	for (const char *const *ns = default_namespaces; *ns; ns++)
		if (!rootless || strcmp(*ns, "network"))
			r |= json_array_append_new(namespaces, json_pack("{s:s}", "type", *ns));
	if (rootless)
		r |= json_array_append_new(namespaces, json_pack("{s:s}", "type", "user"));
	r |= json_object_set_new(lx, "namespaces", namespaces);
	r |= json_object_set_new(lx, "maskedPaths", strv_json(masked_paths, NULL));
	r |= json_object_set_new(lx, "readonlyPaths", strv_json(readonly_paths, NULL));
	r |= json_object_set_new(lx, "seccomp", seccomp_json());
	if (r) {
		json_decref(lx);
		return NULL;
	}
	return lx;
}

/* Indented like `runc spec` (one tab a level), ending with a newline. */
static char *json_dump_pretty(json_t *doc)
{
	cleanup_free char *text = doc ? json_dumps(doc, JSON_INDENT(1)) : NULL;
	if (!text)
		return NULL;
	char *out = malloc(strlen(text) + 2);
	if (!out)
		return NULL;
	char *o = out;
	bool line_start = true;
	/* JSON strings hold no raw newlines: every leading space is indentation */
	for (const char *s = text; *s; s++) {
		if (*s == ' ' && line_start) {
			*o++ = '\t';
			continue;
		}
		line_start = *s == '\n';
		*o++ = *s;
	}
	strcpy(o, "\n");
	return out;
}

char *cella_spec_default(bool rootless)
{
	cleanup_json json_t *caps = strv_json(default_caps, NULL);
	cleanup_json json_t *mounts = json_array();
	if (!caps || !mounts)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(default_mounts); i++)
		if (json_array_append_new(mounts, mount_json(&default_mounts[i], rootless)) < 0)
			return NULL;

	cleanup_json json_t *doc = json_pack(
		"{s:s,"
		" s:{s:b, s:{s:i, s:i}, s:[s], s:o, s:s, s:{s:O, s:O, s:O}, s:[{s:s, s:i, s:i}], s:b},"
		" s:{s:s, s:b}, s:s, s:O, s:o}",
		"ociVersion", "1.2.0",
		"process",
		"terminal", 1,
		"user", "uid", 0, "gid", 0,
		"args", "sh",
		"env", strv_json(default_env, NULL),
		"cwd", "/",
		"capabilities", "bounding", caps, "effective", caps, "permitted", caps,
		"rlimits", "type", "RLIMIT_NOFILE", "hard", 1024, "soft", 1024,
		"noNewPrivileges", 1,
		"root", "path", "rootfs", "readonly", 1,
		"hostname", "cella",
		"mounts", mounts,
		"linux", linux_json(rootless));
	return json_dump_pretty(doc);
}

static bool option_feature_ok(const char *opt)
{
	/* idmapped mounts are refused by the parser until they are implemented */
	return strcmp(opt, "idmap") && strcmp(opt, "ridmap");
}

char *cella_features_json(void)
{
	static const int namespace_types[] = {
		CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNS, CLONE_NEWNET,
		CLONE_NEWPID, CLONE_NEWTIME, CLONE_NEWUSER, CLONE_NEWUTS,
	};
	json_t *namespaces = json_array(), *caps = json_array();
	int r = !namespaces || !caps;

	for (size_t i = 0; !r && i < ARRAY_SIZE(namespace_types); i++)
		r |= json_array_append_new(namespaces, json_string(oci_namespace_name(namespace_types[i])));
	for (int cap = 0; !r && cap <= CAP_LAST_CAP; cap++)
		if (oci_capability_name(cap))
			r |= json_array_append_new(caps, json_string(oci_capability_name(cap)));
	if (r) {
		json_decref(namespaces);
		json_decref(caps);
		return NULL;
	}
	cleanup_json json_t *doc = json_pack(
		"{s:s, s:s, s:[], s:o,"
		" s:{s:o, s:o, s:{s:b, s:b, s:b, s:b, s:b}, s:o, s:{s:b}, s:{s:b}, s:{s:b}, s:{s:{s:b}}},"
		" s:{s:s}}",
		"ociVersionMin", "1.0.0",
		"ociVersionMax", "1.2.0",
		"hooks",
		"mountOptions", strv_json(oci_mount_options, option_feature_ok),
		"linux",
		"namespaces", namespaces,
		"capabilities", caps,
		"cgroup", "v1", 1, "v2", 1, "systemd", 0, "systemdUser", 0, "rdma", 0,
		"seccomp", seccomp_features_json(),
		"apparmor", "enabled", lsm_apparmor_enabled(),
		"selinux", "enabled", lsm_selinux_enabled(),
		"intelRdt", "enabled", 0,
		"mountExtensions", "idmap", "enabled", 0,
		"annotations", "io.github.cella.version", CELLA_VERSION);
	return json_dump_pretty(doc);
}
