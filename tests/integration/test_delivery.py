"""Each reader of the alerts topic, reading one alert as it would: moto's SNS delivering to an SQS
queue (with and without raw delivery), to an https endpoint on loopback (as the chat service
subscribes), and to an e-mail subscription (moto sends no mail: its subscription object picks the
e-mail part of what the topic recorded). And the FIFO topic: the same alert published twice
reaches an SQS FIFO queue once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import boto3
import pytest

from local_mode.deliveries import EMAIL_READER, HttpsInbox, email_messages, subscribe_readers
from session_monitor import alerting, clock, messages, monitor
from session_monitor.alerting import Alert
from session_monitor.integration import sns as sns_adapter
from session_monitor.integration import state_store
from session_monitor.ledger import END, Episode
from session_monitor.model import session_from_get
from tests.helpers import NOW, get_session_response

REGION = "us-east-1"


def _alert(session_id: str = "7cc5b9a4-1f2e-4d3c-9b8a-0123456789ab", state: str = "FAILED") -> Alert:
    session = session_from_get(get_session_response(session_id, state, "etl", reason="Coordinator lost"), 0.35)
    return Alert(session, Episode(session_id, state, END, NOW - timedelta(minutes=1), True), "123456789012", REGION)


def _allow_topic(sqs, queue_url: str, topic_arn: str) -> str:
    from local_mode.moto_server import allow_to_send

    return allow_to_send(sqs, queue_url, "sns.amazonaws.com", topic_arn)


def _drain(sqs, queue_url: str) -> list[dict]:
    got: list[dict] = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"]
    ).get("Messages", []):
        got += batch
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return got


@pytest.fixture
def inbox(alerts, monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpsInbox]:
    """The chat service's side: an https endpoint subscribed to the topic, plus an e-mail reader."""
    with HttpsInbox() as server:
        for name, value in server.trust_environment().items():
            monkeypatch.setenv(name, value)
        subscribe_readers(alerts.resources, server)
        yield server


# --- the JSON document: SQS (and, through the same default part, Lambda) -------------------------


def test_an_sqs_subscriber_gets_the_json_document_byte_for_byte_with_subject_and_attributes(alerts):
    alert = _alert()
    sns_adapter.SnsNotifier(alerts.topic_arn).publish(alert)
    sqs = boto3.client("sqs", region_name=REGION)
    [message] = _drain(sqs, alerts.queue_url)
    envelope = json.loads(message["Body"])  # the SNS envelope: no raw delivery on this queue
    assert envelope["Message"] == alerting.body_json(alert)
    assert envelope["Subject"] == alerting.subject(alert)
    assert {k: v["Value"] for k, v in envelope["MessageAttributes"].items()} == alerting.message_attributes(alert)


def test_a_raw_delivery_queue_gets_the_bare_document_and_the_attributes_as_message_attributes(alerts):
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="raw-reader")["QueueUrl"]
    arn = _allow_topic(sqs, queue_url, alerts.topic_arn)
    sns.subscribe(TopicArn=alerts.topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    alert = _alert()
    sns_adapter.SnsNotifier(alerts.topic_arn).publish(alert)
    [message] = _drain(sqs, queue_url)
    assert message["Body"] == alerting.body_json(alert)
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes == alerting.message_attributes(alert)


# --- people: e-mail and chat -------------------------------------------------------------------


def test_an_email_reader_gets_the_plain_text_not_json(alerts, inbox):
    alert = _alert()
    sns_adapter.SnsNotifier(alerts.topic_arn).publish(alert)
    [text] = email_messages(alerts.topic_arn, EMAIL_READER)
    assert text == messages.email_text(alert)
    assert text.startswith("[CRITICAL] Athena Spark session FAILED in etl\n")
    assert "Reason:          Coordinator lost" in text and "What to do next:" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_the_chat_endpoint_gets_the_custom_notification_over_https(alerts, inbox):
    alert = _alert()
    sns_adapter.SnsNotifier(alerts.topic_arn).publish(alert)
    [envelope] = inbox.envelopes()
    assert envelope["TopicArn"] == alerts.topic_arn and envelope["Subject"] == alerting.subject(alert)
    card = json.loads(envelope["Message"])
    assert card == messages.chat_card(alert)
    assert (card["version"], card["source"], card["content"]["textType"]) == ("1.0", "custom", "client-markdown")
    assert card["metadata"]["threadId"] == alert.session.session_id


def test_one_publish_reaches_every_reader_in_its_own_form(alerts, inbox):
    """The queue, the mailbox and the chat endpoint, from one Publish (the monitor's real path)."""
    assert monitor.notify_once(_alert("s-42")) == "sent"
    [queued] = alerts.received()
    [text] = email_messages(alerts.topic_arn)
    [card] = inbox.messages()
    assert queued["body"]["alert"]["alert_id"] == card["id"] == "123456789012/us-east-1/s-42#FAILED#END"
    assert "Alert id: 123456789012/us-east-1/s-42#FAILED#END" in text
    assert queued["subject"] == card["metadata"]["summary"]


JDBC_PASSWORD, TOKEN = "Hunter2-Pr0d", "ghp_abcdEFGH1234567890abcdEFGH1234567890"
S3A_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SECRETS = (JDBC_PASSWORD, TOKEN, S3A_SECRET)


def _secret_session(session_id: str) -> dict:
    """A FAILED session with a credential in each place a user can put one: the reason Athena
    quotes (a JDBC URL), the description, a Spark property."""
    reason = f"Session failed: py4j error connecting to jdbc:postgresql://etl_admin:{JDBC_PASSWORD}@db.internal/wh"
    raw = get_session_response(session_id, "FAILED", "etl", reason=reason)
    raw["Description"] = f"nightly load; token={TOKEN}"
    raw["EngineConfiguration"]["SparkProperties"]["spark.hadoop.fs.s3a.secret.key"] = S3A_SECRET
    return raw


def test_a_secret_in_the_reason_description_or_spark_properties_reaches_no_reader(alerts, inbox):
    session = session_from_get(_secret_session("s-9"), 0.35)
    alert = Alert(session, Episode("s-9", "FAILED", END, NOW, True), "123456789012", REGION)
    sns_adapter.SnsNotifier(alerts.topic_arn).publish(alert)
    [queued] = alerts.received()
    [text] = email_messages(alerts.topic_arn)
    [card] = inbox.messages()
    readers = {"sqs": json.dumps(queued), "email": text, "chat": json.dumps(card)}
    for reader, seen in readers.items():
        assert not [secret for secret in SECRETS if secret in seen], reader
    assert queued["body"]["state_change_reason"].endswith("jdbc:postgresql://***redacted***@db.internal/wh")
    assert "Description:     nightly load; token=***redacted***" in text
    assert "token=***redacted***" in card["content"]["description"]


def test_through_the_api_a_secret_in_the_reason_or_description_reaches_neither_the_caller_nor_the_alert(
    athena, alerts, inbox, context
):
    from session_monitor.entry import handler
    from tests.helpers import api_event

    athena.add_response("get_session", _secret_session("s-10"), {"SessionId": "s-10"})
    response = handler(api_event("/sessions/s-10"), context)
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["description"] == "nightly load; token=***redacted***"
    assert "***redacted***@db.internal/wh" in body["state_change_reason"]
    seen = [
        response["body"],
        json.dumps(alerts.received()),
        *email_messages(alerts.topic_arn),
        json.dumps(inbox.envelopes()),
    ]
    assert len(seen) == 4 and "s-10" in seen[1] and "s-10" in seen[2] and "s-10" in seen[3]
    assert not [secret for text in seen for secret in SECRETS if secret in text]


# --- an alert too big for SNS in full ---------------------------------------------------------


def _big_alert(properties: int, value: str = "v" * 20) -> Alert:
    raw = get_session_response("s-big", "FAILED", "etl", reason="boom")
    raw["EngineConfiguration"]["SparkProperties"] = {f"spark.app.setting.{i:06d}": value for i in range(properties)}
    return Alert(session_from_get(raw, 0.35), Episode("s-big", "FAILED", END, NOW, True), "123456789012", REGION)


def _raw_reader(alerts) -> str:
    """A queue subscribed with raw message delivery: its body is the message itself, no envelope."""
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="raw-big-reader")["QueueUrl"]
    arn = _allow_topic(sqs, queue_url, alerts.topic_arn)
    sns.subscribe(TopicArn=alerts.topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return queue_url


@pytest.mark.parametrize(
    ("properties", "value"),
    [(4900, "v" * 20), (1100, "C:\\tmp\\x\\y\\z\\" * 8)],
    ids=["246 KB document", "backslash-heavy 193 KB document"],
)
def test_a_document_that_fit_before_issue_15_is_delivered_whole_though_its_structure_is_too_big(
    alerts, inbox, properties, value
):
    """The reviewer's regression: the per-protocol structure passes 256 KB (moto refuses it, as SNS
    would), so the monitor publishes the document alone, as before issue 15: the e-mail reader
    gets the JSON, and chat gets it too (the real chat service drops it: no card for this one)."""
    alert = _big_alert(properties, value)
    sns = boto3.client("sns", region_name=REGION)
    with pytest.raises(sns.exceptions.InvalidParameterException, match="too long"):
        sns.publish(TopicArn=alerts.topic_arn, Message=messages.message_structure(alert), MessageStructure="json")
    queue_url = _raw_reader(alerts)
    assert monitor.notify_once(alert) == "sent"
    [message] = _drain(boto3.client("sqs", region_name=REGION), queue_url)
    assert message["Body"] == alerting.body_json(alert)
    assert {k: v["StringValue"] for k, v in message["MessageAttributes"].items()} == alerting.message_attributes(alert)
    assert email_messages(alerts.topic_arn) == [alerting.body_json(alert)]
    assert [envelope["Message"] for envelope in inbox.envelopes()] == [alerting.body_json(alert)]


def test_a_document_too_big_by_itself_arrives_without_its_engine_configuration_and_says_so(alerts):
    alert = _big_alert(6000)
    sns = boto3.client("sns", region_name=REGION)
    with pytest.raises(sns.exceptions.InvalidParameterException, match="too long"):
        sns.publish(TopicArn=alerts.topic_arn, Message=alerting.body_json(alert))
    queue_url = _raw_reader(alerts)
    assert monitor.notify_once(alert) == "sent"
    [message] = _drain(boto3.client("sqs", region_name=REGION), queue_url)
    document = json.loads(message["Body"])
    assert document["truncated"] == ["engine_configuration"] and document["engine_configuration"] is None
    assert document["alert"]["alert_id"] == alert.alert_id and document["session_id"] == "s-big"


def test_a_moto_without_the_private_methods_local_mode_reads_is_named_not_a_stack_trace(alerts, monkeypatch):
    from moto.sns.models import SNSBackend

    from local_mode.deliveries import MotoInternalsChanged

    subscribe_readers(alerts.resources)
    monkeypatch.delattr(SNSBackend, "_find_subscription")
    with pytest.raises(MotoInternalsChanged, match=r"pinned moto 5\.2\.5"):
        email_messages(alerts.topic_arn)


# --- exactly once: FIFO topic into an SQS FIFO queue --------------------------------------------


@pytest.fixture
def fifo(alerts, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A FIFO alerts topic (as -c alertsTopicFifo=true makes it) with an SQS FIFO queue subscribed;
    the function's environment points at it. Returns (topic ARN, queue URL)."""
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(
        Name="athena-session-monitor-alerts.fifo",
        Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "false"},
    )["TopicArn"]
    queue_url = sqs.create_queue(QueueName="alerts-reader.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=_allow_topic(sqs, queue_url, topic_arn))
    monkeypatch.setenv("ALERTS_TOPIC_ARN", topic_arn)
    from session_monitor import config

    config.settings.cache_clear()
    return topic_arn, queue_url


class Crash(BaseException):
    """The process dying: not an Exception, so no handler of ours runs."""


def test_a_fifo_queue_gets_an_alert_once_though_a_crash_after_publish_made_the_monitor_send_it_twice(
    fifo, monkeypatch: pytest.MonkeyPatch
):
    topic_arn, queue_url = fifo
    alert = _alert()
    real_confirm = state_store.confirm_alert

    def die(*_args, **_kwargs):
        raise Crash()

    monkeypatch.setattr(state_store, "confirm_alert", die)  # SNS accepted it, then the container died
    with pytest.raises(Crash):
        monitor.notify_once(alert)
    monkeypatch.setattr(state_store, "confirm_alert", real_confirm)
    later = NOW + timedelta(seconds=monitor.ALERT_LEASE_SECONDS + 10)  # the lease ran out; within 5 minutes
    monkeypatch.setattr(clock, "utc_now", lambda: later)
    assert monitor.notify_once(alert) == "sent"  # the retry publishes again: the ledger never saw SNS answer

    from moto.sns.models import sns_backends

    published = sns_backends["123456789012"][REGION].get_topic(topic_arn).sent_notifications
    assert len(published) == 2  # the monitor did publish twice
    [message] = _drain(boto3.client("sqs", region_name=REGION), queue_url)
    assert json.loads(message["Body"])["Message"] == alerting.body_json(alert)
    assert message["Attributes"]["MessageGroupId"] == alert.session.session_id
    assert message["Attributes"]["MessageDeduplicationId"] == alert.alert_id


def test_a_standard_topic_delivers_that_repeat_and_the_alert_id_is_how_to_drop_it(alerts, monkeypatch):
    """The contrast the README states: at least once on a standard topic, with the same alert_id."""
    notifier = sns_adapter.SnsNotifier(alerts.topic_arn)
    notifier.publish(_alert())
    notifier.publish(_alert())
    first, second = alerts.received()
    assert first["attributes"]["alert_id"] == second["attributes"]["alert_id"]


def test_a_256_character_session_id_publishes_to_a_fifo_topic_with_hashed_ids(fifo):
    topic_arn, queue_url = fifo
    alert = _alert("s" * 256)
    assert len(alert.alert_id) > 128
    sns_adapter.SnsNotifier(topic_arn).publish(alert)
    sns_adapter.SnsNotifier(topic_arn).publish(alert)
    [message] = _drain(boto3.client("sqs", region_name=REGION), queue_url)
    group, dedup = messages.fifo_ids(alert)
    assert message["Attributes"]["MessageGroupId"] == group and len(group) <= 128
    assert message["Attributes"]["MessageDeduplicationId"] == dedup and len(dedup) <= 128
    assert json.loads(json.loads(message["Body"])["Message"])["session_id"] == "s" * 256


def test_different_alerts_of_one_session_all_reach_the_fifo_queue_in_order(fifo):
    topic_arn, queue_url = fifo
    notifier = sns_adapter.SnsNotifier(topic_arn)
    session = session_from_get(get_session_response("s-1", "DEGRADED", "etl"), 0.35)
    degraded = Alert(session, Episode("s-1", "DEGRADED", "20261126T115900Z", NOW, True), "123456789012", REGION)
    failed = _alert("s-1")
    notifier.publish(degraded)
    notifier.publish(failed)
    received = _drain(boto3.client("sqs", region_name=REGION), queue_url)
    states = [json.loads(json.loads(m["Body"])["Message"])["alert"]["state"] for m in received]
    assert states == ["DEGRADED", "FAILED"]
