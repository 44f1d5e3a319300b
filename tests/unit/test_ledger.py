"""The alert ledger's decisions, pure: no moto, no emulator.

Examples name the cases that once lost or doubled alerts; the properties at the end let
Hypothesis walk whole session histories against a small reference model.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from session_monitor import ledger
from session_monitor.ledger import Observation, Policy, View

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
# make test runs a bounded number of histories; make soak (HYPOTHESIS_PROFILE=soak) many more.
SOAK = os.environ.get("HYPOTHESIS_PROFILE") == "soak"
EXAMPLES = 20_000 if SOAK else 300
POLICY = Policy(lookback=timedelta(minutes=15))


def obs(state, *, modified=None, ended=None, idle_since=None, started=None, source="get"):
    return Observation(
        "s-1", state, source, last_modified=modified, ended=ended, idle_since=idle_since, started=started
    )


def run(view, observation, now, outcome="sent", policy=POLICY):
    """Decide, then settle every action with ``outcome``: what one look leaves behind."""
    decision = ledger.decide(view, observation, now, policy)
    kept = decision.view
    for action in decision.actions:
        kept = ledger.settle(kept, action, outcome)
    return kept, [(a.kind, a.episode.key) for a in decision.actions]


def test_a_fresh_failure_without_end_or_modified_time_is_recent_though_it_started_long_ago():
    """Case 3: StartDateTime dates the session, never its failure."""
    _, actions = run(None, obs("FAILED", started=T0 - timedelta(days=3)), T0)
    assert actions == [("alert", "FAILED#END")]


def test_a_degraded_listing_entry_without_a_timestamp_calls_for_a_look_not_for_silence():
    decision = ledger.decide(None, obs("DEGRADED", started=T0 - timedelta(hours=2), source="listing"), T0, POLICY)
    assert decision.needs_record and decision.actions[0].kind == "alert"


def test_history_with_a_timestamp_older_than_the_lookback_is_suppressed_on_every_path():
    """Case 7: reading a session that ended three days ago records it, never alerts it."""
    view, actions = run(None, obs("TERMINATED", ended=T0 - timedelta(days=3)), T0, outcome="suppressed")
    assert actions == [("suppress", "TERMINATED#END")]
    assert ledger.finished(view)


def test_a_degradation_that_comes_back_is_a_new_episode_with_a_recovery_between():
    """Cases 2 and 8."""
    first = T0 - timedelta(minutes=2)
    view, actions = run(None, obs("DEGRADED", modified=first), T0)
    assert actions == [("alert", f"DEGRADED#{ledger.token_of(first)}")]
    assert view.open_degraded == f"DEGRADED#{ledger.token_of(first)}"
    view, actions = run(view, obs("DEGRADED", modified=first), T0 + timedelta(minutes=5))
    assert actions == []
    view, actions = run(view, obs("IDLE", idle_since=T0 + timedelta(minutes=6)), T0 + timedelta(minutes=10))
    assert actions == [("recover", f"RECOVERED#{ledger.token_of(first)}")]
    assert view.open_degraded is None
    again = T0 + timedelta(minutes=12)
    view, actions = run(view, obs("DEGRADED", modified=again), T0 + timedelta(minutes=15))
    assert actions == [("alert", f"DEGRADED#{ledger.token_of(again)}")]


def test_a_new_modified_time_on_a_session_still_degraded_is_the_same_episode():
    """Attack A1: a new StateChangeReason moves LastModifiedDateTime; the state never left."""
    view, actions = run(None, obs("DEGRADED", modified=T0), T0)
    view, actions = run(view, obs("DEGRADED", modified=T0 + timedelta(minutes=4)), T0 + timedelta(minutes=5))
    assert actions == [] and view.open_degraded == f"DEGRADED#{ledger.token_of(T0)}"


def test_an_outage_longer_than_the_lookback_delays_alerts_instead_of_suppressing_them():
    """Attack A2: nothing after the last complete sweep is history, however long ago it was."""
    last_sweep = T0 - timedelta(hours=2)
    ended = T0 - timedelta(hours=1)
    policy = Policy(lookback=timedelta(minutes=15), history_before=last_sweep)
    assert run(None, obs("FAILED", ended=ended), T0, policy=policy)[1] == [("alert", "FAILED#END")]
    assert run(None, obs("FAILED", ended=ended), T0)[1] == [("suppress", "FAILED#END")]


def test_an_undated_degradation_keeps_its_first_sight_until_the_state_changes():
    view, actions = run(None, obs("DEGRADED"), T0)
    assert actions == [("alert", f"DEGRADED#{ledger.token_of(T0)}")] and not view.since_known
    view, actions = run(view, obs("DEGRADED"), T0 + timedelta(minutes=30))
    assert actions == []  # the same episode, however long it lasts
    view, actions = run(view, obs("BUSY"), T0 + timedelta(minutes=31))
    view, actions = run(view, obs("DEGRADED"), T0 + timedelta(minutes=40))
    assert actions == [("alert", f"DEGRADED#{ledger.token_of(T0 + timedelta(minutes=40))}")]


def test_an_alert_another_look_holds_stays_open_until_its_outcome_is_known():
    """Case 4: IN_FLIGHT is not done; the view is not finished, so it is kept and looked at again."""
    view, _ = run(None, obs("FAILED", ended=T0), T0, outcome="in_flight")
    assert not ledger.finished(view) and "FAILED#END" not in view.done
    view, actions = run(view, obs("FAILED", ended=T0), T0 + timedelta(minutes=5))
    assert actions == [("alert", "FAILED#END")] and ledger.finished(view)


def test_no_recovery_for_a_suppressed_degradation_nor_after_the_session_ended():
    view, _ = run(None, obs("DEGRADED", modified=T0 - timedelta(hours=1)), T0, outcome="suppressed")
    assert view.open_degraded is None
    _, actions = run(view, obs("IDLE", idle_since=T0), T0 + timedelta(minutes=1))
    assert actions == []
    view, _ = run(None, obs("DEGRADED", modified=T0), T0)
    view, actions = run(view, obs("FAILED", ended=T0 + timedelta(minutes=1)), T0 + timedelta(minutes=2))
    assert actions == [("alert", "FAILED#END")] and view.open_degraded is None


def test_idle_warnings_need_the_watch_on_and_are_never_history():
    watch = Policy(lookback=timedelta(minutes=15), idle_alert=timedelta(minutes=60))
    idle = obs("IDLE", idle_since=T0 - timedelta(hours=5))
    assert run(None, idle, T0)[1] == []
    assert run(None, idle, T0, policy=watch)[1] == [("alert", f"IDLE#{ledger.token_of(T0 - timedelta(hours=5))}")]


# --- properties: whole histories against a reference model -----------------------------------

HEALTHY = ("IDLE", "BUSY")
# A step: the next state, whether Athena dates it, minutes until the next look (0..40).
steps = st.lists(
    st.tuples(
        st.sampled_from(("CREATING", "IDLE", "BUSY", "DEGRADED", "TERMINATING", "FAILED", "TERMINATED")),
        st.booleans(),
        st.integers(0, 40),
    ),
    min_size=1,
    max_size=25,
)


def _walk(history, first_look_delay):
    """Play a history, looking after every step; Athena dates a state when its flag says so.
    Returns the (kind, key) actions taken with outcome 'sent', and the reference episodes."""
    now = T0
    view: View | None = None
    taken: list[tuple[str, str]] = []
    expected: list[tuple[str, str]] = []
    state = None
    began = now
    open_degraded = None
    for index, (next_state, dated, wait) in enumerate(history):
        if state in ledger.TERMINAL:
            break
        changed = next_state != state
        began = now if changed else began
        state = next_state
        look = now + timedelta(minutes=first_look_delay if index == 0 else 0)
        observation = obs(
            state,
            modified=began if dated else None,
            ended=began if dated and state in ledger.TERMINAL else None,
            idle_since=began if dated and state == "IDLE" else None,
        )
        if changed:
            old = dated and began < look - POLICY.lookback
            if state in HEALTHY and open_degraded:
                expected.append(("recover", "RECOVERED#" + open_degraded.split("#", 1)[1]))
                open_degraded = None
            if state in ledger.ALERT_SEVERITY:
                key = (
                    f"{state}#END"
                    if state in ledger.TERMINAL
                    else f"{state}#{ledger.token_of(began if dated else look)}"
                )
                expected.append(("suppress" if old else "alert", key))
                open_degraded = (
                    key if state == "DEGRADED" and not old else None if state != "DEGRADED" else open_degraded
                )
            if state in ledger.TERMINAL:
                open_degraded = None
        decision = ledger.decide(view, observation, look, POLICY)
        view = decision.view
        for action in decision.actions:
            outcome = "suppressed" if action.kind == "suppress" else "sent"
            view = ledger.settle(view, action, outcome)
            taken.append((action.kind, action.episode.key))
        now = look + timedelta(minutes=wait)
    return taken, expected


@settings(max_examples=EXAMPLES)
@given(steps, st.sampled_from([0, 0, 5, 30]))
def test_every_episode_seen_is_alerted_or_suppressed_exactly_once(history, first_look_delay):
    taken, expected = _walk(history, first_look_delay)
    assert taken == expected


@settings(max_examples=EXAMPLES)
@given(steps)
def test_repeated_looks_at_an_unchanged_session_decide_nothing_new(history):
    now, view = T0, None
    for state, dated, wait in history:
        observation = obs(
            state, modified=now if dated else None, ended=now if dated else None, idle_since=now if dated else None
        )
        for _ in range(3):  # duplicated events, overlapping sweeps, API reads
            decision = ledger.decide(view, observation, now, POLICY)
            view = decision.view
            for action in decision.actions:
                view = ledger.settle(view, action, "sent")
        assert ledger.decide(view, observation, now, POLICY).actions == ()
        now += timedelta(minutes=wait)
        if state in ledger.TERMINAL:
            break


@settings(max_examples=EXAMPLES)
@given(steps, st.lists(st.sampled_from(["sent", "already_sent", "in_flight", "failed", "suppressed"]), min_size=1))
def test_a_recovery_only_follows_a_degradation_that_was_sent(history, outcomes):
    now, view, sent_degraded = T0, None, set()
    outcome_cycle = iter(outcomes * 50)
    for state, dated, wait in history:
        decision = ledger.decide(view, obs(state, modified=now if dated else None), now, POLICY)
        view = decision.view
        for action in decision.actions:
            outcome = next(outcome_cycle)
            if action.kind == "recover":
                assert action.episode.resolves in sent_degraded
            if action.episode.state == "DEGRADED" and outcome in ("sent", "already_sent"):
                sent_degraded.add(action.episode.key)
            view = ledger.settle(view, action, outcome)
        now += timedelta(minutes=wait)
        if state in ledger.TERMINAL:
            break
