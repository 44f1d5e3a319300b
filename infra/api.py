"""The sessions API: GET /sessions and GET /sessions/{session_id}, IAM-authorized.

GET only, but a GET of one session is a look like a sweep's: it may send the alert its state
calls for, put a state-change event, and write the ledger's view of the session (once per change;
a repeated read of the same state writes nothing).

By default any principal of this account whose identity policy allows execute-api:Invoke may call
it, and no other account (API Gateway's rules for IAM auth without a resource policy). Two context
keys add a resource policy on top of IAM auth: apiAllowedAccounts lets the principals of the listed
accounts call too and denies every other account; apiAllowedVpcEndpoints makes the API PRIVATE,
allows this account's callers through the listed execute-api VPC endpoints and denies any request
that comes through no listed endpoint (docs/threat-model.md says what each admits).
"""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import constants, data_protection, nag
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
            data_protection_policy=data_protection.log_group_policy(),
        )

        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=constants.STACK_NAME,
            description="Athena for Apache Spark sessions seen by athena-session-monitor (read-only)",
            endpoint_configuration=self._endpoint(config),
            policy=resource_policy(config),
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
                # Execution logs go to API-Gateway-Execution-Logs_{api id}/v1, a log group API
                # Gateway creates outside this stack: no retention (never expires), no data
                # protection, left behind by destroy. ERROR keeps what explains a failed request
                # (authorization and integration errors) and drops INFO's line per request, which
                # the access log above already records (caller, user, IP, status) in a log group
                # the stack owns, masks and expires.
                logging_level=apigw.MethodLoggingLevel.ERROR,
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

    def _endpoint(self, config: MonitorConfig) -> apigw.EndpointConfiguration:
        # aws:SourceVpce is only set on requests to a PRIVATE API, so restricting the source
        # endpoint means a private API; associating the endpoints also gives each one a
        # {api-id}-{vpce-id} host name that works without private DNS.
        if not config.api_allowed_vpc_endpoints:
            return apigw.EndpointConfiguration(types=[apigw.EndpointType.REGIONAL])
        endpoints = [
            ec2.InterfaceVpcEndpoint.from_interface_vpc_endpoint_attributes(
                self, f"VpcEndpoint{index}", vpc_endpoint_id=endpoint_id, port=443
            )
            for index, endpoint_id in enumerate(config.api_allowed_vpc_endpoints)
        ]
        return apigw.EndpointConfiguration(types=[apigw.EndpointType.PRIVATE], vpc_endpoints=endpoints)

    @property
    def url(self) -> str:
        return self.api.url


INVOKE_ANY_METHOD = "execute-api:/*"  # API Gateway's short form for every stage, method and path


def resource_policy(config: MonitorConfig) -> iam.PolicyDocument | None:
    """The API's resource policy, or None (the default: IAM auth alone decides).

    In the API's own account a resource-policy Allow is enough on its own (API Gateway's "table
    A"): it admits a caller whose identity policy grants nothing. So:
    - AllowTheListedAccounts never applies to this account (``aws:PrincipalAccount`` must not be
      the stack's), even when an operator lists the deploying account: callers of this account
      keep needing their identity policy, callers of a listed account need theirs and this Allow
      ("table B");
    - a PRIVATE API needs an Allow (a private API without one answers every call with 403), so
      AllowThisAccountThroughTheListedEndpoints admits principals of this account that come
      through a listed endpoint, with valid SigV4 credentials and no execute-api permission of
      their own: on a private API the network (the endpoint, its policy, its security groups) is
      the boundary inside the account. Other accounts stay out unless listed.
    """
    if not config.api_resource_policy:
        return None
    statements: list[iam.PolicyStatement] = []
    if config.api_allowed_accounts:
        statements += [
            iam.PolicyStatement(
                sid="AllowTheListedAccounts",
                principals=[iam.AccountPrincipal(account) for account in config.api_allowed_accounts],
                actions=["execute-api:Invoke"],
                resources=[INVOKE_ANY_METHOD],
                conditions={"StringNotEquals": {"aws:PrincipalAccount": Aws.ACCOUNT_ID}},
            ),
            iam.PolicyStatement(
                sid="DenyEveryOtherAccount",
                effect=iam.Effect.DENY,
                principals=[iam.StarPrincipal()],
                actions=["execute-api:Invoke"],
                resources=[INVOKE_ANY_METHOD],
                conditions={
                    "StringNotEquals": {"aws:PrincipalAccount": [Aws.ACCOUNT_ID, *config.api_allowed_accounts]}
                },
            ),
        ]
    if config.api_allowed_vpc_endpoints:
        endpoints = list(config.api_allowed_vpc_endpoints)
        statements += [
            iam.PolicyStatement(
                sid="AllowThisAccountThroughTheListedEndpoints",
                principals=[iam.StarPrincipal()],
                actions=["execute-api:Invoke"],
                resources=[INVOKE_ANY_METHOD],
                conditions={"StringEquals": {"aws:SourceVpce": endpoints, "aws:PrincipalAccount": Aws.ACCOUNT_ID}},
            ),
            iam.PolicyStatement(
                sid="DenyEveryOtherSourceVpcEndpoint",
                effect=iam.Effect.DENY,
                principals=[iam.StarPrincipal()],
                actions=["execute-api:Invoke"],
                resources=[INVOKE_ANY_METHOD],
                conditions={"StringNotEquals": {"aws:SourceVpce": endpoints}},
            ),
        ]
    return iam.PolicyDocument(statements=statements)
