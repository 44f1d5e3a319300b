"""What every benchmark shares: a Lambda-like process, the deployment asset, statistics, machine facts.

Lambda does not run our venv. It imports the handler from /var/task (the CDK asset: lambda_src with
no __pycache__, and read-only, so our modules are compiled from source on every cold start), with
Powertools from its public layer and boto3 from the runtime. Our venv also holds moto, cfn-lint and
their dependencies; X-Ray's ``patch_all`` imports any of them it finds (``requests`` among them), so
a benchmark run in the venv would charge us for imports Lambda never does. Child processes therefore
run with ``python -S`` (no site-packages) and a PYTHONPATH of the asset plus ``.bench/lambda-site``:
symlinks to exactly the distributions the runtime and the layer provide.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import importlib.metadata as metadata
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".bench"  # scratch space, gitignored
PYTHON = sys.executable
REGION = "us-east-1"

# What a deployed function can import besides our asset: the Lambda Python runtime ships boto3
# (with botocore, s3transfer, jmespath, dateutil, urllib3); the stack adds the Powertools layer,
# built with [all] extras, of which we use the tracer (aws-xray-sdk, wrapt) and pydantic.
LAMBDA_REQUIREMENTS = ("boto3", "aws-lambda-powertools[tracer]", "pydantic")

# Powertools' Tracer switches itself off outside Lambda: it reads LAMBDA_TASK_ROOT (and turns off
# again under AWS_SAM_LOCAL / AWS_CHALICE_CLI_MODE or POWERTOOLS_TRACE_DISABLED). Lambda also sets
# the X-Ray daemon address and, per invocation, _X_AMZN_TRACE_ID; with Sampled=1 every segment is
# sent, so the X-Ray cost is in the numbers.
TRACE_ID = "Root=1-65f0c0de-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"


def trace_header(n: int) -> str:
    """A distinct sampled trace header per invocation, as Lambda sets one per request."""
    return f"Root=1-65f0c0de-{n:024x};Parent=53995c3f42cd8ad8;Sampled=1"


# --- the Lambda-like import path -----------------------------------------------------------


def _requirement_closure(roots: Iterable[str]) -> list[metadata.Distribution]:
    """Every installed distribution ``roots`` need, following extras and environment markers."""
    from packaging.requirements import Requirement

    found: dict[str, metadata.Distribution] = {}
    visited: set[tuple[str, frozenset[str]]] = set()
    pending = [Requirement(root) for root in roots]
    while pending:
        requirement = pending.pop()
        key = re.sub(r"[-_.]+", "-", requirement.name).lower()
        if (key, frozenset(requirement.extras)) in visited:
            continue
        visited.add((key, frozenset(requirement.extras)))
        dist = found.setdefault(key, metadata.distribution(requirement.name))
        for raw in dist.requires or []:
            child = Requirement(raw)
            if child.marker is None or any(
                child.marker.evaluate({"extra": extra}) for extra in (requirement.extras or {""})
            ):
                pending.append(child)
    return list(found.values())


def lambda_site() -> Path:
    """``.bench/lambda-site``: symlinks to the runtime's and the layer's packages, nothing else."""
    site = WORK / "lambda-site"
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir(parents=True)
    for dist in _requirement_closure(LAMBDA_REQUIREMENTS):
        base = Path(dist.locate_file(""))
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in sorted(tops):
            # __pycache__ too: single-file modules (typing_extensions.py, six.py) find their .pyc
            # there, as they do in the layer; without it they would be compiled on every start.
            if top.endswith(".pth"):
                continue
            target = site / top
            if not target.exists():
                target.symlink_to(base / top)
    return site


def _excluded(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def asset_excludes() -> list[str]:
    """The stack's exclude globs (infra/constants.py), so the benchmark ships what CDK ships."""
    sys.path.insert(0, str(REPO))
    try:
        from infra.constants import ASSET_EXCLUDES

        return list(ASSET_EXCLUDES)
    finally:
        sys.path.remove(str(REPO))


def build_asset(name: str = "asset") -> Path:
    """Copy lambda_src as ``Code.from_asset(exclude=ASSET_EXCLUDES)`` would (no .pyc)."""
    target = WORK / name
    shutil.rmtree(target, ignore_errors=True)
    excludes = asset_excludes()
    shutil.copytree(
        REPO / "lambda_src", target, ignore=lambda _dir, names: [n for n in names if _excluded(n, excludes)]
    )
    return target


def lambda_env(
    asset: Path,
    site: Path,
    *,
    extra_path: Sequence[Path] = (),
    tracing: bool = True,
    xray_port: int = 2000,
    **overrides: str,
) -> dict[str, str]:
    """The environment Lambda gives the function (as the stack configures it), and nothing else."""
    import session_contract as contract

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(WORK),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "PYTHONPATH": os.pathsep.join(str(p) for p in (asset, site, *extra_path)),
        "PYTHONDONTWRITEBYTECODE": "1",  # /var/task is read-only: nothing is cached between cold starts
        "PYTHONHASHSEED": "0",
        "LAMBDA_TASK_ROOT": str(asset),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "AWS_LAMBDA_FUNCTION_NAME": "athena-session-monitor",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{xray_port}",
        "_AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1",
        "_AWS_XRAY_DAEMON_PORT": str(xray_port),
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "_X_AMZN_TRACE_ID": TRACE_ID,
        # infra/function.py's environment, from the one contract (moto's default account; the
        # stack passes AWS::AccountId). Topic and table come as overrides where a run has them.
        **contract.function_environment(account_id="123456789012"),
    }
    if not tracing:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    env.update(overrides)
    return env


def lambda_python(*args: str) -> list[str]:
    """A child interpreter without site-packages (see the module docstring)."""
    return [PYTHON, "-S", *args]


# --- statistics ----------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 4:
        return min(values), max(values)
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def summary(values: Sequence[float]) -> dict[str, float]:
    low, high = quartiles(values)
    return {"median": median(values), "p25": low, "p75": high, "min": min(values), "n": len(values)}


# --- facts about the run -------------------------------------------------------------------


def machine_facts() -> dict[str, object]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    dirty = git("status", "--porcelain", "--", "lambda_src")
    return {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "loadavg_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "boto3": metadata.version("boto3"),
        "aws_lambda_powertools": metadata.version("aws-lambda-powertools"),
        "pydantic": metadata.version("pydantic"),
        "commit": git("rev-parse", "--short", "HEAD"),
        "lambda_src_uncommitted_changes": bool(dirty),
    }


def run_lambda_child(script: str, args: Sequence[str], env: dict[str, str], out: Path, log: Path, what: str) -> None:
    """Run ``script`` in a Lambda-like child (its stdout, the function's log, into ``log``; its
    result into ``out``); a failed child raises with the end of its stderr."""
    with log.open("wb") as stdout:
        proc = subprocess.run(
            lambda_python(script, *args, str(out)),
            env=env,
            cwd=WORK,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{proc.stderr[-3000:]}")


def log_facts(path: Path) -> dict[str, Any]:
    """What a function process wrote to stdout (Lambda sends it to CloudWatch Logs): bytes, lines,
    and the custom metrics its EMF lines define, one per namespace, metric name and dimension set
    with its values (what CloudWatch bills as one metric)."""
    size, lines, metrics = 0, 0, set()
    with path.open("rb") as log:
        for raw in log:
            size, lines = size + len(raw), lines + 1
            if b'"_aws"' not in raw:
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
                for dimensions in directive.get("Dimensions", []):
                    key = ",".join(f"{name}={record.get(name)}" for name in dimensions)
                    for metric in directive.get("Metrics", []):
                        metrics.add(f"{directive.get('Namespace')}/{metric['Name']}[{key}]")
    return {"bytes": size, "lines": lines, "emf_metrics": sorted(metrics)}


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
