"""Running the operator: leader election through kopf peering, metrics, structured logs."""

from __future__ import annotations

import json
import time

from e2e_support import (
    REPORT_INTERVAL,
    ROLLOUT_TIMEOUT,
    bridge,
    kubectl_wait_available,
    scrape_samples,
    start_policy,
    wait_for,
)
from kubernetes import client
from nmstate_operator import journal
from operator_fixtures import METRICS_PORT, PEERING, PRIORITY, OperatorProcess, operator_env


def peers(api):
    peering = client.CustomObjectsApi(api).get_cluster_custom_object(
        "kopf.dev", "v1", "clusterkopfpeerings", PEERING
    )
    return {peer["priority"] for peer in (peering.get("status") or {}).values() if peer}


def test_a_standby_operator_waits_while_the_leader_runs_and_takes_over_when_it_stops(
    lab, api, operator_process, operator_kubeconfig, collections_path, tmp_path
):
    env = operator_env(
        lab,
        operator_kubeconfig,
        collections_path,
        tmp_path / "runner",
        "http://127.0.0.1:18091/healthz",
        18092,
        priority=1,
    )
    standby = OperatorProcess(env, tmp_path).start()
    try:
        wait_for(lambda: peers(api) >= {1, PRIORITY}, 30, "both operators in the peering", standby)
        time.sleep(3 * REPORT_INTERVAL)
        assert journal.read(standby.runner_dir) == [], "a standby operator ran playbooks"
        assert "leading: reports and rollouts run here" not in standby.log_path.read_text()
        recent = [
            r
            for r in journal.read(operator_process.runner_dir)
            if r.get("kind") == "report" and r["time"] > time.time() - 3 * REPORT_INTERVAL
        ]
        assert recent, "the leader stopped reporting"

        operator_process.stop()
        wait_for(
            lambda: [r for r in journal.read(standby.runner_dir) if r.get("kind") == "report"],
            60,
            "the standby to take over the reports",
            standby,
        )
        assert "leading: reports and rollouts run here" in standby.log_path.read_text()
    finally:
        standby.stop()
        if operator_process.poll() is not None:
            operator_process.start()


def test_metrics_use_kubernetes_nmstate_names_and_time_the_runs(
    lab, api, operator_process, cleanup
):
    node = lab.nodes[0].name
    start_policy(api, cleanup, "e2e-metrics", [lab.nodes[0]], bridge("brmet"), bridges=["brmet"])
    waited = kubectl_wait_available(lab, "e2e-metrics", ROLLOUT_TIMEOUT)
    assert waited.returncode == 0, waited.stderr

    def counted(samples):
        enactment = ("kubernetes_nmstate_enactments_status", {"node": node, "status": "Available"})
        feature = ("kubernetes_nmstate_features_applied", {"name": "interface-linux-bridge"})
        wanted = [enactment, feature]
        return (
            samples
            if all(samples.get((n, frozenset(labels.items()))) for n, labels in wanted)
            else None
        )

    # Policy metrics are recounted after each report round.
    samples = wait_for(
        lambda: counted(scrape_samples(METRICS_PORT)), 60, "policy metrics", operator_process
    )

    def value(name, **labels):
        return samples.get((name, frozenset(labels.items())))

    assert value("kubernetes_nmstate_network_interfaces", node=node, type="veth") == 3.0
    routes = [
        value("kubernetes_nmstate_routes", ip_stack="ipv4", node=node, type=kind)
        for kind in ("static", "dynamic")
    ]
    assert None not in routes and sum(routes) >= 1, routes  # at least the management subnet
    assert value("kubernetes_nmstate_policies_status", status="Available") >= 1
    runs = value("nmstate_operator_run_duration_seconds_count", playbook="nodenet.nmstate.report")
    assert runs >= 1
    assert value("nmstate_operator_api_writes_total", kind="NodeNetworkConfigurationPolicy") >= 1


def test_logs_are_one_json_object_per_line(operator_process):
    text = operator_process.log_path.read_text()
    assert "--- Logging error ---" not in text
    assert "forbidden" not in text, "the ServiceAccount's RBAC lacks something the operator uses"
    lines = text.splitlines()
    assert lines, "no log lines"
    records = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["logger"].startswith("nmstate_operator") for r in records)
    assert any((r.get("object") or {}).get("kind") == "Node" for r in records), (
        "kopf's object field"
    )
