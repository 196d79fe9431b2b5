"""One step of a NodeNetworkConfigurationPolicy's rollout.

A step reads the policy and its enactments, takes the Nodes from the operator's index, asks
`plan.plan` what to do, and does it: verify runs cut off by a restart, abort what
maxUnavailable no longer allows, or configure one batch with one playbook run (--limit, forks
= batch size). Every decision is written to the enactments first, so a restarted operator
picks up where this one stopped.

Editing a policy while it rolls out: the batch running then finishes with the generation it
started with; the next step sees the new generation, for which no node is done yet, and rolls
it out from the start in new batches (nodes aborted or failed before get a fresh chance).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import locks, outcomes, probes
from ..api import Api, Gone
from ..config import Config
from ..names import POLICY_LABEL, enactment_name, enactment_node
from ..nodes import NodeView
from ..outcomes import Decision
from ..playbooks import (
    ApplyOutcome,
    DryRunOutcome,
    Playbooks,
    ReportOutcome,
    VerifyOutcome,
    cut,
    node_state_report,
    policy_data,
)
from ..status import (
    enactment_conditions,
    now,
    parse_stamp,
    policy_conditions,
    replacing,
    same_conditions,
    true_conditions,
    utcnow,
)
from . import plan as planning
from . import relations, revert, signing

log = logging.getLogger(__name__)

LOCK_WAIT_SECONDS = 2.0
# A batch waits this long for nodes that a report round (or another policy) holds: report
# rounds come back every interval, and a round slowed by an unreachable node could otherwise
# hold a node's lock nearly all the time.
BATCH_LOCK_WAIT_SECONDS = 60.0
# A rebooted node waits this long between looks at the policies that come before this one.
ORDER_WAIT_SECONDS = 2.0
REBOOT_REASON = "NodeRebooted"
UNREACHABLE_REASON = "NodeUnreachable"  # Failing: the retry budget ran out on an unreachable node


@dataclass
class Context:
    config: Config
    api: Api
    playbooks: Playbooks
    # Told the nodes a run just changed, each with the report its answer carried (or None):
    # their NNS is written from it, or reported soon.
    applied: Callable[[dict[str, ReportOutcome | None]], None] = lambda reports: None
    # Asks for a step of another policy (one this step's outcome concerns); thread-safe.
    wake: Callable[[str], None] = lambda policy: None
    # When this operator first stepped each policy's current generation (monotonic clock).
    first_seen: dict[str, tuple[int, float]] = field(default_factory=dict)

    def settle_left(self, name: str, generation: int) -> float:
        """Seconds before a policy's new generation may configure its first nodes. Policies
        created together (`kubectl apply -f DIR`, a GitOps sync) arrive milliseconds apart:
        the wait lets the first one's step see the others, so that a conflict between them
        applies nothing instead of letting the first batch of whichever came first through."""
        now = time.monotonic()
        seen = self.first_seen.get(name)
        if seen is None or seen[0] != generation:
            seen = self.first_seen[name] = (generation, now)
        return max(0.0, seen[1] + self.config.policy_settle_seconds - now)

    def forget(self, name: str) -> None:
        self.first_seen.pop(name, None)


class Rollout:
    """One step's view of a policy: the policy, its nodes and its enactments, and the writes.

    `others` are the other policies in effect (valid, not dry runs, not being deleted) and
    `order` the declared order among all of them."""

    def __init__(
        self,
        ctx: Context,
        policy: dict,
        nodes: dict[str, NodeView],
        others: dict[str, dict] | None = None,
        order: relations.Order | None = None,
        existing: set[str] | None = None,
    ) -> None:
        self.ctx = ctx
        self.policy = policy
        self.name = policy["metadata"]["name"]
        self.generation = policy["metadata"]["generation"]
        self.spec = policy.get("spec") or {}
        self.dry_run = self.spec.get("dryRun") is True
        self.settle = ctx.settle_left(self.name, self.generation)
        self.others = others or {}
        self.order = order or relations.Order({self.name: policy, **self.others})
        # Every policy's name, valid or not: `after` may name one not created yet.
        self.existing = existing if existing is not None else {self.name, *self.others}
        self._all_enactments: list[dict] | None = None
        selector = self.spec.get("nodeSelector")
        self.selected = {n: v for n, v in nodes.items() if v.selected_by(selector)}
        self.ready = sorted(n for n, v in self.selected.items() if v.ready)
        existing = {enactment_node(e): e for e in ctx.api.list_enactments(self.name)}
        # A NotReady node keeps its enactment (it may come back) but takes no part in the rollout.
        self.everything = self._sync_enactments(existing)
        self.enactments = {node: self.everything[node] for node in self.ready}

    def _sync_enactments(self, existing: dict[str, dict]) -> dict[str, dict]:
        """One enactment per selected node; enactments of nodes that stopped matching go."""
        for node, enactment in list(existing.items()):
            if node not in self.selected:
                self.ctx.api.delete_enactment(enactment["metadata"]["name"])
                del existing[node]
        for node in sorted(self.selected):
            if node not in existing:
                existing[node] = self.ctx.api.create_enactment(node, self.policy)
                log.info("created enactment %s", enactment_name(node, self.name))
        return existing

    # Enactment writes

    def set_enactment(self, node: str, true_type: str, reason: str, message: str, **fields) -> None:
        """Write a node's enactment status and keep what the API server now holds."""
        enactment = self.enactments[node]
        previous = enactment.get("status") or {}
        conditions = enactment_conditions(
            true_type, reason, message, previous.get("conditions") or []
        )
        status = dict(fields, policyGeneration=self.generation, conditions=conditions)
        if "conflicts" not in fields and previous.get("conflicts"):
            status["conflicts"] = None  # what no longer holds must not linger
        if "desiredState" in fields:  # a key the new state drops must not linger
            status["desiredState"] = replacing(previous.get("desiredState"), fields["desiredState"])
        self.enactments[node] = self.ctx.api.patch_enactment_status(
            enactment["metadata"]["name"], status
        )

    def enactment_event(self, node: str, reason: str, message: str, kind: str = "Normal") -> None:
        self.ctx.api.event(self.enactments[node], reason, message, kind)

    def retries(self, node: str) -> int:
        """Failed attempts to reach the node for this generation."""
        status = self.enactments[node].get("status") or {}
        if status.get("policyGeneration") != self.generation:
            return 0
        return status.get("retryCount") or 0

    # The step

    def run(self) -> float | None:
        self.notice_returns()
        waiting = self.notice_reboots()
        self.notice_conflicts()
        held = set() if self.dry_run else self.waiting_for_earlier()
        if held:
            waiting = ORDER_WAIT_SECONDS if waiting is None else min(waiting, ORDER_WAIT_SECONDS)
        # A dry run changes no node, so it checks them all at once.
        limit = "100%" if self.dry_run else self.spec.get("maxUnavailable")
        the_plan = planning.plan(
            self.ready, self.enactments, self.generation, limit, utcnow(), held
        )
        next_due = the_plan.wait_seconds
        if waiting is not None:
            next_due = waiting if next_due is None else min(next_due, waiting)
        if the_plan.verify:
            # A dry run cut off by a restart changed nothing: it simply runs again.
            next_due = self.configure(the_plan.verify, verify=not self.dry_run)
        elif the_plan.abort:
            self.abort(the_plan)
        elif the_plan.batch and self.settle:
            next_due = self.settle if next_due is None else min(next_due, self.settle)
        elif the_plan.batch:
            failed = the_plan.count(planning.FAILED)
            self.write_policy_status(unavailable=len(the_plan.batch) + failed)
            next_due = self.configure(the_plan.batch, verify=False)
        self.everything.update(self.enactments)
        self.write_policy_status(unavailable=self.unavailable())
        return next_due

    # Nodes that come back

    def notice_returns(self) -> None:
        """A node given up on as unreachable is configured again once it has turned Ready
        again since (its next Ready transition), with a fresh retry budget."""
        for node in self.ready:
            enactment = self.enactments[node]
            if planning.enactment_phase(enactment, self.generation) != planning.FAILED:
                continue
            failing = true_conditions((enactment.get("status") or {}).get("conditions"))["Failing"]
            since = self.selected[node].ready_since
            failed_at = failing.get("lastTransitionTime")
            if failing.get("reason") != UNREACHABLE_REASON or not since or not failed_at:
                continue
            if parse_stamp(since) > parse_stamp(failed_at):
                message = f"the node is Ready again (since {since}): configuring it again"
                self.set_enactment(node, "Pending", "NodeReady", message, retryCount=0)
                self.enactment_event(node, "NodeReady", message)

    # Other policies on the same nodes

    def all_enactments(self) -> list[dict]:
        """Every policy's enactments, read once per step and only when needed."""
        if self._all_enactments is None:
            self._all_enactments = self.ctx.api.list_enactments()
        return self._all_enactments

    def others_on(self, node: str) -> dict[str, dict]:
        view = self.selected[node]
        return {
            name: other
            for name, other in self.others.items()
            if view.selected_by((other.get("spec") or {}).get("nodeSelector"))
        }

    def relations_on(self, node: str) -> list[relations.Relation]:
        desired = self.spec.get("desiredState") or {}
        return relations.relations(self.name, desired, self.others_on(node), self.order)

    def notice_conflicts(self) -> None:
        """A node about to be configured where another policy sets the same fields differently,
        with no order between the two, is Conflicting: nothing is applied there. A Conflicting
        node whose conflict is gone (a policy changed, went, or was ordered) is pending again."""
        if not self.others:
            return
        for node in self.ready:
            phase = planning.enactment_phase(self.enactments[node], self.generation)
            if phase not in (planning.PENDING, planning.CONFLICTING):
                continue
            conflicts = [r for r in self.relations_on(node) if r.kind == "conflict"]
            if conflicts and phase == planning.PENDING:
                message = relations.conflict_message(conflicts)
                self.set_enactment(
                    node,
                    "Conflicting",
                    "ConflictingPolicies",
                    message,
                    conflicts=[r.as_status() for r in conflicts],
                )
                self.enactment_event(node, "ConflictingPolicies", message, "Warning")
            elif not conflicts and phase == planning.CONFLICTING:
                message = "no other policy conflicts with this one on the node any more"
                self.set_enactment(node, "Pending", "ConflictResolved", message)

    def earlier_unsettled(self, node: str) -> list[str]:
        """Policies that come before this one on `node` and still have work to do there, and
        those spec.after names that do not exist yet (created later, they go first)."""
        missing = [n for n in relations.after_of(self.policy) if n not in self.existing]
        earlier = {
            name: other
            for name, other in self.others_on(node).items()
            if self.order.before(name, self.name)
        }
        if not earlier:
            return [f"{name} (not created yet)" for name in missing]
        theirs = {
            policy_of(e): e
            for e in self.all_enactments()
            if enactment_node(e) == node and policy_of(e) in earlier
        }
        unsettled_ones = []
        for name, other in sorted(earlier.items()):
            generation = other["metadata"].get("generation")
            phase = planning.enactment_phase(theirs.get(name), generation)
            if phase in (planning.PENDING, planning.PROGRESSING, planning.RETRYING):
                unsettled_ones.append(name)
            elif phase == planning.CONFLICTING and self.name in conflict_partners(theirs[name]):
                unsettled_ones.append(name)  # its conflict with this one is over: it goes first
        return unsettled_ones + [f"{name} (not created yet)" for name in missing]

    def waiting_for_earlier(self) -> set[str]:
        """Pending nodes where a policy that comes before this one is still on its way: they
        wait (a failed or conflicting earlier policy does not hold them up)."""
        held = set()
        for node in self.ready:
            if planning.enactment_phase(self.enactments[node], self.generation) != planning.PENDING:
                continue
            earlier = self.earlier_unsettled(node)
            if not earlier:
                continue
            held.add(node)
            message = f"waiting for policy {', '.join(earlier)}, which comes before this one"
            if len(earlier) > 1:
                message = f"waiting for policies {', '.join(earlier)}, which come before this one"
            status = self.enactments[node].get("status") or {}
            current = true_conditions(status.get("conditions")).get("Pending", {})
            if current.get("message") != message:
                self.set_enactment(node, "Pending", "WaitingForEarlierPolicy", message)
        return held

    def requeue_later(self, node: str) -> None:
        """This policy was just applied on `node`: a policy that comes after it there and sets
        some of the same fields was overridden by it, so that one is applied again."""
        later = [r for r in self.relations_on(node) if r.kind == "overridden"]
        if not later:
            return
        theirs = {
            policy_of(e): e
            for e in self.all_enactments()
            if enactment_node(e) == node and policy_of(e) in {r.policy for r in later}
        }
        for relation in later:
            enactment = theirs.get(relation.policy)
            generation = self.others[relation.policy]["metadata"].get("generation")
            if planning.enactment_phase(enactment, generation) != planning.AVAILABLE:
                continue
            message = (
                f"policy {self.name}, which comes before this one, was applied after it and set "
                f"{relations.listed(relation.fields)}: this policy is applied again"
            )
            previous = (enactment.get("status") or {}).get("conditions") or []
            conditions = enactment_conditions("Pending", "EarlierPolicyApplied", message, previous)
            self.ctx.api.patch_enactment_status(
                enactment["metadata"]["name"],
                {"policyGeneration": generation, "conditions": conditions},
            )
            self.ctx.api.event(enactment, "EarlierPolicyApplied", message)
            self.ctx.wake(relation.policy)

    # Reboots

    def boot_id(self, node: str) -> dict:
        """The node's boot ID to record with an outcome ({} when the Node publishes none)."""
        boot = self.selected[node].boot_id
        return {"bootID": boot} if boot else {}

    def rebooted(self, node: str) -> bool:
        """Available here, and the node booted again since the policy was applied or checked."""
        enactment = self.enactments[node]
        if planning.enactment_phase(enactment, self.generation) != planning.AVAILABLE:
            return False
        recorded = (enactment.get("status") or {}).get("bootID")
        current = self.selected[node].boot_id
        return bool(recorded and current and recorded != current)

    def notice_reboots(self) -> float | None:
        """Nodes that rebooted since this policy was in place there are checked again (verify),
        and configured again when the state is gone (kernel-only nodes lose it all). On each node
        policies go in name order: a node waits while a policy before this one is unsettled
        there. Returns when to look again, or None."""
        rebooted = [node for node in self.ready if self.rebooted(node)]
        if not rebooted:
            return None
        everyone = self.all_enactments()
        waiting = None
        for node in rebooted:
            boot = self.selected[node].boot_id
            before = sorted(
                policy_of(e)
                for e in everyone
                if enactment_node(e) == node
                and self.goes_first_after_reboot(policy_of(e))
                and unsettled(e, boot)
            )
            if before:
                waiting = ORDER_WAIT_SECONDS
                log.info("policy %s on rebooted %s waits for %s", self.name, node, before[0])
                continue
            was = self.enactments[node]["status"].get("bootID")
            message = (
                f"the node rebooted (boot ID {was} is now {boot}): checking that the policy is "
                "still in place"
            )
            self.set_enactment(node, "Progressing", REBOOT_REASON, message, retryCount=0)
            self.enactment_event(node, REBOOT_REASON, message)
        return waiting

    def goes_first_after_reboot(self, other: str) -> bool:
        """Whether `other` is re-applied before this policy on a rebooted node: the declared
        order, and name order between policies with none."""
        if other == self.name:
            return False
        if other not in self.order.policies:
            return other < self.name
        return self.order.reapply_before(other, self.name)

    def unavailable(self) -> int:
        phases = [planning.enactment_phase(e, self.generation) for e in self.enactments.values()]
        return sum(1 for p in phases if p in (planning.FAILED, planning.RETRYING))

    def abort(self, the_plan: planning.Plan) -> None:
        message = (
            f"configuration aborted: {the_plan.count(planning.FAILED)} nodes failed, "
            f"which reaches maxUnavailable ({the_plan.limit})"
        )
        for node in the_plan.abort:
            self.set_enactment(node, "Aborted", "ConfigurationAborted", message)
        not_configured = ", ".join(the_plan.abort)
        self.ctx.api.event(
            self.policy,
            "ConfigurationAborted",
            f"{message}; not configured: {not_configured}",
            "Warning",
        )
        log.warning("policy %s: %s (%s)", self.name, message, not_configured)

    def configure(self, wanted: list[str], verify: bool) -> float | None:
        """One run over the nodes of a batch (apply) or of cut-off runs (verify)."""
        desired = self.spec.get("desiredState") or {}
        reachable = [n for n in wanted if self.selected[n].address]
        for node in wanted:
            if node not in reachable:
                message = f"Node {node}: {self.selected[node].problem}"
                self.set_enactment(
                    node, "Failing", "FailedToConfigure", message, desiredState=desired
                )
        with locks.holding(sorted(reachable), wait=BATCH_LOCK_WAIT_SECONDS) as held:
            if not held:
                return LOCK_WAIT_SECONDS if reachable else 0
            after_reboot = {n for n in held if verify and self.progress_reason(n) == REBOOT_REASON}
            for node in held:
                if node not in after_reboot:
                    self.mark_progressing(node, verify, desired)
            if verify:
                return self.record_verified(self.run_playbook(held, verify=True), after_reboot)
            if self.dry_run:
                return self.record_dry_run(self.run_playbook(held, verify=False))
            outcomes_by_node = self.run_playbook(held, verify=False)
            next_due = self.record_applied(outcomes_by_node)
        # Only once the nodes are free: a report round skips a node that a run holds, so a
        # report asked for under the lock (a node whose answer carried none) would wait for
        # the next full round.
        reports = {node: outcomes_by_node.get(node) for node in held}
        self.ctx.applied({node: outcome and outcome.report for node, outcome in reports.items()})
        return next_due

    def mark_progressing(self, node: str, verify: bool, desired: dict) -> None:
        if verify:
            message = "checking the outcome of a run cut off by an operator restart"
        elif self.dry_run:
            message = f"dry run of generation {self.generation}: checking, changing nothing"
        else:
            message = f"applying generation {self.generation} of the policy"
        retries = self.retries(node)
        self.set_enactment(
            node,
            "Progressing",
            "ConfigurationProgressing",
            message,
            desiredState=desired,
            retryCount=retries,
        )
        if not verify and not self.dry_run:
            self.enactment_event(
                node,
                "ConfigurationProgressing",
                f"applying generation {self.generation} of policy {self.name}",
            )

    def run_playbook(self, nodes: list[str], verify: bool) -> dict:
        addresses = {n: v.address for n, v in self.selected.items() if v.address}
        run = self.ctx.playbooks.verify if verify else self.ctx.playbooks.apply
        record = {"policy": self.name, "generation": self.generation}
        data = policy_data(self.spec)
        purpose = f"nncp-{self.name}"
        if verify:
            return run(addresses, data, purpose, record, limit=nodes)
        if self.dry_run:
            return self.ctx.playbooks.dry_run(addresses, data, purpose, record, limit=nodes)
        return run(
            addresses, data, purpose, record, limit=nodes, probe_spec=self.spec.get("probes")
        )

    def record_applied(self, outcomes_by_node: dict[str, ApplyOutcome]) -> float | None:
        due = []
        for node, outcome in outcomes_by_node.items():
            overrides = [r for r in self.relations_on(node) if r.kind == "overrides"]
            sink = EnactmentSink(self, node, [r.as_status() for r in overrides])
            sink.fields["lastRun"] = dict(
                outcome.run_report(self.generation), retries=self.retries(node)
            )
            sink.fields.update(outcome.state_report())
            if outcome.applied and self.spec.get("revertOnDelete") is True:
                sink.fields.update(self.revert_fields(node, outcome))
            decision = outcomes.record_outcome(
                sink,
                outcome,
                self.retries(node),
                self.ctx.config.max_retries,
                applied=f"successfully configured (generation {self.generation})"
                + probes.skipped_note(self.spec.get("probes"))
                + relations.override_note(overrides),
                event_message=f"generation {self.generation} of policy {self.name} is applied",
            )
            if decision.retry_in is not None:
                due.append(decision.retry_in)
            if decision.result == outcomes.APPLIED:
                self.requeue_later(node)
        return min(due) if due else 0

    def record_unreached(self, node: str, outcome: VerifyOutcome | DryRunOutcome) -> float | None:
        """A check (verify or dry run) that did not reach the node, recorded as an apply that
        did not: retried with backoff within the budget, or failed. When to try again, or None."""
        unreached = ApplyOutcome(
            False,
            outcome.message,
            transient=outcome.unreachable,
            host_key_rejected=outcome.host_key_rejected,
        )
        decision = outcomes.record_outcome(
            EnactmentSink(self, node),
            unreached,
            self.retries(node),
            self.ctx.config.max_retries,
            applied="",
            event_message="",
        )
        return decision.retry_in

    def record_dry_run(self, outcomes_by_node: dict[str, DryRunOutcome]) -> float | None:
        """A dry run's findings: the diff and nmstate's verdict on each node, no bootID (a
        reboot changes nothing a dry run did)."""
        due = []
        desired = self.spec.get("desiredState") or {}
        for node, outcome in outcomes_by_node.items():
            if outcome.unreachable or outcome.host_key_rejected:
                retry = self.record_unreached(node, outcome)
                if retry is not None:
                    due.append(retry)
                continue
            found = {
                "dryRun": outcome.as_status(self.generation),
                "desiredState": outcome.rendered_state or desired,
                **node_state_report(outcome.captured_states, outcome.features),
            }
            if outcome.accepted:
                change = (
                    "it would change the node" if outcome.changed else "the node has it already"
                )
                message = f"dry run: nmstate accepts the state; {change} (nothing was applied)"
                self.set_enactment(node, "Available", "DryRunSucceeded", message, **found)
            else:
                message = cut(f"dry run: the state would fail here: {outcome.message}")
                self.set_enactment(node, "Failing", "DryRunFailed", message, **found)
                self.enactment_event(node, "DryRunFailed", message, "Warning")
        return min(due) if due else 0

    def revert_fields(self, node: str, outcome: ApplyOutcome) -> dict:
        """The enactment's revert state after this apply, for revert on delete, signed. A
        stored one this operator did not sign is not built on: it is dropped."""
        status = self.enactments[node].get("status") or {}
        stored = status.get("revertState")
        trusted = stored
        key = signing.signing_key(self.ctx.config.ssh_private_key)
        if stored is not None and not signing.holds_signed_state(
            key, self.enactments[node], self.policy
        ):
            message = "the stored revert state does not carry the operator's signature (it was changed outside the operator): it was dropped, and deleting the policy reverts only what this apply changed"
            self.enactment_event(node, "RevertStateAltered", message, "Warning")
            trusted = None
        dropped = {} if trusted is stored else {"revertState": None, signing.FIELD: None}
        merged = revert.merged_revert_state(trusted, outcome.revert_state)
        if merged is None:
            message = "the node returned no revert state (nmstatectl missing?): deleting the policy will not revert this node"
            self.enactment_event(node, "NoRevertState", message, "Warning")
            return dropped
        if not revert.storable(merged):
            message = f"the revert state is over {revert.MAX_REVERT_STATE_BYTES} bytes and was not kept: deleting the policy will not revert this node"
            self.enactment_event(node, "NoRevertState", message, "Warning")
            return dropped
        return {
            "revertState": replacing(stored, merged),
            signing.FIELD: signing.sign_for(key, self.enactments[node], self.policy, merged),
        }

    def still_booting(self, node: str) -> bool:
        """Whether a rebooted node that does not answer gets another look (within the retry
        budget) before it counts as unreachable."""
        return self.retries(node) < self.ctx.config.max_retries

    def progress_reason(self, node: str) -> str | None:
        status = self.enactments[node].get("status") or {}
        return true_conditions(status.get("conditions")).get("Progressing", {}).get("reason")

    def record_verified(
        self, outcomes_by_node: dict[str, VerifyOutcome], after_reboot: set[str] = frozenset()
    ) -> float | None:
        due = []
        for node, outcome in outcomes_by_node.items():
            if outcome.in_place and node in after_reboot:
                message = f"still in place after the node rebooted (boot ID {self.selected[node].boot_id})"
                self.set_enactment(
                    node, "Available", "SuccessfullyConfigured", message, **self.boot_id(node)
                )
                self.enactment_event(node, "VerifiedAfterReboot", message)
            elif outcome.in_place:
                message = "successfully configured (checked after an operator restart)"
                self.set_enactment(
                    node, "Available", "SuccessfullyConfigured", message, **self.boot_id(node)
                )
            elif node in after_reboot and outcome.unreachable and self.still_booting(node):
                retries = self.retries(node) + 1
                delay = outcomes.backoff_seconds(retries)
                message = (
                    f"the node rebooted and does not answer yet; checking again in {delay:.0f} s "
                    f"(attempt {retries} of {self.ctx.config.max_retries}): {outcome.message}"
                )
                self.set_enactment(node, "Progressing", REBOOT_REASON, message, retryCount=retries)
                due.append(delay)
            elif outcome.unreachable or outcome.host_key_rejected:
                retry = self.record_unreached(node, outcome)
                if retry is not None:
                    due.append(retry)
            elif node in after_reboot:
                message = "the node rebooted and the policy's state is gone: it is configured again"
                self.set_enactment(node, "Pending", REBOOT_REASON, message)
                self.enactment_event(node, "ReapplyingAfterReboot", message)
                due.append(0)
            else:
                message = "a run cut off by an operator restart did not configure the node; it is configured again"
                self.set_enactment(node, "Pending", "ConfigurationPending", message)
                due.append(0)
        return min(due) if due else 0

    # The policy's own status

    def write_policy_status(self, unavailable: int) -> None:
        """The policy's conditions over its Ready nodes, plus NotReady ones that already finished
        this generation (a node cut off by a failed change must not hide the failure)."""
        phases = {
            n: planning.enactment_phase(e, self.generation) for n, e in self.everything.items()
        }
        finished = (planning.AVAILABLE, planning.FAILED, planning.ABORTED)
        counted = {n: p for n, p in phases.items() if n in self.ready or p in finished}
        summary = planning.policy_summary(counted, len(phases) - len(counted))
        if self.dry_run:
            summary = planning.as_dry_run(summary)
        previous = self.policy.get("status") or {}
        conditions = policy_conditions(summary, previous.get("conditions") or [])
        # Counts only, whatever the number of nodes: the details are in the enactments.
        counts = {phase: list(counted.values()).count(phase) for phase in set(counted.values())}
        unchanged = (
            same_conditions(previous.get("conditions") or [], conditions)
            and previous.get("unavailableNodeCount") == unavailable
            and previous.get("observedGeneration") == self.generation
            and (previous.get("enactmentCounts") or {}) == counts
        )
        if unchanged:
            return
        status = {
            "conditions": conditions,
            "enactmentCounts": replacing(previous.get("enactmentCounts"), counts),
            "unavailableNodeCount": unavailable,
            "unavailableNodeCountMap": replacing(
                previous.get("unavailableNodeCountMap"), {str(self.generation): unavailable}
            ),
            "lastUnavailableNodeCountUpdate": now(),
            "observedGeneration": self.generation,
        }
        self.ctx.api.patch_policy_status(self.name, status)
        self.policy["status"] = dict(previous, **status)
        was = true_conditions(previous.get("conditions"))
        if summary["Available"] == "True" and "Available" not in was and phases:
            self.ctx.api.event(self.policy, summary["reason"], summary["message"])
        if summary["Degraded"] == "True" and "Degraded" not in was:
            self.ctx.api.event(self.policy, summary["reason"], summary["message"], "Warning")


class EnactmentSink:
    """Where outcomes.record_outcome writes a node's outcome: its enactment."""

    def __init__(self, rollout: Rollout, node: str, overrides: list[dict] | None = None) -> None:
        self.rollout = rollout
        self.node = node
        self.label = f"policy {rollout.name} on {node}"
        self.overrides = overrides or []
        self.fields: dict = {}  # more status to write with an applied or failed outcome

    def write(self, decision: Decision) -> None:
        rendered = {"desiredState": decision.rendered_state} if decision.rendered_state else {}
        if decision.result == outcomes.APPLIED:
            related = {"conflicts": self.overrides} if self.overrides else {}
            self.rollout.set_enactment(
                self.node,
                "Available",
                decision.reason,
                decision.message,
                **rendered,
                **related,
                **self.fields,
                **self.rollout.boot_id(self.node),
            )
        elif decision.result == outcomes.RETRY:
            self.rollout.set_enactment(
                self.node,
                "Pending",
                decision.reason,
                decision.message,
                retryCount=decision.retry_count,
                nextRetryTime=decision.next_retry_time,
            )
        else:
            message = decision.message
            if decision.unreachable:
                message = cut(f"{message}; it is configured when the node turns Ready again")
            self.rollout.set_enactment(
                self.node,
                "Failing",
                UNREACHABLE_REASON if decision.unreachable else "FailedToConfigure",
                message,
                retryCount=decision.retry_count,
                failedProbe=decision.failed_probe,
                **rendered,
                **self.fields,
            )

    def event(self, reason: str, message: str, kind: str) -> None:
        self.rollout.enactment_event(self.node, reason, message, kind)


def policy_of(enactment: dict) -> str:
    return (enactment.get("metadata", {}).get("labels") or {}).get(POLICY_LABEL, "")


def conflict_partners(enactment: dict) -> set[str]:
    conflicts = (enactment.get("status") or {}).get("conflicts") or []
    return {c.get("policy") for c in conflicts if c.get("kind") == "conflict"}


def unsettled(enactment: dict, boot: str | None) -> bool:
    """Whether a node's enactment of some policy still has work to do on the node's current
    boot: not yet checked after the reboot, or on its way to being configured."""
    status = enactment.get("status") or {}
    phase = planning.enactment_phase(enactment, status.get("policyGeneration"))
    if phase == planning.AVAILABLE:
        recorded = status.get("bootID")
        return bool(recorded and boot and recorded != boot)
    return phase in (planning.PROGRESSING, planning.PENDING, planning.RETRYING)


def refuse(ctx: Context, policy: dict, problem: str, reason: str = "InvalidPolicy") -> None:
    """A policy that cannot be rolled out: Degraded with the reason, once, and nothing else."""
    previous = policy.get("status") or {}
    summary = planning.invalid_summary(problem, reason)
    conditions = policy_conditions(summary, previous.get("conditions") or [])
    if same_conditions(previous.get("conditions") or [], conditions):
        return
    generation = policy["metadata"].get("generation")
    ctx.api.patch_policy_status(
        policy["metadata"]["name"], {"conditions": conditions, "observedGeneration": generation}
    )
    ctx.api.event(policy, reason, problem, "Warning")


def spec_problem(ctx: Context, policy: dict) -> str | None:
    spec = policy.get("spec") or {}
    return planning.spec_problem(policy["metadata"]["name"], spec) or probes.problem(
        spec.get("probes"), ctx.config.probe_rules()
    )


def in_effect(policy: dict) -> bool:
    """Whether a policy counts for others: it may change nodes (not a dry run), and stays."""
    spec = policy.get("spec") or {}
    return not spec.get("dryRun") and not policy["metadata"].get("deletionTimestamp")


def step(ctx: Context, name: str, nodes: dict[str, NodeView]) -> float | None:
    """Advance the rollout of policy `name` by one step, over the Nodes in `nodes`.

    Returns when the next step is due: 0 for at once, seconds to wait (a retry's backoff, a
    node busy with another run), or None when there is nothing to do until something changes.
    """
    policies = {p["metadata"]["name"]: p for p in ctx.api.list_policies()}
    policy = policies.get(name)
    if policy is None:
        ctx.forget(name)
        return None
    try:
        if policy["metadata"].get("deletionTimestamp"):
            if revert.REVERT_FINALIZER not in revert.finalizers_of(policy):
                return None
            staying = {n: p for n, p in policies.items() if n != name and in_effect(p)}
            return revert.Revert(ctx, policy, nodes, staying).run()
        policy = revert.sync_finalizer(ctx, policy)
        problem = spec_problem(ctx, policy)
        if problem:
            refuse(ctx, policy, problem)
            return None
        valid = {n: p for n, p in policies.items() if n == name or not spec_problem(ctx, p)}
        order = relations.Order(valid)
        order_problem = order.problem(name)
        if order_problem:
            refuse(ctx, policy, order_problem, "InvalidOrder")
            return None
        others = {
            n: p for n, p in valid.items() if n != name and in_effect(p) and not order.problem(n)
        }
        return Rollout(ctx, policy, nodes, others, order, set(policies)).run()
    except Gone:
        log.info("policy %s was deleted during its rollout", name)
        return None
