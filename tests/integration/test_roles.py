"""The roles on the lab: safe applies that roll back on their own, reports, prerequisites."""

from __future__ import annotations

import socket
import time

import pytest
from test_collection_modules import kernel_view, on_every_node

from nodenet_lab import settings, states

CUT_REPEATS = 2  # the same cut twice in a row: a rollback leaves the node ready for the next
PROBE_TIMEOUT = 5
ROLLBACK_TIMEOUT = 30


def cut_management(node):
    return states.cut_management()


def management_view(node):
    out = node.run("ip -4 -br addr show mgmt0; ip -4 route show default").stdout
    # NetworkManager re-adds the restored default route with its own metric.
    return " ".join(
        part
        for part in out.split()
        if not part.isdigit() and part not in ("metric", "proto", "static")
    )


def role_vars(lab, state_of, **extra):
    data = on_every_node(lab, state_of)
    data.update(
        nmstate_probe_timeout=PROBE_TIMEOUT, nmstate_rollback_timeout=ROLLBACK_TIMEOUT, **extra
    )
    return data


@pytest.fixture(scope="module")
def cut_off_runs(lab, playbook):
    """The cut-off state applied CUT_REPEATS times in a row on every node at once."""
    before = {n.name: management_view(n) for n in lab.nodes}
    runs = []
    for _ in range(CUT_REPEATS):
        started = time.monotonic()
        run = playbook("role_apply.yml", role_vars(lab, cut_management))
        elapsed = time.monotonic() - started
        answers = {n.name: n.run("true", check=False).returncode == 0 for n in lab.nodes}
        after = {n.name: management_view(n) for n in lab.nodes}
        runs.append((run, elapsed, answers, after))
    return before, runs


@pytest.mark.parametrize("name", ["node01", "node02", "node03", "node04"])
def test_cutting_the_management_link_is_rolled_back_every_time(lab, cut_off_runs, name):
    node = lab.node(name)
    before, runs = cut_off_runs
    for attempt, (run, elapsed, answers, after) in enumerate(runs, start=1):
        outcome = run.fact(name, "nmstate_apply_result")
        failure = run.result(name, "Fail when the change was not kept")
        assert outcome["rolled_back"] is True, f"attempt {attempt}: {outcome}"
        assert outcome["failed_probe"]["name"] in ("controller", "default-gateway"), outcome
        assert failure["_status"] == "failed"
        assert "rolled back: probe" in failure["msg"] and "restored" in failure["msg"]
        assert answers[name], f"attempt {attempt}: {name} does not answer SSH after the play"
        assert after[name] == before[name], f"attempt {attempt}: management link not restored"
        assert elapsed < ROLLBACK_TIMEOUT + 10 + 15, f"attempt {attempt} took {elapsed:.0f} s"
        assert outcome["mode"] == ("networkmanager" if node.network_manager else "kernel-only")
    info = node.show("mgmt0")["interfaces"][0]
    assert node.address in {a["ip"] for a in info["ipv4"]["address"]}


def break_data_link(node):
    return {
        "interfaces": [
            {
                "name": "eth2",
                "type": "ethernet",
                "state": "up",
                "ipv4": {
                    "enabled": True,
                    "address": [
                        {"ip": f"10.231.82.{10 + int(node.name[-2:])}", "prefix-length": 24}
                    ],
                },
            }
        ]
    }


def test_a_change_to_an_unprobed_data_link_is_applied_and_kept(lab, playbook):
    """Every default probe runs against the lab's real gateway, resolver and API server (named
    here; a playbook that names no endpoint gets no api-server probe)."""
    api = f"{settings.API_ADDRESS}:{settings.APISERVER_PORT}"
    run = playbook("role_apply.yml", role_vars(lab, break_data_link, nmstate_api_server=api))
    try:
        assert run.rc == 0, run.output[-3000:]
        for node in lab.nodes:
            outcome = run.fact(node.name, "nmstate_apply_result")
            assert outcome["applied"] is True and outcome["rolled_back"] is False, outcome
            assert outcome["required_probes"] == [
                "controller",
                "default-gateway",
                "dns",
                "api-server",
            ], outcome["probes_before"]
            assert (
                f"10.231.82.{10 + int(node.name[-2:])}/24"
                in node.run("ip -br addr show eth2").stdout
            )
    finally:
        off = {
            "interfaces": [
                {"name": "eth2", "type": "ethernet", "state": "up", "ipv4": {"enabled": False}}
            ]
        }
        playbook("apply.yml", {"desired_by_host": {n.name: off for n in lab.nodes}})


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            {
                "interfaces": [
                    {
                        "name": "br9",
                        "type": "linux-bridge",
                        "state": "up",
                        "bridge": {"port": [{"name": "nosuch0"}]},
                    }
                ]
            },
            "nosuch0",
        ),
        (
            {
                "interfaces": [
                    {
                        "name": "mgmt0",
                        "type": "ethernet",
                        "state": "up",
                        "ipv4": {
                            "enabled": True,
                            "address": [{"ip": "10.0.0.1", "prefix-length": 33}],
                        },
                    }
                ]
            },
            "prefix length",
        ),
    ],
)
def test_a_bad_state_fails_before_anything_changes(lab, playbook, state, message):
    before = {n.name: kernel_view(n) for n in lab.nodes}
    run = playbook("role_apply.yml", role_vars(lab, lambda n: state))
    assert run.rc != 0
    for node in lab.nodes:
        failure = run.result(node.name, "Fail when the change was not kept")
        assert failure["_status"] == "failed" and message in failure["msg"], failure
        outcome = run.fact(node.name, "nmstate_apply_result")
        assert outcome["applied"] is False
        assert kernel_view(node) == before[node.name]


def test_report_role_publishes_each_nodes_filtered_state(lab, playbook):
    run = playbook("role_report.yml")
    assert run.rc == 0, run.output[-3000:]
    for node in lab.nodes:
        report = run.result(node.name, "Report")["nmstate_report"]
        names = sorted(i["name"] for i in report["current_state"]["interfaces"])
        assert names == ["eth1", "eth2", "lo", "mgmt0"]
        assert report["node"] == node.name and report["nmstate_version"] == "2.2.62"
        assert report["timestamp"].endswith("Z")
        assert "valid-life-time" not in str(report["current_state"])
        assert report["unchanged"] is False and len(report["digest"]) == 64


def test_report_role_answers_unchanged_to_the_digest_it_last_sent(lab, playbook):
    node = lab.nodes[0]
    first = playbook("role_report.yml", limit=node.name).result(node.name, "Report")
    digest = first["nmstate_report"]["digest"]
    again = playbook("role_report.yml", {"nmstate_report_known_digest": digest}, limit=node.name)
    report = again.result(node.name, "Report")["nmstate_report"]
    assert report == {
        "node": node.name,
        "digest": digest,
        "unchanged": True,
        "timestamp": report["timestamp"],
    }
    node.run("ip link add brdigest type bridge")
    try:
        changed = playbook(
            "role_report.yml", {"nmstate_report_known_digest": digest}, limit=node.name
        )
        report = changed.result(node.name, "Report")["nmstate_report"]
    finally:
        node.run("ip link del brdigest")
    assert report["unchanged"] is False and report["digest"] != digest
    assert "brdigest" in [i["name"] for i in report["current_state"]["interfaces"]]


@pytest.fixture
def hidden_nmstate(lab):
    """Make nmstate disappear from a node for a while, as on a fresh machine."""
    node = lab.node("node01")
    node.run(
        "mkdir -p /run/empty-sbin /run/empty-python && mount --bind /run/empty-sbin /usr/local/sbin && "
        "mount --bind /run/empty-python /usr/local/lib/python3.11/dist-packages"
    )
    try:
        yield node
    finally:
        node.run("umount /usr/local/sbin; umount /usr/local/lib/python3.11/dist-packages")


def test_prerequisites_keep_a_node_with_nmstate_and_report_versions(lab, playbook):
    run = playbook("role_prerequisites.yml")
    assert run.rc == 0, run.output[-3000:]
    for node in lab.nodes:
        found = run.result(node.name, "Prerequisites")["nmstate_prerequisites"]
        assert found["present"] is True and found["installed"] == []
        assert found["nmstatectl_version"] == "2.2.62"
        assert found["libnmstate_version"] == ("2.2.62" if node.libnmstate else None)


def test_prerequisites_stop_early_where_nmstate_is_not_packaged(hidden_nmstate, playbook):
    run = playbook("role_prerequisites.yml", limit=hidden_nmstate.name)
    failure = run.result(hidden_nmstate.name, "Stop early where nmstate is not packaged")
    assert failure["_status"] == "failed", run.output[-3000:]
    assert "Debian 12" in failure["msg"] and "Nothing was installed" in failure["msg"]
    assert (
        run.result(hidden_nmstate.name, "Install the packages in one transaction")["_status"]
        == "missing"
    )


def test_prerequisites_choose_packages_and_fake_the_install(hidden_nmstate, playbook):
    run = playbook(
        "role_prerequisites.yml",
        {"nmstate_prerequisites_fake_install": True, "nmstate_prerequisites_packages": ["nmstate"]},
        limit=hidden_nmstate.name,
    )
    assert run.rc == 0, run.output[-3000:]
    found = run.result(hidden_nmstate.name, "Prerequisites")["nmstate_prerequisites"]
    assert found == {
        "present": False,
        "installed": ["nmstate"],
        "install_faked": True,
        "nmstatectl_version": None,
        "libnmstate_version": None,
    }


def test_user_probes_count_only_when_they_passed_before(lab, playbook):
    """A TCP probe to a listening controller port and a command probe are required; a TCP probe
    to a closed port fails before the change and so does not block it."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((settings.mgmt_gateway(), 0))
    listener.listen(50)
    port = listener.getsockname()[1]
    probes = [
        {"name": "api-endpoint", "type": "tcp", "host": settings.mgmt_gateway(), "port": port},
        {"name": "closed-port", "type": "tcp", "host": settings.mgmt_gateway(), "port": 9},
        {"name": "command", "type": "command", "argv": ["test", "-d", "/proc/self"]},
    ]
    try:
        run = playbook(
            "role_apply.yml",
            role_vars(lab, break_data_link, nmstate_probes=probes, nmstate_default_probes=False),
        )
        assert run.rc == 0, run.output[-3000:]
        for node in lab.nodes:
            outcome = run.fact(node.name, "nmstate_apply_result")
            assert outcome["applied"] is True, outcome
            assert outcome["required_probes"] == ["api-endpoint", "command"], outcome
            before = {p["name"]: p["passed"] for p in outcome["probes_before"]}
            assert before == {"api-endpoint": True, "closed-port": False, "command": True}
            assert all(p["passed"] for p in outcome["probes_after"])
    finally:
        listener.close()
        off = {
            "interfaces": [
                {"name": "eth2", "type": "ethernet", "state": "up", "ipv4": {"enabled": False}}
            ]
        }
        playbook("apply.yml", {"desired_by_host": {n.name: off for n in lab.nodes}})


def test_check_mode_with_diff_predicts_the_change_and_changes_nothing(lab, playbook):
    def new_bridge(node):
        return {"interfaces": [{"name": "brcheck", "type": "linux-bridge", "state": "up"}]}

    before = {n.name: kernel_view(n) for n in lab.nodes}
    run = playbook("role_apply.yml", role_vars(lab, new_bridge), check=True, diff=True)
    assert run.rc == 0, run.output[-3000:]
    assert "+- name: brcheck" in run.output, "the diff of each node"
    for node in lab.nodes:
        started = run.result(node.name, "Start the transaction on the node")
        assert started["changed"] is True and started["diff"]["before"], started
        result = run.fact(node.name, "nmstate_apply_result")
        assert result["applied"] is False and result["changed"] is True, result
        assert result["differences"]["interfaces"][0]["name"] == "brcheck"
    assert {n.name: kernel_view(n) for n in lab.nodes} == before, "check mode changed a node"
