"""Every botocore failure leaves the function as one of the documented error classes.

AccessDenied is the first thing that breaks after a deploy, so it has a name of its own and its
message names the action and the resource (built from what we asked, never from AWS's text).
Step Functions callers see the class name (Lambda's errorType); the API a 5xx with a JSON body.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber

from session_monitor import errors
from session_monitor.entry import handler
from session_monitor.integration import aws_errors, clients
from tests.helpers import api_event, get_session_response


def test_athena_access_denied_names_the_action_and_session_for_callers_and_the_api(athena, alerts, context):
    athena.add_client_error(
        "get_session",
        "AccessDeniedException",
        "User: arn:aws:sts::123456789012:x is not authorized",
        400,
        expected_params={"SessionId": "s-1"},
    )
    with pytest.raises(errors.AccessDenied) as raised:
        handler({"SessionId": "s-1"}, context)
    assert type(raised.value).__name__ == "AthenaAccessDenied"  # the stable name Step Functions match
    assert "athena:GetSession" in raised.value.message and "session s-1" in raised.value.message
    assert "arn:" not in raised.value.message

    athena.add_client_error("get_session", "AccessDeniedException", "denied", 400, expected_params={"SessionId": "s-1"})
    response = handler(api_event("/sessions/s-1"), context)
    body = json.loads(response["body"])
    assert response["statusCode"] == 502
    assert body["error"] == "AthenaAccessDenied" and body["retryable"] is False
    assert "athena:GetSession" in body["message"]


def test_a_denied_publish_is_access_denied_on_the_alerts_topic(athena, alerts, context):
    athena.add_response("get_session", get_session_response("s-1", "FAILED"), {"SessionId": "s-1"})
    with Stubber(clients.client("sns")) as sns:
        sns.add_client_error("publish", "AuthorizationError", "not authorized", 403)
        with pytest.raises(errors.AccessDenied, match="sns:Publish on the alerts topic"):
            handler({"SessionId": "s-1"}, context)
    assert [i for i in alerts.items() if i["sk"]["S"].startswith("ALERT#")] == []  # the claim was released


def test_a_denied_table_is_access_denied_naming_the_dynamodb_call(athena, alerts, context):
    athena.add_response("get_session", get_session_response("s-1", "FAILED"), {"SessionId": "s-1"})
    with Stubber(clients.client("dynamodb")) as dynamodb:
        dynamodb.add_client_error("query", "AccessDeniedException", "not authorized", 400)
        with pytest.raises(errors.AccessDenied, match="dynamodb:Query on the state table"):
            handler({"SessionId": "s-1"}, context)


def test_no_credentials_is_credentials_unavailable_not_a_stack_trace(alerts, context, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", "http://127.0.0.1:9")  # never reached: nothing to sign with
    clients.reset()
    with pytest.raises(errors.CredentialsUnavailable, match="athena:GetSession"):
        handler({"SessionId": "s-1"}, context)
    response = handler(api_event("/sessions/s-1"), context)
    assert response["statusCode"] == 502 and json.loads(response["body"])["error"] == "CredentialsUnavailable"


def test_an_unreachable_endpoint_is_athena_unavailable(alerts, context, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", "http://127.0.0.1:9")
    clients.reset()
    with pytest.raises(errors.AthenaUnavailable):
        handler({"SessionId": "s-1"}, context)


def test_a_request_botocore_refuses_to_send_is_invalid_parameter():
    refused = aws_errors.named(
        ParamValidationError(report="Invalid length for parameter SessionId"), "athena:GetSession", "session ''"
    )
    assert isinstance(refused, errors.InvalidParameter) and refused.status_code == 400
    assert "athena:GetSession" in refused.message
