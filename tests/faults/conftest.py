"""Faults injected into the shared lab while the operator runs, and the suite's summary.

Every fault goes through the `faults` fixture, which records it; the summary at the end of the
run counts them by kind and reads the rest from the operator's run records: policies that
converged, nodes applied twice for one generation on one boot (must be 0), the peak of nodes
in flight against maxUnavailable, and NNS writes while idle through a control-plane restart.
"""

from __future__ import annotations

import collections
import contextlib
import time
from dataclasses import dataclass, field

import pytest
from nmstate_operator import journal

from nodenet_lab import faults as lab_faults


@dataclass
class FaultLog:
    injected: list[tuple[float, str, str]] = field(default_factory=list)  # time, kind, target
    converged: dict[str, bool] = field(default_factory=dict)
    max_unavailable: dict[str, int] = field(default_factory=dict)
    idle_nns_writes: dict[str, float] = field(default_factory=dict)
    runner_dir: object = None

    def record(self, kind: str, target: str) -> None:
        self.injected.append((time.time(), kind, target))

    def reboots_before(self, node: str, moment: float) -> int:
        return sum(
            1
            for at, kind, target in self.injected
            if kind == "reboot" and target == node and at < moment
        )

    def applied_twice(self, records: list[dict]) -> list[tuple]:
        """(policy, generation, node) applied successfully more than once on one boot."""
        starts = {r["run"]: r for r in records if r.get("event") == "start"}
        counts = collections.Counter()
        for end in records:
            start = starts.get(end.get("run"))
            if end.get("event") != "end" or not start or start.get("kind") != "apply":
                continue
            for node in end.get("ok") or []:
                owner = start.get("policy") or f"nns/{start.get('nns')}"
                boot = self.reboots_before(node, end["time"])
                counts[(owner, start.get("generation"), node, boot)] += 1
        return sorted(key[:3] for key, count in counts.items() if count > 1)

    def summary_lines(self) -> list[str]:
        records = journal.read(self.runner_dir) if self.runner_dir else []
        kinds = collections.Counter(kind for _, kind, _ in self.injected)
        lines = [
            "faults injected: "
            + (", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none")
        ]
        converged = sum(1 for ok in self.converged.values() if ok)
        lines.append(f"policies that converged: {converged}/{len(self.converged)}")
        twice = self.applied_twice(records)
        lines.append(
            f"nodes applied twice for one generation on one boot: {len(twice)} {twice or ''}".rstrip()
        )
        for policy, limit in sorted(self.max_unavailable.items()):
            peak = journal.peak_in_flight(records, ("apply", "verify"), policy)
            lines.append(f"peak nodes in flight for {policy}: {peak} (maxUnavailable {limit})")
        for what, writes in sorted(self.idle_nns_writes.items()):
            lines.append(f"NNS writes while idle through {what}: {writes:g}")
        return lines


_LOG = FaultLog()


@pytest.fixture(scope="session")
def fault_log(operator_process) -> FaultLog:
    _LOG.runner_dir = operator_process.runner_dir
    return _LOG


class Faults:
    """The lab's fault primitives, each recorded in the suite's log."""

    def __init__(self, log: FaultLog, state_dir) -> None:
        self.log = log
        self.state_dir = state_dir

    def reboot(self, node) -> str:
        self.log.record("reboot", node.name)
        return lab_faults.reboot(node.name, self.state_dir)

    def partition(self, node) -> None:
        self.log.record("partition", node.name)
        lab_faults.partition(node.name, self.state_dir)

    def heal(self, node) -> None:
        lab_faults.heal(node.name, self.state_dir)

    def restart(self, service: str) -> None:
        self.log.record(f"restart {service}", service)
        lab_faults.restart(service, self.state_dir)

    @contextlib.contextmanager
    def down(self, service: str):
        """`service` stopped for the duration of the block, then started again (waits until
        the API server answers)."""
        self.log.record(f"restart {service}", service)
        lab_faults.stop(service, self.state_dir)
        try:
            yield
        finally:
            lab_faults.start(service, self.state_dir)

    def slow(self, node, delay_ms: int) -> None:
        lab_faults.slow(node.name, delay_ms, self.state_dir)
        self.log.record("slow link", node.name)

    def sshd_stop(self, node) -> None:
        self.log.record("sshd stop", node.name)
        lab_faults.sshd_stop(node.name, self.state_dir)

    def sshd_start(self, node) -> None:
        lab_faults.sshd_start(node.name, self.state_dir)


@pytest.fixture
def faults(lab, fault_log):
    return Faults(fault_log, lab.state_dir)


def pytest_terminal_summary(terminalreporter):
    if not _LOG.injected and not _LOG.converged:
        return
    terminalreporter.section("faults summary")
    for line in _LOG.summary_lines():
        terminalreporter.write_line(line)
