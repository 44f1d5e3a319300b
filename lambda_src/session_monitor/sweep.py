"""The scheduled sweep: every session of every watched workgroup, each episode alerted once.

Cost is O(ListSessions pages) per run, not O(sessions). Per workgroup and sweep:
- the unfiltered listing, page by page: every active session (AWS documents ListSessions as listing
  sessions "in an active state"), so an ending is seen as a disappearance;
- one listing per alert state (StateFilter FAILED, TERMINATED, DEGRADED), newest first, stopped at
  the first session that started before the workgroup's watermark (the start of its last complete
  sweep, less a margin): a session that starts and ends between two sweeps is never listed as
  active, and this is where it is found. That StateFilter returns finished sessions is assumed,
  not documented; if it returned none, the sweep would lose nothing it found without it.
- GetSession only where the ledger (``ledger.decide``) calls for an alert or a recovery, or for a
  session that dropped out of the listings since the last sweep.
The state table keeps each workgroup's views and watermark, so a repeated run, or a duplicated
scheduled event, calls nothing it does not need and sends nothing new.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import session_contract as contract

from . import clock, ledger, monitor
from .alerting import episode_alert_id
from .config import Settings, settings
from .errors import SessionMonitorError, SessionNotFound, SweepIncomplete
from .integration import athena, sqs, state_store
from .ledger import Action, Outcome, View
from .model import Session, SessionSummary, summary_from_list
from .observability import count, count_error, count_sessions_by_state, logger, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.metrics import MetricUnit

LIST_PAGE_SIZE = 100  # ListSessions' maximum
FILTERED_STATES = ("FAILED", "TERMINATED", "DEGRADED")
WATERMARK_MARGIN = monitor.WATERMARK_MARGIN
# How far past the look-back a workgroup's first sweep lists finished sessions (by start time): a
# session that started earlier and ended inside the look-back before the first sweep is not found.
FIRST_SWEEP_REACH = timedelta(days=7)
VIEW_TTL_SECONDS = monitor.VIEW_TTL_SECONDS
VIEW_REFRESH_SECONDS = 86_400  # rewrite unchanged views daily so their TTL never runs out


@dataclass
class SweepReport:
    """What one sweep did. Returned to the invoker and logged; counted from one thread only."""

    workgroups: list[str] = field(default_factory=list)
    failed_workgroups: dict[str, str] = field(default_factory=dict)
    sessions_by_state: Counter[str] = field(default_factory=Counter)
    alerts_sent: list[str] = field(default_factory=list)
    alerts_suppressed: list[str] = field(default_factory=list)
    alerts_pending: list[str] = field(default_factory=list)
    list_sessions_pages: int = 0
    filtered_list_pages: int = 0
    get_session_calls: int = 0
    state_events_put: int = 0
    state_events_failed: int = 0
    dpu_hours_seen: float = 0.0
    duration_ms: int = 0
    queued_workgroups: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **amounts: Any) -> None:
        """Add to counters (numbers) or lists from any worker thread."""
        with self._lock:
            for name, amount in amounts.items():
                if isinstance(amount, list):
                    getattr(self, name).extend(amount)
                else:
                    setattr(self, name, getattr(self, name) + amount)

    def to_dict(self) -> dict[str, Any]:
        return {
            "workgroups": sorted(self.workgroups),
            "failed_workgroups": dict(sorted(self.failed_workgroups.items())),
            "sessions_by_state": dict(sorted(self.sessions_by_state.items())),
            "alerts_sent": sorted(self.alerts_sent),
            "alerts_suppressed": sorted(self.alerts_suppressed),
            "alerts_pending": sorted(self.alerts_pending),
            "list_sessions_pages": self.list_sessions_pages,
            "filtered_list_pages": self.filtered_list_pages,
            "get_session_calls": self.get_session_calls,
            "state_events_put": self.state_events_put,
            "state_events_failed": self.state_events_failed,
            "dpu_hours_seen": round(self.dpu_hours_seen, 6),
            "duration_ms": self.duration_ms,
            "queued_workgroups": sorted(self.queued_workgroups),
        }


def _started_by(summary: SessionSummary) -> datetime | None:
    """The earliest time the listing gives: the session started by then (any of its times is at
    or after its start), so a session with no StartDateTime can still be proven old."""
    times = [summary.started_at, summary.last_modified_at, summary.ended_at, summary.idle_since]
    known = [datetime.fromisoformat(t) for t in times if t]
    return min(known) if known else None


# What a session's follow-up left: its GetSession record (None: Athena no longer knows it) and view.
FollowUp = tuple[Session | None, View | None]


@dataclass
class _WorkgroupSweep:
    """One workgroup's part of a sweep. Runs on a worker thread; GetSession work on another pool."""

    name: str
    config: Settings
    table: str
    now: datetime
    sessions_pool: ThreadPoolExecutor
    report: SweepReport
    policy: ledger.Policy = field(init=False)
    # State-change events found by this workgroup's looks (worker threads add to it).
    changes: list[dict[str, Any]] = field(default_factory=list, init=False)
    _changes_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def run(self) -> None:
        known = state_store.load_workgroup(self.table, self.config.scope, self.name)
        self.policy = monitor.policy(self.config, known.watermark)
        listed = self._list_active()
        self._add_recent_in_alert_states(listed, self._reach(known.watermark))
        plans = self._plan(known, listed)
        views, forgotten, failures = self._collect(plans)
        # Before the views that record the new states are saved: a crash in between puts them again.
        put, failed = monitor.announce(self.changes)
        self.report.add(state_events_put=put, state_events_failed=failed)
        self._save(known, views, forgotten, complete=not failures)
        if failures:
            raise failures[0]

    # -- listing --

    def _pages(self, state_filter: str | None) -> Iterator[list[SessionSummary]]:
        token: str | None = None
        while True:
            page = athena.list_sessions(self.name, token, LIST_PAGE_SIZE, state_filter)
            self.report.add(**{"filtered_list_pages" if state_filter else "list_sessions_pages": 1})
            yield [summary_from_list(raw, self.name) for raw in page.get("Sessions") or []]
            token = page.get("NextToken")
            if not token:
                return

    def _list_active(self) -> dict[str, tuple[SessionSummary, ledger.Source]]:
        listed: dict[str, tuple[SessionSummary, ledger.Source]] = {}
        for page in self._pages(None):
            for summary in page:
                listed.setdefault(summary.session_id, (summary, "listing"))  # a session moving between pages
        return listed

    def _reach(self, watermark: datetime | None) -> datetime:
        if watermark is None:
            return self.now - timedelta(minutes=self.config.lookback_minutes) - FIRST_SWEEP_REACH
        return watermark - WATERMARK_MARGIN

    def _add_recent_in_alert_states(
        self, listed: dict[str, tuple[SessionSummary, ledger.Source]], reach: datetime
    ) -> None:
        """Newest first, until a session started before ``reach``: anything older was active (so
        listed and remembered) at the last complete sweep, or is history."""
        for state in FILTERED_STATES:
            for page in self._pages(state):
                recent = [s for s in page if (_started_by(s) or reach) >= reach]
                for summary in recent:
                    listed.setdefault(summary.session_id, (summary, "filtered"))
                if len(recent) < len(page):
                    break

    # -- deciding --

    def _plan(
        self, known: state_store.WorkgroupLedger, listed: dict[str, tuple[SessionSummary, ledger.Source]]
    ) -> dict[str, Future[FollowUp] | FollowUp]:
        plans: dict[str, Future[FollowUp] | FollowUp] = {}
        views = known.views
        for session_id, (summary, source) in listed.items():
            before = views.get(session_id)
            observation = monitor.observe(summary, source)
            decision = ledger.decide(before, observation, self.now, self.policy)
            if decision.needs_record:
                plans[session_id] = self.sessions_pool.submit(
                    self._follow_up, session_id, before, known.announced(session_id)
                )
            else:
                view, outcomes = monitor.carry_out(decision.view, decision.actions, None, self.now)
                self._report(session_id, decision.actions, outcomes)
                self._note_change(known.announced(session_id), decision, observation, summary, outcomes)
                plans[session_id] = (None, view)
        for session_id, before in views.items():
            if session_id in listed:
                continue
            if ledger.finished(before):
                plans[session_id] = (None, None)  # reported, and no listing shows it any more
            else:
                plans[session_id] = self.sessions_pool.submit(
                    self._follow_up, session_id, before, known.announced(session_id)
                )
        return plans

    def _follow_up(self, session_id: str, before: View | None, announced: View | None) -> FollowUp:
        """GetSession one session and carry out what its full record calls for."""
        self.report.add(get_session_calls=1)
        try:
            session = monitor.fetch_session(session_id)
        except SessionNotFound:
            return None, None  # gone (deleted workgroup, expired history): nothing left to say
        self.report.add(dpu_hours_seen=session.dpu_hours or 0.0)
        observation = monitor.observe(session, "get")
        decision = monitor.pin_first_sight(
            ledger.decide(before, observation, self.now, self.policy),
            before,
            observation,
            self.name,
            self.now,
            self.policy,
            announced=announced,
        )
        view, outcomes = monitor.carry_out(decision.view, decision.actions, session, self.now)
        self._report(session_id, decision.actions, outcomes)
        self._note_change(announced, decision, observation, session, outcomes)
        return session, view

    def _note_change(
        self,
        announced: View | None,
        decision: ledger.Decision,
        observation: ledger.Observation,
        session: SessionSummary,
        outcomes: list[Outcome],
    ) -> None:
        change = monitor.state_change_entry(announced, decision, observation, session, self.now, outcomes)
        if change is not None:
            with self._changes_lock:
                self.changes.append(change)

    def _report(self, session_id: str, actions: tuple[Action, ...], outcomes: list[Outcome]) -> None:
        scope = f"{self.config.account_id}/{self.config.region}"
        by_outcome: dict[str, list[str]] = {"alerts_sent": [], "alerts_suppressed": [], "alerts_pending": []}
        for action, outcome in zip(actions, outcomes, strict=False):
            name = {"sent": "alerts_sent", "suppressed": "alerts_suppressed", "in_flight": "alerts_pending"}.get(
                outcome
            )
            if name:
                by_outcome[name].append(episode_alert_id(scope, session_id, action.episode.key))
        self.report.add(**by_outcome)

    def _collect(
        self, plans: dict[str, Future[FollowUp] | FollowUp]
    ) -> tuple[dict[str, View], list[str], list[SessionMonitorError]]:
        views: dict[str, View] = {}
        forgotten: list[str] = []
        failures: list[SessionMonitorError] = []
        states: list[str | None] = []
        for session_id, plan in plans.items():
            try:
                session, view = plan.result() if isinstance(plan, Future) else plan
            except SessionMonitorError as error:
                failures.append(error)  # its view stays as it was: the retry redoes it
                continue
            if view is None:
                forgotten.append(session_id)
            else:
                # A finished view stays while a listing still shows the session (accounts whose
                # listing includes finished sessions), so it is not looked up or suppressed again.
                views[session_id] = view
            states.append(session.state if session is not None else view.state if view else None)
        self.report.add(sessions_by_state=Counter(s or "UNKNOWN" for s in states))
        return views, forgotten, failures

    def _save(
        self, known: state_store.WorkgroupLedger, views: dict[str, View], forgotten: list[str], complete: bool
    ) -> None:
        now = int(self.now.timestamp())
        upserts = {
            session_id: view
            for session_id, view in views.items()
            if view != known.views.get(session_id)
            or session_id in known.pinned  # a sighting only: saving it whole says it was announced
            or now - known.written_at.get(session_id, 0) >= VIEW_REFRESH_SECONDS
        }
        deletes = [session_id for session_id in forgotten if session_id in known.views]
        state_store.save_workgroup(
            self.table,
            self.config.scope,
            self.name,
            upserts,
            deletes,
            self.now if complete else None,
            now,
            VIEW_TTL_SECONDS,
        )


def watched_workgroups(config: Settings) -> list[str]:
    """The configured workgroups, or every enabled Spark workgroup when none are configured."""
    return list(config.watched_workgroups) or athena.list_spark_workgroups()


@tracer.capture_method(capture_response=False)
def sweep_workgroups(workgroups: list[str], now: datetime | None = None) -> SweepReport:
    """Sweep ``workgroups`` in a bounded thread pool; a failing workgroup does not stop the others."""
    config = settings()
    _topic, table = config.require_alerting()
    started = time.monotonic()
    report = SweepReport(workgroups=list(workgroups))
    now = now or clock.utc_now()
    workers = max(1, min(config.sweep_max_workers, len(workgroups) or 1))
    with (
        ThreadPoolExecutor(config.sweep_max_workers, thread_name_prefix="get-session") as sessions_pool,
        ThreadPoolExecutor(workers, thread_name_prefix="workgroup") as workgroup_pool,
    ):
        futures = {
            name: workgroup_pool.submit(_WorkgroupSweep(name, config, table, now, sessions_pool, report).run)
            for name in workgroups
        }
        for name, future in futures.items():
            try:
                future.result()
            except SessionMonitorError as error:
                report.failed_workgroups[name] = error.code
            except Exception:  # noqa: BLE001  a bug in one workgroup's data must not hide the others' alerts
                logger.exception("workgroup sweep crashed", extra={"workgroup": name})
                report.failed_workgroups[name] = "InternalError"
    report.duration_ms = int((time.monotonic() - started) * 1000)
    _emit_metrics(report)
    return report


def _emit_metrics(report: SweepReport) -> None:
    # From the invoking thread only: Powertools' Metrics is not locked (workers count into report).
    count_sessions_by_state(report.sessions_by_state.elements())
    if report.alerts_sent:
        count(contract.METRIC_ALERTS_PUBLISHED, len(report.alerts_sent))
    count(contract.METRIC_FILTERED_LIST_PAGES, report.filtered_list_pages)
    count(contract.METRIC_LIST_SESSIONS_PAGES, report.list_sessions_pages)
    count(contract.METRIC_GET_SESSION_CALLS, report.get_session_calls)
    monitor.count_state_events(report.state_events_put, report.state_events_failed)
    count(contract.METRIC_DPU_HOURS_SEEN, report.dpu_hours_seen, unit=_unit("NoUnit"))
    count(contract.METRIC_SWEEP_DURATION_MS, report.duration_ms, unit=_unit("Milliseconds"))
    count(contract.METRIC_WORKGROUPS_FAILED, len(report.failed_workgroups))
    if report.failed_workgroups:
        count(contract.METRIC_SWEEPS_INCOMPLETE, 1)
    else:
        count(contract.METRIC_SWEEPS_COMPLETED, 1)
    for kind in report.failed_workgroups.values():
        count_error(kind)
    logger.info("sweep finished", extra={"sweep": report.to_dict()})


def _unit(name: str) -> MetricUnit:
    from aws_lambda_powertools.metrics import MetricUnit

    return MetricUnit[name]


def run_scheduled_sweep(now: datetime | None = None) -> SweepReport:
    """The scheduled entry: sweep inline, or queue one message per workgroup in fan-out mode.

    Raises SweepIncomplete when a workgroup failed, after the others were swept and their alerts
    sent, so the asynchronous invocation's retry redoes the rest (what was sent is not resent).
    """
    config = settings()
    workgroups = watched_workgroups(config)
    if config.sweep_queue_url:
        sqs.enqueue_workgroups(config.sweep_queue_url, workgroups)
        report = SweepReport(workgroups=workgroups, queued_workgroups=list(workgroups))
        logger.info("sweep fanned out", extra={"workgroups": len(workgroups)})
        if not workgroups:  # nothing to queue is a complete sweep: the heartbeat must not go quiet
            count(contract.METRIC_SWEEPS_COMPLETED, 1)
        return report
    report = sweep_workgroups(workgroups, now)
    if report.failed_workgroups:
        raise SweepIncomplete(
            "sweep incomplete; failed workgroups: "
            + ", ".join(f"{name} ({code})" for name, code in sorted(report.failed_workgroups.items()))
        )
    return report


def sweep_one_workgroup(name: str) -> SweepReport:
    """Fan-out mode's unit of work: sweep one watched workgroup, or raise SweepIncomplete."""
    watched = settings().watched_workgroups
    if watched and name not in watched:
        raise SweepIncomplete(f"workgroup {name} is not watched")
    report = sweep_workgroups([name])
    if report.failed_workgroups:
        raise SweepIncomplete(f"workgroup {name} failed ({report.failed_workgroups[name]})")
    return report
