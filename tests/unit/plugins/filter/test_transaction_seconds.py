# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one formula for how long a transaction may take, in module_utils and as a filter."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.nodenet.nmstate.plugins.filter import transaction_seconds as tsf
from ansible_collections.nodenet.nmstate.plugins.module_utils import nmstate_transaction as tx


@pytest.mark.parametrize(
    ("rollback_timeout", "probe_timeout", "seconds"),
    [(60, 20, 180), (40, 10, 130), (90, 0, 150), ("60", "20", 180)],
)
def test_rollback_timeout_three_probe_rounds_and_a_minute(rollback_timeout, probe_timeout, seconds):
    assert tx.transaction_seconds(rollback_timeout, probe_timeout) == seconds
    assert tsf.transaction_seconds(rollback_timeout, probe_timeout) == seconds


def test_the_filter_is_registered_under_its_name():
    filters = tsf.FilterModule().filters()
    assert filters["transaction_seconds"](60, 20) == 180


@pytest.mark.parametrize(("rollback_timeout", "probe_timeout"), [("soon", 20), (60, None)])
def test_the_filter_refuses_what_is_not_a_number(rollback_timeout, probe_timeout):
    with pytest.raises(AnsibleFilterError, match="whole numbers of seconds"):
        tsf.transaction_seconds(rollback_timeout, probe_timeout)
