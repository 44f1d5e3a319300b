"""Use cases: check one session, list a workgroup's sessions, send an alert exactly once.

No AWS SDK here: AWS is reached only through the small functions of ``integration``.
"""

from __future__ import annotations

from typing import Any

from . import alerting, clock, validation
from .alerting import Alert
from .config import settings
from .errors import AlertDeliveryFailed, StateStoreUnavailable
from .integration import athena, sns, state_store
from .model import Session, session_from_get, summary_from_list
from .observability import count, count_error, count_sessions_by_state, logger

# Long enough for one SNS publish with retries; short enough that an alert whose sender died
# is picked up again by the next scheduled sweep.
ALERT_LEASE_SECONDS = 120


def fetch_session(session_id: object) -> Session:
    """GetSession and normalise, with no alerting (the sweep decides itself when to alert)."""
    valid_id = validation.session_id(session_id)
    return session_from_get(athena.get_session(valid_id), settings().price_per_dpu_hour)


def check_session(session_id: object, *, raise_on_alert_failure: bool = True) -> Session:
    """Look at one session and alert on it if its state calls for it (once per state).

    With ``raise_on_alert_failure`` False (the HTTP API), a failed alert is logged and counted and
    the session is still returned; nothing is recorded, so the next look sends the alert.
    """
    session = fetch_session(session_id)
    count_sessions_by_state([session.state])
    logger.info("session checked", extra={"session_id": session.session_id, "state": session.state,
                                          "workgroup": session.workgroup})
    alert = alerting.alert_for(session)
    if alert is not None:
        try:
            notify_once(alert)
        except (AlertDeliveryFailed, StateStoreUnavailable) as error:
            if raise_on_alert_failure:
                raise
            count_error(error.code)
            logger.warning("alert not sent; the next look retries it", extra={"error": error.code})
    return session


SENT_NOW, ALREADY_SENT, IN_FLIGHT = "sent", "already_sent", "in_flight"


def notify_once(alert: Alert, now: int | None = None) -> str:
    """Publish ``alert`` unless it was already sent.

    Returns SENT_NOW (this call published it), ALREADY_SENT (sent or suppressed before), or
    IN_FLIGHT (another look holds the claim: not done yet, so a later look must try again).

    Order that loses nothing: claim (short lease) -> publish -> record SENT. If SNS refuses, the
    claim is released and the error raised, so the caller's retry publishes. If the process dies
    after SNS accepted but before the record, the lease expires and the alert is published again:
    delivery is at-least-once, and both copies carry the same ``alert_id`` attribute.
    """
    topic_arn, table = settings().require_alerting()
    session_id, state = alert.session.session_id, alert.state
    now = clock.epoch_seconds() if now is None else now
    token, holder = state_store.claim_alert(table, session_id, state, now, ALERT_LEASE_SECONDS,
                                            settings().alert_record_ttl_days * 86_400)
    if token is None:
        logger.debug("alert not claimed", extra={"alert_id": alert.alert_id, "holder": holder})
        return IN_FLIGHT if holder == state_store.PENDING else ALREADY_SENT
    try:
        message_id = sns.publish_alert(topic_arn, alerting.subject(alert), alerting.body_json(alert),
                                       alerting.message_attributes(alert))
    except AlertDeliveryFailed:
        try:
            state_store.release_alert(table, session_id, state, token)
        except StateStoreUnavailable:
            pass  # the lease runs out on its own
        raise
    state_store.confirm_alert(table, session_id, state, token, message_id, clock.epoch_seconds())
    count("AlertsPublished")
    logger.info("alert published", extra={"alert_id": alert.alert_id, "severity": alert.severity,
                                          "message_id": message_id})
    return SENT_NOW


def list_workgroup_sessions(workgroup: object, next_token: object = None, max_results: object = 50) -> dict[str, Any]:
    """One page of a workgroup's sessions as normalised summaries, with the token for the next."""
    name = validation.workgroup(workgroup)
    page = athena.list_sessions(name, validation.next_token(next_token), validation.max_results(max_results))
    sessions = [summary_from_list(raw, name) for raw in page.get("Sessions") or [] if isinstance(raw, dict)]
    return {
        "workgroup": name,
        "sessions": [s.to_dict() for s in sessions],
        "next_token": page.get("NextToken") or None,
    }
