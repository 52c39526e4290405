#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `make run`: build a busybox bundle and run a container from it, showing
# what the container sees of itself.
set -euo pipefail
build=${1:-build}
rt=$build/cella-runtime
bundle=$build/demo-bundle
root=/run/cella-runtime

if [ ! -x "$bundle/rootfs/bin/busybox" ]; then
	rm -rf "$bundle"
	mkdir -p "$bundle/rootfs"/{bin,proc,sys,dev,etc,tmp,root}
	cp /bin/busybox "$bundle/rootfs/bin/busybox"
	for a in $("$bundle/rootfs/bin/busybox" --list); do
		[ "$a" = busybox ] || ln -sf busybox "$bundle/rootfs/bin/$a"
	done
	echo "root:x:0:0:root:/root:/bin/sh" > "$bundle/rootfs/etc/passwd"
	echo "root:x:0:" > "$bundle/rootfs/etc/group"
fi
rm -f "$bundle/config.json"
"$rt" spec --bundle "$bundle"
/usr/bin/python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["hostname"] = "cella-demo"
c["process"]["args"] = ["/bin/sh", "-c",
    "echo \"hello from $(hostname): uid=$(id -u), pid=$$\"; "
    "echo '--- processes'; ps; echo '--- mounts'; cat /proc/mounts | cut -d' ' -f1-3; "
    "echo '--- cgroup'; cat /proc/self/cgroup; echo '--- memory limit';"
    "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"]
c["linux"].setdefault("resources", {})["memory"] = {"limit": 64 * 1024 * 1024}
c["linux"]["resources"]["pids"] = {"limit": 64}
json.dump(c, open(p, "w"), indent=2)
PY
id=demo-$$
echo "+ $rt run --bundle $bundle $id"
"$rt" --root "$root" run --bundle "$bundle" "$id"
echo "+ $rt list   (the container is gone: run deletes it)"
"$rt" --root "$root" list
