"""The lab's infra node: a real kubelet, containerd and runc, and kube-proxy, running pods."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from kubernetes import client, config

from nodenet_lab import controlplane, infra, settings


@pytest.fixture(scope="module")
def core(lab):
    if not lab.kubelet:
        pytest.skip("this lab has no kubelet")
    return client.CoreV1Api(config.new_client_from_config(str(lab.kubeconfig)))


def test_the_kubelet_registers_its_own_ready_node_and_the_ssh_nodes_take_no_pods(lab, core):
    node = core.read_node(infra.NAME)
    info = node.status.node_info
    assert info.kubelet_version == settings.KUBERNETES_VERSION
    # CRI reports containerd's version without the tag's 'v'.
    assert info.container_runtime_version == "containerd://" + settings.CONTAINERD_VERSION[1:]
    assert {a.type: a.address for a in node.status.addresses}["InternalIP"] == infra.ADDRESS
    assert node.metadata.labels["nodenet.lab/infra"] == "true"
    assert next(c for c in node.status.conditions if c.type == "Ready").status == "True"
    assert not node.spec.taints, "pods may run here"
    for lab_node in lab.nodes:
        taints = core.read_node(lab_node.name).spec.taints or []
        assert [(t.key, t.effect) for t in taints] == [
            (controlplane.NO_KUBELET_TAINT["key"], "NoSchedule")
        ]


def run_pod(core, name: str, script: str, timeout: float = 120) -> tuple[str, str]:
    """A pod from the operator's image that runs `script` in Python; its phase and log."""
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "check",
                    "image": "localhost/nmstate-operator:0.1.0",
                    "command": ["python3", "-c", script],
                    "securityContext": {
                        "readOnlyRootFilesystem": True,
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }
    core.create_namespaced_pod("default", body)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pod = core.read_namespaced_pod(name, "default")
            if pod.status.phase in ("Succeeded", "Failed"):
                log = core.read_namespaced_pod_log(name, "default")
                return pod.status.phase, log
            time.sleep(0.5)
        events = core.list_namespaced_event("default", field_selector=f"involvedObject.name={name}")
        pytest.fail(f"pod {name} still {pod.status.phase}: {[e.message for e in events.items]}")
    finally:
        core.delete_namespaced_pod(name, "default", grace_period_seconds=0)


IN_CLUSTER_CHECK = """
import json, os, pathlib
from kubernetes import client, config
config.load_incluster_config()
version = client.VersionApi().get_code()
token = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount/token").read_text()
print(json.dumps({
    "uid": os.getuid(),
    "service": os.environ["KUBERNETES_SERVICE_HOST"] + ":" + os.environ["KUBERNETES_SERVICE_PORT"],
    "version": version.git_version,
    "token": len(token) > 100,
}))
"""


def test_a_pod_runs_the_operators_image_and_reaches_the_api_server_in_cluster(lab, core):
    phase, log = run_pod(core, f"incluster-{uuid.uuid4().hex[:6]}", IN_CLUSTER_CHECK)
    assert phase == "Succeeded", log
    seen = json.loads(log.strip().splitlines()[-1])
    # The Service address through kube-proxy, the projected token, the image's own user.
    assert seen == {
        "uid": 1001,
        "service": f"{controlplane.SERVICE_IP}:443",
        "version": settings.KUBERNETES_VERSION,
        "token": True,
    }
