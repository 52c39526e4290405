# SPDX-License-Identifier: GPL-2.0-or-later
"""Real clients drive cella-runtime: podman (through conmon) and containerd
(the runc v2 shim with cella-runtime as its runc binary).

Each test runs its client with private storage and state under a temporary
directory, with an image made offline from the test rootfs (busybox + the
probe), and removes everything afterwards. Containers never get a network
beyond their own empty namespace (podman --network none; ctr's default spec
has a network namespace of its own)."""

import os
import resource
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

from conftest import IS_CELLA, PROBE_PATH, RUNTIME

pytestmark = pytest.mark.skipif(not IS_CELLA, reason="drives cella-runtime through clients")


def _have(tool):
    return shutil.which(tool) is not None


def _run(argv, timeout=120, check=True, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))}: rc={r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture
def image_tar(tmp_path, rootfs_template):
    tar = tmp_path / "rootfs.tar"
    with tarfile.open(tar, "w") as t:
        t.add(rootfs_template, arcname=".")
    return tar


def _ulimits():
    # podman asks for RLIMIT_NOFILE/NPROC above what this host's root may
    # raise to (no CAP_SYS_RESOURCE here): ask for the current limits instead
    args = []
    for name, res, want in (("nofile", resource.RLIMIT_NOFILE, 1 << 20),
                            ("nproc", resource.RLIMIT_NPROC, 4096)):
        soft, hard = resource.getrlimit(res)
        v = min(want, soft if soft != resource.RLIM_INFINITY else want)
        args += ["--ulimit", f"{name}={v}:{v}"]
    return args


@pytest.fixture
def short_dir():
    # podman wants a --runroot under 50 characters
    d = Path(tempfile.mkdtemp(prefix="cella-cl-", dir="/tmp"))
    yield d
    _run(["umount", "-R", str(d)], check=False)
    shutil.rmtree(d, ignore_errors=True)


def _parent_cgroups(name):
    # the clients put their containers under a parent cgroup of their own
    # (podman: "libpod_parent", containerd: its namespace), which stays
    root = Path("/sys/fs/cgroup")
    return set(root.glob(f"*/{name}")) | set(root.glob(name))


def _remove_new_cgroups(name, before):
    for d in _parent_cgroups(name) - before:
        for sub in sorted(d.rglob("*"), key=lambda x: -len(x.parts)):
            if sub.is_dir():
                sub.rmdir()
        d.rmdir()


@pytest.fixture
def podman(short_dir, image_tar):
    if not _have("podman"):
        pytest.skip("podman is not installed")
    cgroups_before = _parent_cgroups("libpod_parent")
    base = short_dir / "p"
    cmd = ["podman", "--root", str(base / "storage"), "--runroot", str(base / "run"),
           "--runtime", RUNTIME, "--cgroup-manager", "cgroupfs", "--events-backend", "none"]
    _run(cmd + ["import", str(image_tar), "localhost/cella-test:latest"])

    def p(*args, check=True, timeout=120):
        return _run(cmd + list(args), check=check, timeout=timeout)
    p.run_args = ["run", "--network", "none", *_ulimits()]
    yield p
    p("rm", "--all", "--force", check=False)
    p("rmi", "--all", "--force", check=False)
    _remove_new_cgroups("libpod_parent", cgroups_before)
    _run(["umount", "-R", str(base)], check=False)
    shutil.rmtree(base, ignore_errors=True)


def test_podman_run_echo(podman):
    r = podman(*podman.run_args, "--rm", "localhost/cella-test", "echo", "ok")
    assert r.stdout.strip() == "ok"


def test_podman_exit_status(podman):
    r = podman(*podman.run_args, "--rm", "localhost/cella-test", "sh", "-c", "exit 7", check=False)
    assert r.returncode == 7


def test_podman_tty(podman):
    # -t through conmon: the pty master goes over --console-socket
    r = podman(*podman.run_args, "--rm", "-t", "localhost/cella-test", "tty")
    assert r.stdout.strip().startswith("/dev/pts/")


def test_podman_limits_user_caps(podman):
    r = podman(*podman.run_args, "--rm", "--memory", "64m", "--pids-limit", "50",
               "--user", "1000:1000", "--cap-drop", "all", "localhost/cella-test",
               PROBE_PATH, "all")
    import json
    d = json.loads(r.stdout)
    assert d["ids"]["uid"] == 1000 and d["ids"]["gid"] == 1000
    assert int(d["caps"]["CapEff"], 16) == 0
    assert d["seccomp"]["seccomp"] == 2          # podman's default profile is applied


def test_podman_seccomp_unconfined(podman):
    r = podman(*podman.run_args, "--rm", "--security-opt", "seccomp=unconfined",
               "localhost/cella-test", "sh", "-c", "grep Seccomp: /proc/self/status")
    assert r.stdout.split() == ["Seccomp:", "0"]


def test_podman_exec_pause_stop(podman):
    podman(*podman.run_args, "-d", "--name", "c1", "localhost/cella-test", "sleep", "100")
    r = podman("exec", "c1", "sh", "-c", "echo exec-ok")
    assert r.stdout.strip() == "exec-ok"
    podman("pause", "c1")
    st = podman("inspect", "--format", "{{.State.Status}}", "c1").stdout.strip()
    assert st == "paused"
    podman("unpause", "c1")
    st = podman("inspect", "--format", "{{.State.Status}}", "c1").stdout.strip()
    assert st == "running"
    podman("stop", "-t", "1", "c1")
    st = podman("inspect", "--format", "{{.State.Status}}", "c1").stdout.strip()
    assert st == "exited"
    podman("rm", "c1")


@pytest.fixture
def containerd(short_dir, image_tar):
    if not (_have("containerd") and _have("ctr")):
        pytest.skip("containerd is not installed")
    if not _have("podman"):
        pytest.skip("podman makes the OCI archive ctr imports")
    base = short_dir / "c"
    base.mkdir()
    cgroups_before = _parent_cgroups("cella-test")
    sock = base / "c.sock"
    log = open(base / "log", "w")
    d = subprocess.Popen(["containerd", "--root", str(base / "root"), "--state", str(base / "state"),
                          "--address", str(sock)], stdout=log, stderr=log, start_new_session=True)
    ctr = ["ctr", "--address", str(sock), "-n", "cella-test"]

    def c(*args, check=True, timeout=120):
        return _run(ctr + list(args), check=check, timeout=timeout)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        # an OCI archive of the test rootfs, through a throwaway podman store
        pbase = short_dir / "p"
        pcmd = ["podman", "--root", str(pbase / "storage"), "--runroot", str(pbase / "run"),
                "--events-backend", "none"]
        _run(pcmd + ["import", str(image_tar), "localhost/cella-test:latest"])
        _run(pcmd + ["save", "--format", "oci-archive", "-o", str(base / "img.tar"),
                     "localhost/cella-test:latest"])
        _run(pcmd + ["rmi", "--all", "--force"], check=False)
        c("image", "import", "--base-name", "localhost/cella-test", str(base / "img.tar"))
        yield c
    finally:
        for t in c("task", "ls", "-q", check=False).stdout.split():
            c("task", "kill", "-s", "SIGKILL", t, check=False)
            time.sleep(0.2)
            c("task", "rm", "-f", t, check=False)
        for k in c("container", "ls", "-q", check=False).stdout.split():
            c("container", "rm", k, check=False)
        os.killpg(d.pid, signal.SIGTERM)
        d.wait(timeout=30)
        log.close()
        _remove_new_cgroups("cella-test", cgroups_before)


def test_containerd_run(containerd):
    r = containerd("run", "--rm", "--runc-binary", RUNTIME, "localhost/cella-test:latest", "t1",
                   "echo", "ok")
    assert r.stdout.strip() == "ok"


def test_containerd_exec_pause_kill(containerd):
    containerd("run", "-d", "--runc-binary", RUNTIME, "localhost/cella-test:latest", "t2",
               "sleep", "100")
    r = containerd("task", "exec", "--exec-id", "e1", "t2", "sh", "-c", "echo exec-ok")
    assert r.stdout.strip() == "exec-ok"
    containerd("task", "pause", "t2")
    assert "PAUSED" in containerd("task", "ls").stdout
    containerd("task", "resume", "t2")
    assert "RUNNING" in containerd("task", "ls").stdout
    containerd("task", "kill", "-s", "SIGKILL", "t2")
    for _ in range(100):
        if "STOPPED" in containerd("task", "ls").stdout:
            break
        time.sleep(0.05)
    containerd("task", "rm", "t2")
    containerd("container", "rm", "t2")
