"""The collection's playbooks as the operator uses them: apply, verify and report.

This is where a CR's data becomes a playbook run, and where a run's facts become an outcome
per node. It owns the playbook names, the fact keys the roles set, and how long a message may
get before it is cut.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from . import probes
from .config import Config
from .runs import HostOutcome, RunResult, run_playbook
from .status import TRUE_STRINGS

log = logging.getLogger(__name__)

APPLY = "nodenet.nmstate.apply"
VERIFY = "nodenet.nmstate.verify"
DRY_RUN = "nodenet.nmstate.dry_run"
REPORT = "nodenet.nmstate.report"
APPLY_FACT = "nmstate_apply_result"
VERIFY_FACT = "nmstate_verify_result"
DRY_RUN_FACT = "nmstate_dry_run_result"
REPORT_FACT = "nmstate_report"
# The report role's variable for the digest of the report already held.
KNOWN_DIGEST = "nmstate_report_known_digest"
# The apply role's variable: once the transaction ends, the node's report as this fact too.
APPLY_REPORT_VARIABLE = "nmstate_apply_report_fact"
STATE_VARIABLE = "nmstate_desired_state"  # reaches the playbook as nmstate_desired_state_file

HOST_KEY_MESSAGE = (
    "the node's SSH host key does not match the one known for it (or none is known): no "
    "state was sent. If the node was really reinstalled, update the known_hosts given to the "
    "operator"
)
HOST_KEY_REASON = "HostKeyRejected"
STATUS_MESSAGE_LIMIT = 2000  # conditions and status messages keep the end, where causes are
REPORT_MESSAGE_LIMIT = 1000
RUN_TAIL_LIMIT = 500
DIFF_TEXT_LIMIT = 8000  # each side of a dry run's diff in an enactment


def cut(message: str, limit: int = STATUS_MESSAGE_LIMIT) -> str:
    """The end of a long message (nmstate and Ansible put the cause last)."""
    return message[-limit:]


@dataclass
class ApplyOutcome:
    """What the apply role reported for one node."""

    applied: bool
    message: str = ""
    rolled_back: bool = False
    failed_probe: dict | None = None
    rendered_state: dict | None = None  # what nmstate rendered from a policy with capture
    # Nothing reached the node (unreachable before the transaction, or the run did not start):
    # worth another attempt.
    transient: bool = False
    host_key_rejected: bool = False  # not worth another attempt until an admin acts
    revert_state: dict | None = None  # nmstate's revert state for this change, when known
    node_seconds: float | None = None  # the transaction on the node, start to end
    run_seconds: float | None = None  # the whole run this node took part in
    probes: list[str] | None = None  # the probes the change had to pass
    captured_states: dict | None = None  # each capture's result, as nmstate reports it
    features: list[str] | None = None  # nmstate's names for the features the state uses
    # The node's report, read once the transaction ended: its NNS needs no report run.
    report: ReportOutcome | None = None

    def state_report(self) -> dict:
        """capturedStates and features for the enactment, where the node gave them."""
        return node_state_report(self.captured_states, self.features)

    def run_report(self, generation: int) -> dict:
        """The enactment's status.lastRun: what one apply took, bounded."""
        report: dict = {"generation": generation}
        if self.node_seconds is not None:
            report["nodeSeconds"] = self.node_seconds
        if self.run_seconds is not None:
            report["runSeconds"] = round(self.run_seconds, 2)
        if self.probes is not None:
            report["probes"] = self.probes[:20]
        return report


@dataclass
class VerifyOutcome:
    in_place: bool
    unreachable: bool
    message: str = ""
    host_key_rejected: bool = False


@dataclass
class DryRunOutcome:
    """What the dry-run playbook found on one node."""

    accepted: bool
    changed: bool = False
    message: str = ""
    before: str = ""
    after: str = ""
    differences: dict | None = None
    validated_by_nmstate: bool = False
    rendered_state: dict | None = None
    unreachable: bool = False
    host_key_rejected: bool = False
    captured_states: dict | None = None
    features: list[str] | None = None

    def as_status(self, generation: int) -> dict:
        """The enactment's status.dryRun: bounded, and keyed by the generation it checked."""
        status = {
            "generation": generation,
            "accepted": self.accepted,
            "wouldChange": self.changed,
            "validatedByNmstate": self.validated_by_nmstate,
            "diff": {
                "before": self.before[:DIFF_TEXT_LIMIT],
                "after": self.after[:DIFF_TEXT_LIMIT],
            },
        }
        if self.message:
            status["message"] = cut(self.message)
        return status


@dataclass
class ReportOutcome:
    report: dict | None  # current_state and nmstate_version, when the node answered
    unreachable: bool
    message: str = ""
    reason: str = ""  # why there is no report, for the NNS conditions
    unchanged: bool = False  # the node answered: its report is the one already held

    def __post_init__(self) -> None:
        if not self.reason and self.report is None and not self.unchanged:
            self.reason = "NodeUnreachable" if self.unreachable else "ReportFailed"


def apply_outcome(outcome: HostOutcome | None, run: RunResult | None = None) -> ApplyOutcome:
    if outcome is None:
        return ApplyOutcome(False, "the node was not part of the run", transient=True)
    if outcome.host_key_rejected:
        return ApplyOutcome(False, host_key_message(outcome), host_key_rejected=True)
    result = outcome.facts.get(APPLY_FACT) or {}
    rendered = result.get("rendered_state")
    rendered = rendered if isinstance(rendered, dict) else None
    measured = run_measures(result, run)
    measured["report"] = carried_report(outcome)
    if outcome.ok and result.get("applied") in TRUE_STRINGS:
        revert = result.get("revert_state")
        revert = revert if isinstance(revert, dict) else None
        return ApplyOutcome(True, rendered_state=rendered, revert_state=revert, **measured)
    message = str(result.get("msg") or "; ".join(outcome.failures) or "")
    if not message and run is not None:
        tail = run.stdout_tail[-RUN_TAIL_LIMIT:]
        message = f"the apply run ended {run.status} (rc {run.rc}): {tail}"
    probe = result.get("failed_probe")
    return ApplyOutcome(
        applied=False,
        message=message or "the apply run failed",
        rolled_back=result.get("rolled_back") in TRUE_STRINGS,
        failed_probe=probe if isinstance(probe, dict) else None,
        rendered_state=rendered,
        transient=not result and (outcome.unreachable or not outcome.failures),
        **measured,
    )


def carried_report(outcome: HostOutcome) -> ReportOutcome | None:
    """The report the apply's answer carried (REPORT_FACT), read as a report run's."""
    if REPORT_FACT not in outcome.facts:
        return None
    carried = report_outcome(outcome)
    return carried if carried.report is not None else None


MAX_FEATURES = 64


def node_state_report(captured, features) -> dict:
    report = {}
    if isinstance(captured, dict) and captured:
        report["capturedStates"] = captured
    if isinstance(features, list):
        report["features"] = [str(name)[:63] for name in features[:MAX_FEATURES]]
    return report


def run_measures(result: dict, run: RunResult | None) -> dict:
    """How long the node's transaction and the run took, and the probes the change faced:
    numbers and names only, whatever the node answered."""
    total = (result.get("durations") or {}).get("total") if isinstance(result, dict) else None
    probes = result.get("required_probes") if isinstance(result, dict) else None
    captured = result.get("captured_states") if isinstance(result, dict) else None
    features = result.get("features") if isinstance(result, dict) else None
    return {
        "node_seconds": float(total) if isinstance(total, int | float) else None,
        "run_seconds": run.duration if run is not None else None,
        "probes": [str(p)[:63] for p in probes] if isinstance(probes, list) else None,
        "captured_states": captured if isinstance(captured, dict) else None,
        "features": features if isinstance(features, list) else None,
    }


def host_key_message(outcome: HostOutcome) -> str:
    return f"{HOST_KEY_MESSAGE} ({cut('; '.join(outcome.failures), RUN_TAIL_LIMIT)})"


def verify_outcome(outcome: HostOutcome | None) -> VerifyOutcome:
    if outcome is None:
        return VerifyOutcome(False, False, "the node was not part of the run")
    if outcome.host_key_rejected:
        return VerifyOutcome(False, False, host_key_message(outcome), host_key_rejected=True)
    facts = outcome.facts.get(VERIFY_FACT) or {}
    in_place = outcome.ok and facts.get("in_place") in TRUE_STRINGS
    return VerifyOutcome(in_place, outcome.unreachable, "; ".join(outcome.failures))


def dry_run_outcome(outcome: HostOutcome | None) -> DryRunOutcome:
    if outcome is None:
        return DryRunOutcome(False, message="the node was not part of the run", unreachable=True)
    if outcome.host_key_rejected:
        return DryRunOutcome(False, message=host_key_message(outcome), host_key_rejected=True)
    facts = outcome.facts.get(DRY_RUN_FACT)
    if not isinstance(facts, dict):
        message = "; ".join(outcome.failures) or "the dry run reported nothing"
        return DryRunOutcome(False, message=cut(message), unreachable=outcome.unreachable)
    differences = facts.get("differences")
    rendered = facts.get("rendered_state")
    return DryRunOutcome(
        accepted=facts.get("accepted") in TRUE_STRINGS,
        changed=facts.get("changed") in TRUE_STRINGS,
        message=str(facts.get("msg") or ""),
        before=str(facts.get("before") or ""),
        after=str(facts.get("after") or ""),
        differences=differences if isinstance(differences, dict) else None,
        validated_by_nmstate=facts.get("validated_by_nmstate") in TRUE_STRINGS,
        rendered_state=rendered if isinstance(rendered, dict) else None,
        captured_states=facts.get("captured_states")
        if isinstance(facts.get("captured_states"), dict)
        else None,
        features=facts.get("features") if isinstance(facts.get("features"), list) else None,
    )


def report_outcome(outcome: HostOutcome | None, known_digest: str | None = None) -> ReportOutcome:
    """What a node's report run says. "Unchanged" counts only as the answer to the digest we
    sent: a node cannot claim it otherwise."""
    report = outcome.facts.get(REPORT_FACT) if outcome else None
    if isinstance(report, dict) and report.get("unchanged") is True:
        if known_digest is not None and report.get("digest") == known_digest:
            return ReportOutcome(None, False, unchanged=True)
        report = None
    if report:
        return ReportOutcome(report, False)
    if outcome is not None and outcome.host_key_rejected:
        return ReportOutcome(None, False, host_key_message(outcome), HOST_KEY_REASON)
    message = "; ".join(outcome.failures) if outcome and outcome.failures else "no report"
    return ReportOutcome(
        None, outcome is None or outcome.unreachable, cut(message, REPORT_MESSAGE_LIMIT)
    )


def policy_data(spec: dict) -> dict:
    """What an apply or verify run gets as its desired state: the state, or with capture an
    nmpolicy that the nodes render from their own state (nmstate's policy support)."""
    desired = spec.get("desiredState") or {}
    if spec.get("capture"):
        return {"capture": spec["capture"], "desiredState": desired}
    return desired


class Playbooks:
    """Runs of the collection's playbooks over nodes (name -> address). With `host_keys`
    (trust on first use), the keys ssh accepted for the first time are recorded after each run.
    `api_server` gives the API endpoint (host:port) the nodes' api-server probe reaches, or None.
    """

    def __init__(
        self, config: Config, host_keys=None, api_server: Callable[[], str | None] = lambda: None
    ) -> None:
        self.config = config
        self.host_keys = host_keys
        self.api_server = api_server

    def _recorded(self, result: RunResult) -> RunResult:
        if self.host_keys is not None:
            self.host_keys.record_new(sorted(result.hosts))
        return result

    def apply(
        self,
        nodes: dict[str, str],
        state: dict | None,
        purpose: str,
        record: dict,
        limit=None,
        probe_spec: dict | None = None,
        per_node: dict[str, dict] | None = None,
    ) -> dict[str, ApplyOutcome]:
        """Apply `state` safely (probes, rollback on the node) on `limit` (default: all nodes),
        or each node its own state from `per_node` (node -> state) in the same run.
        `probe_spec` is a policy's spec.probes, already checked by probes.problem."""
        settings = probes.role_variables(probe_spec, self.config.probe_rules(), self.api_server())
        settings[APPLY_REPORT_VARIABLE] = REPORT_FACT
        record = dict({"kind": "apply"}, **record)
        if per_node is None:
            result = self._run(APPLY, nodes, purpose, state, limit, record, settings)
        else:
            files = {node: {STATE_VARIABLE: each} for node, each in per_node.items()}
            result = self._run(APPLY, nodes, purpose, None, limit, record, settings, files)
        return {node: apply_outcome(result.hosts.get(node), result) for node in result.hosts}

    def verify(
        self, nodes: dict[str, str], state: dict, purpose: str, record: dict, limit=None
    ) -> dict[str, VerifyOutcome]:
        """Whether `state` is in place (after the node's running transaction, if any, ends)."""
        result = self._run(VERIFY, nodes, purpose, state, limit, dict(record, kind="verify"))
        return {node: verify_outcome(result.hosts.get(node)) for node in result.hosts}

    def dry_run(
        self, nodes: dict[str, str], state: dict, purpose: str, record: dict, limit=None
    ) -> dict[str, DryRunOutcome]:
        """Whether nmstate accepts `state` on each node, and what it would change there."""
        result = self._run(DRY_RUN, nodes, purpose, state, limit, dict(record, kind="dry-run"))
        return {node: dry_run_outcome(result.hosts.get(node)) for node in result.hosts}

    def report(
        self,
        nodes: dict[str, str],
        known_digests: dict[str, str] | None = None,
        on_report: Callable[[str, ReportOutcome], None] | None = None,
    ) -> dict[str, ReportOutcome]:
        """Each node's report. A node with a digest in `known_digests` (of the report already
        held for it) answers with the digest alone when its report is the same. `on_report`
        (node, outcome) gets each node's report as soon as it arrives, during the run."""
        known = {node: digest for node, digest in (known_digests or {}).items() if node in nodes}

        def arrived(node: str, outcome: HostOutcome) -> None:
            if on_report is not None and REPORT_FACT in outcome.facts:
                on_report(node, report_outcome(outcome, known.get(node)))

        result = self._recorded(
            run_playbook(
                self.config,
                REPORT,
                nodes,
                "report",
                record={"kind": "report"},
                host_settings={node: {KNOWN_DIGEST: digest} for node, digest in known.items()},
                on_host_ok=arrived,
            )
        )
        return {node: report_outcome(result.hosts.get(node), known.get(node)) for node in nodes}

    def _run(
        self, playbook, nodes, purpose, state, limit, record, settings=None, host_files=None
    ) -> RunResult:
        result = run_playbook(
            self.config,
            playbook,
            nodes,
            purpose,
            {STATE_VARIABLE: state} if host_files is None else {},
            limit=limit,
            record=record,
            settings=settings,
            host_data_files=host_files,
        )
        over = ", ".join(sorted(limit if limit is not None else nodes))
        log.info("%s over %s ended %s in %.1f s", playbook, over, result.status, result.duration)
        return self._recorded(result)
