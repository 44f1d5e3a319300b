"""Athena's notebook API calls as CloudTrail records them, read into plain data. Pure.

EventBridge delivers CloudTrail's management events as detail-type "AWS API Call via CloudTrail"
(source aws.athena) wherever a trail records management events. The Athena user guide shows the
records: StartSession has ``requestParameters.workGroup`` and ``responseElements.sessionId``;
TerminateSession has ``requestParameters.sessionId``. A failed call carries ``errorCode`` and no
``responseElements``. Keys are camelCase. Anything else is not ours: ``parse`` says why, never raises.

Two shapes of the same record arrive. Deployed, the CloudTrail rule's input transformer
(``session_contract.CLOUDTRAIL_INPUT_TEMPLATE``) passes only the fields read here, each as a string:
a field the record lacks arrives as "" (or, if EventBridge left the placeholder in, as its own
``<name>`` text), and both count as absent. The raw record (tests, the benchmark, any caller
invoking the function with EventBridge's whole event) has the same keys among many others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from session_contract import CLOUDTRAIL_EVENT_NAMES, CLOUDTRAIL_EVENT_SOURCE, CLOUDTRAIL_INPUT_PLACEHOLDERS


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
    """A present string: not empty and not an input-transformer placeholder left unfilled."""
    if not isinstance(value, str) or not value or value in CLOUDTRAIL_INPUT_PLACEHOLDERS:
        return None
    return value


def parse(detail: object) -> ApiCall | Ignored:
    """The call a record describes, or why it calls for nothing."""
    record = _map(detail)
    name = record.get("eventName")
    if (
        record.get("eventSource", CLOUDTRAIL_EVENT_SOURCE) != CLOUDTRAIL_EVENT_SOURCE
        or name not in CLOUDTRAIL_EVENT_NAMES
    ):
        return Ignored(f"not a session call ({name!r})")
    error = record.get("errorCode")
    if error and not (isinstance(error, str) and error in CLOUDTRAIL_INPUT_PLACEHOLDERS):
        return Ignored(f"{name} failed ({error})")
    request, response = _map(record.get("requestParameters")), _map(record.get("responseElements"))
    session_id = _text(response.get("sessionId")) or _text(request.get("sessionId"))
    if session_id is None:
        return Ignored(f"{name} record names no session")
    return ApiCall(str(name), session_id, _text(request.get("workGroup")), _text(response.get("state")))
