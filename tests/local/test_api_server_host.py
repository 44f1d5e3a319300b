"""The local API answers only requests that name it by a loopback name (DNS rebinding).

A web page on attacker.example whose name is re-pointed at 127.0.0.1 makes the browser send
``Host: attacker.example:PORT`` to the local API; ``session-monitor serve`` may run it with real AWS
credentials. A real server on a free port, a real HTTP client: the refused request gets 421 with a
JSON body and never reaches the function.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_mode.api_server import ApiServer


class Function:
    """Stands in for the function's handler: answers 200 and remembers every event it gets."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"sessions": []}'}

    @property
    def hosts(self) -> list[str | None]:
        return [(event["headers"] or {}).get("Host") for event in self.events]


@pytest.fixture
def served() -> Iterator[tuple[ApiServer, Function, int]]:
    function = Function()
    server = ApiServer(handler=function)
    server.start()
    try:
        yield server, function, int(server.url.rsplit(":", 1)[1])
    finally:
        server.stop()


def get(port: int, host: str | None, method: str = "GET") -> tuple[int, dict[str, Any] | None, str | None]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, "/sessions?workgroup=etl", skip_host=True)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
        return response.status, (json.loads(body) if body else None), response.getheader("Content-Type")
    finally:
        connection.close()


@pytest.mark.parametrize(
    "host",
    [
        "attacker.example:{port}",  # a rebound name, the right port
        "attacker.example",
        "127.0.0.1.attacker.example:{port}",
        "127.0.0.1:{other}",  # a loopback name, another port
        "localhost",
        "0.0.0.0:{port}",
        "",
    ],
)
def test_a_request_naming_another_host_gets_421_json_and_never_reaches_the_function(served, host: str) -> None:
    _server, function, port = served
    status, body, content_type = get(port, host.format(port=port, other=port + 1))
    assert status == 421 and content_type == "application/json"
    assert body is not None and "127.0.0.1" in body["message"]
    assert function.hosts == []


def test_a_request_without_a_host_header_is_refused_too(served) -> None:
    _server, function, port = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(b"GET /sessions?workgroup=etl HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 421 ") and b'"message"' in answer
    assert function.hosts == []


def test_head_gets_421_without_a_body(served) -> None:
    _server, function, port = served
    status, body, _ = get(port, "attacker.example", method="HEAD")
    assert (status, body, function.hosts) == (421, None, [])


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost:{port}", "[::1]:{port}"])
def test_loopback_names_with_the_servers_port_are_served(served, host: str) -> None:
    _server, function, port = served
    status, body, _ = get(port, host.format(port=port))
    assert (status, body) == (200, {"sessions": []})
    assert function.hosts == [host.format(port=port)]


def readme_sigv4_example() -> str:
    """The Python of the README's signed-call example (the here-document after ``python -``)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    (script,) = re.findall(r'python - "\$API_URL" etl <<\'EOF\'\n(.*?)\nEOF\n', readme, re.DOTALL)
    return script


def test_the_readmes_signed_call_reaches_the_api_with_a_sigv4_authorization(served) -> None:
    """Given the local API as ApiUrl and (fake) credentials, when the README's example runs, then
    it prints the API's JSON answer and the request it sent carried a SigV4 signature for
    execute-api."""
    server, function, _port = served
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    result = subprocess.run(
        [sys.executable, "-", server.url + "/v1/", "etl"],
        input=readme_sigv4_example(),
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"sessions": []}
    (event,) = function.events
    authorization = event["headers"]["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    assert event["queryStringParameters"] == {"workgroup": "etl"}
