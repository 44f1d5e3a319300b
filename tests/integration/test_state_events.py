"""State-change events through the real handler, read back as a consumer would: EventBridge
(moto) -> a rule -> an SQS queue. Athena is the emulator over HTTP or botocore's Stubber."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

import session_contract as contract
from local_mode.athena_emulator import FIXED_START
from local_mode.moto_server import EventInbox, create_event_inbox, receive_events
from session_monitor import config, errors, monitor
from session_monitor.integration import clients, events, state_store
from tests.helpers import NOW, alert_id, api_event, get_session_response, scheduled_sweep

SCOPE_ACCOUNT, SCOPE_REGION = "123456789012", "us-east-1"


@pytest.fixture
def inbox(alerts: Any, monkeypatch: pytest.MonkeyPatch) -> EventInbox:
    """State-change events on moto's default bus, as the stack's default (stateChangeEvents "default")
    sends them, and a rule that copies them to a queue."""
    monkeypatch.setenv(contract.ENV_STATE_EVENTS_BUS, contract.STATE_EVENTS_DEFAULT_BUS)
    config.settings.cache_clear()
    return create_event_inbox(None)


def transitions(received: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    return [(e["detail"]["previous_state"], e["detail"]["state"]) for e in received]


def test_a_session_lifecycle_puts_one_event_per_change_and_none_for_sweeps_that_see_nothing_new(
    etl, alerts, inbox, context
):
    sid = etl.emulator.start_session(
        "etl",
        script=[
            (0, "CREATING", None),
            (30, "IDLE", None),
            (200, "BUSY", None),
            (400, "DEGRADED", "no healthy coordinator"),
            (700, "FAILED", "the coordinator did not recover"),
        ],
    )
    seen: list[dict[str, Any]] = []
    for at in (60, 60, 260, 260, 460, 460, 760, 760):  # every look twice: the second sees nothing new
        etl.clock.advance(at - (etl.clock.now() - FIXED_START).total_seconds())
        scheduled_sweep(context)
        seen.append({"at": at, "events": receive_events(inbox)})

    assert [transitions(look["events"]) for look in seen] == [
        [(None, "IDLE")],
        [],
        [("IDLE", "BUSY")],
        [],
        [("BUSY", "DEGRADED")],
        [],
        [("DEGRADED", "FAILED")],
        [],
    ]
    received = [event for look in seen for event in look["events"]]
    for event in received:
        assert event["source"] == contract.STATE_EVENTS_SOURCE == "athena-session-monitor"
        assert event["detail-type"] == "Athena Spark Session State Change"
        detail = event["detail"]
        assert detail["version"] == "1"
        assert (detail["account"], detail["region"]) == (SCOPE_ACCOUNT, SCOPE_REGION)
        assert detail["session"]["session_id"] == sid and detail["session"]["workgroup"] == "etl"
        assert detail["session"]["state"] == detail["state"]
    idle, busy, degraded, failed = (e["detail"] for e in received)
    assert [d["severity"] for d in (idle, busy, degraded, failed)] == ["info", "info", "warning", "critical"]
    assert (idle["observed_by"], degraded["observed_by"], failed["observed_by"]) == ("listing", "get", "get")
    assert idle["episode_id"] is None and busy["episode_id"] is None
    # The events name the episodes the SNS alerts are about: a consumer can join the two.
    alerted = {a["attributes"]["alert_id"] for a in alerts.received()}
    assert {degraded["episode_id"], failed["episode_id"]} == alerted
    assert failed["episode_id"] == alert_id(sid, "FAILED")
    assert failed["session"]["state_change_reason"] == "the coordinator did not recover"
    assert failed["session"]["dpu_hours"] is not None
    assert len({d["event_id"] for d in (idle, busy, degraded, failed)}) == 4


def test_an_api_read_is_a_look_too_and_a_second_read_of_the_same_state_puts_nothing(
    athena: Stubber, alerts, inbox, context
):
    from session_monitor.entry import handler

    busy = get_session_response("s-1", "BUSY", "etl", modified=NOW - timedelta(minutes=5))
    failed = get_session_response("s-1", "FAILED", "etl", modified=NOW - timedelta(minutes=1), reason="OOM")
    for answer in (busy, busy, failed, failed):
        athena.add_response("get_session", answer, {"SessionId": "s-1"})

    statuses = [handler(api_event("/sessions/s-1"), context)["statusCode"] for _ in range(4)]

    assert statuses == [200] * 4
    # The second BUSY read puts nothing; nor does the second FAILED one, though the ledger forgot
    # the session once its end was reported: its alert record says an earlier look handled it.
    assert transitions(receive_events(inbox)) == [(None, "BUSY"), ("BUSY", "FAILED")]
    assert [a["attributes"]["state"] for a in alerts.received()] == ["FAILED"]


def test_a_look_that_dies_after_putting_and_before_saving_puts_the_same_event_again(
    etl, alerts, inbox, context, monkeypatch
):
    """At least once: the event goes out before the view that records the new state is saved."""
    etl.emulator.start_session("etl", script=[(0, "CREATING", None), (30, "IDLE", None)])
    etl.clock.advance(60)
    real_save = state_store.save_workgroup

    def dies(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the invocation was killed here")

    monkeypatch.setattr(state_store, "save_workgroup", dies)
    with pytest.raises(errors.SweepIncomplete):  # the workgroup's sweep died; Lambda retries it
        scheduled_sweep(context)
    monkeypatch.setattr(state_store, "save_workgroup", real_save)
    scheduled_sweep(context)
    scheduled_sweep(context)

    first, again = receive_events(inbox)
    assert transitions([first, again]) == [(None, "IDLE"), (None, "IDLE")]
    assert first["detail"]["event_id"] == again["detail"]["event_id"]  # a consumer drops the repeat
    assert first["id"] != again["id"]  # EventBridge's own id is per put: de-duplicate on detail.event_id


def test_a_bus_that_refuses_every_event_holds_up_no_alert_and_is_counted(
    etl, alerts, inbox, context, monkeypatch, capsys, caplog
):
    from session_monitor.observability import logger

    monkeypatch.setenv(contract.ENV_STATE_EVENTS_BUS, "no-such-bus")
    config.settings.cache_clear()
    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (30, "FAILED", "bad image")])
    etl.clock.advance(60)

    with caplog.at_level("INFO"):
        report = scheduled_sweep(context)

    assert [a["attributes"]["alert_id"] for a in alerts.received()] == [alert_id(sid, "FAILED")]
    assert report["state_events_failed"] == 1 and report["state_events_put"] == 0
    assert receive_events(inbox) == []
    out = capsys.readouterr().out
    metrics = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    failed = [m[contract.METRIC_STATE_EVENTS_FAILED] for m in metrics if contract.METRIC_STATE_EVENTS_FAILED in m]
    assert failed in ([1], [[1]], [1.0], [[1.0]])  # one data point of 1 (EMF may list values)
    logs = [json.loads(logger.registered_formatter.format(record)) for record in caplog.records]
    warning = next(log for log in logs if log["message"] == "state-change events not put")
    assert warning["errors"] == ["ResourceNotFoundException"] and len(warning["event_ids"]) == 1
    assert "no-such-bus" not in json.dumps(warning)  # AWS's text (it names the bus) stays out of the log


def test_an_api_read_answers_and_alerts_though_the_bus_refuses_the_event(
    athena: Stubber, alerts, inbox, context, monkeypatch
):
    from session_monitor.entry import handler

    monkeypatch.setenv(contract.ENV_STATE_EVENTS_BUS, "no-such-bus")
    config.settings.cache_clear()
    athena.add_response("get_session", get_session_response("s-1", "FAILED", "etl", reason="OOM"), {"SessionId": "s-1"})
    response = handler(api_event("/sessions/s-1"), context)
    assert response["statusCode"] == 200 and json.loads(response["body"])["state"] == "FAILED"
    assert [a["attributes"]["state"] for a in alerts.received()] == ["FAILED"]


def test_no_event_bus_configured_puts_no_event(etl, alerts, context):
    inbox = create_event_inbox(None)  # a consumer's rule, but the stack said stateChangeEvents "off"
    etl.emulator.start_session("etl", script=[(0, "CREATING", None), (30, "FAILED", "bad image")])
    etl.clock.advance(60)
    scheduled_sweep(context)
    assert receive_events(inbox) == [] and len(alerts.received()) == 1


def test_the_readme_rule_sends_the_failed_sessions_of_one_workgroup_and_nothing_else(
    emulated_athena, alerts, inbox, context, monkeypatch
):
    from infra.state_events import failed_sessions_pattern
    from session_monitor import clock

    monkeypatch.setenv("WATCHED_WORKGROUPS", "etl,science")
    config.settings.cache_clear()
    monkeypatch.setattr(clock, "utc_now", emulated_athena.clock.now)
    for name in ("etl", "science"):
        emulated_athena.emulator.add_workgroup(name)
    failures = create_event_inbox(
        None, pattern=failed_sessions_pattern("etl"), rule_name="etl-failures", queue_name="etl-failures"
    )
    etl_failed = emulated_athena.emulator.start_session("etl", script=[(0, "CREATING", None), (30, "FAILED", "x")])
    emulated_athena.emulator.start_session("etl", script=[(0, "CREATING", None), (30, "IDLE", None)])
    emulated_athena.emulator.start_session("science", script=[(0, "CREATING", None), (30, "FAILED", "y")])
    emulated_athena.clock.advance(60)

    scheduled_sweep(context)

    routed = receive_events(failures)
    assert [(e["detail"]["session"]["session_id"], e["detail"]["state"]) for e in routed] == [(etl_failed, "FAILED")]
    assert len(receive_events(inbox)) == 3  # the catch-all rule saw all three


# --- the adapter: batches of ten, retries of the refused entries only -------------------------


def entries(count: int) -> list[dict[str, Any]]:
    return [
        {
            "Source": contract.STATE_EVENTS_SOURCE,
            "DetailType": contract.STATE_EVENTS_DETAIL_TYPE,
            "Detail": json.dumps({"event_id": f"e-{i}"}),
            "EventBusName": "default",
            "Time": NOW,
        }
        for i in range(count)
    ]


def test_a_refused_entry_is_sent_again_alone_and_the_accepted_ones_are_not(alerts, monkeypatch):
    monkeypatch.setattr(events, "BACKOFF_SECONDS", 0)
    sent = entries(12)
    stubber = Stubber(clients.client("events"))
    stubber.add_response(
        "put_events",
        {
            "FailedEntryCount": 2,
            "Entries": [{"EventId": f"id-{i}"} for i in range(3)]
            + [{"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}]
            + [{"EventId": f"id-{i}"} for i in range(4, 9)]
            + [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}],
        },
        {"Entries": sent[:10]},
    )
    stubber.add_response(
        "put_events",
        {"FailedEntryCount": 0, "Entries": [{"EventId": "a"}, {"EventId": "b"}]},
        {"Entries": [sent[3], sent[9]]},
    )
    stubber.add_response(
        "put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "c"}, {"EventId": "d"}]}, {"Entries": sent[10:]}
    )
    with stubber:
        result = events.put_events(sent)
        stubber.assert_no_pending_responses()
    assert result.put == 12 and result.failed == []


def test_an_entry_refused_on_every_attempt_is_reported_with_its_code_after_three(alerts, monkeypatch):
    monkeypatch.setattr(events, "BACKOFF_SECONDS", 0)
    sent = entries(2)
    stubber = Stubber(clients.client("events"))
    stubber.add_response(
        "put_events",
        {"FailedEntryCount": 1, "Entries": [{"EventId": "ok"}, {"ErrorCode": "ThrottlingException"}]},
        {"Entries": sent},
    )
    for _ in range(2):
        stubber.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException"}]},
            {"Entries": [sent[1]]},
        )
    with stubber:
        result = events.put_events(sent)
        stubber.assert_no_pending_responses()
    assert result.put == 1 and result.failed == [(1, "ThrottlingException")]


def test_a_denied_call_fails_its_entries_by_name_without_raising(alerts):
    stubber = Stubber(clients.client("events"))
    stubber.add_client_error("put_events", "AccessDeniedException", "User arn:aws:iam::1:role/x is not authorized")
    with stubber:
        result = events.put_events(entries(3))
    assert result.put == 0 and result.failed == [(0, "AccessDenied"), (1, "AccessDenied"), (2, "AccessDenied")]


def test_announce_counts_what_it_could_not_put_and_never_raises(alerts):
    stubber = Stubber(clients.client("events"))
    stubber.add_client_error("put_events", "InternalException", http_status_code=500)
    with stubber:
        assert monitor.announce(entries(1)) == (0, 1)
    assert monitor.announce([]) == (0, 0)
