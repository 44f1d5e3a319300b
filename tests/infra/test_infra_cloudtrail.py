"""CloudTrail discovery (cloudTrailEvents): the rule, its target, the follow-up queue, the grants.

The discovery variant has it on (cdk.json's default), the configured one off; two more synths
here: the default with it off (to diff against), and the configured one with it on (both SQS
event sources on one function).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint_file

import session_contract as contract
from tests.infra.support import CONFIGURED_CONTEXT, Synthesized, as_list, render, synthesize
from tests.infra.test_infra_cfn_lint import ACCEPTED_WARNINGS, REGIONS

# What the function may do on the follow-up queue: send (with its URL and attributes), and what
# the SQS event source needs to consume it.
SEND = {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
CONSUME = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}
# SQS's ceiling for a message's DelaySeconds.
SQS_MAX_DELAY_SECONDS = 900


@pytest.fixture(scope="module")
def discovery_off(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """cdk.json as committed but cloudTrailEvents false."""
    return synthesize(tmp_path_factory.mktemp("cdk-cloudtrail-off"), {"cloudTrailEvents": False})


@pytest.fixture(scope="module")
def configured_on(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The configured variant (SQS fan-out, reservedConcurrency 8) with cloudTrailEvents true."""
    return synthesize(
        tmp_path_factory.mktemp("cdk-cloudtrail-fanout"), {**CONFIGURED_CONTEXT, "cloudTrailEvents": True}
    )


def cloudtrail_rule(stack: Synthesized) -> tuple[str, dict[str, Any]]:
    (found,) = [(k, v) for k, v in stack.resources("AWS::Events::Rule").items() if "EventPattern" in v["Properties"]]
    return found


def follow_up_queue_id(stack: Synthesized) -> str:
    _, function = stack.only("AWS::Lambda::Function")
    url = function["Properties"]["Environment"]["Variables"][contract.ENV_FOLLOW_UP_QUEUE_URL]
    assert set(url) == {"Ref"}, url  # the queue URL, resolved at deploy time
    queue_id: str = url["Ref"]
    assert stack.data["Resources"][queue_id]["Type"] == "AWS::SQS::Queue"
    return queue_id


def queue_arn(queue_id: str) -> str:
    return "${" + queue_id + ".Arn}"


# --- the rule ------------------------------------------------------------------------------------


def test_rule_matches_exactly_athenas_start_and_terminate_session_records(discovery: Synthesized) -> None:
    _, rule = cloudtrail_rule(discovery)
    props = rule["Properties"]
    assert props["EventPattern"] == {
        "source": ["aws.athena"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["athena.amazonaws.com"],
            "eventName": ["StartSession", "TerminateSession"],
            "errorCode": [{"exists": False}],  # successful calls only: a failed one names no session
        },
    }
    assert props["EventPattern"]["source"] == [contract.CLOUDTRAIL_SOURCE]
    assert props["EventPattern"]["detail-type"] == [contract.CLOUDTRAIL_DETAIL_TYPE]
    assert props["EventPattern"]["detail"]["eventName"] == list(contract.CLOUDTRAIL_EVENT_NAMES)
    # The default bus (where AWS services deliver), enabled.
    assert "EventBusName" not in props and props["State"] == "ENABLED"


def test_rule_targets_the_function_with_retries_and_a_dead_letter_queue(discovery: Synthesized) -> None:
    rule_id, rule = cloudtrail_rule(discovery)
    function_id, _ = discovery.only("AWS::Lambda::Function")
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    # The function gets the rule's input transformer's output, never the record itself.
    assert not {"Input", "InputPath"} & set(target) and "InputTransformer" in target
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 4}

    dlq_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    dlq = discovery.data["Resources"][dlq_id]
    assert dlq["Type"] == "AWS::SQS::Queue" and dlq["Properties"]["SqsManagedSseEnabled"] is True
    # EventBridge may write to it, and only for this rule.
    (policy,) = [
        p
        for p in discovery.resources("AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": dlq_id}]
    ]
    (allow,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"} and allow["Action"] == "sqs:SendMessage"
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}
    # And the rule may invoke the function.
    discovery.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "Principal": "events.amazonaws.com",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
        },
    )


def test_the_rule_hands_the_function_only_what_it_reads_never_the_request_parameters(discovery: Synthesized) -> None:
    """A StartSession's requestParameters hold the engine configuration (Spark properties, possibly
    credentials): the transformer picks single fields, so neither the function, its logs nor its
    on-failure queue (which keeps the invocation's payload) ever hold the configuration."""
    _, rule = cloudtrail_rule(discovery)
    (target,) = rule["Properties"]["Targets"]
    transformer = target["InputTransformer"]
    assert transformer == {
        "InputPathsMap": contract.CLOUDTRAIL_INPUT_PATHS,
        "InputTemplate": contract.CLOUDTRAIL_INPUT_TEMPLATE,
    }
    assert set(transformer["InputPathsMap"].values()) == {
        "$.id",
        "$.detail.eventName",
        "$.detail.eventSource",
        "$.detail.errorCode",
        "$.detail.requestParameters.workGroup",
        "$.detail.requestParameters.sessionId",
        "$.detail.responseElements.sessionId",
        "$.detail.responseElements.state",
    }
    template = transformer["InputTemplate"]
    placeholders = re.findall(r"<([^<>]+)>", template)
    assert sorted(placeholders) == sorted(transformer["InputPathsMap"])  # each variable used, once
    # Every placeholder inside quotes: a missing path leaves a valid JSON string, not a hole.
    assert all(f'"<{name}>"' in template for name in placeholders)
    for unfilled in ("", "<kept>"):
        filled = json.loads(re.sub(r"<[^<>]+>", unfilled, template))
        assert filled["source"] == contract.CLOUDTRAIL_SOURCE
        assert filled["detail-type"] == contract.CLOUDTRAIL_DETAIL_TYPE


# --- the follow-up queue -------------------------------------------------------------------------


def test_follow_up_queue_is_encrypted_tls_only_and_redrives_to_its_own_dlq(discovery: Synthesized) -> None:
    queue_id = follow_up_queue_id(discovery)
    props = discovery.data["Resources"][queue_id]["Properties"]
    assert props["SqsManagedSseEnabled"] is True
    assert "FifoQueue" not in props  # standard queue: per-message DelaySeconds
    _, function = discovery.only("AWS::Lambda::Function")
    assert props["VisibilityTimeout"] >= 6 * function["Properties"]["Timeout"]
    assert props["RedrivePolicy"]["maxReceiveCount"] == 3
    dlq_id = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    _, rule = cloudtrail_rule(discovery)
    assert dlq_id != rule["Properties"]["Targets"][0]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    dlq = discovery.data["Resources"][dlq_id]
    assert dlq["Type"] == "AWS::SQS::Queue" and dlq["Properties"]["SqsManagedSseEnabled"] is True
    discovery.template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": queue_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            },
        },
    )


def test_the_contracts_delays_fit_sqs_delay_seconds() -> None:
    assert 0 < contract.TERMINATE_RECHECK_SECONDS <= contract.START_CHECK_DELAY_SECONDS <= SQS_MAX_DELAY_SECONDS


def test_follow_up_queue_feeds_the_same_function_ten_at_a_time(discovery: Synthesized) -> None:
    queue_id = follow_up_queue_id(discovery)
    function_id, _ = discovery.only("AWS::Lambda::Function")
    (mapping,) = [
        m["Properties"]
        for m in discovery.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    ]
    assert mapping["FunctionName"] == {"Ref": function_id}
    assert mapping["BatchSize"] == 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert mapping["ScalingConfig"]["MaximumConcurrency"] < discovery.config.reserved_concurrency


def test_both_sqs_event_sources_together_stay_below_the_reserved_concurrency(configured_on: Synthesized) -> None:
    mappings = configured_on.resources("AWS::Lambda::EventSourceMapping").values()
    assert len(mappings) == 2
    total = sum(m["Properties"]["ScalingConfig"]["MaximumConcurrency"] for m in mappings)
    assert total == configured_on.config.sqs_max_concurrency < configured_on.config.reserved_concurrency


# --- the function's environment and permissions ----------------------------------------------------


def test_function_sends_follow_ups_to_the_queue_it_reads(discovery: Synthesized) -> None:
    queue_id = follow_up_queue_id(discovery)  # FOLLOW_UP_QUEUE_URL: {"Ref": queue}, the queue URL
    read = {
        m["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
        for m in discovery.resources("AWS::Lambda::EventSourceMapping").values()
    }
    assert read == {queue_id}


def test_function_sends_only_to_the_follow_up_queue_and_consumes_only_it(discovery: Synthesized) -> None:
    queue = queue_arn(follow_up_queue_id(discovery))
    on_queue = [s for s in discovery.policy_statements() if queue in {render(r) for r in as_list(s["Resource"])}]
    actions = {a for s in on_queue for a in as_list(s["Action"])}
    assert actions == SEND | CONSUME
    assert all(s["Effect"] == "Allow" and "Condition" not in s for s in on_queue)
    # SendMessage: the follow-up queue and the async on-failure destination, nothing else.
    _, invoke_config = discovery.only("AWS::Lambda::EventInvokeConfig")
    on_failure = render(invoke_config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"])
    send = {
        render(r)
        for s in discovery.policy_statements()
        if "sqs:SendMessage" in as_list(s["Action"])
        for r in as_list(s["Resource"])
    }
    assert send == {queue, on_failure}


def test_the_function_has_no_access_to_the_new_dead_letter_queues(discovery: Synthesized) -> None:
    _, rule = cloudtrail_rule(discovery)
    queue_props = discovery.data["Resources"][follow_up_queue_id(discovery)]["Properties"]
    dlqs = {
        render(rule["Properties"]["Targets"][0]["DeadLetterConfig"]["Arn"]),
        render(queue_props["RedrivePolicy"]["deadLetterTargetArn"]),
    }
    resources = {render(r) for s in discovery.policy_statements() for r in as_list(s["Resource"])}
    assert not dlqs & resources


def test_no_new_athena_permission(discovery: Synthesized, discovery_off: Synthesized) -> None:
    def athena(stack: Synthesized) -> set[tuple[str, str]]:
        return {
            (action, render(resource))
            for s in stack.policy_statements()
            for action in as_list(s["Action"])
            if action.startswith("athena:")
            for resource in as_list(s["Resource"])
        }

    assert athena(discovery) == athena(discovery_off)


def test_the_dead_letter_queues_raise_alarms(discovery: Synthesized) -> None:
    _, rule = cloudtrail_rule(discovery)
    queue_props = discovery.data["Resources"][follow_up_queue_id(discovery)]["Properties"]
    dlq_ids = {
        rule["Properties"]["Targets"][0]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0],
        queue_props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0],
    }
    alarmed = {
        dimension["Value"]["Fn::GetAtt"][0]
        for alarm in discovery.resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        for dimension in alarm["Properties"]["Dimensions"]
        if dimension["Name"] == "QueueName"
    }
    assert dlq_ids <= alarmed


# --- off ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["discovery_off", "configured"])
def test_off_means_no_rule_no_queue_no_variable(name: str, request: pytest.FixtureRequest) -> None:
    stack: Synthesized = request.getfixturevalue(name)
    assert stack.config.cloudtrail_events is False
    assert [v for v in stack.resources("AWS::Events::Rule").values() if "EventPattern" in v["Properties"]] == []
    _, function = stack.only("AWS::Lambda::Function")
    assert contract.ENV_FOLLOW_UP_QUEUE_URL not in function["Properties"]["Environment"]["Variables"]
    assert not [k for k in stack.data["Resources"] if "CloudTrail" in k or "FollowUp" in k]


def test_off_removes_exactly_the_cloudtrail_resources(discovery: Synthesized, discovery_off: Synthesized) -> None:
    on, off = set(discovery.data["Resources"]), set(discovery_off.data["Resources"])
    assert off <= on
    added = on - off
    # The rule and its invoke permission, three queues (the rule's DLQ, the follow-up queue and its
    # DLQ) and their policies, the event source mapping, the two DLQ alarms.
    assert len(added) == 11, sorted(added)
    assert all("CloudTrail" in k or "FollowUp" in k for k in added), sorted(added)
    discovery_off.template.resource_count_is("AWS::Lambda::EventSourceMapping", 0)


# --- cdk-nag and cfn-lint with both SQS event sources ---------------------------------------------


def test_cloudtrail_with_fanout_passes_cdk_nag_and_cfn_lint(configured_on: Synthesized) -> None:
    report = AwsSolutionsChecks(configured_on.stack.node.scope).validate_scope(configured_on.stack)
    assert [v.rule_name for v in report.violations] == [] and report.success
    matches = lint_file(configured_on.path, ManualArgs(regions=REGIONS))
    unexpected = [
        f"{m.rule.id} {m.message} ({m.path_string})"
        for m in matches
        if m.rule.id not in ACCEPTED_WARNINGS or not m.rule.id.startswith("W")
    ]
    assert unexpected == []
