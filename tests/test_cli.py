# SPDX-License-Identifier: LGPL-2.1-or-later
"""The runc-compatible command line: global flags, list, ps, features, spec."""

import json
import os
import re

import pytest

from conftest import REPO, wait_for

COMMANDS = ("create", "start", "state", "kill", "delete", "run", "list", "ps",
            "spec", "features", "pause", "resume")


def project_version():
    m = re.search(r"version:\s*'([^']+)'", (REPO / "meson.build").read_text())
    return m.group(1)


def test_version(rt):
    for flag in ("--version", "-v"):
        r = rt(flag, global_args=[])
        assert r.ok, r
        first = r.out.splitlines()[0]
        assert "version" in first, r
        assert re.search(r"spec: \d+\.\d+\.\d+", r.out), r


@pytest.mark.cella_only
def test_version_names_cella(rt):
    r = rt("--version", global_args=[])
    assert r.out.startswith("cella-runtime version " + project_version()), r


def test_help_lists_commands(rt):
    for flag in ("--help", "-h"):
        r = rt(flag, global_args=[])
        assert r.ok, r
        for c in COMMANDS:
            assert re.search(rf"^\s+{c}\b", r.out, re.M), f"{c} missing from help: {r}"
        for g in ("--root", "--log", "--log-format", "--systemd-cgroup", "--debug"):
            assert g in r.out, f"{g} missing from help"


@pytest.mark.cella_only
def test_help_fits_a_screen(rt):
    r = rt("--help", global_args=[])
    assert len(r.out.splitlines()) <= 50


@pytest.mark.parametrize("cmd", COMMANDS)
def test_command_help(rt, cmd):
    r = rt(cmd, "--help")
    assert r.ok, r
    assert cmd in r.out


def test_no_command_shows_usage(rt):
    r = rt(global_args=[])
    # runc prints the help and exits 0; anything but a crash is acceptable,
    # as long as the usage is shown
    assert r.rc in (0, 1, 2), r
    assert "create" in r.out + r.err


def test_unknown_command(rt):
    r = rt("frobnicate")
    assert r.rc != 0, r
    assert "frobnicate" in r.err, r


def test_unknown_global_flag(rt):
    r = rt("--frobnicate", "list")
    assert r.rc != 0, r
    assert "frobnicate" in r.err, r


def test_unknown_command_flag(rt):
    r = rt("list", "--frobnicate")
    assert r.rc != 0, r
    assert "frobnicate" in r.err, r


def test_missing_flag_value(rt):
    r = rt("create", "--bundle")
    assert r.rc != 0, r


def test_state_requires_one_id(rt):
    assert rt("state").rc != 0


def test_list_empty(rt):
    r = rt("list")
    assert r.ok, r
    lines = r.out.splitlines()
    assert lines[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert len(lines) == 1
    r = rt("list", "--format", "json")
    assert r.ok, r
    assert r.json_all() in (None, [])
    r = rt("list", "-q")
    assert r.ok and r.out.strip() == "", r


def test_list_table_json_quiet(rt, bundle, make_bundle):
    bundle.probe_args("sleep", "30")
    a = rt.create(bundle)
    assert a.ok, a
    b2 = make_bundle()
    b2.probe_args("sleep", "30")
    b = rt.run(b2, detach=True)
    assert b.ok, b

    r = rt("list")
    assert r.ok, r
    lines = r.out.splitlines()
    assert lines[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    rows = {l.split()[0]: l.split() for l in lines[1:]}
    assert set(rows) == {a.cid, b.cid}
    assert rows[a.cid][2] == "created"
    assert rows[b.cid][2] == "running"
    assert int(rows[b.cid][1]) == rt.state(b.cid)["pid"]
    assert rows[b.cid][3] == str(b2.path)

    r = rt("list", "-q")
    assert r.ok, r
    assert sorted(r.out.split()) == sorted([a.cid, b.cid])

    for fmt in (["--format", "json"], ["-f", "json"]):
        r = rt("list", *fmt)
        assert r.ok, r
        items = {c["id"]: c for c in r.json_all()}
        assert set(items) == {a.cid, b.cid}
        for cid, c in items.items():
            for key in ("pid", "status", "bundle", "rootfs", "created", "owner"):
                assert key in c, (key, c)
        assert items[b.cid]["pid"] == rt.state(b.cid)["pid"]
        assert items[a.cid]["status"] == "created"


def test_list_bad_format(rt):
    r = rt("list", "--format", "yaml-ish")
    assert r.rc != 0, r


def test_ps_table_and_json(rt, bundle):
    bundle.args("/bin/sh", "-c", "/bin/cella-probe sleep 30 & exec /bin/cella-probe sleep 31")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    def all_probes():
        pids = rt.pids(r.cid)
        try:
            return len(pids) == 2 and all(
                b"cella-probe" in open(f"/proc/{p}/cmdline", "rb").read() for p in pids)
        except OSError:
            return False
    assert wait_for(all_probes)
    init = rt.state(r.cid)["pid"]

    ps = rt("ps", "--format", "json", r.cid)
    assert ps.ok, ps
    pids = ps.json_all()
    assert isinstance(pids, list)
    assert init in pids
    assert len(pids) == 2
    for p in pids:
        with open(f"/proc/{p}/cmdline", "rb") as f:
            assert b"cella-probe" in f.read()

    ps = rt("ps", r.cid)
    assert ps.ok, ps
    lines = ps.out.splitlines()
    assert "PID" in lines[0].split()
    assert "CMD" in lines[0].split() or "COMMAND" in lines[0].split()
    col = lines[0].split().index("PID")
    shown = sorted(int(l.split()[col]) for l in lines[1:])
    assert shown == sorted(pids)


def test_ps_created_container_shows_init(rt, bundle):
    bundle.probe_args("sleep", "30")
    r = rt.create(bundle)
    assert r.ok, r
    ps = rt("ps", "-f", "json", r.cid)
    assert ps.ok, ps
    assert ps.json_all() == [rt.state(r.cid)["pid"]]


def test_ps_unknown_container(rt):
    assert rt("ps", "nope-" + rt.tag).rc != 0


def test_features(rt):
    r = rt("features")
    assert r.ok, r
    f = r.json_all()
    for key in ("ociVersionMin", "ociVersionMax", "mountOptions", "linux"):
        assert key in f, key
    assert re.match(r"^1\.\d+\.\d+", f["ociVersionMin"])
    assert re.match(r"^1\.\d+\.\d+", f["ociVersionMax"])
    for opt in ("bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec", "rprivate",
                "rshared", "rslave", "private", "shared", "slave"):
        assert opt in f["mountOptions"], opt
    linux = f["linux"]
    for ns in ("cgroup", "ipc", "mount", "network", "pid", "user", "uts"):
        assert ns in linux["namespaces"], ns
    for cap in ("CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_KILL"):
        assert cap in linux["capabilities"], cap
    assert linux["cgroup"]["v1"] is True
    assert linux["cgroup"]["v2"] is True


@pytest.mark.cella_only
def test_features_does_not_advertise_refused_features(rt):
    f = rt("features").json_all()
    # hooks are refused by the engine: features must say so; seccomp works
    assert not f.get("hooks")
    sc = f["linux"]["seccomp"]
    assert sc["enabled"] is True
    assert "SCMP_ACT_NOTIFY" in sc["actions"] and "SCMP_CMP_MASKED_EQ" in sc["operators"]
    assert "SCMP_ARCH_X86_64" in sc["archs"]
    assert "time" in f["linux"]["namespaces"]


def test_spec_default(rt):
    d = rt.base / "spec1"
    d.mkdir()
    r = rt("spec", cwd=d)
    assert r.ok, r
    c = json.loads((d / "config.json").read_text())
    assert c["ociVersion"].startswith("1.")
    assert c["root"]["path"] == "rootfs"
    assert c["process"]["args"]
    assert c["process"]["cwd"] == "/"
    assert c["process"]["user"] == {"uid": 0, "gid": 0}
    types = [n["type"] for n in c["linux"]["namespaces"]]
    for ns in ("pid", "network", "ipc", "uts", "mount"):
        assert ns in types, ns
    assert "user" not in types
    dests = [m["destination"] for m in c["mounts"]]
    for m in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"):
        assert m in dests, m
    assert c["linux"]["maskedPaths"]
    assert c["linux"]["readonlyPaths"]
    caps = c["process"]["capabilities"]
    assert "CAP_KILL" in caps["bounding"]
    assert "CAP_SYS_ADMIN" not in caps["bounding"]
    # indented JSON, as runc writes it
    assert (d / "config.json").read_text().startswith("{\n")


def test_spec_bundle_flag(rt):
    d = rt.base / "spec2"
    d.mkdir()
    r = rt("spec", "--bundle", d)
    assert r.ok, r
    assert (d / "config.json").exists()


def test_spec_rootless(rt):
    d = rt.base / "spec3"
    d.mkdir()
    r = rt("spec", "--rootless", cwd=d)
    assert r.ok, r
    c = json.loads((d / "config.json").read_text())
    types = [n["type"] for n in c["linux"]["namespaces"]]
    assert "user" in types
    assert "network" not in types
    uid = os.getuid()
    gid = os.getgid()
    assert c["linux"]["uidMappings"] == [{"containerID": 0, "hostID": uid, "size": 1}]
    assert c["linux"]["gidMappings"] == [{"containerID": 0, "hostID": gid, "size": 1}]
    assert "resources" not in c["linux"] or "devices" not in c["linux"]["resources"]
    # bind-mounted /sys since a rootless user cannot mount sysfs
    sysm = [m for m in c["mounts"] if m["destination"] == "/sys"][0]
    assert "rbind" in sysm.get("options", []) or sysm.get("type") == "none"


def test_spec_refuses_to_overwrite(rt):
    d = rt.base / "spec4"
    d.mkdir()
    (d / "config.json").write_text("precious")
    for extra in ([], ["--rootless"]):
        r = rt("spec", *extra, cwd=d)
        assert r.rc != 0, r
        assert "config.json" in r.err, r
        assert (d / "config.json").read_text() == "precious"


def test_spec_output_runs(rt, bundle):
    # the generated spec (with the probe as process) runs unchanged but for
    # terminal=false (set by the fixture)
    d = rt.probe(bundle, "ids")
    assert d["uid"] == 0


def test_log_file_json_records_error(rt):
    log = rt.base / "runtime.log"
    r = rt("--log", log, "--log-format", "json", "state", "absent-" + rt.tag,
           global_args=["--root", str(rt.root)])
    assert r.rc != 0
    lines = [l for l in log.read_text().splitlines() if l.strip()]
    assert lines, "nothing logged"
    recs = [json.loads(l) for l in lines]
    errs = [x for x in recs if x.get("level") == "error"]
    assert errs, recs
    assert all("msg" in x and "time" in x for x in errs)


def test_log_file_text(rt):
    log = rt.base / "runtime.log"
    r = rt("--log", log, "state", "absent-" + rt.tag, global_args=["--root", str(rt.root)])
    assert r.rc != 0
    text = log.read_text()
    assert "level=error" in text
    assert "msg=" in text


def test_log_format_invalid(rt):
    r = rt("--log-format", "xml", "list", global_args=["--root", str(rt.root)])
    assert r.rc != 0


def test_root_honoured(rt, bundle):
    other = rt.base / "other-root"
    bundle.probe_args("sleep", "30")
    bundle.write()
    cid = rt.track(rt.new_id())
    r = rt("create", "--bundle", bundle.path, cid, global_args=["--root", str(other)],
           stdout=open(os.devnull, "wb"), stderr=open(os.devnull, "wb"))
    try:
        assert r.ok, r
        assert (other / cid).is_dir()
        assert not (rt.root / cid).exists()
        # invisible under the default test root
        assert rt("state", cid).rc != 0
        st = rt("state", cid, global_args=["--root", str(other)])
        assert st.ok and st.json_all()["status"] == "created"
        lst = rt("list", "-q", global_args=["--root", str(other)])
        assert lst.out.split() == [cid]
    finally:
        d = rt("delete", "--force", cid, global_args=["--root", str(other)])
    assert d.ok, d
    assert not (other / cid).exists()


def test_systemd_cgroup_flag_parsed(rt):
    r = rt("--systemd-cgroup", "list")
    assert r.ok, r


@pytest.mark.cella_only
def test_systemd_cgroup_flag_accepted_for_run(rt, bundle):
    bundle.probe_args("exit", "0")
    bundle.write()
    cid = rt.track(rt.new_id())
    r = rt("--systemd-cgroup", "run", "--bundle", bundle.path, cid,
           global_args=["--root", str(rt.root)])
    assert r.ok, r


def test_debug_flag_accepted(rt, bundle):
    bundle.probe_args("exit", "0")
    bundle.write()
    cid = rt.track(rt.new_id())
    r = rt("--debug", "run", "--bundle", bundle.path, cid,
           global_args=["--root", str(rt.root)])
    assert r.ok, r


def test_bundle_defaults_to_cwd(rt, bundle):
    bundle.probe_args("exit", "3")
    bundle.write()
    cid = rt.track(rt.new_id())
    r = rt("run", cid, cwd=bundle.path)
    assert r.rc == 3, r


def test_bundle_short_flag(rt, bundle):
    bundle.probe_args("exit", "4")
    bundle.write()
    cid = rt.track(rt.new_id())
    r = rt("run", "-b", bundle.path, cid)
    assert r.rc == 4, r


def test_error_messages_go_to_stderr(rt):
    r = rt("state", "absent-" + rt.tag)
    assert r.rc != 0
    assert r.out == ""
    assert r.err.strip()


@pytest.mark.cella_only
def test_error_wording_names_container(rt):
    r = rt("state", "absent-" + rt.tag)
    assert "absent-" + rt.tag in r.err
    assert "does not exist" in r.err or "not found" in r.err


def test_root_dir_not_world_accessible(rt, bundle):
    bundle.probe_args("sleep", "30")
    r = rt.create(bundle)
    assert r.ok, r
    st = os.stat(rt.root / r.cid)
    # container state (pids, bundle paths) is for root only
    assert st.st_mode & 0o022 == 0, oct(st.st_mode)


def test_spec_rootless_runs(rt, bundle):
    (bundle.path / "config.json").unlink()
    r = rt("spec", "--rootless", cwd=bundle.path)
    assert r.ok, r
    c = json.loads((bundle.path / "config.json").read_text())
    c["process"]["terminal"] = False
    c["process"]["args"] = ["/bin/cella-probe", "ids"]
    bundle.config = c
    os.chmod(bundle.rootfs, 0o755)
    r = rt.run(bundle)
    assert r.ok, r
    d = r.json()
    assert d["uid_map"] == [[0, os.getuid(), 1]]
    assert d["uid"] == 0


def test_spec_unmodified_runs(rt, bundle):
    # the runtime's own default spec (read-only root, masked and read-only
    # paths, its default mounts and capabilities) runs the probe as it is
    (bundle.path / "config.json").unlink()
    assert rt("spec", cwd=bundle.path).ok
    c = json.loads((bundle.path / "config.json").read_text())
    c["process"]["terminal"] = False
    c["process"]["args"] = ["/bin/cella-probe", "all"]
    bundle.config = c
    r = rt.run(bundle)
    assert r.ok, r
    d = r.json()
    assert d["pid"]["pid"] == 1
    mounts = {m["mount_point"]: m for m in d["mounts"]}
    assert "ro" in mounts["/"]["options"]
    assert mounts["/proc/sys"]["options"][0] == "ro"


def test_ps_passes_ps_options(rt, bundle):
    # `ps ID [ps options]`: the options go to ps(1), as with runc
    bundle.probe_args("sleep", "30")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    ps = rt("ps", r.cid, "-o", "pid,comm")
    assert ps.ok, ps
    lines = ps.out.splitlines()
    assert lines[0].split() == ["PID", "COMMAND"], ps
    assert lines[1].split() == [str(rt.state(r.cid)["pid"]), "cella-probe"], ps
