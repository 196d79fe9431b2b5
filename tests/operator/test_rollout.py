"""A policy's rollout step by step, with the Kubernetes API and the runs faked."""

from __future__ import annotations

import copy

import pytest
from nmstate_operator import kube, policies, rollout
from nmstate_operator.runs import HostOutcome, RunResult

STATE = {"interfaces": [{"name": "br1", "type": "linux-bridge", "state": "up"}]}


def node(name, labels=None, ready=True):
    return {"metadata": {"name": name, "labels": labels or {"role": "x"}},
            "status": {"addresses": [{"type": "InternalIP", "address": f"10.0.0.{name[-1]}"}],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}  # fmt: skip


class FakeCluster:
    """Policies, enactments, Nodes and Events in memory, behind kube's functions."""

    def __init__(self, nodes, max_unavailable=1):
        self.nodes = nodes
        self.policy = {"apiVersion": "nmstate.io/v1", "kind": "NodeNetworkConfigurationPolicy",
                       "metadata": {"name": "p", "uid": "u1", "generation": 1},
                       "spec": {"nodeSelector": {"role": "x"}, "desiredState": STATE,
                                "maxUnavailable": max_unavailable}}  # fmt: skip
        self.enactments: dict[str, dict] = {}
        self.events: list[tuple[str, str, str]] = []
        self.status_writes: list[dict] = []

    def install(self, monkeypatch):
        monkeypatch.setattr(kube, "get_policy", lambda custom, name: copy.deepcopy(self.policy))
        monkeypatch.setattr(kube, "list_nodes", lambda core: copy.deepcopy(self.nodes))
        monkeypatch.setattr(kube, "list_enactments", lambda custom, policy=None: copy.deepcopy(list(self.enactments.values())))  # fmt: skip
        monkeypatch.setattr(kube, "create_enactment", self.create)
        monkeypatch.setattr(
            kube, "delete_enactment", lambda custom, name: self.enactments.pop(name)
        )
        monkeypatch.setattr(kube, "patch_enactment_status", self.patch_enactment)
        monkeypatch.setattr(kube, "patch_policy_status", self.patch_policy)
        monkeypatch.setattr(kube, "event", lambda core, obj, reason, message, kind="Normal": self.events.append((obj["metadata"]["name"], reason, kind)))  # fmt: skip

    def create(self, custom, node_name, policy):
        name = kube.enactment_name(node_name, policy["metadata"]["name"])
        self.enactments[name] = {"apiVersion": "nmstate.io/v1beta1", "kind": "NodeNetworkConfigurationEnactment",
                                 "metadata": {"name": name, "labels": {kube.NODE_LABEL: node_name}}}  # fmt: skip
        return copy.deepcopy(self.enactments[name])

    def patch_enactment(self, custom, name, status):
        self.enactments[name]["status"] = dict(self.enactments[name].get("status") or {}, **status)
        return copy.deepcopy(self.enactments[name])

    def patch_policy(self, custom, name, status):
        self.status_writes.append(status)
        self.policy["status"] = dict(self.policy.get("status") or {}, **status)

    def phase(self, node_name):
        return policies.enactment_phase(self.enactments.get(f"{node_name}.p"), self.policy["metadata"]["generation"])  # fmt: skip

    def policy_condition(self, kind):
        return next(c for c in self.policy["status"]["conditions"] if c["type"] == kind)


class FakeRuns:
    """Records every run; answers per node with what the test scripted."""

    def __init__(self, outcomes=None):
        self.outcomes = outcomes or {}
        self.runs: list[tuple[str, list[str], dict]] = []

    def __call__(
        self,
        config,
        playbook,
        nodes,
        purpose,
        data_files=None,
        limit=None,
        record=None,
        settings=None,
    ):
        self.runs.append((playbook, list(limit), dict(record)))
        hosts = {}
        for name in limit:
            outcome = self.outcomes.get(name, "applied")
            if outcome == "applied":
                hosts[name] = HostOutcome(facts={"nmstate_apply_result": {"applied": True}})
            elif outcome == "in_place":
                hosts[name] = HostOutcome(facts={"nmstate_verify_result": {"in_place": True}})
            elif outcome == "unreachable":
                hosts[name] = HostOutcome(ok=False, unreachable=True, failures=["ssh: no route"])
            else:
                hosts[name] = HostOutcome(ok=False, facts={"nmstate_apply_result": {"applied": False, "msg": outcome}},
                                          failures=[outcome])  # fmt: skip
        return RunResult("successful", 0, hosts)


class Config:
    address_type = "InternalIP"
    max_retries = 2

    def apply_settings(self):
        return {}


@pytest.fixture
def cluster(monkeypatch):
    def make(nodes, max_unavailable=1, outcomes=None):
        fake = FakeCluster(nodes, max_unavailable)
        fake.install(monkeypatch)
        runs = FakeRuns(outcomes)
        monkeypatch.setattr(rollout, "run_playbook", runs)
        return fake, runs, rollout.Context(Config(), None, None)

    return make


def run_until_idle(ctx, limit=20):
    for _ in range(limit):
        if rollout.step(ctx, "p") is None:
            return
    raise AssertionError("the rollout never went idle")


def test_batches_never_exceed_max_unavailable_and_each_is_one_run(cluster):
    fake, runs, ctx = cluster([node(f"n{i}") for i in range(1, 6)], max_unavailable=2)
    run_until_idle(ctx)
    assert [limit for _, limit, _ in runs.runs] == [["n1", "n2"], ["n3", "n4"], ["n5"]]
    assert all(
        record == {"kind": "apply", "policy": "p", "generation": 1} for _, _, record in runs.runs
    )
    assert fake.policy_condition("Available")["message"] == "5/5 nodes successfully configured"
    assert all(fake.phase(f"n{i}") == policies.AVAILABLE for i in range(1, 6))


def test_only_selected_ready_nodes_take_part(cluster):
    nodes = [node("n1"), node("n2", labels={"role": "y"}), node("n3", ready=False)]
    fake, runs, ctx = cluster(nodes, max_unavailable="100%")
    run_until_idle(ctx)
    assert [limit for _, limit, _ in runs.runs] == [["n1"]]
    assert sorted(fake.enactments) == ["n1.p", "n3.p"]  # n3 keeps its enactment while NotReady
    assert fake.policy_condition("Available")["message"] == (
        "1/1 nodes successfully configured, 1 nodes ignored due to NotReady state"
    )


def test_failures_reaching_max_unavailable_abort_the_rest_with_a_warning(cluster):
    fake, runs, ctx = cluster(
        [node(f"n{i}") for i in range(1, 4)], outcomes={"n1": "nmstate: no such port"}
    )
    run_until_idle(ctx)
    assert [limit for _, limit, _ in runs.runs] == [["n1"]]
    assert [fake.phase(n) for n in ("n1", "n2", "n3")] == [
        policies.FAILED,
        policies.ABORTED,
        policies.ABORTED,
    ]
    assert fake.policy_condition("Degraded")["message"] == (
        "1/3 nodes failed to configure, 2 nodes aborted configuration"
    )
    assert ("p", "ConfigurationAborted", "Warning") in fake.events
    assert ("n1.p", "FailedToConfigure", "Warning") in fake.events


def test_an_unreachable_node_is_retried_then_fails(cluster, monkeypatch):
    fake, runs, ctx = cluster([node("n1")], outcomes={"n1": "unreachable"})
    monkeypatch.setattr(policies, "retry_due", lambda enactment, now: 0.0)  # no real waiting
    run_until_idle(ctx)
    assert len(runs.runs) == Config.max_retries + 1
    enactment = fake.enactments["n1.p"]["status"]
    assert fake.phase("n1") == policies.FAILED and enactment["retryCount"] == Config.max_retries
    assert [e for e in fake.events if e[1] == "Retrying"] == [("n1.p", "Retrying", "Warning")] * 2


def test_a_run_cut_off_by_a_restart_is_verified_not_applied_again(cluster):
    fake, runs, ctx = cluster([node("n1"), node("n2")], outcomes={"n1": "in_place"})
    fake.create(None, "n1", fake.policy)
    fake.patch_enactment(None, "n1.p", {"policyGeneration": 1,
                                         "conditions": [{"type": "Progressing", "status": "True"}]})  # fmt: skip
    run_until_idle(ctx)
    assert [(playbook, limit) for playbook, limit, _ in runs.runs] == [
        ("nodenet.nmstate.verify", ["n1"]),
        ("nodenet.nmstate.apply", ["n2"]),
    ]
    assert fake.phase("n1") == fake.phase("n2") == policies.AVAILABLE


def test_a_new_generation_configures_every_node_again(cluster):
    fake, runs, ctx = cluster([node("n1"), node("n2")], max_unavailable="100%")
    run_until_idle(ctx)
    fake.policy["metadata"]["generation"] = 2
    run_until_idle(ctx)
    assert [(limit, record["generation"]) for _, limit, record in runs.runs] == [
        (["n1", "n2"], 1),
        (["n1", "n2"], 2),
    ]


def test_an_idle_policy_writes_nothing(cluster):
    fake, runs, ctx = cluster([node("n1")])
    run_until_idle(ctx)
    writes = len(fake.status_writes)
    for _ in range(3):
        assert rollout.step(ctx, "p") is None
    assert len(fake.status_writes) == writes and len(runs.runs) == 1
