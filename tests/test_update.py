# SPDX-License-Identifier: LGPL-2.1-or-later
"""`update`: new resource limits for a running container, from runc's flags
or a linux.resources object (--resources FILE or -), seen in its cgroup."""

import json
import subprocess

import pytest

from conftest import CGROUP_ROOT, cgroup_v1_path, cgroup_v2_path

UNIFIED = (CGROUP_ROOT / "cgroup.controllers").exists()


def cgfile(pid, controller, name):
    """The value of a cgroup file of `pid` (v1 name; v2 mapped for the few used here)."""
    if UNIFIED:
        v2 = {"memory.limit_in_bytes": "memory.max", "pids.max": "pids.max",
              "cpu.cfs_quota_us": "cpu.max", "cpuset.cpus": "cpuset.cpus",
              "memory.memsw.limit_in_bytes": "memory.swap.max"}[name]
        return (cgroup_v2_path(pid) / v2).read_text().strip()
    return (cgroup_v1_path(pid, controller) / name).read_text().strip()


@pytest.fixture
def running(rt, bundle):
    bundle.args("/bin/sleep", "600")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    return r.cid


def pid_of(rt, cid):
    return rt.state(cid)["pid"]


def test_update_memory_flag(rt, running):
    r = rt("update", "--memory", "64m", running)
    assert r.ok, r
    v = cgfile(pid_of(rt, running), "memory", "memory.limit_in_bytes")
    assert v == str(64 << 20), v
    r = rt("update", "--memory", str(100 << 20), running)
    assert r.ok, r
    assert cgfile(pid_of(rt, running), "memory", "memory.limit_in_bytes") == str(100 << 20)


def test_update_pids_and_cpu_flags(rt, running):
    r = rt("update", "--pids-limit", "42", "--cpu-period", "100000", "--cpu-quota", "50000",
           running)
    assert r.ok, r
    pid = pid_of(rt, running)
    assert cgfile(pid, "pids", "pids.max") == "42"
    q = cgfile(pid, "cpu", "cpu.cfs_quota_us")
    assert q in ("50000", "50000 100000"), q


def test_update_cpuset(rt, running):
    r = rt("update", "--cpuset-cpus", "0", running)
    assert r.ok, r
    assert cgfile(pid_of(rt, running), "cpuset", "cpuset.cpus") == "0"


def test_update_resources_file(rt, running, tmp_path):
    f = tmp_path / "resources.json"
    f.write_text(json.dumps({"memory": {"limit": 32 << 20}, "pids": {"limit": 17}}))
    r = rt("update", "--resources", f, running)
    assert r.ok, r
    pid = pid_of(rt, running)
    assert cgfile(pid, "memory", "memory.limit_in_bytes") == str(32 << 20)
    assert cgfile(pid, "pids", "pids.max") == "17"


def test_update_resources_stdin(rt, running, tmp_path):
    f = tmp_path / "resources.json"
    f.write_text(json.dumps({"pids": {"limit": 23}}))
    with open(f) as stdin:
        r = rt("update", "--resources", "-", running, stdin=stdin)
    assert r.ok, r
    assert cgfile(pid_of(rt, running), "pids", "pids.max") == "23"


def test_update_limits_take_effect(rt, running):
    """The new pids limit is enforced inside the container."""
    assert rt("update", "--pids-limit", "3", running).ok
    # (the shell gives up at the first fork the limit refuses)
    rt("exec", running, "/bin/sh", "-c", "for i in 1 2 3 4 5; do sleep 5 & done 2>/dev/null")
    # the init, the shell and at most one sleep: forks beyond the limit failed
    assert len(rt.pids(running)) <= 3


def test_update_stopped_container_fails(rt, bundle):
    bundle.args("/bin/true")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    rt.wait_status(r.cid, "stopped")
    r = rt("update", "--memory", "64m", r.cid)
    assert r.rc != 0, r


def test_update_missing_container_fails(rt):
    r = rt("update", "--memory", "64m", rt.track(rt.new_id()))
    assert r.rc != 0, r


@pytest.mark.cella_only
def test_update_bad_values(rt, running, tmp_path):
    r = rt("update", "--memory", "lots", running)
    assert r.rc != 0 and "--memory" in r.err, r
    r = rt("update", "--blkio-weight", "5000", running)
    assert r.rc != 0 and "--blkio-weight" in r.err, r
    f = tmp_path / "bad.json"
    f.write_text('{"memory": {"limit": "big"}}')
    r = rt("update", "--resources", f, running)
    assert r.rc != 0 and "memory" in r.err, r
    r = rt("update", "--resources", f, "--memory", "1g", running)
    assert r.rc != 0 and "not both" in r.err, r
