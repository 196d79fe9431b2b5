"""The Kubernetes side: Nodes in, NodeNetworkState objects and Events out."""

from __future__ import annotations

import datetime
import json

from kubernetes import client
from kubernetes.client.rest import ApiException

from . import metrics

GROUP = "nmstate.io"
NNS_VERSION = "v1beta1"
NNS_PLURAL = "nodenetworkstates"
NNCP_VERSION = "v1"
NNCP_PLURAL = "nodenetworkconfigurationpolicies"
NNCE_VERSION = "v1beta1"
NNCE_PLURAL = "nodenetworkconfigurationenactments"
POLICY_LABEL = "nmstate.io/policy"
NODE_LABEL = "nmstate.io/node"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_address(node: dict, address_type: str) -> str | None:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == address_type:
            return address.get("address")
    return None


def list_nodes(core: client.CoreV1Api) -> list[dict]:
    return [client.ApiClient().sanitize_for_serialization(n) for n in core.list_node().items]


def ensure_nns(custom: client.CustomObjectsApi, node_name: str, node_uid: str) -> bool:
    """Create the node's NNS, owned by the Node so it goes when the Node goes. True if created."""
    body = {
        "apiVersion": f"{GROUP}/{NNS_VERSION}",
        "kind": "NodeNetworkState",
        "metadata": {
            "name": node_name,
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "name": node_name,
                    "uid": node_uid,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "spec": {"nodeName": node_name},
    }
    try:
        custom.create_cluster_custom_object(GROUP, NNS_VERSION, NNS_PLURAL, body)
        metrics.API_WRITES.labels("NodeNetworkState").inc()
        return True
    except ApiException as exc:
        if exc.status == 409:
            return False
        raise


def list_nns(custom: client.CustomObjectsApi) -> dict[str, dict]:
    listed = custom.list_cluster_custom_object(GROUP, NNS_VERSION, NNS_PLURAL)
    return {item["metadata"]["name"]: item for item in listed.get("items", [])}


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def condition(kind: str, status: str, reason: str, message: str, previous: list[dict]) -> dict:
    """A standard condition; its transition time moves only when its status does."""
    old = next((c for c in previous if c.get("type") == kind), None)
    stamp = now()
    changed = old is None or old.get("status") != status
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastHeartbeatTime": stamp,
        "lastTransitionTime": stamp if changed else old.get("lastTransitionTime", stamp),
    }


def same_conditions(a: list[dict], b: list[dict]) -> bool:
    def key(conditions):
        return sorted(
            (c["type"], c["status"], c.get("reason"), c.get("message")) for c in conditions
        )

    return key(a) == key(b)


def patch_nns_status(custom: client.CustomObjectsApi, name: str, status: dict) -> None:
    custom.patch_cluster_custom_object_status(
        GROUP, NNS_VERSION, NNS_PLURAL, name, {"status": status}
    )
    metrics.API_WRITES.labels("NodeNetworkState").inc()


def get_policy(custom: client.CustomObjectsApi, name: str) -> dict | None:
    try:
        return custom.get_cluster_custom_object(GROUP, NNCP_VERSION, NNCP_PLURAL, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def list_policies(custom: client.CustomObjectsApi) -> list[dict]:
    return custom.list_cluster_custom_object(GROUP, NNCP_VERSION, NNCP_PLURAL).get("items", [])


def patch_policy_status(custom: client.CustomObjectsApi, name: str, status: dict) -> None:
    custom.patch_cluster_custom_object_status(
        GROUP, NNCP_VERSION, NNCP_PLURAL, name, {"status": status}
    )
    metrics.API_WRITES.labels("NodeNetworkConfigurationPolicy").inc()


def enactment_name(node: str, policy: str) -> str:
    return f"{node}.{policy}"


def list_enactments(custom: client.CustomObjectsApi, policy: str | None = None) -> list[dict]:
    selector = f"{POLICY_LABEL}={policy}" if policy else ""
    listed = custom.list_cluster_custom_object(
        GROUP, NNCE_VERSION, NNCE_PLURAL, label_selector=selector
    )
    return listed.get("items", [])


def create_enactment(custom: client.CustomObjectsApi, node: str, policy: dict) -> dict:
    """The NNCE for a node and a policy, owned by the policy so it goes when the policy goes."""
    meta = policy["metadata"]
    body = {
        "apiVersion": f"{GROUP}/{NNCE_VERSION}",
        "kind": "NodeNetworkConfigurationEnactment",
        "metadata": {
            "name": enactment_name(node, meta["name"]),
            "labels": {POLICY_LABEL: meta["name"], NODE_LABEL: node},
            "ownerReferences": [
                {
                    "apiVersion": policy.get("apiVersion", f"{GROUP}/{NNCP_VERSION}"),
                    "kind": "NodeNetworkConfigurationPolicy",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "blockOwnerDeletion": False,
                }
            ],
        },
    }
    try:
        created = custom.create_cluster_custom_object(GROUP, NNCE_VERSION, NNCE_PLURAL, body)
        metrics.API_WRITES.labels("NodeNetworkConfigurationEnactment").inc()
        return created
    except ApiException as exc:
        if exc.status != 409:
            raise
        return custom.get_cluster_custom_object(
            GROUP, NNCE_VERSION, NNCE_PLURAL, body["metadata"]["name"]
        )


def patch_enactment_status(custom: client.CustomObjectsApi, name: str, status: dict) -> dict:
    patched = custom.patch_cluster_custom_object_status(
        GROUP, NNCE_VERSION, NNCE_PLURAL, name, {"status": status}
    )
    metrics.API_WRITES.labels("NodeNetworkConfigurationEnactment").inc()
    return patched


def delete_enactment(custom: client.CustomObjectsApi, name: str) -> None:
    try:
        custom.delete_cluster_custom_object(GROUP, NNCE_VERSION, NNCE_PLURAL, name)
        metrics.API_WRITES.labels("NodeNetworkConfigurationEnactment").inc()
    except ApiException as exc:
        if exc.status != 404:
            raise


def event(
    core: client.CoreV1Api, obj: dict, reason: str, message: str, kind: str = "Normal"
) -> None:
    """A Kubernetes Event about `obj`, in the default namespace (the objects are cluster-scoped)."""
    meta = obj["metadata"]
    body = {
        "metadata": {"generateName": f"{meta['name']}.", "namespace": "default"},
        "involvedObject": {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "name": meta["name"],
            "uid": meta.get("uid"),
        },
        "reason": reason,
        "message": message[:1024],
        "type": kind,
        "source": {"component": "nmstate-operator"},
        "firstTimestamp": now(),
        "lastTimestamp": now(),
        "count": 1,
    }
    core.create_namespaced_event("default", body)
    metrics.API_WRITES.labels("Event").inc()
