"""The whole monitor on this machine, with no AWS account: ``python -m local_mode.runner``.

moto server (SNS, SQS, DynamoDB) and the Athena emulator run on 127.0.0.1; the function's
environment is set as the stack sets it, pointing AWS_ENDPOINT_URL at moto and
AWS_ENDPOINT_URL_ATHENA at the emulator, before the function is imported. Four seeded sessions
play out scripted lifecycles on the emulator's clock (one of them ended by a TerminateSession call
the runner makes, as a user would); every tick advances that clock and fires the schedule: a real
EventBridge "Scheduled Event" through ``session_monitor.entry.handler``. State changes and the
alerts read back from a queue subscribed to the alerts topic are printed as they happen. The
function's API (and Swagger UI) is served on 127.0.0.1 meanwhile.

CloudTrail discovery, as the stack wires it with cloudTrailEvents: the runner creates the follow-up
queue on moto and sets FOLLOW_UP_QUEUE_URL. Each tick, before the sweep, it hands the function
what AWS would have delivered by then, each through ``invoke`` as the schedule is:
- every CloudTrail record the emulator kept of a StartSession/TerminateSession call (seeded,
  the runner's, or yours over the wire), wrapped as EventBridge delivers it (an ``event`` line);
- the follow-up checks due, as Lambda's SQS event source hands them over (one batch per 10
  messages, a ``check`` line each), then deleted unless the function reports them failed. The
  function queues them with DelaySeconds (180 s after a start, 30 s while terminating); the runner
  counts those seconds on the emulator's clock, not moto's real-time one (``FollowUpQueue``).
The alerts those sent are printed next, then the sweep's, under a ``sweep`` line: so an ALERT
printed right after a ``check`` or ``event`` line was reported before that tick's sweep ran.

``--once`` plays the scenario to its end without waiting, checks that the alerts received are
exactly those the lifecycles imply (and that no invocation failed), makes one HTTP request to the
API, and exits 0 or 1.

Without ``--once`` the runner also prints the environment that points the ``session-monitor`` CLI
(or any AWS tool) at this stack, as ``export`` lines, and writes them to ``.local-stack.env`` in
the repository root (``--env-file``), which ``session-monitor --local`` reads; the file is removed
when the runner stops. The API URL and the CLI example it prints name ``SHOWCASE_WORKGROUP``,
where a seeded session stays BUSY for as long as the runner runs, so both always list a session.

Clocks: the emulator's clock runs ahead of real time (30 emulated seconds per tick), but the
function takes "now" from its clock, ``session_monitor.clock.utc_now()``, whenever it is invoked. So that idle durations
and the look-back window are measured on the same clock as the sessions' timestamps, the sweep
module's clock is the emulator's while the runner runs (``sweep_clock``); everything else in the
invocation (routing, Powertools decorators, Athena, SNS, DynamoDB calls) is the Lambda's path.
An emulator clock that followed real time instead would make the idle alert (whole minutes)
take minutes to show, and ``--once`` too slow for a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from local_mode.api_server import ApiServer, ensure_function_importable, invoke
from local_mode.athena_emulator import AthenaEmulator, AthenaError, Clock, EmulatorServer
from local_mode.cli import apply_environment, local_env_path  # the CLI's --local reads what we write
from local_mode.cloudtrail import rule_input
from local_mode.deliveries import EMAIL_READER, HttpsInbox, email_messages, subscribe_readers
from local_mode.moto_server import (
    ACCOUNT_ID,
    DUMMY_CREDENTIALS,
    REGION,
    AlertingResources,
    EventInbox,
    MotoServer,
    aws_client,
    create_alerting_resources,
    create_event_inbox,
    receive_alerts,
    receive_events,
)

__all__ = [
    "FOLLOW_UP_QUEUE_NAME",
    "SCENARIO",
    "SHOWCASE_WORKGROUP",
    "FollowUpQueue",
    "LocalStack",
    "SeededSession",
    "alert_problems",
    "apply_environment",
    "cli_environment",
    "event_problems",
    "export_lines",
    "function_environment",
    "main",
    "remove_env_file",
    "scheduled_event",
    "sqs_batch_event",
    "sweep_clock",
    "write_env_file",
]

DEFAULT_PORT = 8080
STEP_SECONDS = 30  # emulated seconds per tick
SCENARIO_SECONDS = 300  # the scripted lifecycles are over by then
IDLE_ALERT_MINUTES = 3  # longer than any idle spell of the busy sessions, shorter than the forgotten one's
LOOKBACK_MINUTES = 15  # cdk.json's default
SCHEDULE_MINUTES = 5  # cdk.json's default; LOOKBACK_MINUTES must be >= 2 x SCHEDULE_MINUTES + 5
DEGRADED_REASON = "emulated: no healthy coordinator"
FAILED_REASON = "emulated: the coordinator did not recover"
FOLLOW_UP_QUEUE_NAME = "athena-session-monitor-follow-ups"  # the stack's follow-up queue (cloudTrailEvents)
SQS_BATCH_SIZE = 10  # the stack's batch size for the follow-up queue's event source


@dataclass(frozen=True)
class SeededSession:
    """A session the runner starts, its emulator script and the alerts its lifecycle implies."""

    workgroup: str
    description: str
    script: tuple[tuple[int, str, str | None], ...]  # (seconds after start, state, reason)
    expected_alerts: tuple[tuple[str, str], ...]  # (state, severity)
    # Seconds after start at which the runner calls TerminateSession, as a user would (None: never).
    terminate_after: int | None = None

    @property
    def story(self) -> str:
        story = " -> ".join(["CREATING", *(state for _, state, _ in self.script)])
        if self.terminate_after is None:
            return story
        return f"{story}, TerminateSession at +{self.terminate_after} s -> TERMINATING -> TERMINATED"


SCENARIO = (
    SeededSession(
        "etl-nightly",
        "nightly ETL notebook",
        (
            (30, "CREATED", None),
            (60, "IDLE", None),
            (90, "BUSY", None),
            (180, "IDLE", None),
        ),
        (("TERMINATED", "info"),),
        # Ended by a TerminateSession call: its CloudTrail record reaches the function at once and
        # the follow-up check it queues reports TERMINATED (the emulator ends a termination in 4 s).
        terminate_after=240,
    ),
    # Stays BUSY (only an IDLE session times out): what the printed API URL and CLI example list.
    SeededSession(
        "etl-nightly", "hourly ingest, stays busy", ((30, "CREATED", None), (60, "IDLE", None), (90, "BUSY", None)), ()
    ),
    SeededSession(
        "ml-training",
        "feature training job",
        (
            (30, "CREATED", None),
            (60, "IDLE", None),
            (90, "BUSY", None),
            (150, "DEGRADED", DEGRADED_REASON),
            (240, "FAILED", FAILED_REASON),
        ),
        (("DEGRADED", "warning"), ("FAILED", "critical")),
    ),
    SeededSession(
        "notebooks", "ad-hoc analysis, left open", ((30, "CREATED", None), (60, "IDLE", None)), (("IDLE", "warning"),)
    ),
)
WORKGROUPS = tuple(dict.fromkeys(s.workgroup for s in SCENARIO))
SHOWCASE_WORKGROUP = "etl-nightly"  # the printed API URL and CLI example: the ingest session keeps it listed


def function_environment(
    moto_url: str,
    athena_url: str,
    resources: AlertingResources,
    workgroups: tuple[str, ...] = WORKGROUPS,
    follow_up_queue_url: str | None = None,
) -> dict[str, str]:
    """The function's environment: the stack's variables (infra/function.py) plus local endpoints,
    and FOLLOW_UP_QUEUE_URL when there is a follow-up queue (the stack sets it with cloudTrailEvents)."""
    ensure_function_importable()
    import session_contract as contract

    follow_ups = {contract.ENV_FOLLOW_UP_QUEUE_URL: follow_up_queue_url} if follow_up_queue_url else {}

    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY") or os.environ.get("no_proxy"), "127.0.0.1,localhost"]))
    return {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_ATHENA": athena_url,
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
        "AWS_SESSION_TOKEN": DUMMY_CREDENTIALS["aws_session_token"],
        "AWS_REGION": REGION,  # Lambda sets both
        "AWS_DEFAULT_REGION": REGION,
        # As the stack sets it (the one contract); the stack passes its account, moto's here.
        **contract.function_environment(
            topic_arn=resources.topic_arn,
            table_name=resources.table_name,
            workgroups=workgroups,
            account_id=ACCOUNT_ID,
            lookback_minutes=LOOKBACK_MINUTES,
            schedule_minutes=SCHEDULE_MINUTES,
            idle_alert_minutes=IDLE_ALERT_MINUTES,
            state_events_bus=contract.STATE_EVENTS_DEFAULT_BUS,  # as the stack's default: read back below
        ),
        **follow_ups,
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        "ENABLE_SWAGGER_UI": "true",  # local only: the deployed API has no /swagger
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }


def cli_environment(env: dict[str, str]) -> dict[str, str]:
    """What of the function's environment ``env`` the CLI needs to reach this stack: the endpoints,
    Region, dummy credentials, the alerting resources, the follow-up queue (so that any AWS tool
    sourcing the file finds it, and no FOLLOW_UP_QUEUE_URL of your shell points the CLI elsewhere),
    the state-change event bus (the CLI's looks write the ledger's views: without the bus they
    would record a change no event announces, and the function would never announce it) and the
    sweep's settings (and NO_PROXY when a proxy is configured, so that loopback calls do not go
    through it)."""
    import session_contract as contract

    names = [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_ATHENA",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        contract.ENV_ALERTS_TOPIC_ARN,
        contract.ENV_STATE_TABLE_NAME,
        contract.ENV_FOLLOW_UP_QUEUE_URL,
        contract.ENV_STATE_EVENTS_BUS,
        contract.ENV_WATCHED_WORKGROUPS,
        contract.ENV_MONITOR_ACCOUNT_ID,
        contract.ENV_LOOKBACK_MINUTES,
        contract.ENV_SCHEDULE_MINUTES,
        contract.ENV_IDLE_ALERT_MINUTES,
    ]
    if any(
        os.environ.get(proxy)
        for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
    ):
        names += ["NO_PROXY", "no_proxy"]
    return {name: env[name] for name in names if name in env}


def export_lines(env: dict[str, str]) -> list[str]:
    """``export NAME=value`` lines a POSIX shell can source (values quoted where they need it)."""
    return [f"export {name}={shlex.quote(value)}" for name, value in env.items()]


def write_env_file(path: Path, env: dict[str, str]) -> str:
    """Write ``env`` as export lines to ``path`` (atomically: a reader never sees half a file);
    returns the text written, which ``remove_env_file`` compares before removing."""
    text = (
        "\n".join(
            [
                f"# The local stack of `make run` (pid {os.getpid()}); removed when it stops. Written for",
                "# `session-monitor --local`; any AWS tool can use it too: source this file.",
                *export_lines(env),
            ]
        )
        + "\n"
    )
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return text


def remove_env_file(path: Path, text: str) -> None:
    """Remove ``path`` if it still holds ``text``: another runner may have written its own since."""
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8") == text:
            path.unlink()


class LocalStack:
    """moto server + alerting resources + the follow-up queue + the Athena emulator (with the
    scenario's workgroups)."""

    def __init__(self, clock: Clock | None = None, workgroups: tuple[str, ...] = WORKGROUPS):
        self.emulator = AthenaEmulator(clock or Clock())
        for name in workgroups:
            self.emulator.add_workgroup(name, description=f"local mode: {name}")
        self.workgroups = workgroups
        self.moto = MotoServer()
        self.athena = EmulatorServer(self.emulator)
        self.resources: AlertingResources | None = None
        self.follow_up_queue_url: str | None = None
        self.event_inbox: EventInbox | None = None  # a rule on the default bus -> SQS: the events put
        # An e-mail reader and a chat endpoint (https, as Amazon Q Developer in chat applications
        # subscribes) on the alerts topic: moto POSTs to the endpoint, trusting its certificate
        # through REQUESTS_CA_BUNDLE while the stack runs.
        self.chat_inbox = HttpsInbox()
        self._saved_ca_bundle: str | None = None

    def start(self) -> LocalStack:
        self.moto.start()
        try:
            self.athena.start()
            self.resources = create_alerting_resources(self.moto.endpoint_url)
            self.event_inbox = create_event_inbox(self.moto.endpoint_url)
            self.chat_inbox.start()
            self._saved_ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE")
            os.environ.update(self.chat_inbox.trust_environment())
            subscribe_readers(self.resources, self.chat_inbox)
            sqs = aws_client("sqs", self.moto.endpoint_url)
            try:
                self.follow_up_queue_url = sqs.create_queue(QueueName=FOLLOW_UP_QUEUE_NAME)["QueueUrl"]
            finally:
                sqs.close()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.athena.stop()
        self.moto.stop()
        self.chat_inbox.stop()
        os.environ.pop("REQUESTS_CA_BUNDLE", None)
        if self._saved_ca_bundle is not None:
            os.environ["REQUESTS_CA_BUNDLE"] = self._saved_ca_bundle

    def environment(self) -> dict[str, str]:
        assert self.resources is not None, "start() first"
        return function_environment(
            self.moto.endpoint_url, self.athena.endpoint_url, self.resources, self.workgroups, self.follow_up_queue_url
        )

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


@contextlib.contextmanager
def sweep_clock(clock: Clock) -> Iterator[None]:
    """Make the sweep's "now" the emulator's clock (see the module docstring for why)."""
    from session_monitor import clock as function_clock

    original = function_clock.utc_now
    function_clock.utc_now = clock.now  # type: ignore[assignment]
    try:
        yield
    finally:
        function_clock.utc_now = original  # type: ignore[assignment]


def scheduled_event(now: datetime, rule: str = "athena-session-monitor-sweep") -> dict[str, Any]:
    """An EventBridge "Scheduled Event" (tests/events/scheduled_event.json) with a fresh id and time."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{rule}"],
        "detail": {},
    }


def sqs_batch_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """Lambda's SQS event (tests/events/sqs_batch.json) for messages as ReceiveMessage answered them."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }


def _body(text: str) -> dict[str, Any]:
    """A follow-up message's body, {"SessionId", "reason", "attempt"} ({} if it is not JSON)."""
    with contextlib.suppress(ValueError):
        body = json.loads(text)
        if isinstance(body, dict):
            return body
    return {}


class FollowUpQueue:
    """The follow-up queue on moto, its delays counted on the emulator's clock.

    The function queues each check with DelaySeconds, and moto holds the message that many real
    seconds; but the emulator's clock runs ahead of real time, so the runner keeps the time instead.
    ``note`` records each message it has not seen yet as queued at the emulator's "now", with the
    DelaySeconds moto recorded for it (moto runs in this process: its records are readable here).
    ``receive_due`` lifts moto's delay from the messages whose emulated due time (queued + delay)
    has passed, receives them with ReceiveMessage and returns them; one that real time made
    receivable before it is due goes back to the queue. ``delete`` deletes what was delivered.
    """

    def __init__(self, sqs: Any, url: str, clock: Clock):
        self.sqs, self.url, self.clock = sqs, url, clock
        self.name = url.rstrip("/").rsplit("/", 1)[-1]
        self.arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{self.name}"
        self.noted: dict[str, tuple[datetime, int]] = {}  # message id -> (emulated time queued, DelaySeconds)

    def _held(self) -> list[Any]:
        """moto's own records of the queue's messages."""
        from moto.sqs.models import sqs_backends

        return list(sqs_backends[ACCOUNT_ID][REGION].get_queue(self.name)._messages)

    def note(self) -> list[tuple[dict[str, Any], datetime]]:
        """Note the messages queued since the last call; returns each one's body and due time."""
        now = self.clock.now()
        new = []
        for message in self._held():
            if message.id not in self.noted:
                delay = max(0, round((message.delayed_until - message.sent_timestamp) / 1000))
                self.noted[message.id] = (now, delay)
                new.append((_body(message.body), now + timedelta(seconds=delay)))
        return new

    def _due(self, message_id: str, now: datetime) -> bool:
        queued, delay = self.noted.get(message_id, (now, 0))
        return queued + timedelta(seconds=delay) <= now

    def receive_due(self) -> list[dict[str, Any]]:
        """Every message due by the emulator's clock, received (oldest first, as SQS answers)."""
        self.note()
        now = self.clock.now()
        for message in self._held():
            if self._due(message.id, now):
                message.delayed_until = 0.0  # moto's delay, in real time, has passed for this one
        received: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageSystemAttributeNames=["All"]
        ).get("Messages", []):
            received += batch
        for message in received:
            if not self._due(message["MessageId"], now):
                self.sqs.change_message_visibility(
                    QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        return [message for message in received if self._due(message["MessageId"], now)]

    def delete(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
            self.noted.pop(message["MessageId"], None)


class Runner:
    """Seeds the scenario, ticks the clock and the schedule, and tells what happens."""

    def __init__(self, stack: LocalStack, out: TextIO, *, step_seconds: int, show_json: bool):
        self.stack, self.out = stack, out
        self.clock = stack.emulator.clock
        self.step_seconds, self.show_json = step_seconds, show_json
        self.seeded: dict[str, SeededSession] = {}
        self.states: dict[str, tuple[str, str]] = {}  # session id -> (workgroup, last state printed)
        self.alerts: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []  # state-change events read back from the inbox rule
        self.failures: list[str] = []  # invocations that raised or left batch items failed
        self.sqs = aws_client("sqs", stack.moto.endpoint_url)
        assert stack.follow_up_queue_url is not None, "start the stack first"
        self.follow_ups = FollowUpQueue(self.sqs, stack.follow_up_queue_url, self.clock)
        self.seeded_at = self.clock.now()
        self.terminated: set[str] = set()  # seeded sessions the runner has called TerminateSession for

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def seed(self) -> None:
        self.seeded_at = self.clock.now()
        for seeded in SCENARIO:
            session_id = self.stack.emulator.start_session(
                seeded.workgroup, description=seeded.description, script=list(seeded.script)
            )
            self.seeded[session_id] = seeded

    def tick(self, advance: bool = True) -> None:
        """One tick: the clock moves, TerminateSession calls whose time has come, then what AWS
        would deliver by now (CloudTrail records, due follow-up checks) and the alerts they sent,
        then the Scheduled Event and the alerts the sweep sent."""
        if advance:
            self.clock.advance(self.step_seconds)
        self._terminate_due()
        self._print_state_changes()
        now = self.clock.now()
        for record in self.stack.emulator.drain_trail():
            self._feed_record(record)
        due = self.follow_ups.receive_due()
        for start in range(0, len(due), SQS_BATCH_SIZE):
            self._deliver_follow_ups(now, due[start : start + SQS_BATCH_SIZE])
        self._print_alerts(now)  # what the events and follow-up checks sent, before the sweep
        self._print_events(now)
        try:
            invoke(scheduled_event(now))
        except Exception as error:  # noqa: BLE001  SweepIncomplete and friends: Lambda would retry; we say so
            self.failures.append(f"a sweep failed: {type(error).__name__}: {error}")
            self.say(f"{now:%H:%M:%S}  sweep    failed: {type(error).__name__}: {error}")
        self._print_alerts(now, cause="sweep    Scheduled Event")
        self._print_events(now)
        self._print_state_changes(discover=True)

    def _terminate_due(self) -> None:
        """TerminateSession, as a user would call it, for each seeded session whose time has come."""
        elapsed = (self.clock.now() - self.seeded_at).total_seconds()
        for session_id, seeded in self.seeded.items():
            due = seeded.terminate_after is not None and elapsed >= seeded.terminate_after
            if due and session_id not in self.terminated:
                self.terminated.add(session_id)
                self.stack.emulator.terminate_session(session_id)

    def _workgroup_of(self, session_id: str) -> str:
        if session_id in self.states:
            return self.states[session_id][0]
        try:
            return str(self.stack.emulator.get_session(session_id)["WorkGroup"])
        except AthenaError:
            return "?"

    def _feed_record(self, record: dict[str, Any]) -> None:
        """One CloudTrail record to the function, as EventBridge delivers it; says which checks it queued."""
        request, response = record.get("requestParameters") or {}, record.get("responseElements") or {}
        session_id = str(response.get("sessionId") or request.get("sessionId") or "?")
        workgroup = request.get("workGroup") or self._workgroup_of(session_id)
        at = datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ")
        line = f"{at:%H:%M:%S}  event    {workgroup:<12} {session_id[:8]}  {record['eventName']} (CloudTrail)"
        try:
            invoke(rule_input(record))  # what the stack's rule hands the function for this record
        except Exception as error:  # noqa: BLE001  EventBridge would retry; we say so
            self.failures.append(f"the {record['eventName']} event failed: {type(error).__name__}: {error}")
            self.say(f"{line}: failed: {type(error).__name__}: {error}")
            return
        queued = [due for body, due in self.follow_ups.note() if body.get("SessionId") == session_id]
        self.say(line + "".join(f", check queued for {due:%H:%M:%S}" for due in queued))

    def _deliver_follow_ups(self, now: datetime, messages: list[dict[str, Any]]) -> None:
        """Due follow-up messages to the function in one SQS batch, as Lambda's event source hands
        them over; the ones it did not fail are deleted (a failed one comes back, as in SQS)."""
        for message in messages:
            body = _body(message["Body"])
            session_id = str(body.get("SessionId") or "?")
            queued, delay = self.follow_ups.noted.get(message["MessageId"], (now, 0))
            self.say(
                f"{now:%H:%M:%S}  check    {self._workgroup_of(session_id):<12} {session_id[:8]}  follow-up from "
                f"SQS: {body.get('reason')}, attempt {body.get('attempt')} "
                f"(queued {queued:%H:%M:%S}, DelaySeconds {delay})"
            )
        try:
            answer = invoke(sqs_batch_event(messages, self.follow_ups.arn))
        except Exception as error:  # noqa: BLE001  the messages come back after their visibility timeout
            self.failures.append(f"a follow-up batch failed: {type(error).__name__}: {error}")
            self.say(f"{now:%H:%M:%S}  check    failed: {type(error).__name__}: {error}")
            return
        failed = {item.get("itemIdentifier") for item in (answer or {}).get("batchItemFailures", [])}
        self.failures += [f"the follow-up check {message_id} failed" for message_id in sorted(failed)]
        self.follow_ups.delete([message for message in messages if message["MessageId"] not in failed])

    def _known_sessions(self) -> set[str]:
        """Seeded sessions plus those the monitor has in its state table (started by you, say)."""
        known = set(self.seeded) | set(self.states)
        table = self.stack.resources.table_name  # type: ignore[union-attr]
        from session_monitor.config import settings
        from session_monitor.integration import state_store

        for workgroup in self.stack.workgroups:
            known.update(state_store.load_workgroup(table, settings().scope, workgroup).views)
        return known

    def _print_state_changes(self, discover: bool = False) -> None:
        known = self._known_sessions() if discover else set(self.seeded) | set(self.states)
        order = list(dict.fromkeys([*self.seeded, *self.states]))  # seeding order, then discovery order
        for session_id in sorted(known, key=lambda sid: (order.index(sid) if sid in order else len(order), sid)):
            try:
                answer = self.stack.emulator.get_session(session_id)  # the Python API: no fault, no count
            except AthenaError:  # gone from the emulator
                continue
            workgroup, state = answer["WorkGroup"], answer["Status"]["State"]
            previous = self.states.get(session_id, (workgroup, "new"))[1]
            if state != previous:
                self.states[session_id] = (workgroup, state)
                at = answer["Status"].get("LastModifiedDateTime") or self.clock.now()
                reason = answer["Status"].get("StateChangeReason")
                suffix = f'  "{reason}"' if reason and state in ("DEGRADED", "FAILED", "TERMINATED") else ""
                self.say(f"{at:%H:%M:%S}  session  {workgroup:<12} {session_id[:8]}  {previous} -> {state}{suffix}")

    def _received_alerts(self) -> list[dict[str, Any]]:
        """The alerts on the inbox queue; SNS and SQS keep no order between sessions: seeding order."""
        order = list(dict.fromkeys([*self.seeded, *self.states]))
        batch = receive_alerts(self.stack.resources, self.sqs)  # type: ignore[arg-type]
        batch.sort(
            key=lambda a: (
                order.index(a["attributes"].get("session_id"))
                if a["attributes"].get("session_id") in order
                else len(order),
                a["attributes"].get("state", ""),
            )
        )
        return batch

    def _print_alerts(self, now: datetime, cause: str | None = None) -> None:
        """Print the alerts received, under a line naming their ``cause`` (if any and alerts came)."""
        batch = self._received_alerts()
        if batch and cause:
            self.say(f"{now:%H:%M:%S}  {cause}: {len(batch)} alert{'s' if len(batch) > 1 else ''}")
        for alert in batch:
            self.alerts.append(alert)
            attributes = alert["attributes"]
            self.say(
                f"{now:%H:%M:%S}  ALERT    {attributes.get('workgroup', '?'):<12} "
                f"{attributes.get('session_id', '?')[:8]}  {attributes.get('severity', '?'):<8} "
                f"{attributes.get('state', '?'):<10} {alert['subject']}"
            )
            if self.show_json:
                self.say(json.dumps(alert["body"], indent=2, sort_keys=True))

    def _print_events(self, now: datetime) -> None:
        """Print the state-change events the rule on the bus copied to its queue, one line each."""
        assert self.stack.event_inbox is not None
        order = list(dict.fromkeys([*self.seeded, *self.states]))
        batch = [event["detail"] for event in receive_events(self.stack.event_inbox, self.sqs)]
        batch.sort(
            key=lambda d: (
                order.index(d["session"]["session_id"]) if d["session"]["session_id"] in order else len(order),
                d["state_since"],
            )
        )
        for detail in batch:
            self.events.append(detail)
            session = detail["session"]
            self.say(
                f"{now:%H:%M:%S}  EVENT    {session.get('workgroup') or '?':<12} {session['session_id'][:8]}  "
                f"{detail['previous_state'] or 'new'} -> {detail['state']} ({detail['severity']})"
            )

    def check_alerts(self) -> list[str]:
        """What is wrong with the alerts and events received and the sweeps (empty: nothing)."""
        return alert_problems(self.seeded, self.alerts) + event_problems(self.seeded, self.events) + self.failures

    def close(self) -> None:
        self.sqs.close()


def alert_problems(seeded: dict[str, SeededSession], alerts: list[dict[str, Any]]) -> list[str]:
    """Missing and unexpected alerts, compared with what the seeded lifecycles imply, one line each."""
    expected = Counter(
        (sid, state, severity) for sid, session in seeded.items() for state, severity in session.expected_alerts
    )
    received = Counter(
        (a["attributes"].get("session_id"), a["attributes"].get("state"), a["attributes"].get("severity"))
        for a in alerts
    )

    def label(session_id: str | None) -> str:
        session = seeded.get(session_id or "")
        return f"{session.workgroup}/{session_id}" if session else str(session_id)

    return [
        f"missing {state} ({severity}) alert for {label(sid)}"
        for (sid, state, severity), n in (expected - received).items()
        for _ in range(n)
    ] + [
        f"unexpected {state} ({severity}) alert for {label(sid)}"
        for (sid, state, severity), n in (received - expected).items()
        for _ in range(n)
    ]


def _in_order(states: list[str], lifecycle: list[str]) -> bool:
    """Whether ``states`` appear in ``lifecycle`` in that order (a subsequence of it)."""
    remaining = iter(lifecycle)
    return all(state in remaining for state in states)


def event_problems(seeded: dict[str, SeededSession], events: list[dict[str, Any]]) -> list[str]:
    """What is wrong with the state-change events (their details), compared with the seeded
    lifecycles, one line each: a seeded session's events chain from nothing (each previous_state is
    the state the event before reported), follow its lifecycle in order, end in its last state and
    include every state it alerts on; no event is put twice (nothing crashes here)."""
    problems = [f"event {eid} put {n} times" for eid, n in Counter(d["event_id"] for d in events).items() if n > 1]
    for session_id, session in seeded.items():
        chain = [(d["previous_state"], d["state"]) for d in events if d["session"]["session_id"] == session_id]
        problems += _chain_problems(f"{session.workgroup}/{session_id}", session, chain)
    return problems


def _lifecycle(session: SeededSession) -> list[str]:
    """The states a seeded session goes through, in order (its story without the words)."""
    steps = session.story.replace(", TerminateSession at", " ->").split(" -> ")
    return [state for state in steps if state.isupper()]


def _chain_problems(label: str, session: SeededSession, chain: list[tuple[str | None, str]]) -> list[str]:
    ensure_function_importable()
    from session_contract import ALERT_SEVERITY

    lifecycle, reported = _lifecycle(session), [state for _, state in chain]
    problems = []
    if [previous for previous, _ in chain] != [None, *reported][: len(chain)]:
        problems.append(f"the events of {label} do not chain: {chain}")
    if not _in_order(reported, lifecycle) or reported[-1:] != lifecycle[-1:]:
        problems.append(f"the events of {label} report {reported}, not its lifecycle {lifecycle}")
    missing = [state for state, _ in session.expected_alerts if state in ALERT_SEVERITY and state not in reported]
    return problems + [f"no {state} event for {label}" for state in missing]


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local_mode.runner",
        description="Run the monitor locally: moto server + Athena emulator + the function, no AWS account.",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="play the scenario to its end without waiting, check the alerts, exit 0 or 1",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"API port on 127.0.0.1 (default {DEFAULT_PORT}; 0: a free one)"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=2.0,
        help="real seconds between scheduled sweeps (default 2; --once does not wait)",
    )
    parser.add_argument(
        "--step",
        type=int,
        default=STEP_SECONDS,
        help=f"emulated seconds the clock advances per sweep (default {STEP_SECONDS})",
    )
    parser.add_argument("--json", action="store_true", help="print each alert's JSON body too")
    parser.add_argument(
        "--function-log",
        default=None,
        metavar="PATH",
        help="where the function's stdout goes (its JSON logs and EMF metrics, CloudWatch Logs "
        "in AWS): a file, or - for stderr (default: a temporary file, printed at start)",
    )
    parser.add_argument(
        "--env-file",
        default=None,
        metavar="PATH",
        type=Path,
        help="where to write the CLI's environment for this stack, removed on exit; "
        "`session-monitor --local` reads it (default: .local-stack.env in the repository "
        "root, or the file SESSION_MONITOR_LOCAL_ENV names; --once writes none)",
    )
    return parser


def terminate_on_sigterm() -> None:
    """SIGTERM stops like Ctrl-C (KeyboardInterrupt), so servers and files are closed."""

    def stop(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread: Ctrl-C only
        signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.step < 1 or args.interval < 0:
        print("error: --step must be at least 1 and --interval not negative", file=sys.stderr)
        return 2
    console = sys.stdout
    if args.function_log == "-":
        function_log: TextIO = sys.stderr
        log_path = "stderr"
    else:
        if args.function_log:
            log_path = args.function_log
        else:
            handle, log_path = tempfile.mkstemp(prefix="session-monitor-function-", suffix=".log")
            os.close(handle)
        function_log = open(log_path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115  closed in finally
    terminate_on_sigterm()
    try:
        with contextlib.redirect_stdout(function_log):
            return _run(args, console, log_path)
    except KeyboardInterrupt:
        console.write("stopped\n")
        return 0
    except BrokenPipeError:  # piped into head or less, which quit: stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  for the rest of the process
        return 1
    finally:
        if function_log is not sys.stderr:
            function_log.close()


def _run(args: argparse.Namespace, out: TextIO, log_path: str) -> int:
    def say(text: str = "") -> None:
        out.write(text + "\n")
        out.flush()

    # Powertools warns when a request published only single metrics (as pyproject does for tests).
    warnings.filterwarnings("ignore", "No application metrics to publish")
    started = time.monotonic()
    with LocalStack() as stack:
        apply_environment(stack.environment())  # before the function is imported
        ensure_function_importable()
        from session_monitor.config import settings
        from session_monitor.integration import clients

        settings.cache_clear()
        clients.reset()
        try:
            # --once makes its own request and prints it: no access log racing with that output.
            access_log = None if args.once else (lambda line: say(f"          api      {line}"))
            api = ApiServer(args.port, access_log=access_log).start()
        except OSError as error:
            print(
                f"error: cannot serve the API on 127.0.0.1:{args.port} ({error.strerror}); "
                "pass --port 0 for a free port",
                file=sys.stderr,
            )
            return 1
        runner = Runner(stack, out, step_seconds=args.step, show_json=args.json)
        # --once stops before anyone could use it (and must not replace a `make run`'s file).
        env_file = None if args.once else (args.env_file or local_env_path())
        cli_env = cli_environment(stack.environment())
        written = None
        try:
            if env_file is not None:
                try:
                    written = write_env_file(env_file, cli_env)
                except OSError as error:
                    say(
                        f"warning: cannot write {env_file} ({error.strerror}): session-monitor --local "
                        "will not find this stack; use the export lines below"
                    )
            with sweep_clock(stack.emulator.clock):
                return _play(args, runner, api, say, log_path, started, cli_env, env_file if written else None)
        finally:
            if written is not None:
                remove_env_file(env_file, written)  # type: ignore[arg-type]
            api.stop()
            runner.close()


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is under it (as `make run` prints it)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _cli_command() -> str:
    """How to call the CLI from here: this venv's console script, when it is installed."""
    script = Path(sys.executable).parent / "session-monitor"
    return _shown(script) if script.exists() else "session-monitor"


def _play(
    args: argparse.Namespace,
    runner: Runner,
    api: ApiServer,
    say,
    log_path: str,
    started: float,
    cli_env: dict[str, str],
    env_file: Path | None,
) -> int:
    stack = runner.stack
    runner.seed()  # before the URLs are printed: the first one lists sessions from the start
    say("athena-session-monitor, local mode: no AWS account, nothing leaves 127.0.0.1")
    say(f"  moto server (SNS, SQS, DynamoDB)  {stack.moto.endpoint_url}")
    say(f"  Athena emulator                   {stack.athena.endpoint_url}")
    say(f"  API                               {api.url}/sessions?workgroup={SHOWCASE_WORKGROUP}")
    say(f"  Swagger UI                        {api.url}/swagger")
    say(f"  function log (JSON logs, EMF)     {log_path}")
    say("  state-change events               moto's default bus -> a rule -> an SQS queue (the EVENT lines)")
    if not args.once:
        say("The CLI against this stack (get, list, sweep, serve; session ids below):")
        say(f"  {_cli_command()} --local list {SHOWCASE_WORKGROUP}")
        if env_file is not None:
            say(
                f"--local reads {_shown(env_file)}, written now and removed at Ctrl-C. The same environment, "
                "for any AWS tool:"
            )
        else:
            say("The environment, for any AWS tool (not in a file: --local will not find this stack):")
        for line in export_lines(cli_env):
            say(f"  {line}")
    say(f"Seeded sessions (LOOKBACK_MINUTES={LOOKBACK_MINUTES}, IDLE_ALERT_MINUTES={IDLE_ALERT_MINUTES}):")
    for session_id, seeded in runner.seeded.items():
        say(f"  {seeded.workgroup:<12} {session_id}  {seeded.story}")
    mode = "no waiting" if args.once else f"every {args.interval:g} s"
    say(
        f"Emulated clock (UTC) starts {runner.clock.now():%Y-%m-%d %H:%M:%S}; a Scheduled Event to "
        f"session_monitor.entry.handler per {args.step} emulated seconds ({mode})."
    )
    say()
    runner.tick(advance=False)
    elapsed = 0
    while elapsed < SCENARIO_SECONDS:
        if not args.once:
            time.sleep(args.interval)
        runner.tick()
        elapsed += args.step
    if args.once:
        return _finish_once(runner, api, say, started)
    say(
        "Scenario played out. The clock keeps running: the hourly ingest stays BUSY, and the forgotten "
        "notebook session reaches its 20-minute idle timeout later. Start another session with:"
    )
    say(f'  curl -s -X POST {stack.athena.endpoint_url}/_emulator/sessions -d \'{{"workgroup": "notebooks"}}\'')
    say("Ctrl-C stops.")
    while True:
        time.sleep(args.interval)
        runner.tick()


def _print_readers(stack: LocalStack, say, state: str = "FAILED") -> list[str]:
    """The e-mail text and the chat card of one alert, as those two readers of the topic got them."""
    assert stack.resources is not None
    headline = f"Athena Spark session {state} in "
    texts = [text for text in email_messages(stack.resources.topic_arn) if headline in text.split("\n", 1)[0]]
    cards = [card for card in stack.chat_inbox.messages() if headline in card["content"]["title"]]
    if len(texts) != 1 or len(cards) != 1:
        return [f"expected the {state} alert once by e-mail and once in chat; got {len(texts)} and {len(cards)}"]
    say()
    say(f"The {state} alert as the e-mail reader ({EMAIL_READER}) gets it:")
    say("  " + texts[0].rstrip("\n").replace("\n", "\n  "))
    say("The same alert as the chat channel gets it (https; Amazon Q Developer in chat applications' schema):")
    say("  " + json.dumps(cards[0], indent=2).replace("\n", "\n  "))
    return []


def _finish_once(runner: Runner, api: ApiServer, say, started: float) -> int:
    session_id = next(iter(runner.seeded))
    say()
    url = f"{api.url}/sessions/{session_id}"
    status, body = _get(url)
    say(f"GET {url} -> {status}")
    say(json.dumps(body, indent=2))
    runner._print_alerts(runner.clock.now())  # looking at a TERMINATED session must not alert twice
    runner._print_events(runner.clock.now())  # nor announce its end again
    problems = runner.check_alerts() + _print_readers(runner.stack, say)
    if status != 200:
        problems.append(f"GET /sessions/{session_id} answered {status}")
    say()
    if problems:
        print("FAILED: " + "; ".join(problems), file=sys.stderr, flush=True)
        return 1
    say(
        f"OK: {len(runner.alerts)} alerts, exactly those the seeded lifecycles imply; "
        f"{len(runner.events)} state-change events, one per change the monitor saw "
        f"({time.monotonic() - started:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
