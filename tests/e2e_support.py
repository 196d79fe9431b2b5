"""Shared by the end-to-end tests: timing and reading NodeNetworkStates."""

from __future__ import annotations

import difflib
import subprocess
import time
import urllib.request

import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

REPORT_INTERVAL = 5
ROLLOUT_TIMEOUT = 240
GROUP, VERSION, PLURAL = "nmstate.io", "v1beta1", "nodenetworkstates"


def read_nns(api, name):
    try:
        return client.CustomObjectsApi(api).get_cluster_custom_object(GROUP, VERSION, PLURAL, name)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def wait_for(predicate, timeout, what, process=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            pytest.fail(f"the operator exited: {process.log_tail()}")
        time.sleep(0.5)
    log = process.log_tail() if process is not None else ""
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n{log}")


NNCP = ("nmstate.io", "v1", "nodenetworkconfigurationpolicies")
NNCE = ("nmstate.io", "v1beta1", "nodenetworkconfigurationenactments")


def views_settle_back(nodes, command, before, timeout=30):
    """Wait until `command`'s output on every node is `before` (node name -> output) again:
    NetworkManager drops a removed bridge's routes, and gives an interface its link-local
    address back, a moment after nmstate returns. Fails with each node's diff."""
    deadline = time.monotonic() + timeout
    while (views := {n.name: n.run(command).stdout for n in nodes}) != before:
        if time.monotonic() > deadline:
            pytest.fail(
                f"after {timeout} s, a node's {command!r} is not as before:\n"
                + "\n".join(
                    "".join(
                        difflib.unified_diff(
                            before[n].splitlines(True), views[n].splitlines(True), n, n
                        )
                    )
                    for n in before
                )
            )
        time.sleep(0.5)


def condition(obj, kind):
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), {})


def read_policy(api, name):
    try:
        return client.CustomObjectsApi(api).get_cluster_custom_object(*NNCP, name)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def enactments(api, policy):
    listed = client.CustomObjectsApi(api).list_cluster_custom_object(
        *NNCE, label_selector=f"nmstate.io/policy={policy}"
    )
    return {e["metadata"]["labels"]["nmstate.io/node"]: e for e in listed["items"]}


def create_policy(
    api, name, selector, desired_state, max_unavailable=None, capture=None, probes=None, **more
):
    """`more`: other spec fields as they are spelled in the spec (dryRun, after, priority...)."""
    spec = {"nodeSelector": selector, "desiredState": desired_state, **more}
    if capture is not None:
        spec["capture"] = capture
    if probes is not None:
        spec["probes"] = probes
    if max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    body = {
        "apiVersion": "nmstate.io/v1",
        "kind": "NodeNetworkConfigurationPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }
    return client.CustomObjectsApi(api).create_cluster_custom_object(*NNCP, body)


def delete_policy(api, name):
    try:
        client.CustomObjectsApi(api).delete_cluster_custom_object(*NNCP, name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise


def label_node(api, node, key, value):
    """value None removes the label."""
    client.CoreV1Api(api).patch_node(node, {"metadata": {"labels": {key: value}}})


def policy_settled(api, name):
    """The policy once its status reflects its generation and nothing is progressing."""
    policy = read_policy(api, name)
    status = (policy or {}).get("status") or {}
    if status.get("observedGeneration") != policy["metadata"]["generation"]:
        return None
    if condition(policy, "Progressing").get("status") != "False":
        return None
    return policy


def wait_settled(api, name, process, timeout=ROLLOUT_TIMEOUT):
    return wait_for(lambda: policy_settled(api, name), timeout, f"policy {name} to settle", process)


def wait_degraded_by(api, name, reason, process, timeout=ROLLOUT_TIMEOUT):
    """The policy once settled and Degraded for `reason`: a policy created before the node it
    waits for matches settles at once with no node, which is not the state a test waits for."""

    def degraded():
        policy = policy_settled(api, name)
        return policy if policy and condition(policy, "Degraded").get("reason") == reason else None

    return wait_for(degraded, timeout, f"policy {name} to settle Degraded by {reason}", process)


def events_about(api, kind, name):
    events = client.CoreV1Api(api).list_namespaced_event("default").items
    return [
        (e.type, e.reason, e.message)
        for e in events
        if e.involved_object.name == name and e.involved_object.kind == kind
    ]


def bridge(name, state="up"):
    return {
        "interfaces": [
            {
                "name": name,
                "type": "linux-bridge",
                "state": state,
                "bridge": {"options": {"stp": {"enabled": False}}, "port": []},
            }
        ]
    }


def has_link(node, name):
    return node.run(f"ip link show {name}", check=False).returncode == 0


def label(api, cleanup, nodes, key):
    for node in nodes:
        label_node(api, node.name, key, "yes")
        cleanup["labels"].append((node.name, key))


def start_policy(api, cleanup, name, nodes, desired_state, bridges=(), **spec):
    """Label `nodes` for policy `name`, register it all for cleanup, create the policy; returns
    the label key its nodeSelector uses."""
    key = f"e2e.nodenet.io/{name}"
    label(api, cleanup, nodes, key)
    cleanup["policies"].append(name)
    cleanup["bridges"].extend(bridges)
    create_policy(api, name, {key: "yes"}, desired_state, **spec)
    return key


def kubectl(lab, *args, stdin=None, check=True, timeout=None):
    """kubectl as a user runs it, against the lab."""
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(lab.kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


def patch_nns(lab, name, manifest_text):
    """A merge patch onto an NNS, as a user sends it with kubectl."""
    kubectl(lab, "patch", "nns", name, "--type", "merge", "-p", manifest_text)


def kubectl_wait_available(lab, name, timeout):
    return kubectl(
        lab,
        "wait",
        f"nncp/{name}",
        "--for",
        "condition=Available",
        f"--timeout={timeout}s",
        check=False,
        timeout=timeout + 30,
    )


def scrape_samples(port: int) -> dict[tuple[str, frozenset], float]:
    """Every sample on the operator's /metrics by (name, labels)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
