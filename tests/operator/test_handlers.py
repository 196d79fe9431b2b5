"""The kopf handlers' own decisions, called as kopf calls them, with a fake memo."""

import asyncio

import kopf
import pytest
from fakes import Config, FakeApi
from nmstate_operator import handlers, nodes
from nmstate_operator.nns import apply as nns_apply
from nmstate_operator.nns.report import AfterApply, ReportRequests
from nmstate_operator.nodes import FORCE_REFRESH_LABEL, NodeSelector, NodeView, refresh_forced


class FakeScheduler:
    def __init__(self):
        self.known, self.woken, self.woken_all, self.forgotten = set(), [], 0, []

    def wake(self, name):
        self.woken.append(name)

    def wake_all(self):
        self.woken_all += 1

    def forget(self, name):
        self.forgotten.append(name)


@pytest.fixture
def memo():
    memo = kopf.Memo()
    memo.config = Config()
    memo.api = FakeApi()
    memo.scheduler = FakeScheduler()
    memo.reports = ReportRequests(60)
    memo.after_apply = AfterApply(memo.api, {}, memo.reports)
    memo.nodes_by_name = {}
    memo.node_versions = {}
    memo.nodes_listed = asyncio.Event()
    return memo


def node_body(name="n1", labels=None, ready="True", address="10.0.0.1", heartbeat="t1"):
    return {
        "metadata": {"name": name, "uid": "u1", "labels": labels or {"role": "x"}},
        "status": {
            "addresses": [{"type": "InternalIP", "address": address}],
            "conditions": [{"type": "Ready", "status": ready, "lastHeartbeatTime": heartbeat}],
        },
    }


def index(memo, body):
    """As kopf does: call the indexing function and keep its result in the index."""
    name = body["metadata"]["name"]
    entry = asyncio.run(handlers.nodes_by_name(name=name, body=body, memo=memo))
    memo.nodes_by_name.pop(name, None)  # kopf replaces what the object contributed
    memo.nodes_by_name.update({key: [view] for key, view in entry.items()})


def test_only_what_rollouts_depend_on_wakes_them(memo):
    index(memo, node_body())
    assert memo.scheduler.woken_all == 1  # a new node
    index(memo, node_body(heartbeat="t2"))
    assert memo.scheduler.woken_all == 1  # a heartbeat alone
    index(memo, node_body(labels={"role": "y"}))
    index(memo, node_body(labels={"role": "y"}, ready="False"))
    index(memo, node_body(labels={"role": "y"}, ready="False", address="10.0.0.2"))
    assert memo.scheduler.woken_all == 4


class RecordingReports:
    def __init__(self):
        self.requested = []

    def request(self, nodes=None):
        self.requested.append(nodes)


def refresh(value):
    """A Node's labels with the force-refresh label at `value` (None: without it)."""
    return {"role": "x", **({FORCE_REFRESH_LABEL: value} if value is not None else {})}


def test_a_new_force_refresh_value_reports_the_node_at_once_and_nothing_else_does(memo):
    memo.reports = RecordingReports()
    index(memo, node_body(labels=refresh("1")))  # first seen: the first round reports it
    index(memo, node_body(labels=refresh("1"), heartbeat="t2"))
    index(memo, node_body(labels={**refresh("1"), "other": "label"}))
    index(memo, node_body(labels={**refresh("1"), "other": "label"}, ready="False"))
    assert memo.reports.requested == []
    index(memo, node_body(labels=refresh("2")))
    index(memo, node_body(labels=refresh("2"), heartbeat="t3"))
    assert memo.reports.requested == [["n1"]]
    index(memo, node_body(labels=refresh(None)))  # removed: nothing to do
    assert memo.reports.requested == [["n1"]]
    index(memo, node_body(labels=refresh("2")))  # added again, even with its old value
    assert memo.reports.requested == [["n1"], ["n1"]]


def index_nns(memo, labels):
    """As kopf does for the NNS index."""
    entry = asyncio.run(handlers.nns_by_name(name="n1", labels=labels, memo=memo))
    memo.nns_by_name = {key: [value] for key, value in entry.items()}


def test_the_force_refresh_label_on_an_nns_reports_its_node_as_in_kubernetes_nmstate(memo):
    memo.reports = RecordingReports()
    index_nns(memo, {FORCE_REFRESH_LABEL: "1"})  # first seen: reported anyway
    index_nns(memo, {FORCE_REFRESH_LABEL: "1", "other": "x"})
    assert memo.reports.requested == []
    index_nns(memo, {FORCE_REFRESH_LABEL: "2"})
    assert memo.reports.requested == [["n1"]]
    index_nns(memo, {})
    index_nns(memo, {FORCE_REFRESH_LABEL: "2"})  # added again
    assert memo.reports.requested == [["n1"], ["n1"]]


def test_a_force_refresh_on_a_node_outside_the_node_selector_reports_nothing(memo):
    memo.reports = RecordingReports()
    memo.config.node_selector = NodeSelector.parse("role=x")
    index(memo, node_body(labels={"role": "infra", FORCE_REFRESH_LABEL: "1"}))
    index(memo, node_body(labels={"role": "infra", FORCE_REFRESH_LABEL: "2"}))
    assert memo.reports.requested == [] and memo.nodes_by_name == {}


@pytest.mark.parametrize(
    "before, after, forced",
    [
        (None, "1", True),  # added
        ("1", "2", True),  # changed
        ("1", "1", False),  # unchanged (a heartbeat, another label)
        ("1", None, False),  # removed
        (None, None, False),
        ("1", "", True),  # an empty value is a value
    ],
)
def test_refresh_is_forced_by_the_labels_new_value_only(before, after, forced):
    def view(value):
        return NodeView.from_node(node_body(labels=refresh(value)), "InternalIP")

    assert refresh_forced(view(before), view(after)) is forced
    assert refresh_forced(None, view(after)) is False, "a Node seen for the first time"
    assert refresh_forced(view(before), None) is False, "a Node gone or deselected"


def test_a_new_node_gets_its_nns_once_and_is_reported(memo):
    seen = handlers.node_seen
    asyncio.run(
        seen(event={"type": "ADDED"}, name="n1", body=node_body(), memo=memo, nns_by_name={})
    )
    assert memo.api.created_nns == ["n1"] and memo.nodes_listed.is_set()
    assert memo.reports.next_round() is None  # the first round covers every node
    asyncio.run(
        seen(
            event={"type": "MODIFIED"},
            name="n1",
            body=node_body(),
            memo=memo,
            nns_by_name={"n1": [True]},
        )
    )
    assert memo.api.created_nns == ["n1"]


def test_nodes_outside_the_node_selector_get_no_nns_and_leave_the_index(memo):
    memo.config.node_selector = NodeSelector.parse("role=x")
    index(memo, node_body(labels={"role": "infra"}))
    assert memo.nodes_by_name == {} and memo.scheduler.woken_all == 0
    asyncio.run(
        handlers.node_seen(
            event={"type": "ADDED"},
            name="n1",
            body=node_body(labels={"role": "infra"}),
            memo=memo,
            nns_by_name={},
        )
    )
    assert memo.api.created_nns == []
    index(memo, node_body(labels={"role": "x"}))
    assert list(memo.nodes_by_name) == ["n1"] and memo.scheduler.woken_all == 1
    index(memo, node_body(labels={"role": "gone"}))  # relabelled out of the selector
    assert memo.nodes_by_name == {} and memo.scheduler.woken_all == 2


def test_a_deleted_node_wakes_the_rollouts(memo):
    asyncio.run(
        handlers.node_seen(
            event={"type": "DELETED"}, name="n1", body=node_body(), memo=memo, nns_by_name={}
        )
    )
    assert memo.scheduler.woken_all == 1 and memo.api.created_nns == []


def policy_body(generation=2, observed=2):
    return {
        "metadata": {"name": "p", "generation": generation},
        "status": {"observedGeneration": observed},
    }


def test_a_policy_is_stepped_on_change_but_not_on_its_own_status_write(memo):
    seen = handlers.policy_seen
    asyncio.run(seen(event={"type": "ADDED"}, name="p", body=policy_body(), memo=memo))
    memo.scheduler.known.add("p")
    asyncio.run(seen(event={"type": "MODIFIED"}, name="p", body=policy_body(), memo=memo))
    asyncio.run(seen(event={"type": "MODIFIED"}, name="p", body=policy_body(3, 2), memo=memo))
    asyncio.run(seen(event={"type": "DELETED"}, name="p", body=policy_body(), memo=memo))
    assert memo.scheduler.woken == ["p", "p"] and memo.scheduler.forgotten == ["p"]


def test_an_unreachable_nns_node_becomes_kopfs_temporary_error_with_the_backoff(memo, monkeypatch):
    def unreachable(*args):
        raise nns_apply.RetryLater("attempt 1 of 3 failed", 4.0)

    monkeypatch.setattr(nns_apply, "apply_desired_state", unreachable)
    memo.playbooks = None
    body = {"metadata": {"name": "n1"}, "spec": {"desiredState": {"interfaces": []}}}
    with pytest.raises(kopf.TemporaryError) as raised:
        asyncio.run(
            handlers.nns_spec_changed(
                name="n1", body=body, old=None, new=body["spec"], retry=0, memo=memo
            )
        )
    assert raised.value.delay == 4.0


def test_an_unmanaged_nns_is_not_applied_until_managed_again_and_applied_once(memo, monkeypatch):
    applied = []
    monkeypatch.setattr(nns_apply, "apply_desired_state", lambda *args: applied.append(args))
    memo.playbooks = None
    memo.api.nns["n1"] = {"metadata": {"name": "n1", "generation": 2}}
    state = {"interfaces": []}
    body = {"metadata": {"name": "n1", "generation": 2}, "spec": {"managed": False}}

    def patched(spec):
        old = dict(body["spec"])
        body["spec"] = dict(body["spec"], **spec)
        asyncio.run(
            handlers.nns_spec_changed(
                name="n1", body=body, old=old, new=body["spec"], retry=0, memo=memo
            )
        )

    patched({"desiredState": state})
    assert applied == [] and memo.api.nns["n1"]["status"]["lastApply"]["result"] == "unmanaged"
    patched({"managed": True})
    assert len(applied) == 1
    patched({"nodeName": "n1"})  # neither the state nor managed: nothing to do
    patched({"managed": False, "desiredState": {"interfaces": [{"name": "x"}]}})
    patched({"managed": True, "desiredState": state})  # both at once: one apply
    assert len(applied) == 2


def test_a_new_leader_waits_until_its_node_index_holds_what_the_api_server_has(memo):
    """kopf lists Nodes again when a paused operator takes over: rollouts must not step on the
    index of before."""
    listed = {"n1": "120", "n2": "90"}
    memo.api.node_versions = lambda: listed
    memo.node_versions = {"n1": "100"}  # n1 seen at an older version, n2 not yet

    async def takeover():
        waiting = asyncio.create_task(handlers.index_fresh(memo))
        await asyncio.sleep(0.3)
        assert not waiting.done(), "the index is behind: still waiting"
        memo.node_versions.update(n1="121", n2="90")  # the listing caught up (n1 even newer)
        await asyncio.wait_for(waiting, 2)

    asyncio.run(takeover())


def test_index_caught_up_compares_revisions_as_numbers_and_opaque_ones_exactly():
    assert nodes.index_caught_up({"a": "10"}, {"a": "9"})
    assert not nodes.index_caught_up({"a": "9"}, {"a": "10"})
    assert not nodes.index_caught_up({}, {"a": "1"})
    assert nodes.index_caught_up({"a": "x1"}, {"a": "x1"})
    assert not nodes.index_caught_up({"a": "x2"}, {"a": "x1"})
