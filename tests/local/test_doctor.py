"""``session-monitor doctor`` against moto (in-process): a CloudFormation stack with the resources
the checks read, and the probe served by the REAL handler in-process, whose Athena is the emulator.

moto runs Lambda's Invoke in Docker (not here), so the probe goes through doctor's one seam, an
``Invoke`` callable: ``in_process`` below hands the event to ``session_monitor.entry.handler``
and answers as lambda:Invoke does (FunctionError "Unhandled", payload errorType/errorMessage).
moto has no iam:SimulatePrincipalPolicy: against it the permission lines are one ``skip``;
the simulator's answers are read by ``denials``, tested on documents in the API's shape.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from botocore.validate import ParamValidator

import session_contract as contract
from local_mode import cli, doctor
from local_mode.api_server import invoke
from tests.conftest import ACCOUNT, REGION
from tests.local.test_local_mode import REPO

WORKGROUP = "etl"
PROBE_OK = re.compile(
    r"^ok    probe: the function called athena:GetSession for doctor-probe-[0-9a-f]{12}: SessionNotFound"
)
SIMULATOR_SKIP = (
    "skip  role permissions not simulated: IAM policy simulator unavailable (not implemented by this endpoint); "
    "the probe is the only permission check"
)


def in_process(function_name: str, event: dict[str, Any]) -> tuple[str | None, Any]:
    """lambda:Invoke, served by the real handler in this process (the Python runtime's error payload)."""
    try:
        return None, invoke(event)
    except Exception as error:
        return "Unhandled", {"errorType": type(error).__name__, "errorMessage": str(error), "stackTrace": []}


def template() -> dict[str, Any]:
    """The resources doctor reads, with the logical ids and outputs the real stack has (infra/stack.py)."""
    environment = contract.function_environment(
        topic_arn={"Ref": "AlertsTopicCF7C81C9"},  # type: ignore[arg-type]
        table_name={"Ref": "StateTable962DE04C"},  # type: ignore[arg-type]
        workgroups=(WORKGROUP,),
        account_id=ACCOUNT,
    )
    assume = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    return {
        "Resources": {
            "MonitorRole6D26CBE9": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [assume]}},
            },
            "AlertsTopicCF7C81C9": {"Type": "AWS::SNS::Topic"},
            "StateTable962DE04C": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "KeySchema": keys,
                    "AttributeDefinitions": [{"AttributeName": k["AttributeName"], "AttributeType": "S"} for k in keys],
                    "BillingMode": "PAY_PER_REQUEST",
                },
            },
            "MonitorFunction39E4128B": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.12",
                    "Handler": "session_monitor.entry.handler",
                    "Code": {"ZipFile": "def handler(event, context):\n    return event\n"},
                    "Role": {"Fn::GetAtt": ["MonitorRole6D26CBE9", "Arn"]},
                    "Environment": {"Variables": environment},
                },
            },
            "ScheduleRule322D6281": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "ScheduleExpression": "rate(5 minutes)",
                    "State": "ENABLED",
                    "Targets": [{"Arn": {"Fn::GetAtt": ["MonitorFunction39E4128B", "Arn"]}, "Id": "Target0"}],
                },
            },
        },
        "Outputs": {
            doctor.OUTPUT_TOPIC_ARN: {"Value": {"Ref": "AlertsTopicCF7C81C9"}},
            doctor.OUTPUT_TABLE_NAME: {"Value": {"Ref": "StateTable962DE04C"}},
        },
    }


class Deployed:
    """The stack in moto, what it created, and doctor run against it."""

    def __init__(self, emulated_athena: Any, body: dict[str, Any] | None = None):
        self.emulator = emulated_athena.emulator
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        cloudformation.create_stack(
            StackName=doctor.STACK_NAME, TemplateBody=json.dumps(body or template()), Capabilities=["CAPABILITY_IAM"]
        )
        [stack] = cloudformation.describe_stacks(StackName=doctor.STACK_NAME)["Stacks"]
        outputs = {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}
        self.topic_arn, self.table = outputs[doctor.OUTPUT_TOPIC_ARN], outputs[doctor.OUTPUT_TABLE_NAME]
        physical = {
            r["ResourceType"]: r["PhysicalResourceId"]
            for r in cloudformation.list_stack_resources(StackName=doctor.STACK_NAME)["StackResourceSummaries"]
        }
        self.function, self.rule = physical["AWS::Lambda::Function"], physical["AWS::Events::Rule"]

    def heartbeat(self, minutes_ago: float, service: str = contract.SERVICE_NAME) -> None:
        """One SweepsCompleted datapoint, as the function's EMF line becomes one."""
        boto3.client("cloudwatch", region_name=REGION).put_metric_data(
            Namespace=contract.METRICS_NAMESPACE,
            MetricData=[
                {
                    "MetricName": contract.METRIC_SWEEPS_COMPLETED,
                    "Dimensions": [{"Name": contract.DIMENSION_SERVICE, "Value": service}],
                    "Value": 1,
                    "Unit": "Count",
                    "Timestamp": datetime.now(UTC) - timedelta(minutes=minutes_ago),
                }
            ],
        )

    def subscribe_queue(self) -> None:
        """An SQS subscription: moto confirms it at once, as SNS does for SQS in the same account."""
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="doctor-alerts")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        boto3.client("sns", region_name=REGION).subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=arn)

    def healthy(self) -> Deployed:
        self.heartbeat(minutes_ago=3)
        self.subscribe_queue()
        return self

    def doctor(self, *args: str) -> tuple[int, list[str]]:
        parsed = cli._parser().parse_args(["doctor", *args])
        out = io.StringIO()
        status = doctor.run(parsed, out, invoke=in_process)
        return status, out.getvalue().splitlines()


@pytest.fixture
def deployed(emulated_athena: Any) -> Deployed:
    emulated_athena.emulator.add_workgroup(WORKGROUP)
    return Deployed(emulated_athena)


def line(lines: list[str], start: str) -> str:
    [found] = [candidate for candidate in lines if candidate.startswith(start)]
    return found


def fails(lines: list[str]) -> list[str]:
    return [candidate for candidate in lines if candidate.startswith("FAIL")]


# --- the whole report ---------------------------------------------------------------------------


def test_a_healthy_stack_passes_every_check(deployed):
    status, lines = deployed.healthy().doctor()
    print("\n".join(lines))  # the README's sample output (pytest -s)
    assert status == 0
    assert lines[0] == f"ok    stack {doctor.STACK_NAME} is CREATE_COMPLETE in {REGION}"
    assert lines[1] == f"ok    function {deployed.function} exists (python3.12)"
    assert PROBE_OK.match(lines[2]), lines[2]
    assert lines[3] == SIMULATOR_SKIP  # said once: the topic and table permission lines are left out
    assert lines[4:] == [
        f"ok    topic {deployed.topic_arn.rsplit(':', 1)[-1]} exists",
        f"ok    table {deployed.table} exists (ACTIVE)",
        f"ok    schedule rule {deployed.rule} is ENABLED (rate(5 minutes))",
        "ok    heartbeat: last SweepsCompleted 3 min ago (limit 15 min)",
        "ok    subscriptions: 1 confirmed (sqs)",
        f"doctor: 0 FAIL, 0 WARN, 8 ok, 1 skipped ({REGION})",
    ]
    assert deployed.emulator.calls["GetSession"] == 1  # the probe really reached Athena


def test_the_command_line_runs_doctor_and_exits_1_on_a_fail(deployed, capsys):
    deployed.healthy()
    # The real lambda:Invoke: moto runs the function in Docker, which is not here; its answer is a FAIL.
    assert cli.main(["doctor", "--region", REGION]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ok    stack") and out[2].startswith("FAIL  probe: Handled: error running docker")
    assert cli.main(["doctor", "--stack-name", "NoSuchStack"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        (
            f"FAIL  stack NoSuchStack not found in {REGION} — deploy it (make deploy), or name the right one: "
            "--region, --stack-name"
        ),
        f"doctor: 1 FAIL, 0 WARN, 0 ok, 0 skipped ({REGION})",
    ]


def test_resources_named_on_the_command_line_need_no_stack(deployed):
    status, lines = deployed.healthy().doctor(
        "--stack-name",
        "NoSuchStack",
        "--function-name",
        deployed.function,
        "--topic-arn",
        deployed.topic_arn,
        "--table",
        deployed.table,
        "--rule",
        deployed.rule,
    )
    assert status == 0 and not any(" stack " in candidate for candidate in lines)
    assert lines[0] == f"ok    function {deployed.function} exists (python3.12)"


def test_no_region_is_one_fail_line(monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    out = io.StringIO()
    args = cli._parser().parse_args(["doctor"])
    assert doctor.run(args, out, session=boto3.Session(region_name=None)) == 1
    assert out.getvalue() == "FAIL  no AWS Region — set AWS_REGION or pass --region\n"


# --- 1. the function ----------------------------------------------------------------------------


def test_a_missing_function_fails_and_its_probe_is_skipped(deployed):
    boto3.client("lambda", region_name=REGION).delete_function(FunctionName=deployed.function)
    status, lines = deployed.healthy().doctor()
    assert status == 1
    assert fails(lines) == [
        f"FAIL  function {deployed.function} not found in {REGION} — {doctor.REDEPLOY}",
    ]
    assert line(lines, "skip  probe") == "skip  probe: no function to invoke"
    assert line(lines, "skip  role") == "skip  role permissions: no function, so no role to ask about"
    assert deployed.emulator.calls["GetSession"] == 0


# --- 2. the probe: the function's role calls Athena ---------------------------------------------


def test_a_role_denied_athena_getsession_fails_the_probe_naming_the_action(deployed):
    deployed.emulator.inject_fault(operation="GetSession", kind="access_denied", times=None)
    status, lines = deployed.healthy().doctor()
    assert status == 1
    [failed] = fails(lines)
    assert re.fullmatch(
        r"FAIL  probe: AthenaAccessDenied: the monitor's role may not call athena:GetSession on session "
        r"doctor-probe-[0-9a-f]{12} \(AccessDeniedException\) — the function's role lacks that permission: "
        + re.escape(doctor.REDEPLOY),
        failed,
    ), failed


def test_any_other_function_error_fails_the_probe_and_points_at_the_logs(deployed):
    deployed.emulator.inject_fault(operation="GetSession", kind="internal", times=None)
    _, lines = deployed.healthy().doctor()
    assert fails(lines) == [
        (
            "FAIL  probe: AthenaUnavailable: Athena had an internal error; retry later — "
            f"read the function's log group /aws/lambda/{deployed.function}"
        )
    ]


# --- the policy simulator's answers -------------------------------------------------------------


def simulation(*results: dict[str, Any]) -> dict[str, Any]:
    """A SimulatePrincipalPolicy answer, checked against botocore's model of it."""
    document = {"EvaluationResults": list(results), "IsTruncated": False}
    shape = botocore.session.get_session().get_service_model("iam").operation_model("SimulatePrincipalPolicy")
    report = ParamValidator().validate(document, shape.output_shape)
    assert not report.has_errors(), report.generate_report()
    return document


def test_denials_reads_each_action_and_resource_of_the_simulators_answer():
    workgroup = f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{WORKGROUP}"
    other = f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/ml"
    allowed = simulation(
        {
            "EvalActionName": "athena:ListSessions",
            "EvalResourceName": workgroup,
            "EvalDecision": "allowed",
            "ResourceSpecificResults": [{"EvalResourceName": workgroup, "EvalResourceDecision": "allowed"}],
        }
    )
    assert doctor.denials([allowed]) == []
    partly = simulation(
        {
            "EvalActionName": "athena:GetSession",
            "EvalResourceName": "*",
            "EvalDecision": "implicitDeny",
            "ResourceSpecificResults": [
                {"EvalResourceName": workgroup, "EvalResourceDecision": "allowed"},
                {"EvalResourceName": other, "EvalResourceDecision": "implicitDeny"},
            ],
        },
        {"EvalActionName": "sns:Publish", "EvalResourceName": "arn:aws:sns:x:1:t", "EvalDecision": "explicitDeny"},
    )
    assert doctor.denials([allowed, partly]) == [
        f"athena:GetSession on {other} (implicitDeny)",
        "sns:Publish on arn:aws:sns:x:1:t (explicitDeny)",
    ]


def test_with_the_simulator_each_resource_gets_a_line_and_a_denial_fails(deployed):
    """The simulator's answers from botocore's Stubber (moto has no simulator): it checks each
    request and answer against IAM's model, and fails on any call not expected."""
    deployed.healthy()
    checkup = doctor.Doctor(boto3.Session(), REGION, doctor.Target(), in_process)
    iam = boto3.client("iam", region_name=REGION)
    real_client = checkup.client
    checkup.client = lambda name: iam if name == "iam" else real_client(name)  # type: ignore[method-assign]
    role = boto3.client("lambda", region_name=REGION).get_function(FunctionName=deployed.function)["Configuration"]
    role_arn, role_name = role["Role"], role["Role"].rsplit("/", 1)[-1]
    workgroup = f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{WORKGROUP}"
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{deployed.table}"

    topic_policy = boto3.client("sns", region_name=REGION).get_topic_attributes(TopicArn=deployed.topic_arn)[
        "Attributes"
    ]["Policy"]

    def answer(actions, resource, denied=(), **extra):
        results = [
            {
                "EvalActionName": action,
                "EvalResourceName": resource,
                "EvalDecision": "implicitDeny" if action in denied else "allowed",
            }
            for action in actions
        ]
        expected = {"PolicySourceArn": role_arn, "ActionNames": list(actions), "ResourceArns": [resource], **extra}
        stubber.add_response("simulate_principal_policy", {"EvaluationResults": results}, expected)

    with Stubber(iam) as stubber:
        answer(doctor.ATHENA_ACTIONS, workgroup)
        # The topic's own policy goes with the question, the role as caller over TLS.
        answer(["sns:Publish"], deployed.topic_arn, **doctor.resource_policy_parameters(role_arn, topic_policy))
        answer(doctor.TABLE_ACTIONS, table_arn, denied={"dynamodb:PutItem"})
        lines = [check.line() for check in checkup.run()]
        stubber.assert_no_pending_responses()
    assert [candidate for candidate in lines if "role" in candidate] == [
        (
            f"ok    role {role_name} may use athena:ListSessions, athena:GetSession in workgroup(s) {WORKGROUP} "
            "(IAM policy simulator)"
        ),
        f"ok    role {role_name} may use sns:Publish on the alerts topic, its topic policy included (IAM policy simulator)",
        f"FAIL  role {role_name} may not dynamodb:PutItem on {table_arn} (implicitDeny) — {doctor.REDEPLOY}",
    ]


def test_a_topic_policy_that_denies_the_monitor_fails_the_topic_line(deployed):
    """Given a topic policy whose Deny shuts the monitor's role out (its identity policy still
    allows sns:Publish), when doctor asks the simulator with the topic's policy attached, then the
    explicit deny it answers is a FAIL on the topic line, not an ok."""
    deployed.healthy()
    sns = boto3.client("sns", region_name=REGION)
    role_arn = boto3.client("lambda", region_name=REGION).get_function(FunctionName=deployed.function)["Configuration"][
        "Role"
    ]
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyEveryoneButSomeoneElse",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": deployed.topic_arn,
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/SomeoneElse"}},
            }
        ],
    }
    sns.set_topic_attributes(TopicArn=deployed.topic_arn, AttributeName="Policy", AttributeValue=json.dumps(deny))
    checkup = doctor.Doctor(boto3.Session(), REGION, doctor.Target(), in_process)
    iam = boto3.client("iam", region_name=REGION)
    real_client = checkup.client
    checkup.client = lambda name: iam if name == "iam" else real_client(name)  # type: ignore[method-assign]
    allowed = {"EvaluationResults": [{"EvalActionName": "athena:ListSessions", "EvalDecision": "allowed"}]}
    published = sns.get_topic_attributes(TopicArn=deployed.topic_arn)["Attributes"]["Policy"]
    denied = {
        "EvaluationResults": [
            {"EvalActionName": "sns:Publish", "EvalResourceName": deployed.topic_arn, "EvalDecision": "explicitDeny"}
        ]
    }
    with Stubber(iam) as stubber:
        stubber.add_response("simulate_principal_policy", allowed)
        stubber.add_response(
            "simulate_principal_policy",
            denied,
            {
                "PolicySourceArn": role_arn,
                "ActionNames": ["sns:Publish"],
                "ResourceArns": [deployed.topic_arn],
                **doctor.resource_policy_parameters(role_arn, published),
            },
        )
        stubber.add_response("simulate_principal_policy", allowed)
        lines = [check.line() for check in checkup.run()]
    role_name = role_arn.rsplit("/", 1)[-1]
    assert (
        f"FAIL  role {role_name} may not sns:Publish on {deployed.topic_arn} (explicitDeny) — {doctor.REDEPLOY}"
        in lines
    )
    assert json.loads(published) == deny  # the policy doctor sent is the topic's, as SNS holds it


def test_without_the_simulator_the_permission_lines_are_one_skip(deployed):
    _, lines = deployed.healthy().doctor()
    assert [candidate for candidate in lines if "role" in candidate] == [SIMULATOR_SKIP]


# --- 3. the topic and the table -----------------------------------------------------------------


def test_a_missing_topic_fails_and_its_subscriptions_are_skipped(deployed):
    deployed.healthy()
    boto3.client("sns", region_name=REGION).delete_topic(TopicArn=deployed.topic_arn)
    status, lines = deployed.doctor()
    assert status == 1
    assert fails(lines) == [f"FAIL  topic {deployed.topic_arn} not found — {doctor.REDEPLOY}"]
    assert line(lines, "skip  subscriptions") == "skip  subscriptions: no topic"


def test_a_missing_table_fails(deployed):
    boto3.client("dynamodb", region_name=REGION).delete_table(TableName=deployed.table)
    status, lines = deployed.healthy().doctor()
    assert (status, fails(lines)) == (1, [f"FAIL  table {deployed.table} not found — {doctor.REDEPLOY}"])


# --- 4. the schedule ----------------------------------------------------------------------------


def test_a_disabled_schedule_rule_fails_with_the_command_that_enables_it(deployed):
    boto3.client("events", region_name=REGION).disable_rule(Name=deployed.rule)
    status, lines = deployed.healthy().doctor()
    assert (status, fails(lines)) == (
        1,
        [
            (
                f"FAIL  schedule rule {deployed.rule} is DISABLED (rate(5 minutes)) — "
                f"no sweeps run: aws events enable-rule --name {deployed.rule}"
            )
        ],
    )


# --- 5. the heartbeat ---------------------------------------------------------------------------

HEARTBEAT_FIX = (
    "sweeps are not completing: check the schedule rule, the function's errors (its log group, "
    "the SweepsIncomplete metric); a stack deployed minutes ago has not swept yet"
)


def test_no_heartbeat_fails(deployed):
    deployed.subscribe_queue()
    deployed.heartbeat(minutes_ago=2, service="another-service")  # not the monitor's dimension
    status, lines = deployed.doctor()
    assert (status, fails(lines)) == (
        1,
        [f"FAIL  heartbeat: no SweepsCompleted in the last 3 h (limit 15 min) — {HEARTBEAT_FIX}"],
    )


def test_a_heartbeat_older_than_two_schedules_and_the_retry_window_fails(deployed):
    deployed.subscribe_queue()
    deployed.heartbeat(minutes_ago=40)
    status, lines = deployed.doctor()
    assert status == 1
    [failed] = fails(lines)
    assert re.fullmatch(
        r"FAIL  heartbeat: last SweepsCompleted (40|41) min ago \(limit 15 min\) — " + re.escape(HEARTBEAT_FIX),
        failed,
    ), failed


def test_the_newest_heartbeat_counts(deployed):
    deployed.subscribe_queue()
    deployed.heartbeat(minutes_ago=40)
    deployed.heartbeat(minutes_ago=1)
    status, lines = deployed.doctor()
    assert status == 0
    assert line(lines, "ok    heartbeat") == "ok    heartbeat: last SweepsCompleted 1 min ago (limit 15 min)"


# --- 6. the subscribers -------------------------------------------------------------------------


def test_no_confirmed_subscription_is_a_warning_not_a_failure(deployed):
    deployed.heartbeat(minutes_ago=3)
    status, lines = deployed.doctor()
    assert status == 0
    assert line(lines, "WARN") == (
        "WARN  subscriptions: none confirmed: nobody receives the alerts — confirm the e-mail AWS sent, or "
        f"subscribe: aws sns subscribe --topic-arn {deployed.topic_arn} --protocol email "
        "--notification-endpoint you@example.com"
    )
    assert lines[-1] == f"doctor: 0 FAIL, 1 WARN, 7 ok, 1 skipped ({REGION})"


def fifo_template() -> dict[str, Any]:
    """-c alertsTopicFifo=true: a FIFO alerts topic, and the alarms' standard topic as AlarmTopicArn."""
    body = template()
    body["Resources"]["AlertsTopicCF7C81C9"]["Properties"] = {"TopicName": "alerts.fifo", "FifoTopic": True}
    body["Resources"]["AlertsAlarmTopic7B1C4D2E"] = {"Type": "AWS::SNS::Topic"}
    body["Outputs"][doctor.OUTPUT_ALARM_TOPIC_ARN] = {"Value": {"Ref": "AlertsAlarmTopic7B1C4D2E"}}
    return body


def test_with_a_fifo_alerts_topic_doctor_reads_the_alarm_topic_and_suggests_what_can_subscribe(emulated_athena):
    emulated_athena.emulator.add_workgroup(WORKGROUP)
    deployed = Deployed(emulated_athena, fifo_template())
    deployed.heartbeat(minutes_ago=3)
    status, lines = deployed.doctor()
    assert status == 0 and deployed.topic_arn.endswith(".fifo")
    [stack] = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=doctor.STACK_NAME)["Stacks"]
    alarm_topic = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}[doctor.OUTPUT_ALARM_TOPIC_ARN]
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:YOUR-QUEUE.fifo"
    assert line(lines, "WARN  subscriptions") == (
        "WARN  subscriptions: none confirmed: nobody receives the alerts — a FIFO topic delivers to SQS queues "
        "only: subscribe an SQS FIFO queue whose policy lets the topic send: aws sns subscribe --topic-arn "
        f"{deployed.topic_arn} --protocol sqs --notification-endpoint {queue}"
    )
    assert line(lines, "WARN  alarm topic subscriptions") == (
        "WARN  alarm topic subscriptions: none confirmed: nobody receives the monitor's own alarms — confirm the "
        f"e-mail AWS sent, or subscribe: aws sns subscribe --topic-arn {alarm_topic} --protocol email "
        "--notification-endpoint you@example.com"
    )
    # alertEmail, with a FIFO alerts topic, subscribes to the alarm topic (moto confirms at once).
    boto3.client("sns", region_name=REGION).subscribe(
        TopicArn=alarm_topic, Protocol="email", Endpoint="ops@example.com"
    )
    _status, lines = deployed.doctor()
    assert line(lines, "ok    alarm topic subscriptions") == "ok    alarm topic subscriptions: 1 confirmed (email)"


def test_a_standard_alerts_topic_has_no_alarm_topic_line(deployed):
    _status, lines = deployed.healthy().doctor()
    assert not [candidate for candidate in lines if "alarm topic" in candidate]


def test_pending_confirmations_are_not_counted():
    # moto confirms every subscription at once; these are ListSubscriptionsByTopic entries as SNS
    # lists them while an e-mail waits for its confirmation link.
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
    pending = {"SubscriptionArn": "PendingConfirmation", "Protocol": "email", "TopicArn": topic}
    confirmed = {"SubscriptionArn": f"{topic}:0c6f0a5e", "Protocol": "email", "TopicArn": topic}
    assert (
        doctor.subscriptions_check([pending], topic)
        .line()
        .startswith("WARN  subscriptions: none confirmed, 1 pending confirmation: nobody receives the alerts")
    )
    assert doctor.subscriptions_check([pending, confirmed], topic).line() == (
        "ok    subscriptions: 1 confirmed (email), 1 pending confirmation"
    )


# --- what doctor assumes about the stack, pinned against infra/ ---------------------------------


def test_doctors_names_are_the_stacks(tmp_path):
    from infra import constants, state_table
    from tests.infra.support import synthesize

    assert doctor.STACK_NAME == constants.STACK_NAME
    assert doctor.TABLE_ACTIONS == state_table.TABLE_ACTIONS
    data = synthesize(tmp_path, {}).data
    assert {doctor.OUTPUT_TOPIC_ARN, doctor.OUTPUT_TABLE_NAME} <= set(data["Outputs"])
    fifo = synthesize(tmp_path / "fifo", {"alertsTopicFifo": True, "scheduleMinutes": 3}).data
    assert doctor.OUTPUT_ALARM_TOPIC_ARN in fifo["Outputs"] and doctor.OUTPUT_ALARM_TOPIC_ARN not in data["Outputs"]

    def found(resource_type: str, prefix: str) -> list[dict[str, Any]]:
        return [
            resource
            for logical_id, resource in data["Resources"].items()
            if resource["Type"] == resource_type and logical_id.startswith(prefix)
        ]

    [function] = found("AWS::Lambda::Function", doctor.FUNCTION_LOGICAL_ID)
    assert function["Properties"]["Handler"] == constants.HANDLER
    [rule] = found("AWS::Events::Rule", doctor.RULE_LOGICAL_ID)
    assert rule["Properties"]["ScheduleExpression"].startswith("rate(")


def test_make_smoke_runs_doctor_with_doctor_args():
    result = subprocess.run(
        ["make", "-n", "smoke", "DOCTOR_ARGS=--region eu-west-1 --stack-name Other"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert ".venv/bin/python -m local_mode.cli doctor --region eu-west-1 --stack-name Other" in result.stdout


def test_the_probe_goes_through_the_api_route_so_it_counts_no_lambda_error(deployed):
    """A raised SessionNotFound would count in Lambda's Errors metric and set off FunctionErrors on
    every make smoke; through the API route the function answers 404 instead."""
    from local_mode.doctor import probe_event

    function_error, answer = in_process("athena-session-monitor", probe_event("doctor-probe-0000"))
    assert function_error is None
    assert answer["statusCode"] == 404 and json.loads(answer["body"])["error"] == "SessionNotFound"


def test_with_state_change_events_on_the_role_must_be_able_to_put_on_that_bus(deployed):
    """stateChangeEvents: the function's STATE_EVENTS_BUS names the bus; the simulator is asked
    about events:PutEvents on its ARN (a name in the function's account and Region, an ARN as is)."""
    deployed.healthy()
    checkup = doctor.Doctor(boto3.Session(), REGION, doctor.Target(), in_process)
    iam = boto3.client("iam", region_name=REGION)
    checkup.client = lambda name: iam  # type: ignore[method-assign]
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/monitor"
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:monitor"
    other_bus = "arn:aws:events:us-east-1:210987654321:event-bus/platform"
    with Stubber(iam) as stubber:
        for bus, decision in (
            (f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default", "allowed"),
            (other_bus, "implicitDeny"),
        ):
            stubber.add_response(
                "simulate_principal_policy",
                {
                    "EvaluationResults": [
                        {"EvalActionName": "events:PutEvents", "EvalResourceName": bus, "EvalDecision": decision}
                    ]
                },
                {"PolicySourceArn": role_arn, "ActionNames": ["events:PutEvents"], "ResourceArns": [bus]},
            )
        checkup.function = doctor.Function(
            "monitor", function_arn, role_arn, {contract.ENV_STATE_EVENTS_BUS: "default"}
        )
        allowed = checkup.check_events_permissions()
        checkup.function = doctor.Function(
            "monitor", function_arn, role_arn, {contract.ENV_STATE_EVENTS_BUS: other_bus}
        )
        denied = checkup.check_events_permissions()
        stubber.assert_no_pending_responses()
    assert allowed is not None and allowed.line() == (
        "ok    role monitor may use events:PutEvents on the event bus default (IAM policy simulator)"
    )
    assert denied is not None and denied.line().startswith(
        f"FAIL  role monitor may not events:PutEvents on {other_bus} (implicitDeny)"
    )
    checkup.function = doctor.Function("monitor", function_arn, role_arn, {})
    assert checkup.check_events_permissions() is None  # stateChangeEvents "off": no line


def test_with_state_change_events_on_the_bus_must_exist(deployed):
    """The simulator cannot say that the bus is gone: DescribeEventBus does (moto's default bus
    exists; a named bus nobody created does not)."""
    deployed.healthy()
    checkup = doctor.Doctor(boto3.Session(), REGION, doctor.Target(), in_process)
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/monitor"
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:monitor"
    checkup.function = doctor.Function("monitor", function_arn, role_arn, {contract.ENV_STATE_EVENTS_BUS: "default"})
    found = checkup.check_event_bus()
    checkup.function = doctor.Function(
        "monitor", function_arn, role_arn, {contract.ENV_STATE_EVENTS_BUS: "platform-events"}
    )
    missing = checkup.check_event_bus()
    assert found is not None and found.line() == "ok    event bus default exists"
    assert missing is not None and missing.line().startswith(
        "FAIL  event bus platform-events not found: every state-change event fails"
    )
    boto3.client("events", region_name=REGION).create_event_bus(Name="platform-events")
    created = checkup.check_event_bus()
    assert created is not None and created.line() == "ok    event bus platform-events exists"
    checkup.function = doctor.Function("monitor", function_arn, role_arn, {})
    assert checkup.check_event_bus() is None  # stateChangeEvents "off": no line
