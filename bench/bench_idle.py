"""Benchmark 3: the cost of an idle cluster, how fast a change shows, and memory.

With N idle nodes for 3 report periods: NNS writes per minute (target 0) and the controller's
CPU seconds per report period (the operator and the ansible-runner runs it waited for). Then
one interface appears on one node: the time until its NNS shows it (target: one period + 5 s).
Memory: the operator's peak (PSS), that of its whole process tree and of the ssh connections
it keeps open, over N nodes; then a second operator over a tenth of the nodes, for the growth
per node, and for the CPU per round split into a part per node and a fixed part (from which
the 1,000-node round is projected).
"""

from __future__ import annotations

import time

from common import (
    NNS,
    MemorySampler,
    Operator,
    api_for,
    bring_up,
    cpu_seconds,
    log,
    metric,
    peak_rss_mib,
    save,
    table,
    wait_all_reported,
    wait_until,
    workdir,
)
from kubernetes import client

PROBE_LINK = "brprobe"


SMALL_LABEL = "bench.nodenet.io/memory"
ROUNDS = 3
ROUND_TIMEOUT = 600


def rounds_done() -> float:
    """Report runs the operator has finished (its run-duration histogram's count)."""
    return metric(
        "nmstate_operator_run_duration_seconds_count", {"playbook": "nodenet.nmstate.report"}
    )


def wait_round_end(after: float, timeout: float) -> float:
    """Until more than `after` report runs have finished; returns how many have."""
    return wait_until(
        lambda: (done := rounds_done()) > after and done, timeout, "a report round", interval=0.2
    )


def run(quick: bool, nodes: int | None = None) -> dict:
    nodes = nodes or (10 if quick else 100)
    period = 10 if quick else 30
    lab = bring_up(nodes)
    api = api_for(lab)
    custom = client.CustomObjectsApi(api)
    work = workdir("idle")
    node = lab.nodes[-1]
    node.run(f"ip link del {PROBE_LINK} 2>/dev/null || true")
    with Operator(lab, api, work / "operator", report_interval=period, forks=100) as operator:
        memory = MemorySampler(operator)
        wait_all_reported(custom, nodes, 20 * period)
        # Exactly ROUNDS whole rounds, from the end of one to the end of another: a round that
        # takes longer than the period (many nodes on this machine's CPUs) is counted as one.
        # (The rounds right after start-up, of every node and of each NNS seen first, are
        # left out.)
        after_round = wait_round_end(wait_round_end(rounds_done(), ROUND_TIMEOUT), ROUND_TIMEOUT)
        writes_before = metric("nmstate_operator_api_writes_total", {"kind": "NodeNetworkState"})
        cpu_before = cpu_seconds(operator.pid)
        started = time.monotonic()
        with memory:
            wait_round_end(after_round + ROUNDS - 1, ROUNDS * ROUND_TIMEOUT)
        idle_seconds = time.monotonic() - started
        cpu = cpu_seconds(operator.pid) - cpu_before
        writes = (
            metric("nmstate_operator_api_writes_total", {"kind": "NodeNetworkState"})
            - writes_before
        )
        writes_per_minute = writes / idle_seconds * 60
        cpu_per_round = cpu / ROUNDS
        round_seconds = idle_seconds / ROUNDS

        node.run(f"ip link add {PROBE_LINK} type bridge")
        changed = time.monotonic()

        def shown():
            nns = custom.get_cluster_custom_object(*NNS, node.name)
            interfaces = ((nns.get("status") or {}).get("currentState") or {}).get(
                "interfaces"
            ) or []
            return any(i.get("name") == PROBE_LINK for i in interfaces)

        # Up to two rounds: the one under way may have asked that node already.
        timeout = max(5 * period, 3 * round_seconds)
        wait_until(shown, timeout, "the NNS to show the new link", interval=0.2)
        visible_after = time.monotonic() - changed
        node.run(f"ip link del {PROBE_LINK}")
        peak_operator = peak_rss_mib(operator.pid)
    small = max(1, nodes // 10)
    small_memory, small_cpu = small_operator(lab, api, work, small, period)
    growth = (memory.peak["operator_mib"] - small_memory["operator_mib"]) / (nodes - small)
    # The round's cost grows by `marginal` per node over a fixed part (ansible-playbook's
    # start, the lists): from the two operators, over N and over a tenth of N.
    marginal = (cpu_per_round - small_cpu) / (nodes - small)
    fixed = max(0.0, small_cpu - small * marginal)
    projected_share = (fixed + 1000 * marginal) / 2 / 60
    rows = [
        ["nodes", nodes, ""],
        ["report period (s)", period, ""],
        [
            "NNS writes per minute, idle",
            writes_per_minute,
            "target 0: " + ("met" if writes == 0 else "MISSED"),
        ],
        [
            "report round (s), idle",
            round_seconds,
            "longer than the period: rounds follow each other"
            if round_seconds > period * 1.05
            else "",
        ],
        ["controller CPU s per report round", cpu_per_round, ""],
        [
            "controller CPU s per node per idle round",
            cpu_per_round / nodes,
            "target <= 0.03: " + ("met" if cpu_per_round / nodes <= 0.03 else "MISSED"),
        ],
        [f"controller CPU s per report round over {small} nodes", small_cpu, ""],
        ["controller CPU s per round: per node (marginal)", marginal, ""],
        ["controller CPU s per round: fixed", fixed, ""],
        [
            "projected idle round of 1,000 nodes on 2 cores, share of a 60 s period",
            projected_share,
            "(fixed + 1000 x marginal) / 2 cores / 60 s; target <= 0.25: "
            + ("met" if projected_share <= 0.25 else "MISSED"),
        ],
        [
            "change visible in NNS after (s)",
            visible_after,
            f"target <= {period + 5}: " + ("met" if visible_after <= period + 5 else "MISSED"),
        ],
        [f"operator peak PSS over {nodes} nodes, idle (MiB)", memory.peak["operator_mib"], ""],
        [f"operator peak RSS over {nodes} nodes, whole run (MiB)", peak_operator, ""],
        [f"operator peak PSS over {small} nodes, idle (MiB)", small_memory["operator_mib"], ""],
        ["operator growth per node (MiB)", growth, ""],
        [
            "process tree peak PSS, idle (MiB)",
            memory.peak["tree_mib"],
            "operator, ansible-runner, ansible-playbook, workers, ssh",
        ],
        [
            "open ssh connections, peak PSS (MiB)",
            memory.peak["ssh_masters_mib"],
            f"{memory.ssh_masters} ControlPersist masters",
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
        "round_s": round_seconds,
        "cpu_s_per_round": cpu_per_round,
        "cpu_s_per_node_per_round": cpu_per_round / nodes,
        "cpu_s_per_round_small": small_cpu,
        "cpu_s_per_round_marginal_per_node": marginal,
        "cpu_s_per_round_fixed": fixed,
        "projected_1000_node_round_share_of_60s_on_2_cores": projected_share,
        "change_visible_s": visible_after,
        "memory_mib": {
            "operator_peak_pss": memory.peak["operator_mib"],
            "operator_peak_rss_whole_run": peak_operator,
            "operator_peak_pss_small": small_memory["operator_mib"],
            "small_nodes": small,
            "operator_growth_per_node": growth,
            "tree_peak_pss": memory.peak["tree_mib"],
            "ssh_masters_peak_pss": memory.peak["ssh_masters_mib"],
            "ssh_masters": memory.ssh_masters,
        },
        "targets": {"nns_writes_per_minute": 0, "change_visible_s": period + 5},
    }


def small_operator(lab, api, work, small: int, period: int) -> tuple[dict, float]:
    """The peak memory, and the controller CPU s per round, of an operator that manages only
    the first `small` nodes (its node selector), over ROUNDS idle rounds once they are
    reported."""
    core = client.CoreV1Api(api)
    for index, node in enumerate(lab.nodes):
        label = "small" if index < small else None
        core.patch_node(node.name, {"metadata": {"labels": {SMALL_LABEL: label}}})
    with Operator(
        lab,
        api,
        work / "operator-small",
        report_interval=period,
        forks=100,
        node_selector=f"{SMALL_LABEL}=small",
    ) as operator:
        sampler = MemorySampler(operator)
        # Its first rounds fill its digests.
        after_round = wait_round_end(wait_round_end(0, ROUND_TIMEOUT), ROUND_TIMEOUT)
        cpu_before = cpu_seconds(operator.pid)
        with sampler:
            wait_round_end(after_round + ROUNDS - 1, ROUNDS * ROUND_TIMEOUT)
        cpu = cpu_seconds(operator.pid) - cpu_before
    for node in lab.nodes[:small]:
        core.patch_node(node.name, {"metadata": {"labels": {SMALL_LABEL: None}}})
    return sampler.peak, cpu / ROUNDS


def main(quick: bool, nodes: int | None = None) -> dict:
    result = run(quick, nodes)
    name = "idle" if nodes is None else f"idle-n{nodes}"
    log(f"results: {save(name, result, quick)}")
    return result
