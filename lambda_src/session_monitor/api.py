"""The HTTP API (API Gateway REST, proxy integration), built on Powertools' Event Handler.

Imported only when an API event arrives: the resolver and its pydantic validation are not needed
by scheduled sweeps or direct invocations.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Optional

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from . import monitor
from .errors import SessionMonitorError
from .model import Session, SessionSummary
from .observability import count_error, logger
from .validation import MAX_RESULTS_RANGE, NEXT_TOKEN_MAX_LENGTH, SESSION_ID_MAX_LENGTH

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
    next_token: Optional[str] = None


class ErrorBody(BaseModel):
    error: str
    message: str
    retryable: bool


ERROR_RESPONSES: dict[int | str, Any] = {
    code: {"description": text, "content": {"application/json": {"model": ErrorBody}}}
    for code, text in ((400, "Invalid input"), (404, "Unknown session or workgroup"),
                       (502, "Athena or SNS failed"), (503, "Athena is throttling"), (504, "Athena timed out"))
}


def _responses(model: type, description: str) -> dict[int | str, Any]:
    return {200: {"description": description, "content": {"application/json": {"model": model}}}, **ERROR_RESPONSES}


@app.get("/sessions/<session_id>", summary="Get one session, normalised",
         responses=_responses(Session, "The session (an alert is sent if its state calls for one)"),
         tags=["sessions"])
def get_session(
    session_id: Annotated[str, Path(min_length=1, max_length=SESSION_ID_MAX_LENGTH, description="Athena SessionId")],
) -> Session:
    return monitor.check_session(session_id, raise_on_alert_failure=False)


@app.get("/sessions", summary="List a workgroup's sessions, a page at a time",
         responses=_responses(SessionPage, "One page of normalised session summaries"),
         tags=["sessions"])
def list_sessions(
    workgroup: Annotated[str, Query(pattern=r"^[a-zA-Z0-9._-]{1,128}$", description="Athena workgroup name")],
    next_token: Annotated[Optional[str], Query(max_length=NEXT_TOKEN_MAX_LENGTH)] = None,
    max_results: Annotated[int, Query(ge=MAX_RESULTS_RANGE[0], le=MAX_RESULTS_RANGE[1])] = 50,
) -> SessionPage:
    return SessionPage(**monitor.list_workgroup_sessions(workgroup, next_token, max_results))


def _error(status: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@app.exception_handler(RequestValidationError)
def _invalid_request(error: RequestValidationError) -> Response:
    # Powertools answers 422 by default; the documented contract is 400 with our error body.
    fields = sorted({".".join(str(p) for p in e.get("loc", ())[1:]) or "request" for e in error.errors()})
    count_error("InvalidInput")
    return _error(400, {"error": "InvalidInput", "message": f"invalid parameter: {', '.join(fields)}",
                        "retryable": False})


@app.exception_handler(SessionMonitorError)
def _known_error(error: SessionMonitorError) -> Response:
    count_error(error.code)
    logger.info("request failed", extra={"error": error.code, "status": error.status_code})
    return _error(error.status_code, error.to_body())


@app.exception_handler(Exception)
def _unexpected_error(error: Exception) -> Response:
    # Never a stack trace to the caller; the log keeps it for us.
    count_error("InternalError")
    logger.exception("unexpected error")
    return _error(500, {"error": "InternalError", "message": "internal error", "retryable": True})


@app.not_found
def _no_route(_not_found: Exception) -> Response:
    return _error(404, {"error": "RouteNotFound", "message": "no such route", "retryable": False})


def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
