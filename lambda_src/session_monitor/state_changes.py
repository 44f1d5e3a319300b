"""State-change events: which looks saw a change, and how the event reads. Pure.

Athena puts no event on EventBridge when a Spark session changes state (only "Athena Query State
Change" for queries), so the monitor does: every change it observes becomes one event,
detail-type ``Athena Spark Session State Change``, source ``athena-session-monitor`` (the
contract's names), on the configured bus.

A *change* is a look whose state differs from the state the ledger's view recorded last
(``previous_state``), or the first look at a session the ledger has no view of (``previous_state``
null; a session on CloudTrail discovery's watch list counts as not yet looked at). Not a
change: the same state again, a state the model does not know (null), a first sight of an ending
the ledger calls history (FAILED or TERMINATED older than the look-back: the monitor learnt of it
late, it did not see it happen; its alert is suppressed for the same reason), and a first sight
of an ending whose alert an earlier look already sent or suppressed: the ledger forgets a session
once its end is reported, so reading it again later is no news. A first sight of a state that
goes on (a session DEGRADED for longer than the look-back) is a change, though its alert is
history: the session is still in that state, and its next change will name it.

``previous_state`` is the state the look found recorded: the view's state, or, for a view that
is only a registered first sight (``state_store.register_sighting``, a look that pinned an
undated state and then failed before announcing it), the state that sighting replaced. Two
looks that overlap each find what was recorded before either saved, so both can announce (the
same ``event_id`` for the same new state) and the older one's ``previous_state`` can be stale.

The caller puts the event *before* it saves the view that records the new state, so a crash in
between sends it again on the next look: delivery is at least once. A repeat carries the same
``event_id`` whenever the new state is dated by Athena (or its first sight was pinned in the
ledger), because the id is derived from the session, the state and when it began, never from the
moment of the look. ``change_of`` decides; ``detail`` and ``entry`` render; no I/O here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import session_contract as contract

from .alerting import episode_alert_id
from .ledger import DEGRADED, END, TERMINAL, Decision, Observation, Outcome, Source, View, token_of
from .model import SessionSummary

# EventBridge sizes a PutEvents entry as Time (14 bytes) + Source + DetailType + Detail in UTF-8,
# and refuses one of 256 KB or more (API reference, "Calculating PutEvents event entry size").
ENTRY_MAX_BYTES = 256 * 1024 - 1
TIME_BYTES = 14
# uuid5 namespace of event ids: fixed forever, or every id changes.
EVENT_ID_NAMESPACE = uuid.UUID("5b0d7f0e-58c4-4c55-9d0e-6a1f3c2b9e71")
# What stays of the session when even its configuration-free form is too big for one entry.
IDENTITY_FIELDS = ("session_id", "workgroup", "state")
# An alert's outcome that proves an earlier look handled the episode (and announced its change).
EARLIER_OUTCOMES = frozenset({"already_sent", "suppressed"})


@dataclass(frozen=True)
class StateChange:
    """One state change of one session, as the monitor saw it."""

    session_id: str
    previous_state: str | None  # the state the ledger recorded last; None: first sight
    state: str
    since: datetime  # when ``state`` began: Athena's timestamp, or the monitor's first sight
    since_known: bool  # True when ``since`` is Athena's
    episode_key: str | None  # the ledger episode this change starts (or the recovery it is), if any
    observed_by: Source

    @property
    def severity(self) -> str:
        """The alert severity of the new state; any other change is ``info``."""
        return contract.ALERT_SEVERITY.get(self.state, "info")

    def event_id(self, scope: str) -> str:
        """The same change seen twice gets the same id: session, state and when it began."""
        return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{scope}/{self.session_id}#{self.state}#{token_of(self.since)}"))


def change_of(
    before: View | None, decision: Decision, observation: Observation, outcomes: Sequence[Outcome] = ()
) -> StateChange | None:
    """The change one look saw, given the view before it, the ledger's decision and what became of
    its actions (``outcomes``, in the order of ``decision.actions``). None: no change.

    ``decision`` is the final one (after a first sight was pinned): its view dates the new state
    the way the ledger will remember it, so a later look names the same change the same way.
    """
    state = observation.state
    # A view with no date is CloudTrail's watch-list entry (discovery): it holds what StartSession
    # answered (CREATED, while the session is still CREATING), not a look at the session.
    if before is not None and before.since is None:
        before = None
    previous = before.state if before is not None else None
    if state is None or (before is not None and previous == state):
        return None
    if before is None and _seen_before(decision, outcomes, state):
        return None
    since = decision.view.since or datetime.fromtimestamp(0, UTC)  # decide always dates the view
    return StateChange(
        observation.session_id,
        previous,
        state,
        since,
        decision.view.since_known,
        _episode_key(decision, state, since),
        observation.source,
    )


def _seen_before(decision: Decision, outcomes: Sequence[Outcome], state: str) -> bool:
    """Whether a first sight is old news: an ending that is history (suppressed now), or an ending
    an earlier look already sent or suppressed (the ledger forgot the session after reporting it).
    Only endings: a state that goes on is still news to a consumer that never heard of it."""
    for index, action in enumerate(decision.actions):
        if action.episode.state != state or action.episode.token != END:
            continue
        if action.kind == "suppress":
            return True
        if action.kind == "alert" and index < len(outcomes) and outcomes[index] in EARLIER_OUTCOMES:
            return True
    return False


def _episode_key(decision: Decision, state: str, since: datetime) -> str | None:
    """The ledger episode the change starts (FAILED#END, DEGRADED#WHEN) or the recovery it is."""
    for action in decision.actions:
        if action.kind == "recover" or action.episode.state == state:
            return action.episode.key
    if state in TERMINAL:  # already settled (a view can outlive its alert's record): same key
        return f"{state}#{END}"
    if state == DEGRADED:
        return f"{DEGRADED}#{token_of(since)}"
    return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def detail(
    change: StateChange, session: SessionSummary, *, account: str, region: str, observed_at: datetime
) -> dict[str, Any]:
    """The event's detail: the change, the ids to correlate and de-duplicate on, the session.

    ``session`` is what the look read: GetSession's normalised record (statistics, cost,
    configuration) or, for a change seen in a listing, the summary ListSessions gives (state and
    times only; ``observed_by`` says which).
    """
    scope = f"{account}/{region}"
    return {
        "version": contract.STATE_EVENTS_SCHEMA_VERSION,
        "event_id": change.event_id(scope),
        "state": change.state,
        "previous_state": change.previous_state,
        "severity": change.severity,
        "state_since": _iso(change.since),
        "state_since_source": "athena" if change.since_known else "first_seen",
        "episode_id": episode_alert_id(scope, change.session_id, change.episode_key) if change.episode_key else None,
        "observed_at": _iso(observed_at),
        "observed_by": "get" if change.observed_by == "get" else "listing",
        "account": account,
        "region": region,
        "session": session.to_dict(),
    }


def entry_size(entry: dict[str, Any]) -> int:
    """A PutEvents entry's size as EventBridge counts it."""
    size = TIME_BYTES if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(name) or "").encode("utf-8"))
    return size + sum(len(r.encode("utf-8")) for r in entry.get("Resources") or [])


def _smaller(document: dict[str, Any]) -> dict[str, Any] | None:
    """The next smaller form of a detail: without the configuration, then the session's identity only."""
    session = document["session"]
    if isinstance(session, dict) and session.get("engine_configuration") is not None:
        return {**document, "session": {**session, "engine_configuration": None}, "truncated": ["engine_configuration"]}
    if isinstance(session, dict) and set(session) - set(IDENTITY_FIELDS):
        identity = {name: session.get(name) for name in IDENTITY_FIELDS}
        return {**document, "session": identity, "truncated": ["session"]}
    return None


def entry(document: dict[str, Any], bus: str, observed_at: datetime) -> dict[str, Any]:
    """The PutEvents entry for one detail, within EventBridge's entry size.

    A session whose Spark properties are huge loses its configuration first (``truncated`` names
    what was dropped); if that is not enough, everything but its id, workgroup and state (which
    always fits: a session id is at most 256 characters)."""
    while True:
        built = {
            "Source": contract.STATE_EVENTS_SOURCE,
            "DetailType": contract.STATE_EVENTS_DETAIL_TYPE,
            "Detail": json.dumps(document, separators=(",", ":"), sort_keys=True),
            "EventBusName": bus,
            "Time": observed_at,
        }
        smaller = _smaller(document) if entry_size(built) > ENTRY_MAX_BYTES else None
        if smaller is None:
            return built
        document = smaller
