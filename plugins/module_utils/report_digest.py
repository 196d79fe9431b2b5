# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One digest of what a node's report says, computed the same way on the node (by nmstate_info)
and by whoever holds an earlier report (the operator, from a NodeNetworkState): when both agree,
the node answers "unchanged" instead of sending its whole state again."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json


def report_digest(current_state, nmstate_version, network_manager_version):
    """The SHA-256 of the state and the two versions in one canonical JSON text. Versions that
    are missing count as ''."""
    text = json.dumps(
        {
            "current_state": current_state,
            "network_manager_version": network_manager_version or "",
            "nmstate_version": nmstate_version or "",
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
