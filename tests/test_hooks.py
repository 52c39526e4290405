# SPDX-License-Identifier: GPL-2.0-or-later
"""OCI hooks: each kind runs at its moment, in its namespace, with the state
on stdin; a failing hook fails create/start as the spec says (and leaves
nothing behind), a failing poststart/poststop hook is only a warning."""

import json

import pytest


def _hook(marker, extra=""):
    # the state on stdin goes to `marker`; `extra` runs after
    return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {marker}; {extra}"]}


def _state(path):
    return json.loads(path.read_text())


@pytest.fixture
def hookdir(rt):
    d = rt.base / "hooks"
    d.mkdir()
    return d


def _all_hooks(bundle, hookdir):
    # startContainer runs inside the container: it writes to a bind of hookdir
    bundle.add_mount("/hooks", "bind", hookdir, ["rbind", "rw"])
    bundle.config["hooks"] = {
        "prestart": [_hook(hookdir / "prestart")],
        "createRuntime": [_hook(hookdir / "createRuntime")],
        "createContainer": [_hook(hookdir / "createContainer")],
        "startContainer": [_hook("/hooks/startContainer")],
        "poststart": [_hook(hookdir / "poststart")],
        "poststop": [_hook(hookdir / "poststop")],
    }


def test_every_hook_runs_with_run(rt, bundle, hookdir):
    _all_hooks(bundle, hookdir)
    bundle.probe_args("exit", "0")
    r = rt.run(bundle)
    assert r.ok, r
    expect = {"prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
              "startContainer": "created", "poststart": "running", "poststop": "stopped"}
    for kind, status in expect.items():
        st = _state(hookdir / kind)
        assert st["id"] == r.cid, kind
        assert st["status"] == status, kind
        assert st["bundle"] == str(bundle.path), kind
    assert _state(hookdir / "createRuntime")["pid"] > 0
    assert _state(hookdir / "poststop")["pid"] == 0


def test_every_hook_runs_with_create_start_delete(rt, bundle, hookdir):
    _all_hooks(bundle, hookdir)
    bundle.probe_args("sleep", "30")
    r = rt.create(bundle)
    assert r.ok, r
    for kind in ("prestart", "createRuntime", "createContainer"):
        assert (hookdir / kind).exists(), kind
    assert not (hookdir / "startContainer").exists()
    pid = rt.state(r.cid)["pid"]
    assert _state(hookdir / "createRuntime")["pid"] == pid
    assert rt.start(r.cid).ok
    assert _state(hookdir / "startContainer")["id"] == r.cid
    assert _state(hookdir / "poststart")["status"] == "running"
    assert not (hookdir / "poststop").exists()
    assert rt.delete(r.cid, force=True).ok
    assert _state(hookdir / "poststop")["status"] == "stopped"


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_failing_create_hook_fails_create(rt, bundle, hookdir, kind):
    bundle.config["hooks"] = {kind: [_hook(hookdir / "x", "exit 3")]}
    bundle.probe_args("exit", "0")
    r = rt.run(bundle)
    assert not r.ok
    assert f"hooks.{kind}[0]" in r.err and "status 3" in r.err, r
    # the leak check of the fixture proves nothing is left behind


def test_failing_start_container_hook_fails_start(rt, bundle, hookdir):
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/false"}]}
    bundle.probe_args("sleep", "30")
    r = rt.create(bundle)
    assert r.ok, r
    s = rt.start(r.cid)
    assert not s.ok and "hooks.startContainer[0]" in s.err, s
    rt.delete(r.cid, force=True)


def test_hook_timeout(rt, bundle, hookdir):
    bundle.config["hooks"] = {"createRuntime": [dict(_hook(hookdir / "t", "sleep 30"), timeout=1)]}
    bundle.probe_args("exit", "0")
    r = rt.run(bundle)
    assert not r.ok and "timed out" in r.err, r


def test_failing_poststop_hook_is_a_warning(rt, bundle, hookdir):
    bundle.config["hooks"] = {"poststop": [{"path": "/bin/false"}, _hook(hookdir / "second")]}
    bundle.probe_args("exit", "0")
    r = rt.run(bundle)
    assert r.ok, r
    assert (hookdir / "second").exists()       # the next hook still ran


def test_hook_env_and_args(rt, bundle, hookdir):
    bundle.config["hooks"] = {"createRuntime": [{
        "path": "/bin/sh", "args": ["sh", "-c", f"echo \"$0 $GREETING\" > {hookdir / 'env'}", "arg0"],
        "env": ["GREETING=hello"]}]}
    bundle.probe_args("exit", "0")
    assert rt.run(bundle).ok
    assert (hookdir / "env").read_text().strip() == "arg0 hello"


def test_state_is_creating_until_create_returns(rt, bundle, hookdir):
    # a createRuntime hook runs while create is still in progress: `state`
    # must say "creating" then (and "created" once create returned)
    out = hookdir / "state"
    bundle.config["hooks"] = {"createRuntime": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", f"id=$(sed 's/.*\"id\":\"\\([^\"]*\\)\".*/\\1/'); "
                             f"{rt.binary} --root {rt.root} state $id > {out}"]}]}
    bundle.probe_args("sleep", "30")
    r = rt.create(bundle)
    assert r.ok, r
    assert json.loads(out.read_text())["status"] == "creating"
    assert rt.state(r.cid)["status"] == "created"
    rt.delete(r.cid, force=True)


def test_plain_delete_refuses_a_container_being_created(rt, bundle, hookdir):
    # only --force may stop a create half-way
    out = hookdir / "delete-rc"
    bundle.config["hooks"] = {"createRuntime": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", f"id=$(sed 's/.*\"id\":\"\\([^\"]*\\)\".*/\\1/'); "
                             f"{rt.binary} --root {rt.root} delete $id 2>/dev/null; echo $? > {out}"]}]}
    bundle.probe_args("sleep", "30")
    r = rt.create(bundle)
    assert r.ok, r
    assert out.read_text().strip() != "0"
    assert rt.state(r.cid)["status"] == "created"
    rt.delete(r.cid, force=True)


@pytest.mark.parametrize("mode", ["run", "create"])
def test_hooks_get_a_large_state_whole(rt, bundle, hookdir, mode):
    # annotations make the state larger than any one socket message
    bundle.config["annotations"] = {f"k{i}": "v" * 1000 for i in range(300)}
    _all_hooks(bundle, hookdir)
    bundle.probe_args("exit", "0")
    if mode == "run":
        r = rt.run(bundle)
        assert r.ok, r
    else:
        r = rt.create(bundle)
        assert r.ok, r
        assert rt.start(r.cid).ok
        rt.delete(r.cid, force=True)
    for kind in ("prestart", "createRuntime", "createContainer", "startContainer", "poststart"):
        st = _state(hookdir / kind)
        assert len(st["annotations"]) == 300, kind
        assert st["annotations"]["k299"] == "v" * 1000, kind
