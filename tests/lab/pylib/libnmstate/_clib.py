"""ctypes calls into libnmstate.so.2, following nmstate-clib's nmstate.h."""

import ctypes
import json
import logging
import os

from .error import error_for

FLAG_KERNEL_ONLY = 1 << 1
FLAG_NO_VERIFY = 1 << 2
FLAG_INCLUDE_STATUS_DATA = 1 << 3
FLAG_INCLUDE_SECRETS = 1 << 4
FLAG_NO_COMMIT = 1 << 5
FLAG_MEMORY_ONLY = 1 << 6
FLAG_RUNNING_CONFIG_ONLY = 1 << 7

_PASS = 0
_LOG = logging.getLogger("libnmstate")
_LOG_LEVELS = {"ERROR": logging.ERROR, "WARN": logging.WARNING, "INFO": logging.INFO}


def _library_path() -> str:
    # The lab places the library beside this package; elsewhere the loader finds it.
    if os.environ.get("LIBNMSTATE_LIBRARY"):
        return os.environ["LIBNMSTATE_LIBRARY"]
    beside = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libnmstate.so.2")
    return beside if os.path.exists(beside) else "libnmstate.so.2"


LIBRARY_PATH = _library_path()
_lib = ctypes.cdll.LoadLibrary(LIBRARY_PATH)
_char_pp = ctypes.POINTER(ctypes.c_char_p)
_lib.nmstate_cstring_free.argtypes = [ctypes.c_void_p]
_lib.nmstate_cstring_free.restype = None


def _take(pointer: ctypes.c_void_p) -> str:
    """Copy a string nmstate allocated, then give the memory back to nmstate."""
    if not pointer.value:
        return ""
    text = ctypes.string_at(pointer.value).decode("utf-8")
    _lib.nmstate_cstring_free(pointer)
    return text


def _forward_log(log_json: str) -> None:
    if not log_json:
        return
    try:
        entries = json.loads(log_json)
    except ValueError:
        _LOG.debug("%s", log_json)
        return
    for entry in entries:
        level = _LOG_LEVELS.get(entry.get("level", ""), logging.DEBUG)
        _LOG.log(level, "%s: %s", entry.get("file", ""), entry.get("msg", ""))


def call(name: str, inputs: list, outputs: tuple, with_log: bool = True) -> dict:
    """Call ``nmstate_<name>``: inputs are ints or strs (None allowed), outputs are names.

    Returns the named output strings; raises the mapped NmstateError on failure.
    """
    out = {key: ctypes.c_void_p() for key in outputs}
    log = ctypes.c_void_p()
    err_kind = ctypes.c_void_p()
    err_msg = ctypes.c_void_p()
    args = []
    for value in inputs:
        if isinstance(value, int):
            args.append(ctypes.c_uint32(value))
        else:
            args.append(None if value is None else ctypes.c_char_p(value.encode("utf-8")))
    args += [ctypes.byref(out[key]) for key in outputs]
    if with_log:
        args.append(ctypes.byref(log))
    args += [ctypes.byref(err_kind), ctypes.byref(err_msg)]
    rc = getattr(_lib, "nmstate_" + name)(*args)
    results = {key: _take(pointer) for key, pointer in out.items()}
    _forward_log(_take(log))
    kind, message = _take(err_kind), _take(err_msg)
    if rc != _PASS:
        raise error_for(kind, message)
    return results
