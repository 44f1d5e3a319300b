"""The alerts topic: session alerts from the function and CloudWatch alarm notifications."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class AlertsTopic(Construct):
    """SNS topic encrypted with its own rotating customer-managed key.

    One topic carries both the function's session alerts and the stack's alarms: the people
    who act on a FAILED session are the people who act on the monitor being broken.
    """

    def __init__(self, scope: Construct, construct_id: str, *, alert_email: str | None) -> None:
        super().__init__(scope, construct_id)

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
        for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
            # What CloudWatch and EventBridge need to publish to an encrypted topic: SNS calls
            # GenerateDataKey (and Decrypt) on the publisher's behalf, nothing else.
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"AllowPublishVia{service.split('.')[0].capitalize()}",
                    principals=[iam.ServicePrincipal(service)],
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=["*"],  # in a key policy "*" means this key
                )
            )

        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="Athena session monitor",
            master_key=self.key,
            enforce_ssl=True,
        )
        # enforce_ssl writes a topic policy, which replaces SNS's default policy; without this
        # statement the alarms in this stack could no longer publish.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:*"
                    },
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )
        if alert_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alert_email))

    def grant_publish(self, grantee: iam.IGrantable) -> None:
        """sns:Publish on this topic and the two KMS actions SNS performs for the publisher.

        Written out instead of topic.grant_publish(), which adds kms:GenerateDataKey* (a wildcard
        action); SNS only calls GenerateDataKey and Decrypt, and only through SNS.
        """
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
