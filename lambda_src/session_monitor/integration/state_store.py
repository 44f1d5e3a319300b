"""DynamoDB state table: the alert ledger and what each workgroup's sessions looked like.

Every key that names a session carries its *scope*, ``ACCOUNT#REGION``, so one table can later
hold the sessions of many accounts and Regions without a migration. Items (partition key ``pk``,
sort key ``sk``, TTL attribute ``expires_at``):

- ``SESSION#<scope>#<id>`` / ``ALERT#<episode key>``: one alert, e.g. ``ALERT#FAILED#END`` or
  ``ALERT#DEGRADED#20261126T120000Z``. ``status`` is PENDING while a look holds a short lease to
  publish it, SENT once SNS accepted it (with SNS's ``message_id``), SUPPRESSED for history.
- ``WORKGROUP#<scope>#<name>`` / ``SESSION#<id>``: the ledger's view of a session (see
  ``ledger.View``): its state, since when, the episodes done, an open DEGRADED. ``rev`` changes on
  every write (a single look's write is a compare-and-set on it); ``pinned_over`` marks a view
  that is only a registered first sight (``register_sighting``): no look announced its state yet,
  and it holds the state the sighting replaced ("" for none). A full save drops the mark.
- ``WORKGROUP#<scope>#<name>`` / ``WATERMARK``: when the workgroup's last complete sweep began.

Every write that guards against a duplicate is a conditional write; a lost race is a normal answer
(False), not an error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import SessionMonitorError, StateStoreUnavailable
from ..ledger import View
from . import aws_errors, clients

PENDING = "PENDING"
SENT = "SENT"
SUPPRESSED = "SUPPRESSED"  # history older than the look-back window: recorded, never sent
WATERMARK = "WATERMARK"
VIEW_PREFIX = "SESSION#"


def _alert_key(scope: str, session_id: str, episode_key: str) -> dict[str, Any]:
    return {"pk": {"S": f"SESSION#{scope}#{session_id}"}, "sk": {"S": f"ALERT#{episode_key}"}}


def _workgroup_pk(scope: str, workgroup: str) -> dict[str, str]:
    return {"S": f"WORKGROUP#{scope}#{workgroup}"}


def _refused(error: ClientError) -> bool:
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def _failed(error: Exception, action: str, what: str = "could not be reached") -> SessionMonitorError:
    """The named error for a failed table call: AccessDenied and friends name the action."""
    shared = aws_errors.named(error, action, "the state table")
    return shared if shared is not None else StateStoreUnavailable(f"the state table {what}")


def _conditional(call: Callable[[], Any], action: str) -> bool:
    """Run a conditional write: True if it happened, False if its condition was false."""
    try:
        call()
        return True
    except ClientError as error:
        if _refused(error):
            return False
        raise _failed(error, action, "refused a write") from None
    except BotoCoreError as error:
        raise _failed(error, action) from None


def claim_alert(
    table: str, scope: str, session_id: str, episode_key: str, now: int, lease_seconds: int, ttl_seconds: int
) -> tuple[str | None, str | None]:
    """Take the right to publish one episode's alert.

    Returns ``(token, None)`` when claimed, else ``(None, status)`` with the status of the record
    that holds it: SENT or SUPPRESSED (done), or PENDING (another look holds an unexpired lease).
    A claim whose lease ran out (its holder died before SNS answered, or between SNS and
    ``confirm_alert``) can be taken again, so a crash delays an alert but never loses it.
    ``now`` must be the moment of the claim: a lease dated earlier is born expired.
    """
    token = uuid.uuid4().hex
    try:
        clients.client("dynamodb").put_item(
            TableName=table,
            Item={
                **_alert_key(scope, session_id, episode_key),
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
        if _refused(error):
            return None, error.response.get("Item", {}).get("status", {}).get("S", PENDING)
        raise _failed(error, "dynamodb:PutItem", "refused a write") from None
    except BotoCoreError as error:
        raise _failed(error, "dynamodb:PutItem") from None
    return token, None


def confirm_alert(
    table: str, scope: str, session_id: str, episode_key: str, token: str, message_id: str, now: int
) -> bool:
    """Record that SNS accepted the alert. Written only after SNS answered, never before."""
    return _conditional(
        lambda: clients.client("dynamodb").update_item(
            TableName=table,
            Key=_alert_key(scope, session_id, episode_key),
            UpdateExpression="SET #status = :sent, message_id = :message_id, sent_at = :now REMOVE lease_until",
            ConditionExpression="claim = :token",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":sent": {"S": SENT},
                ":message_id": {"S": message_id},
                ":now": {"N": str(now)},
                ":token": {"S": token},
            },
        ),
        "dynamodb:UpdateItem",
    )


def release_alert(table: str, scope: str, session_id: str, episode_key: str, token: str) -> bool:
    """Give a claim back after SNS refused the alert, so the next look retries at once."""
    return _conditional(
        lambda: clients.client("dynamodb").delete_item(
            TableName=table,
            Key=_alert_key(scope, session_id, episode_key),
            ConditionExpression="claim = :token AND #status = :pending",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":token": {"S": token}, ":pending": {"S": PENDING}},
        ),
        "dynamodb:DeleteItem",
    )


def suppress_alert(table: str, scope: str, session_id: str, episode_key: str, now: int, ttl_seconds: int) -> bool:
    """Record an episode's alert as deliberately not sent (history older than the look-back window).

    Conditional like a claim, so no later look (sweep or API) alerts on it either.
    """
    return _conditional(
        lambda: clients.client("dynamodb").put_item(
            TableName=table,
            Item={
                **_alert_key(scope, session_id, episode_key),
                "status": {"S": SUPPRESSED},
                "sent_at": {"N": str(now)},
                "expires_at": {"N": str(now + ttl_seconds)},
            },
            ConditionExpression="attribute_not_exists(pk)",
        ),
        "dynamodb:PutItem",
    )


def _query(
    table: str, pk: dict[str, str], sk_condition: str = "", values: dict[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk" + sk_condition,
        "ExpressionAttributeValues": {":pk": pk, **(values or {})},
    }
    try:
        while True:
            page = clients.client("dynamodb").query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except (ClientError, BotoCoreError) as error:
        raise _failed(error, "dynamodb:Query", "could not be read") from None


def _moment(item: dict[str, Any], name: str) -> datetime | None:
    value = item.get(name, {}).get("N")
    return None if value is None else datetime.fromtimestamp(int(value), tz=UTC)


@dataclass(frozen=True)
class Stored:
    """One stored view as a look read it: the view, the revision it read (None: an item written
    before revisions, compared by ``written_at``), and the view whose state was last announced:
    the view itself, or for a view that is only a registered first sight, what that replaced."""

    view: View
    rev: str | None
    written_at: int
    pinned: bool = False
    announced: View | None = None


def new_rev() -> str:
    """A fresh revision for a write (a look that registers a sighting passes its own on)."""
    return uuid.uuid4().hex


def _view_of(item: dict[str, Any]) -> tuple[View, int]:
    stored = _stored_of(item)
    return stored.view, stored.written_at


def _stored_of(item: dict[str, Any]) -> Stored:
    state = item.get("state", {}).get("S")
    view = View(
        state=None if state in (None, "UNKNOWN") else state,
        since=_moment(item, "since"),
        since_known=item.get("since_known", {}).get("BOOL", False),
        done=frozenset(item.get("done", {}).get("SS", [])),
        open_degraded=item.get("open_degraded", {}).get("S"),
    )
    written_at = int(item.get("written_at", {}).get("N", "0"))
    rev = item.get("rev", {}).get("S")
    replaced = item.get("pinned_over", {}).get("S")
    if replaced is None:
        return Stored(view, rev, written_at, announced=view)
    # The sighting replaced a view of another state (announced then) or none ("": a first sight).
    announced = View(state=replaced, since=view.since) if replaced else None
    return Stored(view, rev, written_at, pinned=True, announced=announced)


def _item_of(
    pk: dict[str, str], session_id: str, view: View, now: int, ttl_seconds: int, rev: str | None = None
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": pk,
        "sk": {"S": VIEW_PREFIX + session_id},
        "state": {"S": view.state or "UNKNOWN"},
        "since_known": {"BOOL": view.since_known},
        "written_at": {"N": str(now)},
        "expires_at": {"N": str(now + ttl_seconds)},
        "rev": {"S": rev or new_rev()},
    }
    if view.since is not None:
        item["since"] = {"N": str(int(view.since.timestamp()))}
    if view.done:
        item["done"] = {"SS": sorted(view.done)}
    if view.open_degraded:
        item["open_degraded"] = {"S": view.open_degraded}
    return item


class WorkgroupLedger:
    """A workgroup's part of the ledger as one query reads it: session views and the watermark."""

    def __init__(self) -> None:
        self.views: dict[str, View] = {}
        self.written_at: dict[str, int] = {}
        self.watermark: datetime | None = None
        # Views that are only a registered first sight: the view whose state was last announced.
        self.pinned: dict[str, View | None] = {}

    def announced(self, session_id: str) -> View | None:
        """The view whose state was last announced for a session (its view, unless pinned)."""
        if session_id in self.pinned:
            return self.pinned[session_id]
        return self.views.get(session_id)


def load_workgroup(table: str, scope: str, workgroup: str) -> WorkgroupLedger:
    """Every view of a workgroup's sessions, and its watermark, in one paginated query."""
    ledger = WorkgroupLedger()
    for item in _query(table, _workgroup_pk(scope, workgroup)):
        sk = item["sk"]["S"]
        if sk == WATERMARK:
            ledger.watermark = _moment(item, "swept_at")
        elif sk.startswith(VIEW_PREFIX):
            session_id = sk.removeprefix(VIEW_PREFIX)
            stored = _stored_of(item)
            ledger.views[session_id], ledger.written_at[session_id] = stored.view, stored.written_at
            if stored.pinned:
                ledger.pinned[session_id] = stored.announced
    return ledger


def load_view(table: str, scope: str, workgroup: str, session_id: str) -> Stored | None:
    """One session's stored view (the API and direct checks), or None if the ledger has none."""
    for item in _query(
        table, _workgroup_pk(scope, workgroup), " AND sk = :sk", {":sk": {"S": VIEW_PREFIX + session_id}}
    ):
        return _stored_of(item)
    return None


def load_watermark(table: str, scope: str, workgroup: str) -> datetime | None:
    """When the workgroup's last complete sweep began, or None if none has completed."""
    for item in _query(table, _workgroup_pk(scope, workgroup), " AND sk = :sk", {":sk": {"S": WATERMARK}}):
        return _moment(item, "swept_at")
    return None


def register_sighting(
    table: str,
    scope: str,
    workgroup: str,
    session_id: str,
    state: str,
    since: datetime,
    now: int,
    ttl_seconds: int,
    *,
    replaced: str | None = None,
    rev: str | None = None,
) -> tuple[datetime, bool] | None:
    """Record that ``state`` was first seen at ``since``, unless the ledger already holds a sighting
    of that state: then return it (its time, and whether Athena dated it). None: ours was recorded.

    The item is marked as a sighting only (``pinned_over``: ``replaced``, the state last announced,
    or none), so that a look which dies or fails before announcing leaves the change unannounced
    for the next look, not swallowed; an earlier mark (a sighting nobody announced) is kept."""
    try:
        clients.client("dynamodb").update_item(
            TableName=table,
            Key={"pk": _workgroup_pk(scope, workgroup), "sk": {"S": VIEW_PREFIX + session_id}},
            UpdateExpression="SET #state = :state, since = :since, since_known = :undated, written_at = :now, "
            "expires_at = :expires, rev = :rev, pinned_over = if_not_exists(pinned_over, :replaced)",
            ConditionExpression="attribute_not_exists(pk) OR #state <> :state OR attribute_not_exists(since)",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":state": {"S": state},
                ":since": {"N": str(int(since.timestamp()))},
                ":undated": {"BOOL": False},
                ":now": {"N": str(now)},
                ":expires": {"N": str(now + ttl_seconds)},
                ":rev": {"S": rev or new_rev()},
                ":replaced": {"S": replaced or ""},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if _refused(error):
            view, _written = _view_of(error.response.get("Item", {}))
            return (view.since, view.since_known) if view.since else None
        raise _failed(error, "dynamodb:UpdateItem", "refused a write") from None
    except BotoCoreError as error:
        raise _failed(error, "dynamodb:UpdateItem") from None
    return None


def watch_session(
    table: str, scope: str, workgroup: str, session_id: str, state: str, now: int, ttl_seconds: int
) -> bool:
    """Put a session on a workgroup's watch list (a view), unless the ledger already has one."""
    item = _item_of(_workgroup_pk(scope, workgroup), session_id, View(state=state), now, ttl_seconds)
    return _conditional(
        lambda: clients.client("dynamodb").put_item(
            TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)"
        ),
        "dynamodb:PutItem",
    )


def _unchanged_since(seen: Stored | None, mine: str | None) -> tuple[str, dict[str, Any]]:
    """The condition that the item is still what a look read (or what the look itself pinned)."""
    values: dict[str, Any] = {}
    if seen is None:
        condition = "attribute_not_exists(pk)"
    elif seen.rev is not None:
        condition, values[":seen"] = "rev = :seen", {"S": seen.rev}
    else:  # an item written before revisions
        condition = "(attribute_not_exists(rev) AND written_at = :written)"
        values[":written"] = {"N": str(seen.written_at)}
    if mine is not None:
        condition, values[":mine"] = f"{condition} OR rev = :mine", {"S": mine}
    return condition, values


def save_view(
    table: str,
    scope: str,
    workgroup: str,
    session_id: str,
    view: View | None,
    now: int,
    ttl_seconds: int,
    *,
    seen: Stored | None,
    mine: str | None = None,
) -> bool:
    """Write one session's view, or delete it (``view`` None), if the item is still the one the
    look read (``seen``; None: there was none) or the sighting it registered itself (``mine``).
    False: another look (a sweep, a concurrent read) wrote it since; the write is dropped and the
    next look decides again from what that one wrote, instead of overwriting it with older news."""
    pk = _workgroup_pk(scope, workgroup)
    key = {"pk": pk, "sk": {"S": VIEW_PREFIX + session_id}}
    condition, values = _unchanged_since(seen, mine)
    guard: dict[str, Any] = {"ConditionExpression": condition}
    if values:
        guard["ExpressionAttributeValues"] = values
    if view is None:
        return _conditional(
            lambda: clients.client("dynamodb").delete_item(TableName=table, Key=key, **guard), "dynamodb:DeleteItem"
        )
    item = _item_of(pk, session_id, view, now, ttl_seconds)
    return _conditional(
        lambda: clients.client("dynamodb").put_item(TableName=table, Item=item, **guard), "dynamodb:PutItem"
    )


def save_workgroup(
    table: str,
    scope: str,
    workgroup: str,
    upserts: dict[str, View],
    deletes: list[str],
    watermark: datetime | None,
    now: int,
    ttl_seconds: int,
) -> None:
    """Write the changed views (and the new watermark) in batches of 25 (BatchWriteItem's limit)."""
    pk = _workgroup_pk(scope, workgroup)
    requests: list[dict[str, Any]] = [
        {"PutRequest": {"Item": _item_of(pk, session_id, view, now, ttl_seconds)}}
        for session_id, view in upserts.items()
    ]
    requests += [
        {"DeleteRequest": {"Key": {"pk": pk, "sk": {"S": VIEW_PREFIX + session_id}}}} for session_id in deletes
    ]
    if watermark is not None:
        requests.append(
            {
                "PutRequest": {
                    "Item": {
                        "pk": pk,
                        "sk": {"S": WATERMARK},
                        "swept_at": {"N": str(int(watermark.timestamp()))},
                        "expires_at": {"N": str(now + ttl_seconds)},
                    }
                }
            }
        )
    try:
        for start in range(0, len(requests), 25):
            _batch_write(table, requests[start : start + 25])
    except (ClientError, BotoCoreError) as error:
        raise _failed(error, "dynamodb:BatchWriteItem", "could not be written") from None


def _batch_write(table: str, requests: list[dict[str, Any]]) -> None:
    pending: dict[str, Any] = {table: requests}
    for _attempt in range(5):
        answer = clients.client("dynamodb").batch_write_item(RequestItems=pending)
        pending = answer.get("UnprocessedItems") or {}
        if not pending:
            return
    raise StateStoreUnavailable("the state table kept throttling the sweep's write")
