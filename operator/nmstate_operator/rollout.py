"""A NodeNetworkConfigurationPolicy's rollout, one step at a time.

A step reads the policy, the Nodes and the policy's enactments, asks `policies.plan` what to do,
and does it: verify runs cut off by a restart, abort what maxUnavailable no longer allows, or
configure one batch with one ansible-runner run (--limit, forks = batch size). Every decision
is written to the enactments first, so a restarted operator picks up where this one stopped.

Editing a policy while it rolls out: the batch running then finishes with the generation it
started with; the next step sees the new generation, for which no node is done yet, and rolls
it out from the start in new batches (nodes aborted or failed before get a fresh chance).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.rest import ApiException

from . import kube, metrics, policies
from .conditions import enactment_conditions, policy_conditions
from .config import Config
from .runs import TRUE_STRINGS, apply_outcome, node_lock, run_playbook

log = logging.getLogger(__name__)

LOCK_WAIT_SECONDS = 2.0


@dataclass
class Context:
    config: Config
    core: client.CoreV1Api
    custom: client.CustomObjectsApi
    # Told the nodes a run just changed (the report loop refreshes their NNS).
    applied: Callable[[list[str]], None] = lambda nodes: None


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_of(enactment: dict) -> str:
    return enactment["metadata"]["labels"][kube.NODE_LABEL]


class PolicyGone(Exception):
    """The policy (and with it its enactments) was deleted during a step."""


def _set_enactment(
    ctx: Context, enactment: dict, true_type: str, reason: str, message: str, **fields
) -> dict:
    """Write an enactment's status; returns it as the API server now holds it."""
    previous = (enactment.get("status") or {}).get("conditions") or []
    status = dict(fields, conditions=enactment_conditions(true_type, reason, message, previous))
    try:
        return kube.patch_enactment_status(ctx.custom, enactment["metadata"]["name"], status)
    except ApiException as exc:
        if exc.status == 404:
            raise PolicyGone from exc
        raise


def _sync_enactments(
    ctx: Context, policy: dict, matching: list[str], existing: dict[str, dict]
) -> dict[str, dict]:
    """One enactment per matching node; enactments of nodes that stopped matching go."""
    name = policy["metadata"]["name"]
    for node, enactment in list(existing.items()):
        if node not in matching:
            kube.delete_enactment(ctx.custom, enactment["metadata"]["name"])
            del existing[node]
    for node in matching:
        if node not in existing:
            existing[node] = kube.create_enactment(ctx.custom, node, policy)
            log.info("created enactment %s", kube.enactment_name(node, name))
    return existing


def _lock_nodes(nodes: list[str]) -> list[str]:
    """Take the node locks that are free now; a node another run holds waits for a later step."""
    return [node for node in nodes if node_lock(node).acquire(blocking=False)]


def _release(nodes: list[str]) -> None:
    for node in nodes:
        node_lock(node).release()


def step(ctx: Context, name: str) -> float | None:
    """Advance the rollout of policy `name` by one step.

    Returns when the next step is due: 0 for at once, seconds to wait (a retry's backoff, a
    node busy with another run), or None when there is nothing to do until something changes.
    """
    policy = kube.get_policy(ctx.custom, name)
    if policy is None or policy["metadata"].get("deletionTimestamp"):
        return None
    try:
        return _step(ctx, policy)
    except PolicyGone:
        log.info("policy %s was deleted during its rollout", name)
        return None


def _step(ctx: Context, policy: dict) -> float | None:
    name = policy["metadata"]["name"]
    generation = policy["metadata"]["generation"]
    spec = policy.get("spec") or {}
    nodes = kube.list_nodes(ctx.core)
    selected = [n for n in nodes if policies.selector_matches(spec.get("nodeSelector"), n["metadata"].get("labels"))]  # fmt: skip
    ready = sorted(n["metadata"]["name"] for n in selected if policies.node_ready(n))
    addresses = {
        n["metadata"]["name"]: kube.node_address(n, ctx.config.address_type) for n in selected
    }
    existing = {_node_of(e): e for e in kube.list_enactments(ctx.custom, name)}
    # A NotReady node keeps its enactment (it may come back) but takes no part in the rollout.
    keep = {n["metadata"]["name"] for n in selected}
    everything = _sync_enactments(ctx, policy, sorted(keep), existing)
    enactments = {node: everything[node] for node in ready}
    plan = policies.plan(ready, enactments, generation, spec.get("maxUnavailable"), _utcnow())
    next_due = plan.wait_seconds

    if plan.verify:
        next_due = _run(ctx, policy, plan.verify, enactments, addresses, verify=True)
    elif plan.abort:
        _abort(ctx, policy, plan, enactments)
    elif plan.batch:
        _write_policy_status(ctx, policy, everything, ready, generation,
                             unavailable=len(plan.batch) + plan.count(policies.FAILED))  # fmt: skip
        next_due = _run(ctx, policy, plan.batch, enactments, addresses, verify=False)
    everything.update(enactments)
    _write_policy_status(ctx, policy, everything, ready, generation,
                         unavailable=_unavailable(enactments, generation))  # fmt: skip
    return next_due


def _unavailable(enactments: dict[str, dict], generation: int) -> int:
    phases = [policies.enactment_phase(e, generation) for e in enactments.values()]
    return sum(1 for p in phases if p in (policies.FAILED, policies.RETRYING))


def _abort(ctx: Context, policy: dict, plan: policies.Plan, enactments: dict[str, dict]) -> None:
    generation = policy["metadata"]["generation"]
    message = (
        f"configuration aborted: {plan.count(policies.FAILED)} nodes failed, "
        f"which reaches maxUnavailable ({plan.limit})"
    )
    for node in plan.abort:
        enactments[node] = _set_enactment(ctx, enactments[node], "Aborted", "ConfigurationAborted",
                                          message, policyGeneration=generation)  # fmt: skip
    kube.event(ctx.core, policy, "ConfigurationAborted",
               f"{message}; not configured: {', '.join(plan.abort)}", "Warning")  # fmt: skip
    log.warning("policy %s: %s (%s)", policy["metadata"]["name"], message, ", ".join(plan.abort))


def _run(
    ctx: Context,
    policy: dict,
    wanted: list[str],
    enactments: dict[str, dict],
    addresses: dict[str, str | None],
    verify: bool,
) -> float | None:
    """One run over the nodes of a batch (apply) or of cut-off runs (verify)."""
    name = policy["metadata"]["name"]
    generation = policy["metadata"]["generation"]
    spec = policy.get("spec") or {}
    desired = spec.get("desiredState") or {}
    # With capture, the nodes render the state (nmstate's policy support) from their own state.
    data = {"capture": spec["capture"], "desiredState": desired} if spec.get("capture") else desired
    without_address = [n for n in wanted if not addresses.get(n)]
    for node in without_address:
        enactments[node] = _set_enactment(
            ctx, enactments[node], "Failing", "FailedToConfigure",
            f"Node {node} has no {ctx.config.address_type} address to reach it at",
            policyGeneration=generation, desiredState=desired,
        )  # fmt: skip
    locked = _lock_nodes([n for n in wanted if n not in without_address])
    if not locked:
        return LOCK_WAIT_SECONDS if len(without_address) < len(wanted) else 0
    try:
        kind = "verify" if verify else "apply"
        for node in locked:
            retries = (enactments[node].get("status") or {}).get("retryCount", 0)
            if (enactments[node].get("status") or {}).get("policyGeneration") != generation:
                retries = 0
            enactments[node] = _set_enactment(
                ctx, enactments[node], "Progressing", "ConfigurationProgressing",
                "checking the outcome of a run cut off by an operator restart" if verify
                else f"applying generation {generation} of the policy",
                policyGeneration=generation, desiredState=desired, retryCount=retries,
            )  # fmt: skip
            if not verify:
                kube.event(ctx.core, enactments[node], "ConfigurationProgressing",
                           f"applying generation {generation} of policy {name}")  # fmt: skip
        inventory = {n: a for n, a in addresses.items() if a}
        result = run_playbook(
            ctx.config,
            f"nodenet.nmstate.{kind}",
            inventory,
            f"nncp-{name}",
            {"nmstate_desired_state": data},
            limit=locked,
            record={"kind": kind, "policy": name, "generation": generation},
            settings=ctx.config.apply_settings(),
        )
        log.info("policy %s: %s run over %s ended %s in %.1f s", name, kind, ", ".join(locked),
                 result.status, result.duration)  # fmt: skip
        if not verify:
            ctx.applied(locked)
        due: list[float] = []
        for node in locked:
            outcome = result.hosts.get(node)
            if verify:
                delay = _record_verify(ctx, policy, enactments, node, outcome)
            else:
                delay = _record_apply(ctx, policy, enactments, node, outcome, result)
            if delay is not None:
                due.append(delay)
    finally:
        _release(locked)
    return min(due) if due else 0


def _record_verify(ctx, policy, enactments, node, outcome) -> float | None:
    generation = policy["metadata"]["generation"]
    facts = (outcome.facts if outcome else {}).get("nmstate_verify_result") or {}
    if outcome is not None and outcome.ok and facts.get("in_place") in TRUE_STRINGS:
        enactments[node] = _set_enactment(
            ctx, enactments[node], "Available", "SuccessfullyConfigured",
            "successfully configured (checked after an operator restart)",
            policyGeneration=generation,
        )  # fmt: skip
        return None
    if outcome is not None and outcome.unreachable:
        return _retry_or_fail(ctx, policy, enactments, node, "; ".join(outcome.failures))
    enactments[node] = _set_enactment(
        ctx, enactments[node], "Pending", "ConfigurationPending",
        "a run cut off by an operator restart did not configure the node; it is configured again",
        policyGeneration=generation,
    )  # fmt: skip
    return 0


def _record_apply(ctx, policy, enactments, node, outcome, result) -> float | None:
    generation = policy["metadata"]["generation"]
    verdict = apply_outcome(outcome, result)
    rendered = {"desiredState": verdict.rendered_state} if verdict.rendered_state else {}
    if verdict.applied:
        enactments[node] = _set_enactment(
            ctx, enactments[node], "Available", "SuccessfullyConfigured",
            f"successfully configured (generation {generation})", policyGeneration=generation,
            **rendered,
        )  # fmt: skip
        kube.event(ctx.core, enactments[node], "SuccessfullyConfigured",
                   f"generation {generation} of policy {policy['metadata']['name']} is applied")  # fmt: skip
        return None
    if verdict.transient:
        return _retry_or_fail(ctx, policy, enactments, node, verdict.message)
    message = verdict.message[-2000:]
    enactments[node] = _set_enactment(
        ctx, enactments[node], "Failing", "FailedToConfigure", message,
        policyGeneration=generation, failedProbe=verdict.failed_probe, **rendered,
    )  # fmt: skip
    reason = "RolledBack" if verdict.rolled_back else "FailedToConfigure"
    kube.event(ctx.core, enactments[node], reason, message, "Warning")
    log.warning("policy %s on %s: %s", policy["metadata"]["name"], node, message)
    return None


def _retry_or_fail(ctx, policy, enactments, node, message: str) -> float | None:
    generation = policy["metadata"]["generation"]
    retries = ((enactments[node].get("status") or {}).get("retryCount") or 0) + 1
    if retries > ctx.config.max_retries:
        final = f"gave up after {ctx.config.max_retries} retries: {message}"[-2000:]
        enactments[node] = _set_enactment(ctx, enactments[node], "Failing", "FailedToConfigure",
                                          final, policyGeneration=generation, retryCount=retries - 1)  # fmt: skip
        kube.event(ctx.core, enactments[node], "FailedToConfigure", final, "Warning")
        return None
    delay = policies.backoff_seconds(retries)
    due = _utcnow() + datetime.timedelta(seconds=delay)
    enactments[node] = _set_enactment(
        ctx, enactments[node], "Pending", "Retrying",
        f"attempt {retries} of {ctx.config.max_retries + 1} failed, next in {delay:.0f} s: {message}"[-2000:],
        policyGeneration=generation, retryCount=retries, nextRetryTime=_stamp(due),
    )  # fmt: skip
    kube.event(ctx.core, enactments[node], "Retrying", message[-1000:], "Warning")
    return delay


def _write_policy_status(ctx, policy, enactments, ready, generation, unavailable) -> None:
    """The policy's conditions over its Ready nodes, plus NotReady ones that already finished
    this generation (a node cut off by a failed change must not hide the failure)."""
    phases = {n: policies.enactment_phase(e, generation) for n, e in enactments.items()}
    finished = (policies.AVAILABLE, policies.FAILED, policies.ABORTED)
    counted = {n: p for n, p in phases.items() if n in ready or p in finished}
    summary = policies.policy_summary(counted, len(phases) - len(counted))
    previous = policy.get("status") or {}
    conditions = policy_conditions(summary, previous.get("conditions") or [])
    unchanged = (
        kube.same_conditions(previous.get("conditions") or [], conditions)
        and previous.get("unavailableNodeCount") == unavailable
        and previous.get("observedGeneration") == generation
    )
    if unchanged:
        return
    status = {
        "conditions": conditions,
        "unavailableNodeCount": unavailable,
        "lastUnavailableNodeCountUpdate": kube.now(),
        "observedGeneration": generation,
    }
    try:
        kube.patch_policy_status(ctx.custom, policy["metadata"]["name"], status)
    except ApiException as exc:
        if exc.status == 404:
            raise PolicyGone from exc
        raise
    policy["status"] = dict(previous, **status)
    was = {c["type"]: c.get("status") for c in previous.get("conditions") or []}
    if summary["Available"] == "True" and was.get("Available") != "True" and phases:
        kube.event(ctx.core, policy, summary["reason"], summary["message"])
    if summary["Degraded"] == "True" and was.get("Degraded") != "True":
        kube.event(ctx.core, policy, summary["reason"], summary["message"], "Warning")


def refresh_metrics(custom: client.CustomObjectsApi) -> None:
    metrics.observe_policies(kube.list_policies(custom), kube.list_enactments(custom))
