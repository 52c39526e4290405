# SPDX-License-Identifier: LGPL-2.1-or-later
"""linux.seccomp: the default profile of `spec`, custom profiles (actions,
errnoRet, argument conditions, flags), their interplay with
noNewPrivileges and the user switch, and SCMP_ACT_NOTIFY with a listener.

Tests that need the filter to be installed are marked `needs_install` in
their docstring: they fail until the engine calls seccomp_prepare/install
(lib/container.c); the parser-level ones pass without it.
"""

import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import threading

import pytest

from conftest import IS_CELLA, PROBE_PATH
from test_config import assert_fails

O_CREAT = 0o100
O_ACCMODE = 3
O_RDWR = 2
EXDEV = 18


def profile(*syscalls, default="SCMP_ACT_ALLOW", **extra):
    p = {"defaultAction": default, "syscalls": list(syscalls)}
    p.update(extra)
    return p


def rule(names, action, errno_ret=None, args=None):
    r = {"names": list(names), "action": action}
    if errno_ret is not None:
        r["errnoRet"] = errno_ret
    if args:
        r["args"] = args
    return r


def arg(index, value, op, value_two=None):
    a = {"index": index, "value": value, "op": op}
    if value_two is not None:
        a["valueTwo"] = value_two
    return a


def json_lines(text):
    return [json.loads(l) for l in text.splitlines() if l.strip().startswith("{")]


# ---------------------------------------------------------------------------
# The default profile (parser level: passes without the engine wiring)


def _check_default_profile(sc):
    assert sc["defaultAction"] == "SCMP_ACT_ERRNO"
    assert sc["defaultErrnoRet"] == 1
    if os.uname().machine == "x86_64":
        assert sc["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    by_name = {}
    for r in sc["syscalls"]:
        for n in r["names"]:
            by_name.setdefault(n, []).append(r)
    for n in ("read", "write", "execve", "openat", "sethostname", "exit_group"):
        assert by_name[n][0]["action"] == "SCMP_ACT_ALLOW", n
        assert "args" not in by_name[n][0]
    for n in ("keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load", "init_module",
              "finit_module", "delete_module", "userfaultfd", "io_uring_setup", "io_uring_enter",
              "io_uring_register", "bpf", "perf_event_open", "unshare", "setns", "mount",
              "umount2", "pivot_root", "chroot", "ptrace", "swapon", "swapoff", "reboot", "acct",
              "settimeofday", "clock_settime"):
        assert n not in by_name, f"{n} allowed by the default profile"
    (clone,) = by_name["clone"]
    assert clone["action"] == "SCMP_ACT_ALLOW"
    assert clone["args"] == [{"index": 0, "value": 0x7E020000, "valueTwo": 0,
                              "op": "SCMP_CMP_MASKED_EQ"}]
    (clone3,) = by_name["clone3"]
    assert clone3["action"] == "SCMP_ACT_ERRNO" and clone3["errnoRet"] == 38
    (sock,) = by_name["socket"]
    # every family but AF_ALG (38) and AF_VSOCK (40): same-index args are OR-ed
    assert {(a["op"], a["value"]) for a in sock["args"]} == {
        ("SCMP_CMP_LT", 38), ("SCMP_CMP_EQ", 39), ("SCMP_CMP_GT", 40)}
    (pers,) = by_name["personality"]
    assert sorted(a["value"] for a in pers["args"]) == [0, 8, 0x20000, 0x20008, 0xFFFFFFFF]


@pytest.mark.cella_only
def test_spec_writes_default_profile(rt, bundle):
    _check_default_profile(bundle.linux["seccomp"])


@pytest.mark.cella_only
def test_spec_rootless_has_the_same_profile(rt, tmp_path):
    r = rt("spec", "--rootless", cwd=tmp_path)
    assert r.ok, r
    sc = json.loads((tmp_path / "config.json").read_text())["linux"]["seccomp"]
    _check_default_profile(sc)


# ---------------------------------------------------------------------------
# Validation (parser level)


@pytest.mark.cella_only
@pytest.mark.parametrize("edit,words", [
    ({"defaultAction": "SCMP_ACT_BOGUS"}, ["linux.seccomp.defaultAction", "SCMP_ACT_BOGUS"]),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOPE"}]},
     ["linux.seccomp.syscalls[0].action", "SCMP_ACT_NOPE"]),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]},
     ["linux.seccomp.architectures[0]", "SCMP_ARCH_VAX"]),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]},
     ["linux.seccomp.syscalls[0].args[0].index"]),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]},
     ["linux.seccomp.listenerPath"]),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_KILL", "errnoRet": 5}]},
     ["linux.seccomp.syscalls[0].errnoRet"]),
], ids=["default-action", "action", "arch", "arg-index", "notify-listener", "errno-kill"])
def test_invalid_profile_refused(rt, bundle, edit, words):
    bundle.linux["seccomp"] = edit
    assert_fails(rt, bundle, *words)


def test_unknown_syscall_names_ignored(rt, bundle):
    """OCI: syscalls unknown to libseccomp are skipped, not an error."""
    bundle.linux["seccomp"] = profile(
        rule(["no_such_syscall_cella", "getpid"], "SCMP_ACT_ERRNO", 5))
    bundle.probe_args("exit", "0")
    r = rt.run(bundle)
    assert r.ok, r


# ---------------------------------------------------------------------------
# The filter at work (needs_install: fail until container.c installs it)


def test_filter_installed(rt, bundle):
    """needs_install"""
    bundle.linux["seccomp"] = profile(rule(["acct"], "SCMP_ACT_ERRNO"))
    d = rt.probe(bundle, "seccomp")
    assert d["seccomp"] == 2, d
    assert d["seccomp_filters"] >= 1, d


@pytest.mark.cella_only
def test_default_profile_installed(rt, bundle):
    """needs_install"""
    d = rt.probe(bundle, "seccomp")
    assert d["seccomp"] == 2, d


@pytest.mark.cella_only
def test_default_profile_denies(rt, bundle):
    """needs_install: the notable denies reach the container as EPERM, and
    ordinary work (fork, files, pipes, sockets) is unaffected."""
    bundle.args("/bin/sh", "-c",
                f"{PROBE_PATH} keyring; echo; "
                "unshare -U true 2>/dev/null; echo \"unshare=$?\"; "
                "echo hi > /tmp/f && cat /tmp/f | tr h H && ls / >/dev/null && echo work=ok")
    r = rt.run(bundle)
    assert r.ok, r
    keyring = json_lines(r.out)[0]
    assert keyring.get("errno") == "EPERM", keyring
    assert "unshare=1" in r.out, r
    assert "Hi" in r.out and "work=ok" in r.out, r


def test_errno_ret_and_args(rt, bundle):
    """needs_install: errnoRet, and two conditions on the same argument are
    alternatives (O_CREAT set, or opened read-write)."""
    bundle.process["noNewPrivileges"] = True
    bundle.linux["seccomp"] = profile(
        rule(["openat"], "SCMP_ACT_ERRNO", 42,
             [arg(2, O_CREAT, "SCMP_CMP_MASKED_EQ", O_CREAT),
              arg(2, O_ACCMODE, "SCMP_CMP_MASKED_EQ", O_RDWR)]),
        rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO"))
    bundle.args("/bin/sh", "-c",
                f"{PROBE_PATH} write /tmp/x data; echo; {PROBE_PATH} open /etc/passwd rw; echo; "
                f"{PROBE_PATH} open /etc/passwd r; echo; {PROBE_PATH} open /etc/passwd w; echo; "
                "mkdir /tmp/d 2>&1; echo mkdir=$?")
    r = rt.run(bundle)
    assert r.ok, r
    write, rw, ro, wo = json_lines(r.out)
    assert write.get("errno_num") == 42, write
    assert rw.get("errno_num") == 42, rw
    assert ro.get("ok") is True, ro
    assert wo.get("ok") is True, wo
    # no errnoRet: EPERM
    assert "Operation not permitted" in r.out and "mkdir=1" in r.out, r


def test_kill_process(rt, bundle):
    """needs_install"""
    bundle.linux["seccomp"] = profile(rule(["mkdir", "mkdirat"], "SCMP_ACT_KILL_PROCESS"))
    bundle.args("/bin/mkdir", "/tmp/d")
    r = rt.run(bundle)
    assert r.rc == 128 + signal.SIGSYS, r


@pytest.mark.cella_only
def test_default_errno_ret(rt, bundle):
    """needs_install: what the allow list lacks fails with defaultErrnoRet."""
    sc = bundle.linux["seccomp"]
    sc["defaultErrnoRet"] = 33      # EDOM
    for name in ("mkdir", "mkdirat"):
        for rule_ in sc["syscalls"]:
            if name in rule_["names"]:
                rule_["names"].remove(name)
    bundle.args("/bin/sh", "-c", "mkdir /tmp/d 2>&1; echo mkdir=$?")
    r = rt.run(bundle)
    assert r.ok, r
    assert "mkdir=1" in r.out and "Numerical argument out of domain" in r.out, r


@pytest.mark.parametrize("user", [0, 65534])
def test_without_no_new_privileges(rt, bundle, user):
    """needs_install: without no_new_privs the filter is loaded while the
    init still has CAP_SYS_ADMIN, and no_new_privs stays off."""
    bundle.process["noNewPrivileges"] = False
    bundle.process["user"] = {"uid": user, "gid": user}
    bundle.linux["seccomp"] = profile(rule(["acct"], "SCMP_ACT_ERRNO"))
    d = rt.probe(bundle, "seccomp")
    assert d["seccomp"] == 2, d
    assert d["no_new_privs"] == 0, d


def test_flags(rt, bundle):
    """needs_install"""
    bundle.linux["seccomp"] = profile(
        rule(["acct"], "SCMP_ACT_LOG"),
        flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"])
    bundle.probe_args("seccomp")
    r = rt.run(bundle)
    if not IS_CELLA and not r.ok and "flags" in r.err:
        pytest.skip("this runtime refuses seccomp flags")
    assert r.ok, r
    assert r.json()["seccomp"] == 2, r


def _libseccomp_version():
    r = subprocess.run(["pkg-config", "--modversion", "libseccomp"], capture_output=True, text=True)
    return tuple(int(x) for x in r.stdout.strip().split(".")[:2]) if r.returncode == 0 else (0, 0)


@pytest.mark.cella_only
@pytest.mark.skipif(_libseccomp_version() >= (2, 6), reason="libseccomp supports the flag")
def test_unsupported_flag_fails_at_create(rt, bundle):
    """needs_install (seccomp_prepare at create)"""
    bundle.linux["seccomp"] = profile(flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
    assert_fails(rt, bundle, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")


# ---------------------------------------------------------------------------
# SCMP_ACT_NOTIFY

# struct seccomp_notif (80 bytes) and seccomp_notif_resp (24 bytes)
NOTIF_RECV = 0xC0502100     # _IOWR('!', 0, struct seccomp_notif)
NOTIF_SEND = 0xC0182101     # _IOWR('!', 1, struct seccomp_notif_resp)


class Listener(threading.Thread):
    """Accepts one containerProcessState, then answers every notification
    with -EXDEV until the fd closes."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(1)
        self.sock.settimeout(20)
        self.state = None
        self.fds = []
        self.notified = []
        self.error = None

    def run(self):
        try:
            conn, _ = self.sock.accept()
            with conn:
                data = b""
                while True:
                    msg, fds, _, _ = socket.recv_fds(conn, 65536, 4)
                    self.fds += fds
                    if not msg:
                        break
                    data += msg
            self.state = json.loads(data)
            fd = self.fds[0]
            while True:
                req = bytearray(80)
                try:
                    fcntl.ioctl(fd, NOTIF_RECV, req)
                except OSError:
                    break       # the filter's last user is gone
                nid, pid = struct.unpack_from("=QI", req, 0)
                nr = struct.unpack_from("=i", req, 16)[0]
                self.notified.append((pid, nr))
                fcntl.ioctl(fd, NOTIF_SEND, bytearray(struct.pack("=QqiI", nid, 0, -EXDEV, 0)))
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            for fd in self.fds:
                os.close(fd)
            self.sock.close()


def test_notify_listener(rt, bundle):
    """needs_install: the listener gets the container's state with the
    notify fd during create, and answers the container's mkdir."""
    path = rt.base / "listener.sock"
    listener = Listener(path)
    listener.start()
    bundle.linux["seccomp"] = profile(rule(["mkdir", "mkdirat"], "SCMP_ACT_NOTIFY"),
                                      listenerPath=str(path), listenerMetadata="test=1")
    bundle.args("/bin/sh", "-c", "mkdir /tmp/d 2>&1; echo mkdir=$?")
    r = rt.create(bundle)
    assert r.ok, r
    pid = rt.state(r.cid)["pid"]
    assert rt.start(r.cid).ok
    rt.wait_status(r.cid, "stopped", timeout=20)
    listener.join(timeout=20)
    assert listener.error is None, listener.error
    st = listener.state
    assert st is not None, "the listener got nothing"
    assert st["fds"] == ["seccompFd"], st
    assert st["pid"] == pid, st
    assert st["metadata"] == "test=1", st
    assert st["state"]["id"] == r.cid, st
    assert st["state"]["status"] in ("creating", "created"), st
    assert st["ociVersion"].startswith("1."), st
    assert len(listener.fds) == 1
    assert listener.notified, "no notification"
    out = rt.output(r.cid)
    assert "Invalid cross-device link" in out and "mkdir=1" in out, out


@pytest.mark.cella_only
def test_compiled_filter_cache(rt, bundle):
    """The compiled program is cached by profile; a changed profile gets its
    own entry, and a damaged entry is ignored (compiled again), never loaded."""
    cache = rt.root / ".seccomp-cache"
    bundle.linux["seccomp"] = profile(rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", errno_ret=42))
    bundle.args("/bin/sh", "-c", "mkdir /tmp/d 2>&1; echo rc=$?")
    first = rt.run(bundle)
    assert first.ok and "rc=1" in first.out, first
    entries = list(cache.iterdir())
    assert len(entries) == 1
    again = rt.run(bundle)                       # from the cache, same behaviour
    assert again.ok and "rc=1" in again.out, again
    assert list(cache.iterdir()) == entries

    # damage the entry: truncated program, then garbage in the key
    data = entries[0].read_bytes()
    entries[0].write_bytes(data[:-8])
    r = rt.run(bundle)
    assert r.ok and "rc=1" in r.out, r
    assert entries[0].read_bytes() == data       # rewritten by the compile
    entries[0].write_bytes(data[:20] + b"X" + data[21:])
    r = rt.run(bundle)
    assert r.ok and "rc=1" in r.out, r

    # another profile: another entry, and its own behaviour
    bundle.linux["seccomp"] = profile(rule(["getpid"], "SCMP_ACT_ERRNO"))
    r = rt.run(bundle)
    assert r.ok and "rc=0" in r.out, r
    assert len(list(cache.iterdir())) == 2
