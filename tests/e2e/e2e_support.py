"""Shared by the end-to-end tests: timing and reading NodeNetworkStates."""

from __future__ import annotations

import time

import pytest
from kubernetes import client

REPORT_INTERVAL = 5
GROUP, VERSION, PLURAL = "nmstate.io", "v1beta1", "nodenetworkstates"


def read_nns(api, name):
    try:
        return client.CustomObjectsApi(api).get_cluster_custom_object(GROUP, VERSION, PLURAL, name)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def wait_for(predicate, timeout, what, process=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            pytest.fail(f"the operator exited: {process.log_path.read_text()[-3000:]}")
        time.sleep(0.5)
    log = process.log_path.read_text()[-3000:] if process is not None else ""
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n{log}")
