"""The function's HTTP API on 127.0.0.1, the way API Gateway (REST, Lambda proxy) calls it.

Each HTTP request becomes an API Gateway REST v1 proxy event (the shape of
tests/events/api_get_session.json) handed to the real ``session_monitor.entry.handler`` with a
Lambda context; the proxy result (statusCode, headers, multiValueHeaders, body, isBase64Encoded)
becomes the HTTP response. Nothing here knows the routes: the function's Powertools resolver does
the routing, the validation and the OpenAPI document, exactly as deployed.

Swagger UI (/swagger, and the OpenAPI JSON at /swagger?format=json) is served by the function
itself when ENABLE_SWAGGER_UI=true was set before ``session_monitor.api`` was imported. Powertools
inlines the Swagger UI script and stylesheet it ships in the wheel into that page, so it renders
with no network access.

Only loopback names are served: a request whose Host is not 127.0.0.1, localhost or [::1] with
this server's port gets 421 and never reaches the function. Binding 127.0.0.1 keeps other machines
out, but not a web page: one served from attacker.example whose name is later re-pointed at
127.0.0.1 (DNS rebinding) makes the browser send its requests here, same-origin as far as the
browser can tell, with Host: attacker.example:PORT. ``session-monitor serve`` answers with real
AWS credentials, so that page could read sessions; the Host check stops it.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local_mode.loopback import BackgroundServer, LoopbackHTTPServer

__all__ = ["ApiServer", "LambdaContext", "ensure_function_importable", "invoke", "proxy_event"]

ACCOUNT_ID = "123456789012"
API_ID = "local"
STAGE = "v1"  # infra.constants.API_STAGE_NAME
FUNCTION_NAME = "athena-session-monitor"
FUNCTION_TIMEOUT_SECONDS = 300  # infra.constants.FUNCTION_TIMEOUT_SECONDS
# The resources the stack declares (infra/api.py); any other path reaches the function through a
# greedy resource, so the function's own 404 answers it.
RESOURCES = (
    (re.compile(r"^/sessions$"), "/sessions", ()),
    (re.compile(r"^/sessions/([^/]+)$"), "/sessions/{session_id}", ("session_id",)),
)
PROXY_RESOURCE = "/{proxy+}"

# One Lambda container handles one event at a time: the API server's threads and the runner's
# schedule take turns, so Powertools' logger and metrics singletons never see two invocations.
_invoke_lock = threading.Lock()
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
MISDIRECTED = 421  # RFC 9110: this server is not configured to answer for that authority


def allowed_hosts(port: int) -> frozenset[str]:
    """The Host header values this server answers (lower case): a loopback name and its port."""
    hosts = {f"{name}:{port}" for name in LOOPBACK_HOSTS}
    if port == 80:  # a client may leave the default port out
        hosts |= set(LOOPBACK_HOSTS)
    return frozenset(hosts)


@dataclass
class LambdaContext:
    """The Lambda context attributes Powertools reads; a fresh request id per invocation."""

    function_name: str = FUNCTION_NAME
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{FUNCTION_NAME}"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = f"/aws/lambda/{FUNCTION_NAME}"
    log_stream_name: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y/%m/%d/[$LATEST]local"))
    _deadline: float = field(default_factory=lambda: time.monotonic() + FUNCTION_TIMEOUT_SECONDS, repr=False)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def ensure_function_importable() -> None:
    """Run from a checkout without ``make dev``: the function's package is under lambda_src/."""
    if importlib.util.find_spec("session_monitor") is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lambda_src"))


def _function_handler() -> Callable[[dict[str, Any], Any], Any]:
    # Imported on first use: the caller sets the function's environment before this import.
    ensure_function_importable()
    from session_monitor.entry import handler

    return handler


def invoke(event: dict[str, Any], handler: Callable[[dict[str, Any], Any], Any] | None = None) -> Any:
    """Invoke the function's handler as Lambda does: one event at a time, a fresh context each."""
    handler = handler or _function_handler()
    with _invoke_lock:
        return handler(event, LambdaContext())


def proxy_event(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str = "127.0.0.1",
    stage: str = STAGE,
) -> dict[str, Any]:
    """The API Gateway REST v1 proxy event for one HTTP request.

    ``target`` is the request line's path and query, as received. Paths and parameters are
    percent-decoded, as API Gateway passes them. ``requestContext.path`` has no stage prefix:
    locally the API is served at the root, as behind a custom domain, so the Swagger UI's "Try it
    out" calls /sessions here (Powertools puts the stage in the OpenAPI servers only when the
    request path starts with it).
    """
    parts = urlsplit(target)
    path = unquote(parts.path) or "/"
    resource, path_parameters = PROXY_RESOURCE, {"proxy": path.lstrip("/")}
    for pattern, template, names in RESOURCES:
        match = pattern.match(path)
        if match:
            resource, path_parameters = template, dict(zip(names, match.groups(), strict=False)) or None
            break
    query = parse_qsl(parts.query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        multi_query.setdefault(name, []).append(value)
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    now = datetime.now(UTC)
    request_id = str(uuid.uuid4())
    text_body: str | None = None
    is_base64 = False
    if body:
        try:
            text_body = body.decode("utf-8")
        except UnicodeDecodeError:
            text_body, is_base64 = base64.b64encode(body).decode("ascii"), True
    host = next((v[-1] for k, v in multi_headers.items() if k.lower() == "host"), "127.0.0.1")
    user_agent = next((v[-1] for k, v in multi_headers.items() if k.lower() == "user-agent"), None)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": base64.b64encode(uuid.uuid4().bytes[:12]).decode("ascii"),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": path,
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": host.split(".")[0].split(":")[0],
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": user_agent,
                "user": None,
            },
            "domainName": host,
            "apiId": API_ID,
        },
        "body": text_body,
        "isBase64Encoded": is_base64,
    }


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "LocalApiGateway"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the access log below, or nothing

    def _refuse_host(self) -> bool:
        """Answer 421 (JSON) unless the request names this server by a loopback name; True if refused."""
        hosts = self.headers.get_all("Host") or []
        if len(hosts) == 1 and hosts[0].strip().lower() in allowed_hosts(self.server.server_address[1]):
            return False
        payload = json.dumps(
            {"message": "Misdirected Request: this local API answers only http://127.0.0.1:PORT, localhost or [::1]"}
        ).encode("utf-8")
        self.close_connection = True  # its body, if any, is left unread
        self.send_response(MISDIRECTED)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        if self.server.access_log is not None:
            self.server.access_log(f"{self.command} {self.path} -> {MISDIRECTED} (Host {hosts!r} refused)")
        return True

    def _proxy(self) -> None:
        if self._refuse_host():
            return
        started = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        event = proxy_event(
            self.command, self.path, list(self.headers.items()), body, self.client_address[0], self.server.stage
        )
        try:
            result = invoke(event, self.server.handler)
            status, headers, payload = _http_response(result)
        except Exception:  # noqa: BLE001  what API Gateway answers when the function raises or answers garbage
            self.server.log_error(f"{self.command} {self.path}: the function failed\n{traceback.format_exc()}")
            status, headers, payload = (
                502,
                [("Content-Type", "application/json")],
                b'{"message": "Internal server error"}',
            )
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", event["requestContext"]["requestId"])
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        if self.server.access_log is not None:
            elapsed_ms = (time.monotonic() - started) * 1000
            self.server.access_log(f"{self.command} {self.path} -> {status} ({elapsed_ms:.0f} ms)")

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _proxy


def _http_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """statusCode, headers and body of a proxy integration result (API Gateway's rules)."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        raise ValueError("the function's answer is not a proxy integration result")
    headers: list[tuple[str, str]] = []
    multi = result.get("multiValueHeaders") or {}
    for name, values in multi.items():
        headers += [(name, str(value)) for value in values]
    seen = {name.lower() for name in multi}
    headers += [(name, str(value)) for name, value in (result.get("headers") or {}).items() if name.lower() not in seen]
    body = result.get("body") or ""
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    return result["statusCode"], headers, payload


class _HTTPServer(LoopbackHTTPServer):
    def __init__(
        self,
        port: int,
        handler: Callable | None,
        stage: str,
        access_log: Callable[[str], None] | None,
        error_log: Callable[[str], None],
    ):
        self.handler, self.stage = handler, stage
        self.access_log, self.log_error = access_log, error_log
        super().__init__(port, _Handler)


class ApiServer(BackgroundServer):
    """Serve the function's API on 127.0.0.1 (``port`` 0: a free one) from a daemon thread.

    ``handler`` defaults to ``session_monitor.entry.handler``, imported at ``start()``: set the
    function's environment first. ``access_log`` receives one line per request.
    """

    thread_name = "local-api"

    def __init__(
        self,
        port: int = 0,
        *,
        handler: Callable | None = None,
        stage: str = STAGE,
        access_log: Callable[[str], None] | None = None,
        error_log: Callable[[str], None] | None = None,
    ):
        super().__init__(port)
        self.handler, self.stage = handler, stage
        self.access_log = access_log
        self.error_log = error_log or (lambda text: print(text, file=sys.stderr, flush=True))

    def _make_server(self) -> _HTTPServer:
        return _HTTPServer(self.port, self.handler or _function_handler(), self.stage, self.access_log, self.error_log)
