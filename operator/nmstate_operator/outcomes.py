"""Where an apply outcome becomes a decision: applied, retry later, or failed for good.

NodeNetworkState applies and policy rollouts both record their outcomes through
`record_outcome`, so a node that cannot be reached is retried the same way (exponential
backoff, at most --max-retries times) and a failure reads the same, whichever object asked.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Protocol

from .playbooks import HOST_KEY_REASON, ApplyOutcome, cut
from .status import stamp, utcnow

log = logging.getLogger(__name__)

INITIAL_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
EVENT_MESSAGE_LIMIT = 1000

APPLIED, RETRY, FAILED = "applied", "retry", "failed"


def backoff_seconds(retry_count: int) -> float:
    """Exponential backoff before attempt `retry_count + 1`."""
    return min(MAX_BACKOFF_SECONDS, INITIAL_BACKOFF_SECONDS * 2 ** max(0, retry_count - 1))


@dataclass(frozen=True)
class Decision:
    result: str  # APPLIED, RETRY or FAILED
    reason: str  # the status reason and Event reason
    message: str  # for status (already cut)
    retry_count: int = 0  # attempts that failed to reach the node so far
    retry_in: float | None = None  # seconds until the next attempt, with RETRY
    failed_probe: dict | None = None
    rendered_state: dict | None = None
    unreachable: bool = False  # failed because the node stayed out of reach (budget spent)

    @property
    def next_retry_time(self) -> str | None:
        """When the next attempt is due, as status stamps it (with RETRY)."""
        if self.retry_in is None:
            return None
        return stamp(utcnow() + datetime.timedelta(seconds=self.retry_in))

    @property
    def event_type(self) -> str:
        return "Normal" if self.result == APPLIED else "Warning"


def decide(outcome: ApplyOutcome, retry_count: int, max_retries: int, applied: str) -> Decision:
    """The decision for one node's apply outcome; `retry_count` counts earlier failed attempts
    to reach it, `applied` is the message for success."""
    rendered = outcome.rendered_state
    if outcome.applied:
        return Decision(APPLIED, "SuccessfullyConfigured", applied, rendered_state=rendered)
    if outcome.transient:
        retries = retry_count + 1
        if retries > max_retries:
            message = cut(f"gave up after {max_retries} retries: {outcome.message}")
            return Decision(
                FAILED, "FailedToConfigure", message, retry_count=retries - 1, unreachable=True
            )
        delay = backoff_seconds(retries)
        message = cut(
            f"attempt {retries} of {max_retries + 1} failed, next in {delay:.0f} s: "
            f"{outcome.message}"
        )
        return Decision(RETRY, "Retrying", message, retry_count=retries, retry_in=delay)
    if outcome.host_key_rejected:
        reason = HOST_KEY_REASON
    else:
        reason = "RolledBack" if outcome.rolled_back else "FailedToConfigure"
    return Decision(
        FAILED,
        reason,
        cut(outcome.message),
        retry_count=retry_count,
        failed_probe=outcome.failed_probe,
        rendered_state=rendered,
    )


class OutcomeSink(Protocol):
    """The object an outcome is recorded on: an NNCE, or an NNS."""

    label: str  # names it in logs

    def write(self, decision: Decision) -> None: ...

    def event(self, reason: str, message: str, kind: str) -> None: ...


def record_outcome(
    sink: OutcomeSink,
    outcome: ApplyOutcome,
    retry_count: int,
    max_retries: int,
    applied: str,
    event_message: str,
) -> Decision:
    """Decide, write the status, raise the Event; returns the decision (its retry_in tells the
    caller when to try again)."""
    decision = decide(outcome, retry_count, max_retries, applied)
    sink.write(decision)
    if decision.result == APPLIED:
        sink.event(decision.reason, event_message, decision.event_type)
    elif decision.result == RETRY:
        sink.event(decision.reason, outcome.message[-EVENT_MESSAGE_LIMIT:], decision.event_type)
    else:
        sink.event(decision.reason, decision.message, decision.event_type)
        log.warning("%s: %s", sink.label, decision.message)
    return decision
