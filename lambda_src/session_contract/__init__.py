"""The contract between the stack (infra/), the function (session_monitor), local mode and bench.

Every name two of them share lives here, once: session states and which of them alert, the
function's environment variables, metric names and dimensions, configuration defaults and
ranges, the workgroup name pattern. Standard library only, and it imports neither side: the
function ships it in its asset (lambda_src/), infra imports it without importing function code.
A copy of any of these names elsewhere is a future bug (tests/unit/test_contract.py looks for them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# --- Athena sessions ------------------------------------------------------------------------

SESSION_STATES: tuple[str, ...] = (
    "CREATING",
    "CREATED",
    "IDLE",
    "BUSY",
    "TERMINATING",
    "TERMINATED",
    "DEGRADED",
    "FAILED",
)
# Only these two mean "no longer running" (TERMINATING still holds resources).
TERMINAL_STATES = frozenset({"TERMINATED", "FAILED"})
# Seen again after DEGRADED, these close the incident with a RECOVERED notice.
HEALTHY_STATES = frozenset({"IDLE", "BUSY"})
# The states that alert, and how loud. RECOVERED and long IDLE are the monitor's own notices.
ALERT_SEVERITY: Mapping[str, str] = {"FAILED": "critical", "DEGRADED": "warning", "TERMINATED": "info"}
RECOVERED = "RECOVERED"
IDLE = "IDLE"
NOTICE_SEVERITY: Mapping[str, str] = {RECOVERED: "info", IDLE: "warning"}

# From Athena's service model (botocore 1.44); botocore checks only minimum lengths client-side.
WORKGROUP_PATTERN = r"[a-zA-Z0-9._-]{1,128}"
SESSION_ID_MAX_LENGTH = 256
MAX_RESULTS_RANGE = (1, 100)
NEXT_TOKEN_MAX_LENGTH = 2048

# --- the function's environment -------------------------------------------------------------

ENV_ALERTS_TOPIC_ARN = "ALERTS_TOPIC_ARN"
ENV_STATE_TABLE_NAME = "STATE_TABLE_NAME"
ENV_WATCHED_WORKGROUPS = "WATCHED_WORKGROUPS"  # comma-separated; empty: discover Spark workgroups
ENV_PRICE_PER_DPU_HOUR = "PRICE_PER_DPU_HOUR"
ENV_LOOKBACK_MINUTES = "LOOKBACK_MINUTES"
ENV_SCHEDULE_MINUTES = "SCHEDULE_MINUTES"
ENV_IDLE_ALERT_MINUTES = "IDLE_ALERT_MINUTES"
ENV_SWEEP_MAX_WORKERS = "SWEEP_MAX_WORKERS"
ENV_SWEEP_QUEUE_URL = "SWEEP_QUEUE_URL"
ENV_ALERT_RECORD_TTL_DAYS = "ALERT_RECORD_TTL_DAYS"
# The watched account: part of every ledger key and alert id (one monitor, many accounts later).
ENV_MONITOR_ACCOUNT_ID = "MONITOR_ACCOUNT_ID"
ENV_POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"

# Follow-up checks (CloudTrail discovery): {"SessionId": ...} messages, delivered after a delay.
ENV_FOLLOW_UP_QUEUE_URL = "FOLLOW_UP_QUEUE_URL"

# Exactly the DynamoDB calls the function's state-table adapter makes: the stack grants these and
# no others, and doctor simulates them (tests/infra reads the adapter's source to pin the list).
STATE_TABLE_ACTIONS = (
    "dynamodb:BatchWriteItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
)

SERVICE_NAME = "athena-session-monitor"
METRICS_NAMESPACE = "AthenaSessionMonitor"

# --- metrics (Powertools Metrics, EMF) ------------------------------------------------------

METRIC_SESSIONS_SEEN = "SessionsSeen"  # dimension State
METRIC_ALERTS_PUBLISHED = "AlertsPublished"
METRIC_LIST_SESSIONS_PAGES = "ListSessionsPages"
METRIC_FILTERED_LIST_PAGES = "FilteredListPages"
METRIC_GET_SESSION_CALLS = "GetSessionCalls"
METRIC_DPU_HOURS_SEEN = "DpuHoursSeen"
METRIC_SWEEP_DURATION_MS = "SweepDurationMs"
METRIC_WORKGROUPS_FAILED = "WorkgroupsFailed"
# The heartbeat: 1 per sweep that finished every workgroup it was given (inline, or one fan-out
# message). An alarm on its absence catches a disabled rule, a broken role, a throttled function.
METRIC_SWEEPS_COMPLETED = "SweepsCompleted"
METRIC_SWEEPS_INCOMPLETE = "SweepsIncomplete"  # 1 per sweep that left a workgroup undone
METRIC_ERRORS = "Errors"  # dimension Kind
DIMENSION_SERVICE = "service"
DIMENSION_STATE = "State"
DIMENSION_KIND = "Kind"

# --- configuration: defaults and ranges (cdk.json context, the stack, the function) ----------


@dataclass(frozen=True)
class Setting:
    """One setting as cdk.json names it and the function's environment carries it."""

    context_key: str
    env: str
    default: float | int
    minimum: float | int
    maximum: float | int | None = None


SCHEDULE_MINUTES = Setting("scheduleMinutes", ENV_SCHEDULE_MINUTES, 5, 1, 1440)
LOOKBACK_MINUTES = Setting("lookbackMinutes", ENV_LOOKBACK_MINUTES, 15, 1)
IDLE_ALERT_MINUTES = Setting("idleAlertMinutes", ENV_IDLE_ALERT_MINUTES, 0, 0)
# 0 is allowed: a price of zero turns the cost estimate off, it breaks nothing.
PRICE_PER_DPU_HOUR = Setting("pricePerDpuHour", ENV_PRICE_PER_DPU_HOUR, 0.35, 0)
SWEEP_MAX_WORKERS = Setting("sweepMaxWorkers", ENV_SWEEP_MAX_WORKERS, 16, 1, 64)
ALERT_RECORD_TTL_DAYS_DEFAULT = 90  # the function's own setting; no context key sets it

# Lambda retries a failed asynchronous sweep twice (about a minute, then two): the window within
# which a sweep's work may arrive late.
RETRY_WINDOW_MINUTES = 5


def min_lookback_minutes(schedule_minutes: int) -> int:
    """The shortest safe look-back: two sweep periods plus the retry window. A shorter one calls
    a failure that a late sweep finds 'history' and suppresses it."""
    return 2 * schedule_minutes + RETRY_WINDOW_MINUTES


def function_environment(
    *,
    topic_arn: str | None = None,
    table_name: str | None = None,
    workgroups: tuple[str, ...] | list[str] = (),
    account_id: str,
    price_per_dpu_hour: float = PRICE_PER_DPU_HOUR.default,
    lookback_minutes: int = int(LOOKBACK_MINUTES.default),
    schedule_minutes: int = int(SCHEDULE_MINUTES.default),
    idle_alert_minutes: int = int(IDLE_ALERT_MINUTES.default),
    sweep_max_workers: int = int(SWEEP_MAX_WORKERS.default),
    state_events_bus: str | None = None,
) -> dict[str, str]:
    """The function's environment as the stack sets it; local mode and bench use the same.

    Values may be CDK tokens (strings that resolve at deploy time): nothing here parses them. The
    stack adds the topic and table once they exist, so they may be left out here.
    ``state_events_bus`` names the bus (name or ARN) state-change events go to; None: no events.
    """
    resources = {
        ENV_ALERTS_TOPIC_ARN: topic_arn,
        ENV_STATE_TABLE_NAME: table_name,
        ENV_STATE_EVENTS_BUS: state_events_bus,
    }
    return {
        **{name: value for name, value in resources.items() if value is not None},
        ENV_WATCHED_WORKGROUPS: ",".join(workgroups),
        ENV_PRICE_PER_DPU_HOUR: repr(price_per_dpu_hour),
        ENV_LOOKBACK_MINUTES: str(lookback_minutes),
        ENV_SCHEDULE_MINUTES: str(schedule_minutes),
        ENV_MONITOR_ACCOUNT_ID: account_id,
        ENV_IDLE_ALERT_MINUTES: str(idle_alert_minutes),
        ENV_SWEEP_MAX_WORKERS: str(sweep_max_workers),
        ENV_POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        ENV_POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "INFO",
        # Responses carry session details (configuration, notebook ids); keep them out of traces.
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
    }


# --- CloudTrail discovery: Athena's notebook API calls, delivered by EventBridge -------------------

CLOUDTRAIL_SOURCE = "aws.athena"
CLOUDTRAIL_EVENT_SOURCE = "athena.amazonaws.com"  # detail.eventSource
CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
CLOUDTRAIL_EVENT_NAMES = ("StartSession", "TerminateSession")
CLOUDTRAIL_EVENTS_CONTEXT_KEY = "cloudTrailEvents"  # cdk.json: true (default) or false
# A session is looked at this long after it starts (failures at start-up), and a terminating one
# again this long after TerminateSession until it has ended.
START_CHECK_DELAY_SECONDS = 180
TERMINATE_RECHECK_SECONDS = 30
MAX_FOLLOW_UPS = 10  # per session and event: a session stuck TERMINATING is left to the sweep
# What the CloudTrail rule hands the function: an EventBridge input transformer keeps only the
# fields session_monitor.cloudtrail reads, so a StartSession's requestParameters (the engine
# configuration: Spark properties, possibly credentials) never reach the function, its logs or its
# on-failure queue. Every placeholder sits inside quotes: EventBridge inserts extracted values
# unescaped, and leaves out a variable whose path is missing from the record ("errorCode" on a
# success, "workGroup" on TerminateSession), which then reads "" (the function takes "", and the
# placeholder's own text, as absent). The rule delivers successful calls only, whose values are
# Athena's (ids, workgroup names, states, error codes): none needs escaping.
CLOUDTRAIL_INPUT_PATHS: dict[str, str] = {
    "id": "$.id",
    "eventName": "$.detail.eventName",
    "eventSource": "$.detail.eventSource",
    "errorCode": "$.detail.errorCode",
    "workGroup": "$.detail.requestParameters.workGroup",
    "requestSessionId": "$.detail.requestParameters.sessionId",
    "responseSessionId": "$.detail.responseElements.sessionId",
    "responseState": "$.detail.responseElements.state",
}
CLOUDTRAIL_INPUT_TEMPLATE = (
    '{"version":"0","id":"<id>",'
    f'"source":"{CLOUDTRAIL_SOURCE}","detail-type":"{CLOUDTRAIL_DETAIL_TYPE}",'
    '"detail":{"eventName":"<eventName>","eventSource":"<eventSource>","errorCode":"<errorCode>",'
    '"requestParameters":{"workGroup":"<workGroup>","sessionId":"<requestSessionId>"},'
    '"responseElements":{"sessionId":"<responseSessionId>","state":"<responseState>"}}}'
)
CLOUDTRAIL_INPUT_PLACEHOLDERS = frozenset(f"<{name}>" for name in CLOUDTRAIL_INPUT_PATHS)


# --- State-change events: the EventBridge event Athena does not send for Spark sessions ---------

# Every session state change the monitor observes is put on an event bus with this source and
# detail-type. Not aws.*: EventBridge reserves those sources for AWS services.
STATE_EVENTS_SOURCE = SERVICE_NAME
STATE_EVENTS_DETAIL_TYPE = "Athena Spark Session State Change"
STATE_EVENTS_SCHEMA_VERSION = "1"  # detail.version: raised on a change consumers must notice
# cdk.json: "default" (the account's default bus; the default), a bus name or ARN, or "off".
STATE_EVENTS_CONTEXT_KEY = "stateChangeEvents"
STATE_EVENTS_DEFAULT_BUS = "default"
STATE_EVENTS_OFF = "off"
ENV_STATE_EVENTS_BUS = "STATE_EVENTS_BUS"  # the bus name or ARN; unset or empty: no events
# PutEvents' EventBusName (botocore 1.44's NonPartnerEventBusNameOrArn, 1 to 1600 characters).
EVENT_BUS_PATTERN = r"(arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus\/)?[\.\-_A-Za-z0-9]+"
EVENT_BUS_MAX_LENGTH = 1600
METRIC_STATE_EVENTS_PUT = "StateChangeEventsPut"
# Events EventBridge did not accept after the retries: counted and alarmed, never waited for
# (an alert is never held up by an event).
METRIC_STATE_EVENTS_FAILED = "StateChangeEventsFailed"


# --- Delivery: per-protocol messages, chat, FIFO topic ----------------------------------------

# SNS requires a FIFO topic's name to end in .fifo: the function tells a FIFO topic by its ARN.
SNS_FIFO_SUFFIX = ".fifo"
ALERTS_TOPIC_FIFO_CONTEXT_KEY = "alertsTopicFifo"  # cdk.json: false (default) or true
# An alert's claim lease (monitor.py): the first look after it re-publishes an alert whose sender
# died between SNS accepting it and the ledger recording it.
ALERT_LEASE_SECONDS = 120
# SNS FIFO drops a MessageDeduplicationId seen within the last 5 minutes (SNS developer guide,
# "Message deduplication for FIFO topics"): the re-send is dropped only when it comes that soon.
SNS_FIFO_DEDUPLICATION_SECONDS = 300
# The longest schedule whose next sweep after the lease still falls inside that window (unless
# the sweep is itself late): (300 - 120) // 60 = 3. Synth refuses alertsTopicFifo beyond it.
FIFO_MAX_SCHEDULE_MINUTES = (SNS_FIFO_DEDUPLICATION_SECONDS - ALERT_LEASE_SECONDS) // 60
