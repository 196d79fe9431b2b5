"""Trust on first use against real sshd host keys: the first key is recorded where the
operator keeps node state (the NNS), survives a restart, and a different key is refused."""

from __future__ import annotations

from nmstate_operator import config as operator_config
from nmstate_operator.host_keys import TrustOnFirstUse
from nmstate_operator.playbooks import HOST_KEY_REASON, Playbooks
from nmstate_operator.runs import inventory_name


class RecordingNns:
    """The NNS side of trust on first use: what the API would hold in status.hostKey."""

    def __init__(self, host_keys=None):
        self.host_keys = dict(host_keys or {})

    def list_nns(self):
        return {name: {"status": {"hostKey": line}} for name, line in self.host_keys.items()}

    def patch_nns_status(self, name, status):
        self.host_keys[name] = status["hostKey"]


def tofu_playbooks(lab, collections_path, work, nns):
    flags = ["--collections-path", str(collections_path), "--runner-dir", str(work)]
    flags += ["--ssh-private-key", str(lab.state_dir / "keys" / "id_ed25519")]
    config = operator_config.parse([*flags, "--host-key-policy", "trust-on-first-use"])
    host_keys = TrustOnFirstUse(config.known_hosts_file(), nns, inventory_name)
    host_keys.seed()
    return Playbooks(config, host_keys)


def lab_key(lab, node) -> str:
    known = (lab.state_dir / "known_hosts").read_text().splitlines()
    return next(line for line in known if line.split()[0] == node.name).split()[2]


def test_the_first_key_is_recorded_kept_across_a_restart_and_a_new_one_refused(
    lab, collections_path, tmp_path
):
    node, other = lab.nodes[0], lab.nodes[1]
    nns = RecordingNns()
    first = tofu_playbooks(lab, collections_path, tmp_path / "first", nns)
    assert first.report({node.name: node.address})[node.name].report is not None
    recorded = nns.host_keys[node.name]
    assert recorded.split()[0] == node.name and recorded.split()[2] == lab_key(lab, node)

    # A restarted operator with an empty runner directory still knows the key: it comes from
    # the NNS, and the same node is accepted.
    again = tofu_playbooks(lab, collections_path, tmp_path / "restarted", nns)
    assert again.report({node.name: node.address})[node.name].report is not None

    # The node now shows another key (here: another node answers at its address).
    report = again.report({node.name: other.address})[node.name]
    assert report.report is None and report.reason == HOST_KEY_REASON, report
    assert nns.host_keys[node.name] == recorded, "the recorded key never changes"
