"""Running the host's network tools with errors that say what failed."""

from __future__ import annotations

import subprocess


class LabError(RuntimeError):
    """A lab step failed; the message says which and why."""


def run(argv: list[str], *, input: str | None = None, check: bool = True) -> str:
    result = subprocess.run(argv, input=input, capture_output=True, text=True)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise LabError(f"{' '.join(argv)} failed ({result.returncode}): {detail}")
    return result.stdout


def ip_batch(commands: list[str], netns: str | None = None) -> None:
    """Many iproute2 commands in one process; the lab sets up hundreds of links."""
    if not commands:
        return
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    run([*prefix, "-batch", "-"], input="\n".join(commands) + "\n")


def netns_list() -> set[str]:
    return {line.split()[0] for line in run(["ip", "netns", "list"]).splitlines() if line.strip()}


def link_exists(name: str, netns: str | None = None) -> bool:
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    return subprocess.run([*prefix, "link", "show", name], capture_output=True).returncode == 0
