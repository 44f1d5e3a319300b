"""EventBridge access: put state-change events on the configured bus."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..state_changes import ENTRY_MAX_BYTES, entry_size
from . import aws_errors, clients

# PutEvents takes at most 10 entries. The user guide says "the total entry size must be less than
# 256KB" where the API reference limits each entry: a request is kept under both readings.
MAX_ENTRIES = 10
MAX_REQUEST_BYTES = ENTRY_MAX_BYTES
# An entry EventBridge refuses (FailedEntryCount, the entry's ErrorCode) is sent again, alone with
# the other refused ones, up to this many attempts in all; botocore's own retries cover the call.
ATTEMPTS = 3
BACKOFF_SECONDS = 0.1  # before the 2nd attempt; doubled before the 3rd
# One put_events call (a sweep's workgroup, an API read) spends at most this long on EventBridge:
# the batches not started by then fail at once (counted, logged, alarmed like any refused entry).
# With the events client's timeouts (clients.EVENTS_CLIENT_CONFIG) a hanging endpoint costs one
# call of ~4 s before the first whole-call failure fails the rest too.
BUDGET_SECONDS = 8.0
NOT_TRIED = "NotTried"  # the code of an entry never sent: the bus failed a whole call, or time ran out


@dataclass
class PutResult:
    """What became of the entries: how many EventBridge accepted, and which it did not (by index
    into the entries given, with the last error code)."""

    put: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    failed_whole: bool = False  # a whole call failed: the batches after it were not tried


def batches(entries: Sequence[dict[str, Any]]) -> Iterator[list[int]]:
    """Indexes of ``entries`` in requests of at most 10 entries and MAX_REQUEST_BYTES, in order."""
    batch: list[int] = []
    size = 0
    for index, entry in enumerate(entries):
        grown = size + entry_size(entry)
        if batch and (len(batch) == MAX_ENTRIES or grown > MAX_REQUEST_BYTES):
            yield batch
            batch, grown = [], entry_size(entry)
        batch.append(index)
        size = grown
    if batch:
        yield batch


def put_events(entries: Sequence[dict[str, Any]], budget_seconds: float | None = None) -> PutResult:
    """PutEvents in batches; retry the refused entries; never raise (the caller counts failures).

    A whole call that fails (denied, no such bus, unreachable, timed out) fails every batch after
    it without a call (``NOT_TRIED``): the same bus would fail them the same way, and a sweep
    must not wait for it batch after batch. So do the batches left when ``budget_seconds``
    (default ``BUDGET_SECONDS``) has run out."""
    result = PutResult()
    deadline = time.monotonic() + (BUDGET_SECONDS if budget_seconds is None else budget_seconds)
    for batch in batches(entries):
        if result.failed_whole or time.monotonic() >= deadline:
            result.failed += [(i, NOT_TRIED) for i in batch]
            continue
        _put_batch(entries, batch, result, deadline)
    return result


def _put_batch(entries: Sequence[dict[str, Any]], batch: list[int], result: PutResult, deadline: float) -> None:
    pending = batch
    refused: dict[int, str] = {}
    for attempt in range(ATTEMPTS):
        if attempt:
            pause = BACKOFF_SECONDS * 2 ** (attempt - 1)
            if time.monotonic() + pause >= deadline:
                break  # out of time: the refused entries stay refused
            time.sleep(pause)
        try:
            answer = clients.client("events").put_events(Entries=[entries[i] for i in pending])
        except (ClientError, BotoCoreError) as error:
            # The whole call failed after botocore's retries (denied, no such bus, unreachable).
            result.failed += [(i, _code(error)) for i in pending]
            result.failed_whole = True
            return
        refused = _refused(pending, answer.get("Entries") or [])
        result.put += len(pending) - len(refused)
        if not refused:
            return
        pending = list(refused)
    result.failed += list(refused.items())


def _refused(pending: list[int], outcomes: list[dict[str, Any]]) -> dict[int, str]:
    """The entries EventBridge did not take, with their ErrorCode. The answer has one outcome per
    entry, in order; an entry without one (never seen) counts as refused."""
    refused = {i: str(o["ErrorCode"]) for i, o in zip(pending, outcomes, strict=False) if o.get("ErrorCode")}
    refused.update(dict.fromkeys(pending[len(outcomes) :], "NoAnswer"))
    return refused


def _code(error: Exception) -> str:
    shared = aws_errors.named(error, "events:PutEvents", "the state-change event bus")
    return shared.code if shared else (aws_errors.error_code(error) or type(error).__name__)
