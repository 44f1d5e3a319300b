"""The normalised session model and the pure functions that build it from Athena's answers.

No AWS SDK here: the input is the plain dict boto3 returns (GetSession or a ListSessions summary).
Every optional member of the service model may be absent or, from a future API version, of a
shape we do not know: missing or malformed means ``None``, never a KeyError or TypeError, and
members we do not know are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import session_contract as contract

from .redaction import redact_map, redact_value

SessionState = Literal["CREATING", "CREATED", "IDLE", "BUSY", "TERMINATING", "TERMINATED", "DEGRADED", "FAILED"]
Severity = Literal["critical", "warning", "info"]

ALL_STATES: tuple[str, ...] = contract.SESSION_STATES
TERMINAL_STATES = contract.TERMINAL_STATES
SEVERITY_BY_STATE: Mapping[str, Severity] = contract.ALERT_SEVERITY  # type: ignore[assignment]
MILLIS_PER_HOUR = 3_600_000


@dataclass(frozen=True)
class Classification:
    name: str | None
    properties: dict[str, str]


@dataclass(frozen=True)
class EngineConfiguration:
    """The session's DPU sizing and Spark settings (GetSession ``EngineConfiguration``)."""

    coordinator_dpu_size: int | None = None
    max_concurrent_dpus: int | None = None
    default_executor_dpu_size: int | None = None
    additional_configs: dict[str, str] = field(default_factory=dict)
    spark_properties: dict[str, str] = field(default_factory=dict)
    classifications: list[Classification] = field(default_factory=list)


@dataclass(frozen=True)
class SessionSummary:
    """A session as ListSessions reports it: state and times, no statistics or configuration."""

    session_id: str
    workgroup: str | None
    state: SessionState | None
    state_change_reason: str | None
    description: str | None
    engine_version: str | None
    notebook_version: str | None
    started_at: str | None
    last_modified_at: str | None
    ended_at: str | None
    idle_since: str | None
    is_terminal: bool
    severity: Severity | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Session(SessionSummary):
    """A session as GetSession reports it, normalised.

    Times are ISO-8601 UTC strings (``2026-01-31T12:00:00Z``) or null. ``estimated_cost_usd`` is
    ``dpu_hours`` times the configured on-demand price per DPU-hour: an estimate, not a bill.
    The execution role and KMS key are deliberately left out: alerts go to e-mail and chat.
    """

    dpu_execution_ms: int | None = None
    dpu_hours: float | None = None
    estimated_cost_usd: float | None = None
    price_per_dpu_hour_usd: float | None = None
    engine_configuration: EngineConfiguration | None = None
    idle_timeout_minutes: int | None = None
    working_directory: str | None = None
    encryption_option: str | None = None


def severity_of(state: str | None) -> Severity | None:
    return SEVERITY_BY_STATE.get(state or "")


def iso_utc(value: object) -> str | None:
    """Format a datetime (or epoch seconds) as ISO-8601 UTC with a ``Z``; anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            value = datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:  # botocore always attaches a zone; a naive value is taken as UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_map(value: object) -> dict[str, str]:
    return {k: v for k, v in _dict(value).items() if isinstance(k, str) and isinstance(v, str)}


def _free_text(value: object) -> str | None:
    """StateChangeReason and Description: free text that quotes what failed (a JDBC URL with its
    password, a ``token=...`` a user typed), cleaned like every map value, before any reader (API,
    alerts, events, logs) sees it."""
    text = _str(value)
    return None if text is None else redact_value(text)


def _state(value: object) -> SessionState | None:
    # A state a future API adds is passed through as is: hiding it would hide a problem.
    return value if isinstance(value, str) and value else None  # type: ignore[return-value]


def _engine_version(value: object) -> str | None:
    # GetSession models EngineVersion as a string; ListSessions as {Selected,Effective}EngineVersion.
    if isinstance(value, str):
        return value
    version = _dict(value)
    return _str(version.get("EffectiveEngineVersion")) or _str(version.get("SelectedEngineVersion"))


def _summary_fields(raw: Mapping[str, Any], workgroup: str | None) -> dict[str, Any]:
    status = _dict(raw.get("Status"))
    state = _state(status.get("State"))
    return {
        "session_id": _str(raw.get("SessionId")) or "",
        "workgroup": _str(raw.get("WorkGroup")) or workgroup,
        "state": state,
        "state_change_reason": _free_text(status.get("StateChangeReason")),
        "description": _free_text(raw.get("Description")),
        "engine_version": _engine_version(raw.get("EngineVersion")),
        "notebook_version": _str(raw.get("NotebookVersion")),
        "started_at": iso_utc(status.get("StartDateTime")),
        "last_modified_at": iso_utc(status.get("LastModifiedDateTime")),
        "ended_at": iso_utc(status.get("EndDateTime")),
        "idle_since": iso_utc(status.get("IdleSinceDateTime")),
        "is_terminal": state in TERMINAL_STATES,
        "severity": severity_of(state),
    }


def summary_from_list(raw: Mapping[str, Any], workgroup: str) -> SessionSummary:
    """Normalise one ``Sessions`` entry of a ListSessions answer (which carries no WorkGroup)."""
    return SessionSummary(**_summary_fields(_dict(raw), workgroup))


def _engine_configuration(value: object) -> EngineConfiguration | None:
    # The three maps are the user's own and can hold credentials: redacted here, before anything
    # (API, alerts, logs) sees them.
    if not isinstance(value, Mapping):
        return None
    classifications = (
        [
            Classification(name=_str(c.get("Name")), properties=redact_map(_str_map(c.get("Properties"))))
            for c in (value.get("Classifications") or [])
            if isinstance(c, Mapping)
        ]
        if isinstance(value.get("Classifications"), list)
        else []
    )
    return EngineConfiguration(
        coordinator_dpu_size=_int(value.get("CoordinatorDpuSize")),
        max_concurrent_dpus=_int(value.get("MaxConcurrentDpus")),
        default_executor_dpu_size=_int(value.get("DefaultExecutorDpuSize")),
        additional_configs=redact_map(_str_map(value.get("AdditionalConfigs"))),
        spark_properties=redact_map(_str_map(value.get("SparkProperties"))),
        classifications=classifications,
    )


def _idle_timeout_minutes(configuration: Mapping[str, Any]) -> int | None:
    minutes = _int(configuration.get("SessionIdleTimeoutInMinutes"))
    if minutes is not None:
        return minutes
    seconds = _int(configuration.get("IdleTimeoutSeconds"))
    return None if seconds is None else seconds // 60


def session_from_get(raw: Mapping[str, Any], price_per_dpu_hour: float) -> Session:
    """Normalise a GetSession answer. ``price_per_dpu_hour`` is in USD (0.35 on demand in most Regions)."""
    raw = _dict(raw)
    configuration = _dict(raw.get("SessionConfiguration"))
    dpu_ms = _int(_dict(raw.get("Statistics")).get("DpuExecutionInMillis"))
    dpu_hours = None if dpu_ms is None else round(dpu_ms / MILLIS_PER_HOUR, 6)
    return Session(
        **_summary_fields(raw, None),
        dpu_execution_ms=dpu_ms,
        dpu_hours=dpu_hours,
        estimated_cost_usd=None if dpu_hours is None else round(dpu_hours * price_per_dpu_hour, 4),
        price_per_dpu_hour_usd=price_per_dpu_hour,
        engine_configuration=_engine_configuration(raw.get("EngineConfiguration")),
        idle_timeout_minutes=_idle_timeout_minutes(configuration),
        working_directory=_str(configuration.get("WorkingDirectory")),
        encryption_option=_str(_dict(configuration.get("EncryptionConfiguration")).get("EncryptionOption")),
    )
