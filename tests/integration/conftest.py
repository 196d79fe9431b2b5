"""Running real ansible-playbook against the lab, with results read back as data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


@dataclass
class PlaybookRun:
    rc: int
    output: str
    results: dict  # {host: {task name: result}}

    def result(self, host: str, task: str) -> dict:
        """A task's result by its name; role tasks are also found without their role prefix."""
        tasks = self.results.get(host, {})
        if task in tasks:
            return tasks[task]
        for name, result in tasks.items():
            if name.endswith(" : " + task):
                return result
        return {"_status": "missing"}

    def fact(self, host: str, name: str):
        """The fact `name` as the host's last task that set it left it (None if none did)."""
        found = None
        for result in self.results.get(host, {}).values():
            facts = result.get("ansible_facts") if isinstance(result, dict) else None
            if isinstance(facts, dict) and name in facts:
                found = facts[name]
        return found


@pytest.fixture(scope="session")
def playbook(lab, collections_path, tmp_path_factory):
    """Run a playbook of tests/integration/playbooks with extra vars passed as a JSON file."""
    work = tmp_path_factory.mktemp("playbooks")
    counter = iter(range(10**6))

    def run(
        name: str,
        extravars: dict | None = None,
        *,
        limit: str | None = None,
        check: bool = False,
        diff: bool = False,
    ) -> PlaybookRun:
        n = next(counter)
        vars_file = work / f"vars-{n}.json"
        vars_file.write_text(json.dumps(extravars or {}))
        results_file = work / f"results-{n}.json"
        argv = [
            str(Path(sys.executable).parent / "ansible-playbook"),
            str(HERE / "playbooks" / name),
            "-e",
            f"@{vars_file}",
        ]
        argv += ["--limit", limit] if limit else []
        argv += ["--check"] if check else []
        argv += ["--diff"] if diff else []
        env = dict(
            os.environ,
            ANSIBLE_CONFIG=str(lab.ansible_cfg),
            ANSIBLE_COLLECTIONS_PATH=str(collections_path),
            ANSIBLE_CALLBACK_PLUGINS=str(HERE / "callback_plugins"),
            ANSIBLE_CALLBACKS_ENABLED="record_results",
            RECORD_RESULTS_FILE=str(results_file),
            ANSIBLE_NOCOLOR="1",
        )
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
        results = json.loads(results_file.read_text()) if results_file.exists() else {}
        return PlaybookRun(done.returncode, done.stdout + done.stderr, results)

    return run
