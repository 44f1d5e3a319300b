"""CloudTrail discovery in local mode: the runner feeds the emulator's CloudTrail records to the
function as EventBridge would, and delivers the follow-up checks the function queues when they are
due on the emulator's clock, so ``make demo`` shows a TerminateSession's end reported before the
sweep of that tick.

The demo runs once, in a child process (``--once``, as ``make demo``); the follow-up queue's clock
is tested in this process against a LocalStack of its own (moto server and the emulator on 127.0.0.1).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

import session_contract as contract
from local_mode.athena_emulator import FIXED_START, Clock
from local_mode.moto_server import aws_client
from local_mode.runner import FOLLOW_UP_QUEUE_NAME, SCENARIO, FollowUpQueue, LocalStack, sqs_batch_event
from tests.local.test_local_mode import EVENTS, REPO, child_environment

TIME = r"\d\d:\d\d:\d\d"


@dataclass
class Demo:
    lines: list[str]
    seeded: list[tuple[str, str]]  # (workgroup, session id), in SCENARIO's order
    start: datetime  # the emulated clock's first reading
    function_log: list[dict]

    def index(self, pattern: str) -> int:
        """The index of the one line matching ``pattern``."""
        found = [i for i, line in enumerate(self.lines) if re.fullmatch(pattern, line)]
        assert len(found) == 1, f"{pattern!r} matched {len(found)} lines:\n" + "\n".join(self.lines)
        return found[0]

    def at(self, seconds: int) -> str:
        """The demo's HH:MM:SS for ``seconds`` emulated seconds after it started."""
        return f"{self.start + timedelta(seconds=seconds):%H:%M:%S}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    log = tmp_path_factory.mktemp("demo") / "function.log"
    result = subprocess.run(
        [sys.executable, "-m", "local_mode.runner", "--once", "--port", "0", "--function-log", str(log)],
        cwd=REPO,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    start = re.search(r"^Emulated clock \(UTC\) starts (\S+ \S+);", result.stdout, re.M)
    assert start is not None, result.stdout
    return Demo(
        result.stdout.splitlines(),
        re.findall(r"^  (\S+) +([0-9a-f-]{36})  CREATING", result.stdout, re.M),
        datetime.strptime(start.group(1), "%Y-%m-%d %H:%M:%S"),
        [json.loads(line) for line in log.read_text().splitlines()],
    )


def terminated_by_call(demo: Demo) -> tuple[str, str, int]:
    """(workgroup, session id, seconds after start) of the seeded session the runner terminates."""
    [(index, seeded)] = [(i, s) for i, s in enumerate(SCENARIO) if s.terminate_after is not None]
    workgroup, session_id = demo.seeded[index]
    assert workgroup == seeded.workgroup
    return workgroup, session_id, seeded.terminate_after  # type: ignore[return-value]


def test_the_demo_feeds_each_seeded_start_session_record_and_checks_it_180_emulated_seconds_later(demo):
    assert len(demo.seeded) == len(SCENARIO)
    for workgroup, session_id in demo.seeded:
        queued = demo.index(
            rf"{demo.at(0)}  event    {workgroup} +{session_id[:8]}  StartSession \(CloudTrail\), "
            rf"check queued for {demo.at(contract.START_CHECK_DELAY_SECONDS)}"
        )
        checked = demo.index(
            rf"{demo.at(contract.START_CHECK_DELAY_SECONDS)}  check    {workgroup} +{session_id[:8]}  "
            rf"follow-up from SQS: start, attempt 1 \(queued {demo.at(0)}, DelaySeconds 180\)"
        )
        assert queued < checked


def test_the_demo_ends_a_session_by_a_terminate_session_call_and_feeds_its_cloudtrail_event(demo):
    workgroup, session_id, after = terminated_by_call(demo)
    short = session_id[:8]
    assert f"  {workgroup:<12} {session_id}  " in "\n".join(demo.lines)
    assert any(line.endswith(f", TerminateSession at +{after} s -> TERMINATING -> TERMINATED") for line in demo.lines)
    terminating = demo.index(rf"{demo.at(after)}  session  {workgroup} +{short}  IDLE -> TERMINATING")
    event = demo.index(
        rf"{demo.at(after)}  event    {workgroup} +{short}  TerminateSession \(CloudTrail\), "
        rf"check queued for {demo.at(after + contract.TERMINATE_RECHECK_SECONDS)}"
    )
    assert terminating < event


def test_its_terminated_alert_comes_from_the_follow_up_check_printed_before_that_ticks_sweep(demo):
    workgroup, session_id, after = terminated_by_call(demo)
    tick = demo.at(after + contract.TERMINATE_RECHECK_SECONDS)
    check = demo.index(
        rf"{tick}  check    {workgroup} +{session_id[:8]}  follow-up from SQS: terminate, attempt 2 "
        rf"\(queued {demo.at(after)}, DelaySeconds 30\)"
    )
    alert = demo.index(rf"{TIME}  ALERT    {workgroup} +{session_id[:8]}  info +TERMINATED .*")
    assert alert == check + 1 and demo.lines[alert].startswith(tick)
    # Every other ALERT line is under the line of the sweep that sent it.
    for i, line in enumerate(demo.lines):
        if " ALERT " in line and i != alert:
            cause = next(above for above in reversed(demo.lines[:i]) if " ALERT " not in above)
            assert re.fullmatch(rf"{line[:8]}  sweep    Scheduled Event: \d alerts?", cause), line
    # And the function says so too: no sweep sent that alert.
    sweeps = [entry["sweep"] for entry in demo.function_log if entry.get("message") == "sweep finished"]
    assert len(sweeps) == 11
    assert not [sent for sweep in sweeps for sent in sweep["alerts_sent"] if f"{session_id}#TERMINATED" in sent]
    assert demo.lines[-1].startswith("OK: 4 alerts, exactly those the seeded lifecycles imply")


# --- the follow-up queue, on the emulator's clock ----------------------------------------------


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(Clock(FIXED_START)) as stack:
        yield stack


@pytest.fixture
def follow_ups(stack: LocalStack, request: pytest.FixtureRequest) -> Iterator[FollowUpQueue]:
    """A FollowUpQueue on a queue of the test's own (so no test sees another's messages)."""
    sqs = aws_client("sqs", stack.moto.endpoint_url)
    url = sqs.create_queue(QueueName=f"follow-ups-{request.node.name[-60:]}")["QueueUrl"]
    yield FollowUpQueue(sqs, url, stack.emulator.clock)
    sqs.delete_queue(QueueUrl=url)
    sqs.close()


def test_the_local_stack_creates_the_follow_up_queue_and_sets_follow_up_queue_url(stack):
    url = stack.environment()[contract.ENV_FOLLOW_UP_QUEUE_URL]
    assert url == stack.follow_up_queue_url and url.endswith(f"/{FOLLOW_UP_QUEUE_NAME}")
    sqs = aws_client("sqs", stack.moto.endpoint_url)
    try:
        assert sqs.get_queue_url(QueueName=FOLLOW_UP_QUEUE_NAME)["QueueUrl"] == url
    finally:
        sqs.close()


def test_a_follow_up_is_released_when_its_delay_has_passed_on_the_emulators_clock(follow_ups):
    clock = follow_ups.clock
    body = {"SessionId": "s-1", "reason": "start", "attempt": 1}
    follow_ups.sqs.send_message(QueueUrl=follow_ups.url, MessageBody=json.dumps(body), DelaySeconds=180)
    assert follow_ups.note() == [(body, clock.now() + timedelta(seconds=180))]
    assert follow_ups.receive_due() == []
    clock.advance(179)
    assert follow_ups.receive_due() == []
    clock.advance(1)  # 180 emulated seconds; not one real second has passed
    [message] = follow_ups.receive_due()
    assert json.loads(message["Body"]) == body
    follow_ups.delete([message])
    assert follow_ups.noted == {} and follow_ups.receive_due() == []


def test_a_follow_up_real_time_released_early_goes_back_to_the_queue_until_it_is_due(follow_ups):
    clock = follow_ups.clock
    follow_ups.sqs.send_message(QueueUrl=follow_ups.url, MessageBody='{"SessionId": "s-2"}', DelaySeconds=1)
    follow_ups.note()
    time.sleep(1.2)  # moto's delay is over; the emulator's clock has not moved
    assert follow_ups.receive_due() == []
    clock.advance(1)
    [message] = follow_ups.receive_due()
    assert json.loads(message["Body"]) == {"SessionId": "s-2"}
    follow_ups.delete([message])


def test_follow_ups_reach_the_function_in_lambdas_sqs_event_shape(follow_ups):
    follow_ups.sqs.send_message(QueueUrl=follow_ups.url, MessageBody='{"SessionId": "s-3"}')
    received = follow_ups.receive_due()
    event = sqs_batch_event(received, follow_ups.arn)
    template = json.loads((EVENTS / "sqs_batch.json").read_text())["Records"][0]
    [record] = event["Records"]
    assert set(record) == set(template) and set(record["attributes"]) >= set(template["attributes"])
    assert (record["messageId"], record["body"]) == (received[0]["MessageId"], '{"SessionId": "s-3"}')
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == f"arn:aws:sqs:us-east-1:123456789012:{follow_ups.url.rsplit('/', 1)[1]}"
    follow_ups.delete(received)
