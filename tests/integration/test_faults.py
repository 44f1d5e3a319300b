"""Faults in every dependency: the outcome a user relies on, for each one.

Athena over real HTTP (the emulator's fault injection), SNS/SQS/DynamoDB in moto.
"""

from __future__ import annotations

import copy
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import boto3
import pytest
from botocore.config import Config

from local_mode.athena_emulator import FIXED_START
from session_monitor import clock, errors, sweep
from session_monitor.entry import handler
from tests.helpers import alert_id, api_event, load_event


@pytest.fixture
def etl(emulated_athena, monkeypatch):
    from session_monitor import config

    emulated_athena.emulator.add_workgroup("etl")
    monkeypatch.setenv("WATCHED_WORKGROUPS", "etl")
    config.settings.cache_clear()
    monkeypatch.setattr(clock, "utc_now", emulated_athena.clock.now)
    return emulated_athena


def test_a_slow_athena_is_a_504_not_a_hang(etl, context, monkeypatch):
    from session_monitor.integration import clients

    monkeypatch.setattr(
        clients,
        "CLIENT_CONFIG",
        Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1, read_timeout=0.5),
    )
    clients.reset()
    sid = etl.emulator.start_session("etl")
    etl.emulator.inject_fault(session_id=sid, operation="GetSession", kind="slow", delay_seconds=1.5, times=None)
    response = handler(api_event(f"/sessions/{sid}"), context)
    assert response["statusCode"] == 504
    assert json.loads(response["body"])["error"] == "AthenaTimeout"


def test_a_throttling_storm_during_a_sweep_fails_only_that_work_and_it_is_redone(etl, alerts, context):
    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (20, "IDLE", None), (100, "FAILED", "boom")])
    etl.clock.advance(60)
    handler(load_event("scheduled_event.json"), context)
    etl.clock.advance(60)
    etl.emulator.inject_fault(session_id=sid, operation="GetSession", kind="throttle", times=None)
    with pytest.raises(errors.SweepIncomplete, match="AthenaThrottled"):
        handler(load_event("scheduled_event.json"), context)
    assert alerts.received() == []
    etl.emulator.clear_faults()
    handler(load_event("scheduled_event.json"), context)
    assert [a["attributes"]["alert_id"] for a in alerts.received()] == [alert_id(sid, "FAILED")]


def test_a_dynamodb_outage_fails_the_direct_check_and_loses_nothing(etl, alerts, context, monkeypatch):
    from session_monitor import config

    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (20, "DEGRADED", "x")])
    etl.clock.advance(60)
    monkeypatch.setenv("STATE_TABLE_NAME", "table-that-is-down")
    config.settings.cache_clear()
    with pytest.raises(errors.StateStoreUnavailable):
        handler({"SessionId": sid}, context)
    assert alerts.received() == []  # nothing published without a claim
    # the API still answers the state, and says nothing it cannot guarantee
    response = handler(api_event(f"/sessions/{sid}"), context)
    assert response["statusCode"] == 200

    monkeypatch.setenv("STATE_TABLE_NAME", alerts.table)
    config.settings.cache_clear()
    handler({"SessionId": sid}, context)  # the retry
    handler({"SessionId": sid}, context)
    assert [a["attributes"]["alert_id"] for a in alerts.received()] == [
        alert_id(sid, "DEGRADED", FIXED_START + timedelta(seconds=20))
    ]


def test_overlapping_sweeps_and_concurrent_api_requests_alert_each_change_once(etl, alerts, context):
    """Load on loopback, bounded: 3 overlapping sweeps and 24 concurrent reads of the same failing
    sessions. Every (session, state) is alerted exactly once.

    Lambda runs one invocation at a time per container, and Powertools' resolver and Logger keep
    per-container state, so concurrent containers are modelled as threads running the use cases
    (what they share is DynamoDB and SNS, here moto); each thread is one container's invocation."""
    from session_monitor import monitor

    failing = [
        etl.emulator.start_session("etl", script=[(0, "CREATING", None), (20, "DEGRADED", "x"), (40, "FAILED", "y")])
        for _ in range(6)
    ]
    for _ in range(20):
        etl.emulator.start_session("etl", script=[(0, "CREATING", None), (20, "BUSY", None)])
    etl.clock.advance(30)
    handler(load_event("scheduled_event.json"), context)  # sees DEGRADED
    etl.clock.advance(30)
    start = threading.Barrier(27)

    def sweep_once(_):
        start.wait()
        try:
            return sweep.run_scheduled_sweep()
        except errors.SweepIncomplete:
            return None

    def read(index):
        start.wait()
        return monitor.check_session(failing[index % 6], raise_on_alert_failure=False).state

    with ThreadPoolExecutor(27) as pool:
        sweeps = [pool.submit(sweep_once, i) for i in range(3)]
        reads = [pool.submit(read, i) for i in range(24)]
        statuses = [r.result() for r in reads]
        [s.result() for s in sweeps]
    handler(load_event("scheduled_event.json"), context)  # whatever was in flight is settled
    assert statuses == ["FAILED"] * 24
    received = sorted(a["attributes"]["alert_id"] for a in alerts.received())
    assert received == sorted(
        [alert_id(s, "DEGRADED", FIXED_START + timedelta(seconds=20)) for s in failing]
        + [alert_id(s, "FAILED") for s in failing]
    )


def test_logs_at_info_hold_no_credentials_role_arns_keys_or_raw_responses(etl, alerts, context, caplog):
    from session_monitor.observability import logger

    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (20, "FAILED", "Spark driver crashed")])
    etl.clock.advance(60)
    with caplog.at_level("INFO"):
        handler(load_event("scheduled_event.json"), context)
        handler(api_event(f"/sessions/{sid}"), context)
        handler(api_event("/sessions/" + "x" * 300), context)
        etl.emulator.inject_fault(operation="GetSession", kind="internal", times=None)
        handler(api_event(f"/sessions/{sid}"), context)
    text = "\n".join(logger.registered_formatter.format(r) for r in caplog.records if r.levelno >= 20)
    assert sid in text  # the logs are useful...
    for secret in (
        "testing",
        "AWS_SECRET",
        "arn:aws:iam::",
        ":role/",
        "arn:aws:kms",
        "ExecutionRole",
        "SessionConfiguration",
        "EngineConfiguration",
        "DpuExecutionInMillis",
    ):
        assert secret not in text, secret  # ...and hold nothing sensitive or raw


def test_error_bodies_never_echo_aws_exception_text(etl, context):
    etl.emulator.inject_fault(operation="GetSession", kind="internal", times=None)
    response = handler(api_event("/sessions/whatever"), context)
    assert response["statusCode"] == 502
    assert json.loads(response["body"]) == {
        "error": "AthenaUnavailable",
        "message": "Athena had an internal error; retry later",
        "retryable": True,
    }


def test_the_subscribed_queue_sees_filterable_attributes(etl, alerts, context):
    """A subscriber filtering on severity gets only what it asked for (SNS filter policy in moto)."""
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="critical-only")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=alerts.topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"FilterPolicy": json.dumps({"severity": ["critical"]})},
    )
    degraded = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (20, "DEGRADED", "x")])
    failed = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (20, "FAILED", "y")])
    etl.clock.advance(60)
    handler({"SessionId": degraded}, context)
    handler({"SessionId": failed}, context)
    bodies = [
        json.loads(json.loads(m["Body"])["Message"])
        for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    ]
    assert [b["session_id"] for b in bodies] == [failed]


def test_an_invocation_that_ends_in_the_on_failure_queue_can_be_redriven_and_alerts_once(
    etl, alerts, context, monkeypatch
):
    """SNS down for longer than Lambda's two async retries: the scheduled event lands in the
    on-failure destination with its named error; redriving its requestPayload sends the alert once."""
    from session_monitor import config

    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (20, "DEGRADED", "x")])
    etl.clock.advance(60)
    event = load_event("scheduled_event.json")
    monkeypatch.setenv("ALERTS_TOPIC_ARN", alerts.topic_arn + "-down")
    config.settings.cache_clear()
    failures = []
    for _attempt in range(3):  # the invocation and Lambda's two retries
        try:
            handler(copy.deepcopy(event), context)
        except errors.SessionMonitorError as error:
            failures.append(type(error).__name__)
    assert failures == ["SweepIncomplete"] * 3
    # What Lambda writes to the on-failure destination (abridged to the fields a redrive uses).
    record = {
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": event,
        "responsePayload": {"errorType": failures[-1]},
    }
    assert alerts.received() == [] and [i for i in alerts.items() if i["sk"]["S"].startswith("ALERT#")] == []

    monkeypatch.setenv("ALERTS_TOPIC_ARN", alerts.topic_arn)
    config.settings.cache_clear()
    handler(record["requestPayload"], context)  # the operator redrives the queue
    handler(record["requestPayload"], context)  # ...and by mistake a second time
    assert [a["attributes"]["alert_id"] for a in alerts.received()] == [
        alert_id(sid, "DEGRADED", FIXED_START + timedelta(seconds=20))
    ]
