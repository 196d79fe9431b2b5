"""The operator killed in the middle of a rollout, then started again."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections import Counter

import pytest
from e2e_support import (
    ROLLOUT_TIMEOUT,
    bridge,
    condition,
    enactments,
    has_link,
    kubectl_wait_available,
    read_policy,
    start_policy,
    wait_for,
)
from nmstate_operator import journal

from nodenet_lab import settings


class ProbeGate:
    """A TCP port on the lab's gateway for a policy's extra probe: open for the check before the
    change, shut from then on, so the node's transaction waits in its probes after the change
    (and the operator cannot have recorded an outcome) until `release` opens it again."""

    def __init__(self) -> None:
        self.host = settings.mgmt_gateway()
        self.checked = threading.Event()
        self.stopping = threading.Event()
        first = self._listen(0)
        self.port = first.getsockname()[1]
        self._serve(first, once=True)

    def probe(self) -> dict:
        return {"name": "gate", "type": "tcp", "host": self.host, "port": self.port}

    def release(self) -> None:
        self._serve(self._listen(self.port), once=False)

    def close(self) -> None:
        self.stopping.set()

    def _listen(self, port: int) -> socket.socket:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, port))
        listener.listen(64)
        listener.settimeout(0.2)
        return listener

    def _serve(self, listener: socket.socket, once: bool) -> None:
        def accept() -> None:
            with listener:
                while not self.stopping.is_set():
                    try:
                        conn, _ = listener.accept()
                    except TimeoutError:
                        continue
                    conn.close()
                    self.checked.set()
                    if once:
                        return  # closing the listener refuses every later connection

        threading.Thread(target=accept, daemon=True).start()


@pytest.fixture
def gate():
    opened = ProbeGate()
    yield opened
    opened.close()


def test_a_rollout_cut_by_a_killed_operator_finishes_without_configuring_a_node_twice(
    lab, api, operator_process, cleanup, gate
):
    three = lab.nodes[:3]
    start_policy(
        api,
        cleanup,
        "e2e-restart",
        three,
        bridge("brrst"),
        bridges=["brrst"],
        max_unavailable=1,
        probes={"timeoutSeconds": 90, "extra": [gate.probe()]},
    )

    def first_apply_under_way():
        starts = [
            r
            for r in journal.read(operator_process.runner_dir)
            if r.get("policy") == "e2e-restart" and r["event"] == "start"
        ]
        return starts[0]["nodes"][0] if starts else None

    first = wait_for(first_apply_under_way, ROLLOUT_TIMEOUT, "the first batch", operator_process)
    node = lab.node(first)
    deadline = time.monotonic() + ROLLOUT_TIMEOUT
    # The change is on the node and its transaction waits for the shut gate's probe.
    while not has_link(node, "brrst"):
        assert time.monotonic() < deadline, "the first node never got the bridge"
    assert gate.checked.is_set(), "the gate probe was not checked before the change"
    operator_process.kill()
    left = enactments(api, "e2e-restart")[first]
    assert condition(left, "Progressing")["status"] == "True", (
        "the operator recorded an outcome while the node's probes still waited",
        left["status"],
    )
    gate.release()

    operator_process.start()
    waited = kubectl_wait_available(lab, "e2e-restart", ROLLOUT_TIMEOUT)
    assert waited.returncode == 0, waited.stderr + operator_process.log_tail()
    assert condition(read_policy(api, "e2e-restart"), "Available")["message"] == (
        "3/3 nodes successfully configured"
    )
    found = enactments(api, "e2e-restart")
    assert not [n for n, e in found.items() if condition(e, "Progressing")["status"] == "True"]
    assert all(has_link(n, "brrst") for n in three)

    records = [
        r for r in journal.read(operator_process.runner_dir) if r.get("policy") == "e2e-restart"
    ]
    starts = [r for r in records if r["event"] == "start"]
    applies = Counter(
        (n, r["generation"]) for r in starts if r["kind"] == "apply" for n in r["nodes"]
    )
    assert set(applies.values()) == {1}, (
        "a node was configured twice",
        json.dumps(starts, indent=1),
    )
    assert [r["nodes"] for r in starts if r["kind"] == "verify"] == [[first]]
    assert journal.peak_in_flight(records, ("apply", "verify")) == 1, json.dumps(records, indent=1)
    killed = next(r for r in starts if r["kind"] == "apply" and r["nodes"] == [first])
    assert not [r for r in records if r["event"] == "end" and r["run"] == killed["run"]]
    # No ansible-playbook of the killed operator outlived it (its runs use this policy's dir).
    leftovers = subprocess.run(["pgrep", "-af", "nncp-e2e-restart"], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", leftovers.stdout
