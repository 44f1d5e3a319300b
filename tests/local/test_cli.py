"""``session-monitor`` as a user runs it: a child process whose environment points at moto server
and the Athena emulator on loopback (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_ATHENA)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from local_mode.cli import LOCAL_ENV_VARIABLE
from local_mode.moto_server import receive_alerts
from local_mode.runner import LocalStack, cli_environment, write_env_file
from tests.local.test_local_mode import REPO, child_environment


class Cli:
    def __init__(self, stack: LocalStack, ids: dict[str, str]):
        self.stack, self.ids = stack, ids
        self.env = child_environment(stack)

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "local_mode.cli", *args],
            cwd=REPO,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def alerts(self) -> list[tuple[str, str]]:
        return [(a["attributes"]["session_id"], a["attributes"]["state"]) for a in receive_alerts(self.stack.resources)]


@pytest.fixture(scope="module")
def cli() -> Iterator[Cli]:
    with LocalStack() as stack:
        emulator = stack.emulator
        ids = {
            "older": emulator.start_session("etl-nightly", description="older"),
            "idle": emulator.start_session("etl-nightly", description="idle"),
            "failed": emulator.start_session("ml-training", script=[(0, "FAILED", "emulated failure")]),
            "degraded": emulator.start_session("notebooks", script=[(5, "DEGRADED", "emulated: no coordinator")]),
        }
        emulator.clock.advance(10)
        yield Cli(stack, ids)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_get_prints_the_normalised_session_and_nothing_else(cli):
    result = cli("get", cli.ids["idle"])
    assert result.returncode == 0 and result.stderr == ""
    session = json.loads(result.stdout)
    assert session["session_id"] == cli.ids["idle"] and session["state"] == "IDLE"
    assert session["workgroup"] == "etl-nightly" and session["description"] == "idle"


def test_get_alerts_once_unless_told_not_to(cli):
    result = cli("get", cli.ids["failed"], "--no-alert")
    assert result.returncode == 0 and json.loads(result.stdout)["state"] == "FAILED"
    assert cli.alerts() == []
    for _ in range(2):
        assert cli("get", cli.ids["failed"]).returncode == 0
    assert cli.alerts() == [(cli.ids["failed"], "FAILED")]


def test_list_pages_through_a_workgroup(cli):
    first = cli("list", "etl-nightly", "--max-results", "1")
    assert first.returncode == 0, first.stderr
    page = json.loads(first.stdout)
    assert [s["session_id"] for s in page["sessions"]] == [cli.ids["idle"]]  # newest first
    second = json.loads(cli("list", "etl-nightly", "--max-results", "1", "--next-token", page["next_token"]).stdout)
    assert [s["session_id"] for s in second["sessions"]] == [cli.ids["older"]] and second["next_token"] is None


def test_sweep_prints_its_report_and_alerts(cli):
    result = cli("sweep", "--workgroup", "notebooks")
    assert result.returncode == 0 and result.stderr == ""
    report = json.loads(result.stdout)
    assert report["workgroups"] == ["notebooks"] and report["sessions_by_state"] == {"DEGRADED": 1}
    [sent] = report["alerts_sent"]
    assert sent.startswith(f"123456789012/us-east-1/{cli.ids['degraded']}#DEGRADED#")
    assert cli.alerts() == [(cli.ids["degraded"], "DEGRADED")]
    again = json.loads(cli("sweep").stdout)  # WATCHED_WORKGROUPS; nothing new to say
    assert again["workgroups"] == ["etl-nightly", "ml-training", "notebooks"] and again["alerts_sent"] == []


def test_a_257_character_session_id_is_exit_2_and_one_clean_line(cli):
    result = cli("get", "x" * 257)
    assert result.returncode == 2
    assert one_error_line(result) == "error: InvalidSessionId: SessionId must be 1 to 256 characters, got 257"


@pytest.mark.parametrize(
    "args, line",
    [
        (
            ("list", "bad name"),
            "error: InvalidWorkgroup: workgroup must be 1 to 128 characters of letters, digits, '.', '_' or '-'",
        ),
        (
            ("list", "etl-nightly", "--max-results", "0"),
            "error: InvalidParameter: max_results must be an integer from 1 to 100",
        ),
        (
            ("list",),
            "error: UsageError: the following arguments are required: WORKGROUP (see session-monitor list --help)",
        ),
    ],
)
def test_bad_input_is_exit_2_and_one_line(cli, args, line):
    result = cli(*args)
    assert (result.returncode, one_error_line(result)) == (2, line)


def test_other_failures_are_exit_1_and_one_line(cli):
    result = cli("get", "no-such-session")
    assert (result.returncode, one_error_line(result)) == (1, "error: SessionNotFound: session not found")
    unreachable = {**cli.env, "AWS_ENDPOINT_URL_ATHENA": "http://127.0.0.1:9"}  # discard port: refused
    result = cli("list", "etl-nightly", env=unreachable)
    assert (result.returncode, one_error_line(result)) == (1, "error: AthenaUnavailable: Athena could not be reached")


# --- --local: the stack `make run` runs, found through the file it writes ----------------------

NOT_RUNNING = "error: LocalStackNotRunning: start it with make run"


def local_cli(env_file, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    """The CLI with no AWS_* variable of its own (plus ``extra_env``), told where the file is."""
    env = {**child_environment(), LOCAL_ENV_VARIABLE: str(env_file), **extra_env}
    return subprocess.run(
        [sys.executable, "-m", "local_mode.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_local_lists_the_stack_named_in_the_file_and_ignores_the_callers_aws_settings(cli, tmp_path):
    env_file = tmp_path / "local-stack.env"
    write_env_file(env_file, cli_environment(cli.stack.environment()))
    elsewhere = {
        "AWS_PROFILE": "production",
        "AWS_ENDPOINT_URL_ATHENA": f"http://127.0.0.1:{free_port()}",
        "AWS_REGION": "eu-west-1",
    }
    for args in (("--local", "list", "etl-nightly"), ("list", "etl-nightly", "--local")):
        result = local_cli(env_file, *args, **elsewhere)
        assert result.returncode == 0 and result.stderr == "", result.stderr
        assert [s["session_id"] for s in json.loads(result.stdout)["sessions"]] == [cli.ids["idle"], cli.ids["older"]]
    result = local_cli(env_file, "--local", "get", cli.ids["idle"])
    assert result.returncode == 0 and json.loads(result.stdout)["state"] == "IDLE"


def test_local_with_no_file_is_one_line_and_exit_1(tmp_path):
    result = local_cli(tmp_path / "missing.env", "--local", "list", "etl-nightly")
    assert (result.returncode, one_error_line(result)) == (1, NOT_RUNNING)


def test_local_with_a_file_whose_stack_is_gone_is_one_line_and_exit_1(cli, tmp_path):
    """A runner killed with SIGKILL leaves its file: its endpoints no longer answer."""
    env_file = tmp_path / "local-stack.env"
    gone = f"http://127.0.0.1:{free_port()}"
    write_env_file(env_file, {**cli_environment(cli.stack.environment()), "AWS_ENDPOINT_URL_ATHENA": gone})
    result = local_cli(env_file, "--local", "get", cli.ids["idle"])
    assert (result.returncode, one_error_line(result)) == (1, NOT_RUNNING)
    env_file.write_text("not an environment file\n")
    result = local_cli(env_file, "--local", "sweep")
    assert (result.returncode, one_error_line(result)) == (1, NOT_RUNNING)


def test_local_with_run_or_demo_is_bad_input(tmp_path):
    result = local_cli(tmp_path / "missing.env", "--local", "demo")
    assert result.returncode == 2
    assert one_error_line(result).startswith("error: UsageError: --local is for the other commands")


def test_run_and_demo_delegate_to_the_runner(cli):
    result = cli("demo", "--help")
    assert result.returncode == 0 and "--once" in result.stdout and "local_mode.runner" in result.stdout


def test_the_console_script_is_installed_by_make_and_runs():
    """The README's `.venv/bin/session-monitor`: `make dev`/`make test` install it (pip -e .)."""
    from pathlib import Path

    script = Path(sys.executable).parent / "session-monitor"
    assert script.exists(), "run `make dev`: it installs the project into .venv"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "get" in result.stdout and "sweep" in result.stdout
