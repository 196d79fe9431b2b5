"""The lab's libnmstate: python3-libnmstate's API as a thin ctypes layer over libnmstate.so.2.

Distributions ship this binding as python3-libnmstate; no registry reachable here carries it,
so the lab provides its own over the real C library. It is a test fixture, never shipped.
"""

import json
import os

from . import error
from ._clib import (
    FLAG_INCLUDE_SECRETS,
    FLAG_INCLUDE_STATUS_DATA,
    FLAG_KERNEL_ONLY,
    FLAG_MEMORY_ONLY,
    FLAG_NO_COMMIT,
    FLAG_NO_VERIFY,
    FLAG_RUNNING_CONFIG_ONLY,
    LIBRARY_PATH,
    call,
)
from .error import NmstateError

__all__ = [
    "NmstateError",
    "apply",
    "commit",
    "error",
    "gen_net_state_from_policy",
    "generate_configurations",
    "generate_differences",
    "rollback",
    "show",
    "show_running_config",
    "validate",
]


def _version() -> str:
    # libnmstate.so.2 links to libnmstate.so.<full version> in the lab's build.
    name = os.path.basename(os.path.realpath(LIBRARY_PATH))
    return name[len("libnmstate.so.") :] if name.startswith("libnmstate.so.") else "2"


__version__ = _version()


def _as_text(state) -> str:
    return state if isinstance(state, str) else json.dumps(state)


def show(*, kernel_only=False, include_status_data=False, include_secrets=False) -> dict:
    flags = (
        (FLAG_KERNEL_ONLY if kernel_only else 0)
        | (FLAG_INCLUDE_STATUS_DATA if include_status_data else 0)
        | (FLAG_INCLUDE_SECRETS if include_secrets else 0)
    )
    return json.loads(call("net_state_retrieve", [flags], ("state",))["state"])


def show_running_config(include_secrets=False) -> dict:
    flags = FLAG_RUNNING_CONFIG_ONLY | (FLAG_INCLUDE_SECRETS if include_secrets else 0)
    return json.loads(call("net_state_retrieve", [flags], ("state",))["state"])


def apply(
    desired_state,
    *,
    kernel_only=False,
    verify_change=True,
    save_to_disk=True,
    commit=True,
    rollback_timeout=60,
) -> None:
    flags = (
        (FLAG_KERNEL_ONLY if kernel_only else 0)
        | (0 if verify_change else FLAG_NO_VERIFY)
        | (0 if save_to_disk else FLAG_MEMORY_ONLY)
        | (0 if commit else FLAG_NO_COMMIT)
    )
    call("net_state_apply", [flags, _as_text(desired_state), int(rollback_timeout)], ())


def commit(*, checkpoint=None) -> None:
    call("checkpoint_commit", [checkpoint or ""], ())


def rollback(*, checkpoint=None) -> None:
    call("checkpoint_rollback", [checkpoint or ""], ())


def generate_differences(new_state, old_state) -> dict:
    diff = call(
        "generate_differences",
        [_as_text(new_state), _as_text(old_state)],
        ("diff_state",),
        with_log=False,
    )["diff_state"]
    return json.loads(diff) if diff else {}


def generate_configurations(desired_state) -> dict:
    configs = call("generate_configurations", [_as_text(desired_state)], ("configs",))["configs"]
    return json.loads(configs)


def gen_net_state_from_policy(policy, cur_state) -> dict:
    state = call("net_state_from_policy", [_as_text(policy), _as_text(cur_state)], ("state",))[
        "state"
    ]
    return json.loads(state)


def validate(state_or_policy, current_state=None) -> None:
    current = None if current_state is None else _as_text(current_state)
    call("validate", [_as_text(state_or_policy), current], (), with_log=False)
