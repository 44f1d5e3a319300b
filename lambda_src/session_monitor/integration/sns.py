"""SNS access: the alerts topic as a Notifier (see ``notifier``)."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from ..alerting import Alert, body_json, message_attributes, subject
from ..errors import AlertDeliveryFailed
from . import aws_errors, clients


def publish_alert(topic_arn: str, subject_line: str, message: str, attributes: dict[str, str]) -> str:
    """Publish and return SNS's MessageId; raise AlertDeliveryFailed if SNS did not accept it."""
    try:
        response = clients.client("sns").publish(
            TopicArn=topic_arn,
            Subject=subject_line,
            Message=message,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
            },
        )
    except (ClientError, BotoCoreError) as error:
        shared = aws_errors.named(error, "sns:Publish", "the alerts topic")
        if shared is not None:
            raise shared from None
        code = aws_errors.error_code(error) or type(error).__name__
        raise AlertDeliveryFailed(f"SNS did not accept the alert ({code})") from None
    return str(response["MessageId"])


class SnsNotifier:
    """The alerts topic: a subject for e-mail, the JSON document, attributes for filter policies."""

    name = "sns"

    def __init__(self, topic_arn: str) -> None:
        self.topic_arn = topic_arn

    def publish(self, alert: Alert) -> str:
        return publish_alert(self.topic_arn, subject(alert), body_json(alert), message_attributes(alert))
