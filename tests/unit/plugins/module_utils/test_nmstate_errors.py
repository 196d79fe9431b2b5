# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One exception root: categories, rolled_back and the failure a module reports."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.nodenet.nmstate.plugins.module_utils import nmstate_client as nc
from ansible_collections.nodenet.nmstate.plugins.module_utils import nmstate_errors as errors
from ansible_collections.nodenet.nmstate.plugins.module_utils import nmstate_probes as probes
from ansible_collections.nodenet.nmstate.plugins.module_utils import nmstate_state as ns
from ansible_collections.nodenet.nmstate.plugins.module_utils import nmstate_transaction as tx

CATEGORIES = [
    "invalid_argument",
    "verification_failed",
    "not_supported",
    "backend_failure",
    "permission",
    "dependency",
    "missing",
    "nmstate_error",
]


def test_every_error_of_the_collection_has_the_one_root():
    for cls in (ns.StateError, probes.ProbeError, tx.TransactionError, errors.InputError):
        assert issubclass(cls, errors.NmstateError)
    assert nc.NmstateError is errors.NmstateError, "the access layer re-exports the root"


def test_every_category_has_a_hint_that_starts_the_message():
    assert sorted(errors.CATEGORY_HINTS) == sorted(CATEGORIES)
    for category in CATEGORIES:
        message = errors.NmstateError("boom", category).describe()
        assert message.startswith(errors.CATEGORY_HINTS[category])
        assert message.endswith("(%s): boom" % category)


def test_to_result_carries_category_kind_message_and_rolled_back():
    exc = errors.NmstateError("boom", "verification_failed", "VerificationError")
    assert exc.rolled_back is False
    assert exc.to_result(mode="kernel-only") == {
        "msg": "the state was applied but the node does not show it; nmstate reverted it "
        "(VerificationError): boom",
        "error_category": "verification_failed",
        "nmstate_error_kind": "VerificationError",
        "nmstate_message": "boom",
        "rolled_back": False,
        "mode": "kernel-only",
    }
    exc.rolled_back = True
    assert exc.to_result()["rolled_back"] is True
    assert errors.NmstateError("x", rolled_back=True).to_result()["rolled_back"] is True


@pytest.mark.parametrize(
    ("exc", "msg"),
    [
        (ns.StateError("interfaces[0]: bad"), "invalid desired state: interfaces[0]: bad"),
        (probes.ProbeError("probes[1]: bad"), "invalid probe: probes[1]: bad"),
        (errors.InputError("give 'state'"), "give 'state'"),
        (
            ns.StateError("bad", prefix="the policy rendered an invalid state"),
            "the policy rendered an invalid state: bad",
        ),
    ],
)
def test_input_errors_are_invalid_arguments_with_their_prefix_and_no_nmstate_message(exc, msg):
    assert exc.category == "invalid_argument" and str(exc) == exc.message
    assert exc.to_result(mode="networkmanager") == {
        "msg": msg,
        "error_category": "invalid_argument",
        "rolled_back": False,
        "mode": "networkmanager",
    }


def test_errors_from_nmstate_kinds_keep_their_kind():
    exc = nc.error_from_kind("PermissionError", "Permission denied")
    assert (exc.category, exc.nmstate_kind, exc.rolled_back) == (
        "permission",
        "PermissionError",
        False,
    )
