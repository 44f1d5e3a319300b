"""CloudTrail discovery's cost per event: StartSession and TerminateSession records through the handler.

One Lambda-like process (see ``bench/common.py``; X-Ray on) runs the Athena emulator on a
background thread and the real ``session_monitor.entry.handler`` on its main thread; moto server
(SNS, DynamoDB) runs in its own process, with the follow-up queue. Each round is one session's
life, as EventBridge and SQS would deliver it:

1. ``StartSession``: the emulator starts a session in the watched workgroup and keeps the
   CloudTrail record; the handler gets what the stack's rule delivers for it: EventBridge's
   envelope through the rule's input transformer (``local_mode.cloudtrail.rule_input``).
2. the start check: the follow-ups the handler queued (captured as they are sent to SQS, by
   SendMessage or SendMessageBatch), delivered as one SQS batch per distinct DelaySeconds once the
   emulator's clock has moved by it; nothing queued, no invocation.
3. ``TerminateSession``: the session is terminated (TERMINATING for the emulator's 4 s), its
   record goes to the handler, which looks at once and queues a re-check.
4. the terminate re-check: delivered 30 s later (emulator time), the session is TERMINATED: the
   alert is sent. (Had the first look seen TERMINATED, nothing would be queued: 0 invocations.)

The function's clock is the emulator's (as in local mode). Per event: invocations (handler calls,
counted), Athena calls by
operation (the emulator's count of wire requests), DynamoDB reads and writes and other AWS calls
(hooks on the function's clients: ``bench/aws_calls.py``), SQS messages queued, and the main
thread's CPU (``thread_time``: the emulator's threads are not in it) and wall time, median over
rounds. Round 0 warms the container and is not kept. Nothing is asserted: the counts are measured.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script in a child: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

WORKGROUP = "etl"
EVENTS = ("StartSession", "start check", "TerminateSession", "terminate re-check")


# --- the child: the function, with the emulator on a thread -----------------------------------


class _Round:
    """One session's life through the handler, each event measured."""

    def __init__(self, emulator: Any, handler: Callable[..., Any], counter: Any) -> None:
        from tests.helpers import LambdaContext

        self.emulator, self.handler, self.counter = emulator, handler, counter
        self.context = LambdaContext()

    def run(self) -> dict[str, dict[str, Any]]:
        from local_mode.cloudtrail import rule_input

        measured: dict[str, dict[str, Any]] = {}
        session_id = self.emulator.start_session(WORKGROUP)
        [started] = self.emulator.drain_trail()
        measured["StartSession"] = self._measure([(0, rule_input(started))])
        measured["start check"] = self._measure(self._follow_ups(measured["StartSession"]))
        self.emulator.terminate_session(session_id)
        [terminated] = self.emulator.drain_trail()
        measured["TerminateSession"] = self._measure([(0, rule_input(terminated))])
        measured["terminate re-check"] = self._measure(self._follow_ups(measured["TerminateSession"]))
        return measured

    def _follow_ups(self, after: dict[str, Any]) -> list[tuple[float, dict[str, Any]]]:
        """The messages ``after`` queued, as Lambda's SQS event source delivers them: one batch per
        distinct DelaySeconds, each once the emulator's clock has moved by its delay (none queued:
        no invocation)."""
        from tests.helpers import load_event

        batches: list[tuple[float, dict[str, Any]]] = []
        waited = 0.0
        for delay in sorted({m["delay_seconds"] for m in after["queued"]}):
            batch = load_event("sqs_batch.json")
            template = batch["Records"][0]
            batch["Records"] = [
                dict(template, messageId=str(uuid.uuid4()), body=m["body"])
                for m in after["queued"]
                if m["delay_seconds"] == delay
            ]
            batches.append((delay - waited, batch))
            waited = delay
        return batches

    def _measure(self, deliveries: list[tuple[float, dict[str, Any]]]) -> dict[str, Any]:
        """Each delivery (seconds to move the emulator's clock first, the event) through the
        handler: one invocation each, counted, with their calls, CPU and wall time summed."""
        from bench import aws_calls

        before, athena0, queued0 = self.counter.snapshot(), dict(self.emulator.calls), len(self.counter.sent)
        cpu = wall = 0.0
        answers = []
        for advance, event in deliveries:
            self.emulator.clock.advance(advance)
            wall0, cpu0 = time.perf_counter(), time.thread_time()
            answers.append(self.handler(event, self.context))
            cpu, wall = cpu + time.thread_time() - cpu0, wall + time.perf_counter() - wall0
        aws = aws_calls.difference(self.counter.snapshot(), before)
        return {
            "invocations": len(answers),
            "cpu_ms": cpu * 1000,
            "wall_ms": wall * 1000,
            "athena_calls": {
                op: n - athena0.get(op, 0) for op, n in self.emulator.calls.items() if n - athena0.get(op, 0)
            },
            "aws_calls": {k: v for k, v in aws["calls"].items() if not k.startswith("athena:")},
            "dynamodb": aws["dynamodb"],
            "queued": self.counter.sent[queued0:],
            "answers": answers,
        }


def _child(rounds: int, out: Path) -> None:
    from local_mode.athena_emulator import AthenaEmulator, Clock
    from local_mode.athena_wire import EmulatorServer

    emulator = AthenaEmulator(Clock())
    emulator.add_workgroup(WORKGROUP)
    with EmulatorServer(emulator) as server:
        os.environ["AWS_ENDPOINT_URL_ATHENA"] = server.endpoint_url  # before the function reads it
        import session_monitor.entry as entry
        from bench import aws_calls
        from session_monitor import clock

        clock.utc_now = emulator.clock.now  # one clock, as in local mode
        counter = aws_calls.install()
        lives = [_Round(emulator, entry.handler, counter).run() for _ in range(rounds + 1)][1:]
    out.write_text(json.dumps(lives, default=str))


# --- the parent: moto, the environment, the summary -------------------------------------------


def _summary(lives: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Per event: the counts of the first kept round (and whether any round differed), invocations
    included (an SQS batch is one invocation whatever it holds), CPU and wall medians."""
    events: dict[str, Any] = {}
    for name in EVENTS:
        samples = [life[name] for life in lives]
        counts = [
            (
                s["invocations"],
                s["athena_calls"],
                s["aws_calls"],
                s["dynamodb"].get("rru", 0),
                s["dynamodb"].get("wru", 0),
            )
            for s in samples
        ]
        first = samples[0]
        events[name] = {
            "invocations": first["invocations"],
            "athena_calls": first["athena_calls"],
            "aws_calls": first["aws_calls"],
            "dynamodb": first["dynamodb"],
            "sqs_messages_queued": len(first["queued"]),
            "counts_varied_between_rounds": any(c != counts[0] for c in counts),
            "cpu_ms": common.summary([s["cpu_ms"] for s in samples]),
            "wall_ms": common.summary([s["wall_ms"] for s in samples]),
            "answers": first["answers"],
        }
    return events


def measure(quick: bool = False) -> dict[str, Any]:
    import boto3

    from bench.sweep_scale import Service

    rounds = 5 if quick else 20
    asset, site = common.build_asset("asset"), common.lambda_site()
    moto = Service("moto")
    try:
        queue_url = boto3.client(
            "sqs",
            region_name=common.REGION,
            endpoint_url=moto.info["url"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_queue(QueueName="athena-session-monitor-follow-ups")["QueueUrl"]
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as xray_sink,
            tempfile.TemporaryDirectory(dir=common.WORK) as tmp,
        ):
            xray_sink.bind(("127.0.0.1", 0))
            env = common.lambda_env(
                asset,
                site,
                extra_path=[common.REPO],
                xray_port=xray_sink.getsockname()[1],
                AWS_ENDPOINT_URL=moto.info["url"],
                ALERTS_TOPIC_ARN=moto.info["topic_arn"],
                STATE_TABLE_NAME=moto.info["table"],
                WATCHED_WORKGROUPS=WORKGROUP,
                FOLLOW_UP_QUEUE_URL=queue_url,
            )
            out, log = Path(tmp) / "lives.json", Path(tmp) / "stdout.log"
            common.run_lambda_child(
                str(Path(__file__).resolve()), ["--child", str(rounds)], env, out, log, "cloudtrail child"
            )
            lives = json.loads(out.read_text())
            logged = common.log_facts(log)
    finally:
        moto.close()
    # What one session's life logs (its four invocations), warm-up round included in the average.
    per_life = {"bytes": logged["bytes"] / (rounds + 1), "emf_metrics": logged["emf_metrics"]}
    return {"rounds": rounds, "events": _summary(lives), "log_per_life": per_life}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("ROUNDS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.child:
        _child(int(args.child[0]), Path(args.child[1]))
    else:
        print(json.dumps(measure(args.quick), indent=2, default=str))


if __name__ == "__main__":
    main()
