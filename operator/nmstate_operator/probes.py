"""What a policy may ask of the connectivity probes, within what the operator's admin allows,
and the role variables that carry it to the apply run.

A policy's ``spec.probes`` may lengthen or shorten the wait after a change (``timeoutSeconds``,
up to ``--max-probe-timeout``), leave out default probes the admin lets policies skip
(``skip``, within ``--skippable-probes``) and add probes of its own (``extra``). Extra probes
may ping, connect, complete a TLS handshake or resolve a name, but never run a command: a
policy author configures networks, and does not get to run programs as root on the nodes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_errors import ProbeError
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_probes import (
    DEFAULT_PROBES,
    validate_all,
)

log = logging.getLogger(__name__)

EXTRA_TYPES = ("gateway", "ping", "tcp", "tls", "dns")
MAX_EXTRA = 16
# Room the node's rollback timer leaves beyond the wait for probes (the module wants ≥ 15 s).
ROLLBACK_MARGIN = 40


@dataclass(frozen=True)
class ProbeRules:
    """The operator's side: defaults and the limits a policy must stay within."""

    timeout: int = 20
    max_timeout: int = 120
    rollback_timeout: int = 60
    skippable: frozenset[str] = frozenset()
    dns_name: str = "root-servers.net"


def problem(spec_probes: object, rules: ProbeRules) -> str | None:
    """Why a policy's spec.probes cannot be honoured here, or None."""
    if spec_probes is None:
        return None
    if not isinstance(spec_probes, dict):
        return "probes must be a mapping (timeoutSeconds, skip, extra)"
    unknown = sorted(set(spec_probes) - {"timeoutSeconds", "skip", "extra"})
    if unknown:
        return f"probes: unknown field {unknown[0]!r} (known: timeoutSeconds, skip, extra)"
    timeout = spec_probes.get("timeoutSeconds")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            return "probes.timeoutSeconds must be a positive integer"
        if timeout > rules.max_timeout:
            return (
                f"probes.timeoutSeconds {timeout} is more than this operator allows "
                f"({rules.max_timeout}, flag --max-probe-timeout)"
            )
    skip = spec_probes.get("skip") or []
    if not isinstance(skip, list) or not all(isinstance(name, str) for name in skip):
        return "probes.skip must be a list of probe names"
    for name in skip:
        if name not in DEFAULT_PROBES:
            return f"probes.skip: {name!r} is not a default probe ({', '.join(DEFAULT_PROBES)})"
        if name not in rules.skippable:
            allowed = ", ".join(sorted(rules.skippable)) or "none"
            return (
                f"probes.skip: this operator does not let policies skip the {name} probe "
                f"(skippable: {allowed}; flag --skippable-probes)"
            )
    return _extra_problem(spec_probes.get("extra") or [])


def _extra_problem(extra: object) -> str | None:
    if not isinstance(extra, list):
        return "probes.extra must be a list of probes"
    if len(extra) > MAX_EXTRA:
        return f"probes.extra: at most {MAX_EXTRA} probes"
    for index, probe in enumerate(extra):
        kind = probe.get("type") if isinstance(probe, dict) else None
        if isinstance(probe, dict) and kind not in EXTRA_TYPES:
            return (
                f"probes.extra[{index}]: type must be one of {', '.join(EXTRA_TYPES)} "
                "(a policy does not run commands on nodes)"
            )
    try:
        validate_all(extra)
    except ProbeError as exc:
        return f"probes.extra: {exc}".replace("probes.extra: probes[", "probes.extra[")
    names = [probe["name"] for probe in extra]
    clash = sorted(set(names) & set(DEFAULT_PROBES)) or sorted(
        {n for n in names if names.count(n) > 1}
    )
    if clash:
        return f"probes.extra: the name {clash[0]!r} is taken (by a default probe or another)"
    return None


def role_variables(spec_probes: dict | None, rules: ProbeRules, api_server: str | None) -> dict:
    """The apply role's probe variables for a policy whose spec.probes passed `problem`."""
    spec_probes = spec_probes or {}
    timeout = spec_probes.get("timeoutSeconds") or rules.timeout
    return {
        "nmstate_probe_timeout": timeout,
        "nmstate_rollback_timeout": max(rules.rollback_timeout, timeout + ROLLBACK_MARGIN),
        "nmstate_skip_probes": list(spec_probes.get("skip") or []),
        "nmstate_probes": list(spec_probes.get("extra") or []),
        "nmstate_dns_probe_name": rules.dns_name,
        "nmstate_api_server": api_server,
    }


def skipped_note(spec_probes: dict | None) -> str:
    """What an enactment says when the policy left default probes out ('' when none)."""
    skip = (spec_probes or {}).get("skip") or []
    if not skip:
        return ""
    names = ", ".join(skip)
    return f"; warning: the policy skips the {names} probe, so breaking that is not rolled back"


def api_server_source(setting: str, discover: Callable[[], str | None]) -> Callable[[], str | None]:
    """Where the api-server probe's endpoint comes from: the flag's host:port, nothing ('none'),
    or what the cluster publishes ('auto', looked up at each apply). A failed lookup runs the
    apply without that probe, and says so in the log."""
    if setting == "none":
        return lambda: None
    if setting != "auto":
        return lambda: setting

    def discovered() -> str | None:
        try:
            endpoint = discover()
        except Exception as exc:  # the apply goes on; losing one probe is not worth failing it
            log.warning("no api-server probe: the API endpoint lookup failed: %s", exc)
            return None
        if endpoint is None:
            log.warning("no api-server probe: the kubernetes Service publishes no endpoint")
        return endpoint

    return discovered
