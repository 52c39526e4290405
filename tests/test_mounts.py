# SPDX-License-Identifier: LGPL-2.1-or-later
"""Mounts: binds and their flags, propagation, tmpfs, the default
filesystems, read-only root, masked and read-only paths, /dev, devices,
--no-pivot."""

import json
import os
import subprocess
from contextlib import contextmanager

import pytest


def by_point(mounts):
    """mount point -> the top-most mount there (the last one listed)."""
    d = {}
    for m in mounts:
        d[m["mount_point"]] = m
    return d


@contextmanager
def host_mount(*args):
    """mount(8) ARGS on the host for the duration of the block."""
    target = args[-1]
    subprocess.run(["mount", *map(str, args)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_bind_mount_ro(rt, bundle):
    src = rt.base / "src"
    src.mkdir()
    (src / "f").write_text("hello")
    bundle.add_mount("/mnt/b", "bind", src, ["rbind", "ro"])
    bundle.args("/bin/sh", "-c",
                "/bin/cella-probe read /mnt/b/f; /bin/cella-probe write /mnt/b/g x; "
                "/bin/cella-probe mounts")
    r = rt.run(bundle)
    assert r.ok, r
    lines = r.out.splitlines()
    assert json.loads(lines[0])["data"] == "hello"
    assert json.loads(lines[1])["errno"] == "EROFS"
    m = by_point(json.loads(lines[2]))["/mnt/b"]
    assert "ro" in m["options"]
    assert not (src / "g").exists()


def test_bind_mount_rw_writes_through(rt, bundle):
    src = rt.base / "src"
    src.mkdir()
    bundle.add_mount("/mnt/b", "bind", src, ["bind"])
    d = rt.probe(bundle, "write", "/mnt/b/new", "from-container")
    assert d["ok"], d
    assert (src / "new").read_text() == "from-container"


def test_bind_mount_type_none(rt, bundle):
    # runc style: no type, "bind" in options
    src = rt.base / "src"
    src.mkdir()
    (src / "f").write_text("x")
    m = bundle.add_mount("/mnt/b", None, src, ["bind"])
    m.pop("type", None)
    assert rt.probe(bundle, "read", "/mnt/b/f")["data"] == "x"


@pytest.mark.parametrize("flag", ["nosuid", "nodev", "noexec"])
def test_bind_mount_flags(rt, bundle, flag):
    src = rt.base / "src"
    src.mkdir()
    bundle.add_mount("/mnt/b", "bind", src, ["bind", flag])
    m = by_point(rt.probe(bundle, "mounts"))["/mnt/b"]
    assert flag in m["options"]
    for other in {"nosuid", "nodev", "noexec"} - {flag}:
        assert other not in m["options"]


def test_noexec_enforced(rt, bundle):
    src = rt.base / "src"
    src.mkdir()
    os.link(bundle.rootfs / "bin" / "cella-probe", src / "probe")
    bundle.add_mount("/mnt/b", "bind", src, ["bind", "noexec"])
    bundle.args("/mnt/b/probe", "exit", "0")
    r = rt.run(bundle)
    assert r.rc != 0, r


def test_nodev_enforced(rt, bundle):
    src = rt.base / "src"
    src.mkdir()
    os.mknod(src / "zero", 0o666 | 0o020000, os.makedev(1, 5))
    bundle.add_mount("/mnt/b", "bind", src, ["bind", "nodev"])
    d = rt.probe(bundle, "open", "/mnt/b/zero")
    assert d["errno"] == "EACCES"


def test_bind_then_remount_flags_combined(rt, bundle):
    src = rt.base / "src"
    src.mkdir()
    bundle.add_mount("/mnt/b", "bind", src, ["rbind", "ro", "nosuid", "nodev", "noexec"])
    m = by_point(rt.probe(bundle, "mounts"))["/mnt/b"]
    assert {"ro", "nosuid", "nodev", "noexec"} <= set(m["options"])


def test_bind_file(rt, bundle):
    src = rt.base / "file.txt"
    src.write_text("single file")
    bundle.add_mount("/etc/injected.txt", "bind", src, ["bind", "ro"])
    d = rt.probe(bundle, "read", "/etc/injected.txt")
    assert d["data"] == "single file"
    # the destination file was created inside the rootfs, not elsewhere
    assert (bundle.rootfs / "etc" / "injected.txt").exists()


def test_destination_parents_created(rt, bundle):
    bundle.add_mount("/deep/nested/dir", "tmpfs", "tmpfs", ["size=1m"])
    m = by_point(rt.probe(bundle, "mounts"))
    assert m["/deep/nested/dir"]["fstype"] == "tmpfs"


def test_rbind_includes_submounts_bind_does_not(rt, bundle):
    src = rt.base / "src"
    (src / "sub").mkdir(parents=True)
    with host_mount("-t", "tmpfs", "-o", "size=1m", "subtmp", src / "sub"):
        (src / "sub" / "in-submount").write_text("x")
        bundle.add_mount("/mnt/r", "bind", src, ["rbind"])
        bundle.add_mount("/mnt/n", "bind", src, ["bind"])
        bundle.args("/bin/sh", "-c", "/bin/cella-probe ls /mnt/r/sub; /bin/cella-probe ls /mnt/n/sub")
        r = rt.run(bundle)
    assert r.ok, r
    a, b = (json.loads(l) for l in r.out.splitlines())
    assert a["entries"] == ["in-submount"]
    assert b["entries"] == []


def test_rbind_ro_applies_to_submounts(rt, bundle):
    src = rt.base / "src"
    (src / "sub").mkdir(parents=True)
    with host_mount("-t", "tmpfs", "-o", "size=1m", "subtmp", src / "sub"):
        bundle.add_mount("/mnt/r", "bind", src, ["rbind", "rro"])
        bundle.probe_args("write", "/mnt/r/sub/x", "y")
        r = rt.run(bundle)
    assert r.ok, r
    assert r.json()["errno"] == "EROFS"


@pytest.mark.parametrize("opt,expect", [("rprivate", "private"), ("private", "private"),
                                        ("rshared", "shared"), ("shared", "shared"),
                                        ("runbindable", "unbindable"),
                                        ("unbindable", "unbindable")])
def test_bind_propagation_flag(rt, bundle, opt, expect):
    src = rt.base / "src"
    src.mkdir()
    bundle.add_mount("/mnt/p", "bind", src, ["rbind", opt])
    m = by_point(rt.probe(bundle, "mounts"))["/mnt/p"]
    assert m["propagation"] == expect, m


def _propagation_case(rt, bundle, opt):
    """A host mount made after start under a shared source: does the
    container (bind with `opt`) see it?"""
    src = rt.base / "shared-src"
    ctl = rt.base / "ctl"
    src.mkdir()
    ctl.mkdir()
    subprocess.run(["mount", "--bind", src, src], check=True)
    try:
        subprocess.run(["mount", "--make-shared", src], check=True)
        bundle.add_mount("/mnt/s", "bind", src, ["rbind", opt])
        bundle.add_mount("/mnt/ctl", "bind", ctl, ["bind"])
        bundle.args("/bin/sh", "-c",
                    "i=0; while [ ! -e /mnt/ctl/go ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done;"
                    " /bin/cella-probe ls /mnt/s/late")
        r = rt.run(bundle, detach=True)
        assert r.ok, r
        (src / "late").mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "late", src / "late"], check=True)
        (src / "late" / "marker").write_text("x")
        (ctl / "go").write_text("go")
        rt.wait_status(r.cid, "stopped", timeout=20)
        return json.loads(rt.output(r.cid).splitlines()[-1])
    finally:
        subprocess.run(["umount", "-R", "-l", src], check=False)


def test_propagation_slave_receives_host_mounts(rt, bundle):
    d = _propagation_case(rt, bundle, "rslave")
    assert d["entries"] == ["marker"]


def test_propagation_private_does_not_receive(rt, bundle):
    d = _propagation_case(rt, bundle, "rprivate")
    assert d["entries"] == []


@pytest.mark.parametrize("prop,expect", [
    ("private", "private"), ("rprivate", "private"),
    # runc 1.1.5 leaves "/" private whatever rootfsPropagation says
    pytest.param("shared", "shared", marks=pytest.mark.cella_only),
    pytest.param("rshared", "shared", marks=pytest.mark.cella_only),
    ("slave", ("slave", "private")), ("rslave", ("slave", "private"))])
def test_rootfs_propagation(rt, bundle, prop, expect):
    bundle.linux["rootfsPropagation"] = prop
    m = by_point(rt.probe(bundle, "mounts"))["/"]
    if isinstance(expect, tuple):
        # slave of a private host mount is indistinguishable from private
        assert m["propagation"] in expect, m
    else:
        assert m["propagation"] == expect, m


def test_rootfs_propagation_unbindable(rt, bundle):
    # runc cannot bind the rootfs onto itself under an unbindable parent and
    # fails; an engine that supports it must really make / unbindable
    bundle.linux["rootfsPropagation"] = "unbindable"
    bundle.probe_args("mounts")
    r = rt.run(bundle)
    if r.ok:
        assert by_point(r.json())["/"]["propagation"] == "unbindable"
    else:
        assert r.err.strip()


def test_rootfs_propagation_invalid(rt, bundle):
    bundle.linux["rootfsPropagation"] = "sideways"
    bundle.probe_args("exit", "0")
    assert rt.run(bundle).rc != 0


def test_container_mounts_do_not_reach_host(rt, bundle):
    # the default seccomp profile denies mount(2)
    bundle.linux.pop("seccomp", None)
    # with the default propagation, mounts made inside never show on the host
    bundle.process["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
    bundle.process["capabilities"]["effective"].append("CAP_SYS_ADMIN")
    bundle.process["capabilities"]["permitted"].append("CAP_SYS_ADMIN")
    bundle.args("/bin/sh", "-c", "mkdir -p /mnt/inner && mount -t tmpfs inner /mnt/inner && echo done")
    r = rt.run(bundle)
    assert r.ok and "done" in r.out, r
    with open("/proc/self/mountinfo") as f:
        assert str(bundle.path) not in f.read()


def test_tmpfs_size_and_mode(rt, bundle):
    bundle.add_mount("/mnt/t", "tmpfs", "tmpfs", ["size=1m", "mode=1770", "nosuid"])
    bundle.args("/bin/sh", "-c",
                "/bin/cella-probe stat /mnt/t; /bin/cella-probe mounts;"
                " dd if=/dev/zero of=/mnt/t/big bs=1024 count=2048 2>/dev/null; echo dd=$?")
    r = rt.run(bundle)
    assert r.ok, r
    lines = r.out.splitlines()
    st = json.loads(lines[0])["/mnt/t"]
    assert st["type"] == "dir" and st["mode"] == 0o1770
    m = by_point(json.loads(lines[1]))["/mnt/t"]
    assert m["fstype"] == "tmpfs"
    assert "size=1024k" in m["super_options"]
    assert "nosuid" in m["options"]
    assert lines[2] == "dd=1"   # ENOSPC at 1 MiB


def test_tmpfs_uid_gid(rt, bundle):
    bundle.add_mount("/mnt/t", "tmpfs", "tmpfs", ["uid=1000", "gid=1001", "mode=700"])
    st = rt.probe(bundle, "stat", "/mnt/t")["/mnt/t"]
    assert (st["uid"], st["gid"], st["mode"]) == (1000, 1001, 0o700)


def test_tmpfs_is_private_to_container(rt, bundle, make_bundle):
    bundle.add_mount("/mnt/t", "tmpfs", "tmpfs", ["size=1m"])
    bundle.probe_args("write", "/mnt/t/f", "x")
    assert rt.run(bundle).json()["ok"]
    assert not (bundle.rootfs / "mnt" / "t" / "f").exists()


def test_default_filesystems(rt, bundle):
    mounts = rt.probe(bundle, "mounts")
    m = by_point(mounts)
    assert m["/"]["mount_point"] == "/"
    assert m["/proc"]["fstype"] == "proc"
    assert m["/dev"]["fstype"] == "tmpfs"
    assert "nosuid" in m["/dev"]["options"]
    assert "mode=755" in m["/dev"]["super_options"]
    pts = m["/dev/pts"]
    assert pts["fstype"] == "devpts"
    assert {"nosuid", "noexec"} <= set(pts["options"])
    assert "ptmxmode=666" in pts["super_options"]
    assert "mode=620" in pts["super_options"]
    assert "gid=5" in pts["super_options"]
    shm = m["/dev/shm"]
    assert shm["fstype"] == "tmpfs"
    assert {"nosuid", "noexec", "nodev"} <= set(shm["options"])
    mq = m["/dev/mqueue"]
    assert mq["fstype"] == "mqueue"
    assert {"nosuid", "noexec", "nodev"} <= set(mq["options"])
    sysfs = m["/sys"]
    assert sysfs["fstype"] == "sysfs"
    assert {"ro", "nosuid", "noexec", "nodev"} <= set(sysfs["options"])
    # cgroups are visible read-only under /sys/fs/cgroup
    cg = [x for x in mounts if x["mount_point"].startswith("/sys/fs/cgroup")
          and x["fstype"] in ("cgroup", "cgroup2")]
    assert cg, [x["mount_point"] for x in mounts]
    for x in cg:
        assert "ro" in x["options"], x


def test_cgroup_mount_shows_own_cgroup(rt, bundle):
    bundle.args("/bin/sh", "-c", "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null ||"
                " cat /sys/fs/cgroup/pids.max")
    bundle.linux.setdefault("resources", {})["pids"] = {"limit": 77}
    r = rt.run(bundle)
    assert r.ok, r
    assert r.out.strip() == "77"


def test_mqueue_usable(rt, bundle):
    d = rt.probe(bundle, "stat", "/dev/mqueue")["/dev/mqueue"]
    assert d["type"] == "dir"


def test_readonly_root(rt, bundle):
    bundle.config["root"]["readonly"] = True
    bundle.args("/bin/sh", "-c",
                "/bin/cella-probe write /newfile x; /bin/cella-probe write /tmp/x x;"
                " /bin/cella-probe write /dev/shm/x x; /bin/cella-probe mounts")
    r = rt.run(bundle)
    assert r.ok, r
    lines = [json.loads(l) for l in r.out.splitlines()]
    assert lines[0]["errno"] == "EROFS"
    assert lines[1]["errno"] == "EROFS"
    assert lines[2]["ok"] is True       # /dev/shm is its own tmpfs
    assert "ro" in by_point(lines[3])["/"]["options"]
    assert not (bundle.rootfs / "newfile").exists()


def test_writable_root(rt, bundle):
    bundle.config["root"]["readonly"] = False
    d = rt.probe(bundle, "write", "/newfile", "x")
    assert d["ok"]
    assert (bundle.rootfs / "newfile").read_text() == "x"


def test_masked_paths(rt, bundle):
    (bundle.rootfs / "secret.txt").write_text("top secret")
    (bundle.rootfs / "secretdir").mkdir()
    (bundle.rootfs / "secretdir" / "inside").write_text("also secret")
    bundle.linux["maskedPaths"] = ["/secret.txt", "/secretdir", "/does/not/exist", "/proc/kcore"]
    bundle.args("/bin/sh", "-c",
                "/bin/cella-probe read /secret.txt; /bin/cella-probe ls /secretdir;"
                " /bin/cella-probe write /secretdir/new x; /bin/cella-probe read /secretdir/inside")
    r = rt.run(bundle)
    assert r.ok, r
    f, d, w, inside = (json.loads(l) for l in r.out.splitlines())
    assert f["ok"] and f["data"] == ""
    assert (d["ok"] and d["entries"] == []) or d.get("errno") == "EACCES", d
    assert w["ok"] is False and w["errno"] in ("EROFS", "EACCES", "EPERM"), w
    assert inside["ok"] is False
    # nothing created for the missing path
    assert not (bundle.rootfs / "does").exists()
    assert (bundle.rootfs / "secret.txt").read_text() == "top secret"


def test_default_masked_proc_paths(rt, bundle):
    masked = bundle.linux.get("maskedPaths", [])
    present = [p for p in masked if os.path.exists(p) and p.startswith("/proc")
               and os.path.isfile(p)]
    if not present:
        pytest.skip("none of the default masked /proc files exists on this kernel")
    bundle.args("/bin/sh", "-c", "; ".join(f"/bin/cella-probe read {p}" for p in present))
    r = rt.run(bundle)
    for p, line in zip(present, r.out.splitlines()):
        d = json.loads(line)
        assert d.get("data", "") == "", (p, d)


def test_readonly_paths(rt, bundle):
    (bundle.rootfs / "rodir").mkdir()
    (bundle.rootfs / "rodir" / "f").write_text("content")
    (bundle.rootfs / "rofile").write_text("ro")
    bundle.linux["readonlyPaths"] = ["/rodir", "/rofile", "/proc/sys", "/missing/path"]
    bundle.args("/bin/sh", "-c",
                "/bin/cella-probe write /rodir/new x; /bin/cella-probe read /rodir/f;"
                " /bin/cella-probe write /rofile x; /bin/cella-probe write /proc/sys/kernel/hostname x")
    r = rt.run(bundle)
    assert r.ok, r
    w1, rd, w2, w3 = (json.loads(l) for l in r.out.splitlines())
    assert w1["errno"] == "EROFS"
    assert rd["data"] == "content"
    assert w2["errno"] == "EROFS"
    assert w3["errno"] == "EROFS"
    assert (bundle.rootfs / "rofile").read_text() == "ro"
    assert not (bundle.rootfs / "missing").exists()


DEVICES = {"/dev/null": (1, 3), "/dev/zero": (1, 5), "/dev/full": (1, 7),
           "/dev/random": (1, 8), "/dev/urandom": (1, 9), "/dev/tty": (5, 0)}


def test_default_dev(rt, bundle):
    paths = [*DEVICES, "/dev/ptmx", "/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr",
             "/dev/shm", "/dev/pts", "/dev/mqueue", "/dev/pts/ptmx"]
    st = rt.probe(bundle, "stat", *paths)
    for p, (ma, mi) in DEVICES.items():
        s = st[p]
        assert s["ok"], (p, s)
        assert s["type"] == "chr", (p, s)
        assert (s["rdev_major"], s["rdev_minor"]) == (ma, mi), p
        assert s["mode"] == 0o666, (p, oct(s["mode"]))
        assert (s["uid"], s["gid"]) == (0, 0), p
    assert st["/dev/ptmx"]["type"] == "lnk" and st["/dev/ptmx"]["link"] == "pts/ptmx"
    assert st["/dev/fd"]["link"] == "/proc/self/fd"
    assert st["/dev/stdin"]["link"] == "/proc/self/fd/0"
    assert st["/dev/stdout"]["link"] == "/proc/self/fd/1"
    assert st["/dev/stderr"]["link"] == "/proc/self/fd/2"
    for d in ("/dev/shm", "/dev/pts", "/dev/mqueue"):
        assert st[d]["type"] == "dir", d
    assert st["/dev/pts/ptmx"]["type"] == "chr"


def test_default_dev_usable(rt, bundle):
    bundle.args("/bin/sh", "-c",
                "head -c 4 /dev/zero | od -An -tx1; echo x > /dev/null && echo null-ok;"
                " head -c 16 /dev/urandom | wc -c; echo x > /dev/full || echo full-enospc")
    r = rt.run(bundle)
    assert r.ok, r
    lines = r.out.split("\n")
    assert lines[0].split() == ["00", "00", "00", "00"]
    assert "null-ok" in r.out
    assert "16" in r.out
    assert "full-enospc" in r.out


def test_no_host_devices_leak_into_dev(rt, bundle):
    d = rt.probe(bundle, "ls", "/dev")
    allowed = {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "fd", "stdin",
               "stdout", "stderr", "shm", "pts", "mqueue", "console", "core"}
    assert set(d["entries"]) <= allowed, set(d["entries"]) - allowed
    for dev in ("sda", "vda", "kmsg", "mem", "kvm", "loop0"):
        assert dev not in d["entries"]


def test_no_console_without_terminal(rt, bundle):
    bundle.process["terminal"] = False
    st = rt.probe(bundle, "stat", "/dev/console")["/dev/console"]
    assert st["ok"] is False or st["type"] != "chr" or (st["rdev_major"], st["rdev_minor"]) != (5, 1)


def test_linux_devices(rt, bundle):
    bundle.linux["devices"] = [
        {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640,
         "uid": 1000, "gid": 1001},
        {"path": "/dev/sub/fifo", "type": "p", "fileMode": 0o600, "uid": 0, "gid": 0},
    ]
    # allow the device in the cgroup rules as well
    res = bundle.linux.setdefault("resources", {})
    res.setdefault("devices", []).append({"allow": True, "type": "c", "major": 1, "minor": 3,
                                          "access": "rwm"})
    st = rt.probe(bundle, "stat", "/dev/mynull", "/dev/sub/fifo")
    s = st["/dev/mynull"]
    assert s["type"] == "chr"
    assert (s["rdev_major"], s["rdev_minor"]) == (1, 3)
    assert s["mode"] == 0o640
    assert (s["uid"], s["gid"]) == (1000, 1001)
    f = st["/dev/sub/fifo"]
    assert f["type"] == "fifo" and f["mode"] == 0o600


def test_linux_devices_usable(rt, bundle):
    bundle.linux["devices"] = [{"path": "/dev/myzero", "type": "c", "major": 1, "minor": 5,
                                "fileMode": 0o666}]
    res = bundle.linux.setdefault("resources", {})
    res.setdefault("devices", []).append({"allow": True, "type": "c", "major": 1, "minor": 5,
                                          "access": "rwm"})
    bundle.args("/bin/sh", "-c", "/bin/cella-probe stat /dev/myzero;"
                " head -c 3 /dev/myzero | od -An -tx1")
    r = rt.run(bundle)
    assert r.ok, r
    s = json.loads(r.out.splitlines()[0])["/dev/myzero"]
    assert s["type"] == "chr" and (s["rdev_major"], s["rdev_minor"]) == (1, 5)
    assert r.out.splitlines()[1].split() == ["00", "00", "00"]


def test_linux_devices_outside_dev_does_not_touch_host(rt, bundle):
    bundle.linux["devices"] = [{"path": "/dev/../../../../tmp/evil-dev", "type": "c",
                                "major": 1, "minor": 3}]
    bundle.probe_args("exit", "0")
    rt.run(bundle)
    assert not os.path.exists("/tmp/evil-dev")


def test_no_pivot(rt, bundle):
    bundle.config["hostname"] = "nopivot"
    bundle.args("/bin/sh", "-c", "/bin/cella-probe read /etc/hostname; /bin/cella-probe mounts")
    r = rt.run(bundle, "--no-pivot")
    assert r.ok, r
    rd, mounts = (json.loads(l) for l in r.out.splitlines())
    assert rd["data"] == "rootfs\n"
    pts = [m["mount_point"] for m in mounts]
    assert "/proc" in pts and "/dev" in pts
    # the host's root is not reachable
    assert all(not p.startswith(str(bundle.path)) for p in pts)


def test_mount_order_later_wins(rt, bundle):
    a = rt.base / "a"
    b = rt.base / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_text("a")
    (b / "f").write_text("b")
    bundle.add_mount("/mnt/x", "bind", a, ["bind"])
    bundle.add_mount("/mnt/x", "bind", b, ["bind"])
    assert rt.probe(bundle, "read", "/mnt/x/f")["data"] == "b"


def test_mount_over_existing_content(rt, bundle):
    (bundle.rootfs / "opt" / "hidden").write_text("x")
    bundle.add_mount("/opt", "tmpfs", "tmpfs", ["size=1m"])
    assert rt.probe(bundle, "ls", "/opt")["entries"] == []
    assert (bundle.rootfs / "opt" / "hidden").exists()


def test_host_mounts_not_visible(rt, bundle):
    extra = rt.base / "extra"
    extra.mkdir()
    bundle.add_mount("/mnt/extra", "bind", extra, ["bind"])
    mounts = rt.probe(bundle, "mounts")
    allowed_prefixes = ("/proc", "/sys", "/dev")
    for m in mounts:
        p = m["mount_point"]
        assert p == "/" or p == "/mnt/extra" or p.startswith(allowed_prefixes), m
        assert "pivot" not in p and "oldroot" not in p, m
    # the old root is gone: exactly one mount at /
    assert [m["mount_point"] for m in mounts].count("/") == 1


def test_proc_is_the_containers(rt, bundle):
    bundle.args("/bin/sh", "-c", "ls -d /proc/[0-9]* | wc -l; readlink /proc/self")
    r = rt.run(bundle)
    assert r.ok, r
    n, selfpid = r.out.split()
    assert int(n) <= 4
    assert int(selfpid) < 10


def test_cgroupfs_read_only_inside(rt, bundle):
    resources = bundle.linux.setdefault("resources", {})
    resources["pids"] = {"limit": 50}
    bundle.args("/bin/sh", "-c", "for f in /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max;"
                " do [ -e $f ] && /bin/cella-probe write $f 100000; done; true")
    r = rt.run(bundle)
    assert r.ok, r
    d = r.json()
    assert d["ok"] is False and d["errno"] in ("EROFS", "EACCES", "EPERM"), d


def test_bind_source_relative_to_bundle(rt, bundle):
    # runtime-spec: bind sources are absolute or relative to the bundle
    (bundle.path / "relsrc").mkdir()
    (bundle.path / "relsrc" / "f").write_text("relative")
    bundle.add_mount("/mnt/rel", "bind", "relsrc", ["bind"])
    d = rt.probe(bundle, "read", "/mnt/rel/f")
    assert d["data"] == "relative"


def test_tmpcopyup(rt, bundle):
    (bundle.rootfs / "etc" / "copied").write_text("from the image")
    bundle.add_mount("/etc", "tmpfs", "tmpfs", ["tmpcopyup", "size=1m"])
    bundle.args("/bin/sh", "-c", "/bin/cella-probe read /etc/copied; /bin/cella-probe write /etc/new x;"
                " /bin/cella-probe mounts")
    r = rt.run(bundle)
    assert r.ok, r
    rd, wr, mounts = (json.loads(l) for l in r.out.splitlines())
    assert rd.get("data") == "from the image", (rd, "tmpcopyup: the tmpfs lacks the image content")
    assert wr["ok"]
    assert by_point(mounts)["/etc"]["fstype"] == "tmpfs"
    # the write went to the tmpfs, not the image
    assert not (bundle.rootfs / "etc" / "new").exists()


def test_readonly_root_with_new_mount_points(rt, bundle):
    # destinations missing from a read-only rootfs are created before the
    # root is made read-only
    bundle.config["root"]["readonly"] = True
    bundle.add_mount("/data/cache", "tmpfs", "tmpfs", ["size=1m"])
    bundle.args("/bin/sh", "-c", "/bin/cella-probe write /data/cache/f x; /bin/cella-probe write /data/g x")
    r = rt.run(bundle)
    assert r.ok, r
    a, b = (json.loads(l) for l in r.out.splitlines())
    assert a["ok"] is True
    assert b["errno"] == "EROFS"


def test_devpts_is_a_new_instance(rt, bundle):
    bundle.process["terminal"] = False
    d = rt.probe(bundle, "ls", "/dev/pts")
    assert d["entries"] == ["ptmx"], d


def test_shared_rootfs_does_not_propagate_to_host(rt, bundle):
    # the default seccomp profile denies mount(2)
    bundle.linux.pop("seccomp", None)
    bundle.linux["rootfsPropagation"] = "rshared"
    caps = bundle.process["capabilities"]
    for s in ("bounding", "effective", "permitted"):
        caps[s].append("CAP_SYS_ADMIN")
    bundle.args("/bin/sh", "-c", "mkdir -p /mnt/inner && mount -t tmpfs leak /mnt/inner && echo done")
    r = rt.run(bundle)
    assert r.ok and "done" in r.out, r
    with open("/proc/self/mountinfo") as f:
        assert " leak " not in f.read()
