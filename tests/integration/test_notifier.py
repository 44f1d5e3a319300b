"""The notifier port: the ledger's once-per-episode guarantee holds for any channel."""

from __future__ import annotations

from datetime import timedelta

import pytest

from session_monitor import monitor
from session_monitor.alerting import Alert
from session_monitor.errors import AlertDeliveryFailed
from session_monitor.ledger import END, Episode
from session_monitor.model import session_from_get
from tests.helpers import NOW, get_session_response


class Inbox:
    """A second channel, as a new integration module would add one: it keeps what it was given."""

    name = "inbox"

    def __init__(self, refuse: int = 0) -> None:
        self.delivered: list[str] = []
        self.refuse = refuse

    def publish(self, alert: Alert) -> str:
        if self.refuse:
            self.refuse -= 1
            raise AlertDeliveryFailed("inbox is full")
        self.delivered.append(alert.alert_id)
        return f"inbox-{len(self.delivered)}"


def _alert(session_id: str = "s-1") -> Alert:
    session = session_from_get(get_session_response(session_id, "FAILED"), 0.35)
    return Alert(
        session, Episode(session_id, "FAILED", END, NOW - timedelta(minutes=1), True), "123456789012", "us-east-1"
    )


def test_any_channel_gets_each_episode_once_through_the_ledger(alerts):
    inbox = Inbox()
    assert monitor.notify_once(_alert(), inbox) == "sent"
    assert monitor.notify_once(_alert(), inbox) == "already_sent"
    assert inbox.delivered == ["123456789012/us-east-1/s-1#FAILED#END"]
    assert alerts.received() == []  # the SNS topic was not involved


def test_a_channel_that_refuses_releases_the_claim_so_the_retry_delivers(alerts):
    inbox = Inbox(refuse=1)
    with pytest.raises(AlertDeliveryFailed):
        monitor.notify_once(_alert(), inbox)
    assert monitor.notify_once(_alert(), inbox) == "sent"
    assert len(inbox.delivered) == 1


def test_the_default_channel_is_the_alerts_topic(alerts):
    assert monitor.notify_once(_alert("s-2")) == "sent"
    [received] = alerts.received()
    assert received["attributes"]["alert_id"] == "123456789012/us-east-1/s-2#FAILED#END"
