"""Node reboots: a kernel-only node comes back empty and gets its policies again, in name
order, with no user action; a NetworkManager node comes back with its profiles and is only
checked. Outcomes come from the enactments and the operator's run records."""

from __future__ import annotations

import time

import pytest
from e2e_support import (
    ROLLOUT_TIMEOUT,
    bridge,
    condition,
    enactments,
    events_about,
    start_policy,
    wait_for,
    wait_settled,
)
from nmstate_operator import journal

BRIDGE = "brfault"
FIRST, SECOND = "fault-a-bridge", "fault-b-address"  # name order is apply order
ADDRESS = "10.231.91.1"
WITH_ADDRESS = {
    "interfaces": [
        {
            "name": BRIDGE,
            "type": "linux-bridge",
            "state": "up",
            "ipv4": {"enabled": True, "address": [{"ip": ADDRESS, "prefix-length": 24}]},
        }
    ]
}


@pytest.fixture(scope="module")
def reboot_nodes(lab):
    kernel = next(n for n in lab.nodes if not n.network_manager)
    managed = next((n for n in lab.nodes if n.network_manager), None)
    return [kernel] + ([managed] if managed else [])


def settled_on(api, policy, node, boot):
    enactment = enactments(api, policy).get(node)
    status = (enactment or {}).get("status") or {}
    return (
        condition(enactment, "Available").get("status") == "True" and status.get("bootID") == boot
    )


def test_rebooted_nodes_get_their_policies_back_in_order(
    api, operator_process, cleanup, faults, fault_log, reboot_nodes
):
    for name, state in ((FIRST, bridge(BRIDGE)), (SECOND, WITH_ADDRESS)):
        start_policy(api, cleanup, name, reboot_nodes, state, [BRIDGE], max_unavailable="100%")
        fault_log.max_unavailable[name] = len(reboot_nodes)
    for name in (FIRST, SECOND):
        policy = wait_settled(api, name, operator_process)
        assert condition(policy, "Available")["status"] == "True", policy["status"]
    kernel = reboot_nodes[0]
    assert ADDRESS in kernel.run(f"ip -br addr show {BRIDGE}").stdout

    rebooted_at = time.time()
    boots = {node.name: faults.reboot(node) for node in reboot_nodes}

    for name in (FIRST, SECOND):
        for node in reboot_nodes:
            wait_for(
                lambda n=node, p=name: settled_on(api, p, n.name, boots[n.name]),
                ROLLOUT_TIMEOUT,
                f"{name} settled on {node.name}'s new boot",
                operator_process,
            )
        fault_log.converged[name] = True
    assert ADDRESS in kernel.run(f"ip -br addr show {BRIDGE}").stdout, "back with no user action"

    # The kernel-only node came back empty (checked, then configured again, in name order);
    # the NetworkManager node came back with its profiles (checked only).
    runs = runs_after(operator_process.runner_dir, rebooted_at)
    applied = [
        (r["policy"], r["event"])
        for r in runs
        if kernel.name in r["nodes"] and r["kind"] == "apply"
    ]
    assert applied == [(FIRST, "start"), (FIRST, "end"), (SECOND, "start"), (SECOND, "end")], (
        applied
    )
    for managed in reboot_nodes[1:]:
        kinds = {(r["policy"], r["kind"]) for r in runs if managed.name in r["nodes"]}
        assert kinds == {(FIRST, "verify"), (SECOND, "verify")}, "NetworkManager kept it all"
        assert BRIDGE in managed.run("ip -br link").stdout
    for node in reboot_nodes:
        name = enactments(api, FIRST)[node.name]["metadata"]["name"]
        reasons = {
            reason for _, reason, _ in events_about(api, "NodeNetworkConfigurationEnactment", name)
        }
        assert "NodeRebooted" in reasons, (node.name, reasons)


def runs_after(runner_dir, moment: float) -> list[dict]:
    """The operator's apply and verify run records after `moment`, each end with its start's
    policy, kind and nodes."""
    records = [r for r in journal.read(runner_dir) if r["time"] >= moment]
    starts = {r["run"]: r for r in records if r["event"] == "start"}
    runs = []
    for record in records:
        start = starts.get(record["run"])
        if start and start.get("kind") in ("apply", "verify"):
            runs.append(
                dict(record, policy=start.get("policy"), kind=start["kind"], nodes=start["nodes"])
            )
    return runs
