"""Trust on first use: keys come from and go to the NNS objects, never change once recorded."""

from fakes import FakeApi
from nmstate_operator.host_keys import TrustOnFirstUse, read_lines
from nmstate_operator.runs import inventory_name


def test_recorded_keys_seed_the_file_and_new_ones_are_recorded_once(tmp_path):
    api = FakeApi()
    api.nns = {
        "n1": {"metadata": {"name": "n1"}, "status": {"hostKey": "n1 ssh-ed25519 AAAAone"}},
        "n2": {"metadata": {"name": "n2"}, "status": {}},
        # a line that names another host is not taken from n3's NNS
        "n3": {"metadata": {"name": "n3"}, "status": {"hostKey": "n1 ssh-ed25519 AAAAevil"}},
    }
    path = tmp_path / "known_hosts"
    tofu = TrustOnFirstUse(path, api, inventory_name)
    tofu.seed()
    assert read_lines(path) == {"n1": "n1 ssh-ed25519 AAAAone"}

    with path.open("a") as known:  # what ssh's accept-new appends on a first contact
        known.write("n2 ssh-ed25519 AAAAtwo\n")
    tofu.record_new(["n1", "n2"])
    tofu.record_new(["n1", "n2"])
    assert api.nns["n2"]["status"]["hostKey"] == "n2 ssh-ed25519 AAAAtwo"
    assert api.status_writes == [{"hostKey": "n2 ssh-ed25519 AAAAtwo"}]


def test_a_node_whose_nns_is_gone_is_recorded_later(tmp_path):
    api = FakeApi()
    path = tmp_path / "known_hosts"
    path.write_text("n1 ssh-ed25519 AAAAone\n")
    tofu = TrustOnFirstUse(path, api, inventory_name)
    tofu.record_new(["n1"])  # no NNS yet: nothing recorded, no failure
    api.nns["n1"] = {"metadata": {"name": "n1"}}
    tofu.record_new(["n1"])
    assert api.nns["n1"]["status"]["hostKey"] == "n1 ssh-ed25519 AAAAone"
