"""Which hosts a known_hosts file can vouch for, read the way ssh reads it.

Under strict host key checking a node with no key in the file can only be refused. Asking ssh
to find that out costs a run, and its answer can be lost: with pipelining, Ansible may write
the module into an ssh that is already exiting and report a broken pipe instead of ssh's
"Host key verification failed". So the operator refuses such nodes itself, before any run.
The reading errs towards "may know": ssh still checks every key it is shown.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

HASHED_PREFIX = "|1|"
WILDCARDS = frozenset("*?")


class KnownHosts:
    def __init__(self, lines: list[str]) -> None:
        self.names: set[str] = set()
        self.hashed: list[tuple[bytes, bytes]] = []  # (salt, HMAC-SHA1 of the name)
        self.matches_any = False  # a pattern or a CA line we do not judge: leave it to ssh
        self.verdicts: dict[str, bool] = {}  # hashed names cost an HMAC per line: judged once
        for line in lines:
            self._add(line.split())

    @classmethod
    def read(cls, path: Path) -> KnownHosts:
        try:
            return cls(path.read_text(errors="replace").splitlines())
        except FileNotFoundError:
            return cls([])

    def _add(self, fields: list[str]) -> None:
        if not fields or fields[0].startswith("#"):
            return
        if fields[0] == "@revoked":
            return
        if fields[0].startswith("@"):  # @cert-authority: a CA may sign any host's key
            self.matches_any = True
            return
        if len(fields) < 3:
            return
        for pattern in fields[0].split(","):
            if pattern.startswith(HASHED_PREFIX):
                self._add_hashed(pattern)
            elif WILDCARDS & set(pattern) or pattern.startswith("!"):
                self.matches_any = True
            else:
                self.names.add(pattern)

    def _add_hashed(self, pattern: str) -> None:
        try:
            salt, digest = pattern[len(HASHED_PREFIX) :].split("|", 1)
            self.hashed.append((base64.b64decode(salt), base64.b64decode(digest)))
        except ValueError:
            self.matches_any = True  # unreadable: let ssh judge it

    def may_know(self, host: str) -> bool:
        """Whether the file may hold a key for `host` (a HostKeyAlias on port 22)."""
        if self.matches_any or host in self.names:
            return True
        if host not in self.verdicts:
            name = host.encode()
            self.verdicts[host] = any(
                hmac.compare_digest(hmac.new(salt, name, hashlib.sha1).digest(), digest)
                for salt, digest in self.hashed
            )
        return self.verdicts[host]


# Every run asks, and a file of 1,000 hashed names takes about 1 s to judge 1,000 nodes: the
# file is read again, and its verdicts forgotten, only when it changes.
_read: dict[Path, tuple[tuple[int, int, int], KnownHosts]] = {}


def known_hosts_at(path: Path) -> KnownHosts:
    """The KnownHosts of `path` as it is now, read once per version of the file."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return KnownHosts([])
    version = (info.st_ino, info.st_mtime_ns, info.st_size)
    cached = _read.get(path)
    if cached is None or cached[0] != version:
        cached = _read[path] = (version, KnownHosts.read(path))
    return cached[1]
