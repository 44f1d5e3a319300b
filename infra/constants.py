"""Names shared by the stack, the function's environment and the tests (one place to change them)."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SRC = REPO_ROOT / "lambda_src"
REQUIREMENTS = REPO_ROOT / "requirements.txt"

STACK_NAME = "AthenaSessionMonitor"
STACK_DESCRIPTION = "Monitor for Amazon Athena for Apache Spark sessions (athena-session-monitor)"

# The function contract (lambda_src/session_monitor).
HANDLER = "session_monitor.entry.handler"
# Glob patterns without a slash match at any depth (CDK matches them against base names).
ASSET_EXCLUDES = ["__pycache__", "*.pyc", "tests", ".pytest_cache", "*.egg-info"]
SERVICE_NAME = "athena-session-monitor"
METRICS_NAMESPACE = "AthenaSessionMonitor"
SESSION_STATES = ("CREATING", "CREATED", "IDLE", "BUSY", "TERMINATING", "TERMINATED", "DEGRADED", "FAILED")

# Environment variable names the function reads.
ENV_ALERTS_TOPIC_ARN = "ALERTS_TOPIC_ARN"
ENV_STATE_TABLE_NAME = "STATE_TABLE_NAME"
ENV_WATCHED_WORKGROUPS = "WATCHED_WORKGROUPS"
ENV_PRICE_PER_DPU_HOUR = "PRICE_PER_DPU_HOUR"
ENV_LOOKBACK_MINUTES = "LOOKBACK_MINUTES"
# The sweep interval: the function refuses LOOKBACK_MINUTES < 2 x SCHEDULE_MINUTES + 5, as synth does.
ENV_SCHEDULE_MINUTES = "SCHEDULE_MINUTES"
# The stack's account, part of the alert ledger's keys (one monitor, many accounts and Regions).
ENV_MONITOR_ACCOUNT_ID = "MONITOR_ACCOUNT_ID"
ENV_IDLE_ALERT_MINUTES = "IDLE_ALERT_MINUTES"
ENV_SWEEP_MAX_WORKERS = "SWEEP_MAX_WORKERS"
ENV_SWEEP_QUEUE_URL = "SWEEP_QUEUE_URL"

# Custom metrics the function emits (Powertools Metrics, EMF).
METRIC_SESSIONS_SEEN = "SessionsSeen"
METRIC_ALERTS_PUBLISHED = "AlertsPublished"
METRIC_DPU_HOURS_SEEN = "DpuHoursSeen"
METRIC_SWEEP_DURATION_MS = "SweepDurationMs"
METRIC_ERRORS = "Errors"
DIMENSION_SERVICE = "service"
DIMENSION_STATE = "State"
DIMENSION_KIND = "Kind"

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
    """The aws-lambda-powertools version pinned in requirements.txt (what the tests ran against)."""
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
