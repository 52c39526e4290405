#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/vps.sh - VPS benchmark: cella (cellad + cella-monitor) vs LXC, side by
# side in one run, with the same isolation on both sides: a user namespace
# mapping 65536 ids (a range of its own per guest), an empty network namespace,
# busybox init of cella's minimal image as PID 1.
#
#   1. start latency: `cella start NAME` vs `lxc-start -d`, from just before
#      the command to the guest's /sbin/init having run its first line (it
#      creates /bench-marker, seen on the host with inotify); N_START runs
#      each on one instance/container that is stopped (--force / -k) between
#      runs; median and p90.  systemd-nspawn -b is reported as skipped.
#   2. exec latency: `cella exec NAME -- true` vs `lxc-attach -n NAME -- true`
#      vs `nsenter -a -t PID true`, N_EXEC runs each, interleaved; median, mean.
#   3. density: DENSITY minimal VPSs of each kind running at once, host-side
#      memory per VPS: PSS (smaps_rollup) of cellad + every cella-monitor,
#      divided by DENSITY, vs LXC's `[lxc monitor]` processes.  The guests'
#      own processes are excluded on both sides.
#
# Targets: start <= 0.5x LXC (median), exec <= 0.75x lxc-attach (median),
# host-side overhead < 1 MiB per running VPS.
#
# Must run as root.  Installs lxc with apt-get when missing.  Uses the cella
# binaries of $CELLA_BUILD (default <repo>/build), busybox-static, python3.
#
# Environment:
#   N_START=30   start runs per side        N_EXEC=100  exec runs per command
#   DENSITY=200  VPSs per side              LXC_DENSITY=$DENSITY
#   CELLA_BUILD=<repo>/build
#
# Exit status: 0 when everything ran (targets met or not), 1 on a failure.

set -euo pipefail
# cellad here runs in the host network namespace: it must make no network
export CELLA_NO_NETWORKS=1

N_START=${N_START:-30}
N_EXEC=${N_EXEC:-100}
DENSITY=${DENSITY:-200}
LXC_DENSITY=${LXC_DENSITY:-$DENSITY}
SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(readlink -f "${CELLA_BUILD:-$SELF_DIR/../build}")
CELLA=$BUILD/cella
CELLAD=$BUILD/cellad
PYTHON=/usr/bin/python3
LXC_BASE=500000000      # first host id of the LXC guests' ranges (cella allocates from 1000000)

die() { echo "vps.sh: error: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

# ---------------------------------------------------------------- checks
[[ $(id -u) -eq 0 ]] || die "must run as root (try: sudo $0)"
for v in N_START N_EXEC DENSITY LXC_DENSITY; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done
for b in "$CELLA" "$CELLAD" "$BUILD/cella-monitor"; do
	[[ -x $b ]] || die "missing $b (run make build)"
done
[[ -x $PYTHON ]] || die "missing $PYTHON"
[[ -x /bin/busybox ]] || die "missing /bin/busybox (install busybox-static)"
if ! command -v lxc-start >/dev/null || ! command -v lxc-attach >/dev/null; then
	note "installing lxc"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends lxc >/dev/null \
		|| die "apt-get install lxc failed"
fi
for t in lxc-start lxc-stop lxc-attach lxc-info lxc-destroy nsenter tar; do
	command -v "$t" >/dev/null || die "missing $t"
done
LXC_VERSION=$(lxc-start --version)

# ---------------------------------------------------------------- temp state
WORK=$(mktemp -d /tmp/cella-vps-bench.XXXXXX)
chmod 711 "$WORK"   # the guests' roots (unprivileged ids) traverse down to their trees
PFX=vb$$            # names of instances/containers (and LXC's cgroups)
VAR=$WORK/var RUN=$WORK/run LOGD=$WORK/log SOCK=$WORK/run/unix.socket
LXCPATH=$WORK/lxc
# With uidmap installed, LXC maps ids with newuidmap even as root, which
# wants /etc/subuid entries; with no newuidmap on PATH, root writes the maps
# itself.  lxc-start/lxc-stop run with this PATH (nothing else needs it).
NOBIN=$WORK/nobin
mkdir -p "$LXCPATH" "$NOBIN"
chmod 711 "$LXCPATH"
# a private copy of the binaries: a rebuild of the tree during the run must
# not change them (cellad finds cella-monitor next to itself)
mkdir -p "$WORK/bin"
for b in cella cellad cella-monitor cella-runtime; do
	[[ -x $BUILD/$b ]] && cp "$BUILD/$b" "$WORK/bin/$b"
done
CELLA=$WORK/bin/cella CELLAD=$WORK/bin/cellad
REV=$(git -C "$SELF_DIR/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
CELLAD_PID=
export CELLA_SOCKET=$SOCK CELLA_NO_AUTOSTART=1

lxc_env() { local t; t=$(command -v "$1"); shift; env PATH="$NOBIN" "$t" "$@"; }
c() { "$CELLA" "$@"; }

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local rc=$? n d pid m
	trap - EXIT INT TERM
	set +e
	note "cleaning up"
	if [[ -n $CELLAD_PID ]] && ! kill -0 "$CELLAD_PID" 2>/dev/null && [[ -s $WORK/cellad.log ]]; then
		cp "$WORK/cellad.log" "/tmp/cella-vps-bench-cellad.$$.log"
		note "cellad died; its log: /tmp/cella-vps-bench-cellad.$$.log"
	fi
	if [[ -n $CELLAD_PID ]] && kill -0 "$CELLAD_PID" 2>/dev/null; then
		"$PYTHON" "$WORK/drive.py" delete-all "$SOCK" >/dev/null 2>&1
		kill -TERM "$CELLAD_PID"
		for _ in $(seq 50); do kill -0 "$CELLAD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$CELLAD_PID" 2>/dev/null
	fi
	for d in "$LXCPATH"/*/; do
		[[ -f $d/config ]] || continue
		n=$(basename "$d")
		lxc_env lxc-stop -P "$LXCPATH" -n "$n" -k >/dev/null 2>&1
		lxc-destroy -P "$LXCPATH" -n "$n" >/dev/null 2>&1
	done
	# whatever survived: monitors and guests mentioning the temp dir
	for _ in 1 2 3; do
		for pid in $(pgrep -f "$WORK" 2>/dev/null); do
			[[ $pid == "$$" ]] || kill -KILL "$pid" 2>/dev/null
		done
		while read -r m; do umount -l "$m" 2>/dev/null; done < <(awk -v w="$WORK" '$5 == w || index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
		sleep 0.2
	done
	# cgroups: cellad's per-host tree and LXC's lxc.{monitor,payload,pivot}.NAME
	local cg=
	[[ -f $WORK/cgparent ]] && cg=$(cat "$WORK/cgparent")
	while IFS= read -r d; do
		rmdir "$d" 2>/dev/null
	done < <({ [[ -n $cg ]] && find /sys/fs/cgroup -maxdepth 8 -type d -path "*/$cg*" 2>/dev/null
		find /sys/fs/cgroup -maxdepth 8 -type d -name "lxc.*.$PFX-*" 2>/dev/null; } | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2-)
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- the driver
# Timing and the API in python: inotify for the marker, monotonic clocks,
# posix_spawn for the timed commands, smaps_rollup for PSS.
cat >"$WORK/drive.py" <<'EOF'
import ctypes, json, os, select, socket, statistics, struct, sys, time

def api(sock, method, path, body=None):
    s = socket.socket(socket.AF_UNIX); s.connect(sock)
    data = json.dumps(body).encode() if body is not None else b""
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: cella\r\nConnection: close\r\n"
              f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
    buf = b""
    while True:
        b = s.recv(65536)
        if not b: break
        buf += b
    s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        out, rest = b"", body
        while rest:
            ln, _, rest = rest.partition(b"\r\n")
            n = int(ln, 16)
            if n == 0: break
            out += rest[:n]; rest = rest[n + 2:]
        body = out
    return json.loads(body) if body else {}

def spawn_wait(argv):
    pid = os.posix_spawnp(argv[0], argv, os.environ)
    return os.waitpid(pid, 0)[1]

libc = ctypes.CDLL(None, use_errno=True)

def start_once(watch, marker, timeout, argv):
    """ms from just before spawning argv to the creation of watch/marker."""
    fd = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
    # IN_CLOSE_WRITE|IN_MOVED_TO: the marker is opened for writing and closed
    # on every boot, whether it exists already or not (it is never deleted:
    # cella's overlay may stay mounted while the instance is stopped)
    if fd < 0 or libc.inotify_add_watch(fd, watch.encode(), 0x8 | 0x80) < 0:
        sys.exit(f"inotify on {watch}: errno {ctypes.get_errno()}")
    env = dict(os.environ)
    while "=" in argv[0]:  # leading VAR=value: the command's environment
        k, _, v = argv.pop(0).partition("=")
        env[k] = v
    t0 = time.monotonic_ns()
    pid = os.posix_spawn(argv[0], argv, env)
    t1 = None
    end = time.monotonic() + timeout
    while t1 is None:
        r, _, _ = select.select([fd], [], [], max(0, end - time.monotonic()))
        if not r:
            break
        data = os.read(fd, 65536)
        i = 0
        while i < len(data):
            _wd, _mask, _ck, ln = struct.unpack_from("iIII", data, i)
            name = data[i + 16:i + 16 + ln].rstrip(b"\0").decode()
            i += 16 + ln
            if name == marker and t1 is None:
                t1 = time.monotonic_ns()
    st = os.waitpid(pid, 0)[1]
    os.close(fd)
    if st != 0:
        sys.exit(f"{argv}: exit status {st}")
    if t1 is None:
        sys.exit(f"no {marker} in {watch} after {timeout} s")
    print(f"{(t1 - t0) / 1e6:.3f}")

def times(n, argv):
    for _ in range(n):
        t0 = time.monotonic_ns()
        st = spawn_wait(argv)
        t1 = time.monotonic_ns()
        if st != 0:
            sys.exit(f"{argv}: exit status {st}")
        print(f"{(t1 - t0) / 1e6:.3f}")

def stats(path):
    v = sorted(float(x) for x in open(path).read().split())
    if not v:
        print("0 - - - -"); return
    p90 = v[min(len(v) - 1, int(round(0.9 * len(v) + 0.5)) - 1)]
    print(f"{len(v)} {statistics.median(v):.2f} {p90:.2f} {statistics.mean(v):.2f} {v[0]:.2f}")

def pss(pids):
    tot = 0
    for p in pids:
        with open(f"/proc/{p}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    tot += int(line.split()[1])
    return tot

def procs():
    for p in os.listdir("/proc"):
        if not p.isdigit(): continue
        try:
            cmd = open(f"/proc/{p}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
            ppid = int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        yield int(p), ppid, cmd

def overhead(kind, mark, extra):
    """PSS KiB of the host-side processes: cella-monitor/[lxc monitor] whose
    command line names `mark`, plus the `extra` pids (cellad)."""
    allp = list(procs())
    if kind == "cella":
        mons = [p for p, _pp, cmd in allp if cmd.startswith("cella-monitor ") and mark in cmd]
    else:
        mons = [p for p, _pp, cmd in allp if cmd.startswith("[lxc monitor] " + mark + " ")]
    ex = [int(x) for x in extra]
    print(len(mons), pss(mons), pss(ex))

cmd = sys.argv[1]
if cmd == "start":
    # start WATCHDIR MARKER TIMEOUT -- CMD...
    start_once(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[6:])
elif cmd == "times":
    times(int(sys.argv[2]), sys.argv[4:])
elif cmd == "stats":
    stats(sys.argv[2])
elif cmd == "pid":
    print(api(sys.argv[2], "GET", f"/1.0/instances/{sys.argv[3]}/state")["metadata"]["pid"])
elif cmd == "overhead":
    overhead(sys.argv[2], sys.argv[3], sys.argv[4:])
elif cmd == "delete-all":
    sock = sys.argv[2]
    for i in api(sock, "GET", "/1.0/instances")["metadata"] or []:
        name = i.rsplit("/", 1)[1]
        r = api(sock, "DELETE", f"/1.0/instances/{name}?force=1")
        if r.get("operation"):
            api(sock, "GET", r["operation"] + "/wait?timeout=60")
else:
    sys.exit(f"drive.py: unknown command {cmd}")
EOF
drive() { "$PYTHON" "$WORK/drive.py" "$@"; }

# ---------------------------------------------------------------- cella host
"$CELLAD" --var-dir "$VAR" --run-dir "$RUN" --log-dir "$LOGD" --socket "$SOCK" \
	</dev/null >"$WORK/cellad.log" 2>&1 &
CELLAD_PID=$!
for _ in $(seq 150); do c list >/dev/null 2>&1 && break; sleep 0.1; done
c list >/dev/null 2>&1 || { cat "$WORK/cellad.log" >&2; die "cellad did not come up"; }
# the cgroup tree cellad gives this host's guests (lib/instance.c)
"$PYTHON" -c 'import sys
v = 5381
for ch in sys.argv[1].encode(): v = (v * 33 + ch) & 0xFFFFFFFFFFFFFFFF
print(f"cella-vps-{v & 0xFFFFFFFF:08x}")' "$RUN" >"$WORK/cgparent"

c image build minimal >/dev/null || die "cella image build minimal failed"
FP=$(c image list -f csv | awk -F, '$1 == "minimal" { print $2 }')
IMG=$(echo "$VAR"/images/"$FP"*/rootfs)
[[ -d $IMG ]] || die "cannot find the minimal image's rootfs ($FP)"

# The bench rootfs: the minimal image whose /sbin/init first creates
# /bench-marker, then becomes busybox init (PID 1 throughout).
BR=$WORK/bench-rootfs
cp -a "$IMG/." "$BR/"
rm -f "$BR/sbin/init"
printf '#!/bin/sh\n: >/bench-marker\nexec /bin/busybox init "$@"\n' >"$BR/sbin/init"
chmod 755 "$BR/sbin/init"
tar -C "$BR" -cf "$WORK/bench.tar" .
c image import "$WORK/bench.tar" --alias bench >/dev/null || die "cella image import failed"

# ---------------------------------------------------------------- LXC containers
# lxc_make NAME INDEX ROOTFS_SRC: a container with its own id range, the
# standard unprivileged configuration (common.conf + userns.conf, as the
# download template writes), an empty network namespace.
lxc_make() {
	local n=$1 i=$2 src=$3 base=$((LXC_BASE + $2 * 65536))
	mkdir -p "$LXCPATH/$n"
	chmod 711 "$LXCPATH/$n"
	cp -a "$src" "$LXCPATH/$n/rootfs"
	# LXC 5 does not idmap the rootfs: shift its owners into the range
	chown -hR "$base:$base" "$LXCPATH/$n/rootfs"
	cat >"$LXCPATH/$n/config" <<-EOF
		lxc.include = /usr/share/lxc/config/common.conf
		lxc.include = /usr/share/lxc/config/userns.conf
		lxc.apparmor.profile = unconfined
		lxc.rootfs.path = dir:$LXCPATH/$n/rootfs
		lxc.uts.name = $n
		lxc.idmap = u 0 $base 65536
		lxc.idmap = g 0 $base 65536
		lxc.net.0.type = empty
		lxc.log.level = ERROR
	EOF
	: "$i"
}
[[ $(find "$IMG" ! -uid 0 | wc -l) -eq 0 ]] || note "WARNING: the image has files not owned by root; LXC's copy maps them all to its root"

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]; then CGMODE=unified
elif mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then CGMODE=hybrid
else CGMODE=legacy; fi
note "host: kernel $(uname -r), nproc $(nproc), cgroups $CGMODE, load $LOAD_START; $LXC_VERSION; N_START=$N_START N_EXEC=$N_EXEC DENSITY=$DENSITY"

# ---------------------------------------------------------------- 1. start latency
CN=$PFX-c0 LN=$PFX-l0
c create bench "$CN" >/dev/null || die "cella create failed"
lxc_make "$LN" 0 "$BR"
CUP=$VAR/instances/$CN/upper
[[ -d $CUP ]] || die "no $CUP (the instance's upper layer)"
LROOT=$LXCPATH/$LN/rootfs

cella_start_once() {
	drive start "$CUP" bench-marker 30 -- "$CELLA" start "$CN" >>"$WORK/start-cella"
}
lxc_start_once() {
	drive start "$LROOT" bench-marker 30 -- PATH="$NOBIN" "$(command -v lxc-start)" -P "$LXCPATH" -n "$LN" -d >>"$WORK/start-lxc"
}
cella_stop() { c stop --force "$CN" >/dev/null || die "cella stop --force failed"; }
lxc_stop() { lxc_env lxc-stop -P "$LXCPATH" -n "$LN" -k >/dev/null || die "lxc-stop -k failed"; }

# a warm-up run each (page cache, first cgroup creation), not counted
note "start: warm-up"
cella_start_once || die "cella start failed"
cella_stop
lxc_start_once || die "lxc-start failed"
lxc_stop
: >"$WORK/start-cella"; : >"$WORK/start-lxc"
note "start: $N_START runs each, interleaved"
for ((i = 0; i < N_START; i++)); do
	cella_start_once || die "cella start run $i failed"
	cella_stop
	lxc_start_once || die "lxc-start run $i failed"
	lxc_stop
done
if command -v systemd-nspawn >/dev/null && [[ -d /run/systemd/system ]]; then
	NSPAWN="systemd-nspawn -b: not measured by this script"
else
	NSPAWN="systemd-nspawn -b: skipped: the host's init is not systemd (no /run/systemd/system; PID 1 is '$(ps -p 1 -o comm=)'), and nspawn -b needs systemd's machined/cgroup delegation$(command -v systemd-nspawn >/dev/null || echo '; systemd-container is not installed')"
fi
note "$NSPAWN"

# ---------------------------------------------------------------- 2. exec latency
note "exec: $N_EXEC runs per command, interleaved in rounds of 10"
c start "$CN" >/dev/null
lxc_env lxc-start -P "$LXCPATH" -n "$LN" -d
CPID=$(drive pid "$SOCK" "$CN")
LPID=$(lxc-info -P "$LXCPATH" -n "$LN" -pH)
[[ $CPID =~ ^[0-9]+$ && $LPID =~ ^[0-9]+$ ]] || die "cannot find the guests' pids ($CPID, $LPID)"
sleep 0.5   # let both inits finish rcS
: >"$WORK/exec-cella"; : >"$WORK/exec-attach"; : >"$WORK/exec-nsenter"; : >"$WORK/exec-nsenter-lxc"
for ((done_ = 0; done_ < N_EXEC; done_ += 10)); do
	k=$((N_EXEC - done_ < 10 ? N_EXEC - done_ : 10))
	drive times "$k" -- "$CELLA" exec "$CN" -- true >>"$WORK/exec-cella" || die "cella exec failed"
	drive times "$k" -- lxc-attach -P "$LXCPATH" -n "$LN" -- true >>"$WORK/exec-attach" || die "lxc-attach failed"
	drive times "$k" -- nsenter -a -t "$CPID" true >>"$WORK/exec-nsenter" || die "nsenter (cella guest) failed"
	drive times "$k" -- nsenter -a -t "$LPID" true >>"$WORK/exec-nsenter-lxc" || die "nsenter (LXC guest) failed"
done
drive delete-all "$SOCK"
lxc_env lxc-stop -P "$LXCPATH" -n "$LN" -k >/dev/null
lxc-destroy -P "$LXCPATH" -n "$LN" >/dev/null

# ---------------------------------------------------------------- 3. density
note "density: $DENSITY cella VPSs (minimal image)"
t0=$(date +%s%N)
for ((i = 0; i < DENSITY; i++)); do
	c create minimal "$PFX-d$i" >/dev/null || die "cella create $PFX-d$i failed"
done
t1=$(date +%s%N)
for ((i = 0; i < DENSITY; i++)); do
	c start "$PFX-d$i" >/dev/null || die "cella start $PFX-d$i failed (after $i)"
done
t2=$(date +%s%N)
CELLA_CREATE_S=$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.1f", d / 1e9 }')
CELLA_START_S=$(awk -v d=$((t2 - t1)) 'BEGIN { printf "%.1f", d / 1e9 }')
sleep 3   # rcS of the last ones; monitors settle
read -r CMONS CMON_PSS CELLAD_PSS < <(drive overhead cella "--run-dir $RUN " "$CELLAD_PID")
CRUN=$(c list -f csv | grep -c ',RUNNING,' || true)
note "cella: $CRUN running, $CMONS monitors, monitors PSS $CMON_PSS KiB, cellad PSS $CELLAD_PSS KiB"
drive delete-all "$SOCK"

note "density: $LXC_DENSITY LXC containers (same rootfs, copied and shifted per container)"
MINI=$WORK/minimal-rootfs
cp -a "$IMG/." "$MINI/"
for ((i = 0; i < LXC_DENSITY; i++)); do lxc_make "$PFX-m$i" $((i + 1)) "$MINI"; done
LSTARTED=0
t1=$(date +%s%N)
for ((i = 0; i < LXC_DENSITY; i++)); do
	if ! lxc_env lxc-start -P "$LXCPATH" -n "$PFX-m$i" -d 2>>"$WORK/lxc-density.err"; then
		note "lxc-start $PFX-m$i failed (after $i):"; tail -n 3 "$WORK/lxc-density.err" >&2
		break
	fi
	LSTARTED=$((LSTARTED + 1))
done
t2=$(date +%s%N)
LXC_START_S=$(awk -v d=$((t2 - t1)) 'BEGIN { printf "%.1f", d / 1e9 }')
sleep 3
read -r LMONS LMON_PSS _ < <(drive overhead lxc "$LXCPATH")
LRUN=$(lxc-ls -P "$LXCPATH" --running | wc -w)
note "lxc: $LRUN running, $LMONS monitors, monitors PSS $LMON_PSS KiB"
for ((i = 0; i < LXC_DENSITY; i++)); do
	lxc_env lxc-stop -P "$LXCPATH" -n "$PFX-m$i" -k >/dev/null 2>&1
	lxc-destroy -P "$LXCPATH" -n "$PFX-m$i" >/dev/null 2>&1
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
read -r SC_N SC_MED SC_P90 _ SC_MIN < <(drive stats "$WORK/start-cella")
read -r SL_N SL_MED SL_P90 _ SL_MIN < <(drive stats "$WORK/start-lxc")
read -r EC_N EC_MED EC_P90 EC_MEAN _ < <(drive stats "$WORK/exec-cella")
read -r _ EA_MED EA_P90 EA_MEAN _ < <(drive stats "$WORK/exec-attach")
read -r _ EN_MED EN_P90 EN_MEAN _ < <(drive stats "$WORK/exec-nsenter")
read -r _ EL_MED EL_P90 EL_MEAN _ < <(drive stats "$WORK/exec-nsenter-lxc")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
per() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f", a / b; else print "n/a" }'; }
C_PER=$(per $((CMON_PSS + CELLAD_PSS)) "$CRUN")
L_PER=$(per "$LMON_PSS" "$LRUN")

echo
echo "VPS: cella vs LXC ($LXC_VERSION), user namespace with 65536 ids each, empty net namespace, busybox init"
echo "host: kernel $(uname -r), nproc $(nproc), cgroups $CGMODE, load avg at start $LOAD_START, at end $LOAD_END; cella binaries of $BUILD copied at start (tree at $REV)"
echo
echo "| measurement | cella | LXC | nsenter -a (floor) | cella/LXC |"
echo "|---|---:|---:|---:|---:|"
echo "| start → init's first line, median ms ($SC_N / $SL_N runs) | $SC_MED | $SL_MED | - | $(ratio "$SC_MED" "$SL_MED") |"
echo "| start → init's first line, p90 ms | $SC_P90 | $SL_P90 | - | $(ratio "$SC_P90" "$SL_P90") |"
echo "| start, min ms | $SC_MIN | $SL_MIN | - | $(ratio "$SC_MIN" "$SL_MIN") |"
echo "| exec \`true\`, median ms ($EC_N runs; lxc-attach) | $EC_MED | $EA_MED | $EN_MED (cella guest) / $EL_MED (LXC guest) | $(ratio "$EC_MED" "$EA_MED") |"
echo "| exec \`true\`, mean ms | $EC_MEAN | $EA_MEAN | $EN_MEAN / $EL_MEAN | $(ratio "$EC_MEAN" "$EA_MEAN") |"
echo "| exec \`true\`, p90 ms | $EC_P90 | $EA_P90 | $EN_P90 / $EL_P90 | $(ratio "$EC_P90" "$EA_P90") |"
echo "| VPSs running at once | $CRUN of $DENSITY | $LRUN of $LXC_DENSITY | - | - |"
echo "| host-side PSS total KiB | $((CMON_PSS + CELLAD_PSS)) ($CMONS monitors $CMON_PSS + cellad $CELLAD_PSS) | $LMON_PSS ($LMONS monitors) | - | - |"
echo "| host-side PSS per running VPS KiB | $C_PER | $L_PER | - | $(ratio "$C_PER" "$L_PER") |"
echo "| time to start them all, s (one after another) | $CELLA_START_S (+ create $CELLA_CREATE_S) | $LXC_START_S | - | - |"
echo
echo "$NSPAWN"
echo
echo "ratio start cella/LXC (median): $(ratio "$SC_MED" "$SL_MED")"
echo "ratio exec cella/lxc-attach (median): $(ratio "$EC_MED" "$EA_MED")"
echo "overhead per VPS: cella $C_PER KiB, LXC $L_PER KiB"
t=$(awk -v c="$SC_MED" -v l="$SL_MED" 'BEGIN { print (c <= 0.5 * l) ? "PASS" : "FAIL" }')
echo "TARGET start <= 0.5x LXC: $t"
t=$(awk -v c="$EC_MED" -v l="$EA_MED" 'BEGIN { print (c <= 0.75 * l) ? "PASS" : "FAIL" }')
echo "TARGET exec <= 0.75x lxc-attach: $t"
t=$(awk -v c="$C_PER" -v n="$CRUN" -v d="$DENSITY" 'BEGIN { print (n == d && c < 1024) ? "PASS" : "FAIL" }')
echo "TARGET host-side overhead < 1 MiB per running VPS: $t"
((LRUN == LXC_DENSITY)) || echo "note: only $LRUN of $LXC_DENSITY LXC containers ran"
exit 0
