"""Shared test helpers: real AWS event shapes, GetSession answers, a Lambda context."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

EVENTS = Path(__file__).parent / "events"
NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def engine_configuration() -> dict[str, Any]:
    """A session's EngineConfiguration as GetSession answers it (a fresh copy each call)."""
    return {
        "CoordinatorDpuSize": 1,
        "MaxConcurrentDpus": 20,
        "DefaultExecutorDpuSize": 1,
        "AdditionalConfigs": {"NotebookFileURI": "s3://bucket/notebook.ipynb"},
        "SparkProperties": {"spark.sql.shuffle.partitions": "64"},
        "Classifications": [{"Name": "spark-defaults", "Properties": {"spark.executor.cores": "4"}}],
    }


def make_alert(session, state, began, known=True, token=None, resolves=None, note=None, region="eu-west-1"):
    """An Alert for ``session`` entering ``state`` at ``began`` (END token for terminal states)."""
    from session_monitor import alerting
    from session_monitor.ledger import END, Episode, token_of

    token = token or (END if state in ("FAILED", "TERMINATED") else token_of(began))
    episode = Episode(session.session_id, state, token, began, known, resolves)
    return alerting.Alert(session, episode, "123456789012", region, note)


SCOPE = "123456789012/us-east-1"  # how alert ids name where a session lives (conftest's account)


def alert_id(session_id: str, state: str, began: str | datetime = "END") -> str:
    """The alert id of one episode: ``began`` is END for terminal states, else when it began."""
    token = began.strftime("%Y%m%dT%H%M%SZ") if isinstance(began, datetime) else began
    return f"{SCOPE}/{session_id}#{state}#{token}"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str = "athena-session-monitor"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:athena-session-monitor"
    aws_request_id: str = "3f1a2b6c-0000-4000-8000-000000000001"
    log_group_name: str = "/aws/lambda/athena-session-monitor"
    log_stream_name: str = "2026/11/26/[$LATEST]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def api_event(path: str, query: dict[str, str] | None = None, method: str = "GET") -> dict[str, Any]:
    """An API Gateway REST proxy event for ``path`` (unencoded), as API Gateway sends it."""
    event = copy.deepcopy(load_event("api_get_session.json"))
    event["httpMethod"] = method
    event["requestContext"]["httpMethod"] = method
    event["path"] = path
    event["requestContext"]["path"] = "/prod" + path
    if path.startswith("/sessions/"):
        event["resource"] = "/sessions/{session_id}"
        event["pathParameters"] = {"session_id": path.removeprefix("/sessions/")}
    else:
        event["resource"] = path
        event["pathParameters"] = None
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    return event


def session_check_event(session_id: Any, key: str = "SessionId") -> dict[str, Any]:
    event = copy.deepcopy(load_event("session_check_event.json"))
    event["detail"] = {key: session_id}
    return event


def get_session_response(
    session_id: str = "s-1",
    state: str = "IDLE",
    workgroup: str = "analytics",
    *,
    started: datetime = NOW - timedelta(hours=1),
    modified: datetime | None = None,
    reason: str | None = None,
    dpu_ms: int = 7_200_000,
) -> dict[str, Any]:
    """A complete GetSession answer, every optional member present, valid for the service model."""
    status: dict[str, Any] = {
        "StartDateTime": started,
        "LastModifiedDateTime": modified or NOW - timedelta(minutes=1),
        "State": state,
    }
    if state in ("TERMINATED", "FAILED"):
        status["EndDateTime"] = modified or NOW - timedelta(minutes=1)
    if state == "IDLE":
        status["IdleSinceDateTime"] = modified or NOW - timedelta(minutes=1)
    if reason:
        status["StateChangeReason"] = reason
    return {
        "SessionId": session_id,
        "Description": f"notebook session {session_id}",
        "WorkGroup": workgroup,
        "EngineVersion": "PySpark engine version 3",
        "EngineConfiguration": engine_configuration(),
        "NotebookVersion": "Athena notebook version 1",
        "MonitoringConfiguration": {
            "CloudWatchLoggingConfiguration": {"Enabled": True, "LogGroup": "/athena/spark"},
        },
        "SessionConfiguration": {
            "ExecutionRole": "arn:aws:iam::123456789012:role/AthenaSparkRole",
            "WorkingDirectory": "s3://bucket/athena/sessions/",
            "IdleTimeoutSeconds": 1200,
            "SessionIdleTimeoutInMinutes": 20,
            "EncryptionConfiguration": {
                "EncryptionOption": "SSE_KMS",
                "KmsKey": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            },
        },
        "Status": status,
        "Statistics": {"DpuExecutionInMillis": dpu_ms},
    }


def encoded(session_id: str) -> str:
    return quote(session_id, safe="")


def scheduled_sweep(context: Any) -> Any:
    """The schedule's event through the real handler: one sweep, as EventBridge triggers it."""
    from session_monitor.entry import handler

    return handler(load_event("scheduled_event.json"), context)
