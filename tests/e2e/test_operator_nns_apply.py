"""The seed's guide through the operator: patch a desired state onto a node's NNS."""

from __future__ import annotations

import json
import time
from pathlib import Path

from e2e_support import REPORT_INTERVAL, kubectl, patch_nns, read_nns, wait_for
from kubernetes import client

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def fresh_desired_state(lab, api, name, operator_process):
    """Clear what an earlier test left, so the next patch is a change (a new generation)."""
    nns = wait_for(lambda: read_nns(api, name), 60, "the NNS", operator_process)
    if not (nns.get("spec") or {}).get("desiredState"):
        return
    patch_nns(lab, name, '{"spec": {"desiredState": null}}')
    generation = read_nns(api, name)["metadata"]["generation"]
    wait_for(
        lambda: (
            ((read_nns(api, name).get("status") or {}).get("lastApply") or {}).get("generation")
            == generation
        ),
        60,
        "the operator to see the desired state cleared",
        operator_process,
    )


def condition(nns, kind):
    return next(
        (c for c in (nns.get("status") or {}).get("conditions", []) if c["type"] == kind), {}
    )


def settled(api, name, generation):
    nns = read_nns(api, name)
    last = (nns.get("status") or {}).get("lastApply") or {}
    return (
        nns
        if last.get("generation") == generation and last.get("result") in ("applied", "failed")
        else None
    )


def events_for(api, name):
    events = client.CoreV1Api(api).list_namespaced_event("default").items
    return [
        (e.type, e.reason, e.message)
        for e in events
        if e.involved_object.name == name and e.involved_object.kind == "NodeNetworkState"
    ]


def test_connect_a_linux_bridge_through_the_nns_and_remove_it(lab, api, operator_process):
    node = lab.nodes[0]
    others = [n for n in lab.nodes if n is not node]
    fresh_desired_state(lab, api, node.name, operator_process)
    patch_nns(lab, node.name, (EXAMPLES / "create-br1-linux-bridge.yaml").read_text())
    generation = read_nns(api, node.name)["metadata"]["generation"]
    nns = wait_for(
        lambda: settled(api, node.name, generation), 120, "the apply to finish", operator_process
    )
    assert nns["status"]["lastApply"]["result"] == "applied", nns["status"]
    assert condition(nns, "Available")["status"] == "True"
    assert condition(nns, "Available")["reason"] == "SuccessfullyConfigured"
    assert node.run("ip link show br1", check=False).returncode == 0
    assert all(n.run("ip link show br1", check=False).returncode != 0 for n in others), (
        "only that node"
    )
    reasons = [reason for _, reason, _ in events_for(api, node.name)]
    assert "ConfigurationProgressing" in reasons and "SuccessfullyConfigured" in reasons
    wait_for(
        lambda: (
            "br1"
            in [i["name"] for i in read_nns(api, node.name)["status"]["currentState"]["interfaces"]]
        ),
        30,
        "currentState to show br1",
        operator_process,
    )

    patch_nns(lab, node.name, (EXAMPLES / "delete-br1-linux-bridge.yaml").read_text())
    generation = read_nns(api, node.name)["metadata"]["generation"]
    nns = wait_for(
        lambda: settled(api, node.name, generation), 120, "the removal", operator_process
    )
    assert nns["status"]["lastApply"]["result"] == "applied"
    assert node.run("ip link show br1", check=False).returncode != 0


def test_an_invalid_state_fails_with_nmstates_message_and_leaves_the_node_alone(
    lab, api, operator_process
):
    node = lab.nodes[1]
    fresh_desired_state(lab, api, node.name, operator_process)
    before = node.run("ip -br link; ip -br addr").stdout
    bad = {
        "spec": {
            "desiredState": {
                "interfaces": [
                    {
                        "name": "br9",
                        "type": "linux-bridge",
                        "state": "up",
                        "bridge": {"port": [{"name": "nosuch0"}]},
                    }
                ]
            }
        }
    }
    patch_nns(lab, node.name, json.dumps(bad))
    generation = read_nns(api, node.name)["metadata"]["generation"]
    nns = wait_for(
        lambda: settled(api, node.name, generation), 120, "the apply to fail", operator_process
    )
    failing = condition(nns, "Failing")
    assert failing["status"] == "True" and failing["reason"] == "FailedToConfigure"
    assert "nosuch0" in failing["message"], failing
    assert condition(nns, "Available")["status"] == "False"
    assert node.run("ip -br link; ip -br addr").stdout == before
    warnings = [
        (reason, message)
        for kind, reason, message in events_for(api, node.name)
        if kind == "Warning"
    ]
    assert any("nosuch0" in message for _, message in warnings), warnings
    # Later report rounds must not hide the failure while the generation stands.
    time.sleep(2 * REPORT_INTERVAL + 5)
    assert condition(read_nns(api, node.name), "Failing")["status"] == "True"
    # Clearing the desired state with a harmless one brings it back.
    patch_nns(
        lab,
        node.name,
        (EXAMPLES / "delete-br1-linux-bridge.yaml").read_text().replace("br1", "br9"),
    )
    generation = read_nns(api, node.name)["metadata"]["generation"]
    nns = wait_for(
        lambda: settled(api, node.name, generation), 120, "the next apply", operator_process
    )
    assert condition(nns, "Available")["status"] == "True"


def test_the_dry_run_annotation_checks_the_nns_state_and_removing_it_applies_it(
    lab, api, operator_process
):
    node = lab.nodes[1]
    fresh_desired_state(lab, api, node.name, operator_process)
    before = node.run("ip -br link; ip -br addr").stdout
    kubectl(lab, "annotate", "nns", node.name, "nmstate.io/dry-run=true", "--overwrite")
    try:
        patch_nns(lab, node.name, (EXAMPLES / "create-br1-linux-bridge.yaml").read_text())
        generation = read_nns(api, node.name)["metadata"]["generation"]

        def dry_run_done():
            nns = read_nns(api, node.name)
            last = (nns.get("status") or {}).get("lastApply") or {}
            return (
                nns
                if last.get("generation") == generation and "dry-run" in last.get("result", "")
                else None
            )

        nns = wait_for(dry_run_done, 120, "the dry run", operator_process)
        last = nns["status"]["lastApply"]
        assert last["result"] == "dry-run", last
        assert condition(nns, "Available")["reason"] == "DryRunSucceeded"
        assert "10.231.78.101" in last["dryRun"]["diff"]["after"]
        assert node.run("ip -br link; ip -br addr").stdout == before, "nothing changed"

        kubectl(lab, "annotate", "nns", node.name, "nmstate.io/dry-run-")
        nns = wait_for(
            lambda: settled(api, node.name, generation), 120, "the apply", operator_process
        )
        assert nns["status"]["lastApply"]["result"] == "applied", nns["status"]
        assert node.run("ip link show br1", check=False).returncode == 0
    finally:
        kubectl(lab, "annotate", "nns", node.name, "nmstate.io/dry-run-", check=False)
        patch_nns(lab, node.name, (EXAMPLES / "delete-br1-linux-bridge.yaml").read_text())
        generation = read_nns(api, node.name)["metadata"]["generation"]
        wait_for(lambda: settled(api, node.name, generation), 120, "the removal", operator_process)
