"""The lab's Kubernetes control plane: etcd, kube-apiserver and a kube-controller-manager on
loopback, plus one Node object per lab node whose Ready condition the lab keeps fresh."""

from __future__ import annotations

import base64
import datetime
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import yaml

from . import nodes, pki, procs, settings
from .settings import LabSpec, NodeSpec
from .sh import LabError

SERVICE_CIDR = "10.96.0.0/24"
SERVICE_IP = "10.96.0.1"
LAB_LABEL = "nodenet.lab/node"
# The one Node with a real kubelet (infra.py); named here so its certificate can be issued.
INFRA_NODE = "infra01"
# No kubelet runs on the SSH nodes' Node objects: nothing may be scheduled there.
NO_KUBELET_TAINT = {"key": "nodenet.lab/no-kubelet", "value": "true", "effect": "NoSchedule"}
HEARTBEAT_SECONDS = 5


def apiserver_url() -> str:
    return f"https://127.0.0.1:{settings.APISERVER_PORT}"


def check_ports_free() -> None:
    for port in (settings.ETCD_CLIENT_PORT, settings.ETCD_PEER_PORT, settings.APISERVER_PORT):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                raise LabError(
                    f"port {port} on 127.0.0.1 is already in use; is another lab running?"
                )


# What each service listens on, on loopback.
SERVICE_PORTS = {
    "etcd": (settings.ETCD_CLIENT_PORT, settings.ETCD_PEER_PORT),
    "kube-apiserver": (settings.APISERVER_PORT,),
}


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_ports_free(service: str, timeout: float = 20) -> None:
    """Before a restart: the stopped process's listening ports can be bound again (a restart
    once found etcd's peer port still taken a moment after the old etcd had exited)."""
    deadline = time.monotonic() + timeout
    for port in SERVICE_PORTS.get(service, ()):
        while not port_free(port):
            if time.monotonic() > deadline:
                holders = subprocess.run(
                    ["ss", "-tanp", f"( sport = :{port} or dport = :{port} )"],
                    capture_output=True,
                    text=True,
                ).stdout
                raise LabError(f"port {port} of {service} is still taken:\n{holders}")
            time.sleep(0.1)


def write_kubeconfig(
    pki_dir: Path, path: Path, user: str = "admin", server: str | None = None
) -> None:
    """A kubeconfig for the client certificate `user` (admin, kubelet, kube-proxy)."""

    def b64(name: str) -> str:
        return base64.b64encode((pki_dir / name).read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "nodenet-lab",
                "cluster": {
                    "server": server or apiserver_url(),
                    "certificate-authority-data": b64("ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": f"nodenet-lab-{user}",
                "user": {
                    "client-certificate-data": b64(f"{user}.crt"),
                    "client-key-data": b64(f"{user}.key"),
                },
            }
        ],
        "contexts": [
            {
                "name": "nodenet-lab",
                "context": {"cluster": "nodenet-lab", "user": f"nodenet-lab-{user}"},
            }
        ],
        "current-context": "nodenet-lab",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


ETCD_URL = f"http://127.0.0.1:{settings.ETCD_CLIENT_PORT}"


def etcd_argv(state: Path, binaries: Path) -> list[str]:
    peer_url = f"http://127.0.0.1:{settings.ETCD_PEER_PORT}"
    return [
        str(binaries / "etcd"),
        "--name=lab",
        f"--data-dir={state / 'etcd'}",
        f"--listen-client-urls={ETCD_URL}",
        f"--advertise-client-urls={ETCD_URL}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=lab={peer_url}",
        "--listen-metrics-urls=",
        # A throwaway store: durability costs seconds per apply and buys nothing here.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def apiserver_argv(state: Path, binaries: Path) -> list[str]:
    pki_dir = state / "pki"
    return [
        str(binaries / "kube-apiserver"),
        f"--etcd-servers={ETCD_URL}",
        "--bind-address=127.0.0.1",
        f"--advertise-address={settings.API_ADDRESS}",
        f"--secure-port={settings.APISERVER_PORT}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--client-ca-file={pki_dir / 'ca.crt'}",
        f"--tls-cert-file={pki_dir / 'apiserver.crt'}",
        f"--tls-private-key-file={pki_dir / 'apiserver.key'}",
        f"--service-account-key-file={pki_dir / 'sa.pub'}",
        f"--service-account-signing-key-file={pki_dir / 'sa.key'}",
        "--service-account-issuer=https://kubernetes.default.svc",
        "--authorization-mode=Node,RBAC",
        # kubectl logs and exec reach the kubelet with the admin's certificate.
        f"--kubelet-client-certificate={pki_dir / 'admin.crt'}",
        f"--kubelet-client-key={pki_dir / 'admin.key'}",
        # The lab's DNS does not know Node names; kubelets are reached at their InternalIP.
        "--kubelet-preferred-address-types=InternalIP",
        # New Nodes would be tainted not-ready until a node lifecycle controller clears it; the
        # lab runs none (it would fight the SSH nodes' heartbeat), so no such taint.
        "--disable-admission-plugins=TaintNodesByCondition",
        "--allow-privileged=true",
        "--enable-priority-and-fairness=false",
        "--profiling=false",
        "--v=0",
    ]


def controller_manager_argv(state: Path, binaries: Path) -> list[str]:
    pki_dir = state / "pki"
    return [
        str(binaries / "kube-controller-manager"),
        f"--kubeconfig={state / 'kubeconfig'}",
        # No cloud and no node lifecycle (the SSH nodes' heartbeat stands in for kubelets):
        # the controllers that work on API objects, and those the infra node's pods need.
        "--controllers=garbagecollector,namespace,serviceaccount,serviceaccount-token,"
        "deployment,replicaset,endpointslice,root-ca-cert-publisher",
        f"--service-account-private-key-file={pki_dir / 'sa.key'}",
        f"--root-ca-file={pki_dir / 'ca.crt'}",
        "--leader-elect=false",
        "--secure-port=0",
        "--v=0",
    ]


def scheduler_argv(state: Path, binaries: Path) -> list[str]:
    return [
        str(binaries / "kube-scheduler"),
        f"--kubeconfig={state / 'kubeconfig'}",
        "--leader-elect=false",
        "--secure-port=0",
        "--v=0",
    ]


ARGV = {
    "etcd": etcd_argv,
    "kube-apiserver": apiserver_argv,
    "kube-controller-manager": controller_manager_argv,
    "kube-scheduler": scheduler_argv,
}


def spawn(name: str, state: Path, binaries: Path) -> procs.Tracked:
    return procs.spawn(name, ARGV[name](state, binaries), state / "logs" / f"{name}.log")


def start(state: Path, binaries: Path) -> list[procs.Tracked]:
    """Start etcd, the API server and the controller manager; return once the API is ready."""
    check_ports_free()
    pki_dir = state / "pki"
    pki.generate(pki_dir, SERVICE_IP, settings.API_ADDRESS, INFRA_NODE)
    write_kubeconfig(pki_dir, state / "kubeconfig")
    shutil.rmtree(state / "etcd", ignore_errors=True)
    started = [spawn("etcd", state, binaries)]
    try:
        started.append(spawn("kube-apiserver", state, binaries))
        wait_ready(pki_dir, started)
        started.append(spawn("kube-controller-manager", state, binaries))
        started.append(spawn("kube-scheduler", state, binaries))
    except BaseException:
        for proc in reversed(started):
            procs.stop(proc)
        raise
    return started


def wait_ready(pki_dir: Path, started: list[procs.Tracked], timeout: float = 90) -> None:
    context = ssl.create_default_context(cafile=str(pki_dir / "ca.crt"))
    context.load_cert_chain(str(pki_dir / "admin.crt"), str(pki_dir / "admin.key"))
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        for proc in started:
            if not procs.is_alive(proc):
                raise LabError(f"{proc.name} exited while starting; see its log in the lab's logs/")
        try:
            with urllib.request.urlopen(
                f"{apiserver_url()}/readyz", context=context, timeout=2
            ) as r:
                if r.status == 200:
                    return
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise LabError(f"kube-apiserver was not ready within {timeout:.0f} s: {last}")


def node_object(node: NodeSpec) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": {
                "kubernetes.io/hostname": node.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/worker": "",
                LAB_LABEL: "true",
                "nodenet.lab/network-manager": str(node.network_manager).lower(),
                "nodenet.lab/libnmstate": str(node.libnmstate).lower(),
            },
        },
        "spec": {"taints": [NO_KUBELET_TAINT]},
    }


def node_status(node: NodeSpec, ready: bool, boot_id: str | None = None) -> dict:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": node.address},
                {"type": "Hostname", "address": node.name},
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": "LabNodeReady" if ready else "LabNodeUnreachable",
                    "message": "the node answers on its network" if ready else "no answer",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ],
            # As a kubelet publishes it: a reboot shows as a new boot ID.
            "nodeInfo": {"bootID": boot_id or "", "operatingSystem": "linux"},
            "capacity": {"cpu": "2", "memory": "1Gi", "pods": "110"},
            "allocatable": {"cpu": "2", "memory": "1Gi", "pods": "110"},
        }
    }


def api_client(kubeconfig: Path):
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))


def register_nodes(kubeconfig: Path, spec: LabSpec, state_dir: Path) -> None:
    from kubernetes.client.rest import ApiException

    core = api_client(kubeconfig)
    for node in spec.nodes:
        try:
            core.create_node(node_object(node))
        except ApiException as exc:
            if exc.status != 409:
                raise
        boot_id = nodes.boot_id(state_dir / "nodes" / node.name)
        core.patch_node_status(node.name, node_status(node, ready=True, boot_id=boot_id))


def current_readiness(core) -> dict[str, bool]:
    """Each Node's Ready status as the API server has it now."""
    readiness = {}
    for node in core.list_node().items:
        ready = next((c for c in node.status.conditions or [] if c.type == "Ready"), None)
        if ready is not None:
            readiness[node.metadata.name] = ready.status == "True"
    return readiness


def publish_boot(kubeconfig: Path, node: NodeSpec, boot_id: str) -> None:
    """What a kubelet does when its node comes back: a new boot ID on the Node, at once."""
    status = node_status(node, ready=True, boot_id=boot_id)
    del status["status"]["conditions"]
    api_client(kubeconfig).patch_node_status(node.name, status)


def heartbeat(kubeconfig: Path, spec: LabSpec, state_dir: Path) -> None:
    """Stand in for the kubelets: keep each Node's Ready condition true while the node answers
    on its network (a stopped sshd alone leaves it Ready, as on a real node)."""
    import urllib3
    from kubernetes.client.rest import ApiException

    core = api_client(kubeconfig)
    last = {name: ready for name, ready in current_readiness(core).items() if name in spec.names}
    while True:
        for node in spec.nodes:
            ready = nodes.network_answers(node.address)
            boot_id = nodes.boot_id(state_dir / "nodes" / node.name)
            status = node_status(node, ready, boot_id)
            if last.get(node.name) == ready:
                # Only the heartbeat moves; a transition time must stay where the change was.
                del status["status"]["conditions"][0]["lastTransitionTime"]
            try:
                core.patch_node_status(node.name, status)
                last[node.name] = ready
            except ApiException as exc:
                if exc.status != 404:  # a test may delete a Node on purpose
                    print(f"heartbeat for {node.name} failed: {exc.reason}", flush=True)
            except (OSError, urllib3.exceptions.HTTPError) as exc:
                # The API server or etcd may be down (a fault test): beat again next time.
                print(f"heartbeat for {node.name} failed: {exc}", flush=True)
        time.sleep(HEARTBEAT_SECONDS)
