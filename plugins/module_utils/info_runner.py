# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nmstate_info module's work: its options, and the node's state read through the access
layer and filtered, as the result and fact the module reports, with the version of the
NetworkManager that runs on the node."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_client import (
    NODE_ARGUMENT_SPEC,
    find_client,
    network_manager_running,
    resolve_mode,
)
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_errors import NmstateError
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_state import filter_state
from ansible_collections.nodenet.nmstate.plugins.module_utils.report_digest import report_digest

# The keyword arguments of the module's AnsibleModule.
MODULE_ARGS = dict(
    argument_spec=dict(
        running_config=dict(type="bool", default=False),
        interfaces=dict(type="list", elements="str"),
        types=dict(type="list", elements="str"),
        drop_noise=dict(type="bool", default=False),
        report_fact=dict(type="str"),
        report_node=dict(type="str"),
        known_digest=dict(type="str"),
        **NODE_ARGUMENT_SPEC,
    ),
    supports_check_mode=True,
)

# NetworkManager's --version prints its distribution version alone: 1.42.4, 1.46.0-20.el9_4.
NETWORK_MANAGER_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+~_-]*$")
VERSION_LIMIT = 64
NETWORK_MANAGER_DIRS = ["/usr/sbin", "/sbin", "/usr/local/sbin"]


def version_string(text):
    """The first line of `text` when it is one version string, cut to VERSION_LIMIT
    characters; '' for anything else (what the node prints is data, never trusted)."""
    first = (text or "").strip().split("\n", 1)[0].strip()
    return first[:VERSION_LIMIT] if NETWORK_MANAGER_VERSION.match(first) else ""


def network_manager_version(module):
    """The version of the NetworkManager that runs on this node, '' where none runs.

    The binary is also on nodes that do not run it, hence the process check first. --version
    prints the build's version (the same string as the daemon's D-Bus property Version, unless
    NetworkManager was upgraded and not restarted since) and exits, touching nothing.
    """
    if not network_manager_running():
        return ""
    path = module.get_bin_path("NetworkManager", opt_dirs=NETWORK_MANAGER_DIRS)
    if not path:
        return ""
    rc, out, _err = module.run_command([path, "--version"], environ_update={"LC_ALL": "C"})
    return version_string(out) if rc == 0 else ""


def read_state(module, params, kernel_only, mode):
    """(the node's state, filtered as `params` asks, what read it). Raises NmstateError."""
    client = find_client(module, params["access"])
    state = client.show(running_config=params["running_config"], kernel_only=kernel_only)
    state = filter_state(state, params.get("interfaces"), params.get("types"), params["drop_noise"])
    about = dict(
        mode=mode,
        access=client.access,
        nmstate_version=client.version,
        network_manager_version=network_manager_version(module),
    )
    return state, about


def node_report(module, access, kernel_only, node):
    """The report the report role publishes by default (without noise, the whole state, not
    only the running configuration), read now. Raises NmstateError."""
    kernel_only, mode = resolve_mode(kernel_only)
    params = dict(access=access, running_config=False, drop_noise=True)
    state, about = read_state(module, params, kernel_only, mode)
    return report(dict(report_node=node, known_digest=None), state, about)


def run(module):
    """The whole module: exits or fails `module`."""
    params = module.params
    kernel_only, mode = resolve_mode(params["kernel_only"])
    try:
        state, about = read_state(module, params, kernel_only, mode)
    except NmstateError as exc:
        module.fail_json(**exc.to_result(mode=mode))
    if params["report_fact"]:
        module.exit_json(
            changed=False,
            ansible_facts={params["report_fact"]: report(params, state, about)},
            mode=mode,
        )
    module.exit_json(changed=False, state=state, ansible_facts={"nmstate": state}, **about)


def report(params, state, about):
    """The report fact: the whole report, or only its digest when it is the one the caller
    already holds (known_digest), so that an unchanged node sends a few bytes."""
    digest = report_digest(state, about["nmstate_version"], about["network_manager_version"])
    common = dict(
        node=params["report_node"] or "",
        digest=digest,
        timestamp=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    if params["known_digest"] == digest:
        return dict(common, unchanged=True)
    return dict(about, current_state=state, unchanged=False, **common)
