"""The wire side of the local Athena emulator: error answers, validation of requests and
responses against botocore's service model (``ParamValidator`` plus the constraints it skips),
and the HTTP handler (Athena's JSON 1.1 protocol on POST /, a control API under /_emulator/).

Kept apart from ``athena_emulator`` (clock, sessions, CLI) so each stays small; import the
public names from ``local_mode.athena_emulator``.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

from local_mode.loopback import BackgroundServer, LoopbackHTTPServer

__all__ = [
    "AthenaError",
    "EmulatorServer",
    "HTTPServer",
    "ResponseShapeError",
    "checked_error_body",
    "constraint_errors",
    "invalid_request",
    "service_model",
    "validate_request",
    "validate_response",
]


class AthenaError(Exception):
    """An error answer: HTTP status, ``__type`` code, message and optional AthenaErrorCode."""

    def __init__(self, code: str, message: str, status: int = 400, athena_error_code: str | None = None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status
        self.athena_error_code = athena_error_code

    def body(self) -> dict[str, Any]:
        """The JSON body. Athena's own errors say "Message"; the framework's errors
        (UnknownOperationException, SerializationException) carry a namespaced ``__type`` only;
        throttling (not modelled by Athena) has the generic lower-case "message"."""
        if "#" in self.code:
            return {"__type": self.code}
        if self.code == "ThrottlingException":
            return {"__type": self.code, "message": self.message}
        body: dict[str, Any] = {"__type": self.code, "Message": self.message}
        if self.athena_error_code:
            body["AthenaErrorCode"] = body["ErrorCode"] = self.athena_error_code
        return body


class ResponseShapeError(AssertionError):
    """The emulator built a response that does not match botocore's model of the operation."""


def invalid_request(message: str, athena_error_code: str = "INVALID_INPUT") -> AthenaError:
    return AthenaError("InvalidRequestException", message, 400, athena_error_code)


# --- validation against botocore's service model -------------------------------------------


@functools.lru_cache(maxsize=1)
def service_model():
    return botocore.session.get_session().get_service_model("athena")


@functools.cache
def _compiled(pattern: str):
    try:
        return re.compile(pattern)
    except re.error:  # Java-only syntax (surrogate pair ranges): not checkable in Python
        return None


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def constraint_errors(value: Any, shape, path: str = "") -> list[str]:
    """Constraints botocore's ParamValidator skips (max, enum, pattern) plus min/required,
    worded the way Athena words them ("Value at 'sessionId' failed to satisfy constraint: ...")."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return _structure_errors(value, shape, path)
    if kind in ("list", "map", "string") and isinstance(value, (list, dict, str)):
        return _sized_errors(value, shape, path)
    if kind in ("integer", "long") and isinstance(value, int) and not isinstance(value, bool):
        return _bound_errors(value, shape.metadata, path, "value")
    return []


def _failure(path: str, rule: str) -> str:
    return f"Value at '{path}' failed to satisfy constraint: Member must {rule}"


def _structure_errors(value: dict[str, Any], shape: Any, path: str) -> list[str]:
    """Required members that are missing (null), then each present member's own constraints."""
    errors = [
        f"Value null at '{_join(path, name)}' failed to satisfy constraint: Member must not be null"
        for name in shape.required_members
        if value.get(name) is None
    ]
    for name, member in shape.members.items():
        if value.get(name) is not None:
            errors += constraint_errors(value[name], member, _join(path, name))
    return errors


def _sized_errors(value: list[Any] | dict[Any, Any] | str, shape: Any, path: str) -> list[str]:
    """A string's length or a list's or map's size, then what its kind adds."""
    kind = shape.type_name
    errors = _bound_errors(len(value), shape.metadata, path, "length" if kind == "string" else "size")
    if kind == "string":
        errors += _string_errors(value, shape.metadata, path)
    elif kind == "list":
        errors += _list_errors(value, shape, path)
    else:
        errors += _map_errors(value, shape, path)
    return errors


def _bound_errors(amount: int, meta: dict[str, Any], path: str, noun: str) -> list[str]:
    """``min`` and ``max`` of the shape's metadata, applied to ``amount`` (a size or a value)."""
    errors = []
    if "min" in meta and amount < meta["min"]:
        errors.append(_failure(path, f"have {noun} greater than or equal to {meta['min']}"))
    if "max" in meta and amount > meta["max"]:
        errors.append(_failure(path, f"have {noun} less than or equal to {meta['max']}"))
    return errors


def _string_errors(value: Any, meta: dict[str, Any], path: str) -> list[str]:
    """``enum`` and ``pattern`` (skipped when the pattern has no Python equivalent)."""
    errors = []
    if "enum" in meta and value not in meta["enum"]:
        errors.append(_failure(path, f"satisfy enum value set: [{', '.join(meta['enum'])}]"))
    regex = _compiled(meta["pattern"]) if "pattern" in meta else None
    if regex is not None and not regex.fullmatch(value):
        errors.append(_failure(path, f"satisfy regular expression pattern: {meta['pattern']}"))
    return errors


def _list_errors(value: Any, shape: Any, path: str) -> list[str]:
    errors: list[str] = []
    for i, item in enumerate(value):
        errors += constraint_errors(item, shape.member, f"{path}.{i + 1}.member")
    return errors


def _map_errors(value: Any, shape: Any, path: str) -> list[str]:
    errors: list[str] = []
    for key, item in value.items():
        errors += constraint_errors(key, shape.key, f"{path}.{key}.key")
        errors += constraint_errors(item, shape.value, f"{path}.{key}.value")
    return errors


def _join(path: str, name: str) -> str:
    return f"{path}.{_camel(name)}" if path else _camel(name)


def validate_request(operation: str, params: dict) -> None:
    """Reject input the real service rejects, with its 400 InvalidRequestException."""
    shape = service_model().operation_model(operation).input_shape
    errors = constraint_errors(params, shape)  # first: worded like the real service
    if errors:
        noun = "error" if len(errors) == 1 else "errors"
        raise invalid_request(f"{len(errors)} validation {noun} detected: " + "; ".join(errors))
    report = ParamValidator().validate(params, shape)  # then types and unknown members
    if report.has_errors():
        raise invalid_request(report.generate_report())


def validate_response(operation: str, response: dict, error_code: str | None = None) -> None:
    """Raise ResponseShapeError unless ``response`` (datetimes, not wire numbers) fits the
    operation's output shape, or the error shape ``error_code`` when given."""
    model = service_model()
    if error_code is None:
        shape = model.operation_model(operation).output_shape
    else:
        shape = model.shape_for(error_code)
        response = {k: v for k, v in response.items() if k not in ("__type", "ErrorCode")}
    problems = []
    report = ParamValidator().validate(response, shape)
    if report.has_errors():
        problems.append(report.generate_report())
    problems += constraint_errors(response, shape)
    if problems:
        raise ResponseShapeError(
            f"{operation} response does not match botocore's {shape.name} shape:\n" + "\n".join(problems)
        )


def checked_error_body(operation: str, error: AthenaError) -> dict[str, Any]:
    """``error.body()``, validated against the error's shape when Athena models it."""
    body = error.body()
    if error.code in service_model().shape_names:
        validate_response(operation, body, error_code=error.code)
    return body


# --- HTTP -------------------------------------------------------------------------------------


def _wire(value: Any) -> Any:
    """JSON protocol timestamps are epoch seconds (numbers), millisecond precision."""
    if isinstance(value, datetime):
        return round(value.timestamp(), 3)
    raise TypeError(f"cannot serialise {type(value).__name__}")


class HTTPServer(LoopbackHTTPServer):
    """Binds 127.0.0.1 only; answers for ``emulator`` (an AthenaEmulator)."""

    def __init__(self, emulator, port: int = 0):
        self.emulator = emulator
        super().__init__(port, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects
    # Headers and body go out in two writes; with Nagle's algorithm on, the second waits for the
    # client's delayed ACK: about 40 ms per call over loopback (measured by bench/).
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return "AthenaEmulator"

    timeout = 60
    server: HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # quiet; tests read .calls instead
        pass

    def _send(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body, default=_wire).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        if self.path == "/_emulator/calls":
            emulator = self.server.emulator
            with emulator._lock:
                calls = dict(emulator.calls)
            self._send(200, {"Calls": calls, "Now": emulator.clock.now().isoformat()})
        else:
            self._send(404, {"error": f"no route GET {self.path}"})

    def do_POST(self) -> None:
        raw = self._body()
        if self.path.startswith("/_emulator/"):
            return self._control(raw)
        emulator, operation = self.server.emulator, ""
        try:
            target = self.headers.get("X-Amz-Target", "")
            operation = target.removeprefix("AmazonAthena.") if "." in target else ""
            if self.path.split("?")[0] != "/" or not target.startswith("AmazonAthena."):
                raise AthenaError("com.amazon.coral.service#UnknownOperationException", "", 400)
            try:
                params = json.loads(raw or b"{}")
            except ValueError:
                params = None
            if not isinstance(params, dict):
                raise AthenaError("com.amazon.coral.service#SerializationException", "", 400)
            self._send(200, emulator.handle(operation, params))
        except AthenaError as err:
            try:
                body = checked_error_body(operation, err)
            except ResponseShapeError as shape_err:
                emulator.shape_errors.append(str(shape_err))
                return self._shape_error(shape_err)
            headers = {"x-amzn-ErrorType": err.code.rsplit("#", 1)[-1]} if emulator.error_type_header else None
            self._send(err.status, body, headers)
        except ResponseShapeError as shape_err:
            self._shape_error(shape_err)

    def _shape_error(self, err: ResponseShapeError) -> None:
        print(f"athena emulator: {err}", file=sys.stderr, flush=True)  # loud on purpose
        self._send(500, {"__type": "EmulatorResponseShapeError", "Message": str(err)})

    def _control(self, raw: bytes) -> None:
        emulator = self.server.emulator
        try:
            args = json.loads(raw or b"{}")
            if not isinstance(args, dict):
                raise ValueError("the body must be a JSON object")
            route = self.path.removeprefix("/_emulator/")
            if route == "advance":
                now = emulator.clock.advance(float(args["seconds"]))
                return self._send(200, {"Now": now.isoformat()})
            if route == "workgroups":
                emulator.add_workgroup(**args)
                return self._send(200, {"Name": args["name"]})
            if route == "sessions":
                return self._send(200, {"SessionId": emulator.start_session(**args)})
            if route == "faults":
                emulator.inject_fault(**args)
                return self._send(200, {})
            self._send(404, {"error": f"no route POST {self.path}"})
        except (AthenaError, ValueError, TypeError, KeyError) as err:
            self._send(400, {"error": f"{type(err).__name__}: {err}"})


class EmulatorServer(BackgroundServer):
    """Serve an AthenaEmulator on 127.0.0.1 (a free port) from a daemon thread.

    ``with EmulatorServer() as server: boto3.client("athena", endpoint_url=server.endpoint_url)``.
    Control API (JSON bodies, kwargs of the Python methods): POST /_emulator/advance
    {"seconds"}, POST /_emulator/workgroups {"name", "spark"}, POST /_emulator/sessions
    {start_session kwargs incl. "script"} -> {"SessionId"}, POST /_emulator/faults
    {inject_fault kwargs}, GET /_emulator/calls -> {"Calls", "Now"}."""

    thread_name = "athena-emulator"
    poll_interval = 0.05

    def __init__(self, emulator=None, port: int = 0):
        if emulator is None:
            from local_mode.athena_emulator import AthenaEmulator

            emulator = AthenaEmulator()
        self.emulator = emulator
        super().__init__(port)

    def _make_server(self) -> HTTPServer:
        return HTTPServer(self.emulator, self.port)

    @property
    def endpoint_url(self) -> str:
        return self.url
