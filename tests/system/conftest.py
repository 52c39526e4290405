# SPDX-License-Identifier: LGPL-2.1-or-later
"""System tests: cellad, cella and cella-monitor together on a real host.

Each test gets its own host (`host` fixture): a fresh cellad serving a
temporary var/run/log tree and socket.  The fixture tears everything down
afterwards (instances, monitors, mounts, cgroups) and fails the test if
anything of it is left behind.

Run as root with Debian's python:  /usr/bin/python3 -m pytest -q tests/system
The binaries come from $CELLA_BUILD (default: ./build).
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CELLA_BUILD", REPO / "build")).resolve()
os.environ["CELLA_NO_NETWORKS"] = "1"  # every cellad these tests start (Host.start, autostart) leaves the host's network alone
CELLAD = BUILD / "cellad"
CELLA = BUILD / "cella"
MONITOR = BUILD / "cella-monitor"


def wait_for(fn, timeout=10.0, interval=0.05):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > end:
            return v
        time.sleep(interval)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("cella", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


class Response:
    def __init__(self, status, body, headers):
        self.status = status
        self.body = body
        self.headers = headers

    def json(self):
        return json.loads(self.body)

    @property
    def metadata(self):
        return self.json().get("metadata")

    def __repr__(self):
        return f"<{self.status} {self.body[:500]!r}>"


class Host:
    """A running cellad on a private tree."""

    def __init__(self, base: Path):
        self.base = base
        self.var = base / "var"
        self.run = base / "run"
        self.log = base / "log"
        self.socket = self.run / "unix.socket"
        self.proc = None
        self.stderr = base / "cellad.stderr"

    # -- daemon ---------------------------------------------------------
    def start(self, extra=()):
        self.proc = subprocess.Popen(
            [str(CELLAD), "--var-dir", str(self.var), "--run-dir", str(self.run),
             "--log-dir", str(self.log), "--socket", str(self.socket), *extra],
            stdin=subprocess.DEVNULL, stdout=open(self.stderr, "a"), stderr=subprocess.STDOUT,
            start_new_session=True)
        ok = wait_for(lambda: self.socket.exists() and self._ping(), timeout=15)
        assert ok, f"cellad did not come up: {self.stderr.read_text()}"
        return self

    def _ping(self):
        try:
            return self.api("GET", "/1.0").status == 200
        except OSError:
            return False

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def daemon_log(self):
        return self.stderr.read_text() if self.stderr.exists() else ""

    # -- API ------------------------------------------------------------
    def api(self, method, path, body=None, timeout=120, headers=None):
        c = UnixHTTPConnection(str(self.socket), timeout=timeout)
        data = None
        hdrs = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        c.request(method, path, body=data, headers=hdrs)
        r = c.getresponse()
        out = Response(r.status, r.read().decode(errors="replace"), dict(r.getheaders()))
        c.close()
        return out

    def wait_op(self, resp, timeout=120):
        """Wait for the operation of a 202 response; returns the operation object."""
        assert resp.status == 202, resp
        op = resp.json()["operation"]
        r = self.api("GET", f"{op}/wait?timeout={timeout}", timeout=timeout + 10)
        assert r.status == 200, r
        return r.metadata

    # -- CLI ------------------------------------------------------------
    def cli(self, *args, input=None, timeout=120, check=False):
        env = dict(os.environ, CELLA_SOCKET=str(self.socket), CELLA_NO_AUTOSTART="1")
        p = subprocess.run([str(CELLA), *map(str, args)], input=input, capture_output=True,
                           text=True, timeout=timeout, env=env)
        if check:
            assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p

    # -- cleanup and leak checks ----------------------------------------
    def instance_names(self):
        try:
            r = self.api("GET", "/1.0/instances?recursion=1", timeout=30)
            return [i["name"] for i in r.metadata] if r.status == 200 else []
        except (OSError, ValueError, KeyError, TypeError):
            return []


def mounts_under(path: Path):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == str(path) or mp.startswith(str(path) + "/"):
                out.append(mp)
    return out


def procs_mentioning(text: str):
    found = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append((int(p.name), cmd))
    return found


def cgroups_named(prefix: str):
    found = []
    roots = [Path("/sys/fs/cgroup")]
    for root in roots:
        for d in root.rglob(f"{prefix}*") if root.exists() else []:
            if d.is_dir():
                found.append(str(d))
    return found


def host_leaks(h: Host):
    leaks = []
    leaks += [f"mount {m}" for m in mounts_under(h.base)]
    # a network's dnsmasq outlives cellad by design (DHCP and DNS go on while
    # it restarts); teardown_host() stops it with the rest
    leaks += [f"process {pid}: {cmd}" for pid, cmd in procs_mentioning(str(h.base))
              if not cmd.startswith("/usr/sbin/dnsmasq ")]
    rt = h.run / "runtime"
    if rt.exists():
        leaks += [f"runtime state {p.name}" for p in rt.iterdir() if not p.name.startswith(".")]
    for d in cgroup_dirs(h):
        leaks += [f"cgroup {c}" for c in d.iterdir() if c.is_dir()]
    return leaks


def cgroup_parent(h: Host):
    """The cgroup tree cellad gives this host's guests (lib/instance.c)."""
    v = 5381
    for c in str(h.run).encode():
        v = (v * 33 + c) & 0xFFFFFFFFFFFFFFFF
    return f"cella-vps-{v & 0xFFFFFFFF:08x}"


def cgroup_dirs(h: Host):
    name = cgroup_parent(h)
    root = Path("/sys/fs/cgroup")
    found = [root / name] + [d / name for d in root.iterdir() if d.is_dir()]
    return [d for d in found if d.is_dir()]


def teardown_host(h: Host):
    # instances first, through the API, while cellad still runs
    if h.proc and h.proc.poll() is None:
        for name in h.instance_names():
            try:
                h.api("DELETE", f"/1.0/instances/{name}?force=1", timeout=60)
            except OSError:
                pass
    h.kill(signal.SIGTERM)
    # whatever survived: monitors, guests (found by their cgroups too: a
    # guest's command line names nothing of ours), mounts
    for _ in range(3):
        pids = {pid for pid, _cmd in procs_mentioning(str(h.base))}
        for d in cgroup_dirs(h):
            for procs in d.rglob("cgroup.procs"):
                try:
                    pids |= {int(p) for p in procs.read_text().split()}
                except OSError:
                    pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for m in sorted(mounts_under(h.base), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        time.sleep(0.1)
    # the per-host parent the engine keeps, in every hierarchy
    for d in cgroup_dirs(h):
        for c in sorted(d.rglob("*"), key=lambda p: len(str(p)), reverse=True):
            if c.is_dir():
                try:
                    c.rmdir()
                except OSError:
                    pass
        try:
            d.rmdir()
        except OSError:
            pass


@pytest.fixture
def host_dir():
    d = Path(tempfile.mkdtemp(prefix="cella-sys-"))
    # guests' roots (ids of their own) must be able to traverse down to their trees
    os.chmod(d, 0o711)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def host(host_dir):
    """A fresh cellad on a private tree; torn down and leak-checked afterwards."""
    h = Host(host_dir)
    h.start()
    yield h
    # leaks are measured after a clean shutdown of what the test made
    if h.proc and h.proc.poll() is None:
        for name in h.instance_names():
            r = h.api("DELETE", f"/1.0/instances/{name}?force=1", timeout=60)
            if r.status == 202:
                h.wait_op(r)
    h.kill(signal.SIGTERM)
    leaks = wait_for(lambda: not host_leaks(h), timeout=5) or host_leaks(h)
    log = h.daemon_log()
    teardown_host(h)
    assert leaks is True or not leaks, f"left behind: {leaks}\ncellad log:\n{log[-3000:]}"
    # the ASan/UBSan builds report memory errors and leaks at exit
    for bad in ("Sanitizer", "runtime error:"):
        assert bad not in log, f"cellad: {bad}\n{log[-6000:]}"
