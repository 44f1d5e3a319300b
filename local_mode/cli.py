"""``session-monitor``: the monitor's use cases from a terminal.

    session-monitor get SESSION_ID [--no-alert]      the normalised session (JSON)
    session-monitor list WORKGROUP [--max-results N] [--next-token T]
    session-monitor sweep [--workgroup W ...]        the sweep report (JSON)
    session-monitor serve [--port N]                 the HTTP API (and Swagger UI) on 127.0.0.1
    session-monitor doctor [--stack-name S] [--region R]   checks the deployed stack, one line each
    session-monitor run | demo                       local mode (demo: the one-shot scenario)
    session-monitor --local COMMAND ...              against the stack ``make run`` is running

Against AWS it uses your credentials and Region (the usual AWS_* variables and profiles); against
local stand-ins it follows AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_ATHENA like the function does.
Alerts (``get`` without --no-alert, ``sweep``) need ALERTS_TOPIC_ARN and STATE_TABLE_NAME, and,
when the stack puts state-change events, STATE_EVENTS_BUS (its ``stateChangeEvents``: a look
records what it saw in the ledger, so a look without the bus would swallow the change).

``--local`` takes all of that from the file ``make run`` writes while it runs (``.local-stack.env``
in the repository root, or the file SESSION_MONITOR_LOCAL_ENV names) and ignores your AWS
profile and endpoints; with no local stack running it fails with
``error: LocalStackNotRunning: start it with make run``.

stdout carries only the answer, so it can be piped to jq; the function's own logs and metrics go
nowhere unless --verbose sends them to stderr. An error is one line on stderr,
``error: <ErrorName>: <message>``, and exit status 2 for bad input, 1 for anything else.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import socket
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn, TextIO
from urllib.parse import urlsplit

EXIT_FAILED, EXIT_BAD_INPUT = 1, 2

# The local stack's environment: ``make run`` writes it while it runs, ``--local`` reads it.
LOCAL_ENV_FILE = ".local-stack.env"  # in the repository root
LOCAL_ENV_VARIABLE = "SESSION_MONITOR_LOCAL_ENV"  # names another file (tests, a second checkout)
LOCAL_STACK_HINT = "start it with make run"


class LocalStackNotRunning(Exception):
    """``--local`` and no local stack: no environment file, or its endpoints do not answer."""


def local_env_path() -> Path:
    """Where ``make run`` writes the local stack's environment and ``--local`` reads it."""
    override = os.environ.get(LOCAL_ENV_VARIABLE)
    return Path(override) if override else Path(__file__).resolve().parent.parent / LOCAL_ENV_FILE


def read_local_env(path: Path) -> dict[str, str]:
    """The ``export NAME=value`` lines of an environment file the runner wrote (shell-quoted values)."""
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, equals, value = line.strip().removeprefix("export ").partition("=")
        if equals and not line.lstrip().startswith("#"):
            words = shlex.split(value)
            env[name.strip()] = words[0] if words else ""
    return env


class UsageError(Exception):
    """The command line itself is wrong (argparse's complaint, as one line)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _parser() -> argparse.ArgumentParser:
    local_help = (
        f"use the local stack `make run` is running (its environment, from {LOCAL_ENV_FILE}); "
        "also accepted after the command"
    )
    parser = _Parser(prog="session-monitor", description="Athena for Apache Spark session monitor.")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="send the function's JSON logs and EMF metrics to stderr"
    )
    parser.add_argument("--local", action="store_true", help=local_help)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    get = commands.add_parser("get", help="one session, normalised (alerts if its state calls for one)")
    get.add_argument("session_id", metavar="SESSION_ID")
    get.add_argument("--no-alert", action="store_true", help="only look: send no alert")

    listing = commands.add_parser("list", help="one page of a workgroup's active sessions")
    listing.add_argument("workgroup", metavar="WORKGROUP")
    listing.add_argument("--max-results", type=int, default=50, metavar="N", help="1 to 100 (default 50)")
    listing.add_argument("--next-token", default=None, metavar="T", help="next_token of the previous page")

    sweep = commands.add_parser("sweep", help="sweep workgroups once and alert, as the schedule does")
    sweep.add_argument(
        "--workgroup",
        action="append",
        default=[],
        metavar="W",
        help="sweep this workgroup (repeatable; default: WATCHED_WORKGROUPS, else every Spark workgroup)",
    )

    serve = commands.add_parser("serve", help="serve the HTTP API on 127.0.0.1 (Swagger UI at /swagger)")
    serve.add_argument("--port", type=int, default=8080, help="0: a free port (default 8080)")
    serve.add_argument("--no-swagger", action="store_true", help="do not serve Swagger UI")
    doctor = commands.add_parser(
        "doctor",
        help="check the deployed stack with your credentials: one line per check (make smoke)",
        description="Check the deployed stack with your credentials and Region: one line per check "
        "(ok, WARN, FAIL with how to fix it, skip); exit status 1 when any check FAILs.",
    )
    from local_mode.doctor import add_arguments

    add_arguments(doctor)
    for command in (get, listing, sweep, serve):  # `session-monitor list W --local` works too
        command.add_argument("--local", action="store_true", default=argparse.SUPPRESS, help=local_help)

    for name, text in (
        ("run", "local mode: moto server + Athena emulator + the function, until Ctrl-C"),
        ("demo", "local mode's one-shot scenario (runner --once): exit 0 if the alerts are right"),
    ):
        # No options of their own: everything after the command goes to python -m local_mode.runner.
        commands.add_parser(name, help=text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The console script's entry point: returns the exit status."""
    out, err = sys.stdout, sys.stderr
    try:
        # Known args only: whatever follows run/demo belongs to the runner's own parser.
        args, extra = _parser().parse_known_args(argv)
        if extra and args.command not in ("run", "demo"):
            raise UsageError(f"unrecognized arguments: {' '.join(extra)} (see session-monitor --help)")
    except UsageError as error:
        return _fail(err, "UsageError", str(error), EXIT_BAD_INPUT)
    if args.command in ("run", "demo"):
        if args.local:
            return _fail(
                err,
                "UsageError",
                f"--local is for the other commands: {args.command} starts its own "
                "local stack (see session-monitor --help)",
                EXIT_BAD_INPUT,
            )
        from local_mode import runner

        return runner.main((["--once"] if args.command == "demo" else []) + extra)
    if args.command == "serve" and not args.no_swagger:
        os.environ.setdefault("ENABLE_SWAGGER_UI", "true")  # read when the function's api module loads
    # Powertools warns when a call published only single metrics (as pyproject does for tests).
    warnings.filterwarnings("ignore", "No application metrics to publish")
    try:
        if args.local:
            _use_local_stack()  # before the function is imported: it reads its environment once
        with _function_output(err if args.verbose else None):
            _ensure_function_importable()
            return _COMMANDS[args.command](args, out, err)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - every error is one line, never a traceback
        return _fail(err, *_describe(error))


@contextlib.contextmanager
def _function_output(stream: TextIO | None) -> Iterator[None]:
    """Route the process's stdout (the function's logs and EMF metrics) to ``stream`` or nowhere."""
    # Not closed afterwards: Powertools' Logger keeps the stream it found when first imported.
    sink = stream or open(os.devnull, "w")  # noqa: SIM115  (see above)
    with contextlib.redirect_stdout(sink):
        yield


def _use_local_stack() -> None:
    """Point this process at the local stack, as the runner points the function at it."""
    try:
        env = read_local_env(local_env_path())
    except (OSError, ValueError):  # no file: no `make run`; ValueError: not a file the runner wrote
        raise LocalStackNotRunning(LOCAL_STACK_HINT) from None
    endpoints = [env.get("AWS_ENDPOINT_URL"), env.get("AWS_ENDPOINT_URL_ATHENA")]
    if not all(endpoints) or not all(_answers(url) for url in endpoints):  # type: ignore[arg-type]
        raise LocalStackNotRunning(LOCAL_STACK_HINT)  # a file left behind by a runner that was killed
    apply_environment(env)
    # The stack is on loopback: never through a proxy, whatever HTTP(S)_PROXY says.
    for name in ("NO_PROXY", "no_proxy"):
        current = os.environ.get(name, "")
        if "127.0.0.1" not in current.split(","):
            os.environ[name] = ",".join(filter(None, [current, "127.0.0.1", "localhost"]))


def apply_environment(env: dict[str, str]) -> None:
    """Set ``env`` in os.environ and drop what could send a call elsewhere (a profile, other endpoints).

    The runner points the function at its stack with this, and ``--local`` points the CLI at it."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL_") or name in (
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
            "SWEEP_QUEUE_URL",
        ):
            del os.environ[name]
    os.environ.update(env)


def _answers(url: str) -> bool:
    """Whether something accepts connections at ``url``'s host and port."""
    try:
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=2):
            return True
    except (OSError, ValueError):
        return False


def _ensure_function_importable() -> None:
    from local_mode.api_server import ensure_function_importable

    ensure_function_importable()


def _describe(error: BaseException) -> tuple[str, str, int]:
    try:
        from session_monitor.errors import InvalidInput, SessionMonitorError
    except ImportError:
        InvalidInput = SessionMonitorError = ()  # type: ignore[assignment,misc]
    if isinstance(error, SessionMonitorError):
        return error.code, error.message, EXIT_BAD_INPUT if isinstance(error, InvalidInput) else EXIT_FAILED
    message = " ".join(str(error).split()) or "no message"  # one line, whatever botocore wrote
    return type(error).__name__, message, EXIT_FAILED


def _fail(err: TextIO, name: str, message: str, status: int) -> int:
    err.write(f"error: {name}: {message}\n")
    err.flush()
    return status


def _print_json(out: TextIO, document: Any) -> None:
    out.write(json.dumps(document, indent=2) + "\n")
    out.flush()


def _get(args: argparse.Namespace, out: TextIO, _err: TextIO) -> int:
    from session_monitor import monitor
    from session_monitor.errors import ConfigurationError

    try:
        session = monitor.fetch_session(args.session_id) if args.no_alert else monitor.check_session(args.session_id)
    except ConfigurationError as error:  # the session's state calls for an alert, and none is configured
        raise ConfigurationError(f"{error.message}; pass --no-alert to only look") from None
    _print_json(out, session.to_dict())
    return 0


def _list(args: argparse.Namespace, out: TextIO, _err: TextIO) -> int:
    from session_monitor import monitor

    _print_json(out, monitor.list_workgroup_sessions(args.workgroup, args.next_token, args.max_results))
    return 0


def _sweep(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from session_monitor import sweep, validation

    if not args.workgroup:
        _print_json(out, sweep.run_scheduled_sweep().to_dict())
        return 0
    workgroups = list(dict.fromkeys(validation.workgroup(name) for name in args.workgroup))
    report = sweep.sweep_workgroups(workgroups)
    _print_json(out, report.to_dict())
    if report.failed_workgroups:
        failed = ", ".join(f"{name} ({code})" for name, code in sorted(report.failed_workgroups.items()))
        return _fail(err, "SweepIncomplete", f"sweep incomplete; failed workgroups: {failed}", EXIT_FAILED)
    return 0


def _serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from local_mode.api_server import ApiServer

    def access_log(line: str) -> None:
        err.write(line + "\n")
        err.flush()

    try:
        server = ApiServer(args.port, access_log=access_log, error_log=access_log).start()
    except OSError as error:
        return _fail(err, type(error).__name__, f"cannot serve on 127.0.0.1:{args.port}: {error.strerror}", EXIT_FAILED)
    from local_mode.runner import terminate_on_sigterm

    terminate_on_sigterm()
    try:
        swagger = "" if args.no_swagger else f" (Swagger UI: {server.url}/swagger)"
        out.write(f"serving {server.url}/sessions{swagger}; Ctrl-C stops\n")
        out.flush()
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


def _doctor(args: argparse.Namespace, out: TextIO, _err: TextIO) -> int:
    from local_mode import doctor

    return doctor.run(args, out)


_COMMANDS = {"get": _get, "list": _list, "sweep": _sweep, "serve": _serve, "doctor": _doctor}


if __name__ == "__main__":
    sys.exit(main())
