# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A transaction as a job on the node: started detached from the SSH session (or as an Ansible
asynchronous job), its job file (async_status's format, in Ansible's async directory) polled in
place, and the result shaped as the one fact the apply role and the operator read.

Starting detached is one pipelined call, where Ansible's async first copies the module and its
wrapper to the node. Waiting on the node costs the controller one task instead of one per poll,
and the result's file is set aside in the same call (removed an hour later), so no cleanup task
is needed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os
import random
import re
import signal
import time
import traceback

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


def new_job_id():
    """A job id in Ansible's own form (j<random>.<pid>)."""
    return "j%d.%d" % (random.SystemRandom().randint(0, 10**12 - 1), os.getpid())


def write_job(path, data):
    """Replace the job file at once (readers never see half of it); private, as it may hold
    the state."""
    temporary = "%s.%d.tmp" % (path, os.getpid())
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, default=str)
    os.rename(temporary, path)


class _OutOfTime(Exception):
    pass


def _out_of_time(signum, frame):
    raise _OutOfTime()


def start_detached(job_dir, work, limit):
    """Run `work()` (which returns the result, a dict) in a process of its own, in a new
    session with no descriptor of this one, so that it goes on when the SSH connection that
    started it breaks. Its job file says `started` at once, then holds the result; a job still
    running after `limit` seconds ends with a failure, as async_wrapper ends it. Returns the job
    id; this process goes on at once."""
    directory = os.path.expanduser(job_dir)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    job_id = new_job_id()
    path = job_file(directory, job_id)
    write_job(path, {"started": 1, "finished": 0, "ansible_job_id": job_id})
    child = os.fork()
    if child:
        os.waitpid(child, 0)  # the intermediate process exits at once
        return job_id
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        _detach_descriptors()
        result = _run_bounded(work, limit)
        write_job(path, dict(result, ansible_job_id=job_id))
    finally:
        os._exit(0)


def _detach_descriptors():
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, 1024)
    os.chdir("/")


def _run_bounded(work, limit):
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(max(1, int(limit)))
    try:
        return work()
    except _OutOfTime:
        return {"failed": True, "msg": "the transaction did not end within %d s" % limit}
    except BaseException:  # a job nobody watches must still say how it ended
        return {"failed": True, "msg": "the transaction failed: %s" % traceback.format_exc()}
    finally:
        signal.alarm(0)
