"""Processes the lab starts, recorded by PID and start time so `down` kills only its own."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Tracked:
    name: str
    pid: int
    start_time: int

    def to_dict(self) -> dict:
        return {"name": self.name, "pid": self.pid, "start_time": self.start_time}


def start_time(pid: int) -> int | None:
    """Clock ticks since boot at which `pid` started, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after its closing ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def is_alive(proc: Tracked) -> bool:
    if start_time(proc.pid) != proc.start_time:
        return False
    state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def spawn(name: str, argv: list[str], log: Path, env: dict | None = None) -> Tracked:
    """Start a daemon in its own session, detached from our terminal, logging to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    started = start_time(child.pid)
    if started is None:
        raise RuntimeError(f"{name} exited at once; see {log}")
    return Tracked(name, child.pid, started)


def stop(proc: Tracked, timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL, but only if the PID still is the process we started."""
    if not is_alive(proc):
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(proc.pid)
            if not is_alive(proc):
                return
            time.sleep(0.05)
    raise RuntimeError(f"{proc.name} (pid {proc.pid}) survived SIGKILL")


def kill(proc: Tracked) -> None:
    """SIGKILL at once: for a node's PID-namespace init, which ignores SIGTERM."""
    if is_alive(proc):
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and is_alive(proc):
        _reap(proc.pid)
        time.sleep(0.02)


def _reap(pid: int) -> None:
    # Only our own children can be reaped; anyone else's zombie is reaped by its parent.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
