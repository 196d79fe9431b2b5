"""The operator installed in the lab's cluster as users install it: `kubectl apply` of the CRDs
and of operator/manifests/deploy/ unchanged, the SSH key Secret, and the optional settings
ConfigMap. Its pods run on the infra node's kubelet from the image the lab built.

Uninstall follows docs/operator.md: policies first, then the peering object while the
operator still runs (kopf holds a finalizer on it), then the rest of deploy/, then the CRDs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from . import settings
from .sh import LabError

NAMESPACE = "nmstate"
DEPLOYMENT = "nmstate-operator"
POD_SELECTOR = "app=nmstate-operator"
MANIFESTS = settings.REPO_ROOT / "operator" / "manifests"
# The infra node runs pods, not nmstate: the operator leaves it alone.
NODE_SELECTOR = "!nodenet.lab/infra"


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None, check: bool = True) -> str:
    result = subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        raise LabError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def apply_generated(kubeconfig: Path, *create_args: str) -> None:
    """`kubectl create ... --dry-run=client -o yaml | kubectl apply -f -`: create or update."""
    manifest = kubectl(kubeconfig, *create_args, "--dry-run=client", "-o", "yaml")
    kubectl(kubeconfig, "apply", "-f", "-", stdin=manifest)


def install(kubeconfig: Path, state_dir: Path, timeout: float = 180) -> list[str]:
    """Install and wait for the rollout; returns the pods' names."""
    kubectl(kubeconfig, "apply", "-f", str(MANIFESTS / "crds"))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    kubectl(kubeconfig, "apply", "-f", str(MANIFESTS / "deploy" / "namespace.yaml"))
    keys = state_dir / "keys"
    apply_generated(
        kubeconfig,
        "-n",
        NAMESPACE,
        "create",
        "secret",
        "generic",
        "nmstate-operator-ssh",
        f"--from-file=id_ed25519={keys / 'id_ed25519'}",
        f"--from-file=known_hosts={state_dir / 'known_hosts'}",
    )
    apply_generated(
        kubeconfig,
        "-n",
        NAMESPACE,
        "create",
        "configmap",
        "nmstate-operator-config",
        f"--from-literal=NMSTATE_OPERATOR_NODE_SELECTOR={NODE_SELECTOR}",
    )
    kubectl(kubeconfig, "apply", "-f", str(MANIFESTS / "deploy"))
    kubectl(
        kubeconfig,
        "-n",
        NAMESPACE,
        "rollout",
        "status",
        f"deployment/{DEPLOYMENT}",
        f"--timeout={int(timeout)}s",
    )
    return [pod["metadata"]["name"] for pod in running_pods(kubeconfig)]


def pods(kubeconfig: Path) -> list[dict]:
    listed = kubectl(kubeconfig, "-n", NAMESPACE, "get", "pods", "-l", POD_SELECTOR, "-o", "json")
    return json.loads(listed)["items"]


def running_pods(kubeconfig: Path) -> list[dict]:
    return [
        pod
        for pod in pods(kubeconfig)
        if pod["status"].get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")
    ]


def uninstall(kubeconfig: Path, timeout: float = 120) -> None:
    deploy = MANIFESTS / "deploy"
    policies = "nodenetworkconfigurationpolicies.nmstate.io"
    if kubectl(kubeconfig, "get", "crd", policies, "--ignore-not-found", "-o", "name").strip():
        kubectl(kubeconfig, "delete", "nncp", "--all", f"--timeout={int(timeout)}s")
    kubectl(
        kubeconfig,
        "delete",
        "-f",
        str(deploy / "peering.yaml"),
        "--ignore-not-found",
        f"--timeout={int(timeout)}s",
    )
    kubectl(
        kubeconfig,
        "delete",
        "-f",
        str(deploy),
        "--ignore-not-found",
        "--wait=true",
        f"--timeout={int(timeout)}s",
    )
    kubectl(
        kubeconfig,
        "delete",
        "-f",
        str(MANIFESTS / "crds"),
        "--ignore-not-found",
        "--wait=true",
        f"--timeout={int(timeout)}s",
    )


def namespace_exists(kubeconfig: Path) -> bool:
    shown = kubectl(kubeconfig, "get", "namespace", NAMESPACE, "--ignore-not-found", "-o", "name")
    return bool(shown.strip())
