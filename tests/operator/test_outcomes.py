"""One decision for every apply outcome, whether an NNS or a policy asked for it."""

from nmstate_operator import outcomes
from nmstate_operator.playbooks import ApplyOutcome

APPLIED_MESSAGE = "successfully configured"


def decide(outcome, retries=0, max_retries=2):
    return outcomes.decide(outcome, retries, max_retries, APPLIED_MESSAGE)


def test_an_applied_outcome_is_applied_with_its_rendered_state():
    decision = decide(ApplyOutcome(True, rendered_state={"interfaces": []}))
    assert decision.result == outcomes.APPLIED and decision.message == APPLIED_MESSAGE
    assert decision.rendered_state == {"interfaces": []} and decision.event_type == "Normal"


def test_an_unreachable_node_is_retried_with_backoff_until_the_budget_is_spent():
    unreachable = ApplyOutcome(False, "ssh: no route", transient=True)
    first = decide(unreachable, retries=0)
    assert (first.result, first.retry_count, first.retry_in) == (outcomes.RETRY, 1, 1.0)
    assert first.message == "attempt 1 of 3 failed, next in 1 s: ssh: no route"
    second = decide(unreachable, retries=1)
    assert (second.retry_count, second.retry_in) == (2, 2.0)
    last = decide(unreachable, retries=2)
    assert (last.result, last.retry_count, last.retry_in) == (outcomes.FAILED, 2, None)
    assert last.message == "gave up after 2 retries: ssh: no route"


def test_a_rollback_fails_at_once_naming_its_probe():
    probe = {"name": "default-gateway", "type": "gateway"}
    outcome = ApplyOutcome(False, "rolled back", rolled_back=True, failed_probe=probe)
    decision = decide(outcome)
    assert (decision.result, decision.reason) == (outcomes.FAILED, "RolledBack")
    assert decision.failed_probe == probe and decision.event_type == "Warning"


def test_an_invalid_state_fails_at_once_and_keeps_the_end_of_a_long_message():
    message = "x" * 3000 + " the cause"
    decision = decide(ApplyOutcome(False, message))
    assert (decision.result, decision.reason) == (outcomes.FAILED, "FailedToConfigure")
    assert len(decision.message) == 2000 and decision.message.endswith("the cause")


class Sink:
    label = "test object"

    def __init__(self):
        self.written, self.events = [], []

    def write(self, decision):
        self.written.append(decision)

    def event(self, reason, message, kind):
        self.events.append((reason, message, kind))


def test_record_outcome_writes_then_raises_one_event():
    sink = Sink()
    decision = outcomes.record_outcome(
        sink, ApplyOutcome(True), 0, 2, applied="done", event_message="generation 1 is applied"
    )
    assert sink.written == [decision]
    assert sink.events == [("SuccessfullyConfigured", "generation 1 is applied", "Normal")]
    retried = Sink()
    outcomes.record_outcome(retried, ApplyOutcome(False, "gone", transient=True), 0, 2, "", "")
    assert retried.events == [("Retrying", "gone", "Warning")]
