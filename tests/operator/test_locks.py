"""One run per node: a waiting caller gets a node once it is free, within its wait."""

import threading
import time

from nmstate_operator import locks


def test_a_busy_node_is_left_out_or_waited_for():
    release = threading.Event()

    def report_round():
        with locks.holding(["lk1"]):
            release.wait(5)

    holder = threading.Thread(target=report_round)
    holder.start()
    time.sleep(0.1)
    with locks.holding(["lk1", "lk2"]) as held:
        assert held == ["lk2"]  # no wait: the busy node is left for later
    with locks.holding(["lk1"], wait=0.2) as held:
        assert held == []  # it stayed busy for longer than the wait
    threading.Timer(0.2, release.set).start()
    started = time.monotonic()
    with locks.holding(["lk1", "lk2"], wait=5) as held:
        assert held == ["lk1", "lk2"] and time.monotonic() - started < 4
    holder.join()
