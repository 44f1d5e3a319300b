"""botocore's retries against the emulator over HTTP (Stubber answers before the retry handler)."""

from __future__ import annotations

import json

from session_monitor.entry import handler
from tests.helpers import api_event


def test_one_throttle_is_retried_and_invisible_to_the_caller(emulated_athena, context):
    session_id = emulated_athena.emulator.start_session(_spark(emulated_athena))
    emulated_athena.emulator.inject_fault(session_id=session_id, operation="GetSession", kind="throttle", times=1)
    response = handler(api_event(f"/sessions/{session_id}"), context)
    assert response["statusCode"] == 200
    assert emulated_athena.calls["GetSession"] == 2  # the throttled attempt and its retry


def test_a_throttling_storm_ends_in_a_503_after_the_retries(emulated_athena, context):
    session_id = emulated_athena.emulator.start_session(_spark(emulated_athena))
    emulated_athena.emulator.inject_fault(session_id=session_id, operation="GetSession", kind="throttle", times=None)
    response = handler(api_event(f"/sessions/{session_id}"), context)
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["error"] == "AthenaThrottled"
    assert emulated_athena.calls["GetSession"] == 2


def test_persistent_5xx_is_a_502(emulated_athena, context):
    session_id = emulated_athena.emulator.start_session(_spark(emulated_athena))
    emulated_athena.emulator.inject_fault(session_id=session_id, operation="GetSession", kind="internal", times=None)
    response = handler(api_event(f"/sessions/{session_id}"), context)
    assert response["statusCode"] == 502


def test_a_server_side_rejection_of_a_long_id_never_happens_because_we_check_first(emulated_athena, context):
    response = handler(api_event("/sessions/" + "a" * 257), context)
    assert response["statusCode"] == 400
    assert emulated_athena.calls["GetSession"] == 0


def _spark(emulated) -> str:
    emulated.emulator.add_workgroup("spark")
    return "spark"
