"""kopf handlers: every Node gets its NodeNetworkState; a loop keeps their status current."""

from __future__ import annotations

import asyncio
import logging
import threading

import kopf
from kubernetes import client
from kubernetes import config as kube_config

from . import kube, nns_apply, reporting

log = logging.getLogger(__name__)


def api_clients():
    try:
        kube_config.load_incluster_config()
    except kube_config.ConfigException:
        kube_config.load_kube_config()
    return client.CoreV1Api(), client.CustomObjectsApi()


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_) -> None:
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    memo.core, memo.custom = api_clients()
    memo.known_nns = set(kube.list_nns(memo.custom))
    memo.report_now = threading.Event()
    memo.stopping = threading.Event()


@kopf.on.event("nodes")
def node_seen(event: dict, body: kopf.Body, memo: kopf.Memo, **_) -> None:
    """Raw events (no kopf state is written on Nodes): create the NNS a new Node lacks."""
    name = body["metadata"]["name"]
    if event["type"] == "DELETED":
        memo.known_nns.discard(name)  # the garbage collector removes the NNS with its owner
        return
    if name in memo.known_nns:
        return
    if kube.ensure_nns(memo.custom, name, body["metadata"]["uid"]):
        log.info("created NodeNetworkState %s", name)
        memo.report_now.set()
    memo.known_nns.add(name)


@kopf.on.startup()
async def start_reporting(memo: kopf.Memo, **_) -> None:
    memo.reporter = asyncio.create_task(report_loop(memo))


@kopf.on.cleanup()
async def stop_reporting(memo: kopf.Memo, **_) -> None:
    memo.stopping.set()
    memo.report_now.set()
    memo.reporter.cancel()


async def report_loop(memo: kopf.Memo) -> None:
    """One report run over all nodes every report interval, or sooner when asked."""
    while not memo.stopping.is_set():
        memo.report_now.clear()
        try:
            await asyncio.to_thread(reporting.report_round, memo.config, memo.core, memo.custom)
        except Exception:  # a failed round must not end reporting; the next one retries
            log.exception("report round failed")
        await asyncio.to_thread(memo.report_now.wait, memo.config.report_interval)


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
    memo.report_now.set()  # refresh the NNS's currentState right after the apply
