# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options every module that talks to nmstate on a node shares (NODE_ARGUMENT_SPEC)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  kernel_only:
    description:
      - Use nmstate's kernel-only mode, without NetworkManager (nmstate's C(--kernel)); nothing
        is persisted and there are no checkpoints.
      - When not set, kernel-only mode is used exactly when NetworkManager does not run.
    type: bool
  access:
    description:
      - How to reach nmstate. V(auto) uses C(libnmstate) when importable, else C(nmstatectl).
    type: str
    choices: [auto, libnmstate, nmstatectl]
    default: auto
"""
