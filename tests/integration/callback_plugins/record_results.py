# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: write every task result, per host and task name, to a JSON file."""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: record_results
type: aggregate
short_description: Record task results as JSON for the lab tests
description: Writes every task result, by host and task name, to the file named by RECORD_RESULTS_FILE.
requirements:
  - enable in configuration
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "record_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.results: dict[str, dict] = {}

    def _record(self, result, status):
        data = dict(result._result)
        data["_status"] = status
        host = result._host.get_name()
        self.results.setdefault(host, {})[result._task.get_name()] = data

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        with open(os.environ["RECORD_RESULTS_FILE"], "w") as out:
            json.dump(self.results, out, default=str)
