"""A policy's rollout step by step, with the Kubernetes API and the runs faked."""

from __future__ import annotations

import copy
import dataclasses

import pytest
from fakes import Config, FakeApi, FakeRuns, node
from nmstate_operator import locks, playbooks
from nmstate_operator.names import POLICY_LABEL
from nmstate_operator.nncp import plan, step
from nmstate_operator.playbooks import Playbooks


@pytest.fixture
def cluster(monkeypatch):
    def make(nodes, max_unavailable=1, outcomes=None):
        api = FakeApi(max_unavailable)
        runs = FakeRuns(outcomes)
        monkeypatch.setattr(playbooks, "run_playbook", runs)
        ctx = step.Context(Config(), api, Playbooks(Config()))
        return api, runs, Stepper(ctx, {view.name: view for view in nodes})

    return make


class Stepper:
    def __init__(self, ctx, nodes):
        self.ctx = ctx
        self.nodes = nodes

    def step(self):
        return step.step(self.ctx, "p", self.nodes)

    def until_idle(self, limit=20):
        for _ in range(limit):
            if self.step() is None:
                return
        raise AssertionError("the rollout never went idle")


def phase(api, node_name):
    enactment = api.enactments.get(f"{node_name}.p")
    return plan.enactment_phase(enactment, api.policy["metadata"]["generation"])


def policy_condition(api, kind):
    return next(c for c in api.policy["status"]["conditions"] if c["type"] == kind)


def test_batches_never_exceed_max_unavailable_and_each_is_one_run(cluster):
    api, runs, rollout = cluster([node(f"n{i}") for i in range(1, 6)], max_unavailable=2)
    rollout.until_idle()
    assert [limit for _, limit, _ in runs.runs] == [["n1", "n2"], ["n3", "n4"], ["n5"]]
    expected = {"kind": "apply", "policy": "p", "generation": 1}
    assert all(record == expected for _, _, record in runs.runs)
    assert policy_condition(api, "Available")["message"] == "5/5 nodes successfully configured"
    assert all(phase(api, f"n{i}") == plan.AVAILABLE for i in range(1, 6))
    assert runs.data[0] == {"nmstate_desired_state": api.policy["spec"]["desiredState"]}


def test_only_selected_ready_nodes_take_part(cluster):
    nodes = [node("n1"), node("n2", labels={"role": "y"}), node("n3", ready=False)]
    api, runs, rollout = cluster(nodes, max_unavailable="100%")
    rollout.until_idle()
    assert [limit for _, limit, _ in runs.runs] == [["n1"]]
    assert sorted(api.enactments) == ["n1.p", "n3.p"]  # n3 keeps its enactment while NotReady
    assert policy_condition(api, "Available")["message"] == (
        "1/1 nodes successfully configured, 1 nodes ignored due to NotReady state"
    )


def test_a_node_that_stops_matching_loses_its_enactment(cluster):
    api, _runs, rollout = cluster([node("n1"), node("n2")], max_unavailable="100%")
    rollout.until_idle()
    rollout.nodes["n2"] = node("n2", labels={"role": "y"})
    rollout.until_idle()
    assert sorted(api.enactments) == ["n1.p"]


def test_failures_reaching_max_unavailable_abort_the_rest_with_a_warning(cluster):
    nodes = [node(f"n{i}") for i in range(1, 4)]
    api, runs, rollout = cluster(nodes, outcomes={"n1": "nmstate: no such port"})
    rollout.until_idle()
    assert [limit for _, limit, _ in runs.runs] == [["n1"]]
    phases = [phase(api, n) for n in ("n1", "n2", "n3")]
    assert phases == [plan.FAILED, plan.ABORTED, plan.ABORTED]
    assert policy_condition(api, "Degraded")["message"] == (
        "1/3 nodes failed to configure, 2 nodes aborted configuration"
    )
    assert ("p", "ConfigurationAborted", "Warning") in api.events
    assert ("n1.p", "FailedToConfigure", "Warning") in api.events


def test_a_rolled_back_node_names_its_probe(cluster, monkeypatch):
    api, runs, rollout = cluster([node("n1")])
    result = {
        "applied": False,
        "rolled_back": True,
        "msg": "rolled back: probe gw failed",
        "failed_probe": {"name": "gw", "type": "gateway"},
    }
    monkeypatch.setattr(
        runs,
        "host",
        lambda name: playbooks.HostOutcome(ok=False, facts={playbooks.APPLY_FACT: result}),
    )
    rollout.until_idle()
    status = api.enactments["n1.p"]["status"]
    assert status["failedProbe"] == {"name": "gw", "type": "gateway"}
    assert ("n1.p", "RolledBack", "Warning") in api.events


def test_an_unreachable_node_is_retried_then_fails(cluster, monkeypatch):
    api, runs, rollout = cluster([node("n1")], outcomes={"n1": "unreachable"})
    monkeypatch.setattr(plan, "retry_due", lambda enactment, now: 0.0)  # no real waiting
    rollout.until_idle()
    assert len(runs.runs) == Config.max_retries + 1
    status = api.enactments["n1.p"]["status"]
    assert phase(api, "n1") == plan.FAILED and status["retryCount"] == Config.max_retries
    assert status["conditions"][1]["message"].startswith("gave up after 2 retries")
    assert [e for e in api.events if e[1] == "Retrying"] == [("n1.p", "Retrying", "Warning")] * 2


def test_a_node_without_an_address_fails_without_a_run(cluster):
    api, runs, rollout = cluster([node("n1", address="")])
    rollout.until_idle()
    assert runs.runs == [] and phase(api, "n1") == plan.FAILED


def test_a_run_cut_off_by_a_restart_is_verified_not_applied_again(cluster):
    api, runs, rollout = cluster([node("n1"), node("n2")], outcomes={"n1": "in_place"})
    api.create_enactment("n1", api.policy)
    progressing = [{"type": "Progressing", "status": "True"}]
    api.patch_enactment_status("n1.p", {"policyGeneration": 1, "conditions": progressing})
    rollout.until_idle()
    assert [(playbook, limit) for playbook, limit, _ in runs.runs] == [
        ("nodenet.nmstate.verify", ["n1"]),
        ("nodenet.nmstate.apply", ["n2"]),
    ]
    assert phase(api, "n1") == phase(api, "n2") == plan.AVAILABLE


def test_a_new_generation_configures_every_node_again(cluster):
    api, runs, rollout = cluster([node("n1"), node("n2")], max_unavailable="100%")
    rollout.until_idle()
    api.policy["metadata"]["generation"] = 2
    rollout.until_idle()
    assert [(limit, record["generation"]) for _, limit, record in runs.runs] == [
        (["n1", "n2"], 1),
        (["n1", "n2"], 2),
    ]


def test_an_idle_policy_writes_nothing(cluster):
    api, runs, rollout = cluster([node("n1")])
    rollout.until_idle()
    writes = len(api.status_writes)
    for _ in range(3):
        assert rollout.step() is None
    assert len(api.status_writes) == writes and len(runs.runs) == 1


def test_a_deleted_policy_ends_its_rollout(cluster):
    api, runs, rollout = cluster([node("n1")])
    api.policy = None
    assert rollout.step() is None and runs.runs == []


def test_a_new_generation_leaves_no_key_of_the_old_state_in_the_enactment(cluster):
    api, _runs, rollout = cluster([node("n1")])
    api.policy["spec"]["desiredState"] = {"interfaces": [], "dns-resolver": {"config": {}}}
    rollout.until_idle()
    api.policy["spec"]["desiredState"] = {"interfaces": []}
    api.policy["metadata"]["generation"] = 2
    rollout.until_idle()
    assert api.enactments["n1.p"]["status"]["desiredState"] == {"interfaces": []}


def test_a_node_whose_host_key_changed_fails_at_once_without_retries(cluster):
    api, runs, rollout = cluster([node("n1")], outcomes={"n1": "host key changed"})
    rollout.until_idle()
    assert len(runs.runs) == 1 and phase(api, "n1") == plan.FAILED
    failing = {c["type"]: c for c in api.enactments["n1.p"]["status"]["conditions"]}["Failing"]
    assert "host key does not match" in failing["message"]
    assert ("n1.p", "HostKeyRejected", "Warning") in api.events


@pytest.mark.parametrize(
    ("name", "max_unavailable"),
    [("w1.lab", 1), ("p" * 64, 1), ("p", "9" * 5000), ("p", 0), ("p", True), ("p", "lots")],
)
def test_a_policy_the_admission_rules_would_refuse_is_degraded_and_runs_nothing(
    cluster, name, max_unavailable
):
    api, runs, rollout = cluster([node("n1")], max_unavailable=max_unavailable)
    api.policy["metadata"]["name"] = name
    assert step.step(rollout.ctx, name, rollout.nodes) is None
    assert step.step(rollout.ctx, name, rollout.nodes) is None
    assert runs.runs == [] and api.enactments == {}
    degraded = policy_condition(api, "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "InvalidPolicy"
    assert [event[1] for event in api.events] == ["InvalidPolicy"]


def test_node_names_too_long_for_labels_and_enactment_names_still_work(cluster):
    long_name = "n" + "a" * 240 + "1"
    api, runs, rollout = cluster([node(long_name), node("n2")], max_unavailable="100%")
    rollout.until_idle()
    assert [sorted(limit) for _, limit, _ in runs.runs] == [sorted([long_name, "n2"])]
    names = sorted(api.enactments)
    assert all(len(name) <= 253 for name in names) and "n2.p" in names
    long_enactment = next(e for n, e in api.enactments.items() if n != "n2.p")
    assert len(long_enactment["metadata"]["labels"]["nmstate.io/node"]) <= 63
    assert long_enactment["metadata"]["annotations"]["nmstate.io/node-name"] == long_name
    assert policy_condition(api, "Available")["message"] == "2/2 nodes successfully configured"


def available(api, name):
    status = api.enactments[name]["status"]
    return next(c for c in status["conditions"] if c["type"] == "Available"), status


def test_a_rebooted_node_that_lost_the_state_is_checked_then_configured_again(cluster):
    api, runs, rollout = cluster([node("n1", boot_id="boot-1")])
    rollout.until_idle()
    assert available(api, "n1.p")[1]["bootID"] == "boot-1"
    rollout.nodes = {"n1": node("n1", boot_id="boot-2")}  # a kernel-only node came back empty
    rollout.until_idle()
    assert [playbook for playbook, _, _ in runs.runs] == [
        playbooks.APPLY,
        playbooks.VERIFY,
        playbooks.APPLY,
    ]
    condition, status = available(api, "n1.p")
    assert condition["status"] == "True" and status["bootID"] == "boot-2"
    reasons = [reason for name, reason, _ in api.events if name == "n1.p"]
    assert reasons.index("NodeRebooted") < reasons.index("ReapplyingAfterReboot")
    rollout.until_idle()
    assert len(runs.runs) == 3, "nothing more once the new boot is recorded"


def test_a_rebooted_node_that_kept_the_state_is_only_checked(cluster):
    api, runs, rollout = cluster([node("n1", boot_id="boot-1")])
    rollout.until_idle()
    runs.outcomes["n1"] = "in_place"  # NetworkManager brought the profiles back
    rollout.nodes = {"n1": node("n1", boot_id="boot-2")}
    rollout.until_idle()
    assert [playbook for playbook, _, _ in runs.runs] == [playbooks.APPLY, playbooks.VERIFY]
    condition, status = available(api, "n1.p")
    assert status["bootID"] == "boot-2"
    assert condition["message"] == "still in place after the node rebooted (boot ID boot-2)"


def test_a_node_without_a_boot_id_is_never_taken_for_rebooted(cluster):
    api, runs, rollout = cluster([node("n1")])
    rollout.until_idle()
    rollout.nodes = {"n1": node("n1", boot_id="boot-9")}
    rollout.until_idle()
    assert len(runs.runs) == 1 and "bootID" not in api.enactments["n1.p"]["status"]


def test_after_a_reboot_policies_go_in_name_order_on_the_node(cluster):
    api, runs, rollout = cluster([node("n1", boot_id="boot-1")])
    rollout.until_idle()
    earlier = copy.deepcopy(api.enactments["n1.p"])
    earlier["metadata"]["name"] = "n1.a"
    earlier["metadata"]["labels"][POLICY_LABEL] = "a"
    api.enactments["n1.a"] = earlier  # policy "a", also applied on boot-1, not yet rechecked
    rollout.nodes = {"n1": node("n1", boot_id="boot-2")}
    assert rollout.step() == step.ORDER_WAIT_SECONDS
    assert len(runs.runs) == 1, "p waits while a, before it, is unsettled on the new boot"
    api.enactments["n1.a"]["status"]["bootID"] = "boot-2"  # a is done with the reboot
    rollout.until_idle()
    assert [playbook for playbook, _, _ in runs.runs][1:] == [playbooks.VERIFY, playbooks.APPLY]


def ready_at(name, stamp):
    view = node(name)
    return dataclasses.replace(view, ready_since=stamp)


def test_a_node_given_up_on_is_configured_when_it_turns_ready_again(cluster, monkeypatch):
    api, runs, rollout = cluster(
        [ready_at("n1", "2020-01-01T00:00:00Z")], outcomes={"n1": "unreachable"}
    )
    monkeypatch.setattr(plan, "retry_due", lambda enactment, now: 0.0)
    rollout.until_idle()
    failing = next(
        c for c in api.enactments["n1.p"]["status"]["conditions"] if c["type"] == "Failing"
    )
    assert failing["reason"] == "NodeUnreachable"
    assert failing["message"].endswith("it is configured when the node turns Ready again")
    tries = len(runs.runs)
    rollout.until_idle()
    assert len(runs.runs) == tries, "no new attempt without a Ready transition"
    runs.outcomes["n1"] = "applied"
    rollout.nodes = {"n1": ready_at("n1", "2999-01-01T00:00:00Z")}  # NotReady, then Ready again
    rollout.until_idle()
    assert len(runs.runs) == tries + 1 and phase(api, "n1") == plan.AVAILABLE
    assert ("n1.p", "NodeReady", "Normal") in api.events


def test_a_rebooted_node_still_booting_is_checked_again_not_configured_again(cluster):
    api, runs, rollout = cluster([node("n1", boot_id="boot-1")])
    rollout.until_idle()
    runs.outcomes["n1"] = "unreachable"  # the kubelet is up before sshd
    rollout.nodes = {"n1": node("n1", boot_id="boot-2")}
    assert rollout.step() == 1.0
    status = api.enactments["n1.p"]["status"]
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert progressing["status"] == "True" and progressing["reason"] == "NodeRebooted"
    assert "does not answer yet" in progressing["message"] and status["retryCount"] == 1
    runs.outcomes["n1"] = "in_place"
    rollout.until_idle()
    assert [playbook for playbook, _, _ in runs.runs] == [
        playbooks.APPLY,
        playbooks.VERIFY,
        playbooks.VERIFY,
    ]
    assert available(api, "n1.p")[1]["bootID"] == "boot-2"


def test_a_dry_run_checks_every_node_at_once_and_changes_nothing(cluster):
    api, runs, rollout = cluster(
        [node(f"n{i}", boot_id="boot-1") for i in range(1, 4)],
        outcomes={"n3": "interfaces: invalid IP address syntax"},
    )
    api.policy["spec"]["dryRun"] = True
    rollout.until_idle()
    assert [(playbook, limit) for playbook, limit, _ in runs.runs] == [
        (playbooks.DRY_RUN, ["n1", "n2", "n3"])
    ], "one run over all nodes despite maxUnavailable 1"
    status = api.enactments["n1.p"]["status"]
    assert status["dryRun"]["accepted"] is True and status["dryRun"]["generation"] == 1
    assert status["dryRun"]["diff"]["after"] == "interfaces:\n- name: br1\n"
    assert "bootID" not in status, "a reboot has nothing to redo after a dry run"
    held = next(c for c in status["conditions"] if c["status"] == "True")
    assert (held["type"], held["reason"]) == ("Available", "DryRunSucceeded")
    failing = next(
        c for c in api.enactments["n3.p"]["status"]["conditions"] if c["status"] == "True"
    )
    assert (failing["type"], failing["reason"]) == ("Failing", "DryRunFailed")
    assert "invalid IP address syntax" in failing["message"]
    degraded = policy_condition(api, "Degraded")
    assert (degraded["reason"], degraded["message"]) == (
        "DryRunFailed",
        "1/3 nodes failed the dry run",
    )
    # Turning the dry run off applies the same state, in batches again.
    api.policy["spec"]["dryRun"] = False
    api.policy["metadata"]["generation"] = 2
    runs.outcomes = {}
    rollout.until_idle()
    assert [playbook for playbook, _, _ in runs.runs[1:]] == [playbooks.APPLY] * 3
    assert runs.data[-1] == {"nmstate_desired_state": api.policy["spec"]["desiredState"]}
    assert policy_condition(api, "Available")["reason"] == "SuccessfullyConfigured"


def test_each_enactment_reports_its_run_and_the_policy_counts_nodes(cluster):
    api, runs, rollout = cluster([node("n1"), node("n2")], max_unavailable=2)
    runs.outcomes = {"n2": "unreachable"}
    facts = {
        "applied": True,
        "durations": {"total": 1.25, "apply": 0.02},
        "required_probes": ["controller", "default-gateway"],
        "features": ["static-dns-name-server"],
        "captured_states": {"eth": {"state": {"interfaces": []}, "metaInfo": {"time": "t"}}},
    }
    runs.host = lambda name, real=runs.host: (
        playbooks.HostOutcome(facts={"nmstate_apply_result": facts}) if name == "n1" else real(name)
    )
    rollout.step()
    last = api.enactments["n1.p"]["status"]["lastRun"]
    assert last["generation"] == 1 and last["nodeSeconds"] == 1.25 and last["retries"] == 0
    assert last["probes"] == ["controller", "default-gateway"] and "runSeconds" in last
    assert api.policy["status"]["enactmentCounts"] == {"available": 1, "retrying": 1}
    status = api.enactments["n1.p"]["status"]
    assert status["features"] == ["static-dns-name-server"]
    assert status["capturedStates"]["eth"]["metaInfo"] == {"time": "t"}
    assert api.policy["status"]["unavailableNodeCountMap"] == {"1": 1}
    api.policy["metadata"]["generation"] = 2
    rollout.step()
    assert list(api.policy["status"]["unavailableNodeCountMap"]) == ["2"], "old ones go"


def test_a_dry_run_cut_off_by_a_restart_runs_again_instead_of_being_verified(cluster):
    api, runs, rollout = cluster([node("n1")])
    api.policy["spec"]["dryRun"] = True
    api.create_enactment("n1", api.policy)
    rollout.ctx.api.patch_enactment_status(
        "n1.p",
        {
            "policyGeneration": 1,
            "conditions": [{"type": "Progressing", "status": "True", "reason": "x"}],
        },
    )
    rollout.until_idle()
    assert [playbook for playbook, _, _ in runs.runs] == [playbooks.DRY_RUN]
    held = next(c for c in api.enactments["n1.p"]["status"]["conditions"] if c["status"] == "True")
    assert held["reason"] == "DryRunSucceeded"


def test_after_a_reboot_the_declared_order_goes_before_name_order(cluster):
    api, runs, rollout = cluster([node("n1", boot_id="boot-1")])
    rollout.until_idle()
    api.add_policy("a", {"interfaces": []}, after=["p"])  # "a" sorts first, but comes after p
    earlier = copy.deepcopy(api.enactments["n1.p"])
    earlier["metadata"]["name"] = "n1.a"
    earlier["metadata"]["labels"][POLICY_LABEL] = "a"
    api.enactments["n1.a"] = earlier  # applied on boot-1, not yet rechecked
    rollout.nodes = {"n1": node("n1", boot_id="boot-2")}
    rollout.until_idle()
    assert [playbook for playbook, _, _ in runs.runs][1:] == [playbooks.VERIFY, playbooks.APPLY]
    assert api.enactments["n1.p"]["status"]["bootID"] == "boot-2", "p did not wait for a"


def test_the_report_of_changed_nodes_is_asked_once_they_are_free(cluster):
    """A report round leaves out the nodes a run holds: asked for under the lock, the NNS of a
    node just configured would wait for the next full round."""
    _api, _runs, rollout = cluster([node("n1"), node("n2")], max_unavailable="100%")
    asked = []

    def applied(nodes):
        with locks.holding(nodes) as free:
            asked.append((list(nodes), list(free)))

    rollout.ctx.applied = applied
    rollout.until_idle()
    assert asked == [(["n1", "n2"], ["n1", "n2"])]


def test_the_reports_the_apply_carried_go_with_the_changed_nodes(cluster):
    outcomes = {"n1": "applied and reported", "n2": "applied"}
    _api, _runs, rollout = cluster([node("n1"), node("n2")], "100%", outcomes)
    given = []
    rollout.ctx.applied = given.append
    rollout.until_idle()
    assert [sorted(reports) for reports in given] == [["n1", "n2"]]
    assert given[0]["n1"].report["nmstate_version"] == "2.2.62" and given[0]["n2"] is None
