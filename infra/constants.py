"""Names shared by the stack, the function's environment and the tests (one place to change them)."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SRC = REPO_ROOT / "lambda_src"
REQUIREMENTS = REPO_ROOT / "requirements.in"

STACK_NAME = "AthenaSessionMonitor"
STACK_DESCRIPTION = "Monitor for Amazon Athena for Apache Spark sessions (athena-session-monitor)"

# The function contract (lambda_src/session_monitor).
HANDLER = "session_monitor.entry.handler"
# Glob patterns without a slash match at any depth (CDK matches them against base names).
ASSET_EXCLUDES = ["__pycache__", "*.pyc", "tests", ".pytest_cache", "*.egg-info"]
# Names the function shares (states, environment, metrics): one source, the contract module.
from session_contract import (  # noqa: E402  (re-exported for infra's constructs: see __all__)
    DIMENSION_KIND,
    DIMENSION_SERVICE,
    DIMENSION_STATE,
    ENV_ALERTS_TOPIC_ARN,
    ENV_STATE_TABLE_NAME,
    ENV_SWEEP_QUEUE_URL,
    METRIC_ALERTS_PUBLISHED,
    METRIC_DPU_HOURS_SEEN,
    METRIC_ERRORS,
    METRIC_SESSIONS_SEEN,
    METRIC_SWEEP_DURATION_MS,
    METRICS_NAMESPACE,
    SERVICE_NAME,
    SESSION_STATES,
)

# State table schema (the function's data access layer relies on it).
TABLE_PARTITION_KEY = "pk"
TABLE_SORT_KEY = "sk"
TABLE_TTL_ATTRIBUTE = "expires_at"

# Function sizing. A sweep walks every watched workgroup (ListSessions pages of up to 100,
# then GetSession per live session) with SWEEP_MAX_WORKERS threads; 5 minutes leaves room for
# Athena throttling back-off on large accounts. 512 MB: the function is I/O-bound, but Lambda
# allocates CPU in proportion to memory and 16 boto3 worker threads plus the Powertools import
# are noticeably slower (cold start and TLS handshakes) at 128-256 MB.
FUNCTION_TIMEOUT_SECONDS = 300
FUNCTION_MEMORY_MB = 512
# Duration alarm threshold: a sweep at 80% of the timeout is one slow Athena page away from
# being killed mid-run.
DURATION_ALARM_FRACTION = 0.8

# API Gateway stage throttling: the API serves operators and dashboards, not traffic; these
# limits keep a runaway client from spending the function's reserved concurrency.
API_STAGE_NAME = "v1"
API_THROTTLE_RATE_LIMIT = 10
API_THROTTLE_BURST_LIMIT = 20


def _pinned_powertools_version(requirements: Path = REQUIREMENTS) -> str:
    """The aws-lambda-powertools version pinned in requirements.in (its lock is what the tests ran against)."""
    pattern = re.compile(r"^aws-lambda-powertools(\[[^\]]*\])?==(?P<version>[0-9][0-9A-Za-z.]*)\s*(#.*)?$")
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = pattern.match(line.strip())
        if match:
            return match.group("version")
    raise RuntimeError(f"{requirements} does not pin aws-lambda-powertools==X.Y.Z; the layer version follows it")


POWERTOOLS_VERSION = _pinned_powertools_version()
# Published by the Powertools team in every commercial Region; resolved by CloudFormation at
# deploy time. The version-pinned parameter (not .../latest) keeps deploys reproducible.
POWERTOOLS_LAYER_SSM_PARAMETER = "/aws/service/powertools/python/{arch}/{python}/{version}"

__all__ = [
    "DIMENSION_KIND",
    "DIMENSION_SERVICE",
    "DIMENSION_STATE",
    "ENV_ALERTS_TOPIC_ARN",
    "ENV_STATE_TABLE_NAME",
    "ENV_SWEEP_QUEUE_URL",
    "METRICS_NAMESPACE",
    "METRIC_ALERTS_PUBLISHED",
    "METRIC_DPU_HOURS_SEEN",
    "METRIC_ERRORS",
    "METRIC_SESSIONS_SEEN",
    "METRIC_SWEEP_DURATION_MS",
    "SERVICE_NAME",
    "SESSION_STATES",
    *[name for name in dir() if name.isupper()],
]
