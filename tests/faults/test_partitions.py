"""Nodes drop off the network and come back: a partitioned node is retried and converges when
it heals while the others go on within maxUnavailable; a node out of reach for longer than the
retry budget fails with a clear message and is configured at its next Ready transition."""

from __future__ import annotations

from e2e_support import (
    ROLLOUT_TIMEOUT,
    bridge,
    condition,
    enactments,
    read_nns,
    start_policy,
    wait_for,
)
from kubernetes import client
from nmstate_operator import journal


def enactment_state(api, policy, node):
    enactment = enactments(api, policy).get(node.name)
    for kind in ("Available", "Failing", "Pending", "Progressing", "Aborted"):
        found = condition(enactment, kind)
        if found.get("status") == "True":
            return kind, found.get("reason"), found.get("message")
    return None, None, None


def node_ready(api, node) -> bool:
    status = client.CoreV1Api(api).read_node_status(node.name).status
    ready = next(c for c in status.conditions if c.type == "Ready")
    return ready.status == "True"


def nns_condition(api, node, kind) -> bool:
    return condition(read_nns(api, node.name), kind).get("status") == "True"


def test_a_partitioned_node_converges_when_it_heals_and_the_others_go_on(
    lab, api, operator_process, cleanup, faults, fault_log
):
    cut, *others = lab.nodes[:3]
    name = "fault-partition"
    faults.partition(cut)
    try:
        start_policy(
            api, cleanup, name, [cut, *others], bridge("brpart"), ["brpart"], max_unavailable=2
        )
        fault_log.max_unavailable[name] = 2
        for node in others:
            wait_for(
                lambda n=node: enactment_state(api, name, n)[0] == "Available",
                ROLLOUT_TIMEOUT,
                f"{node.name} configured while {cut.name} is cut off",
                operator_process,
            )
        wait_for(
            lambda: nns_condition(api, cut, "Failing"),
            90,
            f"{cut.name}'s NNS Failing",
            operator_process,
        )
        assert enactment_state(api, name, cut)[0] != "Available"
    finally:
        faults.heal(cut)
    wait_for(
        lambda: enactment_state(api, name, cut)[0] == "Available",
        ROLLOUT_TIMEOUT,
        f"{cut.name} configured after it healed",
        operator_process,
    )
    wait_for(
        lambda: nns_condition(api, cut, "Available"),
        90,
        f"{cut.name}'s NNS Available",
        operator_process,
    )
    fault_log.converged[name] = True
    records = journal.read(operator_process.runner_dir)
    assert journal.peak_in_flight(records, ("apply", "verify"), name) <= 2
    assert "brpart" in cut.run("ip -br link").stdout


def test_a_node_out_of_reach_past_the_retry_budget_fails_then_is_configured_when_ready_again(
    lab, api, operator_process, cleanup, faults, fault_log
):
    node = lab.nodes[3]
    name = "fault-budget"
    faults.sshd_stop(node)  # the node stays Ready: only the operator cannot get in
    try:
        start_policy(api, cleanup, name, [node], bridge("brbudget"), ["brbudget"])
        _, reason, message = wait_for(
            lambda: (state := enactment_state(api, name, node))[0] == "Failing" and state,
            ROLLOUT_TIMEOUT,
            "the retry budget to run out",
            operator_process,
        )
        assert reason == "NodeUnreachable", message
        assert "gave up after 3 retries" in message and "turns Ready again" in message
    finally:
        faults.sshd_start(node)
    # Back on the network, yet nothing happens before a Ready transition: make one.
    faults.partition(node)
    try:
        wait_for(lambda: not node_ready(api, node), 60, f"{node.name} NotReady", operator_process)
    finally:
        faults.heal(node)
    wait_for(
        lambda: enactment_state(api, name, node)[0] == "Available",
        ROLLOUT_TIMEOUT,
        f"{node.name} configured at its next Ready transition",
        operator_process,
    )
    fault_log.converged[name] = True
    assert "brbudget" in node.run("ip -br link").stdout
