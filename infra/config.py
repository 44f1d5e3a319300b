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
alertEmail                ""        an e-mail address subscribed to the alerts topic (with alertsTopicFifo:
                                    to the alarm topic, as e-mail cannot subscribe to FIFO); empty = none
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
stateChangeEvents         "default" where every session state change goes as an EventBridge event (detail-type
                                    "Athena Spark Session State Change"): "default" = the account's default
                                    bus, a bus name or ARN (in the stack's Region), or "off" = no events
apiAllowedAccounts        []        12-digit account ids (strings) whose principals may also call the API;
                                    non-empty = a resource policy denies every other account
apiAllowedVpcEndpoints    []        execute-api interface endpoint ids vpce-[0-9a-f]{8,17}; non-empty = the
                                    API becomes PRIVATE and a resource policy denies any other source
snsDataProtection         false     true = an SNS message data protection policy masks credentials published
                                    to the alerts topic (SNS closed the feature to new customers)
alertsTopicFifo           false     true = the alerts topic is SNS FIFO: an SQS FIFO queue gets each alert
                                    exactly once when the re-send after a crash falls within 5 minutes of
                                    the first publish (SNS's de-duplication window), which scheduleMinutes
                                    <= 3 gives unless the next look is itself delayed (then a duplicate
                                    with the same alert_id is possible). Needs scheduleMinutes <= 3. The
                                    stack's alarms go to a standard topic of their own, which alertEmail
                                    then subscribes to. Incompatible with the chat keys
slackWorkspaceId          ""        with slackChannelId: an Amazon Q Developer in chat applications channel
slackChannelId            ""        configuration subscribed to the alerts topic ("" = none)
teamsTeamId               ""        with teamsChannelId (URL-encoded) and teamsTenantId: the same for a
teamsChannelId            ""        Microsoft Teams channel ("" = none)
teamsTenantId             ""

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import partial
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
STATE_CHANGE_EVENTS = contract.STATE_EVENTS_CONTEXT_KEY
API_ALLOWED_ACCOUNTS = "apiAllowedAccounts"
API_ALLOWED_VPC_ENDPOINTS = "apiAllowedVpcEndpoints"
SNS_DATA_PROTECTION = "snsDataProtection"
ALERTS_TOPIC_FIFO = contract.ALERTS_TOPIC_FIFO_CONTEXT_KEY
SLACK_WORKSPACE_ID = "slackWorkspaceId"
SLACK_CHANNEL_ID = "slackChannelId"
TEAMS_TEAM_ID = "teamsTeamId"
TEAMS_CHANNEL_ID = "teamsChannelId"
TEAMS_TENANT_ID = "teamsTenantId"
SLACK_KEYS = (SLACK_WORKSPACE_ID, SLACK_CHANNEL_ID)
TEAMS_KEYS = (TEAMS_TEAM_ID, TEAMS_CHANNEL_ID, TEAMS_TENANT_ID)
# Each chat key and the MonitorConfig attribute it sets.
CHAT_ATTRIBUTES: dict[str, str] = {
    SLACK_WORKSPACE_ID: "slack_workspace_id",
    SLACK_CHANNEL_ID: "slack_channel_id",
    TEAMS_TEAM_ID: "teams_team_id",
    TEAMS_CHANNEL_ID: "teams_channel_id",
    TEAMS_TENANT_ID: "teams_tenant_id",
}

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
    API_ALLOWED_ACCOUNTS,
    API_ALLOWED_VPC_ENDPOINTS,
    SNS_DATA_PROTECTION,
    ALERTS_TOPIC_FIFO,
    *SLACK_KEYS,
    *TEAMS_KEYS,
    STATE_CHANGE_EVENTS,
)

# Athena's WorkGroupName pattern (API reference, ListSessions/GetWorkGroup).
WORKGROUP_NAME_PATTERN = re.compile(contract.WORKGROUP_PATTERN)
# Deliberately simple: one @, no spaces, a dot in the domain. SNS validates the rest.
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
EVENT_BUS_PATTERN = re.compile(contract.EVENT_BUS_PATTERN)
ACCOUNT_ID_PATTERN = re.compile(r"[0-9]{12}")
# An interface VPC endpoint id: "vpce-" and 8 (older) or 17 hexadecimal digits.
VPC_ENDPOINT_ID_PATTERN = re.compile(r"vpce-(?:[0-9a-f]{8}|[0-9a-f]{17})")
FANOUT_MODES: tuple[str, ...] = ("inline", "sqs")
# The chat channel ids, as the Amazon Q Developer in chat applications API checks them (botocore's
# chatbot service model: SlackTeamId, SlackChannelId, TeamsChannelId, UUID; 255 characters at most).
_UUID = r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}"
CHAT_IDS: dict[str, tuple[str, str]] = {
    SLACK_WORKSPACE_ID: (r"[0-9A-Z]{1,255}", "a Slack workspace id like T07EA123LEP (the chat console shows it)"),
    SLACK_CHANNEL_ID: (r"[A-Za-z0-9]{1,255}", "a Slack channel id like C07EZ1ABC23 (the end of the channel's link)"),
    TEAMS_TEAM_ID: (_UUID, "a Microsoft Teams team id (a UUID)"),
    TEAMS_CHANNEL_ID: (
        r"([a-zA-Z0-9-_=+\/.,])*%3[aA]([a-zA-Z0-9-_=+\/.,])*%40([a-zA-Z0-9-_=+\/.,])*",
        "a URL-encoded Microsoft Teams channel id like 19%3ab6ef35dc342d4b9d%40thread.tacv2",
    ),
    TEAMS_TENANT_ID: (_UUID, "a Microsoft Entra tenant id (a UUID)"),
}
CHAT_ID_MAX_LENGTH = 255
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


def _ids(key: str, value: Any, pattern: re.Pattern[str], allowed: str) -> tuple[str, ...]:
    """A list of identifiers, each a string matching pattern (account ids are strings: a JSON number
    would lose a leading zero). Duplicates are dropped, order kept."""
    value = _listed(key, value, allowed)
    if not isinstance(value, (list, tuple)):
        raise _fail(key, allowed, value)
    ids: list[str] = []
    for item in value:
        if not isinstance(item, str) or not pattern.fullmatch(item.strip()):
            raise _fail(key, allowed, item)
        if item.strip() not in ids:
            ids.append(item.strip())
    return tuple(ids)


def _accounts(key: str, value: Any) -> tuple[str, ...]:
    return _ids(key, value, ACCOUNT_ID_PATTERN, "a list of 12-digit AWS account ids, as strings ([] = none)")


def _vpc_endpoints(key: str, value: Any) -> tuple[str, ...]:
    allowed = "a list of VPC endpoint ids like vpce-0123456789abcdef0 ([] = none)"
    return _ids(key, value, VPC_ENDPOINT_ID_PATTERN, allowed)


def _chat_id(key: str, value: Any) -> str | None:
    """One chat channel id as the chat API accepts it; empty means none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    pattern, allowed = CHAT_IDS[key]
    text = value.strip() if isinstance(value, str) else None
    if text is None or len(text) > CHAT_ID_MAX_LENGTH or not re.fullmatch(pattern, text):
        raise _fail(key, allowed + ", or empty for none", value)
    return text


# Words a bus name could be but nobody means as one: refused, with the value meant.
EVENT_BUS_RESERVED = {
    contract.STATE_EVENTS_DEFAULT_BUS: contract.STATE_EVENTS_DEFAULT_BUS,
    "true": contract.STATE_EVENTS_DEFAULT_BUS,
    "on": contract.STATE_EVENTS_DEFAULT_BUS,
    "yes": contract.STATE_EVENTS_DEFAULT_BUS,
    "none": contract.STATE_EVENTS_OFF,
    "null": contract.STATE_EVENTS_OFF,
    "no": contract.STATE_EVENTS_OFF,
}


def _switched_off(key: str, text: str, allowed: str) -> bool:
    """Off in any case (and false); a switch word that is not a bus (true, none, Default) refused."""
    if text.lower() in (contract.STATE_EVENTS_OFF, "false"):
        return True
    if text.lower() in EVENT_BUS_RESERVED and text != contract.STATE_EVENTS_DEFAULT_BUS:
        # "Default" would name a custom bus nobody created; "none" would name one called none.
        hint = EVENT_BUS_RESERVED[text.lower()]
        raise ConfigError(f"context key {key!r} must be {allowed}; got {text!r} (did you mean {hint!r}?)")
    return False


def _event_bus(key: str, value: Any) -> str | None:
    """An EventBridge bus as PutEvents' EventBusName accepts it (a name or an ARN); "off" is None."""
    allowed = (
        f"{contract.STATE_EVENTS_DEFAULT_BUS!r} (the default bus), an event bus name or ARN "
        f"(arn:aws:events:REGION:ACCOUNT:event-bus/NAME), or {contract.STATE_EVENTS_OFF!r}"
    )
    if value is False:  # like the boolean keys: false turns it off
        return None
    text = value.strip() if isinstance(value, str) else None
    if text is not None and _switched_off(key, text, allowed):
        return None
    if not text or len(text) > contract.EVENT_BUS_MAX_LENGTH or not EVENT_BUS_PATTERN.fullmatch(text):
        raise _fail(key, allowed, value)
    return text


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
    state_events_bus: str | None = contract.STATE_EVENTS_DEFAULT_BUS  # None: no state-change events
    api_allowed_accounts: tuple[str, ...] = ()
    api_allowed_vpc_endpoints: tuple[str, ...] = ()
    sns_data_protection: bool = False
    alerts_topic_fifo: bool = False
    slack_workspace_id: str | None = None
    slack_channel_id: str | None = None
    teams_team_id: str | None = None
    teams_channel_id: str | None = None
    teams_tenant_id: str | None = None

    @property
    def discovery(self) -> bool:
        """True when no workgroups are configured: the function lists Spark workgroups itself."""
        return not self.watched_workgroups

    @property
    def api_resource_policy(self) -> bool:
        """True when the API gets a resource policy (accounts or VPC endpoints are listed)."""
        return bool(self.api_allowed_accounts or self.api_allowed_vpc_endpoints)

    @property
    def slack(self) -> bool:
        """True when a Slack channel gets the alerts (both Slack keys are set)."""
        return self.slack_workspace_id is not None and self.slack_channel_id is not None

    @property
    def teams(self) -> bool:
        """True when a Microsoft Teams channel gets the alerts (all three Teams keys are set)."""
        return None not in (self.teams_team_id, self.teams_channel_id, self.teams_tenant_id)

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
            api_allowed_accounts=get(
                API_ALLOWED_ACCOUNTS, lambda v: _accounts(API_ALLOWED_ACCOUNTS, v), defaults.api_allowed_accounts
            ),
            api_allowed_vpc_endpoints=get(
                API_ALLOWED_VPC_ENDPOINTS,
                lambda v: _vpc_endpoints(API_ALLOWED_VPC_ENDPOINTS, v),
                defaults.api_allowed_vpc_endpoints,
            ),
            sns_data_protection=get(
                SNS_DATA_PROTECTION, lambda v: _bool(SNS_DATA_PROTECTION, v), defaults.sns_data_protection
            ),
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
        config = replace(config, **_delivery_fields(get, defaults))
        _check_delivery(config)
        _check_data_protection(config)
        config = replace(
            config,
            state_events_bus=get(
                STATE_CHANGE_EVENTS, lambda v: _event_bus(STATE_CHANGE_EVENTS, v), defaults.state_events_bus
            ),
        )
        _check_sqs_concurrency(config)
        return config


def _delivery_fields(get: Callable[[str, Callable[[Any], Any], Any], Any], defaults: MonitorConfig) -> dict[str, Any]:
    """The delivery keys (FIFO topic, chat channels), parsed with from_context's ``get``."""
    fifo = get(ALERTS_TOPIC_FIFO, lambda v: _bool(ALERTS_TOPIC_FIFO, v), defaults.alerts_topic_fifo)
    fields: dict[str, Any] = {"alerts_topic_fifo": fifo}
    for key, attribute in CHAT_ATTRIBUTES.items():
        fields[attribute] = get(key, partial(_chat_id, key), None)
    return fields


def _check_delivery(config: MonitorConfig) -> None:
    """Chat keys come in complete sets, and a FIFO topic keeps only subscribers it can deliver to:
    SNS FIFO topics deliver to SQS queues only, never to HTTPS (how chat subscribes). alertEmail is
    fine: with a FIFO alerts topic it subscribes to the standard alarm topic (infra/alerts.py)."""
    _check_chat_sets(config)
    if not config.alerts_topic_fifo:
        return
    blocked = (list(SLACK_KEYS) if config.slack else []) + (list(TEAMS_KEYS) if config.teams else [])
    if blocked:
        raise ConfigError(
            f"context key '{ALERTS_TOPIC_FIFO}' is true: an SNS FIFO topic delivers to SQS queues only, so "
            f"{', '.join(repr(k) for k in blocked)} cannot subscribe to it; leave them empty or set "
            f"'{ALERTS_TOPIC_FIFO}' to false"
        )
    if config.schedule_minutes > contract.FIFO_MAX_SCHEDULE_MINUTES:
        raise ConfigError(
            f"context key '{ALERTS_TOPIC_FIFO}' is true: '{SCHEDULE_MINUTES}' must be at most "
            f"{contract.FIFO_MAX_SCHEDULE_MINUTES} (is {config.schedule_minutes}), or the re-send after a crash "
            f"(the first sweep after the {contract.ALERT_LEASE_SECONDS} s claim lease) can miss SNS's "
            f"{contract.SNS_FIFO_DEDUPLICATION_SECONDS // 60}-minute de-duplication window; lower "
            f"'{SCHEDULE_MINUTES}' or set '{ALERTS_TOPIC_FIFO}' to false"
        )


def _check_chat_sets(config: MonitorConfig) -> None:
    def names(keys: Iterable[str]) -> str:
        return ", ".join(repr(key) for key in keys)

    for keys in (SLACK_KEYS, TEAMS_KEYS):
        missing = [key for key in keys if getattr(config, CHAT_ATTRIBUTES[key]) is None]
        if 0 < len(missing) < len(keys):
            given = sorted(set(keys) - set(missing), key=keys.index)
            raise ConfigError(f"context keys {names(keys)} go together: {names(given)} set but {names(missing)} empty")


def _check_data_protection(config: MonitorConfig) -> None:
    """SNS message data protection applies to standard topics only (SNS developer guide)."""
    if config.sns_data_protection and config.alerts_topic_fifo:
        raise ConfigError(
            f"context key '{SNS_DATA_PROTECTION}' is true: SNS message data protection supports standard topics "
            f"only, and '{ALERTS_TOPIC_FIFO}' is true; set one of them to false"
        )


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
