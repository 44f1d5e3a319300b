"""The function's settings: read once, validated, the same rules as synth."""

from __future__ import annotations

import pytest

from session_monitor.config import Settings, min_lookback_minutes
from session_monitor.errors import ConfigurationError


def test_a_lookback_shorter_than_two_sweeps_and_the_retry_window_is_refused_naming_both_keys():
    """Case 5: with a 10-minute schedule and a 15-minute window, a failure found by a late sweep
    would already count as history and be suppressed."""
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"SCHEDULE_MINUTES": "10", "LOOKBACK_MINUTES": "15"})
    message = str(refused.value)
    assert "LOOKBACK_MINUTES" in message and "SCHEDULE_MINUTES" in message and "\n" not in message
    assert min_lookback_minutes(10) == 25


def test_the_defaults_and_the_boundary_are_accepted():
    assert Settings.from_env({}).lookback_minutes == 15
    assert Settings.from_env({"SCHEDULE_MINUTES": "5", "LOOKBACK_MINUTES": "15"}).schedule_minutes == 5
    assert Settings.from_env({"SCHEDULE_MINUTES": "10", "LOOKBACK_MINUTES": "25"}).lookback_minutes == 25


def test_an_alert_record_that_would_expire_inside_the_window_is_refused():
    with pytest.raises(ConfigurationError, match="ALERT_RECORD_TTL_DAYS"):
        Settings.from_env({"LOOKBACK_MINUTES": "2000", "ALERT_RECORD_TTL_DAYS": "1"})


def test_ledger_keys_carry_the_account_and_region():
    settings = Settings.from_env({"MONITOR_ACCOUNT_ID": "111122223333", "AWS_REGION": "eu-west-1"})
    assert settings.scope == "111122223333#eu-west-1"
