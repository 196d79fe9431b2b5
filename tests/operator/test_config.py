"""The operator's flags and their NMSTATE_OPERATOR_* environment variables."""

import pytest
from nmstate_operator import config


def test_flags_override_the_environment_which_overrides_the_defaults(monkeypatch):
    monkeypatch.setenv("NMSTATE_OPERATOR_REPORT_INTERVAL", "15")
    monkeypatch.setenv("NMSTATE_OPERATOR_SSH_PRIVATE_KEY", "/env/key")
    monkeypatch.setenv("NMSTATE_OPERATOR_KNOWN_HOSTS", "/env/known_hosts")
    parsed = config.parse(["--collections-path", "/c", "--forks", "7"])
    assert parsed.report_interval == 15.0 and str(parsed.ssh_private_key) == "/env/key"
    assert parsed.forks == 7 and parsed.max_retries == 5 and parsed.peering is None
    assert parsed.metrics_bind_address == ":8089"
    rules = parsed.probe_rules()
    assert (rules.timeout, rules.rollback_timeout, rules.skippable) == (20, 60, frozenset())
    assert parsed.dns_probe_name == "root-servers.net" and parsed.api_server_endpoint == "auto"


def test_probe_flags_are_checked(capsys):
    base = ["--collections-path", "/c", "--ssh-private-key", "/k", "--known-hosts", "/kh"]
    parsed = config.parse([*base, "--skippable-probes", "dns, api-server"])
    assert parsed.probe_rules().skippable == frozenset({"dns", "api-server"})
    with pytest.raises(SystemExit):
        config.parse([*base, "--skippable-probes", "dns,everything"])
    assert "--skippable-probes: no default probe everything" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        config.parse([*base, "--api-server-endpoint", "10.0.0.1"])
    assert "--api-server-endpoint: '10.0.0.1' is not host:port" in capsys.readouterr().err
    assert config.parse([*base, "--api-server-endpoint", "[fd00::1]:6443"])


def test_the_oldest_replica_ranks_highest(monkeypatch):
    flags = ["--collections-path", "/c", "--ssh-private-key", "/k", "--known-hosts", "/kh"]
    monkeypatch.setattr(config.time, "time", lambda: 1_800_000_000.0)
    first = config.parse([*flags, "--priority", "oldest"]).priority
    monkeypatch.setattr(config.time, "time", lambda: 1_800_000_000.001)
    later = config.parse([*flags, "--priority", "oldest"]).priority
    assert first > later > 0 and first < 2**53  # JSON numbers stay exact


def test_random_priority_and_metrics_off():
    flags = ["--collections-path", "/c", "--ssh-private-key", "/k", "--priority", "random"]
    flags += ["--known-hosts", "/kh"]
    parsed = config.parse([*flags, "--metrics-bind-address", ""])
    assert 1 <= parsed.priority <= 1_000_000 and parsed.metrics_bind_address is None


def test_missing_required_settings_are_named(monkeypatch, capsys):
    monkeypatch.delenv("NMSTATE_OPERATOR_SSH_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("NMSTATE_OPERATOR_COLLECTIONS_PATH", raising=False)
    with pytest.raises(SystemExit):
        config.parse([])
    assert "--collections-path, --ssh-private-key" in capsys.readouterr().err


def test_host_keys_are_checked_unless_the_admin_opts_into_trust_on_first_use(capsys):
    base = ["--collections-path", "/c", "--ssh-private-key", "/k"]
    with pytest.raises(SystemExit):
        config.parse(base)
    assert "--known-hosts is required" in capsys.readouterr().err
    strict = config.parse([*base, "--known-hosts", "/kh"])
    assert str(strict.known_hosts_file()) == "/kh" and strict.host_key_policy == "strict"
    tofu = config.parse([*base, "--host-key-policy", "trust-on-first-use", "--runner-dir", "/r"])
    assert str(tofu.known_hosts_file()) == "/r/known_hosts"
    with pytest.raises(SystemExit):
        config.parse([*base, "--host-key-policy", "none"])


def test_the_node_selector_is_an_equality_based_label_selector(monkeypatch, capsys):
    base = ["--collections-path", "/c", "--ssh-private-key", "/k", "--known-hosts", "/kh"]
    assert config.parse(base).node_selector.matches({"anything": "x"})
    monkeypatch.setenv("NMSTATE_OPERATOR_NODE_SELECTOR", "nodenet.lab/node=true, !infra, zone!=b")
    selector = config.parse(base).node_selector
    assert str(selector) == "nodenet.lab/node=true,!infra,zone!=b"
    assert selector.matches({"nodenet.lab/node": "true", "zone": "a"})
    assert selector.matches({"nodenet.lab/node": "true"})
    assert not selector.matches({"nodenet.lab/node": "true", "infra": ""})
    assert not selector.matches({"nodenet.lab/node": "false"})
    assert not selector.matches({"nodenet.lab/node": "true", "zone": "b"})
    assert config.parse([*base, "--node-selector", "role"]).node_selector.matches({"role": ""})
    for bad, said in (
        ("a b=c", "'a b' is not a label key"),
        ("k={{ lookup('pipe','id') }}", "is not a label value"),
        ("!k=v", "'!' goes only before a bare key"),
    ):
        with pytest.raises(SystemExit):
            config.parse([*base, "--node-selector", bad])
        err = capsys.readouterr().err
        assert "--node-selector: " in err and said in err
