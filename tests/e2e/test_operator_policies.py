"""NodeNetworkConfigurationPolicies through the operator: selectors, batches, failures, probes."""

from __future__ import annotations

import json

from e2e_support import (
    NNCP,
    ROLLOUT_TIMEOUT,
    bridge,
    condition,
    enactments,
    events_about,
    has_link,
    kubectl_wait_available,
    label,
    read_nns,
    read_policy,
    start_policy,
    wait_for,
    wait_settled,
)
from kubernetes import client
from nmstate_operator import journal


def test_a_policy_configures_the_selected_nodes_and_a_node_labelled_later(
    lab, api, operator_process, cleanup
):
    three = lab.nodes[:3]
    key = start_policy(api, cleanup, "e2e-select", three[:2], bridge("brsel"), bridges=["brsel"])

    waited = kubectl_wait_available(lab, "e2e-select", ROLLOUT_TIMEOUT)
    assert waited.returncode == 0, waited.stderr + operator_process.log_tail()
    policy = read_policy(api, "e2e-select")
    assert condition(policy, "Available")["message"] == "2/2 nodes successfully configured"
    assert condition(policy, "Available")["reason"] == "SuccessfullyConfigured"
    assert condition(policy, "Degraded")["status"] == "False"
    found = enactments(api, "e2e-select")
    assert sorted(found) == sorted(n.name for n in three[:2])
    for node, enactment in found.items():
        assert enactment["metadata"]["name"] == f"{node}.e2e-select"
        assert condition(enactment, "Available")["status"] == "True", enactment["status"]
        assert enactment["status"]["desiredState"] == bridge("brsel")
    assert [has_link(n, "brsel") for n in three] == [True, True, False]
    # The NNS shows the change as soon as the policy does: the policy's status is written after
    # each batch's NNS, from the report the apply's answer carried.
    assert [shows_interface(api, n.name, "brsel") for n in three] == [True, True, False]

    label(api, cleanup, three[2:], key)
    wait_for(
        lambda: (
            condition(enactments(api, "e2e-select").get(three[2].name), "Available").get("status")
            == "True"
        ),
        ROLLOUT_TIMEOUT,
        "the node labelled later to be configured",
        operator_process,
    )
    assert has_link(three[2], "brsel")
    policy = wait_settled(api, "e2e-select", operator_process, timeout=60)
    assert condition(policy, "Available")["message"] == "3/3 nodes successfully configured"
    # One run per batch: the two first nodes (50% of 2 = 1 at once) and then the third.
    records = [
        r
        for r in journal.read(operator_process.runner_dir)
        if r.get("policy") == "e2e-select" and r["event"] == "start"
    ]
    assert [r["nodes"] for r in records] == [[three[0].name], [three[1].name], [three[2].name]]

    assert all(shows_interface(api, n.name, "brsel") for n in three)
    # ... with no report run of its own after the apply.
    runs = journal.read(operator_process.runner_dir)
    first_apply = min(r["time"] for r in records)
    batches = [r["nodes"] for r in records]
    alone = [
        r
        for r in runs
        if r["kind"] == "report" and r["event"] == "start" and r["time"] > first_apply
    ]
    assert not [r for r in alone if r["nodes"] in batches], alone


def shows_interface(api, node, name):
    state = ((read_nns(api, node) or {}).get("status") or {}).get("currentState") or {}
    return any(i.get("name") == name for i in state.get("interfaces") or [])


def test_an_invalid_state_fails_the_enactment_and_degrades_the_policy(
    lab, api, operator_process, cleanup
):
    node = lab.nodes[1]
    before = node.run("ip -br link; ip -br addr").stdout
    state = bridge("brbad")
    state["interfaces"][0]["bridge"]["port"] = [{"name": "nosuch0"}]
    start_policy(api, cleanup, "e2e-invalid", [node], state)

    policy = wait_settled(api, "e2e-invalid", operator_process)
    assert condition(policy, "Degraded")["status"] == "True"
    assert condition(policy, "Degraded")["message"] == "1/1 nodes failed to configure"
    assert condition(policy, "Available")["status"] == "False"
    enactment = enactments(api, "e2e-invalid")[node.name]
    failing = condition(enactment, "Failing")
    assert failing["status"] == "True" and failing["reason"] == "FailedToConfigure"
    assert "nosuch0" in failing["message"], failing
    assert node.run("ip -br link; ip -br addr").stdout == before
    warnings = [
        m
        for kind, _, m in events_about(
            api, "NodeNetworkConfigurationEnactment", enactment["metadata"]["name"]
        )
        if kind == "Warning"
    ]
    assert any("nosuch0" in m for m in warnings), warnings
    assert any(
        kind == "Warning"
        for kind, _, _ in events_about(api, "NodeNetworkConfigurationPolicy", "e2e-invalid")
    )


def test_max_unavailable_one_configures_one_node_at_a_time(lab, api, operator_process, cleanup):
    three = lab.nodes[:3]
    start_policy(
        api, cleanup, "e2e-serial", three, bridge("brser"), bridges=["brser"], max_unavailable=1
    )

    waited = kubectl_wait_available(lab, "e2e-serial", ROLLOUT_TIMEOUT)
    assert waited.returncode == 0, waited.stderr + operator_process.log_tail()
    assert condition(read_policy(api, "e2e-serial"), "Available")["message"] == (
        "3/3 nodes successfully configured"
    )
    records = [
        r for r in journal.read(operator_process.runner_dir) if r.get("policy") == "e2e-serial"
    ]
    assert journal.peak_in_flight(records, ("apply", "verify")) == 1, json.dumps(records, indent=1)
    starts = [r for r in records if r["event"] == "start" and r["kind"] == "apply"]
    assert sorted(n for r in starts for n in r["nodes"]) == sorted(n.name for n in three)
    assert all(has_link(n, "brser") for n in three)


def test_capture_is_rendered_by_nmstate_on_each_node(lab, api, operator_process, cleanup):
    two = [lab.node("node01"), lab.node("node03")]  # libnmstate and nmstatectl, both modes
    state = bridge("brcap")
    state["interfaces"][0]["bridge"]["port"] = [
        {"name": "{{ capture.data-link.interfaces.0.name }}"}
    ]
    start_policy(
        api,
        cleanup,
        "e2e-capture",
        two,
        state,
        bridges=["brcap"],
        max_unavailable="100%",
        capture={"data-link": 'interfaces.name=="eth1"'},
    )

    waited = kubectl_wait_available(lab, "e2e-capture", ROLLOUT_TIMEOUT)
    assert waited.returncode == 0, waited.stderr + operator_process.log_tail()
    for node, enactment in enactments(api, "e2e-capture").items():
        rendered = enactment["status"]["desiredState"]["interfaces"][0]
        assert rendered["bridge"]["port"] == [{"name": "eth1"}], (node, rendered)
        # kubernetes-nmstate's capturedStates: each capture's result, with its time.
        captured = enactment["status"]["capturedStates"]["data-link"]
        assert [i["name"] for i in captured["state"]["interfaces"]] == ["eth1"], captured
        assert captured["metaInfo"]["time"], captured
        assert isinstance(enactment["status"]["features"], list)
    for node in two:
        assert "master brcap" in node.run("ip -o link show eth1").stdout


def test_editing_a_policy_mid_rollout_finishes_the_batch_then_rolls_out_the_new_generation(
    lab, api, operator_process, cleanup
):
    three = lab.nodes[:3]
    start_policy(
        api,
        cleanup,
        "e2e-edit",
        three,
        bridge("bredit1"),
        bridges=["bredit1", "bredit2"],
        max_unavailable=1,
    )

    def first_batch_started():
        return [
            r
            for r in journal.read(operator_process.runner_dir)
            if r.get("policy") == "e2e-edit" and r["event"] == "start"
        ]

    first = wait_for(first_batch_started, ROLLOUT_TIMEOUT, "the first batch", operator_process)[0]
    client.CustomObjectsApi(api).patch_cluster_custom_object(
        *NNCP, "e2e-edit", {"spec": {"desiredState": bridge("bredit2")}}
    )
    waited = kubectl_wait_available(lab, "e2e-edit", ROLLOUT_TIMEOUT)
    assert waited.returncode == 0, waited.stderr + operator_process.log_tail()
    policy = read_policy(api, "e2e-edit")
    assert policy["status"]["observedGeneration"] == 2
    assert condition(policy, "Available")["message"] == "3/3 nodes successfully configured"

    records = [
        r for r in journal.read(operator_process.runner_dir) if r.get("policy") == "e2e-edit"
    ]
    ends = {r["run"]: r for r in records if r["event"] == "end"}
    assert first["generation"] == 1 and ends[first["run"]]["status"] == "successful"
    starts = [r for r in records if r["event"] == "start"]
    generations = [r["generation"] for r in starts]
    # Batches decided before the edit ran with generation 1; once generation 2 started, only it ran.
    assert generations == sorted(generations) and generations[-1] == 2, generations
    newer = [r for r in starts if r["generation"] == 2]
    assert sorted(n for r in newer for n in r["nodes"]) == sorted(n.name for n in three)
    assert journal.peak_in_flight(records, ("apply", "verify")) == 1
    assert all(has_link(n, "bredit2") for n in three)
    assert has_link(lab.node(first["nodes"][0]), "bredit1"), "the batch under way finished"
