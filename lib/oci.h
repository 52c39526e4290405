/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The OCI runtime configuration (config.json, runtime-spec 1.2) as typed C
 * structures.  oci_config_parse() validates everything it stores, so the
 * rest of the engine never looks at JSON.  Optional scalars carry a `has_`
 * flag; arrays carry a count (arrays of strings are also NULL-terminated).
 */
#ifndef CELLA_OCI_H
#define CELLA_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cella/error.h>

struct json_t;

struct oci_opt_i64 { bool set; int64_t v; };
struct oci_opt_u64 { bool set; uint64_t v; };

struct oci_mount {
	char *destination;          /* absolute path inside the container */
	char *source;               /* may be NULL (e.g. tmpfs, proc) */
	char *type;                 /* may be NULL: then bind if "bind"/"rbind" in options */
	char **options;             /* raw options as given */
	size_t n_options;
	/* Parsed from options: */
	unsigned long flags;        /* MS_* set: MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_*ATIME, MS_SYNCHRONOUS, MS_DIRSYNC, MS_MANDLOCK, MS_BIND, MS_REC */
	unsigned long clear_flags;  /* MS_* explicitly cleared: "rw", "suid", "dev", "exec", "atime", ... */
	unsigned long propagation;  /* MS_SHARED|MS_SLAVE|MS_PRIVATE|MS_UNBINDABLE (|MS_REC) or 0 */
	unsigned long rec_flags;    /* from "rro", "rnosuid"...: applied recursively (mount_setattr AT_RECURSIVE) */
	unsigned long rec_clear_flags; /* from "rrw", "rsuid"... */
	char *data;                 /* remaining fs-specific options joined with ',' (NULL if none) */
	bool bind;                  /* "bind" or "rbind" or type "bind" */
	bool recursive;             /* "rbind" or "r*" attribute options */
	bool tmpcopyup;             /* "tmpcopyup" */
	bool idmap;                 /* "idmap"/"ridmap": rejected until user-ns idmapped mounts land */
};

struct oci_namespace {
	int type;                   /* CLONE_NEWPID, CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWCGROUP, CLONE_NEWTIME, CLONE_NEWUSER */
	char *path;                 /* join this namespace; NULL = create a new one */
};

struct oci_idmap { uint32_t container_id, host_id, size; };

struct oci_rlimit { int resource; uint64_t soft, hard; };

struct oci_device {
	char type;                  /* 'c', 'b', 'p' (fifo), 'u' (unbuffered char) */
	char *path;                 /* absolute path inside the container */
	int64_t major, minor;
	bool has_file_mode; mode_t file_mode;
	bool has_uid; uid_t uid;
	bool has_gid; gid_t gid;
};

struct oci_device_rule {
	bool allow;
	char type;                  /* 'a', 'c', 'b' */
	int64_t major, minor;       /* -1 = any */
	char access[4];             /* subset of "rwm", NUL-terminated */
};

struct oci_weight_device { int64_t major, minor; bool has_weight; uint16_t weight; bool has_leaf_weight; uint16_t leaf_weight; };
struct oci_throttle_device { int64_t major, minor; uint64_t rate; };
struct oci_hugepage_limit { char *page_size; /* "2MB", "1GB" */ uint64_t limit; };
struct oci_kv { char *key, *value; };

struct oci_resources {
	struct {
		struct oci_opt_i64 limit, reservation, swap, kernel, kernel_tcp;
		struct oci_opt_u64 swappiness;
		bool has_disable_oom_killer; bool disable_oom_killer;
		bool has_use_hierarchy; bool use_hierarchy;
		bool has_check_before_update; bool check_before_update;
	} memory;
	struct {
		struct oci_opt_u64 shares, period, realtime_period, burst;
		struct oci_opt_i64 quota, realtime_runtime, idle;
		char *cpus, *mems;          /* cpuset lists, NULL if unset */
	} cpu;
	struct { struct oci_opt_i64 limit; } pids;
	struct {
		bool has_weight; uint16_t weight;
		bool has_leaf_weight; uint16_t leaf_weight;
		struct oci_weight_device *weight_device; size_t n_weight_device;
		struct oci_throttle_device *throttle_read_bps, *throttle_write_bps,
			*throttle_read_iops, *throttle_write_iops;
		size_t n_throttle_read_bps, n_throttle_write_bps, n_throttle_read_iops, n_throttle_write_iops;
	} blkio;
	struct oci_hugepage_limit *hugepage_limits; size_t n_hugepage_limits;
	struct oci_device_rule *devices; size_t n_devices;
	struct oci_kv *unified; size_t n_unified;   /* linux.resources.unified */
};

/* Capability sets as bitmasks of CAP_* numbers. */
struct oci_capabilities {
	uint64_t bounding, effective, inheritable, permitted, ambient;
};

struct oci_process {
	bool terminal;
	bool has_console_size; unsigned console_height, console_width;
	char *cwd;                  /* absolute */
	char **args; size_t n_args; /* n_args >= 1 after validation (unless process absent) */
	char **env; size_t n_env;
	uid_t uid; gid_t gid;
	bool has_umask; mode_t umask;
	gid_t *additional_gids; size_t n_additional_gids;
	struct oci_rlimit *rlimits; size_t n_rlimits;
	bool has_oom_score_adj; int oom_score_adj;
	bool no_new_privileges;
	bool has_capabilities; struct oci_capabilities caps;
	char *apparmor_profile;     /* applied when AppArmor is enabled, else refused (lsm.c) */
	char *selinux_label;        /* applied when SELinux is enabled, else refused (lsm.c) */
};

struct oci_time_offset { int64_t secs; uint32_t nanosecs; };

/* hooks.* entries */
struct oci_hook {
	char *path;                 /* absolute, on the host */
	char **args; size_t n_args; /* NULL-terminated too */
	char **env; size_t n_env;   /* NULL-terminated too */
	bool has_timeout; int timeout; /* seconds, > 0 */
};

enum oci_hook_kind {
	OCI_HOOK_PRESTART,          /* deprecated, runs with createRuntime */
	OCI_HOOK_CREATE_RUNTIME,
	OCI_HOOK_CREATE_CONTAINER,
	OCI_HOOK_START_CONTAINER,
	OCI_HOOK_POSTSTART,
	OCI_HOOK_POSTSTOP,
	OCI_HOOK_KINDS,
};

/* linux.seccomp; names are kept as written and checked by the parser
 * against libseccomp (seccomp.c turns them into a filter). */
struct oci_seccomp_arg {
	unsigned index;
	uint64_t value, value_two;
	char *op;                   /* "SCMP_CMP_EQ"... */
};
struct oci_seccomp_syscall {
	char **names; size_t n_names;
	char *action;               /* "SCMP_ACT_ERRNO"... */
	bool has_errno_ret; unsigned errno_ret;
	struct oci_seccomp_arg *args; size_t n_args;
};
struct oci_seccomp {
	char *default_action;
	bool has_default_errno_ret; unsigned default_errno_ret;
	char **architectures; size_t n_architectures;  /* "SCMP_ARCH_X86_64"... */
	char **flags; size_t n_flags;                   /* "SECCOMP_FILTER_FLAG_LOG"... */
	char *listener_path;        /* for SCMP_ACT_NOTIFY */
	char *listener_metadata;
	struct oci_seccomp_syscall *syscalls; size_t n_syscalls;
};

struct oci_config {
	char *oci_version;
	char *root_path;            /* as written; relative to the bundle if not absolute */
	bool root_readonly;
	char *hostname, *domainname;
	bool has_process; struct oci_process process;
	struct oci_mount *mounts; size_t n_mounts;
	/* linux: */
	struct oci_namespace *namespaces; size_t n_namespaces;
	struct oci_idmap *uid_mappings, *gid_mappings; size_t n_uid_mappings, n_gid_mappings;
	struct oci_device *devices; size_t n_devices;
	char **masked_paths; size_t n_masked_paths;
	char **readonly_paths; size_t n_readonly_paths;
	unsigned long rootfs_propagation;  /* MS_* propagation, 0 = default (rprivate... see mount.c) */
	struct oci_kv *sysctl; size_t n_sysctl;
	char *cgroups_path;         /* NULL if unset */
	bool has_resources; struct oci_resources resources;
	bool has_time_offsets; struct oci_time_offset time_boottime, time_monotonic;
	char *mount_label;
	struct json_t *annotations; /* object or NULL; owned */
	/* hooks: one array per kind (empty when absent) */
	struct oci_hook *hooks[OCI_HOOK_KINDS]; size_t n_hooks[OCI_HOOK_KINDS];
	struct oci_seccomp *seccomp;   /* NULL when absent */
};

/* Parse config.json text.  Unknown properties are ignored as the OCI spec
 * requires (reported through `unknown` if non-NULL, a callback per dotted
 * path); properties Cella does not implement yet are refused with an error
 * naming them. */
struct oci_config *oci_config_parse(const char *text, size_t len,
				    void (*unknown)(void *data, const char *path), void *data,
				    struct cella_error *err);
struct oci_config *oci_config_load(const char *path,
				   void (*unknown)(void *data, const char *path), void *data,
				   struct cella_error *err);
void oci_config_free(struct oci_config *c);

/* `exec --process FILE`: one process object as in config.json's "process"
 * (errors name "process.json: args..."). */
struct oci_process *oci_process_parse(const char *text, size_t len, struct cella_error *err);
void oci_process_free(struct oci_process *p);
/* `update --resources FILE`: a linux.resources object. */
struct oci_resources *oci_resources_parse(const char *text, size_t len, struct cella_error *err);
void oci_resources_free(struct oci_resources *r);

/* Lookups shared by the parser, `features` and `spec`. */
int oci_namespace_type(const char *name);        /* -1 if unknown */
const char *oci_namespace_name(int type);
int oci_rlimit_resource(const char *name);       /* "RLIMIT_NOFILE" -> RLIMIT_NOFILE, -1 if unknown */
int oci_capability_number(const char *name);     /* "CAP_KILL" -> 5, -1 if unknown */
const char *oci_capability_name(int cap);
/* Parse one mount option into `m` (shared with the spec's option list for `features`).
 * Returns 1 if `opt` is a generic mount option, 0 if it was appended to m->data. */
int oci_mount_option_apply(struct oci_mount *m, const char *opt);
extern const char *const oci_mount_options[];    /* NULL-terminated list of recognised option names */

#endif
