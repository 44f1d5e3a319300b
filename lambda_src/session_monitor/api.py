"""The HTTP API (API Gateway REST, proxy integration), built on Powertools' Event Handler.

Imported only when an API event arrives: the resolver and its pydantic validation are not needed
by scheduled sweeps or direct invocations.
"""

from __future__ import annotations

import json
import os
import re
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from . import monitor
from .errors import SessionMonitorError
from .model import Session, SessionSummary
from .observability import count_error, logger
from .validation import MAX_RESULTS_RANGE, NEXT_TOKEN_MAX_LENGTH, SESSION_ID_MAX_LENGTH, WORKGROUP_PATTERN

app = APIGatewayRestResolver(enable_validation=True)
app.configure_openapi(
    title="Athena Spark session monitor",
    version="1.0.0",
    summary="State of Amazon Athena for Apache Spark sessions, normalised.",
)
if os.environ.get("ENABLE_SWAGGER_UI", "").lower() == "true":
    # Local mode only: Swagger UI is public when enabled, and the deployed API routes only /sessions.
    app.enable_swagger(path="/swagger")


class SessionPage(BaseModel):
    workgroup: str
    sessions: list[SessionSummary]
    next_token: str | None = None


class ErrorBody(BaseModel):
    error: str
    message: str
    retryable: bool


ERROR_RESPONSES: dict[int, OpenAPIResponse] = {
    code: {"description": text, "content": {"application/json": {"model": ErrorBody}}}
    for code, text in (
        (400, "Invalid input"),
        (404, "Unknown session or workgroup"),
        (502, "Athena or SNS failed"),
        (503, "Athena is throttling"),
        (504, "Athena timed out"),
    )
}


def _responses(model: type, description: str) -> dict[int, OpenAPIResponse]:
    return {200: {"description": description, "content": {"application/json": {"model": model}}}, **ERROR_RESPONSES}


@app.get(
    "/sessions/<session_id>",
    summary="Get one session, normalised",
    responses=_responses(Session, "The session (an alert is sent if its state calls for one)"),
    tags=["sessions"],
)
def get_session(
    session_id: Annotated[str, Path(min_length=1, max_length=SESSION_ID_MAX_LENGTH, description="Athena SessionId")],
) -> Session:
    # API Gateway's own extraction of {session_id} is authoritative (see _routable).
    real_id = (app.current_event.path_parameters or {}).get("session_id", session_id)
    return monitor.check_session(real_id, raise_on_alert_failure=False)


@app.get(
    "/sessions",
    summary="List a workgroup's sessions, a page at a time",
    responses=_responses(SessionPage, "One page of normalised session summaries"),
    tags=["sessions"],
)
def list_sessions(
    workgroup: Annotated[str, Query(pattern=f"^{WORKGROUP_PATTERN.pattern}$", description="Athena workgroup name")],
    next_token: Annotated[str | None, Query(max_length=NEXT_TOKEN_MAX_LENGTH)] = None,
    max_results: Annotated[int, Query(ge=MAX_RESULTS_RANGE[0], le=MAX_RESULTS_RANGE[1])] = 50,
) -> SessionPage:
    return SessionPage(**monitor.list_workgroup_sessions(workgroup, next_token, max_results))


def _error(status: int, body: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@app.exception_handler(RequestValidationError)
def _invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
    # Powertools answers 422 by default; the documented contract is 400 with our error body.
    fields = sorted({".".join(str(p) for p in e.get("loc", ())[1:]) or "request" for e in error.errors()})
    count_error("InvalidInput")
    return _error(
        400, {"error": "InvalidInput", "message": f"invalid parameter: {', '.join(fields)}", "retryable": False}
    )


@app.exception_handler(SessionMonitorError)
def _known_error(error: SessionMonitorError) -> Response[dict[str, Any]]:
    count_error(error.code)
    logger.info("request failed", extra={"error": error.code, "status": error.status_code})
    return _error(error.status_code, error.to_body())


@app.exception_handler(Exception)
def _unexpected_error(error: Exception) -> Response[dict[str, Any]]:
    # Never a stack trace to the caller; the log keeps it for us.
    count_error("InternalError")
    logger.exception("unexpected error")
    return _error(500, {"error": "InternalError", "message": "internal error", "retryable": True})


@app.not_found
def _no_route(_not_found: Exception) -> Response[dict[str, Any]]:
    return _error(404, {"error": "RouteNotFound", "message": "no such route", "retryable": False})


SESSION_PATH_PREFIX = "/sessions/"
# The characters the resolver's <param> pattern accepts (Powertools' _SAFE_URI, _UNSAFE_URI, \w).
_ROUTABLE_ID = re.compile(r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+")


def _routable(event: dict[str, Any]) -> dict[str, Any]:
    """A SessionId may hold any character (the model has no pattern), but the resolver's path
    parameters stop at '/', '?', control and symbol characters, and its pattern's '$' also matches
    before a trailing newline ("/sessions/\n" would reach the list route). For such ids, route on a
    placeholder and keep the id in pathParameters, where API Gateway put it: no valid id is refused."""
    path = event.get("path")
    if not isinstance(path, str) or not path.startswith(SESSION_PATH_PREFIX) or len(path) == len(SESSION_PATH_PREFIX):
        return event
    raw_id = path[len(SESSION_PATH_PREFIX) :]
    if _ROUTABLE_ID.fullmatch(raw_id):
        return event
    given = event.get("pathParameters")
    parameters: dict[str, Any] = given if isinstance(given, dict) else {}
    return {
        **event,
        "path": SESSION_PATH_PREFIX + "_",
        "pathParameters": {**parameters, "session_id": parameters.get("session_id") or raw_id},
    }


# REST proxy event members and the types API Gateway sends them as (None where it may send null).
_EVENT_SHAPE: dict[str, tuple[type, ...]] = {
    "path": (str,),
    "httpMethod": (str,),
    "requestContext": (dict,),
    "headers": (dict, type(None)),
    "multiValueHeaders": (dict, type(None)),
    "queryStringParameters": (dict, type(None)),
    "multiValueQueryStringParameters": (dict, type(None)),
    "pathParameters": (dict, type(None)),
    "body": (str, type(None)),
}
_STRING_MAPS = ("headers", "queryStringParameters", "pathParameters")
_STRING_LIST_MAPS = ("multiValueHeaders", "multiValueQueryStringParameters")


def _strings(values: Any) -> bool:
    return isinstance(values, list) and all(isinstance(v, str) for v in values)


def _well_formed(event: dict[str, Any]) -> bool:
    members = all(isinstance(event.get(key), kinds) for key, kinds in _EVENT_SHAPE.items())
    maps = members and all(_strings(list((event.get(key) or {}).values())) for key in _STRING_MAPS)
    return maps and all(_strings(values) for key in _STRING_LIST_MAPS for values in (event.get(key) or {}).values())


def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Resolve one REST proxy event; an event API Gateway would never send gets a 400."""
    if not _well_formed(event):
        count_error("MalformedRequest")
        logger.warning("malformed API Gateway event", extra={"keys": sorted(map(str, event))[:20]})
        return {
            "statusCode": 400,
            "multiValueHeaders": {"Content-Type": ["application/json"]},
            "body": json.dumps(
                {"error": "MalformedRequest", "message": "not a valid API Gateway REST proxy event", "retryable": False}
            ),
            "isBase64Encoded": False,
        }
    return app.resolve(_routable(event), context)
