"""Trust on first use against real sshd host keys: the first key is recorded where the
operator keeps node state (the NNS), survives a restart, and a different key is refused."""

from __future__ import annotations

from nmstate_operator import config as operator_config
from nmstate_operator import host_key_check
from nmstate_operator.host_keys import TrustOnFirstUse
from nmstate_operator.playbooks import HOST_KEY_REASON, Playbooks
from nmstate_operator.runs import host_key_options, inventory_name


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


def test_ssh_asked_again_refuses_a_changed_key_and_accepts_the_known_one(lab, tmp_path):
    """What the operator asks ssh when Ansible lost ssh's answer (host_key_check): the real
    sshd's key against a known_hosts that holds it, and one that holds another node's."""
    node, other = lab.nodes[0], lab.nodes[1]
    lines = (lab.state_dir / "known_hosts").read_text().splitlines()
    line_of = {line.split()[0]: line for line in lines}
    private_key = str(lab.state_dir / "keys" / "id_ed25519")
    for holder, refused in ((node, False), (other, True)):
        known = tmp_path / f"known_hosts-{holder.name}"
        known.write_text(f"{node.name} {line_of[holder.name].split(' ', 1)[1]}\n")
        flags = ["--collections-path", str(tmp_path), "--runner-dir", str(tmp_path / "r")]
        config = operator_config.parse(
            [*flags, "--ssh-private-key", private_key, "--known-hosts", str(known)]
        )
        assert (
            host_key_check.ssh_refuses_host_key(
                node.address, node.name, "root", private_key, host_key_options(config)
            )
            is refused
        ), holder.name
