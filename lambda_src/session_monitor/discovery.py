"""Learn of sessions as they start and end, from Athena's API calls recorded by CloudTrail.

- StartSession in a watched workgroup: the session joins the ledger's watch list (a view in its
  workgroup), so every sweep follows it up with GetSession until it has ended, whether or not a
  listing ever shows it; and one check is queued for a few minutes later, to catch a failure at
  start-up before the next sweep.
- TerminateSession: the session is checked at once, and again every half minute while it is
  still TERMINATING, so its TERMINATED alert does not wait for the next sweep.
- A failed call, an unwatched workgroup, any other call: nothing, logged at debug (EventBridge
  would retry an exception).
Every alert goes through the same ledger as the sweep's, so an event and a sweep that see the same
state send one alert between them.
"""

from __future__ import annotations

from typing import Any

import session_contract as contract

from . import clock, cloudtrail, monitor
from .cloudtrail import ApiCall, Ignored
from .config import settings
from .integration import sqs, state_store
from .model import Session
from .observability import count_error, logger


def watched(workgroup: str | None) -> bool:
    """With no workgroups configured the monitor watches every Spark workgroup (a session is Spark)."""
    configured = settings().watched_workgroups
    return not configured or workgroup in configured


def on_api_call(detail: object) -> dict[str, Any]:
    """Handle one CloudTrail record of an Athena API call; returns what was done, for the log."""
    call = cloudtrail.parse(detail)
    if isinstance(call, Ignored):
        logger.debug("CloudTrail record ignored", extra={"reason": call.reason})
        return {"ignored": call.reason}
    if call.name == "StartSession":
        return _started(call)
    return _terminating(call.session_id, attempt=1)


def _started(call: ApiCall) -> dict[str, Any]:
    if not watched(call.workgroup):
        logger.debug("session started in an unwatched workgroup")
        return {"ignored": "unwatched workgroup"}
    config = settings()
    _topic, table = config.require_alerting()
    state_store.watch_session(
        table,
        config.scope,
        call.workgroup or "-",
        call.session_id,
        call.state or "CREATING",
        clock.epoch_seconds(),
        monitor.VIEW_TTL_SECONDS,
    )
    _follow_up(call.session_id, contract.START_CHECK_DELAY_SECONDS, "start", 1)
    return {"watching": call.session_id, "workgroup": call.workgroup}


def _look(session_id: str) -> Session | None:
    """GetSession, then the ledger, for a session of a watched workgroup; None for any other."""
    session = monitor.fetch_session(session_id)
    if not watched(session.workgroup):
        logger.debug("session of an unwatched workgroup")
        return None
    return monitor.look_at(session)


def _terminating(session_id: str, attempt: int) -> dict[str, Any]:
    session = _look(session_id)
    if session is None:
        return {"ignored": "unwatched workgroup"}
    if not session.is_terminal and attempt < contract.MAX_FOLLOW_UPS:
        _follow_up(session_id, contract.TERMINATE_RECHECK_SECONDS, "terminate", attempt + 1)
    return {"checked": session_id, "state": session.state}


def on_follow_up(session_id: str, reason: str, attempt: int) -> dict[str, Any]:
    """A queued check: look at the session through the ledger; a terminating one is looked at again."""
    if reason == "terminate":
        return _terminating(session_id, attempt)
    session = _look(session_id)
    return {"checked": session_id, "state": session.state if session else None}


def _follow_up(session_id: str, delay_seconds: int, reason: str, attempt: int) -> None:
    queue_url = settings().follow_up_queue_url
    if not queue_url:  # without the queue (cloudTrailEvents off, local tests) the sweep follows up alone
        return
    if not sqs.enqueue_follow_up(queue_url, session_id, delay_seconds, reason, attempt):
        # Not lost: the session is on the watch list (or was just checked); the next sweep looks.
        count_error("FollowUpNotQueued")
        logger.warning("follow-up check not queued; the next sweep follows the session up")
