"""python -m nmstate_operator: run the operator against the cluster in KUBECONFIG (or in-cluster)."""

import logging
import sys

import kopf
from pythonjsonlogger.json import JsonFormatter

from . import config as operator_config
from . import handlers  # noqa: F401  (registers the handlers)


def configure_logging(log_format: str) -> None:
    """Structured (JSON, one object per line) or plain text logs on stderr."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def main(argv=None) -> int:
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
