"""EventBridge events and direct invocations through the real Lambda entry point."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from session_monitor import errors
from session_monitor.entry import handler
from session_monitor.model import ALL_STATES
from tests.helpers import NOW, alert_id, get_session_response, load_event, session_check_event


@pytest.mark.parametrize("key", ["SessionId", "session_id"])
def test_direct_invocation_returns_the_normalised_session(athena, alerts, context, key):
    athena.add_response("get_session", get_session_response("s-7", "BUSY"), {"SessionId": "s-7"})
    result = handler({key: "s-7"}, context)
    assert result["session_id"] == "s-7" and result["state"] == "BUSY" and result["severity"] is None
    json.dumps(result)  # Step Functions needs it JSON-serialisable as is


@pytest.mark.parametrize("state", ALL_STATES)
def test_every_state_by_direct_invocation_alerts_only_when_it_should(athena, alerts, context, state):
    athena.add_response("get_session", get_session_response("s-1", state), {"SessionId": "s-1"})
    assert handler({"SessionId": "s-1"}, context)["state"] == state
    expected = [state] if state in ("FAILED", "DEGRADED", "TERMINATED") else []
    assert [a["attributes"]["state"] for a in alerts.received()] == expected


@pytest.mark.parametrize("key", ["SessionId", "session_id"])
def test_an_eventbridge_event_naming_a_session_checks_it(athena, alerts, context, key):
    athena.add_response(
        "get_session",
        get_session_response("s-2", "TERMINATED", reason="Session was terminated per request"),
        {"SessionId": "s-2"},
    )
    result = handler(session_check_event("s-2", key), context)
    assert result["state"] == "TERMINATED"
    [alert] = alerts.received()
    assert alert["attributes"]["severity"] == "info"
    assert alert["body"]["alert"]["reason"] == "Session was terminated per request"


def test_degraded_then_failed_sends_two_alerts_and_no_more(athena, alerts, context):
    for state in ("DEGRADED", "DEGRADED", "FAILED", "FAILED"):
        athena.add_response("get_session", get_session_response("s-3", state), {"SessionId": "s-3"})
        handler({"SessionId": "s-3"}, context)
    assert [a["attributes"]["alert_id"] for a in alerts.received()] == [
        alert_id("s-3", "DEGRADED", NOW - timedelta(minutes=1)),
        alert_id("s-3", "FAILED"),
    ]


@pytest.mark.parametrize("bad", ["", "x" * 257, None, 17, ["s-1"]])
def test_invalid_ids_raise_the_named_error_and_never_reach_athena(athena, alerts, context, bad):
    with pytest.raises(errors.InvalidSessionId):
        handler({"SessionId": bad}, context)
    with pytest.raises(errors.InvalidSessionId):
        handler(session_check_event(bad), context)


@pytest.mark.parametrize("code", ["ResourceNotFoundException", "InvalidRequestException"])
def test_unknown_session_raises_session_not_found(athena, alerts, context, code):
    athena.add_client_error("get_session", code, "not found", 400)
    with pytest.raises(errors.SessionNotFound):
        handler({"SessionId": "missing"}, context)


@pytest.mark.parametrize(
    "code,status,expected",
    [
        ("ThrottlingException", 400, errors.AthenaThrottled),
        ("InternalServerException", 500, errors.AthenaUnavailable),
        ("AccessDeniedException", 400, errors.AthenaAccessDenied),
    ],
)
def test_athena_failures_raise_named_errors(athena, alerts, context, code, status, expected):
    athena.add_client_error("get_session", code, "upstream text", status)
    with pytest.raises(expected) as raised:
        handler({"SessionId": "s-1"}, context)
    assert "upstream text" not in str(raised.value)


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"foo": "bar"},
        [],
        "SessionId",
        None,
        42,
        {"Records": [{"eventSource": "aws:sns", "Sns": {"Message": "{}"}}]},
        {
            "version": "0",
            "id": "1",
            "detail-type": "Athena Query State Change",
            "source": "aws.athena",
            "detail": {"queryExecutionId": "q"},
        },
    ],
)
def test_unrecognised_events_raise_unsupported_event(alerts, context, event):
    with pytest.raises(errors.UnsupportedEvent):
        handler(event, context)


def test_sns_refusing_raises_and_records_nothing_so_the_retry_sends_once(athena, alerts, context, monkeypatch):
    from session_monitor import config

    monkeypatch.setenv("ALERTS_TOPIC_ARN", alerts.topic_arn + "-gone")
    config.settings.cache_clear()
    athena.add_response("get_session", get_session_response("s-4", "FAILED"), {"SessionId": "s-4"})
    with pytest.raises(errors.AlertDeliveryFailed):
        handler({"SessionId": "s-4"}, context)
    assert alerts.items() == []

    monkeypatch.setenv("ALERTS_TOPIC_ARN", alerts.topic_arn)
    config.settings.cache_clear()
    for _ in range(2):  # the asynchronous retry, then a later look
        athena.add_response("get_session", get_session_response("s-4", "FAILED"), {"SessionId": "s-4"})
        handler({"SessionId": "s-4"}, context)
    assert len(alerts.received()) == 1
    [record] = alerts.items()
    assert record["status"]["S"] == "SENT" and record["message_id"]["S"]


def test_concurrent_looks_publish_once(athena, alerts, context):
    """Eight threads look at the same FAILED session at once: the conditional claim lets one publish."""
    from concurrent.futures import ThreadPoolExecutor

    from session_monitor import monitor

    for _ in range(8):
        athena.add_response("get_session", get_session_response("s-5", "FAILED"), {"SessionId": "s-5"})
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: monitor.check_session("s-5").state, range(8)))
    assert results == ["FAILED"] * 8
    assert len(alerts.received()) == 1


def test_logs_carry_the_correlation_id_and_no_role_or_key(athena, alerts, context, caplog):
    from session_monitor.observability import logger

    athena.add_response("get_session", get_session_response("s-6", "FAILED"), {"SessionId": "s-6"})
    event = session_check_event("s-6")
    with caplog.at_level("DEBUG"):
        handler(event, context)
    # The JSON lines exactly as Powertools writes them to CloudWatch Logs.
    logs = [json.loads(logger.registered_formatter.format(record)) for record in caplog.records]
    assert len(logs) >= 2 and all(line["correlation_id"] == event["id"] for line in logs)
    text = json.dumps(logs)
    assert "AthenaSparkRole" not in text and "arn:aws:kms" not in text


def test_metrics_count_sessions_by_state_alerts_and_cold_start(athena, alerts, context, capsys):
    athena.add_response("get_session", get_session_response("s-8", "DEGRADED"), {"SessionId": "s-8"})
    handler({"SessionId": "s-8"}, context)
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    by_name = {}
    for blob in blobs:
        for metric in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            by_name.setdefault(metric["Name"], []).append(blob)
    assert by_name["SessionsSeen"][0]["State"] == "DEGRADED"
    assert by_name["AlertsPublished"][0]["AlertsPublished"] == [1.0]
    assert by_name["AlertsPublished"][0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "AthenaSessionMonitor"


def test_error_metrics_are_counted_by_kind(athena, alerts, context, capsys):
    from tests.helpers import api_event

    handler(api_event("/sessions/" + "x" * 300), context)
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(blob.get("Kind") == "InvalidInput" and blob.get("Errors") == [1.0] for blob in blobs)


def test_the_fixture_events_are_real_shapes():
    scheduled = load_event("scheduled_event.json")
    assert scheduled["source"] == "aws.events" and scheduled["detail-type"] == "Scheduled Event"
