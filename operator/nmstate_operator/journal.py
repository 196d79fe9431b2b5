"""Run records: one JSON line when a run starts and one when it ends, in order.

They let anyone check afterwards, without timing, which runs touched which nodes for which
policy generation and what overlapped (`in_flight` below replays them). A record of a run with
no end means the operator stopped during it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

_guard = threading.Lock()
MAX_BYTES = 8 * 1024 * 1024


def path_for(runner_dir: Path) -> Path:
    return runner_dir / "runs.jsonl"


def record(runner_dir: Path, entry: dict) -> None:
    """Append one record (flushed at once, so a killed operator leaves its start record)."""
    target = path_for(runner_dir)
    line = json.dumps(dict(entry, time=time.time(), pid=os.getpid()), sort_keys=True) + "\n"
    with _guard:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and target.stat().st_size > MAX_BYTES:
            target.replace(target.with_suffix(".jsonl.1"))
        with target.open("a") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())


def read(runner_dir: Path) -> list[dict]:
    target = path_for(runner_dir)
    if not target.exists():
        return []
    return [json.loads(line) for line in target.read_text().splitlines() if line.strip()]


def peak_in_flight(records: list[dict], kinds: tuple[str, ...], policy: str | None = None) -> int:
    """The most nodes ever inside runs of these kinds at once, replaying records in order.

    A run that never recorded its end (the operator was killed) keeps its nodes in flight
    until a later run over the same node ends, which is when the node is known to be free.
    """
    in_flight: dict[str, set[str]] = {}  # run id -> its nodes
    peak = 0
    for entry in records:
        if entry.get("kind") not in kinds or (policy and entry.get("policy") != policy):
            continue
        if entry["event"] == "start":
            in_flight[entry["run"]] = set(entry["nodes"])
        elif entry["event"] == "end":
            done = in_flight.pop(entry["run"], set())
            for run, nodes in list(in_flight.items()):
                nodes -= done
                if not nodes:
                    del in_flight[run]
        peak = max(peak, len(set().union(*in_flight.values())) if in_flight else 0)
    return peak
