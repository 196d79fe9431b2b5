"""NNS spec.managed: false keeps the operator's hands off a node until it is true again."""

from __future__ import annotations

import json

from e2e_support import bridge, has_link, patch_nns, read_nns, wait_for
from test_operator_nns_apply import fresh_desired_state


def last_apply(api, name):
    return ((read_nns(api, name) or {}).get("status") or {}).get("lastApply") or {}


def test_an_unmanaged_node_keeps_its_network_until_managed_again(lab, api, operator_process):
    node = lab.nodes[1]
    fresh_desired_state(lab, api, node.name, operator_process)
    try:
        spec = {"spec": {"managed": False, "desiredState": bridge("brunman")}}
        patch_nns(lab, node.name, json.dumps(spec))
        state = wait_for(
            lambda: (
                last_apply(api, node.name).get("result") == "unmanaged"
                and last_apply(api, node.name)
            ),
            60,
            "the NNS to say it is unmanaged",
            operator_process,
        )
        assert "spec.managed is false" in state["message"]
        assert not has_link(node, "brunman")

        patch_nns(lab, node.name, json.dumps({"spec": {"managed": True}}))
        wait_for(
            lambda: last_apply(api, node.name).get("result") == "applied",
            120,
            "the held-back state to be applied",
            operator_process,
        )
        assert has_link(node, "brunman")
    finally:
        patch_nns(lab, node.name, json.dumps({"spec": {"managed": None, "desiredState": None}}))
        if has_link(node, "brunman"):
            node.apply(bridge("brunman", "absent"))
