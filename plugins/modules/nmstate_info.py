#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nmstate_info
short_description: Report a node's network state as nmstate sees it
version_added: "0.1.0"
description:
  - Returns the node's current network state in nmstate's schema, in full or as its running
    configuration only, optionally filtered by interface names or globs and by types.
  - Also sets it as the fact C(nmstate), so later tasks can use C(ansible_facts.nmstate).
  - Also returns the version of the NetworkManager that runs on the node, as
    kubernetes-nmstate reports it in a NodeNetworkState's C(hostNetworkManagerVersion).
author:
  - nodenet.nmstate developers (@nodenet)
requirements:
  - nmstate 2.x on the managed node (python3-libnmstate or nmstatectl)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
  - nodenet.nmstate.node_access
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    support: full
    platforms: posix
options:
  running_config:
    description:
      - Report only the running configuration, without runtime data such as DHCP-assigned
        addresses and routes, or LLDP neighbours (nmstate's C(--running-config)).
    type: bool
    default: false
  interfaces:
    description:
      - Only interfaces whose names match one of these names or shell-style globs (C(eth*)).
    type: list
    elements: str
  types:
    description:
      - Only interfaces of these nmstate types, for example C(linux-bridge), C(ethernet).
    type: list
    elements: str
  drop_noise:
    description:
      - Leave out what kubernetes-nmstate leaves out of its reports, interfaces nmstate
        ignores (unmanaged veth peers of containers) and their routes, and the values that
        change by themselves (bridge timers, address lifetimes).
    type: bool
    default: false
  report_fact:
    description:
      - Publish the whole report as this one fact instead (C(node), C(current_state),
        C(nmstate_version), C(network_manager_version), C(access), C(mode), C(timestamp),
        C(digest) and C(unchanged=false); see O(known_digest)), and
        return the state nowhere else, so that a report is one task with one copy of the state.
        The P(nodenet.nmstate.report#role) role uses V(nmstate_report).
    type: str
  report_node:
    description: The name the report gives the node (C(node)), with O(report_fact).
    type: str
  known_digest:
    description:
      - With O(report_fact), the C(digest) of the report the caller already holds (from an
        earlier report, or computed from a NodeNetworkState as the operator does).
      - When the node's report has the same digest, the fact holds only C(node), C(digest),
        C(timestamp) and C(unchanged=true), not the state, so that an unchanged node sends a
        few bytes instead of its whole state.
      - The digest is the SHA-256 of the canonical JSON of C(current_state), C(nmstate_version)
        and C(network_manager_version).
    type: str
seealso:
  - module: nodenet.nmstate.nmstate_apply
"""

EXAMPLES = r"""
- name: Full network state of the node
  nodenet.nmstate.nmstate_info:
  register: network

- name: Only the bridges, without timers and lifetimes
  nodenet.nmstate.nmstate_info:
    types: [linux-bridge]
    drop_noise: true

- name: The running configuration of eth1 and its VLANs
  nodenet.nmstate.nmstate_info:
    running_config: true
    interfaces: ["eth1", "eth1.*"]

- name: A report that sends the state only when it differs from the one held
  nodenet.nmstate.nmstate_info:
    drop_noise: true
    report_fact: nmstate_report
    known_digest: "{{ previous_report.digest | default(omit) }}"

- name: Use the fact
  ansible.builtin.debug:
    msg: "{{ ansible_facts.nmstate.interfaces | map(attribute='name') | list }}"
"""

RETURN = r"""
state:
  description: The node's network state in nmstate's schema, filtered as asked.
  returned: success, without O(report_fact)
  type: dict
  sample:
    interfaces:
      - name: eth1
        type: ethernet
        state: up
    routes:
      running: []
      config: []
ansible_facts:
  description: Facts set by the module.
  returned: success
  type: dict
  contains:
    nmstate:
      description: The same as RV(state).
      type: dict
      returned: success, without O(report_fact)
    REPORT_FACT:
      description: With O(report_fact), the report under that name (the state in C(current_state), the UTC time of the report in C(timestamp)).
      type: dict
      returned: with O(report_fact)
mode:
  description: The nmstate mode used, V(kernel-only) or V(networkmanager).
  returned: always
  type: str
access:
  description: How nmstate was reached on the node, V(libnmstate) or V(nmstatectl).
  returned: success
  type: str
nmstate_version:
  description: The version of nmstate on the node.
  returned: success
  type: str
network_manager_version:
  description:
    - The version of the NetworkManager that runs on the node, as C(NetworkManager --version)
      prints it (at most 64 characters).
    - An empty string where no NetworkManager runs (a kernel-only node, even with
      NetworkManager installed), or where it printed no version.
  returned: success
  type: str
  sample: 1.42.4
error_category:
  description: On failure, what kind of failure it was (see M(nodenet.nmstate.nmstate_apply)).
  returned: failure
  type: str
nmstate_message:
  description: On failure, nmstate's own message.
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nodenet.nmstate.plugins.module_utils import info_runner


def main():
    info_runner.run(AnsibleModule(**info_runner.MODULE_ARGS))


if __name__ == "__main__":
    main()
