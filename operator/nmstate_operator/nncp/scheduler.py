"""Drives every policy's rollout: one step at a time per policy, policies side by side.

Here a retry's backoff or a busy node turns into the time of the next step.

A policy is stepped when something about it may have changed (its object, or a Node's labels
or readiness) and when a step asked to be called back (a retry's backoff). Steps run in worker
threads; node locks keep runs from different policies (and NNS applies) off the same node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from ..nodes import NodeView
from . import step

log = logging.getLogger(__name__)

ERROR_DELAY_SECONDS = 10.0


class Scheduler:
    """`nodes` gives the current Nodes by name; it is called in the event loop."""

    def __init__(
        self,
        ctx: step.Context,
        nodes: Callable[[], dict[str, NodeView]],
        leading: asyncio.Event,
    ) -> None:
        self.ctx = ctx
        self.nodes = nodes
        self.leading = leading
        self.known: set[str] = set()
        self.dirty: set[str] = set()
        self.due: dict[str, float] = {}
        self.running: dict[str, asyncio.Task] = {}
        self.woken = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    def wake(self, name: str) -> None:
        """Step policy `name` soon (call from the event loop)."""
        self.known.add(name)
        self.dirty.add(name)
        self.woken.set()

    def wake_threadsafe(self, name: str) -> None:
        """Step policy `name` soon, from a worker thread (a step that concerns another policy)."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.wake, name)

    def forget(self, name: str) -> None:
        self.known.discard(name)
        self.dirty.discard(name)
        self.due.pop(name, None)

    def wake_all(self) -> None:
        """Step every known policy soon (call from the event loop)."""
        for name in list(self.known):
            self.wake(name)

    async def run(self) -> None:
        """Step policies while this operator leads. A step under way when leadership is lost
        finishes its batch (its results are written); no new step starts."""
        self.loop = asyncio.get_running_loop()
        while True:
            await self.leading.wait()
            now = self.loop.time()
            ready = self.dirty | {name for name, at in self.due.items() if at <= now}
            for name in ready:
                if name not in self.running:
                    self.dirty.discard(name)
                    self.due.pop(name, None)
                    self.running[name] = asyncio.create_task(self._drive(name))
            waits = [at - now for name, at in self.due.items() if name not in self.running]
            self.woken.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.woken.wait(), max(0.05, min(waits)) if waits else None)

    async def _drive(self, name: str) -> None:
        try:
            while name in self.known and self.leading.is_set():
                self.dirty.discard(name)
                try:
                    delay = await asyncio.to_thread(step.step, self.ctx, name, self.nodes())
                except Exception:  # an API hiccup: log it and step again later
                    log.exception("rollout step of policy %s failed", name)
                    delay = ERROR_DELAY_SECONDS
                if delay == 0 or name in self.dirty:
                    continue
                if delay is not None:
                    self.due[name] = self.loop.time() + delay
                break
        finally:
            self.running.pop(name, None)
            self.woken.set()
