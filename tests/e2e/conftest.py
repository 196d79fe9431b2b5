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
from e2e_support import REPORT_INTERVAL
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


def wait_until_live(process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the operator exited at start: {process.log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(LIVENESS, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"the operator's liveness endpoint did not answer in {timeout} s")


@pytest.fixture(scope="session")
def operator_process(lab, crds, collections_path, tmp_path_factory):
    """`python -m nmstate_operator`, as a user would start it locally."""
    work = tmp_path_factory.mktemp("operator")
    env = dict(
        os.environ,
        KUBECONFIG=str(lab.kubeconfig),
        PYTHONPATH=str(REPO / "operator"),
        NMSTATE_OPERATOR_COLLECTIONS_PATH=str(collections_path),
        NMSTATE_OPERATOR_SSH_PRIVATE_KEY=str(lab.state_dir / "keys" / "id_ed25519"),
        NMSTATE_OPERATOR_RUNNER_DIR=str(work / "runner"),
        NMSTATE_OPERATOR_REPORT_INTERVAL=str(REPORT_INTERVAL),
        NMSTATE_OPERATOR_LIVENESS=LIVENESS,
    )
    env.pop("ANSIBLE_CONFIG", None)
    with open(work / "operator.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "nmstate_operator"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        process.log_path = work / "operator.log"
        wait_until_live(process)
        yield process
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
