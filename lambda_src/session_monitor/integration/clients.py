"""boto3 clients, created once per container and only when first used (cold start).

Endpoints come from the standard AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> variables, so
local mode (moto server, the Athena emulator) runs exactly this code.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from ..coldstart import collector_paused

# Adaptive retry backs off on throttling with a client-side rate limiter instead of hammering
# the API; 4 attempts in all. Timeouts are short enough that a dead endpoint fails an API call
# well inside API Gateway's 29 s integration timeout.
CLIENT_CONFIG = Config(
    retries={"mode": "adaptive", "total_max_attempts": 4},
    connect_timeout=2,
    read_timeout=5,
    tcp_keepalive=True,
    max_pool_connections=64,  # the sweep's thread pool shares one client
)

# State-change events must never hold up an API answer or a sweep's save: EventBridge gets short
# timeouts and two attempts (a hanging endpoint costs ~4 s, not ~20 s); events.py fails the rest
# of a put at once after one whole call failed.
EVENTS_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 2},
    connect_timeout=1,
    read_timeout=2,
    tcp_keepalive=True,
    max_pool_connections=64,
)
SERVICE_CONFIGS = {"events": EVENTS_CLIENT_CONFIG}

_clients: dict[str, Any] = {}
_session: boto3.session.Session | None = None
_lock = threading.Lock()


def client(service: str) -> Any:
    """The shared client for ``service`` (thread safe: boto3 clients are; the session is used
    under the lock only). One session for every client: each new session reloads the endpoint
    and partition data, which cost ~40 ms per extra client on a cold start (measured)."""
    global _session
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:
        if service not in _clients:
            with collector_paused():  # a client lives as long as the container
                if _session is None:
                    _session = boto3.session.Session()
                _clients[service] = _session.client(service, config=SERVICE_CONFIGS.get(service, CLIENT_CONFIG))
        return _clients[service]


def reset() -> None:
    """Forget every client and the session (tests switch endpoints and credentials between cases)."""
    global _session
    with _lock:
        _clients.clear()
        _session = None
