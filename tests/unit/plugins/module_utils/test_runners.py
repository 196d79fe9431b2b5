# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules' work with AnsibleModule, nmstate and the node lock faked: what each module
exits or fails with, and what it does before it touches the node."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json

import pytest

from ansible_collections.nodenet.nmstate.plugins.module_utils import (
    apply_runner,
    info_runner,
    nmstate_job,
    transaction_runner,
)
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_errors import NmstateError
from ansible_collections.nodenet.nmstate.plugins.module_utils.report_digest import report_digest

CURRENT = {
    "interfaces": [{"name": "eth1", "type": "ethernet", "state": "up", "mtu": 1500}],
    "routes": {"running": [], "config": []},
}
ADDRESS = {"ip": "10.0.0.9", "prefix-length": 24}
IPV4 = {"enabled": True, "address": [ADDRESS]}
# A change kernel-only mode can make (tests of what it cannot are in test_kernel_limits.py).
ADDRESSED = {"interfaces": [{"name": "eth1", "type": "ethernet", "ipv4": IPV4}]}


class Ended(Exception):
    """exit_json or fail_json was called: the module ended with `result`."""

    def __init__(self, failed, result):
        super(Ended, self).__init__(result.get("msg"))
        self.failed = failed
        self.result = result


class FakeModule:
    """An AnsibleModule with its options' defaults and the given params."""

    def __init__(self, runner, check_mode=False, diff=False, **params):
        spec = runner.MODULE_ARGS["argument_spec"]
        self.params = dict((name, option.get("default")) for name, option in spec.items())
        self.params.update(params)
        self.check_mode = check_mode
        self._diff = diff
        self.no_log_values = set()

    def fail_json(self, **result):
        raise Ended(True, result)

    def exit_json(self, **result):
        raise Ended(False, result)


class FakeClient:
    access = "nmstatectl"
    version = "2.2.62"

    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail
        self.state = CURRENT

    def show(self, running_config=False, kernel_only=False):
        self.calls.append(("show", running_config, kernel_only))
        return self.state

    def apply(self, state, **kwargs):
        self.calls.append(("apply", state, kwargs))
        if self.fail:
            raise self.fail
        self.state = {"interfaces": [dict(CURRENT["interfaces"][0], ipv4=IPV4)]}

    def commit(self, checkpoint=None):
        self.calls.append(("commit", checkpoint))

    def rollback(self, checkpoint=None):
        self.calls.append(("rollback", checkpoint))

    def generate_differences(self, new_state, old_state):
        return None

    def state_from_policy(self, policy, current):
        self.calls.append(("policy", policy))
        return policy["desiredState"]

    def state_and_captures_from_policy(self, policy, current):
        captured = {
            name: {"state": current, "metaInfo": {"version": "0"}} for name in policy["capture"]
        }
        return self.state_from_policy(policy, current), captured

    def features(self, desired, current):
        self.calls.append(("features",))
        return ["static-dns-name-server"] if "dns-resolver" in desired else []

    def validate(self, desired, current):
        self.calls.append(("validate", desired))
        if self.fail:
            raise self.fail


def end(runner, module):
    with pytest.raises(Ended) as ended:
        runner.run(module)
    return ended.value


@pytest.fixture
def client(monkeypatch):
    """The client every runner finds; where NetworkManager runs is decided by each test
    (nmstate's mode by kernel_only; info's version lookup sees none unless a test says so, not
    the processes of the machine running the tests)."""
    fake = FakeClient()
    for runner in (apply_runner, info_runner, transaction_runner):
        monkeypatch.setattr(runner, "find_client", lambda module, prefer: fake)
    monkeypatch.setattr(transaction_runner, "find_nmstatectl", lambda module: fake)
    monkeypatch.setattr(info_runner, "network_manager_running", lambda: False)
    return fake


@pytest.fixture
def locks(monkeypatch):
    """The node locks the transaction runner takes, by their timeout."""
    taken = []

    @contextlib.contextmanager
    def lock(timeout):
        taken.append(timeout)
        yield

    monkeypatch.setattr(transaction_runner, "exclusive_node_lock", lock)
    return taken


def test_apply_applies_and_reports_mode_access_and_version(client):
    ended = end(apply_runner, FakeModule(apply_runner, state=ADDRESSED, kernel_only=True))
    assert not ended.failed and ended.result["changed"] is True
    assert ended.result["mode"] == "kernel-only" and ended.result["access"] == "nmstatectl"
    assert ended.result["nmstate_version"] == "2.2.62"
    assert ended.result["differences"]["interfaces"][0]["ipv4"] == IPV4
    options = dict(kernel_only=True, verify=True, save_to_disk=True, commit=True)
    apply = [c for c in client.calls if c[0] == "apply"]
    assert apply == [("apply", ADDRESSED, dict(options, rollback_timeout=60))]


def test_apply_in_check_mode_predicts_and_applies_nothing(client):
    module = FakeModule(apply_runner, check_mode=True, diff=True, state=ADDRESSED, kernel_only=True)
    ended = end(apply_runner, module)
    assert ended.result["changed"] is True and "ip: 10.0.0.9" in ended.result["diff"]["after"]
    assert "apply" not in [c[0] for c in client.calls]


def test_apply_reads_a_state_string_and_masks_its_secrets(client):
    text = '{"interfaces": [{"name": "eth1", "802.1x": {"password": "s3cret"}}]}'
    module = FakeModule(apply_runner, check_mode=True, state=text, kernel_only=False)
    ended = end(apply_runner, module)
    assert not ended.failed and module.no_log_values == {"s3cret"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"src": "state.yml"}, "'src' is read on the controller"),
        ({"commit": False}, "need NetworkManager"),
        ({"action": "rollback"}, "need NetworkManager"),
        ({}, "one of 'state' or 'src' is required to apply"),
        ({"state": ["interfaces"]}, "invalid desired state: the state must be a mapping"),
        ({"state": "{not json: ["}, "invalid desired state: the state string is not valid YAML"),
    ],
)
def test_apply_refuses_bad_options_before_looking_for_nmstate(monkeypatch, params, message):
    monkeypatch.setattr(apply_runner, "find_client", lambda *a: pytest.fail("nmstate looked up"))
    params.setdefault("kernel_only", True)
    ended = end(apply_runner, FakeModule(apply_runner, **params))
    assert ended.failed and message in ended.result["msg"]
    assert ended.result["error_category"] == "invalid_argument"
    assert ended.result["mode"] == "kernel-only" and "desired_state" not in ended.result


@pytest.mark.parametrize("action", ["commit", "rollback"])
def test_apply_commits_or_rolls_back_a_checkpoint(client, action):
    module = FakeModule(apply_runner, action=action, checkpoint="/cp/3", kernel_only=False)
    ended = end(apply_runner, module)
    assert ended.result["changed"] is True and client.calls == [(action, "/cp/3")]
    module.check_mode = True
    client.calls = []
    assert end(apply_runner, module).result["changed"] is True and client.calls == []


def test_apply_failure_keeps_nmstates_message_and_the_desired_state(client):
    client.fail = NmstateError(
        "mtu desire 9000, current 1500", "verification_failed", "VerificationError"
    )
    ended = end(apply_runner, FakeModule(apply_runner, state=ADDRESSED, kernel_only=True))
    assert ended.failed and ended.result["error_category"] == "verification_failed"
    assert ended.result["nmstate_message"] == "mtu desire 9000, current 1500"
    assert ended.result["desired_state"] == ADDRESSED and ended.result["rolled_back"] is False


def test_info_filters_the_state_and_sets_the_fact(client):
    ended = end(info_runner, FakeModule(info_runner, types=["bridge"], kernel_only=True))
    assert ended.result["state"]["interfaces"] == []
    assert ended.result["ansible_facts"] == {"nmstate": ended.result["state"]}
    assert ended.result["mode"] == "kernel-only" and ended.result["changed"] is False


class VersionModule(FakeModule):
    """A FakeModule whose node has NetworkManager at `path`, printing `out` for --version."""

    def __init__(self, path="/usr/sbin/NetworkManager", out="1.42.4\n", rc=0, **params):
        FakeModule.__init__(self, info_runner, **params)
        self.path, self.out, self.rc, self.commands = path, out, rc, []

    def get_bin_path(self, name, opt_dirs=None):
        return self.path if name == "NetworkManager" else None

    def run_command(self, args, environ_update=None):
        self.commands.append(args)
        return self.rc, self.out, ""


def test_info_reports_the_running_network_managers_version(client, monkeypatch):
    monkeypatch.setattr(info_runner, "network_manager_running", lambda: True)
    module = VersionModule(kernel_only=False)
    ended = end(info_runner, module)
    assert ended.result["network_manager_version"] == "1.42.4"
    assert module.commands == [["/usr/sbin/NetworkManager", "--version"]]


def test_a_node_that_does_not_run_network_manager_reports_no_version(client, monkeypatch):
    # The binary is there (nodes may share it), but no NetworkManager process runs.
    monkeypatch.setattr(info_runner, "network_manager_running", lambda: False)
    module = VersionModule(kernel_only=True)
    assert end(info_runner, module).result["network_manager_version"] == ""
    assert module.commands == [], "nothing is run where NetworkManager does not run"


@pytest.mark.parametrize(
    "path, out, rc",
    [(None, "", 0), ("/usr/sbin/NetworkManager", "1.42.4\n", 1)],
    ids=["not found", "failed"],
)
def test_a_network_manager_that_gives_no_version_reports_none(client, monkeypatch, path, out, rc):
    monkeypatch.setattr(info_runner, "network_manager_running", lambda: True)
    ended = end(info_runner, VersionModule(path=path, out=out, rc=rc, kernel_only=False))
    assert ended.result["network_manager_version"] == ""


@pytest.mark.parametrize(
    "out, version",
    [
        ("1.42.4\n", "1.42.4"),
        ("1.46.0-20.el9_4\n", "1.46.0-20.el9_4"),
        ("  1.48.10~rc1\nsecond line\n", "1.48.10~rc1"),
        ("1." + "9" * 200, "1." + "9" * 62),
        ("", ""),
        ("NetworkManager 1.42.4", ""),
        ("1.42.4; rm -rf /", ""),
        ("{{ lookup('pipe', 'id') }}", ""),
        ("1.42.4 \x1b[31m", ""),
    ],
)
def test_only_a_short_version_string_is_taken_from_what_the_node_prints(out, version):
    assert info_runner.version_string(out) == version
    assert len(info_runner.version_string(out)) <= info_runner.VERSION_LIMIT


def test_info_failure_says_which_mode(monkeypatch):
    def missing(module, prefer):
        raise NmstateError("nmstatectl was not found", "missing")

    monkeypatch.setattr(info_runner, "find_client", missing)
    ended = end(info_runner, FakeModule(info_runner, kernel_only=False))
    assert ended.failed and ended.result["error_category"] == "missing"
    assert ended.result["mode"] == "networkmanager"


def test_transaction_in_check_mode_predicts_under_the_node_lock(client, locks):
    module = FakeModule(transaction_runner, check_mode=True, state=ADDRESSED, kernel_only=True)
    ended = end(transaction_runner, module)
    assert not ended.failed and ended.result["changed"] is True
    assert ended.result["applied"] is False and ended.result["mode"] == "kernel-only"
    assert locks == [60 + 3 * 20 + 60]
    assert "apply" not in [c[0] for c in client.calls]


def test_transaction_in_check_mode_asks_nmstate_and_shows_the_diff(client, locks):
    module = FakeModule(
        transaction_runner, check_mode=True, diff=True, state=ADDRESSED, kernel_only=True
    )
    ended = end(transaction_runner, module)
    assert ended.result["accepted"] is True and ended.result["validated_by_nmstate"] is True
    assert ("validate", ADDRESSED) in client.calls
    assert "10.0.0.9" not in ended.result["diff"]["before"]
    assert "10.0.0.9" in ended.result["diff"]["after"] and "eth1" in ended.result["diff"]["after"]


def test_transaction_in_check_mode_fails_when_nmstate_refuses_the_state(client, locks):
    client.fail = NmstateError("interfaces: invalid IP address syntax", "invalid_argument")
    module = FakeModule(transaction_runner, check_mode=True, state=ADDRESSED, kernel_only=True)
    ended = end(transaction_runner, module)
    assert ended.failed
    assert ended.result["msg"].endswith(": interfaces: invalid IP address syntax")
    assert "apply" not in [c[0] for c in client.calls]


def test_transaction_reports_the_rendered_policy(client, locks):
    policy = {"capture": {"eth": 'interfaces.name=="eth1"'}, "desiredState": ADDRESSED}
    module = FakeModule(transaction_runner, check_mode=True, state=policy, kernel_only=True)
    ended = end(transaction_runner, module)
    assert ended.result["rendered_state"] == ADDRESSED
    assert ended.result["captured_states"]["eth"]["state"] == CURRENT
    assert ended.result["features"] == []


def test_transaction_fails_when_the_policy_renders_an_invalid_state(client, locks):
    client.state_from_policy = lambda policy, current: {"interfaces": [{"type": "ethernet"}]}
    policy = {"capture": {"eth": 'interfaces.name=="eth1"'}, "desiredState": ADDRESSED}
    ended = end(transaction_runner, FakeModule(transaction_runner, state=policy, kernel_only=True))
    assert ended.failed and ended.result["msg"].startswith("the policy rendered an invalid state: ")
    assert ended.result["rendered_state"] == {"interfaces": [{"type": "ethernet"}]}
    assert ended.result["error_category"] == "invalid_argument"


def test_a_rolled_back_transaction_fails_naming_the_probe(monkeypatch, client, locks):
    outcome = {
        "applied": False,
        "changed": False,
        "rolled_back": True,
        "mode": "kernel-only",
        "failed_probe": {"name": "controller", "type": "ping", "output": "100% loss"},
        "probes_after_rollback": [{"name": "controller", "passed": True}],
    }
    monkeypatch.setattr(transaction_runner.Transaction, "run", lambda self, *a: dict(outcome))
    ended = end(
        transaction_runner, FakeModule(transaction_runner, state=ADDRESSED, kernel_only=True)
    )
    assert ended.failed and ended.result["rolled_back"] is True
    assert ended.result["msg"] == (
        "rolled back: probe controller (ping) failed after the change: 100% loss; "
        "the node was restored to its previous state"
    )


def test_a_transaction_error_reports_whether_the_node_was_rolled_back(monkeypatch, client, locks):
    def run(self, *args):
        raise NmstateError("boom", "backend_failure", "PluginFailure", rolled_back=True)

    monkeypatch.setattr(transaction_runner.Transaction, "run", run)
    ended = end(
        transaction_runner, FakeModule(transaction_runner, state=ADDRESSED, kernel_only=True)
    )
    assert ended.failed and ended.result["rolled_back"] is True
    assert ended.result["applied"] is False and ended.result["mode"] == "kernel-only"
    assert ended.result["nmstate_message"] == "boom"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"src": "state.yml"}, "give 'state', or 'src' through the action plugin"),
        ({"state": None}, "give 'state', or 'src' through the action plugin"),
        ({"state": {"interface": []}}, "invalid desired state: unknown top-level key(s) interface"),
        (
            {"rollback_timeout": 30},
            "rollback_timeout (30) must be at least probe_timeout (20) + 15",
        ),
    ],
)
def test_transaction_refuses_bad_options_before_the_lock(monkeypatch, locks, params, message):
    monkeypatch.setattr(
        transaction_runner, "find_client", lambda *a: pytest.fail("nmstate looked up")
    )
    params.setdefault("state", ADDRESSED)
    ended = end(transaction_runner, FakeModule(transaction_runner, kernel_only=True, **params))
    assert ended.failed and message in ended.result["msg"]
    assert ended.result["error_category"] == "invalid_argument" and ended.result["applied"] is False
    assert locks == []


@pytest.mark.parametrize("check_mode", [True, False])
def test_transaction_refuses_a_bad_probe_before_the_lock_also_in_check_mode(
    monkeypatch, locks, check_mode
):
    monkeypatch.setattr(
        transaction_runner, "find_client", lambda *a: pytest.fail("nmstate looked up")
    )
    api = {"name": "api", "type": "tcp", "host": "10.0.0.1", "port": 6443}
    probes = [api, {"name": "db", "type": "tcp", "host": "10.0.0.2"}]
    module = FakeModule(
        transaction_runner, check_mode=check_mode, state=ADDRESSED, probes=probes, kernel_only=True
    )
    ended = end(transaction_runner, module)
    assert (
        ended.failed
        and ended.result["msg"] == "invalid probe: probes[1] (name 'db'): a tcp probe needs port"
    )
    assert (
        ended.result["error_category"] == "invalid_argument"
        and ended.result["rolled_back"] is False
    )
    assert locks == [], "refused before the node lock"


def test_transaction_refuses_a_misshapen_state_with_its_path_before_the_lock(monkeypatch, locks):
    monkeypatch.setattr(
        transaction_runner, "find_client", lambda *a: pytest.fail("nmstate looked up")
    )
    state = {"interfaces": [{"name": "br1", "bridge": {"port": [{"name": "eth1"}, {}]}}]}
    module = FakeModule(transaction_runner, check_mode=True, state=state, kernel_only=True)
    ended = end(transaction_runner, module)
    assert ended.result["msg"] == (
        "invalid desired state: interfaces[0].bridge.port[1]: every port needs a 'name'"
    )
    assert locks == []


def test_a_rollback_that_did_not_bring_every_probe_back_says_which_still_fail():
    result = {
        "failed_probe": {"name": "controller", "type": "ping", "output": "100% loss"},
        "probes_after_rollback": [
            {"name": "controller", "passed": False},
            {"name": "default-gateway", "passed": True},
            {"name": "dns", "passed": False},
        ],
    }
    assert transaction_runner.describe(result) == (
        "rolled back: probe controller (ping) failed after the change: 100% loss; "
        "the previous state was re-applied, but probes controller, dns still fail"
    )


def test_the_transaction_removes_its_payload_file_and_nothing_else(tmp_path):
    task_dir = tmp_path / "ansible-tmp-1796120647.49-19193-148693882527864"
    task_dir.mkdir()
    payload = task_dir / transaction_runner.PAYLOAD_NAME
    payload.write_text('ANSIBALLZ_PARAMS = \'{"password": "s3cret"}\'')
    elsewhere = tmp_path / transaction_runner.PAYLOAD_NAME
    elsewhere.write_text("not in a task directory")
    other = task_dir / "AnsiballZ_setup.py"
    other.write_text("another module")

    def started_as(*argv):
        cmdline = tmp_path / "cmdline"
        cmdline.write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
        transaction_runner.drop_payload_file(str(cmdline))

    started_as("/usr/bin/python3", str(elsewhere))
    started_as("/usr/bin/python3", str(other))
    started_as("/usr/bin/python3", "-")  # pipelining: the payload came on stdin
    transaction_runner.drop_payload_file(str(tmp_path / "no-such-cmdline"))
    assert payload.exists() and elsewhere.exists() and other.exists()
    started_as("/usr/bin/python3", str(payload))
    assert not payload.exists() and task_dir.exists()
    started_as("/usr/bin/python3", str(payload))  # already gone: no error


def test_info_as_a_report_publishes_one_fact_with_one_copy_of_the_state(client):
    module = FakeModule(
        info_runner, report_fact="nmstate_report", report_node="node01", kernel_only=True
    )
    ended = end(info_runner, module)
    assert not ended.failed and set(ended.result) == {"changed", "ansible_facts", "mode"}
    report = ended.result["ansible_facts"]["nmstate_report"]
    assert report["node"] == "node01" and report["current_state"] == CURRENT
    assert report["nmstate_version"] == "2.2.62" and report["access"] == "nmstatectl"
    assert report["mode"] == "kernel-only" and report["timestamp"].endswith("Z")
    assert report["network_manager_version"] == ""


def test_a_detached_transaction_answers_at_once_and_its_job_holds_the_masked_result(
    monkeypatch, client, locks, tmp_path
):
    outcome = {"applied": True, "changed": True, "rolled_back": False, "msg": "pw s3cret"}
    monkeypatch.setattr(transaction_runner.Transaction, "run", lambda self, *a: dict(outcome))
    module = FakeModule(
        transaction_runner, state=ADDRESSED, kernel_only=True, detach=True, job_dir=str(tmp_path)
    )
    module.no_log_values.add("s3cret")
    ended = end(transaction_runner, module)
    assert not ended.failed and ended.result["finished"] is False
    job_id = ended.result["ansible_job_id"]
    result = nmstate_job.wait_for_job(nmstate_job.job_file(str(tmp_path), job_id), 10)
    assert result["applied"] is True and result["mode"] == "kernel-only"
    assert "s3cret" not in json.dumps(result), result

    waiter = FakeModule(
        transaction_runner, job_id=job_id, job_dir=str(tmp_path), result_fact="outcome"
    )
    waited = end(transaction_runner, waiter)
    assert waited.result["ansible_facts"]["outcome"]["applied"] is True


def test_a_detached_transaction_refuses_bad_options_at_once_and_starts_no_job(
    monkeypatch, locks, tmp_path
):
    monkeypatch.setattr(
        transaction_runner, "find_client", lambda *a: pytest.fail("nmstate looked up")
    )
    module = FakeModule(
        transaction_runner,
        state={"interface": []},
        kernel_only=True,
        detach=True,
        job_dir=str(tmp_path),
    )
    ended = end(transaction_runner, module)
    assert ended.failed and "unknown top-level key(s) interface" in ended.result["msg"]
    assert list(tmp_path.iterdir()) == []


def test_check_mode_predicts_at_once_even_when_asked_to_detach(client, locks, tmp_path):
    module = FakeModule(
        transaction_runner,
        check_mode=True,
        state=ADDRESSED,
        kernel_only=True,
        detach=True,
        job_dir=str(tmp_path),
    )
    ended = end(transaction_runner, module)
    assert ended.result["finished"] is True and "ansible_job_id" not in ended.result
    assert list(tmp_path.iterdir()) == []


def written_job(tmp_path, data):
    job_id = nmstate_job.new_job_id()
    nmstate_job.write_job(nmstate_job.job_file(str(tmp_path), job_id), data)
    return job_id


def test_a_wait_with_report_fact_reports_the_state_the_transaction_left(client, tmp_path):
    client.state = {"interfaces": [dict(CURRENT["interfaces"][0], ipv4=IPV4)]}
    job_id = written_job(tmp_path, {"applied": True, "changed": True, "rolled_back": False})
    waiter = FakeModule(
        transaction_runner,
        job_id=job_id,
        job_dir=str(tmp_path),
        result_fact="outcome",
        report_fact="nmstate_report",
        report_node="node01",
        kernel_only=True,
    )
    waited = end(transaction_runner, waiter)
    assert not waited.failed and waited.result["ansible_facts"]["outcome"]["applied"] is True
    report = waited.result["ansible_facts"]["nmstate_report"]
    assert report["current_state"] == client.state and report["node"] == "node01"
    assert report["unchanged"] is False and report["mode"] == "kernel-only"
    assert report["digest"] == report_digest(client.state, "2.2.62", "")
    assert client.calls == [("show", False, True)]


def test_a_wait_reads_no_report_while_the_job_runs_nor_fails_when_it_cannot(
    monkeypatch, client, tmp_path
):
    running = written_job(tmp_path, {"started": 1, "finished": 0})
    params = dict(job_dir=str(tmp_path), wait=0, report_fact="nmstate_report", kernel_only=True)
    waited = end(transaction_runner, FakeModule(transaction_runner, job_id=running, **params))
    assert waited.result["finished"] is False and "ansible_facts" not in waited.result
    assert client.calls == []

    def unreadable(**kwargs):
        raise NmstateError("NetworkManager is not running", "nmstate_error", "Bug")

    monkeypatch.setattr(client, "show", unreadable)
    done = written_job(tmp_path, {"applied": True, "changed": True, "rolled_back": False})
    waited = end(transaction_runner, FakeModule(transaction_runner, job_id=done, **params))
    assert not waited.failed and waited.result["applied"] is True
    assert "nmstate_report" not in (waited.result.get("ansible_facts") or {})
    assert "NetworkManager is not running" in waited.result["report_error"]
