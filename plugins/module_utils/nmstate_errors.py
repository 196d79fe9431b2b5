# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every error the collection's modules report, under one root.

:class:`NmstateError` carries a category Ansible users can act on, nmstate's own error kind
and message when nmstate raised it, and whether the node was rolled back. Its
:meth:`NmstateError.to_result` is what a module fails with.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The categories, with what each means for the user (the start of a failure's message).
CATEGORY_HINTS = {
    "invalid_argument": "nmstate rejected the desired state",
    "verification_failed": "the state was applied but the node does not show it; nmstate reverted it",
    "not_supported": "this node's nmstate or kernel does not support part of the state",
    "backend_failure": "nmstate's backend (NetworkManager or the kernel) failed",
    "permission": "nmstate needs root on the node (use become)",
    "dependency": "a dependency of nmstate is missing on the node",
    "missing": "nmstate is not installed on the node",
    "nmstate_error": "nmstate failed",
}


class NmstateError(Exception):
    """A failure, with its category, nmstate's own kind and message, and whether the node was
    rolled back."""

    def __init__(self, message, category="nmstate_error", nmstate_kind=None, rolled_back=False):
        super(NmstateError, self).__init__(message)
        self.message = message
        self.category = category
        self.nmstate_kind = nmstate_kind
        self.rolled_back = rolled_back

    def __str__(self):
        return self.message

    def describe(self):
        hint = CATEGORY_HINTS.get(self.category, "nmstate failed")
        return "%s (%s): %s" % (hint, self.nmstate_kind or self.category, self.message)

    def to_result(self, **extra):
        """The keyword arguments of AnsibleModule.fail_json, with `extra` added."""
        result = {
            "msg": self.describe(),
            "error_category": self.category,
            "nmstate_error_kind": self.nmstate_kind,
            "nmstate_message": self.message,
            "rolled_back": self.rolled_back,
        }
        result.update(extra)
        return result


class InputError(NmstateError):
    """Module input refused before nmstate sees it; nothing on the node was touched.

    Its message starts with `prefix` when there is one. nmstate said nothing, so the result
    has no nmstate kind or message.
    """

    prefix = None

    def __init__(self, message, prefix=None):
        super(InputError, self).__init__(message, category="invalid_argument")
        if prefix is not None:
            self.prefix = prefix

    def describe(self):
        return "%s: %s" % (self.prefix, self.message) if self.prefix else self.message

    def to_result(self, **extra):
        result = super(InputError, self).to_result(**extra)
        del result["nmstate_error_kind"], result["nmstate_message"]
        return result


class StateError(InputError):
    """A desired state that is not shaped like an nmstate state."""

    prefix = "invalid desired state"


class ProbeError(InputError):
    """A probe definition that cannot be run."""

    prefix = "invalid probe"


class TransactionError(NmstateError):
    """The transaction could not start safely; nothing was changed."""
