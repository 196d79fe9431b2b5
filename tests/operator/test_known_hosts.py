"""Nodes whose key known_hosts cannot hold are refused before any run, under strict checking."""

import base64
import hashlib
import hmac
from types import SimpleNamespace

import nmstate_operator.runs as runs
import pytest
from nmstate_operator import host_key_check
from nmstate_operator.config import Config
from nmstate_operator.known_hosts import KnownHosts, known_hosts_at
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


def test_the_file_is_read_again_when_it_changes_and_only_then(tmp_path, monkeypatch):
    path = tmp_path / "known_hosts"
    assert not known_hosts_at(path).may_know("n1"), "no file: no key known"
    path.write_text(f"{hashed('n1')} ssh-ed25519 AAAAone\n")
    first = known_hosts_at(path)
    assert first.may_know("n1") and not first.may_know("n2")
    assert known_hosts_at(path) is first, "the same file is not read again"
    with path.open("a") as known:
        known.write("n2 ssh-ed25519 AAAAtwo\n")
    assert known_hosts_at(path).may_know("n2")


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


LOST = 'Task failed: Data could not be sent to remote host "10.0.0.2". Make sure this host can be reached over SSH.'


def test_only_a_broken_pipe_without_sshs_words_is_asked_again():
    assert host_key_check.answer_was_lost([LOST])
    assert not host_key_check.answer_was_lost([LOST + ": ssh: connect to host: No route to host"])
    assert not host_key_check.answer_was_lost([f"{LOST} Host key verification failed."])
    assert not host_key_check.answer_was_lost(["unreachable"])


def test_a_lost_refusal_is_recorded_as_one_after_asking_ssh(tmp_path, monkeypatch):
    key = tmp_path / "key"
    key.write_text("key")
    key.chmod(0o600)
    config = Config(tmp_path, tmp_path / "runner", key, host_key_policy="trust-on-first-use")
    asked = []

    def refuses(address, alias, user, private_key, options):
        asked.append((address, alias))
        return alias == "n1"

    monkeypatch.setattr(host_key_check, "ssh_refuses_host_key", refuses)
    outcomes = {
        "n1": runs.HostOutcome(ok=False, unreachable=True, failures=[LOST]),
        "n2": runs.HostOutcome(ok=False, unreachable=True, failures=[LOST]),
        "n3": runs.HostOutcome(ok=False, unreachable=True, failures=["ssh: connect: refused"]),
        "n4": runs.HostOutcome(),
    }
    nodes = {name: f"10.0.0.{i}" for i, name in enumerate(outcomes, 1)}
    runs.confirm_lost_host_key_refusals(config, nodes, outcomes)
    assert sorted(asked) == [("10.0.0.1", "n1"), ("10.0.0.2", "n2")]
    assert outcomes["n1"].host_key_rejected
    assert not outcomes["n2"].host_key_rejected and outcomes["n2"].unreachable


def test_ssh_is_never_asked_about_what_is_not_an_address(monkeypatch):
    monkeypatch.setattr(host_key_check.subprocess, "run", lambda *a, **k: pytest.fail("ran"))
    assert not host_key_check.ssh_refuses_host_key("-oProxyCommand=x", "n1", "root", "/k", [])
