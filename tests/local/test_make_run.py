"""``make run`` as a new user meets it: the first URL it prints lists sessions, the environment it
prints (and writes to a file while it runs) points ``session-monitor --local`` at its stack, and
Ctrl-C removes that file.

The runner runs in a child process on 127.0.0.1 and free ports (``--port 0``; moto server and the
emulator always take free ports), writes its environment file under tmp_path (never the
repository's ``.local-stack.env``, which a ``make run`` of yours may be using), and is stopped by
the fixture or the test.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_mode.cli import LOCAL_ENV_VARIABLE, read_local_env
from local_mode.moto_server import aws_client
from local_mode.runner import SCENARIO, SHOWCASE_WORKGROUP, export_lines, remove_env_file, write_env_file
from tests.local.test_local_mode import REPO, child_environment, get_json

CLI_ENV_NAMES = {
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_ATHENA",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "ALERTS_TOPIC_ARN",
    "STATE_TABLE_NAME",
    "FOLLOW_UP_QUEUE_URL",
    "STATE_EVENTS_BUS",  # the CLI's looks write the ledger: they announce what they record
    "WATCHED_WORKGROUPS",
    "MONITOR_ACCOUNT_ID",
    "LOOKBACK_MINUTES",
    "SCHEDULE_MINUTES",
    "IDLE_ALERT_MINUTES",
}


class RunningRunner:
    """``python -m local_mode.runner`` in a child process; its stdout collected line by line."""

    def __init__(self, tmp_path: Path, interval: str = "0.05"):
        self.env_file = tmp_path / "local-stack.env"
        env = child_environment()
        for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            env.pop(proxy, None)  # the file then holds exactly the names the CLI always needs
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local_mode.runner",
                "--port",
                "0",
                "--interval",
                interval,
                "--function-log",
                str(tmp_path / "function.log"),
                "--env-file",
                str(self.env_file),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._eof = False
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self.wait_for(r"^Emulated clock")
        except BaseException:
            self.stop()
            raise

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match:
        """The first match of ``pattern`` in the output, once printed."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                match = re.search(pattern, self.output, re.M)
                if match:
                    return match
                remaining = deadline - time.monotonic()
                if self._eof or remaining <= 0:
                    pytest.fail(
                        f"the runner did not print {pattern!r} (exit status {self.process.poll()}):\n{self.output}"
                    )
                self._changed.wait(min(remaining, 1))

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            pytest.fail("the runner did not stop within 20 s")
        finally:
            self.process.stderr.close()  # type: ignore[union-attr]

    def first_url(self) -> str:
        return self.wait_for(r"(http://127\.0\.0\.1:\d+/\S*)").group(1)

    def seeded(self) -> list[tuple[str, str]]:
        return re.findall(r"^  (\S+) +([0-9a-f-]{36})  CREATING", self.output, re.M)

    def cli(self, *args: str, env_file: Path | None = None) -> subprocess.CompletedProcess:
        """``session-monitor`` with no AWS_* variable of its own: only --local can find the stack."""
        env = {**child_environment(), LOCAL_ENV_VARIABLE: str(env_file or self.env_file)}
        return subprocess.run(
            [sys.executable, "-m", "local_mode.cli", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture(scope="module")
def make_run(tmp_path_factory) -> Iterator[RunningRunner]:
    runner = RunningRunner(tmp_path_factory.mktemp("make-run"))
    try:
        yield runner
    finally:
        runner.stop()


def listed(url: str) -> list[dict]:
    status, page = get_json(url)
    assert status == 200, page
    return page["sessions"]


def test_the_first_url_make_run_prints_lists_sessions_from_the_start_to_long_after(make_run):
    url = make_run.first_url()
    assert url.endswith(f"/sessions?workgroup={SHOWCASE_WORKGROUP}")
    assert listed(url), "the first URL listed no session right after the banner"
    # The scenario over and the forgotten notebook timed out: a seeded session still keeps it listed.
    make_run.wait_for(r"^Ctrl-C stops\.")
    make_run.wait_for(r"session  notebooks +\w{8}  IDLE -> TERMINATED")
    sessions = listed(url)
    ingest = [sid for wg, sid in make_run.seeded() if wg == SHOWCASE_WORKGROUP][-1]
    assert [(s["session_id"], s["state"]) for s in sessions] == [(ingest, "BUSY")]


def test_the_showcase_workgroup_has_a_seeded_session_that_never_ends():
    endless = [s for s in SCENARIO if s.workgroup == SHOWCASE_WORKGROUP and s.script[-1][1] == "BUSY"]
    assert endless and endless[0].expected_alerts == ()


def test_make_run_writes_the_clis_environment_to_a_file_and_prints_the_same_exports(make_run):
    moto = make_run.wait_for(r"moto server \(SNS, SQS, DynamoDB\)  (\S+)").group(1)
    athena = make_run.wait_for(r"Athena emulator +(\S+)").group(1)
    env = read_local_env(make_run.env_file)
    assert set(env) == CLI_ENV_NAMES  # what the CLI needs, nothing of the function's own settings
    assert env == {
        "AWS_ENDPOINT_URL": moto,
        "AWS_ENDPOINT_URL_ATHENA": athena,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:athena-session-monitor-alerts",
        "STATE_TABLE_NAME": "athena-session-monitor-state",
        "FOLLOW_UP_QUEUE_URL": f"{moto}/123456789012/athena-session-monitor-follow-ups",
        "STATE_EVENTS_BUS": "default",
        "WATCHED_WORKGROUPS": "etl-nightly,ml-training,notebooks",
        "MONITOR_ACCOUNT_ID": "123456789012",
        "LOOKBACK_MINUTES": "15",
        "SCHEDULE_MINUTES": "5",
        "IDLE_ALERT_MINUTES": "3",
    }
    file_exports = [line for line in make_run.env_file.read_text().splitlines() if line.startswith("export ")]
    printed = re.findall(r"^  (export \S+)$", make_run.output, re.M)
    assert printed == file_exports == export_lines(env)
    # A shell that sources the file gets exactly these values.
    shell = subprocess.run(
        ["bash", "-c", f". {shlex.quote(str(make_run.env_file))} && env -0"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    sourced = dict(item.split("=", 1) for item in shell.stdout.split("\0") if "=" in item)
    assert {name: sourced.get(name) for name in env} == env


def test_make_runs_follow_up_queue_exists_and_the_function_queues_its_checks_there(make_run):
    """FOLLOW_UP_QUEUE_URL (in the file, as the function has it) names a queue on make run's moto:
    each seeded StartSession's check is queued there, then delivered from it 180 emulated s later."""
    env = read_local_env(make_run.env_file)
    sqs = aws_client("sqs", env["AWS_ENDPOINT_URL"])
    try:
        arn = sqs.get_queue_attributes(QueueUrl=env["FOLLOW_UP_QUEUE_URL"], AttributeNames=["QueueArn"])
    finally:
        sqs.close()
    assert arn["Attributes"]["QueueArn"] == "arn:aws:sqs:us-east-1:123456789012:athena-session-monitor-follow-ups"
    for workgroup, session_id in make_run.seeded():
        queued = make_run.wait_for(
            rf"^(\S+)  event    {workgroup} +{session_id[:8]}  StartSession \(CloudTrail\), check queued for (\S+)$"
        )
        make_run.wait_for(
            rf"^{queued.group(2)}  check    {workgroup} +{session_id[:8]}  follow-up from SQS: start, attempt 1 "
            rf"\(queued {queued.group(1)}, DelaySeconds 180\)$"
        )


def test_make_run_prints_a_ready_to_paste_cli_example_after_the_urls(make_run):
    output = make_run.output
    example = make_run.wait_for(r"^  (\S*session-monitor --local list (\S+))$")
    assert example.group(2) == SHOWCASE_WORKGROUP
    assert output.index("Swagger UI") < output.index(example.group(1)) < output.index("export AWS_ENDPOINT_URL=")


def test_session_monitor_local_lists_and_gets_the_running_stacks_sessions(make_run):
    seeded = make_run.seeded()
    result = make_run.cli("--local", "list", SHOWCASE_WORKGROUP)
    assert result.returncode == 0, result.stderr
    page = json.loads(result.stdout)
    ids = {s["session_id"] for s in page["sessions"]}
    assert page["workgroup"] == SHOWCASE_WORKGROUP and ids
    assert ids <= {sid for wg, sid in seeded if wg == SHOWCASE_WORKGROUP}
    session_id = seeded[-1][1]  # the notebooks session
    result = make_run.cli("--local", "get", session_id, "--no-alert")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["session_id"] == session_id


def test_ctrl_c_stops_make_run_and_removes_its_file(tmp_path):
    runner = RunningRunner(tmp_path, interval="2")
    assert runner.env_file.exists()
    assert runner.cli("--local", "list", SHOWCASE_WORKGROUP).returncode == 0
    assert runner.stop(signal.SIGINT) == 0  # Ctrl-C
    assert runner.output.endswith("stopped")
    assert not runner.env_file.exists()
    assert not list(tmp_path.glob("*.tmp"))
    result = runner.cli("--local", "list", SHOWCASE_WORKGROUP)
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        "error: LocalStackNotRunning: start it with make run\n",
    )


def test_the_file_is_left_alone_when_another_runner_has_rewritten_it(tmp_path):
    path = tmp_path / "local-stack.env"
    ours = write_env_file(path, {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"})
    theirs = write_env_file(path, {"AWS_ENDPOINT_URL": "http://127.0.0.1:2"})
    remove_env_file(path, ours)
    assert path.read_text() == theirs
    remove_env_file(path, theirs)
    assert not path.exists()
    remove_env_file(path, theirs)  # already gone: nothing to do, no error


def test_export_lines_survive_a_round_trip_through_the_file(tmp_path):
    env = {"PLAIN": "a,b:c/d", "SPACES": "two words", "QUOTES": 'it\'s "x"', "EMPTY": ""}
    path = tmp_path / "env"
    write_env_file(path, env)
    assert read_local_env(path) == env


def test_the_venv_recipes_say_what_they_install_before_the_long_pip_installs():
    makefile = (REPO / "Makefile").read_text()
    (pip_install,) = [line for line in makefile.splitlines() if line.startswith("PIP_INSTALL :=")]
    assert " -q " in pip_install and "--require-hashes" in pip_install
    recipes = makefile.split("\n\n")
    installs = {recipe.split(":", 1)[0].strip(): recipe for recipe in recipes if "$(PIP_INSTALL)" in recipe}
    # the project's venv, checkov's and the lock tool's
    assert len(installs) == 3, sorted(installs)
    for target, recipe in installs.items():
        lines = recipe.splitlines()
        first_pip = next(i for i, line in enumerate(lines) if "pip install" in line or "$(PIP_INSTALL)" in line)
        said = [line for line in lines[:first_pip] if line.strip().startswith("@echo")]
        assert said, target
        if "LOCK" not in target:  # uv alone installs in seconds; the others take minutes
            assert "few minutes" in said[0], recipe
        assert all(" -q " in line for line in lines if "pip install" in line), recipe


def test_a_session_you_start_with_the_printed_curl_is_followed_and_its_end_alerted(make_run):
    """What make run promises after its URLs: start more sessions, and watch the monitor find them."""
    endpoint = make_run.wait_for(r"curl -s -X POST (http://127\.0\.0\.1:\d+)/_emulator/sessions").group(1)
    request = urllib.request.Request(
        f"{endpoint}/_emulator/sessions",
        data=json.dumps({"workgroup": "notebooks", "idle_timeout_minutes": 1}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        session_id = json.loads(answer.read())["SessionId"]
    # its StartSession record reaches the function, as EventBridge would deliver it
    make_run.wait_for(rf"event    notebooks +{session_id[:8]}  StartSession \(CloudTrail\), check queued", timeout=60)
    # discovered through the ledger's views, then its idle-timeout end is alerted
    make_run.wait_for(rf"session  notebooks +{session_id[:8]}  new -> ", timeout=60)
    make_run.wait_for(rf"ALERT +notebooks +{session_id[:8]} +info +TERMINATED", timeout=120)
