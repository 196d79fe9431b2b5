"""The examples in docs/examples/policies for dry runs, order and conflicts, applied as the
policies guide tells users to, on every lab node (all are workers)."""

from __future__ import annotations

from pathlib import Path

from e2e_support import (
    NNCP,
    condition,
    enactments,
    has_link,
    kubectl,
    read_policy,
    views_settle_back,
    wait_degraded_by,
    wait_for,
    wait_settled,
)
from kubernetes import client

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "policies"


def apply_example(lab, text_or_name, cleanup, policies, bridges):
    cleanup["policies"].extend(policies)
    cleanup["bridges"].extend(bridges)
    if "\n" in text_or_name:
        kubectl(lab, "apply", "-f", "-", stdin=text_or_name)
    else:  # a file or a directory, as the guide applies it
        kubectl(lab, "apply", "-f", str(EXAMPLES / text_or_name))


def reason_is(api, name, reason):
    policy = read_policy(api, name)
    return policy if policy and condition(policy, "Available").get("reason") == reason else None


def test_the_dry_run_example_changes_nothing_until_dry_run_is_turned_off(
    lab, api, operator_process, cleanup
):
    apply_example(lab, "dry-run-br3.yaml", cleanup, ["br3-dry-run"], ["br3"])
    policy = wait_settled(api, "br3-dry-run", operator_process)
    count = len(lab.nodes)
    assert condition(policy, "Available")["message"] == f"{count}/{count} nodes passed the dry run"
    for enactment in enactments(api, "br3-dry-run").values():
        assert "192.0.2.30" in enactment["status"]["dryRun"]["diff"]["after"]
    assert not any(has_link(n, "br3") for n in lab.nodes)

    patch = '{"spec":{"dryRun":false}}'
    kubectl(lab, "patch", "nncp", "br3-dry-run", "--type", "merge", "-p", patch)
    wait_for(
        lambda: reason_is(api, "br3-dry-run", "SuccessfullyConfigured"),
        180,
        "the example to be applied once its dry run is off",
        operator_process,
    )
    assert all("192.0.2.30/24" in n.run("ip -br addr show br3").stdout for n in lab.nodes)


def test_the_ordered_example_applies_the_bridge_before_its_address(
    lab, api, operator_process, cleanup
):
    apply_example(lab, "ordered-br4", cleanup, ["br4-address", "br4-bridge"], ["br4"])
    for name in ("br4-bridge", "br4-address"):
        wait_for(
            lambda name=name: reason_is(api, name, "SuccessfullyConfigured"),
            240,
            f"{name} to be applied",
            operator_process,
        )
    bridge_done = enactments(api, "br4-bridge")
    for node, enactment in enactments(api, "br4-address").items():
        address_at = condition(enactment, "Available")["lastTransitionTime"]
        assert address_at >= condition(bridge_done[node], "Available")["lastTransitionTime"]
    assert all("192.0.2.40/24" in n.run("ip -br addr show br4").stdout for n in lab.nodes)


def test_the_conflicting_example_applies_nothing_until_a_priority_orders_it(
    lab, api, operator_process, cleanup
):
    apply_example(lab, "conflicting-br5", cleanup, ["br5-site", "br5-rack"], ["br5"])
    for name in ("br5-site", "br5-rack"):
        wait_degraded_by(api, name, "ConflictingPolicies", operator_process)
    assert not any(has_link(n, "br5") for n in lab.nodes)

    rack_file = EXAMPLES / "conflicting-br5" / "br5-rack.yaml"
    ordered = rack_file.read_text().replace("# priority: 10", "priority: 10")
    assert "  priority: 10" in ordered
    apply_example(lab, ordered, cleanup, [], [])
    for name in ("br5-site", "br5-rack"):
        wait_for(
            lambda name=name: reason_is(api, name, "SuccessfullyConfigured"),
            240,
            f"{name} to be applied once ordered",
            operator_process,
        )
    rack = next(iter(enactments(api, "br5-rack").values()))
    available = condition(rack, "Available")["message"]
    assert "overrides interfaces[br5].ipv4.address of policy br5-site (priority 10 > 0)" in (
        available
    )
    for node in lab.nodes:
        addresses = node.run("ip -br addr show br5").stdout
        assert "192.0.2.51/24" in addresses and "192.0.2.50" not in addresses, addresses
    custom = client.CustomObjectsApi(api)
    assert custom.get_cluster_custom_object(*NNCP, "br5-rack")["spec"]["priority"] == 10


def test_the_revert_on_delete_example_leaves_no_bridge_behind(lab, api, operator_process, cleanup):
    view = "ip -br link; ip -br addr"
    before = {n.name: n.run(view).stdout for n in lab.nodes}
    apply_example(lab, "revert-on-delete-br6.yaml", cleanup, ["br6-revert-on-delete"], ["br6"])
    wait_for(
        lambda: reason_is(api, "br6-revert-on-delete", "SuccessfullyConfigured"),
        240,
        "the example to be applied",
        operator_process,
    )
    assert all(has_link(n, "br6") for n in lab.nodes)
    deleted = kubectl(lab, "delete", "nncp", "br6-revert-on-delete", "--timeout=240s")
    assert deleted.returncode == 0, deleted.stderr
    assert read_policy(api, "br6-revert-on-delete") is None
    views_settle_back(lab.nodes, view, before)
