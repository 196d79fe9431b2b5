#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nmstate_apply
short_description: Apply a desired nmstate network state on a node
version_added: "0.1.0"
description:
  - Applies a full or partial nmstate desired state (interfaces, routes, route rules, DNS,
    hostname, OVS database) on the managed node, through the Python binding C(libnmstate) when
    it can be imported and C(nmstatectl) otherwise.
  - Works in nmstate's NetworkManager mode (with checkpoints and rollback) and in its
    kernel-only mode. By default the mode follows whether NetworkManager runs on the node.
  - C(changed) comes from comparing the node's running configuration before and after the
    apply, so applying the same state twice reports no change.
  - Can also commit or roll back a checkpoint left pending by an earlier apply with
    O(commit=false).
author:
  - nodenet.nmstate developers (@nodenet)
requirements:
  - nmstate 2.x on the managed node (python3-libnmstate or nmstatectl)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - nodenet.nmstate.node_access
attributes:
  check_mode:
    support: full
    details: Nothing is applied. The module predicts the change by comparing the desired
      state with the current one; nmstate itself decides on a real apply.
  diff_mode:
    support: full
    details: Shows the touched interfaces and sections before and after, as YAML.
  platform:
    support: full
    platforms: posix
options:
  state:
    description:
      - The desired state, as nmstate's YAML/JSON schema (for example C(interfaces),
        C(routes), C(route-rules), C(dns-resolver), C(hostname), C(ovs-db)).
      - A mapping, or a string holding YAML or JSON.
      - Mutually exclusive with O(src). One of them is required when O(action=apply).
    type: raw
  src:
    description:
      - Path on the controller to a YAML or JSON file holding the desired state. Relative
        paths are searched like the M(ansible.builtin.copy) module's C(src) (role C(files/)).
      - Read by the action plugin on the controller; the file never has to exist on the node.
    type: path
  action:
    description:
      - V(apply) applies the desired state.
      - V(commit) and V(rollback) end a checkpoint that an earlier apply with O(commit=false)
        left pending (NetworkManager mode only).
    type: str
    choices: [apply, commit, rollback]
    default: apply
  checkpoint:
    description:
      - The checkpoint to commit or roll back, as returned by an apply with O(commit=false).
        The newest pending checkpoint when omitted.
    type: str
  verify:
    description:
      - Let nmstate verify the result and roll back if the node does not show the desired
        state. Turning it off also turns off nmstate's automatic rollback.
    type: bool
    default: true
  save_to_disk:
    description:
      - Persist the configuration. V(false) applies it in memory only (C(--memory-only)).
    type: bool
    default: true
  commit:
    description:
      - V(false) leaves the NetworkManager checkpoint pending, to be committed or rolled back
        later with O(action). NetworkManager rolls back on its own after O(rollback_timeout).
      - Needs NetworkManager mode.
    type: bool
    default: true
  rollback_timeout:
    description:
      - Seconds before NetworkManager rolls back a checkpoint that was not committed.
    type: int
    default: 60
notes:
  - Secrets in the state (802.1x, wifi, IPsec, MACsec passwords and keys) are masked in every
    output of the module.
  - A failure keeps nmstate's own message in RV(nmstate_message) and says what kind of
    failure it was in RV(error_category).
seealso:
  - module: nodenet.nmstate.nmstate_info
  - name: nmstate state schema
    description: Examples and reference of the desired state format.
    link: https://nmstate.io/examples.html
"""

EXAMPLES = r"""
- name: Connect a Linux bridge br1 to eth1 with a static address
  nodenet.nmstate.nmstate_apply:
    state:
      interfaces:
        - name: br1
          type: linux-bridge
          state: up
          bridge:
            options:
              stp:
                enabled: false
            port:
              - name: eth1
          ipv4:
            enabled: true
            address:
              - ip: 192.0.2.10
                prefix-length: 24

- name: Remove it again
  nodenet.nmstate.nmstate_apply:
    state:
      interfaces:
        - name: br1
          type: linux-bridge
          state: absent

- name: Apply a state kept in the role's files/ directory
  nodenet.nmstate.nmstate_apply:
    src: bond-uplinks.yml

- name: Apply without committing, check, then commit
  nodenet.nmstate.nmstate_apply:
    state: "{{ new_state }}"
    commit: false
    rollback_timeout: 120
  register: pending

- name: Commit the checkpoint once the node is still reachable
  nodenet.nmstate.nmstate_apply:
    action: commit
    checkpoint: "{{ pending.checkpoint }}"
"""

RETURN = r"""
changed:
  description: Whether the node's running configuration differs after the apply.
  returned: always
  type: bool
desired_state:
  description: The desired state that was applied (secrets masked).
  returned: when O(action=apply)
  type: dict
state:
  description:
    - The touched interfaces and sections as the node shows them after the apply.
    - In check mode, the prediction of that.
  returned: when O(action=apply)
  type: dict
  sample:
    interfaces:
      - name: br1
        type: linux-bridge
        state: up
differences:
  description:
    - What the apply changes, as a partial state. From nmstate's own difference generator
      where the node has it (libnmstate), else from comparing the desired and current state.
  returned: when O(action=apply)
  type: dict
checkpoint:
  description: The NetworkManager checkpoint left pending by O(commit=false).
  returned: when O(commit=false) and nmstate reported one
  type: str
  sample: /org/freedesktop/NetworkManager/Checkpoint/3
mode:
  description: The nmstate mode used.
  returned: always
  type: str
  sample: kernel-only
access:
  description: How nmstate was reached on the node.
  returned: success
  type: str
  sample: libnmstate
nmstate_version:
  description: The version of nmstate on the node.
  returned: success
  type: str
  sample: 2.2.62
error_category:
  description:
    - On failure, what kind of failure it was, V(invalid_argument), V(verification_failed),
      V(not_supported), V(backend_failure), V(permission), V(dependency), V(missing) or
      V(nmstate_error).
  returned: failure
  type: str
nmstate_error_kind:
  description: On failure, nmstate's own error kind, for example C(InvalidArgument).
  returned: failure
  type: str
nmstate_message:
  description: On failure, nmstate's own message.
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nodenet.nmstate.plugins.module_utils import apply_runner


def main():
    apply_runner.run(AnsibleModule(**apply_runner.MODULE_ARGS))


if __name__ == "__main__":
    main()
