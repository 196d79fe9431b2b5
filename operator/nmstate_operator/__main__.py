"""python -m nmstate_operator: run the operator against the cluster in KUBECONFIG (or in-cluster)."""

import logging
import sys

import kopf
from pythonjsonlogger.json import JsonFormatter

from . import config as operator_config
from . import handlers  # noqa: F401  (registers the handlers)


class KopfRecordFields(logging.Filter):
    """kopf attaches its settings object to the records of its object loggers: drop it (it is
    not data), and keep the object reference (k8s_ref) as the field `object`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("settings", None)
        record.__dict__.pop("k8s_skip", None)
        if "k8s_ref" in record.__dict__:
            record.object = record.__dict__.pop("k8s_ref")
        return True


def configure_logging(log_format: str) -> None:
    """Structured (JSON, one object per line) or plain text logs on stderr."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.addFilter(KopfRecordFields())
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                json_default=str,
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


# The API server accepts objects nested up to 10,000 levels; Python's JSON decoder gives up at
# the default recursion limit (1,000), which would break the watch of every policy for one bad
# object. Decoding such an object costs C stack well within a thread's 8 MiB.
RECURSION_LIMIT = 25_000


def main(argv=None) -> int:
    sys.setrecursionlimit(RECURSION_LIMIT)
    settings = operator_config.parse(argv)
    configure_logging(settings.log_format)
    kopf.run(
        clusterwide=True,
        standalone=not settings.peering,
        peering_name=settings.peering,
        priority=settings.priority,
        liveness_endpoint=settings.liveness,
        memo=kopf.Memo(config=settings),
    )
    return 0


sys.exit(main())
