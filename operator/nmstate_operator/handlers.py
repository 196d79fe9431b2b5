"""kopf handlers: watches in, calls into nns/ and nncp/ out. Each handler is a few lines.

Nodes and policies are watched as raw events, so the operator writes no kopf bookkeeping onto
them; what a rollout has done lives in the enactments. Nodes are kept in a kopf index
(`nodes_by_name`), so no step or report round lists them again. The report loop and the
rollouts run only while this operator leads (kopf peering), or always when it runs standalone.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import kopf

from . import metrics, probes
from .api import GROUP, NNS_PLURAL, NNS_VERSION, Api
from .host_keys import TrustOnFirstUse
from .nncp import step
from .nncp.scheduler import Scheduler
from .nns import apply as nns_apply
from .nns import report
from .nns.apply import DRY_RUN_ANNOTATION
from .nodes import (
    FORCE_REFRESH_LABEL,
    NodeView,
    index_caught_up,
    labels_of,
    lookup,
    refresh_forced,
    refresh_label_changed,
    snapshot,
)
from .playbooks import Playbooks
from .runs import inventory_name

log = logging.getLogger(__name__)


@kopf.index("nodes")
async def nodes_by_name(name: str, body: kopf.Body, memo: kopf.Memo, **_) -> dict:
    """Each Node as a NodeView; a change of what rollouts depend on (labels, readiness,
    address) wakes them, heartbeats alone do not. A new value of the force-refresh label has
    the node reported at once. Async, so that it runs in the event loop with the scheduler
    (kopf runs sync handlers in threads); kopf stores the new view before anything else runs,
    so the steps it wakes see it."""
    memo.node_versions[name] = body["metadata"].get("resourceVersion", "")
    view = NodeView.from_node(body, memo.config.address_type)
    if not memo.config.node_selector.matches(view.label_map()):
        view = None  # not ours: an empty result takes it out of the index
    previous = lookup(memo.nodes_by_name, name)
    if previous != view:
        memo.scheduler.wake_all()
    if refresh_forced(previous, view):
        memo.reports.request([name])
    return {name: view} if view is not None else {}


@kopf.index(GROUP, NNS_VERSION, NNS_PLURAL)
async def nns_by_name(name: str, labels: kopf.Labels, memo: kopf.Memo, **_) -> dict:
    """Each NNS by name, with its force-refresh label (where kubernetes-nmstate has it): a new
    value has its node reported at once. An NNS seen for the first time is reported anyway."""
    value = labels.get(FORCE_REFRESH_LABEL)
    index = getattr(memo, "nns_by_name", None)
    if index is not None and name in index:
        previous = next(iter(index[name]), None)
        if refresh_label_changed(previous or None, value):
            memo.reports.request([name])
    return {name: value or ""}


@kopf.on.startup()
async def configure(
    settings: kopf.OperatorSettings,
    memo: kopf.Memo,
    nodes_by_name: kopf.Index,
    nns_by_name: kopf.Index,
    **_,
) -> None:
    # Steps and report rounds run in worker threads, and a step may wait for a node's lock:
    # enough workers that waiting steps never hold up a report round.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=32))
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.peering.lifetime = memo.config.peering_lifetime
    memo.api = Api()
    host_keys = None
    if memo.config.host_key_policy == "trust-on-first-use":
        host_keys = TrustOnFirstUse(memo.config.known_hosts_file(), memo.api, inventory_name)
        await asyncio.to_thread(host_keys.seed)
    api_server = probes.api_server_source(memo.config.api_server_endpoint, memo.api.api_endpoint)
    memo.playbooks = Playbooks(memo.config, host_keys, api_server)
    memo.nodes_by_name = nodes_by_name  # kopf keeps it filled from its watch of Nodes
    memo.node_versions = {}  # each Node's resourceVersion as the index last saw it
    memo.nns_by_name = nns_by_name
    memo.reports = report.ReportRequests(memo.config.report_interval)
    memo.report_digests = {}  # node -> digest of its NNS's report, across rounds
    memo.stopping = threading.Event()
    memo.leading = asyncio.Event()
    memo.nodes_listed = asyncio.Event()
    if not memo.config.peering:
        memo.leading.set()
    memo.after_apply = report.AfterApply(memo.api, memo.report_digests, memo.reports)
    ctx = step.Context(memo.config, memo.api, memo.playbooks, applied=memo.after_apply)
    memo.scheduler = Scheduler(ctx, lambda: snapshot(memo.nodes_by_name), memo.leading)
    ctx.wake = memo.scheduler.wake_threadsafe
    if memo.config.metrics_bind_address:
        metrics.serve(memo.config.metrics_bind_address)
    memo.tasks = [
        asyncio.create_task(report_loop(memo)),
        asyncio.create_task(memo.scheduler.run()),
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
    await index_fresh(memo)
    log.info("leading: reports and rollouts run here")
    memo.leading.set()
    memo.reports.request()
    memo.scheduler.wake_all()
    try:
        await stopped.wait()
    finally:
        memo.leading.clear()
        log.info("not leading any more: reports and rollouts pause")


INDEX_WAIT_SECONDS = 60.0


async def index_fresh(memo: kopf.Memo) -> None:
    """Until the Node index holds what the API server has. kopf neither lists nor watches while
    another operator leads, and lists again when this one takes over: a rollout stepped on the
    index before that would take nodes it has not seen again for nodes that stopped matching."""
    deadline = asyncio.get_running_loop().time() + INDEX_WAIT_SECONDS
    listed = await asyncio.to_thread(memo.api.node_versions)
    while not index_caught_up(memo.node_versions, listed):
        if asyncio.get_running_loop().time() > deadline:
            log.warning(
                "the Node index is still behind the API server after %.0f s", INDEX_WAIT_SECONDS
            )
            return
        await asyncio.sleep(0.2)


@kopf.on.event("nodes")
async def node_seen(
    event: dict, name: str, body: kopf.Body, memo: kopf.Memo, nns_by_name: kopf.Index, **_
) -> None:
    """Raw events: create the NNS a new Node lacks. kopf calls this only once its indexes are
    filled, so the first call also lets the report loop start."""
    memo.nodes_listed.set()
    if event["type"] == "DELETED":  # the garbage collector removes the NNS with its owner
        metrics.forget_node(name)
        memo.scheduler.wake_all()
        return
    if name in nns_by_name or not memo.config.node_selector.matches(labels_of(body)):
        return
    if await asyncio.to_thread(memo.api.ensure_nns, name, body["metadata"]["uid"]):
        log.info("created NodeNetworkState %s", name)
        memo.reports.request([name])


@kopf.on.event(GROUP, "v1", "nodenetworkconfigurationpolicies")
async def policy_seen(event: dict, name: str, body: kopf.Body, memo: kopf.Memo, **_) -> None:
    """Any change to a policy (its spec, or our own status write) may call for a step. A new
    spec, or a policy gone, also concerns the policies it conflicts with or orders."""
    if event["type"] == "DELETED":
        memo.scheduler.forget(name)
        memo.scheduler.wake_all()
        return
    observed = (body.get("status") or {}).get("observedGeneration")
    own_status_write = (
        event["type"] == "MODIFIED"
        and observed == body["metadata"].get("generation")
        and name in memo.scheduler.known
    )
    if own_status_write and not body["metadata"].get("deletionTimestamp"):
        return  # the step that wrote the status goes on by itself
    if name in memo.scheduler.known and observed != body["metadata"].get("generation"):
        memo.scheduler.wake_all()
    memo.scheduler.wake(name)


async def report_loop(memo: kopf.Memo) -> None:
    """One report run over all nodes every report interval, and on just-applied nodes at once."""
    await memo.nodes_listed.wait()
    only = None  # the first round covers every node
    while not memo.stopping.is_set():
        await memo.leading.wait()
        nodes = snapshot(memo.nodes_by_name)
        try:
            await asyncio.to_thread(
                report.report_round, memo.api, memo.playbooks, nodes, only, memo.report_digests
            )
            await asyncio.to_thread(report.refresh_policy_metrics, memo.api)
        except Exception:  # a failed round must not end reporting; the next one retries
            log.exception("report round failed")
        only = await asyncio.to_thread(memo.reports.next_round)


@kopf.on.field(GROUP, NNS_VERSION, NNS_PLURAL, field="spec", retries=None)
async def nns_spec_changed(
    name: str, body: kopf.Body, old, new, retry: int, memo: kopf.Memo, **_
) -> None:
    """A desired state patched onto a NodeNetworkState, or spec.managed turned on or off: one
    handler for both, so a patch that changes both applies once. Unreachable nodes are retried
    as policies retry them (outcomes.record_outcome decides)."""
    if all((old or {}).get(key) == (new or {}).get(key) for key in ("desiredState", "managed")):
        return
    await _apply_nns(name, body, retry, memo)


@kopf.on.field(
    GROUP,
    NNS_VERSION,
    NNS_PLURAL,
    field=("metadata", "annotations", DRY_RUN_ANNOTATION),
    retries=None,
)
async def nns_dry_run_changed(
    name: str, body: kopf.Body, old, new, retry: int, memo: kopf.Memo, **_
) -> None:
    """The dry-run annotation set (check the desired state) or removed (apply it now)."""
    if (old == "true") == (new == "true") or not (body.get("spec") or {}).get("desiredState"):
        return
    await _apply_nns(name, body, retry, memo)


async def _apply_nns(name: str, body: kopf.Body, retry: int, memo: kopf.Memo) -> None:
    spec = body.get("spec") or {}
    if not spec.get("desiredState"):
        await asyncio.to_thread(nns_apply.record_cleared, memo.api, dict(body))
        return
    if spec.get("managed") is False:
        await asyncio.to_thread(nns_apply.record_unmanaged, memo.api, dict(body))
        return
    node = lookup(memo.nodes_by_name, name)
    try:
        carried = await asyncio.to_thread(
            nns_apply.apply_desired_state,
            memo.config,
            memo.api,
            memo.playbooks,
            dict(body),
            node,
            retry,
        )
    except nns_apply.RetryLater as exc:
        raise kopf.TemporaryError(str(exc), delay=exc.delay) from exc
    # Its currentState right after the apply: from the apply's answer, else a report run.
    await asyncio.to_thread(memo.after_apply, {name: carried})
