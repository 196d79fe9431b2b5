"""Runs of the collection's playbooks through ansible-runner, with data passed as files.

This layer knows ansible-runner (private data dirs, events, artifacts) and nothing of what a
playbook means: `playbooks.py` above it names the playbooks and decodes their facts.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import ansible_runner

from . import journal, metrics
from .config import Config

STDOUT_TAIL = 2000


@dataclass
class HostOutcome:
    ok: bool = True
    unreachable: bool = False
    facts: dict = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    status: str
    rc: int
    hosts: dict[str, HostOutcome]
    run_id: str = ""
    duration: float = 0.0
    stdout_tail: str = ""


class EventCollector:
    """ansible-runner's event handler: per host, the facts set and the failures seen."""

    def __init__(self, hosts: list[str]) -> None:
        self.hosts = {name: HostOutcome() for name in hosts}

    def __call__(self, event: dict) -> bool:
        data = event.get("event_data") or {}
        outcome = self.hosts.get(data.get("host"))
        if outcome is None:
            return True
        kind = event.get("event")
        result = data.get("res") or {}
        if kind == "runner_on_ok":
            outcome.facts.update(result.get("ansible_facts") or {})
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            outcome.ok = False
            outcome.failures.append(str(result.get("msg", "failed")))
        elif kind == "runner_on_unreachable":
            outcome.ok = False
            outcome.unreachable = True
            outcome.failures.append(str(result.get("msg", "unreachable")))
        return True  # keep the event in the artifacts


def usable_private_key(config: Config) -> Path:
    """The SSH key, copied to a 0600 file of ours when it is readable by others (a Secret mounted
    with fsGroup is group-readable, and ssh refuses such keys)."""
    key = config.ssh_private_key
    if key.stat().st_mode & 0o077 == 0:
        return key
    copy = config.runner_dir / "ssh-private-key"
    if not copy.exists() or copy.read_bytes() != key.read_bytes():
        copy.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.read_bytes())
    return copy


def inventory(nodes: dict[str, str], config: Config) -> dict:
    """An inventory of nodes (name -> address) for ansible-runner."""
    return {
        "all": {
            "hosts": {name: {"ansible_host": address} for name, address in nodes.items()},
            "vars": {
                "ansible_user": config.ssh_user,
                "ansible_ssh_private_key_file": str(usable_private_key(config)),
                "ansible_python_interpreter": config.python_interpreter,
            },
        }
    }


def write_data_files(data_dir: Path, data_files: dict[str, object]) -> dict[str, str]:
    """Each data item as a JSON file; returns the `<name>_file` variables holding their paths."""
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    paths = {}
    for name, content in data_files.items():
        path = data_dir / f"{name}.json"
        path.write_text(json.dumps(content))
        paths[f"{name}_file"] = str(path)
    return paths


def environment(config: Config, forks: int) -> dict[str, str]:
    return {
        "ANSIBLE_COLLECTIONS_PATH": str(config.collections_path),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=60s "
        "-o UserKnownHostsFile=/dev/null",
        "ANSIBLE_FORKS": str(max(1, min(config.forks, forks))),
        # The runner starts ansible-playbook from this venv.
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }


def _stdout_tail(runner) -> str:
    if runner.status == "successful":
        return ""
    try:
        return runner.stdout.read()[-STDOUT_TAIL:]
    except (OSError, AttributeError):
        return ""


def run_playbook(
    config: Config,
    playbook: str,
    nodes: dict[str, str],
    purpose: str,
    data_files: dict[str, object] | None = None,
    limit: list[str] | None = None,
    record: dict | None = None,
    settings: dict | None = None,
) -> RunResult:
    """Run collection playbook `playbook` (e.g. nodenet.nmstate.report) over `nodes`.

    `limit` restricts the run to some of the nodes (ansible's --limit); forks follow it.
    Runs for the same `purpose` share a private data dir whose artifacts are rotated.
    `record` (kind, policy, generation...) goes into the run records with the nodes.
    `settings` are plain role variables (numbers, flags) from the operator's own configuration.
    `data_files` become JSON files next to the run and reach the playbook as `<name>_file`
    variables holding their paths: data never passes through a command line or a template.
    """
    private = config.runner_dir / purpose
    ident = f"{purpose}-{time.strftime('%Y%m%dT%H%M%S')}-{time.monotonic_ns() % 10**6}"
    extravars = dict(settings or {}, **write_data_files(private / "data", data_files or {}))
    targets = sorted(limit) if limit is not None else sorted(nodes)
    collector = EventCollector(targets)
    base = dict(record or {}, run=ident, playbook=playbook, nodes=targets)
    journal.record(config.runner_dir, dict(base, event="start"))
    started = time.monotonic()
    runner = ansible_runner.run(
        private_data_dir=str(private),
        playbook=playbook,
        inventory=inventory(nodes, config),
        limit=",".join(targets) if limit is not None else None,
        extravars=extravars,
        envvars=environment(config, len(targets)),
        ident=ident,
        rotate_artifacts=config.max_runner_artifacts,
        suppress_env_files=True,
        quiet=True,
        event_handler=collector,
    )
    duration = time.monotonic() - started
    metrics.RUN_DURATION.labels(playbook).observe(duration)
    ok = sorted(name for name, outcome in collector.hosts.items() if outcome.ok)
    journal.record(config.runner_dir, dict(base, event="end", status=runner.status, ok=ok))
    return RunResult(
        runner.status, runner.rc, collector.hosts, ident, duration, _stdout_tail(runner)
    )
