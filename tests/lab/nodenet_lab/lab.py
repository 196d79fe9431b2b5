"""Bringing the whole lab up and down, and saying what is running."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import controlplane, infra, inventory, nodes, procs, settings, tools
from .settings import LabSpec
from .sh import link_exists, netns_list, run

STATE_FILE = "lab.json"


@dataclass
class LabState:
    """What `up` started, saved as it goes so that `down` can undo even a failed `up`."""

    spec: LabSpec
    node_inits: dict[str, procs.Tracked] = field(default_factory=dict)
    services: list[procs.Tracked] = field(default_factory=list)

    def save(self, state_dir: Path) -> None:
        data = {
            "spec": self.spec.to_dict(),
            "node_inits": {name: proc.to_dict() for name, proc in self.node_inits.items()},
            "services": [proc.to_dict() for proc in self.services],
        }
        tmp = state_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(state_dir / STATE_FILE)

    @classmethod
    def load(cls, state_dir: Path) -> LabState | None:
        path = state_dir / STATE_FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(
            spec=LabSpec.from_dict(data["spec"]),
            node_inits={k: procs.Tracked(**v) for k, v in data["node_inits"].items()},
            services=[procs.Tracked(**v) for v in data["services"]],
        )

    def dead(self) -> list[str]:
        tracked = [*self.node_inits.values(), *self.services]
        return [proc.name for proc in tracked if not procs.is_alive(proc)]


def log(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)


def node_dir(state_dir: Path, name: str) -> Path:
    return state_dir / "nodes" / name


def ensure_ssh_key(state_dir: Path) -> Path:
    keys = state_dir / "keys"
    key = keys / "id_ed25519"
    if not key.exists():
        keys.mkdir(parents=True, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nodenet-lab", "-f", str(key)])
    shutil.copyfile(keys / "id_ed25519.pub", keys / "authorized_keys")
    return key


def up(spec: LabSpec, state_dir: Path = settings.STATE_DIR) -> LabState:
    """Bring the lab to `spec`. A lab already up with the same spec is left as it is."""
    current = LabState.load(state_dir)
    if current is not None:
        if current.spec == spec and not current.dead():
            log(f"already up with {len(spec.nodes)} nodes; nothing to do")
            return current
        reason = (
            "with another spec"
            if current.spec != spec
            else f"broken ({', '.join(current.dead())} gone)"
        )
        log(f"a lab is up {reason}: taking it down first")
        down(state_dir)

    started = time.monotonic()
    nmstate = tools.ensure_nmstate()
    binaries = tools.ensure_control_plane() if spec.control_plane else None
    nodes.check_subnet_free()
    state_dir.mkdir(parents=True, exist_ok=True)
    for leftover in ("nodes", "logs", "ssh-cp"):
        shutil.rmtree(state_dir / leftover, ignore_errors=True)
    (state_dir / "ssh-cp").mkdir()
    key = ensure_ssh_key(state_dir)

    lab = LabState(spec)
    lab.save(state_dir)
    try:
        nodes.ensure_mgmt_bridge()
        nodes.ensure_switch(spec.data_links)
        lab.services.append(nodes.start_dns(state_dir, spec.nodes))
        lab.save(state_dir)
        if spec.data_links >= 2:
            lab.services.append(nodes.start_dhcp(state_dir))
            lab.save(state_dir)
        dirs = {node.name: node_dir(state_dir, node.name) for node in spec.nodes}
        for node in spec.nodes:
            nodes.prepare_node_dir(
                node, dirs[node.name], state_dir / "keys" / "authorized_keys", nmstate
            )
            nodes.create_links(node, spec.data_links)
            lab.node_inits[node.name] = nodes.start_node(node, dirs[node.name])
            lab.save(state_dir)
        nodes.wait_for_ssh(list(spec.nodes), dirs)
        log(f"{len(spec.nodes)} nodes answer SSH after {time.monotonic() - started:.1f} s")
        if binaries is not None:
            lab.services.extend(controlplane.start(state_dir, binaries))
            lab.save(state_dir)
            lab.services.append(
                procs.spawn(
                    "api-forward",
                    [sys.executable, "-m", "nodenet_lab", "forward"],
                    state_dir / "logs" / "api-forward.log",
                    env=dict(os.environ, PYTHONPATH=str(settings.LAB_DIR)),
                )
            )
            lab.save(state_dir)
            controlplane.register_nodes(state_dir / "kubeconfig", spec, state_dir)
            lab.services.append(
                procs.spawn(
                    "heartbeat",
                    [sys.executable, "-m", "nodenet_lab", "heartbeat"],
                    state_dir / "logs" / "heartbeat.log",
                    env=dict(
                        os.environ,
                        PYTHONPATH=str(settings.LAB_DIR),
                        NODENET_LAB_STATE=str(state_dir),
                    ),
                )
            )
            lab.save(state_dir)
            log(f"control plane ready at {controlplane.apiserver_url()}")
        if spec.kubelet:
            started_infra = infra.start(state_dir, binaries)
            lab.services.extend(started_infra)
            lab.save(state_dir)
            infra.wait_ready(state_dir / "kubeconfig", started_infra)
            log(f"infra node {infra.NAME} Ready (kubelet, containerd, kube-proxy)")
        inventory.write(state_dir, spec, key)
        inventory.write_known_hosts(state_dir, spec, dirs)
    except BaseException:
        log("up failed; taking down what it started")
        down(state_dir)
        raise
    log(f"up in {time.monotonic() - started:.1f} s; use it with: . {state_dir / 'env.sh'}")
    return lab


def close_ssh_masters(control_dir: Path) -> None:
    """Ask Ansible's SSH connection masters for the lab's nodes to exit, through their sockets."""
    if not control_dir.is_dir():
        return
    for socket_path in control_dir.iterdir():
        run(["ssh", "-O", "exit", "-o", f"ControlPath={socket_path}", "lab-node"], check=False)


def down(state_dir: Path = settings.STATE_DIR) -> None:
    """Stop everything the lab started, by recorded PID, and remove its namespaces and links."""
    lab = LabState.load(state_dir)
    if lab is None:
        leftovers = sorted(ns for ns in netns_list() if ns.startswith(settings.NETNS_PREFIX))
        if leftovers or link_exists(settings.MGMT_BRIDGE):
            log(f"no lab state in {state_dir}, but lab links or namespaces remain: removing them")
            for ns in leftovers:
                run(["ip", "netns", "del", ns], check=False)
            nodes.remove_network()
        return
    for proc in reversed(lab.services):
        procs.stop(proc)
    if lab.spec.kubelet:
        infra.destroy(state_dir)
    close_ssh_masters(state_dir / "ssh-cp")
    for node in lab.spec.nodes:
        nodes.destroy_node(node, lab.node_inits.get(node.name))
    nodes.remove_network()
    shutil.rmtree(state_dir / "etcd", ignore_errors=True)
    (state_dir / STATE_FILE).unlink()
    log("down")


def status(state_dir: Path = settings.STATE_DIR) -> dict:
    lab = LabState.load(state_dir)
    if lab is None:
        return {"up": False}
    return {
        "up": not lab.dead(),
        "dead": lab.dead(),
        "state_dir": str(state_dir),
        "kubeconfig": str(state_dir / "kubeconfig") if lab.spec.control_plane else None,
        "inventory": str(state_dir / "inventory.yml"),
        "nodes": [
            {
                "name": node.name,
                "address": node.address,
                "network_manager": node.network_manager,
                "libnmstate": node.libnmstate,
                "alive": procs.is_alive(lab.node_inits[node.name])
                if node.name in lab.node_inits
                else False,
                "ssh": nodes.ssh_answers(node.address),
            }
            for node in lab.spec.nodes
        ],
        "services": {proc.name: procs.is_alive(proc) for proc in lab.services},
    }
