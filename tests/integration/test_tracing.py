"""X-Ray in a Lambda-like process: the handler's segment and each AWS call as its own subsegment.

Tracer only runs where Lambda runs (it reads LAMBDA_TASK_ROOT at import), so the handler runs in
a child interpreter with Lambda's tracing environment, its X-Ray daemon address pointing at a UDP
socket this test reads; Athena is botocore's Stubber on the function's own client.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHILD = """
from botocore.stub import Stubber
import session_monitor.entry as entry
from session_monitor.integration import clients
from tests.helpers import LambdaContext, get_session_response
stubber = Stubber(clients.client("athena"))
stubber.add_response("get_session", get_session_response("s-1", "IDLE"), {"SessionId": "s-1"})
with stubber:
    assert entry.handler({"SessionId": "s-1"}, LambdaContext())["state"] == "IDLE"
"""


def _segments(sink: socket.socket) -> list[dict[str, Any]]:
    """Every (sub)segment the daemon would have received: header line, then the JSON document."""
    found = []
    sink.settimeout(1.0)
    try:
        while True:
            header, _, body = sink.recv(65_535).decode().partition("\n")
            assert json.loads(header)["format"] == "json"
            found.append(json.loads(body))
    except TimeoutError:
        return found


def test_a_check_sends_the_handler_segment_and_the_athena_call_as_an_aws_subsegment():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        port = sink.getsockname()[1]
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))},
            "PYTHONPATH": os.pathsep.join([str(REPO / "lambda_src"), str(REPO)]),
            "LAMBDA_TASK_ROOT": str(REPO / "lambda_src"),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.14",
            "AWS_LAMBDA_FUNCTION_NAME": "athena-session-monitor",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{port}",
            "_X_AMZN_TRACE_ID": "Root=1-65f0c0de-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1",
            "POWERTOOLS_SERVICE_NAME": "athena-session-monitor",
            "MONITOR_ACCOUNT_ID": "123456789012",
        }
        proc = subprocess.run(
            [sys.executable, "-c", CHILD], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        segments = _segments(sink)
    by_name = {s.get("name"): s for s in segments}
    assert "## handler" in by_name, sorted(by_name)
    athena = by_name.get("athena") or by_name.get("Athena")
    assert athena is not None, sorted(by_name)
    assert athena["namespace"] == "aws" and athena["aws"]["operation"] == "GetSession"
    assert athena["parent_id"] == by_name["## handler"]["id"]  # nested under the handler's subsegment
