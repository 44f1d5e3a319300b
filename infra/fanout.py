"""Optional fan-out (sweepFanout = "sqs"): one SQS message per workgroup, swept in parallel."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants
from infra.function import MonitorFunction
from infra.queues import encrypted_queue

# AWS's guidance for SQS event sources: visibility timeout at least 6x the function timeout, so
# a message is not redelivered while Lambda is still retrying a throttled or slow batch.
VISIBILITY_TIMEOUT_FACTOR = 6
# A workgroup that fails three sweeps in a row goes to the DLQ (and raises the DLQ alarm).
MAX_RECEIVE_COUNT = 3


class SweepFanout(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, monitor: MonitorFunction) -> None:
        super().__init__(scope, construct_id)
        config = monitor.config

        self.dead_letter_queue = encrypted_queue(self, "DeadLetterQueue")
        self.queue = encrypted_queue(
            self,
            "Queue",
            visibility_timeout=Duration.seconds(monitor.timeout.to_seconds() * VISIBILITY_TIMEOUT_FACTOR),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=MAX_RECEIVE_COUNT),
        )

        monitor.add_environment(constants.ENV_SWEEP_QUEUE_URL, self.queue.queue_url)
        # SendMessage also authorizes SendMessageBatch; nothing else is needed to enqueue.
        monitor.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.queue.queue_arn])
        )
        monitor.function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                # One workgroup per invocation: a slow workgroup cannot push the others past the
                # timeout, and a failure retries only that workgroup.
                batch_size=1,
                report_batch_item_failures=True,
                # Below the reserved concurrency, so scheduled sweeps and API calls keep a share and
                # throttled receives do not eat into maxReceiveCount.
                max_concurrency=config.fanout_max_concurrency,
            )
        )
