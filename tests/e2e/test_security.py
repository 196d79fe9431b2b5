"""Hostile input: nothing a Node, a CR or a node's answer says may run on the operator's side.

Every field a user or a node controls carries a template that would create a marker file if
Ansible (or anything else) ever rendered it. The suite checks that no marker appears, on the
operator's machine or on a node, and that the other nodes keep being reported and configured.
"""

from __future__ import annotations

import glob
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e_support import (
    NNCP,
    ROLLOUT_TIMEOUT,
    bridge,
    condition,
    enactments,
    events_about,
    kubectl_wait_available,
    label,
    policy_settled,
    read_nns,
    start_policy,
    wait_for,
    wait_settled,
)
from kubernetes import client
from nmstate_operator import journal

from nodenet_lab import states

MARKER_DIR = "/tmp"
MARKER_PREFIX = "nodenet-pwned-"


def payload(field: str) -> str:
    """A template that leaves /tmp/nodenet-pwned-<field> behind if anything renders it."""
    return "{{ lookup('pipe', 'touch " + f"{MARKER_DIR}/{MARKER_PREFIX}{field}" + "') }}"


def markers(lab) -> list[str]:
    found = glob.glob(f"{MARKER_DIR}/{MARKER_PREFIX}*")
    for node in lab.nodes:
        listed = node.run(f"ls {MARKER_DIR}/{MARKER_PREFIX}* 2>/dev/null || true").stdout
        found += [f"{node.name}:{line}" for line in listed.split()]
    return found


def reported_since(process, names, since: float) -> bool:
    """A report run that started after `since` reached every named node (run records)."""
    started = {
        r["run"]
        for r in journal.read(process.runner_dir)
        if r["event"] == "start" and r["time"] >= since
    }
    return any(
        r["event"] == "end"
        and r["run"] in started
        and r.get("kind") == "report"
        and set(names) <= set(r.get("ok") or [])
        for r in journal.read(process.runner_dir)
    )


@pytest.fixture
def fake_nodes(api):
    """Node objects a test creates (no kubelet or sshd behind them); deleted afterwards."""
    core = client.CoreV1Api(api)
    created = []

    def make(name, addresses, annotations=None, ready=False):
        body = {"metadata": {"name": name, "annotations": annotations or {}}}
        core.create_node(body)
        created.append(name)
        status = {"status": {"addresses": addresses}}
        if ready:
            status["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
        core.patch_node_status(name, status)
        return name

    yield make
    for name in created:
        try:
            core.delete_node(name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise


@pytest.fixture
def no_markers(lab):
    for path in glob.glob(f"{MARKER_DIR}/{MARKER_PREFIX}*"):
        raise AssertionError(f"a marker from before the test exists: {path}")
    yield
    found = markers(lab)
    subprocess.run(["sh", "-c", f"rm -f {MARKER_DIR}/{MARKER_PREFIX}*"], check=False)
    assert found == [], f"a hostile template was rendered: {found}"


def failing(api, name):
    return condition(read_nns(api, name), "Failing")


def test_the_reproduction_from_the_issue_runs_nothing(
    lab, api, operator_process, fake_nodes, no_markers
):
    started = time.time()
    address = payload("issue-reproduction") + "10.231.77.99"
    fake_nodes("evil01", [{"type": "InternalIP", "address": address}])
    # The Node is created first and given its addresses next: its NNS may say "no address" in
    # between, so the state waited for is the one about the address it got.
    wait_for(
        lambda: (
            failing(api, "evil01").get("reason") == "InvalidNodeAddress"
            and "is not an IP address" in failing(api, "evil01").get("message", "")
            and failing(api, "evil01")
        ),
        60,
        "evil01's NNS to say its address is no IP address",
        operator_process,
    )
    real = [node.name for node in lab.nodes]
    wait_for(
        lambda: reported_since(operator_process, real, started),
        60,
        "the real nodes' reports",
        operator_process,
    )


def test_hostile_values_in_every_field_run_nothing_and_the_rest_goes_on(
    lab, api, operator_process, fake_nodes, cleanup, no_markers
):
    started = time.time()
    victim, other = lab.nodes[0], lab.nodes[1]
    tried = []

    # Nodes: reserved names, and every address type and annotations carrying templates. The
    # reserved names claim real nodes' addresses: without their host keys they get nothing.
    for name, claimed in (("all", victim), ("localhost", other), ("ungrouped", victim)):
        addresses = [
            {"type": "InternalIP", "address": claimed.address},
            {"type": "ExternalIP", "address": payload(f"{name}-external")},
            {"type": "Hostname", "address": payload(f"{name}-hostname")},
            {"type": "InternalDNS", "address": payload(f"{name}-dns")},
        ]
        annotations = {"nodenet.io/note": payload(f"{name}-annotation")}
        fake_nodes(name, addresses, annotations)
        tried += [f"node name {name}", *[f"{name} {a['type']}" for a in addresses[1:]]]
        tried.append(f"{name} annotation")

    # A policy whose selector, capture and state strings carry templates.
    custom = client.CustomObjectsApi(api)
    hostile = {
        "apiVersion": "nmstate.io/v1",
        "kind": "NodeNetworkConfigurationPolicy",
        "metadata": {"name": "e2e-hostile"},
        "spec": {
            "nodeSelector": {"e2e.nodenet.io/e2e-hostile": payload("selector")},
            "capture": {"base": payload("capture")},
            "desiredState": {
                "interfaces": [
                    {
                        "name": payload("state-name"),
                        "type": "linux-bridge",
                        "description": payload("state"),
                    }
                ]
            },
        },
    }
    cleanup["policies"].append("e2e-hostile")
    with pytest.raises(client.ApiException) as refused:
        custom.create_cluster_custom_object(*NNCP, hostile)
    assert "nodeSelector values must be valid label values" in refused.value.body
    hostile["spec"]["nodeSelector"] = {"e2e.nodenet.io/e2e-hostile": "matches-none"}
    custom.create_cluster_custom_object(*NNCP, hostile)
    tried += ["nodeSelector value", "capture", "desiredState name", "desiredState description"]

    # A policy named like a template: the API server's rule for names decides; record it.
    try:
        named = dict(hostile, metadata={"name": payload("policy-name")})
        custom.create_cluster_custom_object(*NNCP, named)
        cleanup["policies"].append(payload("policy-name"))
    except client.ApiException as exc:
        assert exc.status == 422, exc
    tried.append("policy name")

    # A policy that captures with a hostile expression on a real node: nmstate judges it.
    start_policy(
        api,
        cleanup,
        "e2e-hostile-capture",
        [other],
        {
            "interfaces": [
                {
                    "name": "brhcap",
                    "type": "linux-bridge",
                    "state": "up",
                    "description": payload("captured-state"),
                }
            ]
        },
        bridges=["brhcap"],
        capture={"eth": payload("capture-expression")},
    )
    tried += ["capture expression on a matching node", "desiredState on a matching node"]

    # An NNS desiredState with templates, on a real node.
    nns_state = {
        "interfaces": [
            {
                "name": "brhnns",
                "type": "linux-bridge",
                "state": "up",
                "description": payload("nns-state"),
            }
        ]
    }
    cleanup["bridges"].append("brhnns")
    cleanup["nns_states"].append(victim.name)
    custom.patch_cluster_custom_object(
        "nmstate.io",
        "v1beta1",
        "nodenetworkstates",
        victim.name,
        {"spec": {"desiredState": nns_state}},
    )
    tried.append("NNS desiredState")

    # Meanwhile an ordinary policy on a real node is configured, and every real node reported.
    start_policy(api, cleanup, "e2e-ordinary", [victim], bridge("brord"), bridges=["brord"])
    waited = kubectl_wait_available(lab, "e2e-ordinary", ROLLOUT_TIMEOUT)
    assert waited.returncode == 0, waited.stderr
    wait_settled(api, "e2e-hostile-capture", operator_process)
    wait_for(
        lambda: (
            (read_nns(api, victim.name)["status"].get("lastApply") or {}).get("result")
            in ("applied", "failed")
        ),
        ROLLOUT_TIMEOUT,
        "the NNS apply",
        operator_process,
    )
    real = [node.name for node in lab.nodes]
    after_all = time.time()
    wait_for(
        lambda: reported_since(operator_process, real, after_all),
        60,
        "a report round after it all",
        operator_process,
    )
    assert reported_since(operator_process, real, started)

    # The reserved names got nothing: ssh refused the host key before anything was sent.
    for name in ("all", "localhost", "ungrouped"):
        state = wait_for(
            lambda n=name: failing(api, n).get("status") == "True" and failing(api, n),
            60,
            f"{name}'s NNS to fail",
            operator_process,
        )
        assert state["reason"] == "HostKeyRejected", state
    print(f"\nhostile inputs tried: {len(tried)} ({'; '.join(tried)})")


def test_a_node_claiming_another_nodes_address_gets_nothing(
    lab, api, operator_process, fake_nodes, no_markers
):
    impostor = fake_nodes("impostor01", [{"type": "InternalIP", "address": lab.nodes[2].address}])
    state = wait_for(
        lambda: (
            failing(api, impostor).get("reason") == "HostKeyRejected" and failing(api, impostor)
        ),
        60,
        "the impostor's NNS to be refused",
        operator_process,
    )
    assert "no state was sent" in state["message"]
    warnings = [
        m
        for kind, reason, m in events_about(api, "NodeNetworkState", impostor)
        if kind == "Warning"
    ]
    assert warnings, "a Warning Event"
    assert condition(read_nns(api, lab.nodes[2].name), "Available").get("status") == "True"


SECRET = "s3cr3t-Nodenet-8021x"


def in_a_checkout(path: str) -> bool:
    """Whether a path is inside a git work tree (this test's source, any clone of it), which
    nodes see because they share the host's /tmp."""
    return any((parent / ".git").exists() for parent in Path(path).parents)


def dot1x(name=None):
    """An interface entry carrying an 802.1x password (and no name when `name` is None)."""
    entry = {
        "type": "ethernet",
        "state": "up",
        "802.1x": {
            "identity": "nodenet",
            "eap-methods": ["peap"],
            "phase2-auth": "mschapv2",
            "password": SECRET,
        },
    }
    if name:
        entry["name"] = name
    return entry


def places_holding_the_secret(lab, api, operator_process) -> list[str]:
    """Every place the secret must never be: Events, enactment and policy status (but the
    enactment's copy of the spec), the operator's log, the runner's files, files on nodes."""
    found = []
    custom = client.CustomObjectsApi(api)
    for event in client.CoreV1Api(api).list_namespaced_event("default").items:
        if SECRET in (event.message or ""):
            found.append(f"Event {event.involved_object.name}/{event.reason}")
    for group, version, plural in (
        NNCP,
        ("nmstate.io", "v1beta1", "nodenetworkconfigurationenactments"),
    ):
        for item in custom.list_cluster_custom_object(group, version, plural)["items"]:
            status = dict(item.get("status") or {})
            status.pop("desiredState", None)  # the documented exception: a copy of the spec
            if SECRET in json.dumps(status):
                found.append(f"{plural} {item['metadata']['name']} status")
    if SECRET in operator_process.log_path.read_text():
        found.append("operator log")
    grep = subprocess.run(
        ["grep", "-rl", SECRET, str(operator_process.runner_dir)], capture_output=True, text=True
    )
    found += [f"runner file {path}" for path in grep.stdout.split()]
    for node in lab.nodes:
        listed = node.run(
            f"grep -rl {SECRET} /root/.ansible_async /root/.ansible/tmp /tmp 2>/dev/null || true"
        ).stdout
        # Nodes share the host's /tmp: a checkout there holds this test, with the secret in it.
        found += [f"{node.name}:{path}" for path in listed.split() if not in_a_checkout(path)]
    return found


def test_secrets_never_leave_in_clear(lab, api, operator_process, cleanup, fake_nodes):
    kernel = next(n for n in lab.nodes if not n.network_manager)
    cut_node = lab.nodes[-1]
    cases = {
        # a shape error: the interface lacks its name
        "e2e-secret-shape": ([kernel], {"interfaces": [dot1x()]}),
        # an nmstate error: 802.1x needs NetworkManager, the node runs nmstate kernel-only
        "e2e-secret-nmstate": ([kernel], {"interfaces": [dot1x("eth2")]}),
        # a probe rollback: the same state cuts the management link
        "e2e-secret-rollback": (
            [cut_node],
            states.cut_management(**{"802.1x": dot1x()["802.1x"]}),
        ),
    }
    for name, (nodes, state) in cases.items():
        start_policy(api, cleanup, name, nodes, state)
    # an unreachable node: a Node whose address answers nobody
    away = [{"type": "InternalIP", "address": "10.231.77.250"}]
    unreachable = fake_nodes("unreachable01", away, ready=True)
    client.CoreV1Api(api).patch_node(
        unreachable, {"metadata": {"labels": {"e2e.nodenet.io/e2e-secret-away": "yes"}}}
    )
    cleanup["policies"].append("e2e-secret-away")
    client.CustomObjectsApi(api).create_cluster_custom_object(
        *NNCP,
        {
            "apiVersion": "nmstate.io/v1",
            "kind": "NodeNetworkConfigurationPolicy",
            "metadata": {"name": "e2e-secret-away"},
            "spec": {
                "nodeSelector": {"e2e.nodenet.io/e2e-secret-away": "yes"},
                "desiredState": {"interfaces": [dot1x("eth1")]},
            },
        },
    )

    for name in [*cases, "e2e-secret-away"]:
        policy = wait_settled(api, name, operator_process)
        assert condition(policy, "Degraded")["status"] == "True", (name, policy["status"])
    leaks = places_holding_the_secret(lab, api, operator_process)
    assert leaks == [], f"the secret was found in clear in: {leaks}"
    print(
        f"\nsecret grepped in Events, NNCP/NNCE status, the operator log, {operator_process.runner_dir} "
        f"and /root/.ansible_async, /root/.ansible/tmp, /tmp on {len(lab.nodes)} nodes: 0 hits"
    )


def nested(depth: int) -> dict:
    value: dict = {"leaf": True}
    for _ in range(depth):
        value = {"nested": value}
    return value


@pytest.fixture
def deep_recursion():
    """This test's own client serialises a deeply nested object too."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(25_000)
    yield
    sys.setrecursionlimit(limit)


def test_bad_and_huge_input_fails_only_its_own_object(
    lab, api, operator_process, cleanup, deep_recursion
):
    custom = client.CustomObjectsApi(api)
    outcomes = {}

    def submit(name, spec):
        body = {
            "apiVersion": "nmstate.io/v1",
            "kind": "NodeNetworkConfigurationPolicy",
            "metadata": {"name": name},
            "spec": spec,
        }
        try:
            custom.create_cluster_custom_object(*NNCP, body)
        except client.ApiException as exc:
            outcomes[name] = f"rejected by the API server ({exc.status})"
            return False
        cleanup["policies"].append(name)
        return True

    selector = {"e2e.nodenet.io/none": "matches-no-node"}
    deep = {"interfaces": [{"name": "brdeep", "type": "linux-bridge", "deep": nested(3000)}]}
    huge = {
        "interfaces": [
            {"name": "brhuge", "type": "linux-bridge", "description": "x" * (1024 * 1024)}
        ]
    }
    unknown = {"nodeSelector": selector, "desiredState": bridge("brunk"), "notAField": {"x": 1}}
    node = lab.nodes[0]
    label_key = "e2e.nodenet.io/e2e-bad-input"
    label(api, cleanup, [node], label_key)
    submitted = {
        "e2e-bad-deep": submit(
            "e2e-bad-deep", {"nodeSelector": {label_key: "yes"}, "desiredState": deep}
        ),
        "e2e-bad-huge": submit(
            "e2e-bad-huge", {"nodeSelector": {label_key: "yes"}, "desiredState": huge}
        ),
        "e2e-bad-unknown": submit("e2e-bad-unknown", unknown),
    }
    many = [f"e2e-many-{i:04d}" for i in range(300)]
    for name in many:
        submit(name, {"nodeSelector": selector, "desiredState": bridge("brmany")})
    if submitted["e2e-bad-unknown"]:
        stored = custom.get_cluster_custom_object(*NNCP, "e2e-bad-unknown")
        assert "notAField" not in stored["spec"], "the schema prunes unknown fields"
        outcomes["e2e-bad-unknown"] = "unknown field pruned by the schema"
    for name in ("e2e-bad-deep", "e2e-bad-huge"):
        if submitted[name]:
            wait_for(lambda n=name: node.name in enactments(api, n), 60, f"{name}'s enactment")
            policy = wait_settled(api, name, operator_process)
            held = [c["type"] for c in policy["status"]["conditions"] if c["status"] == "True"]
            outcomes[name] = (
                f"accepted; ends {held}: {condition(policy, held[0]).get('message', '')[:80]}"
            )

    # Everything else goes on: a policy is configured and the nodes are reported.
    start_policy(api, cleanup, "e2e-after-bad", [lab.nodes[1]], bridge("braft"), bridges=["braft"])
    waited = kubectl_wait_available(lab, "e2e-after-bad", ROLLOUT_TIMEOUT)
    assert waited.returncode == 0, waited.stderr + operator_process.log_path.read_text()[-2000:]
    settled = wait_for(
        lambda: all(policy_settled(api, n) for n in many[-3:]),
        120,
        "the last of 300 policies",
        operator_process,
    )
    assert settled and operator_process.poll() is None
    outcomes["300 policies"] = "each settled (no matching node)"
    print("\nbad input: " + "; ".join(f"{k}: {v}" for k, v in outcomes.items()))
