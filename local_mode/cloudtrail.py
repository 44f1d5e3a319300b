"""CloudTrail records as EventBridge delivers them ("AWS API Call via CloudTrail", source aws.athena).

Local mode and the tests wrap the emulator's records (AthenaEmulator.drain_trail) in the event
EventBridge would send. ``eventbridge_event`` is the event on the bus (the whole record, as a raw
invocation or a test sends it); ``delivered_event`` is what the stack's CloudTrail rule hands the
function: nothing for a failed call (the rule's pattern wants no errorCode), else the rule's input
transformer applied to the event (session_contract.CLOUDTRAIL_INPUT_TEMPLATE), so local mode runs
the same input as the deployed rule delivers.

``transform`` applies an input transformer as the EventBridge user guide documents it
("Transforming target input", "Common issues with transforming input"): each variable is the value
at its JSON path (dot notation); a path that does not exist in the event creates no variable, and it
"won't appear in the output", read here as its placeholder being replaced by nothing; extracted
values are inserted without escaping. What EventBridge does with a path that ends at a JSON null is
not documented: taken here as missing.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

import session_contract as contract

ACCOUNT_ID = "123456789012"
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.-]+)>")
# The two readings of "won't appear in the output" for a missing variable's placeholder.
UNFILLED_EMPTY = "empty"  # replaced by nothing: the documented reading
UNFILLED_KEPT = "kept"  # left as its own "<name>" text


def eventbridge_event(record: dict[str, Any], account: str = ACCOUNT_ID) -> dict[str, Any]:
    """EventBridge's envelope around one CloudTrail management-event record."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": contract.CLOUDTRAIL_DETAIL_TYPE,
        "source": contract.CLOUDTRAIL_SOURCE,
        "account": account,
        "time": record.get("eventTime"),
        "region": record.get("awsRegion"),
        "resources": [],
        "detail": record,
    }


def rule_matches(record: Mapping[str, Any]) -> bool:
    """The stack's CloudTrail rule pattern (infra/cloudtrail_events.py), for one record."""
    return (
        record.get("eventSource") == contract.CLOUDTRAIL_EVENT_SOURCE
        and record.get("eventName") in contract.CLOUDTRAIL_EVENT_NAMES
        and "errorCode" not in record
    )


def delivered_event(record: dict[str, Any], account: str = ACCOUNT_ID) -> dict[str, Any] | None:
    """What the deployed rule invokes the function with for this record, or None (not delivered)."""
    if not rule_matches(record):
        return None
    return transform(eventbridge_event(record, account))


class NotDelivered(ValueError):
    """The stack's CloudTrail rule does not deliver this record (a failed call, another call)."""


def rule_input(record: dict[str, Any], account: str = ACCOUNT_ID) -> dict[str, Any]:
    """``delivered_event``, for a record the rule must deliver; NotDelivered otherwise."""
    event = delivered_event(record, account)
    if event is None:
        raise NotDelivered(f"the CloudTrail rule does not deliver this {record.get('eventName')!r} record")
    return event


def _at(event: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """The value at a "$.a.b" path, and whether it exists (a JSON null counts as missing)."""
    value: Any = event
    for part in path.removeprefix("$.").split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return value is not None, value


def transform(
    event: Mapping[str, Any],
    paths: Mapping[str, str] = contract.CLOUDTRAIL_INPUT_PATHS,
    template: str = contract.CLOUDTRAIL_INPUT_TEMPLATE,
    *,
    unfilled: str = UNFILLED_EMPTY,
) -> dict[str, Any]:
    """The target input an EventBridge input transformer makes of ``event`` (raises ValueError when
    the result is not a JSON object, as when an unescaped value breaks the template)."""
    variables: dict[str, str] = {}
    for name, path in paths.items():
        found, value = _at(event, path)
        if found:
            variables[name] = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables:
            return variables[name]
        return "" if unfilled == UNFILLED_EMPTY else match.group(0)

    text = _PLACEHOLDER.sub(fill, template)
    result = json.loads(text)
    if not isinstance(result, dict):
        raise ValueError(f"the input template made {type(result).__name__}, not a JSON object")
    return result


def failed_record(name: str, request: dict[str, Any], code: str = "InvalidRequestException") -> dict[str, Any]:
    """A call Athena refused: CloudTrail keeps errorCode/errorMessage and no responseElements."""
    return {
        "eventVersion": "1.09",
        "eventSource": "athena.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "eventType": "AwsApiCall",
        "requestParameters": request,
        "responseElements": None,
        "errorCode": code,
        "errorMessage": "refused",
    }
