"""What each construct puts in the template: encryption, API auth, schedule, function contract, alarms."""

from __future__ import annotations

import json
import re
from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match

from infra import constants
from tests.infra.support import REPO_ROOT, Synthesized, as_list, render

# --- encryption ---------------------------------------------------------------------------------


def test_topic_uses_the_stack_key_and_the_key_rotates(variant: Synthesized) -> None:
    key_id, key = variant.only("AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    variant.template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}})


def test_key_policy_lets_alarms_publish(discovery: Synthesized) -> None:
    # Conditions and the absence of any other service: tests/infra/test_infra_security.py.
    _, key = discovery.only("AWS::KMS::Key")
    allowed = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} and s["Effect"] == "Allow"
    ]
    assert len(allowed) == 1
    assert sorted(as_list(allowed[0]["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_topic_policy_keeps_cloudwatch_alarms_able_to_publish(discovery: Synthesized) -> None:
    # enforce_ssl replaces SNS's default topic policy; the alarms need their own statement.
    _, policy = discovery.only("AWS::SNS::TopicPolicy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (alarms,) = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert alarms["Effect"] == "Allow" and alarms["Action"] == "sns:Publish"
    assert render(alarms["Condition"]["ArnLike"]["aws:SourceArn"]).endswith(f":alarm:{discovery.stack.stack_name}-*")
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )


def test_every_queue_is_encrypted_and_tls_only(variant: Synthesized) -> None:
    queues = variant.resources("AWS::SQS::Queue")
    assert queues
    policies = variant.resources("AWS::SQS::QueuePolicy").values()
    for queue_id, queue in queues.items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, queue_id
        denies = [
            s
            for p in policies
            if {"Ref": queue_id} in p["Properties"]["Queues"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denies, f"{queue_id} accepts plain HTTP"


def test_state_table_schema_encryption_and_recovery(variant: Synthesized) -> None:
    variant.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": Match.array_with([{"AttributeName": "pk", "AttributeType": "S"}]),
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},  # KMS with the AWS-managed key aws/dynamodb
        },
    )


# --- API ------------------------------------------------------------------------------------------


def _methods(stack: Synthesized) -> dict[str, dict]:
    resources = stack.resources("AWS::ApiGateway::Resource")
    by_path = {}
    for method in stack.resources("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        path_parts = []
        resource_ref = props["ResourceId"]
        while isinstance(resource_ref, dict) and "Ref" in resource_ref and resource_ref["Ref"] in resources:
            resource = resources[resource_ref["Ref"]]["Properties"]
            path_parts.insert(0, resource["PathPart"])
            resource_ref = resource["ParentId"]
        by_path[f"{props['HttpMethod']} /{'/'.join(path_parts)}"] = props
    return by_path


def test_both_methods_use_iam_auth_validation_and_lambda_proxy(variant: Synthesized) -> None:
    methods = _methods(variant)
    assert set(methods) == {"GET /sessions", "GET /sessions/{session_id}"}
    validator_id, validator = variant.only("AWS::ApiGateway::RequestValidator")
    assert validator["Properties"]["ValidateRequestParameters"] is True
    for props in methods.values():
        assert props["AuthorizationType"] == "AWS_IAM"
        assert props["RequestValidatorId"] == {"Ref": validator_id}
        assert props["Integration"]["Type"] == "AWS_PROXY"
    assert methods["GET /sessions"]["RequestParameters"] == {
        "method.request.querystring.workgroup": True,
        "method.request.querystring.next_token": False,
        "method.request.querystring.max_results": False,
    }
    assert methods["GET /sessions/{session_id}"]["RequestParameters"] == {"method.request.path.session_id": True}


def test_stage_logs_traces_and_throttles(variant: Synthesized) -> None:
    _, stage = variant.only("AWS::ApiGateway::Stage")
    props = stage["Properties"]
    assert props["TracingEnabled"] is True
    assert "DestinationArn" in props["AccessLogSetting"] and "$context.requestId" in props["AccessLogSetting"]["Format"]
    (settings,) = props["MethodSettings"]
    assert settings["HttpMethod"] == "*" and settings["ResourcePath"] == "/*"
    assert settings["LoggingLevel"] == "ERROR" and settings["DataTraceEnabled"] is False  # infra/api.py says why
    assert settings["ThrottlingRateLimit"] == constants.API_THROTTLE_RATE_LIMIT
    assert settings["ThrottlingBurstLimit"] == constants.API_THROTTLE_BURST_LIMIT
    access_log_groups = [
        lg
        for lg in variant.resources("AWS::Logs::LogGroup").items()
        if lg[0] in render(props["AccessLogSetting"]["DestinationArn"])
    ]
    assert len(access_log_groups) == 1 and access_log_groups[0][1]["Properties"]["RetentionInDays"] > 0


def test_account_wide_api_gateway_role_only_when_asked(discovery: Synthesized, configured: Synthesized) -> None:
    discovery.template.resource_count_is("AWS::ApiGateway::Account", 0)
    configured.template.resource_count_is("AWS::ApiGateway::Account", 1)
    # Kept on destroy: other APIs in the account may have started relying on it.
    configured.template.has_resource("AWS::ApiGateway::Account", {"DeletionPolicy": "Retain"})


# --- schedule and asynchronous failures --------------------------------------------------------


def test_schedule_rate_default_payload_retries_and_dlq(variant: Synthesized) -> None:
    _, rule = variant.schedule_rule()
    props = rule["Properties"]
    minutes = variant.config.schedule_minutes
    assert props["ScheduleExpression"] == f"rate({minutes} minutes)"
    (target,) = props["Targets"]
    function_id, _ = variant.only("AWS::Lambda::Function")
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    # The handler recognises EventBridge's own Scheduled Event: no custom input of any kind.
    assert not {"Input", "InputPath", "InputTransformer"} & set(target)
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": minutes * 60, "MaximumRetryAttempts": 2}
    dlq_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert variant.data["Resources"][dlq_id]["Type"] == "AWS::SQS::Queue"


def test_default_schedule_is_every_five_minutes(discovery: Synthesized) -> None:
    discovery.template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(5 minutes)"})


def test_async_failures_go_to_a_queue_after_two_retries(variant: Synthesized) -> None:
    _, config = variant.only("AWS::Lambda::EventInvokeConfig")
    props = config["Properties"]
    assert props["MaximumRetryAttempts"] == 2
    queue_id = props["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert variant.data["Resources"][queue_id]["Type"] == "AWS::SQS::Queue"


# --- the function contract ----------------------------------------------------------------------


def test_function_runtime_is_the_newest_python_cdk_knows(variant: Synthesized) -> None:
    newest = max(
        (r.name for r in lambda_.Runtime.ALL if re.fullmatch(r"python3\.\d+", r.name)),
        key=lambda name: int(name.split(".")[1]),
    )
    _, function = variant.only("AWS::Lambda::Function")
    props = function["Properties"]
    assert props["Runtime"] == newest == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "session_monitor.entry.handler"
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Timeout"] == 300 and props["MemorySize"] == 512
    assert props["ReservedConcurrentExecutions"] == variant.config.reserved_concurrency


def test_function_environment_matches_the_contract(variant: Synthesized) -> None:
    _, function = variant.only("AWS::Lambda::Function")
    env = function["Properties"]["Environment"]["Variables"]
    config = variant.config
    topic_id, _ = variant.only("AWS::SNS::Topic")
    table_id, _ = variant.only("AWS::DynamoDB::Table")
    expected = {
        "ALERTS_TOPIC_ARN": {"Ref": topic_id},
        "STATE_TABLE_NAME": {"Ref": table_id},
        "WATCHED_WORKGROUPS": ",".join(config.watched_workgroups),
        "PRICE_PER_DPU_HOUR": str(config.price_per_dpu_hour),
        "LOOKBACK_MINUTES": str(config.lookback_minutes),
        # The function refuses LOOKBACK_MINUTES < 2 x SCHEDULE_MINUTES + 5 at run time, as synth does.
        "SCHEDULE_MINUTES": str(config.schedule_minutes),
        # The stack's account (resolved at deploy time), part of the alert ledger's keys.
        "MONITOR_ACCOUNT_ID": {"Ref": "AWS::AccountId"},
        "IDLE_ALERT_MINUTES": str(config.idle_alert_minutes),
        "SWEEP_MAX_WORKERS": str(config.sweep_max_workers),
        "POWERTOOLS_SERVICE_NAME": "athena-session-monitor",
        "POWERTOOLS_METRICS_NAMESPACE": "AthenaSessionMonitor",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
    }
    optional = {
        "SWEEP_QUEUE_URL": config.sqs_fanout,
        "FOLLOW_UP_QUEUE_URL": config.cloudtrail_events,
        "STATE_EVENTS_BUS": config.state_events_bus is not None,  # value: test_infra_state_events.py
    }
    assert {k: v for k, v in env.items() if k not in optional} == expected
    assert {k for k in optional if k in env} == {k for k, present in optional.items() if present}


def test_powertools_layer_is_the_version_pinned_in_requirements(variant: Synthesized) -> None:
    pinned = re.search(
        r"^aws-lambda-powertools(?:\[[^\]]*\])?==(\S+)$", (REPO_ROOT / "requirements.in").read_text(), re.M
    ).group(1)
    _, function = variant.only("AWS::Lambda::Function")
    (layer,) = function["Properties"]["Layers"]
    parameter = variant.data["Parameters"][layer["Ref"]]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["Default"] == f"/aws/service/powertools/python/arm64/python3.14/{pinned}"


def test_code_asset_is_lambda_src_without_caches_or_tests(variant: Synthesized) -> None:
    _, function = variant.only("AWS::Lambda::Function")
    asset_dir = variant.path.parent / ("asset." + function["Properties"]["Code"]["S3Key"].removesuffix(".zip"))
    shipped = {p.relative_to(asset_dir).as_posix() for p in asset_dir.rglob("*")}
    assert "session_monitor/entry.py" in shipped
    assert not [p for p in shipped if "__pycache__" in p or p.endswith(".pyc") or "tests" in p.split("/")]


def test_asset_exclude_patterns_apply_at_any_depth(tmp_path: Path) -> None:
    from aws_cdk import App, Stack

    source = tmp_path / "src"
    for relative in (
        "pkg/mod.py",
        "pkg/__pycache__/mod.cpython-314.pyc",
        "pkg/tests/test_mod.py",
        "pkg/sub/stray.pyc",
        "pkg.egg-info/PKG-INFO",
        "pkg/sub/keep.py",
    ):
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_text("x")
    app = App(outdir=str(tmp_path / "out"))
    stack = Stack(app, "AssetProbe")
    lambda_.Function(
        stack,
        "Probe",
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler="pkg.mod.handler",
        code=lambda_.Code.from_asset(str(source), exclude=constants.ASSET_EXCLUDES),
    )
    (staged,) = [p for p in (tmp_path / "out").iterdir() if p.name.startswith("asset.")]
    assert {p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()} == {
        "pkg/mod.py",
        "pkg/sub/keep.py",
    }


def test_log_groups_have_the_configured_retention(variant: Synthesized) -> None:
    for log_group in variant.resources("AWS::Logs::LogGroup").values():
        assert log_group["Properties"]["RetentionInDays"] == variant.config.log_retention_days


# --- SQS fan-out --------------------------------------------------------------------------------


def _mapped_queues(stack: Synthesized) -> dict[str, dict]:
    """Event source mappings by the logical id of the queue they read."""
    return {
        m["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]: m["Properties"]
        for m in stack.resources("AWS::Lambda::EventSourceMapping").values()
    }


def test_fanout_only_when_configured(discovery: Synthesized) -> None:
    assert not discovery.config.sqs_fanout
    _, function = discovery.only("AWS::Lambda::Function")
    env = function["Properties"]["Environment"]["Variables"]
    # The only queue the function reads here is the CloudTrail follow-up queue.
    assert set(_mapped_queues(discovery)) == {env["FOLLOW_UP_QUEUE_URL"]["Ref"]}


def test_fanout_queue_feeds_the_same_function_with_partial_batch_failures(configured: Synthesized) -> None:
    function_id, function = configured.only("AWS::Lambda::Function")
    props = _mapped_queues(configured)[function["Properties"]["Environment"]["Variables"]["SWEEP_QUEUE_URL"]["Ref"]]
    assert props["FunctionName"] == {"Ref": function_id}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["ScalingConfig"]["MaximumConcurrency"] < configured.config.reserved_concurrency
    queue_id = props["EventSourceArn"]["Fn::GetAtt"][0]
    queue = configured.data["Resources"][queue_id]["Properties"]
    assert queue["VisibilityTimeout"] >= function["Properties"]["Timeout"]
    dlq_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert configured.data["Resources"][dlq_id]["Type"] == "AWS::SQS::Queue"
    env = function["Properties"]["Environment"]["Variables"]
    assert env["SWEEP_QUEUE_URL"] == {"Ref": queue_id}


# --- alarms, dashboard, outputs ------------------------------------------------------------------


def test_alarms_notify_the_alerts_topic(variant: Synthesized) -> None:
    topic_id, _ = variant.only("AWS::SNS::Topic")
    alarms = variant.resources("AWS::CloudWatch::Alarm")
    by_metric = {}
    for alarm in alarms.values():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": topic_id}]
        by_metric.setdefault((props.get("Namespace"), props.get("MetricName")), []).append(props)
    assert by_metric[("AWS/Lambda", "Errors")][0]["Threshold"] == 1
    assert by_metric[("AWS/Lambda", "Throttles")][0]["Threshold"] == 1
    (duration,) = by_metric[("AWS/Lambda", "Duration")]
    assert duration["ExtendedStatistic"] == "p99" and duration["Threshold"] == 0.8 * 300_000
    dlq_alarms = by_metric[("AWS/SQS", "ApproximateNumberOfMessagesVisible")]
    # Async failures and the schedule's DLQ; the fan-out's; the CloudTrail rule's and the follow-ups'.
    assert len(dlq_alarms) == 2 + variant.config.sqs_fanout + 2 * variant.config.cloudtrail_events
    for alarm in dlq_alarms:
        assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_dashboard_shows_the_domain_metrics(variant: Synthesized) -> None:
    _, dashboard = variant.only("AWS::CloudWatch::Dashboard")
    widgets = json.loads(render(dashboard["Properties"]["DashboardBody"]))["widgets"]
    metrics = [m for w in widgets for m in w["properties"].get("metrics", [])]
    plain = {tuple(x for x in m if not isinstance(x, dict)) for m in metrics}
    service = ("service", "athena-session-monitor")
    for state in constants.SESSION_STATES:
        assert ("AthenaSessionMonitor", "SessionsSeen", "State", state, *service) in plain
    for name in ("AlertsPublished", "DpuHoursSeen", "SweepDurationMs"):
        assert ("AthenaSessionMonitor", name, *service) in plain
    expressions = [x["expression"] for m in metrics for x in m if isinstance(x, dict) and "expression" in x]
    assert any(e.startswith('SEARCH(\'{AthenaSessionMonitor,Kind,service} MetricName="Errors"') for e in expressions)
    lambda_metrics = {m[1] for m in plain if m and m[0] == "AWS/Lambda"}
    assert {"Invocations", "Errors", "Duration", "Throttles"} <= lambda_metrics
    assert any(w["type"] == "alarm" for w in widgets)


def test_outputs(variant: Synthesized) -> None:
    assert set(variant.data["Outputs"]) == {"ApiUrl", "AlertsTopicArn", "StateTableName", "DashboardUrl"}
    assert "#dashboards/dashboard/" in render(variant.data["Outputs"]["DashboardUrl"]["Value"])


def test_email_subscription_only_with_an_address(discovery: Synthesized, configured: Synthesized) -> None:
    discovery.template.resource_count_is("AWS::SNS::Subscription", 0)
    configured.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )
