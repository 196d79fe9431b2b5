# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The safe-apply transaction with nmstate, probes and the watchdog faked; the watchdog also for real."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import socket
import stat
import struct
import subprocess
import time

import pytest

from ansible_collections.nodenet.nmstate.plugins.module_utils import nmstate_probes as probes
from ansible_collections.nodenet.nmstate.plugins.module_utils import nmstate_transaction as tx
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_client import (
    NmstatectlClient,
    NmstateError,
)

DEFAULT_ROUTE = {
    "destination": "0.0.0.0/0",
    "next-hop-address": "10.0.0.1",
    "next-hop-interface": "mgmt0",
}
CURRENT = {
    "interfaces": [
        {
            "name": "mgmt0",
            "type": "ethernet",
            "state": "up",
            "ipv4": {"enabled": True, "address": [{"ip": "10.0.0.5", "prefix-length": 24}]},
            "ipv6": {"enabled": True, "address": [{"ip": "fe80::5", "prefix-length": 64}]},
        }
    ],
    "routes": {"running": [DEFAULT_ROUTE], "config": [DEFAULT_ROUTE]},
    "dns-resolver": {"running": {"server": ["10.0.0.53"]}, "config": {"server": ["10.0.0.53"]}},
}
CUT = {
    "interfaces": [{"name": "mgmt0", "type": "ethernet", "state": "up", "ipv4": {"enabled": False}}]
}


class FakeClient:
    path = "/usr/sbin/nmstatectl"

    def __init__(self, failing_applies=0):
        self.calls = []
        self.failing_applies = failing_applies

    def show(self, running_config=False, kernel_only=False):
        return CURRENT

    def apply(self, state, **kwargs):
        self.calls.append(("apply", state, kwargs))
        if self.failing_applies:
            self.failing_applies -= 1
            raise NmstateError("boom", "verification_failed", "VerificationError")
        return (
            "/org/freedesktop/NetworkManager/Checkpoint/3"
            if kwargs.get("commit") is False
            else None
        )

    def commit(self, checkpoint=None):
        self.calls.append(("commit", checkpoint))

    def rollback(self, checkpoint=None):
        self.calls.append(("rollback", checkpoint))

    def gen_revert(self, desired, current):
        self.calls.append(("gen_revert",))
        return {
            "interfaces": [
                {"name": "mgmt0", "type": "ethernet", "state": "up", "ipv4": {"enabled": True}}
            ]
        }


class FakeWatchdog:
    made = []

    def __init__(self, nmstatectl, revert, timeout, fired=False):
        self.revert, self.timeout, self.stopped, self.cleaned = revert, timeout, False, False
        self._fired = fired
        FakeWatchdog.made.append(self)

    def stop(self):
        self.stopped = True
        return not self._fired

    def cleanup(self):
        self.cleaned = True


def scripted(outcomes):
    """A probe runner that answers from a dict {probe name: [passed, passed, ...]}."""

    def run(probe, timeout):
        passed = outcomes[probe["name"]].pop(0)
        return {
            "name": probe["name"],
            "type": probe["type"],
            "passed": passed,
            "output": "scripted",
        }

    return run


def make(kernel_only, outcomes, client=None, **kwargs):
    client = client or FakeClient()
    FakeWatchdog.made = []
    transaction = tx.Transaction(
        client,
        client,
        kernel_only,
        rollback_timeout=60,
        probe_timeout=5,
        run_probe=scripted(outcomes),
        watchdog_factory=FakeWatchdog,
        controller="10.0.0.100",
        **kwargs,
    )
    return transaction, client


def test_default_probes_are_controller_gateway_dns_and_the_api_server_when_given():
    made, skipped = probes.default_probes(
        CURRENT, controller="10.0.0.100", api_server=("10.1.0.1", 6443)
    )
    assert [p["name"] for p in made] == ["controller", "default-gateway", "dns", "api-server"]
    assert made[1] == {"name": "default-gateway", "type": "gateway"}, "follows the route after"
    assert made[2]["query"] == "root-servers.net" and skipped == []
    assert made[3] == {"name": "api-server", "type": "tls", "host": "10.1.0.1", "port": 6443}


def test_default_probes_leave_out_what_the_node_lacks_and_what_is_skipped():
    no_route = dict(CURRENT, routes={"running": [dict(DEFAULT_ROUTE, **{"table-id": 200})]})
    no_route["dns-resolver"] = {"running": {}}
    made, skipped = probes.default_probes(no_route, controller="10.0.0.100")
    assert [p["name"] for p in made] == ["controller"], "no main-table default route, no resolver"
    made, skipped = probes.default_probes(
        CURRENT, controller="10.0.0.100", skip=["dns", "controller"]
    )
    assert [p["name"] for p in made] == ["default-gateway"]
    assert skipped == ["controller", "dns"]


def test_a_skipped_probe_is_reported_by_the_transaction():
    transaction = make(False, {"controller": [True, True], "default-gateway": [True, True]})[0]
    result = transaction.run(CUT, [], skip_probes=["dns"])
    assert result["applied"] and result["skipped_probes"] == ["dns"]


def test_networkmanager_mode_commits_when_required_probes_pass():
    transaction, client = make(
        False,
        {"controller": [True, True], "default-gateway": [True, True], "dns": [False]},
    )
    result = transaction.run(CUT, [])
    assert result["applied"] and not result["rolled_back"]
    assert result["required_probes"] == ["controller", "default-gateway"], (
        "dns failed before: not required"
    )
    assert [c[0] for c in client.calls] == ["gen_revert", "apply", "commit"]
    assert client.calls[1][2] == {"commit": False, "rollback_timeout": 60}
    assert client.calls[2][1] == "/org/freedesktop/NetworkManager/Checkpoint/3"
    assert "revert_state" in result, "returned for undoing the change later"


def test_networkmanager_mode_applies_without_nmstatectl_and_returns_no_revert_state():
    client = FakeClient()
    transaction = tx.Transaction(
        client,
        None,
        False,
        rollback_timeout=60,
        probe_timeout=5,
        run_probe=scripted({"controller": [True, True], "default-gateway": [True, True]}),
        controller="10.0.0.100",
    )
    result = transaction.run(CUT, [], skip_probes=["dns"])
    assert result["applied"] and "revert_state" not in result
    assert [c[0] for c in client.calls] == ["apply", "commit"]


def test_networkmanager_mode_rolls_back_the_checkpoint_when_a_probe_fails():
    transaction, client = make(
        False,
        {"controller": [True, False, True], "default-gateway": [False], "dns": [False]},
    )
    result = transaction.run(CUT, [])
    assert result["rolled_back"] and not result["applied"]
    assert result["failed_probe"]["name"] == "controller"
    assert [c[0] for c in client.calls] == ["gen_revert", "apply", "rollback"]
    assert result["probes_after_rollback"][0]["passed"] is True


def test_networkmanager_mode_puts_the_previous_dns_back_after_a_rollback():
    """Checkpoints do not cover NetworkManager's global DNS, where nmstate keeps it."""
    transaction, client = make(
        False,
        {
            "controller": [True, True, True],
            "default-gateway": [True, True, True],
            "dns": [True, False, True],
        },
    )
    bogus = {"dns-resolver": {"config": {"server": ["192.0.2.53"]}}}
    result = transaction.run(bogus, [])
    assert result["rolled_back"] and result["failed_probe"]["name"] == "dns"
    assert [c[0] for c in client.calls] == ["gen_revert", "apply", "rollback", "apply"]
    assert client.calls[3][1] == {"dns-resolver": {"config": {"server": ["10.0.0.53"]}}}


def test_kernel_mode_stops_the_watchdog_when_probes_pass():
    transaction, client = make(
        True,
        {"controller": [True, True], "default-gateway": [True, True], "dns": [False]},
    )
    result = transaction.run(CUT, [])
    assert result["applied"]
    watchdog = FakeWatchdog.made[0]
    assert watchdog.stopped and watchdog.cleaned and watchdog.timeout == 60
    assert [c[0] for c in client.calls] == ["gen_revert", "apply"]


def test_kernel_mode_applies_the_completed_revert_when_a_probe_fails():
    transaction, client = make(
        True,
        {"controller": [True, False, True], "default-gateway": [False], "dns": [False]},
    )
    result = transaction.run(CUT, [])
    assert result["rolled_back"] and result["failed_probe"]["name"] == "controller"
    revert = client.calls[-1][1]
    assert client.calls[-1][0] == "apply" and revert is FakeWatchdog.made[0].revert
    assert client.calls[-1][2] == {"kernel_only": True, "verify": False}
    mgmt = revert["interfaces"][0]
    assert mgmt["ipv4"]["address"] == [{"ip": "10.0.0.5", "prefix-length": 24}], (
        "gr's missing address is restored"
    )
    assert mgmt["ipv6"]["address"] == [{"ip": "fe80::5", "prefix-length": 64}], (
        "link-local kept to restore it"
    )
    assert revert["routes"]["config"][0]["destination"] == "0.0.0.0/0"


def test_kernel_mode_reports_a_watchdog_that_fired_first():
    client = FakeClient()
    FakeWatchdog.made = []
    outcomes = {
        "controller": [True, True, True],
        "default-gateway": [True, True, True],
        "dns": [False],
    }
    transaction = tx.Transaction(
        client,
        client,
        True,
        60,
        5,
        run_probe=scripted(outcomes),
        watchdog_factory=lambda *a: FakeWatchdog(*a, fired=True),
        controller="10.0.0.100",
    )
    result = transaction.run(CUT, [])
    assert result["rolled_back"] and result["failed_probe"]["name"] == "watchdog"
    assert [c[0] for c in client.calls] == ["gen_revert", "apply"], "the watchdog already reverted"


def test_kernel_mode_failed_apply_is_reverted_and_reraised():
    transaction, client = make(
        True,
        {"controller": [True], "default-gateway": [True], "dns": [False]},
        client=FakeClient(failing_applies=1),
    )
    with pytest.raises(NmstateError) as raised:
        transaction.run(CUT, [])
    assert raised.value.rolled_back is True
    assert [c[0] for c in client.calls] == ["gen_revert", "apply", "apply"]


def test_kernel_mode_says_so_when_the_revert_fails_too():
    transaction = make(
        True,
        {"controller": [True], "default-gateway": [True], "dns": [False]},
        client=FakeClient(failing_applies=2),
    )[0]
    with pytest.raises(NmstateError) as raised:
        transaction.run(CUT, [])
    assert raised.value.rolled_back is False
    assert "applying the revert state failed too: boom" in raised.value.message


def test_kernel_mode_without_nmstatectl_refuses_before_changing_anything():
    client = FakeClient()
    transaction = tx.Transaction(
        client,
        None,
        True,
        60,
        5,
        run_probe=scripted({"controller": [True], "default-gateway": [True], "dns": [True]}),
        controller="10.0.0.100",
    )
    with pytest.raises(tx.TransactionError) as raised:
        transaction.run(CUT, [])
    assert raised.value.category == "dependency" and client.calls == []


@pytest.mark.parametrize(
    ("probe", "message"),
    [
        ({"name": "x", "type": "telnet"}, "type must be one of"),
        ({"name": "x", "type": "tcp", "host": "a"}, "needs port"),
        ({"name": "x", "type": "command", "argv": "rm -rf /"}, "argv must be a list"),
    ],
)
def test_bad_probe_definitions_are_refused(probe, message):
    with pytest.raises(probes.ProbeError) as raised:
        probes.validate(probe)
    assert message in str(raised.value)


API = {"name": "api", "type": "tcp", "host": "10.0.0.1", "port": 6443}
AT_API = "probes[1] (name 'api'): "
PORT_RANGE = "port must be a number from 1 to 65535"


@pytest.mark.parametrize(
    ("probe", "message"),
    [
        (
            dict(API, type="telnet"),
            AT_API + "type must be one of gateway, dns, tls, tcp, ping, command",
        ),
        (dict(API, port=None), AT_API + "a tcp probe needs port"),
        (dict(API, port="https"), AT_API + PORT_RANGE + "; got 'https'"),
        (dict(API, port=70000), AT_API + PORT_RANGE + "; got 70000"),
        ({"type": "ping", "host": "h"}, "probes[1]: every probe needs a 'name' (a string)"),
        (
            {"name": "c", "type": "command", "argv": ["sleep", 1]},
            "probes[1] (name 'c'): argv must be a list of strings, not a shell line",
        ),
        ({"name": "t", "type": "tls", "host": "h"}, "probes[1] (name 't'): a tls probe needs port"),
        ("ping 10.0.0.1", "probes[1]: must be a mapping; got a str"),
    ],
)
def test_probes_are_checked_with_their_index_and_name(probe, message):
    with pytest.raises(probes.ProbeError) as raised:
        probes.validate_all([API, probe, {"name": "later", "type": "telnet"}])
    assert str(raised.value) == message
    assert raised.value.describe() == "invalid probe: " + message
    probes.validate_all([API, dict(API, name="api2", port="8443")])


def test_probe_retries_until_it_passes_or_time_runs_out(monkeypatch):
    answers = [False, False, True]
    monkeypatch.setattr(probes, "run_once", lambda probe: (answers.pop(0), "out"))
    now = [0.0]
    probe = {"name": "p", "type": "ping", "host": "h"}
    fake_time = dict(clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    result = probes.run(probe, timeout=10, **fake_time)
    assert result["passed"] and result["attempts"] == 3
    monkeypatch.setattr(probes, "run_once", lambda probe: (False, "down"))
    now[0] = 0.0
    result = probes.run(probe, timeout=3, **fake_time)
    assert not result["passed"] and result["output"] == "down"


def test_controller_address_comes_from_the_ssh_connection():
    assert (
        probes.controller_address({"SSH_CONNECTION": "10.0.0.100 50000 10.0.0.5 22"})
        == "10.0.0.100"
    )
    assert probes.controller_address({}) is None


def test_real_watchdog_fires_unless_stopped(tmp_path):
    fake = tmp_path / "nmstatectl"
    record = tmp_path / "applied"
    fake.write_text('#!/bin/sh\necho "$@" > %s\n' % record)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    nmstatectl = NmstatectlClient(str(fake), run_command=None)
    stopped = tx.KernelWatchdog(nmstatectl, {"interfaces": []}, timeout=1)
    assert stopped.stop() is True
    fired = tx.KernelWatchdog(nmstatectl, {"interfaces": []}, timeout=1)
    deadline = time.monotonic() + 10
    while fired.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert fired.stop() is False
    assert record.read_text().split() == ["apply", "--kernel", "--no-verify", fired.revert_path]
    fired.cleanup()
    stopped.cleanup()
    assert not os.path.exists(fired.workdir)


def test_a_second_transaction_waits_for_the_node_lock_and_gives_up_with_a_clear_error(tmp_path):
    lock = str(tmp_path / "transaction.lock")
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    with tx.exclusive_node_lock(5, path=lock):
        with (
            pytest.raises(tx.TransactionError, match="another nmstate transaction"),
            tx.exclusive_node_lock(3, path=lock, clock=lambda: now[0], sleep=sleep),
        ):
            pytest.fail("the lock is held")
        assert now[0] >= 3
    with tx.exclusive_node_lock(1, path=lock):
        pass  # free again once the holder is done


def test_the_node_lock_is_not_inherited_by_children(tmp_path):
    lock = str(tmp_path / "transaction.lock")
    with tx.exclusive_node_lock(1, path=lock):
        # A watchdog-like child process must not keep the node locked after we are done.
        child = subprocess.Popen(["sleep", "5"], close_fds=False)
    try:
        with tx.exclusive_node_lock(1, path=lock):
            pass
    finally:
        child.kill()
        child.wait()


def routes_json(monkeypatch, routes, ping_passes=True):
    """The main table as `ip -j route` shows it, and a ping that passes or not."""
    pinged = []

    def output(argv, timeout):
        if argv[0] == "ip":
            return 0, json.dumps(routes)
        pinged.append(argv)
        return (0, "1 received") if ping_passes else (1, "100% packet loss")

    monkeypatch.setattr(probes, "_output", output)
    return pinged


def test_the_gateway_probe_follows_the_main_table_after_the_change(monkeypatch):
    default = {"dst": "default", "gateway": "10.0.0.1", "dev": "mgmt0"}
    pinged = routes_json(monkeypatch, [default])
    assert probes.run_once({"name": "g", "type": "gateway"}) == (
        True,
        "default gateway 10.0.0.1 (dev mgmt0) answers",
    )
    assert pinged[0][-3:] == ["-I", "mgmt0", "10.0.0.1"]
    routes_json(monkeypatch, [default], ping_passes=False)
    passed, output = probes.run_once({"name": "g", "type": "gateway"})
    assert not passed and output.startswith("default gateway 10.0.0.1 (dev mgmt0) does not answer")
    for table in ([], [{"dst": "default", "type": "unreachable"}]):
        routes_json(monkeypatch, table)
        assert probes.run_once({"name": "g", "type": "gateway"}) == (
            False,
            "no default route in the main routing table",
        )
    multipath = {"dst": "default", "nexthops": [{"gateway": "10.0.0.2", "dev": "eth1"}]}
    routes_json(monkeypatch, [multipath])
    assert probes.run_once({"name": "g", "type": "gateway"})[1].startswith(
        "default gateway 10.0.0.2"
    )


def dns_reply(ident, flags):
    return struct.pack("!HHHHHH", ident, flags, 1, 1, 0, 0)


def test_dns_passes_only_when_the_name_resolves():
    verdict = probes.dns_verdict
    assert verdict(dns_reply(7, 0x8180), 7, "s", "n") == (True, "dns s resolved n")
    assert verdict(dns_reply(7, 0x8183), 7, "s", "n") == (False, "dns s: NXDOMAIN for n")
    assert verdict(dns_reply(7, 0x8185), 7, "s", "n") == (False, "dns s: REFUSED for n")
    assert verdict(dns_reply(8, 0x8180), 7, "s", "n") == (False, "dns s: unexpected reply")
    assert verdict(dns_reply(7, 0x0100), 7, "s", "n") == (
        False,
        "dns s: the reply is not a response",
    )


def test_dns_asks_the_name_servers_the_node_runs_when_it_probes(monkeypatch):
    dns = {"name": "dns", "type": "dns", "query": "n"}
    now = {"dns-resolver": {"running": {"server": ["192.0.2.53", "10.0.0.53"]}}}
    ping = {"name": "p", "type": "ping", "host": "h"}
    assert probes.needs_name_servers([ping, dns]) and not probes.needs_name_servers([ping])
    given = probes.with_name_servers([ping, dns, dict(dns, server="10.9.9.9")], now)
    assert given[0] == ping and given[2] == dict(dns, server="10.9.9.9")
    assert given[1]["servers"] == ["192.0.2.53", "10.0.0.53"]
    answers = {"192.0.2.53": (False, "dns 192.0.2.53: timed out"), "10.0.0.53": (True, "ok")}
    monkeypatch.setattr(probes, "_dns", lambda server, name: answers[server])
    assert probes._dns_any(["192.0.2.53", "10.0.0.53"], "n") == (True, "ok")
    assert probes._dns_any(["192.0.2.53"], "n") == (False, "dns 192.0.2.53: timed out")
    assert probes._dns_any([], "n") == (False, "the node has no name server")
    monkeypatch.setattr(probes, "_dns_any", lambda servers, name: (bool(servers), servers))
    assert probes.run_once(dict(given[1])) == (True, ["192.0.2.53", "10.0.0.53"])


def test_the_tls_probe_fails_on_a_closed_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    passed, output = probes.run_once(
        {"name": "api", "type": "tls", "host": "127.0.0.1", "port": port}
    )
    assert not passed and output.startswith("TLS 127.0.0.1:%d: " % port)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.1:6443", ("10.0.0.1", 6443)),
        ("[fd00::1]:443", ("fd00::1", 443)),
        ("api.example.com:6443", ("api.example.com", 6443)),
    ],
)
def test_api_endpoints_are_host_and_port(text, expected):
    assert probes.split_endpoint(text) == expected


@pytest.mark.parametrize("text", ["10.0.0.1", "fd00::1:443", "a b:1", "-x.com:1", "h:0", ":443"])
def test_bad_api_endpoints_are_refused(text):
    with pytest.raises(ValueError):
        probes.split_endpoint(text)


BRIDGE = {"interfaces": [{"name": "br1", "type": "linux-bridge", "state": "up"}]}
THROUGH_ETH1 = {"destination": "198.51.100.0/24", "next-hop-interface": "eth1"}


def test_a_revert_restores_only_the_routes_through_the_interfaces_the_change_names():
    current = dict(
        CURRENT,
        interfaces=CURRENT["interfaces"] + [{"name": "eth1", "type": "ethernet", "state": "up"}],
        routes={"config": [DEFAULT_ROUTE, THROUGH_ETH1]},
        **{"route-rules": {"config": [{"priority": 100, "route-table": 200}]}},
    )
    generated = {"interfaces": [{"name": "br1", "state": "absent"}]}
    revert = tx.complete_revert(generated, current, BRIDGE)
    assert revert == generated, "nothing of mgmt0 (NetworkManager would reapply its profile)"

    readdressed = {"interfaces": [{"name": "eth1", "type": "ethernet", "ipv4": {"enabled": False}}]}
    revert = tx.complete_revert({"interfaces": [{"name": "eth1"}]}, current, readdressed)
    assert revert["routes"] == {"config": [THROUGH_ETH1]}, "dropped with eth1's addresses"
    assert "route-rules" not in revert


def test_a_revert_of_a_route_change_restores_every_route_and_rule():
    current = dict(CURRENT, **{"route-rules": {"config": [{"priority": 100, "route-table": 200}]}})
    change = {
        "routes": {"config": [dict(DEFAULT_ROUTE, state="absent")]},
        "route-rules": {"config": []},
    }
    revert = tx.complete_revert({}, current, change)
    assert revert["routes"] == {"config": [DEFAULT_ROUTE]}
    assert revert["route-rules"] == {"config": [{"priority": 100, "route-table": 200}]}
