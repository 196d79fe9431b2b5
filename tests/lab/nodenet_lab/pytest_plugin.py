"""Session-scoped pytest fixtures that give tests a running lab: nodes, inventory, kubeconfig.

The lab is brought up once per session and taken down at the end, unless NODENET_LAB_KEEP=1,
which keeps it (and reuses it next time) for quick iteration.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import lab as lab_module
from . import settings

# One node per combination of mode and access path, so every path is tested on real nmstate.
# The infra node's kubelet runs the operator's own pods for the in-cluster tests.
TEST_SPEC_ARGS = {
    "count": 4,
    "nm": "node03,node04",
    "libnmstate": "node01,node03",
    "kubelet": True,
}


@dataclass(frozen=True)
class LabNode:
    name: str
    address: str
    network_manager: bool
    libnmstate: bool
    private_key: Path

    @property
    def mode(self) -> str:
        return "networkmanager" if self.network_manager else "kernel"

    def ssh_argv(self, command: str) -> list[str]:
        return [
            "ssh",
            "-i",
            str(self.private_key),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=10",
            f"root@{self.address}",
            command,
        ]

    def run(
        self, command: str, *, input: str | None = None, check: bool = True, timeout: float = 120
    ):
        """Run a shell command on the node over real SSH."""
        result = subprocess.run(
            self.ssh_argv(command), input=input, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{self.name}: {command!r} exited {result.returncode}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def nmstatectl(self, *args: str, input: str | None = None, check: bool = True):
        """nmstatectl on the node, in the node's mode (kernel-only where NetworkManager is absent)."""
        kernel = (
            ["--kernel"]
            if not self.network_manager and args and args[0] in ("show", "apply")
            else []
        )
        return self.run(shlex.join(["nmstatectl", *args, *kernel]), input=input, check=check)

    def python(self, code: str, data=None, check: bool = True):
        """Run Python on the node with the system interpreter, `data` as JSON on stdin."""
        return self.run(
            "/usr/bin/python3 -c " + shlex.quote(code),
            input=None if data is None else json.dumps(data),
            check=check,
        )

    def apply(self, state: dict, check: bool = True):
        """Apply through the node's own access path: libnmstate where importable, else nmstatectl."""
        if self.libnmstate:
            kernel_only = not self.network_manager
            return self.python(
                "import json, sys, libnmstate\n"
                f"libnmstate.apply(json.load(sys.stdin), kernel_only={kernel_only})",
                state,
                check=check,
            )
        return self.nmstatectl("apply", input=json.dumps(state), check=check)

    def show(self, iface: str | None = None) -> dict:
        """The node's state (interfaces filtered to `iface` if given) through its access path."""
        if self.libnmstate:
            kernel_only = not self.network_manager
            shown = self.python(
                f"import json, libnmstate; print(json.dumps(libnmstate.show(kernel_only={kernel_only})))"
            )
            state = json.loads(shown.stdout)
            if iface:
                state["interfaces"] = [i for i in state["interfaces"] if i["name"] == iface]
            return state
        return json.loads(self.nmstatectl("show", "--json", *([iface] if iface else [])).stdout)


@dataclass(frozen=True)
class Lab:
    state_dir: Path
    nodes: tuple[LabNode, ...]
    control_plane: bool
    kubelet: bool = False

    @property
    def inventory(self) -> Path:
        return self.state_dir / "inventory.yml"

    @property
    def ansible_cfg(self) -> Path:
        return self.state_dir / "ansible.cfg"

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    def node(self, name: str) -> LabNode:
        return next(node for node in self.nodes if node.name == name)

    def select(self, *, network_manager: bool | None = None, libnmstate: bool | None = None):
        return [
            node
            for node in self.nodes
            if network_manager in (None, node.network_manager)
            and libnmstate in (None, node.libnmstate)
        ]


def lab_from_spec(spec: settings.LabSpec, state_dir: Path) -> Lab:
    key = state_dir / "keys" / "id_ed25519"
    return Lab(
        state_dir,
        tuple(LabNode(n.name, n.address, n.network_manager, n.libnmstate, key) for n in spec.nodes),
        spec.control_plane,
        spec.kubelet,
    )


def network_manager_available() -> bool:
    return all(Path(p).exists() for p in ("/usr/sbin/NetworkManager", "/usr/bin/dbus-daemon"))


@pytest.fixture(scope="session")
def lab():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root to create namespaces and links")
    args = dict(TEST_SPEC_ARGS)
    if not network_manager_available():
        args["nm"] = "none"
    spec = settings.build_spec(**args)
    lab_module.up(spec, settings.STATE_DIR)
    yield lab_from_spec(spec, settings.STATE_DIR)
    if os.environ.get("NODENET_LAB_KEEP") != "1":
        lab_module.down(settings.STATE_DIR)


@pytest.fixture(scope="session")
def kubeconfig(lab) -> Path:
    return lab.kubeconfig


@pytest.fixture(scope="session")
def lab_inventory(lab) -> Path:
    return lab.inventory
