"""Fixtures shared by every test layer: clean AWS environment, moto, a stubbed Athena client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

REGION = "us-east-1"
ACCOUNT = "123456789012"


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Dummy credentials, no real endpoint, tracing off; fresh settings and clients per test."""
    for name in (
        "AWS_REGION",
        "SCHEDULE_MINUTES",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_ATHENA",
        "AWS_ENDPOINT_URL_SNS",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_EVENTBRIDGE",
        "AWS_ENDPOINT_URL_EVENTS",
        "STATE_EVENTS_BUS",  # a developer's shell must not turn state-change events on in every test
        "WATCHED_WORKGROUPS",
        "SWEEP_QUEUE_URL",
        "IDLE_ALERT_MINUTES",
        "LOOKBACK_MINUTES",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("MONITOR_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    from session_monitor import config
    from session_monitor.integration import clients

    # Two attempts with no adaptive rate limiting: retries still happen (tests count them), fast.
    monkeypatch.setattr(
        clients,
        "CLIENT_CONFIG",
        Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=2, read_timeout=5),
    )
    from session_monitor import clock
    from tests.helpers import NOW

    # The function's clock is the test's: the look-back window is measured against the sessions'
    # own times (helpers' answers are dated around NOW; the emulator fixture uses its clock).
    monkeypatch.setattr(clock, "utc_now", lambda: NOW)
    config.settings.cache_clear()
    clients.reset()
    yield
    config.settings.cache_clear()
    clients.reset()


@dataclass
class Alerts:
    """moto's SNS topic, the SQS queue subscribed to it and the DynamoDB state table, created by
    the same code local mode uses (local_mode.moto_server), in-process."""

    resources: Any

    @property
    def topic_arn(self) -> str:
        return self.resources.topic_arn

    @property
    def queue_url(self) -> str:
        return self.resources.queue_url

    @property
    def table(self) -> str:
        return self.resources.table_name

    def received(self) -> list[dict[str, Any]]:
        """Drain the subscribed queue: each alert as {subject, body, attributes, message_id}."""
        from local_mode.moto_server import receive_alerts

        return receive_alerts(self.resources)

    def items(self) -> list[dict[str, Any]]:
        return boto3.client("dynamodb", region_name=REGION).scan(TableName=self.table)["Items"]


@pytest.fixture
def alerts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Alerts]:
    """moto (in-process) SNS, SQS and DynamoDB, wired into the function's environment."""
    from moto import mock_aws

    from local_mode.moto_server import create_alerting_resources

    with mock_aws():
        resources = Alerts(create_alerting_resources(None))
        monkeypatch.setenv("ALERTS_TOPIC_ARN", resources.topic_arn)
        monkeypatch.setenv("STATE_TABLE_NAME", resources.table)
        from session_monitor import config

        config.settings.cache_clear()
        yield resources


@pytest.fixture
def athena(alerts: Alerts) -> Iterator[Stubber]:
    """botocore's Stubber on the function's own Athena client: it validates every parameter and
    response against the service model, and fails the test on any call not expected."""
    from session_monitor.integration import clients

    stubber = Stubber(clients.client("athena"))
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def context():
    from tests.helpers import LambdaContext

    return LambdaContext()


@dataclass
class EmulatedAthena:
    """The project's Athena emulator served on loopback, reached through AWS_ENDPOINT_URL_ATHENA."""

    emulator: Any
    server: Any

    @property
    def clock(self):
        return self.emulator.clock

    @property
    def calls(self):
        return self.emulator.calls


@pytest.fixture
def emulated_athena(alerts: Alerts, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatedAthena]:
    """Athena over real HTTP (moto leaves 127.0.0.1 alone), so botocore's retries really run."""
    from local_mode.athena_emulator import FIXED_START, AthenaEmulator, Clock, EmulatorServer
    from session_monitor import clock
    from session_monitor.integration import clients

    emulator = AthenaEmulator(Clock(FIXED_START))
    monkeypatch.setattr(clock, "utc_now", emulator.clock.now)
    with EmulatorServer(emulator) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", server.endpoint_url)
        clients.reset()
        yield EmulatedAthena(emulator, server)
    assert emulator.shape_errors == []
