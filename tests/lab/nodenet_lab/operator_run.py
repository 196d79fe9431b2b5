"""The operator as a real process against the lab: CRDs, credentials, start, kill, restart.

Shared by the end-to-end tests, the benchmarks and anyone poking at the lab by hand.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml
from kubernetes import client

REPO = Path(__file__).resolve().parents[3]
CRDS = REPO / "operator" / "manifests" / "crds"


class OperatorFailed(RuntimeError):
    pass


def wait_established(
    extensions: client.ApiextensionsV1Api, names: list[str], timeout: float = 30
) -> None:
    """Wait until the API server serves these CRDs."""
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            conditions = extensions.read_custom_resource_definition(name).status.conditions or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                break
            if time.monotonic() > deadline:
                raise OperatorFailed(f"CRD {name} not established in {timeout} s")
            time.sleep(0.2)


def install_crds(api: client.ApiClient, timeout: float = 30) -> None:
    """Create or replace the operator's CRDs (and kopf's peering CRD); wait until served."""
    extensions = client.ApiextensionsV1Api(api)
    admission = client.AdmissionregistrationV1Api(api)
    calls = {  # kind: (create, read, replace), as `kubectl apply -f crds/` does it
        "CustomResourceDefinition": (
            extensions.create_custom_resource_definition,
            extensions.read_custom_resource_definition,
            extensions.replace_custom_resource_definition,
        ),
        "ValidatingAdmissionPolicy": (
            admission.create_validating_admission_policy,
            admission.read_validating_admission_policy,
            admission.replace_validating_admission_policy,
        ),
        "ValidatingAdmissionPolicyBinding": (
            admission.create_validating_admission_policy_binding,
            admission.read_validating_admission_policy_binding,
            admission.replace_validating_admission_policy_binding,
        ),
    }
    names = []
    for path in sorted(CRDS.glob("*.yaml")):
        for body in yaml.safe_load_all(path.read_text()):
            create, read, replace = calls[body["kind"]]
            name = body["metadata"]["name"]
            if body["kind"] == "CustomResourceDefinition":
                names.append(name)
            try:
                create(body)
            except client.ApiException as exc:
                if exc.status != 409:
                    raise
                body["metadata"]["resourceVersion"] = read(name).metadata.resource_version
                replace(name, body)
    wait_established(extensions, names, timeout)


def ensure_peering(api: client.ApiClient, name: str) -> str:
    body = {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": name}}
    try:
        client.CustomObjectsApi(api).create_cluster_custom_object(
            "kopf.dev", "v1", "clusterkopfpeerings", body
        )
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    return name


def delete_peering(api: client.ApiClient, name: str, timeout: float = 30) -> None:
    """Delete a peering object and wait until it is gone (its operator lifts kopf's
    finalizer on it only while it runs)."""
    objects = client.CustomObjectsApi(api)
    peering = ("kopf.dev", "v1", "clusterkopfpeerings", name)
    deadline = time.monotonic() + timeout
    while True:
        try:
            objects.get_cluster_custom_object(*peering)
            objects.delete_cluster_custom_object(*peering)
        except client.ApiException as exc:
            if exc.status == 404:
                return
            raise
        if time.monotonic() > deadline:
            raise OperatorFailed(f"peering {name} still there after {timeout} s (a finalizer?)")
        time.sleep(0.2)


def service_account_kubeconfig(admin_kubeconfig: Path, out: Path, duration: str = "2h") -> Path:
    """A kubeconfig acting as the operator's ServiceAccount, bound to its least RBAC."""
    out.parent.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(
        [
            str(REPO / "scripts" / "operator-kubeconfig.sh"),
            str(admin_kubeconfig),
            str(out),
            duration,
        ],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        raise OperatorFailed(f"operator-kubeconfig.sh failed: {made.stderr.strip()}")
    return out


def operator_env(
    kubeconfig: Path,
    collections_path: Path,
    runner_dir: Path,
    private_key: Path,
    **settings: str | int | float,
) -> dict[str, str]:
    """The environment for `python -m nmstate_operator`; settings are its flags by name
    (report_interval=5 becomes NMSTATE_OPERATOR_REPORT_INTERVAL=5)."""
    env = dict(
        os.environ,
        KUBECONFIG=str(kubeconfig),
        # The operator imports the collection's module_utils (k8s_node) from the collection.
        PYTHONPATH=f"{REPO / 'operator'}:{collections_path}",
        NMSTATE_OPERATOR_COLLECTIONS_PATH=str(collections_path),
        NMSTATE_OPERATOR_SSH_PRIVATE_KEY=str(private_key),
        # The lab's known_hosts (each node's host key under its name) sits beside its keys.
        NMSTATE_OPERATOR_KNOWN_HOSTS=str(private_key.parent.parent / "known_hosts"),
        NMSTATE_OPERATOR_RUNNER_DIR=str(runner_dir),
    )
    env.update({f"NMSTATE_OPERATOR_{k.upper()}": str(v) for k, v in settings.items()})
    env.pop("ANSIBLE_CONFIG", None)
    return env


class OperatorProcess:
    """`python -m nmstate_operator`, as a user would start it locally. It can be killed and
    started again on the same runner directory (its run records survive)."""

    def __init__(self, env: dict[str, str], work: Path):
        self.env, self.work = env, work
        self.liveness = env["NMSTATE_OPERATOR_LIVENESS"]
        self.runner_dir = Path(env["NMSTATE_OPERATOR_RUNNER_DIR"])
        self.log_path = work / "operator.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> OperatorProcess:
        self.work.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "nmstate_operator"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_until_live(timeout)
        return self

    def wait_until_live(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.poll() is not None:
                raise OperatorFailed(f"the operator exited at start: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.liveness, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise OperatorFailed(f"the operator's liveness endpoint did not answer in {timeout} s")

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def log_tail(self, size: int = 3000) -> str:
        return self.log_path.read_text()[-size:] if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when a node or the pod dies."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
