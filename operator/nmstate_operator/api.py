"""Every Kubernetes API call the operator makes, and the write counter that goes with them."""

from __future__ import annotations

import json

from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.rest import ApiException

from . import metrics
from .names import (
    GROUP,
    NODE_ANNOTATION,
    NODE_LABEL,
    POLICY_LABEL,
    enactment_name,
    node_label_value,
)
from .status import now

NNS_VERSION = "v1beta1"
NNS_PLURAL = "nodenetworkstates"
NNCP_VERSION = "v1"
NNCP_PLURAL = "nodenetworkconfigurationpolicies"
NNCE_VERSION = "v1beta1"
NNCE_PLURAL = "nodenetworkconfigurationenactments"
EVENT_NAMESPACE = "default"
NNS_KIND = "NodeNetworkState"
NNCP_KIND = "NodeNetworkConfigurationPolicy"
NNCE_KIND = "NodeNetworkConfigurationEnactment"


class Gone(Exception):
    """The object was deleted while we worked on it."""


def _owner(api_version: str, kind: str, name: str, uid: str) -> dict:
    """An owner reference: the garbage collector removes the object with its owner."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "blockOwnerDeletion": False,
    }


class Api:
    """The cluster as the operator sees it; in-cluster configuration, else KUBECONFIG."""

    def __init__(
        self, core: client.CoreV1Api | None = None, custom: client.CustomObjectsApi | None = None
    ) -> None:
        if core is None or custom is None:
            try:
                kube_config.load_incluster_config()
            except kube_config.ConfigException:
                kube_config.load_kube_config()
        self.core = core or client.CoreV1Api()
        self.custom = custom or client.CustomObjectsApi()

    def _wrote(self, kind: str) -> None:
        metrics.API_WRITES.labels(kind).inc()

    def _get(self, version: str, plural: str, name: str) -> dict | None:
        """One of our cluster objects by name, None when there is none."""
        try:
            return self.custom.get_cluster_custom_object(GROUP, version, plural, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _patch_status(self, version: str, plural: str, kind: str, name: str, status: dict) -> dict:
        try:
            patched = self.custom.patch_cluster_custom_object_status(
                GROUP, version, plural, name, {"status": status}
            )
        except ApiException as exc:
            if exc.status == 404:
                raise Gone(name) from exc
            raise
        self._wrote(kind)
        return patched

    # NodeNetworkStates

    def ensure_nns(self, node_name: str, node_uid: str) -> bool:
        """Create the node's NNS, owned by its Node. True if created, False if it existed."""
        body = {
            "apiVersion": f"{GROUP}/{NNS_VERSION}",
            "kind": NNS_KIND,
            "metadata": {
                "name": node_name,
                "ownerReferences": [_owner("v1", "Node", node_name, node_uid)],
            },
            "spec": {"nodeName": node_name},
        }
        try:
            self.custom.create_cluster_custom_object(GROUP, NNS_VERSION, NNS_PLURAL, body)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        self._wrote(NNS_KIND)
        return True

    def list_nns(self) -> dict[str, dict]:
        listed = self.custom.list_cluster_custom_object(GROUP, NNS_VERSION, NNS_PLURAL)
        return {item["metadata"]["name"]: item for item in listed.get("items", [])}

    def get_nns(self, name: str) -> dict | None:
        return self._get(NNS_VERSION, NNS_PLURAL, name)

    def patch_nns_status(self, name: str, status: dict) -> dict:
        return self._patch_status(NNS_VERSION, NNS_PLURAL, NNS_KIND, name, status)

    # Policies

    def get_policy(self, name: str) -> dict | None:
        return self._get(NNCP_VERSION, NNCP_PLURAL, name)

    def list_policies(self) -> list[dict]:
        listed = self.custom.list_cluster_custom_object(GROUP, NNCP_VERSION, NNCP_PLURAL)
        return listed.get("items", [])

    def set_policy_finalizers(self, policy: dict, finalizers: list[str]) -> dict:
        """The policy's finalizers set to `finalizers`, if nobody changed the policy since it
        was read (a conflict raises; the step runs again)."""
        meta = policy["metadata"]
        body = {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}}
        try:
            return self.custom.patch_cluster_custom_object(
                GROUP, NNCP_VERSION, NNCP_PLURAL, meta["name"], body
            )
        except ApiException as exc:
            if exc.status == 404:
                raise Gone(meta["name"]) from exc
            raise

    def patch_policy_status(self, name: str, status: dict) -> dict:
        return self._patch_status(NNCP_VERSION, NNCP_PLURAL, NNCP_KIND, name, status)

    # Enactments

    def list_enactments(self, policy: str | None = None) -> list[dict]:
        selector = f"{POLICY_LABEL}={policy}" if policy else ""
        listed = self.custom.list_cluster_custom_object(
            GROUP, NNCE_VERSION, NNCE_PLURAL, label_selector=selector
        )
        return listed.get("items", [])

    def create_enactment(self, node: str, policy: dict) -> dict:
        """The NNCE for a node and a policy, owned by the policy; the existing one if any."""
        meta = policy["metadata"]
        name = enactment_name(node, meta["name"])
        api_version = policy.get("apiVersion", f"{GROUP}/{NNCP_VERSION}")
        body = {
            "apiVersion": f"{GROUP}/{NNCE_VERSION}",
            "kind": NNCE_KIND,
            "metadata": {
                "name": name,
                "labels": {POLICY_LABEL: meta["name"], NODE_LABEL: node_label_value(node)},
                "annotations": {NODE_ANNOTATION: node},
                "ownerReferences": [_owner(api_version, NNCP_KIND, meta["name"], meta["uid"])],
            },
        }
        try:
            created = self.custom.create_cluster_custom_object(
                GROUP, NNCE_VERSION, NNCE_PLURAL, body
            )
        except ApiException as exc:
            if exc.status != 409:
                raise
            return self.custom.get_cluster_custom_object(GROUP, NNCE_VERSION, NNCE_PLURAL, name)
        self._wrote(NNCE_KIND)
        return created

    def patch_enactment_status(self, name: str, status: dict) -> dict:
        return self._patch_status(NNCE_VERSION, NNCE_PLURAL, NNCE_KIND, name, status)

    def delete_enactment(self, name: str) -> None:
        try:
            self.custom.delete_cluster_custom_object(GROUP, NNCE_VERSION, NNCE_PLURAL, name)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return
        self._wrote(NNCE_KIND)

    # Nodes, the API endpoint and Events

    def api_endpoint(self) -> str | None:
        """host:port where the cluster publishes its API server: a ready endpoint of the
        default/kubernetes Service's EndpointSlice (the address nodes reach it at)."""
        slices = client.DiscoveryV1Api().list_namespaced_endpoint_slice(
            "default", label_selector="kubernetes.io/service-name=kubernetes"
        )
        for endpoint_slice in slices.items:
            ports = endpoint_slice.ports or []
            port = next((p.port for p in ports if p.name == "https"), None)
            port = port or (ports[0].port if ports else None)
            for endpoint in endpoint_slice.endpoints or []:
                if port and endpoint.addresses and (endpoint.conditions.ready is not False):
                    address = endpoint.addresses[0]
                    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        return None

    def node_versions(self) -> dict[str, str]:
        """Every Node's resourceVersion, by name, as the API server has them now."""
        listed = self.core.list_node(_preload_content=False)
        items = json.loads(listed.data).get("items") or []
        return {
            item["metadata"]["name"]: item["metadata"].get("resourceVersion", "") for item in items
        }

    def read_node(self, name: str) -> dict | None:
        try:
            node = self.core.read_node(name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return client.ApiClient().sanitize_for_serialization(node)

    def event(self, obj: dict, reason: str, message: str, kind: str = "Normal") -> None:
        """An Event about `obj` (cluster-scoped, so it goes to the default namespace)."""
        meta = obj["metadata"]
        moment = now()
        body = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": EVENT_NAMESPACE},
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
            "firstTimestamp": moment,
            "lastTimestamp": moment,
            "count": 1,
        }
        self.core.create_namespaced_event(EVENT_NAMESPACE, body)
        self._wrote("Event")
