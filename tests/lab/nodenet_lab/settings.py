"""Where the lab keeps things, which versions it pins, and how it numbers its addresses."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

LAB_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = LAB_DIR.parent.parent

NMSTATE_VERSION = "2.2.62"
KUBERNETES_VERSION = "v1.37.2"
# The infra node's container runtime, each built from its own Go module at this version.
CONTAINERD_VERSION = "v2.4.2"
RUNC_VERSION = "v1.5.3"
CNI_PLUGINS_VERSION = "v1.10.0"

# Builds survive the repo (CI clones it afresh); the running lab's state survives nothing.
CACHE_DIR = Path(os.environ.get("NODENET_LAB_CACHE", "/var/cache/nodenet-lab"))
STATE_DIR = Path(os.environ.get("NODENET_LAB_STATE", "/var/lib/nodenet-lab"))

# 10.231.77.0/24 management, 10.231.78.0/24 data link 1 (static), 10.231.79.0/24 data link 2
# (DHCP), 10.231.76.0/24 services beyond the nodes' subnet (the API server's address), reached
# through the default route as on a real cluster. Checked against the machine's own routes at `up`.
MGMT_NET = ipaddress.ip_network("10.231.77.0/24")
DHCP_NET = ipaddress.ip_network("10.231.79.0/24")
SERVICES_NET = ipaddress.ip_network("10.231.76.0/24")
# Where nodes reach the API server: an address of the host, forwarded to its loopback listener.
API_ADDRESS = str(SERVICES_NET.network_address + 1)
# The lab's DNS server answers on the management gateway address for this zone, the nodes'
# names and the probe's default name.
DNS_ZONE = "lab.nodenet"
DNS_PROBE_NAME = "root-servers.net"
MGMT_BRIDGE = "nnlab0"
SWITCH_NETNS = "nnlab-switch"
NETNS_PREFIX = "nnlab-"
ETCD_CLIENT_PORT = 23790
ETCD_PEER_PORT = 23800
APISERVER_PORT = 16443
MAX_NODES = 200


def mgmt_gateway() -> str:
    return str(MGMT_NET.network_address + 1)


def mgmt_address(index: int) -> str:
    return str(MGMT_NET.network_address + 10 + index)


def mac(role: int, index: int, link: int = 0) -> str:
    """Fixed MACs, so a re-created node never leaves a stale ARP entry behind."""
    return f"02:4e:{role:02x}:{link:02x}:{index >> 8:02x}:{index & 0xFF:02x}"


@dataclass(frozen=True)
class NodeSpec:
    name: str
    index: int
    network_manager: bool
    libnmstate: bool

    @property
    def address(self) -> str:
        return mgmt_address(self.index)

    @property
    def netns(self) -> str:
        return NETNS_PREFIX + self.name

    @property
    def host_veth(self) -> str:
        return f"nnm{self.index}"

    def switch_veth(self, link: int) -> str:
        return f"nn{self.index}e{link}"


@dataclass(frozen=True)
class LabSpec:
    nodes: tuple[NodeSpec, ...] = field(default_factory=tuple)
    data_links: int = 2
    control_plane: bool = True
    # The infra node: a real kubelet and container runtime for the operator's own pods.
    kubelet: bool = False

    @property
    def names(self) -> set[str]:
        return {node.name for node in self.nodes}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LabSpec:
        return cls(
            nodes=tuple(NodeSpec(**node) for node in data["nodes"]),
            data_links=data["data_links"],
            control_plane=data["control_plane"],
            kubelet=data.get("kubelet", False),
        )


def node_name(index: int) -> str:
    return f"node{index:02d}"


def build_spec(
    count: int,
    nm: str = "none",
    libnmstate: str = "all",
    data_links: int = 2,
    control_plane: bool = True,
    kubelet: bool = False,
) -> LabSpec:
    """``nm`` and ``libnmstate`` are 'all', 'none', 'odd', 'even' or comma-separated names."""
    if not 1 <= count <= MAX_NODES:
        raise ValueError(f"--nodes must be between 1 and {MAX_NODES}, not {count}")
    if not 1 <= data_links <= 4:
        raise ValueError(f"--data-links must be between 1 and 4, not {data_links}")
    names = [node_name(i) for i in range(1, count + 1)]
    nm_nodes = _select(nm, names, "--nm")
    lib_nodes = _select(libnmstate, names, "--libnmstate")
    nodes = tuple(
        NodeSpec(name, i, name in nm_nodes, name in lib_nodes)
        for i, name in enumerate(names, start=1)
    )
    if kubelet and not control_plane:
        raise ValueError("--kubelet needs the control plane")
    return LabSpec(nodes=nodes, data_links=data_links, control_plane=control_plane, kubelet=kubelet)


def _select(choice: str, names: list[str], option: str) -> set[str]:
    if choice == "all":
        return set(names)
    if choice == "none":
        return set()
    if choice in ("odd", "even"):
        parity = 1 if choice == "odd" else 0
        return {name for i, name in enumerate(names, start=1) if i % 2 == parity}
    chosen = {part.strip() for part in choice.split(",") if part.strip()}
    unknown = chosen - set(names)
    if unknown:
        raise ValueError(f"{option}: no such node {', '.join(sorted(unknown))}; nodes are {names}")
    return chosen
