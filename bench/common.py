"""What the benchmarks share: the lab, the operator process, the API, timing and results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "lab"))
sys.path.insert(0, str(REPO / "operator"))

from nodenet_lab.collection import make_importable  # noqa: E402  (needs the paths above)

make_importable()  # nmstate_operator imports the collection's module_utils

from kubernetes import client, config  # noqa: E402
from nmstate_operator import journal  # noqa: E402

from nodenet_lab import lab as lab_module  # noqa: E402
from nodenet_lab import operator_run, settings  # noqa: E402
from nodenet_lab.pytest_plugin import Lab, lab_from_spec  # noqa: E402

RESULTS = REPO / "bench" / "results"
NNS = ("nmstate.io", "v1beta1", "nodenetworkstates")
NNCP = ("nmstate.io", "v1", "nodenetworkconfigurationpolicies")
LIVENESS_PORT = 18180
METRICS_PORT = 18181


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def bring_up(nodes: int) -> Lab:
    """A lab of kernel-only nodes (NetworkManager costs memory; the operator path is the same)."""
    spec = settings.build_spec(count=nodes, nm="none", libnmstate="none")
    started = time.monotonic()
    lab_module.up(spec, settings.STATE_DIR)
    log(f"lab with {nodes} nodes up in {time.monotonic() - started:.1f} s")
    return lab_from_spec(spec, settings.STATE_DIR)


def api_for(lab: Lab) -> client.ApiClient:
    return config.new_client_from_config(str(lab.kubeconfig))


def collections_path(work: Path) -> Path:
    tree = subprocess.run(
        [str(REPO / "scripts" / "collection-tree.sh"), str(work / "collections")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Path(tree).parents[2]


class Operator:
    """The operator process for a benchmark, as its ServiceAccount, with its own runner dir."""

    def __init__(self, lab: Lab, api: client.ApiClient, work: Path, **settings_: str | int | float):
        operator_run.install_crds(api)
        kubeconfig = operator_run.service_account_kubeconfig(lab.kubeconfig, work / "kubeconfig")
        env = operator_run.operator_env(
            kubeconfig,
            collections_path(work),
            work / "runner",
            lab.state_dir / "keys" / "id_ed25519",
            liveness=f"http://127.0.0.1:{LIVENESS_PORT}/healthz",
            metrics_bind_address=f"127.0.0.1:{METRICS_PORT}",
            log_format="text",
            **settings_,
        )
        self.process = operator_run.OperatorProcess(env, work)

    def __enter__(self) -> operator_run.OperatorProcess:
        return self.process.start()

    def __exit__(self, *exc) -> None:
        self.process.stop()


def metric(name: str, labels: dict[str, str] | None = None) -> float:
    """Sum of a metric's samples (matching `labels`) from the operator's /metrics."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if labels and not all(f'{k}="{v}"' in line for k, v in labels.items()):
            continue
        total += float(line.rsplit(" ", 1)[1])
    return total


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1):
    """The predicate's first true value. An object it reads that does not exist yet (404: the
    operator has not created an NNS, say) counts as not yet, so benchmarks run from any state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            value = None
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def wait_runs_ended(runner_dir: Path, nodes: list[str], timeout: float = 600) -> None:
    """Until every run the operator started over any of `nodes` has ended (an apply's NNS
    write comes from its own answer, before the policy's status; a report run follows an apply
    only when its answer carried no report), so that a timed apply starts from a quiet
    operator."""
    wanted = set(nodes)

    def ended() -> bool:
        open_runs = set()
        for r in journal.read(runner_dir):
            if r["event"] == "start" and wanted & set(r["nodes"]):
                open_runs.add(r["run"])
            elif r["event"] == "end":
                open_runs.discard(r["run"])
        return not open_runs

    wait_until(ended, timeout, "the operator's runs over the nodes to end", interval=0.2)


def wait_all_reported(custom: client.CustomObjectsApi, count: int, timeout: float) -> None:
    """Until `count` NodeNetworkStates carry a reported currentState."""

    def reported() -> bool:
        listed = custom.list_cluster_custom_object(*NNS)["items"]
        return len([n for n in listed if (n.get("status") or {}).get("currentState")]) >= count

    wait_until(reported, timeout, "every NNS to be reported", interval=1)


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and of the children it has waited for (ansible-runner's runs)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime + cutime + cstime) / ticks


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pss_kib(pid: int) -> int:
    """A process's proportional set size: its pages, shared ones divided among their sharers
    (forked Ansible workers share most of theirs, so RSS sums would count them many times)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        found[int(entry.name)] = (ppid, cmdline)
    return found


class MemorySampler:
    """Peak memory of the operator and what it started, sampled every `interval` s in a thread:
    the operator's own PSS, its process tree's (ansible-runner, ansible-playbook and its forked
    workers, ssh clients), and the ssh connections it keeps open (ControlPersist masters leave
    the tree; they are found by this operator's control socket directory)."""

    def __init__(self, operator: operator_run.OperatorProcess, interval: float = 0.5):
        import threading
        from types import SimpleNamespace

        from nmstate_operator.runs import control_path_dir

        self.pid, self.interval = operator.pid, interval
        self.tag = str(control_path_dir(SimpleNamespace(runner_dir=operator.runner_dir)))
        self.peak = {"operator_mib": 0.0, "tree_mib": 0.0, "ssh_masters_mib": 0.0}
        self.ssh_masters = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        processes = _processes()
        tree, frontier = set(), {self.pid}
        while frontier:
            tree |= frontier
            frontier = {p for p, (ppid, _) in processes.items() if ppid in frontier} - tree
        masters = [
            p
            for p, (ppid, cmdline) in processes.items()
            if p not in tree and cmdline.startswith("ssh") and self.tag in cmdline
        ]
        values = {
            "operator_mib": _pss_kib(self.pid) / 1024,
            "tree_mib": sum(_pss_kib(p) for p in tree) / 1024,
            "ssh_masters_mib": sum(_pss_kib(p) for p in masters) / 1024,
        }
        for key, value in values.items():
            self.peak[key] = max(self.peak[key], value)
        self.ssh_masters = max(self.ssh_masters, len(masters))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> dict:
    memory = next(
        (
            int(line.split()[1]) // 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        ),
        0,
    )
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "memory_mib": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def table(title: str, header: list[str], rows: list[list]) -> str:
    cells = [header] + [
        [f"{c:.2f}" if isinstance(c, float) else str(c) for c in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells[1:]]
    return "\n".join(lines)


def save(name: str, result: dict, quick: bool) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = dict(
        result,
        benchmark=name,
        quick=quick,
        machine=machine(),
        time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    path = RESULTS / f"{name}{'-quick' if quick else ''}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def workdir(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"nodenet-bench-{name}-"))


def machine_busy_seconds() -> float:
    """CPU seconds this machine spent busy (all cores, every process) since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
