# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nmstate_info module's work: its options, and the node's state read through the access
layer and filtered, as the result and fact the module reports."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_client import (
    NODE_ARGUMENT_SPEC,
    find_client,
    resolve_mode,
)
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_errors import NmstateError
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_state import filter_state

# The keyword arguments of the module's AnsibleModule.
MODULE_ARGS = dict(
    argument_spec=dict(
        running_config=dict(type="bool", default=False),
        interfaces=dict(type="list", elements="str"),
        types=dict(type="list", elements="str"),
        drop_noise=dict(type="bool", default=False),
        **NODE_ARGUMENT_SPEC,
    ),
    supports_check_mode=True,
)


def run(module):
    """The whole module: exits or fails `module`."""
    params = module.params
    kernel_only, mode = resolve_mode(params["kernel_only"])
    try:
        client = find_client(module, params["access"])
        state = client.show(running_config=params["running_config"], kernel_only=kernel_only)
        state = filter_state(state, params["interfaces"], params["types"], params["drop_noise"])
        result = dict(
            changed=False,
            state=state,
            ansible_facts={"nmstate": state},
            mode=mode,
            access=client.access,
            nmstate_version=client.version,
        )
    except NmstateError as exc:
        module.fail_json(**exc.to_result(mode=mode))
    module.exit_json(**result)
