"""nodenet.nmstate's modules driven by real ansible-playbook over SSH on every lab node.

The lab's four nodes cover both access paths (libnmstate importable, nmstatectl only) in
both modes (kernel-only, NetworkManager). Each scenario runs on all nodes at once, then
the tests check every node.
"""

from __future__ import annotations

import json
import time

import pytest
from test_lab_nodes import bridge_state

NODES = ["node01", "node02", "node03", "node04"]
LAB_DNS = "10.231.77.1"
# How every lab node resolves names when it boots (tests that change DNS put this back).
LAB_DNS_STATE = {"dns-resolver": {"config": {"server": [LAB_DNS], "search": ["lab.nodenet"]}}}
APPLY = "Apply"


def index(name: str) -> int:
    return int(name[-2:])


def kernel_view(node) -> str:
    """What the kernel has, independent of nmstate: links, addresses, routes, rules."""
    return node.run(
        "ip -br link; ip -br addr; ip route show table all | grep -v '^local\\|^broadcast\\|^multicast'; "
        "ip rule; cat /etc/resolv.conf"
    ).stdout


def on_every_node(lab, state_of) -> dict:
    return {"desired_by_host": {node.name: state_of(node) for node in lab.nodes}}


def assert_applied(run, host, changed):
    result = run.result(host, APPLY)
    assert result["_status"] == "ok", f"{host}: {result.get('msg')}\n{run.output[-3000:]}"
    assert result["changed"] is changed, f"{host}: changed={result['changed']}, want {changed}"
    return result


@pytest.fixture(params=NODES)
def node(lab, request):
    chosen = lab.node(request.param)
    if request.param in ("node03", "node04") and not chosen.network_manager:
        pytest.skip("NetworkManager is not installed here: this node runs kernel-only")
    return chosen


# --- The seed's guide: a Linux bridge on eth1 -------------------------------------------------


@pytest.fixture(scope="module")
def bridge_guide(lab, playbook):
    """Create br1 everywhere, apply it again, report it, ping across, remove it twice."""
    runs = {"create": playbook("apply.yml", on_every_node(lab, bridge_state))}
    runs["again"] = playbook("apply.yml", on_every_node(lab, bridge_state))
    runs["info"] = playbook("info.yml", {"info_interfaces": ["br1"]})
    pings = {}
    for node in lab.nodes:
        far = lab.nodes[index(node.name) % len(lab.nodes)]
        for address in (f"10.231.78.{10 + index(far.name)}", f"fd00:4e:78::{10 + index(far.name)}"):
            deadline = time.monotonic() + 15
            while True:
                ok = node.run(f"ping -c 1 -W 1 {address}", check=False).returncode == 0
                if ok or time.monotonic() > deadline:
                    break
            pings[(node.name, address)] = ok
    runs["remove"] = playbook("apply.yml", on_every_node(lab, lambda n: bridge_state(n, "absent")))
    runs["remove_again"] = playbook(
        "apply.yml", on_every_node(lab, lambda n: bridge_state(n, "absent"))
    )
    runs["gone"] = {n.name: n.run("ip link show br1", check=False).returncode for n in lab.nodes}
    return runs, pings


def test_bridge_is_created_reported_reachable_and_removed(node, bridge_guide):
    runs, pings = bridge_guide
    created = assert_applied(runs["create"], node.name, changed=True)
    assert created["access"] == ("libnmstate" if node.libnmstate else "nmstatectl")
    assert created["mode"] == ("networkmanager" if node.network_manager else "kernel-only")
    [br1] = created["state"]["interfaces"][:1]
    assert br1["name"] == "br1" and [p["name"] for p in br1["bridge"]["port"]] == ["eth1"]

    info = runs["info"].result(node.name, "Info")
    assert info["_status"] == "ok", info.get("msg")
    assert [i["name"] for i in info["state"]["interfaces"]] == ["br1"]
    assert f"10.231.78.{10 + index(node.name)}" in {
        a["ip"] for a in info["state"]["interfaces"][0]["ipv4"]["address"]
    }
    assert runs["info"].result(node.name, "Fact")["ansible_facts"]["reported_names"] == ["br1"]

    assert all(ok for (src, _), ok in pings.items() if src == node.name), pings

    assert_applied(runs["remove"], node.name, changed=True)
    assert runs["gone"][node.name] != 0, "br1 must be gone from the kernel"


def test_applying_the_same_state_twice_reports_no_change(node, bridge_guide):
    runs, _ = bridge_guide
    again = assert_applied(runs["again"], node.name, changed=False)
    assert again["differences"] == {}
    assert_applied(runs["remove_again"], node.name, changed=False)


# --- Addresses, routes and route rules; macvlan; MTU; DNS ----------------------------------------


def l3(node, state="up"):
    i = index(node.name)
    routes = [
        {
            "destination": f"10.232.{i}.0/24",
            "next-hop-address": "10.231.78.254",
            "next-hop-interface": "eth1",
        },
        {
            "destination": f"10.233.{i}.0/24",
            "next-hop-address": "10.231.78.254",
            "next-hop-interface": "eth1",
            "table-id": 100,
        },
        {
            "destination": f"fd00:4e:90:{i}::/64",
            "next-hop-address": "fd00:4e:78::fe",
            "next-hop-interface": "eth1",
        },
    ]
    if state == "absent":
        return {
            "routes": {"config": [dict(r, state="absent") for r in routes]},
            "interfaces": [
                {
                    "name": "eth1",
                    "type": "ethernet",
                    "state": "up",
                    "ipv4": {"enabled": False},
                    "ipv6": {"enabled": False},
                }
            ],
        }
    return {
        "interfaces": [
            {
                "name": "eth1",
                "type": "ethernet",
                "state": "up",
                "ipv4": {
                    "enabled": True,
                    "address": [{"ip": f"10.231.78.{10 + i}", "prefix-length": 24}],
                },
                "ipv6": {
                    "enabled": True,
                    "autoconf": False,
                    "dhcp": False,
                    "address": [{"ip": f"fd00:4e:78::{10 + i}", "prefix-length": 64}],
                },
            }
        ],
        "routes": {"config": routes},
    }


@pytest.fixture(scope="module")
def l3_scenario(lab, playbook):
    runs = {"apply": playbook("apply.yml", on_every_node(lab, l3))}
    runs["again"] = playbook("apply.yml", on_every_node(lab, l3))
    runs["kernel"] = {n.name: kernel_view(n) for n in lab.nodes}
    runs["remove"] = playbook("apply.yml", on_every_node(lab, lambda n: l3(n, "absent")))
    runs["after"] = {n.name: kernel_view(n) for n in lab.nodes}
    return runs


def test_static_addresses_and_routes(node, l3_scenario):
    i = index(node.name)
    assert_applied(l3_scenario["apply"], node.name, changed=True)
    assert_applied(l3_scenario["again"], node.name, changed=False)
    kernel = l3_scenario["kernel"][node.name]
    assert f"10.231.78.{10 + i}/24" in kernel and f"fd00:4e:78::{10 + i}/64" in kernel
    assert f"10.232.{i}.0/24 via 10.231.78.254 dev eth1" in kernel
    assert f"10.233.{i}.0/24 via 10.231.78.254 dev eth1 table 100" in kernel
    assert f"fd00:4e:90:{i}::/64 via fd00:4e:78::fe dev eth1" in kernel
    assert_applied(l3_scenario["remove"], node.name, changed=True)
    after = l3_scenario["after"][node.name]
    assert f"10.232.{i}.0/24" not in after and f"10.231.78.{10 + i}/24" not in after


# nmstate 2.2's kernel-only mode (its nispor backend) cannot apply route rules, MTU changes or
# create mac-vlan links. There the module refuses the state up front, naming the mode and the
# field, and the node stays as it was; in NetworkManager mode the change must be made.
# test_kernel_limits.py pins each limit against nmstate itself.
KERNEL_ONLY_LIMITS = {
    "route-rules": ("not_supported", "route-rules.config[0]: nmstate's kernel backend cannot"),
    "mtu": ("not_supported", "(eth2).mtu: nmstate's kernel backend cannot change an MTU"),
    "mac-vlan": ("not_supported", "(mv0).type: nmstate's kernel backend cannot create a mac-vlan"),
}


def assert_kernel_limit(run, node, before, feature):
    category, message = KERNEL_ONLY_LIMITS[feature]
    result = run.result(node.name, APPLY)
    assert result["_status"] == "failed", (
        f"{node.name}: kernel-only {feature} now works: update the docs"
    )
    assert result["error_category"] == category and message in result["msg"], result["msg"]
    assert result["msg"].startswith("kernel-only mode (no NetworkManager on this node)")
    assert kernel_view(node) == before, f"{node.name} changed after a failed apply"


def rules(node, state="up"):
    i = index(node.name)
    rule = {"ip-from": f"10.231.78.{10 + i}/32", "route-table": 100, "priority": 1000 + i}
    return {"route-rules": {"config": [dict(rule, state="absent") if state == "absent" else rule]}}


def test_route_rules(node, playbook):
    before = kernel_view(node)
    run = playbook("apply.yml", {"desired_by_host": {node.name: rules(node)}}, limit=node.name)
    if not node.network_manager:
        assert_kernel_limit(run, node, before, "route-rules")
        return
    i = index(node.name)
    try:
        assert_applied(run, node.name, changed=True)
        assert f"{1000 + i}:\tfrom 10.231.78.{10 + i} lookup 100" in kernel_view(node)
        again = playbook(
            "apply.yml", {"desired_by_host": {node.name: rules(node)}}, limit=node.name
        )
        assert_applied(again, node.name, changed=False)
    finally:
        removed = playbook(
            "apply.yml", {"desired_by_host": {node.name: rules(node, "absent")}}, limit=node.name
        )
    assert_applied(removed, node.name, changed=True)
    assert f"from 10.231.78.{10 + i}" not in kernel_view(node)


def macvlan(node, state="up"):
    if state == "absent":
        return {"interfaces": [{"name": "mv0", "type": "mac-vlan", "state": "absent"}]}
    return {
        "interfaces": [
            {
                "name": "mv0",
                "type": "mac-vlan",
                "state": "up",
                "mac-vlan": {"base-iface": "eth2", "mode": "bridge", "promiscuous": True},
                "ipv4": {
                    "enabled": True,
                    "address": [{"ip": f"10.231.80.{10 + index(node.name)}", "prefix-length": 24}],
                },
            }
        ]
    }


def mtu(node, value):
    return {"interfaces": [{"name": "eth2", "type": "ethernet", "state": "up", "mtu": value}]}


@pytest.fixture(scope="module")
def macvlan_and_mtu(lab, playbook):
    runs = {"before": {n.name: kernel_view(n) for n in lab.nodes}}
    runs["mv"] = playbook("apply.yml", on_every_node(lab, macvlan))
    runs["mv_again"] = playbook("apply.yml", on_every_node(lab, macvlan))
    runs["mv_kernel"] = {
        n.name: n.run("ip -d link show mv0", check=False).stdout for n in lab.nodes
    }
    runs["mv_remove"] = playbook("apply.yml", on_every_node(lab, lambda n: macvlan(n, "absent")))
    runs["between"] = {n.name: kernel_view(n) for n in lab.nodes}
    runs["mtu"] = playbook("apply.yml", on_every_node(lab, lambda n: mtu(n, 1400)))
    runs["mtu_again"] = playbook("apply.yml", on_every_node(lab, lambda n: mtu(n, 1400)))
    runs["mtu_kernel"] = {
        n.name: n.run("cat /sys/class/net/eth2/mtu").stdout.strip() for n in lab.nodes
    }
    runs["mtu_restore"] = playbook("apply.yml", on_every_node(lab, lambda n: mtu(n, 1500)))
    return runs


def test_macvlan_on_a_veth(node, macvlan_and_mtu):
    if not node.network_manager:
        assert_kernel_limit(
            macvlan_and_mtu["mv"], node, macvlan_and_mtu["before"][node.name], "mac-vlan"
        )
        return
    assert_applied(macvlan_and_mtu["mv"], node.name, changed=True)
    assert_applied(macvlan_and_mtu["mv_again"], node.name, changed=False)
    assert "macvlan mode bridge" in macvlan_and_mtu["mv_kernel"][node.name]
    assert_applied(macvlan_and_mtu["mv_remove"], node.name, changed=True)


def test_mtu_change(node, macvlan_and_mtu):
    if not node.network_manager:
        assert_kernel_limit(
            macvlan_and_mtu["mtu"], node, macvlan_and_mtu["between"][node.name], "mtu"
        )
        return
    assert_applied(macvlan_and_mtu["mtu"], node.name, changed=True)
    assert_applied(macvlan_and_mtu["mtu_again"], node.name, changed=False)
    assert macvlan_and_mtu["mtu_kernel"][node.name] == "1400"
    assert_applied(macvlan_and_mtu["mtu_restore"], node.name, changed=True)


def test_dns_resolver(node, playbook):
    """A DNS change reaches the node's resolv.conf (NetworkManager's or nmstate's own)."""
    servers = [LAB_DNS, "10.231.78.53"]
    dns = {"dns-resolver": {"config": {"server": servers, "search": ["lab.example"]}}}
    run = playbook("apply.yml", {"desired_by_host": {node.name: dns}}, limit=node.name)
    try:
        applied = assert_applied(run, node.name, changed=True)
        assert applied["state"]["dns-resolver"]["config"]["server"] == servers
        resolv = wait_for_resolv_conf(node, "nameserver 10.231.78.53")
        assert "search lab.example" in resolv
        again = playbook("apply.yml", {"desired_by_host": {node.name: dns}}, limit=node.name)
        assert_applied(again, node.name, changed=False)
    finally:
        assert_applied(
            playbook("apply.yml", {"desired_by_host": {node.name: LAB_DNS_STATE}}, limit=node.name),
            node.name,
            changed=True,
        )
    assert "nameserver 10.231.78.53" not in wait_for_resolv_conf(node, f"nameserver {LAB_DNS}")


def wait_for_resolv_conf(node, line: str, timeout: float = 10) -> str:
    """The node's resolv.conf once it holds `line` (NetworkManager writes it a moment after)."""
    deadline = time.monotonic() + timeout
    while True:
        text = node.run("cat /etc/resolv.conf").stdout
        if line in text.splitlines() or time.monotonic() > deadline:
            assert line in text.splitlines(), f"{node.name}: {line!r} not in resolv.conf:\n{text}"
            return text
        time.sleep(0.2)


# --- Check mode and diff mode ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def check_mode(lab, playbook):
    before = {n.name: kernel_view(n) for n in lab.nodes}
    run = playbook("apply.yml", on_every_node(lab, bridge_state), check=True, diff=True)
    after = {n.name: kernel_view(n) for n in lab.nodes}
    # Put the state in place first: on a fresh NetworkManager node eth2 starts out down.
    playbook("apply.yml", on_every_node(lab, lambda n: mtu(n, 1500)))
    satisfied = playbook("apply.yml", on_every_node(lab, lambda n: mtu(n, 1500)), check=True)
    return before, run, after, satisfied


def test_check_mode_predicts_the_change_and_changes_nothing(node, check_mode):
    before, run, after, satisfied = check_mode
    result = assert_applied(run, node.name, changed=True)
    assert after[node.name] == before[node.name], "check mode must not touch the node"
    assert result["differences"]["interfaces"][0]["name"] == "br1"
    assert "br1" not in result["diff"]["before"] and "br1" in result["diff"]["after"]
    assert_applied(satisfied, node.name, changed=False)


# --- Bad input --------------------------------------------------------------------------------------

BAD_STATES = {
    "unknown-type": (
        {"interfaces": [{"name": "x1", "type": "no-such-type", "state": "up"}]},
        "invalid_argument",
        "x1",
    ),
    "bad-prefix": (
        {
            "interfaces": [
                {
                    "name": "eth2",
                    "type": "ethernet",
                    "state": "up",
                    "ipv4": {
                        "enabled": True,
                        "address": [{"ip": "10.231.81.1", "prefix-length": 40}],
                    },
                }
            ]
        },
        "invalid_argument",
        "prefix length '40'",
    ),
    "missing-port": (
        {
            "interfaces": [
                {
                    "name": "br9",
                    "type": "linux-bridge",
                    "state": "up",
                    "bridge": {"port": [{"name": "nosuch0"}]},
                }
            ]
        },
        "invalid_argument",
        "nosuch0",
    ),
    "not-a-dict": (["interfaces"], "invalid_argument", "must be a mapping"),
}


@pytest.mark.parametrize("case", sorted(BAD_STATES))
def test_bad_input_fails_with_nmstates_message_and_changes_nothing(lab, playbook, case):
    state, category, message = BAD_STATES[case]
    before = {n.name: kernel_view(n) for n in lab.nodes}
    run = playbook("apply.yml", on_every_node(lab, lambda n: state))
    assert run.rc != 0
    for node in lab.nodes:
        result = run.result(node.name, APPLY)
        assert result["_status"] == "failed", f"{node.name}: {result}"
        assert result["error_category"] == category, result
        assert message in result["msg"], result["msg"]
        assert kernel_view(node) == before[node.name], f"{node.name} changed after a failed apply"


# --- src, checkpoints and secrets ----------------------------------------------------------------


def test_state_from_a_controller_file(lab, playbook, tmp_path):
    node = lab.nodes[1]
    address = {
        "interfaces": [
            {
                "name": "eth2",
                "type": "ethernet",
                "state": "up",
                "ipv4": {"enabled": True, "address": [{"ip": "10.231.81.12", "prefix-length": 24}]},
            }
        ]
    }
    src = tmp_path / "state.yml"
    src.write_text(
        "interfaces:\n  - name: eth2\n    type: ethernet\n    state: up\n    ipv4:\n      enabled: true\n"
        "      address:\n        - ip: 10.231.81.12\n          prefix-length: 24\n"
    )
    run = playbook("apply_src.yml", {"target": node.name, "src": str(src)})
    try:
        assert_applied(run, node.name, changed=True)
        assert "10.231.81.12/24" in node.run("ip -br addr show eth2").stdout
        again = playbook("apply.yml", {"desired_by_host": {node.name: address}}, limit=node.name)
        assert_applied(again, node.name, changed=False)
    finally:
        off = {
            "interfaces": [
                {"name": "eth2", "type": "ethernet", "state": "up", "ipv4": {"enabled": False}}
            ]
        }
        playbook("apply.yml", {"desired_by_host": {node.name: off}}, limit=node.name)
    src.write_text("- not\n- a mapping\n")
    bad = playbook("apply_src.yml", {"target": node.name, "src": str(src)})
    assert "must hold a mapping" in bad.result(node.name, APPLY).get("msg", "")
    missing = playbook("apply_src.yml", {"target": node.name, "src": str(tmp_path / "nope.yml")})
    assert "could not find src" in missing.result(node.name, APPLY).get("msg", "")


def test_pending_checkpoint_is_committed_or_rolled_back(node, playbook):
    run = playbook("checkpoint.yml", {"target": node.name})
    if not node.network_manager:
        result = run.result(node.name, "Apply without commit")
        assert result["_status"] == "failed" and "need NetworkManager" in result["msg"]
        return
    assert run.rc == 0, run.output[-3000:]
    pending = run.result(node.name, "Apply without commit")
    assert pending["checkpoint"].startswith("/org/freedesktop/NetworkManager/Checkpoint/")
    assert run.result(node.name, "MTU while pending")["stdout"] == "1300"
    assert run.result(node.name, "MTU after rollback")["stdout"] == "1500"
    assert run.result(node.name, "MTU after commit")["stdout"] == "1300"
    playbook("apply.yml", {"desired_by_host": {node.name: mtu(node, 1500)}}, limit=node.name)


def test_secrets_never_reach_the_output(lab, playbook):
    secret = "n0t-for-logs-7f3a"
    state = {
        "interfaces": [
            {
                "name": "eth2",
                "type": "ethernet",
                "state": "up",
                "802.1x": {
                    "identity": "lab",
                    "eap-methods": ["peap"],
                    "phase2-auth": "mschapv2",
                    "password": secret,
                },
            }
        ]
    }
    # 802.1x needs NetworkManager; a kernel-only node refuses it, and must not echo it either.
    node = next((n for n in lab.nodes if n.network_manager), lab.nodes[0])
    run = playbook(
        "apply.yml", {"desired_by_host": {node.name: state}}, limit=node.name, check=True, diff=True
    )
    result = run.result(node.name, APPLY)
    if node.network_manager:
        assert result["_status"] == "ok", result.get("msg")
    else:
        assert result["error_category"] == "not_supported", result.get("msg")
    assert secret not in run.output
    assert secret not in json.dumps(result)


def test_info_filters_and_module_defaults_for_the_action_group(lab, playbook):
    run = playbook("module_defaults.yml")
    assert run.rc == 0, run.output[-3000:]
    for node in lab.nodes:
        info = run.result(node.name, "Info")
        assert info["access"] == "nmstatectl", (
            "module_defaults for group/nodenet.nmstate.nmstate apply"
        )
        assert sorted(i["name"] for i in info["state"]["interfaces"]) == ["eth1", "eth2"]
        assert info["ansible_facts"]["nmstate"] == info["state"]
        assert "valid-life-time" not in json.dumps(info["state"]), "drop_noise removes lifetimes"
