"""Runs of the collection's playbooks through ansible-runner, with data passed as files.

This layer knows ansible-runner (private data dirs, events, artifacts) and nothing of what a
playbook means: `playbooks.py` above it names the playbooks and decodes their facts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import ansible_runner
import yaml

from ansible_collections.nodenet.nmstate.plugins.module_utils.k8s_node import (
    DNS_SUBDOMAIN,
    valid_node_name,
)

from . import host_key_check, journal, metrics
from .config import Config
from .known_hosts import known_hosts_at

log = logging.getLogger(__name__)

STDOUT_TAIL = 2000
HOST_KEY_REFUSED = "Host key verification failed"


@dataclass
class HostOutcome:
    ok: bool = True
    unreachable: bool = False
    facts: dict = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def host_key_rejected(self) -> bool:
        """ssh refused the node's host key (changed, or unknown under strict checking): the
        connection ended before anything was sent."""
        return self.unreachable and any(HOST_KEY_REFUSED in f for f in self.failures)


@dataclass
class RunResult:
    status: str
    rc: int
    hosts: dict[str, HostOutcome]
    run_id: str = ""
    duration: float = 0.0
    stdout_tail: str = ""


# Names Ansible gives a meaning of its own: a host named so would stand for others.
RESERVED_HOST_NAMES = frozenset(["all", "ungrouped", "localhost"])


def inventory_name(node: str) -> str:
    """The name a node has in a run's inventory: its own when that is a plain DNS name, else a
    stable digest of it, so that no Node name can stand for a group or collide with another
    (a digest has an underscore, which no DNS name has)."""
    if valid_node_name(node) and node not in RESERVED_HOST_NAMES:
        return node
    return "node_" + hashlib.sha256(node.encode()).hexdigest()[:24]


class Unsafe(str):
    """A string Ansible must never template: written with YAML's !unsafe tag."""


def _unsafe_representer(dumper: yaml.SafeDumper, value: Unsafe) -> yaml.Node:
    return dumper.represent_scalar("!unsafe", str(value))


class UnsafeDumper(yaml.SafeDumper):
    pass


UnsafeDumper.add_representer(Unsafe, _unsafe_representer)


def unsafe(value):
    """Every string value in `value` as Unsafe (mapping keys stay plain: we choose them)."""
    if isinstance(value, str):
        return Unsafe(value)
    if isinstance(value, dict):
        return {key: unsafe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [unsafe(item) for item in value]
    return value


def write_private(path: Path, text: str) -> Path:
    """Write a file only its owner reads (it may hold a state with secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


def write_unsafe_yaml(path: Path, data: dict) -> Path:
    return write_private(path, yaml.dump(unsafe(data), Dumper=UnsafeDumper, sort_keys=True))


class EventCollector:
    """ansible-runner's event handler: per node, the facts set and the failures seen.
    `on_ok` (node, its outcome so far) is called as each task of a node succeeds, while the
    run goes on."""

    def __init__(self, hosts: list[str], on_ok: Callable[[str, HostOutcome], None] | None = None):
        self.hosts = {name: HostOutcome() for name in hosts}
        self.by_alias = {inventory_name(name): name for name in hosts}
        self.on_ok = on_ok

    def __call__(self, event: dict) -> bool:
        data = event.get("event_data") or {}
        outcome = self.hosts.get(self.by_alias.get(data.get("host")))
        if outcome is None:
            return True
        kind = event.get("event")
        result = data.get("res") or {}
        if kind == "runner_on_ok":
            outcome.facts.update(result.get("ansible_facts") or {})
            if self.on_ok is not None:
                try:
                    self.on_ok(self.by_alias[data["host"]], outcome)
                except Exception:  # the run must go on; what the caller missed it sees after
                    log.exception("handling a result of %s during the run", data["host"])
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


def inventory(
    nodes: dict[str, str], config: Config, host_vars: dict[str, dict] | None = None
) -> dict:
    """An inventory of nodes (name -> address) for ansible-runner. Hosts go by their
    inventory_name; each pins its host key under that name. `host_vars` adds variables of our
    own (paths of data files) to some hosts."""
    hosts = {}
    for name, address in nodes.items():
        alias = inventory_name(name)
        # ssh's own control path is keyed by address: a node claiming another's address must
        # not reuse that node's open connection, whose host key was checked for the other.
        tag = hashlib.sha256(alias.encode()).hexdigest()[:10]
        hosts[alias] = {
            "ansible_host": address,
            "ansible_ssh_extra_args": f"-o HostKeyAlias={alias}",
            "ansible_control_path": f"%(directory)s/{tag}-%%C",
            **((host_vars or {}).get(name) or {}),
        }
    return {
        "all": {
            "hosts": hosts,
            "vars": {
                "ansible_user": config.ssh_user,
                "ansible_ssh_private_key_file": str(usable_private_key(config)),
                "ansible_python_interpreter": config.python_interpreter,
            },
        }
    }


def purpose_dir(purpose: str) -> str:
    """A directory name for runs of one purpose (e.g. nncp-<policy>): the purpose itself when
    it is plain, else a digest of it."""
    if len(purpose) <= 100 and DNS_SUBDOMAIN.match(purpose):
        return purpose
    return "run_" + hashlib.sha256(purpose.encode()).hexdigest()[:24]


def write_data_files(data_dir: Path, data_files: dict[str, object]) -> dict[str, str]:
    """Each data item as a JSON file only we read; returns the `<name>_file` variables holding
    their paths."""
    shutil.rmtree(data_dir, ignore_errors=True)
    return {
        f"{name}_file": str(write_private(data_dir / f"{name}.json", json.dumps(content)))
        for name, content in data_files.items()
    }


def host_key_options(config: Config) -> list[str]:
    """Host keys are always checked: against the admin's known_hosts, or against the keys
    recorded the first time each node answered. Unhashed, so that keys accepted on first use
    can be read back by Node name."""
    checking = "yes" if config.host_key_policy == "strict" else "accept-new"
    return [
        "-o",
        "HashKnownHosts=no",
        "-o",
        f"StrictHostKeyChecking={checking}",
        "-o",
        f"UserKnownHostsFile={config.known_hosts_file()}",
    ]


def ssh_args(config: Config) -> str:
    # A shared connection to a node that rebooted or dropped off the network sends no reset:
    # keepalives end it within 15 s instead of TCP's many minutes, so the next run connects
    # afresh.
    return " ".join(
        [
            "-o ControlMaster=auto -o ControlPersist=60s",
            "-o ServerAliveInterval=5 -o ServerAliveCountMax=3",
            *host_key_options(config),
        ]
    )


def control_path_dir(config: Config) -> Path:
    """ssh's control sockets, one directory per operator (runner directory): an open
    connection is reused only by the operator, and the known_hosts, that opened it. Short,
    since a socket path is at most 108 bytes."""
    digest = hashlib.sha256(str(config.runner_dir).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"nmstate-cp-{digest}"


def environment(config: Config, forks: int) -> dict[str, str]:
    return {
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_path_dir(config)),
        "ANSIBLE_COLLECTIONS_PATH": str(config.collections_path),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_SSH_ARGS": ssh_args(config),
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
    host_data_files: dict[str, dict[str, object]] | None = None,
    host_settings: dict[str, dict] | None = None,
    on_host_ok: Callable[[str, HostOutcome], None] | None = None,
) -> RunResult:
    """Run collection playbook `playbook` (e.g. nodenet.nmstate.report) over `nodes`.

    `limit` restricts the run to some of the nodes (ansible's --limit); forks follow it.
    Runs for the same `purpose` share a private data dir whose artifacts are rotated.
    `record` (kind, policy, generation...) goes into the run records with the nodes.
    `settings` are plain role variables (numbers, flags) from the operator's own configuration.
    `data_files` become JSON files next to the run and reach the playbook as `<name>_file`
    variables holding their paths: data never passes through a command line or a template.
    `host_data_files` do the same per node (node -> name -> content), as host variables: one
    run gives each node its own data (a revert state). `host_settings` are plain variables of
    our own per node (node -> variables), like `settings`. `on_host_ok` (node, outcome so
    far) is called as each task of a node succeeds, during the run.
    """
    private = config.runner_dir / purpose_dir(purpose)
    ident = f"{private.name}-{time.strftime('%Y%m%dT%H%M%S')}-{time.monotonic_ns() % 10**6}"
    targets = sorted(limit) if limit is not None else sorted(nodes)
    refused = without_known_host_key(config, targets)
    if refused:
        targets = [node for node in targets if node not in refused]
        limit = targets
    collector = EventCollector(targets, on_host_ok)
    base = dict(record or {}, run=ident, playbook=playbook, nodes=targets)
    if not targets:
        return RunResult("failed", 1, refused, ident)
    journal.record(config.runner_dir, dict(base, event="start"))
    started = time.monotonic()
    try:
        # Inventory and variables are written as data Ansible never templates (!unsafe): a
        # Node's address or a policy's name must not become a template.
        extravars = dict(settings or {}, **write_data_files(private / "data", data_files or {}))
        host_vars = {node: dict(each) for node, each in (host_settings or {}).items()}
        for node, files in (host_data_files or {}).items():
            host_vars.setdefault(node, {}).update(
                write_data_files(private / "data" / "hosts" / inventory_name(node), files)
            )
        write_unsafe_yaml(private / "env" / "extravars", extravars)
        hosts = write_unsafe_yaml(private / "inventory.yml", inventory(nodes, config, host_vars))
        runner = ansible_runner.run(
            private_data_dir=str(private),
            playbook=playbook,
            inventory=str(hosts),
            limit=",".join(inventory_name(n) for n in targets) if limit is not None else None,
            envvars=environment(config, len(targets)),
            ident=ident,
            rotate_artifacts=config.max_runner_artifacts,
            suppress_env_files=True,
            quiet=True,
            event_handler=collector,
        )
    finally:
        # The state files may hold secrets: they live only as long as the run.
        shutil.rmtree(private / "data", ignore_errors=True)
    confirm_lost_host_key_refusals(config, nodes, collector.hosts)
    duration = time.monotonic() - started
    metrics.RUN_DURATION.labels(playbook).observe(duration)
    ok = sorted(name for name, outcome in collector.hosts.items() if outcome.ok)
    journal.record(config.runner_dir, dict(base, event="end", status=runner.status, ok=ok))
    return RunResult(
        runner.status,
        runner.rc,
        dict(collector.hosts, **refused),
        ident,
        duration,
        _stdout_tail(runner),
    )


def confirm_lost_host_key_refusals(
    config: Config, nodes: dict[str, str], outcomes: dict[str, HostOutcome]
) -> None:
    """Nodes whose failure lost ssh's own words: ssh is asked again whether it refuses their
    host key, and a refusal is recorded as such (see host_key_check)."""
    lost = [
        node
        for node, outcome in outcomes.items()
        if outcome.unreachable and host_key_check.answer_was_lost(outcome.failures)
    ]
    if not lost:
        return
    key, options = str(usable_private_key(config)), host_key_options(config)

    def refused(node: str) -> bool:
        return host_key_check.ssh_refuses_host_key(
            nodes[node], inventory_name(node), config.ssh_user, key, options
        )

    with ThreadPoolExecutor(max_workers=min(len(lost), config.forks)) as pool:
        verdicts = dict(zip(lost, pool.map(refused, lost), strict=True))
    for node, is_refused in verdicts.items():
        if is_refused:
            outcomes[node].failures.append(f"{HOST_KEY_REFUSED} (ssh, asked again)")


def without_known_host_key(config: Config, nodes: list[str]) -> dict[str, HostOutcome]:
    """Under strict checking, the nodes whose key known_hosts cannot hold, as refused by ssh:
    they are left out of the run (see known_hosts)."""
    if config.host_key_policy != "strict":
        return {}
    known = known_hosts_at(config.known_hosts_file())
    return {
        node: HostOutcome(
            ok=False,
            unreachable=True,
            failures=[f"{HOST_KEY_REFUSED}: no key is known for {inventory_name(node)}"],
        )
        for node in nodes
        if not known.may_know(inventory_name(node))
    }
