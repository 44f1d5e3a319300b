"""Sweep cost at 100, 1k, 10k and 100k sessions, every Athena call taking 50 ms, against a naive sweep.

Three processes per scenario, so each one's CPU and memory are its own:
- services (the venv): the Athena emulator over HTTP, every call delayed by the emulator's
  ``slow`` fault (``inject_fault(kind="slow", delay_seconds=..., times=None)``, no session or
  workgroup filter: it applies to every call), and moto's ThreadedMotoServer for SNS and DynamoDB.
- the function (Lambda-like, see ``bench/common.py``): one scheduled invocation through
  ``session_monitor.entry.handler``, as EventBridge sends it, with SWEEP_MAX_WORKERS=16. Its calls
  to DynamoDB, SNS, SQS and EventBridge are counted by hooks on its clients (``bench/aws_calls.py``),
  its log output (EMF metrics included) is kept and measured.
- the naive baseline (Lambda-like, boto3 only): per workgroup, ListSessions pages, then
  GetSession for every session, one call at a time. It sends no alerts, so it is a lower bound.

Population (every 50 sessions, counted across workgroups): 56% IDLE, 40% BUSY, 2% DEGRADED
(alerted in the first sweep), 2% that terminate 5 minutes in (the emulator clock is advanced 10
minutes before the second sweep, so they drop out of ListSessions and each needs a GetSession and
an alert). The third sweep sees no change: the steady state of a quiet account.

100k sessions are 1,000 workgroups of 100: about 6 minutes on 2 shared cores, most of it moto's
CPU. ``--quick`` skips it and says so (the cost model then scales the 10k scenario's counts, which
are exactly linear in workgroups of the same population).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script in a child: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

DELAY_SECONDS = 0.05
WORKERS = 16
ADVANCE_SECONDS = 600
PER_WORKGROUP = 100
SCENARIOS = {
    "100": (1, PER_WORKGROUP),
    "1k": (10, PER_WORKGROUP),
    "10k": (100, PER_WORKGROUP),
    "100k": (1000, PER_WORKGROUP),
}
QUICK_SKIPS = {"100k": "skipped by --quick (about 6 minutes on 2 cores); run make bench for it"}
CAPACITY_FROM = "10k"  # the largest scenario a quick run also measures
# Lambda gives a function CPU in proportion to its memory, one vCPU at 1,769 MB (Lambda developer
# guide, "Configure Lambda function memory"); the stack's function has FUNCTION_MEMORY_MB.
MB_PER_VCPU = 1769
CAPACITY_SECONDS = (300, 900)  # the stack's timeout (= the 5-minute schedule), and Lambda's maximum


def _script(index: int) -> tuple[list[tuple[float, str, str | None]], str]:
    if index % 50 == 7:
        return [(0, "BUSY", None), (30, "DEGRADED", "Spark executor lost")], "DEGRADED"
    if index % 50 == 13:
        return [(0, "BUSY", None), (300, "TERMINATED", None)], "drops out"
    if index % 5 in (0, 1):
        return [(0, "BUSY", None)], "BUSY"
    return [(0, "IDLE", None)], "IDLE"


# --- the services process ------------------------------------------------------------------


def _serve_athena(workgroups: int, per_workgroup: int, delay: float) -> None:
    """Serve the emulated Athena until stdin closes; answer one command per stdin line."""
    from local_mode import athena_wire
    from local_mode.athena_emulator import AthenaEmulator, Clock, EmulatorServer

    # The emulator's handler writes the headers and the body in two sends, so Nagle's algorithm
    # holds the body until the client's delayed ACK: ~40 ms more on every call over loopback.
    # The benchmark wants exactly the injected delay, so it turns Nagle off (a no-op once the
    # emulator does so itself).
    athena_wire._Handler.disable_nagle_algorithm = True
    lead = 120  # sessions started two minutes ago, in emulator time
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=lead)
    emulator = AthenaEmulator(Clock(start))
    names = [f"wg-{i:03d}" for i in range(workgroups)]
    population: dict[str, int] = {}
    for number, name in enumerate(names):
        emulator.add_workgroup(name)
        for index in range(per_workgroup):
            script, kind = _script(number * per_workgroup + index)
            emulator.start_session(name, idle_timeout_minutes=480, script=script)
            population[kind] = population.get(kind, 0) + 1
    emulator.drain_trail()  # the CloudTrail records of 100k StartSessions: nobody reads them here
    _index_by_workgroup(emulator)
    emulator.clock.advance(lead)
    emulator.inject_fault(kind="slow", delay_seconds=delay, times=None)
    with EmulatorServer(emulator) as server:
        _answer_commands({"url": server.endpoint_url, "workgroups": names, "population": population}, emulator)


def _index_by_workgroup(emulator: Any) -> None:
    """Make the emulator's listings read one workgroup's sessions, as Athena's do.

    The emulator answers ListSessions by scanning every session it holds and keeping the
    workgroup's: O(all sessions) per call, 4,000 calls per sweep at 1,000 workgroups, so a 100k
    sweep would measure that scan. Sessions are all started before the run, so an index built here
    stays complete; the listing is still the emulator's own (settled, filtered, newest first), run
    on the indexed workgroup's sessions: ListSessions holds the emulator's lock while it lists, and
    every other use of its sessions takes that lock too.
    """
    by_workgroup: dict[str, dict[str, Any]] = {}
    for session_id, session in emulator._sessions.items():
        by_workgroup.setdefault(session.workgroup, {})[session_id] = session
    every_session = emulator._sessions

    def listing(workgroup: str, state_filter: str | None) -> list[Any]:
        emulator._sessions = by_workgroup.get(workgroup, {})
        try:
            return type(emulator)._listing(emulator, workgroup, state_filter)
        finally:
            emulator._sessions = every_session

    emulator._listing = listing


def _serve_moto() -> None:
    """Serve moto (SNS, DynamoDB) with the alerts topic and the state table until stdin closes."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log, one line per call
    _partitioned_moto_query()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    url = f"http://{host}:{port}"
    aws = {
        "region_name": common.REGION,
        "endpoint_url": url,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    topic_arn = boto3.client("sns", **aws).create_topic(Name="athena-session-alerts")["TopicArn"]
    table = "session-monitor-state"
    boto3.client("dynamodb", **aws).create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    _answer_commands({"url": url, "topic_arn": topic_arn, "table": table}, None)
    moto.stop()


def _partitioned_moto_query() -> None:
    """Make moto's DynamoDB Query read one partition, as DynamoDB does.

    moto 5.2 answers a Query by sorting every item of the table (``Table.all_items``) and then
    filtering on the partition key: O(table) per call, ~0.4 s of CPU at the 10k-session table's
    size, so a 10k sweep measured moto, and its 100 concurrent Queries hit the client's read timeout.
    During a Query on a table without secondary indexes, ``all_items`` here returns only the
    queried partition, still sorted; every other call is moto's own code.
    """
    import threading

    from moto.dynamodb.models.table import Table

    local = threading.local()
    all_items, query = Table.all_items, Table.query

    def partition_items(self):  # type: ignore[no-untyped-def]
        hash_key = getattr(local, "hash_key", None)
        if hash_key is None:
            return all_items(self)
        return sorted(self.items.get(hash_key, {}).values(), key=lambda item: item.range_key)

    def partition_query(self, hash_key, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not self.range_key_attr or self.global_indexes or self.indexes or hash_key is None:
            return query(self, hash_key, *args, **kwargs)
        local.hash_key = hash_key
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            local.hash_key = None

    Table.all_items, Table.query = partition_items, partition_query


def _answer_commands(ready: dict[str, Any], emulator: Any) -> None:
    print(json.dumps(ready), flush=True)
    for line in sys.stdin:
        command = line.split()
        if command[0] == "advance":
            emulator.clock.advance(float(command[1]))
            answer: dict[str, Any] = {"now": emulator.clock.now().isoformat()}
        elif command[0] == "calls":
            with emulator._lock:
                answer = {"calls": dict(emulator.calls)}
        elif command[0] == "cpu":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            answer = {"cpu_s": usage.ru_utime + usage.ru_stime}
        else:
            answer = {"error": f"unknown command {command[0]}"}
        print(json.dumps(answer), flush=True)


class Service:
    """A server in its own process (its own GIL), driven by one command per stdin line."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen(
            [common.PYTHON, str(Path(__file__).resolve()), "--serve", *args],
            cwd=common.REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(common.REPO)},
        )
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {args[0]} service did not start (see its stderr above)")
        self.info = json.loads(line)

    def ask(self, command: str) -> dict[str, Any]:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


# --- the function process and the naive baseline (Lambda-like children) --------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _function(out: Path) -> None:
    import session_monitor.entry as entry
    from bench import aws_calls
    from tests.helpers import LambdaContext, load_event

    after_import = _peak_rss_mb()
    counter = aws_calls.install()
    event = load_event("scheduled_event.json")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    error = None
    try:
        report = entry.handler(event, LambdaContext())
    except Exception as raised:  # noqa: BLE001  SweepIncomplete and friends: recorded, the run goes on
        report, error = {}, f"{type(raised).__name__}: {raised}"
    out.write_text(
        json.dumps(
            {
                "wall_s": time.perf_counter() - wall0,
                "cpu_s": time.process_time() - cpu0,
                "peak_rss_mb": _peak_rss_mb(),
                "rss_after_import_mb": after_import,
                "error": error,
                "aws": counter.snapshot(),
                "alerts_sent": len(report.get("alerts_sent", [])),
                "alerts_suppressed": len(report.get("alerts_suppressed", [])),
                "sessions_by_state": report.get("sessions_by_state", {}),
                "failed_workgroups": report.get("failed_workgroups", {}),
                "filtered_list_pages": report.get("filtered_list_pages", 0),
            }
        )
    )


def _naive(out: Path, workgroups: Sequence[str]) -> None:
    """THE BASELINE, not our code: list every page, then GetSession every session, sequentially."""
    import boto3

    client = boto3.client("athena")  # endpoint from AWS_ENDPOINT_URL_ATHENA
    page_s: list[float] = []
    get_s: list[float] = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for workgroup in workgroups:
        session_ids: list[str] = []
        kwargs: dict[str, Any] = {"WorkGroup": workgroup, "MaxResults": 100}
        while True:
            started = time.perf_counter()
            page = client.list_sessions(**kwargs)
            page_s.append(time.perf_counter() - started)
            session_ids += [s["SessionId"] for s in page.get("Sessions", [])]
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        for session_id in session_ids:
            started = time.perf_counter()
            client.get_session(SessionId=session_id)
            get_s.append(time.perf_counter() - started)
    out.write_text(
        json.dumps(
            {
                "wall_s": time.perf_counter() - wall0,
                "cpu_s": time.process_time() - cpu0,
                "peak_rss_mb": _peak_rss_mb(),
                "pages": len(page_s),
                "get_sessions": len(get_s),
                "page_s_median": common.median(page_s),
                "get_session_s_median": common.median(get_s),
            }
        )
    )


def _run_child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run a child; its result, with what it logged (``log``: bytes, lines, EMF metrics)."""
    with tempfile.TemporaryDirectory(dir=common.WORK) as tmp:
        out, log = Path(tmp) / "result.json", Path(tmp) / "stdout.log"
        common.run_lambda_child(str(Path(__file__).resolve()), args, env, out, log, f"sweep child {args[0]}")
        return {**json.loads(out.read_text()), "log": common.log_facts(log)}


def _calls_since(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {op: after[op] - before.get(op, 0) for op in sorted(after) if after[op] - before.get(op, 0)}


def run_scenario(
    name: str, workgroups: int, per_workgroup: int, naive_workgroups: int, delay: float = DELAY_SECONDS
) -> dict[str, Any]:
    site = common.lambda_site()
    asset = common.build_asset("asset")
    athena = Service("athena", str(workgroups), str(per_workgroup), str(delay))
    moto = Service("moto")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as xray_sink:
            xray_sink.bind(("127.0.0.1", 0))  # datagrams beyond the socket buffer are dropped: fine
            env = common.lambda_env(
                asset,
                site,
                extra_path=[common.REPO],
                xray_port=xray_sink.getsockname()[1],
                AWS_ENDPOINT_URL=moto.info["url"],
                AWS_ENDPOINT_URL_ATHENA=athena.info["url"],
                WATCHED_WORKGROUPS=",".join(athena.info["workgroups"]),
                ALERTS_TOPIC_ARN=moto.info["topic_arn"],
                STATE_TABLE_NAME=moto.info["table"],
                SWEEP_MAX_WORKERS=str(WORKERS),
            )
            sweeps: dict[str, Any] = {}
            for label, advance in (("first", 0), ("after_dropouts", ADVANCE_SECONDS), ("no_change", 0)):
                if advance:
                    athena.ask(f"advance {advance}")
                calls0 = athena.ask("calls")["calls"]
                cpu0 = {"athena": athena.ask("cpu")["cpu_s"], "moto": moto.ask("cpu")["cpu_s"]}
                result = _run_child(["--function"], env)
                result["athena_calls"] = _calls_since(calls0, athena.ask("calls")["calls"])
                result["emulator_cpu_s"] = athena.ask("cpu")["cpu_s"] - cpu0["athena"]
                result["moto_cpu_s"] = moto.ask("cpu")["cpu_s"] - cpu0["moto"]
                sweeps[label] = result

            chosen = athena.info["workgroups"][:naive_workgroups]
            calls0 = athena.ask("calls")["calls"]
            naive = _run_child(["--naive", ",".join(chosen)], env)
            naive["athena_calls"] = _calls_since(calls0, athena.ask("calls")["calls"])
            naive["workgroups_run"] = len(chosen)
            scale = workgroups / len(chosen)
            naive["extrapolated"] = scale != 1
            naive["estimated_wall_s"] = naive["wall_s"] * scale
    finally:
        athena.close()
        moto.close()
    for sweep in sweeps.values():
        sweep["naive_over_ours"] = naive["estimated_wall_s"] / sweep["wall_s"]
    return {
        "name": name,
        "workgroups": workgroups,
        "sessions": workgroups * per_workgroup,
        "population": athena.info["population"],
        "delay_s": delay,
        "workers": WORKERS,
        "sweeps": sweeps,
        "naive": naive,
    }


def capacity(scenario: dict[str, Any], memory_mb: int | None = None) -> dict[str, Any]:
    """Where one invocation stops being enough, from the measured numbers (a linear model).

    Conservative: the measured wall includes moto's and the emulator's CPU on the same 2 cores. The
    CPU-bound figures divide the function's measured CPU by the share of a vCPU Lambda gives the
    stack's memory size: at 512 MB a sweep's own CPU, not Athena's latency, sets the limit.
    """
    sessions = scenario["sessions"]
    naive = scenario["naive"]
    get_s, page_s = naive["get_session_s_median"], naive["page_s_median"]
    steady = scenario["sweeps"]["no_change"]["wall_s"]
    first = scenario["sweeps"]["first"]["wall_s"]
    memory_mb = memory_mb or _function_memory_mb()
    vcpu = memory_mb / MB_PER_VCPU
    estimate: dict[str, Any] = {
        "measured_at_sessions": sessions,
        "page_s": page_s,
        "get_session_s": get_s,
        "memory_mb": memory_mb,
        "vcpu": vcpu,
        "cpu_ms_per_session": {label: 1000 * run["cpu_s"] / sessions for label, run in scenario["sweeps"].items()},
    }
    for seconds in CAPACITY_SECONDS:
        estimate[f"steady_sessions_in_{seconds}s"] = int(sessions * seconds / steady)
        estimate[f"first_sweep_sessions_in_{seconds}s"] = int(sessions * seconds / first)
        # Every session needing a full record (mass failure, or every session dropping out at
        # once): GetSession-bound, WORKERS at a time.
        estimate[f"all_changed_sessions_in_{seconds}s"] = int(seconds * WORKERS / get_s)
        # One workgroup's pages are sequential (each needs the previous NextToken).
        estimate[f"one_workgroup_sessions_in_{seconds}s"] = int(seconds / page_s * 100)
        for label in ("first", "no_change"):
            cpu_s = scenario["sweeps"][label]["cpu_s"]
            estimate[f"cpu_bound_{label}_sessions_in_{seconds}s"] = int(sessions * seconds * vcpu / cpu_s)
    return estimate


def _function_memory_mb() -> int:
    sys.path.insert(0, str(common.REPO))
    try:
        from infra.constants import FUNCTION_MEMORY_MB

        return int(FUNCTION_MEMORY_MB)
    finally:
        sys.path.remove(str(common.REPO))


def measure(quick: bool = False, only: Sequence[str] = ()) -> dict[str, Any]:
    """Every scenario (or those named in ``only``), then the capacity model from CAPACITY_FROM."""
    scenarios, skipped = [], {}
    for name, (workgroups, per_workgroup) in SCENARIOS.items():
        if only and name not in only:
            continue
        if quick and name in QUICK_SKIPS:
            skipped[name] = QUICK_SKIPS[name]
            continue
        # The naive loop is linear: measure up to 1k in full, beyond on 2 workgroups and scale up.
        full = workgroups if workgroups * per_workgroup <= 1000 else 2
        started = time.perf_counter()
        scenario = run_scenario(name, workgroups, per_workgroup, 1 if quick else full)
        scenario["bench_seconds"] = round(time.perf_counter() - started, 1)
        scenarios.append(scenario)
    basis = next((s for s in scenarios if s["name"] == CAPACITY_FROM), scenarios[-1])
    return {"scenarios": scenarios, "skipped": skipped, "capacity": capacity(basis)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--function", nargs=1, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--naive", nargs=2, metavar=("WORKGROUPS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--scenarios", default="", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    args = parser.parse_args()
    if args.serve and args.serve[0] == "athena":
        _serve_athena(int(args.serve[1]), int(args.serve[2]), float(args.serve[3]))
    elif args.serve:
        _serve_moto()
    elif args.function:
        _function(args.function[0])
    elif args.naive:
        _naive(Path(args.naive[1]), args.naive[0].split(","))
    else:
        only = [name for name in args.scenarios.split(",") if name]
        print(json.dumps(measure(args.quick, only), indent=2))


if __name__ == "__main__":
    main()
