"""The benchmarks' own helpers (bench/common.py), without a lab."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from kubernetes import client

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import common  # bench/ is not a package: found through the path above


def test_wait_until_takes_an_object_not_created_yet_for_not_yet():
    answers = iter([client.ApiException(status=404), None, {"status": "ready"}])

    def predicate():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert common.wait_until(predicate, 5, "the NNS", interval=0) == {"status": "ready"}


def test_wait_until_lets_other_api_errors_through():
    def forbidden():
        raise client.ApiException(status=403)

    with pytest.raises(client.ApiException):
        common.wait_until(forbidden, 5, "the NNS", interval=0)
