"""Asking ssh itself whether it refuses a node's host key, when Ansible lost ssh's answer.

With pipelining, Ansible writes the module into ssh's stdin at once. When ssh refuses the
host key it exits before reading it, and Ansible may report only "Data could not be sent to
remote host ... Broken pipe", without ssh's "Host key verification failed". Such a node would
look unreachable and be retried, while nothing but an admin can fix it. So for that answer
alone the operator runs ssh once more with nothing to send, under the same host key
settings, and reads ssh's own verdict.
"""

from __future__ import annotations

import ipaddress
import logging
import subprocess

log = logging.getLogger(__name__)

LOST_ANSWER = "Data could not be sent to remote host"
REFUSED = "Host key verification failed"
TIMEOUT = 20  # seconds; ssh gives up connecting after CONNECT_TIMEOUT
CONNECT_TIMEOUT = 10


def answer_was_lost(failures: list[str]) -> bool:
    """Ansible's broken-pipe failure that carries none of ssh's own words."""
    return any(LOST_ANSWER in f for f in failures) and not any(
        REFUSED in f or "ssh:" in f for f in failures
    )


def ssh_refuses_host_key(
    address: str, alias: str, user: str, private_key: str, host_key_options: list[str]
) -> bool:
    """Whether ssh refuses the host key `address` shows under `alias`. Nothing is sent: the
    remote command is `true`, stdin is empty."""
    try:
        ipaddress.ip_address(address)  # Node validation lets only addresses through
    except ValueError:
        return False
    argv = [
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        f"ConnectTimeout={CONNECT_TIMEOUT}",
        "-o",
        "ControlPath=none",
        "-o",
        f"HostKeyAlias={alias}",
        *host_key_options,
        "-i",
        private_key,
        "-l",
        user,
        "--",
        address,
        "true",
    ]
    try:
        checked = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.info("could not ask ssh about the host key of %s: %s", alias, exc)
        return False
    return REFUSED in checked.stderr
