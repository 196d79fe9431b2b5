"""The operator as users deploy it (its image, the Deployment's two pods on the infra node's
kubelet), behind the same few methods the end-to-end tests use on an operator process, so
that those tests run against either (NODENET_E2E_OPERATOR=in-cluster).

Killing it SIGKILLs the leading pod's processes and force-deletes the pod; starting it again
waits until a pod leads. Its run records
are each pod's runs.jsonl, read from the pod's emptyDir on the host (the kubelet runs in the
host's mount namespace) and kept after the pod is gone, merged in time order.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from nodenet_lab import deploy, infra


def container_pids(pod: dict) -> list[int]:
    """Host PIDs of every process in the pod's operator container (found by its cgroup)."""
    container_id = pod["status"]["containerStatuses"][0]["containerID"].split("//")[1]
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if container_id in (proc / "cgroup").read_text():
                    pids.append(int(proc.name))
    return pids


LEADING = "leading: reports and rollouts run here"
NOT_LEADING = "not leading any more"
ALL: list[InClusterOperator] = []  # for the session's summary


class InClusterOperator:
    def __init__(self, kubeconfig: Path, state_dir: Path, work: Path):
        self.kubeconfig, self.state_dir, self.work = kubeconfig, state_dir, work
        self.merged_dir = work / "runner"
        self.merged_dir.mkdir(parents=True, exist_ok=True)
        self.journals: dict[str, str] = {}  # pod uid -> its runs.jsonl as last read
        self.lock = threading.Lock()
        self.deleted: list[str] = []  # pods killed on purpose
        self.restarts: dict[str, int] = {}  # every pod seen -> its containers' restarts
        self.installed = False
        self.uninstall_seconds: float | None = None
        ALL.append(self)
        self.stopping = threading.Event()
        self.keeper = threading.Thread(target=self.keep_journals, daemon=True)

    # What the tests call on an operator.
    def start(self, timeout: float = 180) -> InClusterOperator:
        """Install (the first time), then wait until one pod leads."""
        if not self.installed:
            infra.load_images(self.state_dir)  # this checkout's code, also on a kept lab
            deploy.install(self.kubeconfig, self.state_dir, timeout)
            self.installed = True
            self.keeper.start()
        self.wait_for_leader(timeout)
        return self

    def kill(self) -> None:
        """The leading pod dies at once, as on a lost node: SIGKILL to every process of its
        container (a deletion alone still gives it seconds of grace, enough to finish a run),
        then the pod is force-deleted; the other replica takes over."""
        leader = self.wait_for_leader(60)
        pod = next(p for p in deploy.pods(self.kubeconfig) if p["metadata"]["name"] == leader)
        for pid in container_pids(pod):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.deleted.append(leader)
        self.kubectl("-n", deploy.NAMESPACE, "delete", "pod", leader, "--grace-period=0", "--force")

    def poll(self) -> int | None:
        return None  # the Deployment keeps pods running; a crash shows as a restart count

    def log_tail(self, size: int = 3000) -> str:
        tails = []
        for pod in deploy.pods(self.kubeconfig):
            name = pod["metadata"]["name"]
            tails.append(f"--- {name}\n{self.logs(name)[-size:]}")
        return "\n".join(tails)

    def stop(self) -> None:
        """Uninstall (once: a test may have done it already)."""
        if self.installed:
            self.refresh()
            self.stopping.set()
            deploy.uninstall(self.kubeconfig)
            self.installed = False

    # In-cluster specifics.
    def kubectl(self, *args: str, check: bool = True) -> str:
        return deploy.kubectl(self.kubeconfig, *args, check=check)

    def logs(self, pod: str) -> str:
        return self.kubectl("-n", deploy.NAMESPACE, "logs", pod, "-c", "operator", check=False)

    def leader(self) -> str | None:
        """The running pod whose log says it leads now (kopf peering)."""
        for pod in deploy.running_pods(self.kubeconfig):
            name = pod["metadata"]["name"]
            text = self.logs(name)
            if text.rfind(LEADING) > text.rfind(NOT_LEADING):
                return name
        return None

    def peers(self) -> dict[str, int]:
        """Pod name -> priority, as each replica announces itself in the peering object
        (kopf's identities read user@hostname/..., and a pod's hostname is its name)."""
        shown = self.kubectl("get", "clusterkopfpeering", "nmstate-operator", "-o", "json")
        status = json.loads(shown).get("status") or {}
        return {
            identity.split("@", 1)[-1].split("/", 1)[0]: peer["priority"]
            for identity, peer in status.items()
        }

    def wait_for_leader(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            name = self.leader()
            if name:
                return name
            time.sleep(0.5)
        raise AssertionError(f"no operator pod leads after {timeout} s\n{self.log_tail()}")

    def pod_journal(self, uid: str) -> Path:
        volumes = infra.infra_dir(self.state_dir) / "kubelet" / "pods" / uid / "volumes"
        return volumes / "kubernetes.io~empty-dir" / "work" / "runner" / "runs.jsonl"

    @property
    def runner_dir(self) -> Path:
        """A directory whose runs.jsonl holds every pod's run records, as of now."""
        self.refresh()
        return self.merged_dir

    def keep_journals(self) -> None:
        """Read every pod's records often, so a deleted pod's last ones are kept: the kubelet
        removes its volumes only after its containers have stopped."""
        while not self.stopping.is_set():
            with contextlib.suppress(Exception):
                self.refresh()
            self.stopping.wait(0.2)

    def refresh(self) -> None:
        listed = deploy.pods(self.kubeconfig)
        uids = {pod["metadata"]["uid"] for pod in listed}
        for pod in listed:
            statuses = pod["status"].get("containerStatuses") or []
            self.restarts[pod["metadata"]["name"]] = sum(s["restartCount"] for s in statuses)
        with self.lock:
            for uid in uids | set(self.journals):
                with contextlib.suppress(OSError):
                    self.journals[uid] = self.pod_journal(uid).read_text()
            records = [
                json.loads(line)
                for text in self.journals.values()
                for line in text.splitlines()
                if line.endswith("}")  # a line being written is read next time
            ]
            records.sort(key=lambda r: r["time"])
            target = self.merged_dir / "runs.jsonl"
            tmp = target.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
            tmp.replace(target)

    def container_processes(self) -> list[str]:
        """Command lines of processes still running from the operator's image on the host."""
        listed = subprocess.run(
            ["pgrep", "-af", "nmstate_operator"], capture_output=True, text=True
        )
        return [line for line in listed.stdout.splitlines() if "/opt/venv" in line]
