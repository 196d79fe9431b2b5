"""In-memory stand-ins for the Kubernetes API and for ansible-runner runs."""

from __future__ import annotations

import copy
from pathlib import Path

from nmstate_operator.api import Gone
from nmstate_operator.names import (
    NODE_ANNOTATION,
    NODE_LABEL,
    POLICY_LABEL,
    enactment_name,
    node_label_value,
)
from nmstate_operator.nodes import NodeSelector, NodeView
from nmstate_operator.probes import ProbeRules
from nmstate_operator.runs import HostOutcome, RunResult

from ansible_collections.nodenet.nmstate.plugins.module_utils.report_digest import report_digest

STATE = {"interfaces": [{"name": "br1", "type": "linux-bridge", "state": "up"}]}


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch, as the API server applies it: null deletes, maps merge."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def node(name, labels=None, ready=True, address=None, boot_id=None):
    """A NodeView as the index holds it."""
    body = {
        "metadata": {"name": name, "uid": f"uid-{name}", "labels": labels or {"role": "x"}},
        "status": {
            "addresses": [
                {
                    "type": "InternalIP",
                    "address": f"10.0.0.{name[-1]}" if address is None else address,
                }
            ],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "nodeInfo": {"bootID": boot_id} if boot_id else {},
        },
    }
    return NodeView.from_node(body, "InternalIP")


class FakeApi:
    """Policies, enactments, NNS and Events in memory, behind api.Api's methods."""

    def __init__(self, max_unavailable=1):
        self.policy = {
            "apiVersion": "nmstate.io/v1",
            "kind": "NodeNetworkConfigurationPolicy",
            "metadata": {"name": "p", "uid": "u1", "generation": 1},
            "spec": {
                "nodeSelector": {"role": "x"},
                "desiredState": STATE,
                "maxUnavailable": max_unavailable,
            },
        }
        self.others: dict[str, dict] = {}  # more policies, by name, besides "p"
        self.enactments: dict[str, dict] = {}
        self.nns: dict[str, dict] = {}
        self.nns_lists = 0
        self.events: list[tuple[str, str, str]] = []
        self.messages: list[str] = []
        self.status_writes: list[dict] = []
        self.created_nns: list[str] = []

    def add_policy(self, name, desired_state, **spec):
        policy = copy.deepcopy(self.policy)
        policy["metadata"] = {"name": name, "uid": f"u-{name}", "generation": 1}
        policy["spec"] = dict(policy["spec"], desiredState=desired_state, **spec)
        policy.pop("status", None)
        self.others[name] = policy
        return policy

    def _policies(self):
        return {**({"p": self.policy} if self.policy else {}), **self.others}

    def get_policy(self, name):
        found = self._policies().get(name)
        return copy.deepcopy(found) if found else None

    def list_policies(self):
        return [copy.deepcopy(p) for p in self._policies().values()]

    def list_enactments(self, policy=None):
        return copy.deepcopy(
            [
                e
                for e in self.enactments.values()
                if policy is None or e["metadata"]["labels"][POLICY_LABEL] == policy
            ]
        )

    def create_enactment(self, node_name, policy):
        name = enactment_name(node_name, policy["metadata"]["name"])
        labels = {NODE_LABEL: node_label_value(node_name), POLICY_LABEL: policy["metadata"]["name"]}
        self.enactments[name] = {
            "apiVersion": "nmstate.io/v1beta1",
            "kind": "NodeNetworkConfigurationEnactment",
            "metadata": {
                "name": name,
                "labels": labels,
                "annotations": {NODE_ANNOTATION: node_name},
            },
        }
        return copy.deepcopy(self.enactments[name])

    def delete_enactment(self, name):
        self.enactments.pop(name)

    def patch_enactment_status(self, name, status):
        if name not in self.enactments:
            raise Gone(name)
        self.enactments[name] = merge_patch(self.enactments[name], {"status": status})
        return copy.deepcopy(self.enactments[name])

    def set_policy_finalizers(self, policy, finalizers):
        name = policy["metadata"]["name"]
        target = self.others if name in self.others else None
        current = target[name] if target is not None else self.policy
        if current is None:
            raise Gone(name)
        current["metadata"]["finalizers"] = list(finalizers)
        if not finalizers and current["metadata"].get("deletionTimestamp"):
            # The API server deletes the policy, and its enactments with it.
            if target is not None:
                del target[name]
            else:
                self.policy = None
            for key in [
                k
                for k, e in self.enactments.items()
                if e["metadata"]["labels"][POLICY_LABEL] == name
            ]:
                del self.enactments[key]
            return None
        return copy.deepcopy(current)

    def patch_policy_status(self, name, status):
        self.status_writes.append(status)
        if name in self.others:
            self.others[name] = merge_patch(self.others[name], {"status": status})
            return copy.deepcopy(self.others[name])
        self.policy = merge_patch(self.policy, {"status": status})
        return copy.deepcopy(self.policy)

    def ensure_nns(self, name, uid):
        self.created_nns.append(name)
        return self.nns.setdefault(name, {"metadata": {"name": name}}) is not None

    def list_nns(self):
        self.nns_lists += 1
        return copy.deepcopy(self.nns)

    def get_nns(self, name):
        return copy.deepcopy(self.nns.get(name))

    def patch_nns_status(self, name, status):
        if name not in self.nns:
            raise Gone(name)
        self.status_writes.append(status)
        self.nns[name] = merge_patch(self.nns[name], {"status": status})
        return copy.deepcopy(self.nns[name])

    def event(self, obj, reason, message, kind="Normal"):
        self.events.append((obj["metadata"]["name"], reason, kind))
        self.messages.append(message)


class FakeRuns:
    """Stands in for runs.run_playbook: records every run, answers per node as scripted."""

    def __init__(self, outcomes=None):
        self.outcomes = outcomes or {}
        self.runs: list[tuple[str, list[str], dict]] = []
        self.data: list[dict] = []
        self.host_data: list[dict | None] = []
        self.settings: list[dict | None] = []
        self.host_settings: list[dict | None] = []

    def __call__(self, config, playbook, nodes, purpose, data_files=None, **options):
        limit = options.get("limit")
        targets = list(limit) if limit is not None else sorted(nodes)
        self.runs.append((playbook, targets, dict(options.get("record") or {})))
        self.data.append(copy.deepcopy(data_files))
        self.host_data.append(copy.deepcopy(options.get("host_data_files")))
        self.settings.append(copy.deepcopy(options.get("settings")))
        host_settings = options.get("host_settings") or {}
        self.host_settings.append(copy.deepcopy(host_settings))
        if playbook == "nodenet.nmstate.dry_run":
            return RunResult("successful", 0, {name: self.dry_run(name) for name in targets})
        if playbook == "nodenet.nmstate.report":
            answers = {name: self.report(name, host_settings.get(name)) for name in targets}
            for name, answer in answers.items():  # as each host's task ends, during the run
                if answer.ok and options.get("on_host_ok") is not None:
                    options["on_host_ok"](name, answer)
            return RunResult("successful", 0, answers)
        return RunResult("successful", 0, {name: self.host(name) for name in targets})

    def dry_run(self, name):
        outcome = self.outcomes.get(name, "applied")
        if outcome in ("unreachable", "host key changed"):
            return self.host(name)
        result = {
            "accepted": outcome == "applied",
            "changed": True,
            "before": "interfaces: []\n",
            "after": "interfaces:\n- name: br1\n",
            "validated_by_nmstate": True,
            "msg": "" if outcome == "applied" else outcome,
        }
        return HostOutcome(facts={"nmstate_dry_run_result": result})

    def report(self, name, host_settings):
        """As nmstate_info answers, with the digest it computes."""
        if self.outcomes.get(name) != "reported":
            return self.host(name)
        digest = report_digest(STATE, "2.2.62", "")
        if (host_settings or {}).get("nmstate_report_known_digest") == digest:
            return HostOutcome(facts={"nmstate_report": {"unchanged": True, "digest": digest}})
        report = {"current_state": STATE, "nmstate_version": "2.2.62", "digest": digest}
        return HostOutcome(facts={"nmstate_report": report})

    def host(self, name):
        outcome = self.outcomes.get(name, "applied")
        if outcome == "applied":
            return HostOutcome(facts={"nmstate_apply_result": {"applied": True}})
        if outcome == "applied and reported":  # the wait's answer carries the node's report
            report = {"current_state": STATE, "nmstate_version": "2.2.62", "digest": "d"}
            facts = {"nmstate_apply_result": {"applied": True}, "nmstate_report": report}
            return HostOutcome(facts=facts)
        if outcome == "in_place":
            return HostOutcome(facts={"nmstate_verify_result": {"in_place": True}})
        if outcome == "unreachable":
            return HostOutcome(ok=False, unreachable=True, failures=["ssh: no route"])
        if outcome == "host key changed":
            failures = [
                "@@@ REMOTE HOST IDENTIFICATION HAS CHANGED! @@@ Host key verification failed."
            ]
            return HostOutcome(ok=False, unreachable=True, failures=failures)
        result = {"applied": False, "msg": outcome}
        return HostOutcome(ok=False, facts={"nmstate_apply_result": result}, failures=[outcome])


class Config:
    address_type = "InternalIP"
    max_retries = 2
    node_selector = NodeSelector()
    policy_settle_seconds = 0.0
    ssh_private_key = Path(__file__)  # any file stands for the key revert states are signed by

    def probe_rules(self):
        return ProbeRules(skippable=frozenset({"dns"}))
