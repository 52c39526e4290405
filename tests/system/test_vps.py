# SPDX-License-Identifier: LGPL-2.1-or-later
"""VPS instances end to end: cellad, cella-monitor and the engine on a real
host.  Each test builds the minimal image on its own private host (well
under a second) and launches what it needs; the `host` fixture deletes
everything afterwards and fails the test on anything left behind."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import wait_for


def ok(r, status=200):
    assert r.status == status, r
    return r.json().get("metadata")


def op(h, r):
    """Wait for an async answer; returns the finished operation."""
    o = h.wait_op(r)
    assert o["status"] == "Success", o
    return o


def op_fails(h, r):
    if r.status >= 400:
        return r.json()["error"]
    o = h.wait_op(r)
    assert o["status"] == "Failure", o
    return o["err"]


@pytest.fixture
def image(host):
    r = host.api("POST", "/1.0/images", {"source": {"type": "build", "name": "minimal"}})
    op(host, r)
    return "minimal"


def launch(h, name, config=None, start=True, profiles=None):
    body = {"name": name, "type": "vps", "source": {"type": "image", "alias": "minimal"},
            "config": config or {}}
    if profiles is not None:
        body["profiles"] = profiles
    op(h, h.api("POST", "/1.0/instances", body))
    if start:
        op(h, h.api("PUT", f"/1.0/instances/{name}/state", {"action": "start"}))


def state(h, name):
    return ok(h.api("GET", f"/1.0/instances/{name}/state"))


def status(h, name):
    return state(h, name)["status"]


def run(h, name, *cmd, check=True):
    p = h.cli("exec", name, "--", *cmd)
    if check:
        assert p.returncode == 0, (cmd, p.stdout, p.stderr)
    return p


def wait_booted(h, name):
    # the minimal image's rcS writes /run/cella-booted when its services run
    assert wait_for(lambda: run(h, name, "test", "-e", "/run/cella-booted", check=False).returncode == 0,
                    timeout=15), h.cli("console", name, "--show-log").stdout


# ---------------------------------------------------------------------------
# lifecycle


def test_launch_exec_stop_delete(host, image):
    launch(host, "c1")
    assert status(host, "c1") == "Running"
    p = run(host, "c1", "sh", "-c", "echo hello from $(hostname); id -u")
    assert p.stdout.split() == ["hello", "from", "c1", "0"]
    # the exit code passes through
    assert run(host, "c1", "sh", "-c", "exit 7", check=False).returncode == 7
    op(host, host.api("PUT", "/1.0/instances/c1/state", {"action": "stop", "timeout": 20}))
    assert status(host, "c1") == "Stopped"
    st = state(host, "c1")
    assert st["stop_reason"] == "stopped", st
    op(host, host.api("DELETE", "/1.0/instances/c1"))
    assert host.api("GET", "/1.0/instances/c1").status == 404
    assert not (host.var / "instances" / "c1").exists()


def test_init_is_pid1_and_boots_its_services(host, image):
    launch(host, "c1")
    wait_booted(host, "c1")
    ps = run(host, "c1", "ps", "-o", "pid,comm").stdout
    assert any(line.split() == ["1", "init"] for line in ps.splitlines()), ps
    assert "httpd" in ps and "syslogd" in ps, ps


def test_root_inside_is_unprivileged_outside(host, image):
    launch(host, "c1")
    launch(host, "c2")
    pids = [state(host, n)["pid"] for n in ("c1", "c2")]
    uids = []
    for pid in pids:
        status_lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        uid = int(next(l for l in status_lines if l.startswith("Uid:")).split()[1])
        uids.append(uid)
        assert uid >= 100000, uid
        # its own user namespace, mapping 65536 ids
        m = Path(f"/proc/{pid}/uid_map").read_text().split()
        assert m[0] == "0" and int(m[1]) == uid and m[2] == "65536", m
    # isolated ranges: no overlap between the two
    assert abs(uids[0] - uids[1]) >= 65536, uids
    # a user made inside is its own, within its range
    run(host, "c1", "sh", "-c", "echo 'alice:x:1000:1000::/tmp:/bin/sh' >> /etc/passwd")
    assert run(host, "c1", "su", "alice", "-c", "id -u").stdout.strip() == "1000"
    # and its processes are the VPS's id 1000, i.e. base + 1000 on the host
    # detached from our pipes, or the exec would wait for it
    run(host, "c1", "su", "alice", "-c", "sleep 60 </dev/null >/dev/null 2>&1 &")
    def find_sleeper():
        for p in os.listdir("/proc"):
            try:
                if (p.isdigit() and Path(f"/proc/{p}/cmdline").read_bytes().startswith(b"sleep\x0060")
                        and os.readlink(f"/proc/{p}/ns/pid") == os.readlink(f"/proc/{pids[0]}/ns/pid")):
                    return int(p)
            except OSError:
                pass
        return None
    sleeper = wait_for(find_sleeper, timeout=5)
    assert sleeper
    line = next(l for l in Path(f"/proc/{sleeper}/status").read_text().splitlines() if l.startswith("Uid:"))
    assert int(line.split()[1]) == uids[0] + 1000


def test_own_namespaces(host, image):
    launch(host, "c1")
    pid = state(host, "c1")["pid"]
    for ns in ("pid", "mnt", "uts", "ipc", "net", "cgroup", "user"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns


def test_reboot_inside_restarts_the_vps(host, image):
    launch(host, "c1")
    wait_booted(host, "c1")
    pid = state(host, "c1")["pid"]
    run(host, "c1", "reboot", check=False)
    assert wait_for(lambda: state(host, "c1").get("pid") not in (0, pid) and
                    state(host, "c1").get("boots") == 2, timeout=30), state(host, "c1")
    assert status(host, "c1") == "Running"
    wait_booted(host, "c1")


def test_poweroff_inside_stops_the_vps(host, image):
    launch(host, "c1")
    wait_booted(host, "c1")
    run(host, "c1", "poweroff", check=False)
    assert wait_for(lambda: status(host, "c1") == "Stopped", timeout=30)
    assert state(host, "c1")["stop_reason"] == "poweroff"


def test_stop_kills_after_timeout(host, image):
    # a guest whose init ignores the stop signal is killed after the timeout
    launch(host, "c1", config={"boot.stop.signal": "SIGWINCH"})
    t = time.monotonic()
    op(host, host.api("PUT", "/1.0/instances/c1/state", {"action": "stop", "timeout": 2}))
    assert 1.5 < time.monotonic() - t < 15
    assert status(host, "c1") == "Stopped"


def test_restart_and_freeze(host, image):
    launch(host, "c1")
    pid = state(host, "c1")["pid"]
    op(host, host.api("PUT", "/1.0/instances/c1/state", {"action": "restart", "timeout": 20}))
    assert status(host, "c1") == "Running" and state(host, "c1")["pid"] != pid
    op(host, host.api("PUT", "/1.0/instances/c1/state", {"action": "freeze"}))
    assert status(host, "c1") == "Frozen"
    pid = state(host, "c1")["pid"]
    # the guest's cgroup itself is frozen, not only reported so
    assert cgroup_file(pid, "freezer", "freezer.state").read_text().strip() == "FROZEN"
    op(host, host.api("PUT", "/1.0/instances/c1/state", {"action": "unfreeze"}))
    assert status(host, "c1") == "Running"


def test_delete_running_needs_force(host, image):
    launch(host, "c1")
    err = op_fails(host, host.api("DELETE", "/1.0/instances/c1"))
    assert "running" in err
    assert status(host, "c1") == "Running"
    op(host, host.api("DELETE", "/1.0/instances/c1?force=1"))
    assert host.api("GET", "/1.0/instances/c1").status == 404


# ---------------------------------------------------------------------------
# the monitor outlives cellad


def test_vps_survives_cellad_sigkill_and_is_readopted(host, image):
    launch(host, "c1")
    launch(host, "c2")
    pids = {n: state(host, n)["pid"] for n in ("c1", "c2")}
    host.kill(signal.SIGKILL)
    for pid in pids.values():
        os.kill(pid, 0)  # still there
    # c2 powers off while cellad is away
    subprocess.run(["nsenter", "-t", str(pids["c2"]), "-a", "/sbin/poweroff"], check=True)
    time.sleep(0.5)
    host.start()
    assert status(host, "c1") == "Running"
    assert state(host, "c1")["pid"] == pids["c1"]
    assert wait_for(lambda: status(host, "c2") == "Stopped", timeout=30)
    assert state(host, "c2")["stop_reason"] == "poweroff"
    assert run(host, "c1", "true").returncode == 0


def test_autostart_order(host, image):
    launch(host, "a", config={"boot.autostart": "true", "boot.autostart.priority": "1"}, start=False)
    launch(host, "b", config={"boot.autostart": "true", "boot.autostart.priority": "9"}, start=False)
    launch(host, "c", start=False)
    host.kill(signal.SIGTERM)
    host.start()
    assert wait_for(lambda: status(host, "a") == "Running" and status(host, "b") == "Running", timeout=30)
    assert status(host, "c") == "Stopped"
    # b (priority 9) booted before a (priority 1)
    assert state(host, "b")["started_at"] <= state(host, "a")["started_at"]


# ---------------------------------------------------------------------------
# limits


def cgroup_file(pid, ctrl, name):
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if ctrl in ctrls.split(","):
            return Path(f"/sys/fs/cgroup/{ctrl}{path}/{name}")
        if ctrl == "" and ctrls == "":
            return Path(f"/sys/fs/cgroup{path}/{name}")
    raise AssertionError(f"no {ctrl} cgroup for {pid}")


def test_memory_limit_applied_and_changed_live(host, image):
    launch(host, "c1", config={"limits.memory": "128MiB"})
    pid = state(host, "c1")["pid"]
    f = cgroup_file(pid, "memory", "memory.limit_in_bytes")
    assert int(f.read_text()) == 128 << 20
    p = host.cli("config", "set", "c1", "limits.memory=96MiB")
    assert p.returncode == 0, p
    assert int(f.read_text()) == 96 << 20
    assert state(host, "c1")["memory"]["limit"] == 96 << 20


def test_guest_sees_its_own_limits(host, image):
    launch(host, "c1", config={"limits.memory": "200MiB", "limits.cpu": "1"})
    wait_booted(host, "c1")
    time.sleep(1.2)  # the monitor refreshes every second
    meminfo = run(host, "c1", "cat", "/proc/meminfo").stdout
    total = int(next(l for l in meminfo.splitlines() if l.startswith("MemTotal:")).split()[1])
    assert total == 200 * 1024, meminfo
    assert run(host, "c1", "nproc").stdout.strip() == "1"
    assert run(host, "c1", "grep", "-c", "^processor", "/proc/cpuinfo").stdout.strip() == "1"
    up = float(run(host, "c1", "cat", "/proc/uptime").stdout.split()[0])
    assert up < 60, up
    # busybox free and uptime ask sysinfo(2), which the monitor answers
    mem = next(l for l in run(host, "c1", "free", "-m").stdout.splitlines() if l.startswith("Mem:"))
    assert mem.split()[1] == "200", mem
    assert "up 0 min" in run(host, "c1", "uptime").stdout


def test_processes_limit(host, image):
    launch(host, "c1", config={"limits.processes": "20"})
    pid = state(host, "c1")["pid"]
    assert cgroup_file(pid, "pids", "pids.max").read_text().strip() == "20"
    # a fork bomb inside hits the limit, the host does not notice
    p = run(host, "c1", "sh", "-c", "for i in $(seq 40); do sleep 5 & done; wait", check=False)
    assert "fork" in (p.stdout + p.stderr).lower() or p.returncode != 0, p


# ---------------------------------------------------------------------------
# bad input: one clear error, nothing changed


@pytest.mark.parametrize("body,word", [
    ({"name": "../x"}, "name"),
    ({"name": "a_b"}, "name"),
    ({"name": "9lives"}, "name"),
    ({"name": "x" * 64}, "name"),
    ({"name": "ok", "config": {"limits.memory": "lots"}}, "limits.memory"),
    ({"name": "ok", "config": {"limits.cpu": "0"}}, "limits.cpu"),
    ({"name": "ok", "config": {"no.such.key": "1"}}, "no.such.key"),
    ({"name": "ok", "config": {"limits.processes": "-5"}}, "limits.processes"),
    ({"name": "ok", "bogus": 1}, "bogus"),
    ({"name": "ok", "profiles": ["nosuch"]}, "nosuch"),
    ({"name": "ok", "source": {"type": "image", "alias": "nosuch"}}, "nosuch"),
])
def test_create_rejects_bad_input(host, image, body, word):
    body.setdefault("source", {"type": "image", "alias": "minimal"})
    err = op_fails(host, host.api("POST", "/1.0/instances", body))
    assert word in err, err
    assert ok(host.api("GET", "/1.0/instances")) == []
    assert list((host.var / "instances").iterdir()) == []


def test_config_set_rejects_bad_value_and_keeps_config(host, image):
    launch(host, "c1", config={"limits.memory": "128MiB"}, start=False)
    p = host.cli("config", "set", "c1", "limits.memory=abc")
    assert p.returncode == 1 and p.stderr.startswith("Error: ") and "limits.memory" in p.stderr, p
    assert p.stderr.count("\n") == 1, p.stderr
    assert ok(host.api("GET", "/1.0/instances/c1"))["config"]["limits.memory"] == "128MiB"


def test_duplicate_name(host, image):
    launch(host, "c1", start=False)
    err = op_fails(host, host.api("POST", "/1.0/instances",
                                  {"name": "c1", "source": {"type": "image", "alias": "minimal"}}))
    assert "exists" in err


# ---------------------------------------------------------------------------
# files, snapshots, copies, profiles


def test_file_push_pull(host, image, tmp_path):
    launch(host, "c1")
    src = tmp_path / "hello.txt"
    src.write_text("hello vps\n")
    p = host.cli("file", "push", src, "c1/root/hello.txt", "--uid", "1000", "--mode", "0640")
    assert p.returncode == 0, p
    assert run(host, "c1", "stat", "-c", "%u %a", "/root/hello.txt").stdout.split() == ["1000", "640"]
    dst = tmp_path / "back.txt"
    assert host.cli("file", "pull", "c1/root/hello.txt", dst).returncode == 0
    assert dst.read_text() == "hello vps\n"


@pytest.mark.parametrize("running", [True, False])
def test_file_push_never_follows_a_guest_symlink_to_the_host(host, image, tmp_path, running):
    launch(host, "c1")
    victim = tmp_path / "victim"
    victim.write_text("host data\n")
    run(host, "c1", "ln", "-s", str(victim), "/root/link")
    run(host, "c1", "ln", "-s", str(tmp_path), "/root/dirlink")
    if not running:
        op(host, host.api("PUT", "/1.0/instances/c1/state", {"action": "stop", "force": True}))
    src = tmp_path / "payload"
    src.write_text("pwned\n")
    host.cli("file", "push", src, "c1/root/link")
    host.cli("file", "push", src, "c1/root/dirlink/new")
    assert victim.read_text() == "host data\n"
    assert not (tmp_path / "new").exists()
    # pulling through a link reads the guest's view, never the host's file
    out = host.cli("file", "pull", "c1/root/link", "-")
    assert "host data" not in out.stdout


def test_snapshot_restore(host, image):
    launch(host, "c1")
    run(host, "c1", "sh", "-c", "echo one > /root/state")
    op(host, host.api("POST", "/1.0/instances/c1/snapshots", {"name": "s1"}))
    run(host, "c1", "sh", "-c", "echo two > /root/state; rm /etc/hostname")
    snaps = ok(host.api("GET", "/1.0/instances/c1/snapshots?recursion=1"))
    assert [s["name"] for s in snaps] == ["s1"]
    op(host, host.api("PUT", "/1.0/instances/c1/state", {"action": "stop", "force": True}))
    op(host, host.api("PUT", "/1.0/instances/c1", {"restore": "s1"}))
    op(host, host.api("PUT", "/1.0/instances/c1/state", {"action": "start"}))
    assert run(host, "c1", "cat", "/root/state").stdout == "one\n"
    assert run(host, "c1", "cat", "/etc/hostname").stdout == "c1\n"
    op(host, host.api("DELETE", "/1.0/instances/c1/snapshots/s1"))
    assert ok(host.api("GET", "/1.0/instances/c1/snapshots")) == []


def test_copy_and_rename(host, image):
    launch(host, "c1")
    run(host, "c1", "sh", "-c", "echo mine > /root/file")
    assert host.cli("copy", "c1", "c2").returncode == 0
    assert host.cli("rename", "c2", "c3").returncode == 0
    op(host, host.api("PUT", "/1.0/instances/c3/state", {"action": "start"}))
    assert run(host, "c3", "cat", "/root/file").stdout == "mine\n"
    # its own id range, its own hostname
    assert state(host, "c3")["pid"] != state(host, "c1")["pid"]
    assert run(host, "c3", "hostname").stdout.strip() == "c3"


def test_profiles_apply_in_order(host, image):
    op_or_sync = host.api("POST", "/1.0/profiles", {"name": "small", "config": {"limits.memory": "64MiB"}})
    assert op_or_sync.status in (200, 201, 202), op_or_sync
    launch(host, "c1", profiles=["default", "small"])
    inst = ok(host.api("GET", "/1.0/instances/c1"))
    assert inst["expanded_config"]["limits.memory"] == "64MiB"
    pid = state(host, "c1")["pid"]
    assert int(cgroup_file(pid, "memory", "memory.limit_in_bytes").read_text()) == 64 << 20
    r = host.api("DELETE", "/1.0/profiles/small")
    assert r.status == 409 or (r.status == 202 and host.wait_op(r)["status"] == "Failure"), r


# ---------------------------------------------------------------------------
# console and metrics


def test_console_log_and_metrics(host, image):
    launch(host, "c1", config={"limits.memory": "128MiB"})
    wait_booted(host, "c1")
    r = host.api("GET", "/1.0/instances/c1/console")
    assert r.status == 200 and "booted" in r.body, r
    m = host.api("GET", "/1.0/metrics")
    assert m.status == 200
    assert 'cella_instance_running{name="c1",type="vps"} 1' in m.body, m.body
    assert 'cella_memory_limit_bytes{name="c1",type="vps"} 134217728' in m.body, m.body


def test_console_log_keeps_what_follows_a_nul(host, image):
    # a guest's console carries any byte (Debian's startpar ends a partial line
    # with "\n\0"): the log is served whole, not up to its first NUL
    launch(host, "c1")
    wait_booted(host, "c1")
    run(host, "c1", "sh", "-c", "printf 'before\\000after\\n' > /dev/console")
    op(host, host.api("PUT", "/1.0/instances/c1/state", {"action": "stop"}))
    assert (host.log / "c1" / "console.log").read_bytes().count(b"before\0after") == 1
    body = host.api("GET", "/1.0/instances/c1/console").body
    assert "before\0after" in body and "[cella: stopped]" in body, body[-300:]
    out = host.cli("console", "c1", "--show-log").stdout
    assert "before\0after" in out and "[cella: stopped]" in out, out[-300:]


# ---------------------------------------------------------------------------
# a killed cellad, concurrent requests


def test_sigkill_during_snapshot_leaves_no_half_snapshot(host, image):
    launch(host, "c1")
    # enough data that the copy takes a while
    run(host, "c1", "dd", "if=/dev/zero", "of=/root/big", "bs=1M", "count=400")
    r = host.api("POST", "/1.0/instances/c1/snapshots", {"name": "s1"})
    assert r.status == 202, r
    time.sleep(0.05)
    host.kill(signal.SIGKILL)
    host.start()
    snaps = ok(host.api("GET", "/1.0/instances/c1/snapshots?recursion=1"))
    sdir = host.var / "snapshots" / "c1" / "s1"
    if snaps:
        assert [s["name"] for s in snaps] == ["s1"]
        assert (sdir / "upper" / "root" / "big").stat().st_size == 400 << 20
    else:
        assert not sdir.exists()
    # the guest was frozen for the copy: it runs again
    assert wait_for(lambda: status(host, "c1") == "Running", timeout=10), status(host, "c1")
    assert run(host, "c1", "true").returncode == 0


def test_recovery_finishes_or_undoes_interrupted_work(host, image):
    launch(host, "keep", start=False)
    launch(host, "gone", start=False)
    op(host, host.api("POST", "/1.0/instances/keep/snapshots", {"name": "s1"}))
    host.kill(signal.SIGTERM)
    # what a killed cellad could leave: a create without its row, a delete
    # without its last step, a snapshot copy without its row, a restore
    # between its two renames, a copy's temporary tree
    (host.var / "instances" / "half").mkdir()
    (host.var / "instances" / "half" / "upper").mkdir()
    subprocess.run(["rm", "-rf", str(host.var / "instances" / "gone")], check=True)
    (host.var / "snapshots" / "keep" / "s2" / "upper").mkdir(parents=True)
    layer = host.var / "instances" / "keep"
    (layer / "upper").rename(layer / "upper.old")
    (layer / "upper.restore").mkdir()
    (host.var / "instances" / ".copy-x").mkdir()
    host.start()
    names = [i["name"] for i in ok(host.api("GET", "/1.0/instances?recursion=1"))]
    assert names == ["keep"], names
    assert sorted(p.name for p in (host.var / "instances").iterdir()) == ["keep"]
    assert sorted(p.name for p in layer.iterdir()) == ["upper", "work"]
    assert [s["name"] for s in ok(host.api("GET", "/1.0/instances/keep/snapshots?recursion=1"))] == ["s1"]
    assert not (host.var / "snapshots" / "keep" / "s2").exists()
    assert "recovery:" in host.daemon_log()
    op(host, host.api("PUT", "/1.0/instances/keep/state", {"action": "start"}))
    assert run(host, "keep", "hostname").stdout.strip() == "keep"


def test_concurrent_creates(host, image):
    import concurrent.futures
    names = [f"c{i}" for i in range(8)] + ["dup", "dup"]

    def create(n):
        r = host.api("POST", "/1.0/instances", {"name": n, "source": {"type": "image", "alias": "minimal"}})
        if r.status >= 400:
            return n, r.json()["error"]
        o = host.wait_op(r)
        return n, o["status"] if o["status"] == "Success" else o["err"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as ex:
        results = list(ex.map(create, names))
    ok_names = sorted(n for n, res in results if res == "Success")
    assert ok_names == sorted(set(names)), results
    dup_errors = [res for n, res in results if n == "dup" and res != "Success"]
    assert len(dup_errors) == 1 and "exists" in dup_errors[0], results
    insts = ok(host.api("GET", "/1.0/instances?recursion=1"))
    assert len(insts) == 9
    # each its own id range
    bases = set()
    for n in set(names):
        op(host, host.api("PUT", f"/1.0/instances/{n}/state", {"action": "start"}))
        pid = state(host, n)["pid"]
        bases.add(Path(f"/proc/{pid}/uid_map").read_text().split()[1])
    assert len(bases) == 9, bases


def test_disk_limit_is_a_real_quota(host, image):
    launch(host, "c1", config={"limits.disk": "100MiB"})
    size_kib = int(run(host, "c1", "df", "-k", "/").stdout.splitlines()[1].split()[1])
    assert 80 * 1024 < size_kib <= 100 * 1024, size_kib
    # filling it fails inside; the host's disk does not notice
    p = run(host, "c1", "dd", "if=/dev/zero", "of=/root/fill", "bs=1M", "count=150", check=False)
    assert p.returncode != 0 and "space" in (p.stdout + p.stderr).lower(), p
    assert 80 << 20 < state(host, "c1")["disk"]["root"]["usage"] <= 100 << 20
    op(host, host.api("PUT", "/1.0/instances/c1/state", {"action": "stop", "force": True}))
    # it grows, it never shrinks
    assert host.cli("config", "set", "c1", "limits.disk=50MiB").returncode == 1
    assert host.cli("config", "set", "c1", "limits.disk=200MiB").returncode == 0
    op(host, host.api("PUT", "/1.0/instances/c1/state", {"action": "start"}))
    size_kib = int(run(host, "c1", "df", "-k", "/").stdout.splitlines()[1].split()[1])
    assert size_kib > 150 * 1024, size_kib
    # the data survived the move and the growth
    assert run(host, "c1", "test", "-f", "/root/fill").returncode == 0
    op(host, host.api("DELETE", "/1.0/instances/c1?force=1"))
    assert list((host.var / "disks").iterdir()) == []


def test_disk_limit_added_to_an_existing_vps(host, image):
    launch(host, "c1")
    run(host, "c1", "sh", "-c", "echo kept > /root/data")
    op(host, host.api("PUT", "/1.0/instances/c1/state", {"action": "stop", "force": True}))
    assert host.cli("config", "set", "c1", "limits.disk=64MiB").returncode == 0
    op(host, host.api("PUT", "/1.0/instances/c1/state", {"action": "start"}))
    assert run(host, "c1", "cat", "/root/data").stdout == "kept\n"
    size_kib = int(run(host, "c1", "df", "-k", "/").stdout.splitlines()[1].split()[1])
    assert size_kib <= 64 * 1024, size_kib
    op(host, host.api("POST", "/1.0/instances/c1/snapshots", {"name": "s1"}))
    assert host.cli("copy", "c1/s1", "c2").returncode == 0


def test_file_mkdir_and_delete(host, image, tmp_path):
    launch(host, "c1")
    r = host.api("POST", "/1.0/instances/c1/files?path=/root/data", b"",
                 headers={"X-Cella-Type": "directory", "X-Cella-Uid": "33", "X-Cella-Mode": "0750"})
    assert r.status == 200, r
    assert run(host, "c1", "stat", "-c", "%F %u %a", "/root/data").stdout.split() == ["directory", "33", "750"]
    run(host, "c1", "sh", "-c", "echo x > /root/data/f; ln -s /etc/hostname /root/link")
    assert host.api("DELETE", "/1.0/instances/c1/files?path=/root/data").status == 409  # not empty
    assert host.api("DELETE", "/1.0/instances/c1/files?path=/root/data/f").status == 200
    assert host.api("DELETE", "/1.0/instances/c1/files?path=/root/data").status == 200
    # a link goes, not what it points to
    assert host.api("DELETE", "/1.0/instances/c1/files?path=/root/link").status == 200
    assert run(host, "c1", "cat", "/etc/hostname").stdout == "c1\n"
    assert host.api("DELETE", "/1.0/instances/c1/files?path=/nope").status == 404


# ---------------------------------------------------------------------------
# btrfs: layers are subvolumes, snapshots and copies btrfs snapshots


@pytest.fixture
def btrfs_host(host_dir):
    from conftest import Host, host_leaks, teardown_host
    img = host_dir / "pool.img"
    with open(img, "wb") as f:
        f.truncate(1 << 30)
    subprocess.run(["mkfs.btrfs", "-q", str(img)], check=True, capture_output=True)
    var = host_dir / "var"
    var.mkdir()
    subprocess.run(["mount", "-o", "loop", str(img), str(var)], check=True)
    os.chmod(var, 0o711)
    h = Host(host_dir)
    try:
        h.start()
        yield h
        for name in h.instance_names():
            r = h.api("DELETE", f"/1.0/instances/{name}?force=1", timeout=60)
            if r.status == 202:
                h.wait_op(r)
        h.kill(signal.SIGTERM)
        # nothing of the instances is left in the pool
        assert sorted(p.name for p in (var / "instances").iterdir()) == []
        assert sorted(p.name for p in (var / "snapshots").iterdir()) == []
    finally:
        teardown_host(h)
        subprocess.run(["umount", str(var)], capture_output=True)
    assert not host_leaks(h), host_leaks(h)


def is_subvolume(path):
    return os.stat(path).st_ino == 256


def test_btrfs_layers_snapshots_copies(btrfs_host):
    h = btrfs_host
    op(h, h.api("POST", "/1.0/images", {"source": {"type": "build", "name": "minimal"}}))
    launch(h, "c1")
    assert is_subvolume(h.var / "instances" / "c1")
    run(h, "c1", "sh", "-c", "echo one > /root/state")
    op(h, h.api("POST", "/1.0/instances/c1/snapshots", {"name": "s1"}))
    snap = h.var / "snapshots" / "c1" / "s1"
    assert is_subvolume(snap)
    with pytest.raises(OSError):
        (snap / "upper" / "x").write_text("read-only")
    run(h, "c1", "sh", "-c", "echo two > /root/state")
    assert h.cli("copy", "c1/s1", "c2").returncode == 0
    assert is_subvolume(h.var / "instances" / "c2")
    op(h, h.api("PUT", "/1.0/instances/c1/state", {"action": "stop", "force": True}))
    op(h, h.api("PUT", "/1.0/instances/c1", {"restore": "s1"}))
    assert is_subvolume(h.var / "instances" / "c1")
    op(h, h.api("PUT", "/1.0/instances/c1/state", {"action": "start"}))
    assert run(h, "c1", "cat", "/root/state").stdout == "one\n"
    op(h, h.api("PUT", "/1.0/instances/c2/state", {"action": "start"}))
    assert run(h, "c2", "cat", "/root/state").stdout == "one\n"
    assert run(h, "c2", "hostname").stdout.strip() == "c2"


def test_cpu_and_io_limits(host, image):
    launch(host, "c1", config={"limits.cpu.allowance": "25ms/100ms", "limits.disk.read": "10MB",
                               "limits.disk.write.iops": "100", "limits.disk.priority": "5"})
    pid = state(host, "c1")["pid"]
    assert cgroup_file(pid, "cpu", "cpu.cfs_quota_us").read_text().strip() == "25000"
    assert cgroup_file(pid, "cpu", "cpu.cfs_period_us").read_text().strip() == "100000"
    assert cgroup_file(pid, "blkio", "blkio.throttle.read_bps_device").read_text().split()[1] == "10000000"
    assert cgroup_file(pid, "blkio", "blkio.throttle.write_iops_device").read_text().split()[1] == "100"
    # a share instead of a quota, live
    assert host.cli("config", "set", "c1", "limits.cpu.allowance=50%").returncode == 0
    assert cgroup_file(pid, "cpu", "cpu.shares").read_text().strip() == "512"
    # a CPU set, live: the guest sees one CPU
    assert host.cli("config", "set", "c1", "limits.cpu=0-0").returncode == 0
    assert run(host, "c1", "nproc").stdout.strip() == "1"


@pytest.mark.parametrize("websocket", [False, True])
def test_exec_terminal_size(host, image, websocket):
    """`cella exec -t` on a terminal: the guest's pty has our size; through
    cellad's fd hand-off and through Incus's websocket protocol alike."""
    import fcntl
    import pty
    import struct
    import termios
    launch(host, "c1")
    env = dict(os.environ, CELLA_SOCKET=str(host.socket), CELLA_NO_AUTOSTART="1")
    if websocket:
        env["CELLA_EXEC_WEBSOCKET"] = "1"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
    from conftest import CELLA
    p = subprocess.Popen([str(CELLA), "exec", "-t", "c1", "--", "stty", "size"], stdin=slave, stdout=slave,
                         stderr=slave, env=env, start_new_session=True)
    # our slave fd stays open until we have read: a pty loses what was
    # written once no one holds its slave
    import select
    out = b""
    end = time.monotonic() + 20
    while b"33 111" not in out and time.monotonic() < end:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            out += os.read(master, 4096)
    p.wait(timeout=20)
    os.close(slave)
    os.close(master)
    assert b"33 111" in out, out
    assert p.returncode == 0


def test_events_for_what_the_guest_does_itself(host, image):
    """A reboot or poweroff from inside reaches /1.0/events, with its reason."""
    from test_api import WebSocket
    launch(host, "c1")
    wait_booted(host, "c1")
    ws = WebSocket(str(host.socket), "/1.0/events?type=lifecycle")
    assert ws.status == 101
    time.sleep(0.2)
    seen = []

    def wait_event(action, reason):
        end = time.monotonic() + 30
        while time.monotonic() < end:
            opcode, payload = ws.recv()
            ev = json.loads(payload)["metadata"]
            seen.append(ev)
            if (ev["source"] == "/1.0/instances/c1" and ev["action"] == action
                    and ev.get("context", {}).get("reason") == reason):
                return True
        return False

    run(host, "c1", "reboot", check=False)
    assert wait_event("instance-restarted", "reboot"), seen
    wait_booted(host, "c1")
    run(host, "c1", "poweroff", check=False)
    assert wait_event("instance-stopped", "poweroff"), seen
    ws.close()


def test_deep_trees_copy_whole_or_fail(host, image):
    """A guest's 1500-level tree: snapshot, copy and delete go through it
    whole (no silently truncated copy, no crash of cellad)."""
    launch(host, "c1")
    run(host, "c1", "sh", "-c", "cd /root && i=0; while [ $i -lt 1500 ]; do mkdir d && cd d; i=$((i+1)); done; echo deep > f")
    op(host, host.api("POST", "/1.0/instances/c1/snapshots", {"name": "s1"}))
    assert host.cli("copy", "c1", "c2").returncode == 0
    op(host, host.api("PUT", "/1.0/instances/c2/state", {"action": "start"}))
    deep = "/root/" + "/".join(["d"] * 1500) + "/f"
    assert run(host, "c2", "cat", deep).stdout == "deep\n"
    op(host, host.api("DELETE", "/1.0/instances/c2?force=1"))
    assert not (host.var / "instances" / "c2").exists()


def test_recovery_of_cut_renames_and_disk_moves(host, image):
    launch(host, "ren")
    run(host, "ren", "sh", "-c", "echo mine > /root/data")
    launch(host, "dsk")
    run(host, "dsk", "sh", "-c", "echo kept > /root/data")
    for n in ("ren", "dsk"):
        op(host, host.api("PUT", f"/1.0/instances/{n}/state", {"action": "stop", "force": True}))
    host.kill(signal.SIGTERM)
    inst = host.var / "instances"
    # what a kill during `rename ren new1` leaves: trees under the new name, the row under the old
    for m in sorted(mounts_of(host.base), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)
    (inst / "ren").rename(inst / "new1")
    (inst / ".rename-ren").write_text("new1")
    # what a kill during a move onto a disk of its own leaves: the layer aside, an empty
    # mount point, a half-made image
    (inst / "dsk").rename(inst / ".old-dsk")
    (inst / "dsk").mkdir()
    (host.var / "disks").mkdir(exist_ok=True)
    (host.var / "disks" / ".new-dsk.img").write_bytes(b"\0" * 4096)
    host.start()
    assert sorted(p.name for p in inst.iterdir()) == ["dsk", "ren"]
    assert list((host.var / "disks").iterdir()) == []
    for n, want in (("ren", "mine\n"), ("dsk", "kept\n")):
        op(host, host.api("PUT", f"/1.0/instances/{n}/state", {"action": "start"}))
        assert run(host, n, "cat", "/root/data").stdout == want


def mounts_of(base):
    from conftest import mounts_under
    return mounts_under(base)
