"""Warm invocation overhead: the handler's own CPU per call, AWS answered in-process.

A Lambda-like child (see ``bench/common.py``) imports the handler once, puts botocore's Stubber on
the function's own Athena client (``clients.client("athena")``) and calls, in interleaved batches:
- floor:  ``client.get_session(SessionId=...)`` alone, on the same stubbed client;
- direct: ``handler({"SessionId": ...})``;
- api:    ``handler(<API Gateway REST proxy event GET /sessions/{id}>)``.
The session is IDLE, so neither route alerts and no SNS or DynamoDB call (nor moto's own CPU) is
counted. ``time.process_time`` per batch, median over batches; our cost per call = route - floor.
Each invocation gets a new sampled ``_X_AMZN_TRACE_ID`` as in Lambda; the run is repeated with
tracing off to show what X-Ray costs. Log and metric lines go to /dev/null (Lambda's stdout).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script in the child: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

ROUTES = ("floor", "direct", "api")
TARGET_MS = {"direct": 1.0, "api": 3.0}  # from issue 6


def _child(out: Path, batch: int, batches: int, profile: bool) -> None:
    from botocore.stub import Stubber

    import session_monitor.entry as entry
    from session_monitor.integration import clients
    from tests.helpers import LambdaContext, api_event, get_session_response

    client = clients.client("athena")
    stubber = Stubber(client)
    stubber.activate()
    answer = get_session_response("s-1", "IDLE")
    context = LambdaContext()
    api = api_event("/sessions/s-1")
    calls: dict[str, Callable[[], Any]] = {
        "floor": lambda: client.get_session(SessionId="s-1"),
        "direct": lambda: entry.handler({"SessionId": "s-1"}, context),
        "api": lambda: entry.handler(api, context),
    }
    headers = [common.trace_header(n) for n in range(batch)]

    def run(route: str, profiler: Any = None) -> tuple[float, float]:
        for _ in range(batch):
            stubber.add_response("get_session", answer, {"SessionId": "s-1"})
        call = calls[route]
        if profiler is not None:
            profiler.enable()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for header in headers:
            os.environ["_X_AMZN_TRACE_ID"] = header
            call()
        spent = time.process_time() - cpu0, time.perf_counter() - wall0
        if profiler is not None:
            profiler.disable()
        return spent

    # First calls create the client's caches, import the API module, build the validation models.
    stubber.add_response("get_session", answer, {"SessionId": "s-1"})
    assert entry.handler({"SessionId": "s-1"}, context)["state"] == "IDLE"
    stubber.add_response("get_session", answer, {"SessionId": "s-1"})
    response = entry.handler(api, context)
    assert response["statusCode"] == 200, response
    for route in ROUTES:
        run(route)

    cpu: dict[str, list[float]] = {r: [] for r in ROUTES}
    wall: dict[str, list[float]] = {r: [] for r in ROUTES}
    for index in range(batches):
        order = ROUTES[index % 3 :] + ROUTES[: index % 3]
        for route in order:
            spent_cpu, spent_wall = run(route)
            cpu[route].append(spent_cpu * 1000 / batch)
            wall[route].append(spent_wall * 1000 / batch)
    stubber.assert_no_pending_responses()

    profiles: dict[str, str] = {}
    if profile:
        import cProfile
        import io
        import pstats

        for route in ROUTES:
            profiler = cProfile.Profile()
            run(route, profiler)
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
            profiles[route] = text.getvalue()
    out.write_text(
        json.dumps({"cpu_ms": cpu, "wall_ms": wall, "tracer_on": not entry.tracer.disabled, "profiles": profiles})
    )


def _drain(sink: socket.socket) -> int:
    count = 0
    sink.setblocking(False)
    while True:
        try:
            sink.recv(65536)
        except BlockingIOError:
            return count
        count += 1


def measure(batch: int, batches: int, profile: bool = False) -> dict[str, Any]:
    site = common.lambda_site()
    asset = common.build_asset("asset")
    results: dict[str, Any] = {"batch": batch, "batches": batches}
    for tracing in (True, False):
        # Our own "X-Ray daemon": datagrams queue up unread during the run, then are counted.
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink,
            tempfile.TemporaryDirectory(dir=common.WORK) as tmp,
        ):
            sink.bind(("127.0.0.1", 0))
            env = common.lambda_env(
                asset, site, extra_path=[common.REPO], tracing=tracing, xray_port=sink.getsockname()[1]
            )
            out = Path(tmp) / "warm.json"
            command = common.lambda_python(
                str(Path(__file__).resolve()), "--child", str(out), "--batch", str(batch), "--batches", str(batches)
            )
            if profile:
                command.append("--profile")
            proc = subprocess.run(
                command, env=env, cwd=common.WORK, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            if proc.returncode != 0:
                raise RuntimeError(f"warm child failed:\n{proc.stderr[-3000:]}")
            data = json.loads(out.read_text())
            segments = _drain(sink)
        mode: dict[str, Any] = {"tracer_on": data["tracer_on"], "xray_datagrams_seen": segments, "routes": {}}
        floor_cpu = common.median(data["cpu_ms"]["floor"])
        for route in ROUTES:
            row = {
                "cpu_ms_per_call": common.summary(data["cpu_ms"][route]),
                "wall_ms_per_call": common.summary(data["wall_ms"][route]),
            }
            if route != "floor":
                row["own_cpu_ms_per_call"] = row["cpu_ms_per_call"]["median"] - floor_cpu
                row["target_ms"] = TARGET_MS[route]
                row["ratio_to_floor"] = row["cpu_ms_per_call"]["median"] / floor_cpu
            mode["routes"][route] = row
        if profile:
            mode["profiles"] = data["profiles"]
        results["tracing_on" if tracing else "tracing_off"] = mode
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=100, help="calls per timed batch")
    parser.add_argument("--batches", type=int, default=15, help="timed batches per route")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of each route")
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.batch, args.batches, args.profile)
        return
    result = measure(args.batch, args.batches, args.profile)
    profiles = {mode: result[mode].pop("profiles", {}) for mode in ("tracing_on", "tracing_off")}
    print(json.dumps(result, indent=2))
    for mode, by_route in profiles.items():
        for route, text in by_route.items():
            print(f"\n===== {mode} / {route} =====\n{text}")


if __name__ == "__main__":
    main()
