"""The alarms that say whether the monitor works: each one's metric, threshold, window, missing-data
treatment and action, the heartbeat's window for every schedule, the dead-letter queues they
cover, and that every custom metric they and the dashboard read is one the function emits."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file

import session_contract as contract
from infra import monitoring
from infra.state_table import TABLE_ACTIONS
from tests.infra.support import CONFIGURED_CONTEXT, Synthesized, render, synthesize
from tests.infra.test_infra_cfn_lint import ACCEPTED_WARNINGS, REGIONS

PREFIX = "AthenaSessionMonitor-"
SERVICE = {"service": contract.SERVICE_NAME}

# Alarms every configuration has; the dead-letter queues' depend on it (see _expected_names).
BASE_ALARMS = {
    "NoSweepCompleted",
    "SweepIncomplete",
    "FunctionErrors",
    "FunctionThrottles",
    "FunctionDurationNearTimeout",
    "DeploymentErrors",
    "AlertsNotSent",
    "ApiServerErrorRate",
    "ApiLatencyP99",
    "StateTableThrottles",
    "StateTableSystemErrors",
    "AlertsTopicDeliveryFailed",
}


# --- reading alarms -------------------------------------------------------------------------------


def alarms(stack: Synthesized) -> dict[str, dict[str, Any]]:
    """Alarm properties by name, without the stack-name prefix."""
    found = {}
    for props in (a["Properties"] for a in stack.resources("AWS::CloudWatch::Alarm").values()):
        assert props["AlarmName"].startswith(PREFIX), props["AlarmName"]
        found[props["AlarmName"].removeprefix(PREFIX)] = props
    return found


def dimensions(raw: list[dict[str, Any]]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in raw}


def metric_stats(props: dict[str, Any]) -> list[dict[str, Any]]:
    """Each metric an alarm reads, as {namespace, name, dimensions, stat, period}, whichever form
    CloudFormation got (top-level MetricName, or a Metrics array for labelled metrics and math)."""
    if "MetricName" in props:
        return [
            {
                "namespace": props["Namespace"],
                "name": props["MetricName"],
                "dimensions": dimensions(props.get("Dimensions", [])),
                "stat": props.get("Statistic") or props.get("ExtendedStatistic"),
                "period": props["Period"],
            }
        ]
    return [
        {
            "id": m["Id"],
            "namespace": m["MetricStat"]["Metric"]["Namespace"],
            "name": m["MetricStat"]["Metric"]["MetricName"],
            "dimensions": dimensions(m["MetricStat"]["Metric"].get("Dimensions", [])),
            "stat": m["MetricStat"]["Stat"],
            "period": m["MetricStat"]["Period"],
        }
        for m in props["Metrics"]
        if "MetricStat" in m
    ]


def single_metric(props: dict[str, Any]) -> dict[str, Any]:
    (metric,) = metric_stats(props)
    if "Metrics" in props:
        (returned,) = [m for m in props["Metrics"] if m.get("ReturnData", True)]
        assert "MetricStat" in returned
    return metric


def expression(props: dict[str, Any]) -> str:
    (returned,) = [m for m in props["Metrics"] if m.get("ReturnData", True)]
    return str(returned["Expression"])


def evaluation(props: dict[str, Any]) -> tuple[int, int]:
    """(evaluation periods, datapoints to alarm)."""
    periods = props["EvaluationPeriods"]
    return periods, props.get("DatapointsToAlarm", periods)


def _expected_names(stack: Synthesized) -> set[str]:
    queues = {"AsyncFailureQueue", "ScheduleDeadLetterQueue"}
    if stack.config.sqs_fanout:
        queues.add("FanoutDeadLetterQueue")
    if stack.config.cloudtrail_events:
        queues |= {"CloudTrailDeadLetterQueue", "FollowUpDeadLetterQueue"}
    events = {"StateChangeEventsNotPut"} if stack.config.state_events_bus is not None else set()
    return BASE_ALARMS | events | {f"{q}NotEmpty" for q in queues}


# --- every alarm ----------------------------------------------------------------------------------


def test_the_alarms_are_exactly_the_expected_ones(variant: Synthesized) -> None:
    assert set(alarms(variant)) == _expected_names(variant)


def test_every_alarm_notifies_the_alerts_topic_and_explains_itself(variant: Synthesized) -> None:
    topic_id, _ = variant.only("AWS::SNS::Topic")
    for name, props in alarms(variant).items():
        assert props["AlarmActions"] == [{"Ref": topic_id}], name
        assert props["OKActions"] == [{"Ref": topic_id}], name  # "it is working again" is news too
        assert props.get("ActionsEnabled", True) is True, name
        description = props["AlarmDescription"]
        # CloudWatch's limit is 1024 characters; what it means and what to check fit well below.
        assert 120 <= len(description) <= 1024, (name, len(description))
        assert description.rstrip().endswith("."), name


def test_only_the_heartbeat_treats_silence_as_failure(variant: Synthesized) -> None:
    treatment = {name: props["TreatMissingData"] for name, props in alarms(variant).items()}
    assert treatment.pop("NoSweepCompleted") == "breaching"
    assert set(treatment.values()) == {"notBreaching"}


# --- the heartbeat --------------------------------------------------------------------------------


def test_heartbeat_fires_when_no_sweep_completed_for_two_periods_and_the_retry_window(variant: Synthesized) -> None:
    props = alarms(variant)["NoSweepCompleted"]
    metric = single_metric(props)
    assert metric["namespace"] == contract.METRICS_NAMESPACE == "AthenaSessionMonitor"
    assert metric["name"] == contract.METRIC_SWEEPS_COMPLETED == "SweepsCompleted"
    assert metric["dimensions"] == SERVICE and metric["stat"] == "Sum"
    assert props["Threshold"] == 1 and props["ComparisonOperator"] == "LessThanThreshold"
    assert props["TreatMissingData"] == "breaching"
    periods, datapoints = evaluation(props)
    assert datapoints == periods  # every period of the window empty, not "some"
    window_seconds = (2 * variant.config.schedule_minutes + contract.RETRY_WINDOW_MINUTES) * 60
    assert metric["period"] % 60 == 0
    assert window_seconds <= metric["period"] * periods < window_seconds + 3600


def test_heartbeat_window_is_valid_in_cloudwatch_for_every_schedule() -> None:
    lowest, highest = int(contract.SCHEDULE_MINUTES.minimum), int(contract.SCHEDULE_MINUTES.maximum or 0)
    for schedule_minutes in range(lowest, highest + 1):
        period, periods = monitoring.heartbeat_window(schedule_minutes)
        seconds = int(period.to_seconds())
        window = (2 * schedule_minutes + contract.RETRY_WINDOW_MINUTES) * 60
        assert seconds % 60 == 0 and periods >= 1, schedule_minutes
        # Covers the window, overshoots by less than one period.
        assert window <= seconds * periods < window + seconds, schedule_minutes
        # PutMetricAlarm: period x evaluation periods at most 1 day under a 1-hour period, else 7 days.
        assert seconds * periods <= (86_400 if seconds < 3_600 else 604_800), schedule_minutes


def test_heartbeat_at_the_longest_schedule_synthesizes_and_lints(tmp_path: Path) -> None:
    longest = int(contract.SCHEDULE_MINUTES.maximum or 0)
    stack = synthesize(
        tmp_path, {"scheduleMinutes": longest, "lookbackMinutes": contract.min_lookback_minutes(longest)}
    )
    props = alarms(stack)["NoSweepCompleted"]
    assert single_metric(props)["period"] == 3600 and evaluation(props) == (49, 49)
    matches = lint_file(stack.path, ManualArgs(regions=REGIONS))
    assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.id not in ACCEPTED_WARNINGS] == []


def test_incomplete_sweeps_alarm_on_the_first_one(variant: Synthesized) -> None:
    props = alarms(variant)["SweepIncomplete"]
    metric = single_metric(props)
    assert (metric["namespace"], metric["name"]) == (contract.METRICS_NAMESPACE, contract.METRIC_SWEEPS_INCOMPLETE)
    assert metric["dimensions"] == SERVICE and metric["stat"] == "Sum" and metric["period"] == 300
    assert props["Threshold"] == 1 and props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert evaluation(props) == (1, 1) and props["TreatMissingData"] == "notBreaching"


# --- AWS service metrics ----------------------------------------------------------------------------


def _resource_id(stack: Synthesized, resource_type: str) -> str:
    resource_id, _ = stack.only(resource_type)
    return resource_id


@pytest.mark.parametrize(
    ("name", "namespace", "metric_name", "stat", "threshold", "comparison", "window"),
    [
        ("FunctionErrors", "AWS/Lambda", "Errors", "Sum", 1, "GreaterThanOrEqualToThreshold", (1, 1)),
        ("FunctionThrottles", "AWS/Lambda", "Throttles", "Sum", 1, "GreaterThanOrEqualToThreshold", (1, 1)),
        ("FunctionDurationNearTimeout", "AWS/Lambda", "Duration", "p99", 240_000, "GreaterThanThreshold", (1, 1)),
        ("ApiServerErrorRate", "AWS/ApiGateway", "5XXError", "Average", 0.05, "GreaterThanThreshold", (1, 1)),
        ("ApiLatencyP99", "AWS/ApiGateway", "Latency", "p99", 5000, "GreaterThanThreshold", (3, 2)),
        (
            "AlertsTopicDeliveryFailed",
            "AWS/SNS",
            "NumberOfNotificationsFailed",
            "Sum",
            1,
            "GreaterThanOrEqualToThreshold",
            (1, 1),
        ),
    ],
)
def test_service_metric_alarm(
    variant: Synthesized,
    name: str,
    namespace: str,
    metric_name: str,
    stat: str,
    threshold: float,
    comparison: str,
    window: tuple[int, int],
) -> None:
    props = alarms(variant)[name]
    metric = single_metric(props)
    assert (metric["namespace"], metric["name"], metric["stat"], metric["period"]) == (
        namespace,
        metric_name,
        stat,
        300,
    )
    assert props["Threshold"] == threshold and props["ComparisonOperator"] == comparison
    assert evaluation(props) == window
    assert props["TreatMissingData"] == "notBreaching"
    # Each reads its own resource of this stack, not a lookalike.
    expected_dimensions = {
        "AWS/Lambda": {"FunctionName": {"Ref": _resource_id(variant, "AWS::Lambda::Function")}},
        "AWS/ApiGateway": {"ApiName": variant.only("AWS::ApiGateway::RestApi")[1]["Properties"]["Name"]},
        "AWS/SNS": {"TopicName": {"Fn::GetAtt": [_resource_id(variant, "AWS::SNS::Topic"), "TopicName"]}},
    }
    assert metric["dimensions"] == expected_dimensions[namespace]


@pytest.mark.parametrize(
    ("name", "metric_name"), [("StateTableThrottles", "ThrottledRequests"), ("StateTableSystemErrors", "SystemErrors")]
)
def test_state_table_alarms_sum_every_operation_the_function_uses(
    variant: Synthesized, name: str, metric_name: str
) -> None:
    props = alarms(variant)[name]
    metrics = metric_stats(props)
    table = {"Ref": _resource_id(variant, "AWS::DynamoDB::Table")}
    # The operations the role is granted (state_table.TABLE_ACTIONS) are the ones summed.
    assert sorted(m["dimensions"]["Operation"] for m in metrics) == sorted(a.split(":")[1] for a in TABLE_ACTIONS)
    assert {"PutItem", "UpdateItem", "DeleteItem", "Query", "BatchWriteItem"} == {
        m["dimensions"]["Operation"] for m in metrics
    }
    for m in metrics:
        assert (m["namespace"], m["name"], m["stat"], m["period"]) == ("AWS/DynamoDB", metric_name, "Sum", 300)
        assert m["dimensions"]["TableName"] == table
    # Every term FILLed: one operation without data must not blank the sum.
    assert expression(props) == " + ".join(f"FILL({m['id']}, 0)" for m in metrics)
    assert props["Threshold"] == 1 and props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert evaluation(props) == (1, 1)


# --- Errors by Kind -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kinds"),
    [("DeploymentErrors", monitoring.DEPLOYMENT_ERROR_KINDS), ("AlertsNotSent", monitoring.ALERT_ERROR_KINDS)],
)
def test_error_kind_alarms_sum_the_named_kinds(variant: Synthesized, name: str, kinds: tuple[str, ...]) -> None:
    props = alarms(variant)[name]
    metrics = metric_stats(props)
    assert [m["dimensions"] for m in metrics] == [{**SERVICE, contract.DIMENSION_KIND: k} for k in kinds]
    for m in metrics:
        assert (m["namespace"], m["name"], m["stat"], m["period"]) == (
            contract.METRICS_NAMESPACE,
            contract.METRIC_ERRORS,
            "Sum",
            300,
        )
    assert expression(props) == " + ".join(f"FILL({m['id']}, 0)" for m in metrics)
    assert props["Threshold"] == 1 and props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert evaluation(props) == (1, 1)


def test_deployment_errors_include_access_denied() -> None:
    assert {"AccessDenied", "AthenaAccessDenied", "CredentialsUnavailable", "ConfigurationError"} <= set(
        monitoring.DEPLOYMENT_ERROR_KINDS
    )


def test_the_kinds_alarmed_on_are_error_classes_of_the_function() -> None:
    """The function reports Kind as the error's class name (SessionMonitorError.code)."""
    from session_monitor import errors

    classes = {
        name for name, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, errors.SessionMonitorError)
    }
    for kind in (*monitoring.DEPLOYMENT_ERROR_KINDS, *monitoring.ALERT_ERROR_KINDS):
        assert kind in classes, kind
    # A kind the API answers for bad input must never page anyone.
    alarmed = {*monitoring.DEPLOYMENT_ERROR_KINDS, *monitoring.ALERT_ERROR_KINDS}
    assert not {k for k in alarmed if issubclass(getattr(errors, k), (errors.InvalidInput, errors.NotFound))}


# --- dead-letter queues ---------------------------------------------------------------------------------


def _dead_letter_queues(stack: Synthesized) -> set[str]:
    """Every queue something sends failures to: an EventBridge target's DLQ, a queue's redrive
    target, a Lambda on-failure destination."""
    found = set()
    for rule in stack.resources("AWS::Events::Rule").values():
        for target in rule["Properties"]["Targets"]:
            if "DeadLetterConfig" in target:
                found.add(target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0])
    for queue in stack.resources("AWS::SQS::Queue").values():
        if "RedrivePolicy" in queue["Properties"]:
            found.add(queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0])
    for config in stack.resources("AWS::Lambda::EventInvokeConfig").values():
        found.add(config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0])
    return found


def test_every_dead_letter_queue_has_an_alarm(variant: Synthesized) -> None:
    watched = {}
    for name, props in alarms(variant).items():
        for metric in metric_stats(props):
            if metric["namespace"] == "AWS/SQS":
                assert name.endswith("NotEmpty"), name
                assert metric["name"] == "ApproximateNumberOfMessagesVisible" and metric["stat"] == "Maximum"
                assert props["Threshold"] == 0 and props["ComparisonOperator"] == "GreaterThanThreshold"
                watched[metric["dimensions"]["QueueName"]["Fn::GetAtt"][0]] = name
    dead_letter_queues = _dead_letter_queues(variant)
    assert set(watched) == dead_letter_queues
    # Every other queue is one the function consumes (its messages are not failures).
    consumed = {
        m["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
        for m in variant.resources("AWS::Lambda::EventSourceMapping").values()
    }
    assert set(variant.resources("AWS::SQS::Queue")) == dead_letter_queues | consumed


def test_fanout_and_cloudtrail_together_alarm_on_all_five_queues(tmp_path: Path) -> None:
    stack = synthesize(tmp_path, {**CONFIGURED_CONTEXT, "cloudTrailEvents": True})
    assert {n for n in alarms(stack) if n.endswith("NotEmpty")} == {
        "AsyncFailureQueueNotEmpty",
        "ScheduleDeadLetterQueueNotEmpty",
        "FanoutDeadLetterQueueNotEmpty",
        "CloudTrailDeadLetterQueueNotEmpty",
        "FollowUpDeadLetterQueueNotEmpty",
    }
    assert len(_dead_letter_queues(stack)) == 5


# --- the custom metrics read are the ones the function emits ------------------------------------------


CONTRACT_METRICS = {value for name, value in vars(contract).items() if name.startswith("METRIC_")}
CONTRACT_DIMENSIONS = {value for name, value in vars(contract).items() if name.startswith("DIMENSION_")}


def _dashboard_widgets(stack: Synthesized) -> list[dict[str, Any]]:
    _, dashboard = stack.only("AWS::CloudWatch::Dashboard")
    return list(json.loads(render(dashboard["Properties"]["DashboardBody"]))["widgets"])


def _custom_metrics_read(stack: Synthesized) -> list[tuple[str, dict[str, str]]]:
    """(metric name, dimensions) of every custom-namespace metric the alarms and the dashboard read."""
    read = [
        (m["name"], m["dimensions"])
        for props in alarms(stack).values()
        for m in metric_stats(props)
        if m["namespace"] == contract.METRICS_NAMESPACE
    ]
    for widget in _dashboard_widgets(stack):
        for entry in widget["properties"].get("metrics", []):
            plain = [x for x in entry if not isinstance(x, dict)]
            if plain and plain[0] == contract.METRICS_NAMESPACE:
                read.append((plain[1], dict(zip(plain[2::2], plain[3::2], strict=True))))
            for options in (x for x in entry if isinstance(x, dict) and "expression" in x):
                for search in re.findall(r"SEARCH\('\{([^}]*)\}([^']*)'", options["expression"]):
                    namespace, *dimension_names = search[0].split(",")
                    assert namespace == contract.METRICS_NAMESPACE
                    terms = dict(re.findall(r'(\w+)="([^"]*)"', search[1]))
                    name = terms.pop("MetricName")
                    read.append((name, {**dict.fromkeys(dimension_names, "*"), **terms}))
    return read


def test_every_custom_metric_read_is_a_contract_metric_the_function_emits(variant: Synthesized) -> None:
    read = _custom_metrics_read(variant)
    names = {name for name, _ in read}
    assert names <= CONTRACT_METRICS, names - CONTRACT_METRICS
    # The heartbeat and the error kinds are among them (the test would pass vacuously otherwise).
    assert {contract.METRIC_SWEEPS_COMPLETED, contract.METRIC_SWEEPS_INCOMPLETE, contract.METRIC_ERRORS} <= names
    for name, dims in read:
        assert set(dims) <= CONTRACT_DIMENSIONS, (name, dims)
        assert dims.get(contract.DIMENSION_SERVICE) == contract.SERVICE_NAME, (name, dims)
        # Powertools flushes these with exactly one extra dimension (observability._dimensioned).
        extra = set(dims) - {contract.DIMENSION_SERVICE}
        expected = {
            contract.METRIC_SESSIONS_SEEN: {contract.DIMENSION_STATE},
            contract.METRIC_ERRORS: {contract.DIMENSION_KIND},
        }.get(name, set())
        assert extra == expected, (name, dims)


def test_dashboard_shows_every_alarm_and_the_health_graphs(variant: Synthesized) -> None:
    widgets = _dashboard_widgets(variant)
    alarm_ids = set(variant.resources("AWS::CloudWatch::Alarm"))
    (status,) = [w for w in widgets if w["type"] == "alarm"]
    assert status["width"] == 24 and status["y"] == 0  # the first row
    assert {arn.removeprefix("${").removesuffix(".Arn}") for arn in status["properties"]["alarms"]} == alarm_ids
    plain = {
        tuple(x for x in m if not isinstance(x, dict))[:2] for w in widgets for m in w["properties"].get("metrics", [])
    }
    for expected in (
        (contract.METRICS_NAMESPACE, contract.METRIC_SWEEPS_COMPLETED),
        (contract.METRICS_NAMESPACE, contract.METRIC_SWEEPS_INCOMPLETE),
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/ApiGateway", "Count"),
        ("AWS/DynamoDB", "ThrottledRequests"),
        ("AWS/DynamoDB", "SystemErrors"),
        ("AWS/SNS", "NumberOfNotificationsFailed"),
    ):
        assert expected in plain, expected
    for row in {w["y"] for w in widgets}:
        assert sum(w["width"] for w in widgets if w["y"] == row) <= 24
