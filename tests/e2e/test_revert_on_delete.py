"""Revert on delete (spec.revertOnDelete): deleting a policy puts its nodes back as they were,
through the same probes and rollback as any apply."""

from __future__ import annotations

from e2e_support import (
    NNCE,
    condition,
    delete_policy,
    enactments,
    events_about,
    has_link,
    read_policy,
    start_policy,
    views_settle_back,
    wait_for,
    wait_settled,
)
from kubernetes import client
from nmstate_operator.nncp import signing

from nodenet_lab import states

KERNEL_VIEW = "ip -br link; ip -br addr; ip route show table all"
FINALIZER = "nmstate.io/revert-on-delete"


def addressed_bridge(name, ip):
    return {
        "interfaces": [
            {
                "name": name,
                "type": "linux-bridge",
                "state": "up",
                "ipv4": {
                    "enabled": True,
                    "dhcp": False,
                    "address": [{"ip": ip, "prefix-length": 24}],
                },
                "bridge": {"options": {"stp": {"enabled": False}}, "port": []},
            }
        ]
    }


def policy_of(enactment: str) -> str:
    """The policy of an enactment `<node>.<policy>`: policy names are DNS labels (no dot),
    node names may have dots."""
    return enactment.rsplit(".", 1)[1]


def policy_uid(api, name):
    return read_policy(api, name)["metadata"]["uid"]


def signed_revert_state(lab, api, enactment, state=None):
    state = states.cut_management() if state is None else state
    key = signing.signing_key(lab.state_dir / "keys" / "id_ed25519")
    uid = policy_uid(api, policy_of(enactment))
    signature = signing.sign(key, enactment, uid, state)
    return {"status": {"revertState": state, signing.FIELD: signature}}


def delete_over_revert_state(api, process, enactment, status, timeout, what):
    """Replace the enactment's revertState by `status` (a status patch), delete its policy, wait
    until the policy is gone; returns the policy's Events."""
    policy = policy_of(enactment)
    custom = client.CustomObjectsApi(api)
    custom.patch_cluster_custom_object_status(*NNCE, enactment, {"status": {"revertState": None}})
    custom.patch_cluster_custom_object_status(*NNCE, enactment, status)
    delete_policy(api, policy)
    wait_for(lambda: gone(api, policy), timeout, what, process)
    return events_about(api, "NodeNetworkConfigurationPolicy", policy)


def gone(api, name):
    return read_policy(api, name) is None


def test_deleting_a_bridge_policy_puts_the_nodes_back_as_they_were(
    lab, api, operator_process, cleanup
):
    nodes = [next(n for n in lab.nodes if not n.network_manager)]
    nodes.append(next(n for n in lab.nodes if n.network_manager))
    before = {n.name: n.run(KERNEL_VIEW).stdout for n in nodes}
    state = addressed_bridge("brrv", "192.0.2.61")
    start_policy(api, cleanup, "e2e-revert", nodes, state, bridges=["brrv"], revertOnDelete=True)
    policy = wait_settled(api, "e2e-revert", operator_process)
    assert condition(policy, "Available")["message"] == "2/2 nodes successfully configured"
    assert FINALIZER in policy["metadata"]["finalizers"]
    for node in nodes:
        assert has_link(node, "brrv")
        revert_state = enactments(api, "e2e-revert")[node.name]["status"]["revertState"]
        absent = [i for i in revert_state["interfaces"] if i["name"] == "brrv"]
        assert absent and absent[0]["state"] == "absent", revert_state

    def reasons():
        return [r for _, r, _ in events_about(api, "NodeNetworkConfigurationPolicy", "e2e-revert")]

    earlier = reasons()  # Events outlive their object: a name used before may have some
    delete_policy(api, "e2e-revert")
    wait_for(
        lambda: gone(api, "e2e-revert"), 180, "the policy to be reverted and go", operator_process
    )
    views_settle_back(nodes, KERNEL_VIEW, before)
    now = reasons()
    assert now.count("Reverted") - earlier.count("Reverted") == 2, now
    assert now.count("RevertFinished") - earlier.count("RevertFinished") == 1, now


def test_a_revert_that_would_cut_the_management_link_is_rolled_back_and_does_not_block(
    lab, api, operator_process, cleanup
):
    node = lab.nodes[0]
    start_policy(
        api,
        cleanup,
        "e2e-revert-cut",
        [node],
        addressed_bridge("brrvcut", "192.0.2.62"),
        bridges=["brrvcut"],
        revertOnDelete=True,
    )
    wait_settled(api, "e2e-revert-cut", operator_process)
    # The node's state moved on since the apply, so that its stored revert would now take the
    # management link's addresses away: the probes must refuse it.
    # The test stands in for the operator here: it signs the state with the operator's key.
    name = f"{node.name}.e2e-revert-cut"
    events = delete_over_revert_state(
        api,
        operator_process,
        name,
        signed_revert_state(lab, api, name),
        300,
        "the policy to go once its revert was refused",
    )
    failed = [m for kind, r, m in events if r == "RevertFailed" and kind == "Warning"]
    assert failed and "rolled back" in failed[0], events
    assert any(r == "RevertFinished" and "1 failed" in m for _, r, m in events), events
    # The node kept its management address and the policy's bridge.
    assert node.address in node.run("ip -br addr show mgmt0").stdout
    assert has_link(node, "brrvcut")


def test_a_revert_state_changed_outside_the_operator_is_not_applied(
    lab, api, operator_process, cleanup
):
    """Whoever may write enactment status must not choose what runs as root on a node when the
    policy goes: a revert state without the operator's signature is refused."""
    node = lab.nodes[1]
    start_policy(
        api,
        cleanup,
        "e2e-revert-planted",
        [node],
        addressed_bridge("brrvpl", "192.0.2.63"),
        bridges=["brrvpl", "brplanted"],
        revertOnDelete=True,
    )
    wait_settled(api, "e2e-revert-planted", operator_process)
    name = f"{node.name}.e2e-revert-planted"
    planted = {"interfaces": [{"name": "brplanted", "type": "linux-bridge", "state": "up"}]}
    # Kept signature, new state: as a writer without the operator's key would change it.
    events = delete_over_revert_state(
        api,
        operator_process,
        name,
        {"status": {"revertState": planted}},
        180,
        "the policy to go without applying the planted state",
    )
    altered = [m for kind, r, m in events if r == "RevertStateAltered" and kind == "Warning"]
    assert altered and "signature" in altered[0], events
    assert any(r == "RevertFinished" and "1 abandoned" in m for _, r, m in events), events
    assert not has_link(node, "brplanted")
    assert has_link(node, "brrvpl"), "not reverted either: the policy's bridge stays"
