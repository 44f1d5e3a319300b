"""The Lambda handler: recognise the event's shape, route it, shape the answer.

``ROUTES`` is the table of event shapes, one row each (the README documents each):
- API Gateway REST proxy event            -> the HTTP API (``api``), imported on first use
- EventBridge "Scheduled Event"           -> a sweep of the watched workgroups
- EventBridge "AWS API Call via CloudTrail" from aws.athena (StartSession, TerminateSession)
                                          -> follow the session (``discovery``)
- EventBridge event with detail.SessionId -> check that session
- SQS batch of queued work                -> {"workgroup"}: sweep it (fan-out mode);
                                             {"SessionId"}: a delayed follow-up check
- {"SessionId": ...} / {"session_id": ...} (Invoke, Step Functions, Scheduler) -> check that session
- {"action": "sweep"} (Scheduler, Step Functions)  -> a sweep
The first row whose predicate matches handles the event; anything else raises UnsupportedEvent.
Errors on non-HTTP paths are raised as the named classes of ``errors`` so Step Functions can
Retry/Catch them and asynchronous invocations are retried.
"""

from __future__ import annotations

from .coldstart import collector_paused

with collector_paused(freeze=True):  # everything imported here lives as long as the container
    import functools
    import json
    from collections.abc import Callable, Mapping
    from dataclasses import dataclass
    from typing import Any

    from aws_lambda_powertools.utilities.typing import LambdaContext

    import session_contract as contract

    from . import monitor, validation
    from .errors import SweepIncomplete, UnsupportedEvent
    from .observability import logger, metrics, tracer

SESSION_ID_KEYS = ("SessionId", "session_id")
Event = Mapping[str, Any]


@dataclass(frozen=True)
class Route:
    name: str
    matches: Callable[[Event], bool]
    handle: Callable[[Event, LambdaContext], Any]


def _session_id_in(payload: object) -> tuple[bool, Any]:
    if isinstance(payload, Mapping):
        for key in SESSION_ID_KEYS:
            if key in payload:
                return True, payload[key]
    return False, None


# --- predicates ---------------------------------------------------------------------------------


def _is_api_event(event: Event) -> bool:
    return "httpMethod" in event and isinstance(event.get("requestContext"), Mapping)


def _is_eventbridge_event(event: Event) -> bool:
    return "detail-type" in event and "source" in event


def _is_cloudtrail_event(event: Event) -> bool:
    return (
        event.get("source") == contract.CLOUDTRAIL_SOURCE
        and event.get("detail-type") == contract.CLOUDTRAIL_DETAIL_TYPE
    )


def _is_scheduled_event(event: Event) -> bool:
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


def _is_sqs_batch(event: Event) -> bool:
    records = event.get("Records")
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records)
    )


def _names_a_session(event: Event) -> bool:
    return _session_id_in(event)[0]


def _asks_for_a_sweep(event: Event) -> bool:
    return event.get("action") == "sweep"


# --- handlers -----------------------------------------------------------------------------------


@functools.cache
def _http_api() -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The HTTP API, imported on the first API event only: the resolver and pydantic are not
    needed by sweeps and direct checks. Once: a warm request must not pause or freeze anything."""
    with collector_paused(freeze=True):
        from . import api

    return api.handle


def _api(event: Event, context: LambdaContext) -> Any:
    logger.set_correlation_id(str(event["requestContext"].get("requestId") or "") or None)
    return _http_api()(dict(event), context)


def _sweep(event: Event, _context: LambdaContext) -> Any:
    if _is_eventbridge_event(event):
        logger.set_correlation_id(str(event.get("id") or "") or None)
    from . import sweep

    return sweep.run_scheduled_sweep().to_dict()


def _eventbridge_session(event: Event, _context: LambdaContext) -> Any:
    logger.set_correlation_id(str(event.get("id") or "") or None)
    found, session_id = _session_id_in(event.get("detail"))
    if not found:
        raise UnsupportedEvent("EventBridge event has no detail.SessionId and is not a scheduled event")
    return monitor.check_session(session_id).to_dict()


def _cloudtrail(event: Event, _context: LambdaContext) -> Any:
    logger.set_correlation_id(str(event.get("id") or "") or None)
    from . import discovery

    return discovery.on_api_call(event.get("detail"))


def _direct_session(event: Event, _context: LambdaContext) -> Any:
    return monitor.check_session(_session_id_in(event)[1]).to_dict()


def _sqs_sweep_batch(event: Event, context: LambdaContext) -> Any:
    """Fan-out mode: ``{"workgroup": name}`` messages, with Powertools' partial-batch failures."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from . import sweep

    def work(record: SQSRecord) -> dict[str, Any]:
        try:
            body = json.loads(record.body or "")
            if isinstance(body, dict) and "SessionId" in body:  # a follow-up check (CloudTrail discovery)
                return _follow_up(body)
            name = validation.workgroup(body.get("workgroup"))
        except (ValueError, AttributeError, TypeError):
            raise SweepIncomplete('queued work is not {"workgroup": NAME} or {"SessionId": ID}') from None
        return sweep.sweep_one_workgroup(name).to_dict()

    # Every record failing is still a partial-batch answer (each retried, then its DLQ), not an
    # unnamed BatchProcessingError.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=dict(event), record_handler=work, processor=processor, context=context)


def _follow_up(body: dict[str, Any]) -> dict[str, Any]:
    from . import discovery

    attempt = body.get("attempt")
    return discovery.on_follow_up(
        validation.session_id(body["SessionId"]),
        str(body.get("reason") or "start"),
        attempt if isinstance(attempt, int) and attempt > 0 else 1,
    )


ROUTES: tuple[Route, ...] = (
    Route("api", _is_api_event, _api),
    Route("scheduled sweep", _is_scheduled_event, _sweep),
    Route("cloudtrail api call", _is_cloudtrail_event, _cloudtrail),
    Route("eventbridge session", _is_eventbridge_event, _eventbridge_session),
    Route("sqs sweep batch", _is_sqs_batch, _sqs_sweep_batch),
    Route("direct session", _names_a_session, _direct_session),
    Route("direct sweep", _asks_for_a_sweep, _sweep),
)


def route(event: object, context: LambdaContext) -> Any:
    if not isinstance(event, Mapping):
        raise UnsupportedEvent(f"expected a JSON object, got {type(event).__name__}")
    for candidate in ROUTES:
        if candidate.matches(event):
            return candidate.handle(event, context)
    # Keys only: an event sent here by mistake may carry data that does not belong in our logs.
    raise UnsupportedEvent(
        "unrecognised event: expected an API Gateway request, an EventBridge event, "
        'or {"SessionId": "..."}; got keys ' + ", ".join(sorted(map(str, event))[:10])
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return route(event, context)
