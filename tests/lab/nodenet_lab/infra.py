"""The infra node: a real kubelet with containerd, runc and kube-proxy in a network namespace of
its own, where the operator's own pods run. It is a Node like any other to the API server, but
it has no sshd and no nmstate: the operator's node selector keeps it out of the nmstate nodes.

containerd and the kubelet stay in the host's mount namespace, so the volumes the kubelet mounts
(Secrets, emptyDirs, service-account tokens) are the ones containerd gives the containers; only
their network is the infra node's. Everything they write lives under the lab's state directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

import yaml

from . import controlplane, procs, settings, tools
from .sh import LabError, ip_batch, link_exists, netns_list, run

NAME = controlplane.INFRA_NODE
NETNS = settings.NETNS_PREFIX + NAME
HOST_VETH = "nni0"
# Below the nodes' addresses (.11 and up), beside the gateway.
ADDRESS = str(settings.MGMT_NET.network_address + 5)
POD_CIDR = "10.231.80.0/24"
CLUSTER_DNS_DOMAIN = "cluster.local"
PAUSE_IMAGE = "localhost/pause:lab"
# containerd's CRI namespace, where the kubelet looks for images.
CRI_NAMESPACE = "k8s.io"


def infra_dir(state_dir: Path) -> Path:
    return state_dir / "infra"


def socket_path(state_dir: Path) -> Path:
    return infra_dir(state_dir) / "run" / "containerd.sock"


def in_netns(argv: list[str]) -> list[str]:
    """Only the network namespace: mounts must stay shared with the host (see the module doc)."""
    return ["nsenter", f"--net=/run/netns/{NETNS}", "--", *argv]


def create_network() -> None:
    prefix = settings.MGMT_NET.prefixlen
    run(["ip", "netns", "add", NETNS])
    ip_batch(
        [
            f"link add {HOST_VETH} address {settings.mac(1, 0, 9)} type veth "
            f"peer name mgmt0 address {settings.mac(0, 0, 9)} netns {NETNS}",
            f"link set {HOST_VETH} master {settings.MGMT_BRIDGE} up",
        ]
    )
    ip_batch(
        [
            "link set lo up",
            f"addr add {ADDRESS}/{prefix} dev mgmt0",
            "link set mgmt0 up",
            f"route add default via {settings.mgmt_gateway()} dev mgmt0",
        ],
        NETNS,
    )
    # Pods reach the nodes and the API server through the infra node, as on any worker.
    run(in_netns(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]))


def containerd_config(state_dir: Path) -> str:
    base = infra_dir(state_dir)
    cni = tools.cni_bin()
    return f"""\
# Written by the nodenet lab.
version = 4
root = "{base / "containerd"}"
state = "{base / "run" / "containerd"}"
imports = []

[plugins."io.containerd.server.v1.grpc"]
  address = "{socket_path(state_dir)}"

[plugins."io.containerd.server.v1.ttrpc"]
  address = "{base / "run" / "containerd.sock.ttrpc"}"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{PAUSE_IMAGE}"

[plugins."io.containerd.cri.v1.runtime"]
  enable_selinux = false
  # Pod network namespaces under the state directory, not in the host's /run/netns.
  netns_mounts_under_state_dir = true
  # This machine's root lacks CAP_SYS_RESOURCE: nothing may lower an OOM score below ours
  # (the kubelet asks -998 for pod sandboxes).
  restrict_oom_score_adj = true
  # No registry answers here: images come from the lab's import only.
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "{tools.runc_bin() / "runc"}"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["{cni}"]
    conf_dir = "{base / "cni"}"
"""


def cni_config(state_dir: Path) -> dict:
    return {
        "cniVersion": "1.0.0",
        "name": "nodenet-pods",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(infra_dir(state_dir) / "cni-ipam"),
                },
            },
            {"type": "loopback"},
        ],
    }


def kubelet_config(state_dir: Path) -> dict:
    base = infra_dir(state_dir)
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # This machine has cgroup v1 and no systemd.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{socket_path(state_dir)}",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(state_dir / "pki" / "ca.crt")},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "podLogsDir": str(base / "pod-logs"),
        "resolvConf": str(base / "resolv.conf"),
        "clusterDomain": CLUSTER_DNS_DOMAIN,
        # No cluster DNS service here: pods resolve through the lab's name server.
        "clusterDNS": [settings.mgmt_gateway()],
        "maxPods": 30,
        "serializeImagePulls": False,
        # The images are imported, not pulled: never collect them, never evict for disk.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "rotateCertificates": False,
        "registerNode": True,
    }


def kube_proxy_config(state_dir: Path) -> dict:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(infra_dir(state_dir) / "kube-proxy.kubeconfig")},
        "hostnameOverride": NAME,
        "clusterCIDR": POD_CIDR,
        # conntrack limits are the host's, not this node's to change.
        "conntrack": {"maxPerCore": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
        "nodePortAddresses": ["primary"],
    }


def kubelet_argv(state_dir: Path, binaries: Path) -> list[str]:
    base = infra_dir(state_dir)
    return in_netns(
        [
            str(binaries / "kubelet"),
            f"--config={base / 'kubelet.yaml'}",
            f"--kubeconfig={base / 'kubelet.kubeconfig'}",
            f"--root-dir={base / 'kubelet'}",
            f"--cert-dir={base / 'kubelet-pki'}",
            f"--hostname-override={NAME}",
            f"--node-ip={ADDRESS}",
            "--node-labels=nodenet.lab/infra=true",
            "--v=1",
        ]
    )


def write_files(state_dir: Path) -> None:
    base = infra_dir(state_dir)
    shutil.rmtree(base, ignore_errors=True)
    for sub in ("cni", "run", "pod-logs", "kubelet", "kubelet-pki"):
        (base / sub).mkdir(parents=True)
    (base / "containerd.toml").write_text(containerd_config(state_dir))
    (base / "cni" / "10-pods.conflist").write_text(json.dumps(cni_config(state_dir), indent=2))
    (base / "kubelet.yaml").write_text(yaml.safe_dump(kubelet_config(state_dir)))
    (base / "kube-proxy.yaml").write_text(yaml.safe_dump(kube_proxy_config(state_dir)))
    (base / "resolv.conf").write_text(
        f"search {settings.DNS_ZONE}\nnameserver {settings.mgmt_gateway()}\n"
    )
    # Both talk to the API server at the address nodes use, as a worker's kubelet would.
    server = f"https://{settings.API_ADDRESS}:{settings.APISERVER_PORT}"
    for user in ("kubelet", "kube-proxy"):
        controlplane.write_kubeconfig(state_dir / "pki", base / f"{user}.kubeconfig", user, server)


def start(state_dir: Path, binaries: Path) -> list[procs.Tracked]:
    """The infra node's network, containerd (with the lab's images imported), the kubelet and
    kube-proxy. Returns once the Node is Ready."""
    runtime_bin = tools.ensure_node_runtime()
    images = tools.ensure_images()
    write_files(state_dir)
    create_network()
    base = infra_dir(state_dir)
    logs = state_dir / "logs"
    env = dict(os.environ, PATH=f"{runtime_bin}:{tools.cni_bin()}:{os.environ['PATH']}")
    started = [
        procs.spawn(
            "containerd",
            in_netns([str(runtime_bin / "containerd"), f"--config={base / 'containerd.toml'}"]),
            logs / "containerd.log",
            env=env,
        )
    ]
    try:
        wait_for(lambda: socket_path(state_dir).exists(), "containerd's socket", started)
        load_images(state_dir, images)
        started.append(
            procs.spawn("kubelet", kubelet_argv(state_dir, binaries), logs / "kubelet.log", env=env)
        )
        started.append(
            procs.spawn(
                "kube-proxy",
                in_netns(
                    [str(binaries / "kube-proxy"), f"--config={base / 'kube-proxy.yaml'}", "--v=1"]
                ),
                logs / "kube-proxy.log",
                env=env,
            )
        )
    except BaseException:
        for proc in reversed(started):
            procs.stop(proc)
        raise
    return started


def load_images(state_dir: Path, images: dict[str, Path] | None = None) -> None:
    """Import the lab's images into the node's containerd (built from this checkout first
    unless given): what a pull from a registry would bring."""
    for archive in (images or tools.ensure_images()).values():
        import_image(state_dir, archive)


def import_image(state_dir: Path, archive: Path) -> None:
    run(
        [
            str(tools.runtime_bin() / "ctr"),
            f"--address={socket_path(state_dir)}",
            f"--namespace={CRI_NAMESPACE}",
            "images",
            "import",
            "--no-unpack",
            str(archive),
        ]
    )


def wait_for(condition, what: str, started: list[procs.Tracked], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in started:
            if not procs.is_alive(proc):
                raise LabError(f"{proc.name} exited while waiting for {what}; see the lab's logs/")
        if condition():
            return
        time.sleep(0.1)
    raise LabError(f"no {what} within {timeout:.0f} s; see the lab's logs/")


def stop_pods(state_dir: Path) -> None:
    """What a node's power-off does to its pods: every process in the kubelet's pod cgroups
    is killed, and their mounts go. Call after the kubelet and containerd have stopped."""
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        pods = hierarchy / "kubepods"
        if not pods.is_dir():
            continue
        groups = sorted(pods.rglob("cgroup.procs"), key=lambda p: len(p.parts), reverse=True)
        for procs_file in groups:
            with contextlib.suppress(OSError):
                for pid in procs_file.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
    shim = str(tools.runtime_bin() / "containerd-shim-runc-v2").encode()
    for pid_dir in Path("/proc").iterdir():
        if pid_dir.name.isdigit():
            with contextlib.suppress(OSError, ProcessLookupError):
                if (pid_dir / "cmdline").read_bytes().split(b"\0")[0] == shim:
                    os.kill(int(pid_dir.name), signal.SIGKILL)
    unmount_under(infra_dir(state_dir))


def unmount_under(base: Path) -> None:
    """Lazily unmount every mount below `base`, deepest first."""
    prefix = str(base) + "/"
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for target in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        run(["umount", "-l", target], check=False)


def destroy(state_dir: Path) -> None:
    stop_pods(state_dir)
    if NETNS in netns_list():
        run(["ip", "netns", "del", NETNS])
    deadline = time.monotonic() + 5
    while link_exists(HOST_VETH) and time.monotonic() < deadline:
        time.sleep(0.05)
    if link_exists(HOST_VETH):
        run(["ip", "link", "del", HOST_VETH], check=False)
    run(["ip", "neigh", "flush", "to", ADDRESS], check=False)


def wait_ready(kubeconfig: Path, started: list[procs.Tracked], timeout: float = 120) -> None:
    """Until the kubelet's own Node says Ready (it registers itself)."""
    core = controlplane.api_client(kubeconfig)

    def ready() -> bool:
        return controlplane.current_readiness(core).get(NAME, False)

    wait_for(ready, f"Ready Node {NAME} from the kubelet", started, timeout)
