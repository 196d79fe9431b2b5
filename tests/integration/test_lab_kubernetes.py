"""The lab's control plane is a real Kubernetes API: Nodes, CRDs, watches, garbage collection."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from nodenet_lab import controlplane
from nodenet_lab.operator_run import wait_established


@pytest.fixture(scope="module")
def api(kubeconfig):
    return config.new_client_from_config(str(kubeconfig))


def ready_condition(node):
    return next(c for c in node.status.conditions if c.type == "Ready")


def test_every_lab_node_is_a_ready_node_object_with_its_address_and_labels(lab, api):
    listed = {n.metadata.name: n for n in client.CoreV1Api(api).list_node().items}
    for node in lab.nodes:
        obj = listed[node.name]
        assert {a.type: a.address for a in obj.status.addresses}["InternalIP"] == node.address
        labels = obj.metadata.labels
        assert labels["kubernetes.io/hostname"] == node.name
        assert labels["nodenet.lab/network-manager"] == str(node.network_manager).lower()
        assert labels["nodenet.lab/libnmstate"] == str(node.libnmstate).lower()
        assert ready_condition(obj).status == "True"


def test_ready_heartbeat_is_kept_fresh_while_nodes_answer(lab, api):
    core = client.CoreV1Api(api)
    name = lab.nodes[0].name
    first = ready_condition(core.read_node(name)).last_heartbeat_time
    deadline = time.monotonic() + 3 * controlplane.HEARTBEAT_SECONDS
    while time.monotonic() < deadline:
        current = ready_condition(core.read_node(name))
        if current.last_heartbeat_time > first:
            assert current.status == "True"
            assert current.last_transition_time <= first, "a heartbeat is not a transition"
            return
        time.sleep(1)
    pytest.fail(f"{name}'s Ready heartbeat did not move in {3 * controlplane.HEARTBEAT_SECONDS} s")


def test_kubectl_works_against_the_lab(lab):
    kubectl = shutil.which("kubectl")
    assert kubectl, "bootstrap installs kubectl (the machine's own, or Debian's kubernetes-client)"
    out = subprocess.run(
        [kubectl, "--kubeconfig", str(lab.kubeconfig), "get", "nodes", "-o", "name"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    infra = ["node/infra01"] if lab.kubelet else []
    assert sorted(out) == sorted([f"node/{n.name}" for n in lab.nodes] + infra)


CRD_GROUP = "lab.nodenet.io"


def widget_crd(plural: str) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{CRD_GROUP}"},
        "spec": {
            "group": CRD_GROUP,
            "scope": "Cluster",
            "names": {"plural": plural, "singular": plural[:-1], "kind": "Widget" + plural[-5:-1]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer"}},
                                }
                            },
                        }
                    },
                    "subresources": {"status": {}},
                }
            ],
        },
    }


def test_a_custom_resource_is_created_and_its_watch_sees_the_change(api):
    plural = f"widgets{uuid.uuid4().hex[:5]}"
    extensions = client.ApiextensionsV1Api(api)
    custom = client.CustomObjectsApi(api)
    extensions.create_custom_resource_definition(widget_crd(plural))
    try:
        wait_established(extensions, [f"{plural}.{CRD_GROUP}"])
        kind = widget_crd(plural)["spec"]["names"]["kind"]
        created = custom.create_cluster_custom_object(
            CRD_GROUP,
            "v1",
            plural,
            {
                "apiVersion": f"{CRD_GROUP}/v1",
                "kind": kind,
                "metadata": {"name": "w1"},
                "spec": {"size": 1},
            },
        )
        seen = []
        watcher = watch.Watch()

        def collect():
            for event in watcher.stream(
                custom.list_cluster_custom_object,
                CRD_GROUP,
                "v1",
                plural,
                resource_version=created["metadata"]["resourceVersion"],
                timeout_seconds=20,
            ):
                seen.append((event["type"], event["object"]["spec"]["size"]))
                if event["type"] == "MODIFIED":
                    watcher.stop()

        thread = threading.Thread(target=collect)
        thread.start()
        time.sleep(0.5)
        custom.patch_cluster_custom_object(CRD_GROUP, "v1", plural, "w1", {"spec": {"size": 2}})
        thread.join(timeout=25)
        assert ("MODIFIED", 2) in seen
    finally:
        extensions.delete_custom_resource_definition(f"{plural}.{CRD_GROUP}")


def test_garbage_collector_removes_objects_owned_by_a_deleted_node(api):
    core = client.CoreV1Api(api)
    name = f"gc-probe-{uuid.uuid4().hex[:6]}"
    owner = core.create_node({"metadata": {"name": name}})
    core.create_namespaced_config_map(
        "default",
        {
            "metadata": {
                "name": name,
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Node", "name": name, "uid": owner.metadata.uid}
                ],
            }
        },
    )
    core.delete_node(name)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            core.read_namespaced_config_map(name, "default")
        except ApiException as exc:
            assert exc.status == 404
            return
        time.sleep(0.5)
    pytest.fail("the ConfigMap owned by a deleted Node was not garbage-collected")
