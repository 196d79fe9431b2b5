# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.nodenet.nmstate.plugins.module_utils import nmstate_state as ns

CURRENT = {
    "interfaces": [
        {
            "name": "br1",
            "type": "linux-bridge",
            "state": "up",
            "mtu": 1500,
            "mac-address": "02:4E:00:01:00:02",
            "ipv4": {
                "enabled": True,
                "address": [{"ip": "10.0.0.1", "prefix-length": 24, "valid-life-time": "forever"}],
            },
            "bridge": {
                "options": {"hello-timer": 3, "stp": {"enabled": False}},
                "port": [{"name": "eth1"}],
            },
        },
        {"name": "eth1", "type": "ethernet", "state": "up"},
        {"name": "veth9", "type": "veth", "state": "ignore"},
    ],
    "routes": {
        "config": [
            {
                "destination": "0.0.0.0/0",
                "next-hop-address": "10.0.0.254",
                "next-hop-interface": "br1",
            }
        ],
        "running": [{"destination": "10.9.0.0/16", "next-hop-interface": "veth9"}],
    },
    "dns-resolver": {"config": {"server": ["10.0.0.53"]}},
}


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ([], "must be a mapping"),
        ("interfaces", "must be a mapping"),
        ({}, "empty"),
        ({"interface": []}, "unknown top-level key(s) interface"),
        ({"interfaces": {"name": "x"}}, "list of mappings"),
        ({"interfaces": [{"type": "ethernet"}]}, "needs a 'name'"),
    ],
)
def test_check_shape_rejects_what_nmstate_would_misread(state, message):
    with pytest.raises(ns.StateError) as raised:
        ns.check_shape(state)
    assert message in str(raised.value)


BRIDGE = {"name": "br1", "type": "linux-bridge", "bridge": {"port": [{"name": "eth1"}]}}


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            {"interfaces": [BRIDGE, {"name": "eth1"}, "eth2"]},
            "interfaces[2]: must be a mapping; got a str",
        ),
        (
            {"interfaces": [BRIDGE, {"name": "eth1"}, {"type": "ethernet"}]},
            "interfaces[2]: every interface needs a 'name'",
        ),
        ({"interfaces": [{"name": 7}]}, "interfaces[0]: 'name' must be a string; got a int"),
        ({"interfaces": [None]}, "interfaces[0]: must be a mapping; got a NoneType"),
        (
            {"interfaces": [{"name": "eth1"}, dict(BRIDGE, bridge={"port": [{"vlan": {}}]})]},
            "interfaces[1].bridge.port[0]: every port needs a 'name'",
        ),
        (
            {"interfaces": [dict(BRIDGE, bridge={"port": ["eth1"]})]},
            "interfaces[0].bridge.port[0]: must be a mapping; got a str",
        ),
        (
            {"interfaces": [dict(BRIDGE, bridge={"port": "eth1"})]},
            "interfaces[0].bridge.port: must be a list of mappings; got a str",
        ),
        (
            {"interfaces": [dict(BRIDGE, bridge=["eth1"])]},
            "interfaces[0].bridge: must be a mapping; got a list",
        ),
        ({"routes": [{"destination": "0.0.0.0/0"}]}, "routes: must be a mapping; got a list"),
        (
            {"routes": {"config": {"destination": "0.0.0.0/0"}}},
            "routes.config: must be a list of mappings; got a dict",
        ),
        (
            {"route-rules": {"config": [{"priority": 100}, "from 10.0.0.0/8"]}},
            "route-rules.config[1]: must be a mapping; got a str",
        ),
        (
            {"dns-resolver": {"config": ["10.0.0.53"]}},
            "dns-resolver.config: must be a mapping; got a list",
        ),
        ({"dns-resolver": "10.0.0.53"}, "dns-resolver: must be a mapping; got a str"),
    ],
)
def test_check_shape_names_the_exact_path(state, message):
    with pytest.raises(ns.StateError) as raised:
        ns.check_shape(state)
    assert str(raised.value) == message
    assert raised.value.describe() == "invalid desired state: " + message


@pytest.mark.parametrize(
    "state",
    [
        {"interfaces": [{"name": "eth1", "bridge": None}], "routes": None},
        {"routes": {"config": None}, "dns-resolver": {"config": None}},
        {"interfaces": [{"name": "bond0", "link-aggregation": {"port": ["eth1", "eth2"]}}]},
        {"interfaces": [], "route-rules": {"config": []}, "dns-resolver": {"config": {}}},
        {"hostname": {"config": "node1"}, "ovs-db": {"external_ids": {}}},
    ],
)
def test_check_shape_leaves_the_rest_to_nmstate(state):
    ns.check_shape(state)


def test_capture_references_pass_only_in_a_policys_desired_state():
    desired = {
        "interfaces": [
            {"name": "br1", "bridge": {"port": [{"name": "{{ capture.gw.interfaces.0.name }}"}]}},
            "{{ capture.eth.interfaces.0 }}",
        ],
        "routes": {"config": "{{ capture.bridge-routes.routes.running }}"},
        "dns-resolver": {"config": "{{ capture.dns.dns-resolver.running }}"},
    }
    ns.check_shape(desired, policy=True)
    with pytest.raises(ns.StateError, match=r"^interfaces\[1\]: must be a mapping"):
        ns.check_shape(desired)
    with pytest.raises(ns.StateError, match=r"^routes\.config: must be a list of mappings"):
        ns.check_shape({"routes": {"config": "not a capture"}}, policy=True)


def test_a_state_already_in_place_is_satisfied():
    desired = {
        "interfaces": [
            {
                "name": "br1",
                "type": "linux-bridge",
                "mac-address": "02:4e:00:01:00:02",
                "ipv4": {"enabled": True, "address": [{"ip": "10.0.0.1", "prefix-length": 24}]},
                "bridge": {"port": [{"name": "eth1"}]},
            },
        ],
        "dns-resolver": {"config": {"server": ["10.0.0.53"]}},
    }
    assert ns.unsatisfied(desired, ns.strip_volatile(CURRENT)) == {}


@pytest.mark.parametrize(
    "desired",
    [
        {"interfaces": [{"name": "br1", "mtu": 9000}]},
        {"interfaces": [{"name": "br2", "type": "linux-bridge"}]},
        {"interfaces": [{"name": "eth1", "state": "absent"}]},
        {
            "interfaces": [
                {"name": "br1", "ipv4": {"address": [{"ip": "10.0.0.2", "prefix-length": 24}]}}
            ]
        },
        {"routes": {"config": [{"destination": "10.8.0.0/16", "next-hop-interface": "br1"}]}},
        {
            "routes": {
                "config": [
                    {
                        "destination": "0.0.0.0/0",
                        "next-hop-address": "10.0.0.254",
                        "next-hop-interface": "br1",
                        "state": "absent",
                    }
                ]
            }
        },
        {"dns-resolver": {"config": {"server": ["10.0.0.54"]}}},
    ],
)
def test_a_state_not_in_place_is_unsatisfied(desired):
    assert ns.unsatisfied(desired, CURRENT) != {}


def test_a_veth_satisfies_a_desired_ethernet_but_not_the_reverse():
    current = {"interfaces": [{"name": "eth1", "type": "veth", "state": "up", "mtu": 1500}]}
    assert (
        ns.unsatisfied({"interfaces": [{"name": "eth1", "type": "ethernet", "mtu": 1500}]}, current)
        == {}
    )
    ethernet = {"interfaces": [{"name": "eth1", "type": "ethernet", "state": "up"}]}
    assert ns.unsatisfied({"interfaces": [{"name": "eth1", "type": "veth"}]}, ethernet) != {}


def test_absent_interface_that_does_not_exist_needs_nothing():
    assert ns.unsatisfied({"interfaces": [{"name": "nope", "state": "absent"}]}, CURRENT) == {}


def test_touched_takes_named_interfaces_ports_and_sections_without_volatile_values():
    part = ns.touched(
        CURRENT,
        {"interfaces": [{"name": "br1", "bridge": {"port": [{"name": "eth1"}]}}], "routes": {}},
    )
    assert [i["name"] for i in part["interfaces"]] == ["br1", "eth1"]
    assert "hello-timer" not in part["interfaces"][0]["bridge"]["options"]
    assert "valid-life-time" not in part["interfaces"][0]["ipv4"]["address"][0]
    assert part["routes"] == CURRENT["routes"]


def test_predicted_overlays_desired_values_and_drops_absent_interfaces():
    before = ns.touched(CURRENT, {"interfaces": [{"name": "br1"}, {"name": "eth1"}]})
    after = ns.predicted(
        before, {"interfaces": [{"name": "br1", "mtu": 9000}, {"name": "eth1", "state": "absent"}]}
    )
    assert [(i["name"], i.get("mtu")) for i in after["interfaces"]] == [("br1", 9000)]
    assert before["interfaces"][0]["mtu"] == 1500, "the input must not change"


def test_secret_values_are_found_at_any_depth_but_not_nmstates_own_mask():
    state = {
        "interfaces": [
            {"name": "eth1", "802.1x": {"identity": "me", "private-key-password": "s3cret"}},
            {"name": "wl0", "wifi": {"psk": ns.HIDDEN_SECRET}},
        ]
    }
    assert ns.secret_values(state) == {"s3cret"}


def test_filter_state_by_glob_and_type_and_noise():
    assert [i["name"] for i in ns.filter_state(CURRENT, names=["br*", "eth?"])["interfaces"]] == [
        "br1",
        "eth1",
    ]
    assert [i["name"] for i in ns.filter_state(CURRENT, types=["ethernet"])["interfaces"]] == [
        "eth1"
    ]
    quiet = ns.filter_state(CURRENT, drop_noise=True)
    assert "veth9" not in [i["name"] for i in quiet["interfaces"]]
    assert quiet["routes"]["running"] == []
    assert "hello-timer" not in quiet["interfaces"][0]["bridge"]["options"]


def test_strip_volatile_drops_link_local_addresses_the_kernel_adds_by_itself():
    state = {
        "ipv6": {
            "address": [
                {"ip": "FE80::1", "prefix-length": 64},
                {"ip": "fd00::1", "prefix-length": 64},
            ]
        }
    }
    assert ns.strip_volatile(state) == {
        "ipv6": {"address": [{"ip": "fd00::1", "prefix-length": 64}]}
    }


def test_strip_volatile_drops_an_addresss_protocol_only_inside_addresses():
    state = {
        "ipv6": {"address": [{"ip": "fd00::1", "prefix-length": 64, "protocol": "static"}]},
        "protocol": "keep",
    }
    assert ns.strip_volatile(state) == {
        "ipv6": {"address": [{"ip": "fd00::1", "prefix-length": 64}]},
        "protocol": "keep",
    }


def test_an_nmpolicy_is_told_apart_from_a_state():
    policy = {
        "capture": {"gw": 'routes.running.destination=="0.0.0.0/0"'},
        "desiredState": {"interfaces": []},
    }
    assert ns.split_policy(policy) == (policy["capture"], {"interfaces": []})
    assert ns.split_policy({"desiredState": {"interfaces": []}}) == (None, {"interfaces": []})
    plain = {"interfaces": [], "routes": {"config": []}}
    assert ns.split_policy(plain) == (None, plain)
    odd = {"desiredState": {}, "interfaces": []}  # not a policy: nmstate's checks apply
    assert ns.split_policy(odd) == (None, odd)
