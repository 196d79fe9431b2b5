"""Trust on first use, kept where the operator keeps node state: the first host key each node
shows is recorded in its NodeNetworkState (`status.hostKey`) and must never change.

ssh does the checking (StrictHostKeyChecking=accept-new against one known_hosts file); this
module fills that file from the NNS objects when the operator starts, so a restarted operator
(whose runner directory may be an emptyDir) still knows every key, and records the lines ssh
adds after each run.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from .api import Api, Gone

log = logging.getLogger(__name__)


def read_lines(path: Path) -> dict[str, str]:
    """known_hosts lines by their host field (the inventory name, through HostKeyAlias)."""
    if not path.exists():
        return {}
    lines = {}
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 3 and not line.startswith("#"):
            lines.setdefault(fields[0], line)
    return lines


class TrustOnFirstUse:
    def __init__(self, path: Path, api: Api, inventory_name) -> None:
        self.path = path
        self.api = api
        self.inventory_name = inventory_name  # node name -> its name in inventories
        self.recorded: dict[str, str] = {}  # inventory name -> line, as in the NNS objects
        self._guard = threading.Lock()

    def seed(self) -> None:
        """Write the known_hosts file from the keys the NNS objects hold."""
        for name, nns in self.api.list_nns().items():
            line = (nns.get("status") or {}).get("hostKey")
            if line and line.split()[0] == self.inventory_name(name):
                self.recorded[line.split()[0]] = line
        with self._guard:
            present = read_lines(self.path)
            present.update(self.recorded)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("".join(f"{line}\n" for line in present.values()))
        log.info("trust on first use: %d host keys known", len(self.recorded))

    def record_new(self, nodes: list[str]) -> None:
        """After a run over `nodes`: record in their NNS the keys ssh accepted for the first time."""
        with self._guard:
            present = read_lines(self.path)
        for node in nodes:
            alias = self.inventory_name(node)
            line = present.get(alias)
            if line is None or self.recorded.get(alias) == line:
                continue
            try:
                self.api.patch_nns_status(node, {"hostKey": line})
            except Gone:
                continue
            self.recorded[alias] = line
            log.info("trust on first use: recorded the host key of %s", node)
