"""A slow management link: the apply still converges. Needs netem, which this kernel may lack:
then the lab says so, and so does this test."""

from __future__ import annotations

import pytest
from e2e_support import bridge, condition, start_policy, wait_settled

from nodenet_lab import faults as lab_faults
from nodenet_lab.sh import LabError


def test_a_policy_converges_over_a_slow_link(
    lab, api, operator_process, cleanup, faults, fault_log
):
    node = lab.nodes[0]
    if not lab_faults.netem_available():
        with pytest.raises(LabError, match="no netem"):
            faults.slow(node, 300)
        pytest.skip(lab_faults.NO_NETEM)
    faults.slow(node, 300)
    try:
        start_policy(api, cleanup, "fault-slow", [node], bridge("brslow"), ["brslow"])
        policy = wait_settled(api, "fault-slow", operator_process)
        converged = condition(policy, "Available").get("status") == "True"
        fault_log.converged["fault-slow"] = converged
        assert converged, policy["status"]
    finally:
        lab_faults.slow(node.name, 0, lab.state_dir)
