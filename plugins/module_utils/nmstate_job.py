# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting on the node for a transaction started as an Ansible asynchronous job: its job file
(the one async_status reads, in Ansible's async directory) is polled in place, and the result
is shaped as the one fact the apply role and the operator read.

Waiting on the node costs the controller one task instead of one per poll, and the result's
file is set aside in the same call (removed an hour later), so no cleanup task is needed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os
import re
import time

from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_errors import InputError

# Ansible's job ids are digits and dots ("j123456.789"); nothing that can leave the directory.
JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
POLL_SECONDS = 0.2

# The outcome fact: each field of the transaction's result, or its value when the result has
# none (a transaction that never reported back, a failure before the change).
OUTCOME_FIELDS = (
    ("applied", False),
    ("changed", False),
    ("rolled_back", False),
    ("failed_probe", None),
    ("required_probes", []),
    ("skipped_probes", []),
    ("probes_before", []),
    ("probes_after", []),
    ("durations", {}),
    ("mode", "unknown"),
    ("rendered_state", None),
    ("differences", None),
    ("revert_state", None),
    ("captured_states", None),
    ("features", None),
    ("msg", ""),
)


def outcome_fact(result, finished):
    """The apply outcome as one fact: `finished`, then every OUTCOME_FIELDS entry."""
    fact = {"finished": finished}
    for key, missing in OUTCOME_FIELDS:
        value = result.get(key)
        fact[key] = missing if value is None else value
    return fact


def job_file(job_dir, job_id):
    if not isinstance(job_id, str) or not JOB_ID.match(job_id):
        raise InputError("job_id: not an Ansible job id: %r" % (job_id,))
    return os.path.join(os.path.expanduser(job_dir), job_id)


def ended(data):
    """The job's result once it ended, None while it runs (async_wrapper writes `started`
    and `finished: 0` first, then the module's own result, or `finished: 1` on a timeout)."""
    if not isinstance(data, dict):
        return None
    if "started" in data and not data.get("finished"):
        return None
    return data


# A result once read is kept under this suffix a while, not removed: the answer that carried
# it may be lost with the connection (the change cut SSH), and the controller asks again.
COLLECTED = ".collected"
KEEP_COLLECTED_SECONDS = 3600


def read_job(path):
    """The job file's data; None while it is being written. A result already read once is
    read again from its kept copy. Raises InputError when there is no such job."""
    for candidate in (path, path + COLLECTED):
        try:
            with open(candidate) as handle:
                text = handle.read()
        except (IOError, OSError):
            continue
        try:
            return json.loads(text)
        except ValueError:
            return None
    raise InputError(
        "no job %s on this node (it never started, or its result is older than an hour)"
        % os.path.basename(path)
    )


def prune_collected(directory, now=None):
    """Remove the kept results of jobs that ended over KEEP_COLLECTED_SECONDS ago."""
    now = time.time() if now is None else now
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not name.endswith(COLLECTED):
            continue
        path = os.path.join(directory, name)
        with contextlib.suppress(OSError):
            if os.stat(path).st_mtime < now - KEEP_COLLECTED_SECONDS:
                os.unlink(path)


def wait_for_job(path, seconds, clock=time.monotonic, sleep=time.sleep):
    """The job's result once it ends, its file kept aside (COLLECTED); None if it did not end
    within `seconds`."""
    prune_collected(os.path.dirname(path))
    deadline = clock() + max(0, seconds)
    while True:
        result = ended(read_job(path))
        if result is not None:
            with contextlib.suppress(OSError):
                os.rename(path, path + COLLECTED)
            return result
        if clock() >= deadline:
            return None
        sleep(POLL_SECONDS)
