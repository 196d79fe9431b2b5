"""One run per node at a time, whatever asked for it (a policy, an NNS apply, a report)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator

_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def _lock(node: str) -> threading.Lock:
    with _guard:
        return _locks.setdefault(node, threading.Lock())


@contextlib.contextmanager
def holding(nodes: Iterable[str], wait: bool = False) -> Iterator[list[str]]:
    """Take the nodes' locks; yields the nodes held. Without `wait`, a node another run holds
    is left out (its caller tries it later); with it, each lock is waited for."""
    held = [node for node in nodes if _lock(node).acquire(blocking=wait)]
    try:
        yield held
    finally:
        for node in held:
            _lock(node).release()
