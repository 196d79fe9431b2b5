"""Benchmark 3: the cost of an idle cluster, and how fast a change shows.

With N idle nodes for 3 report periods: NNS writes per minute (target 0) and the controller's
CPU seconds per report period (the operator and the ansible-runner runs it waited for). Then
one interface appears on one node: the time until its NNS shows it (target: one period + 5 s).
"""

from __future__ import annotations

import time

from common import (
    NNS,
    Operator,
    api_for,
    bring_up,
    cpu_seconds,
    log,
    metric,
    save,
    table,
    wait_all_reported,
    wait_until,
    workdir,
)
from kubernetes import client

PROBE_LINK = "brprobe"


def run(quick: bool) -> dict:
    nodes = 10 if quick else 100
    period = 10 if quick else 30
    lab = bring_up(nodes)
    api = api_for(lab)
    custom = client.CustomObjectsApi(api)
    work = workdir("idle")
    node = lab.nodes[-1]
    node.run(f"ip link del {PROBE_LINK} 2>/dev/null || true")
    with Operator(lab, api, work / "operator", report_interval=period, forks=100) as operator:
        wait_all_reported(custom, nodes, 20 * period)
        time.sleep(period)  # let the round that filled them finish
        writes_before = metric("nmstate_operator_api_writes_total", {"kind": "NodeNetworkState"})
        cpu_before = cpu_seconds(operator.pid)
        started = time.monotonic()
        time.sleep(3 * period)
        idle_seconds = time.monotonic() - started
        cpu = cpu_seconds(operator.pid) - cpu_before
        writes = (
            metric("nmstate_operator_api_writes_total", {"kind": "NodeNetworkState"})
            - writes_before
        )
        writes_per_minute = writes / idle_seconds * 60
        cpu_per_period = cpu / (idle_seconds / period)

        node.run(f"ip link add {PROBE_LINK} type bridge")
        changed = time.monotonic()

        def shown():
            nns = custom.get_cluster_custom_object(*NNS, node.name)
            interfaces = ((nns.get("status") or {}).get("currentState") or {}).get(
                "interfaces"
            ) or []
            return any(i.get("name") == PROBE_LINK for i in interfaces)

        wait_until(shown, 5 * period, "the NNS to show the new link", interval=0.2)
        visible_after = time.monotonic() - changed
        node.run(f"ip link del {PROBE_LINK}")
    rows = [
        ["nodes", nodes, ""],
        ["report period (s)", period, ""],
        [
            "NNS writes per minute, idle",
            writes_per_minute,
            "target 0: " + ("met" if writes == 0 else "MISSED"),
        ],
        ["controller CPU s per report period", cpu_per_period, ""],
        [
            "controller CPU s per node per idle round",
            cpu_per_period / nodes,
            "target <= 0.03: " + ("met" if cpu_per_period / nodes <= 0.03 else "MISSED"),
        ],
        [
            "projected idle round of 1,000 nodes on 2 cores, share of a 60 s period",
            1000 * cpu_per_period / nodes / 2 / 60,
            "target <= 0.25: "
            + ("met" if 1000 * cpu_per_period / nodes / 2 / 60 <= 0.25 else "MISSED"),
        ],
        [
            "change visible in NNS after (s)",
            visible_after,
            f"target <= {period + 5}: " + ("met" if visible_after <= period + 5 else "MISSED"),
        ],
    ]
    print(
        table("Benchmark 3: idle cost and time to show a change", ["figure", "value", "note"], rows)
    )
    log(f"operator log: {operator.log_path}")
    return {
        "nodes": nodes,
        "report_period_s": period,
        "idle_s": idle_seconds,
        "nns_writes_per_minute": writes_per_minute,
        "cpu_s_per_period": cpu_per_period,
        "cpu_s_per_node_per_round": cpu_per_period / nodes,
        "change_visible_s": visible_after,
        "targets": {"nns_writes_per_minute": 0, "change_visible_s": period + 5},
    }


def main(quick: bool) -> dict:
    result = run(quick)
    log(f"results: {save('idle', result, quick)}")
    return result
