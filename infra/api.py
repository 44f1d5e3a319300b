"""The read-only sessions API: GET /sessions and GET /sessions/{session_id}, IAM-authorized."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import constants, nag
from infra.config import MonitorConfig


class SessionsApi(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, function: lambda_.IFunction, config: MonitorConfig
    ) -> None:
        super().__init__(scope, construct_id)

        self.access_log_group = logs.LogGroup(
            self,
            "AccessLogs",
            retention=logs.RetentionDays[config.log_retention_name],
            removal_policy=RemovalPolicy.DESTROY,
        )

        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=constants.STACK_NAME,
            description="Athena for Apache Spark sessions seen by athena-session-monitor (read-only)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # API Gateway writes logs through ONE role per account and Region (the account
            # setting). By default every RestApi creates a role and overwrites that setting, which
            # silently changes it for every other API in the account and breaks their logging when
            # this stack is destroyed. Off by default: the account is expected to have the role
            # already (once per Region: `aws apigateway update-account`), and without it the stage
            # deploy fails with "CloudWatch Logs role ARN must be set in account settings".
            # `-c apiGatewayCloudWatchRole=true` lets this stack create and own it instead (kept
            # on destroy, since other APIs may have started relying on it).
            cloud_watch_role=config.api_gateway_cloudwatch_role,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN if config.api_gateway_cloudwatch_role else None,
            deploy_options=apigw.StageOptions(
                stage_name=constants.API_STAGE_NAME,
                access_log_destination=apigw.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                logging_level=apigw.MethodLoggingLevel.INFO,
                # Full request/response logging would copy session details into the logs.
                data_trace_enabled=False,
                tracing_enabled=True,
                metrics_enabled=True,
                throttling_rate_limit=constants.API_THROTTLE_RATE_LIMIT,
                throttling_burst_limit=constants.API_THROTTLE_BURST_LIMIT,
            ),
        )
        # RestApi adds an unnamed "Endpoint" output; the stack exports the URL as ApiUrl instead.
        self.api.node.try_remove_child("Endpoint")

        validator = self.api.add_request_validator(
            "RequestValidator",
            request_validator_name="parameters",
            validate_request_parameters=True,
            validate_request_body=True,
        )
        # Proxy integration: the function's Event Handler does the routing and the deeper
        # validation (max_results range, next_token format); API Gateway only rejects requests
        # missing a required parameter. No test-invoke permission: nobody calls it from the console.
        integration = apigw.LambdaIntegration(function, proxy=True, allow_test_invoke=False)

        sessions = self.api.root.add_resource("sessions")
        sessions.add_method(
            "GET",
            integration,
            authorization_type=apigw.AuthorizationType.IAM,
            request_validator=validator,
            request_parameters={
                "method.request.querystring.workgroup": True,
                "method.request.querystring.next_token": False,
                "method.request.querystring.max_results": False,
            },
        )
        session = sessions.add_resource("{session_id}")
        session.add_method(
            "GET",
            integration,
            authorization_type=apigw.AuthorizationType.IAM,
            request_validator=validator,
            request_parameters={"method.request.path.session_id": True},
        )

        nag.acknowledge(
            self.api,
            "AwsSolutions-COG4",
            "Methods use AWS_IAM (SigV4) authorization: callers are operators and tools that already "
            "hold IAM credentials; a Cognito user pool would add a second identity store.",
        )
        nag.acknowledge(
            self.api,
            "AwsSolutions-APIG3",
            "Read-only operator API behind SigV4 auth and stage throttling; a WAF web ACL would add "
            "cost but no protection for this traffic. Attach one where policy mandates it.",
        )
        if config.api_gateway_cloudwatch_role:
            nag.acknowledge(
                self.api,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
                "The account-level API Gateway logging role (opt-in via apiGatewayCloudWatchRole) uses "
                "the AWS-managed policy made for exactly that role.",
            )

    @property
    def url(self) -> str:
        return self.api.url
