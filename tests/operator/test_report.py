"""NNS status decisions: what to write after a report, and when to write nothing."""

from pathlib import Path

import pytest
from fakes import STATE as REPORTED
from fakes import Config, FakeApi, FakeRuns, merge_patch, node
from nmstate_operator import locks, playbooks
from nmstate_operator.nns import report as reporting
from nmstate_operator.nodes import NodeView
from nmstate_operator.playbooks import Playbooks, report_outcome
from nmstate_operator.runs import HostOutcome, inventory
from nmstate_operator.status import condition, nns_conditions

STATE = {"interfaces": [{"name": "eth1", "type": "ethernet", "state": "up"}]}


def nns(status=None, generation=1):
    return {"metadata": {"name": "node01", "generation": generation}, "status": status or {}}


def reported(state=STATE, version="2.2.62", network_manager=""):
    report = {
        "current_state": state,
        "nmstate_version": version,
        "network_manager_version": network_manager,
    }
    return report_outcome(HostOutcome(facts={"nmstate_report": report}))


def test_a_report_makes_the_node_available_with_its_state():
    status = reporting.status_for(reported(), nns())
    assert status["currentState"] == STATE and status["handlerNmstateVersion"] == "2.2.62"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Available": "True",
        "Failing": "False",
        "Progressing": "False",
    }


def test_an_unchanged_report_needs_no_write_even_though_heartbeats_move():
    previous = reporting.status_for(reported(), nns())
    again = reporting.status_for(reported(), nns(previous))
    assert not reporting.needs_write(previous, again)


def test_a_changed_state_or_version_needs_a_write():
    previous = reporting.status_for(reported(), nns())
    changed = {"interfaces": [{"name": "eth1", "type": "ethernet", "state": "down"}]}
    assert reporting.needs_write(previous, reporting.status_for(reported(changed), nns(previous)))
    newer = reporting.status_for(reported(version="2.2.63"), nns(previous))
    assert reporting.needs_write(previous, newer)
    assert not reporting.needs_write(previous, reporting.status_for(reported(), nns(previous)))


def test_a_network_manager_node_reports_its_version_and_a_kernel_only_node_none():
    with_network_manager = reporting.status_for(reported(network_manager="1.42.4"), nns())
    assert with_network_manager["hostNetworkManagerVersion"] == "1.42.4"
    kernel_only = reporting.status_for(reported(), nns())
    assert kernel_only["hostNetworkManagerVersion"] is None
    assert "hostNetworkManagerVersion" not in merge_patch({}, kernel_only), "no field at all"


@pytest.mark.parametrize(
    "answer",
    [
        "1.42.4\n",
        "1.42.4; id",
        "{{ lookup('pipe', 'id') }}",
        "NetworkManager 1.42.4",
        "1." + "9" * 63,
        ["1.42.4"],
        42,
        None,
    ],
)
def test_a_network_manager_version_that_is_no_short_version_string_is_not_written(answer):
    status = reporting.status_for(reported(network_manager=answer), nns())
    assert status["hostNetworkManagerVersion"] is None
    status = reporting.status_for(reported(version=answer), nns())
    assert status["handlerNmstateVersion"] is None, "nor is such an nmstate version"


def test_a_changed_network_manager_version_alone_needs_a_write_and_removes_a_stale_one():
    previous = merge_patch({}, reporting.status_for(reported(network_manager="1.42.4"), nns()))
    same = reporting.status_for(reported(network_manager="1.42.4"), nns(previous))
    assert not reporting.needs_write(previous, same)
    upgraded = reporting.status_for(reported(network_manager="1.46.0"), nns(previous))
    assert reporting.needs_write(previous, upgraded)
    stopped = reporting.status_for(reported(), nns(previous))  # NetworkManager no longer runs
    assert reporting.needs_write(previous, stopped)
    after = merge_patch(previous, stopped)
    assert "hostNetworkManagerVersion" not in after
    assert not reporting.needs_write(after, reporting.status_for(reported(), nns(after)))


def test_an_unreachable_node_is_failing_once_and_keeps_its_last_state():
    previous = reporting.status_for(reported(), nns())
    failures = ["ssh: connect to host: No route to host"]
    down = report_outcome(HostOutcome(ok=False, unreachable=True, failures=failures))
    status = reporting.status_for(down, nns(previous))
    assert "currentState" not in status, "the last known state stays"
    conditions = {c["type"]: c for c in status["conditions"]}
    assert (
        conditions["Available"]["status"] == "False"
        and conditions["Available"]["reason"] == "NodeUnreachable"
    )
    assert "No route to host" in conditions["Failing"]["message"]
    assert reporting.needs_write(previous, status)
    merged = dict(previous, **status)
    assert not reporting.needs_write(merged, reporting.status_for(down, nns(merged)))


def test_transition_time_moves_only_with_the_status():
    first = condition("Available", "True", "R", "m", [])
    first["lastTransitionTime"] = "2000-01-01T00:00:00Z"
    same = condition("Available", "True", "R", "m", [first])
    flipped = condition("Available", "False", "R", "m", [first])
    assert same["lastTransitionTime"] == "2000-01-01T00:00:00Z"
    assert flipped["lastTransitionTime"] != "2000-01-01T00:00:00Z"


def test_node_address_by_type_and_runner_inventory(tmp_path):
    body = {
        "metadata": {"name": "n1", "uid": "u"},
        "status": {
            "addresses": [
                {"type": "Hostname", "address": "n1"},
                {"type": "InternalIP", "address": "10.0.0.1"},
            ]
        },
    }
    assert NodeView.from_node(body, "InternalIP").address == "10.0.0.1"
    assert NodeView.from_node(body, "ExternalIP").address is None
    assert not NodeView.from_node(body, "InternalIP").ready

    class Config:
        ssh_user, ssh_private_key, python_interpreter = "root", tmp_path / "key", "/usr/bin/python3"
        runner_dir = tmp_path / "runner"

    Config.ssh_private_key.write_text("KEY")
    Config.ssh_private_key.chmod(0o600)
    inv = inventory({"n1": "10.0.0.1"}, Config)
    host = inv["all"]["hosts"]["n1"]
    assert host["ansible_host"] == "10.0.0.1"
    assert host["ansible_ssh_extra_args"] == "-o HostKeyAlias=n1"
    assert inv["all"]["vars"]["ansible_ssh_private_key_file"] == str(tmp_path / "key")

    # A Secret mounted with fsGroup is group-readable, which ssh refuses: a private copy is used.
    Config.ssh_private_key.chmod(0o440)
    used = Path(
        inventory({"n1": "10.0.0.1"}, Config)["all"]["vars"]["ansible_ssh_private_key_file"]
    )
    assert used != Config.ssh_private_key and used.read_text() == "KEY"
    assert used.stat().st_mode & 0o777 == 0o600


def states(conditions):
    return {c["type"]: (c["status"], c["reason"]) for c in conditions}


def test_a_failed_apply_keeps_the_node_failing_until_the_generation_moves():
    failed = {"generation": 2, "result": "failed", "message": "nmstate said no"}
    conditions = nns_conditions([], 2, failed)
    assert states(conditions)["Failing"] == ("True", "FailedToConfigure")
    assert next(c for c in conditions if c["type"] == "Failing")["message"] == "nmstate said no"
    assert (
        states(reporting.status_for(reported(), nns({"lastApply": failed}, 2))["conditions"])[
            "Available"
        ][0]
        == "False"
    )
    assert states(nns_conditions([], 3, failed))["Available"] == ("True", "SuccessfullyReported")


def test_progressing_then_applied():
    assert (
        states(nns_conditions([], 1, {"generation": 1, "result": "progressing"}))["Progressing"][0]
        == "True"
    )
    applied = nns_conditions([], 1, {"generation": 1, "result": "applied"})
    assert states(applied)["Available"] == ("True", "SuccessfullyConfigured")


def test_report_requests_cover_every_node_per_interval_and_applied_nodes_at_once():
    now = [100.0]
    requests = reporting.ReportRequests(60, clock=lambda: now[0])
    assert requests.next_round() is None  # the first round is due at once: every node
    requests.request(["node02"])
    requests.request(["node03"])
    assert requests.next_round() == {"node02", "node03"}
    now[0] += 61  # the interval has passed: every node, even with a request pending
    requests.request(["node02"])
    assert requests.next_round() is None
    requests.request()  # e.g. a new leader: every node at once
    assert requests.next_round() is None


@pytest.fixture
def round_over(monkeypatch):
    def run(nodes, outcomes, nns_names, only=None, digests=None, api=None):
        api = api or FakeApi()
        for name in nns_names:
            api.nns.setdefault(name, {"metadata": {"name": name, "generation": 1}})
        runs = FakeRuns(outcomes)
        monkeypatch.setattr(playbooks, "run_playbook", runs)
        views = {view.name: view for view in nodes}
        counts = reporting.report_round(api, Playbooks(None), views, only, digests)
        return api, runs, counts

    return run


def test_a_round_reports_reachable_nodes_and_writes_only_changes(round_over):
    nodes = [node("n1"), node("n2"), node("n3", address="")]
    outcomes = {"n1": "reported", "n2": "unreachable"}
    api, runs, counts = round_over(nodes, outcomes, ["n1", "n2", "n3"])
    assert [limit for _, limit, _ in runs.runs] == [["n1", "n2"]]  # n3 has no address
    assert counts == {"nodes": 2, "writes": 3, "unreachable": 1, "unchanged": 0}
    assert api.nns["n1"]["status"]["currentState"] == REPORTED
    failing = {c["type"]: c for c in api.nns["n2"]["status"]["conditions"]}["Failing"]
    assert failing["status"] == "True" and failing["reason"] == "NodeUnreachable"
    failing = {c["type"]: c for c in api.nns["n3"]["status"]["conditions"]}["Failing"]
    assert failing["status"] == "True" and failing["reason"] == "InvalidNodeAddress"
    assert failing["message"] == "the Node has no InternalIP address to reach it at"


def test_a_node_whose_address_is_a_template_takes_part_in_no_run(round_over):
    payload = '{{ lookup("pipe", "id > /tmp/pwned") }}10.0.0.9'
    nodes = [node("n1"), node("n9", address=payload)]
    api, runs, _counts = round_over(nodes, {"n1": "reported"}, ["n1", "n9"])
    assert [limit for _, limit, _ in runs.runs] == [["n1"]]
    failing = {c["type"]: c for c in api.nns["n9"]["status"]["conditions"]}["Failing"]
    assert (
        failing["reason"] == "InvalidNodeAddress" and "is not an IP address" in failing["message"]
    )


def test_a_round_over_some_nodes_skips_busy_ones_and_missing_nns(round_over):
    nodes = [node("n1"), node("n2"), node("n3")]
    with locks.holding(["n2"]):
        api, runs, counts = round_over(nodes, {"n1": "reported", "n3": "reported"}, ["n1"])
    assert [limit for _, limit, _ in runs.runs] == [["n1", "n3"]]
    assert counts["writes"] == 1 and "status" not in api.nns.get("n3", {})


def test_a_changed_host_key_fails_the_nns_with_one_warning(round_over):
    api, _runs, _counts = round_over([node("n1")], {"n1": "host key changed"}, ["n1"])
    failing = {c["type"]: c for c in api.nns["n1"]["status"]["conditions"]}["Failing"]
    assert failing["reason"] == "HostKeyRejected" and "no state was sent" in failing["message"]
    assert api.events == [("n1", "HostKeyRejected", "Warning")]


def test_an_unchanged_node_answers_with_its_digest_and_costs_no_write(round_over):
    digests = {}
    api, runs, counts = round_over([node("n1")], {"n1": "reported"}, ["n1"], digests=digests)
    assert runs.host_settings == [{}] and counts["writes"] == 1
    assert digests == {"n1": reporting.nns_digest(api.nns["n1"]["status"])}
    api, runs, counts = round_over([node("n1")], {"n1": "reported"}, [], digests=digests, api=api)
    assert runs.host_settings == [{"n1": {"nmstate_report_known_digest": digests["n1"]}}]
    assert counts["unchanged"] == 1 and counts["writes"] == 0
    assert api.nns["n1"]["status"]["currentState"] == REPORTED


def test_an_unchanged_answer_about_an_nns_that_changed_meanwhile_writes_nothing(round_over):
    digests = {}
    api, _runs, _counts = round_over([node("n1")], {"n1": "reported"}, ["n1"], digests=digests)
    api.nns["n1"] = {"metadata": {"name": "n1", "generation": 1}}  # recreated during the round
    api, _runs, counts = round_over([node("n1")], {"n1": "reported"}, [], digests=digests, api=api)
    assert counts["writes"] == 0 and "status" not in api.nns["n1"]
    assert digests == {}, "the next round asks for the whole report"
    _api, runs, counts = round_over([node("n1")], {"n1": "reported"}, [], digests=digests, api=api)
    assert runs.host_settings == [{}] and counts["writes"] == 1


def test_the_digests_of_nodes_that_went_are_forgotten(round_over):
    digests = {"gone": "0" * 64}
    round_over([node("n1")], {"n1": "reported"}, ["n1"], digests=digests)
    assert set(digests) == {"n1"}


@pytest.mark.parametrize("known", [None, "b" * 64])
def test_unchanged_counts_only_as_the_answer_to_the_digest_sent(known):
    claim = {"nmstate_report": {"unchanged": True, "digest": "a" * 64}}
    outcome = report_outcome(HostOutcome(facts=claim), known)
    assert not outcome.unchanged and outcome.report is None and outcome.reason == "ReportFailed"
    assert report_outcome(HostOutcome(facts=claim), "a" * 64).unchanged


def test_the_operator_computes_the_digest_the_node_computes():
    from ansible_collections.nodenet.nmstate.plugins.module_utils import info_runner

    about = {"nmstate_version": "2.2.62", "network_manager_version": "1.42.4"}
    params = {"report_node": "node01", "known_digest": None}
    full = info_runner.report(params, STATE, dict(about, mode="kernel-only", access="x"))
    status = reporting.status_for(
        report_outcome(HostOutcome(facts={"nmstate_report": full})), nns()
    )
    written = merge_patch({}, status)
    assert reporting.nns_digest(written) == full["digest"] and full["unchanged"] is False
    again = info_runner.report(dict(params, known_digest=full["digest"]), STATE, about)
    assert again["unchanged"] is True and "current_state" not in again


def test_a_changed_state_is_written_as_its_report_arrives_and_the_rest_after_the_run(round_over):
    nodes = [node("n1"), node("n2")]
    api, _runs, counts = round_over(nodes, {"n1": "reported", "n2": "reported"}, ["n1", "n2"])
    assert counts["writes"] == 2 and api.nns_lists == 0, "no list needed: both written at once"
    api, _runs, counts = round_over(nodes, {"n1": "reported", "n2": "unreachable"}, [], api=api)
    assert api.nns_lists == 1 and counts["unreachable"] == 1
    failing = {c["type"]: c for c in api.nns["n2"]["status"]["conditions"]}["Failing"]
    assert failing["status"] == "True"


def test_an_apply_that_carried_its_report_writes_the_nns_and_asks_no_report_run():
    api = FakeApi()
    for name in ("n1", "n2", "n3"):
        api.nns[name] = {"metadata": {"name": name, "generation": 1}}
    requests = reporting.ReportRequests(60, clock=lambda: 0.0)
    requests.next_round()  # the first full round is over
    digests = {}
    carried = reported(REPORTED)
    reporting.AfterApply(api, digests, requests)({"n1": carried, "n2": None, "n3": carried})
    for name in ("n1", "n3"):
        assert api.nns[name]["status"]["currentState"] == REPORTED
        assert digests[name] == reporting.nns_digest(api.nns[name]["status"])
    assert "status" not in api.nns["n2"] and "n2" not in digests
    assert requests.next_round() == {"n2"}, "only the node whose answer carried no report"


def test_the_apply_playbook_asks_for_the_report_and_its_outcome_carries_it(monkeypatch):
    runs = FakeRuns({"n1": "applied and reported", "n2": "applied"})
    monkeypatch.setattr(playbooks, "run_playbook", runs)
    outcomes = Playbooks(Config()).apply({"n1": "10.0.0.1", "n2": "10.0.0.2"}, STATE, "p", {})
    assert runs.settings[0][playbooks.APPLY_REPORT_VARIABLE] == playbooks.REPORT_FACT
    assert outcomes["n1"].applied and outcomes["n1"].report.report["current_state"] == REPORTED
    assert outcomes["n2"].applied and outcomes["n2"].report is None
