"""Local mode end to end: the one-shot scenario, and the function's API served on loopback.

Everything runs on 127.0.0.1 (moto server, the Athena emulator, the API server) and stops by
itself. The function runs in a child process, as ``make demo`` and ``session-monitor serve`` run
it: its environment (ENABLE_SWAGGER_UI among others) must be set before it is imported, which a
test process that already imported it cannot redo.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_mode.api_server import ApiServer, proxy_event
from local_mode.moto_server import receive_alerts
from local_mode.runner import SCENARIO, LocalStack, SeededSession, alert_problems, event_problems

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "tests" / "events"
ALERT_LINE = re.compile(
    r"^\d\d:\d\d:\d\d  ALERT    (?P<workgroup>\S+) +(?P<session>\w{8})  "
    r"(?P<severity>\S+) +(?P<state>\S+) +(?P<subject>\[.*)$",
    re.M,
)


def child_environment(stack: LocalStack | None = None) -> dict[str, str]:
    """This environment minus anything AWS (a profile, real endpoints), plus the local stack's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "lambda_src"), str(REPO)])
    if stack is not None:
        env.update(stack.environment())
    return env


@contextlib.contextmanager
def served_api(env: dict[str, str], *args: str) -> Iterator[str]:
    """``session-monitor serve --port 0`` in a child process: yields its base URL, stops it after."""
    process = subprocess.Popen(
        [sys.executable, "-m", "local_mode.cli", "serve", "--port", "0", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = process.stdout.readline()  # type: ignore[union-attr]
        match = re.match(r"serving (http://127\.0\.0\.1:\d+)/sessions", first_line)
        if not match:
            process.kill()
            pytest.fail(f"serve did not start: {first_line!r} {process.communicate(timeout=10)}")
        yield match.group(1)
    finally:
        if process.poll() is None:
            process.terminate()  # SIGTERM: stops like Ctrl-C
        process.communicate(timeout=10)
    assert process.returncode == 0, f"serve exited {process.returncode}"


def http_get(url: str) -> tuple[int, dict[str, str], Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def get_json(url: str) -> tuple[int, Any]:
    status, _headers, body = http_get(url)
    return status, json.loads(body)


# --- the one-shot scenario --------------------------------------------------------------------


def test_the_one_shot_scenario_alerts_exactly_what_the_lifecycles_imply(tmp_path):
    running = tmp_path / "local-stack.env"  # as if `make run` were running meanwhile
    running.write_text("export AWS_ENDPOINT_URL=http://127.0.0.1:1\n")
    result = subprocess.run(
        [sys.executable, "-m", "local_mode.runner", "--once", "--port", "0", "--function-log", str(tmp_path / "f.log")],
        cwd=REPO,
        env={**child_environment(), "SESSION_MONITOR_LOCAL_ENV": str(running)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    # Its stack is gone when --once exits: it writes no environment file (nor replaces one), no exports.
    assert running.read_text() == "export AWS_ENDPOINT_URL=http://127.0.0.1:1\n" and "export " not in result.stdout
    seeded = re.findall(r"^  (\S+) +([0-9a-f-]{36})  CREATING", result.stdout, re.M)  # (workgroup, id)
    assert [workgroup for workgroup, _ in seeded] == [s.workgroup for s in SCENARIO]
    full_id = {session_id[:8]: session_id for _, session_id in seeded}
    alerts = sorted((m["workgroup"], m["state"], m["severity"]) for m in ALERT_LINE.finditer(result.stdout))
    assert alerts == [
        ("etl-nightly", "TERMINATED", "info"),
        ("ml-training", "DEGRADED", "warning"),
        ("ml-training", "FAILED", "critical"),
        ("notebooks", "IDLE", "warning"),
    ]
    for match in ALERT_LINE.finditer(result.stdout):
        session_id = full_id[match["session"]]
        assert (match["workgroup"], session_id) in seeded
        assert match["subject"] == (
            f"[{match['severity'].upper()}] Athena Spark session {match['state']} in {match['workgroup']}: {session_id}"
        )
    assert re.search(r"session  ml-training  \w{8}  BUSY -> DEGRADED", result.stdout)
    assert re.search(r"session  etl-nightly  \w{8}  TERMINATING -> TERMINATED", result.stdout)
    # The runner's own HTTP request to its API server, answered by the function.
    nightly = seeded[0][1]
    assert f"/sessions/{nightly} -> 200" in result.stdout
    answer = json.loads(result.stdout[result.stdout.index("\n{") + 1 : result.stdout.index("\n}\n") + 2])
    assert answer["session_id"] == nightly and answer["state"] == "TERMINATED"
    assert result.stdout.rstrip().splitlines()[-1].startswith("OK: 4 alerts")
    # The state-change events the function put on moto's default bus, read back through a rule and
    # a queue: one line per change, the alerting ones with their severity; none for the final GET.
    assert re.search(r"EVENT    ml-training  \w{8}  BUSY -> DEGRADED \(warning\)$", result.stdout, re.M)
    assert re.search(r"EVENT    ml-training  \w{8}  DEGRADED -> FAILED \(critical\)$", result.stdout, re.M)
    assert re.search(r"EVENT    etl-nightly  \w{8}  TERMINATING -> TERMINATED \(info\)$", result.stdout, re.M)
    assert "EVENT " not in result.stdout[result.stdout.index("GET http") :]
    assert re.search(r"; \d+ state-change events, one per change the monitor saw", result.stdout)
    # The function's logs and metrics went to the log file, not into the story.
    logged = [json.loads(line) for line in (tmp_path / "f.log").read_text().splitlines()]
    assert any(line.get("message") == "sweep finished" for line in logged)
    assert '"_aws"' not in result.stdout


def _alert(session_id: str, state: str, severity: str) -> dict[str, Any]:
    return {"attributes": {"session_id": session_id, "state": state, "severity": severity}}


def test_alert_check_names_what_is_missing_and_what_is_unexpected():
    seeded = {"s-1": SeededSession("wg", "d", (), (("FAILED", "critical"), ("DEGRADED", "warning")))}
    assert alert_problems(seeded, [_alert("s-1", "DEGRADED", "warning"), _alert("s-1", "FAILED", "critical")]) == []
    assert alert_problems(
        seeded,
        [_alert("s-1", "FAILED", "critical"), _alert("s-1", "FAILED", "critical"), _alert("s-2", "IDLE", "warning")],
    ) == [
        "missing DEGRADED (warning) alert for wg/s-1",
        "unexpected FAILED (critical) alert for wg/s-1",
        "unexpected IDLE (warning) alert for s-2",
    ]


def _event(session_id: str, previous: str | None, state: str, event_id: str = "") -> dict[str, Any]:
    return {
        "event_id": event_id or f"{session_id}-{state}",
        "previous_state": previous,
        "state": state,
        "session": {"session_id": session_id},
    }


def test_event_check_names_a_broken_chain_a_state_out_of_order_a_missing_alert_state_and_a_repeat():
    script = ((30, "IDLE", None), (60, "DEGRADED", "x"), (90, "FAILED", "y"))
    seeded = {"s-1": SeededSession("wg", "d", script, (("DEGRADED", "warning"), ("FAILED", "critical")))}
    good = [_event("s-1", None, "CREATING"), _event("s-1", "CREATING", "DEGRADED"), _event("s-1", "DEGRADED", "FAILED")]
    assert event_problems(seeded, good) == []  # an IDLE between two looks is not seen: no event, fine
    assert event_problems(seeded, [good[0], good[2]]) == [
        "the events of wg/s-1 do not chain: [(None, 'CREATING'), ('DEGRADED', 'FAILED')]",
        "no DEGRADED event for wg/s-1",
    ]
    lifecycle = (
        "['CREATING', 'DEGRADED', 'FAILED', 'IDLE'], not its lifecycle ['CREATING', 'IDLE', 'DEGRADED', 'FAILED']"
    )
    assert event_problems(seeded, [*good, _event("s-1", "FAILED", "IDLE")]) == [
        f"the events of wg/s-1 report {lifecycle}"
    ]
    assert event_problems(seeded, [*good, good[2]])[0] == "event s-1-FAILED put 2 times"


# --- API Gateway events and responses ---------------------------------------------------------


def test_a_request_becomes_the_event_api_gateway_sends():
    reference = json.loads((EVENTS / "api_get_session.json").read_text())
    event = proxy_event("GET", "/sessions/s-1", [("Host", "127.0.0.1:9"), ("Accept", "application/json")], b"")
    assert event.keys() == reference.keys()
    assert event["requestContext"].keys() == reference["requestContext"].keys()
    assert event["requestContext"]["identity"].keys() == reference["requestContext"]["identity"].keys()
    assert event["resource"] == event["requestContext"]["resourcePath"] == "/sessions/{session_id}"
    assert event["pathParameters"] == {"session_id": "s-1"}
    assert event["queryStringParameters"] is None and event["body"] is None and event["isBase64Encoded"] is False
    assert event["multiValueHeaders"]["Accept"] == ["application/json"]
    assert (
        proxy_event("GET", "/sessions/s-1", [], b"")["requestContext"]["requestId"]
        != event["requestContext"]["requestId"]
    )


def test_query_strings_are_decoded_and_repeated_keys_kept():
    event = proxy_event("GET", "/sessions?workgroup=a%2Db&max_results=5&max_results=7", [], b"")
    assert event["resource"] == "/sessions" and event["pathParameters"] is None
    assert event["queryStringParameters"] == {"workgroup": "a-b", "max_results": "7"}
    assert event["multiValueQueryStringParameters"] == {"workgroup": ["a-b"], "max_results": ["5", "7"]}


def test_other_paths_reach_the_function_through_a_greedy_resource_and_binary_bodies_are_base64():
    event = proxy_event("POST", "/swagger", [], b"\xff\x00")
    assert event["resource"] == "/{proxy+}" and event["pathParameters"] == {"proxy": "swagger"}
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\xff\x00"


def test_the_proxy_result_becomes_the_http_response():
    def handler(event, context):
        assert context.get_remaining_time_in_millis() > 0 and context.aws_request_id
        return {
            "statusCode": 201,
            "isBase64Encoded": True,
            "body": base64.b64encode(b"\x00bin").decode(),
            "headers": {"X-One": "1"},
            "multiValueHeaders": {"X-Many": ["a", "b"]},
        }

    with ApiServer(handler=handler) as server:
        request = urllib.request.urlopen(server.url + "/anything", timeout=10)
        assert request.status == 201 and request.read() == b"\x00bin"
        assert request.headers["X-One"] == "1" and request.headers.get_all("X-Many") == ["a", "b"]


def test_a_function_that_raises_is_a_502_as_api_gateway_answers():
    errors: list[str] = []

    def handler(event, context):
        raise RuntimeError("boom")

    with ApiServer(handler=handler, error_log=errors.append) as server:
        status, _headers, body = http_get(server.url + "/sessions/s-1")
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
    assert "RuntimeError: boom" in errors[0]


# --- the function's API, served ---------------------------------------------------------------


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, dict[str, str], LocalStack]]:
    """``session-monitor serve`` against moto server + the emulator, with a few sessions."""
    with LocalStack() as stack:
        ids = {
            "idle": stack.emulator.start_session("etl-nightly", description="idle one"),
            "failed": stack.emulator.start_session("ml-training", script=[(0, "FAILED", "emulated failure")]),
        }
        stack.emulator.clock.advance(10)
        with served_api(child_environment(stack)) as url:
            yield url, ids, stack


def test_get_session_answers_the_normalised_session(served):
    url, ids, _stack = served
    status, headers, body = http_get(f"{url}/sessions/{ids['idle']}")
    session = json.loads(body)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert session["session_id"] == ids["idle"] and session["state"] == "IDLE"
    assert session["workgroup"] == "etl-nightly" and session["is_terminal"] is False
    assert session["engine_configuration"]["max_concurrent_dpus"] == 20


def test_looking_at_a_failed_session_alerts_once(served):
    url, ids, stack = served
    for _ in range(2):
        status, session = get_json(f"{url}/sessions/{ids['failed']}")
        assert status == 200 and session["state"] == "FAILED" and session["severity"] == "critical"
    alerts = receive_alerts(stack.resources)
    assert [(a["attributes"]["session_id"], a["attributes"]["state"]) for a in alerts] == [(ids["failed"], "FAILED")]
    assert alerts[0]["body"]["alert"]["reason"] == "emulated failure"


def test_a_257_character_session_id_is_a_400_json_error(served):
    url, _ids, _stack = served
    status, body = get_json(f"{url}/sessions/{'x' * 257}")
    assert status == 400
    assert body["error"] == "InvalidInput" and "session_id" in body["message"] and body["retryable"] is False


def test_an_unknown_session_is_a_404_json_error(served):
    url, _ids, _stack = served
    assert get_json(f"{url}/sessions/no-such-session") == (
        404,
        {"error": "SessionNotFound", "message": "session not found", "retryable": False},
    )


def test_list_sessions_of_a_workgroup(served):
    url, ids, _stack = served
    status, page = get_json(f"{url}/sessions?workgroup=etl-nightly&max_results=10")
    assert status == 200 and page["workgroup"] == "etl-nightly" and page["next_token"] is None
    assert [s["session_id"] for s in page["sessions"]] == [ids["idle"]]
    assert get_json(f"{url}/sessions?workgroup=bad%20name")[0] == 400


def test_the_openapi_document_describes_both_operations(served):
    url, _ids, _stack = served
    status, document = get_json(f"{url}/swagger?format=json")
    assert status == 200 and document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Athena Spark session monitor"
    assert set(document["paths"]) == {"/sessions", "/sessions/{session_id}"}
    assert document["servers"] == [{"url": "/"}]  # "Try it out" calls this server, not a stage path


def test_swagger_ui_is_one_self_contained_page(served):
    url, _ids, _stack = served
    status, headers, body = http_get(f"{url}/swagger")
    page = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    # Powertools inlines the Swagger UI bundle it ships: no <script src> or stylesheet link to a CDN.
    assert "SwaggerUIBundle" in page and "<script src=" not in page and "<link rel='stylesheet'" not in page
    assert not re.search(r"""(src|href)=["']https?://""", page)
