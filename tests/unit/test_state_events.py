"""State-change events, pure: which looks are a change, what the event says, how big it may be.

Examples name what a consumer of the events would notice; the property at the end walks whole
session histories, with invocations that die before saving what they saw.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import session_contract as contract
from session_monitor import ledger, state_changes
from session_monitor.integration.events import MAX_ENTRIES, MAX_REQUEST_BYTES, batches
from session_monitor.ledger import Observation, Policy, View
from session_monitor.model import session_from_get, summary_from_list
from tests.helpers import get_session_response

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = Policy(lookback=timedelta(minutes=15))
SCOPE = "123456789012/us-east-1"
SOAK = os.environ.get("HYPOTHESIS_PROFILE") == "soak"
EXAMPLES = 5_000 if SOAK else 200


def obs(state, *, modified=None, ended=None, source="get", session_id="s-1"):
    return Observation(session_id, state, source, last_modified=modified, ended=ended)


def look(before, observation, now=T0, policy=POLICY):
    """One look: the ledger's decision and the change it makes (if any)."""
    decision = ledger.decide(before, observation, now, policy)
    return decision, state_changes.change_of(before, decision, observation)


def settled(decision):
    """The view a look saves, every action's outcome final (sent or suppressed)."""
    view = decision.view
    for action in decision.actions:
        view = ledger.settle(view, action, "suppressed" if action.kind == "suppress" else "sent")
    return view


def test_the_first_look_at_a_session_is_a_change_from_nothing():
    _, change = look(None, obs("BUSY", modified=T0 - timedelta(minutes=1)))
    assert change is not None
    assert (change.previous_state, change.state, change.severity) == (None, "BUSY", "info")
    assert change.since == T0 - timedelta(minutes=1) and change.since_known


def test_the_same_state_again_is_no_change_whatever_its_timestamps_say():
    decision, _ = look(None, obs("DEGRADED", modified=T0 - timedelta(minutes=3)))
    _, change = look(settled(decision), obs("DEGRADED", modified=T0 - timedelta(minutes=1)), T0 + timedelta(minutes=5))
    assert change is None


def test_a_change_names_the_state_the_ledger_recorded_last():
    decision, _ = look(None, obs("BUSY", modified=T0 - timedelta(minutes=9)))
    _, change = look(settled(decision), obs("DEGRADED", modified=T0 - timedelta(minutes=1)))
    assert change is not None and (change.previous_state, change.state) == ("BUSY", "DEGRADED")
    assert change.severity == "warning"


def test_a_first_sight_of_an_ending_older_than_the_lookback_is_not_news():
    """The monitor learnt of it late (first deploy, someone reads history): no event, as no alert."""
    _, change = look(None, obs("FAILED", ended=T0 - timedelta(days=2)))
    assert change is None


def test_an_old_ending_of_a_session_the_ledger_watched_is_still_its_change():
    """A consumer tracking the session saw it BUSY: it must learn that it ended."""
    view = View(state="BUSY", since=T0 - timedelta(days=3), since_known=True)
    _, change = look(view, obs("TERMINATED", ended=T0 - timedelta(days=2)))
    assert change is not None and (change.previous_state, change.state) == ("BUSY", "TERMINATED")


def test_an_unknown_state_is_not_announced():
    _, change = look(View(state="BUSY", since=T0, since_known=True), obs(None), T0)
    assert change is None


def test_changes_that_start_an_episode_carry_its_alert_id():
    busy = settled(look(None, obs("BUSY", modified=T0 - timedelta(minutes=9)))[0])
    degraded_at = T0 - timedelta(minutes=2)
    decision, change = look(busy, obs("DEGRADED", modified=degraded_at))
    assert change is not None and change.episode_key == "DEGRADED#20261126T115800Z"
    recovered_at = T0 + timedelta(minutes=3)
    _, recovery = look(settled(decision), obs("IDLE", modified=recovered_at), T0 + timedelta(minutes=5))
    assert recovery is not None and recovery.episode_key == "RECOVERED#20261126T115800Z"
    _, failed = look(busy, obs("FAILED", ended=T0 - timedelta(minutes=1)))
    assert failed is not None and failed.episode_key == "FAILED#END"
    _, plain = look(busy, obs("IDLE", modified=T0))
    assert plain is not None and plain.episode_key is None


def test_the_detail_holds_the_change_the_ids_and_the_normalised_session():
    session = session_from_get(
        get_session_response("s-1", "FAILED", "etl", modified=T0 - timedelta(minutes=1), reason="driver lost"), 0.35
    )
    view = View(state="BUSY", since=T0 - timedelta(hours=1), since_known=True)
    _, change = look(view, obs("FAILED", ended=T0 - timedelta(minutes=1)))
    assert change is not None
    detail = state_changes.detail(change, session, account="123456789012", region="us-east-1", observed_at=T0)
    assert detail == {
        "version": contract.STATE_EVENTS_SCHEMA_VERSION,
        "event_id": change.event_id(SCOPE),
        "state": "FAILED",
        "previous_state": "BUSY",
        "severity": "critical",
        "state_since": "2026-11-26T11:59:00Z",
        "state_since_source": "athena",
        "episode_id": f"{SCOPE}/s-1#FAILED#END",
        "observed_at": "2026-11-26T12:00:00Z",
        "observed_by": "get",
        "account": "123456789012",
        "region": "us-east-1",
        "session": session.to_dict(),
    }
    assert detail["session"]["state_change_reason"] == "driver lost" and detail["session"]["dpu_hours"] == 2.0
    # Not a shape the function itself routes: an event sent back to it is not a session check.
    assert "SessionId" not in detail and "session_id" not in detail


def test_a_change_seen_in_a_listing_says_so_and_carries_the_summary():
    summary = summary_from_list(
        {"SessionId": "s-1", "Status": {"State": "IDLE", "LastModifiedDateTime": T0}, "NotebookVersion": "1"}, "etl"
    )
    _, change = look(None, obs("IDLE", modified=T0, source="filtered"))
    assert change is not None
    detail = state_changes.detail(change, summary, account="1", region="r", observed_at=T0)
    assert detail["observed_by"] == "listing" and "dpu_hours" not in detail["session"]


def test_the_same_change_seen_again_has_the_same_event_id_and_another_change_another():
    view = View(state="BUSY", since=T0 - timedelta(hours=1), since_known=True)
    degraded = obs("DEGRADED", modified=T0 - timedelta(minutes=2))
    _, first = look(view, degraded, T0)
    _, again = look(view, degraded, T0 + timedelta(minutes=5))  # the look that saw it first died
    _, later = look(view, obs("DEGRADED", modified=T0 + timedelta(minutes=1)), T0 + timedelta(minutes=5))
    assert first is not None and again is not None and later is not None
    assert first.event_id(SCOPE) == again.event_id(SCOPE) != later.event_id(SCOPE)
    assert first.event_id(SCOPE) != first.event_id("210987654321/us-east-1")


def test_an_entry_is_what_put_events_takes_and_its_size_is_counted_as_eventbridge_does():
    session = session_from_get(get_session_response("s-1", "BUSY", "etl", modified=T0), 0.35)
    _, change = look(None, obs("BUSY", modified=T0))
    document = state_changes.detail(change, session, account="1", region="r", observed_at=T0)
    entry = state_changes.entry(document, "default", T0)
    assert entry["Source"] == contract.STATE_EVENTS_SOURCE == "athena-session-monitor"
    assert not entry["Source"].startswith("aws.")
    assert entry["DetailType"] == contract.STATE_EVENTS_DETAIL_TYPE == "Athena Spark Session State Change"
    assert entry["EventBusName"] == "default" and entry["Time"] == T0
    assert json.loads(entry["Detail"]) == document
    expected = 14 + len(entry["Source"]) + len(entry["DetailType"]) + len(entry["Detail"].encode())
    assert state_changes.entry_size(entry) == expected


def big_session(properties_kb: int, description: str = "big"):
    raw = get_session_response("s-big", "FAILED", "etl", modified=T0)
    raw["Description"] = description
    raw["EngineConfiguration"]["SparkProperties"] = {
        f"spark.custom.p{i}": "x" * 1000 for i in range(properties_kb)
    }  # ~1 KB each
    return session_from_get(raw, 0.35)


def test_a_session_with_huge_spark_properties_loses_its_configuration_not_its_event():
    session = big_session(300)  # ~300 KB of properties: over the 256 KB entry limit
    _, change = look(View(state="BUSY", since=T0, since_known=True), obs("FAILED", ended=T0))
    document = state_changes.detail(change, session, account="1", region="r", observed_at=T0)
    entry = state_changes.entry(document, "default", T0)
    assert state_changes.entry_size(entry) <= state_changes.ENTRY_MAX_BYTES
    sent = json.loads(entry["Detail"])
    assert sent["truncated"] == ["engine_configuration"] and sent["session"]["engine_configuration"] is None
    assert sent["state"] == "FAILED" and sent["session"]["dpu_hours"] == session.dpu_hours


def test_a_session_too_big_even_without_configuration_keeps_its_identity():
    session = replace(big_session(0), description="d" * 300_000)  # no Athena description is this long
    _, change = look(None, obs("FAILED", ended=T0))
    document = state_changes.detail(change, session, account="1", region="r", observed_at=T0)
    entry = state_changes.entry(document, "default", T0)
    sent = json.loads(entry["Detail"])
    assert state_changes.entry_size(entry) <= state_changes.ENTRY_MAX_BYTES
    assert sent["truncated"] == ["session"]
    assert sent["session"] == {"session_id": "s-big", "workgroup": "etl", "state": "FAILED"}


def test_small_events_go_ten_to_a_request_and_big_ones_fewer():
    small = {"Source": "s", "DetailType": "d", "Detail": "{}", "Time": T0}
    assert [len(b) for b in batches([small] * 25)] == [10, 10, 5]
    big = {**small, "Detail": json.dumps({"x": "y" * 100_000})}
    sizes = [sum(state_changes.entry_size(e) for e in [big] * len(b)) for b in batches([big] * 5)]
    assert [len(b) for b in batches([big] * 5)] == [2, 2, 1]
    assert max(sizes) <= MAX_REQUEST_BYTES and MAX_ENTRIES == 10
    assert [i for b in batches([small, big, small] * 4) for i in b] == list(range(12))  # order kept


# --- the property: the events are the transitions of the recorded state, in order --------------

STATES = st.sampled_from(contract.SESSION_STATES)
# How a look ends: saves its view; dies after putting its event and before saving; or SNS refuses
# its alert (after a first sight was pinned, before any event): no event, no save.
ENDS = st.sampled_from(["saves", "saves", "dies", "alert_fails"])
LOOKBACK_DAYS_AGO = timedelta(days=2)  # an "old" timestamp: history to the ledger


@st.composite
def histories(draw):
    """Looks at one session: (state, dated by Athena, old, how the look ends, seconds since the last).
    A session that ended stays ended (Athena never leaves FAILED or TERMINATED): later looks read it
    again, after the ledger forgot it."""
    alphabet = draw(st.lists(STATES, min_size=1, max_size=4, unique=True))  # few states: many repeats
    looks = draw(
        st.lists(
            st.tuples(
                st.sampled_from(alphabet), st.booleans(), st.booleans(), ENDS, st.integers(min_value=1, max_value=900)
            ),
            min_size=1,
            max_size=30,
        )
    )
    ended = None
    for index, (state, *rest) in enumerate(looks):
        ended = ended or (state if state in ledger.TERMINAL else None)
        looks[index] = (ended or state, *rest)
    return looks


@dataclass
class Item:
    """The ledger's stored view: what register_sighting and a full save leave (state_store)."""

    view: View
    pinned: bool = False
    announced: View | None = None  # the view whose state was last announced


@dataclass
class Event:
    transition: tuple[str | None, str]
    event_id: str
    look: int
    died: bool


def _pin(item: Item | None, decision, observation, now) -> tuple[Item | None, ledger.Decision]:
    """monitor.pin_first_sight over state_store.register_sighting, on the model's item."""
    undated = [
        a for a in decision.actions if a.kind == "alert" and not a.episode.began_known and a.episode.token != ledger.END
    ]
    if not undated or decision.view.since is None:
        return item, decision
    before = item.view if item else None
    if item is not None and item.view.state == observation.state and item.view.since is not None:
        since, known = item.view.since, item.view.since_known  # the sighting another look registered
    else:
        announced = item.announced if item else None
        mark = announced if (announced is not None and announced.since is not None) else None
        view = replace(before or View(), state=observation.state, since=decision.view.since, since_known=False)
        item = Item(view, pinned=True, announced=item.announced if item and item.pinned else mark)
        return item, decision
    pinned = replace(before or View(), state=observation.state, since=since, since_known=known)
    return item, ledger.decide(pinned, observation, now, POLICY)


def run_history(history, change_of) -> tuple[list[Event], list[tuple[int, str | None, tuple[str | None, str] | None]]]:
    """Walk the looks; return the events put and, for each look that saved, the state recorded
    before it and the transition it owes an event (None: the recorded state did not change)."""
    item: Item | None = None
    now, began, seen_state = T0, T0, None
    sent: set[str] = set()  # the ledger's alert records: episodes some look sent
    suppressed: set[str] = set()  # ... and episodes some look recorded as history
    reported_ends: set[str] = set()  # terminal states a full save recorded (then the view is deleted)
    recorded: str | None = None  # the state the last full save recorded (None: none, or deleted)
    put: list[Event] = []
    expected: list[tuple[int, str | None, tuple[str | None, str] | None]] = []
    for index, (state, dated, old, end, seconds) in enumerate(history):
        now += timedelta(seconds=seconds)
        if state != seen_state:
            began, seen_state = now - timedelta(seconds=1), state
        stamp = (began - LOOKBACK_DAYS_AGO if old else began) if dated else None
        observation = Observation(
            "s-1", state, "get", last_modified=stamp, ended=stamp if state in ledger.TERMINAL else None
        )
        before = item.view if item else None
        announced = item.announced if item else None
        decision = ledger.decide(before, observation, now, POLICY)
        item, decision = _pin(item, decision, observation, now)
        if end == "alert_fails" and any(a.kind != "suppress" for a in decision.actions):
            continue  # SNS refused: the claim is released, nothing put, nothing saved (the pin stays)
        outcomes = []
        for action in decision.actions:  # what the alert records answer (claim -> publish)
            if action.kind == "suppress":
                outcomes.append("suppressed")
                suppressed.add(action.episode.key)
            elif action.episode.key in suppressed:
                outcomes.append("suppressed")
            else:
                outcomes.append("already_sent" if action.episode.key in sent else "sent")
                sent.add(action.episode.key)
        change = change_of(announced, decision, observation, outcomes)
        if change is not None:
            put.append(Event((change.previous_state, change.state), change.event_id(SCOPE), index, end == "dies"))
        if end == "dies":
            continue
        # The reference: a full save records ``state``; a transition of the recorded state is owed
        # an event, except a first sight of an ending that is history or was reported already.
        first_sight_of_old_end = (
            recorded is None
            and state in ledger.TERMINAL
            and ((dated and old) or state in reported_ends or f"{state}#{ledger.END}" in suppressed)
        )
        expected.append(
            (index, recorded, (recorded, state) if state != recorded and not first_sight_of_old_end else None)
        )
        kept = decision.view
        for action, outcome in zip(decision.actions, outcomes, strict=True):
            kept = ledger.settle(kept, action, outcome)
        if ledger.finished(kept):
            item, recorded = None, None  # reported: the ledger forgets the session
            reported_ends.add(state)
        else:
            item, recorded = Item(kept, announced=kept), state
    return put, expected


def check_history(history, change_of) -> None:
    """Between two saves, the looks that died after putting and the look that saves put events.
    The saving look puts exactly the transition its save makes (none when the recorded state did
    not change); a dead look's event counts for it when the saving look finds it already handled
    (an ending whose alert the dead look sent); every event names the state recorded before it."""
    put, saves = run_history(history, change_of)
    since = -1
    for index, recorded, owed in saves:
        group = [e for e in put if since < e.look <= index]
        own = [e.transition for e in group if e.look == index]
        dead = [e.transition for e in group if e.died]
        assert all(t[0] == recorded for t in own + dead), (group, recorded)
        if owed is None:
            assert own == [], f"look {index} announced an unchanged state: {own}"
        else:
            assert own == [owed] or (own == [] and owed in dead), f"look {index} owed {owed}, put {own}"
        since = index


def _expected_transitions(history) -> list[tuple[str | None, str]]:
    return [owed for _, _, owed in run_history(history, state_changes.change_of)[1] if owed is not None]


@settings(max_examples=EXAMPLES, deadline=None)
@given(histories())
def test_the_events_are_the_transitions_of_the_recorded_state_in_order_and_each_once(history):
    check_history(history, state_changes.change_of)


def test_the_property_catches_a_change_of_that_drops_repeated_transitions():
    """The reviewer's blind change_of (each transition announced the first time only) fails it."""

    @settings(max_examples=200, deadline=None, database=None)
    @given(histories())
    def property_with_a_lossy_change_of(history):
        seen: set[tuple[str | None, str]] = set()

        def lossy(before, decision, observation, outcomes=()):
            change = state_changes.change_of(before, decision, observation, outcomes)
            if change is None or (change.previous_state, change.state) in seen:
                return None
            seen.add((change.previous_state, change.state))
            return change

        check_history(history, lossy)

    with pytest.raises(AssertionError):
        property_with_a_lossy_change_of()


def test_the_property_catches_a_change_of_that_ignores_the_pin_mark():
    """A change_of that reads the pinned view (not what it replaced) loses the change a failed
    alert left: the property, through its alert_fails looks, must see it."""
    history = [("DEGRADED", False, False, "alert_fails", 60), ("DEGRADED", False, False, "saves", 60)]
    check_history(history, state_changes.change_of)
    put, _saves = run_history(history, state_changes.change_of)
    assert _expected_transitions(history) == [(None, "DEGRADED")] and [e.transition for e in put] == [
        (None, "DEGRADED")
    ]

    def reads_the_pinned_view(before, decision, observation, outcomes=()):
        return state_changes.change_of(decision.view if before is None else before, decision, observation, outcomes)

    with pytest.raises(AssertionError):
        check_history(history, reads_the_pinned_view)


def test_a_first_sight_of_an_end_an_earlier_look_reported_is_not_announced_again():
    """The ledger forgets a session once its end is reported: a later read is no news."""
    decision, change = look(None, obs("FAILED", ended=T0 - timedelta(minutes=1)))
    again = state_changes.change_of(None, decision, obs("FAILED", ended=T0 - timedelta(minutes=1)), ["already_sent"])
    assert change is not None and again is None
    first = state_changes.change_of(None, decision, obs("FAILED", ended=T0 - timedelta(minutes=1)), ["sent"])
    assert first is not None
    racing = state_changes.change_of(None, decision, obs("FAILED", ended=T0 - timedelta(minutes=1)), ["in_flight"])
    assert racing is not None  # another look holds the claim: both may announce, under one id
