"""A desired state patched onto an NNS: applied, retried like a policy's node, or failed."""

import pytest
from fakes import Config, FakeApi, FakeRuns, node
from nmstate_operator import playbooks
from nmstate_operator.nns import apply as nns_apply
from nmstate_operator.playbooks import Playbooks

DESIRED = {"interfaces": [{"name": "br1", "type": "linux-bridge", "state": "up"}]}


@pytest.fixture
def nns_of(monkeypatch):
    def make(outcomes=None):
        api = FakeApi()
        api.nns["n1"] = {
            "apiVersion": "nmstate.io/v1beta1",
            "kind": "NodeNetworkState",
            "metadata": {"name": "n1", "generation": 3},
            "spec": {"desiredState": DESIRED},
        }
        runs = FakeRuns(outcomes)
        monkeypatch.setattr(playbooks, "run_playbook", runs)
        return api, runs

    return make


def apply(api, view, retries=0):
    body = api.list_nns()["n1"]
    nns_apply.apply_desired_state(Config(), api, Playbooks(Config()), body, view, retries)


def last_apply(api):
    return api.nns["n1"]["status"]["lastApply"]


def test_an_applied_state_is_recorded_with_events(nns_of):
    api, runs = nns_of()
    apply(api, node("n1"))
    assert [limit for _, limit, _ in runs.runs] == [["n1"]]
    assert runs.data == [{"nmstate_desired_state": DESIRED}]
    assert last_apply(api)["result"] == "applied" and last_apply(api)["generation"] == 3
    reasons = [reason for _, reason, _ in api.events]
    assert reasons == ["ConfigurationProgressing", "SuccessfullyConfigured"]


def test_an_unreachable_node_is_retried_with_the_policies_backoff_then_fails(nns_of):
    api, _runs = nns_of({"n1": "unreachable"})
    with pytest.raises(nns_apply.RetryLater) as first:
        apply(api, node("n1"), retries=0)
    assert first.value.delay == 1.0 and last_apply(api)["retryCount"] == 1
    with pytest.raises(nns_apply.RetryLater) as second:
        apply(api, node("n1"), retries=1)
    assert second.value.delay == 2.0
    apply(api, node("n1"), retries=Config.max_retries)  # the budget is spent: no more retries
    assert last_apply(api)["result"] == "failed"
    assert last_apply(api)["message"].startswith("gave up after 2 retries")
    failing = {c["type"]: c for c in api.nns["n1"]["status"]["conditions"]}["Failing"]
    assert failing["status"] == "True"


def test_a_node_without_an_address_is_retried_without_a_run(nns_of):
    api, runs = nns_of()
    with pytest.raises(nns_apply.RetryLater):
        apply(api, node("n1", address=""))
    assert runs.runs == [] and "no InternalIP address" in last_apply(api)["message"]


def test_a_missing_node_fails_once(nns_of):
    api, runs = nns_of()
    apply(api, None)
    assert runs.runs == [] and last_apply(api)["result"] == "failed"
    assert api.events == [("n1", "FailedToConfigure", "Warning")]


def test_clearing_the_desired_state_clears_an_old_failure(nns_of):
    api, _runs = nns_of({"n1": "nmstate: bad state"})
    apply(api, node("n1"))
    assert last_apply(api)["result"] == "failed"
    nns_apply.record_cleared(api, api.list_nns()["n1"])
    holding = [c["type"] for c in api.nns["n1"]["status"]["conditions"] if c["status"] == "True"]
    assert last_apply(api)["result"] == "cleared" and holding == ["Available"]
    assert "message" not in last_apply(api)  # a real merge patch drops the old message


def cut_off_by_a_restart(api):
    """lastApply as an operator killed during its run leaves it."""
    api.nns["n1"]["status"] = {"lastApply": {"generation": 3, "result": "progressing"}}


def test_after_a_restart_a_cut_off_run_that_had_applied_is_not_applied_again(nns_of):
    api, runs = nns_of({"n1": "in_place"})
    cut_off_by_a_restart(api)
    apply(api, node("n1"))
    assert [playbook for playbook, _, _ in runs.runs] == [playbooks.VERIFY]
    assert last_apply(api)["result"] == "applied"


def test_after_a_restart_a_cut_off_run_that_had_not_applied_is_applied(nns_of):
    api, runs = nns_of()  # the verify finds nothing in place; the apply then succeeds
    cut_off_by_a_restart(api)
    apply(api, node("n1"))
    assert [playbook for playbook, _, _ in runs.runs] == [playbooks.VERIFY, playbooks.APPLY]
    assert last_apply(api)["result"] == "applied"


def test_an_older_generation_left_progressing_is_simply_applied(nns_of):
    api, runs = nns_of()
    api.nns["n1"]["status"] = {"lastApply": {"generation": 2, "result": "progressing"}}
    apply(api, node("n1"))
    assert [playbook for playbook, _, _ in runs.runs] == [playbooks.APPLY]


def test_the_dry_run_annotation_checks_the_state_and_removing_it_applies_it(nns_of):
    api, runs = nns_of()
    api.nns["n1"]["metadata"]["annotations"] = {nns_apply.DRY_RUN_ANNOTATION: "true"}
    apply(api, node("n1"))
    assert [playbook for playbook, _, _ in runs.runs] == [playbooks.DRY_RUN]
    assert last_apply(api)["result"] == "dry-run"
    assert last_apply(api)["dryRun"]["diff"]["after"] == "interfaces:\n- name: br1\n"
    available = {c["type"]: c for c in api.nns["n1"]["status"]["conditions"]}["Available"]
    assert (available["status"], available["reason"]) == ("True", "DryRunSucceeded")
    del api.nns["n1"]["metadata"]["annotations"]
    apply(api, node("n1"))
    assert [playbook for playbook, _, _ in runs.runs][1:] == [playbooks.APPLY]
    assert last_apply(api)["result"] == "applied" and "dryRun" not in last_apply(api)


def test_a_refused_dry_run_fails_the_nns_and_applies_nothing(nns_of):
    api, runs = nns_of({"n1": "interfaces: invalid IP address syntax"})
    api.nns["n1"]["metadata"]["annotations"] = {nns_apply.DRY_RUN_ANNOTATION: "true"}
    apply(api, node("n1"))
    assert [playbook for playbook, _, _ in runs.runs] == [playbooks.DRY_RUN]
    failing = {c["type"]: c for c in api.nns["n1"]["status"]["conditions"]}["Failing"]
    assert (failing["status"], failing["reason"]) == ("True", "DryRunFailed")
    assert "invalid IP address syntax" in failing["message"]
    assert ("n1", "DryRunFailed", "Warning") in api.events
