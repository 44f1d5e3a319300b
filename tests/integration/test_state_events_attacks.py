"""State-change events under attack (the hostile review of issue 15 part 3): a change must not be
lost when an alert fails after a first sight was pinned, a single look must not overwrite a
sweep's view, a hanging bus must not hold up an answer or a sweep, the CLI must not swallow a
change, a long DEGRADED session seen first must be announced. Each read back as a consumer would:
EventBridge (moto) -> a rule -> an SQS queue."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

import session_contract as contract
from local_mode.moto_server import EventInbox, create_event_inbox, receive_events
from session_monitor import config, errors, monitor, sweep
from session_monitor.integration import clients, events, sns, state_store
from tests.helpers import NOW, api_event, get_session_response, scheduled_sweep


@pytest.fixture
def inbox(alerts: Any, monkeypatch: pytest.MonkeyPatch) -> EventInbox:
    monkeypatch.setenv(contract.ENV_STATE_EVENTS_BUS, contract.STATE_EVENTS_DEFAULT_BUS)
    config.settings.cache_clear()
    return create_event_inbox(None)


def transitions(received: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    return [(e["detail"]["previous_state"], e["detail"]["state"]) for e in received]


def refuse_the_first_publish(monkeypatch: pytest.MonkeyPatch) -> None:
    real = sns.publish_alert
    calls = {"n": 0}

    def publish(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise errors.AlertDeliveryFailed("SNS did not accept the alert (Throttling)")
        return real(*args, **kwargs)

    monkeypatch.setattr(sns, "publish_alert", publish)


# --- 1. a pinned first sight whose alert failed is still announced by the next look ------------


def test_an_undated_degraded_whose_alert_sns_refused_is_announced_by_the_sweep_that_retries(
    etl, alerts, inbox, context, monkeypatch
):
    etl.emulator.omit_timestamps = {"LastModifiedDateTime"}
    etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "DEGRADED", "lost executors")])
    etl.clock.advance(60)
    refuse_the_first_publish(monkeypatch)
    with pytest.raises(errors.SweepIncomplete):  # the first sight was pinned, then SNS refused
        scheduled_sweep(context)
    etl.clock.advance(300)
    scheduled_sweep(context)
    etl.clock.advance(300)
    scheduled_sweep(context)  # the mark is gone once announced: nothing again

    assert [a["attributes"]["state"] for a in alerts.received()] == ["DEGRADED"]
    received = receive_events(inbox)
    assert transitions(received) == [(None, "DEGRADED")]
    assert received[0]["detail"]["state_since_source"] == "first_seen"


def test_an_undated_degraded_whose_alert_failed_on_an_api_read_is_announced_by_the_next_read(
    etl, alerts, inbox, context, monkeypatch
):
    from session_monitor.entry import handler

    etl.emulator.omit_timestamps = {"LastModifiedDateTime"}
    sid = etl.emulator.start_session("etl", script=[(0, "CREATING", None), (10, "DEGRADED", "lost executors")])
    etl.clock.advance(60)
    refuse_the_first_publish(monkeypatch)
    assert handler(api_event(f"/sessions/{sid}"), context)["statusCode"] == 200  # alert failed, answer stands
    assert receive_events(inbox) == []
    etl.clock.advance(30)
    assert handler(api_event(f"/sessions/{sid}"), context)["statusCode"] == 200
    etl.clock.advance(300)
    scheduled_sweep(context)

    assert [a["attributes"]["state"] for a in alerts.received()] == ["DEGRADED"]
    assert transitions(receive_events(inbox)) == [(None, "DEGRADED")]


def test_a_pinned_degraded_over_a_busy_view_names_busy_as_its_previous_state(etl, alerts, inbox, context, monkeypatch):
    etl.emulator.omit_timestamps = {"LastModifiedDateTime"}
    etl.emulator.start_session(
        "etl", script=[(0, "CREATING", None), (10, "BUSY", None), (100, "DEGRADED", "lost executors")]
    )
    etl.clock.advance(60)
    scheduled_sweep(context)  # None -> BUSY
    etl.clock.advance(300)
    refuse_the_first_publish(monkeypatch)
    with pytest.raises(errors.SweepIncomplete):
        scheduled_sweep(context)
    etl.clock.advance(300)
    scheduled_sweep(context)
    assert transitions(receive_events(inbox)) == [(None, "BUSY"), ("BUSY", "DEGRADED")]


# --- 2. a single look's write never overwrites what a sweep wrote since it read ---------------


@pytest.mark.parametrize("events_on", [False, True])
def test_an_api_read_racing_the_sweep_that_alerted_a_degraded_does_not_lose_its_recovered(
    etl, alerts, context, monkeypatch, events_on
):
    """The GET reads no view, the sweep saves {DEGRADED, open_degraded}, the GET's write of its
    BUSY first sight lands after: it is dropped (conditional write), so the RECOVERED goes out."""
    from session_monitor.entry import handler

    if events_on:
        monkeypatch.setenv(contract.ENV_STATE_EVENTS_BUS, "default")
        config.settings.cache_clear()
        create_event_inbox(None)
    sid = etl.emulator.start_session(
        "etl", script=[(0, "CREATING", None), (10, "DEGRADED", "lost executors"), (100, "BUSY", None)]
    )
    etl.clock.advance(60)
    real_announce, real_save_view = monitor.announce, state_store.save_view
    reached, go = threading.Event(), threading.Event()
    answers: dict[str, Any] = {}
    written: list[bool] = []
    threads: list[threading.Thread] = []

    def save_view(*args: Any, **kwargs: Any) -> bool:  # the GET's write waits until the sweep saved
        reached.set()
        go.wait(10)
        written.append(real_save_view(*args, **kwargs))
        return written[-1]

    def the_get() -> None:
        answers["get"] = handler(api_event(f"/sessions/{sid}"), context)

    def announce(entries: list[dict[str, Any]]) -> tuple[int, int]:
        if not threads:  # the sweep, after its alerts and before its save: the session recovers, a GET
            etl.clock.advance(60)
            threads.append(threading.Thread(target=the_get))
            threads[0].start()
            reached.wait(2) if events_on else threads[0].join(10)
        return real_announce(entries)

    monkeypatch.setattr(monitor, "announce", announce)
    monkeypatch.setattr(state_store, "save_view", save_view)
    scheduled_sweep(context)
    go.set()
    threads[0].join(10)
    monkeypatch.setattr(monitor, "announce", real_announce)
    assert answers["get"]["statusCode"] == 200
    if events_on:
        assert written == [False]  # the GET's older news was dropped, not written over the sweep's
    for _ in range(2):
        etl.clock.advance(300)
        scheduled_sweep(context)
    assert [a["attributes"]["state"] for a in alerts.received()] == ["DEGRADED", "RECOVERED"]


def test_a_single_look_write_is_dropped_when_the_item_changed_since_it_was_read(alerts):
    from datetime import UTC, datetime

    from session_monitor.ledger import View

    table = alerts.resources.table_name
    now = int(datetime(2026, 11, 26, tzinfo=UTC).timestamp())
    busy = View(state="BUSY", since=datetime(2026, 11, 26, tzinfo=UTC), since_known=True)
    assert state_store.save_view(table, "s", "etl", "s-1", busy, now, 60, seen=None)
    assert not state_store.save_view(table, "s", "etl", "s-1", busy, now, 60, seen=None)  # exists now
    read = state_store.load_view(table, "s", "etl", "s-1")
    assert read is not None and read.view == busy and not read.pinned
    degraded = View(state="DEGRADED", since=busy.since, since_known=True, open_degraded="DEGRADED#X")
    state_store.save_workgroup(table, "s", "etl", {"s-1": degraded}, [], None, now, 60)  # a sweep saves
    assert not state_store.save_view(table, "s", "etl", "s-1", busy, now + 1, 60, seen=read)
    assert not state_store.save_view(table, "s", "etl", "s-1", None, now + 1, 60, seen=read)  # nor deleted
    kept = state_store.load_view(table, "s", "etl", "s-1")
    assert kept is not None and kept.view == degraded
    assert state_store.save_view(table, "s", "etl", "s-1", busy, now + 2, 60, seen=kept)


# --- 3. overlapping sweeps: previous_state is what each look found recorded -------------------


def test_overlapping_sweeps_can_repeat_a_change_under_its_id_and_name_a_stale_previous_state(
    etl, alerts, inbox, context, monkeypatch
):
    """Documented, not prevented (README, decision 30): sweep B runs whole inside sweep A (after
    A's put, before A's save). Both found IDLE recorded; A's older save lands last, so the next
    sweep announces DEGRADED again, under the same event_id. Ordered by state_since, a consumer
    still ends on the session's real state."""
    etl.emulator.start_session(
        "etl",
        script=[(0, "CREATING", None), (30, "IDLE", None), (100, "BUSY", None), (105, "DEGRADED", "lost executors")],
        idle_timeout_minutes=480,
    )
    etl.clock.advance(60)
    scheduled_sweep(context)
    etl.clock.advance(42)  # BUSY
    real_save = state_store.save_workgroup
    fired: list[int] = []

    def save_workgroup(*args: Any, **kwargs: Any) -> None:
        if not fired:
            fired.append(1)
            monkeypatch.setattr(state_store, "save_workgroup", real_save)
            etl.clock.advance(5)  # DEGRADED
            scheduled_sweep(context)
        real_save(*args, **kwargs)

    monkeypatch.setattr(state_store, "save_workgroup", save_workgroup)
    scheduled_sweep(context)
    etl.clock.advance(300)
    scheduled_sweep(context)

    received = [e["detail"] for e in receive_events(inbox)]
    assert [(d["previous_state"], d["state"]) for d in received] == [
        (None, "IDLE"),
        ("IDLE", "BUSY"),
        ("IDLE", "DEGRADED"),  # sweep B found IDLE recorded: A had not saved BUSY yet
        ("BUSY", "DEGRADED"),  # A's save landed last: the next sweep sees the change again
    ]
    assert received[2]["event_id"] == received[3]["event_id"]  # a consumer drops the repeat
    latest = max(received, key=lambda d: (d["state_since"], d["observed_at"]))
    assert latest["state"] == "DEGRADED"
    assert [a["attributes"]["state"] for a in alerts.received()] == ["DEGRADED"]


# --- 4. the CLI's looks announce what they record --------------------------------------------


def test_the_cli_environment_carries_the_event_bus(alerts):
    from local_mode.runner import cli_environment, function_environment

    env = function_environment("http://127.0.0.1:1", "http://127.0.0.1:2", alerts.resources)
    assert env[contract.ENV_STATE_EVENTS_BUS] == "default"
    assert cli_environment(env)[contract.ENV_STATE_EVENTS_BUS] == "default"


def test_a_cli_sweep_between_two_function_sweeps_announces_the_change_it_records(
    etl, alerts, inbox, context, monkeypatch
):
    from local_mode.runner import cli_environment

    etl.emulator.start_session("etl", script=[(0, "CREATING", None), (30, "IDLE", None), (200, "BUSY", None)])
    etl.clock.advance(60)
    scheduled_sweep(context)  # the function: None -> IDLE
    etl.clock.advance(200)
    cli = cli_environment(dict(os.environ))  # the env file `session-monitor --local sweep` reads
    monkeypatch.delenv(contract.ENV_STATE_EVENTS_BUS)  # the CLI's shell has no bus of its own
    for name, value in cli.items():
        monkeypatch.setenv(name, value)
    config.settings.cache_clear()
    sweep.run_scheduled_sweep()
    etl.clock.advance(100)
    scheduled_sweep(context)  # the function again
    assert transitions(receive_events(inbox)) == [(None, "IDLE"), ("IDLE", "BUSY")]


# --- 5. a state that goes on is news on first sight, however old --------------------------------


def test_a_session_degraded_for_longer_than_the_lookback_at_first_sight_is_announced(etl, alerts, inbox, context):
    old = etl.emulator.start_session(
        "etl",
        script=[(0, "CREATING", None), (30, "DEGRADED", "lost executors"), (4000, "IDLE", None)],
        idle_timeout_minutes=480,
    )
    etl.clock.advance(3600)  # deployed an hour later: the DEGRADED alert is history
    scheduled_sweep(context)
    etl.clock.advance(600)
    scheduled_sweep(context)

    received = receive_events(inbox)
    assert [
        (e["detail"]["session"]["session_id"], e["detail"]["previous_state"], e["detail"]["state"]) for e in received
    ] == [
        (old, None, "DEGRADED"),
        (old, "DEGRADED", "IDLE"),
    ]
    assert alerts.received() == []  # no alert for history, no RECOVERED for an alert never sent


# --- 6. a hanging bus fails fast -----------------------------------------------------------------


@pytest.fixture
def black_hole(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """An EventBridge endpoint that accepts connections and never answers; yields the number of
    HTTP attempts the events client made (counted by botocore's before-send hook)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", f"http://127.0.0.1:{server.getsockname()[1]}")
    clients.reset()
    attempts: list[int] = []
    clients.client("events").meta.events.register("before-send.events.PutEvents", lambda **_: attempts.append(1))
    yield attempts
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()
    clients.reset()


def entries(count: int) -> list[dict[str, Any]]:
    return [
        {"Source": "athena-session-monitor", "DetailType": "x", "Detail": f'{{"event_id": "{i}"}}', "Time": NOW}
        for i in range(count)
    ]


def test_a_hanging_bus_costs_one_call_and_fails_every_later_batch_without_calling(alerts, black_hole):
    result = events.put_events(entries(25))  # three batches
    assert result.put == 0 and len(result.failed) == 25
    assert len(black_hole) == clients.EVENTS_CLIENT_CONFIG.retries["total_max_attempts"] == 2
    codes = dict(result.failed)
    assert {codes[i] for i in range(10)} != {events.NOT_TRIED}  # the batch tried: its timeout
    assert {codes[i] for i in range(10, 25)} == {events.NOT_TRIED}  # not waited for


def test_batches_left_when_the_time_budget_ran_out_are_failed_without_a_call(alerts, black_hole):
    result = events.put_events(entries(3), budget_seconds=0)
    assert black_hole == [] and result.failed == [(i, events.NOT_TRIED) for i in range(3)]


def test_an_api_read_through_a_hanging_bus_answers_after_one_short_call(athena, alerts, context, monkeypatch):
    from session_monitor.entry import handler

    monkeypatch.setenv(contract.ENV_STATE_EVENTS_BUS, "default")
    config.settings.cache_clear()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", f"http://127.0.0.1:{server.getsockname()[1]}")
    clients.reset()
    attempts: list[int] = []
    clients.client("events").meta.events.register("before-send.events.PutEvents", lambda **_: attempts.append(1))
    stub = Stubber(clients.client("athena"))
    stub.add_response(
        "get_session",
        get_session_response("s-1", "BUSY", "etl", modified=NOW - timedelta(minutes=5)),
        {"SessionId": "s-1"},
    )
    try:
        with stub:
            response = handler(api_event("/sessions/s-1"), context)
    finally:
        server.close()
    assert response["statusCode"] == 200
    assert len(attempts) == 2  # the events client's two attempts, not the shared client's four


# --- 13. the developer's shell does not turn events on in tests ---------------------------------


def test_no_test_inherits_a_state_events_bus_from_the_shell():
    assert contract.ENV_STATE_EVENTS_BUS not in os.environ
