"""Lab nodes: a network namespace each, with private mounts, hostname, PIDs and its own sshd."""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import time
import uuid
from pathlib import Path

from . import procs, settings
from .settings import NodeSpec
from .sh import LabError, ip_batch, link_exists, netns_list, run

NODE_INIT = Path(__file__).resolve().parent / "node-init.sh"
LIBNMSTATE_PACKAGE = settings.LAB_DIR / "pylib" / "libnmstate"

NETWORK_MANAGER_CONF = """\
# Written by the nodenet lab. Nothing here may reach the host's DNS, hostname or devices.
[main]
plugins=keyfile
auth-polkit=false
no-auto-default=*
dhcp=internal
# NetworkManager writes the node's own /etc/resolv.conf (an overlay of the host's /etc).
dns=default
rc-manager=file
hostname-mode=none
systemd-resolved=false

[logging]
level=INFO
backend=debug

[keyfile]
path=/etc/NetworkManager/system-connections
"""


def sshd_config(node_dir: Path, authorized_keys: Path) -> str:
    return f"""\
# Written by the nodenet lab.
ListenAddress 0.0.0.0:22
HostKey {node_dir}/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthenticationMethods publickey
# No systemd or PAM session in a namespace node; the key file lives outside /root.
UsePAM no
StrictModes no
AuthorizedKeysFile {authorized_keys}
PidFile none
UseDNS no
MaxStartups 100:30:200
MaxSessions 50
Subsystem sftp internal-sftp
"""


def check_subnet_free() -> None:
    """Refuse to start if the machine already routes the lab's subnets somewhere else."""
    lab_nets = [
        settings.MGMT_NET,
        settings.DHCP_NET,
        settings.SERVICES_NET,
        ipaddress.ip_network("10.231.78.0/24"),
    ]
    for line in run(["ip", "-j", "route", "show", "table", "all"]).splitlines():
        for route in json.loads(line) if line.startswith("[") else []:
            dst = route.get("dst", "")
            if route.get("dev") == settings.MGMT_BRIDGE or dst in ("", "default"):
                continue
            try:
                net = ipaddress.ip_network(dst, strict=False)
            except ValueError:
                continue
            if net.version == 4 and net.prefixlen > 0:
                for lab_net in lab_nets:
                    if net.overlaps(lab_net):
                        raise LabError(
                            f"the machine already routes {net} via {route.get('dev')}, which "
                            f"overlaps the lab's {lab_net}; the lab never touches the host's routes"
                        )


def ensure_mgmt_bridge() -> None:
    if link_exists(settings.MGMT_BRIDGE):
        return
    gateway = f"{settings.mgmt_gateway()}/{settings.MGMT_NET.prefixlen}"
    ip_batch(
        [
            f"link add {settings.MGMT_BRIDGE} type bridge",
            f"addr add {gateway} dev {settings.MGMT_BRIDGE}",
            f"addr add {settings.API_ADDRESS}/32 dev {settings.MGMT_BRIDGE}",
            f"link set {settings.MGMT_BRIDGE} up",
        ]
    )


def ensure_switch(data_links: int) -> None:
    """The data networks are bridges in a namespace of their own, away from the host."""
    if settings.SWITCH_NETNS not in netns_list():
        run(["ip", "netns", "add", settings.SWITCH_NETNS])
    commands = ["link set lo up"]
    for link in range(1, data_links + 1):
        bridge = f"data{link}"
        if not link_exists(bridge, settings.SWITCH_NETNS):
            commands += [f"link add {bridge} type bridge", f"link set {bridge} up"]
    ip_batch(commands, settings.SWITCH_NETNS)


def remove_network() -> None:
    if settings.SWITCH_NETNS in netns_list():
        run(["ip", "netns", "del", settings.SWITCH_NETNS])
    if link_exists(settings.MGMT_BRIDGE):
        run(["ip", "link", "del", settings.MGMT_BRIDGE])


def prepare_node_dir(
    node: NodeSpec, node_dir: Path, authorized_keys: Path, nmstate_prefix: Path
) -> None:
    if node_dir.exists():
        shutil.rmtree(node_dir)
    for sub in ("sbin", "python", "nm-etc/system-connections", "nm-etc/conf.d", "nm-lib"):
        (node_dir / sub).mkdir(parents=True)
    run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            str(node_dir / "ssh_host_ed25519_key"),
        ]
    )
    (node_dir / "sshd_config").write_text(sshd_config(node_dir, authorized_keys))
    (node_dir / "resolv.conf").write_text(resolv_conf())
    (node_dir / "dns.json").write_text(json.dumps(dns_state()))
    (node_dir / "hostname").write_text(node.name + "\n")
    new_boot_id(node_dir)
    (node_dir / "hosts").write_text(f"127.0.0.1 localhost\n{node.address} {node.name}\n")
    (node_dir / "nm-etc" / "NetworkManager.conf").write_text(NETWORK_MANAGER_CONF)
    (node_dir / "sbin" / "nmstatectl").symlink_to(nmstate_prefix / "bin" / "nmstatectl")
    if node.libnmstate:
        package = node_dir / "python" / "libnmstate"
        package.mkdir()
        for source in LIBNMSTATE_PACKAGE.glob("*.py"):
            (package / source.name).symlink_to(source)
        library = nmstate_prefix / "lib" / f"libnmstate.so.{settings.NMSTATE_VERSION}"
        (package / "libnmstate.so.2").symlink_to(library)
    env = {
        "NAME": node.name,
        "WITH_NM": "1" if node.network_manager else "0",
        "EXTRA_SBIN": node_dir / "sbin",
        "EXTRA_PYTHON": node_dir / "python",
    }
    (node_dir / "node.env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))


def resolv_conf() -> str:
    return f"search {settings.DNS_ZONE}\nnameserver {settings.mgmt_gateway()}\n"


def dns_state() -> dict:
    """The DNS configuration a NetworkManager node boots with, applied through nmstate as an
    administrator would (NetworkManager then writes resolv.conf from it)."""
    return {
        "dns-resolver": {
            "config": {"search": [settings.DNS_ZONE], "server": [settings.mgmt_gateway()]}
        }
    }


def new_boot_id(node_dir: Path) -> str:
    """A node's boot ID changes with every (re)start, as the kernel's does."""
    value = str(uuid.uuid4())
    (node_dir / "boot_id").write_text(value + "\n")
    return value


def boot_id(node_dir: Path) -> str | None:
    try:
        return (node_dir / "boot_id").read_text().strip()
    except OSError:
        return None


def create_links(node: NodeSpec, data_links: int) -> None:
    prefix = settings.MGMT_NET.prefixlen
    run(["ip", "netns", "add", node.netns])
    host = [
        f"link add {node.host_veth} address {settings.mac(1, node.index)} type veth "
        f"peer name mgmt0 address {settings.mac(0, node.index)} netns {node.netns}",
        f"link set {node.host_veth} master {settings.MGMT_BRIDGE} up",
    ]
    switch = []
    inside = [
        "link set lo up",
        f"addr add {node.address}/{prefix} dev mgmt0",
        "link set mgmt0 up",
        # As a network configuration service adds it (networkd, NetworkManager): nmstate's
        # kernel mode cannot remove a route of `ip route`'s own protocol (boot).
        f"route add default via {settings.mgmt_gateway()} dev mgmt0 proto static",
    ]
    for link in range(1, data_links + 1):
        port = node.switch_veth(link)
        host.append(
            f"link add {port} netns {settings.SWITCH_NETNS} address {settings.mac(1, node.index, link)} "
            f"type veth peer name eth{link} address {settings.mac(0, node.index, link)} netns {node.netns}"
        )
        switch.append(f"link set {port} master data{link} up")
        inside.append(f"link set eth{link} up")
    ip_batch(host)
    ip_batch(switch, settings.SWITCH_NETNS)
    ip_batch(inside, node.netns)


def start_node(node: NodeSpec, node_dir: Path) -> procs.Tracked:
    argv = [
        "ip",
        "netns",
        "exec",
        node.netns,
        "unshare",
        "--mount",
        "--uts",
        "--pid",
        "--fork",
        "--kill-child",
        "--propagation",
        "private",
        str(NODE_INIT),
        str(node_dir),
    ]
    return procs.spawn(f"node {node.name}", argv, node_dir / "init.log")


def ssh_answers(address: str, timeout: float = 1.0) -> bool:
    """True if an SSH server greets us on port 22 at `address`."""
    try:
        with socket.create_connection((address, 22), timeout=timeout) as conn:
            return conn.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def network_answers(address: str) -> bool:
    """True if the node answers a ping: its network is up, whether or not sshd runs (the
    lab's stand-in for a kubelet reports Ready on this)."""
    result = run(["ping", "-n", "-q", "-c", "1", "-W", "1", address], check=False)
    return " 1 received" in result


def wait_for_ssh(nodes: list[NodeSpec], node_dirs: dict[str, Path], timeout: float = 60) -> None:
    pending = {node.name: node for node in nodes}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for name, node in list(pending.items()):
            if ssh_answers(node.address, timeout=0.5):
                del pending[name]
        if pending:
            time.sleep(0.1)
    if pending:
        details = []
        for name in sorted(pending):
            log = node_dirs[name] / "init.log"
            tail = log.read_text()[-400:] if log.exists() else "(no log)"
            details.append(f"{name}: {tail.strip()}")
        raise LabError("nodes did not answer SSH in time:\n" + "\n".join(details))


def destroy_node(node: NodeSpec, init: procs.Tracked | None) -> None:
    if init is not None:
        # The node's init ignores SIGTERM; SIGKILL on unshare takes the whole PID namespace down.
        procs.kill(init)
    if node.netns in netns_list():
        run(["ip", "netns", "del", node.netns])
    # Links die with their namespace, asynchronously; wait so a quick `up` can reuse the names.
    deadline = time.monotonic() + 5
    while link_exists(node.host_veth) and time.monotonic() < deadline:
        time.sleep(0.05)
    if link_exists(node.host_veth):
        run(["ip", "link", "del", node.host_veth], check=False)
    run(["ip", "neigh", "flush", "to", node.address], check=False)


def start_dns(state_dir: Path, spec_nodes: tuple[NodeSpec, ...]) -> procs.Tracked:
    """dnsmasq answers DNS on the management gateway address, for the lab's zone only."""
    records = [f"--host-record=api.{settings.DNS_ZONE},{settings.API_ADDRESS}"]
    records += [f"--host-record={settings.DNS_PROBE_NAME},{settings.API_ADDRESS}"]
    records += [f"--host-record={n.name}.{settings.DNS_ZONE},{n.address}" for n in spec_nodes]
    argv = [
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        f"--listen-address={settings.mgmt_gateway()}",
        "--bind-interfaces",
        f"--local=/{settings.DNS_ZONE}/",
        f"--local=/{settings.DNS_PROBE_NAME}/",
        "--user=root",
        "--group=root",
        f"--pid-file={state_dir / 'dns.pid'}",
        "--log-facility=-",
        *records,
    ]
    return procs.spawn("dns", argv, state_dir / "logs" / "dns.log")


def start_dhcp(state_dir: Path) -> procs.Tracked:
    """dnsmasq serves DHCP on data link 2 from inside the switch namespace."""
    gateway = settings.DHCP_NET.network_address + 1
    first, last = settings.DHCP_NET.network_address + 100, settings.DHCP_NET.network_address + 199
    run(
        [
            "ip",
            "-n",
            settings.SWITCH_NETNS,
            "addr",
            "replace",
            f"{gateway}/{settings.DHCP_NET.prefixlen}",
            "dev",
            "data2",
        ]
    )
    leases = state_dir / "dnsmasq.leases"
    leases.write_text("")
    argv = [
        "ip",
        "netns",
        "exec",
        settings.SWITCH_NETNS,
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--port=0",
        "--interface=data2",
        "--bind-interfaces",
        "--user=root",
        "--group=root",
        f"--dhcp-range={first},{last},{settings.DHCP_NET.netmask},1h",
        f"--dhcp-leasefile={leases}",
        f"--pid-file={state_dir / 'dnsmasq.pid'}",
        "--log-dhcp",
        "--log-facility=-",
    ]
    return procs.spawn("dnsmasq", argv, state_dir / "logs" / "dnsmasq.log")
