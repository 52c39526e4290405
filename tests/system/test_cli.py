# SPDX-License-Identifier: LGPL-2.1-or-later
"""cella, the command-line client.

Three kinds of tests:
- argument handling, which must never reach the daemon;
- the client's side of the protocol (HTTP parsing, envelopes, operations,
  websockets, output formats) against a small fake cellad in this file, so
  that they hold whatever the real daemon can do today;
- the real cellad (the `host` fixture): formats against the API's own
  objects, autostart, and the instance lifecycle through the CLI.  Those
  that need routes not written yet skip on a 501 answer only.
"""

import base64
import hashlib
import json
import os
import shutil
import socket
import socketserver
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import BUILD, CELLA, wait_for, procs_mentioning

# ---------------------------------------------------------------------------
# helpers


def cella(*args, socket_path="/nonexistent/cella.socket", input="", env=None, timeout=60):
    e = dict(os.environ, CELLA_SOCKET=str(socket_path), CELLA_NO_AUTOSTART="1")
    e.pop("CELLA_DAEMON_ARGS", None)
    if env:
        e.update(env)
    return subprocess.run([str(CELLA), *map(str, args)], input=input, capture_output=True,
                          text=True, timeout=timeout, env=e)


def one_error(p):
    """Exactly one line on stderr, `Error: ...`, and exit status 1."""
    assert p.returncode == 1, p
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), p.stderr
    return lines[0][len("Error: "):]


def skip_on_501(r):
    """Skip when the daemon answers 501 (a route not written yet)."""
    if getattr(r, "status", None) == 501:
        pytest.skip(f"not implemented in cellad yet: {r.body[:200]}")
    return r


# ---------------------------------------------------------------------------
# a fake cellad: canned routes, async operations, websockets


class FakeDaemon:
    def __init__(self, path):
        self.path = str(path)
        self.routes = {}          # (method, path) -> fn(req) -> (status, body, headers)
        self.requests = []        # (method, path, headers, body)
        self.chunked = False
        self.ops = {}             # id -> {"event", "result", "fds": {secret: name}}
        self.lock = threading.Lock()

    def route(self, method, path, fn=None, status=200, metadata=None):
        if fn is None:
            def fn(_req, status=status, metadata=metadata):
                return status, {"type": "sync", "status_code": status, "metadata": metadata}, {}
        self.routes[(method, path)] = fn

    def error(self, method, path, code, msg):
        self.routes[(method, path)] = lambda _r: (code, {"type": "error", "error_code": code, "error": msg}, {})

    def async_op(self, method, path, result, after=None):
        """A route answering 202 with an operation that finishes with `result`."""
        def fn(req):
            op_id = f"op{len(self.ops) + 1}"
            ev = threading.Event()
            self.ops[op_id] = {"event": ev, "result": result, "fds": {}}
            if after:
                after(req)
            ev.set()
            op = {"id": op_id, "class": "task", "status": "Running", "metadata": None}
            return 202, {"type": "async", "status_code": 100, "operation": f"/1.0/operations/{op_id}",
                         "metadata": op}, {}
        self.routes[(method, path)] = fn

    def exec_route(self, name):
        """POST exec: runs the command on this host behind websockets, like cellad would in a guest."""
        def fn(req):
            body = json.loads(req["body"])
            op_id = f"op{len(self.ops) + 1}"
            interactive = body.get("interactive", False)
            names = ["0", "control"] if interactive else ["0", "1", "2", "control"]
            fds = {n: hashlib.sha1(f"{op_id}-{n}".encode()).hexdigest() for n in names}
            op = {"event": threading.Event(), "result": None, "fds": {v: k for k, v in fds.items()},
                  "conns": {}, "cmd": body["command"], "env": body.get("environment", {}),
                  "cond": threading.Condition(), "body": body}
            self.ops[op_id] = op
            return 202, {"type": "async", "operation": f"/1.0/operations/{op_id}",
                         "metadata": {"id": op_id, "class": "websocket", "status": "Running",
                                      "metadata": {"fds": fds}}}, {}
        self.routes[("POST", f"/1.0/instances/{name}/exec")] = fn

    # -- server -------------------------------------------------------
    def start(self):
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                fake._handle(self.rfile, self.wfile, self.connection)

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self.server = Server(self.path, Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, rfile, wfile, conn):
        line = rfile.readline().decode()
        if not line:
            return
        method, target, _ = line.split(" ", 2)
        headers = {}
        while True:
            h = rfile.readline().decode()
            if h in ("\r\n", "\n", ""):
                break
            k, v = h.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        body = rfile.read(int(headers.get("content-length", "0")))
        path, _, query = target.partition("?")
        self.requests.append((method, target, headers, body))
        req = {"method": method, "path": path, "query": query, "headers": headers, "body": body}
        if headers.get("upgrade", "").lower() == "websocket":
            return self._websocket(req, rfile, wfile)
        if path.startswith("/1.0/operations/") and path.endswith("/wait"):
            op = self.ops[path.split("/")[3]]
            op["event"].wait(30)
            res = op["result"]
            return self._send(wfile, 200, {"type": "sync", "status_code": 200, "metadata": res}, {})
        fn = self.routes.get((method, path))
        if fn is None:
            return self._send(wfile, 404, {"type": "error", "error_code": 404, "error": "not found"}, {})
        status, out, hdrs = fn(req)
        self._send(wfile, status, out, hdrs)

    def _send(self, wfile, status, body, hdrs):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        head = f"HTTP/1.1 {status} X\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        if self.chunked:
            head += "Transfer-Encoding: chunked\r\n\r\n"
            out = b""
            for i in range(0, len(data), 7):
                piece = data[i:i + 7]
                out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
            out += b"0\r\n\r\n"
            wfile.write(head.encode() + out)
        else:
            head += f"Content-Length: {len(data)}\r\n\r\n"
            wfile.write(head.encode() + data)
        wfile.flush()

    # -- websockets -----------------------------------------------------
    @staticmethod
    def ws_read(rfile):
        """One frame: (opcode, payload) or None at EOF."""
        h = rfile.read(2)
        if len(h) < 2:
            return None
        op, ln = h[0] & 0x0F, h[1] & 0x7F
        masked = h[1] & 0x80
        if ln == 126:
            ln = struct.unpack(">H", rfile.read(2))[0]
        elif ln == 127:
            ln = struct.unpack(">Q", rfile.read(8))[0]
        mask = rfile.read(4) if masked else b"\0\0\0\0"
        data = bytearray(rfile.read(ln))
        for i in range(len(data)):
            data[i] ^= mask[i % 4]
        assert masked, "client frames must be masked"
        return op, bytes(data)

    @staticmethod
    def ws_write(wfile, op, data):
        n = len(data)
        if n < 126:
            head = bytes([0x80 | op, n])
        elif n < 65536:
            head = bytes([0x80 | op, 126]) + struct.pack(">H", n)
        else:
            head = bytes([0x80 | op, 127]) + struct.pack(">Q", n)
        wfile.write(head + data)
        wfile.flush()

    def _websocket(self, req, rfile, wfile):
        key = req["headers"]["sec-websocket-key"]
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC11B85").encode()).digest())
        secret = dict(p.split("=", 1) for p in req["query"].split("&") if "=" in p).get("secret")
        if req["path"] == "/1.0/events":
            wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            for ev in self.events:
                self.ws_write(wfile, 1, json.dumps(ev).encode())
            self.ws_write(wfile, 8, struct.pack(">H", 1000))
            return
        op_id = req["path"].split("/")[3]
        op = self.ops[op_id]
        name = op["fds"].get(secret)
        if name is None:
            return self._send(wfile, 403, {"type": "error", "error_code": 403, "error": "bad secret"}, {})
        wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        wfile.flush()
        with op["cond"]:
            op["conns"][name] = (rfile, wfile)
            op["cond"].notify_all()
            need = {"0", "1", "2"} if "1" in op["fds"].values() else {"0"}
            if need <= set(op["conns"]) and not op.get("started"):
                op["started"] = True
                threading.Thread(target=self._run, args=(op,), daemon=True).start()
        if name == "control":
            op["control"] = []
            while True:
                f = self.ws_read(rfile)
                if f is None or f[0] == 8:
                    break
                op["control"].append(json.loads(f[1]))
        # the others are served by _run; keep this connection open until then
        op["event"].wait(30)

    def _run(self, op):
        cmd = op["cmd"]
        interactive = "1" not in op["fds"].values()
        env = dict(os.environ, **op["env"])
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT if interactive else subprocess.PIPE, env=env)
        r0, w0 = op["conns"]["0"]

        def stdin_pump():
            while True:
                f = self.ws_read(r0)
                if f is None or f[0] == 8:
                    break
                if f[0] in (1, 2):
                    p.stdin.write(f[1])
                    p.stdin.flush()
            p.stdin.close()

        def out_pump(src, w):
            while True:
                d = src.read1(65536) if hasattr(src, "read1") else src.read(65536)
                if not d:
                    break
                self.ws_write(w, 2, d)

        t_in = threading.Thread(target=stdin_pump, daemon=True)
        t_in.start()
        outs = [threading.Thread(target=out_pump, args=(p.stdout, op["conns"]["0" if interactive else "1"][1]))]
        if not interactive:
            outs.append(threading.Thread(target=out_pump, args=(p.stderr, op["conns"]["2"][1])))
        for t in outs:
            t.start()
        for t in outs:
            t.join()
        rc = p.wait()
        op["result"] = {"id": "x", "status": "Success", "metadata": {"return": rc}}
        for n in (["0"] if interactive else ["1", "2"]):
            try:
                self.ws_write(op["conns"][n][1], 8, struct.pack(">H", 1000))
            except OSError:
                pass
        op["event"].set()


@pytest.fixture
def fake():
    d = Path(tempfile.mkdtemp(prefix="cella-fake-"))
    f = FakeDaemon(d / "unix.socket")
    f.events = []
    f.start()
    yield f
    f.stop()
    shutil.rmtree(d, ignore_errors=True)


def fcli(fake, *args, **kw):
    return cella(*args, socket_path=fake.path, **kw)


INSTANCES = [
    {"name": "c1", "type": "vps", "status": "Running", "status_code": 103, "description": "first, \"quoted\"",
     "config": {"limits.memory": "256MiB", "image.os": "busybox"}, "devices": {}, "profiles": ["default"],
     "expanded_config": {"limits.memory": "256MiB"}, "expanded_devices": {}, "ephemeral": False,
     "created_at": "2024-05-01T10:00:00Z", "architecture": "x86_64", "stateful": False,
     "location": "none", "last_used_at": "2024-05-01T10:00:01Z"},
    {"name": "web-2", "type": "vps", "status": "Stopped", "status_code": 102, "description": "",
     "config": {"user.note": "line1\nline2\n", "user.num": "0123", "user.yes": "yes", "user.empty": ""},
     "devices": {"root": {"type": "disk", "path": "/"}}, "profiles": [],
     "expanded_config": {}, "expanded_devices": {}, "ephemeral": True, "created_at": "2024-05-02T10:00:00Z",
     "architecture": "x86_64", "stateful": False, "location": "none", "last_used_at": ""},
]

# ---------------------------------------------------------------------------
# arguments: one error line, exit 1, no daemon contacted


@pytest.mark.parametrize("args,needle", [
    (["frobnicate"], "unknown command"),
    (["list", "--bogus"], "unknown flag"),
    (["start"], "missing instance name"),
    (["delete"], "missing instance name"),
    (["exec"], "missing"),
    (["launch", "minimal"], "missing"),
    (["info", "a", "b"], "unexpected argument"),
    (["list", "-f"], "needs an argument"),
    (["stop", "--timeout", "soon", "c1"], "not an integer"),
    (["config", "frob", "c1"], "unknown command"),
    (["config", "set", "c1"], "missing argument"),
    (["file", "push", "/etc/hostname", "nopath"], "NAME/PATH"),
    (["--bogus", "list"], "unknown flag"),
    ([], "no command"),
])
def test_argument_errors(args, needle, fake):
    p = fcli(fake, *args)
    msg = one_error(p)
    assert needle in msg, msg
    assert fake.requests == [], "argument errors must not reach the daemon"


def test_help_and_version():
    p = cella("help")
    assert p.returncode == 0 and "launch" in p.stdout and "snapshot" in p.stdout
    p = cella("help", "exec")
    assert p.returncode == 0 and "--env" in p.stdout
    p = cella("config", "--help")
    assert p.returncode == 0 and "device" in p.stdout
    p = cella("--version")
    assert p.returncode == 0 and p.stdout.strip()


def test_no_autostart_without_daemon(tmp_path):
    sock = tmp_path / "none.socket"
    p = cella("--no-autostart", "list", socket_path=sock, env={"CELLA_NO_AUTOSTART": ""})
    assert one_error(p) == f"cellad is not running (socket {sock})"
    p = cella("list", socket_path=sock)   # CELLA_NO_AUTOSTART=1
    assert one_error(p) == f"cellad is not running (socket {sock})"


# ---------------------------------------------------------------------------
# the client's protocol side, against the fake daemon


@pytest.mark.parametrize("chunked", [False, True])
def test_list_json_is_the_api_objects(fake, chunked):
    fake.chunked = chunked
    fake.route("GET", "/1.0/instances", metadata=INSTANCES)
    p = fcli(fake, "list", "-f", "json")
    assert p.returncode == 0, p
    assert json.loads(p.stdout) == INSTANCES
    p = fcli(fake, "list", "-f", "yaml")
    assert p.returncode == 0, p
    assert yaml.safe_load(p.stdout) == INSTANCES
    assert "recursion=1" in fake.requests[0][1]


def test_list_table_csv_compact(fake):
    fake.route("GET", "/1.0/instances", metadata=INSTANCES)
    p = fcli(fake, "list")
    assert p.returncode == 0, p
    lines = p.stdout.splitlines()
    assert lines[0].startswith("+-") and lines[0] == lines[2] == lines[-1]
    assert lines[1].split("|")[1].strip() == "NAME"
    assert "| c1 " in p.stdout and "RUNNING" in p.stdout and "STOPPED" in p.stdout
    assert len({len(l) for l in lines}) == 1, "the box is aligned"
    p = fcli(fake, "list", "-f", "csv", "-c", "nsd")
    assert p.stdout == 'c1,RUNNING,"first, ""quoted"""\nweb-2,STOPPED,\n'
    p = fcli(fake, "list", "-f", "csv", "-c", "n")
    assert p.stdout.split() == ["c1", "web-2"]
    p = fcli(fake, "list", "--format=compact", "-c", "ns")
    rows = [l.split() for l in p.stdout.splitlines()]
    assert rows == [["NAME", "STATE"], ["c1", "RUNNING"], ["web-2", "STOPPED"]]
    p = fcli(fake, "list", "-f", "csv", "-c", "n", "web")
    assert p.stdout == "web-2\n"
    assert "unknown column" in one_error(fcli(fake, "list", "-c", "nZ"))
    assert "invalid format" in one_error(fcli(fake, "list", "-f", "xml"))


def test_error_envelope_is_one_line(fake):
    fake.error("GET", "/1.0/instances/nope", 404, "instance `nope` not found")
    p = fcli(fake, "info", "nope")
    assert one_error(p) == "instance `nope` not found"
    fake.error("GET", "/1.0/instances", 501, "not implemented")
    assert one_error(fcli(fake, "list")) == "not implemented"


def test_async_operation_waited_and_failure_reported(fake):
    seen = []
    fake.async_op("POST", "/1.0/instances", {"id": "op1", "status": "Success", "metadata": {}},
                  after=lambda r: seen.append(json.loads(r["body"])))
    fake.async_op("PUT", "/1.0/instances/c1/state",
                  {"id": "op2", "status": "Failure", "err": "start `c1`: no rootfs"},
                  after=lambda r: seen.append(json.loads(r["body"])))
    p = fcli(fake, "launch", "minimal", "c1", "-c", "limits.memory=256MiB", "-p", "default", "-e")
    assert one_error(p) == "start `c1`: no rootfs"
    create, start = seen
    assert create == {"name": "c1", "type": "vps", "source": {"type": "image", "alias": "minimal"},
                      "config": {"limits.memory": "256MiB"}, "devices": {}, "profiles": ["default"],
                      "ephemeral": True}
    assert start == {"action": "start"}
    waits = [r for r in fake.requests if r[1].endswith("/wait?timeout=60")]
    assert len(waits) == 2
    # progress goes to terminals only
    assert p.stdout == ""


def test_stop_options(fake):
    seen = []
    fake.route("PUT", "/1.0/instances/c1/state", fn=lambda r: (seen.append(json.loads(r["body"])) or
                                                             (200, {"type": "sync", "metadata": {}}, {})))
    fake.route("PUT", "/1.0/instances/c2/state", fn=lambda r: (seen.append(json.loads(r["body"])) or
                                                             (200, {"type": "sync", "metadata": {}}, {})))
    p = fcli(fake, "stop", "--force", "--timeout", "5", "c1", "c2")
    assert p.returncode == 0, p
    assert seen == [{"action": "stop", "force": True, "timeout": 5}] * 2


def test_config_set_get_unset(fake):
    inst = json.loads(json.dumps(INSTANCES[0]))
    puts = []

    def put(r):
        b = json.loads(r["body"])
        puts.append(b)
        inst["config"] = b["config"]
        return 200, {"type": "sync", "metadata": {}}, {}
    fake.route("GET", "/1.0/instances/c1", fn=lambda r: (200, {"type": "sync", "metadata": inst}, {}))
    fake.route("PUT", "/1.0/instances/c1", fn=put)
    assert fcli(fake, "config", "set", "c1", "limits.cpu=2", "user.x=a=b").returncode == 0
    assert puts[-1] == {"config": {"limits.memory": "256MiB", "image.os": "busybox", "limits.cpu": "2",
                                   "user.x": "a=b"},
                        "devices": {}, "profiles": ["default"], "description": "first, \"quoted\""}
    assert fcli(fake, "config", "get", "c1", "user.x").stdout == "a=b\n"
    assert fcli(fake, "config", "unset", "c1", "user.x").returncode == 0
    assert "user.x" not in puts[-1]["config"]
    shown = yaml.safe_load(fcli(fake, "config", "show", "c1").stdout)
    assert shown["config"] == inst["config"] and shown["profiles"] == ["default"]
    assert fcli(fake, "config", "device", "add", "c1", "data", "disk", "source=/srv", "path=/data").returncode == 0
    assert puts[-1]["devices"] == {"data": {"type": "disk", "source": "/srv", "path": "/data"}}
    # edit from stdin (JSON)
    p = fcli(fake, "config", "edit", "c1", input=json.dumps({"config": {"a.b": "c"}}))
    assert p.returncode == 0, p
    assert puts[-1] == {"config": {"a.b": "c"}}


def test_yaml_quoting(fake):
    tricky = {"s": ["yes", "No", "0123", "1.5", "-x", "a: b", "#c", "", " pad", "null", "~", "x\ty",
                    "multi\nline\n", "no newline\nend", "2024-01-01", "ünïcode", "{a}", "@at"],
              "n": [1, -2, 1.5, True, False, None], "e": {}, "l": [], "nested": [[1, 2], {"a": {"b": []}}],
              "we:ird key": {"k": "v"}}
    fake.route("GET", "/1.0/instances", metadata=[tricky])
    p = fcli(fake, "list", "-f", "yaml")
    assert yaml.safe_load(p.stdout) == [tricky], p.stdout


def test_exec_streams_and_exit_code(fake):
    fake.exec_route("c1")
    p = fcli(fake, "exec", "c1", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert p.returncode == 7, p
    assert p.stdout == "out\n" and p.stderr == "err\n"
    # stdin is relayed, EOF closes it
    fake.exec_route("c1")
    data = "".join(f"line {i}\n" for i in range(20000))
    p = fcli(fake, "exec", "c1", "--env", "FOO=bar", "--", "sh", "-c", "cat; echo $FOO", input=data)
    assert p.returncode == 0, p
    assert p.stdout == data + "bar\n"
    body = [json.loads(r[3]) for r in fake.requests if r[1].endswith("/exec")][-1]
    assert body["command"] == ["sh", "-c", "cat; echo $FOO"]
    assert body["environment"] == {"FOO": "bar"}
    assert body["interactive"] is False and body["wait-for-websocket"] is True


def test_exec_forced_interactive(fake):
    fake.exec_route("c1")
    p = fcli(fake, "exec", "-t", "c1", "--", "sh", "-c", "echo both; echo err >&2; exit 3")
    assert p.returncode == 3, p
    assert p.stdout == "both\nerr\n"
    body = [json.loads(r[3]) for r in fake.requests if r[1].endswith("/exec")][-1]
    assert body["interactive"] is True and "width" in body and "TERM" in body["environment"]


def test_file_push_pull(fake, tmp_path):
    stored = {}

    def post(r):
        stored["body"] = r["body"]
        stored["headers"] = r["headers"]
        stored["query"] = r["query"]
        return 200, {"type": "sync", "metadata": {}}, {}

    def get(r):
        return 200, stored["body"], {"X-Cella-Mode": "0640", "X-Cella-Type": "file", "X-Cella-Uid": "0",
                                     "X-Cella-Gid": "0", "Content-Type": "application/octet-stream"}
    fake.route("POST", "/1.0/instances/c1/files", fn=post)
    fake.route("GET", "/1.0/instances/c1/files", fn=get)
    src = tmp_path / "in.bin"
    src.write_bytes(bytes(range(256)) * 100)
    src.chmod(0o600)
    p = fcli(fake, "file", "push", src, "c1/root/dir with space/", "--uid", "1000", "--mode", "0755")
    assert p.returncode == 0, p
    assert stored["query"] == "path=%2Froot%2Fdir%20with%20space%2Fin.bin"
    assert stored["headers"]["x-cella-uid"] == "1000" and stored["headers"]["x-cella-mode"] == "0755"
    assert stored["body"] == src.read_bytes()
    out = tmp_path / "out.bin"
    fake.chunked = True
    assert fcli(fake, "file", "pull", "c1/root/in.bin", out).returncode == 0
    assert out.read_bytes() == src.read_bytes()
    assert (out.stat().st_mode & 0o777) == 0o640
    p = subprocess.run([str(CELLA), "file", "pull", "c1/root/in.bin", "-"], capture_output=True,
                       env=dict(os.environ, CELLA_SOCKET=fake.path, CELLA_NO_AUTOSTART="1"))
    assert p.stdout == src.read_bytes()


def test_monitor_json_lines(fake):
    fake.events = [{"type": "lifecycle", "metadata": {"action": "instance-started", "source": "/1.0/instances/c1"}},
                   {"type": "operation", "metadata": {"id": "x"}}]
    p = fcli(fake, "monitor", "-f", "json", "--type", "lifecycle")
    assert [json.loads(l) for l in p.stdout.splitlines()] == fake.events
    assert fake.requests[0][1] == "/1.0/events?type=lifecycle"
    p = fcli(fake, "monitor")
    assert list(yaml.safe_load_all(p.stdout)) == fake.events


def test_bash_completion_parses():
    comp = Path(__file__).resolve().parents[2] / "contrib/completion/cella.bash"
    p = subprocess.run(["bash", "-n", str(comp)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    script = f"""
source {comp}
COMP_WORDS=(cella sn); COMP_CWORD=1; _cella; echo "${{COMPREPLY[@]}}"
COMP_WORDS=(cella snapshot ""); COMP_CWORD=2; _cella; echo "${{COMPREPLY[@]}}"
"""
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                       env=dict(os.environ, PATH=f"{BUILD}:{os.environ['PATH']}",
                                CELLA_SOCKET="/nonexistent", CELLA_NO_AUTOSTART="1"))
    lines = p.stdout.splitlines()
    assert lines[0] == "snapshot", p
    assert set(lines[1].split()) == {"create", "list", "restore", "delete"}


# ---------------------------------------------------------------------------
# the real daemon


def test_list_formats_real(host):
    r = skip_on_501(host.api("GET", "/1.0/instances?recursion=1"))
    assert r.status == 200, r
    p = host.cli("list", "-f", "json", check=True)
    assert json.loads(p.stdout) == r.metadata
    p = host.cli("list", "-f", "yaml", check=True)
    assert (yaml.safe_load(p.stdout) or []) == r.metadata
    p = host.cli("list", "-f", "csv", check=True)
    assert p.stdout == "".join("\n" for _ in r.metadata) or len(p.stdout.splitlines()) == len(r.metadata)
    p = host.cli("list", check=True)
    assert p.stdout.splitlines()[1].split("|")[1].strip() == "NAME"
    p = host.cli("list", "-f", "compact", "-c", "ns", check=True)
    assert p.stdout.split()[:2] == ["NAME", "STATE"]


def test_version_real(host):
    p = host.cli("version", check=True)
    assert p.stdout.startswith("Client version: ")
    assert "Server version: " in p.stdout


def test_errors_from_real_daemon(host):
    r = skip_on_501(host.api("GET", "/1.0/instances/nope"))
    assert r.status == 404
    msg = one_error(host.cli("info", "nope"))
    assert msg == r.json()["error"]


def test_autostart(tmp_path):
    base = tmp_path
    sock = base / "run" / "unix.socket"
    daemon_args = f"--var-dir {base}/var --run-dir {base}/run --log-dir {base}/log"
    env = dict(os.environ, CELLA_SOCKET=str(sock), CELLA_DAEMON_ARGS=daemon_args)
    env.pop("CELLA_NO_AUTOSTART", None)
    try:
        p = subprocess.run([str(CELLA), "list", "-f", "json"], capture_output=True, text=True, env=env,
                           timeout=60)
        log = (base / "run" / "cellad.log")
        assert sock.exists(), (p, log.read_text() if log.exists() else "")
        daemons = [pid for pid, cmd in procs_mentioning(str(base)) if "cellad" in cmd]
        assert daemons, "cellad runs"
        if p.returncode != 0 and "not implemented" in p.stderr:
            pytest.skip("GET /1.0/instances not implemented yet")
        assert p.returncode == 0, p
        assert json.loads(p.stdout) == []
        # a second call finds it running: still one daemon
        p = subprocess.run([str(CELLA), "list", "-f", "csv"], capture_output=True, text=True, env=env, timeout=60)
        assert p.returncode == 0, p
        assert len([pid for pid, cmd in procs_mentioning(str(base)) if "cellad" in cmd]) == len(daemons)
    finally:
        for pid, cmd in procs_mentioning(str(base)):
            if "cellad" in cmd:
                os.kill(pid, 15)
        wait_for(lambda: not procs_mentioning(str(base)), timeout=10)
        for pid, _ in procs_mentioning(str(base)):
            os.kill(pid, 9)
        subprocess.run(["umount", "-R", "-l", str(base)], capture_output=True)


def _build_minimal(host):
    p = host.cli("image", "build", "minimal")
    if p.returncode != 0 and "not implemented" in p.stderr:
        r = host.api("POST", "/1.0/images", {"source": {"type": "build", "name": "minimal"}})
        skip_on_501(r)
    assert p.returncode == 0, p
    return p


def _launch(host, name):
    # mkdtemp makes the host tree 0700, which the guest's mapped root cannot
    # traverse to its rootfs ("bind the rootfs: Permission denied"); the
    # library should cope with that, until then the tree is opened up here
    host.base.chmod(0o755)
    _build_minimal(host)
    p = host.cli("launch", "minimal", name)
    if p.returncode != 0:
        skip_on_501(host.api("POST", "/1.0/instances", {"name": name, "type": "vps",
                                                        "source": {"type": "image", "alias": "minimal"}}))
        skip_on_501(host.api("PUT", f"/1.0/instances/{name}/state", {"action": "start"}))
    assert p.returncode == 0, p


def test_image_build_and_list(host):
    _build_minimal(host)
    r = host.api("GET", "/1.0/images?recursion=1")
    p = host.cli("image", "list", "-f", "json", check=True)
    assert json.loads(p.stdout) == r.metadata
    assert any(a["name"] == "minimal" for img in r.metadata for a in img.get("aliases", []))
    p = host.cli("image", "list", check=True)
    assert "minimal" in p.stdout


def test_lifecycle(host):
    _launch(host, "c1")
    p = host.cli("list", "-f", "csv", "-c", "ns", check=True)
    assert p.stdout == "c1,RUNNING\n"
    p = host.cli("exec", "c1", "--", "echo", "hi")
    if p.returncode != 0 and "not implemented" in p.stderr:
        pytest.skip("exec not implemented yet")
    assert (p.returncode, p.stdout) == (0, "hi\n"), p
    p = host.cli("exec", "c1", "--", "sh", "-c", "exit 7")
    assert p.returncode == 7, p
    p = host.cli("exec", "c1", "--", "sh", "-c", "cat; echo done >&2", input="piped\n")
    assert (p.returncode, p.stdout, p.stderr) == (0, "piped\n", "done\n"), p
    p = host.cli("info", "c1", check=True)
    assert "Name: c1" in p.stdout and "Status: RUNNING" in p.stdout
    p = host.cli("stop", "c1", "--force", check=True)
    assert host.cli("list", "-f", "csv", "-c", "ns", check=True).stdout == "c1,STOPPED\n"
    p = host.cli("delete", "c1", check=True)
    assert host.cli("list", "-f", "csv", check=True).stdout == ""


def test_config_set_get(host):
    _launch(host, "c1")
    p = host.cli("config", "set", "c1", "user.note=hello world")
    if p.returncode != 0 and "not implemented" in p.stderr:
        pytest.skip("PUT instance not implemented yet")
    assert p.returncode == 0, p
    assert host.cli("config", "get", "c1", "user.note", check=True).stdout == "hello world\n"
    assert host.api("GET", "/1.0/instances/c1").metadata["config"]["user.note"] == "hello world"
    host.cli("config", "unset", "c1", "user.note", check=True)
    assert host.cli("config", "get", "c1", "user.note", check=True).stdout == "\n"
    assert "user.note" not in host.cli("config", "show", "c1", check=True).stdout


def test_snapshots(host):
    _launch(host, "c1")
    p = host.cli("snapshot", "create", "c1", "s1")
    if p.returncode != 0 and "not implemented" in p.stderr:
        pytest.skip("snapshots not implemented yet")
    assert p.returncode == 0, p
    p = host.cli("snapshot", "list", "c1", "-f", "csv", check=True)
    assert p.stdout.split(",")[0] == "s1"
    host.cli("snapshot", "delete", "c1", "s1", check=True)
    assert host.cli("snapshot", "list", "c1", "-f", "csv", check=True).stdout == ""


def test_file_round_trip(host, tmp_path):
    _launch(host, "c1")
    src = tmp_path / "hello.txt"
    src.write_text("hello from the host\n")
    p = host.cli("file", "push", src, "c1/root/hello.txt", "--mode", "0640")
    if p.returncode != 0 and "not implemented" in p.stderr:
        pytest.skip("files not implemented yet")
    assert p.returncode == 0, p
    p = host.cli("file", "pull", "c1/root/hello.txt", "-", check=True)
    assert p.stdout == "hello from the host\n"
    out = tmp_path / "back.txt"
    host.cli("file", "pull", "c1/root/hello.txt", out, check=True)
    assert out.read_text() == src.read_text()
    assert (out.stat().st_mode & 0o777) == 0o640
