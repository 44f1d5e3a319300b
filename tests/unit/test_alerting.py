"""What an alert says: subject, attributes for filter policies, body."""

from __future__ import annotations

import json

import pytest

from session_monitor import alerting
from session_monitor.model import ALL_STATES, session_from_get
from tests.helpers import get_session_response


@pytest.mark.parametrize("state", ALL_STATES)
def test_only_failed_degraded_and_terminated_call_for_an_alert(state):
    alert = alerting.alert_for(session_from_get(get_session_response(state=state), 0.35))
    assert (alert is not None) is (state in ("FAILED", "DEGRADED", "TERMINATED"))


def test_subject_fits_sns_limits_even_for_a_huge_unicode_id():
    session = session_from_get(get_session_response(session_id="é" * 256, state="FAILED", workgroup="w" * 128), 0.35)
    subject = alerting.subject(alerting.alert_for(session))
    assert len(subject) <= 100
    assert subject.isascii() and "\n" not in subject
    assert subject.startswith("[CRITICAL] Athena Spark session FAILED in ")


def test_attributes_and_body_carry_the_state_and_a_dedup_key():
    session = session_from_get(get_session_response("s-9", "DEGRADED", "etl", reason="no healthy coordinator"), 0.35)
    alert = alerting.alert_for(session)
    assert alerting.message_attributes(alert) == {
        "state": "DEGRADED", "severity": "warning", "workgroup": "etl", "session_id": "s-9", "alert_id": "s-9#DEGRADED",
    }
    body = json.loads(alerting.body_json(alert))
    assert body["session_id"] == "s-9" and body["state"] == "DEGRADED"
    assert body["alert"] == {"alert_id": "s-9#DEGRADED", "state": "DEGRADED", "severity": "warning",
                             "reason": "no healthy coordinator"}


def test_idle_alert_is_a_warning_with_the_idle_time():
    session = session_from_get(get_session_response(state="IDLE"), 0.35)
    alert = alerting.idle_alert(session, 95)
    assert (alert.state, alert.severity, alert.reason) == ("IDLE", "warning", "idle for 95 minutes")
