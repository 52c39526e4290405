# SPDX-License-Identifier: LGPL-2.1-or-later
"""Real Debian guests: debian/12 built with debootstrap from the host's
configured mirror (lib/image_build.c, the default variant: systemd), then
booted as VPS instances with their own init as PID 1.

The image is built once for the module, on one host shared by its tests
(about a minute); everything is skipped, saying why, when the mirror named
in /etc/apt/sources.list(.d) is not reachable.  That mirror is the only
network this file touches.

Run as root:  /usr/bin/python3 -m pytest -q tests/system/test_debian.py
"""

import glob
import os
import re
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import CELLAD, Host, host_leaks, teardown_host, wait_for

pytestmark = pytest.mark.skipif(not CELLAD.exists(), reason="cellad not built")

SUITE = "bookworm"


def apt_mirror_uris():
    """The http(s) URIs apt uses for SUITE main, as the builder picks them."""
    uris = []
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*")):
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        if path.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", text):
                fields = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line:
                        continue
                    k, v = line.split(":", 1)
                    fields[k.strip().lower()] = v.split()
                if (SUITE in fields.get("suites", []) and "main" in fields.get("components", [])
                        and fields.get("enabled", ["yes"])[0].lower() != "no"):
                    uris += fields.get("uris", [])
        elif path.endswith(".list") or path == "/etc/apt/sources.list":
            for line in text.splitlines():
                f = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(f) >= 4 and f[0] == "deb" and f[2] == SUITE and "main" in f[3:]:
                    uris.append(f[1])
    return [u for u in uris if u.startswith(("http://", "https://")) and "security" not in u]


def mirror_reachable():
    """(True, host) or (False, why) after a short TCP connect to the mirror."""
    uris = apt_mirror_uris()
    if not uris:
        return False, f"no Debian mirror for {SUITE} main in /etc/apt/sources.list(.d)"
    u = urlsplit(uris[0])
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        socket.create_connection((u.hostname, port), timeout=3).close()
    except OSError as e:
        return False, f"Debian mirror {u.hostname} not reachable: {e}"
    return True, u.hostname


# ---------------------------------------------------------------------------
# one host and one image for the module


@pytest.fixture(scope="module")
def debian_host():
    ok, why = mirror_reachable()
    if not ok:
        pytest.skip(why)
    base = Path(tempfile.mkdtemp(prefix="cella-deb-"))
    os.chmod(base, 0o711)
    h = Host(base)
    h.start()
    try:
        t = time.monotonic()
        r = h.api("POST", "/1.0/images", {"source": {"type": "build", "name": "debian/12"},
                                          "aliases": [{"name": "debian"}]})
        o = h.wait_op(r, timeout=900)
        assert o["status"] == "Success", o
        h.build_seconds = time.monotonic() - t
        yield h
        for name in h.instance_names():
            r = h.api("DELETE", f"/1.0/instances/{name}?force=1", timeout=60)
            if r.status == 202:
                h.wait_op(r)
        h.kill(signal.SIGTERM)
        leaks = wait_for(lambda: not host_leaks(h), timeout=5) or host_leaks(h)
        log = h.daemon_log()
        assert leaks is True or not leaks, f"left behind: {leaks}\ncellad log:\n{log[-3000:]}"
        for bad in ("Sanitizer", "runtime error:"):
            assert bad not in log, f"cellad: {bad}\n{log[-6000:]}"
    finally:
        teardown_host(h)
        shutil.rmtree(base, ignore_errors=True)


def ok(r, status=200):
    assert r.status == status, r
    return r.json().get("metadata")


def op(h, r, timeout=120):
    o = h.wait_op(r, timeout=timeout)
    assert o["status"] == "Success", o
    return o


def state(h, name):
    return ok(h.api("GET", f"/1.0/instances/{name}/state"))


def run(h, name, *cmd, check=True, timeout=60):
    p = h.cli("exec", name, "--", *cmd, timeout=timeout)
    if check:
        assert p.returncode == 0, (cmd, p.stdout, p.stderr)
    return p


def console_log(h, name):
    return h.cli("console", name, "--show-log").stdout


def wait_booted(h, name, timeout=60):
    """systemd reached its default target: `running` (or why not)."""
    def booted():
        out = run(h, name, "systemctl", "is-system-running", check=False).stdout.strip()
        return out if out in ("running", "degraded") else None
    st = wait_for(booted, timeout=timeout, interval=0.2)
    assert st == "running", (st, run(h, name, "systemctl", "--failed", "--no-legend", check=False).stdout,
                             console_log(h, name)[-3000:])


def launch(h, name):
    op(h, h.api("POST", "/1.0/instances", {"name": name, "type": "vps",
                                           "source": {"type": "image", "alias": "debian"}}))
    op(h, h.api("PUT", f"/1.0/instances/{name}/state", {"action": "start"}))
    wait_booted(h, name)


@pytest.fixture(scope="module")
def guest(debian_host):
    """One booted guest for the read-only checks."""
    launch(debian_host, "deb1")
    return "deb1"


# ---------------------------------------------------------------------------


def test_image(debian_host):
    h = debian_host
    print(f"build debian/12: {h.build_seconds:.1f} s")
    img = ok(h.api("GET", "/1.0/images/aliases/debian"))
    props = ok(h.api("GET", f"/1.0/images/{img['target']}"))["properties"]
    assert props["variant"] == "default" and props["init"] == "systemd", props
    root = h.var / "images" / img["target"] / "rootfs"
    # every instance makes its own machine id; no inetd next to the socket unit
    assert (root / "etc/machine-id").read_text() == ""
    assert not (root / "usr/sbin/inetd").exists()
    assert not (root / "usr/sbin/policy-rc.d").exists()


def test_systemd_is_pid1(debian_host, guest):
    h = debian_host
    assert run(h, guest, "cat", "/proc/1/comm").stdout.strip() == "systemd"
    assert run(h, guest, "readlink", "-f", "/sbin/init").stdout.strip() == "/usr/lib/systemd/systemd"
    # nothing failed, in the guest's own cgroup tree (delegated to its root)
    assert run(h, guest, "systemctl", "--failed", "--no-legend").stdout.strip() == ""
    cg = run(h, guest, "cat", "/proc/1/cgroup").stdout
    assert "0::/init.scope" in cg, cg
    # the console log follows the guest's console a moment later, more so on a busy host
    log = wait_for(lambda: (lambda l: l if "multi-user.target" in l else None)(console_log(h, guest)),
                   timeout=30) or console_log(h, guest)
    assert "Reached target" in log and "multi-user.target" in log, log[-3000:]
    assert "Freezing execution" not in log, log[-3000:]


def test_adduser_and_su(debian_host, guest):
    h = debian_host
    run(h, guest, "adduser", "--disabled-password", "--gecos", "", "alice")
    out = run(h, guest, "su", "-", "alice", "-c", "id").stdout
    assert out.startswith("uid=1000(alice) gid=1000(alice)"), out
    assert run(h, guest, "su", "-", "alice", "-c", "pwd").stdout.strip() == "/home/alice"


def test_service_answers_on_localhost(debian_host, guest):
    h = debian_host
    assert run(h, guest, "systemctl", "is-active", "micro-httpd.socket").stdout.strip() == "active"
    # bash's /dev/tcp: a client from the base system
    out = run(h, guest, "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/80; "
              "printf 'GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3; cat <&3").stdout
    assert out.startswith("HTTP/1.0 200"), out
    assert "Served by micro-httpd" in out, out


def test_stop_asks_systemd_to_power_off(debian_host, guest):
    h = debian_host
    t = time.monotonic()
    op(h, h.api("PUT", f"/1.0/instances/{guest}/state", {"action": "stop", "timeout": 30}))
    took = time.monotonic() - t
    st = state(h, guest)
    assert st["status"] == "Stopped" and st["stop_reason"] == "stopped", st
    # systemd's own shutdown, well within the timeout (not a kill after it)
    assert took < 20, took
    log = console_log(h, guest)
    assert "System Power Off" in log and "Powering off." in log, log[-3000:]


def test_reboot_and_poweroff_inside(debian_host):
    h = debian_host
    launch(h, "deb2")
    pid = state(h, "deb2")["pid"]
    run(h, "deb2", "reboot", check=False)
    assert wait_for(lambda: state(h, "deb2").get("boots") == 2 and state(h, "deb2").get("pid") not in (0, pid),
                    timeout=60), state(h, "deb2")
    assert state(h, "deb2")["status"] == "Running"
    assert "Rebooting." in console_log(h, "deb2")
    wait_booted(h, "deb2")
    run(h, "deb2", "poweroff", check=False)
    assert wait_for(lambda: state(h, "deb2")["status"] == "Stopped", timeout=60), state(h, "deb2")
    assert state(h, "deb2")["stop_reason"] == "poweroff"


# ---------------------------------------------------------------------------
# the sysvinit variant: the same system, sysvinit as PID 1, inetd for the service


@pytest.fixture(scope="module")
def sysvinit_image(debian_host):
    h = debian_host
    t = time.monotonic()
    r = h.api("POST", "/1.0/images", {"source": {"type": "build", "name": "debian/12", "variant": "sysvinit"},
                                      "aliases": [{"name": "debian-sysvinit"}]})
    op(h, r, timeout=900)
    print(f"build debian/12 sysvinit: {time.monotonic() - t:.1f} s")
    return "debian-sysvinit"


def wait_runlevel(h, name, timeout=60):
    assert wait_for(lambda: run(h, name, "runlevel", check=False).stdout.strip() == "N 2",
                    timeout=timeout, interval=0.2), console_log(h, name)[-3000:]
    # inetd is the last service of runlevel 2
    assert wait_for(lambda: run(h, name, "pidof", "inetd", check=False).returncode == 0, timeout=timeout)


def test_sysvinit_guest(debian_host, sysvinit_image):
    h = debian_host
    op(h, h.api("POST", "/1.0/instances", {"name": "sv1", "type": "vps",
                                           "source": {"type": "image", "alias": sysvinit_image}}))
    op(h, h.api("PUT", "/1.0/instances/sv1/state", {"action": "start"}))
    wait_runlevel(h, "sv1")
    assert run(h, "sv1", "cat", "/proc/1/comm").stdout.strip() == "init"
    assert run(h, "sv1", "readlink", "-f", "/sbin/init").stdout.strip() == "/usr/sbin/init"
    run(h, "sv1", "adduser", "--disabled-password", "--gecos", "", "alice")
    assert run(h, "sv1", "su", "-", "alice", "-c", "id -u").stdout.strip() == "1000"
    out = run(h, "sv1", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/80; "
              "printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3").stdout
    assert out.startswith("HTTP/1.0 200") and "micro-httpd" in out, out

    # cella stop sends SIGPWR: the inittab's powerwait line shuts down, i.e.
    # init switches to runlevel 0 and runs its entries (one of ours among them)
    # (first in the file: init runs a runlevel's entries in order, and rc 0 ends in halt)
    run(h, "sv1", "sh", "-c", "sed -i '1i cm:0:wait:/bin/touch /root/runlevel0' /etc/inittab && telinit q")
    t = time.monotonic()
    op(h, h.api("PUT", "/1.0/instances/sv1/state", {"action": "stop", "timeout": 30}))
    assert time.monotonic() - t < 20
    st = state(h, "sv1")
    assert st["status"] == "Stopped" and st["stop_reason"] == "stopped", st
    p = h.cli("file", "pull", "sv1/root/runlevel0", "-")
    assert p.returncode == 0, ("runlevel 0 did not run", p.stderr, console_log(h, "sv1")[-3000:])
    # the whole log, NUL bytes (startpar writes some) and the monitor's last word included
    assert "[cella: stopped]" in console_log(h, "sv1")

    op(h, h.api("PUT", "/1.0/instances/sv1/state", {"action": "start"}))
    wait_runlevel(h, "sv1")
    pid = state(h, "sv1")["pid"]
    run(h, "sv1", "reboot", check=False)
    assert wait_for(lambda: state(h, "sv1").get("boots") == 2 and state(h, "sv1").get("pid") not in (0, pid),
                    timeout=60), state(h, "sv1")
    wait_runlevel(h, "sv1")
    run(h, "sv1", "poweroff", check=False)
    assert wait_for(lambda: state(h, "sv1")["status"] == "Stopped", timeout=60), state(h, "sv1")
    assert state(h, "sv1")["stop_reason"] == "poweroff"
