/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What cgroup.c, cgroup_v1.c, cgroup_v2.c and cgroup_ebpf.c share.  Not
 * installed; the unit tests include it to reach the pure helpers.
 *
 * A struct cgroup is a list of hierarchies (one for v2, one per v1 mount plus
 * the controller-less cgroup2 on hybrid), each holding an fd on its root and
 * on the container's directory below it.  Every generic operation (mkdir,
 * enter, rmdir) loops over that list; resource writes go to the back end
 * that owns the controller.
 */
#ifndef CELLA_CGROUP_INTERNAL_H
#define CELLA_CGROUP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "oci.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define CGROUP_UNIFIED_HYBRID CGROUP_ROOT "/unified"

/* Controllers as bits; names differ between v1 and v2 only for blkio/io. */
enum {
	CGROUP_C_CPU = 1u << 0,
	CGROUP_C_CPUACCT = 1u << 1,
	CGROUP_C_CPUSET = 1u << 2,
	CGROUP_C_MEMORY = 1u << 3,
	CGROUP_C_DEVICES = 1u << 4,
	CGROUP_C_FREEZER = 1u << 5,
	CGROUP_C_IO = 1u << 6,          /* "blkio" on v1 */
	CGROUP_C_PIDS = 1u << 7,
	CGROUP_C_HUGETLB = 1u << 8,
	CGROUP_C_NET_CLS = 1u << 9,
	CGROUP_C_NET_PRIO = 1u << 10,
	CGROUP_C_PERF_EVENT = 1u << 11,
	CGROUP_C_RDMA = 1u << 12,
	CGROUP_C_MISC = 1u << 13,
};

struct cgroup_hier {
	bool v2;
	unsigned controllers;       /* CGROUP_C_* (v1) */
	char *mountpoint;           /* "/sys/fs/cgroup/cpu,cpuacct" */
	char *name;                 /* v1 named hierarchy ("systemd"), else NULL */
	int rootfd;                 /* O_PATH on the mountpoint */
	int fd;                     /* the container's directory, -1 if missing */
	size_t created_from;        /* first path component we created; depth if none */
	bool gone;                  /* removed by cgroup_destroy */
};

struct cgroup {
	enum cgroup_mode mode;
	char *path;                 /* "/cella/ID" */
	const char *rel;            /* path + 1, for *at() calls on rootfd */
	size_t depth;               /* number of components */
	size_t *ends;               /* ends[i]: length of rel up to component i */
	struct cgroup_hier *hier;
	size_t n_hier;
	/* Allow rules derived from linux.devices, kept for cgroup_apply(). */
	const struct oci_resources *res;  /* between create_begin() and create_finish() */
	struct oci_device_rule *dev_rules;
	size_t n_dev_rules;
};

/* cgroup.c: shared helpers */
int cgroup_path_validate(const char *path, struct cella_error *err);
/* Write `value` to `file` below dirfd; the error names the OCI `field`. */
int cgroup_write(int dirfd, const char *file, const char *value, const char *field,
		 struct cella_error *err);
int cgroup_writef(int dirfd, const char *file, const char *field, struct cella_error *err,
		  const char *fmt, ...) CELLA_PRINTF(5, 6);
/* Read a small cgroup file into buf (NUL-terminated, trailing newline kept). */
int cgroup_read(int dirfd, const char *file, char *buf, size_t len, struct cella_error *err);
struct cgroup_hier *cgroup_find(struct cgroup *cg, unsigned controller);
struct cgroup_hier *cgroup_find_v2(struct cgroup *cg);
const char *cgroup_controller_name(unsigned bit, bool v2);
/* Sleep `*us` microseconds, then double it up to 10 ms. */
void cgroup_backoff_sleep(unsigned *us);
/* Milliseconds on CLOCK_MONOTONIC. */
long long cgroup_now_ms(void);
/* The rules to apply, in order: res's (may be NULL) with the OCI defaults and
 * `extra` inserted after its last "every device" rule (see cgroup.c). */
struct oci_device_rule *cgroup_device_rules_build(const struct oci_resources *res,
					    const struct oci_device_rule *extra, size_t n_extra,
					    size_t *n);
int cgroup_device_rules_validate(const struct oci_resources *res, struct cella_error *err);
/* Parse /proc/self/mountinfo into v1 hierarchies (and the hybrid cgroup2). */
int cgroup_hierarchies_discover(enum cgroup_mode mode, struct cgroup_hier **hier, size_t *n,
				struct cella_error *err);
void cgroup_hierarchies_free(struct cgroup_hier *hier, size_t n);

/* cgroup_v1.c */
int cgroup_v1_level_init(struct cgroup *cg, struct cgroup_hier *h, struct cella_error *err);
int cgroup_v1_apply(struct cgroup *cg, const struct oci_resources *res,
		    const struct oci_device_rule *rules, size_t n_rules, bool update,
		    struct cella_error *err);
int cgroup_v1_freeze(struct cgroup_hier *h, bool frozen, struct cella_error *err);
int cgroup_v1_is_frozen(struct cgroup_hier *h, struct cella_error *err);
int cgroup_v1_mount(struct cgroup *cg, const char *target, unsigned long flags,
		    struct cella_error *err);

/* cgroup_v2.c */
enum {
	CGROUP_V2_ALL = ~0u,
	CGROUP_V2_UNIFIED = 1u << 0,    /* linux.resources.unified */
	CGROUP_V2_BASE = 1u << 1,       /* everything else, devices included */
};
/* crun's mapping of cpu.shares [2, 262144] onto cpu.weight [1, 10000]. */
uint64_t cgroup_v2_weight_from_shares(uint64_t shares);
/* blkio.weight [10, 1000] onto io.weight [1, 10000]. */
uint64_t cgroup_v2_io_weight_from_blkio(uint64_t weight);
/*
 * memory.swap.max from OCI memory.swap (memory + swap) and memory.limit:
 * 1 and *out set (-1 = "max"), 0 when nothing is to be written, -1 on error.
 */
int cgroup_v2_swap_max(const struct oci_opt_i64 *limit, const struct oci_opt_i64 *swap,
		       int64_t *out, struct cella_error *err);
/* " +cpu +memory..." needed by `parts` of res; empty when none. */
void cgroup_v2_controllers_needed(const struct oci_resources *res, unsigned parts, char *buf,
				  size_t len);
int cgroup_v2_enable(struct cgroup *cg, struct cgroup_hier *h, const char *controllers,
		     struct cella_error *err);
int cgroup_v2_apply(struct cgroup *cg, struct cgroup_hier *h, const struct oci_resources *res,
		    unsigned parts, const struct oci_device_rule *rules, size_t n_rules, bool fresh,
		    bool update, struct cella_error *err);
int cgroup_v2_freeze(struct cgroup_hier *h, bool frozen, struct cella_error *err);
int cgroup_v2_is_frozen(struct cgroup_hier *h, struct cella_error *err);
/* 1 when cgroup.kill did it, 0 when the kernel lacks it, -1 on error. */
int cgroup_v2_kill(struct cgroup_hier *h, struct cella_error *err);

/* cgroup_ebpf.c */
struct bpf_insn;
/* The program for `rules` (last matching rule wins, default deny); caller frees. */
struct bpf_insn *cgroup_ebpf_build(const struct oci_device_rule *rules, size_t n_rules,
				   size_t *n_insns, struct cella_error *err);
/* Load and attach the program to the cgroup `fd`; with `replace`, detach the
 * device programs that were attached before. */
int cgroup_ebpf_apply(int fd, const struct oci_device_rule *rules, size_t n_rules, bool replace,
		      struct cella_error *err);
int cgroup_ebpf_detach_all(int fd, struct cella_error *err);

#endif
