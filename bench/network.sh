#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/network.sh - network benchmark: iperf3 TCP throughput between two VPSs
# through Cella's bridge with its filtering, against a hand-made veth/bridge
# pair without any filtering, and loopback, side by side in one run.
#
#   1. loopback:  iperf3 server and client in one fresh network namespace,
#                 over 127.0.0.1.
#   2. hand-made: namespaces A and B, each with one end of a veth pair whose
#                 other end is a port of bridge br0 in a third namespace (the
#                 "host"); 198.18.0.0/24 (RFC 2544's benchmark range), no
#                 nftables at all.
#   3. cella:     cellad in a namespace of its own (the "host", networks
#                 enabled: bridge cellabr0, its NAT table, per-NIC
#                 anti-spoofing), two VPSs launched from the built-in minimal
#                 image with the default profile's NIC on cellabr0.  iperf3 is
#                 not in the guests: it runs from the host in each VPS's
#                 network namespace (nsenter --net=/proc/PID/ns/net, PID = the
#                 instance's init), to the server VPS's address from its state.
#
# Every setup has the server in one namespace and the client in the other,
# with the same iperf3 parameters (-t DURATION -P STREAMS, JSON output).  The
# setups take turns in ITER rounds; the median receiver throughput is
# reported, with the ratio cella / hand-made.  Target: cella >= 0.9x.
#
# Network safety: every interface, address, bridge, rule and process this
# script makes lives in network namespaces it creates (`unshare -n` holders);
# nothing touches the namespace the script runs in.  Each command entering a
# namespace checks, after entering it, that it is neither the script's own
# namespace nor PID 1's, and refuses to run otherwise.  cellad is started the
# same way (as tests/system/test_network.py's NetnsHost does), so its bridge,
# NAT and dnsmasq are in that namespace; the CLI never autostarts a cellad.
#
# Must run as root.  Installs nothing: needs iperf3, iproute2 (ip, ss),
# util-linux (unshare, nsenter), python3, and for the cella part the cella
# binaries of $CELLA_BUILD (default <repo>/build); nft is used when present to
# report the filtering in place.
#
# Environment:
#   ITER=3           runs per setup (the median is reported)
#   DURATION=5       seconds per iperf3 run (-t); SECONDS=N in the
#                    environment works too (read before bash's own timer moves)
#   STREAMS=1        parallel TCP streams per run (-P)
#   WARMUP=1         seconds of an untimed first run per setup (0 = none)
#   PARTS="loopback handmade cella"   setups to run, in this order per round
#   PORT=5201        iperf3 port
#   CELLA_BUILD=<repo>/build
#
# Exit status: 0 when every requested setup ran (target met or not), 1 on a
# usage/setup error or when loopback or hand-made failed, 3 when only the
# cella part failed (the others are still measured and printed).

# shellcheck disable=SC2317 # setup_* are called as "setup_$p", cleanup by the EXIT trap
ENV_SECONDS=$(printenv SECONDS || true)   # first: bash's SECONDS is its own clock from here on
set -euo pipefail

ITER=${ITER:-3}
DURATION=${DURATION:-${ENV_SECONDS:-5}}
STREAMS=${STREAMS:-1}
WARMUP=${WARMUP:-1}
PARTS=${PARTS:-"loopback handmade cella"}
PORT=${PORT:-5201}
SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(readlink -f "${CELLA_BUILD:-$SELF_DIR/../build}")
PYTHON=/usr/bin/python3
SUBNET=198.18.0        # the hand-made pair's /24

die() { echo "network.sh: error: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

# ---------------------------------------------------------------- checks
[[ $(id -u) -eq 0 ]] || die "must run as root (try: sudo $0)"
for v in ITER DURATION STREAMS PORT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer"
for p in $PARTS; do
	case $p in loopback | handmade | cella) ;; *) die "PARTS: unknown setup '$p' (loopback handmade cella)" ;; esac
done
[[ -n $PARTS ]] || die "PARTS is empty"
for t in iperf3 ip ss unshare nsenter timeout awk; do
	command -v "$t" >/dev/null || die "missing '$t' (install iperf3 iproute2 util-linux coreutils)"
done
[[ -x $PYTHON ]] || die "missing $PYTHON"
HOST_NS=$(readlink /proc/self/ns/net 2>/dev/null || true)   # the namespace this script runs in
[[ -n $HOST_NS ]] || die "cannot read /proc/self/ns/net"
# the machine's (PID 1's), when this root may read it; else ours is all we know
INIT_NS=$(readlink /proc/1/ns/net 2>/dev/null || echo "$HOST_NS")

# ---------------------------------------------------------------- temp state
WORK=$(mktemp -d /tmp/cella-net-bench.XXXXXX)
chmod 711 "$WORK"   # the guests' roots (unprivileged ids) traverse down to their trees
PFX=nb$$
HOLDERS=()          # pids of the `unshare -n` holders
SERVERS=()          # pids of the iperf3 servers
OUR_NS=()           # net:[inode] of every namespace made here or by cellad's guests
CELLAD_PID=
VAR=$WORK/var RUN=$WORK/run LOGD=$WORK/log SOCK=$WORK/run/unix.socket
export CELLA_SOCKET=$SOCK CELLA_NO_AUTOSTART=1   # the CLI must never start a cellad of its own

# Runs "$@" only if the namespace it is in is neither the script's nor PID 1's
# (nsenter execs this, it execs the command: pids stay the same).
cat >"$WORK/nscheck.sh" <<'EOF'
n=$(readlink /proc/self/ns/net)
if [ -z "$n" ] || [ "$n" = "$1" ] || [ "$n" = "$2" ]; then
	echo "network.sh: refusing to run '$3' in the host's network namespace ($n)" >&2
	exit 99
fi
shift 2
exec "$@"
EOF

cleanup() {
	local rc=$? pid m d ns
	trap - EXIT INT TERM
	set +e
	note "cleaning up"
	for pid in "${SERVERS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	if [[ -n $CELLAD_PID ]] && ! kill -0 "$CELLAD_PID" 2>/dev/null && [[ -s $WORK/cellad.log ]]; then
		cp "$WORK/cellad.log" "/tmp/cella-net-bench-cellad.$$.log"
		note "cellad died; its log: /tmp/cella-net-bench-cellad.$$.log"
	fi
	if [[ -n $CELLAD_PID ]] && kill -0 "$CELLAD_PID" 2>/dev/null; then
		timeout 120 "$PYTHON" "$WORK/drive.py" delete-all "$SOCK" >/dev/null 2>&1
		kill -TERM "$CELLAD_PID"
		for _ in $(seq 50); do kill -0 "$CELLAD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$CELLAD_PID" 2>/dev/null
	fi
	# whatever survived: monitors and guests mentioning the temp dir, its mounts
	for _ in 1 2 3; do
		for pid in $(pgrep -f "$WORK" 2>/dev/null); do
			[[ $pid == "$$" ]] || kill -KILL "$pid" 2>/dev/null
		done
		while read -r m; do umount -l "$m" 2>/dev/null; done < <(awk -v w="$WORK" '$5 == w || index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
		sleep 0.2
	done
	for pid in "${SERVERS[@]}" "${HOLDERS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
	# anything still in one of our namespaces (a dnsmasq, a guest) goes with it
	if ((${#OUR_NS[@]})); then
		for d in /proc/[0-9]*; do
			pid=${d#/proc/}
			[[ $pid == "$$" ]] && continue
			ns=$(readlink "$d/ns/net" 2>/dev/null) || continue
			for m in "${OUR_NS[@]}"; do
				[[ $ns == "$m" ]] && { kill -KILL "$pid" 2>/dev/null; break; }
			done
		done
	fi
	# cellad's per-host cgroup tree
	local cg=
	[[ -f $WORK/cgparent ]] && cg=$(cat "$WORK/cgparent")
	if [[ -n $cg ]]; then
		while IFS= read -r d; do rmdir "$d" 2>/dev/null; done < <(find /sys/fs/cgroup -maxdepth 8 -type d -path "*/$cg*" 2>/dev/null | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2-)
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- the driver
cat >"$WORK/drive.py" <<'EOF'
import json, socket, statistics, sys, time

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

def nic(sock, name, timeout):
    """pid, eth0's IPv4 address and host-side veth of a running instance,
    once its state shows them; exits 2 with what is missing otherwise."""
    end = time.monotonic() + timeout
    why = "no answer"
    while True:
        st = api(sock, "GET", f"/1.0/instances/{name}/state").get("metadata") or {}
        pid = st.get("pid") or 0
        eth0 = (st.get("network") or {}).get("eth0")
        if not pid:
            why = f"status {st.get('status')}, no pid"
        elif not eth0:
            why = f"pid {pid} but metadata.network has no eth0 (network: {json.dumps(st.get('network'))})"
        else:
            a4 = [a["address"] for a in eth0.get("addresses", [])
                  if a.get("family") == "inet" and a.get("scope") == "global"]
            if a4:
                print(pid, a4[0], eth0.get("host_name") or "-")
                return
            why = f"pid {pid}, eth0 has no global inet address ({json.dumps(eth0.get('addresses'))})"
        if time.monotonic() > end:
            sys.exit(f"instance {name}: {why} after {timeout} s")
        time.sleep(0.2)

def iperf(path):
    """receiver Gbit/s, retransmits, sender and receiver CPU % of one client run."""
    try:
        j = json.load(open(path))
    except (OSError, ValueError) as e:
        sys.exit(f"no iperf3 JSON in {path}: {e}")
    if j.get("error"):
        sys.exit(j["error"])
    end = j.get("end") or {}
    rx, tx = end.get("sum_received") or {}, end.get("sum_sent") or {}
    if "bits_per_second" not in rx:
        sys.exit(f"{path}: no end.sum_received in iperf3's output")
    cpu = end.get("cpu_utilization_percent") or {}
    print(f"{rx['bits_per_second'] / 1e9:.3f} {tx.get('retransmits', 0)} "
          f"{cpu.get('host_total', 0):.0f} {cpu.get('remote_total', 0):.0f}")

def stats(path):
    """median min max of column 1, median of columns 2-4."""
    rows = [l.split() for l in open(path).read().splitlines() if l.strip()]
    if not rows:
        print("0 - - - - - -"); return
    col = lambda i: [float(r[i]) for r in rows]
    g = col(0)
    print(f"{len(rows)} {statistics.median(g):.2f} {min(g):.2f} {max(g):.2f} "
          f"{statistics.median(col(1)):.0f} {statistics.median(col(2)):.0f} {statistics.median(col(3)):.0f}")

cmd = sys.argv[1]
if cmd == "nic":
    nic(sys.argv[2], sys.argv[3], float(sys.argv[4]))
elif cmd == "iperf":
    iperf(sys.argv[2])
elif cmd == "stats":
    stats(sys.argv[2])
elif cmd == "netconf":
    n = api(sys.argv[2], "GET", f"/1.0/networks/{sys.argv[3]}")
    if n.get("type") == "error" or not n.get("metadata"):
        sys.exit(n.get("error") or "no such network")
    c = n["metadata"].get("config") or {}
    print(c.get("ipv4.address", "-"), c.get("ipv4.nat", "-"))
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

# ---------------------------------------------------------------- namespaces
# ns_ok PID: PID's network namespace is not the host's
ns_ok() {
	local n
	n=$(readlink "/proc/$1/ns/net" 2>/dev/null) || return 1
	[[ -n $n && $n != "$HOST_NS" && $n != "$INIT_NS" ]]
}
# new_ns: a fresh network namespace held by a sleeping process; its pid in NS_PID
new_ns() {
	local pid
	unshare -n -- sleep infinity </dev/null >/dev/null 2>&1 &
	pid=$!
	disown "$pid"   # no job report when cleanup kills it
	HOLDERS+=("$pid")
	for _ in $(seq 100); do ns_ok "$pid" && break; sleep 0.05; done
	ns_ok "$pid" || die "the namespace of holder $pid is the host's (or it died): refusing"
	OUR_NS+=("$(readlink "/proc/$pid/ns/net")")
	NS_PID=$pid
}
# inns PID CMD...: CMD in PID's network namespace, never in the host's
inns() {
	local pid=$1
	shift
	ns_ok "$pid" || { echo "network.sh: namespace of $pid is the host's or gone: refusing '$1'" >&2; return 99; }
	nsenter --net="/proc/$pid/ns/net" -- sh "$WORK/nscheck.sh" "$HOST_NS" "$INIT_NS" "$@"
}

# start_server PART PID ADDR: an iperf3 server in PID's namespace on ADDR
start_server() {
	local part=$1 pid=$2 addr=$3 spid
	ns_ok "$pid" || { echo "namespace of $pid is the host's or gone" >"$WORK/err-$part"; return 1; }
	nsenter --net="/proc/$pid/ns/net" -- sh "$WORK/nscheck.sh" "$HOST_NS" "$INIT_NS" \
		iperf3 -s -B "$addr" -p "$PORT" </dev/null >"$WORK/server-$part.log" 2>&1 &
	spid=$!
	disown "$spid"
	SERVERS+=("$spid")
	for _ in $(seq 100); do
		[[ -n $(inns "$pid" ss -Hltn "sport = :$PORT" 2>/dev/null) ]] && return 0
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.05
	done
	echo "iperf3 server in the namespace of $pid on $addr:$PORT did not come up: $(tail -n 3 "$WORK/server-$part.log" | tr '\n' ' ')" >"$WORK/err-$part"
	return 1
}

# client PART SECONDS OUT: one iperf3 run from PART's client namespace
client() {
	local part=$1 secs=$2 out=$3 cpid=${CLIENT_NS[$1]} addr=${SERVER_ADDR[$1]}
	if ! timeout $((secs + 30)) nsenter --net="/proc/$cpid/ns/net" -- sh "$WORK/nscheck.sh" "$HOST_NS" "$INIT_NS" \
		iperf3 -c "$addr" -p "$PORT" -t "$secs" -P "$STREAMS" -J </dev/null >"$out" 2>"$out.err"; then
		local why
		why=$(drive iperf "$out" 2>&1 >/dev/null || true)
		echo "iperf3 client to $addr failed: ${why:-$(tail -n 3 "$out.err" | tr '\n' ' ')}" >"$WORK/err-$part"
		return 1
	fi
	drive iperf "$out" 2>"$WORK/err-$part"
}

declare -A CLIENT_NS SERVER_ADDR PATH_DESC STATUS
FILTERING="-"

# ---------------------------------------------------------------- 1. loopback
setup_loopback() {
	local l
	PATH_DESC[loopback]="127.0.0.1 in one namespace"
	new_ns; l=$NS_PID
	inns "$l" ip link set lo up || return 1
	CLIENT_NS[loopback]=$l SERVER_ADDR[loopback]=127.0.0.1
	start_server loopback "$l" 127.0.0.1
}

# ---------------------------------------------------------------- 2. hand-made
setup_handmade() {
	local h a b
	PATH_DESC[handmade]="veth → bridge → veth, no nftables"
	new_ns; h=$NS_PID
	new_ns; a=$NS_PID
	new_ns; b=$NS_PID
	inns "$h" ip link set lo up &&
		inns "$h" ip link add br0 type bridge &&
		inns "$h" ip addr add "$SUBNET.1/24" dev br0 &&
		inns "$h" ip link set br0 up || return 1
	local side pid n=2
	for side in a b; do
		[[ $side == a ]] && pid=$a || pid=$b
		inns "$h" ip link add "hv$side" type veth peer name eth0 netns "$pid" &&
			inns "$h" ip link set "hv$side" master br0 up &&
			inns "$pid" ip link set lo up &&
			inns "$pid" ip addr add "$SUBNET.$n/24" dev eth0 &&
			inns "$pid" ip link set eth0 up || return 1
		n=$((n + 1))
	done
	if command -v nft >/dev/null && [[ -n $(inns "$h" nft list ruleset 2>/dev/null) ]]; then
		echo "the hand-made host namespace has an nftables ruleset" >"$WORK/err-handmade"; return 1
	fi
	# server in A, client in B, as for cella
	CLIENT_NS[handmade]=$b SERVER_ADDR[handmade]=$SUBNET.2
	start_server handmade "$a" "$SUBNET.2"
}

# ---------------------------------------------------------------- 3. cella
c() { "$WORK/bin/cella" "$@"; }
cella_fail() { echo "$*" >"$WORK/err-cella"; return 1; }

setup_cella() {
	local h b
	PATH_DESC[cella]="VPS eth0 → cellabr0 (anti-spoofing, NAT table) → VPS eth0"
	for b in cella cellad cella-monitor cella-runtime; do
		[[ -x $BUILD/$b ]] || cella_fail "missing $BUILD/$b (run make build)" || return 1
	done
	[[ -x /bin/busybox ]] || cella_fail "missing /bin/busybox (install busybox-static)" || return 1
	# a private copy of the binaries: a rebuild during the run must not change them
	mkdir -p "$WORK/bin"
	for b in cella cellad cella-monitor cella-runtime; do cp "$BUILD/$b" "$WORK/bin/$b"; done
	new_ns; h=$NS_PID
	CELLA_HOST_NS=$h
	inns "$h" ip link set lo up || return 1
	note "cella: cellad in namespace $(readlink "/proc/$h/ns/net") (holder $h), tree $WORK"
	# networks enabled (no CELLA_NO_NETWORKS), in the namespace only
	ns_ok "$h" || cella_fail "cellad's namespace is the host's: refusing" || return 1
	nsenter --net="/proc/$h/ns/net" -- sh "$WORK/nscheck.sh" "$HOST_NS" "$INIT_NS" \
		env -u CELLA_NO_NETWORKS "$WORK/bin/cellad" --var-dir "$VAR" --run-dir "$RUN" --log-dir "$LOGD" \
		--socket "$SOCK" </dev/null >"$WORK/cellad.log" 2>&1 &
	CELLAD_PID=$!
	disown "$CELLAD_PID"
	for _ in $(seq 150); do c list >/dev/null 2>&1 && break; kill -0 "$CELLAD_PID" 2>/dev/null || break; sleep 0.1; done
	c list >/dev/null 2>&1 || cella_fail "cellad did not come up: $(tail -n 3 "$WORK/cellad.log" | tr '\n' ' ')" || return 1
	[[ $(readlink "/proc/$CELLAD_PID/ns/net") == "$(readlink "/proc/$h/ns/net")" ]] ||
		cella_fail "cellad is not in its namespace" || return 1
	# the cgroup tree cellad gives this host's guests (lib/instance.c)
	"$PYTHON" -c 'import sys
v = 5381
for ch in sys.argv[1].encode(): v = (v * 33 + ch) & 0xFFFFFFFFFFFFFFFF
print(f"cella-vps-{v & 0xFFFFFFFF:08x}")' "$RUN" >"$WORK/cgparent"

	local net4 nat
	read -r net4 nat < <(drive netconf "$SOCK" cellabr0 2>"$WORK/err-cella") ||
		cella_fail "no network cellabr0 (a cellad with networks creates it): $(cat "$WORK/err-cella")" || return 1
	note "cella: cellabr0 ipv4.address $net4, ipv4.nat $nat"
	c image build minimal >/dev/null 2>"$WORK/err-cella" ||
		cella_fail "cella image build minimal: $(cat "$WORK/err-cella")" || return 1
	local i name
	for i in a b; do
		name=$PFX-$i
		c launch minimal "$name" >/dev/null 2>"$WORK/err-cella" ||
			cella_fail "cella launch minimal $name: $(cat "$WORK/err-cella")" || return 1
	done
	local pa aa ha pb ab hb
	read -r pa aa ha < <(drive nic "$SOCK" "$PFX-a" 15 2>"$WORK/err-cella") ||
		cella_fail "$(cat "$WORK/err-cella") (GET /1.0/instances/NAME/state: metadata.network.eth0 with its inet address, SPEC.md)" || return 1
	read -r pb ab hb < <(drive nic "$SOCK" "$PFX-b" 15 2>"$WORK/err-cella") ||
		cella_fail "$(cat "$WORK/err-cella")" || return 1
	for i in "$pa" "$pb"; do
		ns_ok "$i" || cella_fail "the guest $i has no network namespace of its own: refusing" || return 1
		[[ $(readlink "/proc/$i/ns/net") != "$(readlink "/proc/$h/ns/net")" ]] ||
			cella_fail "the guest $i shares cellad's network namespace" || return 1
		OUR_NS+=("$(readlink "/proc/$i/ns/net")")
	done
	inns "$pa" ip -4 -o addr show dev eth0 2>/dev/null | grep -qF " $aa/" ||
		cella_fail "$PFX-a: state says $aa but its namespace's eth0 does not have it: $(inns "$pa" ip -4 -o addr 2>&1 | tr '\n' ' ')" || return 1
	note "cella: $PFX-a pid $pa $aa (host side $ha), $PFX-b pid $pb $ab (host side $hb)"
	# what filtering is in place (reported, not required)
	if command -v nft >/dev/null; then
		local tables anti= ruleset
		tables=$(inns "$h" nft list tables 2>/dev/null | sed 's/^table //' | paste -sd, -)
		# (read whole first: grep -q closing the pipe early fails it under pipefail)
		ruleset=$(inns "$h" nft list ruleset 2>/dev/null || true)
		for i in "$ha" "$hb"; do
			[[ $i != - ]] && grep -qw "$i" <<<"$ruleset" && anti+=" $i"
		done
		FILTERING="nft tables in cellad's namespace: ${tables:-none}; rules naming the NICs' host veths:${anti:- none}"
		note "cella: $FILTERING"
		[[ -n $anti ]] || note "WARNING: no nftables rule names the host-side veths: anti-spoofing may be missing"
	fi
	CLIENT_NS[cella]=$pb SERVER_ADDR[cella]=$aa
	start_server cella "$pa" "$aa"
}

# ---------------------------------------------------------------- setup
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
BRNF=$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo "n/a")
IPERF_VERSION=$(iperf3 --version 2>/dev/null | head -n 1)
note "host: kernel $(uname -r), nproc $(nproc), load $LOAD_START; $IPERF_VERSION; ITER=$ITER DURATION=$DURATION STREAMS=$STREAMS"
for p in $PARTS; do
	note "$p: setting up"
	rm -f "$WORK/err-$p"
	if "setup_$p"; then
		STATUS[$p]=ok
		if ((WARMUP > 0)) && ! client "$p" "$WARMUP" "$WORK/warmup-$p.json" >/dev/null; then
			STATUS[$p]=failed
		fi
	else
		STATUS[$p]=failed
	fi
	[[ ${STATUS[$p]} == ok ]] || note "$p: FAILED: $(cat "$WORK/err-$p" 2>/dev/null || echo "setup failed")"
	: >"$WORK/res-$p"
done
if [[ -n ${CELLA_HOST_NS:-} ]] && ns_ok "$CELLA_HOST_NS"; then
	BRNF_CELLA=$(inns "$CELLA_HOST_NS" cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo "n/a")
fi

# ---------------------------------------------------------------- measure
for ((i = 1; i <= ITER; i++)); do
	for p in $PARTS; do
		[[ ${STATUS[$p]} == ok ]] || continue
		if r=$(client "$p" "$DURATION" "$WORK/run-$p-$i.json"); then
			echo "$r" >>"$WORK/res-$p"
			note "round $i/$ITER $p: $(cut -d' ' -f1 <<<"$r") Gbit/s"
		else
			STATUS[$p]=failed
			note "$p: FAILED in round $i: $(cat "$WORK/err-$p")"
		fi
	done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
declare -A MED
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "Network: iperf3 TCP, $STREAMS stream(s), -t $DURATION s per run, $ITER runs per setup taken in turns (median of the receiver's throughput)"
echo "host: kernel $(uname -r), nproc $(nproc), load avg at start $LOAD_START, at end $LOAD_END; $IPERF_VERSION; bridge-nf-call-iptables $BRNF (cella's namespace: ${BRNF_CELLA:-n/a})"
[[ $FILTERING != - ]] && echo "cella filtering: $FILTERING"
echo
echo "| setup | path | runs | median Gbit/s | min-max Gbit/s | retransmits (median) | CPU % sender / receiver (median) |"
echo "|---|---|---:|---:|---:|---:|---:|"
for p in $PARTS; do
	read -r n med lo hi re cs cr < <(drive stats "$WORK/res-$p")
	if [[ ${STATUS[$p]} == ok ]]; then
		MED[$p]=$med
		echo "| $p | ${PATH_DESC[$p]:-} | $n | $med | $lo-$hi | $re | $cs / $cr |"
	else
		echo "| $p | ${PATH_DESC[$p]:-} | $n | FAILED | - | - | $(head -c 300 "$WORK/err-$p" 2>/dev/null | tr '\n|' ' /') |"
	fi
done
echo
echo "ratio hand-made/loopback: $(ratio "${MED[handmade]:-}" "${MED[loopback]:-}")"
echo "ratio cella/hand-made: $(ratio "${MED[cella]:-}" "${MED[handmade]:-}")"
if [[ -n ${MED[cella]:-} && -n ${MED[handmade]:-} ]]; then
	t=$(awk -v c="${MED[cella]}" -v h="${MED[handmade]}" 'BEGIN { print (c >= 0.9 * h) ? "PASS" : "FAIL" }')
else
	t="n/a (needs both cella and hand-made)"
fi
echo "TARGET cella >= 0.9x hand-made: $t"

rc=0
for p in $PARTS; do
	[[ ${STATUS[$p]} == ok ]] && continue
	echo "FAILED: $p: $(cat "$WORK/err-$p" 2>/dev/null || echo "setup failed")" >&2
	if [[ $p == cella ]]; then ((rc == 0)) && rc=3; else rc=1; fi
done
exit "$rc"
