/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The `vps` driver's OCI bundle: what makes a container a virtual private
 * server.  Its own pid, mount, uts, ipc, net, cgroup and user namespaces;
 * root inside is the first id of the instance's own 65536-id range; its own
 * init as PID 1 on a console the monitor holds; the capabilities of root
 * in a user namespace (LXC's unprivileged set) and a seccomp filter that
 * only keeps out what no guest may do to the host kernel.  Limits come
 * from the limits.* keys (lib/config_keys.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "config_keys.h"
#include "util.h"
#include "vps.h"

/* Everything but what acts on the host as a whole even from a user namespace. */
static const char *const vps_caps[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN",
	"CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
};

/* Denied with EPERM (ENOSYS for the keyring, so that systemd falls back). */
static const char *const vps_denied[] = {
	"kexec_load", "kexec_file_load", "open_by_handle_at", "init_module", "finit_module",
	"delete_module", "iopl", "ioperm", "swapon", "swapoff", "syslog", "acct", "quotactl",
	"lookup_dcookie", "nfsservctl", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"stime", "vhangup",
};
static const char *const vps_nosys[] = { "keyctl", "add_key", "request_key" };

static json_t *strings(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *vps_seccomp(const char *listener)
{
	json_t *sys = json_array();
	/* the monitor answers sysinfo(2) with the guest's own memory and uptime */
	if (listener)
		json_array_append_new(sys, json_pack("{s:[s], s:s}", "names", "sysinfo", "action", "SCMP_ACT_NOTIFY"));
	json_array_append_new(sys, json_pack("{s:o, s:s, s:i}", "names",
					     strings(vps_denied, ARRAY_SIZE(vps_denied)), "action",
					     "SCMP_ACT_ERRNO", "errnoRet", EPERM));
	json_array_append_new(sys, json_pack("{s:o, s:s, s:i}", "names", strings(vps_nosys, ARRAY_SIZE(vps_nosys)),
					     "action", "SCMP_ACT_ERRNO", "errnoRet", ENOSYS));
	json_t *f = json_pack("{s:s, s:[s, s, s], s:o}", "defaultAction", "SCMP_ACT_ALLOW", "architectures",
			      "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "syscalls", sys);
	if (listener)
		json_object_set_new(f, "listenerPath", json_string(listener));
	return f;
}

/* The block device holding `path`, as "major:minor" of the whole disk. */
static bool backing_device(const char *path, unsigned *maj, unsigned *min)
{
	struct stat st;
	if (stat(path, &st) < 0 || major(st.st_dev) == 0)
		return false;
	*maj = major(st.st_dev);
	*min = minor(st.st_dev);
	char p[128], buf[32];
	/* a partition: throttling applies to its disk */
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/partition", *maj, *min);
	if (access(p, F_OK) == 0) {
		snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/../dev", *maj, *min);
		cleanup_close int fd = open(p, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (n > 0) {
			buf[n] = '\0';
			sscanf(buf, "%u:%u", maj, min);
		}
	}
	return true;
}

static json_t *throttle(unsigned maj, unsigned min, long long rate)
{
	return json_pack("[{s:I, s:I, s:I}]", "major", (json_int_t)maj, "minor", (json_int_t)min, "rate",
			 (json_int_t)rate);
}

json_t *vps_resources(const json_t *config, const char *storage_dir)
{
	json_t *res = json_object();
	const char *v;
	long long n;

	if ((v = config_get(config, "limits.memory")) && config_parse_size(v, &n) == 0) {
		json_t *mem = json_pack("{s:I}", "limit", (json_int_t)n);
		if (!config_get_bool(config, "limits.memory.swap"))
			json_object_set_new(mem, "swap", json_integer(n));
		json_object_set_new(res, "memory", mem);
	}
	json_t *cpu = json_object();
	if ((v = config_get(config, "limits.cpu"))) {
		bool set;
		int count;
		if (config_parse_cpus(v, &set, &count) == 0) {
			char cpus[32];
			long online = sysconf(_SC_NPROCESSORS_ONLN);
			if (!set) {
				if (count > online)
					count = (int)online;
				snprintf(cpus, sizeof(cpus), count > 1 ? "0-%d" : "0", count - 1);
				v = cpus;
			}
			json_object_set_new(cpu, "cpus", json_string(v));
		}
	}
	if ((v = config_get(config, "limits.cpu.allowance"))) {
		int pct;
		long long q, p;
		if (config_parse_allowance(v, &pct, &q, &p) == 0) {
			if (pct)
				json_object_set_new(cpu, "shares", json_integer(1024 * pct / 100 > 2 ? 1024 * pct / 100 : 2));
			else {
				json_object_set_new(cpu, "quota", json_integer(q));
				json_object_set_new(cpu, "period", json_integer(p));
			}
		}
	}
	if ((n = config_get_int(config, "limits.cpu.priority", -1)) >= 0 && !json_object_get(cpu, "shares"))
		json_object_set_new(cpu, "shares", json_integer(n == 10 ? 1024 : 2 + n * 102));
	if (json_object_size(cpu))
		json_object_set_new(res, "cpu", cpu);
	else
		json_decref(cpu);
	if ((n = config_get_int(config, "limits.processes", -1)) > 0)
		json_object_set_new(res, "pids", json_pack("{s:I}", "limit", (json_int_t)n));

	json_t *bio = json_object();
	if ((n = config_get_int(config, "limits.disk.priority", -1)) >= 0)
		json_object_set_new(bio, "weight", json_integer(10 + n * 99));
	unsigned maj, min;
	static const struct { const char *key, *field; bool size; } io[] = {
		{ "limits.disk.read", "throttleReadBpsDevice", true },
		{ "limits.disk.write", "throttleWriteBpsDevice", true },
		{ "limits.disk.read.iops", "throttleReadIOPSDevice", false },
		{ "limits.disk.write.iops", "throttleWriteIOPSDevice", false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(io); i++) {
		if (!(v = config_get(config, io[i].key)))
			continue;
		if ((io[i].size ? config_parse_size(v, &n) : config_parse_int(v, &n)) == 0 &&
		    backing_device(storage_dir, &maj, &min))
			json_object_set_new(bio, io[i].field, throttle(maj, min, n));
	}
	if (json_object_size(bio))
		json_object_set_new(res, "blockIO", bio);
	else
		json_decref(bio);
	return res;
}

json_t *vps_bundle_config(const struct vps_params *p, struct cella_error *err)
{
	cleanup_free char *spec = cella_spec_default(false);
	json_error_t jerr;
	json_t *c = spec ? json_loads(spec, 0, &jerr) : NULL;
	if (!c) {
		cella_error_set(err, ENOMEM, "default spec");
		return NULL;
	}
	json_t *proc = json_object_get(c, "process");
	json_object_set_new(proc, "terminal", json_true());
	json_object_set_new(proc, "args", json_pack("[s]", "/sbin/init"));
	json_object_set_new(proc, "env", json_pack("[s, s, s]", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
						   "TERM=linux", "container=cella"));
	json_object_set_new(proc, "noNewPrivileges", json_false());
	json_object_del(proc, "rlimits");
	json_t *caps = strings(vps_caps, ARRAY_SIZE(vps_caps));
	json_object_set_new(proc, "capabilities",
			    json_pack("{s:O, s:O, s:O, s:o}", "bounding", caps, "effective", caps, "permitted", caps,
				      "ambient", json_array()));
	json_decref(caps);

	json_object_set_new(c, "root", json_pack("{s:s, s:b}", "path", p->rootfs, "readonly", 0));
	json_object_set_new(c, "hostname", json_string(p->name));

	json_t *mounts = json_object_get(c, "mounts");
	/* the guest's init may manage its own cgroup tree under its cgroup namespace */
	size_t i;
	json_t *m;
	json_array_foreach(mounts, i, m) {
		const char *dst = json_string_value(json_object_get(m, "destination"));
		if (dst && !strcmp(dst, "/sys/fs/cgroup"))
			json_object_set_new(m, "options", json_pack("[s, s, s, s]", "nosuid", "noexec", "nodev", "rw"));
	}
	/* /proc files that show the VPS's own limits (kept by its monitor) */
	for (size_t k = 0; p->proc_dir && k < p->n_proc_files; k++) {
		cleanup_free char *src = xasprintf("%s/%s", p->proc_dir, p->proc_files[k]);
		cleanup_free char *dst = xasprintf("/proc/%s", p->proc_files[k]);
		json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:[s, s, s, s]}", "destination", dst, "type",
							"bind", "source", src, "options", "bind", "ro", "nosuid",
							"nodev"));
	}

	json_t *lx = json_object_get(c, "linux");
	json_object_set_new(lx, "namespaces",
			    json_pack("[{s:s}, {s:s}, {s:s}, {s:s}, {s:s}, {s:s}, {s:s}]", "type", "pid", "type",
				      "mount", "type", "uts", "type", "ipc", "type", "network", "type", "cgroup",
				      "type", "user"));
	json_t *map = json_pack("[{s:i, s:I, s:i}]", "containerID", 0, "hostID", (json_int_t)p->idmap_base, "size",
				65536);
	json_object_set(lx, "uidMappings", map);
	json_object_set_new(lx, "gidMappings", map);
	json_object_set_new(lx, "cgroupsPath", json_sprintf("%s/%s", p->cgroup_parent, p->name));
	json_object_set_new(lx, "resources", vps_resources(p->config, p->storage_dir));
	json_object_set_new(lx, "seccomp", vps_seccomp(p->sysinfo_listener));
	json_object_set_new(c, "annotations", json_pack("{s:s, s:s}", "org.cella.instance", p->name,
							"org.cella.type", "vps"));
	return c;
}
