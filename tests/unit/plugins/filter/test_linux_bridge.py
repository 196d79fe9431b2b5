# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.nodenet.nmstate.plugins.filter.linux_bridge import linux_bridge


def test_bridge_with_ports_and_both_address_families():
    iface = linux_bridge(
        "br1", ["eth1", "eth2"], addresses=["192.0.2.1/24", "2001:db8::1/64"], mtu=9000
    )
    assert iface["bridge"]["port"] == [{"name": "eth1"}, {"name": "eth2"}]
    assert iface["ipv4"] == {"enabled": True, "address": [{"ip": "192.0.2.1", "prefix-length": 24}]}
    assert iface["ipv6"]["address"] == [{"ip": "2001:db8::1", "prefix-length": 64}]
    assert iface["mtu"] == 9000 and iface["bridge"]["options"]["stp"] == {"enabled": False}


def test_bridge_without_addresses_has_ip_disabled():
    iface = linux_bridge("br1", ["eth1"])
    assert iface["ipv4"] == {"enabled": False} and iface["ipv6"] == {"enabled": False}


def test_absent_bridge_needs_only_its_name():
    assert linux_bridge("br1", [], state="absent") == {
        "name": "br1",
        "type": "linux-bridge",
        "state": "absent",
    }


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("br1", "eth1"), {}, "ports must be a list"),
        (("br1", ["eth1"]), {"addresses": ["192.0.2.1"]}, "needs a prefix length"),
        (("br1", ["eth1"]), {"addresses": ["192.0.2.300/24"]}, "not ADDRESS/PREFIX"),
        (("br1", ["eth1"]), {"state": "down"}, "state must be up or absent"),
        ((None, ["eth1"]), {}, "the input must be the bridge's name"),
    ],
)
def test_bad_input_fails_with_a_clear_message(args, kwargs, message):
    with pytest.raises(AnsibleFilterError) as raised:
        linux_bridge(*args, **kwargs)
    assert message in str(raised.value)
