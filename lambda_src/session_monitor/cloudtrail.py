"""Athena's notebook API calls as CloudTrail records them, read into plain data. Pure.

EventBridge delivers CloudTrail's management events as detail-type "AWS API Call via CloudTrail"
(source aws.athena) wherever a trail records management events. The Athena user guide shows the
records: StartSession has ``requestParameters.workGroup`` and ``responseElements.sessionId``;
TerminateSession has ``requestParameters.sessionId``. A failed call carries ``errorCode`` and no
``responseElements``. Keys are camelCase. Anything else is not ours: ``parse`` says why, never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from session_contract import CLOUDTRAIL_EVENT_NAMES, CLOUDTRAIL_EVENT_SOURCE


@dataclass(frozen=True)
class ApiCall:
    """A successful StartSession or TerminateSession."""

    name: str  # StartSession or TerminateSession
    session_id: str
    workgroup: str | None  # StartSession only
    state: str | None  # what the call answered (CREATED, TERMINATING)


@dataclass(frozen=True)
class Ignored:
    reason: str


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def parse(detail: object) -> ApiCall | Ignored:
    """The call a record describes, or why it calls for nothing."""
    record = _map(detail)
    name = record.get("eventName")
    if (
        record.get("eventSource", CLOUDTRAIL_EVENT_SOURCE) != CLOUDTRAIL_EVENT_SOURCE
        or name not in CLOUDTRAIL_EVENT_NAMES
    ):
        return Ignored(f"not a session call ({name!r})")
    if record.get("errorCode"):
        return Ignored(f"{name} failed ({record.get('errorCode')})")
    request, response = _map(record.get("requestParameters")), _map(record.get("responseElements"))
    session_id = _text(response.get("sessionId")) or _text(request.get("sessionId"))
    if session_id is None:
        return Ignored(f"{name} record names no session")
    return ApiCall(str(name), session_id, _text(request.get("workGroup")), _text(response.get("state")))
