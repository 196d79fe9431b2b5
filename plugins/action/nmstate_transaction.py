# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads nmstate_transaction's `src` on the controller and hands the module the state as data;
with `detach` or `job_id`, tells the module where Ansible keeps asynchronous jobs on the node."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nodenet.nmstate.plugins.plugin_utils.state_file import StateFileAction


class ActionModule(StateFileAction):
    MODULE = "nodenet.nmstate.nmstate_transaction"

    def complete_args(self, module_args):
        # The directory async_wrapper wrote the job to. The module expands a leading ~ itself
        # (as the same user): expanding it here would cost one more command on the node.
        uses_jobs = module_args.get("job_id") is not None or module_args.get("detach")
        if uses_jobs and module_args.get("job_dir") is None:
            module_args["job_dir"] = self.get_shell_option("async_dir", default="~/.ansible_async")
