"""The API server and etcd go away and come back: during idle reporting (no NNS written for
nothing, no crash, no hot loop) and during a rollout (it finishes within maxUnavailable,
applying no node twice)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from e2e_support import bridge, condition, scrape_samples, start_policy, wait_for, wait_settled
from nmstate_operator import journal
from operator_fixtures import METRICS_PORT

OUTAGE_SECONDS = 10  # how long the fault lasts: two report rounds and kopf's reconnects


def nns_writes() -> float:
    return scrape_samples(METRICS_PORT).get(
        ("nmstate_operator_api_writes_total", frozenset({("kind", "NodeNetworkState")})), 0.0
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the operator process itself (not its playbook runs: report
    rounds go on over SSH while the API is away), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:13])
    return ticks / os.sysconf("SC_CLK_TCK")


def report_ended_after(runner_dir, moment: float) -> bool:
    records = journal.read(runner_dir)
    reports = {r["run"] for r in records if r.get("kind") == "report" and r["event"] == "start"}
    return any(r["event"] == "end" and r["run"] in reports and r["time"] > moment for r in records)


def test_outages_while_idle_write_no_nns_and_reporting_resumes(
    api, operator_process, faults, fault_log
):
    """The API server, then etcd, away for a while each: no crash, no hot loop, and once back,
    report rounds go on without writing an NNS for nothing."""
    marker = time.time()
    wait_for(
        lambda: report_ended_after(operator_process.runner_dir, marker),
        60,
        "a full report round",
        operator_process,
    )
    for service in ("kube-apiserver", "etcd"):
        before = nns_writes()
        cpu_before = cpu_seconds(operator_process.process.pid)
        with faults.down(service):
            time.sleep(OUTAGE_SECONDS)  # the fault itself: the server stays away this long
            cpu_during = cpu_seconds(operator_process.process.pid) - cpu_before
        assert operator_process.poll() is None, f"the operator must ride a {service} outage out"
        for _ in range(2):
            mark = time.time()
            wait_for(
                lambda m=mark: report_ended_after(operator_process.runner_dir, m),
                90,
                "reporting to resume",
                operator_process,
            )
        writes = nns_writes() - before
        fault_log.idle_nns_writes[f"a {service} outage"] = writes
        assert writes == 0, f"{writes:g} NNS writes through a {service} outage, nothing changed"
        assert cpu_during < OUTAGE_SECONDS * 0.5, (
            f"{cpu_during:.1f} CPU s while {service} was away: a hot loop"
        )


def test_a_rollout_finishes_through_api_server_and_etcd_restarts(
    lab, api, operator_process, cleanup, faults, fault_log
):
    nodes = lab.nodes[:2]
    name = "fault-cp-rollout"
    start_policy(api, cleanup, name, nodes, bridge("brcp"), ["brcp"], max_unavailable=1)
    fault_log.max_unavailable[name] = 1
    wait_for(
        lambda: any(
            r.get("policy") == name and r["event"] == "start"
            for r in journal.read(operator_process.runner_dir)
        ),
        60,
        "the first batch to start",
        operator_process,
    )
    faults.restart("kube-apiserver")
    faults.restart("etcd")
    policy = wait_settled(api, name, operator_process)
    converged = condition(policy, "Available").get("status") == "True"
    fault_log.converged[name] = converged
    assert converged, policy["status"]
    records = journal.read(operator_process.runner_dir)
    assert journal.peak_in_flight(records, ("apply", "verify"), name) <= 1
    twice = [key for key in fault_log.applied_twice(records) if key[0] == name]
    assert twice == [], twice
    for node in nodes:
        assert "brcp" in node.run("ip -br link").stdout
