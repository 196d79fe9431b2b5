"""The lab's pinned tools, built once into the cache: nmstate 2.x and the Kubernetes control plane."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from . import settings
from .sh import LabError

CONTROL_PLANE_BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager")


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


def ensure_control_plane() -> Path:
    out = control_plane_bin()
    if not _built([out / name for name in CONTROL_PLANE_BINARIES]):
        out.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, GOFLAGS="-buildvcs=false")
        packages = [f"./cmd/{name}" for name in CONTROL_PLANE_BINARIES]
        _run_build(
            f"Kubernetes {settings.KUBERNETES_VERSION} control plane",
            ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", f"{out}/", *packages],
            cwd=settings.LAB_DIR / "controlplane",
            env=env,
        )
    return out
