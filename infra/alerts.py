"""The alerts topic: session alerts from the function and CloudWatch alarm notifications.

Only the monitor speaks on it: the topic policy allows sns:Publish to the function's role and to
this stack's CloudWatch alarms, and denies everyone else with explicit statements, even principals
of this account whose identity policy allows sns:Publish on "*" (docs/threat-model.md).
"""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra import data_protection

CLOUDWATCH = "cloudwatch.amazonaws.com"


class AlertsTopic(Construct):
    """SNS topic encrypted with its own rotating customer-managed key.

    One topic carries both the function's session alerts and the stack's alarms: the people
    who act on a FAILED session are the people who act on the monitor being broken.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alert_email: str | None,
        data_protection_policy: bool = False,
        fifo: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self._publisher_arn: str | None = None

        # A customer-managed key, not alias/aws/sns: CloudWatch alarms cannot publish to a topic
        # encrypted with the AWS-managed key because its policy cannot be edited to admit them.
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the athena-session-monitor alerts topic",
            enable_key_rotation=True,
            # Only SNS messages in flight are encrypted with it; nothing to recover after destroy.
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        # What CloudWatch needs to publish to an encrypted topic: SNS calls GenerateDataKey (and
        # Decrypt) on the alarm's behalf, nothing else, and only for this stack's alarms in this
        # account (confused deputy). The encryption context is the topic's ARN (SNS's documented
        # key policy for AWS event sources); naming the topic itself would make the key depend on
        # the topic that depends on the key, so it names this account's topics in this Region.
        # No EventBridge statement: nothing publishes to this topic through EventBridge.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisStacksAlarmsViaSns",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=["*"],  # in a key policy "*" means this key
                conditions={
                    **self._alarm_conditions(),
                    "StringLike": {
                        "kms:EncryptionContext:aws:sns:topicArn": f"arn:{Aws.PARTITION}:sns:{Aws.REGION}:{Aws.ACCOUNT_ID}:*"
                    },
                },
            )
        )

        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="Athena session monitor",
            master_key=self.key,
            enforce_ssl=True,
            # alertsTopicFifo: SNS de-duplicates on the alert id (the function sets it), not on content.
            fifo=True if fifo else None,
        )
        # CloudWatch alarm actions publish without a MessageGroupId, which a FIFO topic requires:
        # with a FIFO alerts topic the alarms get a standard topic of their own, under the same key.
        self.alarm_topic = self.topic
        if fifo:
            self.alarm_topic = sns.Topic(
                self, "AlarmTopic", display_name="Athena session monitor alarms", master_key=self.key, enforce_ssl=True
            )
        if data_protection_policy:
            # The second layer for secrets on this path (infra/data_protection.py). Opt-in: SNS
            # message data protection is closed to new customers, and a topic with the property
            # fails to deploy in an account that may not use it.
            cfn_topic = cast(sns.CfnTopic, self.topic.node.default_child)
            cfn_topic.data_protection_policy = data_protection.sns_message_policy()
        if alert_email:
            # The alarm topic is the alerts topic unless that is FIFO, which e-mail cannot subscribe
            # to: then the address gets the monitor's alarms, and the session alerts go to SQS.
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(alert_email))

    def _alarm_conditions(self) -> dict[str, dict[str, str]]:
        """A service principal acting for one of this stack's alarms, in this account.

        Monitoring names every alarm "<stack name>-<name>" (a test checks each alarm's ARN matches).
        """
        alarms = f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:{Stack.of(self).stack_name}-*"
        return {"ArnLike": {"aws:SourceArn": alarms}, "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}

    def _restrict_publishers(self, topic: sns.ITopic, publisher_arn: str | None, *, alarms: bool) -> None:
        """The topic policy's publishers: the monitor's role and/or this stack's alarms, nobody else.

        enforce_ssl already wrote a topic policy, which replaces SNS's default one (that default
        lets the whole account publish). Allow statements alone would not be enough: a principal
        of this account whose identity policy allows sns:Publish could still publish, so two
        explicit Deny statements close the topic. Built with conditions, not principal lists:
        - aws:PrincipalArn is the role's ARN for every session of the role;
        - aws:SourceAccount is only in the request when a service acts for a resource, so an IAM
          principal never matches it, while this account's alarms do (and their Allow needs it);
        - aws:PrincipalServiceName is only in the request when the caller is a service principal:
          any service but CloudWatch is denied (EventBridge, S3, ...).
        A topic without alarms (the FIFO alerts topic) denies CloudWatch too; one without a
        publisher role (the FIFO variant's alarm topic) denies every IAM principal.
        """

        def publish(sid: str, principal: iam.IPrincipal, conditions: dict[str, Any], deny: bool = False) -> None:
            topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    effect=iam.Effect.DENY if deny else iam.Effect.ALLOW,
                    principals=[principal],
                    actions=["sns:Publish"],
                    resources=[topic.topic_arn],
                    conditions=conditions,
                )
            )

        deny_unless: dict[str, Any] = {}
        if publisher_arn is not None:
            condition = {"aws:PrincipalArn": publisher_arn}
            publish("AllowTheMonitorRole", iam.AccountPrincipal(Aws.ACCOUNT_ID), {"ArnEquals": condition})
            deny_unless["ArnNotEquals"] = condition
        if alarms:
            publish("AllowThisStacksAlarms", iam.ServicePrincipal(CLOUDWATCH), self._alarm_conditions())
            services = {
                "Null": {"aws:PrincipalServiceName": "false"},
                "StringNotEquals": {"aws:PrincipalServiceName": CLOUDWATCH},
            }
            publish("DenyEveryServiceButCloudWatch", iam.StarPrincipal(), services, deny=True)
            deny_unless["StringNotEqualsIfExists"] = {"aws:SourceAccount": Aws.ACCOUNT_ID}
        publish("DenyEveryoneButTheMonitorAndThisAccountsAlarms", iam.StarPrincipal(), deny_unless, deny=True)

    def grant_publish(self, grantee: iam.IRole) -> None:
        """Make grantee the topic's one publisher (besides this stack's alarms).

        sns:Publish on this topic and the two KMS actions SNS performs for the publisher, written
        out instead of topic.grant_publish(), which adds kms:GenerateDataKey* (a wildcard action);
        SNS only calls GenerateDataKey and Decrypt, and only through SNS. The topic policy then
        denies every other principal, so there is exactly one publisher role.
        """
        if self._publisher_arn is not None:
            raise ValueError("the alerts topic has one publisher role; it was already granted")
        self._publisher_arn = grantee.role_arn
        alarms_share_the_topic = self.alarm_topic is self.topic
        self._restrict_publishers(self.topic, grantee.role_arn, alarms=alarms_share_the_topic)
        if not alarms_share_the_topic:
            self._restrict_publishers(self.alarm_topic, None, alarms=True)
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["sns:Publish"], resources=[self.topic.topic_arn])
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"sns.{Aws.REGION}.amazonaws.com"}},
            )
        )
