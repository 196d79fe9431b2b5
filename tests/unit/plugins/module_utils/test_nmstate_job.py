# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting on the node for a transaction's asynchronous job."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

import pytest

from ansible_collections.nodenet.nmstate.plugins.module_utils import nmstate_job as job
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_errors import InputError

RUNNING = {"started": 1, "finished": 0, "ansible_job_id": "j1.2"}


class Clock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/b", "", ".hidden", None, "x" * 101])
def test_a_job_id_cannot_leave_the_job_directory(bad):
    with pytest.raises(InputError):
        job.job_file("/tmp", bad)


def test_a_running_job_is_waited_for_until_the_wait_passes(tmp_path):
    path = tmp_path / "j1.2"
    path.write_text(json.dumps(RUNNING))
    clock = Clock()
    assert job.wait_for_job(str(path), 3, clock, clock.sleep) is None
    assert 3 <= clock.now < 3.5 and path.exists()


def test_a_job_that_ended_returns_its_result_again_until_it_is_an_hour_old(tmp_path):
    path = tmp_path / "j1.2"
    path.write_text(json.dumps({"applied": True, "changed": True}))
    assert job.wait_for_job(str(path), 3) == {"applied": True, "changed": True}
    assert not path.exists(), "set aside: async_status no longer sees it"
    # The answer may have been lost with a cut connection: asking again gets the same result.
    assert job.wait_for_job(str(path), 0) == {"applied": True, "changed": True}
    kept = tmp_path / ("j1.2" + job.COLLECTED)
    job.prune_collected(str(tmp_path), now=kept.stat().st_mtime + 60)
    assert kept.exists()
    job.prune_collected(str(tmp_path), now=kept.stat().st_mtime + job.KEEP_COLLECTED_SECONDS + 1)
    assert not kept.exists()


def test_a_job_killed_at_its_async_timeout_has_ended(tmp_path):
    path = tmp_path / "j1.2"
    path.write_text(json.dumps(dict(RUNNING, finished=1, failed=1, msg="Timeout exceeded")))
    assert job.wait_for_job(str(path), 0)["msg"] == "Timeout exceeded"


def test_a_job_file_being_written_counts_as_running(tmp_path):
    path = tmp_path / "j1.2"
    path.write_text('{"applied": tr')
    clock = Clock()
    assert job.wait_for_job(str(path), 1, clock, clock.sleep) is None


def test_no_job_file_is_no_job(tmp_path):
    with pytest.raises(InputError, match="no job j9 on this node"):
        job.wait_for_job(str(tmp_path / "j9"), 5)


def test_the_outcome_fact_has_every_field_even_when_the_result_has_none():
    fact = job.outcome_fact(
        {"applied": True, "durations": {"total": 1.5}, "failed_probe": None}, True
    )
    assert fact["finished"] is True and fact["applied"] is True
    assert fact["durations"] == {"total": 1.5} and fact["failed_probe"] is None
    assert fact["required_probes"] == [] and fact["msg"] == "" and fact["mode"] == "unknown"
    assert [field[0] for field in job.OUTCOME_FIELDS] == list(fact)[1:]


def test_a_detached_job_says_started_then_holds_its_result(tmp_path):
    def work():
        return {"changed": True, "applied": True}

    job_id = job.start_detached(str(tmp_path / "jobs"), work, limit=30)
    path = job.job_file(str(tmp_path / "jobs"), job_id)
    assert job.JOB_ID.match(job_id)
    assert oct((tmp_path / "jobs").stat().st_mode & 0o777) == "0o700"
    result = job.wait_for_job(path, 10)
    assert result == {"changed": True, "applied": True, "ansible_job_id": job_id}


def test_a_detached_job_that_runs_past_its_limit_ends_failed(tmp_path):
    def work():
        time.sleep(30)
        return {"applied": True}

    job_id = job.start_detached(str(tmp_path), work, limit=1)
    result = job.wait_for_job(job.job_file(str(tmp_path), job_id), 10)
    assert result["failed"] and "did not end within 1 s" in result["msg"], result


def test_a_detached_job_that_raises_ends_failed_with_the_reason(tmp_path):
    def work():
        raise RuntimeError("nmstate vanished")

    job_id = job.start_detached(str(tmp_path), work, limit=30)
    result = job.wait_for_job(job.job_file(str(tmp_path), job_id), 10)
    assert result["failed"] and "nmstate vanished" in result["msg"], result


def test_the_starter_returns_while_the_detached_job_still_runs(tmp_path):
    release = tmp_path / "release"

    def work():
        while not release.exists():
            time.sleep(0.05)
        return {"applied": True}

    job_id = job.start_detached(str(tmp_path), work, limit=30)
    path = job.job_file(str(tmp_path), job_id)
    assert job.wait_for_job(path, 0) is None, "the job ended before it was let go"
    release.write_text("")
    assert job.wait_for_job(path, 10)["applied"] is True
