"""Nodes whose key known_hosts cannot hold are refused before any run, under strict checking."""

import base64
import hashlib
import hmac
from types import SimpleNamespace

import nmstate_operator.runs as runs
from nmstate_operator.config import Config
from nmstate_operator.known_hosts import KnownHosts
from nmstate_operator.playbooks import apply_outcome


def hashed(name: str, salt: bytes = b"0123456789abcdefghij") -> str:
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def test_plain_and_hashed_names_are_known_and_revoked_lines_are_not():
    known = KnownHosts(
        [
            "# a comment naming n9",
            "n1,10.0.0.1 ssh-ed25519 AAAAone",
            f"{hashed('n2')} ssh-ed25519 AAAAtwo",
            "@revoked n3 ssh-ed25519 AAAAthree",
            "n4",  # no key on the line
        ]
    )
    assert known.may_know("n1") and known.may_know("10.0.0.1") and known.may_know("n2")
    assert not any(known.may_know(name) for name in ("n3", "n4", "n9", "node_abc"))


def test_patterns_and_authorities_leave_the_judgement_to_ssh():
    for line in ("*.example.com ssh-ed25519 AAAA", "@cert-authority * ssh-ed25519 AAAA"):
        assert KnownHosts([line]).may_know("anything")
    assert KnownHosts(["|1|not base64|x ssh-ed25519 AAAA"]).may_know("anything")


def test_a_strict_run_leaves_out_the_nodes_without_a_known_key(tmp_path, monkeypatch):
    (tmp_path / "known_hosts").write_text("n1 ssh-ed25519 AAAAone\n")
    key = tmp_path / "key"
    key.write_text("key")
    key.chmod(0o600)
    config = Config(tmp_path, tmp_path / "runner", key, known_hosts=tmp_path / "known_hosts")
    started = []

    def run(**kwargs):
        started.append(kwargs["limit"])
        return SimpleNamespace(status="successful", rc=0)

    monkeypatch.setattr(runs.ansible_runner, "run", run)
    nodes = {"n1": "10.0.0.1", "localhost": "10.0.0.1"}
    result = runs.run_playbook(config, "p", nodes, "report")
    assert started == ["n1"]
    refused = apply_outcome(result.hosts["localhost"])
    assert refused.host_key_rejected and not refused.transient, refused
    assert result.hosts["n1"].ok

    alone = runs.run_playbook(config, "p", nodes, "report", limit=["localhost"])
    assert started == ["n1"], "no run for nodes that would all be refused"
    assert alone.hosts["localhost"].host_key_rejected

    tofu = Config(tmp_path, tmp_path / "runner", key, host_key_policy="trust-on-first-use")
    runs.run_playbook(tofu, "p", nodes, "report")
    assert started[-1] is None, "trusting on first use, an unknown key is ssh's to accept"
