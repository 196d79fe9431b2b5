# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connectivity probes run on the node itself, before and after a network change.

A probe is a dict: {"name", "type": gateway|dns|tcp|ping|command, ...}. Only probes that
pass before a change are required to pass after it, as kubernetes-nmstate does.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import socket
import struct
import subprocess
import time

from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_errors import ProbeError

PROBE_TYPES = ("gateway", "dns", "tcp", "ping", "command")

# The keys each type of probe needs.
NEEDED_KEYS = {
    "gateway": ["host"],
    "ping": ["host"],
    "tcp": ["host", "port"],
    "dns": ["server"],
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
    return list(((state.get("dns-resolver") or {}).get("running") or {}).get("server") or [])


def controller_address(environ):
    """The address the controller's SSH connection comes from, if this runs under SSH."""
    parts = (environ.get("SSH_CONNECTION") or environ.get("SSH_CLIENT") or "").split()
    return parts[0] if parts else None


def default_probes(state, dns_name="kubernetes.default.svc.cluster.local", controller=None):
    """The probes every apply gets: the controller that runs the change (when known), the
    default gateway and the running DNS servers."""
    probes = []
    if controller:
        probes.append({"name": "controller", "type": "ping", "host": controller})
    gateway, iface = default_gateway(state)
    if gateway:
        probes.append(
            {"name": "default-gateway", "type": "gateway", "host": gateway, "interface": iface}
        )
    for server in dns_servers(state):
        probes.append(
            {"name": "dns-%s" % server, "type": "dns", "server": server, "query": dns_name}
        )
    return probes


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
    if kind == "tcp" and not _is_port(probe["port"]):
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
    """Any well-formed answer to our query (even 'no such name') proves the server is reachable."""
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
    if len(reply) >= 12 and struct.unpack("!H", reply[:2])[0] == ident:
        rcode = struct.unpack("!H", reply[2:4])[0] & 0xF
        return True, "dns %s answered (rcode %d)" % (server, rcode)
    return False, "dns %s: unexpected reply" % server


def _command(argv):
    try:
        code, output = _output(argv, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return code == 0, "exit %d: %s" % (code, output[-500:])


def run_once(probe):
    """(passed, output) of one attempt."""
    kind = probe["type"]
    if kind in ("gateway", "ping"):
        return _ping(probe["host"], probe.get("interface"))
    if kind == "tcp":
        return _tcp(probe["host"], probe["port"])
    if kind == "dns":
        return _dns(probe["server"], probe.get("query") or "kubernetes.default.svc.cluster.local")
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
