import subprocess
import sys

from nodenet_lab import procs


def test_spawned_process_is_tracked_and_stopped(tmp_path):
    proc = procs.spawn(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "log"
    )
    assert procs.is_alive(proc)
    procs.stop(proc)
    assert not procs.is_alive(proc)


def test_a_reused_pid_is_never_taken_for_ours():
    other = subprocess.Popen(["sleep", "60"])
    try:
        stale = procs.Tracked("old", other.pid, procs.start_time(other.pid) - 1)
        assert not procs.is_alive(stale)
        procs.stop(stale)  # must leave the unrelated process alone
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_start_time_of_a_missing_pid_is_none():
    assert procs.start_time(2**22 + 7) is None
