"""The operator's unit tests import nmstate_operator from operator/, and through it the
collection's module_utils, from a collection tree made of this checkout."""

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_collections = Path(tempfile.mkdtemp(prefix="nodenet-collections-"))
(_collections / "ansible_collections" / "nodenet").mkdir(parents=True)
(_collections / "ansible_collections" / "nodenet" / "nmstate").symlink_to(REPO)
sys.path.insert(0, str(_collections))
sys.path.insert(0, str(REPO / "operator"))
