"""Stop the schedule and watch the heartbeat go missing: the deployed alarm then fires.

moto stores metrics but evaluates no alarm, so this test plays CloudWatch's two parts itself,
each kept small enough to read:
- EMF ingestion: every metric line the real handler prints becomes a PutMetricData to moto's
  CloudWatch, dated when that invocation ran on the emulated clock;
- alarm evaluation: at each minute, the synthesized NoSweepCompleted alarm's own period,
  evaluation periods, datapoints to alarm, threshold, comparison and missing-data treatment are
  applied to what GetMetricStatistics returns from moto for the alarm's own metric and dimensions.
A name or dimension that drifted between the function and the alarm leaves the alarm's query
empty and the alarm firing while sweeps run, which this test would catch.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from session_monitor import config
from session_monitor.entry import handler
from tests.helpers import load_event
from tests.infra.support import Synthesized

SCHEDULED = load_event("scheduled_event.json")
COMPARE = {
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
}


def heartbeat_alarm(stack: Synthesized) -> dict[str, Any]:
    """The NoSweepCompleted alarm's evaluation settings and its one metric, flattened."""
    (props,) = [
        resource["Properties"]
        for key, resource in stack.resources("AWS::CloudWatch::Alarm").items()
        if key.startswith("MonitoringNoSweepCompleted")
    ]
    if "MetricName" not in props:  # a labelled metric: CloudFormation's Metrics array of one
        (query,) = props["Metrics"]
        stat = query["MetricStat"]
        props = {**props, **stat["Metric"], "Period": stat["Period"], "Statistic": stat["Stat"]}
    return props


def ingest_emf(printed: str, at: datetime) -> int:
    """What CloudWatch does with the function's EMF log lines: one datapoint per metric value."""
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    count = 0
    for line in printed.splitlines():
        if '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dimensions = [{"Name": name, "Value": str(blob[name])} for name in dimension_set]
                for metric in directive["Metrics"]:
                    values = blob[metric["Name"]]
                    for value in values if isinstance(values, list) else [values]:
                        cloudwatch.put_metric_data(
                            Namespace=directive["Namespace"],
                            MetricData=[
                                {
                                    "MetricName": metric["Name"],
                                    "Dimensions": dimensions,
                                    "Value": float(value),
                                    "Timestamp": at,
                                }
                            ],
                        )
                        count += 1
    return count


def alarm_state(alarm: dict[str, Any], at: datetime) -> str:
    """The alarm's state at ``at``: its last ``EvaluationPeriods`` periods, each empty period
    counted as its TreatMissingData says, ALARM when ``DatapointsToAlarm`` of them breach."""
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    period = int(alarm["Period"])
    periods = int(alarm["EvaluationPeriods"])
    breaching = 0
    for k in range(periods, 0, -1):
        start = at - timedelta(seconds=k * period)
        datapoints = cloudwatch.get_metric_statistics(
            Namespace=alarm["Namespace"],
            MetricName=alarm["MetricName"],
            Dimensions=alarm["Dimensions"],
            StartTime=start,
            EndTime=start + timedelta(seconds=period),
            Period=period,
            Statistics=[alarm["Statistic"]],
        )["Datapoints"]
        if not datapoints:
            breaching += alarm["TreatMissingData"] == "breaching"
            continue
        value = sum(point[alarm["Statistic"]] for point in datapoints)
        breaching += COMPARE[alarm["ComparisonOperator"]](value, float(alarm["Threshold"]))
    return "ALARM" if breaching >= int(alarm.get("DatapointsToAlarm", periods)) else "OK"


@pytest.fixture
def deployed_function(discovery: Synthesized, emulated_athena, alerts, monkeypatch):
    """The function with the synthesized stack's own environment (service name, namespace,
    schedule), watching one workgroup of the emulator, on the emulator's clock."""
    (function,) = [
        resource["Properties"]
        for resource in discovery.resources("AWS::Lambda::Function").values()
        if resource["Properties"].get("Handler") == "session_monitor.entry.handler"
    ]
    for name, value in function["Environment"]["Variables"].items():
        if isinstance(value, str) and name.startswith(("POWERTOOLS_", "SCHEDULE_", "LOOKBACK_")):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("WATCHED_WORKGROUPS", "etl")
    emulated_athena.emulator.add_workgroup("etl")
    config.settings.cache_clear()
    return emulated_athena


def test_a_stopped_schedule_leaves_the_heartbeat_missing_and_the_alarm_fires(
    discovery: Synthesized, deployed_function, context, capsys
) -> None:
    alarm = heartbeat_alarm(discovery)
    assert alarm["TreatMissingData"] == "breaching"
    schedule = timedelta(minutes=discovery.config.schedule_minutes)
    clock = deployed_function.clock
    start = clock.now()

    # The schedule runs for an hour, with one sweep lost in the middle (a throttle, a retry that
    # came late); then the rule is disabled: no event, no invocation, no metric.
    sweeps: list[datetime] = []
    for tick in range(13):
        at = start + tick * schedule
        clock.advance((at - clock.now()).total_seconds())
        if tick == 6:
            continue
        capsys.readouterr()
        handler(copy.deepcopy(SCHEDULED), context)
        assert ingest_emf(capsys.readouterr().out, at) > 0
        sweeps.append(at)
    stopped = sweeps[-1]

    # Evaluate the alarm every minute, from the first full window until well after the stop.
    window = timedelta(seconds=int(alarm["Period"]) * int(alarm["EvaluationPeriods"]))
    states: dict[datetime, str] = {}
    at = start + window
    while at <= stopped + 2 * window:
        states[at] = alarm_state(alarm, at)
        at += timedelta(minutes=1)

    # While sweeps run, a lost sweep included, the alarm stays OK ...
    running = {at: state for at, state in states.items() if at <= stopped + 2 * schedule}
    assert set(running.values()) == {"OK"}, [at for at, state in running.items() if state != "OK"]
    # ... after the stop the metric is missing, and missing counts as breaching: it fires within
    # its window (two sweep periods plus the retry window) and stays in ALARM.
    fired = min(at for at, state in states.items() if state == "ALARM")
    assert stopped + 2 * schedule < fired <= stopped + window + timedelta(minutes=1)
    assert {state for at, state in states.items() if at >= fired} == {"ALARM"}
    assert (
        boto3.client("cloudwatch", region_name="us-east-1").get_metric_statistics(
            Namespace=alarm["Namespace"],
            MetricName=alarm["MetricName"],
            Dimensions=alarm["Dimensions"],
            StartTime=stopped + timedelta(seconds=1),
            EndTime=stopped + 2 * window,
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        == []
    )
