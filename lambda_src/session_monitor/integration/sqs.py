"""SQS access for fan-out sweeps: one message per workgroup."""

from __future__ import annotations

import json

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import SweepIncomplete
from . import clients


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
        except (ClientError, BotoCoreError):
            raise SweepIncomplete("could not queue the sweep's workgroups") from None
        if answer.get("Failed"):
            raise SweepIncomplete(f"SQS refused {len(answer['Failed'])} sweep messages")
