"""One run per node at a time, whatever asked for it (a policy, an NNS apply, a report)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator

_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def _lock(node: str) -> threading.Lock:
    with _guard:
        return _locks.setdefault(node, threading.Lock())


def _acquire(node: str, deadline: float | None) -> bool:
    if deadline is None:
        return _lock(node).acquire()
    return _lock(node).acquire(timeout=max(0.0, deadline - time.monotonic()))


@contextlib.contextmanager
def holding(nodes: Iterable[str], wait: float | None = 0) -> Iterator[list[str]]:
    """Take the nodes' locks, in the order given; yields the nodes held. A node another run
    holds is waited for up to `wait` seconds in all (None: as long as it takes), then left out
    (its caller tries it later). Callers pass nodes sorted, so two never wait on each other."""
    deadline = None if wait is None else time.monotonic() + wait
    held = [node for node in nodes if _acquire(node, deadline)]
    try:
        yield held
    finally:
        for node in held:
            _lock(node).release()
