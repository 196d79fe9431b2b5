"""Beyond kubernetes-nmstate: dry runs, conflicts between policies, and their declared order."""

from __future__ import annotations

import time

from e2e_support import (
    NNCP,
    bridge,
    condition,
    create_policy,
    enactments,
    events_about,
    has_link,
    label,
    read_policy,
    start_policy,
    wait_degraded_by,
    wait_for,
    wait_settled,
)
from kubernetes import client
from nmstate_operator import journal

KERNEL_VIEW = "ip -br link; ip -br addr; ip route show table all"


def true_condition(obj):
    return next(c for c in obj["status"]["conditions"] if c["status"] == "True")


def addressed_bridge(name, ip, mtu=None):
    state = bridge(name)
    iface = state["interfaces"][0]
    iface["ipv4"] = {"enabled": True, "dhcp": False, "address": [{"ip": ip, "prefix-length": 24}]}
    if mtu is not None:
        iface["mtu"] = mtu
    return state


def patch_spec(api, name, spec):
    client.CustomObjectsApi(api).patch_cluster_custom_object(*NNCP, name, {"spec": spec})


def run_starts(operator_process, policy):
    return [
        r
        for r in journal.read(operator_process.runner_dir)
        if r.get("policy") == policy and r["event"] == "start"
    ]


def test_a_dry_run_shows_the_diff_on_three_nodes_changes_nothing_then_applies_that_state(
    lab, api, operator_process, cleanup
):
    three = lab.nodes[:3]
    before = {n.name: n.run(KERNEL_VIEW).stdout for n in three}
    state = addressed_bridge("brdry", "192.0.2.41")
    start_policy(api, cleanup, "e2e-dry", three, state, bridges=["brdry"], dryRun=True)

    policy = wait_settled(api, "e2e-dry", operator_process)
    assert condition(policy, "Available")["reason"] == "DryRunSucceeded"
    assert condition(policy, "Available")["message"] == "3/3 nodes passed the dry run"
    found = enactments(api, "e2e-dry")
    for node in three:
        status = found[node.name]["status"]
        assert true_condition(found[node.name])["reason"] == "DryRunSucceeded", status
        dry = status["dryRun"]
        assert dry["accepted"] is True and dry["wouldChange"] is True and dry["generation"] == 1
        assert dry["validatedByNmstate"] is True, "nmstatectl validate took part"
        assert "brdry" not in dry["diff"]["before"]
        assert "brdry" in dry["diff"]["after"] and "192.0.2.41" in dry["diff"]["after"]
    # Nothing changed: the kernel's own view of every node is as it was.
    assert {n.name: n.run(KERNEL_VIEW).stdout for n in three} == before
    assert not any(has_link(n, "brdry") for n in three)
    assert [r["kind"] for r in run_starts(operator_process, "e2e-dry")] == ["dry-run"]

    patch_spec(api, "e2e-dry", {"dryRun": False})
    policy = wait_for(
        lambda: (
            (p := wait_settled(api, "e2e-dry", operator_process))["metadata"]["generation"] == 2
            and p
        ),
        120,
        "the policy to settle after its dry run is turned off",
        operator_process,
    )
    assert condition(policy, "Available")["message"] == "3/3 nodes successfully configured"
    assert policy["status"]["enactmentCounts"] == {"available": 3}
    for node in three:
        assert "192.0.2.41/24" in node.run("ip -br addr show brdry").stdout
        status = enactments(api, "e2e-dry")[node.name]["status"]
        assert status["desiredState"] == state
        # The policy's report on each node: generation, time taken, probes, retries.
        last = status["lastRun"]
        assert last["generation"] == 2 and last["retries"] == 0
        assert 0 < last["nodeSeconds"] <= last["runSeconds"], last
        assert "controller" in last["probes"], last


def test_a_dry_run_says_where_the_state_would_fail(lab, api, operator_process, cleanup):
    kernel = next(n for n in lab.nodes if not n.network_manager)
    before = kernel.run(KERNEL_VIEW).stdout
    # 802.1x needs NetworkManager; this node runs nmstate kernel-only.
    state = {
        "interfaces": [
            {
                "name": "eth2",
                "type": "ethernet",
                "802.1x": {"identity": "x", "eap-methods": ["peap"], "password": "p"},
            }
        ]
    }
    start_policy(api, cleanup, "e2e-dry-fail", [kernel], state, dryRun=True)
    policy = wait_settled(api, "e2e-dry-fail", operator_process)
    enactment = enactments(api, "e2e-dry-fail")[kernel.name]
    assert condition(policy, "Degraded")["reason"] == "DryRunFailed", policy["status"]
    failing = true_condition(enactment)
    assert (failing["type"], failing["reason"]) == ("Failing", "DryRunFailed")
    assert "802.1x" in failing["message"]
    assert enactment["status"]["dryRun"]["accepted"] is False
    reasons = [
        r
        for _, r, _ in events_about(
            api, "NodeNetworkConfigurationEnactment", enactment["metadata"]["name"]
        )
    ]
    assert "DryRunFailed" in reasons
    assert kernel.run(KERNEL_VIEW).stdout == before


def test_conflicting_policies_name_each_other_and_leave_the_node_untouched_until_ordered(
    lab, api, operator_process, cleanup
):
    node = lab.nodes[1]
    before = node.run(KERNEL_VIEW).stdout
    key = "e2e.nodenet.io/e2e-conflict"
    cleanup["policies"] += ["e2e-conflict-a", "e2e-conflict-b"]
    cleanup["bridges"].append("brcf")
    # Both select a label no node has yet: the node matches both at the same moment.
    create_policy(api, "e2e-conflict-a", {key: "yes"}, addressed_bridge("brcf", "192.0.2.51"))
    create_policy(api, "e2e-conflict-b", {key: "yes"}, addressed_bridge("brcf", "192.0.2.52"))
    label(api, cleanup, [node], key)

    for name, other in (("e2e-conflict-a", "e2e-conflict-b"), ("e2e-conflict-b", "e2e-conflict-a")):
        wait_degraded_by(api, name, "ConflictingPolicies", operator_process)
        enactment = enactments(api, name)[node.name]
        held = true_condition(enactment)
        assert (held["type"], held["reason"]) == ("Conflicting", "ConflictingPolicies")
        assert f"policy {other} sets interfaces[brcf].ipv4.address differently" in held["message"]
        assert enactment["status"]["conflicts"] == [
            {"policy": other, "fields": ["interfaces[brcf].ipv4.address"], "kind": "conflict"}
        ]
    assert node.run(KERNEL_VIEW).stdout == before and not has_link(node, "brcf")
    assert run_starts(operator_process, "e2e-conflict-a") == []
    assert run_starts(operator_process, "e2e-conflict-b") == []

    # Declaring b after a ends the conflict: a is applied, then b over it.
    patch_spec(api, "e2e-conflict-b", {"after": ["e2e-conflict-a"]})
    wait_for(
        lambda: all(
            condition(enactments(api, n).get(node.name), "Available").get("status") == "True"
            for n in ("e2e-conflict-a", "e2e-conflict-b")
        ),
        180,
        "both policies to be applied in order",
        operator_process,
    )
    first = run_starts(operator_process, "e2e-conflict-a")
    second = run_starts(operator_process, "e2e-conflict-b")
    assert len(first) == 1 and len(second) == 1
    assert first[0]["time"] < second[0]["time"], (first, second)
    b = enactments(api, "e2e-conflict-b")[node.name]
    assert (
        "overrides interfaces[brcf].ipv4.address of policy e2e-conflict-a"
        in (true_condition(b)["message"])
    )
    assert "e2e-conflict-b is declared after e2e-conflict-a" in true_condition(b)["message"]
    addresses = node.run("ip -br addr show brcf").stdout
    assert "192.0.2.52/24" in addresses and "192.0.2.51" not in addresses


def test_a_policy_created_just_after_a_conflicting_one_keeps_both_off_the_node(
    lab, api, operator_process, cleanup
):
    """The node already matches: the first policy's step starts as soon as it is created, and
    the second comes 0.1 s later, as from a GitOps sync (kubectl apply -f DIR: a few ms). The
    first batch waits for the settle time, so neither is applied there."""
    node = lab.nodes[2]
    before = node.run(KERNEL_VIEW).stdout
    key = start_policy(
        api, cleanup, "e2e-settle-a", [node], addressed_bridge("brst", "192.0.2.61"), ["brst"]
    )
    time.sleep(0.1)  # the gap between two objects of one sync, not a wait for a condition
    cleanup["policies"].append("e2e-settle-b")
    create_policy(api, "e2e-settle-b", {key: "yes"}, addressed_bridge("brst", "192.0.2.62"))
    wait_degraded_by(api, "e2e-settle-b", "ConflictingPolicies", operator_process)
    first = wait_settled(api, "e2e-settle-a", operator_process)
    assert condition(first, "Degraded").get("reason") == "ConflictingPolicies", first["status"]
    assert run_starts(operator_process, "e2e-settle-a") == []
    assert run_starts(operator_process, "e2e-settle-b") == []
    assert node.run(KERNEL_VIEW).stdout == before and not has_link(node, "brst")


def test_an_ordered_pair_is_applied_in_order_whichever_is_created_first(
    lab, api, operator_process, cleanup
):
    nodes = lab.nodes[2:4]
    key = start_policy(
        api,
        cleanup,
        "e2e-order-second",
        nodes,
        bridge("brsecond"),
        bridges=["brsecond", "brfirst"],
        after=["e2e-order-first"],
    )
    wait_for(
        lambda: (
            all(
                true_condition(e)["reason"] == "WaitingForEarlierPolicy"
                for e in enactments(api, "e2e-order-second").values()
                if e.get("status")
            )
            and len(enactments(api, "e2e-order-second")) == 2
        ),
        60,
        "the second policy to wait for the first on both nodes",
        operator_process,
    )
    # It waits for a policy that does not exist yet: "after" names one before it is created.
    assert not any(has_link(n, "brsecond") for n in nodes)
    cleanup["policies"].append("e2e-order-first")
    create_policy(api, "e2e-order-first", {key: "yes"}, bridge("brfirst"), maxUnavailable=1)
    for name in ("e2e-order-first", "e2e-order-second"):
        policy = wait_for(
            lambda name=name: (
                (p := read_policy(api, name))
                and condition(p, "Available").get("reason") == "SuccessfullyConfigured"
                and p
            ),
            180,
            f"policy {name} to be applied",
            operator_process,
        )
        assert condition(policy, "Available")["message"] == "2/2 nodes successfully configured"
    first_done = {
        n: condition(e, "Available")["lastTransitionTime"]
        for n, e in enactments(api, "e2e-order-first").items()
    }
    for node, enactment in enactments(api, "e2e-order-second").items():
        started = [
            r for r in run_starts(operator_process, "e2e-order-second") if node in r["nodes"]
        ]
        assert started, node
        assert condition(enactment, "Available")["lastTransitionTime"] >= first_done[node]
    assert all(has_link(n, "brfirst") and has_link(n, "brsecond") for n in nodes)
