"""Delivery in the template: the chat channel configurations (Slack, Microsoft Teams) and the FIFO
alerts topic. Each variant is synthesized once, checked resource by resource, and held to cdk-nag,
cfn-lint and checkov like the default ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint_file

from infra.config import ConfigError, MonitorConfig
from tests.infra.support import CDK_JSON_CONTEXT, CONFIGURED_CONTEXT, Synthesized, as_list, synthesize
from tests.infra.test_infra_cfn_lint import ACCEPTED_WARNINGS, REGIONS
from tests.infra.test_infra_checkov import ACCEPTED, CHECKOV

SLACK = {"slackWorkspaceId": "T07EA123LEP", "slackChannelId": "C07EZ1ABC23"}
TEAMS = {
    "teamsTeamId": "a1b2c3d4-0000-4000-8000-000000000001",
    "teamsChannelId": "19%3ab6ef35dc342d4b9d%40thread.tacv2",
    "teamsTenantId": "a1b2c3d4-0000-4000-8000-000000000002",
}
ATHENA_READS = {"athena:GetSession", "athena:ListSessions", "athena:ListWorkGroups"}


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Both chat platforms, workgroup discovery (the widest guardrail)."""
    return synthesize(tmp_path_factory.mktemp("cdk-chat"), {**SLACK, **TEAMS})


@pytest.fixture(scope="module")
def slack_configured(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Slack only, watched workgroups listed (without the e-mail subscription of CONFIGURED_CONTEXT)."""
    return synthesize(tmp_path_factory.mktemp("cdk-slack"), {**CONFIGURED_CONTEXT, "alertEmail": "", **SLACK})


FIFO_CONTEXT = {"alertsTopicFifo": True, "scheduleMinutes": 3, "alertEmail": "ops@example.com"}


@pytest.fixture(scope="module")
def fifo(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """A FIFO alerts topic on a 3-minute schedule (the longest it allows), with alertEmail."""
    return synthesize(tmp_path_factory.mktemp("cdk-fifo"), FIFO_CONTEXT)


@pytest.fixture(scope="module", params=["chat", "slack_configured", "fifo"])
def delivery_variant(request: pytest.FixtureRequest) -> Synthesized:
    return request.getfixturevalue(request.param)


def _alerts_topic(variant: Synthesized) -> str:
    return variant.data["Outputs"]["AlertsTopicArn"]["Value"]["Ref"]


# --- chat ---------------------------------------------------------------------------------------


def test_no_chat_keys_create_no_chat_resources(discovery: Synthesized) -> None:
    assert not [r for r in discovery.data["Resources"].values() if r["Type"].startswith("AWS::Chatbot::")]
    roles = discovery.resources("AWS::IAM::Role").values()
    assert not [r for r in roles if "chatbot" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])]


def test_slack_and_teams_channels_get_the_alerts_topic_with_the_given_ids(chat: Synthesized) -> None:
    _, slack = chat.only("AWS::Chatbot::SlackChannelConfiguration")
    _, teams = chat.only("AWS::Chatbot::MicrosoftTeamsChannelConfiguration")
    topic = {"Ref": _alerts_topic(chat)}
    assert slack["Properties"]["SlackWorkspaceId"] == SLACK["slackWorkspaceId"]
    assert slack["Properties"]["SlackChannelId"] == SLACK["slackChannelId"]
    assert (
        teams["Properties"]["TeamId"],
        teams["Properties"]["TeamsChannelId"],
        teams["Properties"]["TeamsTenantId"],
    ) == (
        TEAMS["teamsTeamId"],
        TEAMS["teamsChannelId"],
        TEAMS["teamsTenantId"],
    )
    for configuration in (slack, teams):
        assert configuration["Properties"]["SnsTopicArns"] == [topic]
        assert configuration["Properties"]["LoggingLevel"] == "NONE"
    # One name per account whatever the Region: the stack's name and its Region are in it.
    assert slack["Properties"]["ConfigurationName"] == {
        "Fn::Join": ["", ["AthenaSessionMonitor-", {"Ref": "AWS::Region"}, "-alerts-slack"]]
    }
    assert teams["Properties"]["ConfigurationName"] == {
        "Fn::Join": ["", ["AthenaSessionMonitor-", {"Ref": "AWS::Region"}, "-alerts-teams"]]
    }


def test_configuration_names_differ_by_region_and_stack_and_fit_the_chat_apis_limit() -> None:
    import re

    from aws_cdk import Aws

    from infra.chat import CONFIGURATION_NAME_MAX, configuration_name

    names = {
        configuration_name(stack, region, platform)
        for stack in ("AthenaSessionMonitor", "AthenaSessionMonitor-B")
        for region in ("eu-west-1", "us-east-1")
        for platform in ("slack", "teams")
    }
    assert len(names) == 8
    long_a, long_b = "A" * 127 + "a", "A" * 127 + "b"  # CloudFormation stack names reach 128 characters
    cut = {configuration_name(name, "ap-southeast-5", "teams") for name in (long_a, long_b)}
    assert len(cut) == 2
    assert all(len(n) <= CONFIGURATION_NAME_MAX and re.fullmatch(r"[A-Za-z0-9-_]+", n) for n in cut)
    deferred = configuration_name(long_a, Aws.REGION, "teams")  # the Region resolved at deploy time
    assert len(deferred.replace(Aws.REGION, "")) + len("ap-southeast-5") <= CONFIGURATION_NAME_MAX


def test_the_channel_role_may_call_nothing_and_the_guardrail_is_read_only(chat: Synthesized) -> None:
    _, slack = chat.only("AWS::Chatbot::SlackChannelConfiguration")
    _, teams = chat.only("AWS::Chatbot::MicrosoftTeamsChannelConfiguration")
    role_id = slack["Properties"]["IamRoleArn"]["Fn::GetAtt"][0]
    assert teams["Properties"]["IamRoleArn"]["Fn::GetAtt"][0] == role_id
    role = chat.data["Resources"][role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "chatbot.amazonaws.com"}}
    ]
    assert "Policies" not in role and "ManagedPolicyArns" not in role
    attached = [
        p for p in chat.data["Resources"].values() if {"Ref": role_id} in p.get("Properties", {}).get("Roles", [])
    ]
    assert attached == []
    # The guardrail: without one the service applies AdministratorAccess.
    guardrail_id = slack["Properties"]["GuardrailPolicies"][0]["Ref"]
    assert teams["Properties"]["GuardrailPolicies"] == [{"Ref": guardrail_id}]
    guardrail = chat.data["Resources"][guardrail_id]
    assert guardrail["Type"] == "AWS::IAM::ManagedPolicy"
    statements = as_list(guardrail["Properties"]["PolicyDocument"]["Statement"])
    assert all(s["Effect"] == "Allow" for s in statements)
    assert {a for s in statements for a in as_list(s["Action"])} <= ATHENA_READS


def test_with_watched_workgroups_the_guardrail_names_only_them(slack_configured: Synthesized) -> None:
    _, slack = slack_configured.only("AWS::Chatbot::SlackChannelConfiguration")
    assert not slack_configured.resources("AWS::Chatbot::MicrosoftTeamsChannelConfiguration")
    guardrail = slack_configured.data["Resources"][slack["Properties"]["GuardrailPolicies"][0]["Ref"]]
    resources = json.dumps(guardrail["Properties"]["PolicyDocument"])
    assert "workgroup/analytics" in resources and "workgroup/etl-prod" in resources
    assert "workgroup/*" not in resources and "athena:ListWorkGroups" not in resources


# --- FIFO ---------------------------------------------------------------------------------------


def test_the_fifo_variant_makes_the_alerts_topic_fifo_and_the_function_publishes_there(fifo: Synthesized) -> None:
    topic_id = _alerts_topic(fifo)
    topic = fifo.data["Resources"][topic_id]["Properties"]
    assert topic["FifoTopic"] is True and topic["TopicName"].endswith(".fifo")
    assert topic.get("ContentBasedDeduplication") in (None, False)  # de-duplicated on the alert id
    _, function = fifo.only("AWS::Lambda::Function")
    assert function["Properties"]["Environment"]["Variables"]["ALERTS_TOPIC_ARN"] == {"Ref": topic_id}
    publish = [s for s in fifo.policy_statements() if "sns:Publish" in as_list(s["Action"]) and "Principal" not in s]
    assert [s["Resource"] for s in publish] == [{"Ref": topic_id}]


def test_fifo_delivery_failures_of_both_topics_are_alarmed_and_graphed(fifo: Synthesized) -> None:
    """The alerts topic (FIFO, the function's) and the alarm topic each get a delivery alarm; both
    notify the alarm topic, and the dashboard graphs both."""
    topic_name = {"Fn::GetAtt": [_alerts_topic(fifo), "TopicName"]}
    alarm_topic_id = fifo.data["Outputs"]["AlarmTopicArn"]["Value"]["Ref"]
    alarm_topic_name = {"Fn::GetAtt": [alarm_topic_id, "TopicName"]}
    watched = {}
    for alarm in fifo.resources("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if props.get("MetricName") == "NumberOfNotificationsFailed":
            [dimension] = props["Dimensions"]
            watched[props["AlarmName"]] = dimension["Value"]
            assert props["AlarmActions"] == [{"Ref": alarm_topic_id}]
    assert watched == {
        "AthenaSessionMonitor-AlertsTopicDeliveryFailed": topic_name,
        "AthenaSessionMonitor-AlarmTopicDeliveryFailed": alarm_topic_name,
    }
    _, dashboard = fifo.only("AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert body.count("NumberOfNotificationsFailed") == 2
    assert "SNS deliveries failed (alerts)" in body and "SNS deliveries failed (alarm)" in body


def test_with_a_fifo_alerts_topic_alert_email_subscribes_to_the_alarm_topic(fifo: Synthesized) -> None:
    alarm_topic_id = fifo.data["Outputs"]["AlarmTopicArn"]["Value"]["Ref"]
    [subscription] = fifo.resources("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == FIFO_CONTEXT["alertEmail"]
    assert subscription["Properties"]["TopicArn"] == {"Ref": alarm_topic_id}


def test_the_monitors_alarms_keep_a_standard_topic_when_the_alerts_topic_is_fifo(fifo: Synthesized) -> None:
    topic_id = _alerts_topic(fifo)
    alarm_topic_id = fifo.data["Outputs"]["AlarmTopicArn"]["Value"]["Ref"]
    alarm_topic = fifo.data["Resources"][alarm_topic_id]["Properties"]
    assert "FifoTopic" not in alarm_topic and "KmsMasterKeyId" in alarm_topic
    actions = [
        action
        for alarm in fifo.resources("AWS::CloudWatch::Alarm").values()
        for action in alarm["Properties"].get("AlarmActions", []) + alarm["Properties"].get("OKActions", [])
    ]
    assert actions and all(action == {"Ref": alarm_topic_id} for action in actions)
    # Both topics TLS-only with a topic policy; only the alarm topic's admits CloudWatch in practice.
    policies = {json.dumps(p["Properties"]["Topics"]) for p in fifo.resources("AWS::SNS::TopicPolicy").values()}
    assert policies == {json.dumps([{"Ref": topic_id}]), json.dumps([{"Ref": alarm_topic_id}])}


def test_a_standard_alerts_topic_carries_the_alarms_itself(discovery: Synthesized) -> None:
    assert "AlarmTopicArn" not in discovery.data["Outputs"]
    (topic_id,) = discovery.resources("AWS::SNS::Topic")
    assert "FifoTopic" not in discovery.data["Resources"][topic_id]["Properties"]


# --- the same policy checks as the default variants --------------------------------------------


def test_cdk_nag_has_no_unacknowledged_finding(delivery_variant: Synthesized) -> None:
    report = AwsSolutionsChecks(delivery_variant.stack.node.scope).validate_scope(delivery_variant.stack)
    violations = [(v.rule_name, [r.construct_path for r in v.violating_resources]) for v in report.violations]
    assert violations == [] and report.success


def test_cfn_lint_is_clean(delivery_variant: Synthesized) -> None:
    matches = lint_file(delivery_variant.path, ManualArgs(regions=REGIONS))
    unexpected = [f"{m.rule.id} {m.message} ({m.path_string})" for m in matches if m.rule.id not in ACCEPTED_WARNINGS]
    assert unexpected == []


def test_checkov_finds_nothing_unexplained(delivery_variant: Synthesized) -> None:
    if not CHECKOV.exists():
        pytest.fail(f"checkov not installed at {CHECKOV}: run `make test` (it builds .venv-checkov)")
    arguments = ["--framework", "cloudformation", "--output", "json", "--quiet", "--skip-download", "--compact"]
    result = subprocess.run(
        [str(CHECKOV), "-f", str(delivery_variant.path), *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["summary"]["resource_count"] > 0  # checkov did read the template
    failed = {c["check_id"]: c["resource"] for c in report.get("results", {}).get("failed_checks", [])}
    assert {check: resource for check, resource in failed.items() if check not in ACCEPTED} == {}


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"slackWorkspaceId": "T07EA123LEP"}, "'slackWorkspaceId', 'slackChannelId' go together"),
        ({**TEAMS, "teamsTenantId": ""}, "'teamsTenantId' empty"),
        ({**SLACK, "slackWorkspaceId": "t07ea123lep"}, "context key 'slackWorkspaceId' must be a Slack workspace id"),
        ({**SLACK, "slackChannelId": "#alerts"}, "context key 'slackChannelId' must be a Slack channel id"),
        ({**TEAMS, "teamsTeamId": "team"}, "context key 'teamsTeamId' must be a Microsoft Teams team id"),
        ({**TEAMS, "teamsChannelId": "19:b6ef@thread.tacv2"}, "must be a URL-encoded Microsoft Teams channel id"),
        ({"alertsTopicFifo": "yes"}, "context key 'alertsTopicFifo' must be true or false"),
        (
            {"alertsTopicFifo": True},
            (
                "context key 'alertsTopicFifo' is true: 'scheduleMinutes' must be at most 3 (is 5), or the re-send "
                "after a crash (the first sweep after the 120 s claim lease) can miss SNS's 5-minute de-duplication "
                "window"
            ),
        ),
        (
            {"alertsTopicFifo": "true", "scheduleMinutes": 4, "lookbackMinutes": 13},
            "'scheduleMinutes' must be at most 3 (is 4)",
        ),
        ({"alertsTopicFifo": "true", **SLACK}, "'slackWorkspaceId', 'slackChannelId' cannot subscribe to it"),
        ({"alertsTopicFifo": True, **TEAMS}, "'teamsTeamId', 'teamsChannelId', 'teamsTenantId' cannot subscribe"),
    ],
)
def test_bad_delivery_context_stops_synth_with_one_line_naming_the_keys(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        MonitorConfig.from_context(context)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_delivery_keys_parse_their_command_line_forms() -> None:
    config = MonitorConfig.from_context(
        {"alertsTopicFifo": "true", "scheduleMinutes": "3", "slackWorkspaceId": " ", "teamsTeamId": ""}
    )
    assert config.alerts_topic_fifo and not config.slack and not config.teams
    fifo_with_email = MonitorConfig.from_context({**FIFO_CONTEXT, "scheduleMinutes": 1})
    assert fifo_with_email.alert_email == "ops@example.com" and fifo_with_email.alerts_topic_fifo
    config = MonitorConfig.from_context({**SLACK, **{k: f" {v} " for k, v in TEAMS.items()}})
    assert config.slack and config.teams and config.teams_channel_id == TEAMS["teamsChannelId"]
    assert not MonitorConfig.from_context({}).alerts_topic_fifo


def _stack_of(app: Any) -> Any:
    from infra.stack import AthenaSessionMonitorStack

    [stack] = [child for child in app.node.children if isinstance(child, AthenaSessionMonitorStack)]
    return stack


def test_app_py_reads_the_delivery_keys_from_cdk_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``python app.py`` (no CLI): build_app reads cdk.json's context itself, the delivery keys too."""
    import app

    committed = json.loads(app.CDK_JSON.read_text())
    assert committed["context"]["alertsTopicFifo"] is False
    assert all(committed["context"][key] == "" for key in (*SLACK, *TEAMS))
    edited = tmp_path / "cdk.json"
    edited.write_text(json.dumps({**committed, "context": {**committed["context"], **SLACK}}))
    for variable in app.CLI_CONTEXT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(app, "CDK_JSON", edited)
    stack = _stack_of(app.build_app())
    assert stack.config.slack and stack.config.slack_channel_id == SLACK["slackChannelId"]
    assert stack.chat is not None and stack.chat.slack is not None and stack.chat.teams is None


def test_python_app_py_refuses_a_fifo_topic_on_a_5_minute_schedule_in_one_line() -> None:
    """The CDK CLI's path: context (-c) arrives in CDK_CONTEXT_JSON, read by the CDK's own process
    when the app starts, hence a child process (it stops before synth)."""
    repo = Path(__file__).resolve().parents[2]
    cli_context = {**CDK_JSON_CONTEXT, "alertsTopicFifo": "true"}
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=repo,
        env={
            **os.environ,
            "CDK_CONTEXT_JSON": json.dumps(cli_context),
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("ConfigError")]
    assert errors == [
        (
            "ConfigError: context key 'alertsTopicFifo' is true: 'scheduleMinutes' must be at most 3 (is 5), or the "
            "re-send after a crash (the first sweep after the 120 s claim lease) can miss SNS's 5-minute "
            "de-duplication window; lower 'scheduleMinutes' or set 'alertsTopicFifo' to false"
        )
    ]
