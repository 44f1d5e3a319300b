"""Use cases: check one session, carry out the ledger's decisions, send an alert exactly once.

No AWS SDK here: AWS is reached only through the small functions of ``integration``; what to
alert is decided by the pure ``ledger``.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import session_contract as contract

from . import clock, ledger, validation
from .config import Settings, settings
from .errors import SessionMonitorError, StateStoreUnavailable, UpstreamError
from .integration import athena, state_store
from .ledger import Action, Observation, Outcome, Policy, View
from .model import Session, SessionSummary, session_from_get, summary_from_list
from .observability import count, count_error, count_sessions_by_state, logger

if TYPE_CHECKING:  # the alert path's modules are imported where an alert is sent (cold start: issue 16)
    from .alerting import Alert
    from .notifier import Notifier

# Long enough for one SNS publish with retries; short enough that an alert whose sender died
# is picked up again by the next scheduled sweep (in the contract: a FIFO topic's guarantee,
# checked at synth, depends on it).
ALERT_LEASE_SECONDS = contract.ALERT_LEASE_SECONDS
VIEW_TTL_SECONDS = 7 * 86_400

SENT_NOW: Outcome = "sent"
ALREADY_SENT: Outcome = "already_sent"
SUPPRESSED: Outcome = "suppressed"
IN_FLIGHT: Outcome = "in_flight"


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def observe(session: SessionSummary, source: ledger.Source) -> Observation:
    """What the ledger needs of a session: its state and the timestamps that can date it."""
    return Observation(
        session.session_id,
        session.state,
        source,
        last_modified=_moment(session.last_modified_at),
        ended=_moment(session.ended_at),
        idle_since=_moment(session.idle_since),
        started=_moment(session.started_at),
    )


# A watermark is when a workgroup's last complete sweep began; less this margin for clock skew
# and listing lag between Athena and us.
WATERMARK_MARGIN = timedelta(minutes=5)


def policy(config: Settings, watermark: datetime | None = None) -> Policy:
    """The ledger's policy; with a workgroup's watermark, nothing after its last complete sweep
    is history, however long ago that sweep was (an outage delays alerts, it does not lose them)."""
    idle = timedelta(minutes=config.idle_alert_minutes) if config.idle_alert_minutes > 0 else None
    history_before = None if watermark is None else watermark - WATERMARK_MARGIN
    return Policy(lookback=timedelta(minutes=config.lookback_minutes), idle_alert=idle, history_before=history_before)


def pin_first_sight(
    decision: ledger.Decision,
    before: View | None,
    observation: Observation,
    workgroup: str,
    now: datetime,
    rules: Policy,
    *,
    announced: View | None = None,
    rev: str | None = None,
) -> ledger.Decision:
    """Record the first sight of an undated state before alerting on it, so that every look
    (concurrent ones, and the retry after a crash) names the episode by the same moment.

    A conditional write registers ``decision.view.since`` unless the ledger already holds a
    sighting of this state; then that one is used and the decision made again from it. The
    sighting is marked as not yet announced, with ``announced``'s state (the state last announced),
    until a look saves the whole view: a look that fails or dies in between leaves the change
    to the next look. ``rev`` is the revision the write leaves (the look's own, see ``_remember``)."""
    if not _needs_pin(decision) or decision.view.since is None:
        return decision
    config = settings()
    _topic, table = config.require_alerting()
    stored = state_store.register_sighting(
        table,
        config.scope,
        workgroup,
        observation.session_id,
        observation.state or "UNKNOWN",
        decision.view.since,
        int(now.timestamp()),
        VIEW_TTL_SECONDS,
        replaced=_state_of(announced),
        rev=rev,
    )
    if stored is None:
        return decision
    since, known = stored
    pinned = replace(before or View(), state=observation.state, since=since, since_known=known)
    return ledger.decide(pinned, observation, now, rules)


def _needs_pin(decision: ledger.Decision) -> bool:
    """Whether the decision alerts an undated episode (named by its first sight)."""
    return any(
        a.kind == "alert" and not a.episode.began_known and a.episode.token != ledger.END for a in decision.actions
    )


def _state_of(announced: View | None) -> str | None:
    """The state last announced (None: none; a watch-list entry has no date and was not a look)."""
    return announced.state if announced is not None and announced.since is not None else None


def fetch_session(session_id: object) -> Session:
    """GetSession and normalise, with no alerting (the sweep decides itself when to alert)."""
    valid_id = validation.session_id(session_id)
    return session_from_get(athena.get_session(valid_id), settings().price_per_dpu_hour)


def check_session(session_id: object, *, raise_on_alert_failure: bool = True) -> Session:
    """Look at one session and send what the ledger decides (each episode once, history never).

    With ``raise_on_alert_failure`` False (the HTTP API), a failed alert is logged and counted and
    the session is still returned; nothing is recorded as done, so the next look sends the alert.
    """
    return look_at(fetch_session(session_id), raise_on_alert_failure=raise_on_alert_failure)


def look_at(session: Session, *, raise_on_alert_failure: bool = True) -> Session:
    """The ledger's part of a check, for a session already fetched (see ``check_session``)."""
    count_sessions_by_state([session.state])
    logger.info(
        "session checked",
        extra={"session_id": session.session_id, "state": session.state, "workgroup": session.workgroup},
    )
    try:
        sent = _decide_and_record(session)
    except UpstreamError as error:  # SNS or the table failed (refused, denied, down): the answer stands
        if raise_on_alert_failure:
            raise
        count_error(error.code)
        logger.warning("alert not sent; the next look retries it", extra={"error": error.code})
        return session
    if sent:
        count(contract.METRIC_ALERTS_PUBLISHED, sent)
    return session


def _decide_and_record(session: Session) -> int:
    config = settings()
    now = clock.utc_now()
    if not (config.alerts_topic_arn and config.state_table_name):
        # No ledger (the CLI's read-only use, a bare benchmark): fine while nothing calls for an
        # alert; a session that does needs the topic and the table, and says so.
        if ledger.decide(None, observe(session, "get"), now, policy(config)).actions:
            config.require_alerting()
        return 0
    table = config.state_table_name
    workgroup = session.workgroup or "-"
    observation = observe(session, "get")
    stored = state_store.load_view(table, config.scope, workgroup, session.session_id)
    before, announced = (stored.view, stored.announced) if stored is not None else (None, None)
    rules = policy(config)
    decision = ledger.decide(before, observation, now, rules)
    if any(action.kind == "suppress" for action in decision.actions):
        # History by the look-back alone; but a sweep that has not looked since would alert it.
        rules = policy(config, state_store.load_watermark(table, config.scope, workgroup))
        decision = ledger.decide(before, observation, now, rules)
    mine = state_store.new_rev()
    decision = pin_first_sight(decision, before, observation, workgroup, now, rules, announced=announced, rev=mine)
    view, outcomes = carry_out(decision.view, decision.actions, session, now)
    change = state_change_entry(announced, decision, observation, session, now, outcomes)
    _announce_one(change)
    _remember(table, workgroup, session.session_id, stored, view, now, changed=change is not None, mine=mine)
    return sum(1 for outcome in outcomes if outcome == SENT_NOW)


def _announce_one(change: dict[str, Any] | None) -> None:
    """Put a single look's event, before the view that records the new state is saved (at least once)."""
    if change is not None:
        put, failed = announce([change])
        count_state_events(put, failed)


def _to_keep(before: View | None, view: View, changed: bool) -> tuple[bool, View | None]:
    """Whether a single look writes, and what: nothing, the view, or a deletion (None)."""
    if ledger.finished(view):
        return True, None
    if before is not None or changed or ledger.worth_keeping(view):
        return True, view
    return False, None


def _remember(
    table: str,
    workgroup: str,
    session_id: str,
    stored: state_store.Stored | None,
    view: View,
    now: datetime,
    *,
    changed: bool,
    mine: str | None = None,
) -> None:
    """Write what a single look learnt. A view the sweep keeps is never dropped here (the sweep
    sees an ending as the disappearance of a session it has a view of); a finished one is. A
    state announced as a change is kept, so the next look does not announce it again; a sighting
    only (pinned, not yet announced) is always rewritten, which drops its mark.

    The write is conditional on the item being what this look read (or the sighting it pinned):
    a sweep or another look that wrote since knows at least as much (an open DEGRADED, say), so
    this look's older news is dropped and the next look decides again from theirs."""
    before = stored.view if stored is not None else None
    writes, keep = _to_keep(before, view, changed)
    if writes and (keep != before or (stored is not None and stored.pinned)):
        written = state_store.save_view(
            settings().state_table_name or "",
            settings().scope,
            workgroup,
            session_id,
            keep,
            int(now.timestamp()),
            VIEW_TTL_SECONDS,
            seen=stored,
            mine=mine,
        )
        if not written:
            logger.info("view not saved: another look wrote it first", extra={"session_id": session_id})


def carry_out(
    view: View, actions: tuple[Action, ...], session: Session | None, now: datetime
) -> tuple[View, list[Outcome]]:
    """Carry out a decision's actions in order; the view records only what finished.

    ``session`` is GetSession's record (needed to send); None when only suppressions are due.
    An unfinished outcome (another look holds the claim) leaves the episode open for the next look.
    """
    outcomes: list[Outcome] = []
    for action in actions:
        outcome = _carry_out_one(action, session, now)
        outcomes.append(outcome)
        view = ledger.settle(view, action, outcome)
    return view, outcomes


def _carry_out_one(action: Action, session: Session | None, now: datetime) -> Outcome:
    config = settings()
    episode = action.episode
    if action.kind == "suppress":
        _topic, table = config.require_alerting()
        state_store.suppress_alert(
            table,
            config.scope,
            episode.session_id,
            episode.key,
            int(now.timestamp()),
            config.alert_record_ttl_days * 86_400,
        )
        logger.debug("history recorded, not alerted", extra={"episode": episode.key})
        return SUPPRESSED
    if session is None:
        raise ValueError("an alert needs GetSession's record")
    note = None
    if episode.state == ledger.IDLE:
        note = f"idle for {int((now - episode.began).total_seconds() // 60)} minutes"
    from .alerting import Alert

    return notify_once(Alert(session, episode, config.account_id, config.region, note))


def default_notifier() -> Notifier:
    """The channel alerts go to: the alerts topic."""
    topic_arn, _table = settings().require_alerting()
    from .integration import sns

    return sns.SnsNotifier(topic_arn)


def notify_once(alert: Alert, notifier: Notifier | None = None) -> Outcome:
    """Publish ``alert`` unless its episode was already sent or suppressed.

    Returns ``sent`` (this call published it), ``already_sent``, ``suppressed`` (history), or
    ``in_flight`` (another look holds the claim: not done yet, so a later look must try again).

    Order that loses nothing: claim (short lease, from the moment of the claim) -> publish ->
    record SENT. If SNS refuses, the claim is released and the error raised, so the caller's retry
    publishes. If the process dies after SNS accepted but before the record, the lease expires and
    the alert is published again: delivery is at-least-once, and both copies carry the same
    ``alert_id`` attribute. Counting is the caller's: this may run on a sweep's worker thread.
    """
    config = settings()
    _topic, table = config.require_alerting()
    notifier = notifier or default_notifier()
    session_id, key = alert.session.session_id, alert.episode.key
    token, holder = state_store.claim_alert(
        table,
        config.scope,
        session_id,
        key,
        clock.epoch_seconds(),
        ALERT_LEASE_SECONDS,
        config.alert_record_ttl_days * 86_400,
    )
    if token is None:
        logger.debug("alert not claimed", extra={"alert_id": alert.alert_id, "holder": holder})
        by_holder: dict[str, Outcome] = {state_store.PENDING: IN_FLIGHT, state_store.SUPPRESSED: SUPPRESSED}
        return by_holder.get(holder or "", ALREADY_SENT)
    try:
        message_id = notifier.publish(alert)
    except SessionMonitorError:  # the channel refused it (AlertDeliveryFailed, AccessDenied...): not delivered
        with contextlib.suppress(StateStoreUnavailable):  # else the lease runs out on its own
            state_store.release_alert(table, config.scope, session_id, key, token)
        raise
    state_store.confirm_alert(table, config.scope, session_id, key, token, message_id, clock.epoch_seconds())
    logger.info(
        "alert published",
        extra={
            "alert_id": alert.alert_id,
            "severity": alert.severity,
            "channel": notifier.name,
            "message_id": message_id,
        },
    )
    return SENT_NOW


def state_change_entry(
    before: View | None,
    decision: ledger.Decision,
    observation: Observation,
    session: SessionSummary,
    now: datetime,
    outcomes: list[Outcome],
) -> dict[str, Any] | None:
    """The PutEvents entry for the change this look saw (None: no change, or events are off)."""
    config = settings()
    if config.state_events_bus is None:
        return None
    from . import state_changes

    change = state_changes.change_of(before, decision, observation, outcomes)
    if change is None:
        return None
    document = state_changes.detail(change, session, account=config.account_id, region=config.region, observed_at=now)
    return state_changes.entry(document, config.state_events_bus, now)


def announce(entries: list[dict[str, Any]]) -> tuple[int, int]:
    """Put state-change events on the bus; returns (put, failed). Never raises: an event
    EventBridge refuses after the retries is logged and counted (an alarm watches the count),
    and the look goes on, so no alert waits for an event. Counting is the caller's (threads)."""
    if not entries:
        return 0, 0
    from .integration import events

    result = events.put_events(entries)
    if result.failed:
        logger.warning(
            "state-change events not put",
            extra={
                "event_ids": [json.loads(entries[i]["Detail"])["event_id"] for i, _ in result.failed],
                "errors": sorted({code for _, code in result.failed}),
            },
        )
    return result.put, len(result.failed)


def count_state_events(put: int, failed: int) -> None:
    if put:
        count(contract.METRIC_STATE_EVENTS_PUT, put)
    if failed:
        count(contract.METRIC_STATE_EVENTS_FAILED, failed)


def list_workgroup_sessions(workgroup: object, next_token: object = None, max_results: object = 50) -> dict[str, Any]:
    """One page of a workgroup's sessions as normalised summaries, with the token for the next."""
    name = validation.workgroup(workgroup)
    page = athena.list_sessions(name, validation.next_token(next_token), validation.max_results(max_results))
    sessions = [summary_from_list(raw, name) for raw in page.get("Sessions") or [] if isinstance(raw, dict)]
    return {
        "workgroup": name,
        "sessions": [s.to_dict() for s in sessions],
        "next_token": page.get("NextToken") or None,
    }
