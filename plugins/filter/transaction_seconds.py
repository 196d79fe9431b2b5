# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The longest an nmstate_transaction can take, for playbooks that wait for one."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: transaction_seconds
short_description: The longest an nmstate transaction can take, in seconds
version_added: "0.1.0"
description:
  - The time M(nodenet.nmstate.nmstate_transaction) can take at the most with the given
    timeouts - its O(nodenet.nmstate.nmstate_transaction#module:rollback_timeout), three rounds
    of probes (before the change, after it, after a rollback) and a minute for nmstate itself.
  - The module waits that long for another transaction's node lock; use it for C(async) and
    for how long to wait for the job, as the R(nodenet.nmstate.apply role,ansible_collections.nodenet.nmstate.docsite.roles) does.
author:
  - nodenet.nmstate developers (@nodenet)
positional: _input, probe_timeout
options:
  _input:
    description: The transaction's rollback timeout in seconds.
    type: int
    required: true
  probe_timeout:
    description: The transaction's probe timeout in seconds.
    type: int
    required: true
"""

EXAMPLES = r"""
- name: Run a transaction as long as it may take
  nodenet.nmstate.nmstate_transaction:
    state: "{{ new_state }}"
    rollback_timeout: 90
    probe_timeout: 20
  async: "{{ 90 | nodenet.nmstate.transaction_seconds(20) }}"
  poll: 0
  register: transaction
"""

RETURN = r"""
_value:
  description: Seconds, V(rollback_timeout + 3 * probe_timeout + 60).
  type: int
  sample: 210
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_transaction import (
    transaction_seconds as _transaction_seconds,
)


def transaction_seconds(rollback_timeout, probe_timeout):
    try:
        return _transaction_seconds(rollback_timeout, probe_timeout)
    except (TypeError, ValueError):
        raise AnsibleFilterError(
            "transaction_seconds: the rollback timeout (%r) and the probe timeout (%r) must be "
            "whole numbers of seconds" % (rollback_timeout, probe_timeout)
        )


class FilterModule(object):
    def filters(self):
        return {"transaction_seconds": transaction_seconds}
