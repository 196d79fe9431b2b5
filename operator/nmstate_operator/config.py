"""The operator's settings, from flags and environment variables."""

from __future__ import annotations

import argparse
import os
import random
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Config:
    # Where the collection lives: a directory holding ansible_collections/nodenet/nmstate.
    collections_path: Path
    runner_dir: Path
    ssh_private_key: Path
    ssh_user: str = "root"
    python_interpreter: str = "/usr/bin/python3"
    address_type: str = "InternalIP"
    report_interval: float = 60.0
    max_runner_artifacts: int = 10
    forks: int = 50
    liveness: str | None = None
    metrics_bind_address: str | None = ":8089"
    probe_timeout: int = 20
    rollback_timeout: int = 60
    max_retries: int = 5
    peering: str | None = None
    priority: int = 0
    peering_lifetime: int = 60
    log_format: str = "json"

    def apply_settings(self) -> dict:
        """Role variables every apply run gets (plain numbers, passed as data)."""
        return {
            "nmstate_probe_timeout": self.probe_timeout,
            "nmstate_rollback_timeout": self.rollback_timeout,
        }


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"NMSTATE_OPERATOR_{name}", default)


def priority(value: str) -> int:
    return random.randint(1, 1_000_000) if value == "random" else int(value)


def parse(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m nmstate_operator",
        description="Run the nmstate operator. Every flag also reads NMSTATE_OPERATOR_<FLAG> "
        "(upper case, '-' as '_'). The Kubernetes connection comes from KUBECONFIG or in-cluster.",
    )
    parser.add_argument("--collections-path", default=env("COLLECTIONS_PATH"),
                        help="directory with ansible_collections/nodenet/nmstate (required)")  # fmt: skip
    parser.add_argument("--runner-dir", default=env("RUNNER_DIR", "/var/lib/nmstate-operator/runner"),
                        help="ansible-runner private data dirs and artifacts")  # fmt: skip
    parser.add_argument("--ssh-private-key", default=env("SSH_PRIVATE_KEY"),
                        help="SSH key for the nodes, e.g. mounted from a Secret (required)")  # fmt: skip
    parser.add_argument("--ssh-user", default=env("SSH_USER", "root"))
    parser.add_argument(
        "--python-interpreter", default=env("PYTHON_INTERPRETER", "/usr/bin/python3")
    )
    parser.add_argument("--address-type", default=env("ADDRESS_TYPE", "InternalIP"),
                        help="which Node address to reach nodes at")  # fmt: skip
    parser.add_argument("--report-interval", type=float, default=float(env("REPORT_INTERVAL", "60")),
                        help="seconds between report runs over all nodes (default 60)")  # fmt: skip
    parser.add_argument(
        "--max-runner-artifacts", type=int, default=int(env("MAX_RUNNER_ARTIFACTS", "10"))
    )
    parser.add_argument("--forks", type=int, default=int(env("FORKS", "50")))
    parser.add_argument("--liveness", default=env("LIVENESS"),
                        help="serve a liveness endpoint, e.g. http://0.0.0.0:8080/healthz")  # fmt: skip
    parser.add_argument("--metrics-bind-address", default=env("METRICS_BIND_ADDRESS", ":8089"),
                        help="serve Prometheus /metrics on host:port (default :8089; '' turns it off)")  # fmt: skip
    parser.add_argument("--probe-timeout", type=int, default=int(env("PROBE_TIMEOUT", "20")),
                        help="seconds each connectivity probe may take after an apply")  # fmt: skip
    parser.add_argument("--rollback-timeout", type=int, default=int(env("ROLLBACK_TIMEOUT", "60")),
                        help="seconds after which a node undoes an unconfirmed change by itself")  # fmt: skip
    parser.add_argument("--max-retries", type=int, default=int(env("MAX_RETRIES", "5")),
                        help="attempts on a node that cannot be reached before its enactment fails")  # fmt: skip
    parser.add_argument("--peering", default=env("PEERING"),
                        help="kopf peering object for leader election (ClusterKopfPeering); "
                        "without it the operator runs standalone")  # fmt: skip
    parser.add_argument("--priority", type=priority, default=priority(env("PRIORITY", "0")),
                        help="peering priority: the highest-priority operator runs, the others wait; "
                        "'random' picks one, so that replicas never tie")  # fmt: skip
    parser.add_argument("--peering-lifetime", type=int, default=int(env("PEERING_LIFETIME", "60")),
                        help="seconds a silent peer is still counted as alive")  # fmt: skip
    parser.add_argument("--log-format", choices=("json", "text"), default=env("LOG_FORMAT", "json"))
    args = parser.parse_args(argv)
    missing = [flag for flag in ("collections_path", "ssh_private_key") if not getattr(args, flag)]
    if missing:
        parser.error("missing " + ", ".join("--" + m.replace("_", "-") for m in missing))
    values = vars(args)  # every flag's dest is the Config field of the same name
    for name in ("collections_path", "runner_dir", "ssh_private_key"):
        values[name] = Path(values[name])
    values["metrics_bind_address"] = values["metrics_bind_address"] or None
    return Config(**values)
