"""The configuration surface: cdk.json defaults, -c strings, and readable failures. No synth here."""

from __future__ import annotations

from typing import Any

import pytest

from infra import config as cfg
from infra.config import ConfigError, MonitorConfig
from tests.infra.support import CDK_JSON_CONTEXT


def test_cdk_json_documents_every_key_with_the_code_defaults() -> None:
    assert set(cfg.CONTEXT_KEYS) <= set(CDK_JSON_CONTEXT)
    assert MonitorConfig.from_context(CDK_JSON_CONTEXT) == MonitorConfig()


def test_missing_keys_take_the_documented_defaults() -> None:
    config = MonitorConfig.from_context({})
    assert config == MonitorConfig(
        watched_workgroups=(),
        schedule_minutes=5,
        lookback_minutes=15,
        idle_alert_minutes=0,
        alert_email=None,
        price_per_dpu_hour=0.35,
        log_retention_days=30,
        reserved_concurrency=10,
        sweep_fanout="inline",
        sweep_max_workers=16,
        api_gateway_cloudwatch_role=False,
        cloudtrail_events=True,
    )
    assert config.discovery and not config.sqs_fanout and config.log_retention_name == "ONE_MONTH"


def test_accepts_a_lookup_function_like_try_get_context() -> None:
    values = {"scheduleMinutes": 7, "lookbackMinutes": 19}
    assert MonitorConfig.from_context(values.get).schedule_minutes == 7


@pytest.mark.parametrize(
    ("key", "raw", "attribute", "expected"),
    [
        # `cdk synth -c key=value` passes strings.
        ("scheduleMinutes", "10", "schedule_minutes", 10),
        ("watchedWorkgroups", "primary, etl-prod", "watched_workgroups", ("primary", "etl-prod")),
        ("watchedWorkgroups", '["a.b", "c_d"]', "watched_workgroups", ("a.b", "c_d")),
        ("watchedWorkgroups", "", "watched_workgroups", ()),
        ("watchedWorkgroups", ["x", "x"], "watched_workgroups", ("x",)),
        ("pricePerDpuHour", "0.5", "price_per_dpu_hour", 0.5),
        ("pricePerDpuHour", 1, "price_per_dpu_hour", 1.0),
        ("logRetentionDays", "365", "log_retention_days", 365),
        ("apiGatewayCloudWatchRole", "true", "api_gateway_cloudwatch_role", True),
        ("cloudTrailEvents", True, "cloudtrail_events", True),
        ("cloudTrailEvents", False, "cloudtrail_events", False),
        ("cloudTrailEvents", "true", "cloudtrail_events", True),
        ("cloudTrailEvents", "false", "cloudtrail_events", False),
        ("cloudTrailEvents", " FALSE ", "cloudtrail_events", False),
        ("cloudTrailEvents", None, "cloudtrail_events", True),  # JSON null: the default
        ("alertEmail", " ops@example.com ", "alert_email", "ops@example.com"),
        ("alertEmail", "", "alert_email", None),
        ("sweepFanout", "sqs", "sweep_fanout", "sqs"),
        ("idleAlertMinutes", 0, "idle_alert_minutes", 0),
        ("sweepMaxWorkers", 64, "sweep_max_workers", 64),
        ("scheduleMinutes", 1440, "schedule_minutes", 1440),
    ],
)
def test_parses_values_and_their_string_forms(key: str, raw: Any, attribute: str, expected: Any) -> None:
    # A look-back long enough for any scheduleMinutes, so the cross-key rule stays out of the way.
    context = {"lookbackMinutes": cfg.min_lookback_minutes(1440), key: raw}
    assert getattr(MonitorConfig.from_context(context), attribute) == expected


@pytest.mark.parametrize(
    ("key", "raw", "allowed"),
    [
        ("watchedWorkgroups", ["bad name!"], "[a-zA-Z0-9._-]{1,128}"),
        ("watchedWorkgroups", ["x" * 129], "[a-zA-Z0-9._-]{1,128}"),
        ("watchedWorkgroups", "[not json", "[a-zA-Z0-9._-]{1,128}"),
        ("watchedWorkgroups", {"a": 1}, "[a-zA-Z0-9._-]{1,128}"),
        ("scheduleMinutes", 0, "from 1 to 1440"),
        ("scheduleMinutes", 1441, "from 1 to 1440"),
        ("scheduleMinutes", "five", "from 1 to 1440"),
        ("scheduleMinutes", True, "from 1 to 1440"),
        ("scheduleMinutes", 2.5, "from 1 to 1440"),
        ("lookbackMinutes", 0, ">= 1"),
        ("idleAlertMinutes", -1, ">= 0"),
        ("alertEmail", "not-an-address", "e-mail address"),
        ("pricePerDpuHour", -0.01, ">= 0"),
        ("pricePerDpuHour", "nan", ">= 0"),
        ("pricePerDpuHour", "cheap", ">= 0"),
        ("logRetentionDays", 31, "one of 1, 3, 5, 7, 14, 30"),
        ("logRetentionDays", 0, "one of 1, 3, 5, 7, 14, 30"),
        ("reservedConcurrency", 0, "from 1 to 1000"),
        ("sweepFanout", "kafka", "one of 'inline', 'sqs'"),
        ("sweepMaxWorkers", 65, "from 1 to 64"),
        ("sweepMaxWorkers", 0, "from 1 to 64"),
        ("apiGatewayCloudWatchRole", "yes", "true or false"),
        ("cloudTrailEvents", "yes", "true or false"),
        ("cloudTrailEvents", "", "true or false"),
        ("cloudTrailEvents", 1, "true or false"),
        ("cloudTrailEvents", 0, "true or false"),
        ("cloudTrailEvents", "off", "true or false"),
        ("cloudTrailEvents", ["true"], "true or false"),
    ],
)
def test_bad_values_raise_one_readable_line(key: str, raw: Any, allowed: str) -> None:
    with pytest.raises(ConfigError) as caught:
        MonitorConfig.from_context({key: raw})
    message = str(caught.value)
    assert "\n" not in message
    assert f"'{key}'" in message
    assert allowed in message


def test_sqs_fanout_needs_room_for_its_maximum_concurrency() -> None:
    with pytest.raises(ConfigError, match="'reservedConcurrency' must be an integer from 3 to 1000 when sweepFanout"):
        MonitorConfig.from_context({"sweepFanout": "sqs", "reservedConcurrency": 2, "cloudTrailEvents": False})
    inline = {"sweepFanout": "inline", "reservedConcurrency": 1, "cloudTrailEvents": False}
    assert MonitorConfig.from_context(inline).reserved_concurrency == 1


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"reservedConcurrency": 2},
            "context key 'reservedConcurrency' must be an integer from 3 to 1000 when cloudTrailEvents is true; got 2",
        ),
        (
            {"reservedConcurrency": "1", "cloudTrailEvents": "true"},
            "context key 'reservedConcurrency' must be an integer from 3 to 1000 when cloudTrailEvents is true; got 1",
        ),
        (
            {"reservedConcurrency": 4, "sweepFanout": "sqs"},
            (
                "context key 'reservedConcurrency' must be an integer from 5 to 1000 when sweepFanout is 'sqs' "
                "and cloudTrailEvents is true; got 4"
            ),
        ),
    ],
)
def test_the_follow_up_queue_needs_room_for_its_maximum_concurrency(context: dict[str, Any], message: str) -> None:
    # Every SQS event source takes at least 2 (a Lambda limit); together they stay below the reserve.
    with pytest.raises(ConfigError) as caught:
        MonitorConfig.from_context(context)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("context", "sources"),
    [
        ({"reservedConcurrency": 3}, 2),
        ({"reservedConcurrency": 5, "sweepFanout": "sqs"}, 4),
        ({"reservedConcurrency": 10, "sweepFanout": "sqs"}, 7),
        ({"reservedConcurrency": 1, "cloudTrailEvents": False}, 0),
    ],
)
def test_sqs_event_sources_stay_below_the_reserved_concurrency(context: dict[str, Any], sources: int) -> None:
    config = MonitorConfig.from_context(context)
    assert config.sqs_max_concurrency == sources < config.reserved_concurrency


def test_min_lookback_is_two_sweep_periods_plus_the_retry_window() -> None:
    assert [cfg.min_lookback_minutes(m) for m in (1, 5, 10, 60, 1440)] == [7, 15, 25, 125, 2885]
    assert "min_lookback_minutes(scheduleMinutes)" in (cfg.__doc__ or "")
    # The documented defaults (code and cdk.json) sit exactly on the boundary.
    defaults = MonitorConfig()
    assert defaults.lookback_minutes == cfg.min_lookback_minutes(defaults.schedule_minutes)


@pytest.mark.parametrize(
    ("context", "minimum"),
    [
        ({"lookbackMinutes": 10}, 15),
        ({"lookbackMinutes": 14}, 15),
        ({"scheduleMinutes": 6}, 17),  # raising only the interval leaves the default 15 behind
        ({"scheduleMinutes": 10, "lookbackMinutes": 24}, 25),
        ({"scheduleMinutes": "10", "lookbackMinutes": "24"}, 25),  # -c strings
        ({"scheduleMinutes": 1440, "lookbackMinutes": 2884}, 2885),
        ({"scheduleMinutes": 60, "lookbackMinutes": 60}, 125),
    ],
)
def test_lookback_shorter_than_two_sweeps_and_retries_is_refused(context: dict[str, Any], minimum: int) -> None:
    with pytest.raises(ConfigError) as caught:
        MonitorConfig.from_context(context)
    message = str(caught.value)
    assert "\n" not in message
    assert "lookbackMinutes" in message and "scheduleMinutes" in message
    assert f"2 x scheduleMinutes + 5 = {minimum}" in message


def test_lookback_refusal_names_both_keys_and_both_values() -> None:
    with pytest.raises(ConfigError) as caught:
        MonitorConfig.from_context({"scheduleMinutes": 5, "lookbackMinutes": 10})
    assert str(caught.value) == (
        "context key 'lookbackMinutes' must be at least 2 x scheduleMinutes + 5 = 15 (scheduleMinutes is 5); got 10"
    )


@pytest.mark.parametrize(
    ("context", "schedule", "lookback"),
    [
        ({}, 5, 15),
        ({"scheduleMinutes": 1, "lookbackMinutes": 7}, 1, 7),
        ({"scheduleMinutes": 5, "lookbackMinutes": 15}, 5, 15),
        ({"scheduleMinutes": 10, "lookbackMinutes": 25}, 10, 25),
        ({"scheduleMinutes": "10", "lookbackMinutes": "25"}, 10, 25),
        ({"scheduleMinutes": 1440, "lookbackMinutes": 2885}, 1440, 2885),
        ({"scheduleMinutes": 1, "lookbackMinutes": 10_000}, 1, 10_000),
    ],
)
def test_lookback_at_or_above_the_minimum_is_accepted(context: dict[str, Any], schedule: int, lookback: int) -> None:
    config = MonitorConfig.from_context(context)
    assert (config.schedule_minutes, config.lookback_minutes) == (schedule, lookback)
    assert config.lookback_minutes >= cfg.min_lookback_minutes(config.schedule_minutes)


def test_config_error_is_a_value_error_with_a_stable_name() -> None:
    assert issubclass(ConfigError, ValueError) and ConfigError.__name__ == "ConfigError"


def test_config_is_immutable() -> None:
    with pytest.raises(AttributeError):
        MonitorConfig().schedule_minutes = 1  # type: ignore[misc]
