"""The lab's pinned tools, built once into the cache: nmstate 2.x, the Kubernetes control plane
and kubelet, the infra node's container runtime, and the images its pods run."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from . import settings
from .sh import LabError

CONTROL_PLANE_BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
)
# Module, version, packages: `go install` builds each with its own go.mod and go.sum.
RUNTIME_MODULES = (
    (
        "github.com/containerd/containerd/v2",
        settings.CONTAINERD_VERSION,
        ("cmd/containerd", "cmd/containerd-shim-runc-v2", "cmd/ctr"),
    ),
    ("github.com/opencontainers/runc", settings.RUNC_VERSION, ("",)),
)
CNI_MODULE = (
    "github.com/containernetworking/plugins",
    settings.CNI_PLUGINS_VERSION,
    ("plugins/main/bridge", "plugins/main/loopback", "plugins/ipam/host-local"),
)


def nmstate_prefix() -> Path:
    return settings.CACHE_DIR / f"nmstate-{settings.NMSTATE_VERSION}"


def control_plane_bin() -> Path:
    return settings.CACHE_DIR / f"kubernetes-{settings.KUBERNETES_VERSION}" / "bin"


def _built(paths: list[Path]) -> bool:
    return all(path.exists() for path in paths)


def _run_build(
    what: str, argv: list[str], cwd: Path | None = None, env: dict | None = None
) -> None:
    print(
        f"lab: building {what} into {settings.CACHE_DIR} (first run only)",
        file=sys.stderr,
        flush=True,
    )
    result = subprocess.run(argv, cwd=cwd, env=env)
    if result.returncode != 0:
        raise LabError(f"building {what} failed (exit {result.returncode}); its output is above")


def ensure_nmstate() -> Path:
    prefix = nmstate_prefix()
    if not _built([prefix / "bin" / "nmstatectl", prefix / "lib" / "libnmstate.so.2"]):
        settings.CACHE_DIR.mkdir(parents=True, exist_ok=True)
        script = settings.LAB_DIR / "build" / "nmstate.sh"
        _run_build(
            f"nmstate {settings.NMSTATE_VERSION}",
            ["bash", str(script), str(settings.CACHE_DIR), settings.NMSTATE_VERSION],
        )
    return prefix


def kubernetes_ldflags() -> str:
    """What Kubernetes' own build stamps in, so the binaries (and the kubelet's Node) report
    their real version instead of v0.0.0-master."""
    version = settings.KUBERNETES_VERSION
    major, minor = version.lstrip("v").split(".")[:2]
    stamp = "-X k8s.io/component-base/version"
    return (
        f"-s -w {stamp}.gitVersion={version} {stamp}.gitMajor={major} {stamp}.gitMinor={minor}"
        f" {stamp}.gitTreeState=clean"
    )


def ensure_control_plane() -> Path:
    out = control_plane_bin()
    module = settings.LAB_DIR / "controlplane"
    packages = [f"./cmd/{name}" for name in CONTROL_PLANE_BINARIES]
    argv = ["go", "build", "-trimpath", f"-ldflags={kubernetes_ldflags()}", "-o", f"{out}/"]
    _build_once(
        f"Kubernetes {settings.KUBERNETES_VERSION} control plane and kubelet",
        out,
        CONTROL_PLANE_BINARIES,
        argv + packages,
        cwd=module,
        env=dict(os.environ, GOFLAGS="-buildvcs=false"),
        inputs=(module / "go.sum").read_bytes(),
    )
    return out


def _build_once(
    what: str,
    out: Path,
    names,
    argv: list[str],
    *,
    cwd: Path | None = None,
    env: dict | None = None,
    inputs: bytes = b"",
) -> None:
    """Run a build unless its outputs exist from the same recipe (command and inputs): a
    changed flag or pin rebuilds, though the cache directory's name stays."""
    recipe = hashlib.sha256(json.dumps(argv).encode() + inputs).hexdigest()
    stamp = out / ".recipe"
    if _built([out / name for name in names]) and stamp.exists() and stamp.read_text() == recipe:
        return
    out.mkdir(parents=True, exist_ok=True)
    _run_build(what, argv, cwd=cwd, env=env)
    stamp.write_text(recipe)


def runtime_bin() -> Path:
    return settings.CACHE_DIR / f"containerd-{settings.CONTAINERD_VERSION}" / "bin"


def runc_bin() -> Path:
    return settings.CACHE_DIR / f"runc-{settings.RUNC_VERSION}" / "bin"


def cni_bin() -> Path:
    return settings.CACHE_DIR / f"cni-plugins-{settings.CNI_PLUGINS_VERSION}" / "bin"


def _go_install(
    what: str, out: Path, modules, *, cgo: bool = False, tags: str = "", ldflags: str = ""
) -> None:
    targets = [
        f"{module}/{package}".rstrip("/") + f"@{version}"
        for module, version, packages in modules
        for package in packages
    ]
    flags = ["-trimpath", f"-ldflags=-s -w {ldflags}".strip(), *([f"-tags={tags}"] if tags else [])]
    env = {**os.environ, "GOBIN": str(out), "GOFLAGS": "-buildvcs=false"}
    env["CGO_ENABLED"] = "1" if cgo else "0"
    names = [
        Path(package).name or Path(module).name for module, _, pkgs in modules for package in pkgs
    ]
    argv = ["go", "install", *flags, *targets]
    _build_once(what, out, names, argv, env=env, inputs=env["CGO_ENABLED"].encode())


def ensure_node_runtime() -> Path:
    """containerd 2, its runc shim and ctr, and runc (cgo, with libseccomp for pods'
    RuntimeDefault seccomp profile); plus the CNI plugins the pod network uses. Each lands in
    a directory of its own, so that each build's recipe is checked on its own."""
    containerd, runc = RUNTIME_MODULES
    stamp = f"-X github.com/containerd/containerd/v2/version.Version={settings.CONTAINERD_VERSION}"
    _go_install(
        f"containerd {settings.CONTAINERD_VERSION}",
        runtime_bin(),
        [containerd],
        tags="no_btrfs",
        ldflags=stamp,
    )
    _go_install(f"runc {settings.RUNC_VERSION}", runc_bin(), [runc], cgo=True, tags="seccomp")
    _go_install(f"CNI plugins {settings.CNI_PLUGINS_VERSION}", cni_bin(), [CNI_MODULE])
    return runtime_bin()


def images_dir() -> Path:
    return settings.CACHE_DIR / "images"


def ensure_images() -> dict[str, Path]:
    """The pause and operator images as archives for containerd, built by build/images.sh
    (a Debian base made here, buildah; the operator image is rebuilt from this checkout every
    time, which its layer cache makes quick)."""
    script = settings.LAB_DIR / "build" / "images.sh"
    _run_build(
        "the pause and operator images",
        ["bash", str(script), str(settings.CACHE_DIR), str(settings.REPO_ROOT)],
    )
    return {name: images_dir() / f"{name}.tar" for name in ("pause", "operator")}
