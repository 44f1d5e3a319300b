"""Fixtures of the integration tests that watch one workgroup on the emulator's clock."""

from __future__ import annotations

from typing import Any

import pytest

from session_monitor import clock


@pytest.fixture
def etl(emulated_athena: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Watch the workgroup "etl" (schedule 5 min, look-back 15); the function's clock is the emulator's."""
    monkeypatch.setenv("WATCHED_WORKGROUPS", "etl")
    monkeypatch.setenv("LOOKBACK_MINUTES", "15")
    monkeypatch.setenv("SCHEDULE_MINUTES", "5")
    from session_monitor import config

    config.settings.cache_clear()
    emulated_athena.emulator.add_workgroup("etl")
    monkeypatch.setattr(clock, "utc_now", emulated_athena.clock.now)
    return emulated_athena
