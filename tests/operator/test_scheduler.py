"""The scheduler: which policy is stepped when, with the steps themselves faked."""

import asyncio

import pytest
from nmstate_operator.nncp import scheduler as scheduling
from nmstate_operator.nncp import step


class ScriptedSteps:
    """Each policy's steps return the next delay from its script (None once it runs out)."""

    def __init__(self, scripts):
        self.scripts = {name: list(delays) for name, delays in scripts.items()}
        self.calls = []

    def __call__(self, ctx, name, nodes):
        self.calls.append((name, nodes))
        script = self.scripts.get(name) or [None]
        delay = script.pop(0)
        if isinstance(delay, Exception):
            raise delay
        return delay


async def run_for(sched, seconds):
    task = asyncio.create_task(sched.run())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def make(monkeypatch, scripts, leading=True):
    steps = ScriptedSteps(scripts)
    monkeypatch.setattr(step, "step", steps)
    event = asyncio.Event()
    if leading:
        event.set()
    sched = scheduling.Scheduler(None, lambda: {"n1": "view"}, event)
    return sched, steps


def test_a_woken_policy_steps_until_idle_with_the_current_nodes(monkeypatch):
    async def scenario():
        sched, steps = make(monkeypatch, {"p": [0, 0, None]})
        sched.wake("p")
        await run_for(sched, 0.3)
        return steps.calls

    assert asyncio.run(scenario()) == [("p", {"n1": "view"})] * 3


def test_a_delay_brings_the_policy_back_when_due_not_before(monkeypatch):
    async def scenario():
        sched, steps = make(monkeypatch, {"p": [0.3, None]})
        sched.wake("p")
        await run_for(sched, 0.15)
        early = len(steps.calls)
        await run_for(sched, 0.4)
        return early, len(steps.calls)

    assert asyncio.run(scenario()) == (1, 2)


def test_nothing_steps_while_another_operator_leads(monkeypatch):
    async def scenario():
        sched, steps = make(monkeypatch, {"p": [None]}, leading=False)
        sched.wake("p")
        await run_for(sched, 0.2)
        before = len(steps.calls)
        sched.leading.set()
        sched.woken.set()
        await run_for(sched, 0.2)
        return before, len(steps.calls)

    assert asyncio.run(scenario()) == (0, 1)


def test_a_failing_step_is_tried_again_later(monkeypatch):
    monkeypatch.setattr(scheduling, "ERROR_DELAY_SECONDS", 0.1)

    async def scenario():
        sched, steps = make(monkeypatch, {"p": [RuntimeError("API hiccup"), None]})
        sched.wake("p")
        await run_for(sched, 0.4)
        return len(steps.calls)

    assert asyncio.run(scenario()) == 2


def test_forgotten_policies_are_not_stepped_and_wake_all_covers_known_ones(monkeypatch):
    async def scenario():
        sched, steps = make(monkeypatch, {})
        sched.wake("a")
        sched.wake("b")
        sched.forget("b")
        await run_for(sched, 0.2)
        sched.wake_all()
        await run_for(sched, 0.2)
        return [name for name, _ in steps.calls]

    assert asyncio.run(scenario()) == ["a", "a"]


@pytest.mark.parametrize("delay", [None, 5])
def test_each_policy_has_at_most_one_step_running(monkeypatch, delay):
    async def scenario():
        sched, steps = make(monkeypatch, {"p": [delay]})
        for _ in range(5):
            sched.wake("p")
        await run_for(sched, 0.2)
        return len(steps.calls)

    assert asyncio.run(scenario()) == 1
