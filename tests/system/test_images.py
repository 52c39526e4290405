# SPDX-License-Identifier: LGPL-2.1-or-later
"""The image store through cellad's API: build, import, hostile archives,
aliases, delete.  The core is covered by tests/unit/test_image.c; this checks
the same behaviour end to end.  debian/12 only with CELLA_SLOW=1.

Run as root:  /usr/bin/python3 -m pytest -q tests/system/test_images.py
"""

import hashlib
import io
import os
import tarfile
import time
from pathlib import Path

import pytest

from conftest import CELLAD


pytestmark = pytest.mark.skipif(not CELLAD.exists(), reason="cellad not built")


def create(host, body, timeout=600):
    """POST /1.0/images and wait; returns the finished operation."""
    r = host.api("POST", "/1.0/images", body=body)
    if r.status == 501:
        pytest.skip("images not served yet")
    assert r.status == 202, r
    return host.wait_op(r, timeout=timeout)


def fingerprint_of(op):
    assert op["status"] == "Success", op
    return op["metadata"]["fingerprint"]


def image_dirs(host):
    d = host.var / "images"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def tar_bytes(entries, mode="w:gz"):
    """entries: (name, kind, data/target, uid) tuples; kind in file/dir/symlink/hardlink."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.PAX_FORMAT) as t:
        for name, kind, data, uid in entries:
            ti = tarfile.TarInfo(name)
            ti.uid = ti.gid = uid
            ti.mtime = 1700000000
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            elif kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                t.addfile(ti)
            elif kind == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, data
                t.addfile(ti)
            else:
                raw = data.encode()
                ti.size, ti.mode = len(raw), 0o644
                t.addfile(ti, io.BytesIO(raw))
    return buf.getvalue()


ROOTFS = [
    ("etc", "dir", None, 0),
    ("etc/os-release", "file", 'ID=systest\nVERSION_ID="9"\nPRETTY_NAME="Systest 9"\n', 0),
    ("home/u/f", "file", "hi\n", 1000),
    ("bin/sh", "symlink", "/bin/busybox", 0),
]


def test_build_minimal(host):
    t0 = time.monotonic()
    op = create(host, {"source": {"type": "build", "name": "minimal"}})
    fp = fingerprint_of(op)
    print(f"build minimal through cellad: {(time.monotonic() - t0) * 1000:.0f} ms")
    r = host.api("GET", "/1.0/images/minimal")
    assert r.status == 200, r
    img = r.metadata
    assert img["fingerprint"] == fp and img["type"] == "vps"
    assert img["properties"]["os"] == "cella-minimal"
    assert [a["name"] for a in img["aliases"]] == ["minimal"]
    root = host.var / "images" / fp / "rootfs"
    assert (root / "bin/busybox").is_file()
    assert os.readlink(root / "sbin/init") == "/bin/busybox"
    assert "::sysinit:/etc/init.d/rcS" in (root / "etc/inittab").read_text()
    # a prefix of 12 finds it too
    assert host.api("GET", f"/1.0/images/{fp[:12]}").status == 200
    # the same build again is the same image
    op = create(host, {"source": {"type": "build", "name": "minimal"}})
    assert op["status"] == "Failure" and "already exists" in op["err"], op


def test_import_tarball_alias_delete(host, host_dir):
    data = tar_bytes(ROOTFS)
    path = host_dir / "rootfs.tar.gz"
    path.write_bytes(data)
    op = create(host, {"source": {"type": "file", "path": str(path)}, "aliases": [{"name": "systest"}]})
    fp = fingerprint_of(op)
    assert fp == hashlib.sha256(data).hexdigest()
    img = host.api("GET", "/1.0/images/systest").metadata
    assert img["properties"]["os"] == "systest" and img["properties"]["release"] == "9"
    st = (host.var / "images" / fp / "rootfs/home/u/f").stat()
    assert st.st_uid == 1000
    # the same file again: only an alias may be added
    op = create(host, {"source": {"type": "file", "path": str(path)}})
    assert op["status"] == "Failure" and "already exists" in op["err"], op
    op = create(host, {"source": {"type": "file", "path": str(path)}, "aliases": [{"name": "again"}]})
    assert fingerprint_of(op) == fp
    r = host.api("DELETE", f"/1.0/images/{fp}")
    if r.status == 202:
        assert host.wait_op(r)["status"] == "Success"
    else:
        assert r.status == 200, r
    assert host.api("GET", f"/1.0/images/{fp}").status == 404
    assert image_dirs(host) == []


HOSTILE = {
    "absolute": ([("/etc/cella-systest-pwned", "file", "x", 0)], "/etc/cella-systest-pwned"),
    "dotdot": ([("a/../../cella-systest-pwned", "file", "x", 0)], "a/../../cella-systest-pwned"),
    "hardlink-out": ([("h", "hardlink", "/etc/shadow", 0)], "/etc/shadow"),
    "uid": ([("f", "file", "x", 70000)], "`f`"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive(host, host_dir, case):
    entries, named = HOSTILE[case]
    path = host_dir / f"{case}.tar"
    path.write_bytes(tar_bytes(entries, mode="w"))
    op = create(host, {"source": {"type": "file", "path": str(path)}})
    assert op["status"] == "Failure", op
    assert named in op["err"], op
    assert host.api("GET", "/1.0/images").metadata == []
    assert image_dirs(host) == []
    assert not Path("/etc/cella-systest-pwned").exists()


@pytest.mark.skipif(os.environ.get("CELLA_SLOW") != "1", reason="needs the Debian mirror (CELLA_SLOW=1)")
def test_build_debian(host):
    t0 = time.monotonic()
    op = create(host, {"source": {"type": "build", "name": "debian/12", "variant": "minbase"}}, timeout=1800)
    fp = fingerprint_of(op)
    print(f"build debian/12 through cellad: {time.monotonic() - t0:.1f} s")
    img = host.api("GET", f"/1.0/images/{fp}").metadata
    assert img["properties"]["os"] == "debian" and img["properties"]["release"] == "12"
    assert (host.var / "images" / fp / "rootfs/etc/debian_version").read_text().startswith("12.")
