"""What is worth an alert and how an alert reads. Pure: the SNS call lives in integration.sns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .model import SEVERITY_BY_STATE, Session, Severity

SUBJECT_MAX_LENGTH = 100  # SNS rejects longer subjects (and any line break or non-ASCII)
IDLE_STATE = "IDLE"


@dataclass(frozen=True)
class Alert:
    """One alert: a session and the state change it reports.

    ``alert_id`` (``SESSION_ID#STATE``) is the de-duplication key: it is recorded in the state
    table and sent as a message attribute, so a subscriber can drop a repeat after a crash.
    """

    session: Session
    state: str
    severity: Severity
    reason: str | None

    @property
    def alert_id(self) -> str:
        return f"{self.session.session_id}#{self.state}"


def alert_for(session: Session) -> Alert | None:
    """The alert a session's current state calls for: FAILED, DEGRADED and TERMINATED do."""
    severity = SEVERITY_BY_STATE.get(session.state or "")
    if severity is None:
        return None
    return Alert(session=session, state=session.state or "", severity=severity,
                 reason=session.state_change_reason)


def idle_alert(session: Session, idle_minutes: int) -> Alert:
    """A warning for a session idle long enough to be forgotten (it still costs its coordinator)."""
    return Alert(session=session, state=IDLE_STATE, severity="warning",
                 reason=f"idle for {idle_minutes} minutes")


def _ascii_line(text: str) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)


def subject(alert: Alert) -> str:
    """A short subject for e-mail subscribers, within SNS's limits (100 ASCII characters, one line)."""
    session = alert.session
    text = f"[{alert.severity.upper()}] Athena Spark session {alert.state} in {session.workgroup or 'unknown workgroup'}: {session.session_id}"
    text = _ascii_line(text)
    return text if len(text) <= SUBJECT_MAX_LENGTH else text[: SUBJECT_MAX_LENGTH - 3] + "..."


def message_attributes(alert: Alert) -> dict[str, str]:
    """String attributes subscribers can filter on (SNS filter policies)."""
    attributes = {
        "state": alert.state,
        "severity": alert.severity,
        "workgroup": alert.session.workgroup or "unknown",
        "session_id": alert.session.session_id,
        "alert_id": alert.alert_id,
    }
    # SNS refuses empty attribute values.
    return {k: v for k, v in attributes.items() if v}


def body(alert: Alert) -> dict[str, Any]:
    """The message body: the normalised session plus what this alert is about."""
    document = alert.session.to_dict()
    document["alert"] = {
        "alert_id": alert.alert_id,
        "state": alert.state,
        "severity": alert.severity,
        "reason": alert.reason,
    }
    return document


def body_json(alert: Alert) -> str:
    return json.dumps(body(alert), separators=(",", ":"), sort_keys=True)
