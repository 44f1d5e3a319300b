"""SQS access: fan-out sweeps (one message per workgroup) and delayed follow-up checks."""

from __future__ import annotations

import json

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import SweepIncomplete
from . import aws_errors, clients


def enqueue_workgroups(queue_url: str, workgroups: list[str]) -> None:
    """Send one ``{"workgroup": name}`` message per workgroup (in batches of 10, SQS's limit)."""
    for start in range(0, len(workgroups), 10):
        batch = workgroups[start : start + 10]
        try:
            answer = clients.client("sqs").send_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "MessageBody": json.dumps({"workgroup": name})} for i, name in enumerate(batch)
                ],
            )
        except (ClientError, BotoCoreError) as error:
            shared = aws_errors.named(error, "sqs:SendMessageBatch", "the sweep queue")
            raise shared or SweepIncomplete("could not queue the sweep's workgroups") from None
        if answer.get("Failed"):
            raise SweepIncomplete(f"SQS refused {len(answer['Failed'])} sweep messages")


def enqueue_follow_up(queue_url: str, session_id: str, delay_seconds: int, reason: str, attempt: int) -> bool:
    """Queue ``{"SessionId", "reason", "attempt"}`` for delivery after ``delay_seconds`` (<= 900, SQS's
    limit). False when SQS refused it (the caller decides whether that matters)."""
    body = json.dumps({"SessionId": session_id, "reason": reason, "attempt": attempt})
    try:
        clients.client("sqs").send_message(QueueUrl=queue_url, MessageBody=body, DelaySeconds=min(delay_seconds, 900))
    except (ClientError, BotoCoreError):
        return False
    return True
