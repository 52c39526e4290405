# SPDX-License-Identifier: LGPL-2.1-or-later
"""Instance networking: NICs of VPSs on managed networks, end to end.

Addresses (IPAM), the configuration a guest finds at boot, DNS and DHCP from
the network's dnsmasq, port forwards, routed NICs, anti-spoofing, port
isolation, bandwidth limits, traffic counters, hot add and remove, and that
nothing is left once instances and networks are gone.

Network safety: every packet stays inside network namespaces these tests
create.  cellad runs in the namespace of test_network's NetnsHost (a holder
process under `unshare -n`); each VPS has a namespace of its own below it.
Nothing is ever sent from the host's own namespace: commands run inside a
guest (`cella exec`), in the test's namespace (`tns`: nsenter into it) or in
a guest's namespace (`vns`: nsenter into /proc/PID/ns/net), and each of
these checks, right before it runs, that its namespace is not the host's.

The test namespace gets a veth pair `up0`/`up1` with 192.0.2.1/24 on up0
(TEST-NET-1): the listen address of port forwards.  Routed NICs use
198.51.100.0/24 (TEST-NET-2), used nowhere else.
"""

import ipaddress
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import host_leaks, wait_for
from test_network import BRIDGE, NetnsHost, one_error
from test_vps import ok, op, op_fails, wait_booted

HOST_NS = os.readlink("/proc/self/ns/net")
UPLINK = "192.0.2.1"          # on up0 in the test's namespace
ROUTED = "198.51.100.50"      # a routed NIC's address
MIB = 1 << 20
# what a test's namespace holds besides the networks' bridges
BASE_LINKS = {"lo", "up0", "up1"}


# -- running things in the right namespace ---------------------------------------------

def _clean_env():
    # no proxy may turn a connection inside the namespace into one elsewhere
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


def _not_host(ns):
    link = os.readlink(ns)
    assert link != HOST_NS, f"{ns} is the host's network namespace"
    return link


def tns(h, *cmd, check=True, timeout=30, input=None):
    """A command in the test's namespace (cellad's), never in the host's."""
    _not_host(h.netns)
    p = subprocess.run(["nsenter", f"--net={h.netns}", "--", *map(str, cmd)], capture_output=True, text=True,
                       timeout=timeout, env=_clean_env(), input=input)
    if check:
        assert p.returncode == 0, (cmd, p.stdout, p.stderr)
    return p


def tns_popen(h, *cmd, **kw):
    """A background command in the test's namespace; the caller kills it."""
    _not_host(h.netns)
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.DEVNULL)
    return subprocess.Popen(["nsenter", f"--net={h.netns}", "--", *map(str, cmd)], env=_clean_env(),
                            start_new_session=True, **kw)


def stop_proc(p):
    if p.poll() is None:
        p.kill()
    p.wait(timeout=10)


def vps_netns(h, name):
    """The VPS's own network namespace: neither the host's nor the test's."""
    pid = state(h, name)["pid"]
    assert pid, f"{name} is not running"
    ns = f"/proc/{pid}/ns/net"
    link = _not_host(ns)
    assert link != h.ns_id, f"{name} runs in cellad's network namespace"
    return ns


def vns(h, name, *cmd, check=True, timeout=30):
    """A host tool (iperf3, ip, nft) in a VPS's network namespace."""
    ns = vps_netns(h, name)
    p = subprocess.run(["nsenter", f"--net={ns}", "--", *map(str, cmd)], capture_output=True, text=True,
                       timeout=timeout, env=_clean_env())
    if check:
        assert p.returncode == 0, (name, cmd, p.stdout, p.stderr)
    return p


def guest(h, name, *cmd, check=True, timeout=60, input=None):
    """A command inside the VPS (cella exec: all its namespaces)."""
    vps_netns(h, name)
    p = h.cli("exec", name, "--", *cmd, timeout=timeout, input=input)
    if check:
        assert p.returncode == 0, (name, cmd, p.stdout, p.stderr)
    return p


def gsh(h, name, script, **kw):
    return guest(h, name, "sh", "-c", script, **kw)


def gping(h, name, dst, count=2, wait=3, src=None):
    """busybox ping inside the guest; True when replies came."""
    args = ["ping", "-c", str(count), "-W", str(wait)] + (["-I", src] if src else []) + [dst]
    return guest(h, name, *args, check=False, timeout=30).returncode == 0


# -- instances and networks ------------------------------------------------------------

def state(h, name):
    return ok(h.api("GET", f"/1.0/instances/{name}/state"))


def launch(h, name, nic=None, devices=None, config=None, start=True):
    """A VPS from the minimal image.  `nic`: keys of its eth0 on the default
    network (replacing the default profile's eth0); `devices`: devices as given."""
    body = {"name": name, "type": "vps", "source": {"type": "image", "alias": "minimal"}, "config": config or {}}
    devs = dict(devices or {})
    if nic is not None:
        devs["eth0"] = {"type": "nic", "network": BRIDGE, "name": "eth0", **nic}
    if devs:
        body["devices"] = devs
    op(h, h.api("POST", "/1.0/instances", body))
    if start:
        op(h, h.api("PUT", f"/1.0/instances/{name}/state", {"action": "start"}))


def delete(h, name):
    op(h, h.api("DELETE", f"/1.0/instances/{name}?force=1"))


def netcfg(h, net=BRIDGE):
    return ok(h.api("GET", f"/1.0/networks/{net}"))["config"]


def net4(h, net=BRIDGE):
    return ipaddress.ip_interface(netcfg(h, net)["ipv4.address"])


def gw4(h, net=BRIDGE):
    return str(net4(h, net).ip)


def nic(h, name, dev="eth0"):
    net = state(h, name).get("network") or {}
    assert dev in net, f"the state of {name} has no network device {dev}: {net}"
    return net[dev]


def addrs(h, name, family="inet", dev="eth0"):
    return [a["address"] for a in nic(h, name, dev).get("addresses", [])
            if a["family"] == family and a.get("scope") == "global"]


def addr4(h, name, dev="eth0"):
    a = addrs(h, name, "inet", dev)
    assert len(a) == 1, f"{name}.{dev}: IPv4 addresses {a}: {nic(h, name, dev)}"
    return a[0]


def counters(h, name, dev="eth0"):
    c = nic(h, name, dev).get("counters")
    assert c, f"{name}.{dev}: no counters: {nic(h, name, dev)}"
    return c


def free_addr(h, used, net=BRIDGE):
    """An address of the network's subnet that nobody holds."""
    n = net4(h, net)
    for i in range(250, 2, -1):
        a = str(n.network[i])
        if a not in used and a != str(n.ip):
            return a
    raise AssertionError("no free address")


def in_echos(h, name):
    """ICMP echo requests the VPS's namespace has received (its /proc/net/snmp)."""
    pid = state(h, name)["pid"]
    rows = [line.split() for line in Path(f"/proc/{pid}/net/snmp").read_text().splitlines()
            if line.startswith("Icmp:")]
    return int(rows[1][rows[0].index("InEchos")])


def guest_listening(h, name, port):
    """A TCP socket listening on `port` in the VPS's namespace."""
    pid = state(h, name)["pid"]
    for f in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{f}").read_text().splitlines()[1:]:
            cols = line.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "0A":
                return True
    return False


def ns_listening(h, port):
    return bool(tns(h, "ss", "-Hltn", f"sport = :{port}").stdout.strip())


def links_of_kind(h, kind):
    out = json.loads(tns(h, "ip", "-d", "-j", "link", "show").stdout)
    return {l["ifname"] for l in out if l.get("linkinfo", {}).get("info_kind") == kind}


def nft_text(h):
    return tns(h, "nft", "-j", "list", "ruleset").stdout


def _strip(v):
    if isinstance(v, dict):
        return {k: _strip(x) for k, x in v.items() if k not in ("packets", "bytes", "handle", "expires")}
    if isinstance(v, list):
        return [_strip(x) for x in v]
    return v


def nft_shape(h):
    """The whole ruleset of the test's namespace, without counters and handles
    (traffic moves counters; a rewrite of the same rules is no change)."""
    text = nft_text(h)
    return json.dumps(_strip(json.loads(text)), sort_keys=True) if text.strip() else ""


def procs_in_ns(ns_id, comm=None):
    found = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        try:
            if os.readlink(p / "ns" / "net") != ns_id:
                continue
            c = (p / "comm").read_text().strip()
            if comm and c != comm:
                continue
            found.append((int(p.name), (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")))
        except OSError:
            continue
    return found


def nameserver_answers(out):
    """Addresses busybox nslookup gives for the name (not the server's)."""
    _, _, after = out.partition("Name:")
    return set(re.findall(r"^Address(?: \d+)?:\s*([0-9a-fA-F.:]+?)\s*$", after, re.M))


def leftover_links(h):
    nets = {n.rsplit("/", 1)[1] for n in ok(h.api("GET", "/1.0/networks"))}
    return h.links() - BASE_LINKS - nets


# -- the fixture -------------------------------------------------------------------------

@pytest.fixture
def nh(host_dir):
    """A cellad in a network namespace of the test's (with networks), the
    minimal image built.  Afterwards: instances deleted, no interface of
    theirs left, cellad stopped, nothing left on the host, nothing left
    running in the namespace."""
    h = NetnsHost(host_dir)
    h.ns_id = _not_host(h.netns)
    leaks = []
    try:
        tns(h, "ip", "link", "set", "lo", "up")
        tns(h, "ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1")
        tns(h, "ip", "link", "set", "up0", "up")
        tns(h, "ip", "link", "set", "up1", "up")
        tns(h, "ip", "addr", "add", f"{UPLINK}/24", "dev", "up0")
        h.start()
        op(h, h.api("POST", "/1.0/images", {"source": {"type": "build", "name": "minimal"}}))
        yield h
        if h.proc and h.proc.poll() is None:
            for name in h.instance_names():
                r = h.api("DELETE", f"/1.0/instances/{name}?force=1", timeout=60)
                if r.status == 202:
                    h.wait_op(r)
            left = wait_for(lambda: not leftover_links(h), timeout=5) or leftover_links(h)
            if left is not True:
                leaks += [f"interface {l} after every instance was deleted" for l in sorted(left)]
        h.kill(signal.SIGTERM)
        more = wait_for(lambda: not host_leaks(h), timeout=5) or host_leaks(h)
        if more is not True:
            leaks += more
    finally:
        log = h.daemon_log()
        h.close()
        # the namespace must go: whatever still runs in it is killed (the
        # networks' dnsmasq may outlive cellad while its network exists)
        for _ in range(3):
            stray = procs_in_ns(h.ns_id)
            leaks += [f"process {pid} in the test's namespace: {cmd}" for pid, cmd in stray
                      if "dnsmasq" not in cmd]
            for pid, _cmd in stray:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if not stray:
                break
            time.sleep(0.2)
    assert not leaks, f"left behind: {leaks}\ncellad log:\n{log[-3000:]}"
    for bad in ("Sanitizer", "runtime error:"):
        assert bad not in log, f"cellad: {bad}\n{log[-6000:]}"


# -- 1. connectivity -----------------------------------------------------------------

def test_vps_to_vps_and_gateway(nh):
    h = nh
    launch(h, "a")
    launch(h, "b")
    ia, ib, gw = addr4(h, "a"), addr4(h, "b"), gw4(h)
    assert gping(h, "a", ib), f"a -> b ({ib})"
    assert gping(h, "b", ia), f"b -> a ({ia})"
    assert gping(h, "a", gw), f"a -> gateway ({gw})"
    # IPv6 too, through the anti-spoofing's NDP rules (link-local and global)
    a6, b6 = addrs(h, "a", "inet6")[0], addrs(h, "b", "inet6")[0]
    gw6 = netcfg(h)["ipv6.address"].split("/")[0]
    assert gping(h, "a", b6), f"a -> b ({b6})"
    assert gping(h, "b", a6), f"b -> a ({a6})"
    assert gping(h, "a", gw6), f"a -> gateway ({gw6})"
    # TCP: a busybox nc listener in b (its stdin a fifo that never ends), a client in a
    gsh(h, "b", "mkfifo /root/hold; (nc -l -p 5000 <>/root/hold >/root/got) </dev/null >/dev/null 2>&1 &")
    assert wait_for(lambda: guest_listening(h, "b", 5000), timeout=5)
    gsh(h, "a", f"echo hello-from-a | nc {ib} 5000")
    assert wait_for(lambda: guest(h, "b", "cat", "/root/got").stdout == "hello-from-a\n", timeout=5), \
        guest(h, "b", "cat", "/root/got").stdout


# -- 2. addresses ----------------------------------------------------------------------

def test_addresses(nh):
    h = nh
    n4 = net4(h)
    n6 = ipaddress.ip_interface(netcfg(h)["ipv6.address"])
    names = ["a", "b", "c"]
    for n in names:
        launch(h, n)
    got = {n: addr4(h, n) for n in names}
    # `cella list` shows them, as Incus does: "10.x.y.z (eth0)"
    listed = h.cli("list", check=True).stdout
    assert all(f"{a} (eth0)" in listed for a in got.values()) and "IPV4" in listed, listed
    for n, a in got.items():
        ip = ipaddress.ip_address(a)
        assert ip in n4.network and ip not in (n4.ip, n4.network.network_address, n4.network.broadcast_address), \
            (n, a, str(n4))
        # the guest has what the state says
        assert f"inet {a}/{n4.network.prefixlen}" in guest(h, n, "ip", "-4", "addr", "show", "dev", "eth0").stdout
        v6 = addrs(h, n, "inet6")
        assert v6 and all(ipaddress.ip_address(x) in n6.network for x in v6), (n, v6, str(n6))
    assert len(set(got.values())) == len(names), got
    # a static address is honoured
    static = free_addr(h, set(got.values()))
    launch(h, "s", nic={"ipv4.address": static})
    assert addr4(h, "s") == static
    assert f"inet {static}/{n4.network.prefixlen}" in guest(h, "s", "ip", "-4", "addr", "show", "dev", "eth0").stdout
    # and never handed out again, nor anyone else's
    launch(h, "d")
    assert addr4(h, "d") not in set(got.values()) | {static}


def test_address_bad_input(nh):
    h = nh
    launch(h, "a")
    launch(h, "c")
    n4 = net4(h)
    taken, gw = addr4(h, "a"), gw4(h)
    outside = str(n4.network.broadcast_address + 2)

    def snapshot():
        return (ok(h.api("GET", "/1.0/instances?recursion=1")), sorted(h.links()), nft_shape(h),
                sorted(state(h, "c")["network"]), addr4(h, "a"), addr4(h, "c"))

    before = snapshot()
    # (keys of the new NIC, or a device name, and what the error line must name: one of)
    cases = [
        ({"ipv4.address": outside}, ("ipv4.address", outside)),
        ({"ipv4.address": taken}, ("ipv4.address", taken)),
        ({"ipv4.address": gw}, ("ipv4.address", gw)),
        ({"ipv4.address": str(n4.network.network_address)}, ("ipv4.address",)),
        ({"ipv4.address": str(n4.network.broadcast_address)}, ("ipv4.address",)),
        ({"ipv6.address": "2001:db8::5"}, ("ipv6.address", "2001:db8::5")),
        ({"ipv4.address": "../x"}, ("ipv4.address", "../x")),
        ({"network": "nosuchnet"}, ("nosuchnet",)),
        ({"network": "../x"}, ("network", "../x")),
        ({"name": "../x"}, ("name", "../x")),
        ({"hwaddr": "../x"}, ("hwaddr", "../x")),
        ({"mtu": "../x"}, ("mtu", "../x")),
        ({"limits.egress": "../x"}, ("limits.egress", "../x")),
        ({"nictype": "../x"}, ("nictype", "../x")),
        ({"security.port_isolation": "../x"}, ("security.port_isolation", "../x")),
    ]
    for keys, needles in cases:
        keys = {"network": BRIDGE, **keys}
        line = one_error(h.cli("config", "device", "add", "c", "eth1", "nic", *(f"{k}={v}" for k, v in keys.items())))
        assert any(n in line for n in needles), (keys, line)
        assert snapshot() == before, keys
    # a hostile device name
    line = one_error(h.cli("config", "device", "add", "c", "../x", "nic", f"network={BRIDGE}"))
    assert snapshot() == before, line
    # a routed NIC needs an address
    one_error(h.cli("config", "device", "add", "c", "eth1", "nic", "nictype=routed"))
    assert snapshot() == before
    # the same at creation: refused, no instance
    err = op_fails(h, h.api("POST", "/1.0/instances", {
        "name": "e", "type": "vps", "source": {"type": "image", "alias": "minimal"},
        "devices": {"eth0": {"type": "nic", "network": BRIDGE, "ipv4.address": taken}}}))
    assert "ipv4.address" in err or taken in err, err
    assert h.api("GET", "/1.0/instances/e").status == 404
    assert snapshot() == before


# -- 3. what the guest finds at once ------------------------------------------------------

def test_instant_configuration(nh):
    h = nh
    n4, gw = net4(h), gw4(h)
    h.cli("launch", "minimal", "q", check=True)
    # no waiting: read everything first, compare afterwards
    ip = guest(h, "q", "ip", "-4", "addr", "show", "dev", "eth0", check=False)
    route = guest(h, "q", "ip", "-4", "route", "show", check=False).stdout
    resolv = guest(h, "q", "cat", "/etc/resolv.conf", check=False).stdout
    hosts = guest(h, "q", "cat", "/etc/hosts", check=False).stdout
    hostname = guest(h, "q", "cat", "/etc/hostname", check=False).stdout
    mac = guest(h, "q", "cat", "/sys/class/net/eth0/address", check=False).stdout.strip()
    assert ip.returncode == 0, ip
    a = addr4(h, "q")
    assert f"inet {a}/{n4.network.prefixlen}" in ip.stdout, ip.stdout
    assert re.search(rf"^default via {re.escape(gw)} dev eth0\b", route, re.M), route
    lines = resolv.splitlines()
    assert f"nameserver {gw}" in lines and "search cella" in lines, resolv
    host_lines = [l.split() for l in hosts.splitlines()]
    assert ["127.0.0.1", "localhost"] in [l[:2] for l in host_lines], hosts
    assert any(l[0] == a and "q" in l[1:] for l in host_lines if l), hosts
    assert hostname == "q\n"
    # the MAC and the host side are kept in volatile keys
    n = nic(h, "q")
    cfg = ok(h.api("GET", "/1.0/instances/q"))["config"]
    assert mac == n["hwaddr"], (mac, n)
    assert cfg.get("volatile.eth0.hwaddr") == mac and mac.startswith("02:"), (mac, cfg)
    assert n["host_name"] == cfg.get("volatile.eth0.host_name") and n["host_name"] in h.links(), (n, cfg)
    assert n["state"] == "up" and n["mtu"] > 0


# -- 4. names ------------------------------------------------------------------------------

def test_name_resolution(nh):
    h = nh
    launch(h, "a")
    launch(h, "b")
    ib, gw = addr4(h, "b"), gw4(h)
    res = {}

    def from_guest():
        res["a"] = guest(h, "a", "nslookup", "b.cella", gw, check=False, timeout=20)
        return ib in nameserver_answers(res["a"].stdout)

    assert wait_for(from_guest, timeout=5, interval=0.3), (res["a"].stdout, res["a"].stderr)

    def from_ns():
        res["ns"] = tns(h, "busybox", "nslookup", "b.cella", gw, check=False, timeout=20)
        return ib in nameserver_answers(res["ns"].stdout)

    assert wait_for(from_ns, timeout=5, interval=0.3), (res["ns"].stdout, res["ns"].stderr)
    assert nameserver_answers(res["ns"].stdout) & {ib} == {ib}
    # supervised: a dnsmasq that dies is started again by cellad, names and all
    pidfile = h.run / "networks" / BRIDGE / "dnsmasq.pid"
    old = int(pidfile.read_text())
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: pidfile.exists() and pidfile.read_text().strip().isdigit()
                    and int(pidfile.read_text()) != old and Path(f"/proc/{int(pidfile.read_text())}").exists(),
                    timeout=15, interval=0.5), "dnsmasq was not started again"
    assert wait_for(from_ns, timeout=5, interval=0.3), (res["ns"].stdout, res["ns"].stderr)
    assert "dnsmasq was not running: started again" in h.daemon_log()


# -- 5. DHCP -------------------------------------------------------------------------------

def test_dhcp_hands_the_same_address(nh):
    h = nh
    launch(h, "d")
    a = addr4(h, "d")
    # an event script that only prints the lease: eth0 stays as it is
    guest(h, "d", "sh", "-c", "cat > /root/dh; chmod +x /root/dh",
          input='#!/bin/sh\n[ "$1" = bound ] && echo "lease=$ip"\nexit 0\n')
    # (dnsmasq may take a few seconds before its first offer)
    p = guest(h, "d", "udhcpc", "-f", "-n", "-q", "-i", "eth0", "-t", "5", "-T", "2", "-s", "/root/dh",
              check=False, timeout=40)
    assert f"lease={a}\n" in p.stdout, (p.returncode, p.stdout, p.stderr)


# -- 6. port forwards ----------------------------------------------------------------------

def http_get(h, url, timeout):
    """GET from the test's namespace (the host's busybox wget crashes, even on a refused connection)."""
    code = ("import sys, urllib.request\n"
            "try:\n    print(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).read().decode())\n"
            "except Exception as e:\n    print(e, file=sys.stderr)\n")
    return tns(h, "/usr/bin/python3", "-c", code, url, str(timeout), check=False)


def forwards(h):
    return ok(h.api("GET", f"/1.0/networks/{BRIDGE}/forwards?recursion=1"))


def test_port_forward(nh):
    h = nh
    launch(h, "a")
    launch(h, "b")
    wait_booted(h, "b")           # its httpd serves port 80
    ia, ib = addr4(h, "a"), addr4(h, "b")
    url = f"http://{UPLINK}:8080/"
    before = nft_shape(h)
    h.cli("network", "forward", "create", BRIDGE, UPLINK, check=True)
    h.cli("network", "forward", "port", "add", BRIDGE, UPLINK, "tcp", "8080", ib, "80", check=True)
    fw = ok(h.api("GET", f"/1.0/networks/{BRIDGE}/forwards/{UPLINK}"))
    assert fw["listen_address"] == UPLINK, fw
    assert [(p["protocol"], str(p["listen_port"]), p["target_address"], str(p["target_port"])) for p in fw["ports"]] \
        == [("tcp", "8080", ib, "80")], fw
    assert UPLINK in h.cli("network", "forward", "list", BRIDGE, check=True).stdout
    # from the test's namespace, to an address it has
    p = http_get(h, url, 5)
    assert "It works" in p.stdout, p
    # from another instance of the network (hairpin)
    # (busybox wget crashes: a request by hand through nc)
    p = guest(h, "a", "sh", "-c", f"(printf 'GET / HTTP/1.0\\r\\n\\r\\n'; sleep 2) | nc -w 3 {UPLINK} 8080",
              check=False)
    assert "It works" in p.stdout, p
    # the same listen address, port and protocol again: one error, nothing changed
    shape, fws = nft_shape(h), forwards(h)
    one_error(h.cli("network", "forward", "port", "add", BRIDGE, UPLINK, "tcp", "8080", ia, "80"))
    one_error(h.cli("network", "forward", "create", BRIDGE, UPLINK))
    r = h.api("POST", f"/1.0/networks/{BRIDGE}/forwards", {
        "listen_address": UPLINK, "description": "",
        "ports": [{"protocol": "tcp", "listen_port": "8080", "target_address": ia, "target_port": "80"}]})
    assert 400 <= r.status < 500, r
    assert nft_shape(h) == shape and forwards(h) == fws
    # removed: not reached any more, and the rules are gone with it
    h.cli("network", "forward", "port", "remove", BRIDGE, UPLINK, "tcp", "8080", check=True)
    assert "It works" not in http_get(h, url, 2).stdout
    h.cli("network", "forward", "delete", BRIDGE, UPLINK, check=True)
    assert forwards(h) == []
    assert nft_shape(h) == before


def test_proxy_device(nh):
    """A `proxy` device: a host port NATed to the instance while it runs."""
    h = nh
    url = f"http://{UPLINK}:8081/"
    before = nft_shape(h)
    # bad input: one error line each, nothing made
    for bad in (["listen=tcp:192.0.2.1:8081", "connect=tcp:127.0.0.1:80", "nat=false"],
                ["listen=tcp:192.0.2.1", "connect=tcp:127.0.0.1:80"],
                ["listen=sctp:192.0.2.1:1", "connect=sctp:127.0.0.1:80"],
                ["listen=tcp:192.0.2.1:8081", "connect=udp:127.0.0.1:80"],
                ["listen=tcp:192.0.2.1:8081", "connect=tcp:127.0.0.1:80", "colour=red"]):
        launch(h, "x", start=False)
        one_error(h.cli("config", "device", "add", "x", "web", "proxy", *bad))
        assert "web" not in ok(h.api("GET", "/1.0/instances/x"))["devices"]
        delete(h, "x")
    launch(h, "b")
    wait_booted(h, "b")           # its httpd serves port 80
    h.cli("config", "device", "add", "b", "web", "proxy", f"listen=tcp:{UPLINK}:8081", "connect=tcp:127.0.0.1:80",
          check=True)
    assert "It works" in http_get(h, url, 5).stdout
    # stopped: nothing listens for it; started again: back
    h.cli("stop", "b", check=True)
    assert "It works" not in http_get(h, url, 2).stdout
    assert nft_shape(h) == before
    h.cli("start", "b", check=True)
    wait_booted(h, "b")
    assert "It works" in http_get(h, url, 5).stdout
    # the same port twice: refused, nothing changed
    launch(h, "c")
    shape = nft_shape(h)
    one_error(h.cli("config", "device", "add", "c", "web", "proxy", f"listen=tcp:{UPLINK}:8081",
                    "connect=tcp:0.0.0.0:80"))
    assert nft_shape(h) == shape and "web" not in ok(h.api("GET", "/1.0/instances/c"))["devices"]
    # removed from the running instance: gone at once
    h.cli("config", "device", "remove", "b", "web", check=True)
    assert "It works" not in http_get(h, url, 2).stdout
    delete(h, "b")
    delete(h, "c")
    assert nft_shape(h) == before


# -- 7. routed NIC -------------------------------------------------------------------------

def test_routed_nic(nh):
    h = nh
    launch(h, "r", devices={"eth0": {"type": "nic", "nictype": "routed", "ipv4.address": ROUTED, "name": "eth0"}})
    n = nic(h, "r")
    hn = n["host_name"]
    assert ROUTED in addrs(h, "r"), n
    assert f"inet {ROUTED}/32" in guest(h, "r", "ip", "-4", "addr", "show", "dev", "eth0").stdout
    assert re.search(r"^default via 169\.254\.0\.1 dev eth0", guest(h, "r", "ip", "-4", "route").stdout, re.M)
    # the host routes the address to the veth, which is nobody's bridge port
    routes = json.loads(tns(h, "ip", "-j", "route", "show", f"{ROUTED}/32").stdout)
    assert [r["dev"] for r in routes] == [hn], routes
    link = json.loads(tns(h, "ip", "-j", "link", "show", "dev", hn).stdout)[0]
    assert "master" not in link, link
    ports = {l["ifname"] for l in json.loads(tns(h, "ip", "-j", "link", "show", "master", BRIDGE).stdout)}
    assert hn not in ports
    p = tns(h, "busybox", "ping", "-c", "2", "-W", "2", ROUTED, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    # the same address for a second routed NIC: refused at start, nothing of it made
    launch(h, "r2", devices={"eth0": {"type": "nic", "nictype": "routed", "ipv4.address": ROUTED}}, start=False)
    r = h.api("PUT", "/1.0/instances/r2/state", {"action": "start"})
    err = op_fails(h, r)
    assert "already used by `r`" in err, err
    assert [x["dev"] for x in json.loads(tns(h, "ip", "-j", "route", "show", f"{ROUTED}/32").stdout)] == [hn]


# -- 8. anti-spoofing ----------------------------------------------------------------------

def test_anti_spoofing(nh):
    h = nh
    launch(h, "a")
    launch(h, "b")
    ia, ib = addr4(h, "a"), addr4(h, "b")
    plen = net4(h).network.prefixlen
    spoof = free_addr(h, {ia, ib})
    # the path works (and b's counter of echo requests sees it); a knows b's MAC from now on
    echos = in_echos(h, "b")
    assert gping(h, "a", ib, count=1)
    assert in_echos(h, "b") == echos + 1
    echos = in_echos(h, "b")
    dropped = counters(h, "a")["bytes_dropped_sent"]
    # another address of the subnet as the source: b sees nothing
    guest(h, "a", "ip", "addr", "add", f"{spoof}/{plen}", "dev", "eth0")
    assert not gping(h, "a", ib, count=3, wait=1, src=spoof)
    assert in_echos(h, "b") == echos
    assert wait_for(lambda: counters(h, "a")["bytes_dropped_sent"] >= dropped + 3 * 84, timeout=3), \
        (dropped, counters(h, "a"))
    guest(h, "a", "ip", "addr", "del", f"{spoof}/{plen}", "dev", "eth0")
    # another MAC: dropped too
    mac = nic(h, "a")["hwaddr"]
    guest(h, "a", "ip", "link", "set", "eth0", "address", "02:00:00:00:00:99")
    try:
        echos = in_echos(h, "b")
        assert not gping(h, "a", ib, count=2, wait=1)
        assert in_echos(h, "b") == echos
    finally:
        guest(h, "a", "ip", "link", "set", "eth0", "address", mac)
    # with security.ipv4_filtering=false the spoofed source gets through
    launch(h, "c", nic={"security.ipv4_filtering": "false"})
    spoof2 = free_addr(h, {ia, ib, spoof, addr4(h, "c")})
    guest(h, "c", "ip", "addr", "add", f"{spoof2}/{plen}", "dev", "eth0")
    echos = in_echos(h, "b")
    gping(h, "c", ib, count=2, wait=2, src=spoof2)
    assert in_echos(h, "b") >= echos + 1


# -- 9. port isolation ---------------------------------------------------------------------

def test_port_isolation(nh):
    h = nh
    launch(h, "i1", nic={"security.port_isolation": "true"})
    launch(h, "i2", nic={"security.port_isolation": "true"})
    launch(h, "a")
    i1, i2, gw = addr4(h, "i1"), addr4(h, "i2"), gw4(h)
    echos = in_echos(h, "i2")
    assert not gping(h, "i1", i2, count=2, wait=1)
    assert in_echos(h, "i2") == echos
    assert not gping(h, "i2", i1, count=1, wait=1)
    assert gping(h, "i1", gw) and gping(h, "i2", gw)
    # an instance that is not isolated still reaches them
    assert gping(h, "a", i1)
    echos = in_echos(h, "i2")
    assert gping(h, "a", i2, count=1) and in_echos(h, "i2") == echos + 1


# -- 10. bandwidth -------------------------------------------------------------------------

def iperf_rate(h, name, server, port, reverse=False):
    """iperf3 client in the VPS's namespace; the rate the receiver saw, in bit/s."""
    p = vns(h, name, "iperf3", "-c", server, "-p", port, "-t", "3", "-O", "1", "-J", "--connect-timeout", "3000",
            *(["-R"] if reverse else []), check=False, timeout=40)
    try:
        j = json.loads(p.stdout)
    except ValueError:
        raise AssertionError(f"iperf3 from {name}: {p.stdout[-2000:]} {p.stderr[-2000:]}")
    assert "error" not in j, (name, j["error"])
    return j["end"]["sum_received"]["bits_per_second"]


def test_bandwidth_limits(nh):
    h = nh
    launch(h, "e", nic={"limits.egress": "20Mbit"})
    launch(h, "i", nic={"limits.ingress": "20Mbit"})
    gw = gw4(h)
    # one server per test: a server still winding down its last test answers "busy"
    srvs = [tns_popen(h, "iperf3", "-s", "-1", "-B", gw, "-p", port) for port in (5201, 5202)]
    try:
        assert wait_for(lambda: ns_listening(h, 5201) and ns_listening(h, 5202), timeout=5)
        egress = iperf_rate(h, "e", gw, 5201)                  # out of e
        ingress = iperf_rate(h, "i", gw, 5202, reverse=True)   # into i
    finally:
        for srv in srvs:
            stop_proc(srv)
    rates = f"egress {egress / 1e6:.2f} Mbit/s, ingress {ingress / 1e6:.2f} Mbit/s"
    print(rates)
    assert 18e6 <= egress <= 22e6, rates
    assert 18e6 <= ingress <= 22e6, rates

    # changed on the running instance: the same link, a new rate; unset: no shaping left
    hn = nic(h, "e")["host_name"]
    ifb = "ci" + hn[2:]
    index = json.loads(tns(h, "ip", "-j", "link", "show", "dev", hn).stdout)[0]["ifindex"]
    h.cli("config", "device", "set", "e", "eth0", "limits.egress=5Mbit", "limits.ingress=7Mbit", check=True)
    assert json.loads(tns(h, "ip", "-j", "link", "show", "dev", hn).stdout)[0]["ifindex"] == index

    def tbf_rate(dev):
        for q in json.loads(tns(h, "tc", "-j", "qdisc", "show", "dev", dev).stdout):
            if q.get("kind") == "tbf":
                return q["options"]["rate"]
        return None
    assert tbf_rate(ifb) == 625000 and tbf_rate(hn) == 875000, (tbf_rate(ifb), tbf_rate(hn))   # bytes/s
    h.cli("config", "device", "unset", "e", "eth0", "limits.egress", "limits.ingress", check=True)
    assert tbf_rate(hn) is None and ifb not in h.links()
    assert json.loads(tns(h, "ip", "-j", "link", "show", "dev", hn).stdout)[0]["ifindex"] == index


# -- 11. counters --------------------------------------------------------------------------

def metric(body, name, inst, dev):
    for line in body.splitlines():
        if line.startswith(name + "{") and f'name="{inst}"' in line and f'device="{dev}"' in line:
            return float(line.rsplit(None, 1)[1])
    return None


def test_counters(nh, tmp_path):
    h = nh
    launch(h, "c")
    gw = gw4(h)
    a = addr4(h, "c")
    c0 = counters(h, "c")
    # 1 MiB out of the instance, into a sink in the test's namespace
    sink_file = tmp_path / "sink"
    with open(sink_file, "wb") as out:
        sink = tns_popen(h, "busybox", "nc", "-l", "-p", "7000", stdin=subprocess.PIPE, stdout=out)
    try:
        assert wait_for(lambda: ns_listening(h, 7000), timeout=5)
        gsh(h, "c", f"dd if=/dev/zero bs=1024 count=1024 2>/dev/null | nc {gw} 7000")
        assert wait_for(lambda: sink_file.stat().st_size == MIB, timeout=10), sink_file.stat().st_size
    finally:
        stop_proc(sink)
    assert wait_for(lambda: counters(h, "c")["bytes_sent"] - c0["bytes_sent"] >= MIB, timeout=5), \
        (c0, counters(h, "c"))
    c1 = counters(h, "c")
    assert c1["bytes_sent"] - c0["bytes_sent"] < 1.2 * MIB + 64 * 1024, (c0, c1)
    # packets as the host end sees them: segmentation offload hands over up
    # to 64 KiB at once, so at least MIB / 64 KiB of them
    assert c1["packets_sent"] - c0["packets_sent"] >= MIB // 65536, (c0, c1)
    # 1 MiB into the instance, from a source in the test's namespace
    src_file = tmp_path / "src"
    src_file.write_bytes(b"\0" * MIB)
    with open(src_file, "rb") as data:
        source = tns_popen(h, "busybox", "nc", "-l", "-p", "7001", stdin=data)
    try:
        assert wait_for(lambda: ns_listening(h, 7001), timeout=5)
        got = gsh(h, "c", f"mkfifo /root/hold; nc {gw} 7001 <>/root/hold | wc -c", timeout=30).stdout.strip()
        assert got == str(MIB), got
    finally:
        stop_proc(source)
    assert wait_for(lambda: counters(h, "c")["bytes_received"] - c1["bytes_received"] >= MIB, timeout=5), \
        (c1, counters(h, "c"))
    c2 = counters(h, "c")
    assert c2["bytes_received"] - c1["bytes_received"] < 1.2 * MIB + 64 * 1024, (c1, c2)

    def kept(before):
        now = counters(h, "c")
        return all(now[k] >= before[k] for k in ("bytes_sent", "bytes_received", "packets_sent",
                                                 "packets_received")), (before, now)

    # cumulative across stop and start (and the address stays)
    h.cli("stop", "c", check=True, timeout=60)
    h.cli("start", "c", check=True)
    good, why = kept(c2)
    assert good, why
    assert addr4(h, "c") == a
    # and across a cellad restart
    c3 = counters(h, "c")
    h.kill(signal.SIGTERM)
    h.start()
    good, why = kept(c3)
    assert good, why
    # `cella info` and the metrics say the same
    info = h.cli("info", "c", check=True).stdout
    assert re.search(r"^Network:", info, re.M) and "eth0" in info, info
    m = h.api("GET", "/1.0/metrics").body
    assert (metric(m, "cella_network_transmit_bytes_total", "c", "eth0") or 0) >= c1["bytes_sent"], m[-3000:]
    assert (metric(m, "cella_network_receive_bytes_total", "c", "eth0") or 0) >= c2["bytes_received"], m[-3000:]


# -- 12. hot add and remove ----------------------------------------------------------------

def test_hot_add_remove(nh):
    h = nh
    launch(h, "c")
    n4 = net4(h)
    a0 = addr4(h, "c")
    assert guest(h, "c", "ip", "link", "show", "dev", "eth1", check=False).returncode != 0
    h.cli("config", "device", "add", "c", "eth1", "nic", f"network={BRIDGE}", check=True)
    n = nic(h, "c", "eth1")
    hn, a1 = n["host_name"], addr4(h, "c", "eth1")
    assert ipaddress.ip_address(a1) in n4.network and a1 != a0, (a0, a1)
    ip = guest(h, "c", "ip", "-4", "addr", "show", "dev", "eth1", check=False)
    assert f"inet {a1}/{n4.network.prefixlen}" in ip.stdout, ip
    link = json.loads(tns(h, "ip", "-j", "link", "show", "dev", hn).stdout)[0]
    assert link.get("master") == BRIDGE, link
    h.cli("config", "device", "remove", "c", "eth1", check=True)
    assert guest(h, "c", "ip", "link", "show", "dev", "eth1", check=False).returncode != 0
    assert wait_for(lambda: hn not in h.links(), timeout=3), h.links()
    assert "eth1" not in (state(h, "c").get("network") or {})
    assert f'"{hn}"' not in nft_text(h)
    # eth0 did not notice
    assert addr4(h, "c") == a0 and gping(h, "c", gw4(h), count=1)


# -- 13. nothing left ----------------------------------------------------------------------

def test_cleanup(nh):
    h = nh
    h.cli("network", "create", "lan9", "ipv4.address=172.31.99.1/24", "ipv6.address=none", check=True)
    launch(h, "x", nic={"limits.ingress": "10Mbit", "limits.egress": "10Mbit"})
    launch(h, "y", nic={"network": "lan9"})
    assert addr4(h, "y").startswith("172.31.99."), addr4(h, "y")
    hns = [nic(h, n)["host_name"] for n in ("x", "y")]
    # one dnsmasq per network, in cellad's namespace (checked at the end)
    dns_running = procs_in_ns(h.ns_id, "dnsmasq")
    for n in ("x", "y"):
        delete(h, n)
    # no veth, no IFB, no rule naming them
    left = wait_for(lambda: h.links() == BASE_LINKS | {BRIDGE, "lan9"}, timeout=3) or h.links()
    assert left is True, left
    assert not links_of_kind(h, "ifb") and links_of_kind(h, "veth") == {"up0", "up1"}
    text = nft_text(h)
    assert not [hn for hn in hns if f'"{hn}"' in text], (hns, text)
    # the network goes, and its dnsmasq with it
    h.cli("network", "delete", "lan9", check=True)
    assert "lan9" not in h.links()
    wait_for(lambda: len(procs_in_ns(h.ns_id, "dnsmasq")) <= 1, timeout=5)
    dns_after_lan9 = procs_in_ns(h.ns_id, "dnsmasq")
    # the default network too, once the default profile no longer names it
    prof = ok(h.api("GET", "/1.0/profiles/default"))
    prof["devices"].pop("eth0", None)
    assert h.api("PUT", "/1.0/profiles/default", {k: prof[k] for k in ("description", "config", "devices")}).status \
        == 200
    h.cli("network", "delete", BRIDGE, check=True)
    assert h.links() == BASE_LINKS
    assert not [hn for hn in hns if f'"{hn}"' in nft_text(h)]
    wait_for(lambda: not procs_in_ns(h.ns_id, "dnsmasq"), timeout=5)
    assert len(dns_running) == 2, f"dnsmasq of the two networks: {dns_running}"
    assert len(dns_after_lan9) == 1 and not [c for _, c in dns_after_lan9 if "lan9" in c or "172.31.99." in c], \
        dns_after_lan9
    assert not procs_in_ns(h.ns_id, "dnsmasq")
