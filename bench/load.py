"""Load: concurrent API requests and overlapping sweeps against the local stack, bounded.

The issue it answers: under N concurrent requests and overlapping scheduled sweeps, does every
state change produce exactly one alert (no duplicate, none lost), and what latency does a caller
see? Everything runs on 127.0.0.1; the request count is capped and the run has a wall-clock
deadline; every process is stopped at the end.

Processes, each its own interpreter, so the measuring client shares no GIL with the function:
- ``athena`` (venv): the Athena emulator over HTTP, every call delayed DELAY_SECONDS by its
  ``slow`` fault (times=None): the latency of a real Athena call.
- ``moto`` (venv): moto server with what the stack creates (alerts topic, state table) and an SQS
  queue subscribed to the topic (``local_mode.moto_server.create_alerting_resources``).
- ``api-1`` .. ``api-K`` (Lambda-like, see bench/common.py): ``local_mode.api_server.ApiServer``:
  HTTP -> API Gateway REST proxy event -> ``session_monitor.entry.handler``, one invocation at a
  time per process: K warm Lambda containers behind the API.
- ``sweeper-1``, ``sweeper-2`` (Lambda-like): ``entry.handler`` with an EventBridge Scheduled
  Event on each command: two more containers, sweeping over and over while the requests run, so
  sweeps overlap each other and the API's looks at the same sessions.
- this process: the HTTP client (CLIENTS threads, request j to API server j mod K) and the
  orchestration.

One workgroup of SESSIONS sessions: FAILING of them go BUSY -> DEGRADED (+30 s) -> FAILED (+60 s)
on the emulator's clock, the others stay BUSY or IDLE. Three phases of a third of the requests
each: steady (nothing to alert), degraded (clock +30 s), failed (clock +30 s more). A phase's
requests and sweeps all finish before the clock moves, so every failing session is looked at in
each state and the expected alerts are exact: one DEGRADED and one FAILED per failing session.
Half the requests go to the failing sessions, so several containers race for each alert. The
alerts are then read back from the queue and compared by ``alert_id``; which process published
each one comes from the "alert published" lines of the function processes' logs.

Clocks. The function takes "now" from ``session_monitor.clock.utc_now`` (look-back window, idle
durations, alert leases). Local mode points it at the emulator's clock in its own process
(``runner.sweep_clock``); here the function runs in four other processes, where that would need a
call to the emulator per look, which is not the Lambda path. So every function process keeps the
wall clock, and the emulator's Clock starts at real time (``Clock()``) and moves only 60 s in all:
session timestamps are at most about a minute ahead of the function's "now". LOOKBACK_MINUTES=60
so no change can look like history (a suppressed alert would count as lost); IDLE_ALERT_MINUTES=0
because an idle alert depends on which clock measures the idle time. Alert leases (claim time +
120 s) are written and compared only by function processes, all on the same wall clock.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import resource
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script in a child: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import session_contract as contract
from bench import common

WORKGROUP = "load-test"
SESSIONS = 50
FAILING = 10  # every 5th session: BUSY -> DEGRADED -> FAILED
STEP_SECONDS = 30  # emulator clock per phase: DEGRADED at +30 s, FAILED at +60 s
DELAY_SECONDS = 0.02  # per Athena call
API_SERVERS = 2  # K warm containers behind the API
SWEEPERS = 2  # containers invoked by the schedule, at the same time
CLIENTS = 8  # concurrent client connections
REQUESTS = {"full": 400, "quick": 100}  # hard cap on requests
DEADLINE_S = {"full": 30.0, "quick": 15.0}  # wall clock for the three phases; later requests are skipped
SWEEPS_PER_PHASE = {"full": 6, "quick": 3}  # per sweeper, at most (at least 1)
REQUEST_TIMEOUT_S = 15.0
PHASES = ("steady", "degraded", "failed")
ROUTE_SESSION, ROUTE_LIST, ROUTE_SWEEP = "GET /sessions/{id}", "GET /sessions?workgroup=", "Scheduled Event (sweep)"
FUNCTION_OVERRIDES = {contract.ENV_LOOKBACK_MINUTES: "60", contract.ENV_IDLE_ALERT_MINUTES: "0"}  # see "Clocks" above
DEGRADED_REASON = "load bench: executor lost"
FAILED_REASON = "load bench: coordinator did not recover"


# --- child processes ---------------------------------------------------------------------------


def _reply(stream: Any, answer: dict[str, Any]) -> None:
    stream.write(json.dumps(answer) + "\n")
    stream.flush()


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _serve_athena(delay: float) -> None:
    from local_mode.athena_emulator import AthenaEmulator, Clock, EmulatorServer

    emulator = AthenaEmulator(Clock())  # real time: see "Clocks" in the module docstring
    emulator.add_workgroup(WORKGROUP)
    ids, failing = [], []
    for index in range(SESSIONS):
        if index % 5 == 0:
            script = [
                (0, "BUSY", None),
                (STEP_SECONDS, "DEGRADED", DEGRADED_REASON),
                (2 * STEP_SECONDS, "FAILED", FAILED_REASON),
            ]
        else:
            script = [(0, "BUSY" if index % 5 in (1, 2) else "IDLE", None)]
        session_id = emulator.start_session(WORKGROUP, idle_timeout_minutes=480, script=script)
        ids.append(session_id)
        if index % 5 == 0:
            failing.append(session_id)
    emulator.inject_fault(kind="slow", delay_seconds=delay, times=None)
    with EmulatorServer(emulator) as server:
        _reply(
            sys.stdout,
            {
                "url": server.endpoint_url,
                "session_ids": ids,
                "failing": failing,
                "clock_start": emulator.clock.now().isoformat(),
            },
        )
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command == "advance":
                _reply(sys.stdout, {"now": emulator.clock.advance(float(argument)).isoformat()})
            elif command == "calls":
                with emulator._lock:
                    _reply(sys.stdout, {"calls": dict(emulator.calls)})
            else:
                _reply(sys.stdout, {"cpu_s": _cpu_s()})


def _serve_moto() -> None:
    import logging

    from local_mode.moto_server import MotoServer, create_alerting_resources

    with MotoServer() as moto:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        resources = create_alerting_resources(moto.endpoint_url)
        _reply(
            sys.stdout,
            {
                "url": moto.endpoint_url,
                "topic_arn": resources.topic_arn,
                "table": resources.table_name,
                "queue_url": resources.queue_url,
            },
        )
        for _line in sys.stdin:
            _reply(sys.stdout, {"cpu_s": _cpu_s()})


def _function(kind: str, log_path: str) -> None:
    """A Lambda-like container: the API server (``api``) or a schedule target (``sweeper``)."""
    protocol = sys.stdout
    # The function's JSON logs and EMF metrics (its CloudWatch Logs) go to a file; Powertools'
    # Logger binds sys.stdout when session_monitor.observability is imported, below.
    sys.stdout = open(log_path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115  (for the process's life)
    from local_mode.api_server import ApiServer, ensure_function_importable, invoke

    ensure_function_importable()
    import session_monitor.entry  # noqa: F401  the cold start, before the load begins

    server = (
        ApiServer(0, error_log=lambda text: print(text, file=sys.stderr, flush=True)).start() if kind == "api" else None
    )
    _reply(protocol, {"url": server.url if server else None})
    try:
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command == "sweep":
                started = time.perf_counter()
                try:
                    report = invoke(json.loads(argument))  # the Lambda path, one invocation at a time
                    answer: dict[str, Any] = {
                        "ok": True,
                        "alerts_sent": report.get("alerts_sent", []),
                        "get_session_calls": report.get("get_session_calls", 0),
                    }
                except Exception as error:  # noqa: BLE001  SweepIncomplete and friends: recorded, the run goes on
                    answer = {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}
                answer["ms"] = (time.perf_counter() - started) * 1000
                _reply(protocol, answer)
            else:
                _reply(protocol, {"cpu_s": _cpu_s()})
    finally:
        if server is not None:
            server.stop()
        sys.stdout.close()


class Child:
    """A child process driven by one JSON line per command on stdin, answering one JSON line.

    Reads have a timeout, so a hung child fails the benchmark instead of hanging it. A child
    exits when its stdin closes, so it cannot outlive this process for long either way.
    """

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path):
        self.name = name
        self.stderr_path = workdir / f"{name}.stderr"
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=common.WORK
            )
        self._buffer = b""
        self._lock = threading.Lock()
        self.info: dict[str, Any] = {}

    def ready(self, timeout: float = 60) -> dict[str, Any]:
        self.info = self._read(timeout)
        return self.info

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.name} did not answer within {timeout:.0f} s")
            if select.select([fd], [], [], remaining)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    tail = self.stderr_path.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"{self.name} exited (code {self.proc.wait()}):\n{tail}")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def ask(self, command: str, timeout: float = 30) -> dict[str, Any]:
        with self._lock:
            self.proc.stdin.write(command.encode() + b"\n")  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
            return self._read(timeout)

    def stop(self) -> int:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # type: ignore[union-attr]
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                return self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        finally:
            self.proc.stdout.close()  # type: ignore[union-attr]


# --- the client --------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0-100): a value that was measured."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def latency_summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": percentile(values, 50),
        "p90_ms": percentile(values, 90),
        "p99_ms": percentile(values, 99),
        "max_ms": max(values),
    }


def request_plan(count: int, session_ids: Sequence[str], failing: Sequence[str]) -> list[tuple[str, str]]:
    """(route, path) per request: every 10th lists the workgroup; of the rest, half read a failing
    session (so containers race for its alerts) and half walk every session."""
    plan = []
    for j in range(count):
        if j % 10 == 9:
            plan.append((ROUTE_LIST, f"/sessions?workgroup={WORKGROUP}"))
        elif j % 2 == 0:
            plan.append((ROUTE_SESSION, f"/sessions/{failing[(j // 2) % len(failing)]}"))
        else:
            plan.append((ROUTE_SESSION, f"/sessions/{session_ids[(j // 2) % len(session_ids)]}"))
    return plan


def _get(port: int, path: str) -> tuple[str, float, str | None]:
    """(status, ms, the session's state if the answer is one session) for one request, a fresh
    connection each (the API server closes after each response, as HTTP/1.0)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        status = str(response.status)
    except (OSError, http.client.HTTPException) as error:
        return f"error {type(error).__name__}", (time.perf_counter() - started) * 1000, None
    finally:
        connection.close()
    ms = (time.perf_counter() - started) * 1000
    state = None
    if status == "200" and path.startswith("/sessions/"):
        try:
            state = json.loads(body).get("state")
        except (ValueError, AttributeError):
            state = "unparseable"
    return status, ms, state


def _run_phase(
    plan: list[tuple[str, str]], ports: list[int], sweepers: list[Child], deadline: float, max_sweeps: int
) -> dict[str, Any]:
    """Fire ``plan`` from CLIENTS threads while every sweeper sweeps back to back; wait for all."""
    from local_mode.runner import scheduled_event

    requests_done = threading.Event()
    sweeps: list[dict[str, Any]] = []
    sweeps_lock = threading.Lock()

    def sweep_loop(sweeper: Child) -> None:
        for _ in range(max_sweeps):
            event = scheduled_event(datetime.now(UTC))
            started = time.perf_counter()
            answer = sweeper.ask("sweep " + json.dumps(event), timeout=120)
            answer["round_trip_ms"] = (time.perf_counter() - started) * 1000
            answer["process"] = sweeper.name
            with sweeps_lock:
                sweeps.append(answer)
            if requests_done.is_set() or time.monotonic() > deadline:
                return

    def one(index: int) -> dict[str, Any]:
        route, path = plan[index]
        if time.monotonic() > deadline:
            return {"route": route, "skipped": True}
        status, ms, state = _get(ports[index % len(ports)], path)
        return {"route": route, "path": path, "status": status, "ms": ms, "state": state, "skipped": False}

    started = time.perf_counter()
    with ThreadPoolExecutor(len(sweepers), thread_name_prefix="sweeps") as sweep_pool:
        sweep_futures = [sweep_pool.submit(sweep_loop, sweeper) for sweeper in sweepers]
        with ThreadPoolExecutor(CLIENTS, thread_name_prefix="client") as clients:
            results = list(clients.map(one, range(len(plan))))
        requests_wall = time.perf_counter() - started
        requests_done.set()
        for future in sweep_futures:
            future.result()
    return {
        "requests": results,
        "sweeps": sweeps,
        "requests_wall_s": requests_wall,
        "wall_s": time.perf_counter() - started,
    }


# --- the benchmark -----------------------------------------------------------------------------


def _published_by(log_paths: dict[str, Path]) -> dict[str, list[dict[str, str]]]:
    """Per function process, the alerts its log says it published (alert_id, SNS message id)."""
    published: dict[str, list[dict[str, str]]] = {}
    for name, path in log_paths.items():
        published[name] = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if '"alert published"' not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("message") == "alert published":
                published[name].append({"alert_id": record.get("alert_id"), "message_id": record.get("message_id")})
    return published


def alert_check(
    expected: Sequence[str], received: list[dict[str, Any]], published: dict[str, list[dict[str, str]]]
) -> dict[str, Any]:
    """Expected vs received alert ids: duplicates (an id received twice), lost, unexpected."""
    counts = Counter(alert["attributes"].get("alert_id") for alert in received)
    publisher = {p["message_id"]: name for name, items in published.items() for p in items}
    duplicates = {
        alert_id: [
            {"message_id": a["message_id"], "process": publisher.get(a["message_id"], "?")}
            for a in received
            if a["attributes"].get("alert_id") == alert_id
        ]
        for alert_id, n in sorted(counts.items())
        if n > 1
    }
    received_ids = {alert["message_id"] for alert in received}
    # Expected alerts are named "<session>#<STATE>" (each failing session has one episode of
    # each); alert ids also carry the account, Region and when the episode began.
    labels = {f"{a['attributes'].get('session_id')}#{a['attributes'].get('state')}" for a in received}
    return {
        "expected": len(expected),
        "received": len(received),
        "distinct_received": len(counts),
        "published": len(publisher),
        # in a process's log as published (SNS accepted it) but never read from the queue
        "published_not_received": sorted(
            f"{p['alert_id']} ({name})"
            for name, items in published.items()
            for p in items
            if p["message_id"] not in received_ids
        ),
        "duplicates": duplicates,
        "lost": sorted(set(expected) - labels),
        "unexpected": sorted(labels - set(expected)),
        "published_by": {name: len(items) for name, items in published.items()},
    }


def measure(quick: bool = False) -> dict[str, Any]:
    from local_mode.moto_server import receive_alerts

    mode = "quick" if quick else "full"
    cap, deadline_s, max_sweeps = REQUESTS[mode], DEADLINE_S[mode], SWEEPS_PER_PHASE[mode]
    started = time.perf_counter()
    workdir = common.WORK / "load"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    site, asset = common.lambda_site(), common.build_asset("asset")
    children: list[Child] = []  # every process started, stopped in the end whatever happens
    log_paths: dict[str, Path] = {}
    xray_sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        xray_sink.bind(("127.0.0.1", 0))  # datagrams beyond the socket buffer are dropped: fine
        athena, resources = _start_backends(workdir, children)
        env = _function_env(athena, resources, asset, site, xray_sink.getsockname()[1])
        apis, sweepers = _start_functions(env, workdir, children, log_paths)
        ports = [int(c.info["url"].rsplit(":", 1)[1]) for c in apis]
        session_ids, failing = athena.info["session_ids"], athena.info["failing"]
        _warm_up(ports, sweepers, session_ids, workdir)
        setup_s = time.perf_counter() - started
        plan = request_plan(cap, session_ids, failing)
        run = _run_load(plan, athena, children, ports, sweepers, deadline_s, max_sweeps)
        received = receive_alerts(resources)
    finally:
        exit_codes = {child.name: child.stop() for child in reversed(children)}
        xray_sink.close()
    published = _published_by(log_paths)

    phases = run["phases"]
    expected = [f"{sid}#{state}" for sid in failing for state in ("DEGRADED", "FAILED")]
    return {
        "config": _config(cap, deadline_s, max_sweeps),
        "setup_s": round(setup_s, 2),
        "load_wall_s": round(run["wall_s"], 2),
        **_request_summary(phases, failing),
        "sweeps": _sweep_summary(phases),
        "athena_calls": run["athena_calls"],
        "cpu_s": run["cpu_s"],
        "alerts": alert_check(expected, received, published),
        "exit_codes": exit_codes,
        "logs": str(workdir.relative_to(common.REPO)),
        "wall_s": round(time.perf_counter() - started, 1),
    }


def _start_backends(workdir: Path, children: list[Child]) -> tuple[Child, Any]:
    """The Athena emulator and moto, each in its own venv interpreter, both ready; the emulator's
    Child and the AlertingResources created on moto."""
    from local_mode.moto_server import AlertingResources

    script = str(Path(__file__).resolve())
    venv_env = {**os.environ, "PYTHONPATH": str(common.REPO)}
    athena = Child("athena", [common.PYTHON, script, "--serve", "athena", str(DELAY_SECONDS)], venv_env, workdir)
    children.append(athena)
    moto = Child("moto", [common.PYTHON, script, "--serve", "moto"], venv_env, workdir)
    children.append(moto)
    athena.ready()
    moto.ready()
    resources = AlertingResources(moto.info["url"], moto.info["topic_arn"], moto.info["table"], moto.info["queue_url"])
    return athena, resources


def _function_env(athena: Child, resources: Any, asset: Path, site: Path, xray_port: int) -> dict[str, str]:
    """The Lambda-like environment of every function process, configured as deployed."""
    from local_mode.runner import function_environment

    function_env = function_environment(resources.endpoint_url, athena.info["url"], resources, (WORKGROUP,))
    for name in ("POWERTOOLS_TRACE_DISABLED", "ENABLE_SWAGGER_UI"):  # X-Ray on, no /swagger: as deployed
        function_env.pop(name)
    return common.lambda_env(
        asset, site, extra_path=[common.REPO], xray_port=xray_port, **{**function_env, **FUNCTION_OVERRIDES}
    )


def _start_functions(
    env: dict[str, str], workdir: Path, children: list[Child], log_paths: dict[str, Path]
) -> tuple[list[Child], list[Child]]:
    """API_SERVERS API containers and SWEEPERS sweepers, each logging to its own file; all ready."""
    script = str(Path(__file__).resolve())
    functions: list[Child] = []
    for kind, count in (("api", API_SERVERS), ("sweeper", SWEEPERS)):
        for n in range(1, count + 1):
            name = f"{kind}-{n}"
            log_paths[name] = workdir / f"{name}.log"
            child = Child(name, common.lambda_python(script, "--function", kind, str(log_paths[name])), env, workdir)
            children.append(child)
            functions.append(child)
    for child in functions:
        child.ready()
    apis = [c for c in functions if c.name.startswith("api-")]
    sweepers = [c for c in functions if c.name.startswith("sweeper-")]
    return apis, sweepers


def _warm_up(ports: list[int], sweepers: list[Child], session_ids: Sequence[str], workdir: Path) -> None:
    """Warm containers: one request each (its Athena client) and one sweep each (a previous
    scheduled run: the state table holds the workgroup's view). Not measured. A container's SNS
    and DynamoDB clients are still created by its first alert, as in a container that has not
    alerted yet."""
    from local_mode.runner import scheduled_event

    warm_up = [_get(port, f"/sessions/{session_ids[1]}")[0] for port in ports]
    warm_up += [str(s.ask("sweep " + json.dumps(scheduled_event(datetime.now(UTC))), 120)["ok"]) for s in sweepers]
    if warm_up != ["200"] * len(ports) + ["True"] * len(sweepers):
        raise RuntimeError(f"warm-up failed: {warm_up} (logs in {workdir})")


def _run_load(
    plan: list[tuple[str, str]],
    athena: Child,
    children: list[Child],
    ports: list[int],
    sweepers: list[Child],
    deadline_s: float,
    max_sweeps: int,
) -> dict[str, Any]:
    """The three phases (a third of ``plan`` each, the emulator's clock moved between them), and
    the Athena calls and CPU seconds (per process) they took."""
    per_phase = math.ceil(len(plan) / len(PHASES))
    cpu0 = {c.name: c.ask("cpu")["cpu_s"] for c in children}
    calls0 = athena.ask("calls")["calls"]
    load_started = time.perf_counter()
    deadline = time.monotonic() + deadline_s
    phases: dict[str, dict[str, Any]] = {}
    for number, phase in enumerate(PHASES):
        if number:
            athena.ask(f"advance {STEP_SECONDS}")
        phases[phase] = _run_phase(
            plan[number * per_phase : (number + 1) * per_phase], ports, sweepers, deadline, max_sweeps
        )
    load_wall = time.perf_counter() - load_started
    calls = {op: n - calls0.get(op, 0) for op, n in athena.ask("calls")["calls"].items() if n - calls0.get(op, 0)}
    cpu = {c.name: round(c.ask("cpu")["cpu_s"] - cpu0[c.name], 2) for c in children}
    return {"phases": phases, "wall_s": load_wall, "athena_calls": calls, "cpu_s": cpu}


def _config(cap: int, deadline_s: float, max_sweeps: int) -> dict[str, Any]:
    return {
        "requests_cap": cap,
        "clients": CLIENTS,
        "api_servers": API_SERVERS,
        "sweepers": SWEEPERS,
        "sessions": SESSIONS,
        "failing_sessions": FAILING,
        "athena_delay_s": DELAY_SECONDS,
        "deadline_s": deadline_s,
        "max_sweeps_per_phase_per_sweeper": max_sweeps,
        "phases": list(PHASES),
        "emulator_clock_step_s": STEP_SECONDS,
        "function_overrides": FUNCTION_OVERRIDES,
    }


def _request_summary(phases: dict[str, dict[str, Any]], failing: Sequence[str]) -> dict[str, Any]:
    """Requests sent and skipped, throughput, latency per route (sweeps included), status codes,
    and the states each phase's requests saw for the failing sessions."""
    done = [r for p in phases.values() for r in p["requests"] if not r["skipped"]]
    skipped = sum(r["skipped"] for p in phases.values() for r in p["requests"])
    requests_wall = sum(p["requests_wall_s"] for p in phases.values())
    return {
        "requests_sent": len(done),
        "requests_skipped_at_deadline": skipped,
        "requests_per_s": len(done) / requests_wall if requests_wall else 0.0,
        "routes": _route_latencies(done, _all_sweeps(phases)),
        "status_counts": dict(Counter(r["status"] for r in done)),
        "failing_session_states_seen": _failing_states_seen(phases, failing),
    }


def _route_latencies(done: list[dict[str, Any]], sweeps: list[dict[str, Any]]) -> dict[str, Any]:
    """Latency per API route, then of the sweeps (a round trip to a sweeper each)."""
    routes: dict[str, Any] = {}
    for route in (ROUTE_SESSION, ROUTE_LIST):
        routes[route] = latency_summary([r["ms"] for r in done if r["route"] == route])
    routes[ROUTE_SWEEP] = latency_summary([s["round_trip_ms"] for s in sweeps])
    return routes


def _failing_states_seen(phases: dict[str, dict[str, Any]], failing: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per phase, how many answers for a failing session said each state."""
    failing_set = {f"/sessions/{sid}" for sid in failing}
    return {
        phase: dict(Counter(r["state"] for r in p["requests"] if not r["skipped"] and r.get("path") in failing_set))
        for phase, p in phases.items()
    }


def _all_sweeps(phases: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for p in phases.values() for s in p["sweeps"]]


def _sweep_summary(phases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    sweeps = _all_sweeps(phases)
    return {
        "count": len(sweeps),
        "per_phase": {phase: len(p["sweeps"]) for phase, p in phases.items()},
        "errors": [f"{s['process']}: {s['error']}" for s in sweeps if not s["ok"]],
        "alerts_sent": sum(len(s.get("alerts_sent", [])) for s in sweeps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--function", nargs=2, metavar=("KIND", "LOG"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.serve and args.serve[0] == "athena":
        _serve_athena(float(args.serve[1]))
    elif args.serve:
        _serve_moto()
    elif args.function:
        _function(*args.function)
    else:
        print(json.dumps(measure(args.quick), indent=2))


if __name__ == "__main__":
    main()
