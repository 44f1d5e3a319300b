"""Chat channels: the alerts topic in Slack and/or Microsoft Teams, via Amazon Q Developer in chat
applications (formerly AWS Chatbot).

The service subscribes to the topic over https and renders only AWS events and its custom
notification schema, which the function publishes under the ``https`` key (``messages.py``).
Created only when the chat context keys are set; with none, nothing here is synthesized.
"""

from __future__ import annotations

import hashlib

from aws_cdk import Aws, Stack, Token
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra import nag
from infra.config import MonitorConfig
from infra.function import athena_statements, session_arns, workgroup_arns

CHATBOT = "chatbot.amazonaws.com"
CONFIGURATION_NAME_MAX = 128  # the chat API's ConfigurationName: [A-Za-z0-9-_]{1,128}
# Room kept for the Region when it is only known at deploy time: the longest Region name today
# (ap-southeast-5, eusc-de-east-1) has 14 characters.
REGION_NAME_ROOM = 20


class ChatChannels(Construct):
    """A channel configuration per chat platform given, subscribed to ``topic``.

    Least privilege, twice over: the channel's role has no policy at all (posting notifications
    needs none), and the guardrail, the most any chat user could ever do through the channel
    (the service applies AdministratorAccess when none is given), is a read-only policy of the
    same Athena reads the monitor makes on the same workgroups.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: MonitorConfig, topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        # No aws:SourceAccount/aws:SourceArn condition on the trust policy: the chat service's guide
        # documents none for its channel role (its examples trust the bare service principal), and a
        # condition on a key the service does not send would deny it and silence the channel. The
        # role holds no policy, so assuming it grants nothing; the guardrail caps chat users.
        self.role = iam.Role(
            self,
            "ChannelRole",
            assumed_by=iam.ServicePrincipal(CHATBOT),
            description="athena-session-monitor chat channels: posts alerts, may call nothing",
        )
        self.guardrail = iam.ManagedPolicy(
            self,
            "ReadOnlyGuardrail",
            description="The most a chat user may do through the athena-session-monitor channels: read sessions",
            statements=athena_statements(self, config),
        )
        self._acknowledge_wildcards()
        stack = Stack.of(self)
        region = Aws.REGION if Token.is_unresolved(stack.region) else stack.region
        self.slack: chatbot.SlackChannelConfiguration | None = None
        self.teams: chatbot.CfnMicrosoftTeamsChannelConfiguration | None = None
        if config.slack:
            self.slack = chatbot.SlackChannelConfiguration(
                self,
                "Slack",
                slack_channel_configuration_name=configuration_name(stack.stack_name, region, "slack"),
                slack_workspace_id=str(config.slack_workspace_id),
                slack_channel_id=str(config.slack_channel_id),
                notification_topics=[topic],
                role=self.role,
                guardrail_policies=[self.guardrail],
                logging_level=chatbot.LoggingLevel.NONE,
            )
        if config.teams:
            self.teams = chatbot.CfnMicrosoftTeamsChannelConfiguration(
                self,
                "Teams",
                configuration_name=configuration_name(stack.stack_name, region, "teams"),
                iam_role_arn=self.role.role_arn,
                team_id=str(config.teams_team_id),
                teams_channel_id=str(config.teams_channel_id),
                teams_tenant_id=str(config.teams_tenant_id),
                sns_topic_arns=[topic.topic_arn],
                guardrail_policies=[self.guardrail.managed_policy_arn],
                logging_level="NONE",
            )

    def _acknowledge_wildcards(self) -> None:
        reason = (
            "A chat guardrail is a ceiling, not a grant: the channel role holds no policy, and this one "
            "caps chat users at the monitor's own Athena reads; session ids are only known at run time."
        )
        for arn in session_arns(self, self.config):
            nag.acknowledge(self.guardrail, nag.wildcard_resource_finding(self, arn), reason)
        if self.config.discovery:
            nag.acknowledge(
                self.guardrail, nag.wildcard_resource_finding(self, workgroup_arns(self, self.config)[0]), reason
            )
            nag.acknowledge(
                self.guardrail,
                "AwsSolutions-IAM5[Resource::*]",
                "athena:ListWorkGroups takes no resource, so '*' is its only valid resource; the guardrail "
                "is a ceiling for chat users, and the channel role itself holds no policy.",
            )


def configuration_name(stack_name: str, region: str, platform: str) -> str:
    """Unique per account, where the chat service keeps its configurations whatever the Region: the
    stack's name, its Region (a deploy-time token when the stack names none) and the platform.

    A stack name too long to leave room for the Region (stack names reach 128 characters) is cut
    and ends in a hash of the whole name, so two long names still differ.
    """
    suffix = f"-alerts-{platform}"
    room = CONFIGURATION_NAME_MAX - len(suffix) - 1 - (REGION_NAME_ROOM if Token.is_unresolved(region) else len(region))
    if len(stack_name) > room:
        digest = hashlib.sha256(stack_name.encode("utf-8")).hexdigest()[:8]
        stack_name = f"{stack_name[: room - len(digest) - 1]}-{digest}"
    return f"{stack_name}-{region}{suffix}"
