"""Kernel-only limits, pinned against the real nmstate on a kernel-only lab node: each state
below fails in nmstate itself (so if a newer nmstate lifts a limit, this says so), and the
collection refuses it up front, naming the mode and the field, with the node untouched."""

from __future__ import annotations

import json

import pytest

ETH1 = {"name": "eth1", "type": "ethernet", "state": "up"}
# One state per limit in plugins/module_utils/nmstate_kernel_limits.py, and the field named.
LIMITS = {
    "dhcp4": ({"interfaces": [dict(ETH1, ipv4={"enabled": True, "dhcp": True})]}, "ipv4.dhcp"),
    "dhcp6": ({"interfaces": [dict(ETH1, ipv6={"enabled": True, "dhcp": True})]}, "ipv6.dhcp"),
    "autoconf": (
        {"interfaces": [dict(ETH1, ipv6={"enabled": True, "autoconf": True})]},
        "ipv6.autoconf",
    ),
    "description": ({"interfaces": [dict(ETH1, description="uplink")]}, "description"),
    "mtu": ({"interfaces": [dict(ETH1, mtu=1400)]}, "mtu"),
    "ethtool": (
        {"interfaces": [dict(ETH1, ethtool={"feature": {"rx-checksum": False}})]},
        "ethtool",
    ),
    "lldp": ({"interfaces": [dict(ETH1, lldp={"enabled": True})]}, "lldp"),
    "mac-vlan": (
        {
            "interfaces": [
                {
                    "name": "mvlimit",
                    "type": "mac-vlan",
                    "state": "up",
                    "mac-vlan": {"base-iface": "eth1", "mode": "bridge"},
                }
            ]
        },
        "type",
    ),
    "vxlan": (
        {
            "interfaces": [
                {
                    "name": "vxlimit",
                    "type": "vxlan",
                    "state": "up",
                    "vxlan": {"id": 4001, "base-iface": "eth1", "remote": "10.231.78.99"},
                }
            ]
        },
        "type",
    ),
    "route-rules": (
        {"route-rules": {"config": [{"ip-from": "10.231.93.0/24", "route-table": 201}]}},
        "route-rules.config[0]",
    ),
    "hostname": ({"hostname": {"config": "limit-test"}}, "hostname.config"),
}


def limit_view(node) -> str:
    """What the limits below would change: eth1, new links, IPv4 rules and routes, the
    hostname (not the other links' IPv6 link-local addresses, which settle on their own)."""
    return node.run(
        "ip -br addr show eth1; ip -o link show eth1 | cut -d' ' -f2-5; ip -br link show type "
        "macvlan; ip -br link show type vxlan; ip -4 rule; ip -4 route show table all | "
        "grep -v '^local\\|^broadcast'; hostname"
    ).stdout


@pytest.fixture(scope="module")
def kernel_node(lab):
    return next(n for n in lab.nodes if not n.network_manager)


@pytest.mark.parametrize("limit", sorted(LIMITS))
def test_nmstate_itself_cannot_do_this_in_kernel_mode(kernel_node, limit):
    state, _ = LIMITS[limit]
    before = limit_view(kernel_node)
    result = kernel_node.nmstatectl("apply", input=json.dumps(state), check=False)
    assert result.returncode != 0, (
        f"nmstate now does {limit} in kernel mode: lift it in nmstate_kernel_limits.py"
    )
    assert limit_view(kernel_node) == before, "a failed kernel-mode apply left something behind"


def test_the_collection_refuses_them_up_front_naming_the_mode_and_fields(kernel_node, playbook):
    merged = {
        "interfaces": [dict(ETH1, ipv4={"enabled": True, "dhcp": True}, description="x", mtu=1400)]
    }
    merged["route-rules"] = LIMITS["route-rules"][0]["route-rules"]
    before = limit_view(kernel_node)
    run = playbook(
        "apply.yml", {"desired_by_host": {kernel_node.name: merged}}, limit=kernel_node.name
    )
    result = run.result(kernel_node.name, "Apply")
    assert result["_status"] == "failed", result
    assert result["msg"].startswith(
        "kernel-only mode (no NetworkManager on this node) cannot apply"
    )
    for field in ("(eth1).ipv4.dhcp", "(eth1).description", "(eth1).mtu", "route-rules.config[0]"):
        assert field in result["msg"], result["msg"]
    assert result["error_category"] == "not_supported"
    assert limit_view(kernel_node) == before


ROUTE = "198.51.100.0/24"
ROUTE_VIA = f"{ROUTE} via 10.231.78.1 dev eth1"


def test_a_route_added_without_proto_static_fails_its_removal_with_a_hint(kernel_node, playbook):
    """nmstate's kernel backend leaves a `proto boot` route (a plain `ip route add`) in place;
    the failure says why, and the same route added with `proto static`, as the hint advises,
    goes."""
    absent = {
        "routes": {
            "config": [{"destination": ROUTE, "next-hop-interface": "eth1", "state": "absent"}]
        }
    }
    kernel_node.run("ip addr replace 10.231.78.252/24 dev eth1")
    try:
        kernel_node.run(f"ip route replace {ROUTE_VIA} proto boot")
        run = playbook(
            "apply.yml", {"desired_by_host": {kernel_node.name: absent}}, limit=kernel_node.name
        )
        result = run.result(kernel_node.name, "Apply")
        assert result["_status"] == "failed", result
        assert "still found after apply" in result["msg"], result["msg"]
        assert "protocol boot" in result["msg"] and "proto static" in result["msg"]
        assert ROUTE in kernel_node.run("ip route").stdout

        kernel_node.run(f"ip route replace {ROUTE_VIA} proto static")
        run = playbook(
            "apply.yml", {"desired_by_host": {kernel_node.name: absent}}, limit=kernel_node.name
        )
        assert run.result(kernel_node.name, "Apply")["_status"] != "failed", run.results
        assert ROUTE not in kernel_node.run("ip route").stdout
    finally:
        kernel_node.run(
            f"ip route del {ROUTE} || true; ip addr del 10.231.78.252/24 dev eth1 || true"
        )
