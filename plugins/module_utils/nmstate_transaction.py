# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A network change that undoes itself when the node loses connectivity.

Runs entirely on the node, so it finishes even when the change cuts the controller off:

1. Probe connectivity; only probes that pass now are required afterwards.
2. NetworkManager mode: apply without committing, under a checkpoint that NetworkManager
   rolls back by itself after ``rollback_timeout``. Kernel-only mode (no checkpoints): compute
   nmstate's revert state first and start a detached watchdog that applies it after
   ``rollback_timeout`` unless this transaction stops it.
3. Probe again. All required probes pass: commit (stop the watchdog). One fails: roll back now.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from ansible_collections.nodenet.nmstate.plugins.module_utils import nmstate_probes as probes_mod
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_errors import (
    NmstateError,
    TransactionError,
)
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_state import (
    strip_volatile,
    touched,
)

LOCK_PATH = "/run/nodenet-nmstate-transaction.lock"


def transaction_seconds(rollback_timeout, probe_timeout):
    """The longest one transaction can take: the rollback timeout, then up to three rounds of
    probes (before, after, after a rollback), and a minute for nmstate itself.

    How long a second transaction waits for the node lock, and how long the apply role lets the
    asynchronous job run and waits for it.
    """
    return int(rollback_timeout) + 3 * int(probe_timeout) + 60


@contextlib.contextmanager
def exclusive_node_lock(timeout, path=LOCK_PATH, clock=time.monotonic, sleep=time.sleep):
    """One transaction on a node at a time, whoever starts it (two controllers, or an operator
    restarted while its last transaction still runs on the node). Waits up to `timeout` s.

    The descriptor is not inherited, so a watchdog this transaction starts does not hold it.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        deadline = clock() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if clock() >= deadline:
                    raise TransactionError(
                        "another nmstate transaction is still running on this node (%s held for "
                        "%d s)" % (path, timeout),
                        category="backend_failure",
                    )
                sleep(0.5)
        yield
    finally:
        os.close(fd)


def complete_revert(revert, current_running, desired):
    """nmstate's revert state, with what it leaves out put back from the current config.

    nmstatectl gr can return ``ipv4: {enabled: true}`` for an interface whose static
    addresses the desired state removes, and it cannot restore routes the kernel dropped with
    them. So every interface it would restore gets its full current configuration, and so do
    the routes through the interfaces the desired state names. The route (route-rule)
    configuration is restored as a whole when the desired state changes routes (route rules).
    Routes through other interfaces are left out: with NetworkManager, restoring them would
    reapply those interfaces' profiles (the management interface among them), which renews
    their routes, with other metrics, for nothing.

    It is applied without nmstate's verification: kernel mode cannot put back an IPv6
    link-local address, which would fail the whole revert although connectivity is restored.
    The probes after the rollback tell whether it is.
    """
    result = json.loads(json.dumps(revert or {}))
    named = set(n.get("name") for n in desired.get("interfaces", []))
    current = touched(current_running, desired, keep_link_local=True)
    by_name = dict((i["name"], i) for i in current.get("interfaces", []))
    interfaces = []
    for iface in result.get("interfaces", []):
        if iface.get("state") != "absent" and iface.get("name") in by_name:
            interfaces.append(by_name.pop(iface["name"]))
        else:
            interfaces.append(iface)
    interfaces.extend(i for i in by_name.values() if i.get("name") in named)
    if interfaces:
        result["interfaces"] = interfaces
    for key in ("routes", "route-rules"):
        config = strip_volatile((current_running.get(key) or {}).get("config") or [])
        if key not in desired:  # only what goes with the named interfaces' addresses
            config = [c for c in config if key == "routes" and c.get("next-hop-interface") in named]
        if config or key in result:
            merged = list(config)
            for entry in (result.get(key) or {}).get("config") or []:
                if entry not in merged:
                    merged.append(entry)
            result[key] = {"config": merged}
    if "dns-resolver" in desired and "dns-resolver" in current_running:
        result["dns-resolver"] = {"config": current_running["dns-resolver"].get("config") or {}}
    return result


class KernelWatchdog(object):
    """A detached process that applies the revert state unless stopped in time.

    `nmstatectl` is the access layer's NmstatectlClient, which gives the command line.
    """

    # Sleeps, then runs the command line it is given: every argument is an argv entry, never
    # spliced into the shell line.
    SCRIPT = 'sleep "$1" && shift && exec "$@"'

    def __init__(self, nmstatectl, revert, timeout):
        self.workdir = tempfile.mkdtemp(prefix="nmstate-watchdog-")
        self.revert_path = os.path.join(self.workdir, "revert.json")
        with open(self.revert_path, "w") as handle:
            json.dump(revert, handle)
        revert_argv = nmstatectl.apply_argv(self.revert_path, kernel_only=True, verify=False)
        argv = ["/bin/sh", "-c", self.SCRIPT, "nmstate-watchdog", str(int(timeout))] + revert_argv
        with open(os.path.join(self.workdir, "watchdog.log"), "w") as log:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )

    def stop(self):
        """Stop the watchdog; True if it had not fired yet."""
        if self.process.poll() is not None:
            return False
        with contextlib.suppress(OSError):  # it may have just exited on its own
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        return True

    def cleanup(self):
        shutil.rmtree(self.workdir, ignore_errors=True)


class Transaction(object):
    """One safe apply; `client` is the access layer, `nmstatectl` the CLI for kernel reverts."""

    def __init__(
        self,
        client,
        nmstatectl_client,
        kernel_only,
        rollback_timeout,
        probe_timeout,
        before_timeout=5,
        run_probe=None,
        clock=time.monotonic,
        watchdog_factory=KernelWatchdog,
        controller=None,
    ):
        self.client = client
        self.controller = controller
        self.nmstatectl = nmstatectl_client
        self.kernel_only = kernel_only
        self.rollback_timeout = rollback_timeout
        self.probe_timeout = probe_timeout
        self.before_timeout = before_timeout
        self.run_probe = run_probe or probes_mod.run
        self.clock = clock
        self.watchdog_factory = watchdog_factory
        self.durations = {}

    def _timed(self, name, func, *args, **kwargs):
        started = self.clock()
        try:
            return func(*args, **kwargs)
        finally:
            self.durations[name] = round(self.clock() - started, 2)

    def probe_all(self, probes, timeout, state=None):
        """Run `probes`; a dns probe asks the name servers of `state`, the node as it is now
        (read afresh when not given)."""
        if probes_mod.needs_name_servers(probes):
            now = state if state is not None else self.client.show(kernel_only=self.kernel_only)
            probes = probes_mod.with_name_servers(probes, now)
        return [self.run_probe(probe, timeout) for probe in probes]

    def run(
        self,
        desired,
        user_probes,
        use_default_probes=True,
        dns_probe_name=None,
        api_server=None,
        skip_probes=(),
    ):
        """Apply `desired` safely; a result dict (see the module's RETURN).

        `user_probes` are checked beforehand (nmstate_probes.validate_all), before the lock.
        `api_server` is (host, port) or None; `skip_probes` names default probes to leave out.
        """
        started = self.clock()
        current = self.client.show(kernel_only=self.kernel_only)
        running_before = self.client.show(running_config=True, kernel_only=self.kernel_only)
        probes = list(user_probes)
        skipped = []
        if use_default_probes:
            defaults, skipped = probes_mod.default_probes(
                current,
                dns_probe_name,
                self.controller,
                api_server,
                skip_probes,
            )
            probes = defaults + probes
        before = self._timed("probes_before", self.probe_all, probes, self.before_timeout, current)
        required = [probe for probe, outcome in zip(probes, before) if outcome["passed"]]
        result = {
            "mode": "kernel-only" if self.kernel_only else "networkmanager",
            "probes_before": before,
            "required_probes": [p["name"] for p in required],
            "skipped_probes": skipped,
            "applied": False,
            "changed": False,
            "rolled_back": False,
            "failed_probe": None,
        }
        if self.kernel_only:
            self._run_kernel(desired, current, running_before, required, result)
        else:
            self._run_networkmanager(desired, current, running_before, required, result)
        if result["applied"]:
            running_after = self.client.show(running_config=True, kernel_only=self.kernel_only)
            result["changed"] = strip_volatile(running_before) != strip_volatile(running_after)
        self.durations["total"] = round(self.clock() - started, 2)
        result["durations"] = self.durations
        return result

    def _first_failure(self, outcomes):
        return next((o for o in outcomes if not o["passed"]), None)

    def _revert_state(self, desired, current, running):
        """nmstate's revert state for `desired`, completed from the running config (None
        without nmstatectl): kernel mode's rollback, and what an operator stores to undo a
        policy later."""
        if self.nmstatectl is None:
            return None
        generated = self._timed("gen_revert", self.nmstatectl.gen_revert, desired, current)
        return complete_revert(generated, running, desired)

    def _run_networkmanager(self, desired, current, running, required, result):
        try:
            revert = self._revert_state(desired, current, running)
        except NmstateError:
            revert = None  # only for undoing later: NetworkManager's checkpoint guards this apply
        if revert is not None:
            result["revert_state"] = revert
        checkpoint = self._timed(
            "apply",
            self.client.apply,
            desired,
            commit=False,
            rollback_timeout=self.rollback_timeout,
        )
        result["checkpoint"] = checkpoint
        after = self._timed("probes_after", self.probe_all, required, self.probe_timeout)
        result["probes_after"] = after
        failure = self._first_failure(after)
        if failure is None:
            self._timed("commit", self.client.commit, checkpoint)
            result["applied"] = True
            return
        self._timed("rollback", self.client.rollback, checkpoint)
        if "dns-resolver" in desired:
            # nmstate keeps DNS in NetworkManager's global configuration, which checkpoints do
            # not cover: put the previous one back by hand.
            previous = (running.get("dns-resolver") or {}).get("config") or {}
            self._timed("restore_dns", self.client.apply, {"dns-resolver": {"config": previous}})
        result.update(rolled_back=True, failed_probe=failure)
        result["probes_after_rollback"] = self.probe_all(required, self.probe_timeout)

    def _run_kernel(self, desired, current, running, required, result):
        if self.nmstatectl is None:
            raise TransactionError(
                "a safe kernel-only apply needs nmstatectl on the node for nmstate's revert "
                "state (gen-revert); install nmstatectl or use NetworkManager mode",
                category="dependency",
            )
        revert = self._revert_state(desired, current, running)
        result["revert_state"] = revert
        watchdog = self.watchdog_factory(self.nmstatectl, revert, self.rollback_timeout)
        try:
            try:
                self._timed("apply", self.client.apply, desired, kernel_only=True)
            except NmstateError as exc:
                self._revert_failed_apply(exc, watchdog, revert)
                raise
            after = self._timed("probes_after", self.probe_all, required, self.probe_timeout)
            result["probes_after"] = after
            failure = self._first_failure(after)
            if watchdog.stop() and failure is None:
                result["applied"] = True
                return
            if failure is None:
                failure = {
                    "name": "watchdog",
                    "type": "timeout",
                    "passed": False,
                    "output": "the rollback timeout ran out before the probes passed",
                }
            else:
                self._timed("rollback", self.client.apply, revert, kernel_only=True, verify=False)
            result.update(rolled_back=True, failed_probe=failure)
            result["probes_after_rollback"] = self.probe_all(required, self.probe_timeout)
        finally:
            watchdog.cleanup()

    def _revert_failed_apply(self, exc, watchdog, revert):
        """Kernel mode has no checkpoint: undo whatever part of a failed apply landed, and say
        in `exc` whether the node is back."""
        exc.rolled_back = True  # by the watchdog if it has fired, else here
        if not watchdog.stop():
            return
        try:
            self.client.apply(revert, kernel_only=True, verify=False)
        except NmstateError as revert_exc:
            exc.rolled_back = False
            exc.message += "; applying the revert state failed too: %s" % revert_exc.message
