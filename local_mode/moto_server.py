"""moto in server mode, in-process, on 127.0.0.1: the SNS, SQS and DynamoDB of local mode.

The function reaches it through AWS_ENDPOINT_URL, exactly as it reaches AWS. moto has no Athena
session API (see NOTES.md): Athena is answered by ``local_mode.athena_emulator``.

``with MotoServer() as moto: resources = create_alerting_resources(moto.endpoint_url)`` creates
what the stack creates (alerts topic, state table) plus an SQS queue subscribed to the topic, so
the alerts the function publishes can be read back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

__all__ = [
    "ACCOUNT_ID",
    "REGION",
    "AlertingResources",
    "EventInbox",
    "MotoServer",
    "aws_client",
    "create_alerting_resources",
    "create_event_inbox",
    "receive_alerts",
    "receive_events",
]

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "aws_session_token": "testing"}
TOPIC_NAME = "athena-session-monitor-alerts"
TABLE_NAME = "athena-session-monitor-state"
INBOX_QUEUE_NAME = "athena-session-monitor-alerts-inbox"
# A rule on the bus matching the monitor's state-change events, and the queue it targets.
EVENTS_RULE_NAME = "athena-session-monitor-state-changes"
EVENTS_QUEUE_NAME = "athena-session-monitor-state-changes-inbox"
# The state table's schema, as infra/state_table.py declares it (infra.constants names).
PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE = "pk", "sk", "expires_at"


class MotoServer:
    """moto's ThreadedMotoServer on 127.0.0.1 and a free port, as a context manager.

    moto keeps its backends per process, shared by every moto server and ``mock_aws`` in it: the
    server resets them when it starts and when it stops, so a run starts empty and leaves nothing.
    """

    def __init__(self, port: int = 0):
        self.port = port
        self._server: Any = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the moto server is not running")
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def start(self) -> MotoServer:
        if self._server is None:
            from moto.server import ThreadedMotoServer

            # werkzeug logs every request to stderr at INFO; local mode prints its own story.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            # Port 0: the OS picks a free port at bind time, so two runs never race for one.
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
            server.start()
            self._server = server
            self.reset()
        return self

    def reset(self) -> None:
        """Forget every resource (moto's own reset endpoint)."""
        request = urllib.request.Request(self.endpoint_url + "/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        with contextlib.suppress(OSError):  # stopping anyway
            self.reset()
        self._server = None
        server.stop()
        inner = getattr(server, "_server", None)  # ThreadedMotoServer.stop() leaves the socket open
        if inner is not None:
            inner.server_close()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def aws_client(service: str, endpoint_url: str | None, region: str = REGION) -> Any:
    """A boto3 client for a local endpoint with dummy credentials (never the user's own).
    ``endpoint_url`` None: AWS's own endpoint, for moto's in-process ``mock_aws`` in tests."""
    return boto3.session.Session().client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        **DUMMY_CREDENTIALS,
        config=Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=2, read_timeout=10),
    )


@dataclass(frozen=True)
class AlertingResources:
    """What the function needs (topic, table) and where its alerts can be read back (queue)."""

    endpoint_url: str | None
    topic_arn: str
    table_name: str
    queue_url: str

    def environment(self) -> dict[str, str]:
        """The function's variables for these resources, named as the stack names them."""
        from session_contract import ENV_ALERTS_TOPIC_ARN, ENV_STATE_TABLE_NAME

        return {ENV_ALERTS_TOPIC_ARN: self.topic_arn, ENV_STATE_TABLE_NAME: self.table_name}


def create_alerting_resources(
    endpoint_url: str | None,
    *,
    topic_name: str = TOPIC_NAME,
    table_name: str = TABLE_NAME,
    queue_name: str = INBOX_QUEUE_NAME,
) -> AlertingResources:
    """The alerts topic, the state table (pk/sk, on demand, TTL on expires_at) and a subscribed queue."""
    sns = aws_client("sns", endpoint_url)
    sqs = aws_client("sqs", endpoint_url)
    dynamodb = aws_client("dynamodb", endpoint_url)
    topic_arn = sns.create_topic(Name=topic_name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    queue_arn = allow_to_send(sqs, queue_url, "sns.amazonaws.com", topic_arn)
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    dynamodb.create_table(
        TableName=table_name,
        KeySchema=[
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": SORT_KEY, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )
    for client in (sns, sqs, dynamodb):
        client.close()
    return AlertingResources(endpoint_url, topic_arn, table_name, queue_url)


def allow_to_send(sqs: Any, queue_url: str, service: str, source_arn: str) -> str:
    """The queue policy AWS requires before ``service`` (SNS, EventBridge) may send to a queue on
    behalf of ``source_arn`` (a topic, a rule); moto does not check it. Returns the queue's ARN."""
    queue_arn = str(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": source_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    return queue_arn


def receive_alerts(resources: AlertingResources, sqs: Any = None) -> list[dict[str, Any]]:
    """Drain the subscribed queue: each alert as {subject, attributes, body, message_id}."""
    client = sqs or aws_client("sqs", resources.endpoint_url)
    alerts: list[dict[str, Any]] = []
    try:
        while True:
            messages = client.receive_message(
                QueueUrl=resources.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                return alerts
            for message in messages:
                envelope = json.loads(message["Body"])  # the SNS envelope (no raw message delivery)
                alerts.append(
                    {
                        "subject": envelope.get("Subject"),
                        "attributes": {k: v.get("Value") for k, v in (envelope.get("MessageAttributes") or {}).items()},
                        "body": json.loads(envelope["Message"]),
                        "message_id": envelope.get("MessageId"),
                    }
                )
                client.delete_message(QueueUrl=resources.queue_url, ReceiptHandle=message["ReceiptHandle"])
    finally:
        if sqs is None:
            client.close()


@dataclass(frozen=True)
class EventInbox:
    """A rule on an event bus and the SQS queue it targets: where state-change events are read back."""

    endpoint_url: str | None
    bus: str
    rule_name: str
    queue_url: str


def create_event_inbox(
    endpoint_url: str | None,
    *,
    bus: str = "default",
    pattern: dict[str, Any] | None = None,
    rule_name: str = EVENTS_RULE_NAME,
    queue_name: str = EVENTS_QUEUE_NAME,
) -> EventInbox:
    """A rule on ``bus`` (every state-change event the monitor puts, or ``pattern``) with an SQS
    queue as its target, as a consumer of the events would wire it."""
    from session_contract import STATE_EVENTS_DETAIL_TYPE, STATE_EVENTS_SOURCE

    events = aws_client("events", endpoint_url)
    sqs = aws_client("sqs", endpoint_url)
    try:
        queue_url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
        rule_arn = events.put_rule(
            Name=rule_name,
            EventBusName=bus,
            EventPattern=json.dumps(
                pattern or {"source": [STATE_EVENTS_SOURCE], "detail-type": [STATE_EVENTS_DETAIL_TYPE]}
            ),
        )["RuleArn"]
        queue_arn = allow_to_send(sqs, queue_url, "events.amazonaws.com", rule_arn)
        events.put_targets(Rule=rule_name, EventBusName=bus, Targets=[{"Id": "inbox", "Arn": queue_arn}])
    finally:
        events.close()
        sqs.close()
    return EventInbox(endpoint_url, bus, rule_name, queue_url)


def receive_events(inbox: EventInbox, sqs: Any = None) -> list[dict[str, Any]]:
    """Drain the inbox queue: each event as EventBridge delivered it (source, detail-type, detail...)."""
    client = sqs or aws_client("sqs", inbox.endpoint_url)
    received: list[dict[str, Any]] = []
    try:
        while messages := client.receive_message(
            QueueUrl=inbox.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", []):
            for message in messages:
                received.append(json.loads(message["Body"]))
                client.delete_message(QueueUrl=inbox.queue_url, ReceiptHandle=message["ReceiptHandle"])
    finally:
        if sqs is None:
            client.close()
    return received
