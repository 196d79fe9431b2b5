"""NodeNetworkState: one per Node with the node's real state, quiet when nothing changes."""

from __future__ import annotations

import re
import time
import urllib.request

import pytest
import yaml
from e2e_support import REPORT_INTERVAL, kubectl, read_nns, wait_for
from kubernetes import client
from nmstate_operator import journal
from nmstate_operator.nodes import FORCE_REFRESH_LABEL
from operator_fixtures import IN_CLUSTER, PRIORITY, OperatorProcess, operator_env

from nodenet_lab import controlplane, settings


def names_in(nns):
    return sorted(
        i["name"]
        for i in ((nns or {}).get("status") or {}).get("currentState", {}).get("interfaces", [])
    )


def test_every_node_gets_an_nns_with_its_own_state(lab, api, operator_process):
    expected = ["eth1", "eth2", "lo", "mgmt0"]
    for node in lab.nodes:
        # Waits for the expected list: a lab kept from an earlier run may hold an older report.
        nns = wait_for(
            lambda n=node: (lambda o: o if names_in(o) == expected else None)(
                read_nns(api, n.name)
            ),
            60,
            f"{node.name}'s NNS to report {expected}",
            operator_process,
        )
        mgmt = next(i for i in nns["status"]["currentState"]["interfaces"] if i["name"] == "mgmt0")
        assert node.address in {a["ip"] for a in mgmt["ipv4"]["address"]}
        assert nns["status"]["handlerNmstateVersion"] == settings.NMSTATE_VERSION
        available = next(c for c in nns["status"]["conditions"] if c["type"] == "Available")
        assert available["status"] == "True"
        owner = nns["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"]) == ("Node", node.name)
    with urllib.request.urlopen("http://127.0.0.1:18089/healthz", timeout=5) as response:
        assert response.status == 200


def test_kubectl_get_nns_shows_the_nodes_state(lab, operator_process, api):
    node = lab.nodes[0]
    wait_for(lambda: names_in(read_nns(api, node.name)), 60, "the NNS", operator_process)
    out = kubectl(lab, "get", "nns", node.name, "-o", "yaml").stdout
    shown = yaml.safe_load(out)
    assert shown["kind"] == "NodeNetworkState"
    assert "mgmt0" in [i["name"] for i in shown["status"]["currentState"]["interfaces"]]


def test_idle_cluster_causes_no_status_writes_and_a_change_shows_within_a_period(
    lab, api, operator_process
):
    for node in lab.nodes:
        wait_for(
            lambda n=node: names_in(read_nns(api, n.name)),
            60,
            "the first reports",
            operator_process,
        )
    time.sleep(REPORT_INTERVAL + 2)  # let a round that started before settle
    versions = {n.name: read_nns(api, n.name)["metadata"]["resourceVersion"] for n in lab.nodes}
    time.sleep(3 * REPORT_INTERVAL + 5)
    assert {
        n.name: read_nns(api, n.name)["metadata"]["resourceVersion"] for n in lab.nodes
    } == versions
    # Idle nodes answer with the digest of the report their NNS holds, not their whole state.
    every = len(lab.nodes)
    assert (
        f"report round: {every} nodes, {every} unchanged" in operator_process.log_path.read_text()
    )

    node = lab.nodes[1]
    node.run("ip addr add 10.231.84.12/24 dev eth2")
    try:
        started = time.monotonic()

        def shows_address():
            nns = read_nns(api, node.name)
            eth2 = next(
                i for i in nns["status"]["currentState"]["interfaces"] if i["name"] == "eth2"
            )
            return "10.231.84.12" in {a["ip"] for a in (eth2.get("ipv4") or {}).get("address", [])}

        wait_for(
            shows_address, REPORT_INTERVAL + 30, "the NNS to show the new address", operator_process
        )
        # A report run over 4 nodes takes a few seconds; the target is one period plus 5 s of it.
        assert time.monotonic() - started <= 2 * REPORT_INTERVAL + 10
        others = {
            n.name: read_nns(api, n.name)["metadata"]["resourceVersion"]
            for n in lab.nodes
            if n is not node
        }
        assert others == {n: v for n, v in versions.items() if n != node.name}, (
            "only the changed node is written"
        )
    finally:
        node.run("ip addr del 10.231.84.12/24 dev eth2", check=False)


def test_deleting_a_node_removes_its_nns_and_a_new_node_gets_one(lab, api, operator_process):
    node = lab.nodes[-1]
    wait_for(lambda: read_nns(api, node.name), 60, "the NNS", operator_process)
    core = client.CoreV1Api(api)
    core.delete_node(node.name)
    try:
        wait_for(
            lambda: read_nns(api, node.name) is None, 60, "the garbage collector to remove the NNS"
        )
    finally:
        again = settings.NodeSpec(
            node.name, int(node.name[-2:]), node.network_manager, node.libnmstate
        )
        controlplane.register_nodes(lab.kubeconfig, settings.LabSpec(nodes=(again,)), lab.state_dir)
    nns = wait_for(
        lambda: (lambda o: o if names_in(o) else None)(read_nns(api, node.name)),
        60,
        "a new NNS for the re-registered node",
        operator_process,
    )
    assert names_in(nns) == ["eth1", "eth2", "lo", "mgmt0"]


def host_network_manager_version(nns):
    return ((nns or {}).get("status") or {}).get("hostNetworkManagerVersion")


def network_manager_dbus_version(node) -> str:
    """What the node's NetworkManager answers on D-Bus, where kubernetes-nmstate reads it."""
    out = node.run(
        "gdbus call --system --dest org.freedesktop.NetworkManager"
        " --object-path /org/freedesktop/NetworkManager"
        " --method org.freedesktop.DBus.Properties.Get org.freedesktop.NetworkManager Version"
    ).stdout
    match = re.search(r"'([^']+)'", out)  # (<'1.42.4'>,)
    assert match, out
    return match.group(1)


def test_a_network_manager_node_reports_its_version_and_a_kernel_only_node_none(
    lab, api, operator_process
):
    if not lab.select(network_manager=True):
        pytest.skip("NetworkManager is not installed here: no NetworkManager node in the lab")
    for node in lab.select(network_manager=True):
        version = wait_for(
            lambda n=node: host_network_manager_version(read_nns(api, n.name)),
            60,
            f"{node.name}'s NNS to report its NetworkManager version",
            operator_process,
        )
        assert version == network_manager_dbus_version(node)
    for node in lab.select(network_manager=False):
        nns = wait_for(
            lambda n=node: (lambda o: o if names_in(o) else None)(read_nns(api, n.name)),
            60,
            f"{node.name}'s NNS",
            operator_process,
        )
        assert host_network_manager_version(nns) is None, nns["status"]


LONG_INTERVAL = 600  # far beyond the test: after its first round, no round comes by itself
LONG_LIVENESS, LONG_METRICS_PORT = "http://127.0.0.1:18093/healthz", 18094
LEADS, PAUSES = "leading: reports and rollouts run here", "not leading any more"


def logged_since(process, offset: int, text: str) -> bool:
    return text in process.log_path.read_text()[offset:]


@pytest.fixture
def long_interval_operator(lab, operator_process, operator_kubeconfig, collections_path, tmp_path):
    """An operator whose report interval is LONG_INTERVAL s, leading for one test: the
    session's reports every REPORT_INTERVAL s, which would report any node soon anyway. A
    higher peering priority pauses the session's operator until this one stops."""
    if IN_CLUSTER:
        pytest.skip("the Deployment's pods lead through their own peering; this needs a process")
    env = operator_env(
        lab,
        operator_kubeconfig,
        collections_path,
        tmp_path / "runner",
        LONG_LIVENESS,
        LONG_METRICS_PORT,
        PRIORITY + 1,
    )
    env["NMSTATE_OPERATOR_REPORT_INTERVAL"] = str(LONG_INTERVAL)
    started_at = len(operator_process.log_path.read_text())
    operator = OperatorProcess(env, tmp_path)
    try:
        operator.start()
        wait_for(
            lambda: logged_since(operator_process, started_at, PAUSES),
            60,
            "the session's operator to pause for the one with the long interval",
            operator,
        )
        yield operator
    finally:
        stopped_at = len(operator_process.log_path.read_text())
        operator.stop()
        if logged_since(operator_process, started_at, PAUSES):
            wait_for(
                lambda: logged_since(operator_process, stopped_at, LEADS),
                60,
                "the session's operator to lead again",
                operator_process,
            )


def report_records(operator) -> list[dict]:
    return [r for r in journal.read(operator.runner_dir) if r.get("kind") == "report"]


def report_runs(operator) -> list[list[str]]:
    """The nodes of each report run the operator started, in order."""
    return [r["nodes"] for r in report_records(operator) if r["event"] == "start"]


def reports_quiet(operator, seconds: float) -> bool:
    """Every report run the operator started has ended, the last one `seconds` ago or more
    (a new leader reports every node, and may do so twice in a row)."""
    records = report_records(operator)
    ended = [r for r in records if r["event"] == "end"]
    return (
        bool(ended)
        and len(ended) * 2 == len(records)
        and records[-1]["time"] < time.time() - seconds
    )


def eth2_addresses(nns) -> set[str]:
    interfaces = ((nns or {}).get("status") or {}).get("currentState", {}).get("interfaces", [])
    eth2 = next((i for i in interfaces if i["name"] == "eth2"), {})
    return {a["ip"] for a in (eth2.get("ipv4") or {}).get("address", [])}


def set_refresh_label(api, kind, name, value):
    body = {"metadata": {"labels": {FORCE_REFRESH_LABEL: value}}}
    if kind == "Node":
        client.CoreV1Api(api).patch_node(name, body)
    else:
        client.CustomObjectsApi(api).patch_cluster_custom_object(
            "nmstate.io", "v1beta1", "nodenetworkstates", name, body
        )


@pytest.mark.parametrize("kind", ["NodeNetworkState", "Node"])
def test_the_force_refresh_label_reports_its_node_at_once_despite_a_long_interval(
    lab, api, long_interval_operator, kind
):
    """kubernetes-nmstate's nmstate.io/force-nns-refresh, on the NNS as there, or on the Node.
    A report writes only what changed (as kubernetes-nmstate's does), so the node changes
    first, behind the operator's back, and nothing shows the change until the label asks for a
    report."""
    operator, node, address = long_interval_operator, lab.nodes[1], "10.231.84.13"
    wait_for(lambda: reports_quiet(operator, 3), 120, "the first report rounds", operator)
    before = (read_nns(api, node.name).get("status") or {}).get("lastSuccessfulUpdateTime")
    runs = len(report_runs(operator))
    node.run(f"ip addr add {address}/24 dev eth2")
    try:
        # The lab's heartbeats move every Node meanwhile: none of them reports a node.
        time.sleep(2 * controlplane.HEARTBEAT_SECONDS + 2)
        assert address not in eth2_addresses(read_nns(api, node.name))
        assert len(report_runs(operator)) == runs, "a report run without the label"

        set_refresh_label(api, kind, node.name, str(time.time_ns()))
        started = time.monotonic()
        nns = wait_for(
            lambda: (lambda o: o if address in eth2_addresses(o) else None)(
                read_nns(api, node.name)
            ),
            30,
            "the NNS to show the new address",
            operator,
        )
        assert time.monotonic() - started <= 10, "a report of one node takes a few seconds"
        assert nns["status"]["lastSuccessfulUpdateTime"] > (before or "")
        assert report_runs(operator)[runs:] == [[node.name]], "one more run, of that node alone"
    finally:
        set_refresh_label(api, kind, node.name, None)
        node.run(f"ip addr del {address}/24 dev eth2", check=False)
