"""NodeNetworkState conditions from what is known: the last report and the last apply.

Available/Failing/Progressing, as kubernetes-nmstate's NNS and the seed's direct flow use them.
An apply that failed for the current generation keeps the node Failing, whatever reports say,
until the desired state changes again.
"""

from __future__ import annotations

from . import kube


def nns_conditions(previous: list[dict], generation: int | None, last_apply: dict | None,
                   report_error: str | None = None, report_reason: str = "") -> list[dict]:  # fmt: skip
    applying = last_apply is not None and last_apply.get("generation") == generation
    result = last_apply.get("result") if applying else None
    if report_error is not None:
        states = ("False", "True", "False", report_reason, report_error)
    elif result == "progressing":
        states = (
            "False",
            "False",
            "True",
            "ConfigurationProgressing",
            "applying the desired state",
        )
    elif result == "failed":
        states = ("False", "True", "False", "FailedToConfigure", last_apply.get("message", ""))
    elif result == "applied":
        states = (
            "True",
            "False",
            "False",
            "SuccessfullyConfigured",
            "the desired state is applied",
        )
    else:
        states = (
            "True",
            "False",
            "False",
            "SuccessfullyReported",
            "nmstate reported the node's state",
        )
    available, failing, progressing, reason, message = states
    return [
        kube.condition("Available", available, reason, message, previous),
        kube.condition("Failing", failing, reason, message if failing == "True" else "", previous),
        kube.condition(
            "Progressing", progressing, reason, message if progressing == "True" else "", previous
        ),
    ]


def conditions_holding(types: tuple[str, ...], holding: set[str], reason: str, message: str,
                       previous: list[dict]) -> list[dict]:  # fmt: skip
    """One condition per type, True for those in `holding`, which alone carry reason and message."""
    return [
        kube.condition(
            kind,
            "True" if kind in holding else "False",
            reason if kind in holding else "",
            message if kind in holding else "",
            previous,
        )
        for kind in types
    ]


ENACTMENT_TYPES = ("Available", "Failing", "Pending", "Progressing", "Aborted")


def enactment_conditions(
    true_type: str, reason: str, message: str, previous: list[dict]
) -> list[dict]:
    """The five NNCE conditions with exactly `true_type` True; the message goes on that one."""
    return conditions_holding(ENACTMENT_TYPES, {true_type}, reason, message, previous)


POLICY_TYPES = ("Available", "Degraded", "Progressing", "Ignored")


def policy_conditions(summary: dict, previous: list[dict]) -> list[dict]:
    """NNCP conditions from policies.policy_summary(); the reason and message go on the True ones."""
    holding = {kind for kind in POLICY_TYPES if summary[kind] == "True"}
    return conditions_holding(
        POLICY_TYPES, holding, summary["reason"], summary["message"], previous
    )
