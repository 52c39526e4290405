# SPDX-License-Identifier: LGPL-2.1-or-later
"""Container lifecycle: create, start, state, kill, delete, run, run -d."""

import os
import signal
import subprocess
import time

import pytest



def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_dead(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} still alive")


def test_run_foreground_prints_and_cleans_up(rt, bundle):
    r = rt.run(bundle)
    assert r.ok, r
    d = r.json()
    assert d["pid"]["pid"] == 1
    assert d["cwd"]["cwd"] == "/"
    # run (without -d) deletes the container when it exits.
    assert rt("state", r.cid).rc != 0
    assert not (rt.root / r.cid).exists()


def test_create_start_state_delete(rt, bundle):
    marker = bundle.rootfs / "tmp" / "started"
    bundle.args("/bin/sh", "-c", "echo yes > /tmp/started; exec /bin/cella-probe sleep 30")
    r = rt.create(bundle)
    assert r.ok, r
    cid = r.cid

    st = rt.state(cid)
    assert st["status"] == "created"
    assert st["id"] == cid
    assert st["pid"] > 0
    assert alive(st["pid"])
    # create returned while the init waits: the user process has not run.
    time.sleep(0.3)
    assert not marker.exists()

    r = rt.start(cid)
    assert r.ok, r
    deadline = time.monotonic() + 5
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.read_text() == "yes\n"
    st2 = rt.state(cid)
    assert st2["status"] == "running"
    assert st2["pid"] == st["pid"]  # start exec'd the user process in the init

    assert rt.kill(cid, "KILL").ok
    rt.wait_status(cid, "stopped")
    wait_dead(st["pid"])
    r = rt.delete(cid)
    assert r.ok, r
    assert rt("state", cid).rc != 0
    assert not (rt.root / cid).exists()


def test_state_json_fields(rt, bundle):
    bundle.probe_args("sleep", "30")
    bundle.config.setdefault("annotations", {})["org.cella.test"] = "yes"
    r = rt.create(bundle)
    assert r.ok, r
    st = rt.state(r.cid)
    for key in ("ociVersion", "id", "status", "pid", "bundle"):
        assert key in st, st
    assert st["bundle"] == str(bundle.path)
    assert st["id"] == r.cid
    assert st["status"] == "created"
    assert isinstance(st["pid"], int) and st["pid"] > 1
    assert st.get("annotations", {}).get("org.cella.test") == "yes"
    # runc extensions that `runc list` and tools rely on
    assert st["rootfs"] == str(bundle.rootfs)
    assert st["created"].endswith("Z") or "+" in st["created"]
    assert st["owner"] in ("", "root")


def test_states_created_running_stopped(rt, bundle):
    bundle.probe_args("sleep", "1")
    r = rt.create(bundle)
    assert r.ok, r
    assert rt.status(r.cid) == "created"
    assert rt.start(r.cid).ok
    assert rt.status(r.cid) == "running"
    rt.wait_status(r.cid, "stopped", timeout=10)
    st = rt.state(r.cid)
    assert st["pid"] == 0 or not alive(st["pid"])
    assert rt.delete(r.cid).ok
    assert '"slept":1' in rt.output(r.cid)


def test_output_of_created_container_goes_to_create_stdio(rt, bundle):
    bundle.probe_args("hostname")
    bundle.config["hostname"] = "lifecycle"
    r = rt.create(bundle)
    assert r.ok, r
    assert rt.start(r.cid).ok
    rt.wait_status(r.cid, "stopped")
    assert '"nodename":"lifecycle"' in rt.output(r.cid)
    assert rt.delete(r.cid).ok


def test_pid_file(rt, bundle):
    bundle.probe_args("sleep", "30")
    pidfile = rt.base / "ct.pid"
    r = rt.create(bundle, "--pid-file", pidfile)
    assert r.ok, r
    pid = int(pidfile.read_text().strip())
    assert pid == rt.state(r.cid)["pid"]
    assert alive(pid)
    assert rt.delete(r.cid, force=True).ok
    wait_dead(pid)


def test_pid_file_relative_to_cwd(rt, bundle):
    bundle.probe_args("sleep", "30")
    cid = rt.track(rt.new_id())
    bundle.write()
    r = rt("create", "--bundle", bundle.path, "--pid-file", "rel.pid", cid, cwd=rt.base,
           stdout=open(os.devnull, "wb"), stderr=open(os.devnull, "wb"))
    assert r.ok, r
    assert int((rt.base / "rel.pid").read_text()) == rt.state(cid)["pid"]


def test_run_detach(rt, bundle):
    bundle.probe_args("sleep", "30")
    t0 = time.monotonic()
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    assert time.monotonic() - t0 < 10
    st = rt.state(r.cid)
    assert st["status"] == "running"
    assert alive(st["pid"])
    # pid 1 of a pid namespace ignores signals it has no handler for, except
    # SIGKILL from outside
    assert rt.kill(r.cid, "KILL").ok
    rt.wait_status(r.cid, "stopped")
    assert rt.delete(r.cid).ok


def test_run_detach_pid_file(rt, bundle):
    bundle.probe_args("sleep", "30")
    pidfile = rt.base / "d.pid"
    r = rt.run(bundle, "--pid-file", pidfile, detach=True)
    assert r.ok, r
    assert int(pidfile.read_text()) == rt.state(r.cid)["pid"]


def test_start_twice_fails(rt, bundle):
    bundle.probe_args("sleep", "30")
    r = rt.create(bundle)
    assert r.ok, r
    assert rt.start(r.cid).ok
    r2 = rt.start(r.cid)
    assert r2.rc != 0, r2
    assert rt.status(r.cid) == "running"


def test_start_unknown_container_fails(rt):
    r = rt.start("does-not-exist-" + rt.tag)
    assert r.rc != 0
    assert r.err.strip()


def test_state_unknown_container_fails(rt):
    r = rt("state", "nope-" + rt.tag)
    assert r.rc != 0
    assert "nope-" + rt.tag in r.err or "not exist" in r.err or "not found" in r.err.lower()


def test_delete_running_without_force_fails(rt, bundle):
    bundle.probe_args("sleep", "30")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    pid = rt.state(r.cid)["pid"]
    d = rt.delete(r.cid)
    assert d.rc != 0, d
    assert rt.status(r.cid) == "running"
    assert alive(pid)
    d = rt.delete(r.cid, force=True)
    assert d.ok, d
    wait_dead(pid)
    assert rt("state", r.cid).rc != 0


def test_delete_force_created(rt, bundle):
    bundle.probe_args("sleep", "30")
    r = rt.create(bundle)
    assert r.ok, r
    pid = rt.state(r.cid)["pid"]
    assert rt.delete(r.cid, force=True).ok
    wait_dead(pid)
    assert rt("state", r.cid).rc != 0


def test_delete_force_paused(rt, bundle):
    bundle.probe_args("sleep", "30")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    pid = rt.state(r.cid)["pid"]
    assert rt("pause", r.cid).ok
    assert rt.status(r.cid) == "paused"
    d = rt.delete(r.cid, force=True)
    assert d.ok, d
    wait_dead(pid)


def test_delete_unknown_fails_but_force_succeeds(rt):
    cid = "ghost-" + rt.tag
    assert rt.delete(cid).rc != 0
    # --force on a missing container is not an error (runc behaviour)
    assert rt.delete(cid, force=True).rc == 0


def test_stale_state_after_external_kill(rt, bundle):
    bundle.probe_args("sleep", "60")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    pid = rt.state(r.cid)["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_dead(pid)
    rt.wait_status(r.cid, "stopped", timeout=5)
    assert rt.delete(r.cid).ok


def test_kill_delivers_signal(rt, bundle):
    bundle.probe_args("wait-signal", "30")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    deadline = time.monotonic() + 5
    while '"ready"' not in rt.output(r.cid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert '"ready"' in rt.output(r.cid)
    assert rt.kill(r.cid, "USR1").ok
    rt.wait_status(r.cid, "stopped")
    assert f'"signal":{int(signal.SIGUSR1)}' in rt.output(r.cid)


@pytest.mark.parametrize("sig", ["TERM", "SIGTERM", "15"])
def test_kill_signal_spellings(rt, bundle, sig):
    bundle.probe_args("wait-signal", "30")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    deadline = time.monotonic() + 5
    while '"ready"' not in rt.output(r.cid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rt.kill(r.cid, sig).ok
    rt.wait_status(r.cid, "stopped")
    assert f'"signal":{int(signal.SIGTERM)}' in rt.output(r.cid)


def test_kill_default_signal_is_term(rt, bundle):
    bundle.probe_args("wait-signal", "30")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    deadline = time.monotonic() + 5
    while '"ready"' not in rt.output(r.cid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rt("kill", r.cid).ok
    rt.wait_status(r.cid, "stopped")
    assert f'"signal":{int(signal.SIGTERM)}' in rt.output(r.cid)


def test_kill_invalid_signal_fails(rt, bundle):
    bundle.probe_args("sleep", "30")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    k = rt.kill(r.cid, "NOTASIGNAL")
    assert k.rc != 0
    assert rt.status(r.cid) == "running"


def test_kill_stopped_container_fails(rt, bundle):
    bundle.probe_args("exit", "0")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    rt.wait_status(r.cid, "stopped")
    k = rt.kill(r.cid, "KILL")
    assert k.rc != 0, k
    assert rt.delete(r.cid).ok


def test_kill_all(rt, bundle):
    bundle.args("/bin/sh", "-c", "/bin/cella-probe sleep 60 & /bin/cella-probe sleep 60 & wait")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    pids = rt.wait_pids(r.cid, 3)
    k = rt.kill(r.cid, "KILL", "--all")
    assert k.ok, k
    for p in pids:
        wait_dead(p)
    rt.wait_status(r.cid, "stopped")


def test_duplicate_id_fails(rt, bundle):
    bundle.probe_args("sleep", "30")
    r = rt.create(bundle)
    assert r.ok, r
    pid = rt.state(r.cid)["pid"]
    r2 = rt.create(bundle, cid=r.cid)
    assert r2.rc != 0, r2
    # the first container is untouched
    st = rt.state(r.cid)
    assert st["status"] == "created" and st["pid"] == pid


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", ".", "", "has space", "x" * 1024])
def test_invalid_id_fails(rt, bundle, bad):
    bundle.probe_args("exit", "0")
    bundle.write()
    r = rt("create", "--bundle", bundle.path, bad)
    assert r.rc != 0, r
    # nothing appeared next to or under the root
    assert not (rt.base / "x").exists()
    assert not (rt.root / "a").exists()
    if rt.root.exists():
        assert [e for e in rt.root.iterdir() if e.is_dir()] == []
    r = rt("run", "--bundle", bundle.path, bad)
    assert r.rc != 0, r


def test_create_missing_id_fails(rt, bundle):
    r = rt("create", "--bundle", bundle.path)
    assert r.rc != 0


def test_run_exit_code(rt, bundle):
    bundle.probe_args("exit", "42")
    r = rt.run(bundle)
    assert r.rc == 42, r


def _popen_run(rt, bundle, cid):
    """`run` in the background, output to files; returns (Popen, out path)."""
    bundle.write()
    out = rt.base / f"{cid}.fg.out"
    with open(out, "wb") as f:
        p = subprocess.Popen([*rt.global_args(), "run", "--bundle", str(bundle.path), cid],
                             stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
    return p, out


def _wait_running(rt, cid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = rt("state", cid)
        if r.ok and r.json_all()["status"] == "running":
            return r.json_all()["pid"]
        time.sleep(0.05)
    raise AssertionError(f"{cid} never running")


def test_run_killed_by_signal_exit_code(rt, bundle):
    bundle.probe_args("sleep", "30")
    cid = rt.track(rt.new_id())
    p, out = _popen_run(rt, bundle, cid)
    try:
        pid = _wait_running(rt, cid)
        os.kill(pid, signal.SIGKILL)
        assert p.wait(timeout=10) == 128 + signal.SIGKILL, out.read_text()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_run_forwards_signals(rt, bundle):
    bundle.probe_args("wait-signal", "30")
    cid = rt.track(rt.new_id())
    p, out = _popen_run(rt, bundle, cid)
    try:
        _wait_running(rt, cid)
        deadline = time.monotonic() + 5
        while '"ready"' not in out.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        p.send_signal(signal.SIGUSR2)
        assert p.wait(timeout=10) == 0, out.read_text()
        assert f'"signal":{int(signal.SIGUSR2)}' in out.read_text()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_list_shows_states(rt, bundle, make_bundle):
    bundle.probe_args("sleep", "30")
    a = rt.create(bundle)
    assert a.ok, a
    b2 = make_bundle()
    b2.probe_args("sleep", "30")
    b = rt.run(b2, detach=True)
    assert b.ok, b
    lst = rt("list", "--format", "json")
    assert lst.ok, lst
    by_id = {c["id"]: c for c in lst.json_all()}
    assert by_id[a.cid]["status"] == "created"
    assert by_id[b.cid]["status"] == "running"
    assert by_id[b.cid]["bundle"] == str(b2.path)


def test_kill_created_container(rt, bundle):
    marker = bundle.rootfs / "tmp" / "ran"
    bundle.args("/bin/sh", "-c", "touch /tmp/ran")
    r = rt.create(bundle)
    assert r.ok, r
    pid = rt.state(r.cid)["pid"]
    assert rt.kill(r.cid, "KILL").ok
    wait_dead(pid)
    rt.wait_status(r.cid, "stopped")
    # the user process never ran, and it cannot be started any more
    assert rt.start(r.cid).rc != 0
    assert not marker.exists()
    assert rt.delete(r.cid).ok


def test_start_after_init_died_fails(rt, bundle):
    bundle.probe_args("exit", "0")
    r = rt.create(bundle)
    assert r.ok, r
    pid = rt.state(r.cid)["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_dead(pid)
    s = rt.start(r.cid)
    assert s.rc != 0, s
    assert rt.status(r.cid) == "stopped"


def test_concurrent_create_same_id(rt, bundle):
    bundle.probe_args("sleep", "30")
    bundle.write()
    cid = rt.track(rt.new_id())
    procs = []
    for i in range(4):
        out = open(rt.base / f"race{i}.out", "wb")
        procs.append((subprocess.Popen([*rt.global_args(), "create", "--bundle",
                                        str(bundle.path), cid],
                                       stdin=subprocess.DEVNULL, stdout=out, stderr=out), out))
    rcs = []
    for p, out in procs:
        rcs.append(p.wait(timeout=30))
        out.close()
    assert sorted(rcs)[0] == 0 and rcs.count(0) == 1, rcs
    st = rt.state(cid)
    assert st["status"] == "created"
    # exactly one init process exists for the id
    assert alive(st["pid"])


def test_pid_file_in_missing_dir_fails_cleanly(rt, bundle):
    bundle.probe_args("sleep", "30")
    r = rt.create(bundle, "--pid-file", rt.base / "no" / "such" / "dir" / "pid")
    assert r.rc != 0, r
    assert rt("state", r.cid).rc != 0


def test_list_shows_stopped(rt, bundle):
    bundle.probe_args("exit", "0")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    rt.wait_status(r.cid, "stopped")
    items = {c["id"]: c for c in rt("list", "-f", "json").json_all()}
    assert items[r.cid]["status"] == "stopped"
    assert items[r.cid]["pid"] == 0


def test_ps_stopped_container(rt, bundle):
    bundle.probe_args("exit", "0")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    rt.wait_status(r.cid, "stopped")
    ps = rt("ps", "-f", "json", r.cid)
    # an error, or an empty list: never stale pids
    if ps.ok:
        assert ps.json_all() in (None, [])


def test_many_containers_sequentially(rt, bundle):
    # nothing accumulates across many short-lived containers
    bundle.probe_args("exit", "0")
    for _ in range(10):
        r = rt.run(bundle)
        assert r.ok, r
    # (only cella's runtime-wide cache of compiled seccomp filters stays, one file)
    assert [e for e in rt.root.iterdir() if e.is_dir() and e.name != ".seccomp-cache"] == []
    cache = rt.root / ".seccomp-cache"
    assert not cache.exists() or len(list(cache.iterdir())) == 1


def test_delete_created_without_force(rt, bundle):
    # the OCI spec wants an error; runc deletes a created container. Either
    # way the result must be consistent.
    bundle.probe_args("sleep", "30")
    r = rt.create(bundle)
    assert r.ok, r
    pid = rt.state(r.cid)["pid"]
    d = rt.delete(r.cid)
    if d.ok:
        wait_dead(pid)
        assert rt("state", r.cid).rc != 0
    else:
        assert alive(pid)
        assert rt.status(r.cid) == "created"


def test_concurrent_delete_force(rt, bundle):
    bundle.probe_args("sleep", "30")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    pid = rt.state(r.cid)["pid"]
    procs = [subprocess.Popen([*rt.global_args(), "delete", "--force", r.cid],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for _ in range(4)]
    errs = []
    for p in procs:
        _, err = p.communicate(timeout=30)
        errs.append((p.returncode, err.decode(errors="replace")))
    # at least one succeeded; the container and its init are gone (the
    # fixture's leak check verifies cgroups, mounts and state)
    assert any(rc == 0 for rc, _ in errs), errs
    wait_dead(pid)
    assert rt("state", r.cid).rc != 0


def test_delete_force_without_pid_namespace_kills_all(rt, bundle):
    # no pid namespace: killing init does not take the other processes
    # with it, the runtime must kill everything in the cgroup
    bundle.drop_namespace("pid")
    bundle.args("/bin/sh", "-c", "/bin/cella-probe sleep 60 & /bin/cella-probe sleep 60 & wait")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    pids = rt.wait_pids(r.cid, 3)
    d = rt.delete(r.cid, force=True)
    assert d.ok, d
    for p in pids:
        wait_dead(p)


def test_run_without_pid_namespace_reaps_leftovers(rt, bundle):
    # init exits leaving a background child: nothing may survive `run`
    bundle.drop_namespace("pid")
    bundle.args("/bin/sh", "-c", "/bin/cella-probe sleep 60 & echo started")
    r = rt.run(bundle)
    assert r.ok, r
    assert "started" in r.out
    # the fixture's leak check fails the test if the sleeper survived


def test_kill_all_without_pid_namespace(rt, bundle):
    bundle.drop_namespace("pid")
    bundle.args("/bin/sh", "-c", "/bin/cella-probe sleep 60 & /bin/cella-probe sleep 60 & wait")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    pids = rt.wait_pids(r.cid, 3)
    assert rt.kill(r.cid, "KILL", "--all").ok
    for p in pids:
        wait_dead(p)
    rt.wait_status(r.cid, "stopped")


@pytest.mark.parametrize("good", ["My_Id.1-2+3", "a", "0123456789abcdef" * 4])
def test_valid_id_characters(rt, bundle, good):
    bundle.probe_args("exit", "0")
    r = rt.run(bundle, cid=good + "-" + rt.tag)
    assert r.ok, r


@pytest.mark.cella_only   # edits cella's state.json
def test_reused_pid_is_not_signalled(rt, bundle):
    # the init dies and its pid is "reused" by an unrelated host process:
    # state must say stopped and kill/delete must leave that process alone
    bundle.probe_args("sleep", "60")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    pid = rt.state(r.cid)["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_dead(pid)
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        import json
        path = rt.root / r.cid / "state.json"
        st = json.loads(path.read_text())
        st["pid"] = bystander.pid
        path.write_text(json.dumps(st))
        assert rt.status(r.cid) == "stopped"
        rt.kill(r.cid, "KILL")
        rt.delete(r.cid, force=True)
        time.sleep(0.2)
        assert bystander.poll() is None, "an unrelated process was killed"
    finally:
        bystander.kill()
        bystander.wait()
