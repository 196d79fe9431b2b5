"""python -m nmstate_operator: run the operator against the cluster in KUBECONFIG (or in-cluster)."""

import logging
import sys

import kopf

from . import config as operator_config
from . import handlers  # noqa: F401  (registers the handlers)


def main(argv=None) -> int:
    settings = operator_config.parse(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    kopf.run(
        clusterwide=True,
        standalone=True,
        liveness_endpoint=settings.liveness,
        memo=kopf.Memo(config=settings),
    )
    return 0


sys.exit(main())
