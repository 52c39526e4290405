# SPDX-License-Identifier: LGPL-2.1-or-later
"""config.json validation: bad configurations fail cleanly and leave nothing.

Every failure case is checked through both `create` and `run`; the fixture's
leak check then verifies that no state, cgroup, mount or process remains.
"""

import os

import pytest

from conftest import IS_CELLA


def assert_fails(rt, bundle, *words, write=True):
    """create and run both fail; stderr mentions every word; no state remains."""
    if write:
        bundle.write()
    for verb in ("create", "run"):
        cid = rt.track(rt.new_id())
        r = rt(verb, "--bundle", bundle.path, cid, timeout=30)
        assert r.rc != 0, f"{verb} should fail: {r}"
        assert rt("state", cid).rc != 0, f"{verb}: state exists after failure"
        for w in words:
            assert w in r.err, f"{verb}: {w!r} not in error: {r}"
    return r


def test_bad_json(rt, bundle):
    (bundle.path / "config.json").write_text('{"ociVersion": "1.0.2", "process": ')
    assert_fails(rt, bundle, write=False)


def test_config_not_an_object(rt, bundle):
    (bundle.path / "config.json").write_text("[1, 2, 3]")
    assert_fails(rt, bundle, write=False)


def test_missing_config(rt, bundle):
    (bundle.path / "config.json").unlink()
    r = assert_fails(rt, bundle, write=False)
    assert "config.json" in r.err


def test_missing_bundle_dir(rt, bundle):
    cid = rt.track(rt.new_id())
    r = rt("create", "--bundle", rt.base / "no-such-bundle", cid)
    assert r.rc != 0
    assert rt("state", cid).rc != 0


def test_missing_rootfs(rt, bundle):
    bundle.config["root"]["path"] = "no-such-rootfs"
    assert_fails(rt, bundle)


def test_rootfs_is_a_file(rt, bundle):
    (bundle.path / "afile").write_text("x")
    bundle.config["root"]["path"] = "afile"
    assert_fails(rt, bundle)


def test_absolute_rootfs_path(rt, bundle):
    bundle.config["root"]["path"] = str(bundle.rootfs)
    d = rt.probe(bundle, "cwd")
    assert d["cwd"] == "/"


def test_unknown_namespace_type(rt, bundle):
    bundle.linux["namespaces"].append({"type": "bogus"})
    r = assert_fails(rt, bundle)
    if IS_CELLA:
        assert "bogus" in r.err


def test_duplicate_namespace(rt, bundle):
    bundle.linux["namespaces"].append({"type": "pid"})
    assert_fails(rt, bundle)


def test_namespace_path_missing(rt, bundle):
    bundle.set_namespace("network", rt.base / "no-such-netns")
    assert_fails(rt, bundle)


def test_namespace_path_wrong_type(rt, bundle):
    # a uts namespace file given as the network namespace
    bundle.set_namespace("network", "/proc/self/ns/uts")
    assert_fails(rt, bundle)


def test_missing_process(rt, bundle):
    del bundle.config["process"]
    bundle.write()
    cid = rt.track(rt.new_id())
    # create may succeed (the OCI spec allows a process-less create), but
    # start/run must fail cleanly
    r = rt("run", "--bundle", bundle.path, cid)
    assert r.rc != 0, r
    assert rt("state", cid).rc != 0


@pytest.mark.cella_only
def test_missing_process_error_names_field(rt, bundle):
    del bundle.config["process"]
    bundle.write()
    r = rt("run", "--bundle", bundle.path, rt.track(rt.new_id()))
    assert r.rc != 0
    assert "process" in r.err


def test_empty_args(rt, bundle):
    bundle.process["args"] = []
    assert_fails(rt, bundle)


def test_missing_args(rt, bundle):
    del bundle.process["args"]
    assert_fails(rt, bundle)


def test_relative_cwd(rt, bundle):
    bundle.process["cwd"] = "tmp"
    r = assert_fails(rt, bundle)
    if IS_CELLA:
        assert "cwd" in r.err


def test_nonexistent_executable(rt, bundle):
    bundle.args("/bin/no-such-program")
    r = assert_fails(rt, bundle)
    assert "no-such-program" in r.err


def test_executable_not_executable(rt, bundle):
    (bundle.rootfs / "bin" / "notexec").write_text("#!/bin/sh\necho hi\n")
    os.chmod(bundle.rootfs / "bin" / "notexec", 0o644)
    bundle.args("/bin/notexec")
    assert_fails(rt, bundle)


def test_executable_found_in_path(rt, bundle):
    bundle.process["env"] = ["PATH=/usr/local/bin:/bin"]
    bundle.args("cella-probe", "cwd")
    r = rt.run(bundle)
    assert r.ok, r
    assert r.json()["cwd"] == "/"


def test_wrong_type_for_uid(rt, bundle):
    bundle.process["user"] = {"uid": "root", "gid": 0}
    assert_fails(rt, bundle)


def test_unknown_rlimit(rt, bundle):
    bundle.process["rlimits"] = [{"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}]
    r = assert_fails(rt, bundle)
    assert "RLIMIT_BOGUS" in r.err


def test_rlimit_soft_above_hard(rt, bundle):
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 100, "soft": 200}]
    assert_fails(rt, bundle)


def test_unknown_capability(rt, bundle):
    # runc warns and ignores, cella refuses; both must name the capability
    bundle.process["capabilities"]["bounding"].append("CAP_BOGUS")
    bundle.probe_args("caps")
    r = rt.run(bundle)
    assert "CAP_BOGUS" in r.err, r
    if IS_CELLA:
        assert r.rc != 0
        assert rt("state", r.cid).rc != 0


def test_mount_without_destination(rt, bundle):
    bundle.config["mounts"].append({"type": "tmpfs", "source": "tmpfs"})
    assert_fails(rt, bundle)


def test_mount_relative_destination(rt, bundle):
    # runtime-spec 1.1 deprecates relative destinations; runc resolves them
    # against /, cella refuses them
    bundle.add_mount("relative/dir", "tmpfs", "tmpfs")
    bundle.probe_args("exit", "0")
    if IS_CELLA:
        assert_fails(rt, bundle, "relative/dir")
    else:
        assert rt.run(bundle).ok


def test_bind_mount_missing_source(rt, bundle):
    bundle.add_mount("/mnt/x", "bind", rt.base / "no-such-src", ["bind"])
    assert_fails(rt, bundle)


def test_unknown_filesystem_type(rt, bundle):
    bundle.add_mount("/mnt/x", "nosuchfs", "none")
    assert_fails(rt, bundle)


def test_mount_into_proc_refused(rt, bundle):
    # covering /proc files from config is a classic escape vector (runc
    # refuses destinations inside /proc other than its own proc mounts)
    src = rt.base / "fake"
    src.write_text("|/bin/sh")
    bundle.add_mount("/proc/sys/kernel/core_pattern", "bind", src, ["bind"])
    bundle.probe_args("read", "/proc/sys/kernel/core_pattern")
    r = rt.run(bundle)
    if r.ok:
        assert r.json()["data"] != "|/bin/sh", "a bind mount covered a /proc file"


def test_unknown_top_level_property_ignored(rt, bundle):
    bundle.config["x-cella-unknown"] = {"whatever": [1, 2]}
    bundle.linux["x-unknown-linux"] = True
    bundle.process["x-unknown-process"] = "ok"
    r = rt.run(bundle)
    assert r.ok, r


@pytest.mark.parametrize("escape_kind", ["absolute", "relative", "chained"])
def test_mount_target_symlink_escape(rt, bundle, escape_kind):
    hostdir = rt.base / "hostdir"
    hostdir.mkdir()
    (hostdir / "keep").write_text("host file")
    if escape_kind == "absolute":
        os.symlink(str(hostdir), bundle.rootfs / "escape")
    elif escape_kind == "relative":
        os.symlink("../" * 20 + str(hostdir).lstrip("/"), bundle.rootfs / "escape")
    else:
        os.symlink("/hop", bundle.rootfs / "escape")
        os.symlink("../../../../../../../.." + str(hostdir), bundle.rootfs / "hop")
    bundle.add_mount("/escape", "tmpfs", "tmpfs", ["size=1m"])
    bundle.args("/bin/sh", "-c", "echo pwned > /escape/owned; /bin/cella-probe ls /escape")
    r = rt.run(bundle)
    # either refused, or the mount landed inside the rootfs; never on the host
    before = sorted(os.listdir(hostdir))
    assert before == ["keep"], before
    assert (hostdir / "keep").read_text() == "host file"
    with open("/proc/self/mountinfo") as f:
        assert str(hostdir) not in f.read()
    if r.ok:
        assert r.json()["entries"] == ["owned"]


def test_bind_source_symlink_is_followed_on_host(rt, bundle):
    # sources are host paths: a symlink there is followed on the host side
    src = rt.base / "src"
    src.mkdir()
    (src / "f").write_text("data")
    os.symlink(src, rt.base / "srclink")
    bundle.add_mount("/mnt/b", "bind", rt.base / "srclink", ["bind", "ro"])
    d = rt.probe(bundle, "read", "/mnt/b/f")
    assert d["data"] == "data"


def test_rootfs_dotdot_in_destination(rt, bundle):
    hostdir = rt.base / "hostdir2"
    hostdir.mkdir()
    rel = "/../../../../../../.." + str(hostdir)
    bundle.add_mount(rel, "tmpfs", "tmpfs", ["size=1m"])
    bundle.probe_args("exit", "0")
    rt.run(bundle)
    assert os.listdir(hostdir) == []
    with open("/proc/self/mountinfo") as f:
        assert str(hostdir) not in f.read()


def test_seccomp_supported_or_refused(rt, bundle):
    # a seccomp profile is applied, never silently ignored
    bundle.linux["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"}],
    }
    r = rt.run(bundle)
    if r.ok:
        assert r.json()["seccomp"]["seccomp"] == 2
    else:
        assert "seccomp" in r.err


@pytest.mark.cella_only
def test_empty_hooks_object_accepted(rt, bundle):
    bundle.config["hooks"] = {}
    assert rt.run(bundle).ok


@pytest.mark.cella_only
def test_apparmor_refused(rt, bundle):
    bundle.process["apparmorProfile"] = "unconfined"
    assert_fails(rt, bundle, "apparmor")


@pytest.mark.cella_only
def test_selinux_refused(rt, bundle):
    bundle.process["selinuxLabel"] = "system_u:system_r:container_t:s0"
    assert_fails(rt, bundle, "selinux")


@pytest.mark.cella_only
def test_idmap_mount_refused(rt, bundle):
    src = rt.base / "src"
    src.mkdir()
    bundle.add_mount("/mnt/i", "bind", src, ["bind", "idmap"])
    assert_fails(rt, bundle, "idmap")


def test_user_ns_without_mappings(rt, bundle):
    bundle.set_namespace("user")
    bundle.linux.pop("uidMappings", None)
    bundle.linux.pop("gidMappings", None)
    assert_fails(rt, bundle)


def test_mappings_without_user_ns(rt, bundle):
    # meaningless without a user namespace: refused, or (runc) ignored, but
    # never half-applied
    bundle.linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.probe_args("ids")
    r = rt.run(bundle)
    if r.ok:
        d = r.json()
        assert d["uid_map"] == [[0, 0, 4294967295]]
        assert d["uid"] == 0


def test_hostname_without_uts_ns(rt, bundle):
    bundle.drop_namespace("uts")
    bundle.config["hostname"] = "nope"
    r = assert_fails(rt, bundle)
    if IS_CELLA:
        assert "hostname" in r.err


def test_sysctl_not_namespaced_fails(rt, bundle):
    bundle.linux["sysctl"] = {"kernel.panic": "1"}
    with open("/proc/sys/kernel/panic") as f:
        before = f.read()
    assert_fails(rt, bundle)
    with open("/proc/sys/kernel/panic") as f:
        assert f.read() == before


def test_bad_cgroups_path(rt, bundle):
    bundle.linux["cgroupsPath"] = "/../../../escape-" + rt.tag
    bundle.probe_args("cgroup")
    rt.extra_names.append(f"escape-{rt.tag}")   # the leak check looks for it
    r = rt.run(bundle)
    # runc cleans the path lexically (it stays under each hierarchy root);
    # refusing is fine too; nothing may appear outside the hierarchies
    assert not os.path.exists(f"/sys/fs/cgroup/escape-{rt.tag}")
    assert not os.path.exists(f"/sys/fs/escape-{rt.tag}")
    assert not os.path.exists(f"/sys/escape-{rt.tag}")
    assert not os.path.exists(f"/escape-{rt.tag}")
    if r.ok:
        for c in r.json():
            assert ".." not in c["path"]


def test_invalid_device_type(rt, bundle):
    bundle.linux["devices"] = [{"path": "/dev/weird", "type": "x", "major": 1, "minor": 3}]
    assert_fails(rt, bundle)


def test_config_error_leaves_no_partial_state(rt, bundle):
    # a failure late in container setup (exec of a missing binary) after
    # namespaces, mounts and cgroups exist
    bundle.linux.setdefault("resources", {})["pids"] = {"limit": 50}
    bundle.add_mount("/mnt/t", "tmpfs", "tmpfs", ["size=1m"])
    bundle.args("/does/not/exist")
    assert_fails(rt, bundle)


def test_mount_into_proc_through_symlink_refused(rt, bundle):
    # the same check must hold when the destination reaches /proc through a
    # symlink in the rootfs (resolved after /proc is mounted)
    os.symlink("/proc/sys/kernel", bundle.rootfs / "evil")
    src = rt.base / "fake"
    src.write_text("|/bin/sh")
    bundle.add_mount("/evil/core_pattern", "bind", src, ["bind"])
    bundle.probe_args("read", "/proc/sys/kernel/core_pattern")
    r = rt.run(bundle)
    if r.ok:
        assert r.json()["data"] != "|/bin/sh", "a bind mount covered a /proc file"


@pytest.mark.cella_only
@pytest.mark.parametrize("where,key,value,lsm", [
    ("process", "apparmorProfile", "cella-default", "AppArmor"),
    ("process", "selinuxLabel", "system_u:system_r:container_t:s0", "SELinux"),
    ("linux", "mountLabel", "system_u:object_r:container_file_t:s0", "SELinux"),
])
def test_lsm_label_refused_when_the_lsm_is_absent(rt, bundle, where, key, value, lsm):
    import os
    enabled = {"AppArmor": os.path.exists("/sys/module/apparmor/parameters/enabled")
               and open("/sys/module/apparmor/parameters/enabled").read().startswith("Y"),
               "SELinux": os.path.exists("/sys/fs/selinux/enforce")}
    if enabled[lsm]:
        pytest.skip(f"{lsm} is enabled here: the label would be applied")
    getattr(bundle, where)[key] = value
    bundle.probe_args("exit", "0")
    r = rt.run(bundle)
    assert not r.ok
    assert key in r.err and f"{lsm} is not enabled" in r.err, r


def test_empty_lsm_labels_accepted(rt, bundle):
    bundle.process["apparmorProfile"] = ""
    bundle.process["selinuxLabel"] = ""
    bundle.linux["mountLabel"] = ""
    bundle.probe_args("exit", "0")
    assert rt.run(bundle).ok
