import yaml

from nodenet_lab import inventory, settings


def test_inventory_groups_nodes_by_mode_and_access_path(tmp_path):
    spec = settings.build_spec(4, nm="node03,node04", libnmstate="node01,node03")
    inventory.write(tmp_path, spec, tmp_path / "key")
    data = yaml.safe_load((tmp_path / "inventory.yml").read_text())["all"]
    groups = {name: sorted(group["hosts"]) for name, group in data["children"].items()}
    assert groups["nm_nodes"] == ["node03", "node04"]
    assert groups["kernel_nodes"] == ["node01", "node02"]
    assert groups["libnmstate_nodes"] == ["node01", "node03"]
    assert groups["nmstatectl_nodes"] == ["node02", "node04"]
    assert data["children"]["nodes"]["hosts"]["node02"]["ansible_host"] == "10.231.77.12"
    assert data["vars"]["ansible_ssh_private_key_file"] == str(tmp_path / "key")
    assert f"inventory = {tmp_path / 'inventory.yml'}" in (tmp_path / "ansible.cfg").read_text()
