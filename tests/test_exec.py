# SPDX-License-Identifier: LGPL-2.1-or-later
"""`exec`: a new process in a running container joins every namespace and
the cgroup of its init, gets the container's process defaults with the
flags (or --process) applied, and reports its exit status."""

import json
import os
import pty
import select
import signal
import subprocess
import time

import pytest

from conftest import PROBE_PATH, wait_for
from test_console import ConsoleSocket, last_json, read_until

NS_NAMES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")


def init_ns(pid):
    """Namespace inodes of a host pid, as the probe reports them."""
    return {n: os.stat(f"/proc/{pid}/ns/{n}").st_ino for n in NS_NAMES}


@pytest.fixture
def running(rt, bundle):
    """A running container whose init sleeps; its id."""
    bundle.args("/bin/sleep", "600")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    return r.cid


def init_pid(rt, cid):
    return rt.state(cid)["pid"]


def exec_probe(rt, cid, *args, extra=(), expect_rc=0):
    r = rt("exec", *extra, cid, PROBE_PATH, *args)
    assert r.rc == expect_rc, r
    return r.json()


def test_exec_joins_every_namespace(rt, running):
    d = exec_probe(rt, running, "ns")
    want = init_ns(init_pid(rt, running))
    for n in NS_NAMES:
        assert d[n] == want[n], (n, d, want)
    # its own pid namespace is the container's (it is not the host's)
    assert d["pid"] != os.stat("/proc/self/ns/pid").st_ino


def test_exec_is_in_the_container_pid_namespace_and_cgroup(rt, running):
    d = exec_probe(rt, running, "all")
    # the init is pid 1 there; we are another pid of the same namespace
    assert d["pid"]["pid"] > 1, d["pid"]
    # in the init's cgroups, as seen from inside (/proc/1 is the init there)
    r = rt("exec", running, "/bin/sh", "-c", "cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup")
    assert r.ok, r
    mine, init = r.out.split("---\n")
    assert mine == init and mine.strip(), r.out


def test_exec_exit_status(rt, running):
    r = rt("exec", running, "/bin/sh", "-c", "exit 7")
    assert r.rc == 7, r
    r = rt("exec", running, "/bin/sh", "-c", "kill -KILL $$")
    assert r.rc == 128 + 9, r
    r = rt("exec", running, "/bin/true")
    assert r.rc == 0, r


def test_exec_output_and_stdin(rt, running, tmp_path):
    inp = tmp_path / "in"
    inp.write_text("hello from stdin\n")
    with open(inp) as f:
        r = rt("exec", running, "/bin/cat", stdin=f)
    assert r.ok, r
    assert r.out == "hello from stdin\n"


def test_exec_env_cwd_user(rt, bundle):
    bundle.args("/bin/sleep", "600")
    bundle.env("FROMCONFIG", "yes")
    bundle.env("OVERRIDE", "config")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    d = exec_probe(rt, r.cid, "all", extra=("--env", "FOO=bar", "--env", "OVERRIDE=flag",
                                             "--cwd", "/tmp", "--user", "65534:65534"))
    env = d["env"]
    assert "FOO=bar" in env, env
    assert "FROMCONFIG=yes" in env, env
    assert "OVERRIDE=flag" in env and "OVERRIDE=config" not in env, env
    assert any(e.startswith("PATH=") for e in env), env
    # HOME from the container's /etc/passwd for the user it runs as
    assert "HOME=/nonexistent" in env, env
    assert d["cwd"]["cwd"] == "/tmp"
    assert d["ids"]["uid"] == 65534 and d["ids"]["euid"] == 65534, d["ids"]
    assert d["ids"]["gid"] == 65534, d["ids"]


def test_exec_defaults_from_config(rt, bundle):
    bundle.args("/bin/sleep", "600")
    bundle.process["cwd"] = "/root"
    bundle.process["user"] = {"uid": 0, "gid": 0}
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    d = exec_probe(rt, r.cid, "all")
    assert d["cwd"]["cwd"] == "/root"
    assert d["ids"]["uid"] == 0
    assert "HOME=/root" in d["env"], d["env"]
    # the container's capabilities, not the runtime's full set
    assert d["caps"]["CapEff"] == exec_probe(rt, r.cid, "caps")["CapEff"]
    assert int(d["caps"]["CapBnd"], 16) != int(open("/proc/self/status").read()
                                               .split("CapBnd:")[1].split()[0], 16)


def test_exec_cap_and_no_new_privs(rt, bundle):
    bundle.args("/bin/sleep", "600")
    bundle.process["noNewPrivileges"] = False
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    running = r.cid
    base = exec_probe(rt, running, "all")
    cap_net_admin = 1 << 12
    assert not int(base["caps"]["CapEff"], 16) & cap_net_admin
    d = exec_probe(rt, running, "all", extra=("--cap", "CAP_NET_ADMIN", "--no-new-privs"))
    for s in ("CapEff", "CapPrm", "CapBnd"):
        assert int(d["caps"][s], 16) & cap_net_admin, (s, d["caps"])
    assert d["seccomp"]["no_new_privs"] == 1, d["seccomp"]
    assert base["seccomp"]["no_new_privs"] == 0, base["seccomp"]


def test_exec_process_json(rt, running, tmp_path):
    proc = {
        "args": [PROBE_PATH, "all"],
        "env": ["ONLY=this"],
        "cwd": "/etc",
        "user": {"uid": 65534, "gid": 65534},
    }
    p = tmp_path / "process.json"
    p.write_text(json.dumps(proc))
    # the args after the id are ignored with --process
    r = rt("exec", "--process", p, running, "/bin/false")
    assert r.ok, r
    d = r.json()
    # the env is exactly the process's (plus HOME, as runc adds it)
    assert sorted(d["env"]) == ["HOME=/nonexistent", "ONLY=this"], d["env"]
    assert d["cwd"]["cwd"] == "/etc"
    assert d["ids"]["uid"] == 65534


@pytest.mark.cella_only
def test_exec_process_json_invalid(rt, running, tmp_path):
    p = tmp_path / "process.json"
    p.write_text(json.dumps({"cwd": "/"}))
    r = rt("exec", "--process", p, running)
    assert r.rc != 0
    assert "args" in r.err, r


def test_exec_into_stopped_container_fails(rt, bundle):
    bundle.args("/bin/true")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    rt.wait_status(r.cid, "stopped")
    r = rt("exec", r.cid, "/bin/true")
    assert r.rc != 0, r
    assert "stopped" in r.err, r


def test_exec_into_missing_container_fails(rt):
    r = rt("exec", rt.track(rt.new_id()), "/bin/true")
    assert r.rc != 0
    assert "does not exist" in r.err or "not exist" in r.err, r


def test_exec_into_paused_container_fails(rt, running):
    assert rt("pause", running).ok
    try:
        r = rt("exec", running, "/bin/true")
        assert r.rc != 0, r
        assert "paused" in r.err, r
    finally:
        assert rt("resume", running).ok


def test_exec_missing_executable(rt, running):
    r = rt("exec", running, "/does/not/exist")
    assert r.rc != 0, r
    assert "/does/not/exist" in r.err, r
    # nothing of the failed exec stays in the container
    assert len(rt.pids(running)) == 1


def test_exec_bad_flags(rt, running):
    r = rt("exec", "--user", "nobody", running, "/bin/true")
    assert r.rc != 0, r
    assert "nobody" in r.err, r
    r = rt("exec", "--cwd", "relative", running, "/bin/true")
    assert r.rc != 0, r
    r = rt("exec", running)
    assert r.rc != 0, r


def test_exec_detach_pid_file(rt, running, tmp_path):
    pidfile = tmp_path / "exec.pid"
    r = rt("exec", "--detach", "--pid-file", pidfile, running, "/bin/sleep", "600")
    assert r.ok, r
    pid = int(pidfile.read_text())
    assert os.path.exists(f"/proc/{pid}")
    assert init_ns(pid) == init_ns(init_pid(rt, running))
    # it is one of the container's processes
    assert sorted(rt.wait_pids(running, 2)) == sorted([init_pid(rt, running), pid])
    with open(f"/proc/{pid}/cgroup") as f:
        assert running in f.read()


def test_exec_in_created_container(rt, bundle):
    bundle.args("/bin/sleep", "600")
    r = rt.create(bundle)
    assert r.ok, r
    d = exec_probe(rt, r.cid, "ns")
    assert d["mnt"] == init_ns(init_pid(rt, r.cid))["mnt"]
    assert rt.status(r.cid) == "created"


def test_exec_preserve_fds(rt, running, tmp_path):
    secret = tmp_path / "fd3"
    secret.write_text("passed along")
    argv = rt.global_args() + ["exec", "--preserve-fds", "1", running, PROBE_PATH, "read",
                               "/proc/self/fd/3"]
    cmd = "exec 3<%s; exec %s" % (secret, " ".join(map(str, argv)))
    p = subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p
    d = json.loads(p.stdout.strip().splitlines()[-1])
    assert d.get("data") == "passed along", d
    # without it, fd 3 does not reach the process
    cmd = "exec 3<%s; exec %s" % (secret, " ".join(map(str, argv)).replace("--preserve-fds 1 ", ""))
    p = subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True, timeout=30)
    d = json.loads(p.stdout.strip().splitlines()[-1])
    assert "data" not in d, d


def test_exec_tty_console_socket(rt, running):
    console = ConsoleSocket(rt.base / "exec-console.sock")
    try:
        r = rt("exec", "--tty", "--console-socket", console.path, "--detach", running,
               PROBE_PATH, "tty")
        assert r.ok, r
        master = console.master()
        assert os.isatty(master)
        d = last_json(read_until(master, b"tcpgrp"))
        for s in ("stdin", "stdout", "stderr"):
            assert d[s]["isatty"] is True, (s, d)
            assert d[s]["ttyname"].startswith("/dev/pts/"), d
        assert d["tcpgrp"] == d["pgrp"], d
    finally:
        console.close()


def test_exec_tty_needs_console_socket_when_detached(rt, running):
    r = rt("exec", "--tty", "--detach", running, "/bin/true")
    assert r.rc != 0, r
    assert "console" in r.err and "socket" in r.err, r


@pytest.mark.cella_only
def test_exec_console_socket_needs_tty(rt, running, tmp_path):
    r = rt("exec", "--console-socket", tmp_path / "x.sock", running, "/bin/true")
    assert r.rc != 0, r


def test_exec_tty_foreground_relay(rt, running):
    """Without --console-socket, the runtime relays the pty to its own stdio."""
    master, slave = pty.openpty()
    argv = rt.global_args() + ["exec", "--tty", running, PROBE_PATH, "tty"]
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    rc = p.wait(timeout=10)
    os.close(master)
    assert rc == 0, out
    d = last_json(out.decode(errors="replace"))
    assert d["stdout"]["isatty"] is True, d
    # the container's own pty, not ours
    assert d["stdout"]["ttyname"].startswith("/dev/pts/"), d


def test_exec_forwards_signals(rt, running):
    argv = rt.global_args() + ["exec", running, PROBE_PATH, "wait-signal", "30"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    # wait until the process runs in the container
    assert wait_for(lambda: len(rt.pids(running)) == 2, 10)
    time.sleep(0.2)
    p.send_signal(signal.SIGUSR1)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, (out, err)
    assert json.loads(out.decode().strip().splitlines()[-1])["signal"] == signal.SIGUSR1


def test_exec_in_user_namespace(rt, bundle):
    bundle.set_namespace("user")
    bundle.linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    os.chmod(bundle.rootfs, 0o755)
    bundle.args("/bin/sleep", "600")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    d = exec_probe(rt, r.cid, "all", extra=("--user", "1000:1000"))
    want = init_ns(init_pid(rt, r.cid))
    for n in NS_NAMES:
        assert d["ns"][n] == want[n], (n, d["ns"], want)
    assert d["ids"]["uid_map"] == [[0, 100000, 65536]]
    assert d["ids"]["uid"] == 1000 and d["ids"]["gid"] == 1000, d["ids"]
    # seen from the host: the mapped ids
    pidfile = rt.base / "u.pid"
    assert rt("exec", "-d", "--pid-file", pidfile, r.cid, "/bin/sleep", "600").ok
    with open(f"/proc/{int(pidfile.read_text())}/status") as f:
        uid_line = [l for l in f if l.startswith("Uid:")][0]
    assert uid_line.split()[1] == "100000", uid_line


@pytest.mark.cella_only
def test_exec_preserve_fds_must_be_open(rt, running):
    # fd 3 closed: nothing of ours may slip into the range
    argv = rt.global_args() + ["exec", "--preserve-fds", "1", running, "/bin/true"]
    p = subprocess.run(["/bin/sh", "-c", "exec 3<&-; exec " + " ".join(map(str, argv))],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0, p
    assert "fd 3 is not open" in p.stderr, p


def test_exec_in_time_namespace(rt, bundle):
    r = rt("features")
    if (not os.path.exists("/proc/self/ns/time") or not r.ok
            or "time" not in r.json_all().get("linux", {}).get("namespaces", [])):
        pytest.skip("no time namespace support")
    bundle.set_namespace("time")
    bundle.linux["timeOffsets"] = {"monotonic": {"secs": 86400 * 365, "nanosecs": 0}}
    bundle.args("/bin/sleep", "600")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    d = exec_probe(rt, r.cid, "all")
    assert d["ns"]["time"] == init_ns(init_pid(rt, r.cid))["time"]
    assert d["ns"]["time"] != os.stat("/proc/self/ns/time").st_ino
    # the container's clock, a year ahead of ours
    assert d["clock"]["monotonic"] > time.monotonic() + 86400 * 300, d["clock"]


# ---------------------------------------------------------------------------
# The container's seccomp profile applies to exec'd processes too


@pytest.mark.parametrize("nnp,user", [(True, 0), (False, 0), (False, 65534)])
def test_exec_gets_the_seccomp_filter(rt, bundle, nnp, user):
    from test_seccomp import profile, rule
    bundle.process["noNewPrivileges"] = nnp
    bundle.linux["seccomp"] = profile(rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO"))
    bundle.args("/bin/sleep", "600")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    d = exec_probe(rt, r.cid, "seccomp", extra=("--user", f"{user}:{user}"))
    assert d["seccomp"] == 2 and d["seccomp_filters"] >= 1, d
    assert d["no_new_privs"] == (1 if nnp else 0), d
    e = rt("exec", "--user", f"{user}:{user}", r.cid, "/bin/sh", "-c",
           "mkdir /tmp/d 2>&1; echo mkdir=$?")
    assert "mkdir=1" in e.out and "Operation not permitted" in e.out, e


@pytest.mark.cella_only   # runc (1.1 here) hangs in this exec
def test_exec_seccomp_notify_listener(rt, bundle):
    from test_seccomp import Listener, profile, rule
    path = rt.base / "listener.sock"
    first = Listener(path)
    first.start()
    bundle.linux["seccomp"] = profile(rule(["mkdir", "mkdirat"], "SCMP_ACT_NOTIFY"),
                                      listenerPath=str(path), listenerMetadata="exec=1")
    bundle.args("/bin/sleep", "600")
    r = rt.run(bundle, detach=True)
    assert r.ok, r
    assert wait_for(lambda: first.state is not None, 10), first.error
    # the exec'd process's listener fd goes to whoever listens now
    os.unlink(path)
    second = Listener(path)
    second.start()
    e = rt("exec", r.cid, "/bin/sh", "-c", "mkdir /tmp/d 2>&1; echo mkdir=$?")
    assert "Invalid cross-device link" in e.out and "mkdir=1" in e.out, e
    second.join(timeout=20)
    assert second.error is None, second.error
    st = second.state
    assert st is not None, "the listener got nothing"
    assert st["fds"] == ["seccompFd"], st
    assert st["pid"] == init_pid(rt, r.cid), st
    assert st["metadata"] == "exec=1", st
    assert st["state"]["id"] == r.cid and st["state"]["status"] == "running", st
    assert second.notified, "no notification"
