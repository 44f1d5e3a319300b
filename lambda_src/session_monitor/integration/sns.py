"""SNS access: publish one alert."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import AlertDeliveryFailed
from . import clients


def publish_alert(topic_arn: str, subject: str, message: str, attributes: dict[str, str]) -> str:
    """Publish and return SNS's MessageId; raise AlertDeliveryFailed if SNS did not accept it."""
    try:
        response = clients.client("sns").publish(
            TopicArn=topic_arn,
            Subject=subject,
            Message=message,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
            },
        )
    except (ClientError, BotoCoreError) as error:
        code = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else type(error).__name__
        raise AlertDeliveryFailed(f"SNS did not accept the alert ({code})") from None
    return response["MessageId"]
