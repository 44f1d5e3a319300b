"""``session-monitor doctor`` (``make smoke``): can the deployed monitor do its job? One line per check.

With your credentials and Region it reads the stack (``--stack-name``, default AthenaSessionMonitor):
its outputs (the alerts topic, the state table) and its resources (the function, the schedule rule),
then checks, in this order:

    stack        the stack exists and is not failed or rolled back
    function     the function exists (lambda:GetFunction)
    probe        the function, invoked with {"SessionId": "doctor-probe-<random>"}, calls
                 athena:GetSession with its own role and answers SessionNotFound; AthenaAccessDenied
                 means its role lacks a permission (the line names the action)
    athena       IAM's policy simulator: the role may athena:ListSessions and athena:GetSession in
                 every watched workgroup (WATCHED_WORKGROUPS; with discovery also ListWorkGroups)
    topic        the alerts topic exists (sns:GetTopicAttributes); then the role may sns:Publish to it,
                 the topic's own policy included (the simulator is given it as the resource policy,
                 with the role as caller over TLS), so a Deny in the topic policy that shuts the
                 monitor out FAILs here instead of silencing every alert
    table        the state table exists (dynamodb:DescribeTable); then the role may use it
    events       with state-change events on (STATE_EVENTS_BUS), the role may events:PutEvents on that bus
    schedule     the sweep schedule rule is ENABLED (events:DescribeRule)
    heartbeat    the last SweepsCompleted datapoint is younger than 2 x schedule + 5 minutes
    subscribers  at least one confirmed subscription to the alerts topic (WARN when none); with a
                 FIFO alerts topic (alertsTopicFifo) also to the alarm topic (output AlarmTopicArn),
                 where alertEmail subscribes then

Each line starts ``ok``, ``WARN``, ``FAIL`` or ``skip``; a FAIL line ends with how to fix it. The
exit status is 1 when any check FAILs. When the IAM policy simulator cannot be used (your
credentials may not call iam:SimulatePrincipalPolicy, or moto, which lacks it) the permission lines
are one ``skip`` and the probe is the only permission check.

The probe goes through one seam, an ``Invoke`` callable (function name, event) -> (FunctionError,
payload): ``lambda_invoker`` in production, the handler in-process in the tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from local_mode.api_server import ensure_function_importable

ensure_function_importable()  # session_contract lives in lambda_src/, next to the function
import session_contract as contract  # noqa: E402

STACK_NAME = "AthenaSessionMonitor"  # infra/constants.py STACK_NAME (a test pins it)
# The stack's outputs (infra/stack.py) and its resources' logical id prefixes, from the construct
# ids "Monitor"/"Function" and "Schedule"/"Rule" (a test pins them against the synthesized template).
OUTPUT_TOPIC_ARN = "AlertsTopicArn"
OUTPUT_ALARM_TOPIC_ARN = "AlarmTopicArn"  # only when the alerts topic is FIFO
OUTPUT_TABLE_NAME = "StateTableName"
FUNCTION_LOGICAL_ID = "MonitorFunction"
RULE_LOGICAL_ID = "ScheduleRule"
# What the function does to the table (the contract's list, which the stack grants).
TABLE_ACTIONS = contract.STATE_TABLE_ACTIONS
ATHENA_ACTIONS = ("athena:ListSessions", "athena:GetSession")
PROBE_PREFIX = "doctor-probe-"
HEARTBEAT_WINDOW = timedelta(hours=3)  # how far back to look for the last heartbeat, at least
MAX_DATAPOINTS = 1440  # GetMetricStatistics' limit per call
NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "NotFound", "NotFoundException"})
ACCESS_CODES = frozenset({"AccessDenied", "AccessDeniedException", "AuthorizationError", "UnauthorizedOperation"})
ACCESS_DENIED_TYPES = frozenset({"AthenaAccessDenied", "AccessDenied"})
REDEPLOY = "redeploy the stack (make deploy) so the role gets what infra/ declares"

OK, WARN, FAIL, SKIP = "ok", "WARN", "FAIL", "skip"

# (function name, event) -> (FunctionError or None, the decoded payload), as lambda:Invoke answers.
Invoke = Callable[[str, dict[str, Any]], tuple[str | None, Any]]


@dataclass(frozen=True)
class Check:
    """One line of the report. ``fatal``: nothing after it can be checked (no stack, no credentials)."""

    status: str
    text: str
    fix: str = ""
    fatal: bool = False

    def line(self) -> str:
        return f"{self.status:<5} {self.text}" + (f" — {self.fix}" if self.fix else "")


@dataclass
class Target:
    """What the checks read: named on the command line, or found in the stack."""

    stack_name: str = STACK_NAME
    function_name: str | None = None
    topic_arn: str | None = None
    table_name: str | None = None
    rule_name: str | None = None
    alarm_topic_arn: str | None = None  # a FIFO alerts topic's separate alarm topic, from the stack

    def complete(self) -> bool:
        return all((self.function_name, self.topic_arn, self.table_name, self.rule_name))


@dataclass
class Function:
    """What lambda:GetFunction told about the function."""

    name: str
    arn: str
    role_arn: str
    env: dict[str, str] = field(default_factory=dict)

    def arn_prefix(self, service: str) -> str:
        """``arn:<partition>:<service>:<region>:<account>:`` in the function's partition, Region, account."""
        partition, region, account = self.arn.split(":")[1], self.arn.split(":")[3], self.arn.split(":")[4]
        return f"arn:{partition}:{service}:{region}:{account}:"

    @property
    def watched_workgroups(self) -> list[str]:
        return [name.strip() for name in self.env.get(contract.ENV_WATCHED_WORKGROUPS, "").split(",") if name.strip()]


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def error_code(error: BaseException) -> str:
    return str(error.response.get("Error", {}).get("Code", "")) if isinstance(error, ClientError) else ""


def aws_failure(what: str, action: str, error: BaseException) -> Check:
    """A call of the doctor's own that failed: your credentials, or AWS."""
    if isinstance(error, NoCredentialsError):
        return Check(FAIL, f"{what}: no AWS credentials", "configure them (aws configure, AWS_PROFILE)", fatal=True)
    code = error_code(error)
    if code in ACCESS_CODES:
        return Check(FAIL, f"{what}: your credentials may not call {action} ({code})", f"allow {action} to them")
    return Check(FAIL, f"{what}: {action} failed: {one_line(error)}", "retry; if it persists, check the service health")


# --- the probe ----------------------------------------------------------------------------------


def lambda_invoker(client: Any) -> Invoke:
    """The production seam: a synchronous lambda:Invoke."""

    def invoke(function_name: str, event: dict[str, Any]) -> tuple[str | None, Any]:
        response = client.invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
        raw = response["Payload"].read().decode("utf-8", "replace")
        try:
            return response.get("FunctionError"), json.loads(raw) if raw else None
        except ValueError:  # Lambda answers JSON; an emulation of it may not
            return response.get("FunctionError"), raw

    return invoke


def probe_event(session_id: str) -> dict[str, Any]:
    """``GET /sessions/{id}`` as API Gateway's REST proxy sends it. Through the API route the
    function answers 404 instead of raising, so the probe counts no Lambda error and cannot set
    off the FunctionErrors alarm (a direct {"SessionId"} invocation would)."""
    path = "/sessions/" + session_id
    return {
        "resource": "/sessions/{session_id}",
        "path": path,
        "httpMethod": "GET",
        "headers": {"User-Agent": "session-monitor doctor"},
        "multiValueHeaders": None,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"session_id": session_id},
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {
            "resourcePath": "/sessions/{session_id}",
            "httpMethod": "GET",
            "path": path,
            "requestId": "doctor-" + session_id,
            "stage": "doctor",
            "identity": {},
        },
    }


def _json_object(text: object) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _answer(function_error: str | None, payload: Any) -> tuple[str, str]:
    """(error name, message) from an API answer ({"statusCode", "body"}) or a raised error."""
    details = payload if isinstance(payload, dict) else {"errorMessage": str(payload or "")}
    if "statusCode" in details and not function_error:
        body = _json_object(details.get("body"))
        return str(body.get("error") or details["statusCode"]), one_line(str(body.get("message") or ""))
    return str(details.get("errorType") or function_error or ""), one_line(str(details.get("errorMessage") or ""))


def invoke_probe(invoke: Invoke, function_name: str) -> Check:
    """Ask the function, through its API route, for a session id nobody has: it must call Athena
    with its own role and answer SessionNotFound. Read-only: an unknown session never alerts."""
    session_id = PROBE_PREFIX + secrets.token_hex(6)
    try:
        function_error, payload = invoke(function_name, probe_event(session_id))
    except (ClientError, BotoCoreError) as error:
        return aws_failure(f"probe: could not invoke {function_name}", "lambda:InvokeFunction", error)
    error_type, message = _answer(function_error, payload)
    if error_type == "SessionNotFound":
        return Check(OK, f"probe: the function called athena:GetSession for {session_id}: SessionNotFound, as expected")
    if error_type in ACCESS_DENIED_TYPES:
        return Check(FAIL, f"probe: {error_type}: {message}", f"the function's role lacks that permission: {REDEPLOY}")
    if error_type:
        return Check(
            FAIL, f"probe: {error_type}: {message}", f"read the function's log group /aws/lambda/{function_name}"
        )
    return Check(
        FAIL,
        f"probe: the function answered {session_id} without SessionNotFound: {one_line(json.dumps(payload))[:200]}",
        "check that the deployed code is this repository's (make deploy)",
    )


# --- the policy simulator -----------------------------------------------------------------------


class SimulatorUnavailable(Exception):
    """iam:SimulatePrincipalPolicy cannot be used here (not allowed, or not implemented)."""


def evaluations(pages: Iterable[dict[str, Any]]) -> Iterator[tuple[str, str, str]]:
    """(action, resource, decision) for each action and resource of SimulatePrincipalPolicy's pages."""
    for page in pages:
        for result in page.get("EvaluationResults", []):
            per_resource = result.get("ResourceSpecificResults") or [
                {
                    "EvalResourceName": result.get("EvalResourceName", "*"),
                    "EvalResourceDecision": result["EvalDecision"],
                }
            ]
            for resource in per_resource:
                yield result["EvalActionName"], resource["EvalResourceName"], resource["EvalResourceDecision"]


def denials(pages: Iterable[dict[str, Any]]) -> list[str]:
    """``action on resource (decision)`` for every pair the simulator did not allow."""
    return [
        f"{action} on {resource} ({decision})"
        for action, resource, decision in evaluations(pages)
        if decision != "allowed"
    ]


def resource_policy_parameters(role_arn: str, resource_policy: str | None) -> dict[str, Any]:
    """SimulatePrincipalPolicy's parameters for a resource policy, the role calling over TLS.

    The role is the caller (CallerArn defaults to PolicySourceArn). aws:PrincipalArn is given
    explicitly, since the topic policy's Allow and Deny both key on it, and aws:SecureTransport true,
    as the function's SDK calls are; no aws:SourceAccount, which only a service acting for a
    resource carries."""
    if resource_policy is None:
        return {}
    return {
        "ResourcePolicy": resource_policy,
        "ContextEntries": [
            {"ContextKeyName": "aws:PrincipalArn", "ContextKeyValues": [role_arn], "ContextKeyType": "string"},
            {"ContextKeyName": "aws:SecureTransport", "ContextKeyValues": ["true"], "ContextKeyType": "boolean"},
        ],
    }


def simulate(
    iam: Any, role_arn: str, actions: Iterable[str], resources: Iterable[str], resource_policy: str | None = None
) -> list[str]:
    """The denied pairs of ``actions`` x ``resources`` for ``role_arn`` (with ``resource_policy``
    attached to every resource, if given); SimulatorUnavailable when the simulator cannot be asked."""
    try:
        paginator = iam.get_paginator("simulate_principal_policy")
        pages = paginator.paginate(
            PolicySourceArn=role_arn,
            ActionNames=list(actions),
            ResourceArns=list(resources),
            **resource_policy_parameters(role_arn, resource_policy),
        )
        return denials(list(pages))
    except NotImplementedError as error:  # moto
        raise SimulatorUnavailable("not implemented by this endpoint") from error
    except ClientError as error:
        if error_code(error) in ACCESS_CODES:
            reason = f"your credentials may not call iam:SimulatePrincipalPolicy ({error_code(error)})"
            raise SimulatorUnavailable(reason) from error
        raise SimulatorUnavailable(one_line(error)) from error
    except BotoCoreError as error:
        raise SimulatorUnavailable(one_line(error)) from error


# --- the checks ---------------------------------------------------------------------------------


class Doctor:
    """Runs the checks in order against one Region; each check is one method returning one line."""

    def __init__(
        self,
        session: Any,
        region: str,
        target: Target,
        invoke: Invoke | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.session, self.region, self.target, self.now = session, region, target, now
        self.invoke = invoke or lambda_invoker(self.client("lambda"))
        self.function: Function | None = None
        self.topic_found = self.table_found = False
        self.topic_policy: str | None = None  # the alerts topic's policy document, once read
        self.simulator: bool | None = None  # None: not tried yet

    def client(self, name: str) -> Any:
        return self.session.client(name, region_name=self.region)

    def run(self) -> Iterator[Check]:
        steps = (
            self.check_stack,
            self.check_function,
            self.check_probe,
            self.check_athena_permissions,
            self.check_topic,
            self.check_topic_permissions,
            self.check_table,
            self.check_table_permissions,
            self.check_events_permissions,
            self.check_event_bus,
            self.check_rule,
            self.check_heartbeat,
            self.check_subscriptions,
            self.check_alarm_subscriptions,
        )
        for step in steps:
            check = step()
            if check is not None:
                yield check
                if check.fatal:
                    return

    # -- the stack --

    def check_stack(self) -> Check | None:
        if self.target.complete():
            return None  # every resource named on the command line
        name = self.target.stack_name
        cloudformation = self.client("cloudformation")
        try:
            [stack] = cloudformation.describe_stacks(StackName=name)["Stacks"]
            pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=name)
            resources = [resource for page in pages for resource in page["StackResourceSummaries"]]
        except ClientError as error:
            if error_code(error) == "ValidationError" and "does not exist" in str(error):
                fix = "deploy it (make deploy), or name the right one: --region, --stack-name"
                return Check(FAIL, f"stack {name} not found in {self.region}", fix, fatal=True)
            return self._fatal(aws_failure(f"stack {name}", "cloudformation:DescribeStacks", error))
        except BotoCoreError as error:
            return self._fatal(aws_failure(f"stack {name}", "cloudformation:DescribeStacks", error))
        self._adopt(stack, resources)
        return self._stack_status(name, stack["StackStatus"])

    @staticmethod
    def _fatal(check: Check) -> Check:
        return Check(check.status, check.text, check.fix, fatal=True)

    def _adopt(self, stack: dict[str, Any], resources: list[dict[str, Any]]) -> None:
        """Fill what the command line did not name from the stack's outputs and resources."""
        outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}

        def physical(resource_type: str, prefix: str) -> str | None:
            for resource in resources:
                if resource["ResourceType"] == resource_type and resource["LogicalResourceId"].startswith(prefix):
                    return str(resource["PhysicalResourceId"])
            return None

        target = self.target
        target.topic_arn = target.topic_arn or outputs.get(OUTPUT_TOPIC_ARN)
        target.alarm_topic_arn = target.alarm_topic_arn or outputs.get(OUTPUT_ALARM_TOPIC_ARN)
        target.table_name = target.table_name or outputs.get(OUTPUT_TABLE_NAME)
        target.function_name = target.function_name or physical("AWS::Lambda::Function", FUNCTION_LOGICAL_ID)
        target.rule_name = target.rule_name or physical("AWS::Events::Rule", RULE_LOGICAL_ID)

    def _stack_status(self, name: str, status: str) -> Check:
        text = f"stack {name} is {status} in {self.region}"
        if status.endswith("_COMPLETE") and "ROLLBACK" not in status and "DELETE" not in status:
            return Check(OK, text)
        events = f"read its events: aws cloudformation describe-stack-events --stack-name {name}"
        if status.endswith("_IN_PROGRESS") or status == "UPDATE_ROLLBACK_COMPLETE":
            return Check(WARN, text, events)
        return Check(FAIL, text, f"{events}, fix the cause, then make deploy")

    # -- the function --

    def check_function(self) -> Check:
        name = self.target.function_name
        if not name:
            return Check(FAIL, f"function: none in stack {self.target.stack_name}", f"{REDEPLOY}, or --function-name")
        try:
            configuration = self.client("lambda").get_function(FunctionName=name)["Configuration"]
        except (ClientError, BotoCoreError) as error:
            if error_code(error) in NOT_FOUND_CODES:
                return Check(FAIL, f"function {name} not found in {self.region}", REDEPLOY)
            return aws_failure(f"function {name}", "lambda:GetFunction", error)
        env = configuration.get("Environment", {}).get("Variables", {})
        self.function = Function(name, configuration["FunctionArn"], configuration["Role"], env)
        state = configuration.get("State", "Active")
        if state != "Active":
            return Check(FAIL, f"function {name} is {state}", configuration.get("StateReason") or REDEPLOY)
        return Check(OK, f"function {name} exists ({configuration.get('Runtime', 'runtime unknown')})")

    def check_probe(self) -> Check:
        if self.function is None:
            return Check(SKIP, "probe: no function to invoke")
        return invoke_probe(self.invoke, self.function.name)

    # -- the role, through the policy simulator --

    def _simulate(
        self, what: str, groups: list[tuple[Iterable[str], list[str]]], resource_policy: str | None = None
    ) -> Check | None:
        """One line for ``what``: every (actions, resources) group allowed to the function's role."""
        if self.simulator is False or self.function is None:
            return None  # said once already, or no role to ask about (check_athena_permissions said so)
        try:
            denied = [pair for actions, resources in groups for pair in self._ask(actions, resources, resource_policy)]
        except SimulatorUnavailable as error:
            self.simulator = False
            return Check(
                SKIP,
                f"role permissions not simulated: IAM policy simulator unavailable ({error}); "
                "the probe is the only permission check",
            )
        self.simulator = True
        role = self.function.role_arn.rsplit("/", 1)[-1]
        if denied:
            return Check(FAIL, f"role {role} may not " + "; ".join(denied), REDEPLOY)
        return Check(OK, f"role {role} may use {what} (IAM policy simulator)")

    def _ask(self, actions: Iterable[str], resources: list[str], resource_policy: str | None = None) -> list[str]:
        assert self.function is not None
        return simulate(self.client("iam"), self.function.role_arn, actions, resources, resource_policy)

    def check_athena_permissions(self) -> Check | None:
        if self.function is None:
            return Check(SKIP, "role permissions: no function, so no role to ask about")
        workgroups = self.function.watched_workgroups
        prefix = self.function.arn_prefix("athena")
        arns = [f"{prefix}workgroup/{name}" for name in workgroups or ["*"]]
        groups: list[tuple[Iterable[str], list[str]]] = [(ATHENA_ACTIONS, arns)]
        if not workgroups:  # discovery: every Spark workgroup, found with ListWorkGroups
            groups.append((["athena:ListWorkGroups"], ["*"]))
        scope = f"workgroup(s) {', '.join(workgroups)}" if workgroups else "every workgroup (discovery)"
        return self._simulate(f"{', '.join(ATHENA_ACTIONS)} in {scope}", groups)

    def check_topic_permissions(self) -> Check | None:
        if not self.topic_found or not self.target.topic_arn:
            return None
        what = "sns:Publish on the alerts topic" + (", its topic policy included" if self.topic_policy else "")
        return self._simulate(what, [(["sns:Publish"], [self.target.topic_arn])], self.topic_policy)

    def check_table_permissions(self) -> Check | None:
        if not self.table_found or self.function is None:
            return None
        table_arn = f"{self.function.arn_prefix('dynamodb')}table/{self.target.table_name}"
        return self._simulate(f"{', '.join(TABLE_ACTIONS)} on the state table", [(TABLE_ACTIONS, [table_arn])])

    def check_events_permissions(self) -> Check | None:
        """With stateChangeEvents on, the role may put events on its bus (the function's STATE_EVENTS_BUS)."""
        bus = self.function.env.get(contract.ENV_STATE_EVENTS_BUS, "") if self.function is not None else ""
        if not bus or self.function is None:
            return None  # stateChangeEvents "off": nothing is put
        arn = bus if bus.startswith("arn:") else f"{self.function.arn_prefix('events')}event-bus/{bus}"
        name = bus.rsplit("/", 1)[-1]
        return self._simulate(f"events:PutEvents on the event bus {name}", [(["events:PutEvents"], [arn])])

    def check_event_bus(self) -> Check | None:
        """With stateChangeEvents on, the bus exists: PutEvents to a missing bus fails every event."""
        bus = self.function.env.get(contract.ENV_STATE_EVENTS_BUS, "") if self.function is not None else ""
        if not bus:
            return None
        name = bus.rsplit("/", 1)[-1]
        try:
            self.client("events").describe_event_bus(Name=bus)
        except (ClientError, BotoCoreError) as error:
            if error_code(error) in NOT_FOUND_CODES:
                return Check(
                    FAIL,
                    f"event bus {bus} not found: every state-change event fails",
                    "create the bus, or set stateChangeEvents to an existing bus (or off) and redeploy",
                )
            return aws_failure(f"event bus {bus}", "events:DescribeEventBus", error)
        return Check(OK, f"event bus {name} exists")

    # -- the topic, the table, the rule --

    def check_topic(self) -> Check:
        arn = self.target.topic_arn
        if not arn:
            return Check(FAIL, f"topic: no {OUTPUT_TOPIC_ARN} output in stack {self.target.stack_name}", REDEPLOY)
        try:
            attributes = self.client("sns").get_topic_attributes(TopicArn=arn).get("Attributes", {})
        except (ClientError, BotoCoreError) as error:
            if error_code(error) in NOT_FOUND_CODES:
                return Check(FAIL, f"topic {arn} not found", REDEPLOY)
            return aws_failure(f"topic {arn}", "sns:GetTopicAttributes", error)
        self.topic_found = True
        self.topic_policy = attributes.get("Policy") or None
        return Check(OK, f"topic {arn.rsplit(':', 1)[-1]} exists")

    def check_table(self) -> Check:
        name = self.target.table_name
        if not name:
            return Check(FAIL, f"table: no {OUTPUT_TABLE_NAME} output in stack {self.target.stack_name}", REDEPLOY)
        try:
            table = self.client("dynamodb").describe_table(TableName=name)["Table"]
        except (ClientError, BotoCoreError) as error:
            if error_code(error) in NOT_FOUND_CODES:
                return Check(FAIL, f"table {name} not found", REDEPLOY)
            return aws_failure(f"table {name}", "dynamodb:DescribeTable", error)
        self.table_found = True
        status = table.get("TableStatus", "ACTIVE")
        if status not in ("ACTIVE", "UPDATING"):
            return Check(FAIL, f"table {name} is {status}", REDEPLOY)
        return Check(OK, f"table {name} exists ({status})")

    def check_rule(self) -> Check:
        name = self.target.rule_name
        if not name:
            return Check(FAIL, f"schedule rule: none in stack {self.target.stack_name}", f"{REDEPLOY}, or --rule")
        try:
            rule = self.client("events").describe_rule(Name=name)
        except (ClientError, BotoCoreError) as error:
            if error_code(error) in NOT_FOUND_CODES:
                return Check(FAIL, f"schedule rule {name} not found", REDEPLOY)
            return aws_failure(f"schedule rule {name}", "events:DescribeRule", error)
        text = f"schedule rule {name} is {rule.get('State')} ({rule.get('ScheduleExpression', 'no schedule')})"
        if rule.get("State") != "ENABLED":
            return Check(FAIL, text, f"no sweeps run: aws events enable-rule --name {name}")
        return Check(OK, text)

    # -- the heartbeat and the subscribers --

    def schedule_minutes(self) -> int:
        env = self.function.env if self.function else {}
        try:
            return int(env.get(contract.ENV_SCHEDULE_MINUTES, contract.SCHEDULE_MINUTES.default))
        except ValueError:
            return int(contract.SCHEDULE_MINUTES.default)

    def check_heartbeat(self) -> Check:
        env = self.function.env if self.function else {}
        limit = timedelta(minutes=contract.min_lookback_minutes(self.schedule_minutes()))
        window = max(HEARTBEAT_WINDOW, 2 * limit)
        period = 60 * max(1, math.ceil(window.total_seconds() / 60 / MAX_DATAPOINTS))
        now = self.now()
        try:
            datapoints = self.client("cloudwatch").get_metric_statistics(
                Namespace=env.get(contract.ENV_POWERTOOLS_METRICS_NAMESPACE, contract.METRICS_NAMESPACE),
                MetricName=contract.METRIC_SWEEPS_COMPLETED,
                Dimensions=[
                    {
                        "Name": contract.DIMENSION_SERVICE,
                        "Value": env.get(contract.ENV_POWERTOOLS_SERVICE_NAME, contract.SERVICE_NAME),
                    }
                ],
                StartTime=now - window,
                EndTime=now,
                Period=period,
                Statistics=["Sum"],
            )["Datapoints"]
        except (ClientError, BotoCoreError) as error:
            return aws_failure("heartbeat", "cloudwatch:GetMetricStatistics", error)
        return heartbeat_check(datapoints, now, limit, window)

    def check_subscriptions(self) -> Check:
        if not self.topic_found:
            return Check(SKIP, "subscriptions: no topic")
        return self._subscriptions(str(self.target.topic_arn), "subscriptions", "the alerts")

    def check_alarm_subscriptions(self) -> Check | None:
        """A FIFO alerts topic's alarms go to a standard topic of their own: someone must read it."""
        if not self.target.alarm_topic_arn or self.target.alarm_topic_arn == self.target.topic_arn:
            return None
        return self._subscriptions(self.target.alarm_topic_arn, "alarm topic subscriptions", "the monitor's own alarms")

    def _subscriptions(self, arn: str, label: str, readers: str) -> Check:
        try:
            pages = self.client("sns").get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
            subscriptions = [subscription for page in pages for subscription in page["Subscriptions"]]
        except (ClientError, BotoCoreError) as error:
            return aws_failure(label, "sns:ListSubscriptionsByTopic", error)
        return subscriptions_check(subscriptions, arn, label, readers)


def _minutes(age: timedelta) -> str:
    minutes = int(age.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h" + (f" {minutes % 60} min" if minutes % 60 else "")


def heartbeat_check(datapoints: list[dict[str, Any]], now: datetime, limit: timedelta, window: timedelta) -> Check:
    """The age of the newest SweepsCompleted datapoint (its period's start: a slight overestimate)."""
    beats = [point["Timestamp"] for point in datapoints if point.get("Sum", 0) > 0]
    fix = (
        "sweeps are not completing: check the schedule rule, the function's errors (its log group, "
        f"the {contract.METRIC_SWEEPS_INCOMPLETE} metric); a stack deployed minutes ago has not swept yet"
    )
    name = contract.METRIC_SWEEPS_COMPLETED
    if not beats:
        return Check(FAIL, f"heartbeat: no {name} in the last {_minutes(window)} (limit {_minutes(limit)})", fix)
    age = max(timedelta(0), now - max(beats))
    text = f"heartbeat: last {name} {_minutes(age)} ago (limit {_minutes(limit)})"
    return Check(FAIL, text, fix) if age > limit else Check(OK, text)


def subscribe_fix(topic_arn: str) -> str:
    """How to subscribe someone to the topic: e-mail, or, for a FIFO topic (SQS only), a FIFO queue."""
    if topic_arn.endswith(contract.SNS_FIFO_SUFFIX):
        partition, region, account = topic_arn.split(":")[1], topic_arn.split(":")[3], topic_arn.split(":")[4]
        queue = f"arn:{partition}:sqs:{region}:{account}:YOUR-QUEUE.fifo"
        return (
            "a FIFO topic delivers to SQS queues only: subscribe an SQS FIFO queue whose policy lets the topic "
            f"send: aws sns subscribe --topic-arn {topic_arn} --protocol sqs --notification-endpoint {queue}"
        )
    return (
        "confirm the e-mail AWS sent, or subscribe: aws sns subscribe --topic-arn "
        f"{topic_arn} --protocol email --notification-endpoint you@example.com"
    )


def subscriptions_check(
    subscriptions: list[dict[str, Any]], topic_arn: str, label: str = "subscriptions", readers: str = "the alerts"
) -> Check:
    """Confirmed subscriptions have an ARN; pending ones say PendingConfirmation."""
    confirmed = [s for s in subscriptions if str(s.get("SubscriptionArn", "")).startswith("arn:")]
    pending = len(subscriptions) - len(confirmed)
    waiting = f", {pending} pending confirmation" if pending else ""
    if not confirmed:
        return Check(WARN, f"{label}: none confirmed{waiting}: nobody receives {readers}", subscribe_fix(topic_arn))
    protocols = ", ".join(sorted({str(s.get("Protocol")) for s in confirmed}))
    return Check(OK, f"{label}: {len(confirmed)} confirmed ({protocols}){waiting}")


# --- the command --------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack-name", default=STACK_NAME, help=f"the deployed stack (default {STACK_NAME})")
    parser.add_argument("--region", default=None, help="default: AWS_REGION, else your profile's Region")
    parser.add_argument("--function-name", default=None, help="check this function instead of the stack's")
    parser.add_argument("--topic-arn", default=None, help="check this alerts topic instead of the stack's")
    parser.add_argument("--table", default=None, help="check this state table instead of the stack's")
    parser.add_argument("--rule", default=None, help="check this schedule rule instead of the stack's")


def region_of(args: argparse.Namespace, session: Any) -> str | None:
    return args.region or os.environ.get("AWS_REGION") or session.region_name


def run(
    args: argparse.Namespace,
    out: TextIO,
    *,
    invoke: Invoke | None = None,
    session: Any = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Print one line per check and a summary; 1 when any check FAILs, else 0."""
    import boto3

    session = session or boto3.Session()
    region = region_of(args, session)
    if not region:
        out.write(f"{FAIL:<5} no AWS Region — set AWS_REGION or pass --region\n")
        return 1
    target = Target(args.stack_name, args.function_name, args.topic_arn, args.table, args.rule)
    counts = {OK: 0, WARN: 0, FAIL: 0, SKIP: 0}
    for check in Doctor(session, region, target, invoke, now).run():
        counts[check.status] += 1
        out.write(check.line() + "\n")
        out.flush()
    summary = f"{counts[FAIL]} FAIL, {counts[WARN]} WARN, {counts[OK]} ok, {counts[SKIP]} skipped"
    out.write(f"doctor: {summary} ({region})\n")
    return 1 if counts[FAIL] else 0
