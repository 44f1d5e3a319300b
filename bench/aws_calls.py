"""Count what a Lambda-like child asks of AWS besides Athena: calls by service and operation, and
DynamoDB's on-demand request units, estimated from the items each call reads or writes.

Installed in a benchmark child, before the handler runs: it wraps ``clients.client`` so that every
client the function creates gets two botocore event hooks (``before-parameter-build`` sees the
parameters, ``after-call`` the parsed answer, failed calls included). The function's code is not
changed; the hooks only count. Athena is counted by the emulator instead (wire requests).

Request units follow DynamoDB's sizing rules (developer guide, "Read/write capacity mode"; item
sizes in "Working with items"): a write is 1 WRU per KB of the item (rounded up; 2x inside a
transaction), a failed conditional write still costs its units; an eventually consistent read is
0.5 RRU per 4 KB, a Query's size being the sum of the items it returns. Item size is the sum of its
attribute names' and values' lengths (numbers ~1 byte per two digits + 1). Our items are well under
1 KB, so in practice this is 1 WRU per item written and 0.5 RRU per Query page or GetItem.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096


def _bytes(value: str | bytes) -> int:
    return len(value.encode() if isinstance(value, str) else value)


def _number(value: str) -> int:
    return len(str(value).lstrip("-").replace(".", "")) // 2 + 1


# An attribute value's size by its type (DynamoDB's "Item sizes and formats").
_SIZE_OF: dict[str, Callable[[Any], int]] = {
    "S": _bytes,
    "B": _bytes,
    "N": _number,
    "BOOL": lambda _value: 1,
    "NULL": lambda _value: 1,
    "SS": lambda values: sum(_bytes(v) for v in values),
    "BS": lambda values: sum(_bytes(v) for v in values),
    "NS": lambda values: sum(_number(v) for v in values),
    "L": lambda values: 3 + sum(1 + _value_size(v) for v in values),
    "M": lambda values: 3 + sum(len(k.encode()) + 1 + _value_size(v) for k, v in values.items()),
}


def _value_size(value: dict[str, Any]) -> int:
    (kind, inner), *_ = value.items()
    return _SIZE_OF.get(kind, lambda _value: 0)(inner)


def item_size(item: dict[str, Any]) -> int:
    """An item's size in bytes by DynamoDB's rule (names plus values)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def write_units(item: dict[str, Any]) -> int:
    return max(1, math.ceil(item_size(item) / WRITE_UNIT_BYTES))


def read_units(total_bytes: int, consistent: bool) -> float:
    units = max(1, math.ceil(total_bytes / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def _updated_item(params: dict[str, Any]) -> dict[str, Any]:
    """The item an UpdateItem writes, as far as its parameters say (key plus the values set)."""
    values = params.get("ExpressionAttributeValues") or {}
    return {**params.get("Key", {}), **{name.lstrip(":"): value for name, value in values.items()}}


def _batch_items(params: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key") or {}
        for requests in params["RequestItems"].values()
        for request in requests
    ]


def _transaction_items(params: dict[str, Any]) -> list[dict[str, Any]]:
    actions = [next(iter(action.values())) for action in params["TransactItems"]]
    return [a.get("Item") or a.get("Key") or {} for a in actions]


# Per writing operation: the items it writes, and the units per item's WRU (2 in a transaction).
_WRITTEN: dict[str, tuple[Callable[[dict[str, Any]], list[dict[str, Any]]], int]] = {
    "PutItem": (lambda params: [params["Item"]], 1),
    "UpdateItem": (lambda params: [_updated_item(params)], 1),
    "DeleteItem": (lambda params: [params["Key"]], 1),
    "BatchWriteItem": (_batch_items, 1),
    "TransactWriteItems": (_transaction_items, 2),
}


def _writes(operation: str, params: dict[str, Any]) -> tuple[int, float]:
    """(items written, write request units) of one call, from its parameters."""
    if operation not in _WRITTEN:
        return 0, 0.0
    items_of, factor = _WRITTEN[operation]
    items = items_of(params)
    return len(items), float(sum(factor * write_units(item) for item in items))


# Per reading operation: the items its answer holds.
_READ: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
    "GetItem": lambda parsed: [parsed["Item"]] if parsed.get("Item") else [],
    "Query": lambda parsed: parsed.get("Items") or [],
    "Scan": lambda parsed: parsed.get("Items") or [],
    "BatchGetItem": lambda parsed: [i for found in (parsed.get("Responses") or {}).values() for i in found],
}


def _reads(operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> tuple[int, float]:
    """(items read, read request units) of one call, from its answer: a GetItem or a Query page is
    sized as one read of all its items; a BatchGetItem as one read per item."""
    if operation not in _READ:
        return 0, 0.0
    items, consistent = _READ[operation](parsed), bool(params.get("ConsistentRead"))
    if operation == "BatchGetItem":
        return len(items), sum(read_units(item_size(i), consistent) for i in items)
    return len(items), read_units(sum(item_size(i) for i in items), consistent)


class AwsCallCounter:
    """Calls by ``service:Operation``, and DynamoDB items and request units, from every thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.dynamodb: Counter[str] = Counter()  # read_calls, write_calls, items_*, rru, wru, conditional_failures
        # SQS messages the function sent (SendMessage, and each entry of a SendMessageBatch): {"body", "delay_seconds"}
        self.sent: list[dict[str, Any]] = []

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(sorted(self.calls.items())),
                "dynamodb": {k: round(v, 2) for k, v in sorted(self.dynamodb.items())},
            }

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.service_name
        client.meta.events.register(f"before-parameter-build.{service}", self._before)
        client.meta.events.register(f"after-call.{service}", self._after)

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_kwargs: Any) -> None:
        context["bench_params"] = dict(params)
        if model.service_model.service_name == "sqs" and model.name in ("SendMessage", "SendMessageBatch"):
            messages = params.get("Entries", []) if model.name == "SendMessageBatch" else [params]
            with self._lock:
                self.sent.extend(
                    {"body": m["MessageBody"], "delay_seconds": m.get("DelaySeconds", 0)} for m in messages
                )

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        service, operation = model.service_model.service_name, model.name
        with self._lock:
            self.calls[f"{service}:{operation}"] += 1
            if service != "dynamodb":
                return
            params = context.get("bench_params", {})
            written, wru = _writes(operation, params)
            if written:
                unprocessed = sum(len(r) for r in (parsed.get("UnprocessedItems") or {}).values())
                refused = parsed.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
                self.dynamodb["write_calls"] += 1
                self.dynamodb["items_written"] += 0 if refused else written - unprocessed
                self.dynamodb["conditional_failures"] += refused
                self.dynamodb["wru"] += wru  # a refused conditional write is billed too
                return
            read, rru = _reads(operation, params, parsed)
            self.dynamodb["read_calls"] += 1
            self.dynamodb["items_read"] += read
            self.dynamodb["rru"] += rru


def install() -> AwsCallCounter:
    """Count every call of every client ``session_monitor.integration.clients`` creates from now on."""
    from session_monitor.integration import clients

    counter = AwsCallCounter()
    create = clients.client
    attached: set[int] = set()
    lock = threading.Lock()

    def counted_client(service: str) -> Any:
        found = create(service)
        if id(found) not in attached:
            with lock:
                if id(found) not in attached:
                    counter.attach(found)
                    attached.add(id(found))
        return found

    clients.client = counted_client  # type: ignore[assignment]
    return counter


def difference(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """What happened between two snapshots."""
    calls = {k: v - before["calls"].get(k, 0) for k, v in after["calls"].items() if v - before["calls"].get(k, 0)}
    dynamodb = {
        k: round(v - before["dynamodb"].get(k, 0), 2)
        for k, v in after["dynamodb"].items()
        if v - before["dynamodb"].get(k, 0)
    }
    return {"calls": calls, "dynamodb": dynamodb}
