"""How an alert reads. Pure: what to alert is decided in ``ledger``; the SNS call is in integration.sns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .ledger import ALERT_SEVERITY, IDLE, RECOVERED, Episode
from .model import Session, Severity

SUBJECT_MAX_LENGTH = 100  # SNS rejects longer subjects (and any line break or non-ASCII)
IDLE_STATE = IDLE


@dataclass(frozen=True)
class Alert:
    """One message about one episode of one session.

    ``alert_id`` (``ACCOUNT/REGION/SESSION_ID#STATE#WHEN``, e.g. ``.../s-1#FAILED#END`` or
    ``.../s-1#DEGRADED#20261126T120000Z``) names the episode: it is the ledger's de-duplication
    key and a message attribute, so a subscriber can drop a repeat after a crash.
    """

    session: Session
    episode: Episode
    account: str
    region: str
    note: str | None = None  # a reason the ledger knows better than Athena (idle for N minutes)

    @property
    def state(self) -> str:
        return self.episode.state

    @property
    def severity(self) -> Severity:
        if self.state in ALERT_SEVERITY:
            return ALERT_SEVERITY[self.state]  # type: ignore[return-value]
        return "info" if self.state == RECOVERED else "warning"

    @property
    def reason(self) -> str | None:
        if self.note:
            return self.note
        if self.state == RECOVERED:
            return f"recovered: {self.session.state} again after DEGRADED"
        return self.session.state_change_reason

    @property
    def scope(self) -> str:
        return f"{self.account}/{self.region}"

    @property
    def alert_id(self) -> str:
        return episode_alert_id(self.scope, self.session.session_id, self.episode.key)

    @property
    def resolves_alert_id(self) -> str | None:
        if self.episode.resolves is None:
            return None
        return episode_alert_id(self.scope, self.session.session_id, self.episode.resolves)


def episode_alert_id(scope: str, session_id: str, episode_key: str) -> str:
    return f"{scope}/{session_id}#{episode_key}"


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
        "account": alert.account,
        "region": alert.region,
        "resolves_alert_id": alert.resolves_alert_id or "",
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
        "began_at": alert.episode.began.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "began_at_source": "athena" if alert.episode.began_known else "first_seen",
        "account": alert.account,
        "region": alert.region,
        "resolves_alert_id": alert.resolves_alert_id,
    }
    return document


def body_json(alert: Alert) -> str:
    return json.dumps(body(alert), separators=(",", ":"), sort_keys=True)
