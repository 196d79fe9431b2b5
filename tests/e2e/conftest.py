"""The operator as a real process against the lab's API server and nodes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from e2e_support import REPORT_INTERVAL, bridge, delete_policy, has_link, label_node
from kubernetes import client, config

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "operator" / "manifests" / "crds"


@pytest.fixture(scope="session")
def api(lab):
    return config.new_client_from_config(str(lab.kubeconfig))


@pytest.fixture(scope="session")
def crds(api):
    extensions = client.ApiextensionsV1Api(api)
    for path in sorted(CRDS.glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        try:
            extensions.create_custom_resource_definition(body)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
            current = extensions.read_custom_resource_definition(body["metadata"]["name"])
            body["metadata"]["resourceVersion"] = current.metadata.resource_version
            extensions.replace_custom_resource_definition(body["metadata"]["name"], body)
    deadline = time.monotonic() + 30
    for path in sorted(CRDS.glob("*.yaml")):
        name = yaml.safe_load(path.read_text())["metadata"]["name"]
        while True:
            conditions = extensions.read_custom_resource_definition(name).status.conditions or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                break
            assert time.monotonic() < deadline, f"CRD {name} not established"
            time.sleep(0.2)


LIVENESS = "http://127.0.0.1:18089/healthz"
METRICS_PORT = 18090
PEERING = "nmstate-operator-e2e"
PRIORITY = 100


def wait_until_live(process, liveness=LIVENESS, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the operator exited at start: {process.log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(liveness, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"the operator's liveness endpoint did not answer in {timeout} s")


class OperatorProcess:
    """`python -m nmstate_operator`, as a user would start it locally; can be killed and
    started again on the same runner directory (its run records survive)."""

    def __init__(self, env: dict, work: Path, liveness: str = LIVENESS):
        self.env, self.work, self.liveness = env, work, liveness
        self.runner_dir = Path(env["NMSTATE_OPERATOR_RUNNER_DIR"])
        self.log_path = work / "operator.log"
        self.process = None

    def start(self):
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "nmstate_operator"],
                                            env=self.env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        wait_until_live(self, self.liveness)
        return self

    def poll(self):
        return self.process.poll()

    def kill(self):
        """SIGKILL: no cleanup at all, as when a node or the pod dies."""
        self.process.kill()
        self.process.wait()

    def stop(self):
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def operator_env(lab, collections_path, runner_dir, liveness, metrics_port, priority):
    env = dict(
        os.environ,
        KUBECONFIG=str(lab.kubeconfig),
        PYTHONPATH=str(REPO / "operator"),
        NMSTATE_OPERATOR_COLLECTIONS_PATH=str(collections_path),
        NMSTATE_OPERATOR_SSH_PRIVATE_KEY=str(lab.state_dir / "keys" / "id_ed25519"),
        NMSTATE_OPERATOR_RUNNER_DIR=str(runner_dir),
        NMSTATE_OPERATOR_REPORT_INTERVAL=str(REPORT_INTERVAL),
        NMSTATE_OPERATOR_LIVENESS=liveness,
        NMSTATE_OPERATOR_METRICS_BIND_ADDRESS=f"127.0.0.1:{metrics_port}",
        NMSTATE_OPERATOR_PROBE_TIMEOUT="10",
        NMSTATE_OPERATOR_ROLLBACK_TIMEOUT="40",
        NMSTATE_OPERATOR_PEERING=PEERING,
        NMSTATE_OPERATOR_PRIORITY=str(priority),
        NMSTATE_OPERATOR_PEERING_LIFETIME="10",
    )
    env.pop("ANSIBLE_CONFIG", None)
    return env


@pytest.fixture(scope="session")
def peering(api, crds):
    custom = client.CustomObjectsApi(api)
    body = {
        "apiVersion": "kopf.dev/v1",
        "kind": "ClusterKopfPeering",
        "metadata": {"name": PEERING},
    }
    try:
        custom.create_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", body)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    return PEERING


@pytest.fixture(scope="session")
def operator_process(lab, crds, peering, collections_path, tmp_path_factory):
    """The operator under test, leading through kopf peering."""
    work = tmp_path_factory.mktemp("operator")
    env = operator_env(lab, collections_path, work / "runner", LIVENESS, METRICS_PORT, PRIORITY)
    operator = OperatorProcess(env, work).start()
    yield operator
    operator.stop()


@pytest.fixture
def cleanup(lab, api):
    """Policies, labels and bridges a test registers are removed afterwards, whatever happened."""
    registered = {"policies": [], "labels": [], "bridges": []}
    yield registered
    for name in registered["policies"]:
        delete_policy(api, name)
    for node, key in registered["labels"]:
        label_node(api, node, key, None)
    for name in registered["bridges"]:
        for node in lab.nodes:
            if has_link(node, name):
                node.apply(bridge(name, "absent"))
