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
