"""The README's cost table: bench/cost_model.py turns the bench's measured counts into one month."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import cost_model

DAYS = 30
STACK = {"alarm_metrics": 29, "kms_keys": 1}


def _usage(**kwargs: Any) -> cost_model.Usage:
    """Usage with the stack counted (as the bench's synth counts it) and no cold starts unless asked."""
    return cost_model.Usage(**{"cold_starts_per_day": 0, **STACK, **kwargs})


def _sweep(wall_s: float, rru: float, wru: float, items: int, publishes: int, listed: int) -> dict[str, Any]:
    return {
        "wall_s": wall_s,
        "cpu_s": wall_s / 10,  # mostly waiting on Athena: wall time is what Lambda bills
        "athena_calls": {"ListSessions": 4},
        "aws": {
            "calls": {"sns:Publish": publishes} if publishes else {},
            "dynamodb": {"rru": rru, "wru": wru, "items_written": items},
        },
        "log": {"bytes": 2048, "emf_metrics": ["AthenaSessionMonitor/SweepsCompleted[service=x]"]},
        "sessions_by_state": {"IDLE": listed},
    }


def _scenario(name: str, workgroups: int) -> dict[str, Any]:
    """``workgroups`` of 100 sessions: 2 alerts, 100 views and a watermark per workgroup first,
    then one watermark per workgroup in steady state."""
    w = workgroups
    return {
        "name": name,
        "workgroups": w,
        "sessions": 100 * w,
        "sweeps": {
            "first": _sweep(1.0 * w, 0, 105 * w, 105 * w, 2 * w, 100 * w),
            "after_dropouts": _sweep(1.0 * w, 2 * w, 7 * w, 7 * w, 2 * w, 98 * w),
            "no_change": _sweep(0.5 * w, 2.0 * w, 1.0 * w, w, 0, 100 * w),
        },
    }


def _event(athena: dict[str, int], rru: float, wru: float, publishes: int, queued: int) -> dict[str, Any]:
    return {
        "invocations": 1,
        "athena_calls": athena,
        "aws_calls": {"sns:Publish": publishes} if publishes else {},
        "dynamodb": {"rru": rru, "wru": wru},
        "sqs_messages_queued": queued,
        "wall_ms": {"median": 50.0},
        "cpu_ms": {"median": 5.0},
    }


@pytest.fixture
def results() -> dict[str, Any]:
    return {
        "machine": {"date": "2026-11-28 12:00 UTC"},
        "sweep": {
            "scenarios": [
                _scenario("100", 1),
                _scenario("1k", 10),
                _scenario("10k", 100),
                _scenario("100k", 1000),
            ]
        },
        "cold": {"variants": {"entry": {"process_ms": {"median": 400.0}, "cpu_ms": {"median": 150.0}}}},
        "cloudtrail": {
            "events": {
                "StartSession": _event({}, 0, 1, 0, 1),
                "start check": _event({"GetSession": 1}, 0.5, 1, 0, 0),
                "TerminateSession": _event({"GetSession": 1}, 0.5, 1, 0, 1),
                "terminate re-check": _event({"GetSession": 1}, 0.5, 3, 1, 0),
            },
            "log_per_life": {"bytes": 4096, "emf_metrics": ["AthenaSessionMonitor/AlertsPublished[service=x]"]},
        },
    }


def test_a_quick_run_without_the_100k_sweep_still_has_its_column(results):
    results["sweep"]["scenarios"].pop()  # --quick skips it
    month = cost_model.month(results, "100k", _usage(cloudtrail_events=False))
    assert month.basis == "10k scenario ×10 (100k not measured in this run)"
    assert month.quantities["DynamoDB WRU"] > 0


def test_a_measured_100k_run_is_used_as_it_is(results):
    month = cost_model.month(results, "100k", _usage(cloudtrail_events=False))
    assert month.basis == "measured (1,000 workgroups)"


def test_writes_are_the_steady_sweeps_plus_the_daily_view_refresh_plus_each_sessions_life(results):
    usage = _usage(schedule_minutes=5, days=DAYS, session_lifetime_hours=24)
    month = cost_model.month(results, "10k", usage)
    sweeps, lives = DAYS * 288, 10_000 * DAYS
    steady_writes, views, life_writes = 100, 10_000, 1 + 1 + 1 + 3  # a day's life: one refresh each
    assert month.quantities["sweeps"] == sweeps and month.quantities["session lives (started and ended)"] == lives
    assert month.quantities["DynamoDB WRU"] == pytest.approx(
        sweeps * steady_writes + DAYS * views + lives * life_writes
    )
    assert month.quantities["DynamoDB RRU"] == pytest.approx(sweeps * 200 + lives * 1.5)
    assert month.athena_calls["GetSession"] == lives * 3  # none in the steady sweep
    assert month.quantities["SNS publishes"] == lives  # one TERMINATED alert per life
    assert month.usd["DynamoDB"] == pytest.approx(
        month.quantities["DynamoDB WRU"] * 0.625e-6 + month.quantities["DynamoDB RRU"] * 0.125e-6
    )
    assert month.total_usd == pytest.approx(sum(month.usd.values()))


def test_shorter_sessions_cost_more_and_no_discovery_costs_no_session_events(results):
    def publishes(**usage: Any) -> float:
        return cost_model.month(results, "10k", _usage(**usage)).quantities["SNS publishes"]

    assert publishes(session_lifetime_hours=2) == 4 * publishes(session_lifetime_hours=8)
    assert publishes(cloudtrail_events=False) == 0


def test_a_cpu_bound_sweep_is_billed_for_its_cpu_at_the_functions_share_of_a_vcpu(results):
    steady = results["sweep"]["scenarios"][2]["sweeps"]["no_change"]
    steady["wall_s"], steady["cpu_s"] = 10.0, 20.0  # two busy cores on the bench machine
    month = cost_model.month(results, "10k", _usage(memory_mb=512, cloudtrail_events=False))
    assert month.quantities["sweep duration, s"] == pytest.approx(20.0 * 1769 / 512)
    bigger = cost_model.month(results, "10k", _usage(memory_mb=1769 * 4, cloudtrail_events=False))
    assert bigger.quantities["sweep duration, s"] == pytest.approx(10.0)  # then waiting is what is billed


def test_x_ray_records_every_invocation_below_one_a_second_and_five_percent_of_the_rest():
    seconds = DAYS * 86_400
    assert cost_model.xray_traces(1000, DAYS) == 1000
    assert cost_model.xray_traces(seconds + 1_000_000, DAYS) == pytest.approx(seconds + 50_000)


def test_alarm_metrics_count_each_metric_a_math_alarm_reads(tmp_path: Path):
    alarms = {
        "Plain": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"MetricName": "Errors"}},
        "Math": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {"Metrics": [{"Expression": "a+b"}, {"MetricStat": {}}, {"MetricStat": {}}]},
        },
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
    }
    (tmp_path / "Stack.template.json").write_text(json.dumps({"Resources": alarms}))
    assert cost_model.alarm_metrics((tmp_path,)) == 3
    assert cost_model.stack_counts((tmp_path,)) == (3, 0)
    assert cost_model.alarm_metrics((tmp_path / "missing",)) is None


def test_the_table_names_its_inputs_and_every_scale(results):
    lines = cost_model.render(cost_model.model(results, _usage(alarm_metrics=12)))
    text = "\n".join(lines)
    assert "prices checked 2026-11-28" in text and "a sweep every 5 min (8,640 a month" in text
    assert "| per month | 100 sessions | 10,000 sessions | 100,000 sessions |" in text
    assert "| CloudWatch alarms, USD | 1.20 | 1.20 | 1.20 |" in text


def test_sessions_living_less_than_a_day_cost_no_view_refresh_and_longer_ones_one_per_day(results):
    def refresh_writes(hours: float) -> float:
        with_life = cost_model.month(results, "10k", _usage(session_lifetime_hours=hours))
        steady_and_events = with_life.quantities["sweeps"] * 100 + with_life.quantities[
            "session lives (started and ended)"
        ] * (1 + 1 + 1 + 3)
        return with_life.quantities["DynamoDB WRU"] - steady_and_events

    assert refresh_writes(8) == 0  # its writes are its life's: nothing counted twice
    lives_72h = 10_000 * DAYS * 24 / 72
    assert refresh_writes(72) == pytest.approx(lives_72h * 3)


def test_the_bench_refreshes_views_as_often_as_the_sweep_does():
    from session_monitor import sweep

    assert cost_model.VIEW_REFRESH_SECONDS == sweep.VIEW_REFRESH_SECONDS < sweep.VIEW_TTL_SECONDS


def test_sns_deliveries_are_priced_per_protocol_and_the_alert_count_can_be_given(results):
    usage = _usage(cloudtrail_events=False, alerts_per_month=200_000, email_subscriptions=2, https_subscriptions=1)
    month = cost_model.month(results, "10k", usage)
    assert month.quantities["SNS e-mail deliveries"] == 400_000
    assert month.quantities["SNS HTTP/S deliveries"] == 200_000
    assert month.usd["SNS"] == pytest.approx(0.2 * 0.50 + 4 * 2.00 + 0.2 * 0.60)


def test_cold_starts_bill_their_init_at_the_functions_share_of_a_vcpu(results):
    warm = cost_model.month(results, "100", _usage(cloudtrail_events=False))
    cold = cost_model.month(results, "100", _usage(cloudtrail_events=False, cold_starts_per_day=10))
    init_s = max(0.4, 0.15 * 1769 / 512)  # the import's CPU at 512 MB outlasts its wall time here
    assert cold.quantities["INIT duration, s"] == pytest.approx(init_s)
    extra = cold.quantities["Lambda GB-seconds"] - warm.quantities["Lambda GB-seconds"]
    assert extra == pytest.approx(10 * DAYS * init_s * 0.5)
    del results["cold"]
    with pytest.raises(cost_model.NotCounted, match="INIT"):
        cost_model.month(results, "100", _usage(cold_starts_per_day=1))


def test_the_customer_managed_key_costs_a_month_and_its_requests(results):
    month = cost_model.month(results, "10k", _usage(alerts_per_month=100_000, email_subscriptions=0))
    assert month.quantities["KMS requests (upper bound)"] == 200_000
    assert month.usd["KMS"] == pytest.approx(1.00 + 20 * 0.03)


def test_a_month_is_never_priced_without_the_stacks_alarms(results):
    with pytest.raises(cost_model.NotCounted, match="alarms"):
        cost_model.month(results, "100", cost_model.Usage(cold_starts_per_day=0))
