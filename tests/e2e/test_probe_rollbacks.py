"""Probes as strict as kubernetes-nmstate's, on a kernel-only and a NetworkManager node at once:
a change that loses the default route, breaks name resolution or cuts the node off from the API
server is rolled back with the probe named in the enactment, and the node is as before; a
default route in another table is no loss."""

from __future__ import annotations

import time

import pytest
from e2e_support import condition, enactments, events_about, start_policy, wait_settled

# What the lab serves (tests/lab/nodenet_lab/settings.py): the API server's address beyond the
# nodes' subnet, its DNS server on the management gateway.
API_ADDRESS = "10.231.76.1"
LAB_DNS = {"dns-resolver": {"config": {"server": ["10.231.77.1"], "search": ["lab.nodenet"]}}}
DEAD_HOP = "10.231.77.250"  # on the management subnet, and nobody answers there
PROBES = {"timeoutSeconds": 6}  # failing probes give up quickly; passing ones pass at once


@pytest.fixture(scope="module")
def probe_nodes(lab):
    """One node of each mode; both take every change at once."""
    kernel = [n for n in lab.nodes if not n.network_manager][:1]
    managed = [n for n in lab.nodes if n.network_manager][:1]
    if not managed:
        pytest.skip("NetworkManager is not installed here: no NetworkManager node in the lab")
    return kernel + managed


def routing_view(node) -> str:
    """Routes of every table and the rules, without what NetworkManager renumbers."""
    out = node.run(
        "ip -4 route show table all | grep -v '^local\\|^broadcast\\|^multicast'; ip -4 rule"
    ).stdout
    kept = [w for w in out.split() if not w.isdigit() and w not in ("metric", "proto", "static")]
    return " ".join(kept)


def resolver_view(node) -> list[str]:
    lines = node.run("cat /etc/resolv.conf").stdout.splitlines()
    return sorted(line for line in lines if line.startswith(("nameserver", "search")))


def settle_view(view, node, expected, timeout=15):
    """`view` of `node` once it equals `expected` (NetworkManager writes resolv.conf a moment
    after a rollback), or what it is at the deadline."""
    deadline = time.monotonic() + timeout
    while (current := view(node)) != expected and time.monotonic() < deadline:
        time.sleep(0.3)
    return current


@pytest.fixture
def baseline(probe_nodes):
    """Each node with the lab's DNS, as it booted (an earlier test may have changed it); the
    routing and resolver views taken then."""
    for node in probe_nodes:
        node.apply(LAB_DNS)
    return {
        n.name: (routing_view(n), settle_view(resolver_view, n, LAB_RESOLVER)) for n in probe_nodes
    }


LAB_RESOLVER = ["nameserver 10.231.77.1", "search lab.nodenet"]


def rolled_back_by(api, operator_process, cleanup, name, nodes, state, probe):
    """Roll out `state` as policy `name`; assert every node failed it with `probe` named."""
    start_policy(api, cleanup, name, nodes, state, max_unavailable="100%", probes=PROBES)
    policy = wait_settled(api, name, operator_process)
    assert condition(policy, "Degraded")["status"] == "True", policy["status"]
    for node in nodes:
        enactment = enactments(api, name)[node.name]
        failing = condition(enactment, "Failing")
        assert failing.get("status") == "True", (node.name, enactment["status"])
        failed = enactment["status"].get("failedProbe") or {}
        assert failed.get("name") == probe, (node.name, node.mode, failed, failing["message"])
        assert f"probe {probe}" in failing["message"] and "restored" in failing["message"]
        about = events_about(
            api, "NodeNetworkConfigurationEnactment", enactment["metadata"]["name"]
        )
        assert ("Warning", "RolledBack") in [(kind, reason) for kind, reason, _ in about], about


def test_losing_the_default_route_is_rolled_back(
    api, operator_process, cleanup, probe_nodes, baseline
):
    state = {"routes": {"config": [{"destination": "0.0.0.0/0", "state": "absent"}]}}
    rolled_back_by(
        api, operator_process, cleanup, "e2e-no-gw", probe_nodes, state, "default-gateway"
    )
    for node in probe_nodes:
        before = baseline[node.name][0]
        assert settle_view(routing_view, node, before) == before, node.mode
        assert "default via 10.231.77.1" in before


def test_a_default_route_in_table_200_is_not_a_lost_gateway(
    api, operator_process, cleanup, probe_nodes, baseline
):
    """Policy routing adds a default route in another table, through a hop that does not
    answer: the main table's default route is what the probe follows, so this is kept."""
    route = {
        "destination": "0.0.0.0/0",
        "next-hop-address": DEAD_HOP,
        "next-hop-interface": "mgmt0",
        "table-id": 200,
    }
    state = {"routes": {"config": [route]}}
    try:
        start_policy(
            api, cleanup, "e2e-table-200", probe_nodes, state, max_unavailable="100%", probes=PROBES
        )
        policy = wait_settled(api, "e2e-table-200", operator_process)
        assert condition(policy, "Available")["status"] == "True", policy["status"]
        for node in probe_nodes:
            table = node.run("ip -4 route show table 200").stdout
            assert f"default via {DEAD_HOP} dev mgmt0" in table, (node.mode, table)
            assert "default via 10.231.77.1" in node.run("ip -4 route show table main").stdout
    finally:
        for node in probe_nodes:
            node.apply({"routes": {"config": [dict(route, state="absent")]}})


def test_bogus_name_servers_are_rolled_back(api, operator_process, cleanup, probe_nodes, baseline):
    state = {"dns-resolver": {"config": {"server": ["10.231.76.53"], "search": ["lab.nodenet"]}}}
    rolled_back_by(api, operator_process, cleanup, "e2e-bad-dns", probe_nodes, state, "dns")
    for node in probe_nodes:
        before = baseline[node.name][1]
        assert settle_view(resolver_view, node, before) == before, node.mode


def test_a_route_that_cuts_the_api_server_but_not_the_controller_is_rolled_back(
    api, operator_process, cleanup, probe_nodes, baseline
):
    route = {
        "destination": f"{API_ADDRESS}/32",
        "next-hop-address": DEAD_HOP,
        "next-hop-interface": "mgmt0",
    }
    state = {"routes": {"config": [route]}}
    rolled_back_by(api, operator_process, cleanup, "e2e-no-api", probe_nodes, state, "api-server")
    for node in probe_nodes:
        before = baseline[node.name][0]
        assert settle_view(routing_view, node, before) == before, node.mode
        assert node.run("true").returncode == 0, "the controller kept reaching the node"


def test_a_skipped_probe_is_not_run_and_the_enactment_warns(
    api, operator_process, cleanup, probe_nodes, baseline
):
    """The e2e operator lets policies skip dns (--skippable-probes dns): the same bogus name
    servers are then kept, and each enactment says the probe was skipped."""
    node = probe_nodes[-1]
    state = {"dns-resolver": {"config": {"server": ["10.231.76.53"], "search": ["lab.nodenet"]}}}
    try:
        start_policy(api, cleanup, "e2e-skip-dns", [node], state, probes={"skip": ["dns"]})
        policy = wait_settled(api, "e2e-skip-dns", operator_process)
        available = condition(enactments(api, "e2e-skip-dns")[node.name], "Available")
        assert available.get("status") == "True", policy["status"]
        assert "warning: the policy skips the dns probe" in available["message"]
        assert "nameserver 10.231.76.53" in settle_view(
            resolver_view, node, ["nameserver 10.231.76.53", "search lab.nodenet"]
        )
    finally:
        node.apply(LAB_DNS)


def test_a_policy_may_not_skip_what_the_operator_forbids(api, operator_process, cleanup, lab):
    node = lab.nodes[0]
    state = {"routes": {"config": [{"destination": "0.0.0.0/0", "state": "absent"}]}}
    key = start_policy(
        api, cleanup, "e2e-skip-gw", [node], state, probes={"skip": ["default-gateway"]}
    )
    policy = wait_settled(api, "e2e-skip-gw", operator_process)
    degraded = condition(policy, "Degraded")
    assert degraded["reason"] == "InvalidPolicy", policy["status"]
    assert "does not let policies skip the default-gateway probe" in degraded["message"]
    assert enactments(api, "e2e-skip-gw") == {}, "nothing ran"
    assert "default via" in node.run("ip -4 route show table main").stdout
    assert key
