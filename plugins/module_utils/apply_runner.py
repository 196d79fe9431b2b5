# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nmstate_apply module's work: its options, their checks, and an apply, commit or rollback
through the access layer, with the result or failure the module reports."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.module_utils.common.yaml import HAS_YAML, yaml_dump, yaml_load

from ansible_collections.nodenet.nmstate.plugins.module_utils import (
    nmstate_kernel_limits as kernel_limits,
)
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_client import (
    NODE_ARGUMENT_SPEC,
    find_client,
    resolve_mode,
)
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_errors import (
    InputError,
    NmstateError,
    StateError,
)
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_state import (
    check_shape,
    predicted,
    secret_values,
    strip_volatile,
    touched,
    unsatisfied,
)

# The keyword arguments of the module's AnsibleModule.
MODULE_ARGS = dict(
    argument_spec=dict(
        state=dict(type="raw"),
        src=dict(type="path"),
        action=dict(type="str", choices=["apply", "commit", "rollback"], default="apply"),
        checkpoint=dict(type="str"),
        verify=dict(type="bool", default=True),
        save_to_disk=dict(type="bool", default=True),
        commit=dict(type="bool", default=True),
        rollback_timeout=dict(type="int", default=60),
        **NODE_ARGUMENT_SPEC,
    ),
    mutually_exclusive=[("state", "src")],
    supports_check_mode=True,
)


def parse_state(raw, mask=lambda secrets: None):
    """The `state` option as a mapping: given as one, or as YAML/JSON text. Its secrets go to
    `mask` before anything checks it, so no message can show them."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            if not HAS_YAML:
                raise StateError("the state string is not JSON, and PyYAML is missing to read YAML")
            try:
                raw = yaml_load(raw)
            except Exception as exc:
                # Only where: the parser's own message quotes the text, secrets and all.
                mark = getattr(exc, "problem_mark", None)
                where = " (line %d, column %d)" % (mark.line + 1, mark.column + 1) if mark else ""
                raise StateError("the state string is not valid YAML or JSON%s" % where)
    mask(secret_values(raw))
    check_shape(raw)
    return raw


def checked_state(params, kernel_only, mask=lambda secrets: None):
    """The desired state to apply (None for a commit or rollback), once every option is checked.

    Raises InputError or StateError.
    """
    if params["src"] is not None:
        raise InputError(
            "'src' is read on the controller by this module's action plugin; call the "
            "module by its full name nodenet.nmstate.nmstate_apply, or pass 'state'"
        )
    if kernel_only and (not params["commit"] or params["action"] != "apply"):
        raise InputError(
            "checkpoints (commit: false, action: commit/rollback) need NetworkManager; "
            "nmstate's kernel-only mode has none"
        )
    if params["action"] != "apply":
        return None
    if params["state"] is None:
        raise InputError("one of 'state' or 'src' is required to apply")
    return parse_state(params["state"], mask)


def as_yaml(state):
    if not HAS_YAML:
        return json.dumps(state, indent=2, sort_keys=True) + "\n"
    return yaml_dump(state, default_flow_style=False, sort_keys=False)


def nmstate_differences(client, new_state, old_state):
    """nmstate's own difference generator, or None where the node lacks it or it declines.

    It validates its input like a desired state, and a shown kernel state can fail that (a
    bridge port keeps its IPv6 link-local address); the apply itself succeeded regardless.
    """
    try:
        return client.generate_differences(new_state, old_state)
    except NmstateError:
        return None


def apply_state(module, client, desired, kernel_only):
    """Apply `desired` (in check mode, predict it); the result without mode and access."""
    params = module.params
    if kernel_only:
        kernel_limits.check(desired, client.show(kernel_only=True))
    before_full = client.show(running_config=True, kernel_only=kernel_only)
    before = touched(before_full, desired)
    result = {"desired_state": desired}

    if module.check_mode:
        current = client.show(kernel_only=kernel_only)
        pending = unsatisfied(desired, strip_volatile(current))
        after = predicted(before, desired) if pending else before
        result.update(changed=bool(pending), state=after, differences=pending)
    else:
        checkpoint = client.apply(
            desired,
            kernel_only=kernel_only,
            verify=params["verify"],
            save_to_disk=params["save_to_disk"],
            commit=params["commit"],
            rollback_timeout=params["rollback_timeout"],
        )
        after_full = client.show(running_config=True, kernel_only=kernel_only)
        after = touched(after_full, desired)
        changed = strip_volatile(before_full) != strip_volatile(after_full)
        differences = nmstate_differences(client, after_full, before_full) if changed else {}
        if differences is None:
            differences = unsatisfied(after, before)
        result.update(changed=changed, state=after, differences=differences or {})
        if checkpoint:
            result["checkpoint"] = checkpoint
    if module._diff:
        result["diff"] = {"before": as_yaml(before), "after": as_yaml(result["state"])}
    return result


def end_checkpoint(module, client):
    """Commit or roll back a pending checkpoint (in check mode, only say it would)."""
    if not module.check_mode:
        end = client.commit if module.params["action"] == "commit" else client.rollback
        end(module.params["checkpoint"])
    return {"changed": True}


def run(module):
    """The whole module: exits or fails `module`."""
    params = module.params
    kernel_only, mode = resolve_mode(params["kernel_only"])
    desired = None
    try:
        # Every secret the state carries is masked wherever it shows up in our output.
        desired = checked_state(params, kernel_only, module.no_log_values.update)
        client = find_client(module, params["access"])
        if desired is None:
            result = end_checkpoint(module, client)
        else:
            result = apply_state(module, client, desired, kernel_only)
        result.update(mode=mode, access=client.access, nmstate_version=client.version)
    except NmstateError as exc:
        failure = exc.to_result(mode=mode)
        if desired is not None:
            failure["desired_state"] = desired
        module.fail_json(**failure)
    # Round-trip through JSON so that nothing but plain data leaves the module.
    module.exit_json(**json.loads(json.dumps(result)))
