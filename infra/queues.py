"""SQS queues as this stack uses them: encrypted, TLS-only, 14 days to look at a failure."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import nag


def encrypted_queue(
    scope: Construct,
    construct_id: str,
    *,
    visibility_timeout: Duration | None = None,
    dead_letter_queue: sqs.DeadLetterQueue | None = None,
) -> sqs.Queue:
    # SSE-SQS rather than a customer-managed key: EventBridge (target DLQ) and Lambda (on-failure
    # destination) then write to these queues with no key policy or kms grants to get wrong,
    # and the messages hold only event envelopes and workgroup names.
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
        visibility_timeout=visibility_timeout,
        dead_letter_queue=dead_letter_queue,
    )


def terminal_dead_letter_queue(scope: Construct, construct_id: str, *, holds: str) -> sqs.Queue:
    """A queue that is itself the last stop for failed events (no DLQ of its own)."""
    queue = encrypted_queue(scope, construct_id)
    # cdk-nag's SQS3 only recognises Lambda DeadLetterConfig targets and redrive sources as DLQs.
    nag.acknowledge(
        queue,
        "AwsSolutions-SQS3",
        f"This queue is the dead-letter destination for {holds}; nothing consumes it automatically, "
        "an alarm fires on its first message, and a DLQ behind it would only move the same message.",
    )
    return queue
