/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Device rules on cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program generated
 * from the rule list (the way runc and crun do), loaded with bpf() and
 * attached to the container's cgroup with BPF_F_ALLOW_MULTI, so programs of
 * the parents keep applying too.
 *
 * The kernel calls the program with struct bpf_cgroup_dev_ctx
 * { access_type = access << 16 | type, major, minor } and allows the access
 * when it returns 1.  OCI rules apply in order, the last match winning; the
 * program checks them from the last to the first and returns on the first
 * match, falling through to "deny".
 */
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>

#include "cgroup_internal.h"
#include "util.h"

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define LDX_W(dst, src, off) INSN(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)
#define ALU32_IMM(op, dst, imm) INSN(BPF_ALU | (op) | BPF_K, dst, 0, 0, imm)
#define MOV32_REG(dst, src) INSN(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0)
#define MOV64_IMM(dst, imm) INSN(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)
#define JMP_IMM(op, dst, imm) INSN(BPF_JMP | (op) | BPF_K, dst, 0, 0, imm)
#define JMP_REG(op, dst, src) INSN(BPF_JMP | (op) | BPF_X, dst, src, 0, 0)
#define EXIT_INSN() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

enum { R0 = BPF_REG_0, R1, R2, R3, R4, R5 };

static int access_mask_parse(const char *access)
{
	int m = 0;
	for (const char *p = access; *p; p++)
		m |= *p == 'r' ? BPF_DEVCG_ACC_READ : *p == 'w' ? BPF_DEVCG_ACC_WRITE : *p == 'm' ? BPF_DEVCG_ACC_MKNOD : 0;
	return m;
}

struct bpf_insn *cgroup_ebpf_build(const struct oci_device_rule *rules, size_t n_rules,
				   size_t *n_insns, struct cella_error *err)
{
	const int all = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
	struct bpf_insn *p = malloc((6 + 9 * n_rules + 2) * sizeof(*p));
	size_t n = 0;
	bool terminated = false;

	if (!p) {
		cella_error_set(err, ENOMEM, "device program");
		return NULL;
	}
	/* r2 = type, r3 = access, r4 = major, r5 = minor */
	p[n++] = LDX_W(R2, R1, 0);
	p[n++] = ALU32_IMM(BPF_AND, R2, 0xffff);
	p[n++] = LDX_W(R3, R1, 0);
	p[n++] = ALU32_IMM(BPF_RSH, R3, 16);
	p[n++] = LDX_W(R4, R1, 4);
	p[n++] = LDX_W(R5, R1, 8);

	for (size_t i = n_rules; i-- > 0;) {
		const struct oci_device_rule *r = &rules[i];
		int mask = access_mask_parse(r->access);
		size_t start = n;
		if (!mask)      /* matches no access */
			continue;
		if (r->type == 'c' || r->type == 'b')
			p[n++] = JMP_IMM(BPF_JNE, R2, r->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK);
		if (mask != all) {
			p[n++] = MOV32_REG(R1, R3);
			p[n++] = ALU32_IMM(BPF_AND, R1, mask);
			/* allow: every requested access is in the rule; deny: any of them is */
			p[n++] = r->allow ? JMP_REG(BPF_JNE, R1, R3) : JMP_IMM(BPF_JEQ, R1, 0);
		}
		if (r->major >= 0)
			p[n++] = JMP_IMM(BPF_JNE, R4, (int32_t)r->major);
		if (r->minor >= 0)
			p[n++] = JMP_IMM(BPF_JNE, R5, (int32_t)r->minor);
		bool wildcard = n == start;
		p[n++] = MOV64_IMM(R0, r->allow ? 1 : 0);
		p[n++] = EXIT_INSN();
		for (size_t k = start; k < n - 2; k++)   /* "no match": to the next rule */
			if (BPF_CLASS(p[k].code) == BPF_JMP)
				p[k].off = (int16_t)(n - k - 1);
		/* matches everything: older rules are unreachable, and the verifier
		 * refuses unreachable code */
		if (wildcard) {
			terminated = true;
			break;
		}
	}
	if (!terminated) {
		p[n++] = MOV64_IMM(R0, 0);
		p[n++] = EXIT_INSN();
	}
	*n_insns = n;
	return p;
}

static int bpf_call(int cmd, union bpf_attr *attr)
{
	return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static int prog_detach(int cgfd, uint32_t id, struct cella_error *err)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.prog_id = id;
	cleanup_close int prog = bpf_call(BPF_PROG_GET_FD_BY_ID, &a);
	if (prog < 0)
		return errno == ENOENT ? 0 : cella_error_set(err, errno, "open device program %u", id);
	memset(&a, 0, sizeof(a));
	a.target_fd = cgfd;
	a.attach_bpf_fd = prog;
	a.attach_type = BPF_CGROUP_DEVICE;
	if (bpf_call(BPF_PROG_DETACH, &a) < 0 && errno != ENOENT)
		return cella_error_set(err, errno, "detach device program %u", id);
	return 0;
}

/* The ids of the device programs attached to the cgroup itself. */
static int prog_query(int cgfd, uint32_t *ids, uint32_t *n, struct cella_error *err)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.query.target_fd = cgfd;
	a.query.attach_type = BPF_CGROUP_DEVICE;
	a.query.prog_ids = (uint64_t)(uintptr_t)ids;
	a.query.prog_cnt = *n;
	if (bpf_call(BPF_PROG_QUERY, &a) < 0)
		return cella_error_set(err, errno, "query the device programs");
	*n = a.query.prog_cnt;
	return 0;
}

int cgroup_ebpf_detach_all(int fd, struct cella_error *err)
{
	uint32_t ids[64], n = ARRAY_SIZE(ids);
	if (prog_query(fd, ids, &n, err) < 0)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		if (prog_detach(fd, ids[i], err) < 0)
			return -1;
	return 0;
}

/*
 * Attach the new program before detaching the old ones, so the container
 * is never without device rules during an update.
 */
int cgroup_ebpf_apply(int fd, const struct oci_device_rule *rules, size_t n_rules, bool replace,
		      struct cella_error *err)
{
	size_t n;
	cleanup_free struct bpf_insn *insns = cgroup_ebpf_build(rules, n_rules, &n, err);
	if (!insns)
		return -1;
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	a.insns = (uint64_t)(uintptr_t)insns;
	a.insn_cnt = (uint32_t)n;
	a.license = (uint64_t)(uintptr_t)"GPL";
	/* bpf() fds are close-on-exec */
	cleanup_close int prog = bpf_call(BPF_PROG_LOAD, &a);
	if (prog < 0) {
		int e = errno;
		/* again with the verifier's log, for the error message only */
		char log[4096] = "";
		a.log_buf = (uint64_t)(uintptr_t)log;
		a.log_size = sizeof(log);
		a.log_level = 1;
		if (e != EPERM)
			bpf_call(BPF_PROG_LOAD, &a);
		/* the complaint is the line before the "processed N insns" summary */
		char *end = strstr(log, "\nprocessed ");
		if (end)
			*end = '\0';
		const char *why = strrchr(log, '\n');
		why = why ? why + 1 : log;
		return cella_error_set(err, e, "load the device program (%zu instructions%s%s)", n,
				       why[0] ? "; verifier: " : "", why);
	}

	uint32_t old[64], n_old = 0;
	if (replace) {
		n_old = ARRAY_SIZE(old);
		if (prog_query(fd, old, &n_old, err) < 0)
			return -1;
	}
	memset(&a, 0, sizeof(a));
	a.target_fd = fd;
	a.attach_bpf_fd = prog;
	a.attach_type = BPF_CGROUP_DEVICE;
	a.attach_flags = BPF_F_ALLOW_MULTI;
	if (bpf_call(BPF_PROG_ATTACH, &a) < 0)
		return cella_error_set(err, errno, "attach the device program");
	for (uint32_t i = 0; i < n_old; i++)
		if (prog_detach(fd, old[i], err) < 0)
			return -1;
	return 0;
}
