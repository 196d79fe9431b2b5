# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report digest: what an unchanged node answers, and what changes it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.nodenet.nmstate.plugins.module_utils import info_runner
from ansible_collections.nodenet.nmstate.plugins.module_utils.report_digest import report_digest

STATE = {"interfaces": [{"name": "eth1", "type": "ethernet", "state": "up"}]}
ABOUT = {
    "mode": "kernel-only",
    "access": "nmstatectl",
    "nmstate_version": "2.2.62",
    "network_manager_version": "",
}


def params(known=None):
    return {"report_node": "node01", "known_digest": known}


def test_the_digest_follows_the_state_and_both_versions_and_not_key_order():
    digest = report_digest(STATE, "2.2.62", "")
    assert re.match(r"^[0-9a-f]{64}$", digest)
    assert report_digest({"interfaces": STATE["interfaces"]}, "2.2.62", None) == digest
    assert report_digest(STATE, "2.2.63", "") != digest
    assert report_digest(STATE, "2.2.62", "1.42.4") != digest
    down = {"interfaces": [dict(STATE["interfaces"][0], state="down")]}
    assert report_digest(down, "2.2.62", "") != digest


def test_a_node_sends_its_whole_report_unless_it_is_the_one_held():
    full = info_runner.report(params(), STATE, ABOUT)
    assert full["current_state"] == STATE and full["unchanged"] is False
    assert full["digest"] == report_digest(STATE, "2.2.62", "")
    same = info_runner.report(params(full["digest"]), STATE, ABOUT)
    assert same["unchanged"] is True and "current_state" not in same
    assert set(same) == {"node", "digest", "timestamp", "unchanged"}
    other = info_runner.report(params("0" * 64), STATE, ABOUT)
    assert other["unchanged"] is False and other["current_state"] == STATE
