"""Rollout decisions: selectors, maxUnavailable, batches, aborts, retries, and the wording."""

import datetime

import pytest
from fakes import node
from nmstate_operator import journal, outcomes
from nmstate_operator.nncp import plan as policies
from nmstate_operator.status import enactment_conditions

NOW = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=datetime.UTC)
NODES = [f"node{i:02d}" for i in range(1, 7)]


def enactment(true_type=None, generation=1, reason="", **status):
    conditions = enactment_conditions(true_type, reason, "", []) if true_type else []
    return {"status": dict(status, policyGeneration=generation, conditions=conditions)}


def test_a_selector_matches_on_every_label_with_equal_values():
    labelled = node("n1", labels={"a": "1", "b": "2"})
    assert labelled.selected_by({"a": "1"}) and labelled.selected_by(None)
    assert not labelled.selected_by({"a": "1", "b": "3"})
    assert not labelled.selected_by({"c": "1"})
    assert node("n2").selected_by({})


@pytest.mark.parametrize(
    ("value", "matching", "expected"),
    [
        (None, 3, 2),
        ("50%", 100, 50),
        ("50%", 1, 1),
        ("1%", 3, 1),
        ("100%", 7, 7),
        (2, 10, 2),
        ("34%", 3, 2),
    ],
)
def test_max_unavailable_scales_percentages_rounding_up_and_is_at_least_one(
    value, matching, expected
):
    assert policies.max_unavailable(value, matching) == expected


def test_the_first_batch_fills_max_unavailable_in_name_order():
    plan = policies.plan(NODES, {}, 1, 2, NOW)
    assert plan.batch == ["node01", "node02"] and not plan.abort and not plan.verify


def test_done_nodes_are_skipped_and_failures_take_slots():
    enactments = {"node01": enactment("Available"), "node02": enactment("Failing")}
    plan = policies.plan(NODES, enactments, 1, 2, NOW)
    assert plan.batch == ["node03"]


def test_a_new_generation_makes_every_node_pending_again():
    enactments = {n: enactment("Available", generation=1) for n in NODES}
    plan = policies.plan(NODES, enactments, 2, "100%", NOW)
    assert plan.batch == NODES


def test_failures_reaching_max_unavailable_abort_the_pending_nodes():
    enactments = {"node01": enactment("Failing"), "node02": enactment("Failing")}
    plan = policies.plan(NODES, enactments, 1, 2, NOW)
    assert plan.abort == ["node03", "node04", "node05", "node06"] and not plan.batch


def test_runs_cut_off_by_a_restart_are_verified_before_anything_else():
    enactments = {"node02": enactment("Progressing"), "node01": enactment("Available")}
    plan = policies.plan(NODES, enactments, 1, 1, NOW)
    assert plan.verify == ["node02"] and not plan.batch


def test_a_retry_waits_for_its_backoff_and_holds_its_slot_meanwhile():
    later = (NOW + datetime.timedelta(seconds=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
    enactments = {
        "node01": enactment("Pending", reason="Retrying", retryCount=1, nextRetryTime=later)
    }
    plan = policies.plan(NODES[:2], enactments, 1, 1, NOW)
    assert plan.batch == [] and plan.wait_seconds == pytest.approx(8)
    plan = policies.plan(NODES[:2], enactments, 1, 1, NOW + datetime.timedelta(seconds=9))
    assert plan.batch == ["node01"]


def test_backoff_doubles_up_to_its_ceiling():
    assert [outcomes.backoff_seconds(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert outcomes.backoff_seconds(10) == outcomes.MAX_BACKOFF_SECONDS


def summary(phases, not_ready=0):
    return policies.policy_summary(phases, not_ready)


def test_policy_wording_follows_kubernetes_nmstate():
    assert summary({})["message"] == "Policy does not match any node"
    assert summary({})["reason"] == "NoMatchingNode"
    done = summary({"a": policies.AVAILABLE, "b": policies.AVAILABLE})
    assert (done["Available"], done["message"]) == ("True", "2/2 nodes successfully configured")
    going = summary({"a": policies.AVAILABLE, "b": policies.PROGRESSING, "c": policies.PENDING})
    assert going["Progressing"] == "True"
    assert going["message"] == "Policy is progressing 1/3 nodes finished, 1 pending"
    bad = summary({"a": policies.FAILED, "b": policies.ABORTED, "c": policies.AVAILABLE}, 1)
    assert (bad["Degraded"], bad["Available"]) == ("True", "False")
    assert bad["message"] == (
        "1/3 nodes failed to configure, 1 nodes aborted configuration, "
        "1 nodes ignored due to NotReady state"
    )


def test_enactment_conditions_have_exactly_one_true():
    conditions = enactment_conditions("Failing", "FailedToConfigure", "boom", [])
    assert [c["type"] for c in conditions if c["status"] == "True"] == ["Failing"]
    assert next(c for c in conditions if c["type"] == "Failing")["message"] == "boom"


def test_replaying_run_records_counts_nodes_in_flight_and_keeps_killed_runs_open():
    records = [
        {"event": "start", "run": "a", "kind": "apply", "nodes": ["n1"]},
        {"event": "end", "run": "a", "kind": "apply", "nodes": ["n1"]},
        {"event": "start", "run": "b", "kind": "apply", "nodes": ["n2"]},  # killed: no end
        {"event": "start", "run": "c", "kind": "verify", "nodes": ["n2"]},
        {"event": "end", "run": "c", "kind": "verify", "nodes": ["n2"]},
        {"event": "start", "run": "d", "kind": "apply", "nodes": ["n3"]},
        {"event": "end", "run": "d", "kind": "apply", "nodes": ["n3"]},
    ]
    assert journal.peak_in_flight(records, ("apply", "verify")) == 1
    overlapping = [*records[:3], {"event": "start", "run": "e", "kind": "apply", "nodes": ["n3"]}]
    assert journal.peak_in_flight(overlapping, ("apply", "verify")) == 2
