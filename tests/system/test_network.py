# SPDX-License-Identifier: LGPL-2.1-or-later
"""Managed networks: bridges, their addresses and NAT, through the API and the CLI.

Network safety: every cellad here runs inside a network namespace this
module creates (a holder process started under `unshare -n`, which cellad
joins with nsenter), never in the host's; the tests read that namespace
with `nsenter --net`.  Before cellad starts, the fixture checks that the
namespace is not the host's.
"""

import ipaddress
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import CELLAD, Host, host_leaks, teardown_host, wait_for

BRIDGE = "cellabr0"


class NetnsHost(Host):
    """A cellad in a network namespace of its own (kept across restarts)."""

    def __init__(self, base: Path):
        super().__init__(base)
        self.holder = subprocess.Popen(["unshare", "-n", "--", "sleep", "infinity"],
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        ns = f"/proc/{self.holder.pid}/ns/net"
        assert wait_for(lambda: os.readlink(ns) != os.readlink("/proc/self/ns/net"), timeout=5), \
            "the test's network namespace is the host's"
        self.netns = ns

    def start(self, extra=()):
        # never in the host's namespace: checked again right before the start
        assert os.readlink(self.netns) != os.readlink("/proc/self/ns/net")
        env = {k: v for k, v in os.environ.items() if k != "CELLA_NO_NETWORKS"}
        self.proc = subprocess.Popen(
            ["nsenter", f"--net={self.netns}", "--", str(CELLAD), "--var-dir", str(self.var),
             "--run-dir", str(self.run), "--log-dir", str(self.log), "--socket", str(self.socket), *extra],
            env=env, stdin=subprocess.DEVNULL, stdout=open(self.stderr, "a"), stderr=subprocess.STDOUT,
            start_new_session=True)
        ok = wait_for(lambda: self.socket.exists() and self._ping(), timeout=15)
        assert ok, f"cellad did not come up: {self.stderr.read_text()}"
        assert os.readlink(f"/proc/{self.proc.pid}/ns/net") == os.readlink(self.netns)
        return self

    def ns(self, *cmd, check=True):
        p = subprocess.run(["nsenter", f"--net={self.netns}", "--", *cmd], capture_output=True, text=True,
                           timeout=30)
        if check:
            assert p.returncode == 0, (cmd, p.stdout, p.stderr)
        return p

    def addrs(self, dev):
        p = self.ns("ip", "-j", "addr", "show", "dev", dev, check=False)
        if p.returncode != 0:
            return None
        return {f"{a['local']}/{a['prefixlen']}" for link in json.loads(p.stdout) for a in link["addr_info"]
                if a.get("scope") != "link"}

    def links(self):
        return {link["ifname"] for link in json.loads(self.ns("ip", "-j", "link", "show").stdout)}

    def ruleset(self):
        """Our inet table as JSON text ('' when absent)."""
        p = self.ns("nft", "-j", "list", "table", "inet", "cella", check=False)
        return p.stdout if p.returncode == 0 else ""

    def close(self):
        """cellad and what it made (instances, mounts, cgroups), then the namespace."""
        teardown_host(self)
        self.holder.kill()
        self.holder.wait(timeout=10)


@pytest.fixture
def nethost(host_dir):
    h = NetnsHost(host_dir)
    try:
        # a host route over 10.0.0.0/8: the default network must choose elsewhere
        h.ns("ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1")
        h.ns("ip", "link", "set", "up0", "up")
        h.ns("ip", "link", "set", "up1", "up")
        h.ns("ip", "route", "add", "10.0.0.0/8", "dev", "up0")
        h.start()
        yield h
        h.kill(signal.SIGTERM)
        leaks = wait_for(lambda: not host_leaks(h), timeout=5) or host_leaks(h)
        assert leaks is True or not leaks, f"left behind: {leaks}"
    finally:
        log = h.daemon_log()
        h.close()
    for bad in ("Sanitizer", "runtime error:"):
        assert bad not in log, f"cellad: {bad}\n{log[-6000:]}"


def ip_in(addr, cidr):
    return ipaddress.ip_interface(addr).ip in ipaddress.ip_network(cidr, strict=False)


def subnet(cidr):
    return str(ipaddress.ip_interface(cidr).network)


def rules_for(h, bridge):
    """Masquerade rules of `bridge`'s NAT chain, as the subnets they match."""
    text = h.ruleset()
    if not text:
        return None
    found = set()
    for item in json.loads(text)["nftables"]:
        rule = item.get("rule")
        if not rule or rule.get("chain") != f"nat_{bridge}":
            continue
        if not any("masquerade" in e for e in rule["expr"]):
            continue
        for e in rule["expr"]:
            m = e.get("match", {})
            right = m.get("right")
            if isinstance(right, dict) and "prefix" in right:
                found.add(f"{right['prefix']['addr']}/{right['prefix']['len']}")
    return found


def chains(h):
    text = h.ruleset()
    return {i["chain"]["name"] for i in json.loads(text)["nftables"] if "chain" in i} if text else set()


def one_error(p):
    assert p.returncode == 1, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), p.stderr
    return lines[0]


# -- the default network ---------------------------------------------------------------

def test_default_network(nethost):
    h = nethost
    r = h.api("GET", "/1.0/networks")
    assert r.status == 200 and r.metadata == [f"/1.0/networks/{BRIDGE}"], r
    n = h.api("GET", f"/1.0/networks/{BRIDGE}").metadata
    assert n["type"] == "bridge" and n["managed"] is True and n["status"] == "Created" and n["used_by"] == ["/1.0/profiles/default"]
    v4, v6 = n["config"]["ipv4.address"], n["config"]["ipv6.address"]
    assert n["config"]["ipv4.nat"] == "true" and n["config"]["ipv6.nat"] == "true"
    # not in the host's 10.0.0.0/8 route; a ULA /64
    assert not ip_in(v4, "10.0.0.0/8") and v4.endswith("/24"), v4
    assert ip_in(v6, "fd00::/8") and v6.endswith("/64"), v6
    assert h.addrs(BRIDGE) == {v4, v6}
    link = json.loads(h.ns("ip", "-j", "link", "show", "dev", BRIDGE).stdout)[0]
    assert "UP" in link["flags"]
    assert rules_for(h, BRIDGE) == {subnet(v4), subnet(v6)}
    assert h.ns("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    assert h.ns("sysctl", "-n", f"net.ipv6.conf.{BRIDGE}.forwarding").stdout.strip() == "1"
    # state: the bridge as the kernel has it
    st = h.api("GET", f"/1.0/networks/{BRIDGE}/state").metadata
    assert st["state"] == "up" and st["mtu"] > 0 and "bytes_received" in st["counters"]
    assert {f"{a['address']}/{a['netmask']}" for a in st["addresses"] if a["scope"] == "global"} == {v4, v6}
    info = h.cli("network", "info", BRIDGE, check=True).stdout
    assert v4.split("/")[0] in info and "State: up" in info and "Warning" not in info
    # a firewall of someone else's dropping what is forwarded: said, not fixed
    h.ns("nft", "add table inet fw; add chain inet fw forward { type filter hook forward priority 0; policy drop; }")
    try:
        st = h.api("GET", f"/1.0/networks/{BRIDGE}/state").metadata
        assert "inet fw" in st.get("forward_blocked", ""), st
        info = h.cli("network", "info", BRIDGE, check=True).stdout
        assert "Warning: the host's firewall drops forwarded traffic" in info, info
    finally:
        h.ns("nft", "delete table inet fw")
    assert "forward_blocked" not in h.api("GET", f"/1.0/networks/{BRIDGE}/state").metadata


# -- create, set, unset, delete through the CLI ----------------------------------------

def test_cli_lifecycle(nethost):
    h = nethost
    h.cli("network", "create", "lan1", "ipv4.address=172.31.9.1/24", "ipv6.address=none",
          "ipv4.dhcp.ranges=172.31.9.100-172.31.9.200", "dns.domain=lan.example", "--description", "first",
          check=True)
    n = json.loads(h.cli("network", "show", "lan1", "-f", "json", check=True).stdout)
    assert n["config"] == {"ipv4.address": "172.31.9.1/24", "ipv4.nat": "true", "ipv6.address": "none",
                           "ipv4.dhcp.ranges": "172.31.9.100-172.31.9.200", "dns.domain": "lan.example"}
    assert n["description"] == "first"
    assert h.addrs("lan1") == {"172.31.9.1/24"}
    assert rules_for(h, "lan1") == {"172.31.9.0/24"}
    names = [x["name"] for x in json.loads(h.cli("network", "list", "-f", "json", check=True).stdout)]
    assert names == [BRIDGE, "lan1"]
    assert "lan1" in h.cli("network", "list", check=True).stdout

    # a new subnet: the old address goes, ranges follow
    h.cli("network", "set", "lan1", "ipv4.address=172.31.10.1/24", "ipv4.dhcp.ranges=172.31.10.5-172.31.10.9",
          check=True)
    assert h.addrs("lan1") == {"172.31.10.1/24"}
    assert rules_for(h, "lan1") == {"172.31.10.0/24"}
    # IPv6 added, auto
    h.cli("network", "set", "lan1", "ipv6.address=auto", "ipv6.nat=true", check=True)
    v6 = h.api("GET", "/1.0/networks/lan1").metadata["config"]["ipv6.address"]
    assert ip_in(v6, "fd00::/8") and h.addrs("lan1") == {"172.31.10.1/24", v6}
    # NAT off for IPv4
    h.cli("network", "set", "lan1", "ipv4.nat=false", check=True)
    assert rules_for(h, "lan1") == {subnet(v6)}
    h.cli("network", "unset", "lan1", "dns.domain", check=True)
    assert "dns.domain" not in h.api("GET", "/1.0/networks/lan1").metadata["config"]
    h.cli("network", "set", "lan1", "security.port_isolation=true", check=True)

    h.cli("network", "delete", "lan1", check=True)
    assert "lan1" not in h.links()
    assert not {c for c in chains(h) if c.endswith("_lan1")}
    assert h.api("GET", "/1.0/networks/lan1").status == 404
    # the default network is untouched; while the default profile names it, it stays
    assert rules_for(h, BRIDGE)
    assert "used by" in one_error(h.cli("network", "delete", BRIDGE))
    prof = h.api("GET", "/1.0/profiles/default").metadata
    prof["devices"].pop("eth0")
    assert h.api("PUT", "/1.0/profiles/default",
                 {k: prof[k] for k in ("description", "config", "devices")}).status == 200
    h.cli("network", "delete", BRIDGE, check=True)
    assert BRIDGE not in h.links() and not chains(h) & {f"nat_{BRIDGE}", f"fwdi_{BRIDGE}", f"fwdo_{BRIDGE}"}
    assert h.api("GET", "/1.0/networks").metadata == []


def test_api_put_patch(nethost):
    h = nethost
    r = h.api("POST", "/1.0/networks", {"name": "lan2", "config": {"ipv4.address": "192.168.77.1/24",
                                                                   "ipv6.address": "none"}})
    assert r.status == 200, r
    n = h.api("GET", "/1.0/networks/lan2").metadata
    n["config"]["user.note"] = "x"
    n["description"] = "edited"
    assert h.api("PUT", "/1.0/networks/lan2", n).status == 200   # an edited GET goes back as it is
    n = h.api("GET", "/1.0/networks/lan2").metadata
    assert n["description"] == "edited" and n["config"]["user.note"] == "x"
    assert h.api("PATCH", "/1.0/networks/lan2", {"config": {"user.note": ""}}).status == 200
    assert "user.note" not in h.api("GET", "/1.0/networks/lan2").metadata["config"]
    assert h.api("POST", "/1.0/networks", {"name": "lan2"}).status == 409
    assert h.api("POST", "/1.0/networks", {"name": "lan3", "type": "macvlan"}).status == 400
    assert h.api("DELETE", "/1.0/networks/lan2").status == 200
    assert "lan2" not in h.links()


# -- refused input changes nothing ----------------------------------------------------

def test_bad_input(nethost):
    h = nethost
    h.cli("network", "create", "lan1", "ipv4.address=172.31.9.1/24", "ipv6.address=none", check=True)
    default4 = h.api("GET", f"/1.0/networks/{BRIDGE}").metadata["config"]["ipv4.address"]
    other = default4.rsplit(".", 1)[0] + ".200/25"   # inside the default network's /24

    def snapshot():
        return (h.api("GET", "/1.0/networks?recursion=1").body, h.links(), h.ruleset(),
                h.addrs(BRIDGE), h.addrs("lan1"))

    before = snapshot()
    cases = [
        (("create", "lan2", f"ipv4.address={other}"), f"network `{BRIDGE}`"),     # another network
        (("create", "lan2", "ipv4.address=10.1.2.1/24"), "10.0.0.0/8"),             # a host route
        (("create", "lan2", "ipv4.address=172.30.0.1/24", "ipv4.dhcp.ranges=172.30.1.10-172.30.1.20"),
         "ipv4.dhcp.ranges"),                                                        # range outside
        (("create", "lan2", "ipv4.address=172.30.0.0/24"), "ipv4.address"),        # the subnet's own address
        (("create", "lan2", "ipv4.address=172.30.0.255/24"), "ipv4.address"),      # broadcast
        (("create", "lan2", "ipv4.address=fd00::1/64"), "ipv4.address"),
        (("create", "lan2", "ipv4.address=172.30.0.1"), "ipv4.address"),
        (("create", "lan2", "ipv6.address=ff02::1/64"), "ipv6.address"),
        (("create", "lan2", "bogus.key=1"), "bogus.key"),
        (("create", "lan2", "ipv4.nat=yes"), "ipv4.nat"),
        (("create", "lan2", "dns.domain=bad_domain!"), "dns.domain"),
        (("create", "../../x"), "name"),
        (("create", "a;reboot"), "name"),
        (("create", "waytoolongnetworkname"), "name"),
        (("create", "-x"), None),
        (("create", "lo"), "lo"),                                                   # an interface of the host's
        (("create", "up0"), "up0"),
        (("set", "lan1", f"ipv4.address={other}"), f"network `{BRIDGE}`"),
        (("set", "lan1", "ipv4.address=10.200.0.1/16"), "10.0.0.0/8"),
        (("set", "lan1", "ipv4.dhcp.ranges=172.31.9.1-172.31.9.20"), "gateway"),
        (("set", "lan1", "security.port_isolation=maybe"), "security.port_isolation"),
        (("set", "nosuchnet", "ipv4.nat=true"), "nosuchnet"),
        (("delete", "nosuchnet"), "nosuchnet"),
        (("unset", "lan1", "dns.domain"), "dns.domain"),
    ]
    for args, needle in cases:
        line = one_error(h.cli("network", *args))
        if needle:
            assert needle in line, (args, line)
        assert snapshot() == before, args


def test_delete_in_use(nethost):
    h = nethost
    h.cli("network", "create", "lan1", "ipv4.address=172.31.9.1/24", "ipv6.address=none", check=True)
    r = h.api("POST", "/1.0/instances", {"name": "c1", "source": {"type": "none"},
                                         "devices": {"eth0": {"type": "nic", "network": "lan1"}}})
    if r.status == 202:
        h.wait_op(r)
    else:
        assert r.status == 200, r
    assert h.api("GET", "/1.0/networks/lan1").metadata["used_by"] == ["/1.0/instances/c1"]
    line = one_error(h.cli("network", "delete", "lan1"))
    assert "used by" in line
    assert h.addrs("lan1") == {"172.31.9.1/24"}
    r = h.api("DELETE", "/1.0/instances/c1")
    if r.status == 202:
        h.wait_op(r)
    h.cli("network", "delete", "lan1", check=True)
    assert "lan1" not in h.links()


# -- restarts ---------------------------------------------------------------------------

def test_restart_restores(nethost):
    h = nethost
    h.cli("network", "create", "lan1", "ipv4.address=172.31.9.1/24", "ipv6.address=fd12:3456:789a::1/64",
          check=True)
    before = h.api("GET", "/1.0/networks?recursion=1").metadata
    h.kill(signal.SIGKILL)
    # a restart with everything in place changes nothing
    h.start()
    assert h.api("GET", "/1.0/networks?recursion=1").metadata == before
    assert h.addrs("lan1") == {"172.31.9.1/24", "fd12:3456:789a::1/64"}
    # what was lost in the kernel comes back
    h.kill(signal.SIGKILL)
    h.ns("ip", "link", "del", "lan1")
    h.ns("ip", "addr", "flush", "dev", BRIDGE)
    h.ns("nft", "delete", "table", "inet", "cella")
    h.start()
    assert h.api("GET", "/1.0/networks?recursion=1").metadata == before
    assert h.addrs("lan1") == {"172.31.9.1/24", "fd12:3456:789a::1/64"}
    cfg = before[0]["config"]
    assert h.addrs(BRIDGE) == {cfg["ipv4.address"], cfg["ipv6.address"]}
    assert rules_for(h, "lan1") == {"172.31.9.0/24", "fd12:3456:789a::/64"}
    assert rules_for(h, BRIDGE) == {subnet(cfg["ipv4.address"]), subnet(cfg["ipv6.address"])}


def test_host_namespace_untouched(host):
    """The `host` fixture's cellad runs in the host's namespace with
    CELLA_NO_NETWORKS=1: no default network, no bridge."""
    assert host.api("GET", "/1.0/networks").metadata == []
    assert BRIDGE not in host.daemon_log()
