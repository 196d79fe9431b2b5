# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that talks to nmstate on a node.

The Python binding ``libnmstate`` is used when it can be imported; otherwise ``nmstatectl``,
with states passed as JSON on stdin and read back as JSON on stdout, never through a shell.
Both raise :class:`NmstateError` with nmstate's own message and a category Ansible users can
act on. Nothing else in the collection builds an nmstatectl command line.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import logging
import os
import re
import shutil
import tempfile

from ansible_collections.nodenet.nmstate.plugins.module_utils import nmstate_kernel_limits
from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_errors import NmstateError

# nmstate's error kinds (its ErrorKind enum, and python3-libnmstate's classes) by category.
ERROR_CATEGORIES = {
    "InvalidArgument": "invalid_argument",
    "NmstateValueError": "invalid_argument",
    "VerificationError": "verification_failed",
    "NmstateVerificationError": "verification_failed",
    "KernelIntegerRoundedError": "verification_failed",
    "NmstateKernelIntegerRoundedError": "verification_failed",
    "NotSupportedError": "not_supported",
    "NmstateNotSupportedError": "not_supported",
    "NotImplementedError": "not_supported",
    "NmstateNotImplementedError": "not_supported",
    "PluginFailure": "backend_failure",
    "NmstatePluginError": "backend_failure",
    "NmstateLibnmError": "backend_failure",
    "NmstateTimeoutError": "backend_failure",
    "Timeout": "backend_failure",
    "Bug": "backend_failure",
    "NmstateInternalError": "backend_failure",
    "PermissionError": "permission",
    "NmstatePermissionError": "permission",
    "DependencyError": "dependency",
    "NmstateDependencyError": "dependency",
}

CHECKPOINT_RE = re.compile(r"(/org/freedesktop/NetworkManager/Checkpoint/\d+)")
# nmstatectl prints failures as "NmstateError: <Kind>: <message>".
NMSTATECTL_ERROR_RE = re.compile(r"NmstateError: (\w+): (.*)", re.DOTALL)

# (distribution IDs, install command), matched against ID and ID_LIKE of /etc/os-release.
INSTALL_HINTS = (
    (
        "rhel centos fedora rocky almalinux ol",
        "dnf install nmstate python3-libnmstate NetworkManager",
    ),
    (
        "debian ubuntu",
        "apt-get install nmstate (where the release packages it; otherwise build nmstatectl "
        "with 'cargo install nmstatectl')",
    ),
    ("opensuse sles suse", "zypper install nmstate"),
    ("arch", "pacman -S nmstate"),
)

# find_client's message when nothing was found, by what was asked for.
NOT_FOUND = {
    "auto": "neither libnmstate (python3-libnmstate) nor nmstatectl was found",
    "libnmstate": "libnmstate (python3-libnmstate) was not found",
    "nmstatectl": "nmstatectl was not found",
}

NMSTATECTL_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]


# Options of every module that talks to nmstate (documented in doc_fragments/node_access.py).
NODE_ARGUMENT_SPEC = dict(
    kernel_only=dict(type="bool"),
    access=dict(type="str", choices=["auto", "libnmstate", "nmstatectl"], default="auto"),
)


def error_from_kind(kind, message):
    return NmstateError(message, ERROR_CATEGORIES.get(kind, "nmstate_error"), kind)


def install_hint(os_release_path="/etc/os-release"):
    """How to install nmstate on this node's distribution, from /etc/os-release."""
    ids = []
    try:
        with open(os_release_path) as handle:
            for line in handle:
                key, value = (line.strip().split("=", 1) + [""])[:2]
                if key in ("ID", "ID_LIKE"):
                    ids.extend(value.strip("\"'").split())
    except (IOError, OSError):
        pass
    for families, command in INSTALL_HINTS:
        if any(i in families.split() for i in ids):
            return command
    return "install nmstate (nmstatectl) from your distribution, or 'cargo install nmstatectl'"


def network_manager_running(proc="/proc"):
    """True if a NetworkManager process runs here; nmstate's NM mode needs one."""
    try:
        entries = os.listdir(proc)
    except OSError:
        return False
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "comm")) as handle:
                if handle.read().strip() == "NetworkManager":
                    return True
        except (IOError, OSError):
            continue
    return False


def resolve_mode(kernel_only):
    """(kernel_only, mode name): an unset kernel_only follows whether NetworkManager runs."""
    if kernel_only is None:
        kernel_only = not network_manager_running()
    return kernel_only, "kernel-only" if kernel_only else "networkmanager"


class _LogCapture(logging.Handler):
    """Collects libnmstate's log lines: the checkpoint it creates is only reported there."""

    def __init__(self):
        logging.Handler.__init__(self, logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


class _Client(object):
    """What both access paths share: an apply that reports the checkpoint it left pending."""

    def apply(
        self,
        state,
        kernel_only=False,
        verify=True,
        save_to_disk=True,
        commit=True,
        rollback_timeout=60,
    ):
        """Apply `state`; return the NetworkManager checkpoint left pending, if any."""
        try:
            output = self._apply(state, kernel_only, verify, save_to_disk, commit, rollback_timeout)
        except NmstateError as error:
            if kernel_only:
                nmstate_kernel_limits.explain(error)
            raise
        if commit:
            return None
        found = CHECKPOINT_RE.findall(output)
        return found[-1] if found else None

    def _apply(self, state, kernel_only, verify, save_to_disk, commit, rollback_timeout):
        """Apply; the text in which nmstate reports the checkpoint it created."""
        raise NotImplementedError


class LibnmstateClient(_Client):
    """nmstate through its Python binding."""

    access = "libnmstate"

    def __init__(self, libnmstate):
        self._lib = libnmstate

    @property
    def version(self):
        return getattr(self._lib, "__version__", "unknown")

    def _call(self, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception as exc:  # every libnmstate failure derives from NmstateError
            kind = getattr(exc, "kind", None) or type(exc).__name__
            raise error_from_kind(kind, str(exc))

    def show(self, running_config=False, kernel_only=False):
        # python3-libnmstate's show_running_config() has no kernel-only form.
        if running_config and not kernel_only:
            return self._call(self._lib.show_running_config)
        return self._call(self._lib.show, kernel_only=kernel_only)

    def _apply(self, state, kernel_only, verify, save_to_disk, commit, rollback_timeout):
        """Apply; libnmstate reports the checkpoint it creates only in its log, returned here."""
        capture = _LogCapture()
        logger = logging.getLogger("libnmstate")
        logger.addHandler(capture)
        previous_level = logger.level
        logger.setLevel(logging.DEBUG)
        try:
            self._call(
                self._lib.apply,
                state,
                kernel_only=kernel_only,
                verify_change=verify,
                save_to_disk=save_to_disk,
                commit=commit,
                rollback_timeout=rollback_timeout,
            )
        finally:
            logger.removeHandler(capture)
            logger.setLevel(previous_level)
        return "\n".join(capture.lines)

    def commit(self, checkpoint=None):
        self._call(self._lib.commit, checkpoint=checkpoint)

    def rollback(self, checkpoint=None):
        self._call(self._lib.rollback, checkpoint=checkpoint)

    def generate_differences(self, new_state, old_state):
        if not hasattr(self._lib, "generate_differences"):
            return None
        return self._call(self._lib.generate_differences, new_state, old_state)

    def state_from_policy(self, policy, current):
        """nmstate's rendering of an nmpolicy (capture + desiredState) against `current`."""
        render = getattr(self._lib, "gen_net_state_from_policy", None)
        if render is None:
            raise NmstateError("this libnmstate cannot render policies (capture)", "not_supported")
        return self._call(render, policy, current)


class NmstatectlClient(_Client):
    """nmstate through its command-line tool; `run_command` is AnsibleModule.run_command."""

    access = "nmstatectl"

    def __init__(self, path, run_command):
        self.path = path
        self._run_command = run_command
        self._version = None

    def _run(self, args, data=None):
        rc, out, err = self._run_command(
            [self.path] + args,
            data=None if data is None else json.dumps(data),
            binary_data=True,
            environ_update={"LC_ALL": "C"},
        )
        if rc != 0:
            match = NMSTATECTL_ERROR_RE.search(err) or NMSTATECTL_ERROR_RE.search(out)
            if match:
                raise error_from_kind(match.group(1), match.group(2).strip())
            raise NmstateError(
                "nmstatectl %s exited %d: %s" % (args[0], rc, (err or out).strip()[-2000:])
            )
        return out, err

    @property
    def version(self):
        if self._version is None:
            out = self._run(["--version"])[0]
            self._version = out.strip().split()[-1] if out.strip() else "unknown"
        return self._version

    def show(self, running_config=False, kernel_only=False):
        args = ["show", "--json"]
        if running_config:
            args.append("--running-config")
        if kernel_only:
            args.append("--kernel")
        return _parsed("show", self._run(args)[0])

    @staticmethod
    def _apply_args(kernel_only, verify, save_to_disk, commit=True, rollback_timeout=60):
        args = ["apply"]
        if kernel_only:
            args.append("--kernel")
        if not verify:
            args.append("--no-verify")
        if not save_to_disk:
            args.append("--memory-only")
        if not commit:
            args += ["--no-commit", "--timeout", str(int(rollback_timeout))]
        return args

    def _apply(self, state, kernel_only, verify, save_to_disk, commit, rollback_timeout):
        """Apply with the state on stdin; nmstatectl prints the checkpoint it creates."""
        args = self._apply_args(kernel_only, verify, save_to_disk, commit, rollback_timeout)
        out, err = self._run(args, data=state)
        return out + "\n" + err

    def apply_argv(self, path, kernel_only=False, verify=True, save_to_disk=True):
        """The command line that applies the state in the JSON file `path`, committed, for a
        process that runs nmstatectl on its own (the kernel-mode watchdog)."""
        return [self.path] + self._apply_args(kernel_only, verify, save_to_disk) + [path]

    def commit(self, checkpoint=None):
        self._run(["commit"] + ([checkpoint] if checkpoint else []))

    def rollback(self, checkpoint=None):
        self._run(["rollback"] + ([checkpoint] if checkpoint else []))

    def generate_differences(self, new_state, old_state):
        # nmstatectl has no command for nmstate's difference generator.
        return None

    def state_from_policy(self, policy, current):
        """nmstate's rendering of an nmpolicy (capture + desiredState) against `current`."""
        out = self._with_files(["policy", "--json", "-q", "-c"], current, policy)
        return _parsed("policy", out, empty={})

    def state_and_captures_from_policy(self, policy, current):
        """nmstate's rendering of an nmpolicy, and what each capture found (name -> state)."""
        out, captured = self._with_files(
            ["policy", "--json", "-q", "-c"], current, policy, output_option="-o"
        )
        return _parsed("policy", out, empty={}), _parsed("policy", captured, empty={})

    def features(self, desired, current):
        """The nmstate features `desired` uses (nmstatectl statistic), sorted."""
        out = self._with_files(["st", "--json", "-q", "-c"], current, desired)
        found = _parsed("st", out, empty={}).get("features") or []
        return sorted(str(name) for name in found)

    def _with_files(self, args, current, subject, output_option=None):
        """Run nmstatectl with `current` and `subject` (state or policy) as JSON files (the
        last option in `args` takes the current state's path). With `output_option`,
        nmstatectl also writes a file through that option: returns (stdout, its text)."""
        workdir = tempfile.mkdtemp(prefix="nmstate-")
        try:
            paths = []
            for name, content in (("current.json", current), ("subject.json", subject)):
                path = os.path.join(workdir, name)
                with open(path, "w") as handle:
                    json.dump(content, handle)
                paths.append(path)
            output = os.path.join(workdir, "output.json")
            extra = [output_option, output] if output_option else []
            out = self._run(args[:-1] + extra + args[-1:] + [paths[0], paths[1]])[0]
            if not output_option:
                return out
            written = ""
            if os.path.exists(output):
                with open(output) as handle:
                    written = handle.read()
            return out, written
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def validate(self, desired, current):
        """nmstate's own check of `desired` against the `current` state (nmstatectl validate):
        raises NmstateError with nmstate's reason when it would refuse the state."""
        self._with_files(["validate", "-q", "-c"], current, desired)

    def gen_revert(self, desired, current):
        """nmstate's revert state for `desired` (nmstatectl gr), given the `current` state.

        The current state is passed explicitly: gr would otherwise ask NetworkManager for it,
        which fails in kernel-only mode.
        """
        out = self._with_files(["gr", "--json", "-q", "-c"], current, desired)
        return _parsed("gr", out, empty={})


def _parsed(command, out, empty=None):
    """The JSON nmstatectl `command` printed; `empty` where it printed nothing, if given."""
    if empty is not None and not out.strip():
        return empty
    try:
        return json.loads(out)
    except ValueError:
        raise NmstateError("nmstatectl %s printed no JSON: %s" % (command, out[:500]))


def import_libnmstate():
    try:
        import libnmstate  # pylint: disable=import-error
    except ImportError:
        return None
    return libnmstate


def find_nmstatectl(module):
    """nmstatectl on this node as a client, or None where it is not installed."""
    path = module.get_bin_path("nmstatectl", opt_dirs=NMSTATECTL_DIRS)
    return NmstatectlClient(path, module.run_command) if path else None


def find_client(module, prefer="auto"):
    """The best nmstate access path on this node: libnmstate if importable, else nmstatectl.

    `prefer` is 'auto', 'libnmstate' or 'nmstatectl'. Raises NmstateError(category='missing')
    with the install command for this distribution when nothing is found.
    """
    if prefer in ("auto", "libnmstate"):
        libnmstate = import_libnmstate()
        if libnmstate is not None:
            return LibnmstateClient(libnmstate)
    if prefer in ("auto", "nmstatectl"):
        client = find_nmstatectl(module)
        if client is not None:
            return client
    raise NmstateError(
        "%s on this node. Install it with: %s" % (NOT_FOUND[prefer], install_hint()),
        category="missing",
    )
