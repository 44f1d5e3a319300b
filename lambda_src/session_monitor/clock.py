"""The function's one clock. Local mode and tests point it at the Athena emulator's clock, so the
look-back window, idle durations and alert leases are all measured against the sessions' times."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def epoch_seconds() -> int:
    return int(utc_now().timestamp())
