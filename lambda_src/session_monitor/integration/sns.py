"""SNS access: the alerts topic as a Notifier (see ``notifier``)."""

from __future__ import annotations

from collections.abc import Mapping

from botocore.exceptions import BotoCoreError, ClientError

import session_contract as contract

from .. import messages
from ..alerting import Alert
from ..errors import AlertDeliveryFailed
from ..observability import logger
from . import aws_errors, clients


def is_fifo_topic(topic_arn: str) -> bool:
    """SNS requires a FIFO topic's name to end in .fifo, so the ARN says it: no setting needed."""
    return topic_arn.endswith(contract.SNS_FIFO_SUFFIX)


def publish_alert(
    topic_arn: str,
    subject_line: str,
    message: str,
    attributes: Mapping[str, str],
    *,
    per_protocol: bool = True,
    fifo: tuple[str, str] | None = None,
) -> str:
    """Publish ``message`` and return SNS's MessageId; raise AlertDeliveryFailed if SNS did not
    accept it.

    ``per_protocol``: ``message`` is a MessageStructure=json object (one message per protocol);
    otherwise every subscriber gets ``message`` itself. ``fifo`` is (MessageGroupId,
    MessageDeduplicationId), required by a FIFO topic.
    """
    request: dict[str, object] = {
        "TopicArn": topic_arn,
        "Subject": subject_line,
        "Message": message,
        "MessageAttributes": {
            name: {"DataType": messages.ATTRIBUTE_DATA_TYPE, "StringValue": value} for name, value in attributes.items()
        },
    }
    if per_protocol:
        request["MessageStructure"] = "json"
    if fifo is not None:
        request["MessageGroupId"], request["MessageDeduplicationId"] = fifo
    try:
        response = clients.client("sns").publish(**request)
    except (ClientError, BotoCoreError) as error:
        shared = aws_errors.named(error, "sns:Publish", "the alerts topic")
        if shared is not None:
            raise shared from None
        code = aws_errors.error_code(error) or type(error).__name__
        raise AlertDeliveryFailed(f"SNS did not accept the alert ({code})") from None
    return str(response["MessageId"])


class SnsNotifier:
    """The alerts topic: a subject for e-mail, a message per protocol (``messages``), attributes
    for filter policies; on a FIFO topic, the session as message group and the alert id as
    de-duplication id, so a repeat of one alert within SNS's 5 minutes is not delivered again.

    An alert too large for one SNS message in full is published in the largest form that fits
    (``messages.publication``), and a warning names what was left out: never refused for good.
    """

    name = "sns"

    def __init__(self, topic_arn: str) -> None:
        self.topic_arn = topic_arn

    def publish(self, alert: Alert) -> str:
        chosen = messages.publication(alert)
        if chosen.left_out:
            logger.warning(
                "alert too large for SNS in full: published without some parts",
                extra={"alert_id": alert.alert_id, "left_out": list(chosen.left_out), "size_bytes": chosen.size},
            )
        fifo = messages.fifo_ids(alert) if is_fifo_topic(self.topic_arn) else None
        return publish_alert(
            self.topic_arn,
            chosen.subject,
            chosen.message,
            chosen.attributes,
            per_protocol=chosen.per_protocol,
            fifo=fifo,
        )
