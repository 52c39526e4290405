#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/runtime.sh - container start-up benchmark: cella-runtime vs crun vs runc.
#
# Runs N sequential `RUNTIME --root <tmp> run --bundle <B> <id>` of /bin/true
# for each runtime on one identical busybox bundle, measures total wall time
# and peak RSS (GNU time %M, max over RSS_RUNS extra runs), plus a floor line
# (N x `unshare -fpmuin --mount-proc true`), and checks the project targets:
#   time:  cella-runtime ms/container <= 0.5 x crun
#   RSS:   cella-runtime peak RSS     <  crun
#
# Must run as root.  Installs nothing: needs crun, runc, busybox-static
# (/bin/busybox), GNU time (/usr/bin/time), unshare, and jq or /usr/bin/python3.
#
# Environment:
#   N=100            timed runs per runtime
#   RSS_RUNS=10      extra runs under /usr/bin/time -f %M (max is reported)
#   WARMUP=3         untimed runs per runtime before each timed loop
#   ROUNDS=5         split N into ROUNDS interleaved rounds (cella, crun, runc,
#                    floor, cella, ...) so host drift hits all alike
#   STATE_TMPFS=1    keep the runtimes' state roots on a private tmpfs (like
#                    /run on most hosts); 0 = on the temp dir's filesystem
#   VARIANT=plain    config variant, see variant_edit() below
#   CELLA=...        cella-runtime binary (default: <repo>/build/cella-runtime)
#   RUNTIMES="cella-runtime crun runc"   subset/order to measure
#   SPEC_FROM=auto   auto (cella-runtime spec, else runc spec) | cella | runc
#
# Exit status: 0 when every runtime ran every container (whether or not the
# targets are met: this is a measurement); 1 on usage/setup errors or when
# crun/runc fail; 3 when cella-runtime is not working (the others are still
# measured and printed).

set -euo pipefail

N=${N:-100}
RSS_RUNS=${RSS_RUNS:-10}
WARMUP=${WARMUP:-3}
ROUNDS=${ROUNDS:-5}
STATE_TMPFS=${STATE_TMPFS:-1}
VARIANT=${VARIANT:-plain}
SPEC_FROM=${SPEC_FROM:-auto}
RUNTIMES=${RUNTIMES:-"cella-runtime crun runc"}
SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CELLA=${CELLA:-$SELF_DIR/../build/cella-runtime}
BUSYBOX=/bin/busybox
GNU_TIME=/usr/bin/time
PYTHON=/usr/bin/python3
UNIFIED=/sys/fs/cgroup/unified

die() { echo "runtime.sh: error: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

# ---------------------------------------------------------------- checks
[[ $(id -u) -eq 0 ]] || die "must run as root (try: sudo $0)"
[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer"
[[ $RSS_RUNS =~ ^[1-9][0-9]*$ ]] || die "RSS_RUNS must be a positive integer"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer"
if ! [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || ((ROUNDS > N)); then die "ROUNDS must be in 1..N"; fi
for t in crun runc unshare timeout date awk sha256sum; do
	command -v "$t" >/dev/null || die "missing '$t' (install crun runc util-linux coreutils)"
done
[[ -x $BUSYBOX ]] || die "missing $BUSYBOX (install busybox-static)"
if ! [[ -x $GNU_TIME ]] || ! $GNU_TIME --version 2>&1 | grep -q GNU; then
	die "missing GNU $GNU_TIME (install time)"
fi
if command -v jq >/dev/null; then JSON=jq
elif [[ -x $PYTHON ]]; then JSON=python
else die "need jq or $PYTHON to edit config.json"; fi
CELLA=$(readlink -f "$CELLA" 2>/dev/null || echo "$CELLA")

# ---------------------------------------------------------------- temp state
WORK=$(mktemp -d /tmp/cella-bench.XXXXXX)
# a user-namespaced container root (an unprivileged host id) must reach the bundle
chmod 755 "$WORK"
PFX=cbench$$            # container-id / cgroup-name prefix: [a-z0-9-] only
BUNDLE=$WORK/bundle
LEAKS=0
LOOP_PID=
# cella-runtime keeps a shared "cella" parent cgroup in each hierarchy; the
# ones that this run brings into being are removed at exit (when empty).
NEW_PARENTS=()
for d in /sys/fs/cgroup /sys/fs/cgroup/*; do
	[[ -f $d/cgroup.procs && ! -L $d && ! -e $d/cella ]] && NEW_PARENTS+=("$d/cella")
done
STATE_FS=$(stat -fc %T "$WORK")
mkdir -p "$WORK/state"
if [[ $STATE_TMPFS == 1 ]]; then
	# ext4 (and others) slow down inode allocation after many recent deletes
	# (ext4 recently_deleted()), which would penalise whichever runtime runs
	# later; a private tmpfs keeps state-dir churn out of the comparison.
	mount -t tmpfs -o mode=0700,size=64m cella-bench "$WORK/state" || die "cannot mount tmpfs on $WORK/state"
	STATE_FS=tmpfs
fi

# cgroup mode: unified (cgroup2 at /sys/fs/cgroup), hybrid (v1 + cgroup2 at
# /sys/fs/cgroup/unified) or legacy.  crun 1.8 refuses hybrid mode, so on a
# hybrid host crun runs in a private mount namespace without the cgroup2 mount.
if [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]; then CGMODE=unified
elif mountpoint -q "$UNIFIED" 2>/dev/null; then CGMODE=hybrid
else CGMODE=legacy; fi

# wrap RUNTIME: prints the command prefix needed to run that runtime here.
# shellcheck disable=SC2016 # $0/$@ expand in the inner sh
WRAP_CRUN=(unshare -m -- sh -c 'mount --make-rprivate / && { umount "$0" 2>/dev/null || umount -l "$0"; } && shift && exec "$@"' "$UNIFIED" --)
wrapper_for() {
	if [[ $1 == crun && $CGMODE == hybrid ]]; then printf '%s\0' "${WRAP_CRUN[@]}"; fi
}

runtime_bin() {
	case $1 in
	cella-runtime) echo "$CELLA" ;;
	*) command -v "$1" ;;
	esac
}

cleanup_runtime() {  # RUNTIME: delete -f every container left in its root
	local rt=$1 bin root=$WORK/state/$1 id ids
	[[ -d $root ]] || return 0
	bin=$(runtime_bin "$rt") || return 0
	local -a wrap=()
	mapfile -d '' -t wrap < <(wrapper_for "$rt")
	ids=$("${wrap[@]}" "$bin" --root "$root" list -q 2>/dev/null || true)
	# also whatever state directories the runtime left (list may be missing)
	ids+=$'\n'$(find "$root" -mindepth 1 -maxdepth 1 -type d -name "$PFX-*" -printf '%f\n' 2>/dev/null || true)
	for id in $(printf '%s\n' "$ids" | sort -u); do
		[[ $id == "$PFX"-* ]] || continue
		LEAKS=$((LEAKS + 1))
		note "$rt left container $id behind; deleting"
		"${wrap[@]}" "$bin" --root "$root" delete -f "$id" >/dev/null 2>&1 || true
	done
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local rc=$? rt d
	trap - EXIT INT TERM
	set +e
	if [[ -n $LOOP_PID ]]; then  # interrupted mid-loop: stop it (timeout forwards to its group)
		kill -TERM "$LOOP_PID" 2>/dev/null
		wait "$LOOP_PID" 2>/dev/null
	fi
	for rt in cella-runtime crun runc; do cleanup_runtime "$rt"; done
	# cgroups named after our ids, in any hierarchy (deepest first)
	while IFS= read -r d; do
		[[ -n $d ]] || continue
		note "left-over cgroup $d; removing"
		rmdir "$d" 2>/dev/null || note "could not remove $d"
	done < <(find /sys/fs/cgroup -mindepth 1 -maxdepth 8 -type d -name "*$PFX*" 2>/dev/null | sort -r)
	for d in "${NEW_PARENTS[@]}"; do
		if [[ -d $d ]]; then rmdir "$d" 2>/dev/null; fi
	done
	if mountpoint -q "$WORK/state"; then
		umount "$WORK/state" 2>/dev/null || umount -l "$WORK/state" || note "could not unmount $WORK/state"
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- JSON editing
# json_edit FILE JQ_FILTER PY_CODE: PY_CODE edits the dict `c` in place.
json_edit() {
	local f=$1 jqf=$2 py=$3
	if [[ $JSON == jq ]]; then
		jq "$jqf" "$f" >"$f.new"
	else
		"$PYTHON" - "$f" "$py" >"$f.new" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
exec(sys.argv[2])
json.dump(c, sys.stdout, indent=2)
EOF
	fi
	mv "$f.new" "$f"
}

json_valid() {  # FILE is an OCI config with process, root and linux
	if [[ $JSON == jq ]]; then
		jq -e '.process and .root and .linux' "$1" >/dev/null 2>&1
	else
		"$PYTHON" -c 'import json,sys; c=json.load(open(sys.argv[1])); sys.exit(0 if all(k in c for k in ("process","root","linux")) else 1)' "$1" 2>/dev/null
	fi
}

# Variant hook: edit the bundle config for VARIANT (applies to all runtimes).
# Add cases here.  "plain" is the default spec with /bin/true and without the
# seccomp profile (the bundle the first comparison was defined on);
# "seccomp" keeps the default profile; "seccomp-userns" adds a user
# namespace (container root = host uid 100000).
variant_edit() {
	local cfg=$1
	case $VARIANT in
	plain)
		json_edit "$cfg" 'del(.linux.seccomp)' 'c["linux"].pop("seccomp", None)' ;;
	seccomp) ;;
	seccomp-userns)
		json_edit "$cfg" '.linux.namespaces += [{"type": "user"}] | .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}] | .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]' \
			'c["linux"]["namespaces"].append({"type": "user"}); c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]; c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]' ;;
	nonet)  # no network namespace
		json_edit "$cfg" '.linux.namespaces |= map(select(.type != "network"))' \
			'c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]' ;;
	*) die "unknown VARIANT '$VARIANT' (known: plain seccomp seccomp-userns nonet)" ;;
	esac
}

# ---------------------------------------------------------------- bundle
make_bundle() {
	local b=$1 a
	mkdir -p "$b/rootfs/bin" "$b/rootfs/proc" "$b/rootfs/dev" "$b/rootfs/sys" "$b/rootfs/tmp"
	cp "$BUSYBOX" "$b/rootfs/bin/busybox"
	for a in $("$BUSYBOX" --list); do
		[[ $a == busybox ]] || ln -s busybox "$b/rootfs/bin/$a"
	done
	SPEC_USED=
	if [[ $SPEC_FROM != runc && -x $CELLA ]]; then
		if (cd "$b" && "$CELLA" spec) >/dev/null 2>&1 && [[ -s $b/config.json ]] \
			&& json_valid "$b/config.json"; then
			SPEC_USED="cella-runtime spec"
		else
			rm -f "$b/config.json"
		fi
	fi
	if [[ -z $SPEC_USED ]]; then
		[[ $SPEC_FROM != cella ]] || die "SPEC_FROM=cella but 'cella-runtime spec' failed"
		(cd "$b" && runc spec) || die "runc spec failed"
		SPEC_USED="runc spec"
	fi
	# ociVersion: crun 1.8 accepts only 1.0.x ("unknown version specified"),
	# so the shared bundle says 1.0.2 whatever the spec generator wrote.
	json_edit "$b/config.json" '.ociVersion = "1.0.2" | .process.terminal = false | .process.args = ["/bin/true"]' \
		'c["ociVersion"] = "1.0.2"; c["process"]["terminal"] = False; c["process"]["args"] = ["/bin/true"]'
	variant_edit "$b/config.json"
}

bundle_digest() {  # identical-bundle check: config + rootfs listing
	{ cat "$BUNDLE/config.json"; find "$BUNDLE/rootfs" -printf '%p %y %l %s\n' | sort; } | sha256sum | cut -d' ' -f1
}

# The probe checks that a runtime really runs a process (a stub that exits 0
# is not enough): the container must print a marker and exit with status 7.
make_probe_bundle() {
	local p=$WORK/probe
	mkdir -p "$p"
	cp "$BUNDLE/config.json" "$p/config.json"
	json_edit "$p/config.json" \
		".root.path = \"$BUNDLE/rootfs\" | .process.args = [\"/bin/sh\", \"-c\", \"echo cella-bench-probe; exit 7\"]" \
		"c['root']['path'] = '$BUNDLE/rootfs'; c['process']['args'] = ['/bin/sh', '-c', 'echo cella-bench-probe; exit 7']"
}

probe() {  # RUNTIME -> 0 when it works; output in $WORK/probe-RUNTIME.log
	local rt=$1 bin out rc=0
	bin=$(runtime_bin "$rt") || return 1
	[[ -x $bin ]] || { echo "$bin: not executable" >"$WORK/probe-$rt.log"; return 1; }
	local -a wrap=()
	mapfile -d '' -t wrap < <(wrapper_for "$rt")
	mkdir -p "$WORK/state/$rt"
	out=$(timeout -k 5 60 "${wrap[@]}" "$bin" --root "$WORK/state/$rt" run --bundle "$WORK/probe" "$PFX-probe" \
		</dev/null 2>"$WORK/probe-$rt.log") || rc=$?
	echo "stdout: $out / exit $rc" >>"$WORK/probe-$rt.log"
	[[ $rc -eq 7 && $out == *cella-bench-probe* ]]
}

# ---------------------------------------------------------------- timed loop
# One shell per runtime runs warm-up, the timed loop and the RSS runs, so any
# wrapper (crun's unshare -m) is paid once, outside the timed region, and the
# loop overhead is the same for every runtime (and for the floor).
cat >"$WORK/loop.sh" <<'EOF'
# args: MODE(oci|floor) N WARMUP RSS_RUNS IDPFX ROOT BUNDLE ERRLOG GNU_TIME -- CMD...
mode=$1 n=$2 warm=$3 rss_runs=$4 pfx=$5 root=$6 bundle=$7 err=$8 gtime=$9; shift 10
one() {  # one container; $1 = id suffix, rest = command
	local s=$1; shift
	if [[ $mode == oci ]]; then
		"$@" --root "$root" run --bundle "$bundle" "$pfx-$s" </dev/null >/dev/null 2>>"$err"
	else
		"$@" </dev/null >/dev/null 2>>"$err"
	fi
}
cmd=("$@")
for ((i = 0; i < warm; i++)); do one "w$i" "${cmd[@]}" || true; done
fails=0
t0=$(date +%s%N)
for ((i = 0; i < n; i++)); do one "$i" "${cmd[@]}" || fails=$((fails + 1)); done
t1=$(date +%s%N)
rss=0
for ((i = 0; i < rss_runs; i++)); do
	if [[ $mode == oci ]]; then
		set -- "${cmd[@]}" --root "$root" run --bundle "$bundle" "$pfx-r$i"
	else
		set -- "${cmd[@]}"
	fi
	if "$gtime" -f %M -o "$root.rss" "$@" </dev/null >/dev/null 2>>"$err"; then
		r=$(tail -n 1 "$root.rss"); ((r > rss)) && rss=$r
	else
		fails=$((fails + 1))
	fi
done
echo "$((t1 - t0)) $fails $rss"
EOF

declare -A NS FAILS RSS ROUND_MS
run_loop() {  # ROUND NAME MODE CMD...: adds round ROUND's share of N to NS/FAILS/RSS
	local round=$1 name=$2 mode=$3 ns fails rss; shift 3
	local root=$WORK/state/$name err=$WORK/err-$name.log
	local n=$((N / ROUNDS + (round < N % ROUNDS ? 1 : 0))) rss_runs=0
	((round == 0)) && rss_runs=$RSS_RUNS
	mkdir -p "$root"
	local -a wrap=()
	mapfile -d '' -t wrap < <(wrapper_for "$name")
	# in the background + wait, so that a signal reaches the trap at once and
	# cleanup can stop the loop (timeout runs it in its own process group)
	timeout -k 10 $((120 + (n + WARMUP + rss_runs) * 10)) "${wrap[@]}" bash "$WORK/loop.sh" "$mode" "$n" "$WARMUP" "$rss_runs" \
		"$PFX-${name%%-*}-$round" "$root" "$BUNDLE" "$err" "$GNU_TIME" -- "$@" >"$WORK/result" &
	LOOP_PID=$!
	wait "$LOOP_PID" || die "$name: measurement loop aborted (timeout or wrapper failure); see above"
	LOOP_PID=
	read -r ns fails rss <"$WORK/result"
	NS[$name]=$((${NS[$name]:-0} + ns))
	ROUND_MS[$name]+="$(awk -v ns="$ns" -v n="$n" 'BEGIN { printf "%.2f", ns / n / 1e6 }') "
	FAILS[$name]=$((${FAILS[$name]:-0} + fails))
	RSS[$name]=${RSS[$name]:-0}
	((rss > ${RSS[$name]})) && RSS[$name]=$rss
	if ((fails > 0)); then
		note "$name: $fails run(s) failed in round $round; first errors:"
		head -n 5 "$err" >&2 || true
	fi
	return 0
}

# ---------------------------------------------------------------- main
make_bundle "$BUNDLE"
make_probe_bundle
DIGEST=$(bundle_digest)

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
note "host: kernel $(uname -r), nproc $(nproc), cgroups $CGMODE, load $LOAD_START; N=$N ROUNDS=$ROUNDS RSS_RUNS=$RSS_RUNS WARMUP=$WARMUP VARIANT=$VARIANT; config from '$SPEC_USED'; state on $STATE_FS"
if awk -v l="${LOAD_START%% *}" -v c="$(nproc)" 'BEGIN { exit !(l > 0.25 * c) }'; then
	note "WARNING: the host is busy (load $LOAD_START); results will be noisy"
fi
[[ $CGMODE == hybrid ]] && note "crun runs inside one 'unshare -m' shell with $UNIFIED unmounted (crun 1.8 refuses hybrid cgroups)"

MEASURED=()
CELLA_BROKEN=0
RT_FAILED=0
for rt in $RUNTIMES; do
	case $rt in cella-runtime | crun | runc) ;; *) die "unknown runtime '$rt'" ;; esac
	if ! probe "$rt"; then
		if [[ $rt == cella-runtime ]]; then
			echo "cella-runtime: not working yet"
			sed 's/^/#   /' "$WORK/probe-$rt.log" | head -n 5 >&2
			CELLA_BROKEN=1
			continue
		fi
		sed 's/^/#   /' "$WORK/probe-$rt.log" | head -n 10 >&2
		die "$rt failed the probe run"
	fi
	MEASURED+=("$rt")
done

# Rounds interleave the runtimes (cella, crun, runc, floor, cella, ...) so
# that drift and background noise on the host hit them alike.
for ((round = 0; round < ROUNDS; round++)); do
	for rt in "${MEASURED[@]}"; do
		note "round $((round + 1))/$ROUNDS: $rt"
		run_loop "$round" "$rt" oci "$(runtime_bin "$rt")"
		[[ $(bundle_digest) == "$DIGEST" ]] || die "bundle changed while running $rt"
	done
	note "round $((round + 1))/$ROUNDS: floor"
	run_loop "$round" floor floor unshare -fpmuin --mount-proc true
done
for rt in "${MEASURED[@]}" floor; do
	[[ ${FAILS[$rt]} -eq 0 ]] || RT_FAILED=1
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# Cost of crun's wrapper (paid once per loop, outside the timed region).
WRAP_MS=
if [[ $CGMODE == hybrid ]]; then
	t0=$(date +%s%N)
	for ((i = 0; i < 20; i++)); do "${WRAP_CRUN[@]}" true; done
	t1=$(date +%s%N)
	WRAP_MS=$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.2f", d / 20 / 1e6 }')
fi

# ---------------------------------------------------------------- report
ms() { awk -v ns="${NS[$1]}" -v n="$N" 'BEGIN { printf "%.2f", ns / n / 1e6 }'; }
secs() { awk -v ns="${NS[$1]}" 'BEGIN { printf "%.3f", ns / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo
echo "runtime start-up: $N x run of /bin/true (busybox bundle, VARIANT=$VARIANT, $ROUNDS interleaved rounds, state on $STATE_FS), peak RSS = max of $RSS_RUNS runs"
echo "host: kernel $(uname -r), nproc $(nproc), cgroups $CGMODE, load avg at start $LOAD_START, at end $LOAD_END"
echo
echo "| runtime | runs | failures | total s | ms/container | above floor ms | per-round ms min-max | peak RSS KiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
FLOOR_MS=$(ms floor)
for rt in "${MEASURED[@]}" floor; do
	label=$rt; [[ $rt == floor ]] && label="floor (unshare -fpmuin --mount-proc true)"
	above=$(awk -v a="$(ms "$rt")" -v f="$FLOOR_MS" 'BEGIN { printf "%.2f", a - f }')
	[[ $rt == floor ]] && above=-
	read -ra rms <<<"${ROUND_MS[$rt]}"
	spread=$(printf '%s\n' "${rms[@]}" | sort -n | sed -n '1p;$p' | paste -sd-)
	echo "| $label | $N | ${FAILS[$rt]} | $(secs "$rt") | $(ms "$rt") | $above | $spread | ${RSS[$rt]} |"
done
echo
[[ -n $WRAP_MS ]] && echo "crun wrapper (unshare -m + umount $UNIFIED): $WRAP_MS ms, paid once per loop, not in the timed region"

have() { [[ " ${MEASURED[*]} " == *" $1 "* ]]; }
if have cella-runtime && have crun; then
	echo "ratio time cella/crun: $(ratio "$(ms cella-runtime)" "$(ms crun)")"
fi
if have cella-runtime && have runc; then
	echo "ratio time cella/runc: $(ratio "$(ms cella-runtime)" "$(ms runc)")"
fi
if have cella-runtime && have crun; then
	echo "ratio RSS  cella/crun: $(ratio "${RSS[cella-runtime]}" "${RSS[crun]}") (${RSS[cella-runtime]} vs ${RSS[crun]} KiB)"
	t=$(awk -v c="$(ms cella-runtime)" -v r="$(ms crun)" 'BEGIN { print (c <= 0.5 * r) ? "PASS" : "FAIL" }')
	if [[ ${RSS[cella-runtime]} -lt ${RSS[crun]} ]]; then m=PASS; else m=FAIL; fi
	echo "TARGET time <= 0.5x crun: $t"
	echo "TARGET RSS < crun: $m"
else
	echo "TARGET time <= 0.5x crun: SKIP (needs cella-runtime and crun)"
	echo "TARGET RSS < crun: SKIP (needs cella-runtime and crun)"
fi

# ---------------------------------------------------------------- leftovers
for rt in "${MEASURED[@]}"; do cleanup_runtime "$rt"; done
((LEAKS == 0)) || note "$LEAKS container(s) were left behind by the runtimes (deleted)"

((RT_FAILED == 0)) || { echo "runtime.sh: some container runs failed" >&2; exit 1; }
((CELLA_BROKEN == 0)) || exit 3
exit 0
