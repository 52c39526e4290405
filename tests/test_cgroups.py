# SPDX-License-Identifier: LGPL-2.1-or-later
"""Control groups (hybrid host: v1 controllers + cgroup2 at unified/):
memory, pids, cpu, cpuset, blkio, devices, freezer, sysctl, cgroupsPath."""

import json
import os
import signal
import time

import pytest

from conftest import CGROUP_ROOT, cgroup_v1_path, cgroup_v2_path

V1 = (CGROUP_ROOT / "memory").is_dir() and not (CGROUP_ROOT / "cgroup.controllers").exists()
needs_v1 = pytest.mark.skipif(not V1, reason="needs cgroup v1 controllers")


def read(path):
    with open(path) as f:
        return f.read().strip()


def start_sleeper(rt, bundle, secs=60):
    bundle.probe_args("sleep", str(secs))
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    return r.cid, rt.state(r.cid)["pid"]


def resources(bundle):
    return bundle.linux.setdefault("resources", {})


# -- memory ----------------------------------------------------------------

@needs_v1
def test_memory_limit_written(rt, bundle):
    resources(bundle)["memory"] = {"limit": 64 << 20, "reservation": 32 << 20}
    cid, pid = start_sleeper(rt, bundle)
    mem = cgroup_v1_path(pid, "memory")
    assert int(read(mem / "memory.limit_in_bytes")) == 64 << 20
    assert int(read(mem / "memory.soft_limit_in_bytes")) == 32 << 20


@needs_v1
def test_memory_hog_is_oom_killed(rt, bundle):
    resources(bundle)["memory"] = {"limit": 32 << 20, "swap": 32 << 20}
    bundle.probe_args("alloc", "512")
    r = rt.run(bundle, timeout=60)
    # SIGKILL by the OOM killer; the runtime reports 128+9
    assert r.rc == 128 + signal.SIGKILL, r
    assert "allocated_mb" not in r.out
    # the host (this test process) is fine and can still allocate
    buf = bytearray(64 << 20)
    assert len(buf) == 64 << 20


@needs_v1
def test_memory_below_limit_ok(rt, bundle):
    resources(bundle)["memory"] = {"limit": 128 << 20}
    d = rt.probe(bundle, "alloc", "32")
    assert d == {"allocated_mb": 32, "ok": True}


@needs_v1
def test_memory_oom_visible_in_cgroup(rt, bundle):
    resources(bundle)["memory"] = {"limit": 32 << 20}
    bundle.args("/bin/sh", "-c", "/bin/cella-probe alloc 256; sleep 30")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    pid = rt.state(r.cid)["pid"]
    mem = cgroup_v1_path(pid, "memory")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        oc = dict(l.split() for l in read(mem / "memory.oom_control").splitlines())
        if int(oc.get("oom_kill", 0)) >= 1:
            break
        time.sleep(0.1)
    assert int(oc["oom_kill"]) >= 1
    assert int(read(mem / "memory.failcnt")) > 0
    # only the hog died: the shell (init) is alive
    assert rt.status(r.cid) == "running"


def test_memory_limit_invalid(rt, bundle):
    resources(bundle)["memory"] = {"limit": 64 << 20, "swap": 16 << 20}   # swap < limit
    bundle.probe_args("exit", "0")
    r = rt.run(bundle)
    assert r.rc != 0, r


# -- pids ------------------------------------------------------------------

@needs_v1
def test_pids_limit(rt, bundle):
    resources(bundle)["pids"] = {"limit": 20}
    d = rt.probe(bundle, "fork-bomb", "1000")
    assert d["errno"] == "EAGAIN", d
    assert d["capped"] is False
    assert 10 <= d["forked"] < 20


@needs_v1
def test_pids_limit_written(rt, bundle):
    resources(bundle)["pids"] = {"limit": 33}
    cid, pid = start_sleeper(rt, bundle)
    assert read(cgroup_v1_path(pid, "pids") / "pids.max") == "33"


def test_pids_unlimited(rt, bundle):
    resources(bundle)["pids"] = {"limit": -1}
    d = rt.probe(bundle, "fork-bomb", "50")
    assert d["forked"] == 50 and d["errno"] is None


# -- cpu -------------------------------------------------------------------

@needs_v1
def test_cpu_shares_quota_period(rt, bundle):
    resources(bundle)["cpu"] = {"shares": 512, "quota": 50000, "period": 100000}
    cid, pid = start_sleeper(rt, bundle)
    cpu = cgroup_v1_path(pid, "cpu")
    assert read(cpu / "cpu.shares") == "512"
    assert read(cpu / "cpu.cfs_quota_us") == "50000"
    assert read(cpu / "cpu.cfs_period_us") == "100000"


@needs_v1
def test_cpu_quota_unlimited(rt, bundle):
    resources(bundle)["cpu"] = {"quota": -1, "period": 250000}
    cid, pid = start_sleeper(rt, bundle)
    cpu = cgroup_v1_path(pid, "cpu")
    assert read(cpu / "cpu.cfs_quota_us") == "-1"
    assert read(cpu / "cpu.cfs_period_us") == "250000"


@needs_v1
def test_cpuset(rt, bundle):
    resources(bundle)["cpu"] = {"cpus": "0", "mems": "0"}
    bundle.args("/bin/sh", "-c", "grep -E '^(Cpus|Mems)_allowed_list' /proc/self/status")
    cid = rt.track(rt.new_id())
    r = rt.run(bundle, cid=cid)
    assert r.ok, r
    vals = dict(l.split(":\t") for l in r.out.splitlines())
    assert vals["Cpus_allowed_list"] == "0"
    assert vals["Mems_allowed_list"] == "0"


@needs_v1
def test_cpuset_written(rt, bundle):
    resources(bundle)["cpu"] = {"cpus": "0", "mems": "0"}
    cid, pid = start_sleeper(rt, bundle)
    cs = cgroup_v1_path(pid, "cpuset")
    assert read(cs / "cpuset.cpus") == "0"
    assert read(cs / "cpuset.mems") == "0"


def test_cpuset_invalid_cpu(rt, bundle):
    resources(bundle)["cpu"] = {"cpus": "4096"}
    bundle.probe_args("exit", "0")
    assert rt.run(bundle).rc != 0


# -- blkio -----------------------------------------------------------------

def _root_dev():
    st = os.stat("/")
    return os.major(st.st_dev), os.minor(st.st_dev)


@needs_v1
def test_blkio_throttle(rt, bundle):
    ma, mi = _root_dev()
    resources(bundle)["blockIO"] = {
        "throttleReadBpsDevice": [{"major": ma, "minor": mi, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": ma, "minor": mi, "rate": 300}],
    }
    cid, pid = start_sleeper(rt, bundle)
    blk = cgroup_v1_path(pid, "blkio")
    assert f"{ma}:{mi} 1048576" in read(blk / "blkio.throttle.read_bps_device")
    assert f"{ma}:{mi} 300" in read(blk / "blkio.throttle.write_iops_device")


@needs_v1
def test_blkio_weight(rt, bundle):
    resources(bundle)["blockIO"] = {"weight": 500}
    bundle.probe_args("sleep", "60")
    r = rt.run(bundle, detach=True)
    if not r.ok:
        # no weight file (no BFQ/CFQ): refusing is the honest answer
        assert "weight" in r.err, r
        return
    blk = cgroup_v1_path(rt.state(r.cid)["pid"], "blkio")
    files = [f for f in ("blkio.weight", "blkio.bfq.weight") if (blk / f).exists()]
    assert files, os.listdir(blk)
    assert read(blk / files[0]).split()[-1] == "500"


# -- devices ---------------------------------------------------------------

def _fuse_device(rt, bundle, *rules):
    """/mnt/devs/fuse: a c 10:229 node (the fuse device: not among the
    devices runtimes allow by default, and opening it has no effect) made
    on the host and bind-mounted in, so that only the cgroup rules decide
    (runtimes may add allow rules for linux.devices entries); `rules` are
    appended to the config's device rules."""
    devs = rt.base / "devs"
    devs.mkdir()
    os.mknod(devs / "fuse", 0o666 | 0o020000, os.makedev(10, 229))
    os.chmod(devs / "fuse", 0o666)
    bundle.add_mount("/mnt/devs", "bind", devs, ["bind"])
    resources(bundle).setdefault("devices", []).extend(rules)


def test_devices_not_allowed_by_default(rt, bundle):
    _fuse_device(rt, bundle)
    d = rt.probe(bundle, "open", "/mnt/devs/fuse")
    assert d["ok"] is False and d["errno"] == "EPERM", d


def test_devices_rule_allows_access(rt, bundle):
    _fuse_device(rt, bundle, {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "r"})
    bundle.args("/bin/sh", "-c", "/bin/cella-probe open /mnt/devs/fuse r;"
                " /bin/cella-probe open /mnt/devs/fuse w")
    r = rt.run(bundle)
    assert r.ok, r
    rd, wr = (json.loads(l) for l in r.out.splitlines())
    assert rd["ok"] is True, rd
    assert wr["ok"] is False and wr["errno"] == "EPERM", wr


def test_devices_later_rule_wins(rt, bundle):
    _fuse_device(rt, bundle,
                 {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
                 {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "r"})
    d = rt.probe(bundle, "open", "/mnt/devs/fuse", "r")
    assert d["ok"] is False and d["errno"] == "EPERM", d


def test_devices_wildcard_major_rule(rt, bundle):
    _fuse_device(rt, bundle, {"allow": True, "type": "c", "major": 10, "access": "r"})
    d = rt.probe(bundle, "open", "/mnt/devs/fuse", "r")
    assert d["ok"] is True, d


def test_devices_allow_all_rule(rt, bundle):
    _fuse_device(rt, bundle, {"allow": True, "access": "rwm"})
    d = rt.probe(bundle, "open", "/mnt/devs/fuse", "rw")
    assert d["ok"] is True, d


def test_linux_devices_node_usable(rt, bundle):
    # a linux.devices entry plus a matching allow rule: usable
    bundle.linux["devices"] = [{"path": "/dev/cella-fuse", "type": "c", "major": 10,
                                "minor": 229, "fileMode": 0o666}]
    resources(bundle).setdefault("devices", []).append(
        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"})
    d = rt.probe(bundle, "open", "/dev/cella-fuse", "rw")
    assert d["ok"] is True, d


@pytest.mark.cella_only  # runc appends its own allow rules for the default
                         # devices after the config's, so it cannot deny them
def test_devices_rule_denies_default_device(rt, bundle):
    res = resources(bundle)
    res.setdefault("devices", []).append(
        {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "rwm"})
    bundle.args("/bin/sh", "-c", "/bin/cella-probe open /dev/zero; /bin/cella-probe open /dev/null;"
                " /bin/cella-probe open /dev/urandom")
    r = rt.run(bundle)
    assert r.ok, r
    zero, null, urandom = (json.loads(l) for l in r.out.splitlines())
    assert zero["ok"] is False and zero["errno"] == "EPERM", zero
    assert null["ok"] is True
    assert urandom["ok"] is True


def test_devices_default_allowed(rt, bundle):
    paths = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
             "/dev/ptmx"]
    bundle.args("/bin/sh", "-c", "; ".join(f"/bin/cella-probe open {p} rw" for p in paths))
    r = rt.run(bundle)
    assert r.ok, r
    for p, line in zip(paths, r.out.splitlines()):
        d = json.loads(line)
        # /dev/tty has no controlling terminal here: ENXIO, not EPERM
        assert d["ok"] or (p == "/dev/tty" and d["errno"] == "ENXIO"), (p, d)


def test_devices_mknod_then_open_denied(rt, bundle):
    # runc allows mknod of any device ("m"), but opening it is denied
    caps = bundle.process["capabilities"]
    for s in ("bounding", "effective", "permitted"):
        caps[s].append("CAP_MKNOD")
    bundle.args("/bin/sh", "-c", "mknod /tmp/fuse c 10 229 && /bin/cella-probe open /tmp/fuse")
    r = rt.run(bundle)
    if r.ok:
        d = r.json()
        assert d["ok"] is False and d["errno"] == "EPERM", d


@needs_v1
def test_devices_list_v1(rt, bundle):
    cid, pid = start_sleeper(rt, bundle)
    lst = read(cgroup_v1_path(pid, "devices") / "devices.list").splitlines()
    assert "a *:* rwm" not in lst
    assert "c 1:3 rwm" in lst   # /dev/null


# -- freezer ---------------------------------------------------------------

def test_pause_resume(rt, bundle):
    bundle.args("/bin/sh", "-c",
                "i=0; while true; do i=$((i+1)); echo $i > /tmp/counter; sleep 0.02; done")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    counter = bundle.rootfs / "tmp" / "counter"
    deadline = time.monotonic() + 5
    while not counter.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = rt.state(r.cid)["pid"]

    p = rt("pause", r.cid)
    assert p.ok, p
    assert rt.status(r.cid) == "paused"
    if V1:
        assert read(cgroup_v1_path(pid, "freezer") / "freezer.state") == "FROZEN"
    time.sleep(0.1)
    frozen = counter.read_text()
    time.sleep(0.5)
    assert counter.read_text() == frozen, "processes kept running while paused"

    # pausing twice fails
    assert rt("pause", r.cid).rc != 0

    p = rt("resume", r.cid)
    assert p.ok, p
    assert rt.status(r.cid) == "running"
    time.sleep(0.5)
    assert counter.read_text() != frozen
    assert rt("resume", r.cid).rc != 0


def test_pause_created_container(rt, bundle):
    # refused, or (runc) frozen and thawed back to "created"
    bundle.probe_args("sleep", "30")
    r = rt.create(bundle)
    assert r.ok, r
    if rt("pause", r.cid).rc != 0:
        assert rt.status(r.cid) == "created"
        return
    assert rt.status(r.cid) == "paused"
    assert rt("resume", r.cid).ok
    assert rt.status(r.cid) == "created"


def test_pause_stopped_fails(rt, bundle):
    bundle.probe_args("exit", "0")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    rt.wait_status(r.cid, "stopped")
    assert rt("pause", r.cid).rc != 0
    assert rt("resume", r.cid).rc != 0


def test_kill_paused_container(rt, bundle):
    cid, pid = start_sleeper(rt, bundle)
    assert rt("pause", cid).ok
    assert rt.kill(cid, "KILL").ok
    # SIGKILL is delivered once thawed (runc leaves it frozen until resume or delete)
    d = rt.delete(cid, force=True)
    assert d.ok, d


def test_pause_unknown_container(rt):
    assert rt("pause", "nope-" + rt.tag).rc != 0
    assert rt("resume", "nope-" + rt.tag).rc != 0


# -- sysctl ----------------------------------------------------------------

def test_sysctl_net_in_container_netns(rt, bundle):
    bundle.linux["sysctl"] = {"net.ipv4.ip_forward": "1", "net.ipv4.ping_group_range": "0 0"}
    host_before = read("/proc/sys/net/ipv4/ip_forward")
    d = rt.probe(bundle, "sysctl", "net.ipv4.ip_forward", "net.ipv4.ping_group_range")
    assert d["net.ipv4.ip_forward"]["value"] == "1"
    assert d["net.ipv4.ping_group_range"]["value"].split() == ["0", "0"]
    assert read("/proc/sys/net/ipv4/ip_forward") == host_before


def test_sysctl_ipc(rt, bundle):
    bundle.linux["sysctl"] = {"kernel.msgmax": "4096"}
    host = read("/proc/sys/kernel/msgmax")
    d = rt.probe(bundle, "sysctl", "kernel.msgmax")
    assert d["kernel.msgmax"]["value"] == "4096"
    assert read("/proc/sys/kernel/msgmax") == host


def test_sysctl_non_namespaced_fails(rt, bundle):
    bundle.linux["sysctl"] = {"vm.swappiness": "7"}
    before = read("/proc/sys/vm/swappiness")
    bundle.probe_args("exit", "0")
    r = rt.run(bundle)
    assert r.rc != 0, r
    assert read("/proc/sys/vm/swappiness") == before


def test_sysctl_unknown_key_fails(rt, bundle):
    bundle.linux["sysctl"] = {"net.ipv4.no_such_knob": "1"}
    bundle.probe_args("exit", "0")
    assert rt.run(bundle).rc != 0


def test_sysctl_path_traversal_refused(rt, bundle):
    bundle.linux["sysctl"] = {"net/../../../../proc/sys/vm/swappiness": "7"}
    before = read("/proc/sys/vm/swappiness")
    bundle.probe_args("exit", "0")
    rt.run(bundle)
    assert read("/proc/sys/vm/swappiness") == before


# -- cgroupsPath -----------------------------------------------------------

def remove_parent_cgroups(rt, name):
    """Runtimes remove the container's own cgroup, not the parents they
    created on the way (they may be shared): the test removes those."""
    def rm():
        for hier in CGROUP_ROOT.iterdir():
            p = hier / name
            if p.is_dir():
                try:
                    p.rmdir()
                except OSError:
                    pass
    rt.on_cleanup.append(rm)


def test_cgroups_path_absolute(rt, bundle):
    parent = f"cella-parent-{rt.tag}"
    name = f"cella-abs-{rt.tag}"
    rt.extra_names.append(name)
    remove_parent_cgroups(rt, parent)
    bundle.linux["cgroupsPath"] = f"/{parent}/{name}"
    cid, pid = start_sleeper(rt, bundle)
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().splitlines()
    for line in lines:
        hid, ctrls, path = line.split(":", 2)
        assert path.endswith(f"/{parent}/{name}"), line
    if V1:
        assert (CGROUP_ROOT / "pids" / parent / name).is_dir()
        assert cgroup_v1_path(pid, "pids") == CGROUP_ROOT / "pids" / parent / name
    assert cgroup_v2_path(pid).name == name


def test_cgroups_path_relative(rt, bundle):
    name = f"cella-rel-{rt.tag}"
    rt.extra_names.append(name)
    bundle.linux["cgroupsPath"] = name
    cid, pid = start_sleeper(rt, bundle)
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f.read().splitlines():
            assert line.endswith(f"/{name}"), line


def test_cgroups_path_shown_inside(rt, bundle):
    name = f"cella-in-{rt.tag}"
    rt.extra_names.append(name)
    bundle.linux["cgroupsPath"] = f"/{name}"
    bundle.drop_namespace("cgroup")
    d = rt.probe(bundle, "cgroup")
    pids = [c for c in d if c["controllers"] == "pids"]
    if pids:
        assert pids[0]["path"] == f"/{name}"


def test_cgroup_removed_after_delete(rt, bundle):
    name = f"cella-rm-{rt.tag}"
    rt.extra_names.append(name)
    bundle.linux["cgroupsPath"] = f"/{name}"
    cid, pid = start_sleeper(rt, bundle)
    from conftest import cgroup_dirs_named
    assert cgroup_dirs_named([name])
    assert rt.delete(cid, force=True).ok
    deadline = time.monotonic() + 3
    while cgroup_dirs_named([name]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cgroup_dirs_named([name]) == []


def test_all_container_processes_in_cgroup(rt, bundle):
    bundle.args("/bin/sh", "-c", "/bin/cella-probe sleep 30 & /bin/cella-probe sleep 30 & wait")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    rt.wait_pids(r.cid, 3)
    pid = rt.state(r.cid)["pid"]
    pids_dir = cgroup_v1_path(pid, "pids") if V1 else cgroup_v2_path(pid)
    procs = set(map(int, read(pids_dir / "cgroup.procs").split()))
    ps = set(rt("ps", "-f", "json", r.cid).json_all())
    assert procs == ps and len(procs) == 3


def test_sysctl_invalid_value_fails(rt, bundle):
    bundle.linux["sysctl"] = {"net.ipv4.ip_forward": "not-a-number"}
    bundle.probe_args("exit", "0")
    assert rt.run(bundle).rc != 0


@needs_v1
def test_memory_swap_unlimited(rt, bundle):
    resources(bundle)["memory"] = {"limit": 64 << 20, "swap": -1}
    cid, pid = start_sleeper(rt, bundle)
    mem = cgroup_v1_path(pid, "memory")
    assert int(read(mem / "memory.limit_in_bytes")) == 64 << 20
    if (mem / "memory.memsw.limit_in_bytes").exists():
        assert int(read(mem / "memory.memsw.limit_in_bytes")) >= 1 << 62


def test_hugepage_limit_without_controller(rt, bundle):
    # this host has no hugetlb hierarchy: the limit must be applied or
    # refused with an error naming it, never silently dropped
    if (CGROUP_ROOT / "hugetlb").is_dir():
        pytest.skip("host has a hugetlb controller")
    resources(bundle)["hugepageLimits"] = [{"pageSize": "2MB", "limit": 4 << 20}]
    bundle.probe_args("exit", "0")
    r = rt.run(bundle)
    assert r.rc != 0, "hugepageLimits silently ignored without a hugetlb controller"
    assert "huge" in r.err.lower(), r


def test_sysctl_ipc_without_ipc_namespace_fails(rt, bundle):
    bundle.drop_namespace("ipc")
    bundle.linux["sysctl"] = {"kernel.msgmax": "4096"}
    before = read("/proc/sys/kernel/msgmax")
    bundle.probe_args("exit", "0")
    r = rt.run(bundle)
    assert r.rc != 0, r
    assert read("/proc/sys/kernel/msgmax") == before


@needs_v1
def test_state_paused_is_derived_from_freezer(rt, bundle):
    # freezing the cgroup behind the runtime's back shows as "paused"
    cid, pid = start_sleeper(rt, bundle)
    fz = cgroup_v1_path(pid, "freezer") / "freezer.state"
    with open(fz, "w") as f:
        f.write("FROZEN")
    try:
        deadline = time.monotonic() + 5
        while read(fz) != "FROZEN" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rt.status(cid) == "paused"
    finally:
        with open(fz, "w") as f:
            f.write("THAWED")
    assert rt.status(cid) == "running"
