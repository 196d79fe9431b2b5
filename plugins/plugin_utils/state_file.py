# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugins that read a module's `src` state file on the controller.

The file's content reaches the module as data: it is parsed here in Python and never passes
through Jinja, so a state that holds '{{' (from a Kubernetes object, say) cannot run templates.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

try:
    import yaml
except ImportError:  # the controller always has PyYAML; keep ansible-test's import check calm
    yaml = None


def parse_state_text(text, src):
    """A state from JSON or YAML text; a mapping or AnsibleActionFail."""
    try:
        state = json.loads(text)
    except ValueError:
        try:
            state = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise AnsibleActionFail("src %s is neither JSON nor YAML: %s" % (src, to_text(exc)))
    if not isinstance(state, dict):
        raise AnsibleActionFail(
            "src %s must hold a mapping (an nmstate state), not a %s" % (src, type(state).__name__)
        )
    return state


class StateFileAction(ActionBase):
    """Replaces `src` with `state` read from the controller, then runs MODULE."""

    TRANSFERS_FILES = False
    _supports_async = True
    _supports_check_mode = True
    MODULE = None

    def run(self, tmp=None, task_vars=None):
        result = super(StateFileAction, self).run(tmp, task_vars)
        module_args = dict(self._task.args)
        src = module_args.pop("src", None)
        if src is not None:
            if module_args.get("state") is not None:
                raise AnsibleActionFail("parameters are mutually exclusive: state|src")
            module_args["state"] = self._read_state(src)
        self.complete_args(module_args)
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result.update(
            self._execute_module(
                module_name=self.MODULE,
                module_args=module_args,
                task_vars=task_vars,
                wrap_async=wrap_async,
            )
        )
        return result

    def complete_args(self, module_args):
        """Add what the module needs from the controller's side to `module_args`."""

    def _read_state(self, src):
        try:
            path = self._find_needle("files", src)
        except AnsibleError as exc:
            raise AnsibleActionFail("could not find src %s: %s" % (src, to_text(exc)))
        with open(path, "rb") as handle:
            return parse_state_text(to_text(handle.read()), src)
