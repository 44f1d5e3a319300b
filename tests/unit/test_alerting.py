"""What an alert says: subject, attributes for filter policies, body."""

from __future__ import annotations

import json
from datetime import timedelta

from session_monitor import alerting
from session_monitor.model import session_from_get
from tests.helpers import NOW, get_session_response, make_alert


def _alert(session, state, began=NOW, known=True, token=None, resolves=None, note=None):
    return make_alert(session, state, began, known, token, resolves, note)


def test_subject_fits_sns_limits_even_for_a_huge_unicode_id():
    session = session_from_get(get_session_response(session_id="é" * 256, state="FAILED", workgroup="w" * 128), 0.35)
    subject = alerting.subject(_alert(session, "FAILED"))
    assert len(subject) <= 100
    assert subject.isascii() and "\n" not in subject
    assert subject.startswith("[CRITICAL] Athena Spark session FAILED in ")


def test_attributes_and_body_name_the_episode_with_account_and_region():
    began = NOW - timedelta(minutes=1)
    session = session_from_get(get_session_response("s-9", "DEGRADED", "etl", reason="no healthy coordinator"), 0.35)
    alert = _alert(session, "DEGRADED", began)
    episode_id = "123456789012/eu-west-1/s-9#DEGRADED#20261126T115900Z"
    assert alerting.message_attributes(alert) == {
        "state": "DEGRADED",
        "severity": "warning",
        "workgroup": "etl",
        "session_id": "s-9",
        "alert_id": episode_id,
        "account": "123456789012",
        "region": "eu-west-1",
    }
    body = json.loads(alerting.body_json(alert))
    assert body["session_id"] == "s-9" and body["state"] == "DEGRADED"
    assert body["alert"] == {
        "alert_id": episode_id,
        "state": "DEGRADED",
        "severity": "warning",
        "reason": "no healthy coordinator",
        "began_at": "2026-11-26T11:59:00Z",
        "began_at_source": "athena",
        "account": "123456789012",
        "region": "eu-west-1",
        "resolves_alert_id": None,
    }


def test_a_recovered_notice_is_info_and_names_the_degraded_alert_it_resolves():
    session = session_from_get(get_session_response("s-9", "IDLE", "etl"), 0.35)
    alert = _alert(session, "RECOVERED", token="20261126T115900Z", resolves="DEGRADED#20261126T115900Z")
    attributes = alerting.message_attributes(alert)
    assert (attributes["state"], attributes["severity"]) == ("RECOVERED", "info")
    assert attributes["resolves_alert_id"] == "123456789012/eu-west-1/s-9#DEGRADED#20261126T115900Z"
    assert attributes["alert_id"] == "123456789012/eu-west-1/s-9#RECOVERED#20261126T115900Z"
    assert alerting.subject(alert).startswith("[INFO] Athena Spark session RECOVERED in etl")


def test_an_undated_episode_says_its_start_is_when_the_monitor_first_saw_it():
    session = session_from_get(get_session_response("s-1", "FAILED"), 0.35)
    body = alerting.body(_alert(session, "FAILED", known=False))
    assert body["alert"]["began_at_source"] == "first_seen"


def test_idle_alert_is_a_warning_with_the_idle_time():
    session = session_from_get(get_session_response(state="IDLE"), 0.35)
    alert = _alert(session, "IDLE", note="idle for 95 minutes")
    assert (alert.state, alert.severity, alert.reason) == ("IDLE", "warning", "idle for 95 minutes")
