"""The operator's settings, from flags and environment variables."""

from __future__ import annotations

import argparse
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_probes import (
    DEFAULT_PROBES,
    split_endpoint,
)

from .nodes import NodeSelector
from .probes import ProbeRules


@dataclass(frozen=True)
class Config:
    # Where the collection lives: a directory holding ansible_collections/nodenet/nmstate.
    collections_path: Path
    runner_dir: Path
    ssh_private_key: Path
    # Host keys: "strict" checks them against known_hosts (keyed by Node name); with
    # "trust-on-first-use" the first key a node shows is recorded and must not change.
    known_hosts: Path | None = None
    host_key_policy: str = "strict"
    ssh_user: str = "root"
    python_interpreter: str = "/usr/bin/python3"
    address_type: str = "InternalIP"
    # The Nodes this operator manages; the others get no NNS and no runs.
    node_selector: NodeSelector = field(default_factory=NodeSelector)
    report_interval: float = 60.0
    # A new policy generation waits this long before its first batch (nncp/step.py says why).
    policy_settle_seconds: float = 0.5
    max_runner_artifacts: int = 10
    forks: int = 50
    liveness: str | None = None
    metrics_bind_address: str | None = ":8089"
    probe_timeout: int = 20
    max_probe_timeout: int = 120
    skippable_probes: str = ""
    dns_probe_name: str = "root-servers.net"
    # host:port for the api-server probe; "auto": the kubernetes Service's endpoints; "none".
    api_server_endpoint: str = "auto"
    rollback_timeout: int = 60
    max_retries: int = 5
    revert_timeout: int = 600
    peering: str | None = None
    priority: int = 0
    peering_lifetime: int = 60
    log_format: str = "json"

    def known_hosts_file(self) -> Path:
        """The known_hosts ssh checks: the admin's, or ours when trusting on first use."""
        return self.known_hosts or self.runner_dir / "known_hosts"

    def probe_rules(self) -> ProbeRules:
        return ProbeRules(
            timeout=self.probe_timeout,
            max_timeout=self.max_probe_timeout,
            rollback_timeout=self.rollback_timeout,
            skippable=frozenset(skippable_names(self.skippable_probes)),
            dns_name=self.dns_probe_name,
        )


def skippable_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def priority(value: str) -> int:
    """A number, 'random', or 'oldest': the replica that started first ranks highest, so a
    new or restarted replica joins as a standby and never takes over from a working leader
    (kopf acts at once on a higher priority, before the old leader has seen it). The random
    last digits keep replicas started in the same millisecond from tying (kopf pauses both)."""
    if value == "random":
        return random.randint(1, 1_000_000)
    if value == "oldest":
        return (OLDEST_EPOCH_MS - int(time.time() * 1000)) * 1000 + random.randint(0, 999)
    return int(value)


# Milliseconds past which 'oldest' would turn negative: the year 2286.
OLDEST_EPOCH_MS = 10**13


# Every flag: name, type, default (as the environment would give it; None = required or
# unset) and help. Each also reads NMSTATE_OPERATOR_<NAME> (upper case, '-' as '_').
REQUIRED = ("collections-path", "ssh-private-key")
FLAGS: tuple[tuple[str, object, str | None, str], ...] = (
    ("collections-path", Path, None, "directory with ansible_collections/nodenet/nmstate"),
    ("runner-dir", Path, "/var/lib/nmstate-operator/runner", "runner data dirs and artifacts"),
    ("ssh-private-key", Path, None, "SSH key for the nodes, e.g. mounted from a Secret"),
    ("known-hosts", Path, None, "known_hosts with each node's host key under its Node name"),
    ("host-key-policy", str, "strict", "strict (needs --known-hosts) or trust-on-first-use"),
    ("ssh-user", str, "root", "user on the nodes"),
    ("python-interpreter", str, "/usr/bin/python3", "Python on the nodes"),
    ("address-type", str, "InternalIP", "which Node address to reach nodes at"),
    ("node-selector", str, "", "Nodes to manage, a label selector (k=v,k!=v,k,!k); '' = all"),
    ("report-interval", float, "60", "seconds between report runs over all nodes"),
    ("policy-settle-seconds", float, "0.5", "a new policy generation waits this long to run"),
    ("max-runner-artifacts", int, "10", "ansible-runner artifact dirs kept per purpose"),
    ("forks", int, "50", "most nodes one run works on at once"),
    ("liveness", str, None, "serve a liveness endpoint, e.g. http://0.0.0.0:8080/healthz"),
    ("metrics-bind-address", str, ":8089", "serve Prometheus /metrics on host:port; '' = off"),
    ("probe-timeout", int, "20", "seconds each connectivity probe may take after an apply"),
    ("max-probe-timeout", int, "120", "the most a policy's probes.timeoutSeconds may ask"),
    ("skippable-probes", str, "", "default probes a policy may skip (comma list); '' = none"),
    ("dns-probe-name", str, "root-servers.net", "the name the dns probe resolves on nodes"),
    ("api-server-endpoint", str, "auto", "host:port for the api-server probe; auto; none"),
    ("rollback-timeout", int, "60", "seconds after which a node undoes an unconfirmed change"),
    ("max-retries", int, "5", "attempts on an unreachable node before its apply fails"),
    ("revert-timeout", int, "600", "seconds a deleted policy's reverts may hold its deletion"),
    ("peering", str, None, "kopf peering object for leader election; none: standalone"),
    ("priority", priority, "0", "peering priority (highest runs); 'random'; 'oldest' leads"),
    ("peering-lifetime", int, "60", "seconds a silent peer is still counted as alive"),
    ("log-format", str, "json", "json or text"),
)


def parse(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m nmstate_operator",
        description="Run the nmstate operator. Every flag also reads NMSTATE_OPERATOR_<FLAG> "
        "(upper case, '-' as '_'). The Kubernetes connection comes from KUBECONFIG or in-cluster.",
    )
    for flag, kind, default, text in FLAGS:
        value = os.environ.get("NMSTATE_OPERATOR_" + flag.upper().replace("-", "_"), default)
        required = " (required)" if flag in REQUIRED else ""
        shown = f" (default {default})" if default else ""
        parser.add_argument(
            f"--{flag}",
            type=kind,
            default=None if value is None else kind(value),
            help=text + required + shown,
        )
    args = parser.parse_args(argv)
    missing = [flag for flag in REQUIRED if getattr(args, flag.replace("-", "_")) is None]
    if missing:
        parser.error("missing " + ", ".join("--" + flag for flag in missing))
    if args.log_format not in ("json", "text"):
        parser.error("--log-format must be json or text")
    if args.host_key_policy not in ("strict", "trust-on-first-use"):
        parser.error("--host-key-policy must be strict or trust-on-first-use")
    if args.host_key_policy == "strict" and args.known_hosts is None:
        parser.error(
            "--known-hosts is required: host keys are checked (or choose "
            "--host-key-policy trust-on-first-use)"
        )
    unknown = set(skippable_names(args.skippable_probes)) - set(DEFAULT_PROBES)
    if unknown:
        parser.error(
            f"--skippable-probes: no default probe {', '.join(sorted(unknown))} "
            f"(they are {', '.join(DEFAULT_PROBES)})"
        )
    if args.api_server_endpoint not in ("auto", "none"):
        try:
            split_endpoint(args.api_server_endpoint)
        except ValueError as exc:
            parser.error(f"--api-server-endpoint: {exc}")
    values = vars(args)  # every flag's dest is the Config field of the same name
    try:
        values["node_selector"] = NodeSelector.parse(args.node_selector)
    except ValueError as exc:
        parser.error(f"--node-selector: {exc}")
    values["metrics_bind_address"] = values["metrics_bind_address"] or None
    return Config(**values)
