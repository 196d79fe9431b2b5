"""Error classes of libnmstate, with the same names and hierarchy as python3-libnmstate."""


class NmstateError(Exception):
    """Base of every nmstate failure; ``kind`` is nmstate's own error kind."""

    def __init__(self, message: str = "", kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


class NmstateDependencyError(NmstateError):
    pass


class NmstateValueError(NmstateError, ValueError):
    pass


class NmstatePermissionError(NmstateError, PermissionError):
    pass


class NmstateConflictError(NmstateError):
    pass


class NmstateLibnmError(NmstateError):
    pass


class NmstateTimeoutError(NmstateLibnmError):
    pass


class NmstateVerificationError(NmstateError):
    pass


class NmstateKernelIntegerRoundedError(NmstateVerificationError):
    pass


class NmstateNotImplementedError(NmstateError, NotImplementedError):
    pass


class NmstateInternalError(NmstateError):
    pass


class NmstateNotSupportedError(NmstateError):
    pass


class NmstatePluginError(NmstateError):
    pass


# nmstate's ErrorKind names (rust/src/lib/error.rs) to the classes the Python binding raises.
ERROR_KIND_CLASSES = {
    "InvalidArgument": NmstateValueError,
    "Bug": NmstateInternalError,
    "PluginFailure": NmstatePluginError,
    "VerificationError": NmstateVerificationError,
    "KernelIntegerRoundedError": NmstateKernelIntegerRoundedError,
    "NotImplementedError": NmstateNotImplementedError,
    "NotSupportedError": NmstateNotSupportedError,
    "DependencyError": NmstateDependencyError,
    "PermissionError": NmstatePermissionError,
    "Timeout": NmstateTimeoutError,
}


def error_for(kind: str, message: str) -> NmstateError:
    return ERROR_KIND_CLASSES.get(kind, NmstateError)(message, kind)
