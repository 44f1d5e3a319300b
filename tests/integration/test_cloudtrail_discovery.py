"""Learning of sessions from Athena's CloudTrail records, through the real handler.

Athena is the emulator over loopback (it keeps the CloudTrail records of its StartSession and
TerminateSession calls, shaped as in the Athena user guide); SNS, SQS and DynamoDB are moto. The
user guide's own two example records ("Using CloudTrail to troubleshoot Athena notebook API
calls") are tests/events/cloudtrail_*_session.json: the input transformer of the stack's rule is
applied to them as EventBridge documents it (local_mode.cloudtrail.transform), and the function must
answer the transformed event exactly as it answers the raw one. The
follow-up queue's delay is real SQS DelaySeconds: the tests read the delay moto recorded, then let
it pass (moto waits in real time) and deliver the messages as Lambda's SQS event source would.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

import session_contract as contract
from local_mode.cloudtrail import (
    UNFILLED_EMPTY,
    UNFILLED_KEPT,
    delivered_event,
    eventbridge_event,
    failed_record,
    transform,
)
from session_monitor.entry import ROUTES, handler
from tests.helpers import load_event, scheduled_sweep

REGION = "us-east-1"


@pytest.fixture
def follow_ups(etl: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The follow-up queue, as the stack creates it, wired into the function's environment."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="athena-session-monitor-follow-ups")["QueueUrl"]
    monkeypatch.setenv("FOLLOW_UP_QUEUE_URL", url)
    from session_monitor import config

    config.settings.cache_clear()
    return FollowUps(sqs, url)


class FollowUps:
    def __init__(self, sqs: Any, url: str) -> None:
        self.sqs, self.url = sqs, url

    def pending(self) -> list[tuple[dict[str, Any], int]]:
        """Every queued message with its DelaySeconds, made deliverable (the delay has passed)."""
        from moto.sqs.models import sqs_backends

        queue = sqs_backends["123456789012"][REGION].queues["athena-session-monitor-follow-ups"]
        delays = {}
        for message in queue._messages:
            delays[message.id] = round((message.delayed_until - message.sent_timestamp) / 1000)
            message.delayed_until = 0  # the delay has passed
        received = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
        return [(m, delays.get(m["MessageId"], 0)) for m in received]

    def deliver(self, context: Any) -> list[int]:
        """Hand every queued message to the function in one SQS batch; returns their delays."""
        pending = self.pending()
        if not pending:
            return []
        batch = load_event("sqs_batch.json")
        template = batch["Records"][0]
        batch["Records"] = [dict(template, messageId=m["MessageId"], body=m["Body"]) for m, _ in pending]
        assert handler(batch, context) == {"batchItemFailures": []}
        for message, _ in pending:
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return [delay for _, delay in pending]


def feed_trail(etl: Any, context: Any, times: int = 1) -> list[Any]:
    """What EventBridge does with each new CloudTrail record: invoke the function (``times`` each)."""
    return [handler(eventbridge_event(record), context) for record in etl.emulator.drain_trail() for _ in range(times)]


def states(alerts: Any) -> list[tuple[str, str]]:
    return [(a["attributes"]["session_id"], a["attributes"]["state"]) for a in alerts.received()]


def test_a_session_that_starts_and_fails_before_any_sweep_is_alerted_once_though_no_listing_shows_it(
    etl, alerts, context
):
    etl.emulator.filtered_lists_finished = False  # the undocumented listing answers nothing finished
    scheduled_sweep(context)  # the workgroup's first sweep: nothing there yet
    etl.clock.advance(30)
    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (40, "FAILED", "bad image")])
    [answer] = feed_trail(etl, context)
    assert answer == {"watching": sid, "workgroup": "etl"}
    etl.clock.advance(270)
    report = scheduled_sweep(context)
    assert states(alerts) == [(sid, "FAILED")]
    assert report["get_session_calls"] == 1
    scheduled_sweep(context)
    assert alerts.received() == []


def test_a_failure_at_start_up_is_caught_by_the_delayed_first_check_before_any_sweep(etl, alerts, context, follow_ups):
    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (60, "FAILED", "no capacity")])
    feed_trail(etl, context)
    etl.clock.advance(180)
    assert follow_ups.deliver(context) == [180]
    assert states(alerts) == [(sid, "FAILED")]


def test_a_terminate_session_record_leads_to_the_terminated_alert_with_no_sweep_between(
    etl, alerts, context, follow_ups
):
    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (5, "IDLE", None)])
    etl.clock.advance(60)
    etl.emulator.drain_trail()  # its start is not the point here
    etl.emulator.terminate_session(sid)
    [answer] = feed_trail(etl, context)
    assert answer == {"checked": sid, "state": "TERMINATING"}
    assert alerts.received() == []
    etl.clock.advance(30)  # the emulator ends a termination after 4 s
    assert follow_ups.deliver(context) == [30]
    assert states(alerts) == [(sid, "TERMINATED")]
    assert follow_ups.deliver(context) == []  # ended: nothing more queued


@pytest.mark.parametrize(
    "record",
    [
        failed_record("StartSession", {"workGroup": "etl"}),
        failed_record("TerminateSession", {"sessionId": "s-1"}, "ResourceNotFoundException"),
        {"eventSource": "athena.amazonaws.com", "eventName": "StartQueryExecution", "requestParameters": {}},
        {"eventSource": "athena.amazonaws.com", "eventName": "StartSession", "responseElements": {}},
        {"eventName": "StartSession", "requestParameters": "not a map", "responseElements": ["nor", "this"]},
    ],
)
def test_failed_calls_other_calls_and_odd_records_do_nothing_and_raise_nothing(etl, alerts, context, record):
    calls_before = dict(etl.calls)
    answer = handler(eventbridge_event(record), context)
    assert set(answer) == {"ignored"}
    assert dict(etl.calls) == calls_before and alerts.received() == [] and alerts.items() == []


def test_a_session_started_in_an_unwatched_workgroup_is_not_followed(etl, alerts, context):
    etl.emulator.add_workgroup("sandbox")
    etl.emulator.start_session("sandbox", script=[(0, "CREATING", None), (10, "FAILED", "x")])
    assert feed_trail(etl, context) == [{"ignored": "unwatched workgroup"}]
    etl.clock.advance(300)
    scheduled_sweep(context)
    assert alerts.received() == []
    assert not [item for item in alerts.items() if "sandbox" in item["pk"]["S"]]


def test_a_duplicated_event_and_an_event_racing_a_sweep_still_give_one_alert(etl, alerts, context, follow_ups):
    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (5, "IDLE", None)])
    feed_trail(etl, context, times=2)  # EventBridge delivers at least once
    etl.clock.advance(60)
    etl.emulator.terminate_session(sid)
    etl.clock.advance(10)  # TERMINATED by the time anything looks
    feed_trail(etl, context, times=2)
    scheduled_sweep(context)  # the sweep sees the same end
    follow_ups.deliver(context)
    scheduled_sweep(context)
    assert states(alerts) == [(sid, "TERMINATED")]


def test_the_follow_up_message_names_the_session_and_why(etl, alerts, context, follow_ups):
    sid = etl.emulator.start_session("etl")
    feed_trail(etl, context)
    [(message, delay)] = follow_ups.pending()
    assert json.loads(message["Body"]) == {"SessionId": sid, "reason": "start", "attempt": 1} and delay == 180


def test_a_start_event_costs_no_athena_call_and_a_terminate_event_one_get_session(etl, alerts, context, follow_ups):
    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (5, "IDLE", None)])
    before = dict(etl.calls)
    feed_trail(etl, context)
    assert dict(etl.calls) == before
    etl.clock.advance(60)
    etl.emulator.terminate_session(sid)
    feed_trail(etl, context)
    assert etl.calls["GetSession"] - before.get("GetSession", 0) == 1
    assert etl.calls["ListSessions"] == before.get("ListSessions", 0)


# --- what the rule delivers: the input transformer ------------------------------------------------

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GUIDE_SESSION_ID = "a2c1ebba-ad01-865f-ed2d-a142b7451f7e"  # the id in the user guide's examples
SHAPES = {
    "raw": lambda record: eventbridge_event(record),
    "transformed": lambda record: transform(eventbridge_event(record)),
    # If EventBridge left an unfilled placeholder's text in ("won't appear in the output" read the
    # other way), the function must still take it as absent.
    "transformed, placeholders kept": lambda record: transform(eventbridge_event(record), unfilled=UNFILLED_KEPT),
}


def guide_record(
    name: str, session_id: str = GUIDE_SESSION_ID, workgroup: str = "notebook-workgroup"
) -> dict[str, Any]:
    """The Athena user guide's example record, its session and workgroup swapped for the emulator's,
    and (StartSession) a credential in the engine configuration, as a user might put it there."""
    text = json.dumps(load_event(f"cloudtrail_{name}.json")).replace(GUIDE_SESSION_ID, session_id)
    record: dict[str, Any] = json.loads(text.replace('"notebook-workgroup"', json.dumps(workgroup)))
    if name == "start_session":
        record["requestParameters"]["engineConfiguration"]["sparkProperties"] = {
            "spark.hadoop.fs.s3a.secret.key": SECRET
        }
    return record


@pytest.mark.parametrize("name", ["start_session", "terminate_session"])
@pytest.mark.parametrize("unfilled", [UNFILLED_EMPTY, UNFILLED_KEPT])
def test_the_rules_input_carries_only_what_the_function_reads(name: str, unfilled: str) -> None:
    record = guide_record(name)
    delivered = transform(eventbridge_event(record), unfilled=unfilled)
    assert set(delivered) == {"version", "id", "source", "detail-type", "detail"}
    assert set(delivered["detail"]) == {
        "eventName",
        "eventSource",
        "errorCode",
        "requestParameters",
        "responseElements",
    }
    assert set(delivered["detail"]["requestParameters"]) == {"workGroup", "sessionId"}
    assert set(delivered["detail"]["responseElements"]) == {"sessionId", "state"}
    text = json.dumps(delivered)
    for left_out in (SECRET, "engineConfiguration", "userIdentity", "203.0.113", "clientRequestToken", "Admin"):
        assert left_out not in text
    route = next(r for r in ROUTES if r.matches(delivered))
    assert route.name == "cloudtrail api call"


def test_the_rule_delivers_no_failed_call_and_nothing_but_athenas_session_calls() -> None:
    assert delivered_event(failed_record("StartSession", {"workGroup": "etl"})) is None
    assert delivered_event(failed_record("TerminateSession", {"sessionId": 'x", "eventName": "StartSession'})) is None
    assert delivered_event({**guide_record("start_session"), "eventName": "StartQueryExecution"}) is None
    assert delivered_event(guide_record("start_session")) is not None


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_transformed_start_session_gets_the_same_answer_as_the_raw_record(
    etl: Any, alerts: Any, context: Any, follow_ups: Any, shape: str
) -> None:
    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (60, "FAILED", "no capacity")])
    etl.emulator.drain_trail()
    before = dict(etl.calls)
    answer = handler(SHAPES[shape](guide_record("start_session", sid, "etl")), context)
    assert answer == {"watching": sid, "workgroup": "etl"}
    assert dict(etl.calls) == before  # a start costs no Athena call, whatever the shape
    [(message, delay)] = follow_ups.pending()
    assert json.loads(message["Body"]) == {"SessionId": sid, "reason": "start", "attempt": 1} and delay == 180


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_transformed_terminate_session_gets_the_same_answer_as_the_raw_record(
    etl: Any, alerts: Any, context: Any, follow_ups: Any, shape: str
) -> None:
    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (5, "IDLE", None)])
    etl.clock.advance(60)
    etl.emulator.terminate_session(sid)
    etl.emulator.drain_trail()
    answer = handler(SHAPES[shape](guide_record("terminate_session", sid)), context)
    assert answer == {"checked": sid, "state": "TERMINATING"}
    [(message, delay)] = follow_ups.pending()
    assert json.loads(message["Body"])["reason"] == "terminate" and delay == contract.TERMINATE_RECHECK_SECONDS


@pytest.mark.parametrize("unfilled", [UNFILLED_EMPTY, UNFILLED_KEPT])
def test_a_transformed_record_that_names_no_session_is_ignored_like_the_raw_one(
    etl: Any, alerts: Any, context: Any, unfilled: str
) -> None:
    record = guide_record("start_session")
    del record["responseElements"]["sessionId"]  # the path is missing: its placeholder is not filled
    raw = handler(eventbridge_event(record), context)
    assert raw == handler(transform(eventbridge_event(record), unfilled=unfilled), context)
    assert raw == {"ignored": "StartSession record names no session"}
