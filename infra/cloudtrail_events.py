"""CloudTrail discovery (cloudTrailEvents): learn of sessions as they start and end.

Athena sends no EventBridge event for session state changes, but CloudTrail records its notebook
API calls, and EventBridge delivers those records (where a trail records management events) as
"AWS API Call via CloudTrail". A rule on the default bus hands StartSession and TerminateSession
to the function; the function then looks at the session again later through the follow-up
queue: {"SessionId": ...} messages it sends itself with DelaySeconds, which the same function
consumes. The scheduled sweep stays the safety net for anything CloudTrail does not deliver.

The rule delivers successful calls only (a failed one names no session to follow), and not the
record itself: an input transformer passes the few fields the function reads
(session_contract.CLOUDTRAIL_INPUT_TEMPLATE), so a StartSession's engine configuration, which may
hold credentials in Spark properties, reaches neither the function nor its on-failure queue.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

import session_contract as contract
from infra.fanout import VISIBILITY_TIMEOUT_FACTOR
from infra.function import MonitorFunction
from infra.queues import encrypted_queue, terminal_dead_letter_queue

# CloudTrail's eventSource for Athena's API calls (the record's detail.eventSource).
ATHENA_EVENT_SOURCE = contract.CLOUDTRAIL_EVENT_SOURCE
# EventBridge retries when it cannot hand the event to Lambda (the asynchronous invoke itself
# failing); function errors are Lambda's own async retries, then the on-failure queue.
DELIVERY_RETRY_ATTEMPTS = 4
# A start or termination record older than this is left to the scheduled sweep.
DELIVERY_MAX_EVENT_AGE = Duration.hours(1)
# A session whose follow-up check fails three times in a row goes to the DLQ (and raises its alarm).
FOLLOW_UP_MAX_RECEIVE_COUNT = 3
# Each follow-up message is one GetSession: ten per invocation.
FOLLOW_UP_BATCH_SIZE = 10


def event_pattern() -> events.EventPattern:
    """Athena's successful StartSession and TerminateSession calls, as CloudTrail records them.

    A failed call carries errorCode ("exists": false matches a record without it). Leaving failed
    calls out also keeps caller-typed text (the workgroup or session id of a refused call) out of
    the input template, which EventBridge fills without escaping.
    """
    return events.EventPattern(
        source=[contract.CLOUDTRAIL_SOURCE],
        detail_type=[contract.CLOUDTRAIL_DETAIL_TYPE],
        detail={
            "eventSource": [ATHENA_EVENT_SOURCE],
            "eventName": list(contract.CLOUDTRAIL_EVENT_NAMES),
            "errorCode": [{"exists": False}],
        },
    )


class MinimalCloudTrailInput(events.RuleTargetInput):
    """The contract's input transformer, as written: every placeholder quoted.

    RuleTargetInput.from_object would write a field that is a whole value unquoted (<id>), which
    turns into invalid JSON when the field is missing from the record.
    """

    def bind(self, _rule: IRuleRef) -> events.RuleTargetInputProperties:
        return events.RuleTargetInputProperties(
            input_paths_map=dict(contract.CLOUDTRAIL_INPUT_PATHS), input_template=contract.CLOUDTRAIL_INPUT_TEMPLATE
        )


class CloudTrailEvents(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, monitor: MonitorFunction) -> None:
        super().__init__(scope, construct_id)
        config = monitor.config

        self.dead_letter_queue = terminal_dead_letter_queue(
            self, "DeadLetterQueue", holds="CloudTrail session events EventBridge could not deliver to the function"
        )
        self.rule = events.Rule(
            self,
            "Rule",
            description="athena-session-monitor: Athena StartSession/TerminateSession calls recorded by CloudTrail",
            event_pattern=event_pattern(),
            targets=[
                targets.LambdaFunction(
                    monitor.function,
                    event=MinimalCloudTrailInput(),
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=DELIVERY_RETRY_ATTEMPTS,
                    max_event_age=DELIVERY_MAX_EVENT_AGE,
                )
            ],
        )

        self.follow_up_dead_letter_queue = encrypted_queue(self, "FollowUpDeadLetterQueue")
        self.follow_up_queue = encrypted_queue(
            self,
            "FollowUpQueue",
            # AWS's guidance for SQS event sources (see fanout.py): at least 6x the function timeout.
            visibility_timeout=Duration.seconds(monitor.timeout.to_seconds() * VISIBILITY_TIMEOUT_FACTOR),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.follow_up_dead_letter_queue, max_receive_count=FOLLOW_UP_MAX_RECEIVE_COUNT
            ),
        )

        monitor.add_environment(contract.ENV_FOLLOW_UP_QUEUE_URL, self.follow_up_queue.queue_url)
        # sqs:SendMessage on this queue (plus GetQueueAttributes/GetQueueUrl, which the event
        # source below needs on it anyway); DelaySeconds needs no other permission.
        self.follow_up_queue.grant_send_messages(monitor.role)
        monitor.function.add_event_source(
            event_sources.SqsEventSource(
                self.follow_up_queue,
                batch_size=FOLLOW_UP_BATCH_SIZE,
                # A failed check retries only that session.
                report_batch_item_failures=True,
                # Lambda's minimum: follow-ups are cheap and may wait; the schedule, the API and the
                # fan-out keep the rest of the reserved concurrency (config.py's cross-key rule).
                max_concurrency=config.follow_up_max_concurrency,
            )
        )
