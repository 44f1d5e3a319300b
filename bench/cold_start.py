"""Init cost: fresh Lambda-like interpreters importing the handler, against the boto3 floor.

Every variant runs N times in its own interpreter (``python -S``, the asset and the runtime/layer
packages only, Lambda's environment with X-Ray on: see ``bench/common.py``); variants are
interleaved, in a rotating order, so they share the machine's noise. The child times its own work
(``perf_counter`` and ``process_time`` around the code below); the parent also records the whole
process's wall time, which adds interpreter start-up.

Floor: ``import boto3; boto3.client("athena")``, the least any function calling Athena pays. It
runs as a plain script: it does not get the handler's collector trick (coldstart.py: the garbage
collector frozen after the imports), which would make it some 9% faster.
The handler's runs are configured as deployed (table and topic set: ``deployed()``), so its first
answer creates the DynamoDB client and reads the alert ledger (one stubbed Query).
Then ``python -X importtime`` (median of several runs) says where the time beyond the floor goes.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import common

# Test data and the Stubber are set up with the clock stopped, after the timed imports, so they
# neither add to the time nor pre-import stdlib modules the timed code would otherwise pay for.
STUB = (
    "from botocore.stub import Stubber\n"
    "from tests.helpers import LambdaContext, api_event, get_session_response\n"
    "_stub = Stubber(_client)\n"
    "_stub.add_response('get_session', get_session_response('s-1', 'IDLE'), {'SessionId': 's-1'})\n"
    "_stub.activate()\n"
    "_context, _api = LambdaContext(), api_event('/sessions/s-1')\n"
)


# Deployed, the function has its table and topic (``deployed()``): its first answer also needs the
# DynamoDB client and reads the alert ledger with one Query. The client is created in the timed
# code, right after the Athena one (clients.client caches it: the handler gets the same one); its
# Query is answered by a Stubber attached with the clock stopped, as Athena's GetSession is.
def deployed() -> dict[str, str]:
    """The table and topic the stack gives the function (session_contract's names)."""
    import session_contract as contract

    return {
        contract.ENV_STATE_TABLE_NAME: "athena-session-monitor-state",
        contract.ENV_ALERTS_TOPIC_ARN: "arn:aws:sns:us-east-1:123456789012:athena-session-monitor-alerts",
    }


DDB_CLIENT = "_ddb = clients.client('dynamodb')\n"
DDB_STUB = (
    "_ddb_stub = Stubber(_ddb)\n"
    "_ddb_stub.add_response('query', {'Items': [], 'Count': 0, 'ScannedCount': 0})\n"
    "_ddb_stub.activate()\n"
)
FLOOR = "import boto3\n_client = boto3.client('athena', region_name='us-east-1')\n"
ENTRY_AND_CLIENT = (
    "import session_monitor.entry as _entry\nfrom session_monitor.integration import clients\n"
    "_client = clients.client('athena')\n" + DDB_CLIENT
)


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    code: str  # timed
    floor: str | None  # the variant it is compared with
    untimed: str = ""  # then this, with the clock stopped
    then: str = ""  # then this, timed again


# Issue 16's targets for a cold container's first answer, as wall time × its floor's.
TARGETS = {"cold_direct": 1.25, "cold_api": 1.5}

VARIANTS = [
    Variant("floor", "floor: import boto3 + athena client", FLOOR, None),
    Variant("entry", "import session_monitor.entry", "import session_monitor.entry\n", "floor"),
    Variant(
        "entry_api",
        "import entry + session_monitor.api (API route's lazy imports)",
        "import session_monitor.entry\nimport session_monitor.api\n",
        "floor",
    ),
    Variant(
        "floor_call",
        "floor + first get_session (stubbed)",
        FLOOR,
        None,
        untimed=STUB,
        then="_client.get_session(SessionId='s-1')\n",
    ),
    Variant(
        "cold_direct",
        "cold start to first answer: direct {SessionId}",
        ENTRY_AND_CLIENT,
        "floor_call",
        untimed=STUB + DDB_STUB,
        then="_entry.handler({'SessionId': 's-1'}, _context)\n",
    ),
    Variant(
        "cold_api",
        "cold start to first answer: GET /sessions/{id}",
        ENTRY_AND_CLIENT,
        "floor_call",
        untimed=STUB + DDB_STUB,
        then="_r = _entry.handler(_api, _context)\nassert _r['statusCode'] == 200, _r\n",
    ),
]

CHILD = """import time as _time
_w0, _c0 = _time.perf_counter(), _time.process_time()
{code}
_w1, _c1 = _time.perf_counter(), _time.process_time()
{untimed}
_w2, _c2 = _time.perf_counter(), _time.process_time()
{then}
_w3, _c3 = _time.perf_counter(), _time.process_time()
import json as _json, os as _os, sys as _sys
_obs = _sys.modules.get('session_monitor.observability')
with open(_os.environ['BENCH_OUT'], 'w') as _out:
    _json.dump({{'wall_ms': (_w1 - _w0 + _w3 - _w2) * 1000, 'cpu_ms': (_c1 - _c0 + _c3 - _c2) * 1000,
                'tracer_on': bool(_obs) and not _obs.tracer.disabled,
                'requests_imported': 'requests' in _sys.modules}}, _out)
"""


def _run_child(variant: Variant, env: dict[str, str], out: Path) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run(
        common.lambda_python("-c", CHILD.format(code=variant.code, untimed=variant.untimed, then=variant.then)),
        env={**env, "BENCH_OUT": str(out)},
        cwd=common.WORK,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    process_ms = (time.perf_counter() - started) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"cold-start child {variant.name} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(out.read_text())
    result["process_ms"] = process_ms
    return result


# Where a cold first answer goes, step by step: each step timed on its own in a fresh interpreter
# (wall ms, perf_counter), the floor's steps beside ours. The API's lazy import is done as a step
# of its own before the request, so the request's time is the resolver's first call alone.
STEPS = """import time as _time, json as _json, os as _os, sys as _sys
_marks = []
def _mark(name, since):
    _marks.append((name, (_time.perf_counter() - since) * 1000))
    return _time.perf_counter()
_t = _time.perf_counter()
if _os.environ['BENCH_ROUTE'] == 'floor':
    import boto3
    _t = _mark('import', _t)
    _client = boto3.client('athena', region_name='us-east-1')
    _t = _mark('client', _t)
else:
    import session_monitor.entry as _entry
    _t = _mark('import', _t)
    from session_monitor.integration import clients
    _client = clients.client('athena')
    _ddb = clients.client('dynamodb')
    _t = _mark('client', _t)
{untimed}
_t = _time.perf_counter()
if _os.environ['BENCH_ROUTE'] == 'floor':
    _client.get_session(SessionId='s-1')
elif _os.environ['BENCH_ROUTE'] == 'direct':
    _entry.handler({{'SessionId': 's-1'}}, _context)
else:
    import session_monitor.api
    _t = _mark('api import', _t)
    assert _entry.handler(_api, _context)['statusCode'] == 200
_mark('first call', _t)
with open(_os.environ['BENCH_OUT'], 'w') as _out:
    _json.dump(dict(_marks), _out)
"""
ROUTES = ("floor", "direct", "api")


def measure_steps(runs: int, env: dict[str, str], out: Path) -> dict[str, dict[str, float]]:
    """Median wall ms of each step of a cold first answer, per route (floor, direct, GET)."""
    samples: dict[str, list[dict[str, float]]] = {route: [] for route in ROUTES}
    ddb_stub = "".join(f"    {line}\n" for line in DDB_STUB.splitlines())
    code = STEPS.format(untimed=STUB + "if _os.environ['BENCH_ROUTE'] != 'floor':\n" + ddb_stub)
    for _ in range(runs):
        for route in ROUTES:
            proc = subprocess.run(
                common.lambda_python("-c", code),
                env={**env, "BENCH_OUT": str(out), "BENCH_ROUTE": route},
                cwd=common.WORK,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"cold-start steps child {route} failed:\n{proc.stderr[-3000:]}")
            samples[route].append(json.loads(out.read_text()))
    return {
        route: {step: round(common.median([s[step] for s in rows]), 1) for step in rows[0]}
        for route, rows in samples.items()
    }


def _ratios(results: dict[str, Any], samples: dict[str, list[dict[str, Any]]]) -> None:
    """Each variant against its floor: ratios of the medians, and the median of per-round ratios."""
    for name, row in results.items():
        if row["floor"]:
            floor = results[row["floor"]]
            row["wall_ratio"] = row["wall_ms"]["median"] / floor["wall_ms"]["median"]
            row["cpu_ratio"] = row["cpu_ms"]["median"] / floor["cpu_ms"]["median"]
            row["wall_over_floor_ms"] = row["wall_ms"]["median"] - floor["wall_ms"]["median"]
            # Per round: this variant over its floor in the same round (they ran back to back, so
            # they shared that moment's load), then the median of those ratios.
            for unit in ("wall", "cpu"):
                paired = [
                    mine[f"{unit}_ms"] / theirs[f"{unit}_ms"]
                    for mine, theirs in zip(samples[name], samples[row["floor"]], strict=True)
                ]
                row[f"paired_{unit}_ratio"] = common.summary(paired)


def measure(runs: int) -> dict[str, Any]:
    env = common.lambda_env(common.build_asset("asset"), common.lambda_site(), extra_path=[common.REPO], **deployed())
    samples: dict[str, list[dict[str, Any]]] = {v.name: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(dir=common.WORK) as tmp:
        out = Path(tmp) / "child.json"
        for round_ in range(runs):
            order = VARIANTS[round_ % len(VARIANTS) :] + VARIANTS[: round_ % len(VARIANTS)]
            for variant in order:
                samples[variant.name].append(_run_child(variant, env, out))
        steps = measure_steps(runs, env, out)
    results: dict[str, Any] = {}
    for variant in VARIANTS:
        rows = samples[variant.name]
        results[variant.name] = {
            "label": variant.label,
            "floor": variant.floor,
            "wall_ms": common.summary([r["wall_ms"] for r in rows]),
            "cpu_ms": common.summary([r["cpu_ms"] for r in rows]),
            "process_ms": common.summary([r["process_ms"] for r in rows]),
            "tracer_on": rows[0]["tracer_on"],
            "requests_imported": rows[0]["requests_imported"],
        }
    _ratios(results, samples)
    return {"runs": runs, "variants": results, "steps": steps, "targets": TARGETS}


# --- python -X importtime ------------------------------------------------------------------

_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def _importtime(code: str, env: dict[str, str]) -> tuple[dict[str, tuple[int, int]], dict[str, str]]:
    """One run: module -> (self us, cumulative us), and module -> the module that imported it."""
    proc = subprocess.run(
        common.lambda_python("-X", "importtime", "-c", code),
        env=env,
        cwd=common.WORK,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    times: dict[str, tuple[int, int]] = {}
    parent: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in proc.stderr.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        own, cumulative, depth, name = int(match[1]), int(match[2]), len(match[3]) // 2, match[4]
        while stack and stack[-1][0] > depth:  # children are printed before their importer
            child_depth, child = stack.pop()
            if child_depth == depth + 1:
                parent[child] = name
        stack.append((depth, name))
        times.setdefault(name, (own, cumulative))
    return times, parent


def _top(module: str) -> str:
    return module.split(".")[0]


def _median_times(runs: list[dict[str, tuple[int, int]]]) -> dict[str, tuple[float, float]]:
    merged: dict[str, list[tuple[int, int]]] = collections.defaultdict(list)
    for run in runs:
        for name, value in run.items():
            merged[name].append(value)
    return {
        name: (common.median([v[0] for v in values]) / 1000, common.median([v[1] for v in values]) / 1000)
        for name, values in merged.items()
    }


def compile_ms(asset: Path, modules: list[str], repeats: int = 25) -> float:
    """CPU to compile these modules from source: what every cold start pays, as the asset has no
    .pyc and /var/task is read-only (median of ``repeats``, in this interpreter)."""
    sources = []
    for module in modules:
        path = asset.joinpath(*module.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        sources.append((path.read_text(encoding="utf-8"), str(path)))
    spent = []
    for _ in range(repeats):
        started = time.process_time()
        for source, filename in sources:
            compile(source, filename, "exec", dont_inherit=True)
        spent.append(time.process_time() - started)
    return common.median(spent) * 1000


def importtime_breakdown(repeats: int) -> dict[str, Any]:
    """Where the import time beyond the floor goes, by package, with who pulled each package in."""
    asset = common.build_asset("asset")
    env = common.lambda_env(asset, common.lambda_site(), **deployed())
    codes = {
        "floor": VARIANTS[0].code,
        "entry": "import session_monitor.entry",
        "entry_api": "import session_monitor.entry, session_monitor.api",
    }
    runs: dict[str, list[dict[str, tuple[int, int]]]] = {name: [] for name in codes}
    parents: dict[str, dict[str, str]] = {}
    for _ in range(repeats):
        for name, code in codes.items():
            times, parent = _importtime(code, env)
            runs[name].append(times)
            parents[name] = parent
    floor_modules = set().union(*runs["floor"])
    report: dict[str, Any] = {"repeats": repeats}
    for name in ("entry", "entry_api"):
        times = _median_times(runs[name])
        extra = {m: t for m, t in times.items() if m not in floor_modules}
        by_package: dict[str, float] = collections.Counter()
        for module, (own, _cumulative) in extra.items():
            by_package[_top(module)] += own
        pulled_by: dict[str, str] = {}
        for package in by_package:
            first = next(m for m in extra if _top(m) == package)  # the first one imported
            importer = parents[name].get(first)
            while importer and _top(importer) == package:
                importer = parents[name].get(importer)
            pulled_by[package] = importer or "(top level)"
        ours = sorted(m for m in times if _top(m) == "session_monitor")
        report[name] = {
            "total_beyond_floor_ms": round(sum(by_package.values()), 1),
            "our_modules": ours,
            "compile_our_modules_ms": round(compile_ms(asset, ours), 1),
            "by_package_ms": {p: round(v, 1) for p, v in sorted(by_package.items(), key=lambda kv: -kv[1])},
            "pulled_in_by": pulled_by,
            "top_cumulative_ms": [
                {"module": m, "cumulative_ms": round(c, 1), "self_ms": round(s, 1)}
                for m, (s, c) in sorted(extra.items(), key=lambda kv: -kv[1][1])[:15]
            ],
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--importtime-repeats", type=int, default=5)
    args = parser.parse_args()
    result = measure(args.runs)
    result["importtime"] = importtime_breakdown(args.importtime_repeats)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
