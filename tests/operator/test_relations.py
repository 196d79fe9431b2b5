"""Policies on the same node: declared order, conflicts, and how rollouts follow them."""

from __future__ import annotations

import pytest
from fakes import Config, FakeApi, FakeRuns, node
from nmstate_operator import playbooks
from nmstate_operator.nncp import plan, relations, step
from nmstate_operator.playbooks import Playbooks


def policy(name, state=None, **spec):
    return {
        "metadata": {"name": name, "generation": 1},
        "spec": dict(desiredState=state or {}, **spec),
    }


def bridge(name, **settings):
    return {"interfaces": [dict(name=name, type="linux-bridge", **settings)]}


def address(ip):
    return {"enabled": True, "address": [{"ip": ip, "prefix-length": 24}]}


def test_fields_follow_interfaces_key_by_key_and_lists_as_a_whole():
    state = bridge("br1", ipv4=address("10.0.0.1"), bridge={"options": {"stp": {"enabled": False}}})
    state["routes"] = {"config": [{"destination": "0.0.0.0/0", "next-hop-address": "10.0.0.254"}]}
    state["dns-resolver"] = {"config": {"server": ["10.0.0.53"]}}
    found = relations.fields(state)
    assert set(found) == {
        "interfaces[br1].type",
        "interfaces[br1].state",
        "interfaces[br1].ipv4.enabled",
        "interfaces[br1].ipv4.address",
        "interfaces[br1].bridge.options.stp.enabled",
        "routes[0.0.0.0/0 table 254]",
        "dns-resolver.config.server",
    }


def test_the_same_values_or_different_fields_do_not_conflict():
    a = bridge("br1", ipv4=address("10.0.0.1"))
    assert relations.conflicting_fields(a, bridge("br1", ipv4=address("10.0.0.1"))) == []
    assert relations.conflicting_fields(a, bridge("br1", mtu=1400)) == []
    assert relations.conflicting_fields(a, bridge("br2", ipv4=address("10.0.0.2"))) == []


def test_different_values_and_an_absent_interface_conflict():
    a = bridge("br1", ipv4=address("10.0.0.1"))
    assert relations.conflicting_fields(a, bridge("br1", ipv4=address("10.0.0.2"))) == [
        "interfaces[br1].ipv4.address"
    ]
    gone = {"interfaces": [{"name": "br1", "state": "absent"}]}
    assert relations.conflicting_fields(a, gone) == ["interfaces[br1].state"]
    dns = {"dns-resolver": {"config": {"server": ["10.0.0.53"]}}}
    other = {"dns-resolver": {"config": {"server": ["10.0.0.54"]}}}
    assert relations.conflicting_fields(dns, other) == ["dns-resolver.config.server"]


def test_priority_then_after_decide_the_order():
    order = relations.Order(
        {
            "base": policy("base"),
            "vlan": policy("vlan", after=["base"]),
            "top": policy("top", after=["vlan"]),
            "urgent": policy("urgent", priority=5),
            "free": policy("free"),
        }
    )
    assert order.before("base", "top") and not order.before("top", "base")
    assert order.before("top", "urgent") and order.why("top", "urgent") == "priority 5 > 0"
    assert order.why("base", "vlan") == "vlan is declared after base"
    assert not order.before("free", "base") and not order.before("base", "free")
    assert order.reapply_before("base", "free"), "unordered: name order after a reboot"
    assert all(order.problem(name) is None for name in order.policies)


def test_a_cycle_or_an_after_against_priority_is_a_problem():
    order = relations.Order(
        {
            "a": policy("a", after=["c"]),
            "b": policy("b", after=["a"]),
            "c": policy("c", after=["b"]),
            "d": policy("d", after=["a"]),
            "e": policy("e", after=["high"]),
            "high": policy("high", priority=3),
            "self": policy("self", after=["self"]),
        }
    )
    assert order.problem("a") == "spec.after forms a cycle: a -> c -> b -> a"
    assert order.problem("d") is None, "after a policy in a cycle, but in none itself"
    assert "higher priority (3 > 0)" in order.problem("e")
    assert order.problem("self") == "spec.after forms a cycle: self -> self"
    assert order.problem("high") is None


@pytest.fixture
def two_policies(monkeypatch):
    """Policy p and policy q on nodes n1 and n2; steps either one by name."""
    api = FakeApi(max_unavailable=2)
    runs = FakeRuns()
    monkeypatch.setattr(playbooks, "run_playbook", runs)
    ctx = step.Context(Config(), api, Playbooks(Config()))
    woken = []
    ctx.wake = woken.append
    nodes = {name: node(name) for name in ("n1", "n2")}

    def settle(*names, limit=20):
        for _ in range(limit):
            delays = [step.step(ctx, name, nodes) for name in names]
            if all(delay is None for delay in delays):
                return
        raise AssertionError("the rollouts never went idle")

    settle.once = lambda name: step.step(ctx, name, nodes)
    return api, runs, settle, woken


def phase_of(api, node_name, policy_name):
    enactment = api.enactments.get(f"{node_name}.{policy_name}")
    generation = api.get_policy(policy_name)["metadata"]["generation"]
    return plan.enactment_phase(enactment, generation)


def true_condition(api, name):
    conditions = api.enactments[name]["status"]["conditions"]
    return next(c for c in conditions if c["status"] == "True")


def test_unordered_policies_that_conflict_apply_nothing_and_name_each_other(two_policies):
    api, runs, settle, _ = two_policies
    api.policy["spec"]["desiredState"] = bridge("br1", ipv4=address("10.0.0.1"))
    api.add_policy("q", bridge("br1", ipv4=address("10.0.0.2")))
    settle("p", "q")
    assert runs.runs == []
    for name in ("n1.p", "n1.q", "n2.p", "n2.q"):
        held = true_condition(api, name)
        assert (held["type"], held["reason"]) == ("Conflicting", "ConflictingPolicies")
    assert (
        "policy q sets interfaces[br1].ipv4.address differently"
        in true_condition(api, "n1.p")["message"]
    )
    assert api.enactments["n1.q"]["status"]["conflicts"] == [
        {"policy": "p", "fields": ["interfaces[br1].ipv4.address"], "kind": "conflict"}
    ]
    degraded = next(c for c in api.policy["status"]["conditions"] if c["type"] == "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "ConflictingPolicies")
    # Ordering them ends the conflict: both apply, q first, p after it.
    api.policy["spec"]["after"] = ["q"]
    api.policy["metadata"]["generation"] = 2
    settle("p", "q")
    assert [record["policy"] for _, _, record in runs.runs] == ["q", "p"]
    assert "conflicts" not in api.enactments["n1.q"]["status"]
    available = true_condition(api, "n1.p")
    assert available["type"] == "Available"
    assert (
        "overrides interfaces[br1].ipv4.address of policy q (p is declared after q)"
        in (available["message"])
    )


def test_a_later_policy_waits_on_each_node_for_the_earlier_one(two_policies):
    api, runs, settle, _ = two_policies
    api.add_policy("q", bridge("br0"))
    api.policy["spec"]["after"] = ["q"]
    assert settle.once("p") == step.ORDER_WAIT_SECONDS
    assert runs.runs == [] and phase_of(api, "n1", "p") == plan.PENDING
    assert true_condition(api, "n1.p")["reason"] == "WaitingForEarlierPolicy"
    settle("q", "p")
    assert [record["policy"] for _, _, record in runs.runs] == ["q", "p"]


def test_an_earlier_policy_applied_later_makes_the_later_one_apply_again(two_policies):
    api, runs, settle, woken = two_policies
    api.policy["spec"]["desiredState"] = bridge("br1", mtu=1400)
    api.policy["spec"]["priority"] = 10
    settle("p")
    api.add_policy("q", bridge("br1", mtu=9000), priority=0)
    settle("q")
    assert woken == ["p", "p"], "p is woken once per node q changed"
    assert true_condition(api, "n1.p")["reason"] == "EarlierPolicyApplied"
    settle("p")
    assert [record["policy"] for _, _, record in runs.runs] == ["p", "q", "p"]


def test_a_dry_run_or_a_broken_policy_neither_conflicts_nor_holds_others_up(two_policies):
    api, runs, settle, _ = two_policies
    api.policy["spec"]["desiredState"] = bridge("br1", mtu=1400)
    api.add_policy("q", bridge("br1", mtu=9000), dryRun=True, priority=-1)
    api.add_policy("r", bridge("br1", mtu=9000), maxUnavailable="bad")
    api.policy["spec"]["after"] = ["q", "r"]
    settle("p")
    assert [record["policy"] for _, _, record in runs.runs] == ["p"]
    assert phase_of(api, "n1", "p") == plan.AVAILABLE


def test_an_order_cycle_is_refused_with_its_path(two_policies):
    api, runs, settle, _ = two_policies
    api.add_policy("q", bridge("br0"), after=["p"])
    api.policy["spec"]["after"] = ["q"]
    settle("p", "q")
    assert runs.runs == []
    degraded = next(c for c in api.policy["status"]["conditions"] if c["type"] == "Degraded")
    assert (degraded["reason"], degraded["message"]) == (
        "InvalidOrder",
        "spec.after forms a cycle: p -> q -> p",
    )


def test_after_naming_a_policy_not_created_yet_waits_for_it(two_policies):
    api, runs, settle, _ = two_policies
    api.policy["spec"]["after"] = ["q"]
    assert settle.once("p") == step.ORDER_WAIT_SECONDS
    assert true_condition(api, "n1.p")["message"] == (
        "waiting for policy q (not created yet), which comes before this one"
    )
    api.add_policy("q", bridge("br0"), after=[])
    settle("q", "p")
    assert [record["policy"] for _, _, record in runs.runs] == ["q", "p"]


class SettlingConfig(Config):
    policy_settle_seconds = 0.5


def test_a_policy_created_just_after_another_is_compared_before_either_runs(
    two_policies, monkeypatch
):
    """kubectl apply -f DIR creates policies milliseconds apart: the first one's first batch
    waits for the settle time, so its next step sees the second and applies nothing."""
    api, runs, _, _ = two_policies
    clock = [100.0]
    monkeypatch.setattr(step.time, "monotonic", lambda: clock[0])
    ctx = step.Context(SettlingConfig(), api, Playbooks(SettlingConfig()))
    nodes = {name: node(name) for name in ("n1", "n2")}
    api.policy["spec"]["desiredState"] = bridge("br1", ipv4=address("10.0.0.1"))
    assert step.step(ctx, "p", nodes) == 0.5
    assert runs.runs == [] and phase_of(api, "n1", "p") == plan.PENDING
    clock[0] += 0.1
    api.add_policy("q", bridge("br1", ipv4=address("10.0.0.2")))
    assert step.step(ctx, "q", nodes) is None  # q sees p at once: Conflicting, nothing to run
    clock[0] += 0.3
    assert step.step(ctx, "p", nodes) is None  # still settling, p sees q: nothing to run
    assert runs.runs == []
    assert {true_condition(api, f"{n}.{p}")["type"] for n in nodes for p in "pq"} == {"Conflicting"}
    # A new generation settles again; a generation already settled does not.
    api.policy["spec"]["desiredState"] = bridge("br2")
    api.policy["metadata"]["generation"] = 2
    api.others.pop("q")
    assert step.step(ctx, "p", nodes) == 0.5
    clock[0] += 0.2
    assert step.step(ctx, "p", nodes) == pytest.approx(0.3)
    clock[0] += 0.3
    step.step(ctx, "p", nodes)
    assert [record["policy"] for _, _, record in runs.runs] == ["p"]
