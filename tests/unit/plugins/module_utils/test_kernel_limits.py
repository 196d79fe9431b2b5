# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What kernel-only mode refuses up front, by field (the lab pins each against real nmstate)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.nodenet.nmstate.plugins.module_utils import (
    nmstate_kernel_limits as limits,
)

CURRENT = {"interfaces": [{"name": "eth1", "type": "ethernet", "mtu": 1500}]}


def eth1(**settings):
    return {"interfaces": [dict({"name": "eth1", "type": "ethernet", "state": "up"}, **settings)]}


@pytest.mark.parametrize(
    ("desired", "named"),
    [
        (eth1(ipv4={"enabled": True, "dhcp": True}), "interfaces[0] (eth1).ipv4.dhcp: DHCP"),
        (eth1(ipv6={"enabled": True, "dhcp": True}), "interfaces[0] (eth1).ipv6.dhcp: DHCP"),
        (eth1(ipv6={"enabled": True, "autoconf": True}), "(eth1).ipv6.autoconf: SLAAC"),
        (eth1(description="uplink"), "(eth1).description: keeping a description"),
        (eth1(mtu=9000), "(eth1).mtu: nmstate's kernel backend cannot change an MTU (1500 to"),
        (eth1(ethtool={"feature": {"rx-checksum": False}}), "(eth1).ethtool"),
        (eth1(lldp={"enabled": True}), "(eth1).lldp"),
        (
            {"interfaces": [{"name": "mv0", "type": "mac-vlan", "state": "up"}]},
            "interfaces[0] (mv0).type: nmstate's kernel backend cannot create a mac-vlan",
        ),
        (
            {"interfaces": [{"name": "vx0", "type": "vxlan", "state": "up"}]},
            "cannot create a vxlan interface",
        ),
        (
            {"route-rules": {"config": [{"ip-from": "10.0.0.0/24", "route-table": 200}]}},
            "route-rules.config[0]: nmstate's kernel backend cannot add route rules",
        ),
        ({"hostname": {"config": "n1"}}, "hostname.config: setting the hostname"),
    ],
)
def test_kernel_only_mode_refuses_what_nmstate_cannot_do_there(desired, named):
    with pytest.raises(limits.KernelModeError) as raised:
        limits.check(desired, CURRENT)
    assert named in str(raised.value)
    assert raised.value.describe().startswith(
        "kernel-only mode (no NetworkManager on this node) cannot apply this state: "
    )
    assert raised.value.category == "not_supported"


@pytest.mark.parametrize(
    "desired",
    [
        eth1(mtu=1500),  # no change
        eth1(ipv4={"enabled": True, "dhcp": False, "address": []}),
        {"interfaces": [{"name": "vx0", "type": "vxlan", "state": "absent"}]},
        {"route-rules": {"config": [{"ip-from": "10.0.0.0/24", "state": "absent"}]}},
        {"interfaces": [{"name": "br1", "type": "linux-bridge", "state": "up"}]},
        {"dns-resolver": {"config": {"server": ["10.0.0.53"]}}},
    ],
)
def test_what_the_kernel_backend_does_passes(desired):
    assert limits.limits(desired, CURRENT) == []


def test_every_limit_is_named_at_once():
    desired = eth1(description="x", ipv4={"dhcp": True})
    assert len(limits.limits(desired, CURRENT)) == 2


def test_a_route_that_kernel_mode_cannot_remove_is_explained():
    from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_errors import (
        NmstateError,
    )

    message = (
        "Desired absent route state: absent destination: 198.51.100.0/24 still found after "
        "apply: destination: 198.51.100.0/24 table-id: 254"
    )
    error = limits.explain(NmstateError(message, "verification_failed", "VerificationError"))
    assert error.message.startswith(message) and "proto static" in error.message
    assert "protocol boot" in error.to_result()["msg"]
    other = limits.explain(NmstateError("eth1.mtu desire 1400, current 1500"))
    assert other.message == "eth1.mtu desire 1400, current 1500"
