"""Run every benchmark, print one markdown report, write bench/results.json.

    .venv/bin/python -m bench.run            # full run, about 10 minutes on 2 cores (5 of them the 100k sweep)
    .venv/bin/python -m bench.run --quick    # fewer repeats, naive baseline sampled, no 100k sweep: ~2 minutes
    .venv/bin/python -m bench.run --only cold,warm
    .venv/bin/python -m bench.run --only load  # concurrent API + overlapping sweeps: ~10 s (--quick ~7 s)

Every number is a ratio against a floor measured in the same run, or a median over repeats; none
is a pass/fail threshold (the machine is shared and noisy). See bench/README.md for the method.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import asset_size, cloudtrail_events, cold_start, common, cost_model, load, sweep_scale, warm

PARTS = ("cold", "warm", "sweep", "cloudtrail", "load", "asset")


def _ms(summary: dict[str, float]) -> str:
    return f"{summary['median']:.1f} [{summary['p25']:.0f}–{summary['p75']:.0f}]"


def _round(count: int) -> str:
    """Two significant figures: these are extrapolations, not counts."""
    if count < 1000:
        return str(count)
    digits = len(str(count)) - 2
    value = round(count, -digits)
    return f"{value / 1_000_000:g}M" if value >= 1_000_000 else f"{value / 1000:g}k"


def _render_load(result: dict[str, Any]) -> list[str]:
    return _load_routes(result) + _load_summary(result) + _load_alerts(result["alerts"])


def _load_routes(result: dict[str, Any]) -> list[str]:
    """The heading (what ran) and the latency table, one row per route that saw requests."""
    config = result["config"]
    lines = [
        "",
        (
            f"### Load: {result['requests_sent']} API requests from {config['clients']} client connections over "
            f"{config['api_servers']} API containers, {config['sweepers']} containers sweeping at the same time; "
            f"{config['sessions']} sessions ({config['failing_sessions']} go DEGRADED, then FAILED), "
            f"{config['athena_delay_s'] * 1000:.0f} ms per Athena call"
        ),
        "",
        "| route | requests | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for route, row in result["routes"].items():
        if row["n"]:
            lines.append(
                f"| {route} | {row['n']} | {row['p50_ms']:.0f} | {row['p90_ms']:.0f} | "
                f"{row['p99_ms']:.0f} | {row['max_ms']:.0f} |"
            )
    return lines


def _load_summary(result: dict[str, Any]) -> list[str]:
    """One paragraph: throughput, status codes, sweeps, Athena calls, CPU per process."""
    config = result["config"]
    statuses = ", ".join(f"{code} ×{n}" for code, n in sorted(result["status_counts"].items()))
    not_ok = sum(n for code, n in result["status_counts"].items() if code != "200")
    sweeps = result["sweeps"]
    failed = (
        f"**{len(sweeps['errors'])} failed**: {'; '.join(sweeps['errors'][:3])}" if sweeps["errors"] else "none failed"
    )
    return [
        "",
        f"{result['requests_per_s']:.0f} requests/s ({result['requests_sent']} sent, "
        f"{result['requests_skipped_at_deadline']} skipped at the {config['deadline_s']:.0f} s deadline; "
        f"three phases in {result['load_wall_s']:.1f} s). Status codes: {statuses}"
        + (f" (**{not_ok} not 200**)" if not_ok else "")
        + f". Sweeps: {sweeps['count']}, "
        + failed
        + ". Athena calls: "
        + ", ".join(f"{op} {n}" for op, n in sorted(result["athena_calls"].items()))
        + ". CPU s: "
        + ", ".join(f"{name} {cpu:.1f}" for name, cpu in result["cpu_s"].items())
        + ".",
    ]


def _load_alerts(alerts: dict[str, Any]) -> list[str]:
    """The alert accounting table, who published, then each duplicate, lost, unexpected alert."""
    lines = [
        "",
        (
            "| alerts (one DEGRADED, one FAILED per failing session) | expected | received | duplicates | "
            "lost | unexpected |"
        ),
        "|---|---|---|---|---|---|",
        (
            f"| by alert_id, read back from the queue | {alerts['expected']} | {alerts['received']} | "
            f"{len(alerts['duplicates'])} | {len(alerts['lost'])} | {len(alerts['unexpected'])} |"
        ),
        "",
        "Published by: " + ", ".join(f"{name} {n}" for name, n in alerts["published_by"].items()) + ".",
    ]
    for alert_id, copies in alerts["duplicates"].items():
        lines.append(
            f"- **duplicate** {alert_id}: " + ", ".join(f"{c['process']} (message {c['message_id']})" for c in copies)
        )
    lines += [f"- **lost** {alert_id}" for alert_id in alerts["lost"]]
    lines += [f"- **unexpected** {alert_id}" for alert_id in alerts["unexpected"]]
    lines += [f"- **published, never received** {item}" for item in alerts["published_not_received"]]
    return lines


def _render_machine(results: dict[str, Any]) -> list[str]:
    """The section heading and the machine, versions and commit the numbers come from."""
    facts = results["machine"]
    return [
        f"## Benchmarks, {facts['date']}",
        "",
        f"{facts['cpu_model']}, nproc {facts['nproc']}, Python {facts['python']}, boto3 {facts['boto3']}, "
        f"Powertools {facts['aws_lambda_powertools']}, pydantic {facts['pydantic']}; commit {facts['commit']}"
        + (" + uncommitted lambda_src changes" if facts["lambda_src_uncommitted_changes"] else "")
        + f"; load average at start {facts['loadavg_at_start']:.2f}; {'quick' if results['quick'] else 'full'} run.",
    ]


def _render_cold(cold: dict[str, Any]) -> list[str]:
    lines = [
        "",
        (f"### Init: fresh Lambda-like interpreters, {cold['runs']} runs each, interleaved (ms, median [p25–p75])"),
        "",
        "| variant | wall | CPU | wall × floor | CPU × floor | per-round wall × floor [p25–p75] |",
        "|---|---|---|---|---|---|",
    ]
    for row in cold["variants"].values():
        ratio = (
            f"{row['wall_ratio']:.2f} | {row['cpu_ratio']:.2f} | {_ratio(row['paired_wall_ratio'])}"
            if row.get("floor")
            else "floor | floor | floor"
        )
        lines.append(f"| {row['label']} | {_ms(row['wall_ms'])} | {_ms(row['cpu_ms'])} | {ratio} |")
    tracing = next(iter(r["tracer_on"] for n, r in cold["variants"].items() if n == "entry"))
    lines.append(f"\nTracer initialised (X-Ray on) in the handler's process: {tracing}.")
    lines += _render_first_answer(cold)
    imports = cold["importtime"]
    for name, title in (("entry", "import session_monitor.entry"), ("entry_api", "+ session_monitor.api")):
        lines += _render_importtime(title, imports[name], imports["repeats"])
    return lines


def _ratio(summary: dict[str, float]) -> str:
    return f"{summary['median']:.2f} [{summary['p25']:.2f}–{summary['p75']:.2f}]"


def _render_first_answer(cold: dict[str, Any]) -> list[str]:
    """Issue 16's ratios against their targets (judged on the per-round paired wall ratio: each
    round's variant over its floor in the same round), then where each route's first answer goes."""
    variants, lines = cold["variants"], [""]
    for name, target in cold.get("targets", {}).items():
        row = variants[name]
        ratio = row["paired_wall_ratio"]["median"]
        verdict = "meets" if ratio <= target else "**misses**"
        lines.append(
            f"- {row['label']}: **{ratio:.2f}× the floor** (median of per-round paired wall ratios; ratio of "
            f"medians: wall {row['wall_ratio']:.2f}×, CPU {row['cpu_ratio']:.2f}×), {verdict} the target of "
            f"≤ {target}×"
        )
    steps = cold.get("steps")
    if not steps:
        return lines
    names = list(dict.fromkeys(step for route in steps.values() for step in route))
    lines += [
        "",
        f"#### A cold first answer step by step (wall ms, median of {cold['runs']} fresh interpreters per route)",
        "",
        "| route | " + " | ".join(names) + " | total |",
        "|---|" + "---|" * (len(names) + 1),
    ]
    labels = {"floor": "floor (boto3)", "direct": "direct {SessionId}", "api": "GET /sessions/{id}"}
    for route, marks in steps.items():
        cells = [f"{marks[n]:.1f}" if n in marks else "" for n in names]
        lines.append(f"| {labels.get(route, route)} | " + " | ".join(cells) + f" | {sum(marks.values()):.1f} |")
    return lines


def _render_importtime(title: str, part: dict[str, Any], repeats: int) -> list[str]:
    """One ``-X importtime`` table: packages of 1 ms or more, the rest summed in one row."""
    lines = [
        "",
        (
            f"### `python -X importtime`: {title}, beyond the floor's modules "
            f"(median of {repeats}): {part['total_beyond_floor_ms']} ms"
        ),
        "",
        "| package | self ms | first pulled in by |",
        "|---|---|---|",
    ]
    shown = 0.0
    for package, value in part["by_package_ms"].items():
        if value < 1.0:
            continue
        shown += value
        lines.append(f"| {package} | {value} | {part['pulled_in_by'][package]} |")
    lines.append(f"| (others, < 1 ms each) | {part['total_beyond_floor_ms'] - shown:.1f} | |")
    lines.append(
        f"\nOf which compiling our {len(part['our_modules'])} modules from source (the asset "
        f"ships no .pyc; /var/task is read-only): {part['compile_our_modules_ms']} ms CPU."
    )
    return lines


def _render_warm(warm_: dict[str, Any]) -> list[str]:
    on, off = warm_["tracing_on"], warm_["tracing_off"]
    lines = [
        "",
        (
            f"### Warm invocation: CPU ms per call, median of {warm_['batches']} batches of "
            f"{warm_['batch']} (Athena stubbed in-process)"
        ),
        "",
        "| route | X-Ray on | ours (− floor) | X-Ray off | ours (− floor) | target |",
        "|---|---|---|---|---|---|",
    ]
    lines += [_warm_row(route, on["routes"][route], off["routes"][route]) for route in warm.ROUTES]
    lines.append(
        f"\nX-Ray datagrams that reached the (unread) daemon port: {on['xray_datagrams_seen']} with "
        f"tracing on, {off['xray_datagrams_seen']} with it off."
    )
    return lines


def _warm_row(route: str, a: dict[str, Any], b: dict[str, Any]) -> str:
    """One route's row: X-Ray on (``a``) and off (``b``), each total and net of the floor."""
    own_a = f"{a['own_cpu_ms_per_call']:.3f}" if route != "floor" else "floor"
    own_b = f"{b['own_cpu_ms_per_call']:.3f}" if route != "floor" else "floor"
    target = f"< {warm.TARGET_MS[route]:.0f} ms" if route in warm.TARGET_MS else ""
    return (
        f"| {route} | {a['cpu_ms_per_call']['median']:.3f} | {own_a} | "
        f"{b['cpu_ms_per_call']['median']:.3f} | {own_b} | {target} |"
    )


def _render_sweep(sweep: dict[str, Any]) -> list[str]:
    first = sweep["scenarios"][0]
    lines = [
        "",
        (
            f"### Sweep: {first['delay_s'] * 1000:.0f} ms per Athena call, {first['workers']} workers, "
            "SNS/DynamoDB on moto server"
        ),
        "",
        "| sessions | run | wall s | CPU s | harness CPU s | Athena calls | alerts | peak RSS MB | naive ÷ ours |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario in sweep["scenarios"]:
        lines += [_sweep_row(_sessions(scenario), label, run) for label, run in scenario["sweeps"].items()]
        lines.append(_naive_row(scenario))
    for name, why in sweep.get("skipped", {}).items():
        workgroups, per_workgroup = sweep_scale.SCENARIOS[name]
        lines.append(f"| {workgroups * per_workgroup:,} ({workgroups:,} workgroups) | {why} | | | | | | | |")
    return lines + _render_sweep_aws(sweep) + _render_capacity(sweep["capacity"])


def _sessions(scenario: dict[str, Any]) -> str:
    """The scenario's size: sessions and workgroups."""
    workgroups = f"{scenario['workgroups']:,} workgroup{'' if scenario['workgroups'] == 1 else 's'}"
    return f"{scenario['sessions']:,} ({workgroups})"


def _render_sweep_aws(sweep: dict[str, Any]) -> list[str]:
    """Per sweep: DynamoDB reads and writes, SNS publishes and log output, counted on the function's
    clients (request units estimated from the items' sizes: bench/aws_calls.py)."""
    lines = [
        "",
        "DynamoDB, SNS and logs per sweep (counted by hooks on the function's clients):",
        "",
        (
            "| sessions | run | DynamoDB reads: calls, items, RRU | writes: calls, items, WRU | SNS publishes | "
            "other calls | log KB | EMF metrics |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for scenario in sweep["scenarios"]:
        for label, run in scenario["sweeps"].items():
            aws, log = run.get("aws"), run.get("log")
            if not aws or not log:
                continue
            db, calls = aws["dynamodb"], aws["calls"]
            other = ", ".join(
                f"{op} {n}"
                for op, n in calls.items()
                if not op.startswith(("athena:", "dynamodb:")) and op != "sns:Publish"
            )
            lines.append(
                f"| {_sessions(scenario)} | {label} | {db.get('read_calls', 0):,}, {db.get('items_read', 0):,}, "
                f"{db.get('rru', 0):,.1f} | {db.get('write_calls', 0):,}, {db.get('items_written', 0):,}, "
                f"{db.get('wru', 0):,.0f} | {calls.get('sns:Publish', 0):,} | {other or '-'} | "
                f"{log['bytes'] / 1024:,.1f} | {len(log['emf_metrics'])} |"
            )
    return lines


def _sweep_row(sessions: str, label: str, run: dict[str, Any]) -> str:
    """One measured sweep of a scenario (ours, in one of its configurations)."""
    calls = ", ".join(f"{op} {n}" for op, n in run["athena_calls"].items())
    if run.get("filtered_list_pages"):  # the per-state listings that find short-lived sessions
        calls += f" (StateFilter pages {run['filtered_list_pages']})"
    error = f" ({run['error'][:120]})" if run["error"] else ""
    harness = run["emulator_cpu_s"] + run["moto_cpu_s"]
    return (
        f"| {sessions} | {label}{error} | {run['wall_s']:.2f} | {run['cpu_s']:.2f} | "
        f"{harness:.1f} | {calls} | {run['alerts_sent']} | {run['peak_rss_mb']:.0f} | "
        f"{run['naive_over_ours']:.0f} |"
    )


def _render_cloudtrail(result: dict[str, Any]) -> list[str]:
    lines = [
        "",
        (
            "### CloudTrail discovery: one session's life through the handler, per event "
            f"(median of {result['rounds']} rounds; X-Ray on)"
        ),
        "",
        (
            "| event | invocations | Athena calls | DynamoDB reads (RRU) | writes (WRU) | SQS messages | "
            "other AWS calls | CPU ms | wall ms |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, event in result["events"].items():
        db = event["dynamodb"]
        athena = ", ".join(f"{op} {n}" for op, n in event["athena_calls"].items()) or "0"
        other = ", ".join(
            f"{op} {n}" for op, n in event["aws_calls"].items() if not op.startswith(("dynamodb:", "sqs:SendMessage"))
        )
        varied = " (varied between rounds)" if event["counts_varied_between_rounds"] else ""
        lines.append(
            f"| {name}{varied} | {event['invocations']} | {athena} | {db.get('read_calls', 0)} "
            f"({db.get('rru', 0):g}) | {db.get('write_calls', 0)} ({db.get('wru', 0):g}) | "
            f"{event['sqs_messages_queued']} | {other or '-'} | {_ms(event['cpu_ms'])} | {_ms(event['wall_ms'])} |"
        )
    events = result["events"]
    started = events["StartSession"]["invocations"] + events["start check"]["invocations"]
    ended = events["TerminateSession"]["invocations"] + events["terminate re-check"]["invocations"]
    lines.append(
        f"\nInvocations counted: a StartSession call cost {started} (its event and the delayed start check), a "
        f"TerminateSession call {ended} (its event, and a re-check because the session was still TERMINATING; "
        "1 when the first look already sees TERMINATED). ListSessions calls: "
        f"{sum(e['athena_calls'].get('ListSessions', 0) for e in events.values())}."
    )
    return lines


def _naive_row(scenario: dict[str, Any]) -> str:
    """The naive baseline's row: measured, or sampled on some workgroups and scaled up."""
    naive = scenario["naive"]
    how = (
        f"{naive['wall_s']:.1f} s measured on {naive['workgroups_run']} workgroups, scaled ×"
        f"{scenario['workgroups'] / naive['workgroups_run']:.0f}"
        if naive["extrapolated"]
        else "measured"
    )
    return (
        f"| {_sessions(scenario)} | naive baseline ({how}) | {naive['estimated_wall_s']:.1f} | "
        f"{naive['cpu_s']:.2f} | | ListSessions {naive['pages']}, GetSession {naive['get_sessions']} "
        f"| 0 | {naive['peak_rss_mb']:.0f} | 1 |"
    )


def _render_capacity(cap: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "Harness CPU: the Athena emulator's and moto's processes during the run (same 2 cores).",
        "",
        (
            f"Capacity of one invocation (linear model from the {cap['measured_at_sessions']}-session run; "
            f"ListSessions page {cap['page_s'] * 1000:.0f} ms, GetSession {cap['get_session_s'] * 1000:.0f} ms "
            "measured):"
        ),
    ]
    for seconds in sweep_scale.CAPACITY_SECONDS:
        lines.append(
            f"- in {seconds} s: ~{_round(cap[f'all_changed_sessions_in_{seconds}s'])} sessions if every "
            f"one needs a GetSession, ~{_round(cap[f'first_sweep_sessions_in_{seconds}s'])} on a first "
            f"sweep, ~{_round(cap[f'steady_sessions_in_{seconds}s'])} steady state, "
            f"~{_round(cap[f'one_workgroup_sessions_in_{seconds}s'])} in one workgroup (sequential pages)"
        )
    if "vcpu" not in cap:
        return lines
    per_session = cap["cpu_ms_per_session"]
    lines.append(
        f"- CPU-bound at the stack's {cap['memory_mb']} MB ({cap['vcpu']:.2f} of a vCPU): the function's own CPU "
        f"is {per_session['first'] * 1000:.0f} µs per session on a first sweep and "
        f"{per_session['no_change'] * 1000:.0f} µs steady state (on this machine's cores), so "
        + "; ".join(
            f"in {seconds} s ~{_round(cap[f'cpu_bound_first_sessions_in_{seconds}s'])} on a first sweep, "
            f"~{_round(cap[f'cpu_bound_no_change_sessions_in_{seconds}s'])} steady state"
            for seconds in sweep_scale.CAPACITY_SECONDS
        )
    )
    return lines


def _render_asset(asset: dict[str, Any]) -> list[str]:
    return [
        "",
        "### Deployment asset",
        "",
        "| source | files | unzipped bytes | zipped bytes |",
        "|---|---|---|---|",
        f"| {asset['origin']} | {asset['files']} | {asset['unzipped_bytes']:,} | {asset['zipped_bytes']:,} |",
    ]


# The report's sections in order, each rendered when its part of the results is present.
SECTIONS = (
    ("cold", _render_cold),
    ("warm", _render_warm),
    ("sweep", _render_sweep),
    ("cloudtrail", _render_cloudtrail),
    ("load", _render_load),
    ("asset", _render_asset),
)


# The parts the cost model needs: per sweep, per session's life, per cold start (INIT).
COST_PARTS = ("sweep", "cloudtrail", "cold")


def _count_stack() -> dict[str, int | None]:
    """The stack's alarm metrics and customer-managed keys, from the bench's own synth of it."""
    usage = cost_model.counted_usage(cost_model.Usage(), fresh=True)
    return {"alarm_metrics": usage.alarm_metrics, "kms_keys": usage.kms_keys}


def render(results: dict[str, Any]) -> str:
    lines = _render_machine(results)
    for part, render_part in SECTIONS:
        if results.get(part):
            lines += render_part(results[part])
    if all(results.get(part) for part in COST_PARTS):
        lines += ["", *cost_model.render(cost_model.model(results))]
    lines += ["", f"Total benchmark time: {results['duration_s']:.0f} s."]
    return "\n".join(lines)


def _steps(quick: bool) -> dict[str, Callable[[], Any]]:
    """Each part of the bench, to run."""
    return {
        "cold": lambda: {
            **cold_start.measure(5 if quick else 15),
            "importtime": cold_start.importtime_breakdown(2 if quick else 5),
        },
        "warm": lambda: warm.measure(batch=50 if quick else 100, batches=5 if quick else 15),
        "sweep": lambda: sweep_scale.measure(quick=quick),
        "cloudtrail": lambda: cloudtrail_events.measure(quick=quick),
        "load": lambda: load.measure(quick=quick),
        "asset": asset_size.measure,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the benchmark suite")
    parser.add_argument("--quick", action="store_true", help="fewer repeats; the naive sweep sampled")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parent / "results.json")
    args = parser.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")

    started = time.perf_counter()
    common.WORK.mkdir(exist_ok=True)
    results: dict[str, Any] = {"machine": common.machine_facts(), "quick": args.quick}
    steps = _steps(args.quick)
    for part in parts:
        step_started = time.perf_counter()
        print(f"bench: {part} ...", file=sys.stderr, flush=True)
        results[part] = steps[part]()
        results.setdefault("step_seconds", {})[part] = round(time.perf_counter() - step_started, 1)
    if all(part in parts for part in COST_PARTS):
        results["stack"] = _count_stack()
    results["duration_s"] = time.perf_counter() - started
    common.write_json(args.output, results)
    print(render(results))
    print(
        f"\n(results written to {args.output.relative_to(common.REPO) if args.output.is_relative_to(common.REPO) else args.output})"
    )


if __name__ == "__main__":
    main()
