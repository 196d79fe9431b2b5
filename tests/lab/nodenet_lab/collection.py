"""This checkout as an importable collection, for code that imports its module_utils (the
operator does) outside Ansible."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def make_importable() -> Path:
    """Put a collections directory with ansible_collections/nodenet/nmstate -> this checkout on
    sys.path; returns that directory."""
    root = Path(tempfile.mkdtemp(prefix="nodenet-collections-"))
    (root / "ansible_collections" / "nodenet").mkdir(parents=True)
    (root / "ansible_collections" / "nodenet" / "nmstate").symlink_to(REPO)
    sys.path.insert(0, str(root))
    return root
