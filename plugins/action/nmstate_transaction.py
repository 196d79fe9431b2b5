# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads nmstate_transaction's `src` on the controller and hands the module the state as data."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nodenet.nmstate.plugins.plugin_utils.state_file import StateFileAction


class ActionModule(StateFileAction):
    MODULE = "nodenet.nmstate.nmstate_transaction"
