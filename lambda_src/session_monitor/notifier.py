"""The notifier port: how an alert leaves the function, whatever the channel.

``monitor.notify_once`` claims an episode in the ledger, hands the alert to a ``Notifier`` and
records what it answered; it knows nothing of SNS. A channel is one class in ``integration/``
implementing this protocol, plus its construct in infra/. SNS is the one channel today: e-mail,
chat cards and FIFO queues are readers of its topic (``messages`` renders each reader's part),
and state-change events are not alerts, so they do not go through this port (decisions 20, 30).
Pure: no AWS SDK here.
"""

from __future__ import annotations

from typing import Protocol

from .alerting import Alert


class Notifier(Protocol):
    """Delivers one alert and returns the channel's message id. Any ``SessionMonitorError`` it
    raises (``AlertDeliveryFailed``, ``AccessDenied``...) means nothing was delivered: the claim
    is released and the next look retries."""

    name: str

    def publish(self, alert: Alert) -> str: ...
