# SPDX-License-Identifier: LGPL-2.1-or-later
"""Defences: known container-escape attacks and kernel-surface probes by a
root user inside a container, each of which must FAIL.

Unless a test says otherwise the container runs the config of `spec`: the
default seccomp profile, the capabilities CAP_AUDIT_WRITE, CAP_KILL and
CAP_NET_BIND_SERVICE, the masked and read-only paths, a device cgroup that
denies by default.  Where an attack aims at the host, the test also checks
that the host is untouched.

Syscalls that neither busybox nor the probe make (init_module, keyctl,
setns, clone with CLONE_NEWUSER, ptrace...) are made by `cella-attack`, a
small static program compiled from the source below at the start of the
module and copied into each rootfs at /bin/cella-attack.  It answers with
one JSON object per line, like the probe: {"ok": false, "errno": "EPERM"}.
Nothing it does is destructive when the defence is missing: modules are
garbage (ENOEXEC at worst), files opened for writing are never written.
"""

import hashlib
import json
import os
import shutil
import stat
import subprocess
import time

import pytest

from conftest import PROBE_PATH, wait_for

ATTACK = "/bin/cella-attack"
DENIED = {"EPERM", "EACCES"}

ATTACK_SRC = r"""
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int report(long rc)
{
	if (rc < 0)
		printf("{\"ok\":false,\"errno\":\"%s\"}\n", strerrorname_np(errno));
	else
		printf("{\"ok\":true,\"rc\":%ld}\n", rc);
	fflush(stdout);
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * CVE-2019-5736: find a process of the container whose executable is the
 * file (dev, ino) -- the runtime binary on the host --, hold it with an
 * O_PATH fd, unblock it through FIFO (it waits opening it as its log),
 * and try to reopen the executable for writing once it has exited.
 * Nothing is ever written.
 */
static int exe_race(dev_t dev, ino_t ino, const char *fifo, double secs)
{
	double end = now() + secs;
	int held = -1, seen = 0;
	while (held < 0 && now() < end) {
		DIR *d = opendir("/proc");
		struct dirent *de;
		while (d && held < 0 && (de = readdir(d))) {
			if (de->d_name[0] < '0' || de->d_name[0] > '9' || atoi(de->d_name) == getpid())
				continue;
			char p[64];
			struct stat st;
			snprintf(p, sizeof(p), "/proc/%s/exe", de->d_name);
			int fd = open(p, O_PATH | O_CLOEXEC);
			if (fd < 0)
				continue;
			if (fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino) {
				held = fd;
				seen = atoi(de->d_name);
			} else {
				close(fd);
			}
		}
		if (d)
			closedir(d);
	}
	if (!strcmp(fifo, "-")) {
		/* just report what the container can see of the caught process */
		char p[64], t[4096];
		int fds = 0;
		snprintf(p, sizeof(p), "/proc/%d/fd", seen);
		DIR *d = held >= 0 ? opendir(p) : NULL;
		struct dirent *de;
		printf("{\"caught\":%s,\"pid\":%d,\"fds\":[", held >= 0 ? "true" : "false", seen);
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "/proc/%d/fd/%s", seen, de->d_name);
			ssize_t n = readlink(p, t, sizeof(t) - 1);
			t[n < 0 ? 0 : n] = 0;
			for (char *q = t; *q; q++)
				if (*q == '"' || *q == '\\' || *q < 0x20)
					*q = '?';
			printf("%s\"%s\"", fds++ ? "," : "", t);
		}
		printf("]}\n");
		fflush(stdout);
		return 0;
	}
	int rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	char buf[4096];
	int writable = 0, last = 0;
	if (held >= 0) {
		char p[64];
		snprintf(p, sizeof(p), "/proc/self/fd/%d", held);
		while (now() < end) {
			if (rfd >= 0)
				while (read(rfd, buf, sizeof(buf)) > 0)
					;
			int w = open(p, O_WRONLY | O_CLOEXEC);
			if (w >= 0) {
				close(w);
				writable = 1;
				break;
			}
			last = errno;
			usleep(2000);
		}
	}
	printf("{\"caught\":%s,\"pid\":%d,\"writable\":%s,\"errno\":\"%s\"}\n",
	       held >= 0 ? "true" : "false", seen, writable ? "true" : "false",
	       last ? strerrorname_np(last) : "");
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";
	if (!strcmp(c, "mknod") && argc == 6) {
		mode_t t = argv[3][0] == 'b' ? S_IFBLK : S_IFCHR;
		return report(mknod(argv[2], t | 0600, makedev(atoi(argv[4]), atoi(argv[5]))));
	} else if (!strcmp(c, "umount") && argc == 3) {
		return report(umount2(argv[2], MNT_DETACH));
	} else if (!strcmp(c, "remount-rw") && argc == 3) {
		return report(mount(NULL, argv[2], NULL, MS_REMOUNT | MS_BIND, NULL));
	} else if (!strcmp(c, "mount-cgroup") && argc == 4) {
		return report(mount("cgroup", argv[3], "cgroup", 0, argv[2]));
	} else if (!strcmp(c, "init_module")) {
		static char garbage[64] = "\x7f" "ELF not a module";
		return report(syscall(SYS_init_module, garbage, sizeof(garbage), ""));
	} else if (!strcmp(c, "finit_module") && argc == 3) {
		int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return report(-1);
		return report(syscall(SYS_finit_module, fd, "", 0));
	} else if (!strcmp(c, "delete_module") && argc == 3) {
		return report(syscall(SYS_delete_module, argv[2], O_NONBLOCK));
	} else if (!strcmp(c, "add_key")) {
		return report(syscall(SYS_add_key, "user", "cella-test", "x", 1, -3 /* session */));
	} else if (!strcmp(c, "join_keyring")) {
		return report(syscall(SYS_keyctl, 1 /* JOIN_SESSION_KEYRING */, "cella-test"));
	} else if (!strcmp(c, "setns") && argc == 3) {
		int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return report(-1);
		return report(setns(fd, 0));
	} else if (!strcmp(c, "unshare-user")) {
		return report(unshare(CLONE_NEWUSER));
	} else if (!strcmp(c, "clone-user")) {
		long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
		if (pid == 0)
			_exit(0);
		if (pid > 0)
			waitpid(pid, NULL, 0);
		return report(pid);
	} else if (!strcmp(c, "clone3-user")) {
		struct { unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal,
			 stack, stack_size, tls, set_tid, set_tid_size, cgroup; } a;
		memset(&a, 0, sizeof(a));
		a.flags = CLONE_NEWUSER;
		a.exit_signal = SIGCHLD;
		long pid = syscall(SYS_clone3, &a, sizeof(a));
		if (pid == 0)
			_exit(0);
		if (pid > 0)
			waitpid(pid, NULL, 0);
		return report(pid);
	} else if (!strcmp(c, "ptrace") && argc == 3) {
		pid_t pid = atoi(argv[2]);
		long r = ptrace(PTRACE_SEIZE, pid, 0, 0);
		int e = errno;
		if (r == 0)
			ptrace(PTRACE_DETACH, pid, 0, 0);
		errno = e;
		return report(r);
	} else if (!strcmp(c, "exe-race") && argc == 6) {
		if (!strcmp(argv[4], "-"))
			setvbuf(stdout, NULL, _IOFBF, 1 << 16);
		return exe_race(strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0), argv[4],
				atof(argv[5]));
	}
	fprintf(stderr, "cella-attack: bad usage\n");
	return 2;
}
"""


# ---------------------------------------------------------------------------
# Helpers


@pytest.fixture(scope="module")
def attack_binary(session_dir):
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        pytest.skip("no C compiler for the attack helper")
    d = session_dir / "attack"
    d.mkdir(exist_ok=True)
    src = d / "attack.c"
    src.write_text(ATTACK_SRC)
    out = d / "cella-attack"
    r = subprocess.run([cc, "-static", "-O1", "-o", str(out), str(src)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot build the attack helper: {r.stderr[-2000:]}")
    return out


@pytest.fixture
def ab(rt, bundle, attack_binary):
    """The default bundle with the attack helper in its rootfs."""
    shutil.copy2(attack_binary, bundle.rootfs / "bin" / "cella-attack")
    return bundle


def json_lines(text):
    return [json.loads(l) for l in text.splitlines() if l.strip().startswith(("{", "["))]


def run_lines(rt, bundle, script, expect_ok=True):
    """Run `sh -c script` in a new container; its JSON lines."""
    bundle.args("/bin/sh", "-c", script)
    r = rt.run(bundle)
    if expect_ok:
        assert r.ok, r
    return json_lines(r.out), r


def denied(d, allowed=DENIED):
    return d.get("ok") is False and d.get("errno") in allowed


def add_caps(bundle, *caps):
    c = bundle.process.setdefault("capabilities", {})
    for s in ("bounding", "effective", "permitted"):
        c[s] = sorted(set(c.get(s, [])) | set(caps))


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def host_read(path):
    with open(path) as f:
        return f.read()


def detach_sleeper(rt, bundle):
    bundle.args("/bin/sleep", "600")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    return r.cid


# ---------------------------------------------------------------------------
# /proc/sys and /proc/sysrq-trigger


@pytest.mark.parametrize("key,value", [("kernel/core_pattern", "|/tmp/pwn %p"),
                                       ("kernel/panic", "1"), ("vm/drop_caches", "3"),
                                       ("kernel/randomize_va_space", "0"),
                                       ("fs/suid_dumpable", "2")])
def test_proc_sys_write_fails(rt, bundle, key, value):
    path = f"/proc/sys/{key}"
    if not os.path.exists(path):
        pytest.skip(f"{path} missing on this kernel")
    before = host_read(path) if os.access(path, os.R_OK) else None
    d = rt.probe(bundle, "write", path, value)
    assert d["ok"] is False and d["errno"] in {"EROFS", "EACCES"}, d
    if before is not None:
        assert host_read(path) == before


def test_proc_sys_remount_rw_fails(rt, ab):
    # even with CAP_SYS_ADMIN the read-only bind over /proc/sys stays
    add_caps(ab, "CAP_SYS_ADMIN")
    lines, _ = run_lines(rt, ab, f"{ATTACK} remount-rw /proc/sys; "
                                 f"{PROBE_PATH} write /proc/sys/kernel/panic 1")
    assert denied(lines[0]), lines
    assert lines[1]["errno"] in {"EROFS", "EACCES"}, lines


def test_sysrq_trigger_write_fails(rt, bundle):
    if not os.path.exists("/proc/sysrq-trigger"):
        pytest.skip("no /proc/sysrq-trigger on this kernel (CONFIG_MAGIC_SYSRQ off)")
    # 'h' only prints the help to the kernel log: harmless if it got through
    d = rt.probe(bundle, "write", "/proc/sysrq-trigger", "h")
    assert d["ok"] is False and d["errno"] in {"EROFS", "EACCES"}, d


# ---------------------------------------------------------------------------
# Masked paths


@pytest.mark.parametrize("path", ["/proc/kcore", "/proc/keys", "/proc/timer_list",
                                  "/proc/sched_debug", "/proc/latency_stats"])
def test_masked_file_reads_nothing(rt, bundle, path):
    d = rt.probe(bundle, "read", path)
    if d["ok"]:
        assert d["size"] == 0 and d["data"] == "", d
    else:
        assert d["errno"] in {"EACCES", "ENOENT", "EPERM"}, d


@pytest.mark.parametrize("path", ["/sys/firmware", "/proc/acpi", "/proc/scsi",
                                  "/sys/devices/virtual/powercap"])
def test_masked_dir_is_empty(rt, bundle, path):
    d = rt.probe(bundle, "ls", path)
    if d["ok"]:
        assert d["entries"] == [], d
    else:
        assert d["errno"] in {"EACCES", "ENOENT", "EPERM"}, d


@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_masks_do_not_use_the_image_dev_null(rt, bundle, kind):
    # without a /dev tmpfs the image provides /dev: its /dev/null must not
    # become the content of the masks
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if not m["destination"].startswith("/dev")]
    null = bundle.rootfs / "dev" / "null"
    if kind == "file":
        null.write_text("IMAGE-CONTENT")
    else:
        (bundle.rootfs / "etc" / "leak").write_text("IMAGE-CONTENT")
        os.symlink("/etc/leak", null)
    bundle.args("/bin/sh", "-c", f"{PROBE_PATH} read /proc/keys; {PROBE_PATH} stat /dev/null; "
                                 f"{PROBE_PATH} write /proc/keys x; cat /etc/leak 2>/dev/null")
    r = rt.run(bundle)
    if not r.ok:
        return              # refusing such an image is fine
    keys = json_lines(r.out)[0]
    # the masks are the host's null device whatever the image's /dev/null is
    assert keys.get("data", "") == "", keys
    assert "IMAGE-CONTENT" not in r.out.split("\n", 3)[0], r


def test_mask_through_image_dev_null_is_not_a_writable_sysctl(rt, bundle):
    # the image's /dev/null points into /proc/sys: if the masks bind it, a
    # masked path becomes a writable sysctl (here the harmless, namespaced
    # kernel.domainname; with kernel.core_pattern it is a host escape)
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if not m["destination"].startswith("/dev")]
    os.symlink("/proc/sys/kernel/domainname", bundle.rootfs / "dev" / "null")
    bundle.args("/bin/sh", "-c", f"{PROBE_PATH} write /proc/keys pwned; "
                                 f"{PROBE_PATH} sysctl kernel.domainname")
    r = rt.run(bundle)
    if not r.ok:
        return
    w, sc = json_lines(r.out)[:2]
    # the write goes to the null device (or fails), never to the sysctl
    assert sc["kernel.domainname"].get("value") != "pwned", (w, sc)


def test_masked_keys_content_not_leaked(rt, bundle):
    # /proc/keys lists the keys of the whole host (of the caller's uid)
    bundle.args("/bin/cat", "/proc/keys", "/proc/timer_list")
    r = rt.run(bundle)
    assert r.out == "", r


@pytest.mark.parametrize("target", ["/proc/kcore", "/proc/keys", "/sys/firmware", "/proc/sys"])
def test_umount_mask_fails_without_cap_sys_admin(rt, ab, target):
    lines, r = run_lines(rt, ab, f"{ATTACK} umount {target}; umount {target} 2>&1; "
                                 f"echo rc=$?; {PROBE_PATH} stat {target}")
    assert denied(lines[0], {"EPERM"}), lines
    assert "rc=0" not in r.out, r


@pytest.mark.parametrize("target", ["/proc/kcore", "/proc/keys", "/sys/firmware", "/proc/sys"])
def test_umount_mask_fails_with_cap_sys_admin(rt, ab, target):
    # CAP_SYS_ADMIN is granted: only the default seccomp profile stands
    add_caps(ab, "CAP_SYS_ADMIN")
    lines, r = run_lines(rt, ab, f"{ATTACK} umount {target}; umount -l {target} 2>&1; "
                                 f"echo rc=$?; {PROBE_PATH} ls /sys/firmware; "
                                 f"{PROBE_PATH} read /proc/keys")
    assert denied(lines[0], {"EPERM"}), lines
    assert "rc=0" not in r.out, r
    assert lines[1].get("entries", []) == [], lines
    assert lines[2].get("data", "") == "", lines


# ---------------------------------------------------------------------------
# Devices


def test_mknod_host_disk_fails(rt, ab):
    # /dev/vda (254:0) is the host's disk here; any block device will do
    lines, r = run_lines(rt, ab, f"{ATTACK} mknod /dev/vda b 254 0; "
                                 f"{ATTACK} mknod /tmp/vda b 254 0; "
                                 f"mknod /tmp/vdb b 254 0 2>&1; echo rc=$?; "
                                 f"{ATTACK} mknod /tmp/mem c 1 1")
    assert all(denied(d, {"EPERM"}) for d in lines), lines
    assert "rc=0" not in r.out, r
    assert not (ab.rootfs / "tmp" / "vda").exists()


def test_open_host_disk_with_cap_mknod_fails(rt, ab):
    # CAP_MKNOD granted: the node can be made, but the device cgroup (deny
    # by default) keeps it closed
    add_caps(ab, "CAP_MKNOD")
    lines, r = run_lines(rt, ab, f"{ATTACK} mknod /dev/vda b 254 0; "
                                 f"{PROBE_PATH} open /dev/vda r; "
                                 f"{PROBE_PATH} open /dev/vda rw; "
                                 f"{ATTACK} mknod /dev/kmem c 1 2; "
                                 f"{PROBE_PATH} open /dev/kmem r; "
                                 f"dd if=/dev/vda of=/dev/null bs=512 count=1 2>&1; echo rc=$?")
    assert lines[0]["ok"], lines     # created in the container's /dev tmpfs
    assert lines[1]["errno"] == "EPERM", lines
    assert lines[2]["errno"] == "EPERM", lines
    assert lines[4].get("ok") is False and lines[4]["errno"] in {"EPERM", "ENOENT", "ENXIO"}, lines
    assert "rc=0" not in r.out, r


def test_device_node_in_image_is_unusable(rt, bundle):
    # the image ships a block node of the host disk
    os.mknod(bundle.rootfs / "opt" / "vda", 0o600 | stat.S_IFBLK, os.makedev(254, 0))
    os.mknod(bundle.rootfs / "opt" / "mem", 0o600 | stat.S_IFCHR, os.makedev(1, 1))
    bundle.args("/bin/sh", "-c", f"{PROBE_PATH} open /opt/vda r; {PROBE_PATH} open /opt/mem r")
    r = rt.run(bundle)
    assert r.ok, r
    for d in json_lines(r.out):
        assert d["ok"] is False and d["errno"] in {"EPERM", "EACCES"}, d


# ---------------------------------------------------------------------------
# Kernel modules, keyrings


@pytest.mark.parametrize("caps", [(), ("CAP_SYS_MODULE",)])
def test_kernel_module_load_fails(rt, ab, caps):
    add_caps(ab, *caps)
    lines, r = run_lines(rt, ab, f"{ATTACK} init_module; {ATTACK} finit_module /bin/busybox; "
                                 f"{ATTACK} delete_module nosuchmod; "
                                 f"insmod /bin/busybox 2>&1; echo rc=$?")
    assert [d["errno"] for d in lines] == ["EPERM"] * 3, lines
    assert "rc=0" not in r.out, r


def test_keyctl_denied(rt, ab):
    lines, _ = run_lines(rt, ab, f"{PROBE_PATH} keyring; {ATTACK} add_key; "
                                 f"{ATTACK} join_keyring")
    assert lines[0]["ok"] is False and lines[0]["errno"] == "EPERM", lines
    assert denied(lines[1], {"EPERM"}) and denied(lines[2], {"EPERM"}), lines


# ---------------------------------------------------------------------------
# Namespaces


NS = ("mnt", "net", "pid", "ipc", "uts", "cgroup")


def test_proc_1_is_the_container_init(rt, ab):
    host = {n: os.stat(f"/proc/self/ns/{n}").st_ino for n in NS}
    lines, _ = run_lines(rt, ab, f"{PROBE_PATH} ns; {PROBE_PATH} pid; "
                                 f"{PROBE_PATH} stat /proc/1/ns/mnt /proc/1/ns/net; "
                                 f"{PROBE_PATH} ls /proc")
    ns, pid, st, ls = lines
    assert pid["ppid"] == 1, pid     # the probe's parent, the shell, is pid 1
    for n in NS:
        assert ns[n] != host[n], (n, ns, host)
    # /proc/1 is the shell that runs these commands: only its own pids
    pids = sorted(int(e) for e in ls["entries"] if e.isdigit())
    assert pids and pids[0] == 1 and len(pids) < 10, pids


@pytest.mark.parametrize("caps", [(), ("CAP_SYS_ADMIN",)])
def test_setns_into_proc_1_fails(rt, ab, caps):
    add_caps(ab, *caps)
    script = "; ".join(f"{ATTACK} setns /proc/1/ns/{n}" for n in NS)
    script += "; nsenter -t 1 -m -n -p /bin/true 2>&1; echo rc=$?"
    lines, r = run_lines(rt, ab, script)
    assert all(denied(d, {"EPERM"}) for d in lines), lines
    assert "rc=0" not in r.out, r


def test_unshare_user_namespace_denied(rt, ab):
    lines, r = run_lines(rt, ab, f"{ATTACK} unshare-user; {ATTACK} clone-user; "
                                 f"{ATTACK} clone3-user; "
                                 f"unshare -U -r /bin/cella-probe caps 2>&1; echo rc=$?")
    assert denied(lines[0], {"EPERM"}), lines
    assert denied(lines[1], {"EPERM"}), lines
    # clone3 is answered with ENOSYS so that libcs fall back to clone
    assert lines[2]["ok"] is False and lines[2]["errno"] in {"ENOSYS", "EPERM"}, lines
    assert "rc=0" not in r.out and "CapEff" not in r.out, r


# ---------------------------------------------------------------------------
# /sys


@pytest.mark.parametrize("path", ["/sys/kernel/mm/transparent_hugepage/enabled",
                                  "/sys/kernel/uevent_helper", "/sys/power/state",
                                  "/sys/new-file"])
def test_sys_write_fails(rt, bundle, path):
    before = host_read(path) if os.path.exists(path) else None
    d = rt.probe(bundle, "write", path, "never" if "hugepage" in path else "x")
    assert d["ok"] is False and d["errno"] in {"EROFS", "EACCES"}, d
    if before is not None:
        assert host_read(path) == before
    else:
        assert not os.path.exists(path)


# ---------------------------------------------------------------------------
# Symlinks in the image


@pytest.mark.parametrize("dangling", [False, True])
def test_mount_target_symlink_to_host(rt, bundle, dangling):
    hostdir = rt.base / "hostdir"
    hostdir.mkdir()
    target = hostdir / "later" if dangling else hostdir
    os.symlink(str(target), bundle.rootfs / "escape")
    bundle.add_mount("/escape", "tmpfs", "tmpfs", ["size=1m"])
    bundle.args("/bin/sh", "-c", "echo pwned > /escape/owned")
    r = rt.run(bundle)
    assert os.listdir(hostdir) == [], r
    assert str(hostdir) not in host_read("/proc/self/mountinfo")


@pytest.mark.parametrize("with_dev_tmpfs", [True, False])
def test_dev_symlink_to_host_dir(rt, bundle, with_dev_tmpfs):
    hostdir = rt.base / "hostdev"
    hostdir.mkdir()
    (bundle.rootfs / "dev").rmdir()
    os.symlink(str(hostdir), bundle.rootfs / "dev")
    if not with_dev_tmpfs:
        bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                                   if not m["destination"].startswith("/dev")]
    bundle.probe_args("exit", "0")
    r = rt.run(bundle)
    # refused, or /dev built inside the rootfs: never a node on the host
    assert os.listdir(hostdir) == [], (os.listdir(hostdir), r)
    assert str(hostdir) not in host_read("/proc/self/mountinfo")


def test_cwd_symlink_to_host_dir(rt, bundle):
    hostdir = rt.base / "hostcwd"
    hostdir.mkdir()
    (hostdir / "host-secret").write_text("secret")
    os.symlink(str(hostdir), bundle.rootfs / "work")
    (bundle.rootfs / str(hostdir).lstrip("/")).mkdir(parents=True)
    bundle.process["cwd"] = "/work"
    bundle.args("/bin/sh", "-c", f"{PROBE_PATH} cwd; {PROBE_PATH} ls .; echo x > mine")
    r = rt.run(bundle)
    assert not (hostdir / "mine").exists(), r
    if r.ok:
        cwd, ls = json_lines(r.out)[:2]
        assert cwd["cwd"] == str(hostdir), cwd
        assert ls["entries"] == ["mine"] or ls["entries"] == [], ls


# ---------------------------------------------------------------------------
# What the runtime hands over: fds, cwd, capabilities


def test_only_stdio_fds(rt, bundle):
    d = rt.probe(bundle, "fds")
    assert sorted(f["fd"] for f in d) == [0, 1, 2], d


def test_leaked_runtime_fds_do_not_reach_container(rt, bundle):
    # the caller of the runtime leaks fds (a host directory, a host file)
    # without --preserve-fds: the container must not get them
    hostdir = os.open(str(rt.base), os.O_RDONLY | os.O_DIRECTORY)
    hostfile = os.open("/etc/hostname", os.O_RDONLY)
    try:
        bundle.probe_args("fds")
        bundle.write()
        cid = rt.track(rt.new_id())
        p = subprocess.run(rt.global_args() + ["run", "--bundle", str(bundle.path), cid],
                           pass_fds=(hostdir, hostfile), capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
    finally:
        os.close(hostdir)
        os.close(hostfile)
    assert p.returncode == 0, p
    d = json.loads(p.stdout.strip().splitlines()[-1])
    assert sorted(f["fd"] for f in d) == [0, 1, 2], d
    for f in d:
        assert str(rt.base) not in (f["target"] or ""), d


def test_cwd_inside_root(rt, bundle):
    # the runtime runs from a host directory; the container starts at "/"
    bundle.args("/bin/sh", "-c", f"{PROBE_PATH} cwd; {PROBE_PATH} ls .; "
                                 f"{PROBE_PATH} stat /proc/self/cwd")
    bundle.write()
    cid = rt.track(rt.new_id())
    r = rt("run", "--bundle", bundle.path, cid, cwd=rt.base)
    assert r.ok, r
    cwd, ls, st = json_lines(r.out)
    assert cwd["cwd"] == "/", cwd
    assert "cella-probe" not in ls["entries"] and "bin" in ls["entries"], ls
    assert st["/proc/self/cwd"]["link"] == "/", st


def test_inheritable_and_ambient_caps_empty(rt, bundle):
    d = rt.probe(bundle, "caps")
    assert int(d["CapInh"], 16) == 0, d
    assert int(d["CapAmb"], 16) == 0, d
    # CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10)
    want = (1 << 29) | (1 << 5) | (1 << 10)
    for s in ("CapPrm", "CapEff", "CapBnd"):
        assert int(d[s], 16) == want, (s, d)


def test_exec_caps_default(rt, bundle):
    cid = detach_sleeper(rt, bundle)
    r = rt("exec", cid, PROBE_PATH, "caps")
    assert r.ok, r
    d = r.json()
    assert int(d["CapInh"], 16) == 0 and int(d["CapAmb"], 16) == 0, d
    assert int(d["CapEff"], 16) == (1 << 29) | (1 << 5) | (1 << 10), d


# ---------------------------------------------------------------------------
# cgroup v1 release_agent (CVE-2022-0492)


def _v1_hierarchies():
    return [h.name for h in sorted(os.scandir("/sys/fs/cgroup"), key=lambda e: e.name)
            if h.is_dir() and h.name != "unified"
            and os.path.exists(f"/sys/fs/cgroup/{h.name}/release_agent")]


def test_cgroup_release_agent_not_writable(rt, ab):
    hiers = _v1_hierarchies()
    if not hiers:
        pytest.skip("no cgroup v1 hierarchy")
    before = {h: host_read(f"/sys/fs/cgroup/{h}/release_agent") for h in hiers}
    script = []
    for h in hiers:
        script += [f"{PROBE_PATH} write /sys/fs/cgroup/{h}/release_agent /tmp/pwn",
                   f"{PROBE_PATH} write /sys/fs/cgroup/{h}/notify_on_release 1",
                   f"mkdir /sys/fs/cgroup/{h}/x 2>/dev/null; echo mkdir=$?"]
    lines, r = run_lines(rt, ab, "; ".join(script))
    for d in lines:
        assert d["ok"] is False and d["errno"] in {"EROFS", "EACCES", "ENOENT"}, (lines, r)
    assert "mkdir=0" not in r.out, r
    for h in hiers:
        assert host_read(f"/sys/fs/cgroup/{h}/release_agent") == before[h]


def test_cgroup_v1_fresh_mount_denied(rt, ab):
    # the CVE-2022-0492 recipe: mount a fresh v1 hierarchy, whose root has a
    # writable release_agent; CAP_SYS_ADMIN granted, seccomp must stop it
    add_caps(ab, "CAP_SYS_ADMIN")
    lines, _ = run_lines(rt, ab, f"mkdir -p /tmp/cg; {ATTACK} mount-cgroup memory /tmp/cg; "
                                 f"{ATTACK} mount-cgroup rdma /tmp/cg; "
                                 f"{PROBE_PATH} stat /tmp/cg/release_agent")
    assert denied(lines[0], {"EPERM"}) and denied(lines[1], {"EPERM"}), lines
    assert lines[2]["/tmp/cg/release_agent"]["ok"] is False, lines


# ---------------------------------------------------------------------------
# exec'd processes: ptrace, /proc/self/exe


def test_exec_ptrace_init_fails(rt, ab):
    cid = detach_sleeper(rt, ab)
    r = rt("exec", cid, ATTACK, "ptrace", "1")
    assert r.ok, r
    assert denied(r.json(), {"EPERM"}), r
    # and the init is not stopped / traced
    status = host_read(f"/proc/{rt.state(cid)['pid']}/status")
    assert "TracerPid:\t0" in status, status


def test_exec_proc_self_exe_is_the_user_program(rt, bundle):
    cid = detach_sleeper(rt, bundle)
    r = rt("exec", cid, PROBE_PATH, "stat", "/proc/self/exe")
    assert r.ok, r
    st = r.json()["/proc/self/exe"]
    assert st["link"] == PROBE_PATH, st
    r = rt("exec", cid, "/bin/readlink", "/proc/self/exe")
    assert r.out.strip() == "/bin/busybox", r
    # nor is the init's
    r = rt("exec", cid, "/bin/readlink", "/proc/1/exe")
    assert r.out.strip() == "/bin/busybox", r


def test_runtime_binary_not_writable_through_proc_exe(rt, ab):
    """CVE-2019-5736: the container makes the runtime execute itself
    (`exec CID /proc/self/exe`), holds /proc/PID/exe and reopens it for
    writing once the runtime has exited.  Run against a private copy of
    the binary; nothing is written."""
    binary = rt.base / "runtime-copy"
    shutil.copy2(rt.binary, binary)
    digest = sha256(binary)
    st = os.stat(binary)
    ab.args("/bin/sh", "-c", f"mkfifo /tmp/log; {ATTACK} exe-race {st.st_dev} {st.st_ino} "
                             f"/tmp/log 15; sleep 600")
    r = rt.run(ab, detach=True)
    assert r.ok, r
    cid = r.cid
    # the exec'd process runs `/proc/self/exe --log /tmp/log state nosuch`:
    # if that is the runtime itself, it blocks opening the FIFO as its log
    x = subprocess.run([str(binary), "--root", str(rt.root), "exec", cid, "/proc/self/exe",
                        "--log", "/tmp/log", "state", "nosuch"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    got = wait_for(lambda: json_lines(rt.output(cid)), timeout=20)
    assert got, (x, rt.output(cid), rt.errors(cid))
    d = got[-1]
    assert sha256(binary) == digest
    assert not d["writable"], (d, x)


@pytest.mark.cella_only
def test_container_processes_run_from_a_sealed_copy(rt, bundle):
    """Before it execs, a created container's init is the runtime: its
    executable must be a view no one can write (a read-only overlay of the
    binary's directory, or a sealed memfd copy), not the host's binary, so
    that even a process that reached /proc/PID/exe could not change it."""
    import errno
    import fcntl
    bundle.probe_args("exit", "0")
    r = rt.create(bundle)
    assert r.ok, r
    exe = f"/proc/{rt.state(r.cid)['pid']}/exe"
    host = os.stat(rt.binary)
    st = os.stat(exe)
    assert (st.st_dev, st.st_ino) != (host.st_dev, host.st_ino), os.readlink(exe)
    if os.readlink(exe).startswith("/memfd:"):
        fd = os.open(exe, os.O_RDONLY | os.O_CLOEXEC)
        try:
            seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        finally:
            os.close(fd)
        want = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
        assert seals & want == want, seals
    else:
        assert os.statvfs(exe).f_flag & os.ST_RDONLY
        with pytest.raises(OSError) as e:
            os.close(os.open(exe, os.O_WRONLY))
        assert e.value.errno == errno.EROFS, e.value
    rt.delete(r.cid, force=True)


@pytest.mark.parametrize("how", ["args0", "symlink", "script"])
def test_container_cannot_run_the_runtime_binary(rt, bundle, how):
    """The init's /proc/self/exe is cella-runtime until execve: an entrypoint
    that is /proc/self/exe, a link to it, or a script whose #! interpreter is
    it would run the runtime's host file inside the container."""
    if how == "args0":
        bundle.args("/proc/self/exe", "--version")
    elif how == "symlink":
        os.symlink("/proc/self/exe", bundle.rootfs / "bin" / "evil")
        bundle.args("/bin/evil", "--version")
    else:
        (bundle.rootfs / "bin" / "evil.sh").write_text("#!/proc/self/exe\n")
        os.chmod(bundle.rootfs / "bin" / "evil.sh", 0o755)
        bundle.args("/bin/evil.sh")
    r = rt.run(bundle)
    assert not r.ok, r
    assert "cella-runtime version" not in r.out, r


def test_exec_runtime_not_exposed_before_execve(rt, ab):
    """While `exec` sets up the new process inside the container (joined
    namespaces, container credentials, still the runtime's image and its
    host fds), no process of the container may open its /proc/PID/exe (nor
    /proc/PID/fd, /proc/PID/mem: the same ptrace access check)."""
    st = os.stat(rt.binary)
    ab.args("/bin/sh", "-c", f"{ATTACK} exe-race {st.st_dev} {st.st_ino} - 12; sleep 600")
    r = rt.run(ab, detach=True)
    assert r.ok, r
    cid = r.cid
    deadline = time.monotonic() + 10
    n = 0
    while time.monotonic() < deadline and not json_lines(rt.output(cid)):
        assert rt("exec", cid, "/bin/true").ok
        n += 1
    got = wait_for(lambda: json_lines(rt.output(cid)), timeout=20)
    assert got, rt.errors(cid)
    assert not got[-1]["caught"], (n, got[-1])


def test_sysctl_only_through_a_real_procfs(rt, bundle):
    # without a proc mount, /proc is whatever the image has: linux.sysctl
    # must not write into it as if it were the kernel
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/proc"]
    bundle.linux["maskedPaths"] = []
    bundle.linux["readonlyPaths"] = []
    bundle.linux["sysctl"] = {"net.ipv4.ip_forward": "1"}
    bundle.probe_args("exit", "0")
    r = rt.run(bundle)
    assert not r.ok and "not procfs" in r.err, r
