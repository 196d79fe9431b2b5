"""The CRDs take kubernetes-nmstate's manifests unchanged and reject what they should."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import kubectl
from kubernetes import client

KN_POLICY = """\
apiVersion: nmstate.io/{version}
kind: NodeNetworkConfigurationPolicy
metadata:
  name: {name}
spec:
  nodeSelector:
    node-role.kubernetes.io/worker: ""
  maxUnavailable: {max_unavailable}
  desiredState:
    interfaces:
      - name: br1
        description: Linux bridge with eth1 as a port
        type: linux-bridge
        state: up
        ipv4:
          dhcp: true
          enabled: true
        bridge:
          options:
            stp:
              enabled: false
          port:
            - name: eth1
"""


@pytest.mark.parametrize(
    ("version", "max_unavailable"), [("v1", '"50%"'), ("v1beta1", "3"), ("v1alpha1", '"100%"')]
)
def test_kubernetes_nmstate_policies_apply_unchanged_in_every_served_version(
    lab, crds, version, max_unavailable
):
    name = f"kn-{version}"
    manifest = KN_POLICY.format(version=version, name=name, max_unavailable=max_unavailable)
    try:
        kubectl(lab, "apply", "-f", "-", stdin=manifest)
        shown = kubectl(
            lab, "get", "nncp", name, "-o", "jsonpath={.spec.desiredState.interfaces[0].name}"
        ).stdout
        assert shown == "br1"
    finally:
        kubectl(lab, "delete", "nncp", name, "--ignore-not-found", check=False)


@pytest.mark.parametrize(
    "max_unavailable", ['"0%"', "0", '"150%"', '"lots"', '"' + "9" * 5000 + '"']
)
def test_invalid_max_unavailable_is_rejected_by_the_api_server(lab, crds, max_unavailable):
    manifest = KN_POLICY.format(version="v1", name="bad-max", max_unavailable=max_unavailable)
    done = kubectl(lab, "apply", "-f", "-", stdin=manifest, check=False)
    assert done.returncode != 0
    assert "maxUnavailable" in done.stderr


@pytest.mark.parametrize(
    ("name", "selector", "expected"),
    [
        ("p" * 64, '""', "DNS label"),
        ("w1.lab", '""', "DNS label"),
        ("ok-name", "\"{{ lookup('pipe', 'id') }}\"", "valid label values"),
    ],
)
def test_the_admission_policy_rejects_names_and_selectors_that_break_enactments(
    lab, crds, name, selector, expected
):
    manifest = KN_POLICY.format(version="v1", name=name, max_unavailable=1).replace(
        'node-role.kubernetes.io/worker: ""', f"node-role.kubernetes.io/worker: {selector}"
    )
    done = kubectl(lab, "apply", "-f", "-", stdin=manifest, check=False)
    kubectl(lab, "delete", "nncp", name, "--ignore-not-found", check=False)
    assert done.returncode != 0 and expected in done.stderr, done.stderr


def test_capture_is_immutable_but_the_rest_of_a_spec_may_change(lab, crds):
    manifest = KN_POLICY.format(version="v1", name="kn-capture", max_unavailable=1)
    manifest += '  capture:\n    eth: interfaces.name=="eth1"\n'
    try:
        kubectl(lab, "apply", "-f", "-", stdin=manifest)
        edited = kubectl(
            lab,
            "apply",
            "-f",
            "-",
            stdin=manifest.replace("maxUnavailable: 1", "maxUnavailable: 2"),
            check=False,
        )
        assert edited.returncode == 0, edited.stderr
        changed = manifest.replace('"eth1"', '"eth2"')
        refused = kubectl(lab, "apply", "-f", "-", stdin=changed, check=False)
        assert refused.returncode != 0 and "spec.capture cannot change" in refused.stderr
    finally:
        kubectl(lab, "delete", "nncp", "kn-capture", "--ignore-not-found", check=False)


def test_the_seeds_nns_patch_is_accepted(lab, crds, api):
    custom = client.CustomObjectsApi(api)
    body = {
        "apiVersion": "nmstate.io/v1beta1",
        "kind": "NodeNetworkState",
        "metadata": {"name": "crd-probe"},
        "spec": {"managed": False, "nodeName": "crd-probe"},
    }
    custom.create_cluster_custom_object("nmstate.io", "v1beta1", "nodenetworkstates", body)
    try:
        patch = '{"spec":{"desiredState":{"interfaces":[{"name":"br1","type":"linux-bridge","state":"up"}]}}}'
        kubectl(lab, "patch", "nns", "crd-probe", "--type", "merge", "-p", patch)
        got = custom.get_cluster_custom_object(
            "nmstate.io", "v1alpha1", "nodenetworkstates", "crd-probe"
        )
        assert got["spec"]["desiredState"]["interfaces"][0]["name"] == "br1", (
            "v1alpha1 serves the same object"
        )
        columns = kubectl(lab, "get", "nns", "crd-probe").stdout.split("\n")[0].split()
        assert columns[:4] == ["NAME", "AVAILABLE", "REASON", "UPDATED"]
    finally:
        custom.delete_cluster_custom_object(
            "nmstate.io", "v1beta1", "nodenetworkstates", "crd-probe"
        )


def test_the_deployment_manifests_pass_the_api_servers_validation(lab, crds, operator_kubeconfig):
    """Namespace, RBAC, peering object, Deployment and Service, checked by a server-side dry run
    (operator_kubeconfig has created the namespace the dry run needs)."""
    deploy = Path(__file__).resolve().parents[2] / "operator" / "manifests" / "deploy"
    result = kubectl(lab, "apply", "--dry-run=server", "-f", str(deploy), check=False)
    assert result.returncode == 0, result.stderr
    for kind in (
        "deployment.apps/nmstate-operator",
        "clusterrole.rbac.authorization.k8s.io/nmstate-operator",
        "clusterkopfpeering.kopf.dev/nmstate-operator",
        "service/nmstate-operator-metrics",
    ):
        assert kind in result.stdout, result.stdout
