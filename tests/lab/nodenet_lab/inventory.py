"""What the lab hands to Ansible and to tests: an inventory, an ansible.cfg and an env file."""

from __future__ import annotations

from pathlib import Path

import yaml

from .settings import LabSpec


def write(state: Path, spec: LabSpec, private_key: Path) -> None:
    hosts = {
        node.name: {
            "ansible_host": node.address,
            "lab_network_manager": node.network_manager,
            "lab_libnmstate": node.libnmstate,
        }
        for node in spec.nodes
    }

    def group(predicate) -> dict:
        return {"hosts": {node.name: None for node in spec.nodes if predicate(node)}}

    inventory = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(private_key),
                "ansible_python_interpreter": "/usr/bin/python3",
            },
            "children": {
                "nodes": {"hosts": hosts},
                "nm_nodes": group(lambda n: n.network_manager),
                "kernel_nodes": group(lambda n: not n.network_manager),
                "libnmstate_nodes": group(lambda n: n.libnmstate),
                "nmstatectl_nodes": group(lambda n: not n.libnmstate),
            },
        }
    }
    (state / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    (state / "ansible.cfg").write_text(
        f"""\
# Written by the nodenet lab.
[defaults]
inventory = {state / "inventory.yml"}
host_key_checking = False
forks = 50
interpreter_python = /usr/bin/python3

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
control_path_dir = {state / "ssh-cp"}
"""
    )
    (state / "env.sh").write_text(
        f"""\
# Source this file to use the running lab: . {state / "env.sh"}
export KUBECONFIG={state / "kubeconfig"}
export ANSIBLE_CONFIG={state / "ansible.cfg"}
export NODENET_LAB_INVENTORY={state / "inventory.yml"}
"""
    )


def write_known_hosts(state: Path, spec: LabSpec, node_dirs: dict[str, Path]) -> Path:
    """known_hosts with each node's own host key under its name (ssh's HostKeyAlias), as an
    admin gives it to the operator."""
    lines = []
    for node in spec.nodes:
        key_type, key = (node_dirs[node.name] / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        lines.append(f"{node.name} {key_type} {key}\n")
    target = state / "known_hosts"
    target.write_text("".join(lines))
    return target
