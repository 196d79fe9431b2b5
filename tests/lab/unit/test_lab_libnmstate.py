"""The lab's libnmstate binding, against the real libnmstate.so.2 (pure functions only)."""

import importlib
import sys

import pytest

from nodenet_lab import settings, tools


@pytest.fixture(scope="module")
def libnmstate(monkeypatch_module):
    library = tools.nmstate_prefix() / "lib" / "libnmstate.so.2"
    if not library.exists():
        pytest.fail(f"{library} is missing: run `tests/lab/labctl build` (bootstrap does)")
    monkeypatch_module.setenv("LIBNMSTATE_LIBRARY", str(library))
    monkeypatch_module.syspath_prepend(str(settings.LAB_DIR / "pylib"))
    for name in [m for m in sys.modules if m == "libnmstate" or m.startswith("libnmstate.")]:
        del sys.modules[name]
    return importlib.import_module("libnmstate")


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


BRIDGE = {
    "interfaces": [
        {
            "name": "br1",
            "type": "linux-bridge",
            "state": "up",
            "bridge": {"port": [{"name": "eth1"}]},
            "ipv4": {"enabled": True, "address": [{"ip": "10.0.0.1", "prefix-length": 24}]},
        }
    ]
}


def test_version_is_the_pinned_one(libnmstate):
    assert libnmstate.__version__ == settings.NMSTATE_VERSION


def test_generate_differences_keeps_only_what_changed(libnmstate):
    old = {"interfaces": [dict(BRIDGE["interfaces"][0], mtu=1500)]}
    new = {"interfaces": [dict(BRIDGE["interfaces"][0], mtu=9000)]}
    diff = libnmstate.generate_differences(new, old)
    assert diff["interfaces"][0]["name"] == "br1"
    assert diff["interfaces"][0]["mtu"] == 9000


def test_an_invalid_state_raises_the_mapped_error_with_nmstates_message(libnmstate):
    bad = {
        "interfaces": [
            {
                "name": "br1",
                "type": "linux-bridge",
                "ipv4": {"enabled": True, "address": [{"ip": "10.0.0.1", "prefix-length": 99}]},
            }
        ]
    }
    with pytest.raises(libnmstate.error.NmstateValueError) as raised:
        libnmstate.validate(bad)
    assert raised.value.kind == "InvalidArgument"
    assert "99" in str(raised.value)


def test_gen_net_state_from_policy_captures_from_the_current_state(libnmstate):
    current = {
        "interfaces": [
            {"name": "eth1", "type": "ethernet", "state": "up", "mac-address": "02:00:00:00:00:01"}
        ]
    }
    policy = {
        "capture": {"nic": 'interfaces.mac-address == "02:00:00:00:00:01"'},
        "desiredState": {
            "interfaces": [{"name": "{{ capture.nic.interfaces.0.name }}", "mtu": 1400}]
        },
    }
    state = libnmstate.gen_net_state_from_policy(policy, current)
    assert state["interfaces"][0]["name"] == "eth1"
    assert state["interfaces"][0]["mtu"] == 1400


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("InvalidArgument", "NmstateValueError"),
        ("VerificationError", "NmstateVerificationError"),
        ("NotSupportedError", "NmstateNotSupportedError"),
        ("PluginFailure", "NmstatePluginError"),
        ("PermissionError", "NmstatePermissionError"),
        ("Bug", "NmstateInternalError"),
        ("SomethingNew", "NmstateError"),
    ],
)
def test_error_kinds_map_to_python3_libnmstate_classes(libnmstate, kind, cls):
    error = libnmstate.error.error_for(kind, "boom")
    assert type(error).__name__ == cls
    assert isinstance(error, libnmstate.NmstateError)
    assert str(error) == "boom" and error.kind == kind
