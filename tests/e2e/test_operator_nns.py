"""NodeNetworkState: one per Node with the node's real state, quiet when nothing changes."""

from __future__ import annotations

import time
import urllib.request

import yaml
from e2e_support import REPORT_INTERVAL, kubectl, read_nns, wait_for
from kubernetes import client

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
