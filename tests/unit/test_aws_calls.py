"""The benchmark's DynamoDB accounting (bench/aws_calls.py): the reads and writes the README's sweep
rows and cost table quote, counted on the function's own client against moto."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from bench import aws_calls


def test_item_size_follows_dynamodbs_rule_and_a_big_item_costs_more_write_units():
    item = {"pk": {"S": "abc"}, "n": {"N": "123"}, "ok": {"BOOL": True}}
    assert aws_calls.item_size(item) == (2 + 3) + (1 + 2) + (2 + 1)
    assert aws_calls.write_units(item) == 1
    assert aws_calls.write_units({"pk": {"S": "x" * 2500}}) == 3
    assert aws_calls.read_units(5000, consistent=False) == 1.0  # two 4 KB units, eventually consistent


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch):
    from session_monitor.integration import clients

    monkeypatch.setattr(clients, "client", clients.client)  # install() replaces it; restored after
    with mock_aws():
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield clients


def test_the_counter_sees_every_write_and_read_of_the_functions_client_refused_writes_included(table):
    counter = aws_calls.install()
    db = table.client("dynamodb")
    key = {"pk": {"S": "wg"}, "sk": {"S": "s-1"}}
    db.put_item(TableName="t", Item=key)
    with pytest.raises(ClientError):
        db.put_item(TableName="t", Item=key, ConditionExpression="attribute_not_exists(pk)")
    batch = [{"PutRequest": {"Item": {"pk": {"S": "wg"}, "sk": {"S": f"s-{i}"}}}} for i in range(2, 5)]
    db.batch_write_item(RequestItems={"t": batch})
    assert (
        len(
            db.query(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "wg"}})[
                "Items"
            ]
        )
        == 4
    )
    counted = counter.snapshot()
    assert counted["calls"] == {"dynamodb:BatchWriteItem": 1, "dynamodb:PutItem": 2, "dynamodb:Query": 1}
    assert counted["dynamodb"] == {
        "write_calls": 3,
        "items_written": 4,
        "conditional_failures": 1,
        "wru": 5,  # the refused conditional write is billed too
        "read_calls": 1,
        "items_read": 4,
        "rru": 0.5,
    }


def test_the_counter_keeps_each_message_sent_alone_or_in_a_batch_with_its_delay(table):
    counter = aws_calls.install()
    sqs = table.client("sqs")
    url = sqs.create_queue(QueueName="follow-ups")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="one", DelaySeconds=300)
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": "a", "MessageBody": "two", "DelaySeconds": 30}, {"Id": "b", "MessageBody": "three"}],
    )
    assert counter.sent == [
        {"body": "one", "delay_seconds": 300},
        {"body": "two", "delay_seconds": 30},
        {"body": "three", "delay_seconds": 0},
    ]
    assert counter.snapshot()["calls"]["sqs:SendMessageBatch"] == 1
