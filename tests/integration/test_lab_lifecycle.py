"""The lab comes up from nothing and `down` leaves the machine as it found it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nodenet_lab import controlplane, lab, settings, tools
from nodenet_lab.sh import link_exists, netns_list

LAB_PROGRAMS = {
    "sshd",
    "NetworkManager",
    "dbus-daemon",
    "nm-dispatcher",
    "dnsmasq",
    *tools.CONTROL_PLANE_BINARIES,  # with the infra node's kubelet and kube-proxy
    "containerd",
    "containerd-shim-runc-v2",
    "pause",
    "unshare",
    "node-init.sh",
}


def processes() -> dict[int, tuple[str, str]]:
    """pid -> (program, network namespace) for every process we can see."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            netns = os.readlink(entry / "ns" / "net")
        except OSError:
            continue
        # Daemons retitle themselves ("sshd: /usr/sbin/sshd -D ... [listener]"): first word only.
        first = argv[0].decode(errors="replace").split()
        program = os.path.basename(first[0]).rstrip(":") if first else ""
        if program in ("bash", "python", "python3") and len(argv) > 1:
            program = os.path.basename(argv[1].decode(errors="replace")) or program
        table[int(entry.name)] = (program, netns)
    return table


def lab_processes(table: dict[int, tuple[str, str]]) -> set[int]:
    return {pid for pid, (program, _) in table.items() if program in LAB_PROGRAMS}


@pytest.mark.lab_lifecycle
def test_two_nodes_and_the_control_plane_come_up_from_nothing_and_go_away_without_a_trace():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    lab.down()
    netns_before = netns_list()
    lab_pids_before = lab_processes(processes())
    spec = settings.build_spec(
        2, nm="node02" if Path("/usr/sbin/NetworkManager").exists() else "none", kubelet=True
    )
    try:
        first = lab.up(spec)
        report = lab.status()
        assert report["up"], report
        assert [n["ssh"] for n in report["nodes"]] == [True, True]
        node_namespaces = {
            netns for program, netns in processes().values() if program == "sshd"
        } - {os.readlink("/proc/self/ns/net")}
        assert len(node_namespaces) == 2, (
            "each node runs its sshd in a network namespace of its own"
        )

        core = controlplane.api_client(settings.STATE_DIR / "kubeconfig")
        listed = {n.metadata.name: n for n in core.list_node().items}
        assert sorted(listed) == ["infra01", "node01", "node02"]
        for node in spec.nodes:
            addresses = {a.type: a.address for a in listed[node.name].status.addresses}
            assert addresses["InternalIP"] == node.address

        again = lab.up(spec)
        assert again.node_inits == first.node_inits, "a second `up` must not restart anything"
        assert again.services == first.services
    finally:
        lab.down()

    assert netns_list() == netns_before
    assert not link_exists(settings.MGMT_BRIDGE)
    after = processes()
    assert lab_processes(after) == lab_pids_before
    left_in_nodes = {pid: prog for pid, (prog, netns) in after.items() if netns in node_namespaces}
    assert left_in_nodes == {}, "no process may survive in a node's namespace"
    assert lab.status() == {"up": False}
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(settings.STATE_DIR) + "/" not in mounts, "the kubelet's volume mounts are gone"
    in_pod_cgroups = [
        procs_file
        for procs_file in Path("/sys/fs/cgroup/pids").glob("kubepods/**/cgroup.procs")
        if procs_file.read_text().strip()
    ]
    assert in_pod_cgroups == [], "no container process outlives the infra node"
