"""The alert ledger's promise, case by case, through the real handler.

Each test names a way alerts were once lost or doubled (issue 10); Athena is the emulator over
loopback, SNS/SQS/DynamoDB are moto. The stateful test (test_ledger_stateful.py) hunts for the
cases nobody listed.
"""

from __future__ import annotations

import json
import threading

import pytest

from session_monitor.entry import handler
from tests.helpers import api_event, scheduled_sweep


def sweep(context):
    return scheduled_sweep(context)


def states(received):
    return [(a["attributes"]["session_id"], a["attributes"]["state"]) for a in received]


def test_a_session_that_starts_and_fails_between_two_sweeps_is_alerted_by_the_next(etl, alerts, context):
    """Case 1: the unfiltered listing shows active sessions only; the filtered one finds it."""
    sweep(context)
    etl.clock.advance(60)
    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (30, "FAILED", "driver OOM")])
    etl.clock.advance(240)  # failed and finished before the next sweep
    report = sweep(context)
    assert states(alerts.received()) == [(sid, "FAILED")]
    assert report["get_session_calls"] == 1
    sweep(context)
    assert alerts.received() == []


def test_a_degradation_that_recovers_and_comes_back_is_alerted_twice_with_a_recovery_between(etl, alerts, context):
    """Cases 2 and 8: once per episode, and RECOVERED names the DEGRADED alert it closes."""
    sid = etl.emulator.start_session(
        "etl",
        script=[
            (0, "CREATING", None),
            (10, "IDLE", None),
            (60, "DEGRADED", "no healthy coordinator"),
            (400, "IDLE", None),
            (700, "DEGRADED", "no healthy coordinator"),
            (1000, "BUSY", None),
        ],
        idle_timeout_minutes=480,
    )
    received = []
    for _ in range(5):
        etl.clock.advance(300)
        sweep(context)
        received += alerts.received()
    assert [a["attributes"]["state"] for a in received] == ["DEGRADED", "RECOVERED", "DEGRADED", "RECOVERED"]
    first, recovered, second, recovered_again = received
    assert first["attributes"]["alert_id"] != second["attributes"]["alert_id"]
    assert recovered["attributes"]["resolves_alert_id"] == first["attributes"]["alert_id"]
    assert recovered_again["attributes"]["resolves_alert_id"] == second["attributes"]["alert_id"]
    assert recovered["attributes"]["severity"] == "info"
    assert {a["attributes"]["session_id"] for a in received} == {sid}


@pytest.mark.parametrize("omitted", [{"EndDateTime", "LastModifiedDateTime"}])
def test_a_fresh_failure_with_no_end_or_modified_time_is_alerted_not_taken_for_history(etl, alerts, context, omitted):
    """Case 3: only a timestamp may prove an episode old; StartDateTime dates the session."""
    etl.emulator.omit_timestamps = omitted
    sid = etl.emulator.start_session(
        "etl",
        script=[(0, "CREATING", None), (10, "IDLE", None), (3 * 3600, "FAILED", "lost")],
        idle_timeout_minutes=480,
    )
    etl.clock.advance(3 * 3600 - 120)
    sweep(context)
    etl.clock.advance(300)
    sweep(context)
    [alert] = alerts.received()
    assert (alert["attributes"]["session_id"], alert["attributes"]["state"]) == (sid, "FAILED")
    assert alert["body"]["alert"]["began_at_source"] == "first_seen"
    assert handler({"SessionId": sid}, context)["state"] == "FAILED"
    sweep(context)
    assert alerts.received() == []  # first sight is remembered: no second alert


def test_a_new_degraded_session_whose_listing_lacks_last_modified_is_alerted(etl, alerts, context):
    """Case 3, the listing half: the listing entry has only StartDateTime, hours old."""
    etl.emulator.omit_timestamps_in_listings = {"LastModifiedDateTime"}
    sid = etl.emulator.start_session(
        "etl",
        script=[(0, "CREATING", None), (10, "IDLE", None), (2 * 3600, "DEGRADED", "no healthy coordinator")],
        idle_timeout_minutes=480,
    )
    etl.clock.advance(2 * 3600 + 60)
    sweep(context)
    assert states(alerts.received()) == [(sid, "DEGRADED")]


def test_an_alert_held_by_a_dead_claimant_is_sent_by_a_later_sweep_though_the_session_left_the_listing(
    etl, alerts, context, monkeypatch
):
    """Case 4: an IN_FLIGHT claim on a finished session keeps its view until the outcome is known."""
    from session_monitor.integration import sns

    sid = etl.emulator.start_session(
        "etl", script=[(0, "CREATING", None), (10, "IDLE", None), (400, "FAILED", "x")], idle_timeout_minutes=480
    )
    etl.clock.advance(60)
    sweep(context)  # sees it IDLE
    etl.clock.advance(400)
    real_publish = sns.publish_alert

    class Died(BaseException):
        pass

    def die(*_args, **_kwargs):
        raise Died()

    monkeypatch.setattr(sns, "publish_alert", die)
    with pytest.raises(Died):
        handler({"SessionId": sid}, context)  # a direct check claims, then its container dies
    monkeypatch.setattr(sns, "publish_alert", real_publish)
    report = sweep(context)  # inside the lease: the claim is someone else's
    assert alerts.received() == []
    etl.clock.advance(300)  # the lease ran out
    sweep(context)
    assert states(alerts.received()) == [(sid, "FAILED")]
    assert report.get("alerts_pending")  # the sweep inside the lease said so


def test_a_claim_made_late_in_a_long_sweep_holds_its_full_lease(etl, alerts, context, monkeypatch):
    """Case 6: a lease dated from the sweep's start would be born expired and a concurrent read
    would send the same alert again."""
    from session_monitor import monitor
    from session_monitor.integration import state_store

    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "DEGRADED", "x")])
    etl.clock.advance(60)
    real_fetch, real_confirm = monitor.fetch_session, state_store.confirm_alert

    def slow_fetch(session_id):
        etl.clock.advance(150)  # the sweep has run for 150 s when it reaches this session
        return real_fetch(session_id)

    class Died(BaseException):
        pass

    def die(*_args, **_kwargs):
        raise Died()

    monkeypatch.setattr(monitor, "fetch_session", slow_fetch)
    monkeypatch.setattr(state_store, "confirm_alert", die)  # published, then the sweep's container dies
    with pytest.raises(Died):
        sweep(context)
    monkeypatch.setattr(monitor, "fetch_session", real_fetch)
    monkeypatch.setattr(state_store, "confirm_alert", real_confirm)
    assert handler(api_event(f"/sessions/{sid}"), context)["statusCode"] == 200  # a read right after
    assert len(alerts.received()) == 1


def test_reading_a_session_that_ended_days_ago_alerts_nothing_on_any_entry(etl, alerts, context):
    """Case 7: the look-back applies to the API, direct calls and EventBridge events too."""
    from tests.helpers import session_check_event

    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "IDLE", None)])
    etl.emulator.terminate_session(sid)
    etl.clock.advance(3 * 86_400)
    assert json.loads(handler(api_event(f"/sessions/{sid}"), context)["body"])["state"] == "TERMINATED"
    assert handler({"SessionId": sid}, context)["state"] == "TERMINATED"
    assert handler(session_check_event(sid), context)["state"] == "TERMINATED"
    assert alerts.received() == []


def test_secrets_in_spark_properties_leave_by_no_path(etl, alerts, context, capsys):
    """Case 9: API answer, SNS alert and logs all carry the redacted value, never the secret."""
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    sid = etl.emulator.start_session(
        "etl",
        script=[(0, "CREATING", None), (10, "FAILED", "x")],
        EngineConfiguration={
            "CoordinatorDpuSize": 1,
            "MaxConcurrentDpus": 20,
            "DefaultExecutorDpuSize": 1,
            "SparkProperties": {"spark.hadoop.fs.s3a.secret.key": secret, "spark.sql.shuffle.partitions": "64"},
        },
    )
    etl.clock.advance(60)
    answer = handler(api_event(f"/sessions/{sid}"), context)
    sweep(context)
    [alert] = alerts.received()
    assert secret not in answer["body"] and secret not in json.dumps(alert) and secret not in capsys.readouterr().out
    properties = alert["body"]["engine_configuration"]["spark_properties"]
    assert properties["spark.sql.shuffle.partitions"] == "64"
    assert properties["spark.hadoop.fs.s3a.secret.key"] != secret


def test_metrics_are_added_from_the_invoking_thread_only_so_no_increment_is_lost(etl, alerts, context, monkeypatch):
    """Case 10: Powertools' Metrics is not locked; sweep workers count into the report instead."""
    from session_monitor import observability

    for _ in range(12):
        etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "DEGRADED", "x")])
    etl.clock.advance(60)
    callers: list[str] = []
    real_add = observability.metrics.add_metric

    def recording_add(*args, **kwargs):
        callers.append(threading.current_thread().name)
        return real_add(*args, **kwargs)

    monkeypatch.setattr(observability.metrics, "add_metric", recording_add)
    report = sweep(context)
    assert len(report["alerts_sent"]) == 12
    assert callers and set(callers) == {threading.main_thread().name}


def test_an_undated_degradation_is_one_episode_across_sweeps_and_reads(etl, alerts, context):
    etl.emulator.omit_timestamps = {"LastModifiedDateTime", "IdleSinceDateTime"}
    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "DEGRADED", "x")])
    for _ in range(3):
        etl.clock.advance(300)
        sweep(context)
        handler(api_event(f"/sessions/{sid}"), context)
    assert states(alerts.received()) == [(sid, "DEGRADED")]


def test_history_at_first_deploy_is_recorded_and_a_recent_end_is_alerted(etl, alerts, context):
    old = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "FAILED", "long ago")])
    etl.clock.advance(2 * 3600)
    recent = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "FAILED", "just now")])
    etl.clock.advance(120)
    report = sweep(context)  # first sweep after deploy
    assert states(alerts.received()) == [(recent, "FAILED")]
    assert [a.split("/")[-1] for a in report["alerts_suppressed"]] == [f"{old}#FAILED#END"]
    again = sweep(context)
    assert again["get_session_calls"] <= 1 and alerts.received() == []


def test_steady_state_costs_one_filtered_page_per_alert_state_and_writes_only_the_watermark(etl, alerts, context):
    for _ in range(30):
        etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "BUSY", None)], idle_timeout_minutes=480)
    etl.clock.advance(60)
    sweep(context)
    etl.clock.advance(300)
    before = dict(etl.calls)
    report = sweep(context)
    assert report["list_sessions_pages"] == 1 and report["filtered_list_pages"] == 3
    assert etl.calls["GetSession"] == before.get("GetSession", 0)


def test_if_filtered_listings_showed_no_finished_sessions_nothing_seen_active_would_be_lost(etl, alerts, context):
    """The undocumented half: with StateFilter returning no finished sessions, every end of a
    session seen active at an earlier sweep is still found by its disappearance."""
    etl.emulator.filtered_lists_finished = False
    ends = [
        etl.emulator.start_session(
            "etl", script=[(0, "CREATING", None), (10, "IDLE", None), (200 + i, final, "x")], idle_timeout_minutes=480
        )
        for i, final in enumerate(["FAILED", "TERMINATED", "FAILED"])
    ]
    etl.clock.advance(60)
    sweep(context)
    etl.clock.advance(300)
    sweep(context)
    assert sorted(states(alerts.received())) == sorted(zip(ends, ["FAILED", "TERMINATED", "FAILED"], strict=False))
