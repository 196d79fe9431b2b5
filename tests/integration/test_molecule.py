"""Each role's Molecule scenario (converge, idempotence, verify) on the lab's nodes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROLES = Path(__file__).resolve().parents[2] / "roles"


@pytest.mark.parametrize(
    "role", sorted(p.parent.parent.name for p in ROLES.glob("*/molecule/default"))
)
def test_molecule_scenario(lab, collections_path, role):
    env = dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        ANSIBLE_COLLECTIONS_PATH=str(collections_path),
        NODENET_LAB_STATE=str(lab.state_dir),
        ANSIBLE_NOCOLOR="1",
        NO_COLOR="1",
    )
    env.pop("ANSIBLE_CONFIG", None)
    done = subprocess.run(
        ["molecule", "test"], cwd=ROLES / role, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    assert (
        "idempotence: Executed: Successful" in done.stdout + done.stderr
        or "idempotence" not in done.stdout
    )
