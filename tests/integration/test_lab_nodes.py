"""Lab nodes are real, separate Linux hosts to nmstate: tested over SSH with real nmstate."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from nodenet_lab import kernel
from nodenet_lab.pytest_plugin import LabNode

NODE_LINKS = {"lo", "mgmt0", "eth1", "eth2"}


def node_ids(lab_nodes):
    return [
        f"{n.name}-{n.mode}-{'libnmstate' if n.libnmstate else 'nmstatectl'}" for n in lab_nodes
    ]


def each_node(lab):
    return lab.nodes


def peer_of(lab, node: LabNode) -> LabNode:
    """A kernel-mode node other than `node`, to configure by hand as the far end of a link."""
    return next(n for n in lab.nodes if n is not node and not n.network_manager)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.3)


@pytest.fixture(params=range(4), ids=["node01", "node02", "node03", "node04"])
def node(lab, request) -> LabNode:
    if request.param >= len(lab.nodes):
        pytest.skip("the lab has fewer nodes")
    chosen = lab.nodes[request.param]
    if chosen.network_manager is False and chosen.name in ("node03", "node04"):
        pytest.skip("NetworkManager is not installed: node runs kernel-only instead")
    return chosen


def root_links() -> set[str]:
    out = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True).stdout
    return {link["ifname"] for link in json.loads(out)}


def test_nmstate_on_a_node_sees_that_node_and_nothing_of_the_host(node):
    state = json.loads(node.nmstatectl("show", "--json").stdout)
    names = {iface["name"] for iface in state["interfaces"]}
    assert names == NODE_LINKS
    assert not names & (root_links() - NODE_LINKS)
    mgmt = next(i for i in state["interfaces"] if i["name"] == "mgmt0")
    assert {a["ip"] for a in mgmt["ipv4"]["address"]} == {node.address}
    assert state["hostname"]["running"] == node.name


def test_node_has_its_own_hostname_network_namespace_and_resolv_conf(lab, node):
    out = node.run("hostname; cat /etc/hostname; readlink /proc/self/ns/net").stdout.split()
    assert out[:2] == [node.name, node.name]
    assert out[2] != subprocess.check_output(["readlink", "/proc/self/ns/net"], text=True).strip()
    with open("/etc/resolv.conf") as host_resolv:
        before = host_resolv.read()
    own = node.run("cat /etc/resolv.conf").stdout
    assert "nameserver 10.231.77.1" in own, "nodes boot resolving through the lab's DNS server"
    node.run(
        "cp /etc/resolv.conf /run/resolv.conf.saved; echo 'nameserver 192.0.2.53' > /etc/resolv.conf"
    )
    try:
        with open("/etc/resolv.conf") as host_resolv:
            assert host_resolv.read() == before, "a node's resolv.conf must not be the host's"
    finally:
        node.run("cp /run/resolv.conf.saved /etc/resolv.conf")


def test_access_path_is_libnmstate_or_nmstatectl_as_the_node_is_set_up(node):
    assert node.run("command -v nmstatectl").stdout.strip() == "/usr/local/sbin/nmstatectl"
    imported = node.python("import libnmstate; print(libnmstate.__version__)", check=False)
    if node.libnmstate:
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout.strip() == node.nmstatectl("--version").stdout.split()[-1]
    else:
        assert "No module named 'libnmstate'" in imported.stderr


def bridge_state(node: LabNode, state: str = "up") -> dict:
    index = int(node.name[-2:])
    iface = {"name": "br1", "type": "linux-bridge", "state": state}
    if state == "up":
        iface.update(
            {
                "bridge": {"options": {"stp": {"enabled": False}}, "port": [{"name": "eth1"}]},
                "ipv4": {
                    "enabled": True,
                    "address": [{"ip": f"10.231.78.{10 + index}", "prefix-length": 24}],
                },
                "ipv6": {
                    "enabled": True,
                    "autoconf": False,
                    "dhcp": False,
                    "address": [{"ip": f"fd00:4e:78::{10 + index}", "prefix-length": 64}],
                },
            }
        )
    return {"interfaces": [iface]}


def test_linux_bridge_on_eth1_with_static_addresses_is_reachable_and_removable(lab, node):
    """The seed's guide: br1 over eth1 on node A, pinged from node B, then removed."""
    peer = peer_of(lab, node)
    index = int(node.name[-2:])
    node.apply(bridge_state(node))
    peer.run(
        "ip addr add 10.231.78.200/24 dev eth1 && ip addr add fd00:4e:78::200/64 dev eth1 nodad"
    )
    try:
        shown = node.show("br1")["interfaces"]
        assert len(shown) == 1 and shown[0]["type"] == "linux-bridge"
        assert [p["name"] for p in shown[0]["bridge"]["port"]] == ["eth1"]
        assert f"10.231.78.{10 + index}" in {a["ip"] for a in shown[0]["ipv4"]["address"]}
        assert f"fd00:4e:78::{10 + index}" in {a["ip"] for a in shown[0]["ipv6"]["address"]}
        for target in (f"10.231.78.{10 + index}", f"fd00:4e:78::{10 + index}"):
            wait_for(
                lambda t=target: peer.run(f"ping -c 1 -W 1 {t}", check=False).returncode == 0,
                15,
                f"{peer.name} to ping {target} on {node.name}'s br1",
            )
    finally:
        peer.run("ip addr flush dev eth1 scope global", check=False)
        node.apply(bridge_state(node, "absent"))
    assert node.show("br1")["interfaces"] == []
    assert node.run("ip link show br1", check=False).returncode != 0
    assert peer.run(f"ping -c 1 -W 1 10.231.78.{10 + index}", check=False).returncode != 0, (
        "the address must be gone with the bridge"
    )


def test_dhcp_on_eth2_gets_a_lease_from_the_labs_dhcp_server(node):
    if not node.network_manager:
        pytest.skip("nmstate runs DHCP clients through NetworkManager; kernel-only mode has none")
    dhcp = {
        "name": "eth2",
        "type": "ethernet",
        "state": "up",
        "ipv4": {"enabled": True, "dhcp": True},
    }
    node.apply({"interfaces": [dhcp]})
    try:

        def leased():
            addresses = node.show("eth2")["interfaces"][0]["ipv4"].get("address", [])
            return [a["ip"] for a in addresses if a["ip"].startswith("10.231.79.")]

        leased_ips = wait_for(leased, 30, f"a DHCP lease on {node.name} eth2")
        assert 100 <= int(leased_ips[0].rsplit(".", 1)[1]) <= 199
    finally:
        node.apply(
            {
                "interfaces": [
                    {"name": "eth2", "type": "ethernet", "state": "up", "ipv4": {"enabled": False}}
                ]
            }
        )


def mtu_of(node: LabNode, iface: str) -> int:
    return int(node.run(f"cat /sys/class/net/{iface}/mtu").stdout)


def test_networkmanager_checkpoint_rolls_back_an_uncommitted_apply(node):
    if not node.network_manager:
        pytest.skip("checkpoints need NetworkManager; nmstate's kernel-only mode has none")
    before = mtu_of(node, "eth1")
    change = {
        "interfaces": [{"name": "eth1", "type": "ethernet", "state": "up", "mtu": before - 100}]
    }
    if node.libnmstate:
        node.python(
            "import json, sys, libnmstate\n"
            "libnmstate.apply(json.load(sys.stdin), commit=False, rollback_timeout=60)",
            change,
        )
    else:
        out = node.nmstatectl("apply", "--no-commit", "--timeout", "60", input=json.dumps(change))
        assert "/org/freedesktop/NetworkManager/Checkpoint/" in out.stdout + out.stderr
    assert mtu_of(node, "eth1") == before - 100
    if node.libnmstate:
        node.python("import libnmstate; libnmstate.rollback()")
    else:
        node.nmstatectl("rollback")
    wait_for(lambda: mtu_of(node, "eth1") == before, 15, "the rollback to restore eth1's MTU")


@pytest.mark.parametrize(
    ("kind", "iface"),
    [
        ("dummy", {"name": "dummy0", "type": "dummy", "state": "up"}),
        (
            "bond",
            {
                "name": "bond0",
                "type": "bond",
                "state": "up",
                "link-aggregation": {"mode": "active-backup", "port": []},
            },
        ),
        (
            "vlan",
            {
                "name": "eth1.10",
                "type": "vlan",
                "state": "up",
                "vlan": {"base-iface": "eth1", "id": 10},
            },
        ),
        (
            "vrf",
            {
                "name": "vrf0",
                "type": "vrf",
                "state": "up",
                "vrf": {"port": [], "route-table-id": 100},
            },
        ),
    ],
)
def test_link_types_the_kernel_may_lack_are_detected_and_skipped(lab, kind, iface):
    missing = kernel.link_type_missing(kind)
    if missing:
        pytest.skip(f"this kernel cannot create {kind} links: {missing}")
    node = lab.nodes[0]
    node.apply({"interfaces": [iface]})
    try:
        assert node.show(iface["name"])["interfaces"][0]["type"] == kind
    finally:
        node.apply({"interfaces": [{"name": iface["name"], "type": kind, "state": "absent"}]})


@pytest.mark.parametrize("kind", ["bridge", "macvlan", "vxlan"])
def test_link_types_the_lab_relies_on_are_present(kind):
    assert kernel.link_type_missing(kind) is None
