"""Benchmark 1: the floor and the overhead of one apply, five ways, on one node.

a. nmstatectl apply on the node itself (timed on the node: the floor)
b. ansible-playbook nodenet.nmstate.apply from the controller
c. the same playbook through ansible-runner (as the operator runs it)
d. a desiredState patched onto the node's NNS, until its status says applied
e. an NNCP selecting the node, until Available

Each way applies the same bridge state and then removes it (the removal is not timed).
"""

from __future__ import annotations

import json
import os
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
    median,
    save,
    table,
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
    timings: dict[str, list[float]] = {k: [] for k in "abcde"}

    def reset() -> None:
        node.apply(state(False))

    # a. the floor: nmstatectl on the node, timed there
    for _ in range(reps):
        reset()
        out = node.run(
            "s=$(date +%s%N); nmstatectl apply --kernel >/dev/null 2>&1 || exit 1; e=$(date +%s%N); echo $((e-s))",
            input=json.dumps(state()),
        ).stdout
        timings["a"].append(int(out.strip()) / 1e9)

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
    config = operator_config.parse([*flags, "--runner-dir", str(work / "runner-c")])
    playbooks = Playbooks(config)
    for _ in range(reps):
        reset()
        started = time.monotonic()
        outcomes = playbooks.apply({node.name: node.address}, state(), "bench", {})
        timings["c"].append(time.monotonic() - started)
        assert outcomes[node.name].applied, outcomes

    with Operator(lab, api, work / "operator", report_interval=600) as operator:
        # d. NNS patch until its lastApply says applied for the new generation
        wait_until(lambda: custom.get_cluster_custom_object(*NNS, node.name), 60, "the NNS")
        for _ in range(reps):
            reset()
            custom.patch_cluster_custom_object(*NNS, node.name, {"spec": {"desiredState": None}})
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
    }
    labels = {
        "a": "nmstatectl apply on the node (floor)",
        "b": "ansible-playbook nodenet.nmstate.apply",
        "c": "ansible-runner (the operator's run)",
        "d": "NNS patch until applied",
        "e": "NNCP until Available",
    }
    print(
        table(
            f"Benchmark 1: one apply on one node, median of {reps} (seconds)",
            ["way", "median", "runs"],
            [[labels[k], medians[k], " ".join(f"{t:.2f}" for t in timings[k])] for k in "abcde"],
        )
    )
    print(
        table(
            "Ratios (targets: d/b <= 1.5, e/b <= 1.5)",
            ["ratio", "value", "target met"],
            [
                [k, v, "-" if k == "b/a" else ("yes" if v <= 1.5 else "NO")]
                for k, v in ratios.items()
            ],
        )
    )
    return {
        "repetitions": reps,
        "seconds": timings,
        "medians": medians,
        "ratios": ratios,
        "targets": {"d/b": 1.5, "e/b": 1.5},
    }


def main(quick: bool) -> dict:
    result = run(quick)
    log(f"results: {save('floor', result, quick)}")
    return result
