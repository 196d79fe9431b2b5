"""The k8s_nodes inventory plugin against the lab's real API server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

BIN = Path(sys.executable).parent


@pytest.fixture
def inventory_file(lab, tmp_path):
    def write(**options):
        data = {
            "plugin": "nodenet.nmstate.k8s_nodes",
            "kubeconfig": str(lab.kubeconfig),
            # The SSH nodes: the lab's infra node runs pods, not sshd.
            "label_selector": "!nodenet.lab/infra",
            "keyed_groups": [{"key": "k8s_labels['nodenet.lab/network-manager']", "prefix": "nm"}],
            "groups": {"libnmstate": "k8s_labels.get('nodenet.lab/libnmstate') == 'true'"},
            "compose": {
                "ansible_user": "'root'",
                "ansible_ssh_private_key_file": repr(str(lab.state_dir / "keys" / "id_ed25519")),
                "ansible_python_interpreter": "'/usr/bin/python3'",
            },
        }
        data.update(options)
        path = tmp_path / "cluster.k8s_nodes.yml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


def plain(value):
    """ansible-inventory marks values from inventory plugins as unsafe in its JSON; unwrap them."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def ansible(tool, *args, collections_path, check=True):
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(collections_path),
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_INVENTORY_UNPARSED_FAILED="True",
        ANSIBLE_NOCOLOR="1",
    )
    env.pop("ANSIBLE_CONFIG", None)
    done = subprocess.run(
        [str(BIN / tool), *args], env=env, capture_output=True, text=True, timeout=300
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def inventory_list(path, collections_path) -> dict:
    out = ansible(
        "ansible-inventory", "-i", str(path), "--list", collections_path=collections_path
    ).stdout
    return plain(json.loads(out))


def test_groups_follow_node_labels_and_hosts_answer_ping(lab, inventory_file, collections_path):
    path = inventory_file()
    listed = inventory_list(path, collections_path)
    hosts = lambda group: sorted(listed.get(group, {}).get("hosts", []))  # noqa: E731
    assert hosts("k8s_nodes") == sorted(n.name for n in lab.nodes)
    assert hosts("nm_true") == sorted(n.name for n in lab.nodes if n.network_manager)
    assert hosts("nm_false") == sorted(n.name for n in lab.nodes if not n.network_manager)
    assert hosts("libnmstate") == sorted(n.name for n in lab.nodes if n.libnmstate)
    hostvars = listed["_meta"]["hostvars"]
    for node in lab.nodes:
        assert hostvars[node.name]["ansible_host"] == node.address
        assert hostvars[node.name]["k8s_labels"]["kubernetes.io/hostname"] == node.name
        assert hostvars[node.name]["k8s_ready"] is True
    pinged = ansible(
        "ansible", "-i", str(path), "-m", "ping", "all", collections_path=collections_path
    )
    assert pinged.stdout.count("SUCCESS") == len(lab.nodes)


def test_label_selector_picks_nodes(lab, inventory_file, collections_path):
    path = inventory_file(label_selector="nodenet.lab/network-manager=false")
    listed = inventory_list(path, collections_path)
    assert sorted(listed["k8s_nodes"]["hosts"]) == sorted(
        n.name for n in lab.nodes if not n.network_manager
    )


def test_an_unreachable_api_server_is_a_clear_error(
    lab, inventory_file, collections_path, tmp_path
):
    kubeconfig = yaml.safe_load(lab.kubeconfig.read_text())
    kubeconfig["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    bad = tmp_path / "unreachable.kubeconfig"
    bad.write_text(yaml.safe_dump(kubeconfig))
    done = ansible(
        "ansible-inventory",
        "-i",
        str(inventory_file(kubeconfig=str(bad), request_timeout=3)),
        "--list",
        collections_path=collections_path,
        check=False,
    )
    assert done.returncode != 0
    assert (
        "cannot reach the Kubernetes API server at https://127.0.0.1:1" in done.stdout + done.stderr
    )


def test_rejected_credentials_are_a_clear_error(lab, inventory_file, collections_path, tmp_path):
    kubeconfig = yaml.safe_load(lab.kubeconfig.read_text())
    kubeconfig["users"][0]["user"] = {"token": "not-a-valid-token"}
    bad = tmp_path / "badcreds.kubeconfig"
    bad.write_text(yaml.safe_dump(kubeconfig))
    done = ansible(
        "ansible-inventory",
        "-i",
        str(inventory_file(kubeconfig=str(bad))),
        "--list",
        collections_path=collections_path,
        check=False,
    )
    assert done.returncode != 0
    assert "rejected the credentials (401" in done.stdout + done.stderr


def test_apply_playbook_configures_the_nodes_a_label_selects(
    lab, inventory_file, collections_path, tmp_path
):
    core = client.CoreV1Api(config.new_client_from_config(str(lab.kubeconfig)))
    chosen = [lab.nodes[0].name, lab.nodes[3].name]
    for name in chosen:
        core.patch_node(name, {"metadata": {"labels": {"test.nodenet.io/bridge": "yes"}}})
    state = {
        "nmstate_desired_state": {
            "interfaces": [
                {
                    "name": "br7",
                    "type": "linux-bridge",
                    "state": "up",
                    "ipv4": {"enabled": False},
                    "bridge": {"options": {"stp": {"enabled": False}}, "port": []},
                }
            ]
        }
    }
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(state))
    path = inventory_file(label_selector="test.nodenet.io/bridge=yes")
    try:
        run = ansible(
            "ansible-playbook",
            "-i",
            str(path),
            "nodenet.nmstate.apply",
            "-e",
            f"@{state_file}",
            collections_path=collections_path,
            check=False,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        for node in lab.nodes:
            has_bridge = node.run("ip link show br7", check=False).returncode == 0
            assert has_bridge == (node.name in chosen), node.name
    finally:
        for name in chosen:
            core.patch_node(name, {"metadata": {"labels": {"test.nodenet.io/bridge": None}}})
        # Through nmstate: NetworkManager would re-create a bridge deleted behind its back.
        for node in lab.nodes:
            node.apply({"interfaces": [{"name": "br7", "type": "linux-bridge", "state": "absent"}]})
