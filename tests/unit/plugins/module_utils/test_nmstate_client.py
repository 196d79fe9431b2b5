# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The access layer with libnmstate and nmstatectl faked: every call and every error kind."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import logging
import sys
import types

import pytest

from ansible_collections.nodenet.nmstate.plugins.module_utils import nmstate_client as nc

CHECKPOINT = "/org/freedesktop/NetworkManager/Checkpoint/7"
STATE = {"interfaces": [{"name": "br1", "type": "linux-bridge", "state": "up"}]}


class FakeLibError(Exception):
    """Stands in for libnmstate.error.NmstateError subclasses, which carry `kind`."""

    def __init__(self, message, kind):
        super(FakeLibError, self).__init__(message)
        self.kind = kind


def make_fake_libnmstate(fail_kind=None, fail_class=None):
    calls = []
    lib = types.ModuleType("libnmstate")
    lib.__version__ = "2.2.62"

    def record(name):
        def call(*args, **kwargs):
            calls.append((name, args, kwargs))
            if fail_kind:
                raise FakeLibError("nmstate says no", fail_kind)
            if fail_class:
                raise type(fail_class, (Exception,), {})("nmstate says no")
            if name == "apply" and not kwargs.get("commit", True):
                logging.getLogger("libnmstate").info("Created checkpoint %s", CHECKPOINT)
            if name in ("show", "show_running_config"):
                return {"interfaces": []}
            if name == "generate_differences":
                return {"interfaces": [{"name": "br1"}]}
            return None

        return call

    for name in (
        "show",
        "show_running_config",
        "apply",
        "commit",
        "rollback",
        "generate_differences",
    ):
        setattr(lib, name, record(name))
    return lib, calls


class FakeModule:
    """AnsibleModule's get_bin_path and run_command, scripted."""

    def __init__(self, results=None, path="/usr/sbin/nmstatectl"):
        self.results = list(results or [])
        self.calls = []
        self.path = path

    def get_bin_path(self, name, opt_dirs=None):
        return self.path

    def run_command(self, args, data=None, binary_data=False, environ_update=None):
        assert isinstance(args, list), "never a shell string"
        self.calls.append((args, data))
        return self.results.pop(0) if self.results else (0, "{}", "")


def test_apply_through_libnmstate_maps_every_option():
    lib, calls = make_fake_libnmstate()
    client = nc.LibnmstateClient(lib)
    assert client.apply(STATE, kernel_only=True, verify=False, save_to_disk=False) is None
    name, args, kwargs = calls[0]
    assert name == "apply" and args == (STATE,)
    assert kwargs == dict(
        kernel_only=True, verify_change=False, save_to_disk=False, commit=True, rollback_timeout=60
    )


def test_uncommitted_libnmstate_apply_returns_the_checkpoint_from_its_log():
    lib, calls = make_fake_libnmstate()
    assert nc.LibnmstateClient(lib).apply(STATE, commit=False, rollback_timeout=30) == CHECKPOINT
    assert calls[0][2]["commit"] is False and calls[0][2]["rollback_timeout"] == 30
    assert not logging.getLogger("libnmstate").handlers, "the log capture must be removed"


def test_libnmstate_show_running_config_and_kernel_only():
    lib, calls = make_fake_libnmstate()
    client = nc.LibnmstateClient(lib)
    client.show(running_config=True)
    client.show(running_config=True, kernel_only=True)
    client.show(kernel_only=True)
    assert [c[0] for c in calls] == ["show_running_config", "show", "show"]
    assert calls[1][2] == {"kernel_only": True}


@pytest.mark.parametrize(
    ("kind", "category"),
    [
        ("InvalidArgument", "invalid_argument"),
        ("VerificationError", "verification_failed"),
        ("KernelIntegerRoundedError", "verification_failed"),
        ("NotSupportedError", "not_supported"),
        ("NotImplementedError", "not_supported"),
        ("PluginFailure", "backend_failure"),
        ("Bug", "backend_failure"),
        ("PermissionError", "permission"),
        ("DependencyError", "dependency"),
        ("SomethingNew", "nmstate_error"),
    ],
)
def test_libnmstate_errors_keep_nmstates_message_and_get_a_category(kind, category):
    lib = make_fake_libnmstate(fail_kind=kind)[0]
    with pytest.raises(nc.NmstateError) as raised:
        nc.LibnmstateClient(lib).apply(STATE)
    assert raised.value.category == category
    assert raised.value.nmstate_kind == kind
    assert raised.value.message == "nmstate says no"
    result = raised.value.to_result()
    assert result["nmstate_message"] == "nmstate says no" and result["error_category"] == category
    assert kind in result["msg"]


def test_libnmstate_error_classes_without_kind_map_by_class_name():
    lib = make_fake_libnmstate(fail_class="NmstatePermissionError")[0]
    with pytest.raises(nc.NmstateError) as raised:
        nc.LibnmstateClient(lib).show()
    assert raised.value.category == "permission"


def test_nmstatectl_apply_passes_the_state_as_json_on_stdin_with_the_right_flags():
    module = FakeModule([(0, "applied", "[INFO] Created checkpoint %s\n" % CHECKPOINT)])
    client = nc.NmstatectlClient("/usr/sbin/nmstatectl", module.run_command)
    checkpoint = client.apply(
        STATE, kernel_only=True, verify=False, save_to_disk=False, commit=False, rollback_timeout=45
    )
    args, data = module.calls[0]
    assert args == [
        "/usr/sbin/nmstatectl",
        "apply",
        "--kernel",
        "--no-verify",
        "--memory-only",
        "--no-commit",
        "--timeout",
        "45",
    ]
    assert json.loads(data) == STATE
    assert checkpoint == CHECKPOINT


def test_nmstatectl_show_reads_json():
    module = FakeModule([(0, json.dumps({"interfaces": [{"name": "eth1"}]}), "")])
    client = nc.NmstatectlClient("/usr/sbin/nmstatectl", module.run_command)
    assert client.show(running_config=True, kernel_only=True) == {"interfaces": [{"name": "eth1"}]}
    assert module.calls[0][0][1:] == ["show", "--json", "--running-config", "--kernel"]


def test_nmstatectl_commit_and_rollback_name_the_checkpoint_only_when_given():
    module = FakeModule()
    client = nc.NmstatectlClient("/usr/sbin/nmstatectl", module.run_command)
    client.commit()
    client.rollback(CHECKPOINT)
    assert [c[0][1:] for c in module.calls] == [["commit"], ["rollback", CHECKPOINT]]


@pytest.mark.parametrize(
    ("kind", "category"),
    [
        ("InvalidArgument", "invalid_argument"),
        ("VerificationError", "verification_failed"),
        ("NotSupportedError", "not_supported"),
        ("PluginFailure", "backend_failure"),
        ("PermissionError", "permission"),
        ("DependencyError", "dependency"),
    ],
)
def test_nmstatectl_errors_are_parsed_from_its_output(kind, category):
    err = (
        "[2026-11-28T22:17:49Z ERROR nmstate] boom\nNmstateError: %s: Invalid IPv4 prefix '40'\n"
        % kind
    )
    module = FakeModule([(1, "", err)])
    client = nc.NmstatectlClient("/usr/sbin/nmstatectl", module.run_command)
    with pytest.raises(nc.NmstateError) as raised:
        client.apply(STATE)
    assert (raised.value.category, raised.value.nmstate_kind) == (category, kind)
    assert raised.value.message == "Invalid IPv4 prefix '40'"


def test_a_kernel_mode_route_that_stays_is_explained_only_in_kernel_mode():
    err = (
        "NmstateError: VerificationError: Desired absent route state: absent destination: "
        "198.51.100.0/24 still found after apply: destination: 198.51.100.0/24\n"
    )
    for kernel_only, explained in ((True, True), (False, False)):
        module = FakeModule([(1, "", err)])
        client = nc.NmstatectlClient("/usr/sbin/nmstatectl", module.run_command)
        with pytest.raises(nc.NmstateError) as raised:
            client.apply(STATE, kernel_only=kernel_only)
        assert ("proto static" in raised.value.message) is explained, raised.value.message
        assert raised.value.message.startswith("Desired absent route")


def test_nmstatectl_failure_without_nmstate_error_line_keeps_its_output():
    module = FakeModule([(101, "", "thread 'main' panicked at src/lib.rs")])
    client = nc.NmstatectlClient("/usr/sbin/nmstatectl", module.run_command)
    with pytest.raises(nc.NmstateError) as raised:
        client.show()
    assert raised.value.category == "nmstate_error"
    assert "exited 101" in raised.value.message and "panicked" in raised.value.message


def test_nmstatectl_has_no_difference_generator():
    client = nc.NmstatectlClient("/usr/sbin/nmstatectl", FakeModule().run_command)
    assert client.generate_differences(STATE, STATE) is None


def test_find_client_prefers_libnmstate_then_nmstatectl(monkeypatch):
    lib = make_fake_libnmstate()[0]
    monkeypatch.setitem(sys.modules, "libnmstate", lib)
    assert nc.find_client(FakeModule()).access == "libnmstate"
    assert nc.find_client(FakeModule(), prefer="nmstatectl").access == "nmstatectl"
    monkeypatch.setitem(sys.modules, "libnmstate", None)  # import now fails
    assert nc.find_client(FakeModule()).access == "nmstatectl"


def test_find_client_without_nmstate_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "libnmstate", None)
    monkeypatch.setattr(nc, "install_hint", lambda: "dnf install nmstate python3-libnmstate")
    with pytest.raises(nc.NmstateError) as raised:
        nc.find_client(FakeModule(path=None))
    assert raised.value.category == "missing"
    assert "neither libnmstate" in raised.value.message
    assert "dnf install nmstate python3-libnmstate" in raised.value.message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "dnf install nmstate python3-libnmstate"),
        ("ID=debian\n", "apt-get install nmstate"),
        ('ID=opensuse-leap\nID_LIKE="suse opensuse"\n', "zypper install nmstate"),
        ("ID=plan9\n", "cargo install nmstatectl"),
    ],
)
def test_install_hint_follows_the_distribution(tmp_path, content, expected):
    os_release = tmp_path / "os-release"
    os_release.write_text(content)
    assert expected in nc.install_hint(str(os_release))


def test_network_manager_detection_reads_process_names(tmp_path):
    for pid, comm in (("1", "init"), ("42", "NetworkManager")):
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "comm").write_text(comm + "\n")
    assert nc.network_manager_running(str(tmp_path))
    (tmp_path / "42" / "comm").write_text("sshd\n")
    assert not nc.network_manager_running(str(tmp_path))


POLICY = {
    "capture": {"gw": 'routes.running.destination=="0.0.0.0/0"'},
    "desiredState": {
        "interfaces": [
            {
                "name": "{{ capture.gw.routes.running.0.next-hop-interface }}",
                "type": "ethernet",
                "state": "up",
            }
        ]
    },
}


def test_nmstatectl_renders_a_policy_from_files_holding_the_current_state_and_the_policy():
    seen = {}

    def run_command(args, data=None, binary_data=False, environ_update=None):
        # The files exist only during the call: read them now.
        seen["args"] = args
        with open(args[-2]) as current, open(args[-1]) as policy:
            seen["current"], seen["policy"] = json.load(current), json.load(policy)
        return 0, json.dumps(STATE), ""

    client = nc.NmstatectlClient("/usr/sbin/nmstatectl", run_command)
    assert client.state_from_policy(POLICY, {"interfaces": []}) == STATE
    assert seen["args"][1:5] == ["policy", "--json", "-q", "-c"]
    assert seen["current"] == {"interfaces": []} and seen["policy"] == POLICY


def test_libnmstate_renders_a_policy_when_it_can_and_says_so_when_it_cannot():
    lib = make_fake_libnmstate()[0]
    client = nc.LibnmstateClient(lib)
    with pytest.raises(nc.NmstateError) as failure:
        client.state_from_policy(POLICY, {})
    assert failure.value.category == "not_supported"
    lib.gen_net_state_from_policy = lambda policy, current: dict(STATE, seen=[policy, current])
    assert client.state_from_policy(POLICY, {"interfaces": []})["seen"] == [
        POLICY,
        {"interfaces": []},
    ]


def test_nmstatectl_apply_argv_is_the_command_line_for_a_state_file():
    client = nc.NmstatectlClient("/usr/sbin/nmstatectl", FakeModule().run_command)
    argv = client.apply_argv("/tmp/revert.json", kernel_only=True, verify=False)
    assert argv == ["/usr/sbin/nmstatectl", "apply", "--kernel", "--no-verify", "/tmp/revert.json"]
    assert client.apply_argv("/tmp/s.json") == ["/usr/sbin/nmstatectl", "apply", "/tmp/s.json"]


def test_find_nmstatectl_is_a_client_where_installed_and_none_elsewhere():
    module = FakeModule()
    client = nc.find_nmstatectl(module)
    assert client.access == "nmstatectl" and client.path == "/usr/sbin/nmstatectl"
    client.commit()
    assert module.calls[0][0] == ["/usr/sbin/nmstatectl", "commit"], "runs through the module"
    assert nc.find_nmstatectl(FakeModule(path=None)) is None


@pytest.mark.parametrize(
    ("prefer", "message"),
    [
        ("libnmstate", "libnmstate (python3-libnmstate) was not found on this node"),
        ("nmstatectl", "nmstatectl was not found on this node. Install it with: "),
    ],
)
def test_find_client_names_what_was_asked_for_when_it_is_missing(monkeypatch, prefer, message):
    monkeypatch.setitem(sys.modules, "libnmstate", None)
    with pytest.raises(nc.NmstateError) as raised:
        nc.find_client(FakeModule(path=None), prefer=prefer)
    assert raised.value.message.startswith(message)
