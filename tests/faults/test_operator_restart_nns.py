"""The operator killed while it applies a NodeNetworkState's desiredState, then started again:
the restarted operator checks the cut-off run's outcome first and does not apply it twice."""

from __future__ import annotations

import json
import time

from e2e_support import ROLLOUT_TIMEOUT, bridge, has_link, patch_nns, read_nns, wait_for
from nmstate_operator import journal


def nns_runs(runner_dir, name):
    return [r for r in journal.read(runner_dir) if r.get("nns") == name and r["event"] == "start"]


def test_a_killed_operator_does_not_apply_an_nns_twice(
    lab, api, operator_process, faults, fault_log
):
    node = lab.nodes[1]
    desired = bridge("brnnsrst")
    patch_nns(lab, node.name, json.dumps({"spec": {"desiredState": desired}}))
    generation = read_nns(api, node.name)["metadata"]["generation"]
    try:
        wait_for(
            lambda: any(
                r["kind"] == "apply" and r["generation"] == generation
                for r in nns_runs(operator_process.runner_dir, node.name)
            ),
            ROLLOUT_TIMEOUT,
            "the NNS apply to start",
            operator_process,
        )
        deadline = time.monotonic() + ROLLOUT_TIMEOUT
        while not has_link(node, "brnnsrst"):  # the transaction runs on the node
            assert time.monotonic() < deadline, "the bridge never came"
        operator_process.kill()
        fault_log.record("operator kill", node.name)
        last = read_nns(api, node.name)["status"]["lastApply"]
        assert (last["result"], last["generation"]) == ("progressing", generation), last
        operator_process.start()
        wait_for(
            lambda: (
                ((read_nns(api, node.name).get("status") or {}).get("lastApply") or {}).get(
                    "result"
                )
                == "applied"
            ),
            ROLLOUT_TIMEOUT,
            "the NNS to settle after the restart",
            operator_process,
        )
        runs = [
            r
            for r in nns_runs(operator_process.runner_dir, node.name)
            if r["generation"] == generation
        ]
        assert [r["kind"] for r in runs] == ["apply", "verify"], json.dumps(runs, indent=1)
        fault_log.converged[f"nns/{node.name}"] = True
    finally:
        patch_nns(lab, node.name, '{"spec": {"desiredState": null}}')
        if has_link(node, "brnnsrst"):
            node.apply(bridge("brnnsrst", "absent"))
