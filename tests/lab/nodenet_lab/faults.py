"""Faults the lab injects on purpose: node reboots, partitions, slow links, sshd stops and
control-plane restarts. Each works on a lab that is up, through its saved state."""

from __future__ import annotations

import contextlib
import os
import re
import signal
from pathlib import Path

from . import controlplane, nodes, procs, settings, tools
from .lab import LabState, node_dir
from .settings import NodeSpec
from .sh import LabError, run

KINDS = ("reboot", "partition", "heal", "slow", "sshd-stop", "sshd-start", "restart")


def _lab(state_dir: Path) -> LabState:
    lab = LabState.load(state_dir)
    if lab is None:
        raise LabError("no lab is up")
    return lab


def _node(lab: LabState, name: str) -> NodeSpec:
    for node in lab.spec.nodes:
        if node.name == name:
            return node
    raise LabError(f"no node {name}; nodes are {sorted(lab.spec.names)}")


def reboot(name: str, state_dir: Path = settings.STATE_DIR) -> str:
    """Take the node's namespaces down and start them again: every process and all kernel
    network state go; what the node keeps on disk (NetworkManager's profiles, its host keys)
    stays. Returns the new boot ID, also published on the Node as a kubelet would."""
    lab = _lab(state_dir)
    node = _node(lab, name)
    directory = node_dir(state_dir, name)
    nodes.destroy_node(node, lab.node_inits.get(name))
    nodes.create_links(node, lab.spec.data_links)
    lab.node_inits[name] = nodes.start_node(node, directory)
    lab.save(state_dir)
    nodes.wait_for_ssh([node], {name: directory})
    # A kubelet publishes the new boot once the node is up, not before.
    boot = nodes.new_boot_id(directory)
    if lab.spec.control_plane:
        controlplane.publish_boot(state_dir / "kubeconfig", node, boot)
    return boot


def partition(name: str, state_dir: Path = settings.STATE_DIR) -> None:
    """Cut the node's management link at the lab's switch: the link stays up on the node, and
    nothing gets through either way."""
    node = _node(_lab(state_dir), name)
    run(["ip", "link", "set", node.host_veth, "nomaster"])


def heal(name: str, state_dir: Path = settings.STATE_DIR) -> None:
    node = _node(_lab(state_dir), name)
    run(["ip", "link", "set", node.host_veth, "master", settings.MGMT_BRIDGE])


def slow(name: str, delay_ms: int, state_dir: Path = settings.STATE_DIR) -> None:
    """Delay everything to and from the node by `delay_ms` (netem); 0 removes the delay."""
    node = _node(_lab(state_dir), name)
    run(["tc", "qdisc", "del", "dev", node.host_veth, "root"], check=False)
    if delay_ms <= 0:
        return
    if not netem_available():
        raise LabError(NO_NETEM)
    run(["tc", "qdisc", "add", "dev", node.host_veth, "root", "netem", "delay", f"{delay_ms}ms"])


NO_NETEM = (
    "this kernel has no netem queueing discipline (sch_netem), so the lab cannot delay a link"
)


def netem_available() -> bool:
    """Whether tc knows netem here (tried on the lab's own bridge, and removed at once)."""
    bridge = settings.MGMT_BRIDGE
    try:
        run(["tc", "qdisc", "add", "dev", bridge, "root", "netem", "delay", "0ms"])
    except LabError:
        return False
    run(["tc", "qdisc", "del", "dev", bridge, "root"], check=False)
    return True


def _node_init_pid(directory: Path) -> int:
    """PID (as the host sees it) of the node's init, the namespaces to enter."""
    wanted = f"node-init.sh\0{directory}\0"
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_text()
            except OSError:
                continue
            if cmdline.endswith(wanted) and "unshare" not in cmdline:
                return int(entry)
    raise LabError(f"the init of the node in {directory} is not running")


def _sshd_pids(directory: Path) -> list[int]:
    """The node's sshd processes, listener and sessions: every `sshd` in its PID namespace."""
    try:
        namespace = os.readlink(f"/proc/{_node_init_pid(directory)}/ns/pid")
    except (LabError, OSError):
        return []
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                comm = Path(f"/proc/{entry}/comm").read_text().strip()
                same = os.readlink(f"/proc/{entry}/ns/pid") == namespace
            except OSError:
                continue
            if comm == "sshd" and same:
                found.append(int(entry))
    return found


def sshd_stop(name: str, state_dir: Path = settings.STATE_DIR) -> None:
    """Stop the node's sshd and every session it serves, as when sshd dies: the node runs on,
    and nobody gets in over SSH until sshd_start."""
    _node(_lab(state_dir), name)
    for pid in _sshd_pids(node_dir(state_dir, name)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def sshd_start(name: str, state_dir: Path = settings.STATE_DIR) -> None:
    node = _node(_lab(state_dir), name)
    directory = node_dir(state_dir, name)
    if nodes.ssh_answers(node.address):
        return
    pid = _node_init_pid(directory)
    sshd = [
        "/usr/sbin/sshd",
        "-f",
        str(directory / "sshd_config"),
        "-E",
        str(directory / "sshd.log"),
    ]
    run(["nsenter", "-t", str(pid), "-n", "-m", "-u", "-p", "--", *sshd])
    nodes.wait_for_ssh([node], {name: directory})


def _service(lab: LabState, service: str) -> int:
    if service not in controlplane.ARGV:
        raise LabError(f"{service!r} is not one of {', '.join(controlplane.ARGV)}")
    index = next((i for i, p in enumerate(lab.services) if p.name == service), None)
    if index is None:
        raise LabError(f"{service} is not part of this lab")
    return index


def stop(service: str, state_dir: Path = settings.STATE_DIR) -> None:
    """Stop a control-plane process (start brings it back on the same data)."""
    lab = _lab(state_dir)
    procs.stop(lab.services[_service(lab, service)])


def start(service: str, state_dir: Path = settings.STATE_DIR) -> None:
    """Start a stopped control-plane process again; returns once the API server answers."""
    lab = _lab(state_dir)
    index = _service(lab, service)
    if not procs.is_alive(lab.services[index]):
        controlplane.wait_ports_free(service)
        lab.services[index] = controlplane.spawn(service, state_dir, tools.ensure_control_plane())
        lab.save(state_dir)
    running = [p for p in lab.services if p.name in controlplane.ARGV]
    controlplane.wait_ready(state_dir / "pki", running)


def restart(service: str, state_dir: Path = settings.STATE_DIR) -> None:
    """Stop a control-plane process and start it again on the same data (etcd keeps its store);
    returns once the API server answers again."""
    stop(service, state_dir)
    start(service, state_dir)


def valid_delay(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,5}", text):
        raise LabError(f"slow: the delay is milliseconds (0-99999), not {text!r}")
    return int(text)
