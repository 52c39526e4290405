# SPDX-License-Identifier: LGPL-2.1-or-later
"""The container process: args, env, cwd, user, umask, rlimits, oom score,
no_new_privs, stdio, exit codes, hostname, capabilities."""

import hashlib
import json
import os
import resource
import subprocess

import pytest


CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
        "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
        "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
        "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]


def host_bounding():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return 0


def mask(names):
    m = 0
    for n in names:
        m |= 1 << CAPS.index(n)
    # capabilities the host itself lacks cannot be granted
    return m & host_bounding()


def test_args_passed_verbatim(rt, bundle):
    bundle.args("/bin/sh", "-c", 'printf "[%s]" "$@"', "sh", "a b", "", 'c"d', "é", "$HOME")
    r = rt.run(bundle)
    assert r.ok, r
    assert r.out == '[a b][][c"d][é][$HOME]'


def test_argv0(rt, bundle):
    bundle.args("/bin/sh", "-c", 'echo "$0"')
    r = rt.run(bundle)
    assert r.out.strip() == "/bin/sh"


def test_env_exact(rt, bundle):
    bundle.process["env"] = ["PATH=/bin", "FOO=bar", "EMPTY=", "SPACES=a b  c", "EQ=x=y",
                             "HOME=/root"]
    env = rt.probe(bundle, "env")
    assert env == bundle.process["env"]


def test_env_home_defaulted(rt, bundle):
    # runc (and cella) set HOME from the user's passwd entry when missing
    bundle.process["env"] = ["PATH=/bin"]
    env = rt.probe(bundle, "env")
    assert "PATH=/bin" in env
    assert "HOME=/root" in env
    assert len(env) == 2


def test_env_empty(rt, bundle):
    bundle.process["env"] = []
    bundle.process.pop("env")
    env = rt.probe(bundle, "env")
    assert set(env) <= {"HOME=/root", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


def test_cwd(rt, bundle):
    (bundle.rootfs / "work" / "dir").mkdir(parents=True)
    bundle.process["cwd"] = "/work/dir"
    assert rt.probe(bundle, "cwd")["cwd"] == "/work/dir"


def test_cwd_created_if_missing(rt, bundle):
    bundle.process["cwd"] = "/new/cwd"
    assert rt.probe(bundle, "cwd")["cwd"] == "/new/cwd"


def test_cwd_is_a_file_fails(rt, bundle):
    (bundle.rootfs / "afile").write_text("x")
    bundle.process["cwd"] = "/afile"
    bundle.probe_args("cwd")
    r = rt.run(bundle)
    assert r.rc != 0, r


def test_cwd_symlink_inside_rootfs(rt, bundle):
    (bundle.rootfs / "real").mkdir()
    os.symlink("/real", bundle.rootfs / "link")
    bundle.process["cwd"] = "/link"
    assert rt.probe(bundle, "cwd")["cwd"] == "/real"


def test_user_uid_gid_additional_gids(rt, bundle):
    bundle.process["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [2000, 2001, 2002]}
    d = rt.probe(bundle, "ids")
    assert (d["uid"], d["euid"], d["suid"]) == (1000, 1000, 1000)
    assert (d["gid"], d["egid"], d["sgid"]) == (1001, 1001, 1001)
    assert set(d["groups"]) - {1001} == {2000, 2001, 2002}


def test_user_without_additional_gids_has_no_groups(rt, bundle):
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    d = rt.probe(bundle, "ids")
    assert d["uid"] == 1000 and d["gid"] == 1000
    # no supplementary group inherited from the runtime (root's groups)
    assert set(d["groups"]) <= {1000}


def test_root_user(rt, bundle):
    bundle.process["user"] = {"uid": 0, "gid": 0}
    d = rt.probe(bundle, "ids")
    assert d["uid"] == 0 and d["gid"] == 0 and set(d["groups"]) <= {0}


def test_nonroot_user_has_no_effective_caps(rt, bundle):
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    d = rt.probe(bundle, "caps")
    assert int(d["CapEff"], 16) == 0
    assert int(d["CapPrm"], 16) == 0
    assert int(d["CapBnd"], 16) == mask(bundle.process["capabilities"]["bounding"])


def test_nonroot_user_cannot_write_root_files(rt, bundle):
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    d = rt.probe(bundle, "write", "/etc/passwd", "x")
    assert d["ok"] is False and d["errno"] == "EACCES"


def test_umask_default(rt, bundle):
    bundle.process.pop("user", None)
    bundle.process["user"] = {"uid": 0, "gid": 0}
    assert rt.probe(bundle, "umask")["umask"] == 0o022


@pytest.mark.parametrize("um", [0o077, 0o000, 0o027])
def test_umask(rt, bundle, um):
    bundle.process["user"] = {"uid": 0, "gid": 0, "umask": um}
    assert rt.probe(bundle, "umask")["umask"] == um


def test_umask_applies_to_created_files(rt, bundle):
    bundle.process["user"] = {"uid": 0, "gid": 0, "umask": 0o077}
    bundle.args("/bin/sh", "-c", "echo x > /tmp/f && /bin/cella-probe stat /tmp/f")
    r = rt.run(bundle)
    assert r.ok, r
    assert r.json()["/tmp/f"]["mode"] == 0o600


def test_rlimits(rt, bundle):
    bundle.process["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_NPROC", "soft": 500, "hard": 600},
        {"type": "RLIMIT_STACK", "soft": 4 << 20, "hard": 8 << 20},
        {"type": "RLIMIT_MSGQUEUE", "soft": 1000, "hard": 2000},
    ]
    d = rt.probe(bundle, "rlimits")
    for rl in bundle.process["rlimits"]:
        assert d[rl["type"]] == {"soft": rl["soft"], "hard": rl["hard"]}, rl["type"]


def test_rlimits_unset_are_inherited(rt, bundle):
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100}]
    d = rt.probe(bundle, "rlimits")
    soft, hard = resource.getrlimit(resource.RLIMIT_MSGQUEUE)
    assert d["RLIMIT_MSGQUEUE"] == {"soft": soft, "hard": hard}


def test_rlimit_nofile_enforced(rt, bundle):
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 5, "hard": 5}]
    bundle.args("/bin/sh", "-c", "exec 3</dev/null 4</dev/null 5</dev/null; echo opened")
    r = rt.run(bundle)
    assert "opened" not in r.out
    assert r.rc != 0


def test_rlimit_raise_above_host_hard_fails(rt, bundle):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    caps = host_bounding()
    if caps & (1 << CAPS.index("CAP_SYS_RESOURCE")):
        pytest.skip("host has CAP_SYS_RESOURCE: raising hard limits is allowed")
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": hard + 1, "hard": hard + 1}]
    bundle.probe_args("exit", "0")
    r = rt.run(bundle)
    assert r.rc != 0, r


@pytest.mark.parametrize("adj", [0, 500, 1000])
def test_oom_score_adj(rt, bundle, adj):
    bundle.process["oomScoreAdj"] = adj
    assert rt.probe(bundle, "oom")["oom_score_adj"] == adj


def test_oom_score_adj_unset_inherited(rt, bundle):
    bundle.process.pop("oomScoreAdj", None)
    with open("/proc/self/oom_score_adj") as f:
        mine = int(f.read())
    assert rt.probe(bundle, "oom")["oom_score_adj"] == mine


def test_oom_score_adj_out_of_range(rt, bundle):
    bundle.process["oomScoreAdj"] = 1001
    bundle.probe_args("oom")
    r = rt.run(bundle)
    assert r.rc != 0, r


@pytest.mark.parametrize("nnp", [True, False])
def test_no_new_privileges(rt, bundle, nnp):
    bundle.process["noNewPrivileges"] = nnp
    d = rt.probe(bundle, "seccomp")
    assert d["no_new_privs"] == int(nnp)
    assert d["prctl_no_new_privs"] == int(nnp)


def test_no_seccomp_by_default(rt, bundle):
    bundle.linux.pop("seccomp", None)
    d = rt.probe(bundle, "seccomp")
    assert d["seccomp"] == 0


def test_stdin_passthrough(rt, bundle, tmp_path):
    data = b"hello container\n" + bytes(range(256)) * 64
    src = rt.base / "stdin.bin"
    src.write_bytes(data)
    bundle.args("/bin/sh", "-c", "cat | md5sum")
    with open(src, "rb") as f:
        r = rt.run(bundle, stdin=f)
    assert r.ok, r
    assert r.out.split()[0] == hashlib.md5(data).hexdigest()


def test_stdout_stderr_separate(rt, bundle):
    bundle.args("/bin/sh", "-c", "echo to-out; echo to-err >&2; echo again-out")
    r = rt.run(bundle)
    assert r.ok, r
    assert r.out == "to-out\nagain-out\n"
    assert "to-err\n" in r.err
    assert "to-out" not in r.err


def test_large_output(rt, bundle):
    bundle.args("/bin/sh", "-c", "yes 0123456789 | head -c 3000000")
    r = rt.run(bundle)
    assert r.ok, r
    assert len(r.out) == 3000000


def test_stdio_fds_are_the_callers(rt, bundle):
    bundle.probe_args("fds")
    r = rt.run(bundle)
    assert r.ok, r
    fds = {f["fd"]: f["target"] for f in r.json()}
    # only stdin/stdout/stderr: no runtime fd leaks into the container
    # (in the foreground they may be pipes the runtime copies through)
    assert sorted(fds) == [0, 1, 2], fds


def test_create_passes_stdio_through(rt, bundle):
    bundle.probe_args("fds")
    r = rt.create(bundle)
    assert r.ok, r
    assert rt.start(r.cid).ok
    rt.wait_status(r.cid, "stopped")
    fds = {f["fd"]: f["target"] for f in json.loads(rt.output(r.cid).splitlines()[-1])}
    assert sorted(fds) == [0, 1, 2], fds
    assert fds[1].endswith(f"/{r.cid}.stdout")
    assert fds[2].endswith(f"/{r.cid}.stderr")


def test_preserve_fds(rt, bundle):
    bundle.probe_args("fds")
    bundle.write()
    cid = rt.track(rt.new_id())
    extra = open(rt.base / "preserved", "w")
    with extra:
        os.set_inheritable(extra.fileno(), True)
        # make it fd 3 in the child
        r = _run_with_fd3(rt, bundle, cid, extra.fileno())
    assert r.returncode == 0, r
    fds = {f["fd"]: f["target"] for f in json.loads(r.stdout.splitlines()[-1])}
    assert sorted(fds) == [0, 1, 2, 3], fds
    assert fds[3].endswith("/preserved")


def _run_with_fd3(rt, bundle, cid, fd):
    def child():
        os.dup2(fd, 3)
    return subprocess.run([*rt.global_args(), "run", "--preserve-fds", "1", "--bundle",
                           str(bundle.path), cid], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, preexec_fn=child, pass_fds=(3,),
                          timeout=30)


@pytest.mark.parametrize("code", [0, 1, 2, 100, 255])
def test_exit_code(rt, bundle, code):
    bundle.probe_args("exit", str(code))
    r = rt.run(bundle)
    assert r.rc == code, r


def test_exit_code_of_shell_signal_child(rt, bundle):
    bundle.args("/bin/sh", "-c", "sh -c 'kill -TERM $$'; exit $?")
    r = rt.run(bundle)
    assert r.rc == 128 + 15, r


def test_hostname(rt, bundle):
    bundle.config["hostname"] = "probe-host"
    d = rt.probe(bundle, "hostname")
    assert d["nodename"] == "probe-host"
    # the host is untouched
    assert os.uname().nodename != "probe-host"


@pytest.mark.cella_only  # runc >= 1.2 supports domainname; Debian's 1.1.5 ignores it
def test_hostname_and_domainname(rt, bundle):
    bundle.config["hostname"] = "probe-host"
    bundle.config["domainname"] = "example.test"
    d = rt.probe(bundle, "hostname")
    assert d == {"nodename": "probe-host", "domainname": "example.test"}


def test_hostname_unset_keeps_new_uts(rt, bundle):
    bundle.config.pop("hostname", None)
    d = rt.probe(bundle, "hostname")
    assert d["nodename"] == os.uname().nodename  # a copy of the host's


def test_pid_one(rt, bundle):
    d = rt.probe(bundle, "pid")
    assert d["pid"] == 1
    assert d["ppid"] == 0


def test_default_capabilities(rt, bundle):
    caps = bundle.process["capabilities"]
    d = rt.probe(bundle, "caps")
    assert int(d["CapBnd"], 16) == mask(caps.get("bounding", []))
    assert int(d["CapEff"], 16) == mask(caps.get("effective", []))
    assert int(d["CapPrm"], 16) == mask(caps.get("permitted", []))
    assert int(d["CapInh"], 16) == mask(caps.get("inheritable", []))
    # the kernel keeps an ambient capability only if it is also permitted
    # and inheritable
    assert int(d["CapAmb"], 16) == (mask(caps.get("ambient", [])) & mask(caps.get("inheritable", []))
                                    & mask(caps.get("permitted", [])))
    # the default set is a restricted one
    assert not int(d["CapEff"], 16) & (1 << CAPS.index("CAP_SYS_ADMIN"))


def test_custom_capabilities(rt, bundle):
    bundle.process["capabilities"] = {
        "bounding": ["CAP_NET_RAW", "CAP_CHOWN", "CAP_KILL"],
        "effective": ["CAP_NET_RAW", "CAP_CHOWN"],
        "permitted": ["CAP_NET_RAW", "CAP_CHOWN"],
        "inheritable": [],
        "ambient": [],
    }
    d = rt.probe(bundle, "caps")
    assert int(d["CapBnd"], 16) == mask(["CAP_NET_RAW", "CAP_CHOWN", "CAP_KILL"])
    assert int(d["CapEff"], 16) == mask(["CAP_NET_RAW", "CAP_CHOWN"])
    assert int(d["CapPrm"], 16) == mask(["CAP_NET_RAW", "CAP_CHOWN"])
    assert int(d["CapInh"], 16) == 0
    assert int(d["CapAmb"], 16) == 0


def test_no_capabilities(rt, bundle):
    bundle.process["capabilities"] = {"bounding": [], "effective": [], "permitted": [],
                                      "inheritable": [], "ambient": []}
    d = rt.probe(bundle, "caps")
    for k in ("CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert int(d[k], 16) == 0, k
    # without CAP_CHOWN root cannot chown
    bundle.args("/bin/sh", "-c", "touch /tmp/x && chown 5:5 /tmp/x")
    assert rt.run(bundle).rc != 0


def test_capabilities_absent_means_none(rt, bundle):
    bundle.process.pop("capabilities")
    d = rt.probe(bundle, "caps")
    assert int(d["CapEff"], 16) == 0
    assert int(d["CapPrm"], 16) == 0


def test_ambient_capabilities_for_nonroot(rt, bundle):
    want = ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    bundle.process["capabilities"] = {"bounding": want, "effective": want, "permitted": want,
                                      "inheritable": want, "ambient": want}
    d = rt.probe(bundle, "caps")
    assert int(d["CapAmb"], 16) == mask(want)
    assert int(d["CapEff"], 16) == mask(want)
    assert int(d["CapPrm"], 16) == mask(want)


def test_capability_denied_operation(rt, bundle):
    # the default set lacks CAP_SYS_ADMIN: mount fails with EPERM
    bundle.args("/bin/sh", "-c", "mount -t tmpfs none /mnt 2>&1; echo rc=$?")
    r = rt.run(bundle)
    assert "rc=0" not in r.out, r
    assert "denied" in r.out.lower() or "not permitted" in r.out.lower()


@pytest.mark.parametrize("fd", [3, 4, 5, 6, 7, 8])
def test_cwd_through_leaked_fd_stays_inside(rt, bundle, fd):
    # CVE-2024-21626: a runtime fd to a host directory, left open across
    # exec, lets process.cwd = /proc/self/fd/N escape the rootfs
    bundle.process["cwd"] = f"/proc/self/fd/{fd}"
    bundle.args("/bin/sh", "-c", "/bin/cella-probe cwd; /bin/cella-probe ls ..")
    r = rt.run(bundle)
    if r.rc != 0:
        return
    cwd = json.loads(r.out.splitlines()[0])
    assert cwd.get("ok", True) is not False or cwd.get("errno")
    assert not cwd.get("cwd", "").startswith("(unreachable)"), r


def test_ambient_without_inheritable(rt, bundle):
    # runc's own `spec` lists ambient capabilities without inheritable ones;
    # the kernel cannot raise those. runc ignores them silently; refusing
    # with an error naming the set is fine too. Never half-applied.
    caps = ["CAP_KILL", "CAP_AUDIT_WRITE"]
    bundle.process["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps,
                                      "ambient": caps}
    bundle.probe_args("caps")
    r = rt.run(bundle)
    if r.ok:
        assert int(r.json()["CapAmb"], 16) == 0
    else:
        assert "ambient" in r.err, r
        assert rt("state", r.cid).rc != 0


def test_hostname_too_long_fails(rt, bundle):
    bundle.config["hostname"] = "h" * 65
    bundle.probe_args("hostname")
    assert rt.run(bundle).rc != 0


def _my_session_keyring():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc.syscall(250, 0, -3, 0)   # keyctl(KEYCTL_GET_KEYRING_ID, SESSION, 0)


def test_new_session_keyring(rt, bundle):
    # the default seccomp profile denies keyctl(2), which the probe uses
    bundle.linux.pop("seccomp", None)
    d = rt.probe(bundle, "keyring")
    assert d["session"] != _my_session_keyring(), d
    assert "_ses" in d["description"], d


def test_no_new_keyring(rt, bundle):
    # the default seccomp profile denies keyctl(2), which the probe uses
    bundle.linux.pop("seccomp", None)
    d = rt.probe(bundle, "keyring", extra=("--no-new-keyring",))
    assert d["session"] == _my_session_keyring(), d


def test_preserve_fds_with_create(rt, bundle):
    bundle.probe_args("fds")
    bundle.write()
    cid = rt.track(rt.new_id())
    out = open(rt.base / f"{cid}.stdout", "wb")
    extra = open(rt.base / "preserved-create", "w")
    with out, extra:
        fd = extra.fileno()
        p = subprocess.run([*rt.global_args(), "create", "--preserve-fds", "1", "--bundle",
                            str(bundle.path), cid], stdin=subprocess.DEVNULL, stdout=out,
                           stderr=out, preexec_fn=lambda: os.dup2(fd, 3), pass_fds=(3,),
                           timeout=30)
    assert p.returncode == 0, rt.output(cid)
    assert rt.start(cid).ok
    rt.wait_status(cid, "stopped")
    fds = {f["fd"]: f["target"] for f in json.loads(rt.output(cid).splitlines()[-1])}
    assert sorted(fds) == [0, 1, 2, 3], fds
    assert fds[3].endswith("/preserved-create")


@pytest.mark.cella_only
@pytest.mark.parametrize("log", [False, True])
def test_preserve_fds_must_be_open(rt, bundle, log):
    # --preserve-fds 2 with only fd 3 passed: fd 4 would be one of ours
    # (the --log file, say), handed to the container
    bundle.probe_args("fds")
    bundle.write()
    cid = rt.track(rt.new_id())
    extra = ["--log", str(rt.base / "runtime.log")] if log else []
    argv = [*rt.global_args(), *extra, "run", "--preserve-fds", "2", "--bundle",
            str(bundle.path), cid]
    p = subprocess.run(["/bin/sh", "-c", "exec 3</dev/null 4<&-; exec \"$@\"", "sh", *map(str, argv)],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode != 0, p
    err = p.stderr + ((rt.base / "runtime.log").read_text() if log else "")
    assert "fd 4 is not open" in err, (p, err)
