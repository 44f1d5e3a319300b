"""The Lambda handler: recognise the event's shape, route it, shape the answer.

Shapes (the README documents each):
- API Gateway REST proxy event           -> the HTTP API (``api``), imported on first use
- EventBridge "Scheduled Event"          -> a sweep of the watched workgroups
- SQS batch of sweep work (fan-out mode) -> a sweep of the workgroups named in the messages
- EventBridge event with detail.SessionId -> check that session
- {"SessionId": ...} / {"session_id": ...} (Invoke, Step Functions, Scheduler) -> check that session
- {"action": "sweep"} (Scheduler, Step Functions)  -> a sweep
Anything else raises UnsupportedEvent. Errors on non-HTTP paths are raised as the named classes of
``errors`` so Step Functions can Retry/Catch them and asynchronous invocations are retried.
"""

from __future__ import annotations

from typing import Any, Mapping

from aws_lambda_powertools.utilities.typing import LambdaContext

from . import monitor
from .errors import UnsupportedEvent
from .observability import logger, metrics, tracer

SESSION_ID_KEYS = ("SessionId", "session_id")


def _session_id_in(payload: Mapping[str, Any]) -> tuple[bool, Any]:
    for key in SESSION_ID_KEYS:
        if key in payload:
            return True, payload[key]
    return False, None


def _is_api_event(event: Mapping[str, Any]) -> bool:
    return "httpMethod" in event and isinstance(event.get("requestContext"), Mapping)


def _is_eventbridge_event(event: Mapping[str, Any]) -> bool:
    return "detail-type" in event and "source" in event


def _is_sqs_batch(event: Mapping[str, Any]) -> bool:
    records = event.get("Records")
    return isinstance(records, list) and bool(records) and all(
        isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records
    )


def route(event: object, context: LambdaContext) -> Any:
    if not isinstance(event, Mapping):
        raise UnsupportedEvent(f"expected a JSON object, got {type(event).__name__}")

    if _is_api_event(event):
        logger.set_correlation_id(str(event["requestContext"].get("requestId") or "") or None)
        from . import api  # the resolver and pydantic only for HTTP requests

        return api.handle(dict(event), context)

    if _is_eventbridge_event(event):
        logger.set_correlation_id(str(event.get("id") or "") or None)
        if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
            from . import sweep

            return sweep.run_scheduled_sweep().to_dict()
        detail = event.get("detail")
        found, session_id = _session_id_in(detail) if isinstance(detail, Mapping) else (False, None)
        if not found:
            raise UnsupportedEvent("EventBridge event has no detail.SessionId and is not a scheduled event")
        return monitor.check_session(session_id).to_dict()

    if _is_sqs_batch(event):
        from . import sweep

        return sweep.handle_work_batch(dict(event), context)

    found, session_id = _session_id_in(event)
    if found:
        return monitor.check_session(session_id).to_dict()
    if event.get("action") == "sweep":
        from . import sweep

        return sweep.run_scheduled_sweep().to_dict()
    # Keys only: an event sent here by mistake may carry data that does not belong in our logs.
    raise UnsupportedEvent(
        "unrecognised event: expected an API Gateway request, an EventBridge event, "
        "or {\"SessionId\": \"...\"}; got keys " + ", ".join(sorted(map(str, event))[:10])
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return route(event, context)
