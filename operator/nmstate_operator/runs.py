"""One way to run the collection's playbooks: ansible-runner, with states passed as data files."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import ansible_runner

from . import journal, metrics
from .config import Config

# Only one run may touch a node at a time, whatever asked for it.
_node_locks: dict[str, threading.Lock] = {}
_node_locks_guard = threading.Lock()


def node_lock(name: str) -> threading.Lock:
    with _node_locks_guard:
        return _node_locks.setdefault(name, threading.Lock())


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

    `data_files` become JSON files next to the run and reach the playbook as
    `<name>_file` variables holding their paths: data never passes through a command line or
    a template.
    """
    private = config.runner_dir / purpose
    ident = f"{purpose}-{time.strftime('%Y%m%dT%H%M%S')}-{time.monotonic_ns() % 10**6}"
    private.mkdir(parents=True, exist_ok=True)
    data_dir = private / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir()
    extravars = dict(settings or {})
    for name, content in (data_files or {}).items():
        path = data_dir / f"{name}.json"
        path.write_text(json.dumps(content))
        extravars[f"{name}_file"] = str(path)
    targets = sorted(limit) if limit is not None else sorted(nodes)
    hosts: dict[str, HostOutcome] = {name: HostOutcome() for name in targets}

    def on_event(event: dict) -> bool:
        data = event.get("event_data") or {}
        host = data.get("host")
        if host not in hosts:
            return True
        outcome = hosts[host]
        kind = event.get("event")
        if kind == "runner_on_ok":
            outcome.facts.update((data.get("res") or {}).get("ansible_facts") or {})
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            outcome.ok = False
            outcome.failures.append(str((data.get("res") or {}).get("msg", "failed")))
        elif kind == "runner_on_unreachable":
            outcome.ok = False
            outcome.unreachable = True
            outcome.failures.append(str((data.get("res") or {}).get("msg", "unreachable")))
        return True

    env = {
        "ANSIBLE_COLLECTIONS_PATH": str(config.collections_path),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null",
        "ANSIBLE_FORKS": str(max(1, min(config.forks, len(targets)))),
        # The runner starts ansible-playbook from this venv.
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    base = dict(record or {}, run=ident, playbook=playbook, nodes=targets)
    journal.record(config.runner_dir, dict(base, event="start"))
    started = time.monotonic()
    runner = ansible_runner.run(
        private_data_dir=str(private),
        playbook=playbook,
        inventory=inventory(nodes, config),
        limit=",".join(targets) if limit is not None else None,
        extravars=extravars,
        envvars=env,
        ident=ident,
        rotate_artifacts=config.max_runner_artifacts,
        suppress_env_files=True,
        quiet=True,
        event_handler=on_event,
    )
    duration = time.monotonic() - started
    metrics.RUN_DURATION.labels(playbook).observe(duration)
    journal.record(
        config.runner_dir,
        dict(
            base, event="end", status=runner.status, ok=sorted(h for h, o in hosts.items() if o.ok)
        ),
    )
    tail = ""
    if runner.status != "successful":
        try:
            tail = runner.stdout.read()[-2000:]
        except (OSError, AttributeError):
            tail = ""
    return RunResult(runner.status, runner.rc, hosts, ident, duration, tail)


TRUE_STRINGS = (True, "True", "true")


@dataclass
class ApplyOutcome:
    """What the apply role reported for one node."""

    applied: bool
    message: str = ""
    rolled_back: bool = False
    failed_probe: dict | None = None
    rendered_state: dict | None = None  # what nmstate rendered from a policy with capture
    # Nothing reached the node (unreachable before the transaction, or the run did not start):
    # worth another attempt.
    transient: bool = False


def apply_outcome(outcome: HostOutcome | None, run: RunResult | None = None) -> ApplyOutcome:
    if outcome is None:
        return ApplyOutcome(False, "the node was not part of the run", transient=True)
    result = outcome.facts.get("nmstate_apply_result") or {}
    rendered = result.get("rendered_state")
    rendered = rendered if isinstance(rendered, dict) else None
    if outcome.ok and result.get("applied") in TRUE_STRINGS:
        return ApplyOutcome(True, rendered_state=rendered)
    message = str(result.get("msg") or "; ".join(outcome.failures) or "")
    if not message and run is not None:
        message = f"the apply run ended {run.status} (rc {run.rc}): {run.stdout_tail[-500:]}"
    probe = result.get("failed_probe")
    return ApplyOutcome(
        applied=False,
        message=message or "the apply run failed",
        rolled_back=result.get("rolled_back") in TRUE_STRINGS,
        failed_probe=probe if isinstance(probe, dict) else None,
        rendered_state=rendered,
        transient=not result and (outcome.unreachable or not outcome.failures),
    )
