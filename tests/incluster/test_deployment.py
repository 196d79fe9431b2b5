"""The operator as users install it: operator/manifests/deploy/ applied unchanged, its image on
the infra node's kubelet. Run with NODENET_E2E_OPERATOR=in-cluster (scripts/test.sh does), so
`operator_process` is the Deployment; the uninstall test comes last in this file."""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from e2e_support import ROLLOUT_TIMEOUT, bridge, kubectl_wait_available, start_policy, wait_for
from in_cluster import LEADING, InClusterOperator, container_pids
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from nodenet_lab import deploy, infra

DEPLOYMENT_YAML = deploy.MANIFESTS / "deploy" / "deployment.yaml"


@pytest.fixture(scope="module")
def operator(operator_process) -> InClusterOperator:
    if not isinstance(operator_process, InClusterOperator):
        pytest.skip("run with NODENET_E2E_OPERATOR=in-cluster (scripts/test.sh does)")
    return operator_process


def in_infra(*argv: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """A command in the infra node's network: where the kubelet and Services are."""
    return subprocess.run(
        infra.in_netns(list(argv)), capture_output=True, text=True, timeout=timeout
    )


def http_get(url: str) -> tuple[int, str]:
    """GET from inside the infra node's network, as the kubelet's probes and a Service's
    clients reach pods (Python, since no other HTTP client is sure to be there)."""
    script = (
        "import sys, urllib.request\n"
        "with urllib.request.urlopen(sys.argv[1], timeout=10) as r:\n"
        "    print(r.status); print(r.read().decode())\n"
    )
    done = in_infra("python3", "-c", script, url)
    assert done.returncode == 0, done.stderr
    status, _, body = done.stdout.partition("\n")
    return int(status), body


def main_process(pod: dict) -> int:
    """The host PID of the pod's operator process (its container's PID 1)."""
    for pid in container_pids(pod):
        with contextlib.suppress(OSError):
            if b"nmstate_operator" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
    raise AssertionError(f"no operator process of pod {pod['metadata']['name']} on the host")


def test_two_pods_run_as_shipped_non_root_on_a_read_only_root(lab, api, operator):
    shipped = yaml.safe_load(DEPLOYMENT_YAML.read_text().split("\n---\n")[0])
    running = deploy.running_pods(lab.kubeconfig)
    assert len(running) == shipped["spec"]["replicas"] == 2
    # What the uninstall test expects to be gone: one operator process per pod.
    assert len(operator.container_processes()) == 2, operator.container_processes()
    for pod in running:
        assert pod["spec"]["nodeName"] == infra.NAME
        container = pod["spec"]["containers"][0]
        assert container["image"] == shipped["spec"]["template"]["spec"]["containers"][0]["image"]
        status = pod["status"]["containerStatuses"][0]
        assert status["ready"] and status["restartCount"] == 0, status
        pid = main_process(pod)
        uids = next(
            line
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("Uid:")
        )
        assert uids.split()[1:] == ["1001"] * 4, uids
        root = next(
            line.split()
            for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
            if line.split()[4] == "/"
        )
        assert "ro" in root[5].split(","), f"the root file system is mounted {root[5]}"
        caps = next(
            line
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("CapEff:")
        )
        assert int(caps.split()[1], 16) == 0, "every capability dropped"


def test_one_pod_leads_through_peering_and_the_other_waits(lab, operator):
    leader = operator.wait_for_leader(60)
    others = [
        p["metadata"]["name"]
        for p in deploy.running_pods(lab.kubeconfig)
        if p["metadata"]["name"] != leader
    ]
    assert len(others) == 1
    # A pod killed by an earlier test stays in the peering until its lifetime (60 s) runs
    # out, and its replacement joins once it runs: wait for the two replicas that run now.
    wait_for(
        lambda: set(operator.peers()) == {leader, *others},
        120,
        "both running replicas, and only they, to take part in the peering",
        operator,
    )
    peers = operator.peers()
    assert peers[leader] > peers[others[0]], "the leader is the one with the higher priority"
    assert LEADING not in operator.logs(others[0])


def test_liveness_passes_and_metrics_are_served_through_the_service(lab, api, operator):
    for pod in deploy.running_pods(lab.kubeconfig):
        assert http_get(f"http://{pod['status']['podIP']}:8080/healthz")[0] == 200
    # The kubelet probes every 30 s: once it has probed each pod (its access log shows the
    # kube-probe agent), none of its probes of these pods may have failed.
    running = [p["metadata"]["name"] for p in deploy.running_pods(lab.kubeconfig)]
    wait_for(
        lambda: all("kube-probe/" in operator.logs(name) for name in running),
        90,
        "the kubelet's liveness probes",
        operator,
    )
    events = client.CoreV1Api(api).list_namespaced_event(deploy.NAMESPACE).items
    assert not [
        e.message for e in events if e.reason == "Unhealthy" and e.involved_object.name in running
    ]
    assert all(
        p["status"]["containerStatuses"][0]["restartCount"] == 0
        for p in deploy.running_pods(lab.kubeconfig)
    )

    service = client.CoreV1Api(api).read_namespaced_service(
        "nmstate-operator-metrics", deploy.NAMESPACE
    )
    status, text = http_get(f"http://{service.spec.cluster_ip}:8089/metrics")
    assert status == 200
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"kubernetes_nmstate_policies_status", "nmstate_operator_run_duration_seconds"} <= names


def test_the_other_pod_takes_over_and_the_replacement_joins_as_a_standby(lab, operator):
    """Mid-rollout, the same handover is test_operator_restart.py's (run in-cluster too)."""
    leader = operator.wait_for_leader(60)
    operator.kill()
    survivor = operator.wait_for_leader(120)
    assert survivor != leader
    wait_for(
        lambda: len(deploy.running_pods(lab.kubeconfig)) == 2, 120, "the replacement pod", operator
    )
    replacement = next(
        p["metadata"]["name"]
        for p in deploy.running_pods(lab.kubeconfig)
        if p["metadata"]["name"] != survivor
    )
    wait_for(
        lambda: replacement in operator.peers(), 60, "the replacement to join the peering", operator
    )
    peers = operator.peers()
    assert peers[survivor] > peers[replacement], "priority 'oldest': a new pod ranks lower"
    assert operator.leader() == survivor
    assert LEADING not in operator.logs(replacement)


def test_uninstall_in_the_documented_order_leaves_nothing_behind(lab, api, operator, cleanup):
    # Something for the uninstall to clean: a policy with its enactments, and the NNSs.
    start_policy(
        api, cleanup, "incluster-left", lab.nodes[:1], bridge("brleft"), bridges=["brleft"]
    )
    waited = kubectl_wait_available(lab, "incluster-left", ROLLOUT_TIMEOUT)
    assert waited.returncode == 0, waited.stderr

    started = time.monotonic()
    operator.stop()  # deploy.uninstall: policies, peering, deploy/, CRDs, each waited for
    operator.uninstall_seconds = time.monotonic() - started

    assert not deploy.namespace_exists(lab.kubeconfig)
    extensions = client.ApiextensionsV1Api(api)
    left = [
        crd.metadata.name
        for crd in extensions.list_custom_resource_definition().items
        if crd.spec.group in ("nmstate.io", "kopf.dev")
    ]
    assert left == [], "a CRD left means an object of it kept a finalizer"
    rbac = client.RbacAuthorizationV1Api(api)
    assert not [r for r in rbac.list_cluster_role().items if "nmstate" in r.metadata.name]
    assert not [b for b in rbac.list_cluster_role_binding().items if "nmstate" in b.metadata.name]
    assert operator.container_processes() == [], "no process of the operator's pods is left"
