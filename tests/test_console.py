# SPDX-License-Identifier: LGPL-2.1-or-later
"""process.terminal = true: the pty master is handed over --console-socket
(SCM_RIGHTS) and carries the container's stdio."""

import json
import os
import select
import socket
import subprocess
import threading
import time

import pytest


class ConsoleSocket:
    """A unix socket server that accepts one connection and keeps the fd
    received with SCM_RIGHTS."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)
        self.sock.settimeout(20)
        self.fds = []
        self.msg = b""
        self.error = None
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        try:
            conn, _ = self.sock.accept()
            with conn:
                conn.settimeout(20)
                msg, fds, flags, addr = socket.recv_fds(conn, 4096, 4)
                self.msg = msg
                self.fds = fds
        except Exception as e:   # reported by master()
            self.error = e

    def master(self, timeout=20):
        self.thread.join(timeout)
        assert self.error is None, f"console socket: {self.error}"
        assert len(self.fds) == 1, f"expected exactly one fd, got {self.fds}"
        return self.fds[0]

    def close(self):
        self.sock.close()
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def console(rt):
    c = ConsoleSocket(rt.base / "console.sock")
    yield c
    c.close()


def read_until(fd, needle=None, timeout=10):
    """Read the pty master until `needle` shows up, EOF/EIO, or timeout."""
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if not r:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:        # EIO: the slave side is closed
            break
        if not chunk:
            break
        buf += chunk
        if needle is not None and needle in buf:
            break
    return buf.decode(errors="replace")


def last_json(text):
    lines = [l for l in text.replace("\r", "").splitlines() if l.strip().startswith("{")]
    assert lines, text
    return json.loads(lines[-1])


def terminal_bundle(bundle):
    bundle.process["terminal"] = True
    return bundle


def test_console_socket_receives_pty_master(rt, bundle, console):
    terminal_bundle(bundle).probe_args("tty")
    r = rt.create(bundle, "--console-socket", console.path)
    assert r.ok, r
    master = console.master()
    assert os.isatty(master)
    assert rt.start(r.cid).ok
    out = read_until(master, b"tcpgrp")
    d = last_json(out)
    for s in ("stdin", "stdout", "stderr"):
        assert d[s]["isatty"] is True, (s, d)
        assert d[s]["ttyname"] and d[s]["ttyname"].startswith("/dev/pts/"), d
    # a controlling terminal with the process in the foreground group
    assert d["tcpgrp"] == d["pgrp"], d
    rt.wait_status(r.cid, "stopped")


def test_console_stdin_through_master(rt, bundle, console):
    terminal_bundle(bundle).args("/bin/sh", "-c", "read x; echo got-$x-done")
    r = rt.create(bundle, "--console-socket", console.path)
    assert r.ok, r
    master = console.master()
    assert rt.start(r.cid).ok
    time.sleep(0.2)
    os.write(master, b"hello\n")
    out = read_until(master, b"-done")
    assert "got-hello-done" in out, out
    rt.wait_status(r.cid, "stopped")


def test_console_size(rt, bundle, console):
    terminal_bundle(bundle).probe_args("tty")
    bundle.process["consoleSize"] = {"height": 33, "width": 111}
    r = rt.create(bundle, "--console-socket", console.path)
    assert r.ok, r
    master = console.master()
    assert rt.start(r.cid).ok
    d = last_json(read_until(master, b"tcpgrp"))
    assert (d["stdout"]["rows"], d["stdout"]["cols"]) == (33, 111), d


def test_dev_console_is_the_pty(rt, bundle, console):
    terminal_bundle(bundle).probe_args("stat", "/dev/console", "/proc/self/fd/0")
    r = rt.create(bundle, "--console-socket", console.path)
    assert r.ok, r
    master = console.master()
    assert rt.start(r.cid).ok
    d = last_json(read_until(master, b"/proc/self/fd/0\":{"))
    con = d["/dev/console"]
    assert con["ok"], d
    assert con["type"] == "chr"
    assert con["rdev_major"] == 136   # a pts device


def test_run_detach_with_console(rt, bundle, console):
    terminal_bundle(bundle).args("/bin/sh", "-c", "echo detached-$((6*7)); sleep 30")
    r = rt.run(bundle, "--console-socket", console.path, detach=True)
    assert r.ok, r
    master = console.master()
    assert "detached-42" in read_until(master, b"detached-42")
    assert rt.status(r.cid) == "running"
    assert rt.kill(r.cid, "KILL").ok
    rt.wait_status(r.cid, "stopped")


def test_console_ctrl_c_reaches_process(rt, bundle, console):
    terminal_bundle(bundle).probe_args("wait-signal", "30")
    r = rt.create(bundle, "--console-socket", console.path)
    assert r.ok, r
    master = console.master()
    assert rt.start(r.cid).ok
    read_until(master, b"ready")
    os.write(master, b"\x03")       # ^C -> SIGINT to the foreground group
    out = read_until(master, b'"signal"')
    assert '"signal":2' in out, out
    rt.wait_status(r.cid, "stopped")


def test_terminal_without_console_socket_fails(rt, bundle):
    terminal_bundle(bundle).probe_args("exit", "0")
    for verb in ("create", "run -d"):
        cid = rt.track(rt.new_id())
        bundle.write()
        r = rt(*verb.split(), "--bundle", bundle.path, cid)
        assert r.rc != 0, r
        assert rt("state", cid).rc != 0


def test_console_socket_missing_path_fails(rt, bundle):
    terminal_bundle(bundle).probe_args("exit", "0")
    r = rt.create(bundle, "--console-socket", rt.base / "no-such.sock")
    assert r.rc != 0, r
    assert rt("state", r.cid).rc != 0


def test_console_socket_without_terminal_fails(rt, bundle, console):
    bundle.process["terminal"] = False
    bundle.probe_args("exit", "0")
    r = rt.create(bundle, "--console-socket", console.path)
    assert r.rc != 0, r


def test_console_socket_peer_closes_early(rt, bundle):
    # a server that accepts and closes without reading: the runtime must not
    # hang or crash, and must either succeed or clean up completely
    path = rt.base / "rude.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)

    def rude():
        srv.settimeout(10)
        try:
            c, _ = srv.accept()
            c.close()
        except OSError:
            pass
    t = threading.Thread(target=rude, daemon=True)
    t.start()
    try:
        terminal_bundle(bundle).probe_args("exit", "0")
        r = rt.create(bundle, "--console-socket", path)
        if r.rc != 0:
            assert rt("state", r.cid).rc != 0
    finally:
        t.join(10)
        srv.close()


def test_run_foreground_terminal_relays_pty(rt, bundle):
    # `run` without --console-socket and without -d relays the container's
    # pty to the caller's terminal (here a pty this test owns)
    terminal_bundle(bundle).args("/bin/sh", "-c", "read x; echo tty-$x; /bin/cella-probe tty")
    bundle.write()
    cid = rt.track(rt.new_id())
    master, slave = os.openpty()
    try:
        p = subprocess.Popen([*rt.global_args(), "run", "--bundle", str(bundle.path), cid],
                             stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        slave = -1
        time.sleep(0.3)
        os.write(master, b"relayed\n")
        out = read_until(master, b"tcpgrp", timeout=15)
        rc = p.wait(timeout=15)
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert rc == 0, out
    assert "tty-relayed" in out
    d = last_json(out)
    assert d["stdout"]["isatty"] is True
    assert d["stdin"]["ttyname"].startswith("/dev/pts/")
