"""The seed's direct flow: a desiredState patched onto a NodeNetworkState is applied to its node."""

from __future__ import annotations

import logging

from kubernetes import client

from . import kube
from .conditions import nns_conditions
from .config import Config
from .runs import apply_outcome, node_lock, run_playbook

log = logging.getLogger(__name__)


class NodeUnreachable(RuntimeError):
    """The node could not be reached; worth retrying later."""


def _write(custom: client.CustomObjectsApi, nns: dict, last_apply: dict) -> None:
    previous = nns.get("status") or {}
    conditions = nns_conditions(
        previous.get("conditions") or [], last_apply["generation"], last_apply
    )
    status = {
        "lastApply": last_apply,
        "conditions": conditions,
        "observedGeneration": last_apply["generation"],
    }
    kube.patch_nns_status(custom, nns["metadata"]["name"], status)
    nns["status"] = dict(previous, **status)


def record_cleared(custom: client.CustomObjectsApi, nns: dict) -> None:
    """spec.desiredState was removed: nothing to apply, and no old failure to keep showing."""
    _write(
        custom,
        nns,
        {"generation": nns["metadata"].get("generation"), "result": "cleared", "time": kube.now()},
    )


def apply_desired_state(
    config: Config, core: client.CoreV1Api, custom: client.CustomObjectsApi, nns: dict
) -> dict:
    """Apply spec.desiredState to the NNS's node through the collection's apply playbook.

    Returns the `lastApply` record written to status. Raises NodeUnreachable when the node
    cannot be reached (the caller retries), after recording it.
    """
    name = nns["metadata"]["name"]
    generation = nns["metadata"].get("generation")
    desired = (nns.get("spec") or {}).get("desiredState")
    try:
        node = client.ApiClient().sanitize_for_serialization(core.read_node(name))
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        message = f"there is no Node {name} to apply the desired state to"
        last_apply = {
            "generation": generation,
            "result": "failed",
            "message": message,
            "time": kube.now(),
        }
        _write(custom, nns, last_apply)
        kube.event(core, nns, "FailedToConfigure", message, "Warning")
        return last_apply
    address = kube.node_address(node, config.address_type)
    if not address:
        raise NodeUnreachable(f"Node {name} has no {config.address_type} address")
    _write(custom, nns, {"generation": generation, "result": "progressing", "time": kube.now()})
    kube.event(
        core,
        nns,
        "ConfigurationProgressing",
        f"applying the desired state (generation {generation})",
    )
    with node_lock(name):
        # The state reaches the playbook as a JSON file it reads as data: never a template.
        result = run_playbook(config, "nodenet.nmstate.apply", {name: address}, f"nns-{name}",
                              {"nmstate_desired_state": desired}, settings=config.apply_settings(),
                              record={"kind": "apply", "nns": name, "generation": generation})  # fmt: skip
    outcome = result.hosts[name]
    verdict = apply_outcome(outcome, result)
    if verdict.transient:
        message = verdict.message
        _write(
            custom,
            nns,
            {"generation": generation, "result": "failed", "message": message, "time": kube.now()},
        )
        kube.event(core, nns, "NodeUnreachable", message, "Warning")
        raise NodeUnreachable(message)
    if verdict.applied:
        last_apply = {"generation": generation, "result": "applied", "time": kube.now()}
        _write(custom, nns, last_apply)
        kube.event(
            core,
            nns,
            "SuccessfullyConfigured",
            f"the desired state is applied (generation {generation})",
        )
        return last_apply
    message = verdict.message
    last_apply = {
        "generation": generation,
        "result": "failed",
        "message": message[-2000:],
        "time": kube.now(),
    }
    _write(custom, nns, last_apply)
    reason = "RolledBack" if verdict.rolled_back else "FailedToConfigure"
    kube.event(core, nns, reason, message, "Warning")
    log.warning("NNS %s: %s", name, message)
    return last_apply
