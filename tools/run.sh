#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `make run`: the first thing a new user does.  `cella` starts cellad by
# itself (on /var/lib/cella, /run/cella), builds the minimal image once,
# launches a VPS from it, runs a command inside and prints its state.
# Idempotent: the demo VPS is replaced on each run.
set -euo pipefail
build=${1:-build}
# The daemon this starts makes the default network `cellabr0` (a bridge with
# NAT, and IP forwarding on) and the VPS gets a NIC on it.  CELLA_NO_NETWORKS=1
# keeps the host's network untouched (the VPS then has only its loopback).
cella=$build/cella
name=${CELLA_DEMO_NAME:-demo}

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

if ! "$cella" image info minimal >/dev/null 2>&1; then
	step cella image build minimal
	"$cella" image build minimal
fi
"$cella" delete --force "$name" >/dev/null 2>&1 || true

step cella launch minimal "$name" -c limits.memory=256MiB -c limits.cpu=1 -c limits.processes=200
"$cella" launch minimal "$name" -c limits.memory=256MiB -c limits.cpu=1 -c limits.processes=200

# its services come up in a few milliseconds; give them a moment
for _ in $(seq 50); do
	"$cella" exec "$name" -- test -e /run/cella-booted 2>/dev/null && break
	sleep 0.1
done

step cella exec "$name" -- sh -c '...'
"$cella" exec "$name" -- sh -c '
echo "hello from $(hostname): I am $(id -un) (uid $(id -u)), my init is: $(cat /proc/1/comm)"
echo "--- my processes"; ps -o pid,user,comm
echo "--- my memory (the VPS limit, not the host)"; grep -E "MemTotal|MemAvailable" /proc/meminfo
echo "--- my CPUs: $(nproc); up for $(cut -d" " -f1 /proc/uptime) s"
echo "--- my web server"; wget -qO- http://127.0.0.1/ | head -3
if ip -4 addr show dev eth0 >/dev/null 2>&1; then
	echo "--- my network, configured before my init started"
	ip -4 -o addr show dev eth0; ip route | head -2
	gw=$(ip route | sed -n "s/^default via \([^ ]*\).*/\1/p")
	ping -c 1 -W 2 "$gw" | grep -E "bytes from|packet loss"
	echo "--- my name in the network'"'"'s DNS"; nslookup "$(hostname).cella" "$gw" 2>&1 | tail -2
fi'

step cella list
"$cella" list

step cella info "$name"
"$cella" info "$name"

pid=$("$cella" info "$name" | sed -n "s/^PID: *//p" | head -1 || true)
if [ -n "${pid:-}" ] && [ -r "/proc/$pid/status" ]; then
	step "grep Uid /proc/$pid/status   # its root, seen from the host"
	grep Uid "/proc/$pid/status"
fi

cat <<EOT

The VPS "$name" keeps running. Try:
  $cella shell $name          a shell inside (exit with ctrl-d)
  $cella console $name        its console (detach with ctrl-a q)
  $cella stop $name; $cella delete $name
EOT
