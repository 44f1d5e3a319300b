"""The function's settings, read once from the environment into a typed object.

The names match cdk.json's context keys (camelCase there, UPPER_SNAKE here) and the stack.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import session_contract as contract
from session_contract import RETRY_WINDOW_MINUTES, min_lookback_minutes

from .errors import ConfigurationError
from .validation import WORKGROUP_PATTERN

# USD, on-demand, most Regions: check your Region's price.
DEFAULT_PRICE_PER_DPU_HOUR = float(contract.PRICE_PER_DPU_HOUR.default)
__all__ = ["DEFAULT_PRICE_PER_DPU_HOUR", "RETRY_WINDOW_MINUTES", "Settings", "min_lookback_minutes", "settings"]


@dataclass(frozen=True)
class Settings:
    alerts_topic_arn: str | None = None
    state_table_name: str | None = None
    watched_workgroups: tuple[str, ...] = ()
    price_per_dpu_hour: float = DEFAULT_PRICE_PER_DPU_HOUR
    lookback_minutes: int = int(contract.LOOKBACK_MINUTES.default)
    idle_alert_minutes: int = int(contract.IDLE_ALERT_MINUTES.default)
    sweep_max_workers: int = int(contract.SWEEP_MAX_WORKERS.default)
    sweep_queue_url: str | None = None
    follow_up_queue_url: str | None = None
    state_events_bus: str | None = None  # where state-change events go (name or ARN); None: nowhere
    alert_record_ttl_days: int = contract.ALERT_RECORD_TTL_DAYS_DEFAULT
    schedule_minutes: int | None = None  # the sweep's period; None when no schedule is known
    account_id: str = "-"  # the watched account and Region: part of every ledger key
    region: str = "-"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        workgroups = tuple(w.strip() for w in env.get(contract.ENV_WATCHED_WORKGROUPS, "").split(",") if w.strip())
        for name in workgroups:
            if not WORKGROUP_PATTERN.fullmatch(name):
                raise ConfigurationError(f"{contract.ENV_WATCHED_WORKGROUPS} has an invalid workgroup name: {name!r}")
        return cls(
            alerts_topic_arn=env.get(contract.ENV_ALERTS_TOPIC_ARN) or None,
            state_table_name=env.get(contract.ENV_STATE_TABLE_NAME) or None,
            watched_workgroups=workgroups,
            price_per_dpu_hour=_setting(env, contract.PRICE_PER_DPU_HOUR, float),
            lookback_minutes=_setting(env, contract.LOOKBACK_MINUTES, int),
            idle_alert_minutes=_setting(env, contract.IDLE_ALERT_MINUTES, int),
            sweep_max_workers=_setting(env, contract.SWEEP_MAX_WORKERS, int),
            sweep_queue_url=env.get(contract.ENV_SWEEP_QUEUE_URL) or None,
            follow_up_queue_url=env.get(contract.ENV_FOLLOW_UP_QUEUE_URL) or None,
            state_events_bus=_event_bus(env),
            alert_record_ttl_days=_number(
                env, contract.ENV_ALERT_RECORD_TTL_DAYS, contract.ALERT_RECORD_TTL_DAYS_DEFAULT, int, minimum=1
            ),
            # No default: a function deployed without a schedule (invoked only) has no rule to check.
            schedule_minutes=_number(
                env, contract.ENV_SCHEDULE_MINUTES, None, int, minimum=1, maximum=contract.SCHEDULE_MINUTES.maximum
            ),
            **_where(env),
        )._checked()

    def _checked(self) -> Settings:
        # A window shorter than two sweep periods plus the asynchronous retry would call a
        # failure that a late sweep finds "history" and suppress it: refuse, naming both keys.
        if self.schedule_minutes is not None and self.lookback_minutes < min_lookback_minutes(self.schedule_minutes):
            raise ConfigurationError(
                f"LOOKBACK_MINUTES must be at least 2 x SCHEDULE_MINUTES + {RETRY_WINDOW_MINUTES} = "
                f"{min_lookback_minutes(self.schedule_minutes)} (SCHEDULE_MINUTES is {self.schedule_minutes}), "
                f"got {self.lookback_minutes}"
            )
        if self.alert_record_ttl_days * 1440 <= self.lookback_minutes:
            # An alert record that expires inside the window would let an old episode alert again.
            raise ConfigurationError("ALERT_RECORD_TTL_DAYS must be longer than LOOKBACK_MINUTES")
        return self

    @property
    def scope(self) -> str:
        """``ACCOUNT#REGION``: the part of every ledger key that names where a session lives."""
        return f"{self.account_id}#{self.region}"

    def require_alerting(self) -> tuple[str, str]:
        if not self.alerts_topic_arn or not self.state_table_name:
            raise ConfigurationError("ALERTS_TOPIC_ARN and STATE_TABLE_NAME must be set to send alerts")
        return self.alerts_topic_arn, self.state_table_name


def _where(env: Mapping[str, str]) -> dict[str, str]:
    """The account (set by the stack) and Region (set by Lambda) that ledger keys carry."""
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "-"
    return {"account_id": env.get(contract.ENV_MONITOR_ACCOUNT_ID, "").strip() or "-", "region": region.strip()}


EVENT_BUS = re.compile(contract.EVENT_BUS_PATTERN)


def _event_bus(env: Mapping[str, str]) -> str | None:
    """The bus for state-change events, as PutEvents' EventBusName accepts it, or None (off)."""
    raw = env.get(contract.ENV_STATE_EVENTS_BUS, "").strip()
    if not raw:
        return None
    if len(raw) > contract.EVENT_BUS_MAX_LENGTH or not EVENT_BUS.fullmatch(raw):
        raise ConfigurationError(
            f"{contract.ENV_STATE_EVENTS_BUS} must be an event bus name or ARN (PutEvents' EventBusName), got {raw!r}"
        )
    return raw


def _setting(env: Mapping[str, str], setting: contract.Setting, kind: Callable[[str], Any]) -> Any:
    """A setting the stack also validates, with the contract's default and range."""
    return _number(env, setting.env, kind(str(setting.default)), kind, setting.minimum, setting.maximum)


def _number(
    env: Mapping[str, str],
    name: str,
    default: Any,
    kind: Callable[[str], Any],
    minimum: float,
    maximum: float | None = None,
) -> Any:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a {kind.__name__}, got {raw!r}") from None
    if not minimum <= value < float("inf") or (maximum is not None and value > maximum):  # NaN fails too
        allowed = f"at least {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ConfigurationError(f"{name} must be {allowed}, got {raw!r}")
    return value


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The settings of this container (tests call ``settings.cache_clear()`` after changing env)."""
    return Settings.from_env()
