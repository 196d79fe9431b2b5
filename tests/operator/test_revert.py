"""Revert on delete: the revert state kept at apply time, the finalizer, and the reverts."""

from __future__ import annotations

import datetime

import pytest
from fakes import STATE, Config, FakeApi, FakeRuns, node
from nmstate_operator import locks, playbooks
from nmstate_operator.nncp import revert, signing, step
from nmstate_operator.playbooks import Playbooks
from nmstate_operator.runs import HostOutcome
from nmstate_operator.status import stamp, utcnow

REVERT = {"interfaces": [{"name": "br1", "type": "linux-bridge", "state": "absent"}]}


class RevertConfig(Config):
    revert_timeout = 600


@pytest.fixture
def cluster(monkeypatch):
    api = FakeApi(max_unavailable=1)
    api.policy["spec"]["revertOnDelete"] = True
    runs = FakeRuns()
    facts = {"applied": True, "revert_state": REVERT}
    scripted = {}

    def host(name):
        outcome = scripted.get(name, "applied")
        if outcome == "applied":
            return HostOutcome(facts={"nmstate_apply_result": facts})
        return FakeRuns(scripted).host(name)

    runs.host = host
    monkeypatch.setattr(playbooks, "run_playbook", runs)
    ctx = step.Context(RevertConfig(), api, Playbooks(RevertConfig()))
    nodes = {name: node(name) for name in ("n1", "n2")}

    def settle(limit=30):
        for _ in range(limit):
            if step.step(ctx, "p", nodes) is None:
                return
        raise AssertionError("never went idle")

    settle.ctx = ctx
    return api, runs, settle, scripted


def delete(api, seconds_ago=0):
    moment = utcnow() - datetime.timedelta(seconds=seconds_ago)
    api.policy["metadata"]["deletionTimestamp"] = stamp(moment)


def test_the_policy_carries_the_finalizer_and_each_enactment_its_revert_state(cluster):
    api, _runs, settle, _ = cluster
    settle()
    assert api.policy["metadata"]["finalizers"] == [revert.REVERT_FINALIZER]
    assert api.enactments["n1.p"]["status"]["revertState"] == REVERT
    api.policy["spec"]["revertOnDelete"] = False
    api.policy["metadata"]["generation"] = 2
    settle()
    assert api.policy["metadata"]["finalizers"] == []


def test_deleting_reverts_node_by_node_then_lets_the_policy_go(cluster):
    api, runs, settle, _ = cluster
    settle()
    delete(api)
    settle()
    reverts = [(limit, record) for _, limit, record in runs.runs if record.get("kind") == "revert"]
    assert [limit for limit, _ in reverts] == [["n1"], ["n2"]], "maxUnavailable 1: one at a time"
    assert runs.host_data[-1] == {"n2": {"nmstate_desired_state": REVERT}}, "its own state"
    assert runs.data[-1] == {}
    assert api.policy is None and api.enactments == {}, "finalizer gone: the policy is deleted"
    assert ("n1.p", "Reverted", "Normal") in api.events
    assert ("p", "RevertFinished", "Normal") in api.events


def test_each_reverted_node_goes_to_the_nns_writer_once_free(cluster):
    api, _runs, settle, _ = cluster
    settle()
    given = []

    def applied(reports):
        with locks.holding(list(reports)) as free:
            given.append((reports, free))

    settle.ctx.applied = applied
    delete(api)
    settle()
    assert given == [({"n1": None}, ["n1"]), ({"n2": None}, ["n2"])]


def test_a_revert_the_node_rolls_back_is_reported_and_does_not_block_the_deletion(cluster):
    api, _runs, settle, scripted = cluster
    settle()
    scripted["n2"] = "rolled back: probe controller failed"
    delete(api)
    settle()
    assert api.policy is None
    assert ("n2.p", "RevertFailed", "Warning") in api.events
    assert ("p", "RevertFinished", "Warning") in api.events
    assert any("1 reverted, 1 failed" in m for m in api.messages)


def test_an_unreachable_node_is_retried_then_given_up_at_the_revert_timeout(cluster):
    api, _runs, settle, scripted = cluster
    settle()
    scripted["n1"] = "unreachable"
    delete(api)
    assert step.step(cluster_ctx(api), "p", {"n1": node("n1"), "n2": node("n2")}) == 0
    status = api.enactments["n1.p"]["status"]["revert"]
    assert status["phase"] == "Pending" and status["retryCount"] == 1
    delete(api, seconds_ago=601)
    settle()
    assert api.policy is None
    assert ("n1.p", "RevertAbandoned", "Warning") in api.events


def cluster_ctx(api):
    return step.Context(RevertConfig(), api, Playbooks(RevertConfig()))


def test_the_skip_annotation_lets_the_policy_go_without_reverting(cluster):
    api, runs, settle, _ = cluster
    settle()
    applies = len(runs.runs)
    api.policy["metadata"]["annotations"] = {revert.SKIP_ANNOTATION: "true"}
    delete(api)
    settle()
    assert api.policy is None and len(runs.runs) == applies


def test_what_another_policy_still_sets_is_left_to_it():
    stored = {
        "interfaces": [
            {"name": "br1", "state": "absent"},
            {"name": "eth1", "type": "ethernet", "mtu": 1500},
        ],
        "routes": {"config": [{"destination": "198.51.100.0/24", "state": "absent"}]},
        "dns-resolver": {"config": {"server": ["10.0.0.53"]}},
    }
    other = {
        "spec": {
            "desiredState": {
                "interfaces": [{"name": "eth1", "mtu": 9000}],
                "dns-resolver": {"config": {"server": ["10.0.0.54"]}},
            }
        }
    }
    state, left = revert.left_to_others(stored, {"q": other})
    assert state["interfaces"] == [{"name": "br1", "state": "absent"}]
    assert "dns-resolver" not in state and state["routes"] == stored["routes"]
    assert left == ["interfaces[eth1] (policy q)", "dns-resolver (policy q)"]


def test_the_revert_state_leads_back_to_before_the_first_apply():
    first = {"interfaces": [{"name": "br1", "state": "absent"}], "routes": {"config": []}}
    second = {
        "interfaces": [{"name": "br1", "type": "linux-bridge", "mtu": 1500}, {"name": "br2"}],
        "routes": {"config": [{"destination": "x"}]},
    }
    merged = revert.merged_revert_state(first, second)
    assert merged["interfaces"] == [{"name": "br1", "state": "absent"}, {"name": "br2"}]
    assert merged["routes"] == {"config": []}
    assert revert.merged_revert_state(None, STATE) == STATE


def test_a_revert_state_changed_outside_the_operator_is_not_applied(cluster):
    api, runs, settle, _ = cluster
    settle()
    planted = {"interfaces": [{"name": "mgmt0", "type": "ethernet", "state": "absent"}]}
    api.enactments["n1.p"]["status"]["revertState"] = planted
    delete(api)
    settle()
    reverts = [limit for _, limit, record in runs.runs if record.get("kind") == "revert"]
    assert reverts == [["n2"]], "n1's planted state never reached a run"
    assert ("n1.p", "RevertStateAltered", "Warning") in api.events
    assert ("n2.p", "Reverted", "Normal") in api.events
    assert api.policy is None, "the deletion is not held up"


def test_a_stored_revert_state_the_operator_did_not_sign_is_not_built_on(cluster):
    api, _runs, settle, _ = cluster
    settle()
    api.enactments["n1.p"]["status"]["revertStateSignature"] = "0" * 64
    api.policy["spec"]["desiredState"] = {"interfaces": [{"name": "br9", "type": "linux-bridge"}]}
    api.policy["metadata"]["generation"] = 2
    settle()
    assert ("n1.p", "RevertStateAltered", "Warning") in api.events
    status = api.enactments["n1.p"]["status"]
    assert status["revertState"] == REVERT, "only what this apply changed"
    uid, name = api.policy["metadata"]["uid"], "n1.p"
    key = signing.signing_key(RevertConfig.ssh_private_key)
    assert signing.verified(key, name, uid, status["revertState"], status["revertStateSignature"])
    assert not signing.verified(
        key, "n2.p", uid, status["revertState"], status["revertStateSignature"]
    )
