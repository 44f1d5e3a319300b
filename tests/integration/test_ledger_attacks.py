"""A hostile review of the alert ledger (2026-11-28), kept as regression tests.

Each test is an attack that lost, doubled or leaked an alert before its fix (A1..A17 in the
review): through the real handler, the emulator over loopback and moto. What held is kept too."""

from __future__ import annotations

import json

import pytest

from session_monitor.entry import handler
from tests.helpers import api_event, scheduled_sweep


def sweep(context):
    return scheduled_sweep(context)


def states(received):
    return [
        (a["attributes"]["session_id"], a["attributes"]["state"], a["attributes"]["alert_id"].split("#", 1)[1])
        for a in received
    ]


# A1: DEGRADED stays DEGRADED, only its StateChangeReason changes -> LastModifiedDateTime moves
def test_a1_degraded_new_reason_is_not_a_new_episode(etl, alerts, context):
    etl.emulator.start_session(
        "etl",
        script=[
            (0, "CREATING", None),
            (10, "IDLE", None),
            (60, "DEGRADED", "no healthy coordinator"),
            (400, "DEGRADED", "executor lost"),
        ],
        idle_timeout_minutes=480,
    )
    got = []
    for _ in range(3):
        etl.clock.advance(300)
        sweep(context)
        got += alerts.received()
    assert [s for _, s, _ in states(got)] == ["DEGRADED"]


# A2: a workgroup whose sweep fails for longer than the look-back: the failure it missed is lost
def test_a2_outage_longer_than_lookback_loses_the_failure(etl, alerts, context):
    from session_monitor.errors import SweepIncomplete

    sid = etl.emulator.start_session(
        "etl", script=[(0, "CREATING", None), (10, "BUSY", None)], idle_timeout_minutes=480
    )
    etl.clock.advance(60)
    sweep(context)  # sees it BUSY
    etl.emulator.inject_fault(workgroup="etl", operation="ListSessions", kind="throttle", times=None)
    etl.clock.advance(30)
    etl.emulator._sessions[sid].steps = [(etl.clock.now(), "FAILED", "driver OOM")]
    for _ in range(4):  # 4 failed sweeps (20 minutes): throttling, an IAM slip, a bad deploy...
        etl.clock.advance(300)
        with pytest.raises(SweepIncomplete):
            sweep(context)
    etl.emulator.clear_faults()
    etl.clock.advance(60)
    sweep(context)
    assert [s for _, s, _ in states(alerts.received())] == ["FAILED"]


# A3: undated DEGRADED read by the API while a sweep is between its load and its follow-up
def test_a3_undated_degraded_api_read_during_sweep_doubles_with_different_alert_ids(etl, alerts, context, monkeypatch):
    from session_monitor import monitor

    etl.emulator.omit_timestamps = {"LastModifiedDateTime", "IdleSinceDateTime"}
    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "DEGRADED", "x")])
    etl.clock.advance(60)
    real_fetch = monitor.fetch_session
    done = []

    def fetch_with_concurrent_read(session_id):
        if not done:
            done.append(1)
            etl.clock.advance(2)
            assert handler(api_event(f"/sessions/{sid}"), context)["statusCode"] == 200
        return real_fetch(session_id)

    monkeypatch.setattr(monitor, "fetch_session", fetch_with_concurrent_read)
    sweep(context)
    got = states(alerts.received())
    assert len(got) == 1


# A3b: two overlapping sweeps (duplicated scheduled event, or fan-out + inline) a second apart
def test_a3b_undated_degraded_two_overlapping_sweeps(etl, alerts, context, monkeypatch):
    from session_monitor import monitor

    etl.emulator.omit_timestamps = {"LastModifiedDateTime", "IdleSinceDateTime"}
    etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "DEGRADED", "x")])
    etl.clock.advance(60)
    real_fetch = monitor.fetch_session
    done = []

    def fetch_with_concurrent_sweep(session_id):
        if not done:
            done.append(1)
            etl.clock.advance(1)
            sweep(context)  # the duplicate delivery of the same schedule tick
        return real_fetch(session_id)

    monkeypatch.setattr(monitor, "fetch_session", fetch_with_concurrent_sweep)
    sweep(context)
    got = states(alerts.received())
    assert len(got) == 1


# A4: undated DEGRADED: the sweep publishes and confirms, then dies before writing its views
def test_a4_undated_degraded_crash_after_confirm_before_view_save(etl, alerts, context, monkeypatch):
    from session_monitor.integration import state_store

    etl.emulator.omit_timestamps = {"LastModifiedDateTime", "IdleSinceDateTime"}
    etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "DEGRADED", "x")])
    etl.clock.advance(60)
    real_save = state_store.save_workgroup

    class Died(BaseException):
        pass

    def die(*a, **k):
        raise Died()  # Lambda timeout / OOM after the alerts went out

    monkeypatch.setattr(state_store, "save_workgroup", die)
    with pytest.raises(Died):
        sweep(context)
    monkeypatch.setattr(state_store, "save_workgroup", real_save)
    etl.clock.advance(300)
    sweep(context)
    got = states(alerts.received())
    assert len(got) == 1


# A4b: same, but the direct/API path: SNS ok, the view write fails (DynamoDB throttled)
def test_a4b_undated_degraded_api_view_write_fails(etl, alerts, context, monkeypatch):
    from session_monitor.errors import StateStoreUnavailable
    from session_monitor.integration import state_store

    etl.emulator.omit_timestamps = {"LastModifiedDateTime", "IdleSinceDateTime"}
    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "DEGRADED", "x")])
    etl.clock.advance(60)
    real = state_store.save_view

    def fail(*a, **k):
        raise StateStoreUnavailable("x")

    monkeypatch.setattr(state_store, "save_view", fail)
    assert handler(api_event(f"/sessions/{sid}"), context)["statusCode"] == 200
    monkeypatch.setattr(state_store, "save_view", real)
    etl.clock.advance(30)
    handler(api_event(f"/sessions/{sid}"), context)
    got = states(alerts.received())
    assert len(got) == 1


# A5: long-running session (started > look-back + 1 day ago), fails just before the first sweep
def test_a5_first_sweep_misses_recent_failure_of_an_old_session(etl, alerts, context):
    etl.emulator.start_session(
        "etl", script=[(0, "CREATING", None), (10, "BUSY", None), (26 * 3600, "FAILED", "driver OOM")]
    )
    etl.clock.advance(26 * 3600 + 120)  # failed 2 minutes ago
    sweep(context)
    assert [s for _, s, _ in states(alerts.received())] == ["FAILED"]


# A6: idle watch when Athena leaves out IdleSinceDateTime and LastModifiedDateTime
def test_a6_idle_watch_without_idle_since(etl, alerts, context, monkeypatch):
    monkeypatch.setenv("IDLE_ALERT_MINUTES", "10")
    from session_monitor import config

    config.settings.cache_clear()
    etl.emulator.omit_timestamps = {"LastModifiedDateTime", "IdleSinceDateTime"}
    etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "IDLE", None)], idle_timeout_minutes=480)
    for _ in range(8):  # 40 minutes idle
        etl.clock.advance(300)
        sweep(context)
    got = states(alerts.received())
    assert [s for _, s, _ in got] == ["IDLE"]


# A7: DEGRADED -> IDLE -> DEGRADED within one sweep period: first DEGRADED never gets its RECOVERED
def test_a7_recover_and_redegrade_in_one_period(etl, alerts, context):
    etl.emulator.start_session(
        "etl",
        script=[
            (0, "CREATING", None),
            (10, "IDLE", None),
            (60, "DEGRADED", "a"),
            (400, "IDLE", None),
            (500, "DEGRADED", "b"),
            (900, "BUSY", None),
        ],
        idle_timeout_minutes=480,
    )
    got = []
    for _ in range(4):
        etl.clock.advance(300)
        sweep(context)
        got += alerts.received()
    first = got[0]["attributes"]["alert_id"]
    resolved = [a["attributes"].get("resolves_alert_id") for a in got if a["attributes"]["state"] == "RECOVERED"]
    assert first in resolved, (first, resolved)


# A8: more than 100 sessions failing between two sweeps (paging of the filtered listing)
def test_a8_150_failures_between_sweeps(etl, alerts, context):
    sweep(context)
    etl.clock.advance(30)
    ids = {etl.emulator.start_session("etl", script=[(0, "CREATING", None), (20, "FAILED", "x")]) for _ in range(150)}
    etl.clock.advance(270)
    sweep(context)
    got = alerts.received()
    while True:
        more = alerts.received()
        if not more:
            break
        got += more
    assert {a["attributes"]["session_id"] for a in got} == ids and len(got) == 150


# A9: DEGRADED -> FAILED between sweeps, with DEGRADED sent first; no RECOVERED, one FAILED
def test_a9_degraded_then_failed(etl, alerts, context):
    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "DEGRADED", "a"), (400, "FAILED", "b")])
    got = []
    for _ in range(4):
        etl.clock.advance(300)
        sweep(context)
        handler({"SessionId": sid}, context)
        got += alerts.received()
    assert [s for _, s, _ in states(got)] == ["DEGRADED", "FAILED"]


# A10: cost: steady state with StartDateTime missing from listings and finished history
def test_a10_steady_state_cost_without_start_in_listings(etl, alerts, context):
    etl.emulator.omit_timestamps_in_listings = {"StartDateTime"}
    for _ in range(250):
        etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "TERMINATED", None)])
    etl.clock.advance(3600)
    sweep(context)
    etl.clock.advance(300)
    sweep(context)
    etl.clock.advance(300)
    dict(etl.calls)
    report = sweep(context)
    assert report["filtered_list_pages"] == 3


# A11: steady state writes: sessions alive, nothing changes
def test_a11_steady_state_writes(etl, alerts, context, monkeypatch):
    for _ in range(5):
        etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "DEGRADED", "x")])
    for _ in range(5):
        etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "IDLE", None)], idle_timeout_minutes=480)
    etl.clock.advance(60)
    sweep(context)
    alerts.received()
    etl.clock.advance(300)
    sweep(context)
    from session_monitor.integration import state_store

    writes = []
    real = state_store._batch_write
    monkeypatch.setattr(state_store, "_batch_write", lambda t, r: (writes.extend(r), real(t, r)))
    etl.clock.advance(300)
    before = dict(etl.calls)
    sweep(context)
    assert len(writes) == 1
    assert etl.calls["GetSession"] == before.get("GetSession", 0)


# A12: a GET on a healthy long-running session deletes the sweep's view; it then fails unseen
@pytest.mark.parametrize("entry", ["api", "direct"])
def test_a12_read_of_healthy_session_deletes_view_and_failure_is_lost(etl, alerts, context, entry):
    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "BUSY", None)])
    for _ in range(6):  # 30 minutes of sweeps: the session is older than any watermark margin
        etl.clock.advance(300)
        sweep(context)
    etl.clock.advance(10)
    if entry == "api":
        assert handler(api_event(f"/sessions/{sid}"), context)["statusCode"] == 200
    else:
        handler({"SessionId": sid}, context)
    etl.emulator._sessions[sid].steps = [(etl.clock.now(), "FAILED", "driver OOM")]
    etl.clock.advance(290)
    sweep(context)
    assert [a["attributes"]["state"] for a in alerts.received()] == ["FAILED"]


# A13: a DEGRADED session recovers; the API's read saves a view without open_degraded... (RECOVERED via API)
def test_a13_recovered_once_across_entries(etl, alerts, context):
    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "DEGRADED", "a"), (400, "BUSY", None)])
    got = []
    for _ in range(3):
        etl.clock.advance(300)
        handler(api_event(f"/sessions/{sid}"), context)
        sweep(context)
        handler({"SessionId": sid}, context)
        got += alerts.received()
    assert [a["attributes"]["state"] for a in got] == ["DEGRADED", "RECOVERED"]


# A14: API read of old history with partial timestamps (EndDateTime only omitted)
def test_a14_history_read_without_end_time(etl, alerts, context):
    etl.emulator.omit_timestamps = {"EndDateTime"}
    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "FAILED", "x")])
    etl.clock.advance(3 * 86400)
    handler(api_event(f"/sessions/{sid}"), context)
    handler({"SessionId": sid}, context)
    sweep(context)
    assert alerts.received() == []


# A15: SQS fan-out with hostile records
@pytest.mark.parametrize(
    "record",
    [
        {"eventSource": "aws:sqs", "messageId": "m1"},  # no body
        {"eventSource": "aws:sqs", "messageId": "m1", "body": None},
        {"eventSource": "aws:sqs", "messageId": "m1", "body": "null"},
        {"eventSource": "aws:sqs", "messageId": "m1", "body": '{"workgroup": ["etl"]}'},
        {"eventSource": "aws:sqs", "body": '{"workgroup": "etl"}'},  # no messageId
        {"eventSource": "aws:sqs", "messageId": "m1", "body": '{"workgroup": "not-watched"}'},
    ],
)
def test_a15_sqs_hostile(etl, alerts, context, record):
    try:
        handler({"Records": [record]}, context)
    except Exception as e:  # must be a named SessionMonitorError
        from session_monitor.errors import SessionMonitorError

        assert isinstance(e, SessionMonitorError), type(e)


# A16: hostile direct/EventBridge events
@pytest.mark.parametrize(
    "event",
    [
        {"SessionId": {"a": 1}},
        {"detail-type": "x", "source": "y", "detail": {"SessionId": 5}},
        {"detail-type": "x", "source": "y", "detail": "str"},
        {"action": "sweep", "SessionId": None},
        {
            "httpMethod": "GET",
            "requestContext": {},
            "path": "/sessions",
            "queryStringParameters": {"workgroup": "etl", "max_results": "1e2"},
        },
        {
            "httpMethod": "GET",
            "requestContext": {},
            "path": "/sessions",
            "queryStringParameters": {"workgroup": "etl", "next_token": "garbage"},
        },
        {
            "httpMethod": "GET",
            "requestContext": {},
            "path": "/sessions",
            "queryStringParameters": {"workgroup": "nope"},
        },
        {"httpMethod": "GET", "requestContext": {}, "path": "/sessions/%2e%2e", "pathParameters": {"session_id": ".."}},
        {"httpMethod": "POST", "requestContext": {}, "path": "/sessions/x"},
        {"Records": [{"eventSource": "aws:sqs"}, {"eventSource": "aws:s3"}]},
        {"SessionId": "x" * 256},
    ],
)
def test_a16_hostile_events(etl, alerts, context, event):
    from session_monitor.errors import SessionMonitorError

    try:
        out = handler(event, context)
        if isinstance(out, dict) and "statusCode" in out:
            assert out["statusCode"] < 500, out
            json.loads(out["body"])
    except SessionMonitorError as error:
        assert error.code  # a named error, never a stack trace


# A17: redaction: settings a real Spark user sets
SECRETS = {
    "spark.kafka.sasl.jaas.config": 'org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="Tr0ub4dor&3 horse";',
    "spark.executorEnv.SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX",
    "spark.executorEnv.PGPASS": "hunter2pg",
    "spark.hadoop.fs.s3a.secret.key": "wJalrXUtnFEMI/K7MDENG",
    "spark.sql.catalog.pg.url": "jdbc:postgresql://db:5432/x?user=a&password=p%26ssWORDx",
    "spark.executorEnv.GITHUB_PAT": "ghp_abcdefSECRET123",
    "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net": "azkeySECRET==",
    "spark.executorEnv.DATABASE_URL": "postgres://admin:pgSECRETpw@db/x",
    "spark.driver.extraJavaOptions": "-Djavax.net.ssl.keyStorePassword=ksSECRET -Dfoo=bar",
    "spark.es.net.http.auth.pass": "esSECRET",
    "spark.hadoop.fs.gs.auth.service.account.private.key": "-----BEGIN PRIVATE KEY-----gsSECRET",
    "spark.executorEnv.MONGO_URI": "mongodb+srv://u:mongoSECRET@cluster0.x.net/db",
    "spark.sql.catalog.rest.credential": "cid:restSECRET",
    "spark.executorEnv.AWS_SECRET_ACCESS_KEY": "envSECRET",
    "spark.executorEnv.REDIS_URL": "redis://:redisSECRET@host:6379",
    "spark.sql.catalog.snow.sfPassword": "sfSECRET",
    "spark.snowflake.pem_private_key": "pemSECRET",
    "spark.executorEnv.HF_TOKEN": "hfSECRET",
    "spark.executorEnv.OPENAI_API_KEY": "sk-openaiSECRET",
    "spark.hadoop.fs.s3a.bucket.b.session.token": "stsSECRET",
    "spark.executorEnv.DD_API_KEY": "ddSECRET",
    "spark.executorEnv.DB_CONN": "Server=x;Database=y;User Id=sa;Password=mssqlSECRET x;",
    "spark.executorEnv.CLIENT_SECRET": "csSECRET",
    "spark.hadoop.fs.cosn.userinfo.secretId": "cosSECRET",
    "spark.hadoop.fs.obs.sk": "obsSECRET",
    "spark.executorEnv.SNOWFLAKE_PASSCODE": "passcodeSECRET",
    "spark.executorEnv.NPM_AUTH": "npmSECRET",
    "spark.executorEnv.PRIVATE_KEY_PEM": "pem2SECRET",
    "spark.executorEnv.SSH_KEY": "sshSECRET",
    "spark.executorEnv.ENCRYPTION_KEY": "encSECRET",
    "spark.executorEnv.FERNET_KEY": "fernetSECRET",
    "spark.executorEnv.JWT_SIGNING_KEY": "jwtSECRET",
    "spark.executorEnv.API_KEY": "apiSECRET",
    "spark.executorEnv.STRIPE_SK": "sk_live_stripeSECRET",
    "spark.executorEnv.AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=azconnSECRET;EndpointSuffix=core.windows.net",
}


def test_a17_redaction_real_keys():
    from session_monitor.redaction import redact_map

    out = redact_map(SECRETS)
    leaks = {
        k: v for k, v in out.items() if "SECRET" in v or "hunter2" in v or "horse" in v or "XXXX" in v or "ghp_" in v
    }
    assert not leaks
