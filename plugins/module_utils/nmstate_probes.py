# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connectivity probes run on the node itself, before and after a network change.

A probe is a dict: {"name", "type": gateway|dns|tls|tcp|ping|command, ...}. Only probes that
pass before a change are required to pass after it, as kubernetes-nmstate does.

The default probes look at the node as it is when they run, not as it was before the change:
``default-gateway`` wants a default route in the main table whose gateway answers, ``dns``
resolves a name through the node's running name servers (nmstate's, not resolv.conf, which
NetworkManager rewrites a moment later), ``api-server`` completes a TLS
handshake with the cluster's API endpoint, ``controller`` pings the machine running the change.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import random
import socket
import ssl
import struct
import subprocess
import time

from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_errors import ProbeError

PROBE_TYPES = ("gateway", "dns", "tls", "tcp", "ping", "command")
# The probes every apply gets unless skipped, in the order they run.
DEFAULT_PROBES = ("controller", "default-gateway", "dns", "api-server")
DEFAULT_DNS_NAME = "root-servers.net"
DNS_RCODES = {1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

# The keys each type of probe needs. A gateway probe without a host follows the main table's
# default route; a dns probe without a server asks the node's running name servers.
NEEDED_KEYS = {
    "gateway": [],
    "ping": ["host"],
    "tcp": ["host", "port"],
    "tls": ["host", "port"],
    "dns": [],
    "command": ["argv"],
}


def default_gateway(state):
    """(address, interface) of the IPv4 default route in an nmstate state's running routes."""
    for route in (state.get("routes") or {}).get("running") or []:
        in_main_table = route.get("table-id", 254) in (0, 254)
        if (
            route.get("destination") == "0.0.0.0/0"
            and in_main_table
            and route.get("next-hop-address")
        ):
            return route["next-hop-address"], route.get("next-hop-interface")
    return None, None


def dns_servers(state):
    """The name servers of an nmstate state's running DNS configuration."""
    return list(((state.get("dns-resolver") or {}).get("running") or {}).get("server") or [])


def needs_name_servers(probes):
    return any(p["type"] == "dns" and not p.get("server") for p in probes)


def with_name_servers(probes, state):
    """`probes`, each dns probe without a server given the running name servers of `state`
    (the node as it is now) to ask."""
    servers = dns_servers(state)
    return [
        dict(p, servers=servers) if p["type"] == "dns" and not p.get("server") else p
        for p in probes
    ]


def controller_address(environ):
    """The address the controller's SSH connection comes from, if this runs under SSH."""
    parts = (environ.get("SSH_CONNECTION") or environ.get("SSH_CLIENT") or "").split()
    return parts[0] if parts else None


def split_endpoint(endpoint):
    """(host, port) of 'host:port' or '[v6]:port'; raises ValueError with the reason."""
    text = str(endpoint).strip()
    if text.startswith("["):
        host, rest = (text[1:].split("]", 1) + [""])[:2]
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, port = (text.rsplit(":", 1) + [""])[:2] if ":" in text else ("", "")
        if ":" in host:
            host = ""  # an IPv6 address without brackets: which colon ends it?
    if not host or not _is_port(port):
        raise ValueError("%r is not host:port (an IPv6 address goes in brackets)" % text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _is_dns_name(host):
            raise ValueError("%r: %r is neither an IP address nor a DNS name" % (text, host))
    return host, int(port)


def _is_dns_name(host):
    labels = host.rstrip(".").split(".")
    return len(host) <= 253 and all(
        0 < len(label) <= 63
        and label[0] != "-"
        and label[-1] != "-"
        and all(c.isalnum() or c == "-" for c in label)
        and label.isascii()
        for label in labels
    )


def default_probes(
    state,
    dns_name=DEFAULT_DNS_NAME,
    controller=None,
    api_server=None,
    skip=(),
):
    """(probes, skipped names): the probes every apply gets, minus those in `skip`.

    `controller` is the address of the machine running the change, `api_server` the cluster's
    API endpoint (host, port). A probe with nothing to check on this node (no default route,
    no name server in `state`) is left out.
    """
    candidates = []
    if controller:
        candidates.append({"name": "controller", "type": "ping", "host": controller})
    if default_gateway(state)[0]:
        candidates.append({"name": "default-gateway", "type": "gateway"})
    if dns_servers(state):
        candidates.append({"name": "dns", "type": "dns", "query": dns_name or DEFAULT_DNS_NAME})
    if api_server:
        host, port = api_server
        candidates.append({"name": "api-server", "type": "tls", "host": host, "port": port})
    probes = [p for p in candidates if p["name"] not in skip]
    skipped = [p["name"] for p in candidates if p["name"] in skip]
    return probes, skipped


def validate(probe, path="probe"):
    """Refuse a probe that cannot be run, naming it by `path` (``probes[1]``) and its name."""
    if not isinstance(probe, dict):
        raise ProbeError("%s: must be a mapping; got a %s" % (path, type(probe).__name__))
    name = probe.get("name")
    where = "%s (name %r)" % (path, name) if name else path
    if not name or not isinstance(name, str):
        raise ProbeError("%s: every probe needs a 'name' (a string)" % where)
    kind = probe.get("type")
    if kind not in PROBE_TYPES:
        raise ProbeError("%s: type must be one of %s" % (where, ", ".join(PROBE_TYPES)))
    missing = [key for key in NEEDED_KEYS[kind] if not probe.get(key)]
    if missing:
        raise ProbeError("%s: a %s probe needs %s" % (where, kind, ", ".join(missing)))
    if kind == "command" and not _is_argv(probe["argv"]):
        raise ProbeError("%s: argv must be a list of strings, not a shell line" % where)
    if kind in ("tcp", "tls") and not _is_port(probe["port"]):
        raise ProbeError(
            "%s: port must be a number from 1 to 65535; got %r" % (where, probe["port"])
        )


def validate_all(probes):
    """Refuse the first probe of the list `probes` that cannot be run."""
    for index, probe in enumerate(probes):
        validate(probe, "probes[%d]" % index)


def _is_argv(argv):
    return isinstance(argv, list) and all(isinstance(arg, str) for arg in argv)


def _is_port(port):
    try:
        return not isinstance(port, bool) and 0 < int(port) < 65536
    except (TypeError, ValueError):
        return False


def _output(argv, timeout):
    """(exit code, output) of the command `argv`, run without a shell; raises OSError or
    subprocess.TimeoutExpired."""
    result = subprocess.run(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
        universal_newlines=True,
        timeout=timeout,
    )
    return result.returncode, result.stdout.strip()


def _ping(host, interface=None):
    argv = ["ping", "-n", "-c", "1", "-W", "1"]
    if ":" in host:
        argv.insert(1, "-6")
    if interface:
        argv += ["-I", interface]
    argv.append(host)
    try:
        code, output = _output(argv, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, "ping %s: %s" % (host, exc)
    lines = output.splitlines()
    return code == 0, lines[-1] if lines else "ping %s: exit %d" % (host, code)


def _main_table_default(family):
    """(gateway, device) of the main table's default route now; (None, None) when it has
    none; gateway None for a default route straight out of a device."""
    argv = ["ip", "-j", "-%d" % family, "route", "show", "table", "main", "default"]
    try:
        code, output = _output(argv, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None, None
    try:
        routes = json.loads(output) if code == 0 and output else []
    except ValueError:
        routes = []
    for route in routes:
        if route.get("type", "unicast") != "unicast":
            continue  # unreachable, blackhole or prohibit: no way out
        hops = route.get("nexthops") or [route]
        for hop in hops:
            if hop.get("gateway"):
                return hop["gateway"], hop.get("dev")
        return None, hops[0].get("dev") or "?"
    return None, None


def _default_gateway_now(family=4):
    gateway, device = _main_table_default(family)
    if gateway is None and device is None:
        return False, "no default route in the main routing table"
    if gateway is None:
        return True, "default route straight out of %s (no gateway to ping)" % device
    passed, output = _ping(gateway, device)
    if passed:
        return True, "default gateway %s (dev %s) answers" % (gateway, device)
    return False, "default gateway %s (dev %s) does not answer: %s" % (gateway, device, output)


def _tls(host, port):
    """Whether a TLS handshake with host:port completes. The certificate is not checked: the
    question is whether the node still reaches the endpoint, not whom it trusts."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        raw = socket.create_connection((host, int(port)), timeout=3)
        try:
            with context.wrap_socket(raw) as tls:
                return True, "TLS handshake with %s:%s (%s)" % (host, port, tls.version())
        finally:
            raw.close()
    except (OSError, socket.error, ssl.SSLError) as exc:
        return False, "TLS %s:%s: %s" % (host, port, exc)


def _tcp(host, port):
    try:
        conn = socket.create_connection((host, int(port)), timeout=2)
        conn.close()
        return True, "connected to %s:%s" % (host, port)
    except (OSError, socket.error) as exc:
        return False, "tcp %s:%s: %s" % (host, port, exc)


def _dns_query(name):
    ident = random.randint(0, 0xFFFF)
    header = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    labels = b"".join(
        struct.pack("!B", len(p)) + p.encode("ascii") for p in name.strip(".").split(".")
    )
    return ident, header + labels + b"\x00" + struct.pack("!HH", 1, 1)


def _dns(server, name):
    """Whether `server` resolves `name`: an answer without error (NOERROR) to an A query."""
    ident, packet = _dns_query(name)
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.settimeout(2)
    try:
        sock.sendto(packet, (server, 53))
        reply = sock.recv(512)
    except (OSError, socket.error) as exc:
        return False, "dns %s: %s" % (server, exc)
    finally:
        sock.close()
    return dns_verdict(reply, ident, server, name)


def dns_verdict(reply, ident, server, name):
    """(passed, output) for the DNS `reply` to our query `ident`: passed on a response without
    error (NOERROR), which says the name exists."""
    if len(reply) < 12 or struct.unpack("!H", reply[:2])[0] != ident:
        return False, "dns %s: unexpected reply" % server
    flags = struct.unpack("!H", reply[2:4])[0]
    if not flags & 0x8000:
        return False, "dns %s: the reply is not a response" % server
    rcode = flags & 0xF
    if rcode:
        return False, "dns %s: %s for %s" % (server, DNS_RCODES.get(rcode, rcode), name)
    return True, "dns %s resolved %s" % (server, name)


def _dns_any(servers, name):
    """Whether any of `servers` resolves `name`, as the node's resolver would try them."""
    if not servers:
        return False, "the node has no name server"
    failures = []
    for server in servers:
        passed, output = _dns(server, name)
        if passed:
            return True, output
        failures.append(output)
    return False, "; ".join(failures)


def _command(argv):
    try:
        code, output = _output(argv, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return code == 0, "exit %d: %s" % (code, output[-500:])


def run_once(probe):
    """(passed, output) of one attempt."""
    kind = probe["type"]
    if kind == "gateway" and not probe.get("host"):
        return _default_gateway_now()
    if kind in ("gateway", "ping"):
        return _ping(probe["host"], probe.get("interface"))
    if kind == "tcp":
        return _tcp(probe["host"], probe["port"])
    if kind == "tls":
        return _tls(probe["host"], probe["port"])
    if kind == "dns":
        servers = [probe["server"]] if probe.get("server") else probe.get("servers") or []
        return _dns_any(servers, probe.get("query") or DEFAULT_DNS_NAME)
    return _command(probe["argv"])


def run(probe, timeout, interval=1.0, clock=time.monotonic, sleep=time.sleep):
    """Try `probe` until it passes or `timeout` seconds pass; a record of what happened."""
    started = clock()
    attempts = 0
    while True:
        attempts += 1
        passed, output = run_once(probe)
        elapsed = clock() - started
        if passed or elapsed >= timeout:
            return {
                "name": probe["name"],
                "type": probe["type"],
                "passed": passed,
                "output": output,
                "attempts": attempts,
                "seconds": round(elapsed, 2),
            }
        sleep(min(interval, max(0.0, timeout - elapsed)))
