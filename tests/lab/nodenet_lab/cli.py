"""labctl: up, status and down for the nodenet lab."""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import controlplane, deploy, faults, forward, infra, lab, settings, tools
from .sh import LabError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="labctl",
        description="Real nmstate, a real Kubernetes API server and SSH nodes in namespaces.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="bring the lab up (a no-op if it is already up as asked)")
    up.add_argument("--nodes", type=int, default=2, help="number of nodes (default 2)")
    up.add_argument(
        "--nm",
        default="none",
        help="nodes that run NetworkManager: all, none, odd, even or names (default none)",
    )
    up.add_argument(
        "--libnmstate",
        default="all",
        help="nodes where Python can import libnmstate; the others have only nmstatectl "
        "(all, none, odd, even or names; default all)",
    )
    up.add_argument("--data-links", type=int, default=2, help="eth1..ethN per node (default 2)")
    up.add_argument("--no-control-plane", action="store_true", help="nodes only, no Kubernetes")
    up.add_argument(
        "--kubelet",
        action="store_true",
        help="also an infra node with a real kubelet, containerd and kube-proxy for pods",
    )
    sub.add_parser(
        "build",
        help="build nmstate, Kubernetes and the container runtime into the cache (if missing)",
    )
    sub.add_parser("status", help="print what runs, as JSON")
    sub.add_parser(
        "install-operator",
        help="install the operator in the cluster as users do (needs up --kubelet)",
    )
    sub.add_parser("uninstall-operator", help="uninstall it in the documented order")
    sub.add_parser(
        "load-images", help="rebuild the operator image from this checkout into the infra node"
    )
    sub.add_parser("down", help="stop everything the lab started and remove its links")
    for command, text in (
        ("reboot", "restart a node's namespaces: kernel state lost, disk kept, new boot ID"),
        ("partition", "cut a node's management link (heal undoes it)"),
        ("heal", "restore a node's management link"),
        ("sshd-stop", "stop a node's sshd and its sessions"),
        ("sshd-start", "start a node's sshd again"),
    ):
        sub.add_parser(command, help=text).add_argument("node")
    slow = sub.add_parser("slow", help="delay a node's management link (netem; 0 removes)")
    slow.add_argument("node")
    slow.add_argument("delay_ms", help="milliseconds")
    restart = sub.add_parser(
        "restart", help="restart etcd, kube-apiserver or the controller manager"
    )
    restart.add_argument("service")
    sub.add_parser("heartbeat", help=argparse.SUPPRESS)
    sub.add_parser("forward", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    state_dir = settings.STATE_DIR
    if os.geteuid() != 0 and args.command not in ("status", "build"):
        print("labctl: the lab creates namespaces and links; run it as root", file=sys.stderr)
        return 2
    try:
        if args.command == "up":
            spec = settings.build_spec(
                args.nodes,
                args.nm,
                args.libnmstate,
                args.data_links,
                not args.no_control_plane,
                args.kubelet,
            )
            lab.up(spec, state_dir)
            print(json.dumps(lab.status(state_dir), indent=2))
        elif args.command == "build":
            print(tools.ensure_nmstate())
            print(tools.ensure_control_plane())
            print(tools.ensure_node_runtime())
        elif args.command == "status":
            report = lab.status(state_dir)
            print(json.dumps(report, indent=2))
            return 0 if report["up"] else 1
        elif args.command == "install-operator":
            infra.load_images(state_dir)
            for pod in deploy.install(state_dir / "kubeconfig", state_dir):
                print(pod)
        elif args.command == "uninstall-operator":
            deploy.uninstall(state_dir / "kubeconfig")
        elif args.command == "load-images":
            infra.load_images(state_dir)
        elif args.command == "down":
            lab.down(state_dir)
        elif args.command == "reboot":
            print(faults.reboot(args.node, state_dir))
        elif args.command in ("partition", "heal", "sshd-stop", "sshd-start"):
            getattr(faults, args.command.replace("-", "_"))(args.node, state_dir)
        elif args.command == "slow":
            faults.slow(args.node, faults.valid_delay(args.delay_ms), state_dir)
        elif args.command == "restart":
            faults.restart(args.service, state_dir)
        elif args.command == "forward":
            forward.serve(
                (settings.API_ADDRESS, settings.APISERVER_PORT),
                ("127.0.0.1", settings.APISERVER_PORT),
            )
        elif args.command == "heartbeat":
            current = lab.LabState.load(state_dir)
            if current is None:
                raise LabError("no lab is up")
            controlplane.heartbeat(state_dir / "kubeconfig", current.spec, state_dir)
    except (LabError, ValueError) as exc:
        print(f"labctl: {exc}", file=sys.stderr)
        return 1
    return 0
