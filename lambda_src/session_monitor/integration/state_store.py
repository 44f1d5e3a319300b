"""DynamoDB state table: which alerts were sent, and what each workgroup's sessions looked like.

Items (partition key ``pk``, sort key ``sk``, TTL attribute ``expires_at``):
- ``SESSION#<id>`` / ``ALERT#<state>``: one alert. ``status`` is PENDING while an invocation holds a
  short lease to publish it, SENT once SNS accepted it (with SNS's ``message_id``).
- ``WORKGROUP#<name>`` / ``SESSION#<id>``: the sweep's last view of an active session.

Every write that guards against a duplicate is a conditional write; a lost race is a normal answer
(False), not an error.
"""

from __future__ import annotations

import uuid
from typing import Any, Iterator

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import StateStoreUnavailable
from . import clients

PENDING = "PENDING"
SENT = "SENT"
SUPPRESSED = "SUPPRESSED"  # history older than the look-back window: recorded, never sent


def _alert_key(session_id: str, state: str) -> dict[str, Any]:
    return {"pk": {"S": f"SESSION#{session_id}"}, "sk": {"S": f"ALERT#{state}"}}


def _conditional(call) -> bool:
    """Run a conditional write: True if it happened, False if its condition was false."""
    try:
        call()
        return True
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise StateStoreUnavailable("the state table refused a write") from None
    except BotoCoreError:
        raise StateStoreUnavailable("the state table could not be reached") from None


def claim_alert(table: str, session_id: str, state: str, now: int, lease_seconds: int,
                ttl_seconds: int) -> tuple[str | None, str | None]:
    """Take the right to publish one alert.

    Returns ``(token, None)`` when claimed, else ``(None, status)`` with the status of the record
    that holds it: SENT or SUPPRESSED (done), or PENDING (another look holds an unexpired lease).
    A claim whose lease ran out (its holder died before SNS answered, or between SNS and
    ``confirm_alert``) can be taken again, so a crash delays an alert but never loses it.
    """
    token = uuid.uuid4().hex
    try:
        clients.client("dynamodb").put_item(
            TableName=table,
            Item={
                **_alert_key(session_id, state),
                "status": {"S": PENDING},
                "claim": {"S": token},
                "lease_until": {"N": str(now + lease_seconds)},
                "expires_at": {"N": str(now + ttl_seconds)},
            },
            ConditionExpression="attribute_not_exists(pk) OR (#status = :pending AND lease_until < :now)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":pending": {"S": PENDING}, ":now": {"N": str(now)}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            holder = error.response.get("Item", {}).get("status", {}).get("S", PENDING)
            return None, holder
        raise StateStoreUnavailable("the state table refused a write") from None
    except BotoCoreError:
        raise StateStoreUnavailable("the state table could not be reached") from None
    return token, None


def confirm_alert(table: str, session_id: str, state: str, token: str, message_id: str, now: int) -> bool:
    """Record that SNS accepted the alert. Written only after SNS answered, never before."""
    return _conditional(lambda: clients.client("dynamodb").update_item(
        TableName=table,
        Key=_alert_key(session_id, state),
        UpdateExpression="SET #status = :sent, message_id = :message_id, sent_at = :now REMOVE lease_until",
        ConditionExpression="claim = :token",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":sent": {"S": SENT}, ":message_id": {"S": message_id}, ":now": {"N": str(now)}, ":token": {"S": token},
        },
    ))


def release_alert(table: str, session_id: str, state: str, token: str) -> bool:
    """Give a claim back after SNS refused the alert, so the next look retries at once."""
    return _conditional(lambda: clients.client("dynamodb").delete_item(
        TableName=table,
        Key=_alert_key(session_id, state),
        ConditionExpression="claim = :token AND #status = :pending",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":token": {"S": token}, ":pending": {"S": PENDING}},
    ))


def _query(table: str, pk: str, sk_prefix: str) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
    }
    try:
        while True:
            page = clients.client("dynamodb").query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except (ClientError, BotoCoreError):
        raise StateStoreUnavailable("the state table could not be read") from None


def suppress_alert(table: str, session_id: str, state: str, now: int, ttl_seconds: int) -> bool:
    """Record an alert as deliberately not sent (history older than the look-back window).

    Conditional like a claim, so no later look (sweep or API) alerts on it either.
    """
    return _conditional(lambda: clients.client("dynamodb").put_item(
        TableName=table,
        Item={**_alert_key(session_id, state), "status": {"S": SUPPRESSED}, "sent_at": {"N": str(now)},
              "expires_at": {"N": str(now + ttl_seconds)}},
        ConditionExpression="attribute_not_exists(pk)",
    ))



def load_workgroup_snapshot(table: str, workgroup: str) -> dict[str, dict[str, Any]]:
    """The sweep's last view of a workgroup: session id -> {state, alerted, written_at}."""
    snapshot: dict[str, dict[str, Any]] = {}
    for item in _query(table, f"WORKGROUP#{workgroup}", "SESSION#"):
        snapshot[item["sk"]["S"].removeprefix("SESSION#")] = {
            "state": item.get("state", {}).get("S"),
            "alerted": set(item.get("alerted", {}).get("SS", [])),
            "written_at": int(item.get("written_at", {}).get("N", "0")),
        }
    return snapshot


def save_workgroup_snapshot(table: str, workgroup: str, upserts: dict[str, dict[str, Any]],
                            deletes: list[str], now: int, ttl_seconds: int) -> None:
    """Write the changed part of a workgroup's view in batches of 25 (BatchWriteItem's limit)."""
    requests: list[dict[str, Any]] = []
    for session_id, view in upserts.items():
        item: dict[str, Any] = {
            "pk": {"S": f"WORKGROUP#{workgroup}"}, "sk": {"S": f"SESSION#{session_id}"},
            "state": {"S": view["state"] or "UNKNOWN"}, "written_at": {"N": str(now)},
            "expires_at": {"N": str(now + ttl_seconds)},
        }
        if view.get("alerted"):
            item["alerted"] = {"SS": sorted(view["alerted"])}
        requests.append({"PutRequest": {"Item": item}})
    for session_id in deletes:
        requests.append({"DeleteRequest": {"Key": {"pk": {"S": f"WORKGROUP#{workgroup}"},
                                                   "sk": {"S": f"SESSION#{session_id}"}}}})
    try:
        for start in range(0, len(requests), 25):
            pending = {table: requests[start:start + 25]}
            for _attempt in range(5):
                answer = clients.client("dynamodb").batch_write_item(RequestItems=pending)
                pending = answer.get("UnprocessedItems") or {}
                if not pending:
                    break
            else:
                raise StateStoreUnavailable("the state table kept throttling the snapshot write")
    except (ClientError, BotoCoreError):
        raise StateStoreUnavailable("the state table could not be written") from None
