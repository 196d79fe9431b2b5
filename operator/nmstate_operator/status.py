"""Status building blocks, free of I/O: timestamps, standard conditions and their comparison.

Every object's conditions are built here: NodeNetworkState (Available/Failing/Progressing),
NNCE (exactly one of six True) and NNCP (from the rollout summary), so "which conditions hold"
is answered in one place.
"""

from __future__ import annotations

import datetime
import json

# Conflicting is ours (not in kubernetes-nmstate): another policy sets the same fields.
ENACTMENT_TYPES = ("Available", "Failing", "Pending", "Progressing", "Aborted", "Conflicting")
POLICY_TYPES = ("Available", "Degraded", "Progressing", "Ignored")
NNS_TYPES = ("Available", "Failing", "Progressing")
TRUE_STRINGS = (True, "True", "true")
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def stamp(moment: datetime.datetime) -> str:
    return moment.strftime(STAMP_FORMAT)


def now() -> str:
    return stamp(utcnow())


def parse_stamp(value: str) -> datetime.datetime:
    return datetime.datetime.strptime(value, STAMP_FORMAT).replace(tzinfo=datetime.UTC)


def canonical(value) -> str:
    """A stable text form of JSON data, for comparing states."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def condition(kind: str, status: str, reason: str, message: str, previous: list[dict]) -> dict:
    """A standard condition; its transition time moves only when its status does."""
    old = next((c for c in previous if c.get("type") == kind), None)
    moment = now()
    changed = old is None or old.get("status") != status
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastHeartbeatTime": moment,
        "lastTransitionTime": moment if changed else old.get("lastTransitionTime", moment),
    }


def true_conditions(conditions: list[dict] | None) -> dict[str, dict]:
    """The conditions that hold, by type."""
    return {c["type"]: c for c in conditions or [] if c.get("status") == "True"}


def same_conditions(a: list[dict], b: list[dict]) -> bool:
    """Equal but for their times (heartbeats alone call for no write)."""

    def key(conditions):
        return sorted(
            (c["type"], c["status"], c.get("reason"), c.get("message")) for c in conditions
        )

    return key(a) == key(b)


def conditions_holding(
    types: tuple[str, ...], holding: set[str], reason: str, message: str, previous: list[dict]
) -> list[dict]:
    """One condition per type, True for those in `holding`, which alone carry reason and message."""
    return [
        condition(
            kind,
            "True" if kind in holding else "False",
            reason if kind in holding else "",
            message if kind in holding else "",
            previous,
        )
        for kind in types
    ]


def enactment_conditions(
    true_type: str, reason: str, message: str, previous: list[dict]
) -> list[dict]:
    """The NNCE conditions with exactly `true_type` True; the message goes on that one."""
    return conditions_holding(ENACTMENT_TYPES, {true_type}, reason, message, previous)


def policy_conditions(summary: dict, previous: list[dict]) -> list[dict]:
    """NNCP conditions from nncp.plan.policy_summary(); reason and message go on the True ones."""
    holding = {kind for kind in POLICY_TYPES if summary[kind] == "True"}
    return conditions_holding(
        POLICY_TYPES, holding, summary["reason"], summary["message"], previous
    )


# NNS: (holding condition, reason, message) by the result of the last apply of this generation.
FAILING_RESULTS = {"failed": "FailedToConfigure", "dry-run-failed": "DryRunFailed"}
NNS_BY_APPLY_RESULT = {
    "progressing": ("Progressing", "ConfigurationProgressing", "applying the desired state"),
    "applied": ("Available", "SuccessfullyConfigured", "the desired state is applied"),
    "dry-run": (
        "Available",
        "DryRunSucceeded",
        "dry run: nmstate accepts the desired state (nothing was applied)",
    ),
    None: ("Available", "SuccessfullyReported", "nmstate reported the node's state"),
}


def nns_conditions(
    previous: list[dict],
    generation: int | None,
    last_apply: dict | None,
    report_error: str | None = None,
    report_reason: str = "",
) -> list[dict]:
    """NodeNetworkState conditions from the last report and the last apply.

    An apply that failed for the current generation keeps the node Failing, whatever reports
    say, until the desired state changes again. Available's message is kept even while it
    holds, as it always was; Failing and Progressing carry one only when they hold.
    """
    applying = last_apply is not None and last_apply.get("generation") == generation
    result = last_apply.get("result") if applying else None
    if report_error is not None:
        holding, reason, message = "Failing", report_reason, report_error
    elif result in FAILING_RESULTS:
        holding, reason, message = "Failing", FAILING_RESULTS[result], last_apply.get("message", "")
    else:
        holding, reason, message = NNS_BY_APPLY_RESULT.get(result, NNS_BY_APPLY_RESULT[None])
    return [
        condition(
            kind,
            "True" if kind == holding else "False",
            reason,
            message if kind == holding or kind == "Available" else "",
            previous,
        )
        for kind in NNS_TYPES
    ]


def replacing(old, new):
    """A JSON merge patch value that leaves exactly `new` where `old` was: keys that `new`
    lacks are sent as null (a merge patch would otherwise keep them)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch = {key: None for key in old if key not in new}
    for key, value in new.items():
        patch[key] = replacing(old.get(key), value)
    return patch


def without_nulls(value):
    """What the API server holds after a merge patch of `value`: nulls removed."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    return value
