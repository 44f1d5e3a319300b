"""Logger, Tracer and Metrics singletons shared by every module of the function.

Service name and namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE (set
by the stack); the defaults keep local runs and tests working without them.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

import session_contract as contract

SERVICE = os.environ.get(contract.ENV_POWERTOOLS_SERVICE_NAME, contract.SERVICE_NAME)
NAMESPACE = os.environ.get(contract.ENV_POWERTOOLS_METRICS_NAMESPACE, contract.METRICS_NAMESPACE)

logger = Logger(service=SERVICE)
# botocore is the only library the function calls out with. Tracer's default, X-Ray's patch_all,
# would also look for a dozen others at import (database drivers, requests, httpx...) and import and
# patch sqlite3 and http.client; the traces are the same without them (README, Benchmarks).
TRACED_LIBRARIES = ("botocore",)
tracer = Tracer(service=SERVICE, patch_modules=TRACED_LIBRARIES)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def _dimensioned(name: str, value: float, dimension: str, key: str, unit: MetricUnit = MetricUnit.Count) -> None:
    # A metric with its own dimension must be flushed on its own line (EMF shares dimensions).
    with single_metric(
        name=name, unit=unit, value=value, namespace=NAMESPACE, default_dimensions={contract.DIMENSION_SERVICE: SERVICE}
    ) as metric:
        metric.add_dimension(name=dimension, value=key)


def count_sessions_by_state(states: Iterable[str | None]) -> None:
    """Metric ``SessionsSeen`` with a ``State`` dimension: how many sessions were seen in each state."""
    for state, count in sorted(Counter(s or "UNKNOWN" for s in states).items()):
        _dimensioned(contract.METRIC_SESSIONS_SEEN, count, contract.DIMENSION_STATE, state)


def count_error(kind: str) -> None:
    """Metric ``Errors`` with a ``Kind`` dimension (the error's class name)."""
    _dimensioned(contract.METRIC_ERRORS, 1, contract.DIMENSION_KIND, kind)


def count(name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count) -> None:
    metrics.add_metric(name=name, unit=unit, value=value)
