/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The cgroup subsystem against the real kernel (needs root): create with
 * resources and check the files, enter, list, freeze, kill, destroy and check
 * nothing is left in any hierarchy; the device BPF program really denies;
 * the container view mounts.  Plus the pure conversions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "cgroup_internal.h"
#include "util.h"

static enum cgroup_mode mode;
static struct cgroup_hier *hier;
static size_t n_hier;
static char top[64], path[96];     /* "/cella-test-PID", "/cella-test-PID/x" */

static int setup(void **state)
{
	struct cella_error err = { 0 };
	(void)state;
	if (geteuid() != 0) {
		fprintf(stderr, "test_cgroup needs root\n");
		return -1;
	}
	if (cgroup_mode_detect(&mode, &err) < 0 || cgroup_hierarchies_discover(mode, &hier, &n_hier, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	snprintf(top, sizeof(top), "/cella-test-%d", (int)getpid());
	snprintf(path, sizeof(path), "%s/x", top);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cgroup_hierarchies_free(hier, n_hier);
	return 0;
}

static struct cgroup_hier *hier_with(unsigned controller)
{
	for (size_t i = 0; i < n_hier; i++)
		if (!hier[i].v2 && (hier[i].controllers & controller))
			return &hier[i];
	return NULL;
}

static struct cgroup_hier *hier_v2(void)
{
	for (size_t i = 0; i < n_hier; i++)
		if (hier[i].v2)
			return &hier[i];
	return NULL;
}

/* The first line of mountpoint/p/file, without its newline; "" if missing. */
static const char *cg_read(const struct cgroup_hier *h, const char *p, const char *file)
{
	static char buf[4096];
	char full[512];
	snprintf(full, sizeof(full), "%s%s/%s", h->mountpoint, p, file);
	buf[0] = '\0';
	cleanup_close int fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read_all(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
	}
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

static bool cg_contains(const struct cgroup_hier *h, const char *p, const char *file, const char *needle)
{
	char full[512];
	snprintf(full, sizeof(full), "%s%s/%s", h->mountpoint, p, file);
	struct cella_error err;
	cleanup_free char *text = read_file_at(AT_FDCWD, full, NULL, &err);
	if (!text || !strstr(text, needle)) {
		print_message("%s has no `%s`:\n%s\n", full, needle, text ? text : err.msg);
		return false;
	}
	return true;
}

/* Nothing of `top` is left in any hierarchy. */
static void assert_gone(void)
{
	for (size_t i = 0; i < n_hier; i++) {
		char full[512];
		struct stat st;
		snprintf(full, sizeof(full), "%s%s", hier[i].mountpoint, top);
		if (stat(full, &st) == 0)
			fail_msg("leaked %s", full);
		assert_int_equal(errno, ENOENT);
	}
}

/* After each test, whatever it did: kill and remove everything below `top`. */
static int force_cleanup(void **state)
{
	(void)state;
	static const char *const sub[] = { "/x/sub", "/x", "" };
	for (size_t i = 0; i < n_hier; i++)
		for (size_t k = 0; k < ARRAY_SIZE(sub); k++) {
			char dir[512], file[600];
			struct cella_error err;
			snprintf(dir, sizeof(dir), "%s%s%s", hier[i].mountpoint, top, sub[k]);
			snprintf(file, sizeof(file), "%s/freezer.state", dir);
			write_file_at(AT_FDCWD, file, "THAWED", 6, &err);
			snprintf(file, sizeof(file), "%s/cgroup.procs", dir);
			for (int tries = 0; tries < 500; tries++) {
				cleanup_free char *procs = read_file_at(AT_FDCWD, file, NULL, &err);
				for (char *p = procs, *end; p && *p; p = end) {
					long pid = strtol(p, &end, 10);
					if (end == p)
						break;
					kill((pid_t)pid, SIGKILL);
				}
				if (rmdir(dir) == 0 || errno == ENOENT)
					break;
				usleep(10000);
			}
		}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return 0;
}

static pid_t child_sleeping(void)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

static struct oci_resources full_resources(void)
{
	static struct oci_device_rule rules[] = {
		{ false, 'a', -1, -1, "rwm" },
		{ true, 'c', 10, 229, "rw" },
		{ true, 'b', 7, -1, "r" },
		{ false, 'c', 1, 7, "w" },      /* narrows a default device */
	};
	struct oci_resources r;
	memset(&r, 0, sizeof(r));
	r.memory.limit = (struct oci_opt_i64){ true, 64 << 20 };
	r.memory.swap = (struct oci_opt_i64){ true, 128 << 20 };
	r.cpu.shares = (struct oci_opt_u64){ true, 512 };
	r.cpu.quota = (struct oci_opt_i64){ true, 50000 };
	r.cpu.period = (struct oci_opt_u64){ true, 100000 };
	r.cpu.cpus = "0";
	r.cpu.mems = "0";
	r.pids.limit = (struct oci_opt_i64){ true, 50 };
	r.devices = rules;
	r.n_devices = ARRAY_SIZE(rules);
	return r;
}

/* ------------------------------------------------------------------ */

static void test_mode(void **state)
{
	(void)state;
	struct statfs s;
	assert_int_equal(statfs(CGROUP_ROOT, &s), 0);
	if (s.f_type == CGROUP2_SUPER_MAGIC) {
		assert_int_equal(mode, CGROUP_MODE_V2);
		assert_int_equal(n_hier, 1);
	} else {
		assert_int_not_equal(mode, CGROUP_MODE_V2);
		assert_non_null(hier_with(CGROUP_C_MEMORY));
		assert_true((mode == CGROUP_MODE_HYBRID) == (hier_v2() != NULL));
	}
	assert_string_equal(cgroup_mode_name(CGROUP_MODE_HYBRID), "hybrid");
	print_message("cgroup mode: %s, %zu hierarchies\n", cgroup_mode_name(mode), n_hier);
}

static void test_path_validate(void **state)
{
	struct cella_error err;
	(void)state;
	const char *bad[] = { "", "/", "../x", "a//b", "/a//b", "/a/", "/a/../b", "/a/./b", "/..", "x", "/a\nb" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (cgroup_path_validate(bad[i], &err) == 0)
			fail_msg("accepted `%s`", bad[i]);
		assert_int_not_equal(err.code, 0);
	}
	assert_int_equal(cgroup_path_validate(NULL, &err), -1);
	assert_int_equal(cgroup_path_validate("/cella/abc", &err), 0);
	assert_int_equal(cgroup_path_validate("/a.slice/a-b.slice/p-x.scope", &err), 0);
	assert_int_equal(cgroup_path_validate("/..a/b..", &err), 0);
	assert_null(cgroup_create("../x", NULL, NULL, 0, &err));
	assert_int_equal(err.code, EINVAL);
	assert_null(cgroup_create("/a//b", NULL, NULL, 0, &err));
	assert_null(cgroup_create("", NULL, NULL, 0, &err));
}

static void test_conversions(void **state)
{
	struct cella_error err;
	int64_t out = 0;
	(void)state;
	assert_int_equal(cgroup_v2_weight_from_shares(2), 1);
	assert_int_equal(cgroup_v2_weight_from_shares(0), 1);
	assert_int_equal(cgroup_v2_weight_from_shares(1024), 39);
	assert_int_equal(cgroup_v2_weight_from_shares(512), 20);
	assert_int_equal(cgroup_v2_weight_from_shares(262144), 10000);
	assert_int_equal(cgroup_v2_weight_from_shares(1000000), 10000);
	assert_int_equal(cgroup_v2_io_weight_from_blkio(10), 1);
	assert_int_equal(cgroup_v2_io_weight_from_blkio(500), 4950);
	assert_int_equal(cgroup_v2_io_weight_from_blkio(1000), 10000);

	struct oci_opt_i64 unset = { false, 0 }, lim = { true, 100 }, unl = { true, -1 };
	struct oci_opt_i64 s300 = { true, 300 }, s100 = { true, 100 }, s50 = { true, 50 }, sm1 = { true, -1 },
			   s0 = { true, 0 };
	assert_int_equal(cgroup_v2_swap_max(&lim, &unset, &out, &err), 0);
	assert_int_equal(cgroup_v2_swap_max(&lim, &s0, &out, &err), 0);
	assert_int_equal(cgroup_v2_swap_max(&lim, &s300, &out, &err), 1);
	assert_int_equal(out, 200);
	assert_int_equal(cgroup_v2_swap_max(&lim, &s100, &out, &err), 1);
	assert_int_equal(out, 0);
	assert_int_equal(cgroup_v2_swap_max(&unset, &sm1, &out, &err), 1);
	assert_int_equal(out, -1);
	assert_int_equal(cgroup_v2_swap_max(&lim, &s50, &out, &err), -1);
	assert_non_null(strstr(err.msg, "linux.resources.memory.swap"));
	assert_int_equal(cgroup_v2_swap_max(&unset, &s300, &out, &err), -1);
	assert_int_equal(cgroup_v2_swap_max(&unl, &s300, &out, &err), -1);

	char buf[256];
	struct oci_resources r = full_resources();
	struct oci_kv kv[] = { { "memory.high", "max" }, { "cgroup.max.depth", "3" }, { "misc.max", "" } };
	r.unified = kv;
	r.n_unified = ARRAY_SIZE(kv);
	cgroup_v2_controllers_needed(&r, CGROUP_V2_ALL, buf, sizeof(buf));
	assert_string_equal(buf, " +memory +cpu +cpuset +pids +misc");
	cgroup_v2_controllers_needed(&r, CGROUP_V2_UNIFIED, buf, sizeof(buf));
	assert_string_equal(buf, " +memory +misc");
	cgroup_v2_controllers_needed(NULL, CGROUP_V2_ALL, buf, sizeof(buf));
	assert_string_equal(buf, "");
}

static void test_ebpf_build(void **state)
{
	struct cella_error err;
	size_t n;
	(void)state;
	/* deny all, allow c 1:3 rwm: prologue, one rule of 4, the terminal deny */
	struct oci_device_rule r1[] = { { false, 'a', -1, -1, "rwm" }, { true, 'c', 1, 3, "rwm" } };
	cleanup_free struct bpf_insn *p1 = cgroup_ebpf_build(r1, 2, &n, &err);
	assert_non_null(p1);
	assert_int_equal(n, 6 + 5 + 2);
	assert_int_equal(p1[6].code, BPF_JMP | BPF_JNE | BPF_K);
	assert_int_equal(p1[6].imm, BPF_DEVCG_DEV_CHAR);
	assert_int_equal(p1[6].off, 4);     /* to the terminal deny */
	assert_int_equal(p1[n - 1].code, BPF_JMP | BPF_EXIT);
	/* jumps skip to the next rule; nothing else has an offset */
	struct oci_device_rule r4[] = { { false, 'a', -1, -1, "rwm" }, { true, 'c', 1, 5, "r" },
					{ false, 'b', 8, -1, "w" } };
	cleanup_free struct bpf_insn *p4 = cgroup_ebpf_build(r4, 3, &n, &err);
	assert_int_equal(n, 6 + 7 + 8 + 2);
	for (size_t i = 6; i < n; i++) {     /* after the loads of the prologue */
		bool jump = BPF_CLASS(p4[i].code) == BPF_JMP && BPF_OP(p4[i].code) != BPF_EXIT;
		if (!jump)
			assert_int_equal(p4[i].off, 0);
		else
			assert_true(i + 1 + p4[i].off < n && p4[i + p4[i].off].code == (BPF_JMP | BPF_EXIT));
	}
	/* a wildcard allow last: everything before it is dead code, left out */
	struct oci_device_rule r2[] = { { false, 'c', 1, 5, "rwm" }, { true, 'a', -1, -1, "rwm" } };
	cleanup_free struct bpf_insn *p2 = cgroup_ebpf_build(r2, 2, &n, &err);
	assert_int_equal(n, 6 + 2);
	assert_int_equal(p2[6].imm, 1);
	/* no rules: deny everything */
	cleanup_free struct bpf_insn *p3 = cgroup_ebpf_build(NULL, 0, &n, &err);
	assert_int_equal(n, 6 + 2);
	assert_int_equal(p3[6].imm, 0);
}

static void test_device_rules_order(void **state)
{
	size_t n;
	(void)state;
	/* no rules: deny all, then the 9 defaults, then linux.devices */
	struct oci_device_rule tun = { true, 'c', 10, 200, "rwm" };
	cleanup_free struct oci_device_rule *r1 = cgroup_device_rules_build(NULL, &tun, 1, &n);
	assert_int_equal(n, 1 + 9 + 1 + 2);
	assert_true(!r1[0].allow && r1[0].type == 'a');
	assert_true(r1[1].allow && r1[1].major == 1 && r1[1].minor == 3);
	assert_int_equal(r1[10].major, 10);
	/* mknod of anything, last: the rules restrict access, not node creation */
	assert_true(r1[11].allow && r1[11].type == 'c' && r1[11].major == -1 && !strcmp(r1[11].access, "m"));
	assert_true(r1[12].allow && r1[12].type == 'b' && r1[12].major == -1 && !strcmp(r1[12].access, "m"));
	/* after the config's "deny all", before its other rules */
	struct oci_device_rule cfg[] = { { false, 'a', -1, -1, "rwm" }, { false, 'c', 1, 5, "rwm" } };
	struct oci_resources res;
	memset(&res, 0, sizeof(res));
	res.devices = cfg;
	res.n_devices = 2;
	cleanup_free struct oci_device_rule *r2 = cgroup_device_rules_build(&res, &tun, 1, &n);
	assert_int_equal(n, 2 + 9 + 1 + 2);
	assert_true(!r2[0].allow && r2[0].type == 'a');
	assert_true(r2[1].allow && r2[1].minor == 3);
	assert_true(!r2[n - 3].allow && r2[n - 3].major == 1 && r2[n - 3].minor == 5);
	/* a partial "a" rule is no reset: the implicit deny all stays first */
	struct oci_device_rule part[] = { { true, 'a', -1, -1, "r" } };
	res.devices = part;
	res.n_devices = 1;
	cleanup_free struct oci_device_rule *r3 = cgroup_device_rules_build(&res, NULL, 0, &n);
	assert_int_equal(n, 1 + 9 + 1 + 2);
	assert_true(!r3[0].allow && r3[0].type == 'a');
	assert_true(r3[n - 3].allow && !strcmp(r3[n - 3].access, "r"));
}

/* The full life of a container cgroup, checking the files at each step. */
static void test_lifecycle(void **state)
{
	struct cella_error err = { 0 };
	(void)state;
	struct oci_resources r = full_resources();
	struct oci_device tun = { .type = 'c', .path = "/dev/net/tun", .major = 10, .minor = 200 };
	struct oci_device fifo = { .type = 'p', .path = "/dev/fifo" };
	struct oci_device devs[] = { tun, fifo };

	struct cgroup *cg = cgroup_create(path, &r, devs, 2, &err);
	if (!cg)
		fail_msg("create: %s", err.msg);
	assert_string_equal(cgroup_get_path(cg), path);
	assert_int_equal(cgroup_get_mode(cg), mode);

	if (mode == CGROUP_MODE_V2) {
		struct cgroup_hier *h = hier_v2();
		assert_string_equal(cg_read(h, path, "memory.max"), "67108864");
		assert_string_equal(cg_read(h, path, "memory.swap.max"), "67108864");
		assert_string_equal(cg_read(h, path, "pids.max"), "50");
		assert_string_equal(cg_read(h, path, "cpu.weight"), "20");
		assert_string_equal(cg_read(h, path, "cpu.max"), "50000 100000");
		assert_string_equal(cg_read(h, path, "cpuset.cpus"), "0");
	} else {
		assert_string_equal(cg_read(hier_with(CGROUP_C_MEMORY), path, "memory.limit_in_bytes"), "67108864");
		assert_string_equal(cg_read(hier_with(CGROUP_C_MEMORY), path, "memory.memsw.limit_in_bytes"), "134217728");
		assert_string_equal(cg_read(hier_with(CGROUP_C_PIDS), path, "pids.max"), "50");
		assert_string_equal(cg_read(hier_with(CGROUP_C_CPU), path, "cpu.shares"), "512");
		assert_string_equal(cg_read(hier_with(CGROUP_C_CPU), path, "cpu.cfs_quota_us"), "50000");
		assert_string_equal(cg_read(hier_with(CGROUP_C_CPU), path, "cpu.cfs_period_us"), "100000");
		struct cgroup_hier *cs = hier_with(CGROUP_C_CPUSET);
		assert_string_equal(cg_read(cs, path, "cpuset.cpus"), "0");
		assert_string_equal(cg_read(cs, path, "cpuset.mems"), "0");
		/* the intermediate level got its parent's cpuset */
		assert_string_equal(cg_read(cs, top, "cpuset.mems"), cg_read(cs, "", "cpuset.mems"));
		struct cgroup_hier *dv = hier_with(CGROUP_C_DEVICES);
		assert_true(cg_contains(dv, path, "devices.list", "c 10:229 rw\n"));
		assert_true(cg_contains(dv, path, "devices.list", "c 1:3 rwm\n"));
		assert_true(cg_contains(dv, path, "devices.list", "b 7:* r\n"));
		assert_true(cg_contains(dv, path, "devices.list", "c 136:* rwm\n"));
		assert_true(cg_contains(dv, path, "devices.list", "c 5:2 rwm\n"));
		assert_true(cg_contains(dv, path, "devices.list", "c 1:7 rm\n"));
		assert_true(cg_contains(dv, path, "devices.list", "c *:* m\n"));
		assert_true(cg_contains(dv, path, "devices.list", "b *:* m\n"));
		assert_true(cg_contains(dv, path, "devices.list", "c 10:200 rwm\n"));
		char full[512];
		snprintf(full, sizeof(full), "%s%s/devices.list", dv->mountpoint, path);
		cleanup_free char *text = read_file_at(AT_FDCWD, full, NULL, &err);
		assert_non_null(text);
		assert_null(strstr(text, "a *:* rwm"));
		assert_null(strstr(text, "c 1:1 "));   /* /dev/mem */
	}

	/* a process in it, in every hierarchy */
	pid_t pid = child_sleeping();
	if (cgroup_enter(cg, pid, &err) < 0)
		fail_msg("enter: %s", err.msg);
	char proc[64], want[128];
	snprintf(proc, sizeof(proc), "/proc/%d/cgroup", (int)pid);
	cleanup_free char *pc = read_file_at(AT_FDCWD, proc, NULL, &err);
	assert_non_null(pc);
	snprintf(want, sizeof(want), ":%s\n", path);
	size_t seen = 0;
	for (char *p = pc; (p = strstr(p, want)); p++)
		seen++;
	assert_int_equal(seen, n_hier);

	pid_t *pids;
	size_t n;
	assert_int_equal(cgroup_pids(cg, &pids, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], pid);
	free(pids);

	/* freeze, thaw */
	assert_int_equal(cgroup_is_frozen(cg, &err), 0);
	if (cgroup_freeze(cg, true, &err) < 0)
		fail_msg("freeze: %s", err.msg);
	assert_int_equal(cgroup_is_frozen(cg, &err), 1);
	if (hier_with(CGROUP_C_FREEZER))
		assert_string_equal(cg_read(hier_with(CGROUP_C_FREEZER), path, "freezer.state"), "FROZEN");
	if (cgroup_freeze(cg, false, &err) < 0)
		fail_msg("thaw: %s", err.msg);
	assert_int_equal(cgroup_is_frozen(cg, &err), 0);

	/* update */
	struct oci_resources up;
	memset(&up, 0, sizeof(up));
	up.pids.limit = (struct oci_opt_i64){ true, 70 };
	up.memory.limit = (struct oci_opt_i64){ true, 256 << 20 };
	up.memory.swap = (struct oci_opt_i64){ true, 512 << 20 };   /* above the old memsw: order matters */
	if (cgroup_apply(cg, &up, &err) < 0)
		fail_msg("apply: %s", err.msg);
	struct cgroup_hier *ph = mode == CGROUP_MODE_V2 ? hier_v2() : hier_with(CGROUP_C_PIDS);
	assert_string_equal(cg_read(ph, path, "pids.max"), "70");
	if (mode != CGROUP_MODE_V2)
		assert_string_equal(cg_read(hier_with(CGROUP_C_MEMORY), path, "memory.memsw.limit_in_bytes"), "536870912");

	/* signals reach it */
	assert_int_equal(cgroup_kill(cg, SIGTERM, &err), 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);

	pid = child_sleeping();
	assert_int_equal(cgroup_enter(cg, pid, &err), 0);
	assert_int_equal(cgroup_kill(cg, SIGKILL, &err), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	if (cgroup_destroy(cg, &err) < 0)
		fail_msg("destroy: %s", err.msg);
	assert_gone();
	/* again: missing is fine */
	assert_int_equal(cgroup_destroy(cg, &err), 0);
	cgroup_free(cg);

	assert_null(cgroup_open(path, &err));
	assert_int_equal(err.code, ENOENT);
}

/* Destroy with a live (even frozen) process in a sub-cgroup it made itself. */
static void test_destroy_busy(void **state)
{
	struct cella_error err = { 0 };
	(void)state;
	struct cgroup *cg = cgroup_create(path, NULL, NULL, 0, &err);
	if (!cg)
		fail_msg("create: %s", err.msg);
	pid_t pid = child_sleeping();
	assert_int_equal(cgroup_enter(cg, pid, &err), 0);
	/* the "container" nests a cgroup and moves itself there, in every hierarchy */
	for (size_t i = 0; i < n_hier; i++) {
		char sub[512], buf[16];
		snprintf(sub, sizeof(sub), "%s%s/sub", hier[i].mountpoint, path);
		assert_int_equal(mkdir(sub, 0755), 0);
		if (hier[i].controllers & CGROUP_C_CPUSET) {
			struct cgroup_hier *cs = &hier[i];
			char v[64];
			snprintf(v, sizeof(v), "%s", cg_read(cs, path, "cpuset.cpus"));
			snprintf(sub, sizeof(sub), "%s%s/sub/cpuset.cpus", hier[i].mountpoint, path);
			assert_int_equal(write_file_at(AT_FDCWD, sub, v, strlen(v), &err), 0);
			snprintf(v, sizeof(v), "%s", cg_read(cs, path, "cpuset.mems"));
			snprintf(sub, sizeof(sub), "%s%s/sub/cpuset.mems", hier[i].mountpoint, path);
			assert_int_equal(write_file_at(AT_FDCWD, sub, v, strlen(v), &err), 0);
		}
		snprintf(sub, sizeof(sub), "%s%s/sub/cgroup.procs", hier[i].mountpoint, path);
		int n = snprintf(buf, sizeof(buf), "%d", (int)pid);
		if (write_file_at(AT_FDCWD, sub, buf, n, &err) < 0)
			fail_msg("%s", err.msg);
	}
	pid_t *pids;
	size_t n;
	assert_int_equal(cgroup_pids(cg, &pids, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], pid);
	free(pids);
	assert_int_equal(cgroup_freeze(cg, true, &err), 0);

	/* as `delete` does it: from a re-opened cgroup, which does not know
	 * that `top` is ours, so that one stays */
	struct cgroup *again = cgroup_open(path, &err);
	assert_non_null(again);
	if (cgroup_destroy(again, &err) < 0)
		fail_msg("destroy: %s", err.msg);
	cgroup_free(again);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	for (size_t i = 0; i < n_hier; i++) {
		char full[512];
		struct stat st;
		snprintf(full, sizeof(full), "%s%s", hier[i].mountpoint, path);
		assert_int_equal(stat(full, &st), -1);
		snprintf(full, sizeof(full), "%s%s", hier[i].mountpoint, top);
		assert_int_equal(stat(full, &st), 0);
	}
	/* the creator knows */
	assert_int_equal(cgroup_destroy(cg, &err), 0);
	cgroup_free(cg);
	assert_gone();
}

/* Bad values fail with the OCI field named, and nothing is left behind. */
static void test_invalid(void **state)
{
	struct cella_error err = { 0 };
	(void)state;
	struct oci_resources r;

	memset(&r, 0, sizeof(r));
	r.memory.limit = (struct oci_opt_i64){ true, 64 << 20 };
	r.cpu.cpus = "abc";
	assert_null(cgroup_create(path, &r, NULL, 0, &err));
	assert_int_equal(err.code, EINVAL);
	assert_string_equal(err.msg, "linux.resources.cpu.cpus: write `abc` to cpuset.cpus: Invalid argument");
	assert_gone();

	memset(&r, 0, sizeof(r));
	r.cpu.quota = (struct oci_opt_i64){ true, 10 };   /* below the kernel's 1 ms */
	assert_null(cgroup_create(path, &r, NULL, 0, &err));
	assert_non_null(strstr(err.msg, "linux.resources.cpu.quota"));
	assert_gone();

	memset(&r, 0, sizeof(r));
	r.memory.swappiness = (struct oci_opt_u64){ true, 200 };
	assert_null(cgroup_create(path, &r, NULL, 0, &err));
	assert_non_null(strstr(err.msg, "linux.resources.memory.swappiness"));
	assert_gone();

	memset(&r, 0, sizeof(r));
	struct oci_hugepage_limit hp = { "../2MB", 1 };
	r.hugepage_limits = &hp;
	r.n_hugepage_limits = 1;
	assert_null(cgroup_create(path, &r, NULL, 0, &err));
	assert_non_null(strstr(err.msg, "pageSize"));
	assert_gone();

	memset(&r, 0, sizeof(r));
	struct oci_kv kv = { "cgroup.procs", "1" };
	r.unified = &kv;
	r.n_unified = 1;
	assert_null(cgroup_create(path, &r, NULL, 0, &err));
	assert_non_null(strstr(err.msg, "linux.resources.unified"));
	assert_gone();

	memset(&r, 0, sizeof(r));
	struct oci_device_rule bad = { true, 'x', 1, 1, "rwm" };
	r.devices = &bad;
	r.n_devices = 1;
	assert_null(cgroup_create(path, &r, NULL, 0, &err));
	assert_non_null(strstr(err.msg, "linux.resources.devices[0].type"));
	assert_gone();

	/* an existing parent stays: only what create made goes */
	char full[512];
	struct cgroup_hier *mh = mode == CGROUP_MODE_V2 ? hier_v2() : hier_with(CGROUP_C_MEMORY);
	snprintf(full, sizeof(full), "%s%s", mh->mountpoint, top);
	assert_int_equal(mkdir(full, 0755), 0);
	memset(&r, 0, sizeof(r));
	r.cpu.cpus = "abc";
	assert_null(cgroup_create(path, &r, NULL, 0, &err));
	struct stat st;
	assert_int_equal(stat(full, &st), 0);
	assert_int_equal(rmdir(full), 0);
	assert_gone();
}

/* linux.resources.unified: written on v2 and to the hybrid cgroup2, refused on v1. */
static void test_unified(void **state)
{
	struct cella_error err = { 0 };
	(void)state;
	struct oci_resources r;
	memset(&r, 0, sizeof(r));
	struct oci_kv kv = { "cgroup.max.descendants", "5" };
	r.unified = &kv;
	r.n_unified = 1;
	struct cgroup *cg = cgroup_create(path, &r, NULL, 0, &err);
	if (mode == CGROUP_MODE_V1) {
		assert_null(cg);
		assert_non_null(strstr(err.msg, "linux.resources.unified"));
		assert_gone();
		return;
	}
	if (!cg)
		fail_msg("create: %s", err.msg);
	assert_string_equal(cg_read(hier_v2(), path, "cgroup.max.descendants"), "5");
	assert_int_equal(cgroup_destroy(cg, &err), 0);
	cgroup_free(cg);
	assert_gone();
}

/* On hybrid the unified keys go to the cgroup2 hierarchy, which has no
 * memory controller: a clear error, nothing left. */
static void test_unified_unavailable(void **state)
{
	struct cella_error err = { 0 };
	(void)state;
	if (mode != CGROUP_MODE_HYBRID)
		skip();
	struct oci_resources r;
	memset(&r, 0, sizeof(r));
	struct oci_kv kv = { "memory.high", "1G" };
	r.unified = &kv;
	r.n_unified = 1;
	assert_null(cgroup_create(path, &r, NULL, 0, &err));
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "enable cgroup v2 controllers `+memory`"));
	assert_gone();
}

/* hugepageLimits land in the hugetlb controller (v1 or v2); a hybrid host
 * without a v1 hugetlb hierarchy refuses them rather than enable hugetlb in
 * its controller-less cgroup2. */
static void test_hugetlb(void **state)
{
	struct cella_error err = { 0 };
	(void)state;
	struct stat st;
	if (stat("/sys/kernel/mm/hugepages/hugepages-2048kB", &st) < 0)
		skip();
	struct oci_resources r;
	memset(&r, 0, sizeof(r));
	struct oci_hugepage_limit hp = { "2MB", 4 << 21 };
	r.hugepage_limits = &hp;
	r.n_hugepage_limits = 1;
	struct cgroup_hier *h = mode == CGROUP_MODE_V2 ? hier_v2() : hier_with(CGROUP_C_HUGETLB);
	struct cgroup *cg = cgroup_create(path, &r, NULL, 0, &err);
	if (!h) {
		assert_null(cg);
		assert_non_null(strstr(err.msg, "linux.resources.hugepageLimits: the hugetlb controller is not mounted"));
		assert_gone();
		return;
	}
	if (!cg)
		fail_msg("create: %s", err.msg);
	assert_string_equal(cg_read(h, path, h->v2 ? "hugetlb.2MB.max" : "hugetlb.2MB.limit_in_bytes"), "8388608");
	assert_int_equal(cgroup_destroy(cg, &err), 0);
	cgroup_free(cg);
	assert_gone();
}

/* cgroup.freeze and cgroup.kill of the v2 back end, on whatever cgroup2
 * hierarchy the host has (on hybrid, the controller-less one). */
static void test_v2_freeze_kill(void **state)
{
	struct cella_error err = { 0 };
	(void)state;
	if (!hier_v2())
		skip();
	struct cgroup *cg = cgroup_create(path, NULL, NULL, 0, &err);
	if (!cg)
		fail_msg("create: %s", err.msg);
	struct cgroup_hier *h2 = cgroup_find_v2(cg);
	pid_t pid = child_sleeping();
	assert_int_equal(cgroup_enter(cg, pid, &err), 0);
	assert_int_equal(cgroup_v2_is_frozen(h2, &err), 0);
	if (cgroup_v2_freeze(h2, true, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(cgroup_v2_is_frozen(h2, &err), 1);
	assert_int_equal(cgroup_v2_freeze(h2, false, &err), 0);
	assert_int_equal(cgroup_v2_is_frozen(h2, &err), 0);
	assert_int_equal(cgroup_v2_kill(h2, &err), 1);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(cgroup_destroy(cg, &err), 0);
	cgroup_free(cg);
	assert_gone();
}

/* The child joins the cgroup of `procs` and reports what it can open:
 * bit 0 /dev/null worked, bit 1 /dev/zero failed with EPERM. */
static int child_open_devices(const char *procs)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char buf[16];
		int n = snprintf(buf, sizeof(buf), "%d", (int)getpid());
		struct cella_error e;
		if (write_file_at(AT_FDCWD, procs, buf, n, &e) < 0)
			_exit(100);
		int r = 0, fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fd >= 0)
			r |= 1;
		fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
		if (fd < 0 && errno == EPERM)
			r |= 2;
		_exit(r);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* The BPF device program loads, attaches and really denies. */
static void test_ebpf_enforce(void **state)
{
	struct cella_error err = { 0 };
	(void)state;
	struct cgroup_hier *h = hier_v2();
	if (!h) {
		print_message("no cgroup2 hierarchy: skipped\n");
		skip();
	}
	char dir[256], procs[300];
	snprintf(dir, sizeof(dir), "%s%s", h->mountpoint, top);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);

	struct oci_device_rule only_null[] = { { false, 'a', -1, -1, "rwm" }, { true, 'c', 1, 3, "rwm" } };
	if (cgroup_ebpf_apply(fd, only_null, 2, false, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(child_open_devices(procs), 1 | 2);

	/* replacing: the new program alone is attached */
	struct oci_device_rule both[] = { { false, 'a', -1, -1, "rwm" }, { true, 'c', 1, 3, "rwm" },
					  { true, 'c', 1, 5, "r" } };
	if (cgroup_ebpf_apply(fd, both, 3, true, &err) < 0)
		fail_msg("%s", err.msg);
	uint32_t ids[8];
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.query.target_fd = fd;
	a.query.attach_type = BPF_CGROUP_DEVICE;
	a.query.prog_ids = (uint64_t)(uintptr_t)ids;
	a.query.prog_cnt = 8;
	assert_int_equal(syscall(SYS_bpf, BPF_PROG_QUERY, &a, sizeof(a)), 0);
	assert_int_equal(a.query.prog_cnt, 1);
	assert_int_equal(child_open_devices(procs), 1);

	/* a deny with part of the access denies that part only */
	struct oci_device_rule deny_w[] = { { true, 'a', -1, -1, "rwm" }, { false, 'c', 1, 3, "w" } };
	if (cgroup_ebpf_apply(fd, deny_w, 2, true, &err) < 0)
		fail_msg("%s", err.msg);
	pid_t pid = fork();
	if (pid == 0) {
		char buf[16];
		int n = snprintf(buf, sizeof(buf), "%d", (int)getpid());
		struct cella_error e;
		if (write_file_at(AT_FDCWD, procs, buf, n, &e) < 0)
			_exit(100);
		int ok_r = open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0;
		int eperm_w = open("/dev/null", O_WRONLY | O_CLOEXEC) < 0 && errno == EPERM;
		int ok_zero = open("/dev/zero", O_RDWR | O_CLOEXEC) >= 0;
		_exit(ok_r && eperm_w && ok_zero ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	assert_int_equal(cgroup_ebpf_detach_all(fd, &err), 0);
	a.query.prog_cnt = 8;
	assert_int_equal(syscall(SYS_bpf, BPF_PROG_QUERY, &a, sizeof(a)), 0);
	assert_int_equal(a.query.prog_cnt, 0);
	assert_int_equal(child_open_devices(procs), 1);
	close(fd);
	assert_int_equal(rmdir(dir), 0);
}

/* The container's view: mounted in a new mount and cgroup namespace. */
static void test_mount(void **state)
{
	(void)state;
	char tmp[] = "/tmp/cella-cgmount-XXXXXX";
	char cgpath[64];
	struct cella_error cerr = { 0 };
	assert_non_null(mkdtemp(tmp));
	snprintf(cgpath, sizeof(cgpath), "/cella-test-mount-%d", (int)getpid());
	struct cgroup *cg = cgroup_create(cgpath, NULL, NULL, 0, &cerr);
	assert_non_null(cg);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cella_error e = { 0 };
		struct statfs s;
		char target[64], p[128];
		if (cgroup_enter(cg, getpid(), &e) < 0)
			_exit(9);
		if (unshare(CLONE_NEWNS | CLONE_NEWCGROUP) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(10);
		int fd = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
		snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
		if (cgroup_mount(cg, target, MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, &e) < 0) {
			fprintf(stderr, "cgroup_mount: %s\n", e.msg);
			_exit(11);
		}
		if (statfs(tmp, &s) < 0)
			_exit(12);
		if (mode == CGROUP_MODE_V2)
			_exit(s.f_type == CGROUP2_SUPER_MAGIC ? 0 : 13);
		if (s.f_type != TMPFS_MAGIC)
			_exit(14);
		for (size_t i = 0; i < n_hier; i++) {
			snprintf(p, sizeof(p), "%s/%s", tmp, strrchr(hier[i].mountpoint, '/') + 1);
			if (statfs(p, &s) < 0 || s.f_type != (hier[i].v2 ? CGROUP2_SUPER_MAGIC : CGROUP_SUPER_MAGIC))
				_exit(15);
			if (!(s.f_flags & ST_RDONLY))
				_exit(16);
		}
		snprintf(p, sizeof(p), "%s/memory/memory.limit_in_bytes", tmp);
		if (access(p, F_OK) < 0)
			_exit(17);
		snprintf(p, sizeof(p), "%s/new", tmp);
		if (mkdir(p, 0755) == 0 || errno != EROFS)
			_exit(18);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	rmdir(tmp);
	assert_int_equal(cgroup_destroy(cg, &cerr), 0);
	cgroup_free(cg);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child status %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* create + enter + destroy, the run hot path: report the time it takes. */
static void test_hot_path_time(void **state)
{
	struct cella_error err = { 0 };
	(void)state;
	struct oci_device_rule deny = { false, 'a', -1, -1, "rwm" };
	struct oci_resources r;
	memset(&r, 0, sizeof(r));
	r.devices = &deny;
	r.n_devices = 1;
	enum { N = 20 };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < N; i++) {
		char p[128];
		snprintf(p, sizeof(p), "/cella/test-%d-%d", (int)getpid(), i);
		struct cgroup *cg = cgroup_create(p, &r, NULL, 0, &err);
		if (!cg)
			fail_msg("create: %s", err.msg);
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		assert_int_equal(cgroup_enter(cg, pid, &err), 0);
		waitpid(pid, NULL, 0);
		if (cgroup_destroy(cg, &err) < 0)
			fail_msg("destroy: %s", err.msg);
		cgroup_free(cg);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / N;
	print_message("create+enter+destroy: %.3f ms per container (fork included)\n", ms);
	assert_true(ms < 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode),
		cmocka_unit_test(test_path_validate),
		cmocka_unit_test(test_conversions),
		cmocka_unit_test(test_ebpf_build),
		cmocka_unit_test(test_device_rules_order),
		cmocka_unit_test_teardown(test_lifecycle, force_cleanup),
		cmocka_unit_test_teardown(test_destroy_busy, force_cleanup),
		cmocka_unit_test_teardown(test_invalid, force_cleanup),
		cmocka_unit_test_teardown(test_unified, force_cleanup),
		cmocka_unit_test_teardown(test_unified_unavailable, force_cleanup),
		cmocka_unit_test_teardown(test_hugetlb, force_cleanup),
		cmocka_unit_test_teardown(test_v2_freeze_kill, force_cleanup),
		cmocka_unit_test_teardown(test_ebpf_enforce, force_cleanup),
		cmocka_unit_test(test_mount),
		cmocka_unit_test_teardown(test_hot_path_time, force_cleanup),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
