"""The operator as a real process against the lab's API server and nodes: fixtures for the
end-to-end and fault tests (one operator for the whole session)."""

from __future__ import annotations

import os

import pytest
from e2e_support import REPORT_INTERVAL, bridge, delete_policy, has_link, label_node
from in_cluster import InClusterOperator
from kubernetes import client, config

from nodenet_lab import deploy, operator_run

# "in-cluster": the tests that take `operator_process` get the Deployment's pods instead.
IN_CLUSTER = os.environ.get("NODENET_E2E_OPERATOR") == "in-cluster"

LIVENESS = "http://127.0.0.1:18089/healthz"
METRICS_PORT = 18090
PEERING = "nmstate-operator-e2e"
PRIORITY = 100


@pytest.fixture(scope="session")
def api(lab):
    return config.new_client_from_config(str(lab.kubeconfig))


@pytest.fixture(scope="session")
def crds(api):
    operator_run.install_crds(api)


@pytest.fixture(scope="session")
def peering(api, crds):
    return operator_run.ensure_peering(api, PEERING)


@pytest.fixture(scope="session")
def operator_kubeconfig(lab, crds, tmp_path_factory):
    """Credentials of the operator's ServiceAccount, bound to the RBAC in
    operator/manifests/deploy: every end-to-end test also checks that RBAC is enough."""
    path = tmp_path_factory.mktemp("operator-credentials") / "kubeconfig"
    return operator_run.service_account_kubeconfig(lab.kubeconfig, path)


def operator_env(lab, kubeconfig, collections_path, runner_dir, liveness, metrics_port, priority):
    return operator_run.operator_env(
        kubeconfig,
        collections_path,
        runner_dir,
        lab.state_dir / "keys" / "id_ed25519",
        report_interval=REPORT_INTERVAL,
        liveness=liveness,
        metrics_bind_address=f"127.0.0.1:{metrics_port}",
        probe_timeout=5,  # a change that breaks a probe is rolled back within seconds
        rollback_timeout=30,
        peering=PEERING,
        priority=priority,
        peering_lifetime=10,
        max_retries=3,  # an unreachable node's budget runs out within a test's patience
        skippable_probes="dns",  # test_probes shows a skipped probe warned about
        node_selector=deploy.NODE_SELECTOR,  # as the in-cluster operator is configured
    )


class OperatorProcess(operator_run.OperatorProcess):
    """Fails the test (not an error) when the operator does not come up."""

    def start(self, timeout: float = 60):
        try:
            return super().start(timeout)
        except operator_run.OperatorFailed as exc:
            pytest.fail(str(exc))


@pytest.fixture(scope="session")
def operator_process(request, lab, tmp_path_factory):
    """The operator under test: a process (the default) or the Deployment in the cluster."""
    if IN_CLUSTER:
        if not lab.kubelet:
            pytest.skip("the lab has no kubelet to run the operator's pods")
        operator = InClusterOperator(lab.kubeconfig, lab.state_dir, tmp_path_factory.mktemp("pods"))
        yield operator.start()
        operator.stop()
        return
    yield request.getfixturevalue("local_operator_process")


@pytest.fixture(scope="session")
def local_operator_process(
    lab, api, crds, peering, operator_kubeconfig, collections_path, tmp_path_factory
):
    """The operator as a process, leading through kopf peering, as its ServiceAccount."""
    work = tmp_path_factory.mktemp("operator")
    env = operator_env(
        lab,
        operator_kubeconfig,
        collections_path,
        work / "runner",
        LIVENESS,
        METRICS_PORT,
        PRIORITY,
    )
    operator = OperatorProcess(env, work).start()
    yield operator
    # The documented order: the peering object goes while the operator runs, which lifts the
    # finalizer kopf keeps on it; else it would hold up the CRD's deletion for good.
    operator_run.delete_peering(api, peering)
    operator.stop()


@pytest.fixture
def cleanup(lab, api):
    """Policies, labels, NNS desired states and bridges a test registers are removed
    afterwards, whatever happened (a failed NNS apply left behind keeps its node Failing)."""
    registered = {"policies": [], "labels": [], "bridges": [], "nns_states": []}
    yield registered
    for name in registered["policies"]:
        delete_policy(api, name)
    for node in registered["nns_states"]:
        client.CustomObjectsApi(api).patch_cluster_custom_object(
            "nmstate.io", "v1beta1", "nodenetworkstates", node, {"spec": {"desiredState": None}}
        )
    for node, key in registered["labels"]:
        label_node(api, node, key, None)
    for name in registered["bridges"]:
        for node in lab.nodes:
            if has_link(node, name):
                node.apply(bridge(name, "absent"))
