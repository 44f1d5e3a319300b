"""The scheduled sweep: every session of every watched workgroup, one alert per state change.

Cost is O(ListSessions pages) per run, not O(sessions): GetSession is called only for a session
that needs a full record for an alert not yet sent, or that dropped out of the listing since the
last sweep (ListSessions is documented to list only active sessions, so an ending is seen as a
disappearance). The state table keeps each workgroup's last view (state and alerts sent), so a
repeated run, or a duplicated scheduled event, calls nothing it does not need and sends nothing new.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import alerting, clock, monitor
from .config import Settings, settings
from .errors import SessionMonitorError, SessionNotFound, SweepIncomplete
from .integration import athena, sqs, state_store
from .model import SEVERITY_BY_STATE, Session, SessionSummary, summary_from_list
from .observability import count, count_error, count_sessions_by_state, logger, tracer

LIST_PAGE_SIZE = 100  # ListSessions' maximum
SNAPSHOT_TTL_SECONDS = 7 * 86_400
SNAPSHOT_REFRESH_SECONDS = 86_400  # rewrite unchanged views daily so their TTL never runs out


@dataclass
class SweepReport:
    """What one sweep did. Returned to the invoker and logged."""

    workgroups: list[str] = field(default_factory=list)
    failed_workgroups: dict[str, str] = field(default_factory=dict)
    sessions_by_state: Counter = field(default_factory=Counter)
    alerts_sent: list[str] = field(default_factory=list)
    alerts_suppressed: list[str] = field(default_factory=list)
    list_sessions_pages: int = 0
    get_session_calls: int = 0
    dpu_hours_seen: float = 0.0
    duration_ms: int = 0
    queued_workgroups: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "workgroups": sorted(self.workgroups),
            "failed_workgroups": dict(sorted(self.failed_workgroups.items())),
            "sessions_by_state": dict(sorted(self.sessions_by_state.items())),
            "alerts_sent": sorted(self.alerts_sent),
            "alerts_suppressed": sorted(self.alerts_suppressed),
            "list_sessions_pages": self.list_sessions_pages,
            "get_session_calls": self.get_session_calls,
            "dpu_hours_seen": round(self.dpu_hours_seen, 6),
            "duration_ms": self.duration_ms,
            "queued_workgroups": sorted(self.queued_workgroups),
        }


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _state_began(record: SessionSummary) -> datetime | None:
    if record.is_terminal and record.ended_at:
        return _parse(record.ended_at)
    return _parse(record.last_modified_at) or _parse(record.started_at)


@dataclass
class _WorkgroupSweep:
    """One workgroup's part of a sweep. Runs on a worker thread; GetSession work on another pool."""

    name: str
    config: Settings
    table: str
    now: datetime
    sessions_pool: ThreadPoolExecutor
    report: SweepReport

    def _alert_state_for(self, summary: SessionSummary) -> str | None:
        if summary.state in SEVERITY_BY_STATE:
            return summary.state
        if self._idle_too_long(summary):
            return alerting.IDLE_STATE
        return None

    def _idle_too_long(self, record: SessionSummary) -> bool:
        idle_since = _parse(record.idle_since)
        return (self.config.idle_alert_minutes > 0 and record.state == "IDLE" and idle_since is not None
                and self.now - idle_since >= timedelta(minutes=self.config.idle_alert_minutes))

    def _too_old_to_alert(self, record: SessionSummary, alert_state: str) -> bool:
        # First deploy (or a long outage): history older than the window is recorded, not alerted.
        # Idle warnings are about money being spent now, so they are never history.
        if alert_state == alerting.IDLE_STATE:
            return False
        began = _state_began(record)
        return began is not None and began < self.now - timedelta(minutes=self.config.lookback_minutes)

    def _suppress(self, session_id: str, alert_state: str) -> None:
        state_store.suppress_alert(self.table, session_id, alert_state, int(self.now.timestamp()),
                                   self.config.alert_record_ttl_days * 86_400)
        with self.report._lock:
            self.report.alerts_suppressed.append(f"{session_id}#{alert_state}")

    def _list_all(self) -> dict[str, SessionSummary]:
        listed: dict[str, SessionSummary] = {}
        token: str | None = None
        while True:
            page = athena.list_sessions(self.name, token, LIST_PAGE_SIZE)
            with self.report._lock:
                self.report.list_sessions_pages += 1
            for raw in page.get("Sessions") or []:
                summary = summary_from_list(raw, self.name)
                listed.setdefault(summary.session_id, summary)  # a session moving between pages
            token = page.get("NextToken")
            if not token:
                return listed

    def _follow_up(self, session_id: str, wanted: str | None, alerted: set[str]) -> tuple[Session | None, set[str]]:
        """GetSession one session and send the alert its full record calls for, once."""
        try:
            with self.report._lock:
                self.report.get_session_calls += 1
            session = monitor.fetch_session(session_id)
        except SessionNotFound:
            return None, alerted  # gone (deleted workgroup, expired history): nothing left to say
        with self.report._lock:
            self.report.dpu_hours_seen += session.dpu_hours or 0.0
        if wanted == alerting.IDLE_STATE and self._idle_too_long(session):
            minutes = int((self.now - _parse(session.idle_since)).total_seconds() // 60)  # type: ignore[operator]
            alert = alerting.idle_alert(session, minutes)
        else:
            alert = alerting.alert_for(session)
        if alert is None or alert.state in alerted:
            return session, alerted
        if self._too_old_to_alert(session, alert.state):
            self._suppress(session_id, alert.state)
            return session, alerted | {alert.state}
        outcome = monitor.notify_once(alert, int(self.now.timestamp()))
        if outcome == monitor.IN_FLIGHT:
            return session, alerted  # not ours to record: the next sweep looks again
        if outcome == monitor.SENT_NOW:
            with self.report._lock:
                self.report.alerts_sent.append(alert.alert_id)
        return session, alerted | {alert.state}

    def run(self) -> None:
        snapshot = state_store.load_workgroup_snapshot(self.table, self.name)
        listed = self._list_all()
        views: dict[str, dict[str, Any]] = {}
        follow_ups: dict[str, Future] = {}
        for session_id, summary in listed.items():
            previous = snapshot.get(session_id)
            alerted = set(previous["alerted"]) if previous else set()
            wanted = self._alert_state_for(summary)
            if wanted is not None and wanted not in alerted:
                if self._too_old_to_alert(summary, wanted):
                    self._suppress(session_id, wanted)
                    alerted.add(wanted)
                else:
                    follow_ups[session_id] = self.sessions_pool.submit(self._follow_up, session_id, wanted, alerted)
            views[session_id] = {"state": summary.state, "alerted": alerted}
        dropped = [session_id for session_id in snapshot if session_id not in listed]
        for session_id in dropped:
            follow_ups[session_id] = self.sessions_pool.submit(
                self._follow_up, session_id, None, set(snapshot[session_id]["alerted"]))

        states: list[str | None] = [views[s]["state"] for s in views if s not in follow_ups]
        deletes: list[str] = []
        failures: list[SessionMonitorError] = []
        for session_id, future in follow_ups.items():
            try:
                session, alerted = future.result()
            except SessionMonitorError as error:
                failures.append(error)
                views.pop(session_id, None)  # leave its view as it was: the retry redoes it
                continue
            if session is None or (session_id not in listed and session.is_terminal):
                deletes.append(session_id)  # finished and reported: the view is no longer needed
            else:
                views[session_id] = {"state": session.state, "alerted": alerted}
            if session is not None:
                states.append(session.state)
        upserts = {
            session_id: view for session_id, view in views.items()
            if session_id not in deletes and _changed(snapshot.get(session_id), view, int(self.now.timestamp()))
        }
        state_store.save_workgroup_snapshot(self.table, self.name, upserts, deletes,
                                            int(self.now.timestamp()), SNAPSHOT_TTL_SECONDS)
        with self.report._lock:
            self.report.sessions_by_state.update(s or "UNKNOWN" for s in states)
        if failures:
            raise failures[0]


def _changed(previous: dict[str, Any] | None, view: dict[str, Any], now: int) -> bool:
    if previous is None:
        return True
    return (previous["state"] != view["state"] or previous["alerted"] != view["alerted"]
            or now - previous["written_at"] >= SNAPSHOT_REFRESH_SECONDS)


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
    with ThreadPoolExecutor(config.sweep_max_workers, thread_name_prefix="get-session") as sessions_pool, \
            ThreadPoolExecutor(workers, thread_name_prefix="workgroup") as workgroup_pool:
        futures = {
            name: workgroup_pool.submit(_WorkgroupSweep(name, config, table, now, sessions_pool, report).run)
            for name in workgroups
        }
        for name, future in futures.items():
            try:
                future.result()
            except SessionMonitorError as error:
                report.failed_workgroups[name] = error.code
            except Exception:  # a bug in one workgroup's data must not hide the others' alerts
                logger.exception("workgroup sweep crashed", extra={"workgroup": name})
                report.failed_workgroups[name] = "InternalError"
    report.duration_ms = int((time.monotonic() - started) * 1000)
    _emit_metrics(report)
    return report


def _emit_metrics(report: SweepReport) -> None:
    count_sessions_by_state(report.sessions_by_state.elements())
    count("ListSessionsPages", report.list_sessions_pages)
    count("GetSessionCalls", report.get_session_calls)
    count("DpuHoursSeen", report.dpu_hours_seen, unit=_unit("NoUnit"))
    count("SweepDurationMs", report.duration_ms, unit=_unit("Milliseconds"))
    count("WorkgroupsFailed", len(report.failed_workgroups))
    for kind in report.failed_workgroups.values():
        count_error(kind)
    logger.info("sweep finished", extra={"sweep": report.to_dict()})


def _unit(name: str):
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
        return report
    report = sweep_workgroups(workgroups, now)
    if report.failed_workgroups:
        raise SweepIncomplete("sweep incomplete; failed workgroups: " + ", ".join(
            f"{name} ({code})" for name, code in sorted(report.failed_workgroups.items())))
    return report


def handle_work_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fan-out mode: an SQS batch of ``{"workgroup": name}`` messages, with partial-batch failures."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from . import validation

    def sweep_one(record: SQSRecord) -> dict[str, Any]:
        try:
            name = validation.workgroup(json.loads(record.body).get("workgroup"))
        except (ValueError, AttributeError):
            raise SweepIncomplete("sweep message is not {\"workgroup\": NAME}") from None
        report = sweep_workgroups([name])
        if report.failed_workgroups:
            raise SweepIncomplete(f"workgroup {name} failed ({report.failed_workgroups[name]})")
        return report.to_dict()

    return process_partial_response(event=event, record_handler=sweep_one,
                                    processor=BatchProcessor(event_type=EventType.SQS), context=context)

