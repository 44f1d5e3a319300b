"""The sweep schedule: an EventBridge rule that invokes the function every scheduleMinutes."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.queues import terminal_dead_letter_queue

# EventBridge retries only when it cannot hand the event to Lambda (the asynchronous invoke
# itself failing); function errors are retried by Lambda's own async retries.
DELIVERY_RETRY_ATTEMPTS = 2


class SweepSchedule(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.IFunction, minutes: int) -> None:
        super().__init__(scope, construct_id)
        interval = Duration.minutes(minutes)
        self.dead_letter_queue = terminal_dead_letter_queue(
            self, "DeadLetterQueue", holds="scheduled events EventBridge could not deliver to the function"
        )
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"athena-session-monitor sweep every {minutes} minute(s)",
            schedule=events.Schedule.rate(interval),
            targets=[
                # No `event=`: the function receives EventBridge's default Scheduled Event
                # (source "aws.events", detail-type "Scheduled Event"), which is how it tells a
                # sweep from an API request.
                targets.LambdaFunction(
                    function,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=DELIVERY_RETRY_ATTEMPTS,
                    # An event older than one interval is superseded by the next tick (minimum 60 s).
                    max_event_age=interval,
                )
            ],
        )
