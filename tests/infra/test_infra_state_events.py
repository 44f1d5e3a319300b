"""stateChangeEvents in the template: the bus the function is told, the one grant it gets
(events:PutEvents on that bus alone), the alarm on events not put; and none of it when "off".

The default (discovery fixture) puts events on the default bus; the configured fixture turns them
off; a named bus and a bus ARN are synthesized here, and checked by cdk-nag like the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cdk_nag import AwsSolutionsChecks

import session_contract as contract
from infra.config import ConfigError, MonitorConfig
from tests.infra.support import Synthesized, as_list, render, synthesize
from tests.infra.test_infra_alarms import single_metric

EVENTS = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus"
OTHER_BUS_ARN = "arn:aws:events:eu-west-1:210987654321:event-bus/platform-events"


@pytest.fixture(scope="module")
def named_bus(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-named-bus"), {"stateChangeEvents": "ops-events"})


@pytest.fixture(scope="module")
def bus_by_arn(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-bus-arn"), {"stateChangeEvents": OTHER_BUS_ARN})


def events_statements(stack: Synthesized) -> list[dict[str, Any]]:
    return [s for s in stack.policy_statements() if any(a.startswith("events:") for a in as_list(s["Action"]))]


def environment(stack: Synthesized) -> dict[str, Any]:
    _, function = stack.only("AWS::Lambda::Function")
    return dict(function["Properties"]["Environment"]["Variables"])


def alarm_names(stack: Synthesized) -> set[str]:
    return {a["Properties"]["AlarmName"] for a in stack.resources("AWS::CloudWatch::Alarm").values()}


def test_by_default_events_go_to_the_default_bus_and_the_role_may_put_there_only(discovery: Synthesized) -> None:
    assert environment(discovery)[contract.ENV_STATE_EVENTS_BUS] == "default"
    (statement,) = events_statements(discovery)
    assert statement["Effect"] == "Allow" and as_list(statement["Action"]) == ["events:PutEvents"]
    assert [render(r) for r in as_list(statement["Resource"])] == [f"{EVENTS}/default"]
    assert "Condition" not in statement


def test_a_named_bus_is_the_one_the_function_is_told_and_the_only_one_granted(named_bus: Synthesized) -> None:
    assert environment(named_bus)[contract.ENV_STATE_EVENTS_BUS] == "ops-events"
    (statement,) = events_statements(named_bus)
    assert as_list(statement["Action"]) == ["events:PutEvents"]
    assert [render(r) for r in as_list(statement["Resource"])] == [f"{EVENTS}/ops-events"]


def test_a_bus_arn_is_granted_as_given(bus_by_arn: Synthesized) -> None:
    assert environment(bus_by_arn)[contract.ENV_STATE_EVENTS_BUS] == OTHER_BUS_ARN
    (statement,) = events_statements(bus_by_arn)
    assert as_list(statement["Resource"]) == [OTHER_BUS_ARN]


def test_off_means_no_variable_no_grant_and_no_alarm(configured: Synthesized) -> None:
    assert configured.config.state_events_bus is None
    assert contract.ENV_STATE_EVENTS_BUS not in environment(configured)
    assert events_statements(configured) == []
    assert not any(name.endswith("StateChangeEventsNotPut") for name in alarm_names(configured))


def test_events_not_put_raise_an_alarm_on_the_metric_the_function_counts(discovery: Synthesized) -> None:
    (alarm,) = [
        a["Properties"]
        for a in discovery.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"].endswith("-StateChangeEventsNotPut")
    ]
    assert {k: v for k, v in single_metric(alarm).items() if k != "id"} == {
        "namespace": contract.METRICS_NAMESPACE,
        "name": contract.METRIC_STATE_EVENTS_FAILED,
        "dimensions": {contract.DIMENSION_SERVICE: contract.SERVICE_NAME},
        "stat": "Sum",
        "period": 300,
    }
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"  # no data: nothing was refused
    assert alarm["AlarmActions"] and alarm["OKActions"]


@pytest.mark.parametrize("fixture", ["named_bus", "bus_by_arn"])
def test_every_bus_variant_is_cdk_nag_clean(fixture: str, request: pytest.FixtureRequest) -> None:
    variant: Synthesized = request.getfixturevalue(fixture)
    report = AwsSolutionsChecks(variant.stack.node.scope).validate_scope(variant.stack)
    assert [v.rule_name for v in report.violations] == []
    assert report.success


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("default", "default"),
        (" ops-events ", "ops-events"),
        ("off", None),
        ("Off", None),
        (" OFF ", None),
        ("false", None),
        ("False", None),
        (False, None),
        (OTHER_BUS_ARN, OTHER_BUS_ARN),
        (
            "arn:aws-cn:events:cn-north-1:123456789012:event-bus/a.b-c_d",
            "arn:aws-cn:events:cn-north-1:123456789012:event-bus/a.b-c_d",
        ),
    ],
)
def test_the_context_key_takes_default_a_name_an_arn_or_off(value: Any, expected: str | None) -> None:
    assert MonitorConfig.from_context({"stateChangeEvents": value}).state_events_bus == expected
    assert MonitorConfig.from_context({}).state_events_bus == "default"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        True,
        123,
        "aws.partner/saas.com/1234/bus",  # a partner bus: PutEvents cannot put there
        "my bus",
        "arn:aws:events:us-east-1:123456789012:rule/not-a-bus",
        "arn:aws:sns:us-east-1:123456789012:event-bus/x",
        "x" * 1601,
    ],
)
def test_anything_else_is_refused_naming_the_key_and_the_choices(value: Any) -> None:
    with pytest.raises(ConfigError) as refused:
        MonitorConfig.from_context({"stateChangeEvents": value})
    message = str(refused.value)
    assert "'stateChangeEvents'" in message and "'default'" in message and "'off'" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("value", "meant"),
    [
        *[("true", "default"), ("True", "default"), ("on", "default"), ("Default", "default"), ("DEFAULT", "default")],
        *[("none", "off"), ("None", "off"), ("null", "off"), ("no", "off")],
    ],
)
def test_a_switch_word_is_not_taken_for_a_bus_name_and_the_error_says_what_was_meant(value: str, meant: str) -> None:
    """ "Off" must not send events to a custom bus named Off, nor "Default" to one named Default."""
    with pytest.raises(ConfigError) as refused:
        MonitorConfig.from_context({"stateChangeEvents": value})
    message = str(refused.value)
    assert "'stateChangeEvents'" in message and f"did you mean {meant!r}?" in message and "\n" not in message


def test_the_readme_rule_synthesizes_in_a_consumers_stack(tmp_path: Path) -> None:
    """The CDK snippet of the README: a rule for one workgroup's FAILED sessions, an SQS target."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_events as events
    from aws_cdk import aws_events_targets as targets
    from aws_cdk import aws_sqs as sqs
    from aws_cdk.assertions import Template

    from infra.state_events import failed_sessions_event_pattern, failed_sessions_pattern

    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Consumer")
    queue = sqs.Queue(stack, "EtlFailures", enforce_ssl=True)
    events.Rule(
        stack,
        "EtlSessionFailed",
        event_pattern=failed_sessions_event_pattern("etl"),
        targets=[targets.SqsQueue(queue)],
    )
    (rule,) = Template.from_stack(stack).find_resources("AWS::Events::Rule").values()
    assert rule["Properties"]["EventPattern"] == failed_sessions_pattern("etl")
    assert failed_sessions_pattern("etl") == {
        "source": ["athena-session-monitor"],
        "detail-type": ["Athena Spark Session State Change"],
        "detail": {"state": ["FAILED"], "session": {"workgroup": ["etl"]}},
    }
