# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure functions over nmstate states (dicts): validation of their shape, the parts a desired
state touches, whether the current state already satisfies it, noise filtering and secrets.

Nothing here talks to nmstate; nmstate itself stays the judge of what a state means.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import fnmatch

from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_errors import StateError

TOP_LEVEL_KEYS = (
    "interfaces",
    "routes",
    "route-rules",
    "dns-resolver",
    "hostname",
    "ovs-db",
    "ovn",
    "description",
)

# Keys whose values nmstate may print but are never part of a config: they change on their own.
VOLATILE_KEYS = frozenset(
    ["hello-timer", "gc-timer", "valid-life-time", "preferred-life-time", "statistics"]
)

ADDRESS_VOLATILE_KEYS = frozenset(["protocol"])

# Keys under which nmstate states carry secrets (802.1x, wifi, ipsec, macsec, ...).
SECRET_KEYS = frozenset(
    [
        "password",
        "private-key-password",
        "phase2-password",
        "psk",
        "secret",
        "pin",
        "mka-cak",
        "mka-ckn",
        "private-key",
        "pre-shared-key",
        "ikev2-psk",
    ]
)
HIDDEN_SECRET = "<_password_hid_by_nmstate>"

# Lists whose order means nothing: compared as sets of their items.
UNORDERED_LISTS = frozenset(["address", "port", "server", "search", "config"])


# nmstate shows a veth as "veth" but takes "ethernet" for it in a desired state.
EQUIVALENT_TYPES = frozenset([("ethernet", "veth")])


def split_policy(state):
    """(capture, desired state) of an nmpolicy (a mapping of exactly `capture` and
    `desiredState`), or (None, state) for a plain state: nmstate states have neither key."""
    if (
        isinstance(state, dict)
        and "desiredState" in state
        and set(state) <= {"capture", "desiredState"}
    ):
        return state.get("capture") or None, state["desiredState"]
    return None, state


def check_shape(state, policy=False):
    """Reject what nmstate would misread, naming the exact place (``interfaces[2].bridge.port[0]``).

    Only the shape: the state is a mapping of known top-level keys; interfaces are a list of
    mappings with a string name; bridge ports are mappings with a name; route and route-rule
    configs are lists of mappings; the DNS config is a mapping. nmstate judges what it means.

    In an nmpolicy's desiredState (`policy`), a ``{{ capture... }}`` reference may stand for
    any of these; nmstate's rendering of the policy is checked again.
    """
    if not isinstance(state, dict):
        raise StateError(
            "the state must be a mapping with keys such as interfaces, routes, route-rules, "
            "dns-resolver; got a %s" % type(state).__name__
        )
    if not state:
        raise StateError("the state is empty: give at least one of %s" % ", ".join(TOP_LEVEL_KEYS))
    unknown = sorted(k for k in state if k not in TOP_LEVEL_KEYS)
    if unknown:
        raise StateError(
            "unknown top-level key(s) %s; nmstate states have %s"
            % (", ".join(unknown), ", ".join(TOP_LEVEL_KEYS))
        )
    shape = _Shape(policy)
    for path, iface in shape.mappings(state.get("interfaces", []), "interfaces"):
        shape.named(iface, path, "interface")
        bridge = shape.mapping(iface.get("bridge"), path + ".bridge")
        for port_path, port in shape.mappings(bridge.get("port") or [], path + ".bridge.port"):
            shape.named(port, port_path, "port")
    for key in ("routes", "route-rules"):
        section = shape.mapping(state.get(key), key)
        shape.mappings(section.get("config") or [], key + ".config")
    dns = shape.mapping(state.get("dns-resolver"), "dns-resolver")
    shape.mapping(dns.get("config"), "dns-resolver.config")


class _Shape(object):
    """check_shape's checks of one value at a path; `policy` lets capture references pass."""

    def __init__(self, policy):
        self.policy = policy

    def _reference(self, value):
        return self.policy and isinstance(value, str) and value.strip().startswith("{{")

    def mapping(self, value, path, optional=True):
        """`value` as a mapping ({} for a reference, or for none where that is `optional`)."""
        if (value is None and optional) or self._reference(value):
            return {}
        if not isinstance(value, dict):
            raise StateError("%s: must be a mapping; got a %s" % (path, type(value).__name__))
        return value

    def mappings(self, value, path):
        """[(path, mapping)] of the list `value`, which must hold only mappings."""
        if self._reference(value):
            return []
        if not isinstance(value, list):
            raise StateError(
                "%s: must be a list of mappings; got a %s" % (path, type(value).__name__)
            )
        found = []
        for index, item in enumerate(value):
            item_path = "%s[%d]" % (path, index)
            if not self._reference(item):
                found.append((item_path, self.mapping(item, item_path, optional=False)))
        return found

    def named(self, entry, path, what):
        name = entry.get("name")
        if name is None or name == "":
            raise StateError("%s: every %s needs a 'name'" % (path, what))
        if not isinstance(name, str):
            raise StateError("%s: 'name' must be a string; got a %s" % (path, type(name).__name__))


def strip_volatile(value, parent=None, keep_link_local=False):
    """A copy of a state without the values that change by themselves.

    IPv6 link-local addresses are among them (the kernel adds them on its own, some time after
    a link is up), unless `keep_link_local`: a state meant to restore a node needs them.
    """
    if isinstance(value, dict):
        # An address's origin ("protocol": "kernel_ll") comes and goes between two reads.
        skip = VOLATILE_KEYS | (ADDRESS_VOLATILE_KEYS if parent == "address" else frozenset())
        return dict(
            (k, strip_volatile(v, k, keep_link_local)) for k, v in value.items() if k not in skip
        )
    if isinstance(value, list):
        if parent == "address" and not keep_link_local:
            value = [v for v in value if not _is_link_local(v)]
        return [strip_volatile(v, parent, keep_link_local) for v in value]
    return value


def _is_link_local(address):
    return isinstance(address, dict) and str(address.get("ip", "")).lower().startswith("fe80:")


def referenced_interfaces(desired):
    """Interface names the desired state names, itself or as ports and parents."""
    names = set()
    for iface in desired.get("interfaces", []):
        names.add(iface["name"])
        for section in ("bridge", "link-aggregation", "vrf"):
            for port in (iface.get(section) or {}).get("port") or []:
                names.add(port["name"] if isinstance(port, dict) else port)
        for section in ("vlan", "vxlan", "mac-vlan", "mac-vtap", "ipvlan", "veth"):
            parent = (iface.get(section) or {}).get("base-iface") or (iface.get(section) or {}).get(
                "peer"
            )
            if parent:
                names.add(parent)
    return names


def touched(state, desired, keep_link_local=False):
    """The parts of `state` that `desired` names: its interfaces and top-level sections."""
    names = referenced_interfaces(desired)
    part = {"interfaces": [i for i in state.get("interfaces", []) if i.get("name") in names]}
    for key in desired:
        if key != "interfaces" and key in state:
            part[key] = copy.deepcopy(state[key])
    return strip_volatile(part, keep_link_local=keep_link_local)


def _normal(value):
    if isinstance(value, str):
        return value.lower()
    return value


def _matches(desired, current, key=None):
    """True if `current` already has every value `desired` asks for."""
    if isinstance(desired, dict):
        if not isinstance(current, dict):
            return False
        return all(_matches(v, current.get(k), k) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(current, list) or len(desired) != len(current):
            return False
        if key in UNORDERED_LISTS:
            remaining = list(current)
            for item in desired:
                hit = next((c for c in remaining if _matches(item, c)), None)
                if hit is None:
                    return False
                remaining.remove(hit)
            return True
        return all(_matches(d, c) for d, c in zip(desired, current))
    if key == "type" and (desired, current) in EQUIVALENT_TYPES:
        return True
    if isinstance(desired, bool) or isinstance(current, bool):
        return desired is current
    if desired == current:
        return True
    return str(_normal(desired)) == str(_normal(current))


def unsatisfied(desired, current):
    """What in `desired` the `current` state does not already have: empty means no change.

    A best-effort prediction for check mode; nmstate's own verification decides on apply.
    """
    pending = {}
    by_name = dict((i.get("name"), i) for i in current.get("interfaces", []))
    ifaces = []
    for iface in desired.get("interfaces", []):
        now = by_name.get(iface["name"])
        wanted_state = iface.get("state", "up")
        if wanted_state == "absent":
            if now is not None:
                ifaces.append(iface)
            continue
        if now is None or not _matches(iface, now):
            ifaces.append(iface)
    if ifaces:
        pending["interfaces"] = ifaces
    for key in ("routes", "route-rules"):
        wanted = (desired.get(key) or {}).get("config") or []
        have = (current.get(key) or {}).get("config") or []
        missing = []
        for entry in wanted:
            config = dict((k, v) for k, v in entry.items() if k != "state")
            present = any(_matches(config, h) for h in have)
            if present == (entry.get("state") == "absent"):
                missing.append(entry)
        if missing:
            pending[key] = {"config": missing}
    for key in ("dns-resolver", "hostname"):
        if key in desired:
            wanted = (desired[key] or {}).get("config") if isinstance(desired[key], dict) else None
            have = (current.get(key) or {}).get("config")
            if wanted is not None and not _matches(wanted, have or {}):
                pending[key] = desired[key]
    for key in ("ovs-db", "ovn", "description"):
        if key in desired and not _matches(desired[key], current.get(key)):
            pending[key] = desired[key]
    return pending


def predicted(current_touched, desired):
    """`current_touched` with `desired` laid over it: what the touched parts would look like."""
    result = copy.deepcopy(current_touched)
    by_name = dict((i["name"], i) for i in result.get("interfaces", []))
    for iface in desired.get("interfaces", []):
        if iface.get("state") == "absent":
            result["interfaces"] = [i for i in result["interfaces"] if i["name"] != iface["name"]]
            by_name.pop(iface["name"], None)
        elif iface["name"] in by_name:
            _overlay(by_name[iface["name"]], iface)
        else:
            result.setdefault("interfaces", []).append(copy.deepcopy(iface))
    for key, value in desired.items():
        if key != "interfaces":
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                _overlay(result[key], value)
            else:
                result[key] = copy.deepcopy(value)
    return result


def _overlay(target, source):
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _overlay(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def secret_values(state):
    """Every secret string in a state, so Ansible can mask it in any output."""
    found = set()
    if isinstance(state, dict):
        for key, value in state.items():
            if key in SECRET_KEYS and isinstance(value, str) and value != HIDDEN_SECRET:
                found.add(value)
            else:
                found |= secret_values(value)
    elif isinstance(state, list):
        for value in state:
            found |= secret_values(value)
    return found


def filter_state(state, names=None, types=None, drop_noise=False):
    """Interfaces matching any of the name globs and types; optionally without noise.

    Noise, as kubernetes-nmstate filters it: interfaces nmstate ignores (unmanaged veth peers
    of containers) and values that change by themselves (bridge timers, address lifetimes).
    """
    result = copy.deepcopy(state)
    interfaces = result.get("interfaces", [])
    if names:
        interfaces = [
            i for i in interfaces if any(fnmatch.fnmatchcase(i.get("name", ""), n) for n in names)
        ]
    if types:
        interfaces = [i for i in interfaces if i.get("type") in types]
    if drop_noise:
        ignored = set(i.get("name") for i in interfaces if i.get("state") == "ignore")
        interfaces = [i for i in interfaces if i.get("name") not in ignored]
        for section in ("routes",):
            for kind in ("running", "config"):
                entries = (result.get(section) or {}).get(kind)
                if entries:
                    result[section][kind] = [
                        r for r in entries if r.get("next-hop-interface") not in ignored
                    ]
        result = strip_volatile(result)
        result["interfaces"] = strip_volatile(interfaces)
        return result
    result["interfaces"] = interfaces
    return result
