"""The scheduled sweep through the real entry point: Athena over HTTP (emulator), SNS/SQS/DynamoDB in moto."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest

from local_mode.athena_emulator import FIXED_START
from session_monitor import clock, errors
from session_monitor.entry import handler
from tests.helpers import alert_id, load_event

SCHEDULED = load_event("scheduled_event.json")


@pytest.fixture
def estate(emulated_athena, monkeypatch):
    """Watch two named workgroups; sweeps see the emulator's clock as 'now'."""
    monkeypatch.setenv("WATCHED_WORKGROUPS", "etl,science")
    monkeypatch.setenv("LOOKBACK_MINUTES", "15")
    from session_monitor import config

    config.settings.cache_clear()
    for name in ("etl", "science"):
        emulated_athena.emulator.add_workgroup(name)
    monkeypatch.setattr(clock, "utc_now", emulated_athena.clock.now)
    return emulated_athena


def run(context, event=SCHEDULED):
    return handler(copy.deepcopy(event), context)


def degraded(sid, after=20):
    """The DEGRADED alert id of a session started at FIXED_START that degraded ``after`` seconds later."""
    return alert_id(sid, "DEGRADED", FIXED_START + timedelta(seconds=after))


def alert_ids(alerts):
    return sorted(a["attributes"]["alert_id"] for a in alerts.received())


def test_a_session_seen_idle_that_fails_and_leaves_the_listing_gets_its_failed_alert(estate, alerts, context):
    emulator = estate.emulator
    session = emulator.start_session(
        "etl", script=[(0, "CREATING", None), (30, "IDLE", None), (600, "FAILED", "Spark driver crashed")]
    )
    estate.clock.advance(60)
    first = run(context)
    assert first["sessions_by_state"] == {"IDLE": 1} and first["get_session_calls"] == 0
    assert alerts.received() == []

    estate.clock.advance(600)  # FAILED, and no longer listed (ListSessions lists active ones)
    second = run(context)
    assert second["get_session_calls"] == 1 and emulator.calls["GetSession"] == 1
    [alert] = alerts.received()
    assert alert["attributes"]["alert_id"] == alert_id(session, "FAILED")
    assert alert["body"]["state_change_reason"] == "Spark driver crashed"
    assert alert["body"]["dpu_hours"] > 0

    third = run(context)
    assert third["get_session_calls"] == 0 and alerts.received() == []


def test_a_realistic_estate_alerts_exactly_once_in_o_pages(estate, alerts, context):
    emulator, clock = estate.emulator, estate.clock
    expected = set()
    # etl: 230 sessions -> 3 ListSessions pages; science: 120 -> 2 pages.
    for index in range(230):
        if index % 23 == 0:
            sid = emulator.start_session(
                "etl",
                script=[
                    (0, "CREATING", None),
                    (20, "IDLE", None),
                    (300, "DEGRADED", "no healthy coordinator"),
                    (900, "FAILED", "coordinator lost"),
                ],
            )
            expected |= {degraded(sid, 300), alert_id(sid, "FAILED")}
        elif index % 10 == 0:
            sid = emulator.start_session(
                "etl",
                script=[
                    (0, "CREATING", None),
                    (20, "BUSY", None),
                    (500, "TERMINATING", None),
                    (510, "TERMINATED", "Session was terminated per request"),
                ],
            )
            expected.add(alert_id(sid, "TERMINATED"))
        else:
            emulator.start_session("etl", script=[(0, "CREATING", None), (20, "IDLE", None)], idle_timeout_minutes=480)
    for _ in range(120):
        emulator.start_session("science", script=[(0, "CREATING", None), (20, "BUSY", None)], idle_timeout_minutes=480)

    clock.advance(60)
    first = run(context)
    assert first["list_sessions_pages"] == 5 and first["get_session_calls"] == 0
    assert sum(first["sessions_by_state"].values()) == 350

    for _ in range(3):  # sweeps every 5 minutes through degradation, terminations and failures
        clock.advance(300)
        run(context)
    received = alert_ids(alerts)
    assert set(received) == expected and len(received) == len(expected)
    # GetSession only for alerts: 10 DEGRADED (listed) + 10 FAILED and 22 TERMINATED (dropped out).
    assert len(expected) == 42
    assert emulator.calls["GetSession"] == 42
    # etl shrinks from 3 pages to 2 once its terminated and failed sessions leave the listing.
    # plus one page per alert state per workgroup and sweep (StateFilter FAILED, TERMINATED, DEGRADED).
    assert emulator.calls["ListSessions"] == (5 + 5 + 5 + 4) + 4 * 2 * 3

    before = emulator.calls["GetSession"]
    again = run(context)
    assert alerts.received() == [] and again["alerts_sent"] == []
    assert emulator.calls["GetSession"] == before  # nothing left to look up


def test_a_duplicated_scheduled_event_sends_nothing_new(estate, alerts, context):
    sid = estate.emulator.start_session("science", script=[(0, "CREATING", None), (20, "DEGRADED", "lost coordinator")])
    estate.clock.advance(60)
    run(context)
    run(context)  # EventBridge delivers at least once: the same event again
    assert alert_ids(alerts) == [degraded(sid)]


def test_one_failing_workgroup_does_not_stop_the_others_and_the_retry_finishes_it(estate, alerts, context):
    emulator = estate.emulator
    good = emulator.start_session("etl", script=[(0, "CREATING", None), (20, "DEGRADED", "x")])
    late = emulator.start_session("science", script=[(0, "CREATING", None), (20, "DEGRADED", "y")])
    emulator.inject_fault(workgroup="science", operation="ListSessions", kind="throttle", times=None)
    estate.clock.advance(60)
    with pytest.raises(errors.SweepIncomplete) as raised:
        run(context)
    assert "science (AthenaThrottled)" in str(raised.value)
    assert alert_ids(alerts) == [degraded(good)]

    emulator.clear_faults()
    run(context)  # the asynchronous retry
    assert alert_ids(alerts) == [degraded(late)]


def test_an_unknown_workgroup_is_reported_not_fatal_to_the_rest(estate, alerts, context, monkeypatch):
    from session_monitor import config

    monkeypatch.setenv("WATCHED_WORKGROUPS", "etl,deleted-team")
    config.settings.cache_clear()
    sid = estate.emulator.start_session("etl", script=[(0, "CREATING", None), (20, "DEGRADED", "x")])
    estate.clock.advance(60)
    with pytest.raises(errors.SweepIncomplete, match="deleted-team"):
        run(context)
    assert alert_ids(alerts) == [degraded(sid)]


class Crash(BaseException):
    """The process dying: not an Exception, so no handler of ours runs."""


def test_a_crash_before_sns_answers_delays_the_alert_but_never_loses_it(estate, alerts, context, monkeypatch):
    from session_monitor.integration import sns

    sid = estate.emulator.start_session("etl", script=[(0, "CREATING", None), (20, "DEGRADED", "x")])
    estate.clock.advance(60)
    real_publish = sns.publish_alert

    def die(*_args, **_kwargs):
        raise Crash()

    monkeypatch.setattr(sns, "publish_alert", die)
    with pytest.raises(Crash):
        run(context)
    monkeypatch.setattr(sns, "publish_alert", real_publish)
    run(context)  # a retry inside the lease: the claim is still held, nothing sent yet
    assert alerts.received() == []
    estate.clock.advance(180)  # past the lease: the next sweep takes the claim over
    run(context)
    assert alert_ids(alerts) == [degraded(sid)]


def test_a_crash_between_publish_and_record_is_delivered_once_and_the_retry_does_not_resend(
    estate, alerts, context, monkeypatch
):
    from session_monitor.integration import state_store

    sid = estate.emulator.start_session("etl", script=[(0, "CREATING", None), (20, "DEGRADED", "x")])
    estate.clock.advance(60)
    real_confirm = state_store.confirm_alert

    def die(*_args, **_kwargs):
        raise Crash()

    monkeypatch.setattr(state_store, "confirm_alert", die)
    with pytest.raises(Crash):
        run(context)
    monkeypatch.setattr(state_store, "confirm_alert", real_confirm)
    run(context)  # the asynchronous retry comes within a minute or two: inside the lease
    assert alert_ids(alerts) == [degraded(sid)]


def test_history_older_than_the_lookback_is_recorded_not_alerted(emulated_athena, alerts, context, monkeypatch):
    from local_mode.athena_emulator import AthenaEmulator  # noqa: F401  (documents where sessions come from)
    from session_monitor import config

    emulator = emulated_athena.emulator
    emulator.list_finished_sessions = True  # an account whose listing includes finished sessions
    emulator.add_workgroup("etl")
    monkeypatch.setenv("WATCHED_WORKGROUPS", "etl")
    config.settings.cache_clear()
    monkeypatch.setattr(clock, "utc_now", emulated_athena.clock.now)
    old = emulator.start_session("etl", script=[(0, "CREATING", None), (20, "FAILED", "ancient")])
    emulated_athena.clock.advance(3 * 3600)  # first deploy, three hours later
    fresh = emulator.start_session("etl", script=[(0, "CREATING", None), (20, "FAILED", "just now")])
    emulated_athena.clock.advance(60)
    report = run(context)
    assert report["alerts_suppressed"] == [alert_id(old, "FAILED")]
    assert alert_ids(alerts) == [alert_id(fresh, "FAILED")]
    assert emulator.calls["GetSession"] == 1  # the old one needed no GetSession
    # and no other path alerts on the suppressed one later
    assert handler({"SessionId": old}, context)["state"] == "FAILED"
    assert alerts.received() == []
    again = run(context)
    assert again["get_session_calls"] == 0 and alerts.received() == []


def test_a_session_idle_past_the_threshold_gets_one_warning(estate, alerts, context, monkeypatch):
    from session_monitor import config

    monkeypatch.setenv("IDLE_ALERT_MINUTES", "60")
    config.settings.cache_clear()
    estate.emulator.start_session("etl", script=[(0, "CREATING", None), (30, "IDLE", None)], idle_timeout_minutes=480)
    estate.clock.advance(45 * 60)
    run(context)
    assert alerts.received() == []
    estate.clock.advance(50 * 60)
    run(context)
    [alert] = alerts.received()
    assert alert["attributes"]["state"] == "IDLE" and alert["attributes"]["severity"] == "warning"
    assert alert["body"]["alert"]["reason"] == "idle for 94 minutes"
    estate.clock.advance(10 * 60)
    run(context)
    assert alerts.received() == []


def test_idle_watch_is_off_by_default(estate, alerts, context):
    estate.emulator.start_session("etl", script=[(0, "CREATING", None), (30, "IDLE", None)], idle_timeout_minutes=480)
    estate.clock.advance(5 * 3600)
    run(context)
    assert alerts.received() == []


def test_without_configured_workgroups_spark_workgroups_are_discovered(emulated_athena, alerts, context, monkeypatch):
    emulator = emulated_athena.emulator
    emulator.add_workgroup("spark-a")
    emulator.add_workgroup("sql-only", spark=False)
    monkeypatch.setattr(clock, "utc_now", emulated_athena.clock.now)
    report = run(context)
    assert report["workgroups"] == ["spark-a"]
    assert emulator.calls["ListWorkGroups"] == 1


def test_the_sweep_emits_its_metrics(estate, alerts, context, capsys):
    estate.emulator.start_session("etl", script=[(0, "CREATING", None), (20, "DEGRADED", "x")])
    estate.clock.advance(60)
    run(context)
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {m["Name"] for b in blobs for m in b["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {
        "SessionsSeen",
        "AlertsPublished",
        "ListSessionsPages",
        "GetSessionCalls",
        "DpuHoursSeen",
        "SweepDurationMs",
        "WorkgroupsFailed",
    } <= names


def test_fan_out_queues_one_message_per_workgroup_and_the_batch_reports_partial_failures(
    estate, alerts, context, monkeypatch
):
    import boto3

    from session_monitor import config

    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="sweep-work")["QueueUrl"]
    monkeypatch.setenv("SWEEP_QUEUE_URL", queue_url)
    config.settings.cache_clear()
    sid = estate.emulator.start_session("science", script=[(0, "CREATING", None), (20, "DEGRADED", "x")])
    estate.clock.advance(60)
    report = run(context)
    assert report["queued_workgroups"] == ["etl", "science"] and alerts.received() == []

    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(json.loads(m["Body"])["workgroup"] for m in messages) == ["etl", "science"]
    batch = load_event("sqs_batch.json")
    template = batch["Records"][0]
    batch["Records"] = [dict(template, messageId=m["MessageId"], body=m["Body"]) for m in messages]
    batch["Records"].append(dict(template, messageId="bad-1", body="not json"))
    answer = handler(batch, context)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}
    assert alert_ids(alerts) == [degraded(sid)]


def test_sweep_report_is_json(estate, alerts, context):
    report = run(context)
    json.dumps(report)
    assert set(report) >= {"workgroups", "failed_workgroups", "alerts_sent", "duration_ms"}


def test_the_dashboard_and_alarms_read_the_metrics_the_function_emits(estate, alerts, context, capsys, monkeypatch):
    """infra/ and the function name metrics separately: this keeps them from drifting apart."""
    from infra import constants
    from session_monitor import config

    monkeypatch.setenv("WATCHED_WORKGROUPS", "etl,missing")
    config.settings.cache_clear()
    estate.emulator.start_session("etl", script=[(0, "CREATING", None), (20, "DEGRADED", "x")])
    estate.clock.advance(60)
    with pytest.raises(errors.SweepIncomplete):
        run(context)
    emitted: dict[str, set[frozenset[str]]] = {}
    for line in capsys.readouterr().out.splitlines():
        if '"_aws"' not in line:
            continue
        directive = json.loads(line)["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == constants.METRICS_NAMESPACE
        for metric in directive["Metrics"]:
            emitted.setdefault(metric["Name"], set()).update(frozenset(d) for d in directive["Dimensions"])
    service = constants.DIMENSION_SERVICE
    assert frozenset({service, constants.DIMENSION_STATE}) in emitted[constants.METRIC_SESSIONS_SEEN]
    assert frozenset({service, constants.DIMENSION_KIND}) in emitted[constants.METRIC_ERRORS]
    for name in (
        constants.METRIC_ALERTS_PUBLISHED,
        constants.METRIC_DPU_HOURS_SEEN,
        constants.METRIC_SWEEP_DURATION_MS,
    ):
        assert frozenset({service}) in emitted[name], name


def _emitted(capsys) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        if '"_aws"' in line:
            blob = json.loads(line)
            for metric in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = blob[metric["Name"]]
                values[metric["Name"]] = values.get(metric["Name"], 0) + (
                    sum(value) if isinstance(value, list) else value
                )
    return values


def test_a_complete_sweep_beats_the_heartbeat_and_an_incomplete_one_says_so(estate, alerts, context, capsys):
    """The heartbeat alarm fires when SweepsCompleted goes missing: a silent monitor is not healthy."""
    run(context)
    beat = _emitted(capsys)
    assert beat.get("SweepsCompleted") == 1 and "SweepsIncomplete" not in beat
    estate.emulator.inject_fault(workgroup="science", operation="ListSessions", kind="throttle", times=None)
    with pytest.raises(errors.SweepIncomplete):
        run(context)
    missed = _emitted(capsys)
    assert missed.get("SweepsIncomplete") == 1 and "SweepsCompleted" not in missed


def test_fan_out_with_no_workgroup_to_queue_still_beats_the_heartbeat(
    emulated_athena, alerts, context, capsys, monkeypatch
):
    import boto3

    from session_monitor import config

    queue_url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="sweep-work")["QueueUrl"]
    monkeypatch.setenv("SWEEP_QUEUE_URL", queue_url)
    config.settings.cache_clear()
    assert run(context)["queued_workgroups"] == []  # discovery found no Spark workgroup
    assert _emitted(capsys).get("SweepsCompleted") == 1
