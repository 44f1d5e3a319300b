"""Cold start: what the container keeps is built with the collector paused, and collection resumes."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from session_monitor.coldstart import collector_paused

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if was_enabled:
        gc.enable()


def test_a_block_pauses_the_collector_and_resumes_and_freezes_only_when_asked():
    gc.unfreeze()
    with collector_paused():
        assert not gc.isenabled()
        built = [[] for _ in range(10)]
    assert gc.isenabled() and gc.get_freeze_count() == 0
    with collector_paused(freeze=True):
        kept = [[] for _ in range(10)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(built) + len(kept)


def test_a_block_that_raises_resumes_the_collector_and_freezes_nothing():
    """A failing import or client creation is retried by the next event: it must not freeze what
    that event had alive, nor leave the collector off."""
    gc.unfreeze()
    with pytest.raises(ImportError), collector_paused(freeze=True):
        raise ImportError("no module named pydantic_core")
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_re_creating_clients_does_not_freeze_what_is_alive():
    """The test suite resets the clients for every test (a deployed container creates a handful):
    a freeze per client creation made a pytest process keep every dead cycle, to gigabytes."""
    from session_monitor.integration import clients

    gc.unfreeze()
    for _ in range(20):
        clients.reset()
        clients.client("sns")
    assert gc.get_freeze_count() == 0


def test_only_the_outer_block_resumes_and_a_collector_turned_off_elsewhere_stays_off():
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()  # still inside the outer block
    assert gc.isenabled()
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_after_a_cold_start_cyclic_garbage_is_collected_again():
    """A fresh interpreter imports the handler as Lambda does; a reference cycle made afterwards,
    like any an invocation leaves, is still reclaimed by the collector running on its own."""
    child = (
        "import gc, weakref\n"
        "import session_monitor.entry\n"
        "from session_monitor.integration import clients\n"
        "clients.client('athena')\n"
        "assert gc.isenabled(), 'the collector was left off'\n"
        "class Node: pass\n"
        "a, b = Node(), Node(); a.other, b.other = b, a\n"
        "gone = weakref.ref(a); del a, b\n"
        "for _ in range(200): [[] for _ in range(1000)]\n"  # allocations trigger collections
        "assert gone() is None, 'a reference cycle was never collected'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "lambda_src"), "AWS_DEFAULT_REGION": "us-east-1"}
    proc = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_warm_api_requests_pause_and_freeze_nothing(athena, alerts, context):
    """Only the first API event imports the resolver under a pause; a freeze on every request would
    keep each request's reference cycles for the container's life."""
    from session_monitor.entry import handler
    from tests.helpers import api_event, get_session_response

    for _ in range(3):
        athena.add_response("get_session", get_session_response("s-1", "IDLE"), {"SessionId": "s-1"})
    assert handler(api_event("/sessions/s-1"), context)["statusCode"] == 200  # may be the first
    frozen = gc.get_freeze_count()
    alive = [[] for _ in range(1000)]  # tracked and alive: a freeze now would take them
    for _ in range(2):
        assert handler(api_event("/sessions/s-1"), context)["statusCode"] == 200
    assert gc.get_freeze_count() <= frozen, "a warm request froze what was alive"  # frozen objects may be freed
    assert len(alive) == 1000
