"""A policy's probe settings, within what the operator allows."""

from __future__ import annotations

import pytest
from fakes import node
from nmstate_operator import probes
from nmstate_operator.probes import ProbeRules
from test_step import cluster, phase, policy_condition  # noqa: F401 (fixture)

RULES = ProbeRules(timeout=20, max_timeout=120, skippable=frozenset({"dns"}))
API_PROBE = {"name": "registry", "type": "tcp", "host": "10.0.0.9", "port": 5000}


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (None, None),
        ({"timeoutSeconds": 30, "skip": ["dns"], "extra": [API_PROBE]}, None),
        ("fast", "probes must be a mapping (timeoutSeconds, skip, extra)"),
        ({"retries": 3}, "probes: unknown field 'retries' (known: timeoutSeconds, skip, extra)"),
        ({"timeoutSeconds": 0}, "probes.timeoutSeconds must be a positive integer"),
        (
            {"timeoutSeconds": 600},
            "probes.timeoutSeconds 600 is more than this operator allows (120, flag "
            "--max-probe-timeout)",
        ),
        (
            {"skip": ["default-gateway"]},
            "probes.skip: this operator does not let policies skip the default-gateway probe "
            "(skippable: dns; flag --skippable-probes)",
        ),
        ({"skip": ["ntp"]}, "probes.skip: 'ntp' is not a default probe"),
        (
            {"extra": [{"name": "x", "type": "command", "argv": ["reboot"]}]},
            "probes.extra[0]: type must be one of gateway, ping, tcp, tls, dns (a policy does "
            "not run commands on nodes)",
        ),
        (
            {"extra": [API_PROBE, dict(API_PROBE, port=None)]},
            "probes.extra[1] (name 'registry'): a tcp probe needs port",
        ),
        (
            {"extra": [dict(API_PROBE, name="dns")]},
            "probes.extra: the name 'dns' is taken (by a default probe or another)",
        ),
        ({"extra": [API_PROBE] * 17}, "probes.extra: at most 16 probes"),
    ],
)
def test_what_a_policy_may_ask_of_the_probes(spec, problem):
    found = probes.problem(spec, RULES)
    assert found == problem or (problem and found and found.startswith(problem)), found


def test_role_variables_carry_the_policy_within_the_operator_defaults():
    spec = {"timeoutSeconds": 50, "skip": ["dns"], "extra": [API_PROBE]}
    variables = probes.role_variables(spec, RULES, "10.0.0.1:6443")
    assert variables == {
        "nmstate_probe_timeout": 50,
        "nmstate_rollback_timeout": 90,  # room for the longer wait on the node's own timer
        "nmstate_skip_probes": ["dns"],
        "nmstate_probes": [API_PROBE],
        "nmstate_dns_probe_name": "root-servers.net",
        "nmstate_api_server": "10.0.0.1:6443",
    }
    defaults = probes.role_variables(None, RULES, None)
    assert defaults["nmstate_probe_timeout"] == 20 and defaults["nmstate_rollback_timeout"] == 60
    assert defaults["nmstate_skip_probes"] == [] and defaults["nmstate_api_server"] is None


def test_the_api_endpoint_comes_from_the_flag_or_the_cluster(caplog):
    assert probes.api_server_source("none", lambda: "x:1")() is None
    assert probes.api_server_source("10.0.0.1:6443", lambda: "x:1")() == "10.0.0.1:6443"
    assert probes.api_server_source("auto", lambda: "10.1.0.1:443")() == "10.1.0.1:443"

    def forbidden():
        raise RuntimeError("403 Forbidden")

    assert probes.api_server_source("auto", forbidden)() is None
    assert "the API endpoint lookup failed: 403 Forbidden" in caplog.text


def test_a_policy_asking_more_than_allowed_is_refused_and_nothing_runs(cluster):  # noqa: F811
    api, runs, rollout = cluster([node("n1")])
    api.policy["spec"]["probes"] = {"skip": ["api-server"]}
    rollout.until_idle()
    assert runs.runs == []
    degraded = policy_condition(api, "Degraded")
    assert (
        degraded["reason"] == "InvalidPolicy" and "skip the api-server probe" in degraded["message"]
    )


def test_skipped_probes_reach_the_run_and_the_enactment_warns(cluster):  # noqa: F811
    api, runs, rollout = cluster([node("n1")])
    api.policy["spec"]["probes"] = {"skip": ["dns"], "timeoutSeconds": 5}
    rollout.until_idle()
    assert runs.settings[0]["nmstate_skip_probes"] == ["dns"]
    assert runs.settings[0]["nmstate_probe_timeout"] == 5
    available = next(
        c for c in api.enactments["n1.p"]["status"]["conditions"] if c["type"] == "Available"
    )
    assert available["status"] == "True"
    assert available["message"].endswith(
        "warning: the policy skips the dns probe, so breaking that is not rolled back"
    )
