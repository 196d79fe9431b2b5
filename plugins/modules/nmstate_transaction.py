#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nmstate_transaction
short_description: Apply an nmstate state, probe connectivity, and roll back on the node if it breaks
version_added: "0.1.0"
description:
  - Applies a desired nmstate state as a transaction that runs entirely on the node, so that it
    completes even when the change cuts the node off from the controller.
  - Before the change it runs connectivity probes, the default ones (see O(default_probes)) and
    O(probes). Only probes that pass before are required after.
  - The default probes look at the node as it is after the change. V(controller) pings the
    machine the SSH connection comes from. V(default-gateway) (when the main routing table had a
    default route) wants a default route still in the main table, and its gateway answering; a
    default route in another table does not count. V(dns) (when the node has name servers)
    resolves O(dns_probe_name) through the name servers the node then runs (nmstate's running
    state, which NetworkManager writes to C(/etc/resolv.conf) a moment later).
    V(api-server) (only with O(api_server)) completes a TLS handshake with the API endpoint.
  - In NetworkManager mode the change is applied under a checkpoint that NetworkManager rolls
    back by itself after O(rollback_timeout), and committed only when the probes pass.
  - In kernel-only mode, which has no checkpoints, the module first computes nmstate's revert
    state (C(nmstatectl gr)), completed with the addresses and routes it leaves out, and starts a
    detached watchdog that applies it after O(rollback_timeout) unless the probes pass first.
  - A rolled-back transaction fails, naming the probe that failed and saying the node was restored.
  - Every option, the state's shape and the probes included, is checked before anything else,
    also in check mode; a failure names the exact place, such as C(interfaces[2].bridge.port[0]).
  - Only one transaction runs on a node at a time (a lock in C(/run)); a second one, from another
    controller or after a lost connection, waits for the first to finish. So does check mode, which
    then reports whether the desired state is in place.
  - Start it with O(detach) (or with C(async)) so that a lost SSH connection does not stop it,
    then wait for it on the node with this module's O(job_id), as the
    R(nodenet.nmstate.apply role,ansible_collections.nodenet.nmstate.docsite.roles) does (one
    task that waits on the node and sets the job's result file aside), or poll with
    M(ansible.builtin.async_status).
author:
  - nodenet.nmstate developers (@nodenet)
requirements:
  - nmstate 2.x on the managed node; C(nmstatectl) for kernel-only mode
  - C(ping) on the node for gateway and ping probes
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - nodenet.nmstate.node_access
attributes:
  check_mode:
    support: full
    details: >-
      Checks every option, probes included, asks nmstate whether it accepts the state
      (C(nmstatectl validate) against the node's current state, when nmstatectl is there), then
      predicts the change; applies nothing. A state nmstate refuses fails the task.
  diff_mode:
    support: partial
    details: In check mode, the running configuration of what the state touches, before and as predicted after.
  platform:
    support: full
    platforms: posix
options:
  state:
    description:
      - The desired state, as for M(nodenet.nmstate.nmstate_apply). One of O(state) and O(src)
        is required.
      - It may also be an nmpolicy, a mapping of C(capture) (names to nmpolicy expressions on the
        node's current state) and C(desiredState) (a state referring to the captures as
        C({{ capture.NAME... }})). nmstate renders it on the node first (C(nmstatectl policy) or
        libnmstate), and RV(rendered_state) returns the result. Pass a policy through O(src) so
        that Ansible does not try to template nmpolicy's braces.
    type: raw
  src:
    description:
      - Path on the controller to a YAML or JSON file holding the desired state, read by the
        action plugin as data (never templated).
    type: path
  probes:
    description:
      - Extra probes. Each has a C(name), a C(type) and the keys that type needs
        (C(ping) and C(gateway) take C(host) and optionally C(interface), and C(gateway) without
        C(host) follows the main table's default route; C(tcp) and C(tls) take C(host) and
        C(port), and C(tls) passes when a TLS handshake completes (the certificate is not
        checked); C(dns) takes C(query) and optionally C(server), the node's running name servers
        otherwise, and passes when the name resolves; C(command) takes C(argv), a list of strings
        run without a shell).
    type: list
    elements: dict
    default: []
  default_probes:
    description:
      - Also run the default probes V(controller), V(default-gateway), V(dns) and, with
        O(api_server), V(api-server), except those in O(skip_probes).
    type: bool
    default: true
  skip_probes:
    description:
      - Default probes to leave out, by name. RV(skipped_probes) lists those that would have run.
    type: list
    elements: str
    choices: [controller, default-gateway, dns, api-server]
    default: []
  dns_probe_name:
    description:
      - The name the V(dns) probe resolves (an A query). It passes when a name server answers
        without error, as kubernetes-nmstate's C(probeConfiguration.dns.host).
    type: str
    default: root-servers.net
  api_server:
    description:
      - The cluster's API endpoint as C(host:port) (C([v6]:port) for IPv6). When given, the
        V(api-server) probe checks that the node still completes a TLS handshake with it. Without
        a cluster, leave it unset.
    type: str
  probe_timeout:
    description: Seconds each required probe is retried after the change before it counts as failed.
    type: int
    default: 20
  before_timeout:
    description: Seconds each probe is tried before the change to decide whether it is required.
    type: int
    default: 3
  rollback_timeout:
    description:
      - Seconds after which the change is undone on the node without help (NetworkManager's
        checkpoint timeout, or the kernel-mode watchdog). Must leave room for the apply and the
        probes; at least O(probe_timeout) plus 15.
    type: int
    default: 60
  detach:
    description:
      - Check every option, then run the transaction as a job of its own on the node, detached
        from the SSH session, and return at once with its RV(ansible_job_id) and RV(finished)
        V(false). The job goes on when the change cuts the connection; wait for it with
        O(job_id).
      - Like C(async) with C(poll=0), but in one call with pipelining, where C(async) first copies
        the module and its wrapper to the node. The job's file has C(async_status)'s format, in
        the same directory (O(job_dir)), and a job still running after the longest a
        transaction can take (O(rollback_timeout) plus three times O(probe_timeout) plus 60 s)
        ends as failed.
      - Ignored in check mode, which predicts at once.
    type: bool
    default: false
  job_id:
    description:
      - Start nothing, and wait on the node for the transaction started earlier as this
        asynchronous job (the C(ansible_job_id) that C(async) with C(poll=0) returned), at most
        O(wait) seconds. Its result is returned as if the transaction had run in this task (and
        fails as it did), with RV(finished). Once finished, the job's result file is set aside,
        where a second call (after a lost connection) still finds it, and removed after an hour.
      - Excludes O(state) and O(src); the other options are ignored, except O(wait),
        O(job_dir), O(result_fact) and O(report_fact) with what it reads by.
    type: str
  wait:
    description: With O(job_id), seconds to wait on the node for the job to end.
    type: int
    default: 25
  job_dir:
    description:
      - With O(detach) or O(job_id), the node's directory of asynchronous jobs. The action plugin sets it from
        the shell's C(async_dir) (Ansible's C(ANSIBLE_ASYNC_DIR)). A leading C(~) is the
        remote user's home.
    type: str
    default: ~/.ansible_async
  result_fact:
    description:
      - Also return the outcome as this one fact, as the apply role's V(nmstate_apply_result)
        with C(finished) and C(applied), C(changed), C(rolled_back), C(failed_probe),
        C(required_probes), C(skipped_probes), C(probes_before), C(probes_after), C(durations),
        C(mode), C(rendered_state), C(differences), C(revert_state), C(captured_states),
        C(features) and C(msg), each present even when the result has none.
      - The values the fact holds are then not returned beside it, except RV(finished),
        RV(applied), RV(changed), RV(rolled_back), RV(mode), the message and the diff.
    type: str
  report_fact:
    description:
      - Once the transaction has ended (applied, rolled back or failed; with O(job_id), once
        the job has), also read the node's state and return it as this fact, as
        M(nodenet.nmstate.nmstate_info) with O(nodenet.nmstate.nmstate_info#module:report_fact)
        and O(nodenet.nmstate.nmstate_info#module:drop_noise) reports it (C(current_state),
        C(digest), C(nmstate_version), C(network_manager_version), C(node), C(timestamp)).
        The caller needs no report of its own after the change.
      - Read with O(access) and O(kernel_only). A state that cannot be read fails nothing;
        the fact is left out and RV(report_error) says why.
      - Ignored in check mode, and while a job is still running.
    type: str
  report_node:
    description: With O(report_fact), the name the report gives the node (C(node)).
    type: str
    default: ""
seealso:
  - module: nodenet.nmstate.nmstate_apply
"""

EXAMPLES = r"""
- name: Change the management network safely
  nodenet.nmstate.nmstate_transaction:
    state: "{{ new_state }}"
    api_server: api.example.com:6443
    probes:
      - name: registry
        type: tcp
        host: 192.0.2.10
        port: 5000
    rollback_timeout: 90
    detach: true
  register: transaction

- name: Wait for it on the node, then have its outcome as the fact outcome
  nodenet.nmstate.nmstate_transaction:
    job_id: "{{ transaction.ansible_job_id }}"
    wait: 60
    result_fact: outcome
  register: waited
  ignore_unreachable: true
"""

RETURN = r"""
rendered_state:
  description: The state nmstate rendered from an nmpolicy given as the desired state.
  returned: when the desired state is an nmpolicy
  type: dict
captured_states:
  description:
    - What each capture of an nmpolicy found on the node, by capture name, as nmstate reports it (C(state), and C(metaInfo) with its C(time)).
  returned: when the desired state is an nmpolicy and nmstatectl is on the node
  type: dict
features:
  description: nmstate's names for the features the desired state uses (C(nmstatectl statistic)), such as V(static-dns-name-server).
  returned: when nmstatectl is on the node
  type: list
  elements: str
applied:
  description: The change was applied and kept (also when the node already had it).
  returned: always
  type: bool
changed:
  description: The node's running configuration differs after the change.
  returned: always
  type: bool
differences:
  description: In check mode, what in the desired state the node does not have yet (empty when it is in place).
  returned: check mode
  type: dict
accepted:
  description: In check mode, nmstate and the module's own checks accept the state (a refused state fails instead).
  returned: check mode
  type: bool
validated_by_nmstate:
  description: In check mode, whether C(nmstatectl validate) took part (it needs nmstatectl on the node).
  returned: check mode
  type: bool
rolled_back:
  description: The change was undone on the node.
  returned: always
  type: bool
failed_probe:
  description: The probe whose failure caused the rollback, with its output.
  returned: when rolled back
  type: dict
probes_before:
  description: Each probe's outcome before the change (C(name), C(type), C(passed), C(output), C(attempts), C(seconds)).
  returned: always
  type: list
  elements: dict
required_probes:
  description: Names of the probes that passed before and so had to pass after.
  returned: always
  type: list
  elements: str
skipped_probes:
  description: Default probes that O(skip_probes) left out although they would have run.
  returned: always
  type: list
  elements: str
probes_after:
  description: Outcomes of the required probes after the change.
  returned: when applied
  type: list
  elements: dict
probes_after_rollback:
  description: Outcomes of the required probes after the rollback.
  returned: when rolled back
  type: list
  elements: dict
durations:
  description: Seconds spent in each step (C(probes_before), C(apply), C(probes_after), C(commit), C(rollback), C(total)).
  returned: always
  type: dict
mode:
  description: V(networkmanager) or V(kernel-only).
  returned: always
  type: str
checkpoint:
  description: The NetworkManager checkpoint the change ran under.
  returned: in NetworkManager mode
  type: str
revert_state:
  description:
    - nmstate's revert state for the change (C(nmstatectl gr)), completed with the addresses and routes it leaves out.
    - In kernel-only mode the watchdog applies it to roll back; in NetworkManager mode it is only returned, for undoing the change later.
  returned: when nmstatectl is on the node (always in kernel-only mode)
  type: dict
finished:
  description: The transaction ended (always true without O(detach) or O(job_id)); false when O(detach) started it, or O(wait) passed first.
  returned: always
  type: bool
ansible_job_id:
  description: With O(detach), the job started; with O(job_id), the job waited for.
  returned: with O(detach) or O(job_id)
  type: str
error_category:
  description: On failure, the kind of failure (see M(nodenet.nmstate.nmstate_apply)); V(invalid_argument) also for options refused before the node is touched.
  returned: failure
  type: str
report_error:
  description: With O(report_fact), why the node's state could not be read after the transaction (the fact is then left out).
  returned: when the report could not be read
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nodenet.nmstate.plugins.module_utils import transaction_runner


def main():
    transaction_runner.run(AnsibleModule(**transaction_runner.MODULE_ARGS))


if __name__ == "__main__":
    main()
