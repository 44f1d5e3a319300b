"""The alert ledger's decisions: what to alert, recover, suppress, remember and forget.

Pure: no boto3, no Powertools, no clock. Given what the ledger remembers of one session (a
``View``), one ``Observation`` of it, the time and the ``Policy``, ``decide`` returns the actions
to carry out and the view to keep. ``settle`` folds an action's outcome back into the view. The
sweep (``sweep.py``) and the single-session paths (``monitor.py``) gather observations and carry
the actions out; the property tests drive this module directly.

Episodes. An alert is sent once per *episode*: a (session, state, when the state began). A session
ends once, so a terminal state's episode is keyed ``FAILED#END`` / ``TERMINATED#END`` whatever its
timestamps say. A DEGRADED (or long IDLE) state can come back, so its key carries when it began:
Athena's timestamp (LastModifiedDateTime; IdleSinceDateTime for IDLE) or, where Athena leaves it
out, the first time the monitor saw the session in that state. An episode lasts as long as looks
keep seeing the state: a new LastModifiedDateTime on a session still DEGRADED (a new reason) is
the same episode, and a degradation that recovered and came back between two looks was never seen
to end, so it stays one incident, closed by one RECOVERED.

Age. Only a timestamp may prove an episode old. An episode whose timestamp is before
``now - lookback`` (and before ``history_before``, the last complete sweep, when one is known, so
that an outage delays alerts instead of losing them) is recorded as suppressed, never sent (no storm on first deploy, no alert when
someone reads history). An episode with no timestamp is dated by its first sight, so it is recent:
where in doubt, a possible duplicate beats a lost alert. Idle warnings are about money spent now
and are never history.

Recovery. A session whose DEGRADED alert was sent and that is seen IDLE or BUSY again gets one
RECOVERED notice, keyed by the DEGRADED episode it resolves.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from session_contract import ALERT_SEVERITY, HEALTHY_STATES, IDLE, RECOVERED, TERMINAL_STATES

TERMINAL = TERMINAL_STATES
HEALTHY = HEALTHY_STATES
DEGRADED = "DEGRADED"
__all__ = ["ALERT_SEVERITY", "DEGRADED", "HEALTHY", "IDLE", "RECOVERED", "TERMINAL", "decide", "settle"]
END = "END"

Source = Literal["listing", "filtered", "get"]
Kind = Literal["alert", "recover", "suppress"]
# What became of an alert the adapters tried to send.
Outcome = Literal["sent", "already_sent", "suppressed", "in_flight", "failed"]
FINAL_OUTCOMES = frozenset({"sent", "already_sent", "suppressed"})


@dataclass(frozen=True)
class Observation:
    """One look at a session: its state and the timestamps that date it, and where it came from."""

    session_id: str
    state: str | None
    source: Source
    last_modified: datetime | None = None
    ended: datetime | None = None
    idle_since: datetime | None = None
    started: datetime | None = None

    def state_timestamp(self) -> datetime | None:
        """When the current state began, if Athena said so (StartDateTime never dates a state)."""
        if self.state in TERMINAL:
            return self.ended or self.last_modified
        if self.state == IDLE:
            return self.idle_since or self.last_modified
        return self.last_modified


@dataclass(frozen=True)
class View:
    """What the ledger remembers of one session between looks."""

    state: str | None = None
    since: datetime | None = None  # when ``state`` began: Athena's timestamp or our first sight
    since_known: bool = False  # True when ``since`` is Athena's timestamp
    done: frozenset[str] = frozenset()  # episode keys whose outcome is final (sent or suppressed)
    open_degraded: str | None = None  # key of a sent DEGRADED episode awaiting its RECOVERED


@dataclass(frozen=True)
class Policy:
    lookback: timedelta
    idle_alert: timedelta | None = None  # None: the idle watch is off
    # Anything that began after this was not yet looked at by a complete sweep: never history.
    history_before: datetime | None = None


@dataclass(frozen=True)
class Episode:
    """One thing worth one message: a state that began at a time (or a recovery from one)."""

    session_id: str
    state: str  # FAILED, DEGRADED, TERMINATED, IDLE or RECOVERED
    token: str  # END for terminal states; else when it began (RECOVERED: the DEGRADED's token)
    began: datetime
    began_known: bool
    resolves: str | None = None  # RECOVERED: the key of the DEGRADED episode it resolves

    @property
    def key(self) -> str:
        return f"{self.state}#{self.token}"


@dataclass(frozen=True)
class Action:
    kind: Kind
    episode: Episode


@dataclass(frozen=True)
class Decision:
    view: View
    actions: tuple[Action, ...] = field(default_factory=tuple)

    @property
    def needs_record(self) -> bool:
        """An alert or a recovery is sent with GetSession's full record, not a listing summary."""
        return any(a.kind != "suppress" for a in self.actions)


def token_of(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def _since(view: View, obs: Observation, now: datetime) -> tuple[datetime, bool]:
    if view.state == obs.state and view.since is not None:
        return view.since, view.since_known  # the state we saw last goes on: the same episode
    stamp = obs.state_timestamp()
    if stamp is not None:
        return stamp, True
    return now.replace(microsecond=0), False  # first sight (to the second, as the ledger stores it)


def _episode(obs: Observation, since: datetime, known: bool, now: datetime, policy: Policy) -> Episode | None:
    state = obs.state or ""
    if state in TERMINAL:
        return Episode(obs.session_id, state, END, since, known)
    if state == DEGRADED:
        return Episode(obs.session_id, state, token_of(since), since, known)
    # Undated idleness counts from first sight: a lower bound on how long it has lasted.
    if state == IDLE and policy.idle_alert is not None and now - since >= policy.idle_alert:
        return Episode(obs.session_id, state, token_of(since), since, known)
    return None


def _is_history(episode: Episode, now: datetime, policy: Policy) -> bool:
    if episode.state == IDLE or not episode.began_known:
        return False
    cutoff = now - policy.lookback
    if policy.history_before is not None:
        cutoff = min(cutoff, policy.history_before)
    return episode.began < cutoff


def _recovery(view: View, obs: Observation, since: datetime, known: bool) -> Episode | None:
    if view.open_degraded is None or obs.state not in HEALTHY:
        return None
    token = view.open_degraded.split("#", 1)[1]
    return Episode(obs.session_id, RECOVERED, token, since, known, resolves=view.open_degraded)


def decide(view: View | None, obs: Observation, now: datetime, policy: Policy) -> Decision:
    """The actions one observation calls for, and the view to keep until the outcomes are known."""
    view = view or View()
    since, known = _since(view, obs, now)
    episode = _episode(obs, since, known, now, policy)
    current = {episode.key} if episode else set()
    open_degraded = None if obs.state in TERMINAL else view.open_degraded
    kept = View(obs.state, since, known, frozenset(view.done & current), open_degraded)
    actions: list[Action] = []
    recovery = _recovery(view, obs, since, known)
    if recovery is not None:
        actions.append(Action("recover", recovery))
    if episode is not None and episode.key not in view.done:
        actions.append(Action("suppress" if _is_history(episode, now, policy) else "alert", episode))
    return Decision(kept, tuple(actions))


def settle(view: View, action: Action, outcome: Outcome) -> View:
    """Fold what became of one action into the view. Unfinished outcomes leave it to the next look."""
    if outcome not in FINAL_OUTCOMES:
        return view
    episode = action.episode
    if action.kind == "recover":
        return replace(view, open_degraded=None)
    view = replace(view, done=view.done | {episode.key})
    if episode.state == DEGRADED and outcome in ("sent", "already_sent") and view.state == DEGRADED:
        view = replace(view, open_degraded=episode.key)
    return view


def finished(view: View) -> bool:
    """A session that ended and whose end is reported (or suppressed) needs no view any more."""
    return view.state in TERMINAL and f"{view.state}#{END}" in view.done


def worth_keeping(view: View) -> bool:
    """Whether a single-session look should write its view (the sweep keeps every listed one)."""
    return bool(view.done or view.open_degraded or view.state in ALERT_SEVERITY) and not finished(view)
