"""The HTTP API through the real Lambda entry point, with API Gateway REST proxy events."""

from __future__ import annotations

import json

import pytest

from session_monitor.entry import handler
from session_monitor.model import ALL_STATES
from tests.helpers import alert_id, api_event, get_session_response


def call(event, context):
    response = handler(event, context)
    return response["statusCode"], json.loads(response["body"]), response


@pytest.mark.parametrize("state", ALL_STATES)
def test_get_session_answers_the_normalised_session_for_every_state(athena, alerts, context, state):
    athena.add_response("get_session", get_session_response("s-1", state), {"SessionId": "s-1"})
    status, body, response = call(api_event("/sessions/s-1"), context)
    assert status == 200
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"]
    assert body["session_id"] == "s-1" and body["state"] == state
    assert body["is_terminal"] is (state in ("TERMINATED", "FAILED"))
    sent = alerts.received()
    if state in ("TERMINATED", "FAILED", "DEGRADED"):
        assert [a["attributes"]["state"] for a in sent] == [state]
        assert sent[0]["body"]["session_id"] == "s-1"
    else:
        assert sent == []


def test_looking_twice_at_a_failed_session_alerts_once(athena, alerts, context):
    for _ in range(3):
        athena.add_response("get_session", get_session_response("s-1", "FAILED"), {"SessionId": "s-1"})
        assert call(api_event("/sessions/s-1"), context)[0] == 200
    sent = alerts.received()
    assert len(sent) == 1
    assert sent[0]["subject"] == "[CRITICAL] Athena Spark session FAILED in analytics: s-1"
    assert sent[0]["attributes"] == {
        "state": "FAILED",
        "severity": "critical",
        "workgroup": "analytics",
        "session_id": "s-1",
        "alert_id": alert_id("s-1", "FAILED"),
        "account": "123456789012",
        "region": "us-east-1",
    }


def test_too_long_session_id_is_a_400_and_never_reaches_athena(athena, alerts, context):
    status, body, _ = call(api_event("/sessions/" + "x" * 257), context)
    assert status == 400
    assert body["error"] == "InvalidInput" and "session_id" in body["message"]


@pytest.mark.parametrize("code", ["ResourceNotFoundException", "InvalidRequestException"])
def test_unknown_session_is_a_404_whichever_code_athena_uses(athena, alerts, context, code):
    athena.add_client_error("get_session", code, "Session abc is not found", 400, expected_params={"SessionId": "abc"})
    status, body, _ = call(api_event("/sessions/abc"), context)
    assert status == 404
    assert body == {"error": "SessionNotFound", "message": "session not found", "retryable": False}


def test_throttling_that_outlasts_the_retries_is_a_503_with_a_json_body(athena, alerts, context):
    # Stubber answers before botocore's retry handler, so this is the error after the retries;
    # the retries themselves are exercised over HTTP against the emulator (tests/local).
    athena.add_client_error("get_session", "ThrottlingException", "Rate exceeded", 400)
    status, body, _ = call(api_event("/sessions/s-1"), context)
    assert status == 503
    assert body["error"] == "AthenaThrottled" and body["retryable"] is True
    assert "Rate exceeded" not in json.dumps(body)


def test_internal_server_error_is_a_502(athena, alerts, context):
    athena.add_client_error("get_session", "InternalServerException", "boom at arn:aws:iam::123456789012:role/x", 500)
    status, body, _ = call(api_event("/sessions/s-1"), context)
    assert status == 502
    assert body["error"] == "AthenaUnavailable" and "arn:aws" not in json.dumps(body)


def test_access_denied_is_a_502_saying_so(athena, alerts, context):
    athena.add_client_error(
        "get_session", "AccessDeniedException", "User: arn:aws:sts::1:assumed-role/x is not authorized", 400
    )
    status, body, _ = call(api_event("/sessions/s-1"), context)
    assert (status, body["error"], body["retryable"]) == (502, "AthenaAccessDenied", False)
    assert "assumed-role" not in body["message"]


def test_an_unexpected_bug_is_a_json_500_without_a_stack_trace(athena, alerts, context, monkeypatch):
    from session_monitor.integration import athena as athena_adapter

    def broken(_session_id):
        raise KeyError("Status")

    monkeypatch.setattr(athena_adapter, "get_session", broken)
    status, body, _ = call(api_event("/sessions/s-1"), context)
    assert status == 500
    assert body == {"error": "InternalError", "message": "internal error", "retryable": True}


def test_sns_failure_still_answers_and_the_next_look_sends_the_alert(athena, alerts, context, monkeypatch):
    athena.add_response("get_session", get_session_response("s-1", "FAILED"), {"SessionId": "s-1"})
    monkeypatch.setenv("ALERTS_TOPIC_ARN", alerts.topic_arn + "-deleted")
    from session_monitor import config

    config.settings.cache_clear()
    status, body, _ = call(api_event("/sessions/s-1"), context)
    assert (status, body["state"]) == (200, "FAILED")
    assert alerts.received() == [] and alerts.items() == []  # nothing recorded as sent

    monkeypatch.setenv("ALERTS_TOPIC_ARN", alerts.topic_arn)
    config.settings.cache_clear()
    athena.add_response("get_session", get_session_response("s-1", "FAILED"), {"SessionId": "s-1"})
    assert call(api_event("/sessions/s-1"), context)[0] == 200
    assert [a["attributes"]["alert_id"] for a in alerts.received()] == [alert_id("s-1", "FAILED")]


def test_list_sessions_pages_through_a_workgroup(athena, alerts, context):
    from tests.helpers import NOW

    page = {
        "Sessions": [
            {
                "SessionId": "a",
                "Status": {"State": "IDLE", "StartDateTime": NOW},
                "NotebookVersion": "Athena notebook version 1",
                "EngineVersion": {
                    "SelectedEngineVersion": "PySpark engine version 3",
                    "EffectiveEngineVersion": "PySpark engine version 3",
                },
            },
            {"SessionId": "b", "Status": {"State": "BUSY"}},
        ],
        "NextToken": "tok-2",
    }
    athena.add_response("list_sessions", page, {"WorkGroup": "analytics", "MaxResults": 2})
    athena.add_response(
        "list_sessions",
        {"Sessions": [{"SessionId": "c", "Status": {"State": "CREATING"}}]},
        {"WorkGroup": "analytics", "MaxResults": 2, "NextToken": "tok-2"},
    )
    status, body, _ = call(api_event("/sessions", {"workgroup": "analytics", "max_results": "2"}), context)
    assert status == 200
    assert [s["session_id"] for s in body["sessions"]] == ["a", "b"] and body["next_token"] == "tok-2"
    assert body["sessions"][0]["workgroup"] == "analytics"
    assert body["sessions"][0]["engine_version"] == "PySpark engine version 3"
    assert body["sessions"][0]["started_at"] == "2026-11-26T12:00:00Z"
    status, body, _ = call(
        api_event("/sessions", {"workgroup": "analytics", "max_results": "2", "next_token": "tok-2"}), context
    )
    assert [s["session_id"] for s in body["sessions"]] == ["c"] and body["next_token"] is None
    assert alerts.received() == []  # listing is a read: it never alerts


@pytest.mark.parametrize(
    "query",
    [
        None,
        {"workgroup": "bad name"},
        {"workgroup": "a", "max_results": "0"},
        {"workgroup": "a", "max_results": "many"},
    ],
)
def test_bad_list_parameters_are_400(athena, alerts, context, query):
    status, body, _ = call(api_event("/sessions", query), context)
    assert status == 400 and body["error"] == "InvalidInput"


def test_unknown_workgroup_is_404(athena, alerts, context):
    athena.add_client_error("list_sessions", "InvalidRequestException", "WorkGroup nope is not found", 400)
    status, body, _ = call(api_event("/sessions", {"workgroup": "nope"}), context)
    assert (status, body["error"]) == (404, "WorkgroupNotFound")


@pytest.mark.parametrize("method,path", [("GET", "/nowhere"), ("POST", "/sessions/s-1"), ("DELETE", "/sessions")])
def test_unknown_routes_and_methods_get_a_json_404(athena, alerts, context, method, path):
    status, body, _ = call(api_event(path, method=method), context)
    assert status == 404 and body["error"] == "RouteNotFound"


def test_the_openapi_schema_documents_both_routes():
    from session_monitor import api

    schema = api.app.get_openapi_schema().model_dump(mode="json", by_alias=True, exclude_none=True)
    assert set(schema["paths"]) == {"/sessions/{session_id}", "/sessions"}
    session_schema = schema["components"]["schemas"]["Session"]["properties"]
    assert {"session_id", "state", "severity", "dpu_hours", "estimated_cost_usd"} <= set(session_schema)
