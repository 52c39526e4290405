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
		" s:{s:o, s:o, s:{s:b, s:b, s:b, s:b, s:b}, s:{s:b}, s:{s:b}, s:{s:b}, s:{s:b}, s:{s:{s:b}}},"
		" s:{s:s}}",
		"ociVersionMin", "1.0.0",
		"ociVersionMax", "1.2.0",
		"hooks",
		"mountOptions", strv_json(oci_mount_options, option_feature_ok),
		"linux",
		"namespaces", namespaces,
		"capabilities", caps,
		"cgroup", "v1", 1, "v2", 1, "systemd", 0, "systemdUser", 0, "rdma", 0,
		"seccomp", "enabled", 0,
		"apparmor", "enabled", 0,
		"selinux", "enabled", 0,
		"intelRdt", "enabled", 0,
		"mountExtensions", "idmap", "enabled", 0,
		"annotations", "io.github.cella.version", CELLA_VERSION);
	return json_dump_pretty(doc);
}
