"""Benchmark 1: the floor and the overhead of one apply, five ways, on one node.

a. nmstatectl apply on the node itself (timed on the node: the floor)
b. ansible-playbook nodenet.nmstate.apply from the controller
c. the same playbook through ansible-runner (as the operator runs it)
d. a desiredState patched onto the node's NNS, until its status says applied
e. an NNCP selecting the node, until Available
f. by hand: one ssh to the node running nmstatectl apply and the same probes (ping the
   controller and the gateway, resolve the probe name): the floor for e's wall time

Each way applies the same bridge state and then removes it (the removal is not timed). d and e
each start from a quiet operator: once every run it started over the node has ended.

CPU, from process accounting, not wall time: nmstate's own on the node (the shell's `times`
of nmstatectl apply in a), the controller's for c (this process and the ansible-runner and
ansible-playbook children it waited for), and the node side of c (the whole machine's busy
time during c less the controller's: the nodes run on this machine, so anything else that ran
meanwhile counts too; it is an upper bound).
"""

from __future__ import annotations

import ipaddress
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from common import (
    NNCP,
    NNS,
    Operator,
    api_for,
    bring_up,
    collections_path,
    log,
    machine_busy_seconds,
    median,
    save,
    table,
    wait_runs_ended,
    wait_until,
    workdir,
)
from kubernetes import client
from nmstate_operator import config as operator_config
from nmstate_operator.playbooks import Playbooks

BRIDGE = "brbench"


def state(present: bool = True) -> dict:
    if not present:
        return {"interfaces": [{"name": BRIDGE, "type": "linux-bridge", "state": "absent"}]}
    return {
        "interfaces": [
            {
                "name": BRIDGE,
                "type": "linux-bridge",
                "state": "up",
                "bridge": {"options": {"stp": {"enabled": False}}, "port": []},
            }
        ]
    }


def run(quick: bool) -> dict:
    reps = 3 if quick else 5
    lab = bring_up(1)
    node = lab.nodes[0]
    api = api_for(lab)
    custom = client.CustomObjectsApi(api)
    work = workdir("floor")
    collections = collections_path(work)
    timings: dict[str, list[float]] = {k: [] for k in "abcdef"}

    def reset() -> None:
        node.apply(state(False))

    cpu: dict[str, list[float]] = {"nmstate": [], "controller": [], "node": []}

    # a. the floor: nmstatectl on the node, timed there, with its CPU time (bash's `times`)
    for _ in range(reps):
        reset()
        out = node.run(
            "s=$(date +%s%N); nmstatectl apply --kernel >/dev/null 2>&1 || exit 1; "
            "e=$(date +%s%N); echo $((e-s)); times",
            input=json.dumps(state()),
        ).stdout.split("\n")
        timings["a"].append(int(out[0].strip()) / 1e9)
        cpu["nmstate"].append(children_cpu_of_times(out[2]))

    # b. ansible-playbook, as a user runs it
    data = work / "state.json"
    data.write_text(json.dumps({"nmstate_desired_state": state()}))
    env = dict(
        os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_CONFIG=str(lab.ansible_cfg)
    )
    playbook = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i",
        str(lab.inventory),
        "--limit",
        node.name,
        "nodenet.nmstate.apply",
        "-e",
        f"@{data}",
    ]
    for _ in range(reps):
        reset()
        started = time.monotonic()
        subprocess.run(playbook, env=env, check=True, capture_output=True)
        timings["b"].append(time.monotonic() - started)

    # c. ansible-runner, through the operator's own playbook service
    key = lab.state_dir / "keys" / "id_ed25519"
    flags = ["--collections-path", str(collections), "--ssh-private-key", str(key)]
    flags += ["--known-hosts", str(lab.state_dir / "known_hosts")]  # each node's key, by name
    config = operator_config.parse([*flags, "--runner-dir", str(work / "runner-c")])
    playbooks = Playbooks(config)
    for _ in range(reps):
        reset()
        busy, mine = machine_busy_seconds(), own_cpu_seconds()
        started = time.monotonic()
        outcomes = playbooks.apply({node.name: node.address}, state(), "bench", {})
        timings["c"].append(time.monotonic() - started)
        controller = own_cpu_seconds() - mine
        cpu["controller"].append(controller)
        cpu["node"].append(machine_busy_seconds() - busy - controller)
        assert outcomes[node.name].applied, outcomes

    # f. by hand: one ssh running the apply and the probes the operator's apply would run
    answer = node.run("ip -4 route show default | awk '{print $3; exit}'").stdout.strip()
    gateway = str(ipaddress.ip_address(answer))  # the node's answer is data: an address or nothing
    # The lab's controller (the SSH client) is the nodes' gateway: both probes ping it.
    by_hand = (
        f"nmstatectl apply --kernel >/dev/null 2>&1 && ping -c1 -W2 {gateway} >/dev/null && "
        f"ping -c1 -W2 {gateway} >/dev/null && getent hosts root-servers.net >/dev/null"
    )
    for _ in range(reps):
        reset()
        started = time.monotonic()
        node.run(by_hand, input=json.dumps(state()))
        timings["f"].append(time.monotonic() - started)

    with Operator(lab, api, work / "operator", report_interval=600) as operator:
        # d. NNS patch until its lastApply says applied for the new generation
        wait_until(lambda: custom.get_cluster_custom_object(*NNS, node.name), 60, "the NNS")
        for _ in range(reps):
            reset()
            custom.patch_cluster_custom_object(*NNS, node.name, {"spec": {"desiredState": None}})
            wait_runs_ended(operator.runner_dir, [node.name])
            started = time.monotonic()
            patched = custom.patch_cluster_custom_object(
                *NNS, node.name, {"spec": {"desiredState": state()}}
            )
            generation = patched["metadata"]["generation"]

            def applied(generation=generation):
                last = (custom.get_cluster_custom_object(*NNS, node.name).get("status") or {}).get(
                    "lastApply"
                ) or {}
                return last.get("generation") == generation and last.get("result") == "applied"

            wait_until(applied, 300, "the NNS apply")
            timings["d"].append(time.monotonic() - started)
        custom.patch_cluster_custom_object(*NNS, node.name, {"spec": {"desiredState": None}})

        # e. NNCP until Available
        for rep in range(reps):
            reset()
            wait_runs_ended(operator.runner_dir, [node.name])
            name = f"bench-floor-{rep}"
            body = {
                "apiVersion": "nmstate.io/v1",
                "kind": "NodeNetworkConfigurationPolicy",
                "metadata": {"name": name},
                "spec": {
                    "nodeSelector": {"kubernetes.io/hostname": node.name},
                    "desiredState": state(),
                },
            }
            started = time.monotonic()
            custom.create_cluster_custom_object(*NNCP, body)

            def available(name=name):
                conditions = (
                    custom.get_cluster_custom_object(*NNCP, name).get("status") or {}
                ).get("conditions") or []
                return any(
                    c["type"] == "Available"
                    and c["status"] == "True"
                    and c.get("reason") == "SuccessfullyConfigured"
                    for c in conditions
                )

            wait_until(available, 300, "the NNCP")
            timings["e"].append(time.monotonic() - started)
            custom.delete_cluster_custom_object(*NNCP, name)
        log(f"operator log: {operator.log_path}")
    reset()

    medians = {k: median(v) for k, v in timings.items()}
    ratios = {
        "b/a": medians["b"] / medians["a"],
        "d/b": medians["d"] / medians["b"],
        "e/b": medians["e"] / medians["b"],
        "e/f": medians["e"] / medians["f"],
    }
    cpu_medians = {k: median(v) for k, v in cpu.items()}
    node_over_nmstate = cpu_medians["node"] / max(cpu_medians["nmstate"], 0.001)
    labels = {
        "a": "nmstatectl apply on the node (floor)",
        "b": "ansible-playbook nodenet.nmstate.apply",
        "c": "ansible-runner (the operator's run)",
        "d": "NNS patch until applied",
        "e": "NNCP until Available",
        "f": "by hand: ssh + nmstatectl apply + probes",
    }
    print(
        table(
            f"Benchmark 1: one apply on one node, median of {reps} (seconds)",
            ["way", "median", "runs"],
            [[labels[k], medians[k], " ".join(f"{t:.2f}" for t in timings[k])] for k in "abcdef"],
        )
    )
    targets = {"d/b": 1.5, "e/b": 1.5, "e/f": 3.0}
    print(
        table(
            "Ratios",
            ["ratio", "value", "target"],
            [[k, v, verdict(v, targets[k]) if k in targets else "-"] for k, v in ratios.items()],
        )
    )
    print(
        table(
            f"CPU seconds per apply of one node, median of {reps}",
            ["figure", "value", "target"],
            [
                ["nmstate's own on the node (a)", cpu_medians["nmstate"], "-"],
                [
                    "controller, ansible-runner run (c)",
                    cpu_medians["controller"],
                    verdict(cpu_medians["controller"], 0.15),
                ],
                ["node side of (c), upper bound", cpu_medians["node"], "-"],
                ["node side / nmstate's own", node_over_nmstate, verdict(node_over_nmstate, 3.0)],
            ],
        )
    )
    return {
        "repetitions": reps,
        "seconds": timings,
        "medians": medians,
        "ratios": ratios,
        "cpu_seconds": cpu,
        "cpu_medians": cpu_medians,
        "node_cpu_over_nmstate": node_over_nmstate,
        "targets": dict(targets, controller_cpu_per_apply=0.15, node_cpu_over_nmstate=3.0),
    }


def verdict(value: float, target: float) -> str:
    return f"<= {target}: " + ("met" if value <= target else "MISSED")


def own_cpu_seconds() -> float:
    """This process's CPU time and that of the children it waited for (the runs)."""
    me, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def children_cpu_of_times(line: str) -> float:
    """The children's user + system time from bash's `times` line, e.g. '0m0.011s 0m0.004s'."""
    total = 0.0
    for part in line.split():
        minutes, seconds = part.rstrip("s").split("m")
        total += int(minutes) * 60 + float(seconds)
    return total


def main(quick: bool) -> dict:
    result = run(quick)
    log(f"results: {save('floor', result, quick)}")
    return result
