"""kopf handlers: watches in, NodeNetworkStates, policy rollouts and report runs out.

Nodes and policies are watched as raw events, so the operator writes no kopf bookkeeping onto
them; what a rollout has done lives in the enactments. The report loop and the rollouts run
only while this operator leads (kopf peering), or always when it runs standalone.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import kopf
from kubernetes import client
from kubernetes import config as kube_config

from . import kube, metrics, nns_apply, reporting, rollout
from .policies import node_ready
from .rollouts import Rollouts

log = logging.getLogger(__name__)


def api_clients():
    try:
        kube_config.load_incluster_config()
    except kube_config.ConfigException:
        kube_config.load_kube_config()
    return client.CoreV1Api(), client.CustomObjectsApi()


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_) -> None:
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.peering.lifetime = memo.config.peering_lifetime
    memo.core, memo.custom = api_clients()
    memo.known_nns = set(await asyncio.to_thread(kube.list_nns, memo.custom))
    memo.node_signatures = {}
    memo.reports = reporting.ReportRequests(memo.config.report_interval)
    memo.stopping = threading.Event()
    memo.leading = asyncio.Event()
    if not memo.config.peering:
        memo.leading.set()
    memo.rollouts = Rollouts(
        rollout.Context(memo.config, memo.core, memo.custom, applied=memo.reports.request)
    )
    if memo.config.metrics_bind_address:
        metrics.serve(memo.config.metrics_bind_address)
    memo.tasks = [
        asyncio.create_task(report_loop(memo)),
        asyncio.create_task(memo.rollouts.run(memo.leading)),
    ]


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_) -> None:
    memo.stopping.set()
    memo.reports.request()
    for task in memo.tasks:
        task.cancel()


def _is_our_peering(name: str, memo: kopf.Memo, **_) -> bool:
    return name == memo.config.peering


@kopf.daemon("kopf.dev", "v1", "clusterkopfpeerings", when=_is_our_peering, cancellation_timeout=5)
async def lead(memo: kopf.Memo, stopped: kopf.DaemonStopped, **_) -> None:
    """kopf runs this daemon only while this operator has the highest peering priority, and
    stops it when it pauses for another one: that is when reports and rollouts may run."""
    log.info("leading: reports and rollouts run here")
    memo.leading.set()
    memo.reports.request()
    memo.rollouts.wake_all_threadsafe()
    try:
        await stopped.wait()
    finally:
        memo.leading.clear()
        log.info("not leading any more: reports and rollouts pause")


def _node_signature(body: kopf.Body, memo: kopf.Memo) -> tuple:
    """What a rollout depends on; heartbeats alone do not change it."""
    node = dict(body)
    return (
        tuple(sorted((body["metadata"].get("labels") or {}).items())),
        node_ready(node),
        kube.node_address(node, memo.config.address_type),
    )


@kopf.on.event("nodes")
def node_seen(event: dict, body: kopf.Body, memo: kopf.Memo, **_) -> None:
    """Raw events: create the NNS a new Node lacks; wake the rollouts when labels change."""
    name = body["metadata"]["name"]
    if event["type"] == "DELETED":
        memo.known_nns.discard(name)  # the garbage collector removes the NNS with its owner
        memo.node_signatures.pop(name, None)
        metrics.forget_node(name)
        memo.rollouts.wake_all_threadsafe()
        return
    signature = _node_signature(body, memo)
    if memo.node_signatures.get(name) != signature:
        memo.node_signatures[name] = signature
        memo.rollouts.wake_all_threadsafe()
    if name in memo.known_nns:
        return
    if kube.ensure_nns(memo.custom, name, body["metadata"]["uid"]):
        log.info("created NodeNetworkState %s", name)
        memo.reports.request([name])
    memo.known_nns.add(name)


@kopf.on.event("nmstate.io", "v1", "nodenetworkconfigurationpolicies")
async def policy_seen(event: dict, body: kopf.Body, memo: kopf.Memo, **_) -> None:
    """Any change to a policy (its spec, or our own status write) may call for a step."""
    name = body["metadata"]["name"]
    if event["type"] == "DELETED":
        memo.rollouts.forget(name)
        return
    observed = (body.get("status") or {}).get("observedGeneration")
    own_status_write = (
        event["type"] == "MODIFIED"
        and observed == body["metadata"].get("generation")
        and name in memo.rollouts.known
    )
    if not own_status_write:  # the step that wrote the status goes on by itself
        memo.rollouts.wake(name)


async def report_loop(memo: kopf.Memo) -> None:
    """One report run over all nodes every report interval, and on just-applied nodes at once."""
    only = None  # the first round covers every node
    while not memo.stopping.is_set():
        await memo.leading.wait()
        try:
            await asyncio.to_thread(
                reporting.report_round, memo.config, memo.core, memo.custom, only
            )
            await asyncio.to_thread(rollout.refresh_metrics, memo.custom)
        except Exception:  # a failed round must not end reporting; the next one retries
            log.exception("report round failed")
        only = await asyncio.to_thread(memo.reports.next_round)


@kopf.on.field(
    "nmstate.io", "v1beta1", "nodenetworkstates", field="spec.desiredState", retries=5, backoff=10
)
def nns_desired_state_changed(body: kopf.Body, new, memo: kopf.Memo, **_) -> None:
    """Apply a desired state patched onto a NodeNetworkState to its node."""
    if not new:
        nns_apply.record_cleared(memo.custom, dict(body))
        return
    try:
        nns_apply.apply_desired_state(memo.config, memo.core, memo.custom, dict(body))
    except nns_apply.NodeUnreachable as exc:
        raise kopf.TemporaryError(str(exc), delay=10) from exc
    memo.reports.request([body["metadata"]["name"]])  # its currentState, right after the apply
