"""One month of the monitor's own AWS bill at 100, 10k and 100k sessions, from the bench's counts.

    .venv/bin/python -m bench.cost_model                 # reads bench/results.json (make bench)
    .venv/bin/python -m bench.cost_model --synth         # synthesizes the stack afresh to count its alarms
    .venv/bin/python -m bench.cost_model --lifetime-hours 2 --schedule-minutes 10

Nothing here is estimated that the bench measured: per sweep, the steady-state ("no change") run's
wall time, Athena calls, DynamoDB request units, SNS publishes and log bytes; per session's life
(CloudTrail discovery: StartSession, the start check, TerminateSession, the re-check), the same
counts per event, invocations counted; per cold start, the handler's import (the INIT phase, billed
since 2025-08-01). The stack's alarms and customer-managed KMS keys are counted in a synthesized
template (the bench synthesizes one when none is at hand; a month is never priced without them).
What the bench cannot know is an input, stated in the table: prices (us-east-1, with the date they
were checked), the schedule, memory, how long sessions live (how many start and end in a month),
cold starts a day, the alerts' subscriptions by protocol (and, optionally, the month's alert count)
and the month's length. Free tiers are left out (they are per account).

The 100k column comes from the 100k scenario when the run measured it; ``--quick`` skips that
scenario, and the column is then the 10k scenario's counts times ten (both are workgroups of 100
identical sessions, so counts are linear in workgroups; wall time is then an extrapolation), and
its "counts from" row says so.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

PRICES_CHECKED = "2026-11-28"
REGION = "us-east-1"
# USD, us-east-1, on-demand, before free tiers. Each checked against the pricing page named in SOURCES.
PRICES = {
    "lambda_gb_second_arm64": 0.0000133334,
    "lambda_requests_per_million": 0.20,
    "dynamodb_wru_per_million": 0.625,
    "dynamodb_rru_per_million": 0.125,
    "sns_publishes_per_million": 0.50,
    "sns_email_deliveries_per_100k": 2.00,
    "sns_https_deliveries_per_million": 0.60,
    "kms_key_month": 1.00,
    "kms_requests_per_10k": 0.03,
    "sqs_requests_per_million": 0.40,
    "cloudwatch_custom_metric_month": 0.30,
    "cloudwatch_alarm_metric_month": 0.10,
    "cloudwatch_logs_ingested_per_gb": 0.50,
    "xray_traces_recorded_per_million": 5.00,
}
SOURCES = {
    "Lambda": "https://aws.amazon.com/lambda/pricing/ (Arm: $0.0000133334 per GB-s, $0.20 per 1M requests)",
    "DynamoDB": "https://aws.amazon.com/dynamodb/pricing/on-demand/ ($0.625 per 1M WRU, $0.125 per 1M RRU "
    "since the 2024-11-01 on-demand price cut)",
    "SNS": "https://aws.amazon.com/sns/pricing/ ($0.50 per 1M publishes, standard topics; deliveries: e-mail "
    "$2.00 per 100k, HTTP/S $0.60 per 1M, to SQS and Lambda free). Checked against third-party copies of the "
    "page (the stored search corpus has no AWS copy of it)",
    "KMS": "https://aws.amazon.com/kms/pricing/ ($1 per customer-managed key-month, $0.03 per 10k requests); "
    "checked against third-party summaries only",
    "Lambda INIT": "https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/ (from "
    "2025-08-01 the INIT phase of on-demand ZIP functions on managed runtimes is billed like the invoke phase)",
    "SQS": "https://aws.amazon.com/sqs/pricing/ ($0.40 per 1M standard requests)",
    "CloudWatch": "https://aws.amazon.com/cloudwatch/pricing/ ($0.30 per custom metric-month for the first 10k, "
    "$0.10 per standard-resolution alarm metric-month, $0.50 per GB of standard logs ingested)",
    "X-Ray": "https://aws.amazon.com/xray/pricing/ ($5.00 per 1M traces recorded); default sampling rule "
    "(first request each second, 5% of the rest): https://docs.aws.amazon.com/xray/latest/devguide/"
    "xray-console-sampling.html",
    "EventBridge": "https://aws.amazon.com/eventbridge/pricing/ (events from AWS services on the default bus, "
    "CloudTrail's API-call events among them, and scheduled rules: no charge)",
    "Athena": "https://docs.aws.amazon.com/athena/latest/ug/service-limits.html (API calls are not billed; "
    "per-account call-rate quotas apply, see the README)",
    "Lambda CPU": "https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html (one vCPU at 1,769 MB)",
}
SCALES = {"100": 100, "10k": 10_000, "100k": 100_000}
# sweep.VIEW_REFRESH_SECONDS (a test holds them equal): an unchanged view is rewritten once it is a
# day old, so its TTL (monitor.VIEW_TTL_SECONDS, 7 days) never runs out while the session lives.
VIEW_REFRESH_SECONDS = 86_400
# SNS with a customer-managed key: at most a GenerateDataKey and a Decrypt per publish. An upper
# bound: whether SNS reuses data keys between publishes is not documented where we looked.
KMS_REQUESTS_PER_PUBLISH = 2
MB_PER_VCPU = 1769  # Lambda: one vCPU at 1,769 MB, CPU in proportion to memory
SESSION_EVENTS = ("StartSession", "start check", "TerminateSession", "terminate re-check")
# Each SQS message the function sends is one request to send, and Lambda's event source spends
# one receive and one delete on it (its idle long polling is not counted: see the README).
SQS_REQUESTS_PER_MESSAGE = 3


@dataclass(frozen=True)
class Usage:
    """What the bench cannot measure: how the monitor is deployed and how sessions are used."""

    schedule_minutes: int = 5  # session_contract.SCHEDULE_MINUTES' default
    memory_mb: int = 512  # infra/constants.py FUNCTION_MEMORY_MB
    days: int = 30
    session_lifetime_hours: float = 8.0  # each session slot starts and ends a session this often
    cloudtrail_events: bool = True  # the stack's default (cloudTrailEvents)
    cold_starts_per_day: float = 24.0  # new execution environments (INIT phases) a day
    email_subscriptions: int = 1  # subscriptions to the alerts topic, by billed protocol
    https_subscriptions: int = 0  # (SQS and Lambda subscriptions: deliveries not billed)
    alerts_per_month: float | None = None  # None: what the model counts (sweeps + session lives)
    alarm_metrics: int | None = None  # from a synthesized template (StackCount)
    kms_keys: int | None = None  # customer-managed keys, from the same template

    @property
    def sweeps(self) -> int:
        return self.days * 24 * 60 // self.schedule_minutes

    def lives(self, sessions: int) -> float:
        """Sessions started (and ended) in the month, the estate holding ``sessions`` at a time."""
        return sessions * self.days * 24 / self.session_lifetime_hours


@dataclass
class Month:
    """One scale's month: quantities, then their price."""

    sessions: int
    basis: str
    quantities: dict[str, float] = field(default_factory=dict)
    athena_calls: dict[str, float] = field(default_factory=dict)
    usd: dict[str, float] = field(default_factory=dict)

    @property
    def total_usd(self) -> float:
        return sum(self.usd.values())


class NotCounted(ValueError):
    """A quantity the month needs was not counted (no template, no cold-start run): never priced as 0."""


def _scenario(results: dict[str, Any], name: str) -> tuple[dict[str, Any], float, str]:
    """The scenario measured for ``name`` and the factor its counts scale by, with how it was got."""
    scenarios = {s["name"]: s for s in results["sweep"]["scenarios"]}
    found = scenarios.get(name)
    if found:
        plural = "" if found["workgroups"] == 1 else "s"
        return found, 1.0, f"measured ({found['workgroups']:,} workgroup{plural})"
    basis = scenarios["10k"]
    factor = SCALES[name] / basis["sessions"]
    return basis, factor, f"10k scenario ×{factor:g} ({name} not measured in this run)"


def _steady(scenario: dict[str, Any]) -> dict[str, Any]:
    return scenario["sweeps"]["no_change"]


def refreshes_per_life(lifetime_hours: float) -> int:
    """View rewrites a session's life costs beyond its own changes: one each time its view has gone
    unchanged for VIEW_REFRESH_SECONDS. A session living less than a day is never refreshed (its
    writes are those of its life, counted per event)."""
    return math.floor(lifetime_hours * 3600 / VIEW_REFRESH_SECONDS)


def _view_wru(scenario: dict[str, Any]) -> float:
    """WRU per view written, as the first sweep (which wrote every view) measured it."""
    first = scenario["sweeps"]["first"]["aws"]["dynamodb"]
    return first.get("wru", 0) / max(1, first.get("items_written", 0))


def billed_seconds(wall_s: float, cpu_s: float, memory_mb: int) -> float:
    """An invocation's duration in Lambda: its measured wall time, or its measured CPU at the share
    of a vCPU Lambda gives ``memory_mb`` (one vCPU at 1,769 MB), whichever is longer. The bench's
    machine gives the function whole cores; at 512 MB a CPU-bound sweep runs ~3.5 times slower."""
    return max(wall_s, cpu_s * MB_PER_VCPU / memory_mb)


def _per_life(results: dict[str, Any], memory_mb: int) -> dict[str, float]:
    """Counts for one session's life through CloudTrail discovery (its four invocations)."""
    events = results["cloudtrail"]["events"]
    totals: dict[str, float] = {"invocations": 0, "billed_s": 0, "rru": 0, "wru": 0, "sns": 0, "sqs_messages": 0}
    athena: dict[str, float] = {}
    for name in SESSION_EVENTS:
        event = events[name]
        totals["invocations"] += event["invocations"]
        totals["billed_s"] += billed_seconds(
            event["wall_ms"]["median"] / 1000, event["cpu_ms"]["median"] / 1000, memory_mb
        )
        totals["rru"] += event["dynamodb"].get("rru", 0)
        totals["wru"] += event["dynamodb"].get("wru", 0)
        totals["sns"] += event["aws_calls"].get("sns:Publish", 0)
        totals["sqs_messages"] += event["sqs_messages_queued"]
        for op, n in event["athena_calls"].items():
            athena[op] = athena.get(op, 0) + n
    totals["log_bytes"] = results["cloudtrail"]["log_per_life"]["bytes"]
    return {**totals, **{f"athena:{op}": n for op, n in athena.items()}}


def _emf_metrics(results: dict[str, Any]) -> set[str]:
    """Every distinct metric (name, dimensions and their values) the measured runs emitted."""
    found: set[str] = set()
    for scenario in results["sweep"]["scenarios"]:
        for run in scenario["sweeps"].values():
            found.update(run.get("log", {}).get("emf_metrics", []))
    found.update(results.get("cloudtrail", {}).get("log_per_life", {}).get("emf_metrics", []))
    return found


def xray_traces(invocations: float, days: int) -> float:
    """Traces recorded under X-Ray's default rule: the first request each second and 5% of the rest
    (invocations taken as spread evenly over the month, which makes this an upper bound)."""
    seconds = days * 86_400
    return min(invocations, seconds + 0.05 * max(0.0, invocations - seconds))


def init_seconds(results: dict[str, Any], memory_mb: int) -> float:
    """One cold start's billed INIT: a fresh interpreter importing the handler (the cold bench's
    ``entry`` variant, whole process: interpreter start-up included), its import CPU taken at the
    function's share of a vCPU when that is longer."""
    cold = results.get("cold")
    if not cold:
        raise NotCounted("no cold-start run in these results: INIT duration unknown (run make bench)")
    entry = cold["variants"]["entry"]
    return billed_seconds(entry["process_ms"]["median"] / 1000, entry["cpu_ms"]["median"] / 1000, memory_mb)


def _stack_counts(usage: Usage) -> tuple[int, int]:
    if usage.alarm_metrics is None or usage.kms_keys is None:
        raise NotCounted("the stack's alarms and KMS keys were not counted: synthesize it (cost_model --synth)")
    return usage.alarm_metrics, usage.kms_keys


def month(results: dict[str, Any], name: str, usage: Usage, prices: dict[str, float] = PRICES) -> Month:
    alarm_metrics, kms_keys = _stack_counts(usage)
    scenario, factor, basis = _scenario(results, name)
    steady = _steady(scenario)
    sweeps, memory_gb = usage.sweeps, usage.memory_mb / 1024
    all_lives = usage.lives(SCALES[name])
    lives = all_lives if usage.cloudtrail_events else 0
    life = _per_life(results, usage.memory_mb) if usage.cloudtrail_events else {}
    sweep_s = billed_seconds(steady["wall_s"] * factor, steady["cpu_s"] * factor, usage.memory_mb)
    db = steady["aws"]["dynamodb"]
    q: dict[str, float] = {
        "sweeps": sweeps,
        "session lives (started and ended)": lives,
        "Lambda requests": sweeps + lives * life.get("invocations", 0),
        "sweep duration, s": sweep_s,
        "cold starts (billed INIT)": usage.cold_starts_per_day * usage.days,
        "INIT duration, s": init_seconds(results, usage.memory_mb) if usage.cold_starts_per_day else 0.0,
        "Lambda GB-seconds": 0.0,  # below, from the three above
        "DynamoDB RRU": sweeps * db.get("rru", 0) * factor + lives * life.get("rru", 0),
        "DynamoDB WRU": sweeps * db.get("wru", 0) * factor
        + all_lives * refreshes_per_life(usage.session_lifetime_hours) * _view_wru(scenario)
        + lives * life.get("wru", 0),
        "SNS publishes": sweeps * steady["aws"]["calls"].get("sns:Publish", 0) * factor + lives * life.get("sns", 0),
        "SQS requests": lives * life.get("sqs_messages", 0) * SQS_REQUESTS_PER_MESSAGE,
        "CloudWatch custom metrics": len(_emf_metrics(results)),
        "CloudWatch alarm metrics": alarm_metrics,
        "KMS keys (customer managed)": kms_keys,
        "log GB ingested": (sweeps * steady["log"]["bytes"] + lives * life.get("log_bytes", 0)) / 1024**3,
    }
    if usage.alerts_per_month is not None:
        q["SNS publishes"] = usage.alerts_per_month
    q["Lambda GB-seconds"] = memory_gb * (
        sweeps * sweep_s + lives * life.get("billed_s", 0) + q["cold starts (billed INIT)"] * q["INIT duration, s"]
    )
    q["SNS e-mail deliveries"] = q["SNS publishes"] * usage.email_subscriptions
    q["SNS HTTP/S deliveries"] = q["SNS publishes"] * usage.https_subscriptions
    q["KMS requests (upper bound)"] = q["SNS publishes"] * KMS_REQUESTS_PER_PUBLISH
    q["X-Ray traces"] = xray_traces(q["Lambda requests"], usage.days)
    athena = {op: n * sweeps * factor for op, n in steady["athena_calls"].items()}
    for key, n in life.items():
        if key.startswith("athena:"):
            op = key.removeprefix("athena:")
            athena[op] = athena.get(op, 0) + n * lives
    per_million = 1_000_000
    usd = {
        "Lambda": q["Lambda requests"] / per_million * prices["lambda_requests_per_million"]
        + q["Lambda GB-seconds"] * prices["lambda_gb_second_arm64"],
        "DynamoDB": q["DynamoDB RRU"] / per_million * prices["dynamodb_rru_per_million"]
        + q["DynamoDB WRU"] / per_million * prices["dynamodb_wru_per_million"],
        "SNS": q["SNS publishes"] / per_million * prices["sns_publishes_per_million"]
        + q["SNS e-mail deliveries"] / 100_000 * prices["sns_email_deliveries_per_100k"]
        + q["SNS HTTP/S deliveries"] / per_million * prices["sns_https_deliveries_per_million"],
        "KMS": q["KMS keys (customer managed)"] * prices["kms_key_month"]
        + q["KMS requests (upper bound)"] / 10_000 * prices["kms_requests_per_10k"],
        "SQS": q["SQS requests"] / per_million * prices["sqs_requests_per_million"],
        "CloudWatch metrics": q["CloudWatch custom metrics"] * prices["cloudwatch_custom_metric_month"],
        "CloudWatch alarms": q["CloudWatch alarm metrics"] * prices["cloudwatch_alarm_metric_month"],
        "CloudWatch Logs": q["log GB ingested"] * prices["cloudwatch_logs_ingested_per_gb"],
        "X-Ray": q["X-Ray traces"] / per_million * prices["xray_traces_recorded_per_million"],
    }
    return Month(SCALES[name], basis, q, athena, usd)


def model(results: dict[str, Any], usage: Usage | None = None) -> dict[str, Any]:
    """The three scales' months; without ``usage``, the defaults with the stack as the bench run
    counted it (``results["stack"]``), else as a template counts it (synthesized when none is at hand)."""
    if usage is None:
        stack = results.get("stack")  # what the bench run counted in its own synth
        usage = replace(Usage(), **stack) if stack else counted_usage(Usage())
    months = {name: month(results, name, usage) for name in SCALES}
    return {
        "usage": asdict(usage),
        "sweeps_per_month": usage.sweeps,
        "prices": PRICES,
        "prices_checked": PRICES_CHECKED,
        "region": REGION,
        "bench_date": results["machine"]["date"],
        "months": {name: asdict(m) | {"total_usd": m.total_usd} for name, m in months.items()},
    }


# --- the stack's alarms ------------------------------------------------------------------------

# The bench's own synth first: the repository's cdk.out may be from another version of the stack.
TEMPLATE_DIRS = (common.WORK / "cdk.out", common.REPO / "cdk.out")


def stack_counts(template_dirs: tuple[Path, ...] = TEMPLATE_DIRS) -> tuple[int, int] | None:
    """(alarm metrics, customer-managed KMS keys) in the first synthesized template that has alarms
    (a metric-math alarm is billed per metric it reads); None when there is no such template."""
    for directory in template_dirs:
        for template in sorted(directory.glob("*.template.json")):
            resources = json.loads(template.read_text()).get("Resources", {}).values()
            alarms = [r["Properties"] for r in resources if r.get("Type") == "AWS::CloudWatch::Alarm"]
            if alarms:
                return sum(_metrics_read(a) for a in alarms), sum(r.get("Type") == "AWS::KMS::Key" for r in resources)
    return None


def _metrics_read(alarm: dict[str, Any]) -> int:
    """The metrics an alarm is billed for: each MetricStat of a metric-math alarm, else one."""
    return sum(1 for m in alarm.get("Metrics", []) if "MetricStat" in m) or 1


def alarm_metrics(template_dirs: tuple[Path, ...] = TEMPLATE_DIRS) -> int | None:
    counts = stack_counts(template_dirs)
    return counts[0] if counts else None


def counted_usage(usage: Usage, *, fresh: bool = False) -> Usage:
    """``usage`` with the stack's alarm metrics and KMS keys from a template: the bench's own synth
    (done now when ``fresh`` or when no template is at hand). Raises NotCounted if none has alarms."""
    if fresh or stack_counts() is None:
        synth()
    counts = stack_counts()
    if counts is None:
        raise NotCounted("the synthesized stack has no alarms: cannot price them")
    return replace(usage, alarm_metrics=counts[0], kms_keys=counts[1])


def synth() -> None:
    """The stack with its default context, into .bench/cdk.out (as ``cdk synth`` would write it)."""
    context = json.loads((common.REPO / "cdk.json").read_text()).get("context", {})
    env = {
        **os.environ,
        "CDK_OUTDIR": str(common.WORK / "cdk.out"),
        "CDK_CONTEXT_JSON": json.dumps(context),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    subprocess.run([common.PYTHON, "app.py"], cwd=common.REPO, env=env, check=True, capture_output=True)


# --- the table ---------------------------------------------------------------------------------


def _count(value: float) -> str:
    if math.isnan(value):
        return "not counted"
    if value >= 10_000:
        return f"{value / 1_000_000:,.2f}M" if value >= 1_000_000 else f"{value / 1000:,.1f}k"
    return f"{value:,.0f}" if value >= 10 else f"{value:,.2f}"


def _header(result: dict[str, Any]) -> list[str]:
    usage = result["usage"]
    return [
        (
            f"### Cost model: one month of the monitor's own AWS bill ({result['region']}, prices checked "
            f"{result['prices_checked']}, counts from the bench run of {result['bench_date']})"
        ),
        "",
        (
            f"Inputs: a sweep every {usage['schedule_minutes']} min ({result['sweeps_per_month']:,} a month of "
            f"{usage['days']} days), {usage['memory_mb']} MB arm64, each session slot starting and ending a session "
            f"every {usage['session_lifetime_hours']:g} h (CloudTrail discovery "
            f"{'on' if usage['cloudtrail_events'] else 'off'}), {usage['cold_starts_per_day']:g} cold starts a day "
            f"(INIT billed), alerts to {usage['email_subscriptions']} e-mail and {usage['https_subscriptions']} "
            "HTTP/S subscriptions"
            + (
                f", {usage['alerts_per_month']:,.0f} alerts a month (given)"
                if usage["alerts_per_month"] is not None
                else ", one alert per counted publish"
            )
            + f"; {usage['alarm_metrics']} alarm metrics and {usage['kms_keys']} customer-managed KMS key(s) "
            "counted in the synthesized stack; no API traffic, free tiers left out."
        ),
        "",
    ]


def _row(label: str, cells: list[str]) -> str:
    return f"| {label} | " + " | ".join(cells) + " |"


def _quantity_rows(months: list[dict[str, Any]]) -> list[str]:
    """What the month holds: counts, then Athena's calls (not billed)."""
    rows = [_row(key, [_count(m["quantities"][key]) for m in months]) for key in months[0]["quantities"]]
    operations = sorted({op for m in months for op in m["athena_calls"]})
    return rows + [
        _row(f"Athena {op} calls (not billed)", [_count(m["athena_calls"].get(op, 0)) for m in months])
        for op in operations
    ]


def _price_rows(months: list[dict[str, Any]]) -> list[str]:
    rows = [_row(f"{service}, USD", [f"{m['usd'][service]:,.2f}" for m in months]) for service in months[0]["usd"]]
    return [*rows, _row("**total, USD**", [f"**{m['total_usd']:,.2f}**" for m in months])]


def render(result: dict[str, Any]) -> list[str]:
    months = list(result["months"].values())
    return [
        *_header(result),
        _row("per month", [f"{m['sessions']:,} sessions" for m in months]),
        "|---|" + "---|" * len(months),
        _row("counts from", [m["basis"] for m in months]),
        *_quantity_rows(months),
        *_price_rows(months),
        "",
        "Prices (USD, " + result["region"] + "): " + "; ".join(f"{k} {v:g}" for k, v in PRICES.items()),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path(__file__).resolve().parent / "results.json")
    parser.add_argument("--synth", action="store_true", help="synthesize the stack to count its alarms first")
    parser.add_argument("--schedule-minutes", type=int, default=Usage.schedule_minutes)
    parser.add_argument("--memory-mb", type=int, default=Usage.memory_mb)
    parser.add_argument("--lifetime-hours", type=float, default=Usage.session_lifetime_hours)
    parser.add_argument("--no-cloudtrail-events", action="store_true")
    parser.add_argument("--cold-starts-per-day", type=float, default=Usage.cold_starts_per_day)
    parser.add_argument("--email-subscriptions", type=int, default=Usage.email_subscriptions)
    parser.add_argument("--https-subscriptions", type=int, default=Usage.https_subscriptions)
    parser.add_argument("--alerts-per-month", type=float, default=None, help="instead of the counted publishes")
    parser.add_argument("--json", action="store_true", help="print the model as JSON instead of the table")
    args = parser.parse_args()
    results = json.loads(args.results.read_text())
    usage = Usage(
        schedule_minutes=args.schedule_minutes,
        memory_mb=args.memory_mb,
        session_lifetime_hours=args.lifetime_hours,
        cloudtrail_events=not args.no_cloudtrail_events,
        cold_starts_per_day=args.cold_starts_per_day,
        email_subscriptions=args.email_subscriptions,
        https_subscriptions=args.https_subscriptions,
        alerts_per_month=args.alerts_per_month,
    )
    usage = counted_usage(usage, fresh=args.synth)
    result = model(results, usage)
    print(json.dumps(result, indent=2) if args.json else "\n".join(render(result)))
    print("\nSources:\n" + "\n".join(f"- {name}: {source}" for name, source in SOURCES.items()))


if __name__ == "__main__":
    main()
