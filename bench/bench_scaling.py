"""Benchmark 2: one NNCP over N nodes, maxUnavailable 50% and 100%: time to Available.

Prints T(N), T(N)/T(1), the operator's peak RSS and the API writes per node, from one lab of
the largest N (the policy selects the first N nodes by a label).
"""

from __future__ import annotations

import math
import os
import time

from common import (
    NNCP,
    Operator,
    api_for,
    bring_up,
    cpu_seconds,
    log,
    machine_busy_seconds,
    metric,
    peak_rss_mib,
    save,
    table,
    wait_all_reported,
    wait_runs_ended,
    wait_until,
    workdir,
)
from kubernetes import client

BRIDGE = "brscale"
LABEL = "bench.nodenet.io/scale"


def policy(name: str, count: int, max_unavailable: str, present: bool = True) -> dict:
    interface = {"name": BRIDGE, "type": "linux-bridge", "state": "up" if present else "absent"}
    if present:
        interface["bridge"] = {"options": {"stp": {"enabled": False}}, "port": []}
    return {
        "apiVersion": "nmstate.io/v1",
        "kind": "NodeNetworkConfigurationPolicy",
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": {LABEL: f"upto{count}"},
            "maxUnavailable": max_unavailable,
            "desiredState": {"interfaces": [interface]},
        },
    }


def available(custom: client.CustomObjectsApi, name: str) -> bool:
    status = custom.get_cluster_custom_object(*NNCP, name).get("status") or {}
    return any(
        c["type"] == "Available"
        and c["status"] == "True"
        and c.get("reason") == "SuccessfullyConfigured"
        for c in status.get("conditions") or []
    )


def roll_out(core, custom, lab, count: int, name: str, max_unavailable: str, runner_dir) -> float:
    """Seconds from creating a policy over the first `count` nodes to Available, from a quiet
    operator (every run of the last rollout ended). Then undone, untimed, so that the next
    policy changes the nodes again, and the runs after the undo waited for: the CPU measured
    around a rollout holds all it cost, the NNS writes of the nodes it configured included."""
    for index, node in enumerate(lab.nodes):
        core.patch_node(
            node.name, {"metadata": {"labels": {LABEL: f"upto{count}" if index < count else None}}}
        )
    wait_runs_ended(runner_dir, [n.name for n in lab.nodes])
    started = time.monotonic()
    custom.create_cluster_custom_object(*NNCP, policy(name, count, max_unavailable))
    wait_until(lambda: available(custom, name), 1800, f"{name} to be Available", interval=0.2)
    elapsed = time.monotonic() - started
    custom.delete_cluster_custom_object(*NNCP, name)
    undo = f"{name}-undo"
    custom.create_cluster_custom_object(*NNCP, policy(undo, count, "100%", present=False))
    wait_until(lambda: available(custom, undo), 1800, "the undo policy", interval=0.5)
    custom.delete_cluster_custom_object(*NNCP, undo)
    wait_runs_ended(runner_dir, [n.name for n in lab.nodes])  # in this rollout's CPU
    return elapsed


def run(quick: bool) -> dict:
    sizes = [1, 10] if quick else [1, 10, 50, 100]
    lab = bring_up(max(sizes))
    api = api_for(lab)
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    work = workdir("scaling")
    rows, results = [], []
    with Operator(lab, api, work / "operator", report_interval=600, forks=100) as operator:
        # Warm up, untimed: every NNS reported once, SSH connections opened, one policy rolled out.
        wait_all_reported(custom, len(lab.nodes), 600)
        roll_out(core, custom, lab, 1, "bench-warmup", "100%", operator.runner_dir)
        for count in sizes:
            for max_unavailable in ("50%", "100%"):
                name = f"bench-scale-{count}-{max_unavailable.rstrip('%')}"
                writes_before = metric("nmstate_operator_api_writes_total")
                controller_before, busy_before = cpu_seconds(operator.pid), machine_busy_seconds()
                elapsed = roll_out(
                    core, custom, lab, count, name, max_unavailable, operator.runner_dir
                )
                # These include the untimed undo: per node they are halved to count one rollout.
                controller = cpu_seconds(operator.pid) - controller_before
                others = machine_busy_seconds() - busy_before - controller
                writes = metric("nmstate_operator_api_writes_total") - writes_before
                results.append(
                    {
                        "nodes": count,
                        "max_unavailable": max_unavailable,
                        "seconds": elapsed,
                        "api_writes_per_node": writes / count / 2,
                        "controller_cpu_s_per_node": controller / count / 2,
                        "other_cpu_s_per_node": others / count / 2,
                    }
                )
                log(f"N={count} maxUnavailable={max_unavailable}: {elapsed:.1f} s")
        peak = peak_rss_mib(operator.pid)
    base = {r["max_unavailable"]: r["seconds"] for r in results if r["nodes"] == 1}
    for r in results:
        r["ratio_to_one_node"] = r["seconds"] / base[r["max_unavailable"]]
        rows.append(
            [
                r["nodes"],
                r["max_unavailable"],
                r["seconds"],
                r["ratio_to_one_node"],
                r["api_writes_per_node"],
                r["controller_cpu_s_per_node"],
                r["other_cpu_s_per_node"],
            ]
        )
    largest = max(sizes)
    target = next(
        r["ratio_to_one_node"]
        for r in results
        if r["nodes"] == largest and r["max_unavailable"] == "50%"
    )
    print(
        table(
            "Benchmark 2: one NNCP to Available over N nodes (seconds)",
            [
                "N",
                "maxUnavailable",
                "T(N)",
                "T(N)/T(1)",
                "API writes/node",
                "controller CPU s/node",
                "nodes+API CPU s/node",
            ],
            rows,
        )
    )
    at_largest = next(r for r in results if r["nodes"] == largest and r["max_unavailable"] == "50%")
    per_node = at_largest["controller_cpu_s_per_node"]
    projected = projected_ratio(100, 0.5, per_node, base["50%"], os.cpu_count() or 1)
    print(
        f"operator peak RSS: {peak:.0f} MiB; measured T({largest})/T(1) at 50% = {target:.2f} "
        "(every node on this machine's CPUs with the controller: it measures the machine)"
        + (" (target <= 3: " + ("met)" if target <= 3 else "MISSED)") if largest == 100 else "")
    )
    print(
        table(
            "Targets",
            ["figure", "value", "target"],
            [
                [
                    f"controller CPU s per node per apply (N={largest}, 50%)",
                    per_node,
                    verdict(per_node, 0.15),
                ],
                [
                    "projected T(100)/T(1) at 50%, nodes on their own CPUs",
                    projected,
                    verdict(projected, 3.0),
                ],
            ],
        )
    )
    return {
        "runs": results,
        "operator_peak_rss_mib": peak,
        "largest_n": largest,
        "ratio_at_largest_50pct": target,
        "controller_cpu_s_per_node_per_apply": per_node,
        "projected_ratio_100_50pct": projected,
        "target": {
            "T(100)/T(1) at 50%": 3,
            "controller_cpu_s_per_node_per_apply": 0.15,
            "projected T(100)/T(1) at 50%": 3,
        },
    }


def projected_ratio(
    nodes: int, fraction: float, cpu_per_node: float, one_node: float, cores: int
) -> float:
    """T(N)/T(1) for nodes that run on their own CPUs (bench/README.md): the rollout takes the
    longer of its batches one after the other (each about as long as one node's apply) and the
    controller's CPU work for every node on its own cores."""
    batches = math.ceil(nodes / max(1, math.ceil(nodes * fraction)))
    batch_bound = batches * one_node
    controller_bound = nodes * cpu_per_node / cores
    return max(batch_bound, controller_bound) / one_node


def verdict(value: float, target: float) -> str:
    return f"<= {target}: " + ("met" if value <= target else "MISSED")


def main(quick: bool) -> dict:
    result = run(quick)
    log(f"results: {save('scaling', result, quick)}")
    return result
