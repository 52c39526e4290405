# SPDX-License-Identifier: LGPL-2.1-or-later
"""Instance networking at its edges: what a review found broken, each kept fixed.

Same harness and network safety as test_nic.py: cellad and every packet stay
in network namespaces the fixture `nh` creates.
"""

import time

from test_nic import (BRIDGE, addr4, delete, gping, gw4, guest, launch, net4, nh, nic, nft_text,  # noqa: F401
                      one_error, ok, op)


def test_uppercase_name_does_not_break_dns(nh):
    """DNS names are lowercase; one instance named in capitals does not
    take the network's names and leases down with it."""
    h = nh
    launch(h, "Web1")
    launch(h, "b")
    hosts = h.run / "networks" / BRIDGE / "hosts"
    assert time.sleep(0.3) is None and "web1.cella" in hosts.read_text() and " b.cella" in hosts.read_text(), \
        hosts.read_text()
    h.cli("network", "set", BRIDGE, "dns.domain=example", check=True)
    assert "b.example" in hosts.read_text()


def test_every_nic_gets_a_lease(nh):
    h = nh
    launch(h, "a", devices={"eth1": {"type": "nic", "network": BRIDGE, "name": "eth1"}})
    leases = (h.run / "networks" / BRIDGE / "dhcp-hosts").read_text()
    for dev in ("eth0", "eth1"):
        assert f"{nic(h, 'a', dev)['hwaddr']},{addr4(h, 'a', dev)}" in leases, leases


def test_hot_added_nic_leaves_nothing(nh):
    """A NIC added to the running guest, with a shaper: gone at its stop."""
    h = nh
    launch(h, "c")
    h.cli("config", "device", "add", "c", "eth1", "nic", f"network={BRIDGE}", "limits.egress=10Mbit", check=True)
    ifb = "ci" + nic(h, "c", "eth1")["host_name"][2:]
    assert ifb in h.links()
    op(h, h.api("PUT", "/1.0/instances/c/state", {"action": "stop", "force": True}))
    assert ifb not in h.links()


def test_host_names_are_never_reused(nh):
    """A NIC removed from a running guest, another instance made: the first
    guest's stop must not touch the second's interfaces."""
    h = nh
    launch(h, "a", devices={"eth1": {"type": "nic", "network": BRIDGE, "name": "eth1"}})
    old = nic(h, "a", "eth1")["host_name"]
    h.cli("config", "device", "remove", "a", "eth1", check=True)
    launch(h, "b", nic={"limits.egress": "10Mbit"})
    assert nic(h, "b")["host_name"] != old
    op(h, h.api("PUT", "/1.0/instances/a/state", {"action": "stop", "force": True}))
    assert gping(h, "b", gw4(h), count=2, wait=2)


def test_failed_update_changes_nothing(nh):
    """A NIC and a proxy added at once, the proxy's port taken: refused, and
    the NIC is not left plugged into the guest."""
    h = nh
    launch(h, "a")
    r = h.api("POST", f"/1.0/networks/{BRIDGE}/forwards",
              {"listen_address": "192.0.2.1",
               "ports": [{"protocol": "tcp", "listen_port": "80", "target_address": addr4(h, "a")}]})
    assert r.status == 200, r
    devs = dict(ok(h.api("GET", "/1.0/instances/a"))["devices"])
    devs["eth1"] = {"type": "nic", "network": BRIDGE, "name": "eth1"}
    devs["web"] = {"type": "proxy", "listen": "tcp:192.0.2.1:80", "connect": "tcp:127.0.0.1:80"}
    links = h.links()
    r = h.api("PATCH", "/1.0/instances/a", {"devices": devs})
    if r.status == 202:
        assert h.wait_op(r)["status"] == "Failure"
    else:
        assert 400 <= r.status < 500, r
    assert set(ok(h.api("GET", "/1.0/instances/a"))["devices"]) == set()
    assert "eth1" not in guest(h, "a", "ip", "-o", "link", check=False).stdout
    assert h.links() == links
    launch(h, "b")
    assert gping(h, "b", gw4(h), count=1) and gping(h, "a", gw4(h), count=1)


def test_proxy_dropped_by_its_profile_goes_at_stop(nh):
    h = nh
    r = h.api("POST", "/1.0/profiles", {"name": "web", "config": {}, "devices": {
        "p80": {"type": "proxy", "listen": "tcp:192.0.2.1:8080", "connect": "tcp:127.0.0.1:80"}}})
    assert r.status == 200, r
    op(h, h.api("POST", "/1.0/instances", {"name": "a", "type": "vps", "source": {"type": "image", "alias": "minimal"},
                                          "profiles": ["default", "web"]}))
    op(h, h.api("PUT", "/1.0/instances/a/state", {"action": "start"}))
    assert "8080" in nft_text(h)
    assert h.api("PUT", "/1.0/profiles/web", {"description": "", "config": {}, "devices": {}}).status == 200
    op(h, h.api("PUT", "/1.0/instances/a/state", {"action": "stop", "force": True}))
    assert "8080" not in nft_text(h)
    delete(h, "a")
    assert h.api("DELETE", "/1.0/profiles/web").status == 200


def test_subnet_change_keeps_forwards_and_stopped_nics(nh):
    h = nh
    h.cli("network", "create", "lan9", "ipv4.address=172.31.99.1/24", "ipv6.address=none", check=True)
    launch(h, "y", nic={"network": "lan9"})
    assert addr4(h, "y").startswith("172.31.99.")
    r = h.api("POST", "/1.0/networks/lan9/forwards",
              {"listen_address": "192.0.2.1",
               "ports": [{"protocol": "tcp", "listen_port": "80", "target_address": addr4(h, "y")}]})
    assert r.status == 200, r
    op(h, h.api("PUT", "/1.0/instances/y/state", {"action": "stop", "force": True}))
    h.cli("network", "set", "lan9", "ipv4.address=172.31.98.1/24", check=True)
    # the instance gets an address of the new subnet at its next start
    op(h, h.api("PUT", "/1.0/instances/y/state", {"action": "start"}))
    assert addr4(h, "y").startswith("172.31.98."), addr4(h, "y")
    # the forward is still there, and goes whole
    assert [f["listen_address"] for f in ok(h.api("GET", "/1.0/networks/lan9/forwards?recursion=1"))] == ["192.0.2.1"]
    assert h.api("DELETE", "/1.0/networks/lan9/forwards/192.0.2.1").status == 200
    assert "172.31.99" not in nft_text(h)
    delete(h, "y")
    h.cli("network", "delete", "lan9", check=True)


def test_bridged_and_routed_never_share_an_address(nh):
    h = nh
    x = str(net4(h).network[77])
    launch(h, "r", devices={"eth0": {"type": "nic", "nictype": "routed", "name": "eth0", "ipv4.address": x}})
    r = h.api("POST", "/1.0/instances", {
        "name": "b", "type": "vps", "source": {"type": "image", "alias": "minimal"},
        "devices": {"eth0": {"type": "nic", "network": BRIDGE, "name": "eth0", "ipv4.address": x}}})
    err = h.wait_op(r)["err"] if r.status == 202 else r.json()["error"]
    assert "already used by `r`" in err, err
    assert h.api("GET", "/1.0/instances/b").status == 404


def test_device_names_and_addresses_checked_up_front(nh):
    h = nh
    launch(h, "a", start=False)
    for args in (["a", 'x"y', "nic", f"network={BRIDGE}"],
                 ["a", "eth1", "nic", "nictype=routed", "ipv4.address=127.0.0.5"],
                 ["a", "eth1", "nic", "nictype=routed", "ipv4.address=224.0.0.9"],
                 ["a", "eth1", "nic", f"network={BRIDGE}", "name=eth0"]):
        one_error(h.cli("config", "device", "add", *args))
    assert ok(h.api("GET", "/1.0/instances/a"))["devices"] == {}
