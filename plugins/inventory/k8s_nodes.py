# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: k8s_nodes
short_description: A cluster's Kubernetes Node objects as an Ansible inventory
version_added: "0.1.0"
description:
  - One host per Kubernetes Node, named after it, reached at one of its status addresses
    (C(InternalIP) by default).
  - Host variables C(k8s_labels), C(k8s_annotations), C(k8s_addresses) and C(k8s_ready) carry
    what the Node says about itself, for C(keyed_groups), C(groups) and C(compose).
  - The configuration file's name must end in C(k8s_nodes.yml) or C(k8s_nodes.yaml).
author:
  - nodenet.nmstate developers (@nodenet)
requirements:
  - kubernetes (the official Python client) on the controller
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: This plugin's name.
    required: true
    type: str
    choices: [nodenet.nmstate.k8s_nodes]
  kubeconfig:
    description:
      - Path to a kubeconfig file. Without one, the client's usual places are tried
        (C(KUBECONFIG), C(~/.kube/config)), then the in-cluster service account.
    type: path
    env:
      - name: K8S_AUTH_KUBECONFIG
  context:
    description: The kubeconfig context to use; its current context when not set.
    type: str
    env:
      - name: K8S_AUTH_CONTEXT
  label_selector:
    description: Only Nodes matching this label selector, for example C(node-role.kubernetes.io/worker).
    type: str
  address_type:
    description: Which of the Node's status addresses becomes C(ansible_host).
    type: str
    default: InternalIP
    choices: [InternalIP, ExternalIP, Hostname, InternalDNS, ExternalDNS]
  skip_not_ready:
    description: Leave out Nodes whose Ready condition is not True.
    type: bool
    default: false
  request_timeout:
    description: Seconds to wait for the API server.
    type: int
    default: 10
"""

EXAMPLES = r"""
# cluster.k8s_nodes.yml
plugin: nodenet.nmstate.k8s_nodes
kubeconfig: ~/.kube/config
label_selector: node-role.kubernetes.io/worker
keyed_groups:
  - key: k8s_labels['topology.kubernetes.io/zone'] | default('none')
    prefix: zone
groups:
  network_manager: k8s_labels.get('example.com/network-manager') == 'true'
compose:
  ansible_user: "'core'"
"""

import json

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.nodenet.nmstate.plugins.module_utils.k8s_node import (
    node_summary,
    reachable_address,
    valid_node_name,
)

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.rest import ApiException
    from kubernetes.config.config_exception import ConfigException

    HAS_KUBERNETES = True
except ImportError:
    HAS_KUBERNETES = False


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "nodenet.nmstate.k8s_nodes"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(
            ("k8s_nodes.yml", "k8s_nodes.yaml")
        )

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        nodes = None
        if use_cache:
            try:
                nodes = self._cache[cache_key]
            except KeyError:
                nodes = None
        if nodes is None:
            nodes = self._fetch_nodes()
            if self.get_option("cache"):
                self._cache[cache_key] = nodes
        self._populate(nodes)

    def _api(self):
        if not HAS_KUBERNETES:
            raise AnsibleParserError(
                "the k8s_nodes inventory needs the Python package 'kubernetes' on the controller"
            )
        kubeconfig = self.get_option("kubeconfig")
        context = self.get_option("context")
        try:
            api_client = k8s_config.new_client_from_config(config_file=kubeconfig, context=context)
        except (ConfigException, IOError, OSError) as exc:
            if kubeconfig:
                raise AnsibleParserError(
                    "cannot load kubeconfig %s: %s" % (kubeconfig, to_native(exc))
                )
            try:
                k8s_config.load_incluster_config()
            except ConfigException:
                raise AnsibleParserError(
                    "no kubeconfig found (%s) and not running in a cluster; set 'kubeconfig'"
                    % to_native(exc)
                )
            api_client = k8s_client.ApiClient()
        return k8s_client.CoreV1Api(api_client), api_client.configuration.host

    def _fetch_nodes(self):
        """Plain data for each Node (what the cache stores)."""
        api, host = self._api()
        kwargs = {"_request_timeout": self.get_option("request_timeout")}
        if self.get_option("label_selector"):
            kwargs["label_selector"] = self.get_option("label_selector")
        try:
            listed = api.list_node(**kwargs)
        except ApiException as exc:
            if exc.status in (401, 403):
                raise AnsibleParserError(
                    "the API server at %s rejected the credentials (%s %s): check the kubeconfig's user, "
                    "and that it may list nodes" % (host, exc.status, exc.reason)
                )
            raise AnsibleParserError(
                "listing nodes at %s failed: %s %s" % (host, exc.status, exc.reason)
            )
        except Exception as exc:  # urllib3 connection errors, timeouts, TLS failures
            raise AnsibleParserError(
                "cannot reach the Kubernetes API server at %s: %s" % (host, to_native(exc))
            )
        serialize = k8s_client.ApiClient().sanitize_for_serialization
        nodes = []
        for node in listed.items:
            summary = node_summary(serialize(node))
            del summary["uid"]
            nodes.append(summary)
        return json.loads(json.dumps(nodes))

    def _populate(self, nodes):
        address_type = self.get_option("address_type")
        strict = self.get_option("strict")
        self.inventory.add_group("k8s_nodes")
        for node in nodes:
            if self.get_option("skip_not_ready") and not node["ready"]:
                continue
            name = node["name"]
            if not valid_node_name(name) or name in ("all", "ungrouped", "localhost"):
                self.display.warning(
                    "k8s_nodes: skipped a Node named %r: not usable as a host" % name
                )
                continue
            self.inventory.add_host(name, group="k8s_nodes")
            address, problem = reachable_address(node["addresses"], address_type)
            if address:
                self.inventory.set_variable(name, "ansible_host", address)
            elif problem and any(a["type"] == address_type for a in node["addresses"]):
                self.display.warning("k8s_nodes: Node %s: %s; not used" % (name, problem))
            hostvars = {
                "k8s_labels": node["labels"],
                "k8s_annotations": node["annotations"],
                "k8s_addresses": node["addresses"],
                "k8s_ready": node["ready"],
            }
            # Labels, annotations and addresses are written by whoever controls the Node: data,
            # never templates.
            for key, value in hostvars.items():
                self.inventory.set_variable(name, key, wrap_var(value))
            all_vars = self.inventory.get_host(name).get_vars()
            self._set_composite_vars(self.get_option("compose"), all_vars, name, strict=strict)
            self._add_host_to_composed_groups(
                self.get_option("groups"), all_vars, name, strict=strict
            )
            self._add_host_to_keyed_groups(
                self.get_option("keyed_groups"), all_vars, name, strict=strict
            )
