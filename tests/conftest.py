# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fixtures for the cella-runtime integration tests.

Every test gets:
  * `rt`      a Runtime: the binary under test with a private --root and
              unique container ids; it remembers every id it used;
  * `bundle`  a fresh bundle whose config.json comes from `<runtime> spec`,
              with process.terminal = false and args = cella-probe all; the
              test edits `bundle.config` (a dict) and the runtime helpers
              write it before each create/run.

After the test, every container is force-deleted and the test FAILS if
anything is left behind: a state directory under --root, a cgroup whose
path names one of the ids, a mount under the test's directory, or a
process in one of those cgroups, rooted under the test's directory, or
whose command line names an id or the test's directory.

Network safety: the default spec gives every container its own network
namespace and no test removes it; the only other network namespaces used
are ones a test creates itself (`ip netns add`) or another test
container's.

The binary is $CELLA_RUNTIME (default: build/cella-runtime next to this
directory), so the suite runs unchanged against runc:
    CELLA_RUNTIME=/usr/bin/runc /usr/bin/python3 -m pytest -q tests/
Tests of cella-specific behaviour are marked `cella_only`.
"""

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
RUNTIME = os.environ.get("CELLA_RUNTIME", str(REPO / "build" / "cella-runtime"))
PROBE = os.environ.get("CELLA_PROBE", str(REPO / "build" / "tests" / "cella-probe"))
BUSYBOX = "/bin/busybox"
IS_CELLA = "cella" in os.path.basename(RUNTIME)
CGROUP_ROOT = Path("/sys/fs/cgroup")

PROBE_PATH = "/bin/cella-probe"


def pytest_collection_modifyitems(config, items):
    skip_cella = pytest.mark.skip(reason="cella-runtime specific behaviour")
    skip_runc = pytest.mark.skip(reason="runc specific behaviour")
    for item in items:
        if "cella_only" in item.keywords and not IS_CELLA:
            item.add_marker(skip_cella)
        if "runc_only" in item.keywords and IS_CELLA:
            item.add_marker(skip_runc)


def pytest_report_header(config):
    return [f"runtime under test: {RUNTIME} ({'cella' if IS_CELLA else 'other'})",
            f"probe: {PROBE}"]


# ---------------------------------------------------------------------------
# Results


class Result:
    """Outcome of one runtime invocation."""

    def __init__(self, argv, rc, out, err):
        self.argv = argv
        self.rc = rc
        self.out = out
        self.err = err

    @property
    def ok(self):
        return self.rc == 0

    def json(self):
        """The last non-empty stdout line parsed as JSON (the probe's answer)."""
        lines = [l for l in self.out.splitlines() if l.strip()]
        assert lines, f"no output from {self.argv}: {self}"
        try:
            return json.loads(lines[-1])
        except ValueError as e:
            raise AssertionError(f"not JSON ({e}): {lines[-1]!r}; {self}") from None

    def json_all(self):
        """The whole stdout as one JSON document (runtime output)."""
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise AssertionError(f"not JSON ({e}): {self}") from None

    def __repr__(self):
        return (f"<{' '.join(map(str, self.argv))}: rc={self.rc}\n"
                f"--- stdout ---\n{self.out[-3000:]}\n--- stderr ---\n{self.err[-3000:]}>")


# ---------------------------------------------------------------------------
# The rootfs


def _probe_binary():
    p = Path(PROBE)
    if not p.exists() and (REPO / "build" / "build.ninja").exists():
        subprocess.run(["ninja", "-C", str(REPO / "build"), "tests/cella-probe"],
                       check=False, capture_output=True)
    if not p.exists():
        pytest.exit(f"probe binary {p} missing: build it with `ninja -C build`", 2)
    return p


def _build_rootfs(dest: Path):
    """A minimal busybox rootfs with the probe at /bin/cella-probe."""
    if not os.path.exists(BUSYBOX):
        pytest.exit(f"{BUSYBOX} missing: apt-get install busybox-static", 2)
    for d in ("bin", "dev", "proc", "sys", "etc", "root", "home", "var", "run", "mnt", "opt"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    (dest / "tmp").mkdir(mode=0o1777, exist_ok=True)
    os.chmod(dest / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    for a in applets:
        if a != "busybox" and "/" not in a:
            os.symlink("busybox", dest / "bin" / a)
    os.symlink("bin", dest / "sbin")
    (dest / "usr").mkdir()
    os.symlink("../bin", dest / "usr" / "bin")
    shutil.copy2(_probe_binary(), dest / "bin" / "cella-probe")
    (dest / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    (dest / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (dest / "etc" / "hostname").write_text("rootfs\n")


@pytest.fixture(scope="session")
def session_dir():
    d = Path(tempfile.mkdtemp(prefix="cella-t-", dir="/tmp"))
    # traversable by the unprivileged host ids of user-namespaced containers
    os.chmod(d, 0o755)
    yield d
    # Only remove what holds no mounts: never recurse through a leaked bind.
    if not _mounts_under(d):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def runtime_binary(session_dir):
    """A private copy of the runtime, so that rebuilding build/ while the
    suite runs cannot swap the binary under a running test."""
    if not os.access(RUNTIME, os.X_OK):
        pytest.exit(f"runtime {RUNTIME} missing: build it with `ninja -C build`", 2)
    d = session_dir / "bin"
    d.mkdir()
    dest = d / os.path.basename(RUNTIME)
    shutil.copy2(RUNTIME, dest)
    return str(dest)


@pytest.fixture(scope="session")
def rootfs_template(session_dir):
    dest = session_dir / "rootfs-template"
    dest.mkdir()
    _build_rootfs(dest)
    return dest


def _clone_rootfs(src: Path, dst: Path):
    # Regular files are hard links (busybox and the probe are the only big
    # ones; tests never modify them), directories and symlinks are copied.
    shutil.copytree(src, dst, symlinks=True, copy_function=os.link)


# ---------------------------------------------------------------------------
# Leak detection


def _mountinfo():
    with open("/proc/self/mountinfo") as f:
        return f.read().splitlines()


def _unescape(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def _mounts_under(path: Path):
    p = str(path)
    found = []
    for line in _mountinfo():
        fields = line.split(" ")
        mp = _unescape(fields[4])
        root = _unescape(fields[3])
        if mp == p or mp.startswith(p + "/") or p in root or p in line:
            found.append(line)
    return found


def cgroup_dirs_named(names):
    """Every cgroup directory (any hierarchy) whose path contains one of `names`."""
    hits = []
    names = [n for n in names if n]
    if not names:
        return hits
    for hier in sorted(CGROUP_ROOT.iterdir()):
        if not hier.is_dir():
            continue
        for dirpath, dirnames, _ in os.walk(hier):
            rel = dirpath[len(str(CGROUP_ROOT)):]
            if any(n in rel for n in names):
                hits.append(dirpath)
                dirnames[:] = []
    return hits


def _procs_matching(names, base: Path):
    """Pids in a cgroup naming one of `names`, rooted under `base`, or whose
    command line mentions `base` or a name (a runtime helper left behind)."""
    hits = []
    me = os.getpid()
    for ent in os.listdir("/proc"):
        if not ent.isdigit() or int(ent) == me:
            continue
        try:
            with open(f"/proc/{ent}/cgroup") as f:
                cg = f.read()
            with open(f"/proc/{ent}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            root = os.readlink(f"/proc/{ent}/root")
        except OSError:
            continue
        if (any(n and (n in cg or n in cmd) for n in names) or str(base) + "/" in cmd + " "
                or root.startswith(str(base) + "/")):
            hits.append(f"{ent} ({cmd}) cgroup={cg.strip()!r} root={root}")
    return hits


def find_leaks(rt):
    """Everything `rt`'s containers left behind, as a list of strings."""
    leaks = []
    if rt.root.exists():
        for e in sorted(rt.root.iterdir()):
            if e.name == ".seccomp-cache":
                continue    # cella's compiled seccomp filters: runtime-wide, by design
            if e.is_dir() or any(i in e.name for i in rt.ids):
                leaks.append(f"state left under --root: {e}")
    names = rt.leak_names()
    for d in cgroup_dirs_named(names):
        leaks.append(f"cgroup left: {d}")
    for m in _mounts_under(rt.base):
        leaks.append(f"mount left: {m}")
    for p in _procs_matching(names, rt.base):
        leaks.append(f"process left: {p}")
    return leaks


def wait_no_leaks(rt, timeout=3.0):
    """Leaks that persist for `timeout` seconds (processes take a moment to die)."""
    deadline = time.monotonic() + timeout
    while True:
        leaks = find_leaks(rt)
        if not leaks or time.monotonic() > deadline:
            return leaks
        time.sleep(0.1)


# ---------------------------------------------------------------------------
# Bundles


class Bundle:
    """A bundle directory: rootfs/ plus config.json (edited as `config`)."""

    def __init__(self, path: Path, config: dict):
        self.path = path
        self.rootfs = path / "rootfs"
        self.config = config

    @property
    def process(self):
        return self.config.setdefault("process", {})

    @property
    def linux(self):
        return self.config.setdefault("linux", {})

    def args(self, *args):
        self.process["args"] = [str(a) for a in args]
        return self

    def probe_args(self, *args):
        return self.args(PROBE_PATH, *args)

    def env(self, name, value):
        env = [e for e in self.process.get("env", []) if not e.startswith(name + "=")]
        env.append(f"{name}={value}")
        self.process["env"] = env

    def namespace_types(self):
        return [n["type"] for n in self.linux.get("namespaces", [])]

    def set_namespace(self, ns_type, path=None):
        nss = [n for n in self.linux.get("namespaces", []) if n["type"] != ns_type]
        ent = {"type": ns_type}
        if path:
            ent["path"] = str(path)
        nss.append(ent)
        self.linux["namespaces"] = nss

    def drop_namespace(self, ns_type):
        self.linux["namespaces"] = [n for n in self.linux.get("namespaces", [])
                                    if n["type"] != ns_type]

    def add_mount(self, destination, type=None, source=None, options=None):
        m = {"destination": destination}
        if type is not None:
            m["type"] = type
        if source is not None:
            m["source"] = str(source)
        if options is not None:
            m["options"] = list(options)
        self.config.setdefault("mounts", []).append(m)
        return m

    def mount(self, destination):
        for m in self.config.get("mounts", []):
            if m["destination"] == destination:
                return m
        return None

    def write(self):
        (self.path / "config.json").write_text(json.dumps(self.config, indent=2))


# ---------------------------------------------------------------------------
# The runtime


class Runtime:
    """The runtime binary with a private --root; remembers every id it used."""

    def __init__(self, binary, base: Path, rootfs_template: Path, tag: str):
        self.binary = binary
        self.base = base
        self.root = base / "root"
        self.rootfs_template = rootfs_template
        self.tag = tag
        self.ids = []
        self.extra_names = []   # extra strings to look for in cgroup paths
        self.on_cleanup = []    # callables run after the containers are deleted
        self._n = 0
        self._bundles = 0

    # -- plumbing ----------------------------------------------------------

    def global_args(self):
        return [self.binary, "--root", str(self.root)]

    def __call__(self, *args, timeout=30, stdin=subprocess.DEVNULL, cwd=None,
                 global_args=None, stdout=None, stderr=None, env=None):
        """Run the runtime.  Output goes through files, not pipes: a
        container started by `create`/`run -d` inherits them and would keep
        a pipe open long after the runtime exits."""
        argv = (self.global_args() if global_args is None else [self.binary, *global_args])
        argv += [str(a) for a in args]
        own_out = stdout is None
        own_err = stderr is None
        out = tempfile.TemporaryFile(dir=self.base) if own_out else stdout
        err = tempfile.TemporaryFile(dir=self.base) if own_err else stderr
        try:
            p = subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=err, cwd=cwd,
                                 env=env, start_new_session=True)
            try:
                rc = p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                raise AssertionError(f"timeout ({timeout}s): {' '.join(argv)}")
            texts = []
            for f, own in ((out, own_out), (err, own_err)):
                if own:
                    f.seek(0)
                    texts.append(f.read().decode(errors="replace"))
                else:
                    texts.append("")
            return Result(argv, rc, *texts)
        finally:
            if own_out:
                out.close()
            if own_err:
                err.close()

    def new_id(self, prefix="ct"):
        self._n += 1
        cid = f"{prefix}-{self.tag}-{self._n}"
        return cid

    def track(self, cid):
        if cid not in self.ids:
            self.ids.append(cid)
        return cid

    def leak_names(self):
        return [i for i in self.ids if "/" not in i and len(i) >= 6] + self.extra_names

    def new_bundle(self):
        """A fresh bundle with config.json from `<runtime> spec`."""
        self._bundles += 1
        path = self.base / f"bundle{self._bundles}"
        path.mkdir()
        _clone_rootfs(self.rootfs_template, path / "rootfs")
        r = self("spec", cwd=path)
        assert r.ok, f"`spec` failed: {r}"
        config = json.loads((path / "config.json").read_text())
        b = Bundle(path, config)
        b.process["terminal"] = False
        b.probe_args("all")
        b.config["root"] = {"path": "rootfs", "readonly": False}
        b.write()
        return b

    # -- OCI operations ----------------------------------------------------

    def _console_files(self, cid):
        return (open(self.base / f"{cid}.stdout", "ab"), open(self.base / f"{cid}.stderr", "ab"))

    def output(self, cid):
        """What a `create`d or `run -d` container wrote to stdout."""
        p = self.base / f"{cid}.stdout"
        return p.read_text(errors="replace") if p.exists() else ""

    def errors(self, cid):
        p = self.base / f"{cid}.stderr"
        return p.read_text(errors="replace") if p.exists() else ""

    def run(self, bundle, *extra, cid=None, detach=False, timeout=60, stdin=subprocess.DEVNULL,
            write=True):
        cid = self.track(cid or self.new_id())
        if write:
            bundle.write()
        args = ["run", "--bundle", bundle.path, *extra]
        if detach:
            args.append("--detach")
            out, err = self._console_files(cid)
            with out, err:
                r = self(*args, cid, timeout=timeout, stdin=stdin, stdout=out, stderr=err)
            r.out, r.err = self.output(cid), self.errors(cid)
        else:
            r = self(*args, cid, timeout=timeout, stdin=stdin)
        r.cid = cid
        return r

    def create(self, bundle, *extra, cid=None, timeout=30, write=True):
        cid = self.track(cid or self.new_id())
        if write:
            bundle.write()
        out, err = self._console_files(cid)
        with out, err:
            r = self("create", "--bundle", bundle.path, *extra, cid, timeout=timeout,
                     stdout=out, stderr=err)
        r.out, r.err = self.output(cid), self.errors(cid)
        r.cid = cid
        return r

    def start(self, cid):
        return self("start", cid)

    def state(self, cid):
        r = self("state", cid)
        assert r.ok, f"state {cid} failed: {r}"
        return r.json_all()

    def status(self, cid):
        return self.state(cid)["status"]

    def kill(self, cid, sig="KILL", *extra):
        return self("kill", *extra, cid, sig)

    def delete(self, cid, force=False):
        return self("delete", *(["--force"] if force else []), cid)

    def pids(self, cid):
        r = self("ps", "--format", "json", cid)
        assert r.ok, r
        return r.json_all() or []

    def wait_pids(self, cid, n, timeout=10):
        """Wait until the container has `n` processes; their pids."""
        pids = wait_for(lambda: (lambda p: p if len(p) == n else None)(self.pids(cid)), timeout)
        assert pids and len(pids) == n, f"{cid}: expected {n} processes, have {self.pids(cid)}"
        return pids

    def wait_status(self, cid, status, timeout=10):
        deadline = time.monotonic() + timeout
        st = None
        while time.monotonic() < deadline:
            st = self.state(cid)["status"]
            if st == status:
                return
            time.sleep(0.05)
        raise AssertionError(f"{cid} still {st!r} after {timeout}s, expected {status!r}")

    def probe(self, bundle, *args, extra=(), expect_rc=0):
        """Run cella-probe ARGS in a new container; its JSON answer."""
        bundle.probe_args(*args)
        r = self.run(bundle, *extra)
        assert r.rc == expect_rc, f"probe {args} failed: {r}"
        return r.json()

    def cleanup(self):
        for cid in reversed(self.ids):
            try:
                self("delete", "--force", cid, timeout=20)
            except AssertionError:
                pass
        for fn in self.on_cleanup:
            fn()


def wait_for(fn, timeout=10, interval=0.05):
    """Poll until fn() returns a true value; return it (or the last value)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


def host_ns(name):
    return os.stat(f"/proc/self/ns/{name}").st_ino


def cgroup_v1_path(pid, controller):
    """Path of `pid` in the v1 hierarchy mounted at /sys/fs/cgroup/<controller>."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                return CGROUP_ROOT / controller / path.lstrip("/")
    raise AssertionError(f"{pid} has no {controller} cgroup")


def cgroup_v2_path(pid):
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            hid, ctrls, path = line.rstrip("\n").split(":", 2)
            if hid == "0":
                return CGROUP_ROOT / "unified" / path.lstrip("/")
    raise AssertionError(f"{pid} has no cgroup2 path")


@pytest.fixture
def rt(request, session_dir, rootfs_template, runtime_binary):
    safe = "".join(c if c.isalnum() else "-" for c in request.node.name)[:24].strip("-")
    base = Path(tempfile.mkdtemp(prefix=f"{safe}-", dir=session_dir))
    os.chmod(base, 0o755)
    r = Runtime(runtime_binary, base, rootfs_template, secrets.token_hex(4))
    yield r
    r.cleanup()
    leaks = wait_no_leaks(r)
    if not leaks and not _mounts_under(base):
        shutil.rmtree(base, ignore_errors=True)
    if leaks:
        pytest.fail("LEAK after test:\n  " + "\n  ".join(leaks), pytrace=False)


@pytest.fixture
def bundle(rt):
    return rt.new_bundle()


@pytest.fixture
def make_bundle(rt):
    return rt.new_bundle
