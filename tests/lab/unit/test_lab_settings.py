import pytest

from nodenet_lab import settings


def test_build_spec_selects_nodes_by_name_and_parity():
    spec = settings.build_spec(4, nm="even", libnmstate="node01,node03")
    assert [n.name for n in spec.nodes] == ["node01", "node02", "node03", "node04"]
    assert [n.network_manager for n in spec.nodes] == [False, True, False, True]
    assert [n.libnmstate for n in spec.nodes] == [True, False, True, False]


def test_build_spec_rejects_unknown_node_names():
    with pytest.raises(ValueError, match="no such node node07"):
        settings.build_spec(2, nm="node07")


@pytest.mark.parametrize("count", [0, settings.MAX_NODES + 1])
def test_build_spec_rejects_node_counts_out_of_range(count):
    with pytest.raises(ValueError, match="--nodes must be between"):
        settings.build_spec(count)


def test_addresses_and_macs_are_fixed_and_distinct():
    spec = settings.build_spec(settings.MAX_NODES, data_links=4)
    addresses = {n.address for n in spec.nodes}
    macs = {
        settings.mac(role, n.index, link)
        for n in spec.nodes
        for role in (0, 1)
        for link in range(5)
    }
    assert len(addresses) == settings.MAX_NODES
    assert len(macs) == settings.MAX_NODES * 2 * 5
    assert all(settings.MGMT_NET.overlaps(settings.ipaddress.ip_network(a)) for a in addresses)
    assert settings.mac(0, 1) == "02:4e:00:00:00:01"


def test_interface_names_fit_the_kernel_limit():
    node = settings.build_spec(settings.MAX_NODES, data_links=4).nodes[-1]
    assert len(node.host_veth) <= 15 and len(node.switch_veth(4)) <= 15


def test_spec_round_trips_through_its_saved_form():
    spec = settings.build_spec(3, nm="odd", data_links=1, control_plane=False)
    assert settings.LabSpec.from_dict(spec.to_dict()) == spec
