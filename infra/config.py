"""Deployment configuration: cdk.json context keys, parsed once into a typed, validated object.

The same key names are used in cdk.json, on the command line (``-c key=value``) and here.
Values given with ``-c`` arrive as strings, so every parser also accepts the string form
(``-c scheduleMinutes=10``, ``-c watchedWorkgroups=a,b`` or ``-c 'watchedWorkgroups=["a","b"]'``).

Key                       Default   Allowed
watchedWorkgroups         []        workgroup names [a-zA-Z0-9._-]{1,128}; [] = discover Spark workgroups
scheduleMinutes           5         1..1440 (sweep interval)
lookbackMinutes           15        >= min_lookback_minutes(scheduleMinutes) = 2 x scheduleMinutes + 5
                                    (how far back a sweep looks for ended sessions; see below)
idleAlertMinutes          0         >= 0 (alert on sessions idle this long; 0 = off)
alertEmail                ""        an e-mail address subscribed to the alerts topic; empty = none
pricePerDpuHour           0.35      >= 0 (USD; varies by Region; 0 = no cost estimate)
logRetentionDays          30        a CloudWatch Logs retention: 1, 3, 5, 7, 14, 30, 60, 90, ... 3653
reservedConcurrency       10        1..1000; at least 3 with sweepFanout "sqs" or cloudTrailEvents true,
                                    at least 5 with both (see below)
sweepFanout               "inline"  "inline" | "sqs" (one SQS message per workgroup)
sweepMaxWorkers           16        1..64 (threads per inline sweep)
apiGatewayCloudWatchRole  false     true = this stack creates the account's API Gateway logging role
cloudTrailEvents          true      true = an EventBridge rule hands Athena's StartSession/TerminateSession
                                    CloudTrail records to the function, which checks those sessions again
                                    through a delayed follow-up queue (FOLLOW_UP_QUEUE_URL); false = none

Cross-key rule: lookbackMinutes >= min_lookback_minutes(scheduleMinutes), i.e. two sweep periods
plus Lambda's asynchronous retry window (about 5 minutes). A failure is alerted only by a sweep
that sees it within lookbackMinutes of its end; when one sweep fails outright (retries included),
the next successful sweep may see it up to two periods plus the retry window after it ended. A
shorter window silently suppresses those failures, so synth refuses it (defaults: 2 x 5 + 5 = 15).

Cross-key rule: every SQS event source of the function (the fan-out queue, the follow-up queue)
has a maximum concurrency of at least 2 (a Lambda limit), and together they must stay below
reservedConcurrency, or throttled receives count against maxReceiveCount and the scheduled
sweeps and the API lose their share: reservedConcurrency > sqs_max_concurrency.

This module imports nothing from aws_cdk so it stays fast to test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import session_contract as contract
from session_contract import min_lookback_minutes

# Context keys (the public configuration surface; documented in cdk.json).
WATCHED_WORKGROUPS = "watchedWorkgroups"
SCHEDULE_MINUTES = contract.SCHEDULE_MINUTES.context_key
LOOKBACK_MINUTES = contract.LOOKBACK_MINUTES.context_key
IDLE_ALERT_MINUTES = contract.IDLE_ALERT_MINUTES.context_key
ALERT_EMAIL = "alertEmail"
PRICE_PER_DPU_HOUR = contract.PRICE_PER_DPU_HOUR.context_key
LOG_RETENTION_DAYS = "logRetentionDays"
RESERVED_CONCURRENCY = "reservedConcurrency"
SWEEP_FANOUT = "sweepFanout"
SWEEP_MAX_WORKERS = contract.SWEEP_MAX_WORKERS.context_key
API_GATEWAY_CLOUDWATCH_ROLE = "apiGatewayCloudWatchRole"
CLOUDTRAIL_EVENTS = contract.CLOUDTRAIL_EVENTS_CONTEXT_KEY

CONTEXT_KEYS: tuple[str, ...] = (
    WATCHED_WORKGROUPS,
    SCHEDULE_MINUTES,
    LOOKBACK_MINUTES,
    IDLE_ALERT_MINUTES,
    ALERT_EMAIL,
    PRICE_PER_DPU_HOUR,
    LOG_RETENTION_DAYS,
    RESERVED_CONCURRENCY,
    SWEEP_FANOUT,
    SWEEP_MAX_WORKERS,
    API_GATEWAY_CLOUDWATCH_ROLE,
    CLOUDTRAIL_EVENTS,
)

# Athena's WorkGroupName pattern (API reference, ListSessions/GetWorkGroup).
WORKGROUP_NAME_PATTERN = re.compile(contract.WORKGROUP_PATTERN)
# Deliberately simple: one @, no spaces, a dot in the domain. SNS validates the rest.
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
FANOUT_MODES: tuple[str, ...] = ("inline", "sqs")
# The values CloudWatch Logs accepts for a retention period (days), mapped to the
# aws_cdk.aws_logs.RetentionDays member names. "Never expire" is left out on purpose.
RETENTION_DAYS: dict[int, str] = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}

# Lambda's own ceiling for reserved concurrency is the account quota (1000 by default).
MAX_RESERVED_CONCURRENCY = 1000
# Lambda's floor for an SQS event source's maximum concurrency; the follow-up queue uses exactly
# that (each message is one GetSession, and a burst of session starts can wait a few seconds).
MIN_SQS_MAX_CONCURRENCY = 2


class ConfigError(ValueError):
    """A context value is missing its allowed form; the message is one line naming the key."""


def _fail(key: str, allowed: str, value: Any) -> ConfigError:
    return ConfigError(f"context key '{key}' must be {allowed}; got {value!r}")


def _as_int(value: Any) -> int | None:
    """An integer in any of the forms context arrives in (JSON number, -c string), else None."""
    if isinstance(value, bool):  # bool is an int subclass: reject true/false explicitly
        return None
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value.strip())
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _int(key: str, value: Any, lo: int, hi: int | None) -> int:
    allowed = f"an integer from {lo} to {hi}" if hi is not None else f"an integer >= {lo}"
    parsed = _as_int(value)
    if parsed is None or parsed < lo or (hi is not None and parsed > hi):
        raise _fail(key, allowed, value)
    return parsed


def _setting(setting: contract.Setting, value: Any) -> int:
    """An integer setting within the contract's range (shared with the function)."""
    hi = None if setting.maximum is None else int(setting.maximum)
    return _int(setting.context_key, value, int(setting.minimum), hi)


def _price(key: str, value: Any) -> float:
    allowed = "a number >= 0 (USD per DPU-hour; 0 turns the cost estimate off)"
    if isinstance(value, bool):
        raise _fail(key, allowed, value)
    try:
        parsed = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise _fail(key, allowed, value) from None
    if not parsed >= contract.PRICE_PER_DPU_HOUR.minimum or parsed == float("inf"):  # also rejects NaN
        raise _fail(key, allowed, value)
    return parsed


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _fail(key, "true or false", value)


def _listed(key: str, value: Any, allowed: str) -> Any:
    """A list given as JSON (``["a","b"]``) or comma-separated (``a,b``) on the command line."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text.startswith("["):
        return [part.strip() for part in text.split(",") if part.strip()]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise _fail(key, allowed, value) from None


def _workgroups(key: str, value: Any) -> tuple[str, ...]:
    allowed = f"a list of Athena workgroup names matching {contract.WORKGROUP_PATTERN} ([] = discover)"
    value = _listed(key, value, allowed)
    if not isinstance(value, (list, tuple)):
        raise _fail(key, allowed, value)
    names: list[str] = []
    for name in value:
        if not isinstance(name, str) or not WORKGROUP_NAME_PATTERN.fullmatch(name):
            raise _fail(key, allowed, name)
        if name not in names:
            names.append(name)
    return tuple(names)


def _email(key: str, value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or not EMAIL_PATTERN.fullmatch(value.strip()):
        raise _fail(key, "an e-mail address like ops@example.com (or empty for none)", value)
    return value.strip()


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.strip() not in choices:
        raise _fail(key, "one of " + ", ".join(repr(c) for c in choices), value)
    return value.strip()


def _retention(key: str, value: Any) -> int:
    allowed = "a CloudWatch Logs retention in days, one of " + ", ".join(map(str, RETENTION_DAYS))
    try:
        days = _int(key, value, 1, None)
    except ConfigError:
        raise _fail(key, allowed, value) from None
    if days not in RETENTION_DAYS:
        raise _fail(key, allowed, value)
    return days


@dataclass(frozen=True)
class MonitorConfig:
    """Validated deployment configuration. Defaults here are the documented defaults."""

    watched_workgroups: tuple[str, ...] = ()
    schedule_minutes: int = int(contract.SCHEDULE_MINUTES.default)
    lookback_minutes: int = int(contract.LOOKBACK_MINUTES.default)
    idle_alert_minutes: int = int(contract.IDLE_ALERT_MINUTES.default)
    alert_email: str | None = None
    price_per_dpu_hour: float = float(contract.PRICE_PER_DPU_HOUR.default)
    log_retention_days: int = 30
    reserved_concurrency: int = 10
    sweep_fanout: str = "inline"
    sweep_max_workers: int = int(contract.SWEEP_MAX_WORKERS.default)
    api_gateway_cloudwatch_role: bool = False
    cloudtrail_events: bool = True

    @property
    def discovery(self) -> bool:
        """True when no workgroups are configured: the function lists Spark workgroups itself."""
        return not self.watched_workgroups

    @property
    def sqs_fanout(self) -> bool:
        return self.sweep_fanout == "sqs"

    @property
    def fanout_max_concurrency(self) -> int:
        """The fan-out queue's event-source maximum concurrency: half the reserved concurrency."""
        return max(MIN_SQS_MAX_CONCURRENCY, self.reserved_concurrency // 2)

    @property
    def follow_up_max_concurrency(self) -> int:
        """The follow-up queue's event-source maximum concurrency (cloudTrailEvents)."""
        return MIN_SQS_MAX_CONCURRENCY

    @property
    def sqs_max_concurrency(self) -> int:
        """What the function's SQS event sources may take together at most (0: none)."""
        return (self.fanout_max_concurrency if self.sqs_fanout else 0) + (
            self.follow_up_max_concurrency if self.cloudtrail_events else 0
        )

    @property
    def log_retention_name(self) -> str:
        """The aws_logs.RetentionDays member for log_retention_days."""
        return RETENTION_DAYS[self.log_retention_days]

    @classmethod
    def from_context(cls, context: Mapping[str, Any] | Callable[[str], Any]) -> MonitorConfig:
        """Build from CDK context: a mapping, or a lookup such as ``app.node.try_get_context``.

        Missing keys (or JSON null) take the documented default. Raises ConfigError with a
        one-line message naming the key and the allowed values (both keys for a cross-key rule).
        """
        lookup = context.get if isinstance(context, Mapping) else context
        defaults = cls()

        def get(key: str, parse: Callable[[Any], Any], default: Any) -> Any:
            raw = lookup(key)
            return default if raw is None else parse(raw)

        config = cls(
            watched_workgroups=get(
                WATCHED_WORKGROUPS, lambda v: _workgroups(WATCHED_WORKGROUPS, v), defaults.watched_workgroups
            ),
            schedule_minutes=get(
                SCHEDULE_MINUTES, lambda v: _setting(contract.SCHEDULE_MINUTES, v), defaults.schedule_minutes
            ),
            lookback_minutes=get(
                LOOKBACK_MINUTES, lambda v: _setting(contract.LOOKBACK_MINUTES, v), defaults.lookback_minutes
            ),
            idle_alert_minutes=get(
                IDLE_ALERT_MINUTES, lambda v: _setting(contract.IDLE_ALERT_MINUTES, v), defaults.idle_alert_minutes
            ),
            alert_email=get(ALERT_EMAIL, lambda v: _email(ALERT_EMAIL, v), defaults.alert_email),
            price_per_dpu_hour=get(
                PRICE_PER_DPU_HOUR, lambda v: _price(PRICE_PER_DPU_HOUR, v), defaults.price_per_dpu_hour
            ),
            log_retention_days=get(
                LOG_RETENTION_DAYS, lambda v: _retention(LOG_RETENTION_DAYS, v), defaults.log_retention_days
            ),
            reserved_concurrency=get(
                RESERVED_CONCURRENCY,
                lambda v: _int(RESERVED_CONCURRENCY, v, 1, MAX_RESERVED_CONCURRENCY),
                defaults.reserved_concurrency,
            ),
            sweep_fanout=get(SWEEP_FANOUT, lambda v: _choice(SWEEP_FANOUT, v, FANOUT_MODES), defaults.sweep_fanout),
            sweep_max_workers=get(
                SWEEP_MAX_WORKERS, lambda v: _setting(contract.SWEEP_MAX_WORKERS, v), defaults.sweep_max_workers
            ),
            api_gateway_cloudwatch_role=get(
                API_GATEWAY_CLOUDWATCH_ROLE,
                lambda v: _bool(API_GATEWAY_CLOUDWATCH_ROLE, v),
                defaults.api_gateway_cloudwatch_role,
            ),
            cloudtrail_events=get(CLOUDTRAIL_EVENTS, lambda v: _bool(CLOUDTRAIL_EVENTS, v), defaults.cloudtrail_events),
        )
        # A window shorter than two sweep periods plus the retry window silently drops every
        # failure a failed sweep would have alerted on: refuse it rather than deploy it.
        minimum = min_lookback_minutes(config.schedule_minutes)
        if config.lookback_minutes < minimum:
            raise _fail(
                LOOKBACK_MINUTES,
                f"at least 2 x {SCHEDULE_MINUTES} + {contract.RETRY_WINDOW_MINUTES} = {minimum} "
                f"({SCHEDULE_MINUTES} is {config.schedule_minutes})",
                config.lookback_minutes,
            )
        _check_sqs_concurrency(config)
        return config


def _check_sqs_concurrency(config: MonitorConfig) -> None:
    """Each SQS event source needs a maximum concurrency of at least 2 (a Lambda limit), and
    together they must stay below the reserved concurrency or throttled receives burn retries."""
    if config.reserved_concurrency > config.sqs_max_concurrency:
        return
    reasons = [f"{SWEEP_FANOUT} is 'sqs'"] if config.sqs_fanout else []
    reasons += [f"{CLOUDTRAIL_EVENTS} is true"] if config.cloudtrail_events else []
    # The smallest reserved concurrency above the sources' combined maximum (which grows with it).
    minimum = next(
        n
        for n in range(config.reserved_concurrency + 1, MAX_RESERVED_CONCURRENCY + 1)
        if n > replace(config, reserved_concurrency=n).sqs_max_concurrency
    )
    raise _fail(
        RESERVED_CONCURRENCY,
        f"an integer from {minimum} to {MAX_RESERVED_CONCURRENCY} when " + " and ".join(reasons),
        config.reserved_concurrency,
    )
