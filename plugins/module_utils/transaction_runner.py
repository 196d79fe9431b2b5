# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nmstate_transaction module's work: its options, every input checked before the node lock
(also in check mode), then under the lock the policy rendered, the prediction (check mode) or
the Transaction, and the result or failure the module reports."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import os

from ansible.module_utils.common.parameters import remove_values

from ansible_collections.nodenet.nmstate.plugins.module_utils import (
    info_runner,
)
from ansible_collections.nodenet.nmstate.plugins.module_utils import (
    nmstate_kernel_limits as kernel_limits,
)
from ansible_collections.nodenet.nmstate.plugins.module_utils.apply_runner import as_yaml
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_client import (
    NODE_ARGUMENT_SPEC,
    find_client,
    find_nmstatectl,
    resolve_mode,
)
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_errors import (
    InputError,
    NmstateError,
    StateError,
)
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_job import (
    job_file,
    outcome_fact,
    start_detached,
    wait_for_job,
)
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_probes import (
    DEFAULT_DNS_NAME,
    DEFAULT_PROBES,
    controller_address,
    split_endpoint,
    validate_all,
)
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_state import (
    check_shape,
    predicted,
    secret_values,
    split_policy,
    strip_volatile,
    touched,
    unsatisfied,
)
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_transaction import (
    Transaction,
    exclusive_node_lock,
    transaction_seconds,
)

# The keyword arguments of the module's AnsibleModule.
MODULE_ARGS = dict(
    argument_spec=dict(
        state=dict(type="raw"),
        src=dict(type="path"),
        probes=dict(type="list", elements="dict", default=[]),
        default_probes=dict(type="bool", default=True),
        skip_probes=dict(type="list", elements="str", default=[], choices=list(DEFAULT_PROBES)),
        dns_probe_name=dict(type="str", default=DEFAULT_DNS_NAME),
        api_server=dict(type="str"),
        probe_timeout=dict(type="int", default=20),
        before_timeout=dict(type="int", default=3),
        rollback_timeout=dict(type="int", default=60),
        detach=dict(type="bool", default=False),
        job_id=dict(type="str"),
        wait=dict(type="int", default=25),
        job_dir=dict(type="str", default="~/.ansible_async"),
        result_fact=dict(type="str"),
        report_fact=dict(type="str"),
        report_node=dict(type="str", default=""),
        **NODE_ARGUMENT_SPEC,
    ),
    mutually_exclusive=[
        ("state", "src"),
        ("state", "job_id"),
        ("src", "job_id"),
        ("detach", "job_id"),
    ],
    supports_check_mode=True,
)


def checked_inputs(params):
    """(nmpolicy capture or None, desired state, API endpoint or None) once every option is
    checked, probes included. Raises InputError, StateError or ProbeError; nothing needs the
    node for this."""
    if params["src"] is not None or params["state"] is None:
        raise InputError(
            "give 'state', or 'src' through the action plugin (call the module by its full name); "
            "with the apply role, set exactly one of nmstate_desired_state and "
            "nmstate_desired_state_file"
        )
    capture, desired = split_policy(params["state"])
    check_shape(desired, policy=capture is not None)
    validate_all(params["probes"])
    api_server = None
    if params["api_server"]:
        try:
            api_server = split_endpoint(params["api_server"])
        except ValueError as exc:
            raise InputError("api_server: %s" % exc)
    if params["rollback_timeout"] < params["probe_timeout"] + 15:
        raise InputError(
            "rollback_timeout (%d) must be at least probe_timeout (%d) + 15 seconds"
            % (params["rollback_timeout"], params["probe_timeout"])
        )
    return capture, desired, api_server


def check_rendered(rendered):
    """Check the state nmstate rendered from an nmpolicy like a desired state."""
    try:
        check_shape(rendered)
    except StateError as exc:
        raise StateError(exc.message, prefix="the policy rendered an invalid state")


def describe(result):
    """The failure message of a rolled-back transaction."""
    probe = result["failed_probe"]
    message = "rolled back: probe %s (%s) failed after the change: %s; " % (
        probe["name"],
        probe["type"],
        probe.get("output"),
    )
    after = result.get("probes_after_rollback") or []
    still_failing = ", ".join(p["name"] for p in after if not p["passed"])
    if still_failing:
        restored = "the previous state was re-applied, but probes %s still fail" % still_failing
    else:
        restored = "the node was restored to its previous state"
    return message + restored


def transact(module, kernel_only, inputs, reported):
    """Under the node lock: render the policy, then predict (check mode) or run the change.

    What failures must report too (the rendered state) goes into `reported` as soon as known.
    """
    params = module.params
    capture, desired, api_server = inputs
    client = find_client(module, params["access"])
    nmstatectl = find_nmstatectl(module)
    transaction = Transaction(
        client,
        nmstatectl,
        kernel_only,
        params["rollback_timeout"],
        params["probe_timeout"],
        params["before_timeout"],
        controller=controller_address(os.environ),
    )
    lock_seconds = transaction_seconds(params["rollback_timeout"], params["probe_timeout"])
    with exclusive_node_lock(lock_seconds):
        # The node as it is under the lock, read once for every check before the change.
        current = client.show(kernel_only=kernel_only)
        if capture:
            desired = render_policy(client, nmstatectl, capture, desired, current, reported)
        if nmstatectl is not None:
            reported["features"] = features_of(nmstatectl, desired, current)
        if kernel_only:
            kernel_limits.check(desired, current)
        if module.check_mode:
            return predict(module, client, nmstatectl, desired, current, kernel_only)
        return transaction.run(
            desired,
            params["probes"],
            params["default_probes"],
            params["dns_probe_name"],
            api_server,
            params["skip_probes"],
        )


def render_policy(client, nmstatectl, capture, desired, current, reported):
    """The state nmstate renders from an nmpolicy on this node; what it reports goes into
    `reported` at once (a failure must show it too): the rendered state, and with nmstatectl
    each capture's result with its time (kubernetes-nmstate's capturedStates)."""
    policy = {"capture": capture, "desiredState": desired}
    if nmstatectl is not None:
        rendered, captured = nmstatectl.state_and_captures_from_policy(policy, current)
        reported["captured_states"] = captured
    else:
        rendered = client.state_from_policy(policy, current)
    reported["rendered_state"] = rendered
    check_rendered(rendered)
    return rendered


def features_of(nmstatectl, desired, current):
    """nmstate's names for the features `desired` uses; [] where nmstate cannot tell (the
    list only informs)."""
    try:
        return nmstatectl.features(desired, current)
    except NmstateError:
        return []


def predict(module, client, nmstatectl, desired, current, kernel_only):
    """Check mode: whether nmstate accepts `desired` here (`current`: the node's state), and
    what it would change (with --diff, the touched running configuration before and after).
    Raises NmstateError when nmstate refuses the state."""
    validated = nmstatectl is not None
    if validated:
        nmstatectl.validate(desired, current)
    pending = unsatisfied(desired, strip_volatile(current))
    result = dict(
        changed=bool(pending),
        differences=pending,
        applied=False,
        rolled_back=False,
        accepted=True,
        validated_by_nmstate=validated,
    )
    if module._diff:
        before = touched(client.show(running_config=True, kernel_only=kernel_only), desired)
        after = predicted(before, desired) if pending else before
        result["diff"] = {"before": as_yaml(before), "after": as_yaml(after)}
    return result


PAYLOAD_NAME = "AnsiballZ_nmstate_transaction.py"


def drop_payload_file(cmdline_path="/proc/self/cmdline"):
    """Remove the copy of this module Ansible left in the task's temporary directory: it holds
    every argument, the state's secrets among them, and an asynchronous job's wrapper removes
    it only when it next wakes, up to 5 s after the job ends. The arguments are in memory by
    now. The file is the script this process was started with (sys.argv no longer says:
    Ansible's loader runs the module under its own name); anything but Ansible's own payload
    file (pipelining has none) is left alone."""
    try:
        with open(cmdline_path, "rb") as handle:
            argv = handle.read().split(b"\0")
    except (IOError, OSError):
        return
    for arg in argv[:3]:
        path = os.path.realpath(arg.decode("utf-8", "replace"))
        in_task_dir = os.path.basename(os.path.dirname(path)).startswith("ansible-tmp-")
        if os.path.basename(path) == PAYLOAD_NAME and in_task_dir:
            with contextlib.suppress(OSError):
                os.unlink(path)


def run(module):
    """The whole module: exits or fails `module`."""
    if module.params["job_id"] is not None:
        wait_for_transaction(module)
    drop_payload_file()
    params = module.params
    kernel_only, mode = resolve_mode(params["kernel_only"])
    # Secrets are masked before any check can print a part of the state.
    module.no_log_values.update(secret_values(params["state"]))
    try:
        inputs = checked_inputs(params)
    except NmstateError as exc:
        finish(module, exc.to_result(applied=False, failed=True, mode=mode))
    if params["detach"] and not module.check_mode:
        start(module, kernel_only, mode, inputs)
    finish(module, with_report(module, outcome(module, kernel_only, mode, inputs)))


def outcome(module, kernel_only, mode, inputs):
    """The transaction's result, a failure included (`failed`)."""
    reported = {"mode": mode}
    try:
        result = transact(module, kernel_only, inputs, reported)
    except NmstateError as exc:
        return exc.to_result(applied=False, failed=True, **reported)
    result.update(reported)
    if result["rolled_back"]:
        result.update(failed=True, msg=describe(result))
    return result


def start(module, kernel_only, mode, inputs):
    """detach: the transaction goes on in a job of its own on the node (its result masked as
    the module's output would be), and the module answers at once with the job's id."""
    params = module.params

    def work():
        return remove_values(outcome(module, kernel_only, mode, inputs), module.no_log_values)

    limit = transaction_seconds(params["rollback_timeout"], params["probe_timeout"])
    job_id = start_detached(params["job_dir"], work, limit)
    finish(module, dict(ansible_job_id=job_id, started=1, changed=False, mode=mode), False)


def wait_for_transaction(module):
    """job_id: wait in place for the transaction started as that asynchronous job, and report
    its result as if it had run here; a job still running reports `finished: false`."""
    params = module.params
    try:
        path = job_file(params["job_dir"], params["job_id"])
        result = wait_for_job(path, params["wait"])
    except InputError as exc:
        finish(module, exc.to_result(applied=False, failed=True))
    if result is None:
        finish(module, dict(ansible_job_id=params["job_id"], started=True), finished=False)
    # What the job's module said, less what Ansible added to it for itself.
    said = dict(
        (key, value)
        for key, value in result.items()
        if not key.startswith("_ansible") and key not in ("invocation", "started")
    )
    finish(module, with_report(module, dict(said, ansible_job_id=params["job_id"])))


def with_report(module, result):
    """report_fact: the node's report, read once the transaction has ended, in the same answer
    (the caller needs no report run of its own after an apply). A report that cannot be read
    is left out, and `report_error` says why."""
    params = module.params
    if not params["report_fact"] or module.check_mode:
        return result
    try:
        report = info_runner.node_report(
            module, params["access"], params["kernel_only"], params["report_node"]
        )
    except NmstateError as exc:
        return dict(result, report_error=exc.describe())
    facts = dict(result.get("ansible_facts") or {})
    facts[params["report_fact"]] = report
    return dict(result, ansible_facts=facts)


# What stays beside the outcome fact (result_fact): the rest is in the fact only, once (the
# state, probes and revert state would otherwise travel and be recorded twice).
BESIDE_THE_FACT = frozenset(
    [
        "finished",
        "applied",
        "changed",
        "rolled_back",
        "msg",
        "mode",
        "ansible_job_id",
        "diff",
        "error_category",
        "failed",
        "report_error",
    ]
)


def finish(module, result, finished=True):
    """Exit with `result` (fail when it says so), and with result_fact the outcome fact."""
    result = dict(result, finished=finished)
    if module.params["result_fact"]:
        facts = dict(result.get("ansible_facts") or {})
        facts[module.params["result_fact"]] = outcome_fact(result, finished)
        result = dict((key, value) for key, value in result.items() if key in BESIDE_THE_FACT)
        result["ansible_facts"] = facts
    if result.pop("failed", False):
        result.setdefault("msg", "the transaction failed")
        module.fail_json(**result)
    module.exit_json(**result)
