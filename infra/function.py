"""The monitor function: code, runtime, log group, role, async failure handling, Athena access."""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

import session_contract as contract
from infra import constants, data_protection, nag
from infra.config import MonitorConfig
from infra.queues import terminal_dead_letter_queue

# The newest Python runtime aws-cdk-lib knows (cdk-nag AwsSolutions-L1 requires exactly that);
# the Powertools team publishes its layer for it.
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
# Lambda retries a failed asynchronous (scheduled) invocation twice, about 1 and 2 minutes later.
ASYNC_RETRY_ATTEMPTS = 2


def powertools_layer_parameter(runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> str:
    return constants.POWERTOOLS_LAYER_SSM_PARAMETER.format(
        arch=architecture.name, python=runtime.name, version=constants.POWERTOOLS_VERSION
    )


class MonitorFunction(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: MonitorConfig) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.timeout = Duration.seconds(constants.FUNCTION_TIMEOUT_SECONDS)

        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=logs.RetentionDays[config.log_retention_name],
            removal_policy=RemovalPolicy.DESTROY,
            # Masks credentials even if the function's redaction misses one (second layer).
            data_protection_policy=data_protection.log_group_policy(),
        )

        # An explicit role instead of the default one, which attaches the AWS-managed
        # AWSLambdaBasicExecutionRole (logs:CreateLogGroup on "*"). This role can write to its
        # own log group and nothing else until the grants below.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="athena-session-monitor function",
        )
        self.log_group.grant_write(self.role)

        # Powertools comes from the official public layer rather than being bundled:
        # - reproducible: the SSM parameter is pinned to the version in requirements.in (the
        #   version every test ran against); CloudFormation resolves it at deploy time, so no
        #   layer version number N is written in this repository;
        # - synth needs no Docker or pip (Code.from_asset ships lambda_src as it is);
        # - the layer is built with the [all] extras, so pydantic (Event Handler validation) and
        #   aws-xray-sdk (Tracer) are present, compiled for this runtime and architecture;
        # - cold start: the layer is the same size as a bundle would be, and Lambda caches it
        #   across functions.
        layer_arn = ssm.StringParameter.value_for_string_parameter(
            self, powertools_layer_parameter(RUNTIME, ARCHITECTURE)
        )
        powertools = lambda_.LayerVersion.from_layer_version_arn(self, "PowertoolsLayer", layer_arn)

        # Scheduled invocations are asynchronous; when they fail after the retries they land here.
        self.failure_queue = terminal_dead_letter_queue(
            self, "AsyncFailureQueue", holds="asynchronous (scheduled) invocations that failed after Lambda's retries"
        )

        self.function = lambda_.Function(
            self,
            "Function",
            description="Polls Athena for Apache Spark sessions, alerts on FAILED/DEGRADED/TERMINATED, serves /sessions",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=constants.HANDLER,
            code=lambda_.Code.from_asset(str(constants.LAMBDA_SRC), exclude=constants.ASSET_EXCLUDES),
            layers=[powertools],
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            timeout=self.timeout,
            memory_size=constants.FUNCTION_MEMORY_MB,
            # Caps what the API and the sweeps together can spend, and protects the account's
            # unreserved pool from a runaway sweep.
            reserved_concurrent_executions=config.reserved_concurrency,
            environment=self._environment(config),
            on_failure=destinations.SqsDestination(self.failure_queue),
            retry_attempts=ASYNC_RETRY_ATTEMPTS,
            # Long enough for both retries; a sweep older than that is superseded by newer ticks.
            max_event_age=Duration.minutes(min(max(config.schedule_minutes, 5), 360)),
        )

        for statement in athena_statements(self, config):
            self.role.add_to_principal_policy(statement)
        self._acknowledge_wildcards()

    @staticmethod
    def _environment(config: MonitorConfig) -> dict[str, str]:
        # The topic and table are added by the stack once they exist (stack.py).
        return contract.function_environment(
            workgroups=config.watched_workgroups,
            # {"Ref": "AWS::AccountId"}: resolved at deploy time, so the template stays account-agnostic.
            account_id=Aws.ACCOUNT_ID,
            price_per_dpu_hour=config.price_per_dpu_hour,
            lookback_minutes=config.lookback_minutes,
            schedule_minutes=config.schedule_minutes,
            idle_alert_minutes=config.idle_alert_minutes,
            sweep_max_workers=config.sweep_max_workers,
            state_events_bus=config.state_events_bus,  # the grant is infra/state_events.py's
        )

    def add_environment(self, key: str, value: str) -> None:
        self.function.add_environment(key, value)

    def _acknowledge_wildcards(self) -> None:
        if self.config.discovery:
            star_reason = (
                "Resource '*' is required by the actions that take no resource: athena:ListWorkGroups "
                "(workgroup discovery) and xray:PutTraceSegments/PutTelemetryRecords (active tracing)."
            )
        else:
            star_reason = (
                "Resource '*' is required by xray:PutTraceSegments and xray:PutTelemetryRecords, which "
                "take no resource (active tracing adds them)."
            )
        nag.acknowledge(self.role, "AwsSolutions-IAM5[Resource::*]", star_reason)
        for arn in session_arns(self, self.config):
            nag.acknowledge(
                self.role,
                nag.wildcard_resource_finding(self, arn),
                "Session ids are random and only known at run time; the wildcard is confined to the "
                "watched workgroup's sessions and to read actions (athena:GetSession).",
            )
        if self.config.discovery:
            nag.acknowledge(
                self.role,
                nag.wildcard_resource_finding(self, workgroup_arns(self, self.config)[0]),
                "Workgroup discovery is on (watchedWorkgroups is empty): the Spark workgroups are found "
                "at run time with ListWorkGroups, so their names cannot be listed here; read actions only.",
            )


def workgroup_arns(scope: Construct, config: MonitorConfig) -> list[str]:
    # With discovery on, the names are only known at run time (ListWorkGroups), so the policy
    # has to cover workgroup/*; list workgroups in cdk.json to scope it to exactly those.
    names = config.watched_workgroups or ("*",)
    return [
        Stack.of(scope).format_arn(
            service="athena", resource="workgroup", resource_name=name, arn_format=ArnFormat.SLASH_RESOURCE_NAME
        )
        for name in names
    ]


def session_arns(scope: Construct, config: MonitorConfig) -> list[str]:
    # Service Authorization Reference, Amazon Athena, resource type "session":
    # arn:${Partition}:athena:${Region}:${Account}:workgroup/${WorkGroupName}/session/${SessionId}
    return [f"{arn}/session/*" for arn in workgroup_arns(scope, config)]


def athena_statements(scope: Construct, config: MonitorConfig) -> list[iam.PolicyStatement]:
    """Read-only Athena access for the watched workgroups (or every workgroup with discovery)."""
    statements = [
        # ListSessions authorizes against the workgroup only.
        iam.PolicyStatement(actions=["athena:ListSessions"], resources=workgroup_arns(scope, config)),
        # GetSession: workgroup (required) and session (optional) resource types; grant both so
        # the call is allowed whichever ARN Athena evaluates.
        iam.PolicyStatement(
            actions=["athena:GetSession"],
            resources=workgroup_arns(scope, config) + session_arns(scope, config),
        ),
    ]
    if config.discovery:
        # ListWorkGroups supports no resource-level permissions: "*" is the only valid resource.
        statements.append(iam.PolicyStatement(actions=["athena:ListWorkGroups"], resources=["*"]))
    return statements
