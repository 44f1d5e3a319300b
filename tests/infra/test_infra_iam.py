"""The function's permissions, statement by statement: exact actions on exact resources."""

from __future__ import annotations

from typing import Any

from tests.infra.support import Synthesized, as_list, render

ATHENA = "arn:${AWS::Partition}:athena:${AWS::Region}:${AWS::AccountId}"
# The only actions that may use Resource "*": they support no resource-level permissions.
STAR_ACTIONS = {"athena:ListWorkGroups", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def statements_with(stack: Synthesized, action: str) -> list[dict[str, Any]]:
    return [s for s in stack.policy_statements() if action in as_list(s["Action"])]


def resources_of(statement: dict[str, Any]) -> set[str]:
    return {render(r) for r in as_list(statement["Resource"])}


def granted(stack: Synthesized, action: str) -> set[str]:
    """Every resource the given action is allowed on, across all statements."""
    found: set[str] = set()
    for statement in statements_with(stack, action):
        assert statement["Effect"] == "Allow"
        found |= resources_of(statement)
    return found


def test_discovery_reads_every_workgroup_and_lists_workgroups_on_star(discovery: Synthesized) -> None:
    assert granted(discovery, "athena:ListSessions") == {f"{ATHENA}:workgroup/*"}
    assert granted(discovery, "athena:GetSession") == {f"{ATHENA}:workgroup/*", f"{ATHENA}:workgroup/*/session/*"}
    assert granted(discovery, "athena:ListWorkGroups") == {"*"}


def test_watched_workgroups_scope_athena_to_exactly_those(configured: Synthesized) -> None:
    workgroups = {f"{ATHENA}:workgroup/analytics", f"{ATHENA}:workgroup/etl-prod"}
    sessions = {f"{ATHENA}:workgroup/analytics/session/*", f"{ATHENA}:workgroup/etl-prod/session/*"}
    assert granted(configured, "athena:ListSessions") == workgroups
    assert granted(configured, "athena:GetSession") == workgroups | sessions
    assert statements_with(configured, "athena:ListWorkGroups") == []


def test_athena_access_is_read_only(variant: Synthesized) -> None:
    athena = {a for s in variant.policy_statements() for a in as_list(s["Action"]) if a.startswith("athena:")}
    assert athena <= {"athena:GetSession", "athena:ListSessions", "athena:ListWorkGroups"}


def test_sns_publish_only_to_the_alerts_topic_with_its_key_only_via_sns(variant: Synthesized) -> None:
    topic_id, _ = variant.only("AWS::SNS::Topic")
    key_id, _ = variant.only("AWS::KMS::Key")
    sns = {a for s in variant.policy_statements() for a in as_list(s["Action"]) if a.startswith("sns:")}
    assert sns == {"sns:Publish"}
    assert granted(variant, "sns:Publish") == {"${" + topic_id + "}"}

    (kms,) = [s for s in variant.policy_statements() if any(a.startswith("kms:") for a in as_list(s["Action"]))]
    assert sorted(as_list(kms["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert resources_of(kms) == {"${" + key_id + ".Arn}"}
    assert render(kms["Condition"]["StringEquals"]["kms:ViaService"]) == "sns.${AWS::Region}.amazonaws.com"


def test_dynamodb_actions_are_exactly_the_five_on_the_state_table(variant: Synthesized) -> None:
    table_id, _ = variant.only("AWS::DynamoDB::Table")
    dynamo = [s for s in variant.policy_statements() if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
    assert len(dynamo) == 1
    assert sorted(as_list(dynamo[0]["Action"])) == [
        "dynamodb:BatchWriteItem",
        "dynamodb:DeleteItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    ]
    assert resources_of(dynamo[0]) == {"${" + table_id + ".Arn}"}


def test_no_wildcard_actions_in_any_identity_policy(variant: Synthesized) -> None:
    wildcards = [a for s in variant.policy_statements() for a in as_list(s["Action"]) if "*" in a]
    assert wildcards == []


def test_resource_star_only_for_actions_without_resource_level_permissions(variant: Synthesized) -> None:
    star_actions = {
        action
        for statement in variant.policy_statements()
        if "*" in resources_of(statement)
        for action in as_list(statement["Action"])
    }
    assert star_actions <= STAR_ACTIONS
    # Active tracing is what adds the X-Ray pair (CDK writes it; the function's Tracer needs it).
    assert {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= star_actions


def test_function_role_has_no_managed_policies(variant: Synthesized) -> None:
    _function_id, function = variant.only("AWS::Lambda::Function")
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    role = variant.data["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_function_writes_only_its_own_log_group(variant: Synthesized) -> None:
    _function_id, function = variant.only("AWS::Lambda::Function")
    log_group = render(function["Properties"]["LoggingConfig"]["LogGroup"])
    assert granted(variant, "logs:PutLogEvents") == {log_group.replace("}", ".Arn}")}
    assert "logs:CreateLogGroup" not in {a for s in variant.policy_statements() for a in as_list(s["Action"])}


def test_the_function_sends_only_to_its_own_queues(variant: Synthesized) -> None:
    """SendMessage: the async on-failure destination, the fan-out queue, the follow-up queue."""
    _, function = variant.only("AWS::Lambda::Function")
    env = function["Properties"]["Environment"]["Variables"]
    _, invoke_config = variant.only("AWS::Lambda::EventInvokeConfig")
    on_failure = render(invoke_config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"])
    work_queues = {
        "${" + env[name]["Ref"] + ".Arn}" for name in ("SWEEP_QUEUE_URL", "FOLLOW_UP_QUEUE_URL") if name in env
    }
    assert granted(variant, "sqs:SendMessage") == {on_failure} | work_queues
    assert len(work_queues) == variant.config.sqs_fanout + variant.config.cloudtrail_events


def test_fanout_may_only_send_to_its_work_queue(configured: Synthesized) -> None:
    _, function = configured.only("AWS::Lambda::Function")
    queue_id = function["Properties"]["Environment"]["Variables"]["SWEEP_QUEUE_URL"]["Ref"]
    (mapping,) = [
        m
        for m in configured.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    ]
    queue_arn = render(mapping["Properties"]["EventSourceArn"])
    assert queue_arn in granted(configured, "sqs:SendMessage")


def test_the_granted_table_actions_are_exactly_the_calls_the_function_makes() -> None:
    """Least privilege that cannot drift: read the adapter's DynamoDB calls from its source."""
    import re
    from pathlib import Path

    from infra.state_table import TABLE_ACTIONS

    source = Path("lambda_src/session_monitor/integration/state_store.py").read_text()
    calls = set(re.findall(r'client\("dynamodb"\)\.(\w+)\(', source))
    as_actions = {"dynamodb:" + "".join(part.title() for part in call.split("_")) for call in calls}
    assert as_actions == set(TABLE_ACTIONS)
